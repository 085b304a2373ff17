//! Commands: `decode_command` / `parse_command` and `encode_command` (RFC 5321 4.1.1, 4.1.2).
//!
//! ```
//! use smtp_proto::codec::{decode_command, encode_command, CommandOptions, Decoded};
//! use smtp_proto::types::{Body, Command};
//!
//! let input = b"MAIL FROM:<alice@example.org> SIZE=1024 BODY=8BITMIME\r\nRCPT TO:<bob@example.com>\r\n";
//! let Decoded::Complete(command, used) = decode_command(input, &CommandOptions::default())? else {
//!     unreachable!()
//! };
//! let Command::Mail { from, parameters } = &command else { unreachable!() };
//! assert_eq!(from.to_string(), "<alice@example.org>");
//! assert_eq!(parameters.size, Some(1024));
//! assert_eq!(parameters.body, Some(Body::EightBitMime));
//! assert_eq!(used, 55);
//!
//! // A prefix of a command is incomplete, never an error.
//! assert_eq!(decode_command(&input[..20], &CommandOptions::default())?, Decoded::Incomplete);
//!
//! let mut out = bytes::BytesMut::new();
//! encode_command(&command, &mut out);
//! assert_eq!(&out[..], &input[..55]);
//! # Ok::<(), smtp_proto::codec::DecodeError>(())
//! ```

use alloc::string::ToString;
use alloc::vec::Vec;

use mail_wire::Output;
use mail_wire::decode::find_line;

use super::{DecodeError, DecodeErrorExt, Decoded, ErrorKind, MAX_COMMAND_LINE};
use crate::types::chars::{self, ATEXT, HYPHEN, LET_DIG, packed};
use crate::types::swar;
use crate::types::{
    Argument, AuthMailbox, Body, ByMode, Command, DateTime, DeliverBy, EnvelopeId,
    ExtensionParameters, Hold, HoldFor, InitialResponse, Lookup, MailParameters, Mechanism, Notify,
    NotifyEvents, OriginalRecipient, Parameter, Priority, RcptParameters, Ret, Rrvs, RrvsAction,
    Url, Verb, XText, check_argument, check_esmtp_value, check_keyword, parse_domain,
    parse_forward_path, parse_host, parse_reverse_path, smtputf8_suffix,
};
use crate::types::{InvalidValue, KNOWN_PARAMETERS, MAX_ENVID, MAX_ORCPT, parse_etrn_node};

/// Settings of the command decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandOptions {
    /// The longest command line accepted, CRLF included (RFC 5321 4.5.3.1.4: at least 512;
    /// extensions such as AUTH need more). 512 by default.
    pub max_line_length: usize,
    /// Whether SMTPUTF8 (RFC 6531) is in effect: UTF-8 in addresses, domains and arguments
    /// (RFC 6531 3.3). The decoder reads a non-ASCII path in `MAIL` or `RCPT` whether or not
    /// the transaction declared `SMTPUTF8` (3.4): that rule is the session's, and the
    /// [server](crate::server) answers it (550 / 553 with 5.6.7, 3.5). Off by default.
    pub smtputf8: bool,
}

impl Default for CommandOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl CommandOptions {
    /// 512-octet lines, ASCII only.
    pub const fn new() -> Self {
        Self {
            max_line_length: MAX_COMMAND_LINE,
            smtputf8: false,
        }
    }

    /// The same options with another line limit.
    #[must_use]
    pub const fn max_line_length(mut self, max: usize) -> Self {
        self.max_line_length = max;
        self
    }

    /// The same options with SMTPUTF8 on or off.
    #[must_use]
    pub const fn smtputf8(mut self, enabled: bool) -> Self {
        self.smtputf8 = enabled;
        self
    }
}

/// Decodes the command at the start of `input`: [`Decoded::Incomplete`] until its CRLF has
/// arrived, then the command and the octets it took. Values borrow from `input`.
#[inline]
pub fn decode_command<'a>(
    input: &'a [u8],
    options: &CommandOptions,
) -> Result<Decoded<Command<'a>>, DecodeError> {
    let (line, used) = match short_line(input, options.max_line_length) {
        Some(found) => found,
        // Longer input, not yet ended, or a bare LF: `find_line` tells which.
        None => match find_line(input, options.max_line_length)? {
            Some(found) => found,
            None => return Ok(Decoded::Incomplete),
        },
    };
    Ok(Decoded::Complete(parse_checked(line, options)?, used))
}

/// The line ended by CRLF at the start of `input` when `input` is short (a command alone,
/// `EHLO host` or `QUIT`): a few words read at once beat the call into `memchr` there.
#[inline(always)]
fn short_line(input: &[u8], limit: usize) -> Option<(&[u8], usize)> {
    const SHORT: usize = 32;
    if input.len() > SHORT {
        return None;
    }
    let window = input.get(..limit).unwrap_or(input);
    let lf = super::reply::find_lf_short(window)?;
    let line = window.get(..lf)?.strip_suffix(b"\r")?;
    Some((line, lf + 1))
}

/// Parses one command line, given without its CRLF (as a line framer such as
/// `mail_wire::line::LineReader` gives it).
pub fn parse_command<'a>(
    line: &'a [u8],
    options: &CommandOptions,
) -> Result<Command<'a>, DecodeError> {
    if line.len() + 2 > options.max_line_length {
        return Err(DecodeError::new(
            options.max_line_length,
            ErrorKind::LineTooLong {
                limit: options.max_line_length,
            },
        ));
    }
    parse_checked(line, options)
}

/// Parses a line known to be within the limit.
#[inline(always)]
fn parse_checked<'a>(line: &'a [u8], options: &CommandOptions) -> Result<Command<'a>, DecodeError> {
    // Every octet of a valid command is checked by the grammar of the part it belongs to, so the
    // parse itself refuses CR, LF, NUL, controls and (without SMTPUTF8) non-ASCII. Only when it
    // fails is the line searched for those, to name them precisely.
    let space = first_space(line);
    let base = space.map_or(line.len(), |space| space + 1);
    // The text after the verb's space: a suffix of a UTF-8 line from an ASCII octet is UTF-8,
    // so only a line that is not fails here.
    let text = super::text(line.get(base..).unwrap_or_default()).map_err(|error| {
        // The first octet that is not UTF-8 may be in the verb: counted over the whole line.
        let at = core::str::from_utf8(line)
            .err()
            .map_or(base + error.valid_up_to(), |error| error.valid_up_to());
        DecodeError::new(at, ErrorKind::InvalidUtf8)
    });
    let parsed = text.and_then(|text| {
        Parser {
            line,
            text,
            base,
            space,
            utf8: options.smtputf8,
        }
        .command()
    });
    parsed.map_err(|error| line_error(line, options.smtputf8).unwrap_or(error))
}

/// The first space of `line`, which ends the verb: in its first eight octets (the verbs are
/// four, or eight for STARTTLS) read at once, or further on.
#[inline(always)]
fn first_space(line: &[u8]) -> Option<usize> {
    match line.first_chunk::<8>() {
        Some(head) => match swar::equal(u64::from_le_bytes(*head), b' ') {
            0 => line
                .iter()
                .skip(8)
                .position(|&b| b == b' ')
                .map(|at| at + 8),
            spaces => Some(swar::first(spaces)),
        },
        None => line.iter().position(|&b| b == b' '),
    }
}

/// The first octet that can never be in a command line, as an error.
#[cold]
fn line_error(line: &[u8], utf8: bool) -> Option<DecodeError> {
    let at = line
        .iter()
        .position(|&b| b < 0x20 || b == 0x7f || (b >= 0x80 && !utf8))?;
    let kind = match line.get(at).copied()? {
        b'\r' => ErrorKind::BareCr,
        b'\n' => ErrorKind::BareLf,
        0 => ErrorKind::Nul,
        0x80.. => ErrorKind::NonAscii,
        other => ErrorKind::Invalid(InvalidValue::UnexpectedChar {
            what: "command",
            offset: at,
            found: char::from(other),
        }),
    };
    Some(DecodeError::new(at, kind))
}

/// Writes `command` and its CRLF into `out`: a `Vec<u8>`, a `BytesMut` or any other
/// [`Output`]. The types cannot hold a CR or LF, so the command is one line.
pub fn encode_command<O: Output + ?Sized>(command: &Command<'_>, out: &mut O) {
    out.put_fmt(format_args!("{command}\r\n"));
}

/// A verb of up to 8 octets, upper-cased, as an integer; 0 for longer verbs.
///
/// Upper-casing clears bit 5 wherever bit 6 is set: that turns exactly the ASCII letters into
/// capitals, and no other octet into a letter, so only a known verb in any case can match.
#[inline]
fn verb_key(verb: &[u8]) -> u64 {
    if verb.len() > 8 {
        return 0;
    }
    // At most eight octets: the high half is zero.
    let key = packed(verb) as u64;
    with_length(key & !((key & 0x4040_4040_4040_4040) >> 1), verb.len())
}

/// Puts the length of a key shorter than 8 octets in its (otherwise zero) top octet, so that a
/// verb padded with NULs (`QUIT\0`) never matches the shorter verb.
#[inline(always)]
const fn with_length(key: u64, len: usize) -> u64 {
    if len < 8 {
        key | (len as u64) << 56
    } else {
        key
    }
}

/// The key of a known verb.
// Evaluated at compile time for constants only, within the loop's bounds: an index out of
// range would fail the build, never a run.
#[allow(clippy::indexing_slicing)]
const fn key(verb: &[u8]) -> u64 {
    let mut key = [0u8; 8];
    let mut at = 0;
    while at < verb.len() && at < 8 {
        key[at] = verb[at];
        at += 1;
    }
    with_length(u64::from_le_bytes(key), verb.len())
}

/// Splits at the first space: what is before it and, if there is one, what follows.
#[inline]
fn split_space(text: &str) -> (&str, Option<&str>) {
    split_at_byte(text, b' ')
}

/// Splits at the first `separator` (an ASCII octet).
#[inline]
fn split_at_byte(text: &str, separator: u8) -> (&str, Option<&str>) {
    match text.bytes().position(|b| b == separator) {
        Some(at) => (text.get(..at).unwrap_or_default(), text.get(at + 1..)),
        None => (text, None),
    }
}

struct Parser<'a> {
    /// The command line.
    line: &'a [u8],
    /// The line from `base` on, which holds the argument.
    text: &'a str,
    base: usize,
    /// The first space of the line, which ends the verb.
    space: Option<usize>,
    utf8: bool,
}

impl<'a> Parser<'a> {
    #[inline(always)]
    fn command(&self) -> Result<Command<'a>, DecodeError> {
        const EHLO: u64 = key(b"EHLO");
        const LHLO: u64 = key(b"LHLO");
        const HELO: u64 = key(b"HELO");
        const MAIL: u64 = key(b"MAIL");
        const RCPT: u64 = key(b"RCPT");
        const DATA: u64 = key(b"DATA");
        const RSET: u64 = key(b"RSET");
        const QUIT: u64 = key(b"QUIT");
        const STARTTLS: u64 = key(b"STARTTLS");
        const VRFY: u64 = key(b"VRFY");
        const EXPN: u64 = key(b"EXPN");
        const ETRN: u64 = key(b"ETRN");
        const HELP: u64 = key(b"HELP");
        const NOOP: u64 = key(b"NOOP");
        const BDAT: u64 = key(b"BDAT");
        const AUTH: u64 = key(b"AUTH");
        const ATRN: u64 = key(b"ATRN");
        const BURL: u64 = key(b"BURL");
        let (verb, argument) = match self.space {
            Some(space) => (
                self.line.get(..space).unwrap_or_default(),
                (space + 1)
                    .checked_sub(self.base)
                    .and_then(|start| self.text.get(start..)),
            ),
            None => (self.line, None),
        };
        let at = verb.len() + 1;
        let command = match verb_key(verb) {
            EHLO => Command::Ehlo(self.host(at, argument)?),
            LHLO => Command::Lhlo(self.host(at, argument)?),
            HELO => {
                let argument = required(at, argument, "domain")?;
                if argument.starts_with('[') {
                    // RFC 5321 4.1.1.1: HELO takes a domain only; EHLO also takes a literal.
                    let literal = InvalidValue::UnexpectedChar {
                        what: "domain",
                        offset: 0,
                        found: '[',
                    };
                    return Err(DecodeError::value(at, literal));
                }
                let (domain, end) =
                    parse_domain(argument, self.utf8).map_err(|e| DecodeError::value(at, e))?;
                self.end(at + end, "domain")?;
                Command::Helo(domain)
            }
            MAIL => self.mail(at, required(at, argument, "FROM:")?)?,
            RCPT => self.rcpt(at, required(at, argument, "TO:")?)?,
            DATA => self.bare(at, argument, Command::Data)?,
            RSET => self.bare(at, argument, Command::Rset)?,
            QUIT => self.bare(at, argument, Command::Quit)?,
            STARTTLS => self.bare(at, argument, Command::StartTls)?,
            VRFY => Command::Vrfy(self.lookup(at, required(at, argument, "argument")?)?),
            EXPN => Command::Expn(self.lookup(at, required(at, argument, "argument")?)?),
            ETRN => {
                let node = required(at, argument, "node name")?;
                Command::Etrn(
                    parse_etrn_node(node, self.utf8).map_err(|e| DecodeError::value(at, e))?,
                )
            }
            HELP => Command::Help(argument.map(|a| self.argument(at, a)).transpose()?),
            NOOP => Command::Noop(argument.map(|a| self.argument(at, a)).transpose()?),
            BDAT => self.bdat(at, required(at, argument, "chunk size")?)?,
            AUTH => self.auth(at, required(at, argument, "mechanism")?)?,
            ATRN => self.atrn(at, argument)?,
            BURL => self.burl(at, required(at, argument, "URL")?)?,
            _ => {
                let verb = match core::str::from_utf8(verb) {
                    Ok(verb) => verb,
                    Err(error) => {
                        return Err(DecodeError::new(
                            error.valid_up_to(),
                            ErrorKind::InvalidUtf8,
                        ));
                    }
                };
                check_keyword(verb).map_err(|_| DecodeError::syntax(0, "command verb"))?;
                Command::Other {
                    verb: Verb::checked(verb),
                    argument: argument.map(|a| self.argument(at, a)).transpose()?,
                }
            }
        };
        Ok(command)
    }

    /// Nothing may follow the `what` that ends at `at`.
    #[inline(always)]
    fn end(&self, at: usize, what: &'static str) -> Result<(), DecodeError> {
        // `at` ends a value, so it starts a character (or the end): its octet tells.
        match self.line.get(at) {
            None => Ok(()),
            Some(_) => Err(self.not_end(at, what)),
        }
    }

    /// What follows the `what` that ends at `at`, as an error.
    #[cold]
    fn not_end(&self, at: usize, what: &'static str) -> DecodeError {
        // Offsets count from the start of the line, `text` from `base`.
        let in_text = at.saturating_sub(self.base);
        match self.line.get(at) {
            Some(b' ') => DecodeError::syntax(at, "end of line"),
            _ => DecodeError::new(
                at,
                ErrorKind::Invalid(
                    InvalidValue::at(what, self.text, in_text, self.utf8).shifted(self.base),
                ),
            ),
        }
    }

    #[inline]
    fn bare(
        &self,
        at: usize,
        argument: Option<&str>,
        command: Command<'a>,
    ) -> Result<Command<'a>, DecodeError> {
        match argument {
            Some(_) => Err(DecodeError::syntax(at - 1, "end of line")),
            None => Ok(command),
        }
    }

    #[inline(always)]
    fn host(
        &self,
        at: usize,
        argument: Option<&'a str>,
    ) -> Result<crate::types::Host<'a>, DecodeError> {
        let argument = required(at, argument, "domain or address literal")?;
        let (host, end) = parse_host(argument, self.utf8).map_err(|e| DecodeError::value(at, e))?;
        self.end(at + end, "domain")?;
        Ok(host)
    }

    #[inline]
    fn argument(&self, at: usize, text: &'a str) -> Result<Argument<'a>, DecodeError> {
        check_argument(text, self.utf8).map_err(|e| DecodeError::value(at, e))?;
        Ok(Argument::checked(text))
    }

    /// `String [SP "SMTPUTF8"]` (RFC 6531 3.7.4.2): a final word `SMTPUTF8` after the string
    /// is the parameter.
    fn lookup(&self, at: usize, text: &'a str) -> Result<Lookup<'a>, DecodeError> {
        let (string, smtputf8) = match smtputf8_suffix(text) {
            Some(end) => (text.get(..end).unwrap_or_default(), true),
            None => (text, false),
        };
        check_argument(string, self.utf8).map_err(|e| DecodeError::value(at, e))?;
        Ok(Lookup::checked(string, smtputf8))
    }

    #[inline(always)]
    fn mail(&self, at: usize, argument: &'a str) -> Result<Command<'a>, DecodeError> {
        const FROM: u64 = key(b"FROM:");
        let path =
            strip_keyword(argument, FROM, 5).ok_or_else(|| DecodeError::syntax(at, "FROM:"))?;
        let at = at + 5;
        let (from, end) =
            parse_reverse_path(path, self.utf8).map_err(|e| DecodeError::value(at, e))?;
        // A UTF-8 path without the SMTPUTF8 parameter is grammar (RFC 6531 3.3 extends
        // Mailbox); that the transaction needs the parameter (3.4) is the server's to answer.
        // The parameters are read into the command itself, not into a value moved there.
        let mut command = Command::Mail {
            from,
            parameters: MailParameters::default(),
        };
        if let Command::Mail { parameters, .. } = &mut command {
            self.mail_parameters(at + end, path.get(end..).unwrap_or_default(), parameters)?;
        }
        Ok(command)
    }

    #[inline(always)]
    fn rcpt(&self, at: usize, argument: &'a str) -> Result<Command<'a>, DecodeError> {
        const TO: u64 = key(b"TO:");
        let path = strip_keyword(argument, TO, 3).ok_or_else(|| DecodeError::syntax(at, "TO:"))?;
        let at = at + 3;
        let (to, end) =
            parse_forward_path(path, self.utf8).map_err(|e| DecodeError::value(at, e))?;
        let parameters = self.rcpt_parameters(at + end, path.get(end..).unwrap_or_default())?;
        Ok(Command::Rcpt { to, parameters })
    }

    fn bdat(&self, at: usize, argument: &'a str) -> Result<Command<'a>, DecodeError> {
        let (size, rest) = split_space(argument);
        let size = digits(at, size, 20, "chunk size")?;
        let last = match rest {
            None => false,
            Some(marker) if marker.eq_ignore_ascii_case("LAST") => true,
            Some(_) => {
                return Err(DecodeError::syntax(
                    at + argument.len() - rest.map_or(0, str::len),
                    "LAST",
                ));
            }
        };
        Ok(Command::Bdat { size, last })
    }

    fn auth(&self, at: usize, argument: &'a str) -> Result<Command<'a>, DecodeError> {
        let (name, response) = split_space(argument);
        let mechanism = Mechanism::new(name).map_err(|e| DecodeError::value(at, e))?;
        let response_at = at + name.len() + 1;
        let initial_response = response
            .map(|text| InitialResponse::new(text).map_err(|e| DecodeError::value(response_at, e)))
            .transpose()?;
        Ok(Command::Auth {
            mechanism,
            initial_response,
        })
    }

    fn atrn(&self, at: usize, argument: Option<&'a str>) -> Result<Command<'a>, DecodeError> {
        let mut domains = Vec::new();
        let Some(list) = argument else {
            return Ok(Command::Atrn(domains));
        };
        let mut offset = 0;
        for part in list.split(',') {
            let (domain, end) =
                parse_domain(part, self.utf8).map_err(|e| DecodeError::value(at + offset, e))?;
            if end != part.len() {
                return Err(DecodeError::syntax(at + offset + end, "',' or end of line"));
            }
            domains.push(domain);
            offset += part.len() + 1;
        }
        Ok(Command::Atrn(domains))
    }

    fn burl(&self, at: usize, argument: &'a str) -> Result<Command<'a>, DecodeError> {
        let (url, rest) = split_space(argument);
        let url = Url::new(url).map_err(|e| DecodeError::value(at, e))?;
        let last = match rest {
            None => false,
            Some(marker) if marker.eq_ignore_ascii_case("LAST") => true,
            Some(_) => return Err(DecodeError::syntax(at + url.as_str().len() + 1, "LAST")),
        };
        Ok(Command::Burl { url, last })
    }

    /// Splits `SP esmtp-param *(SP esmtp-param)` (starting at `at` in the line) into keyword,
    /// value and the offset of each.
    #[inline(always)]
    fn parameters(
        &self,
        at: usize,
        text: &'a str,
        mut each: impl FnMut(usize, &'a str, Option<&'a str>) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        if text.is_empty() {
            return Ok(());
        }
        let Some(list) = text.strip_prefix(' ') else {
            return Err(DecodeError::syntax(at, "space before parameters"));
        };
        let mut offset = at + 1;
        let mut rest = list;
        loop {
            // One pass over `esmtp-keyword ["=" esmtp-value]`, up to the next space.
            let bytes = rest.as_bytes();
            if !bytes.first().is_some_and(u8::is_ascii_alphanumeric) {
                let error = check_keyword(rest.get(..1).unwrap_or_default());
                return Err(DecodeError::value(
                    offset,
                    error
                        .err()
                        .unwrap_or(InvalidValue::Empty { what: "keyword" }),
                ));
            }
            let mut at = 1 + chars::span(bytes.get(1..).unwrap_or_default(), LET_DIG | HYPHEN);
            let keyword = rest.get(..at).unwrap_or_default();
            let value = match bytes.get(at) {
                Some(b'=') => {
                    let start = at + 1;
                    let utf8 = self.utf8;
                    let value = bytes.get(start..).unwrap_or_default();
                    at = start + swar::span(value, |word| swar::value(word, utf8));
                    // Cut at each end apart: a range cut is a call, not inlined.
                    let value = rest
                        .get(..at)
                        .and_then(|head| head.get(start..))
                        .unwrap_or_default();
                    if value.is_empty() || !matches!(bytes.get(at), None | Some(b' ')) {
                        let error =
                            check_esmtp_value(rest.get(start..).unwrap_or_default(), self.utf8);
                        let error = error.err().unwrap_or(InvalidValue::Empty {
                            what: "parameter value",
                        });
                        return Err(DecodeError::value(offset + start, error));
                    }
                    Some(value)
                }
                None | Some(b' ') => None,
                Some(_) => {
                    return Err(DecodeError::new(
                        offset + at,
                        ErrorKind::Invalid(
                            InvalidValue::at("keyword", rest, at, self.utf8).shifted(0),
                        ),
                    ));
                }
            };
            each(offset, keyword, value)?;
            match rest.get(at + 1..) {
                Some(next) if bytes.get(at) == Some(&b' ') => {
                    offset += at + 1;
                    rest = next;
                }
                _ => return Ok(()),
            }
        }
    }

    #[inline(always)]
    fn mail_parameters(
        &self,
        at: usize,
        text: &'a str,
        out: &mut MailParameters<'a>,
    ) -> Result<(), DecodeError> {
        self.parameters(at, text, |offset, keyword, value| {
            let bad = || DecodeError::new(offset, invalid_value(keyword));
            let value_at = offset + keyword.len() + 1;
            match keyword_key(keyword) {
                SIZE => set(
                    &mut out.size,
                    offset,
                    keyword,
                    digits(value_at, need(value, bad)?, 20, "SIZE")?,
                ),
                BODY => {
                    // In any case, matched as one upper-cased integer like the keywords.
                    let body = match keyword_key(need(value, bad)?) {
                        EIGHTBITMIME => Body::EightBitMime,
                        SEVENBIT => Body::SevenBit,
                        BINARYMIME => Body::BinaryMime,
                        _ => return Err(bad()),
                    };
                    set(&mut out.body, offset, keyword, body)
                }
                SMTPUTF8 => flag(&mut out.smtputf8, offset, keyword, value),
                REQUIRETLS => flag(&mut out.require_tls, offset, keyword, value),
                RET => {
                    let ret = match keyword_key(need(value, bad)?) {
                        FULL => Ret::Full,
                        HDRS => Ret::Headers,
                        _ => return Err(bad()),
                    };
                    set(&mut out.ret, offset, keyword, ret)
                }
                ENVID => {
                    let value = need(value, bad)?;
                    if value.len() > MAX_ENVID {
                        let too_long = InvalidValue::TooLong {
                            what: "ENVID",
                            length: value.len(),
                            limit: MAX_ENVID,
                        };
                        return Err(DecodeError::value(value_at, too_long));
                    }
                    let envid = XText::decode(value)
                        .and_then(EnvelopeId::from_xtext)
                        .map_err(|e| DecodeError::value(value_at, e))?;
                    set(&mut out.envid, offset, keyword, envid)
                }
                AUTH_PARAMETER => {
                    let value = need(value, bad)?;
                    // RFC 4954 5: a decoded `<>` (however encoded) is the unknown identity.
                    let decoded =
                        XText::decode(value).map_err(|e| DecodeError::value(value_at, e))?;
                    let auth = match decoded.as_str() {
                        "<>" => None,
                        _ => Some(
                            AuthMailbox::from_xtext(decoded)
                                .map_err(|e| DecodeError::value(value_at, e))?,
                        ),
                    };
                    set(&mut out.auth, offset, keyword, auth)
                }
                MT_PRIORITY => {
                    // RFC 6710 2: priority-value = (["-"] NZDIGIT) / "0".
                    let priority = match need(value, bad)?.as_bytes() {
                        [b'0'] => Priority::new(0),
                        [digit @ b'1'..=b'9'] => Priority::new((digit - b'0') as i8),
                        [b'-', digit @ b'1'..=b'9'] => Priority::new(-((digit - b'0') as i8)),
                        _ => None,
                    };
                    set(
                        &mut out.mt_priority,
                        offset,
                        keyword,
                        priority.ok_or_else(bad)?,
                    )
                }
                HOLDFOR => {
                    let seconds = digits(value_at, need(value, bad)?, 9, "HOLDFOR")?;
                    let hold = u32::try_from(seconds)
                        .ok()
                        .and_then(HoldFor::new)
                        .ok_or_else(bad)?;
                    // RFC 4865 3: one hold parameter, HOLDFOR or HOLDUNTIL.
                    set(&mut out.hold, offset, keyword, Hold::For(hold))
                }
                HOLDUNTIL => {
                    let time = DateTime::new(need(value, bad)?)
                        .map_err(|e| DecodeError::value(value_at, e))?;
                    set(&mut out.hold, offset, keyword, Hold::Until(time))
                }
                BY => {
                    let by = deliver_by(value_at, need(value, bad)?)?;
                    set(&mut out.by, offset, keyword, by)
                }
                NOTIFY | ORCPT | RRVS => Err(not_allowed(offset, keyword)),
                _ => other(&mut out.other, offset, keyword, value),
            }
        })
    }

    #[inline(always)]
    fn rcpt_parameters(&self, at: usize, text: &'a str) -> Result<RcptParameters<'a>, DecodeError> {
        let mut out = RcptParameters::default();
        self.parameters(at, text, |offset, keyword, value| {
            let bad = || DecodeError::new(offset, invalid_value(keyword));
            let value_at = offset + keyword.len() + 1;
            match keyword_key(keyword) {
                NOTIFY => set(
                    &mut out.notify,
                    offset,
                    keyword,
                    notify(need(value, bad)?).ok_or_else(bad)?,
                ),
                ORCPT => {
                    let value = need(value, bad)?;
                    if value.len() > MAX_ORCPT {
                        let too_long = InvalidValue::TooLong {
                            what: "ORCPT",
                            length: value.len(),
                            limit: MAX_ORCPT,
                        };
                        return Err(DecodeError::value(value_at, too_long));
                    }
                    let (addr_type, address) = split_at_byte(value, b';');
                    let address = address.ok_or_else(bad)?;
                    // addr-type = atom (RFC 3461 4.2)
                    if addr_type.is_empty()
                        || !addr_type.bytes().all(|b| chars::class(b) & ATEXT != 0)
                    {
                        return Err(bad());
                    }
                    let address_at = value_at + addr_type.len() + 1;
                    let utf8_type = addr_type.eq_ignore_ascii_case("utf-8");
                    let address = if utf8_type {
                        XText::decode_unitext(address)
                    } else {
                        // Already checked as esmtp-value octets, which mostly leaves nothing
                        // to decode.
                        XText::decode_value(address)
                    }
                    .map_err(|e| DecodeError::value(address_at, e))?;
                    let orcpt = if utf8_type {
                        // Raw UTF-8 is sent back escaped, which is longer: check that form.
                        OriginalRecipient::from_parts(addr_type, address)
                            .map_err(|e| DecodeError::value(value_at, e))?
                    } else {
                        OriginalRecipient::checked(addr_type, address)
                    };
                    set(&mut out.orcpt, offset, keyword, orcpt)
                }
                RRVS => {
                    let value = need(value, bad)?;
                    let (time, action) = match value.rsplit_once(';') {
                        Some((time, "C" | "c")) => (time, Some(RrvsAction::Continue)),
                        Some((time, "R" | "r")) => (time, Some(RrvsAction::Reject)),
                        Some(_) => return Err(bad()),
                        None => (value, None),
                    };
                    let since = DateTime::new(time).map_err(|e| DecodeError::value(value_at, e))?;
                    let rrvs = Rrvs {
                        since,
                        on_unsupported: action,
                    };
                    set(&mut out.rrvs, offset, keyword, rrvs)
                }
                SIZE | BODY | SMTPUTF8 | REQUIRETLS | RET | ENVID | AUTH_PARAMETER
                | MT_PRIORITY | HOLDFOR | HOLDUNTIL | BY => Err(not_allowed(offset, keyword)),
                _ => other(&mut out.other, offset, keyword, value),
            }
        })?;
        Ok(out)
    }
}

/// Reads a parameter list as it follows the path on the wire, without the first space.
fn parse_parameters<T>(
    text: &str,
    read: impl for<'t> FnOnce(&Parser<'t>, &'t str) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    // The grammar reads `SP esmtp-param *(SP esmtp-param)`; give it its first space, and
    // count offsets from the start of `text`.
    let line = alloc::format!(" {text}");
    let parser = Parser {
        line: line.as_bytes(),
        text: &line,
        base: 0,
        space: Some(0),
        utf8: true,
    };
    read(&parser, &line).map_err(|e| DecodeError::new(e.offset.saturating_sub(1), e.kind))
}

impl core::str::FromStr for MailParameters<'static> {
    type Err = DecodeError;

    /// Reads the parameters of MAIL as they stand after the path, one space apart: `SIZE=1000
    /// BODY=8BITMIME X-TAG=a`, by the decoder's own grammar (UTF-8 allowed in values, RFC 6531
    /// 3.3). An empty text is no parameters.
    ///
    /// ```
    /// use smtp_proto::types::{Body, MailParameters};
    ///
    /// let parameters: MailParameters = "SIZE=1000 BODY=8BITMIME".parse()?;
    /// assert_eq!(parameters, MailParameters::new().with_size(1000).with_body(Body::EightBitMime));
    /// assert!("SIZE=1 SIZE=2".parse::<MailParameters>().is_err());
    /// # Ok::<(), smtp_proto::codec::DecodeError>(())
    /// ```
    fn from_str(text: &str) -> Result<Self, DecodeError> {
        if text.is_empty() {
            return Ok(Self::default());
        }
        parse_parameters(text, |parser, line| {
            let mut parameters = MailParameters::default();
            parser.mail_parameters(0, line, &mut parameters)?;
            Ok(parameters.into_owned())
        })
    }
}

impl core::str::FromStr for RcptParameters<'static> {
    type Err = DecodeError;

    /// Reads the parameters of RCPT as they stand after the path, one space apart:
    /// `NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;b@example.com`. An empty text is no parameters.
    fn from_str(text: &str) -> Result<Self, DecodeError> {
        if text.is_empty() {
            return Ok(Self::default());
        }
        parse_parameters(text, |parser, line| {
            parser
                .rcpt_parameters(0, line)
                .map(RcptParameters::into_owned)
        })
    }
}

/// The argument after the verb, which the command needs.
#[inline(always)]
fn required<'t>(
    at: usize,
    argument: Option<&'t str>,
    expected: &'static str,
) -> Result<&'t str, DecodeError> {
    argument.ok_or_else(|| DecodeError::syntax(at.saturating_sub(1), expected))
}

/// `text` without its case-insensitive ASCII prefix of `len` octets (at most 8) whose
/// [`key`] is `prefix`: one comparison of words instead of one of each octet.
#[inline(always)]
fn strip_keyword(text: &str, prefix: u64, len: usize) -> Option<&str> {
    let head = text.as_bytes().get(..len)?;
    // The head matched ASCII octets, so `len` is a character boundary.
    (verb_key(head) == prefix)
        .then(|| text.get(len..))
        .flatten()
}

/// `1*max DIGIT` as a number; more digits, or a value over `u64`, is out of range. Up to
/// eight digits within `max` (nearly every number) are read in place, in registers.
#[inline(always)]
fn digits(at: usize, text: &str, max: usize, what: &'static str) -> Result<u64, DecodeError> {
    match chars::short_number(text.as_bytes()) {
        Some(value) if text.len() <= max => Ok(value),
        _ => long_digits(at, text, max, what),
    }
}

/// [`digits`] for the rest: longer numbers, and the errors.
#[inline(never)]
fn long_digits(at: usize, text: &str, max: usize, what: &'static str) -> Result<u64, DecodeError> {
    if text.is_empty() {
        return Err(DecodeError::syntax(at, "digits"));
    }
    if let Some(value) = chars::short_number(text.as_bytes()) {
        if text.len() > max {
            return Err(DecodeError::new(at, ErrorKind::NumberOutOfRange { what }));
        }
        return Ok(value);
    }
    let mut value: u64 = 0;
    if text.len() <= 19 {
        // Nineteen digits cannot overflow a u64: no check at each step.
        for (offset, byte) in text.bytes().enumerate() {
            let digit = byte.wrapping_sub(b'0');
            if digit > 9 {
                return Err(DecodeError::syntax(at + offset, "digits"));
            }
            value = value * 10 + u64::from(digit);
        }
        if text.len() > max {
            return Err(DecodeError::new(at, ErrorKind::NumberOutOfRange { what }));
        }
        return Ok(value);
    }
    let mut overflow = text.len() > max;
    for (offset, byte) in text.bytes().enumerate() {
        if !byte.is_ascii_digit() {
            return Err(DecodeError::syntax(at + offset, "digits"));
        }
        match value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u64::from(byte - b'0')))
        {
            Some(next) => value = next,
            None => overflow = true,
        }
    }
    if overflow {
        return Err(DecodeError::new(at, ErrorKind::NumberOutOfRange { what }));
    }
    Ok(value)
}

/// A parameter keyword (or a value: BODY's, RET's) of up to 16 octets, upper-cased as in
/// [`verb_key`], as an integer; 0 for longer ones. Neither holds a NUL, so the zeros after a
/// shorter one tell it from a longer one.
#[inline]
fn keyword_key(keyword: &str) -> u128 {
    if keyword.len() > 16 {
        return 0;
    }
    chars::packed_upper(keyword.as_bytes())
}

/// The key of a known keyword (as [`keyword_key`] makes it of a keyword read).
const fn kw(keyword: &[u8]) -> u128 {
    chars::packed_const(keyword)
}

const SIZE: u128 = kw(b"SIZE");
const BODY: u128 = kw(b"BODY");
const SMTPUTF8: u128 = kw(b"SMTPUTF8");
const REQUIRETLS: u128 = kw(b"REQUIRETLS");
const RET: u128 = kw(b"RET");
const ENVID: u128 = kw(b"ENVID");
const AUTH_PARAMETER: u128 = kw(b"AUTH");
const MT_PRIORITY: u128 = kw(b"MT-PRIORITY");
const HOLDFOR: u128 = kw(b"HOLDFOR");
const HOLDUNTIL: u128 = kw(b"HOLDUNTIL");
const BY: u128 = kw(b"BY");
const NOTIFY: u128 = kw(b"NOTIFY");
const ORCPT: u128 = kw(b"ORCPT");
const RRVS: u128 = kw(b"RRVS");
// BODY's and RET's values.
const EIGHTBITMIME: u128 = kw(b"8BITMIME");
const SEVENBIT: u128 = kw(b"7BIT");
const BINARYMIME: u128 = kw(b"BINARYMIME");
const FULL: u128 = kw(b"FULL");
const HDRS: u128 = kw(b"HDRS");

/// The static name of a known keyword, for errors.
fn known_name(keyword: &str) -> &'static str {
    KNOWN_PARAMETERS
        .iter()
        .find(|name| name.eq_ignore_ascii_case(keyword))
        .copied()
        .unwrap_or("parameter")
}

fn invalid_value(keyword: &str) -> ErrorKind {
    ErrorKind::InvalidParameterValue {
        keyword: known_name(keyword),
    }
}

fn not_allowed(offset: usize, keyword: &str) -> DecodeError {
    DecodeError::new(
        offset,
        ErrorKind::ParameterNotAllowed {
            keyword: keyword.to_string(),
        },
    )
}

fn duplicate(offset: usize, keyword: &str) -> DecodeError {
    DecodeError::new(
        offset,
        ErrorKind::DuplicateParameter {
            keyword: keyword.to_string(),
        },
    )
}

#[inline(always)]
fn need(value: Option<&str>, bad: impl Fn() -> DecodeError) -> Result<&str, DecodeError> {
    value.ok_or_else(bad)
}

#[inline(always)]
fn set<T>(slot: &mut Option<T>, offset: usize, keyword: &str, value: T) -> Result<(), DecodeError> {
    if slot.is_some() {
        return Err(duplicate(offset, keyword));
    }
    *slot = Some(value);
    Ok(())
}

fn flag(
    slot: &mut bool,
    offset: usize,
    keyword: &str,
    value: Option<&str>,
) -> Result<(), DecodeError> {
    if value.is_some() {
        return Err(DecodeError::new(offset, invalid_value(keyword)));
    }
    if *slot {
        return Err(duplicate(offset, keyword));
    }
    *slot = true;
    Ok(())
}

fn other<'a>(
    list: &mut ExtensionParameters<'a>,
    offset: usize,
    keyword: &'a str,
    value: Option<&'a str>,
) -> Result<(), DecodeError> {
    list.push(Parameter::checked(keyword, value))
        .map_err(|_| duplicate(offset, keyword))
}

/// `NEVER` or a comma list of `SUCCESS`, `FAILURE`, `DELAY`, each at most once (RFC 3461 4.1).
fn notify(value: &str) -> Option<Notify> {
    const NEVER: u64 = key(b"NEVER");
    const SUCCESS: u64 = key(b"SUCCESS");
    const FAILURE: u64 = key(b"FAILURE");
    const DELAY: u64 = key(b"DELAY");
    if verb_key(value.as_bytes()) == NEVER {
        return Some(Notify::Never);
    }
    let mut events: Option<NotifyEvents> = None;
    let bytes = value.as_bytes();
    let mut start = 0;
    loop {
        // The key of the item of `n` octets at `start`, if one ends there: the events have two
        // lengths, so each item is one comparison of words, without looking for its comma.
        let item = |n: usize| {
            let word = bytes.get(start..start + n)?;
            match bytes.get(start + n) {
                None | Some(b',') => Some(verb_key(word)),
                Some(_) => None,
            }
        };
        let (event, len) = match item(7) {
            Some(SUCCESS) => (Notify::SUCCESS, 7),
            Some(FAILURE) => (Notify::FAILURE, 7),
            _ if item(5) == Some(DELAY) => (Notify::DELAY, 5),
            _ => return None,
        };
        events = match events {
            Some(set) if set.contains(event) => return None,
            Some(set) => Some(set | event),
            None => Some(event),
        };
        start += len;
        if start >= bytes.len() {
            break;
        }
        // Past the comma; an empty item after it matches nothing.
        start += 1;
    }
    events.map(Notify::On)
}

/// `by-time ";" by-mode [by-trace]` (RFC 2852 4): `["-" / "+"] 1*9DIGIT ";" ("N" / "R") ["T"]`,
/// and a by-time of zero or less only with mode `N`. `at` is where the value starts.
fn deliver_by(at: usize, value: &str) -> Result<DeliverBy, DecodeError> {
    let bad = || DecodeError::new(at, invalid_value("BY"));
    let (time, mode) = split_at_byte(value, b';');
    let mode = mode.ok_or_else(bad)?;
    let digits = time.strip_prefix(['-', '+']).unwrap_or(time);
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let seconds: i32 = digits.parse().map_err(|_| bad())?;
    let seconds = if time.starts_with('-') {
        -seconds
    } else {
        seconds
    };
    let (mode, trace) = match mode.as_bytes() {
        [b'N' | b'n'] => (ByMode::Notify, false),
        [b'R' | b'r'] => (ByMode::Return, false),
        [b'N' | b'n', b'T' | b't'] => (ByMode::Notify, true),
        [b'R' | b'r', b'T' | b't'] => (ByMode::Return, true),
        _ => return Err(bad()),
    };
    // The only refusal left is the by-time that mode R forbids: point at the time.
    DeliverBy::new(seconds, mode, trace).map_err(|e| DecodeError::value(at, e))
}

#[cfg(test)]
mod tests;
