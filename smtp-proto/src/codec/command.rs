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
use core::fmt::Write;

use bytes::BytesMut;

use super::{DecodeError, Decoded, ErrorKind, MAX_COMMAND_LINE, frame_line, line_text};
use crate::types::InvalidValue;
use crate::types::{
    Argument, Body, Command, DateTime, DeliverBy, EnvelopeId, HoldFor, InitialResponse,
    MailParameters, Mechanism, Notify, OriginalRecipient, Parameter, Priority, RcptParameters, Ret,
    Rrvs, RrvsAction, Verb, XText, check_argument, check_esmtp_value, check_keyword, parse_domain,
    parse_forward_path, parse_host, parse_reverse_path,
};

/// Settings of the command decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandOptions {
    max_line_length: usize,
    smtputf8: bool,
}

impl Default for CommandOptions {
    fn default() -> Self {
        Self {
            max_line_length: MAX_COMMAND_LINE,
            smtputf8: false,
        }
    }
}

impl CommandOptions {
    /// 512-octet lines, ASCII only.
    pub fn new() -> Self {
        Self::default()
    }

    /// The longest command line accepted, CRLF included (RFC 5321 4.5.3.1.4: at least 512;
    /// extensions such as AUTH need more).
    #[must_use]
    pub fn max_line_length(mut self, max: usize) -> Self {
        self.max_line_length = max;
        self
    }

    /// Whether SMTPUTF8 (RFC 6531) is in effect: UTF-8 in addresses, domains and arguments.
    /// A `MAIL` with a non-ASCII path must still carry the `SMTPUTF8` parameter.
    #[must_use]
    pub fn smtputf8(mut self, enabled: bool) -> Self {
        self.smtputf8 = enabled;
        self
    }

    /// The line limit.
    pub fn line_limit(&self) -> usize {
        self.max_line_length
    }

    /// Whether UTF-8 is accepted.
    pub fn allows_utf8(&self) -> bool {
        self.smtputf8
    }
}

/// Decodes the command at the start of `input`: [`Decoded::Incomplete`] until its CRLF has
/// arrived, then the command and the octets it took. Values borrow from `input`.
pub fn decode_command<'a>(
    input: &'a [u8],
    options: &CommandOptions,
) -> Result<Decoded<Command<'a>>, DecodeError> {
    let Some((line, used)) = frame_line(input, options.max_line_length)? else {
        return Ok(Decoded::Incomplete);
    };
    Ok(Decoded::Complete(parse_command(line, options)?, used))
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
    if let Some(at) = memchr::memchr2(b'\r', b'\n', line) {
        let kind = if line.get(at) == Some(&b'\r') {
            ErrorKind::BareCr
        } else {
            ErrorKind::BareLf
        };
        return Err(DecodeError::new(at, kind));
    }
    let text = line_text(line, options.smtputf8)?;
    Parser {
        text,
        utf8: options.smtputf8,
    }
    .command()
}

/// Writes `command` and its CRLF.
pub fn encode_command(command: &Command<'_>, out: &mut BytesMut) {
    // Writing into a BytesMut cannot fail, and the types cannot hold a CR or LF.
    let _ = write!(out, "{command}\r\n");
}

/// Upper-cases a verb of up to 8 octets into a fixed key; longer verbs get an empty key.
fn verb_key(verb: &str) -> [u8; 8] {
    let mut key = [0u8; 8];
    if verb.len() <= key.len() {
        for (slot, byte) in key.iter_mut().zip(verb.bytes()) {
            *slot = byte.to_ascii_uppercase();
        }
    }
    key
}

struct Parser<'a> {
    text: &'a str,
    utf8: bool,
}

impl<'a> Parser<'a> {
    fn command(&self) -> Result<Command<'a>, DecodeError> {
        let text = self.text;
        let (verb, argument) = match text.find(' ') {
            Some(space) => (text.get(..space).unwrap_or_default(), text.get(space + 1..)),
            None => (text, None),
        };
        let at = verb.len() + 1;
        let command = match &verb_key(verb) {
            b"EHLO\0\0\0\0" => Command::Ehlo(self.host(at, argument)?),
            b"LHLO\0\0\0\0" => Command::Lhlo(self.host(at, argument)?),
            b"HELO\0\0\0\0" => {
                let argument = required(at, argument, "domain")?;
                let (domain, end) =
                    parse_domain(argument, self.utf8).map_err(|e| DecodeError::value(at, e))?;
                self.end(at + end, "domain")?;
                Command::Helo(domain)
            }
            b"MAIL\0\0\0\0" => self.mail(at, required(at, argument, "FROM:")?)?,
            b"RCPT\0\0\0\0" => self.rcpt(at, required(at, argument, "TO:")?)?,
            b"DATA\0\0\0\0" => self.bare(at, argument, Command::Data)?,
            b"RSET\0\0\0\0" => self.bare(at, argument, Command::Rset)?,
            b"QUIT\0\0\0\0" => self.bare(at, argument, Command::Quit)?,
            b"STARTTLS" => self.bare(at, argument, Command::StartTls)?,
            b"VRFY\0\0\0\0" => {
                Command::Vrfy(self.argument(at, required(at, argument, "argument")?)?)
            }
            b"EXPN\0\0\0\0" => {
                Command::Expn(self.argument(at, required(at, argument, "argument")?)?)
            }
            b"ETRN\0\0\0\0" => {
                Command::Etrn(self.argument(at, required(at, argument, "node name")?)?)
            }
            b"HELP\0\0\0\0" => Command::Help(argument.map(|a| self.argument(at, a)).transpose()?),
            b"NOOP\0\0\0\0" => Command::Noop(argument.map(|a| self.argument(at, a)).transpose()?),
            b"BDAT\0\0\0\0" => self.bdat(at, required(at, argument, "chunk size")?)?,
            b"AUTH\0\0\0\0" => self.auth(at, required(at, argument, "mechanism")?)?,
            b"ATRN\0\0\0\0" => self.atrn(at, argument)?,
            b"BURL\0\0\0\0" => self.burl(at, required(at, argument, "URL")?)?,
            _ => {
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
    fn end(&self, at: usize, what: &'static str) -> Result<(), DecodeError> {
        match self.text.get(at..).and_then(|rest| rest.chars().next()) {
            None => Ok(()),
            Some(' ') => Err(DecodeError::syntax(at, "end of line")),
            Some(_) => Err(DecodeError::new(
                at,
                ErrorKind::Invalid(InvalidValue::at(what, self.text, at, self.utf8)),
            )),
        }
    }

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

    fn argument(&self, at: usize, text: &'a str) -> Result<Argument<'a>, DecodeError> {
        check_argument(text, self.utf8).map_err(|e| DecodeError::value(at, e))?;
        Ok(Argument::checked(text))
    }

    fn mail(&self, at: usize, argument: &'a str) -> Result<Command<'a>, DecodeError> {
        let path = strip_keyword(argument, "FROM:").ok_or(DecodeError::syntax(at, "FROM:"))?;
        let at = at + 5;
        let (from, end) =
            parse_reverse_path(path, self.utf8).map_err(|e| DecodeError::value(at, e))?;
        let parameters = self.mail_parameters(at + end, path.get(end..).unwrap_or_default())?;
        if !parameters.smtputf8 && !from.is_ascii() {
            // RFC 6531 3.4: a non-ASCII address needs the SMTPUTF8 parameter.
            return Err(DecodeError::new(at, ErrorKind::NonAscii));
        }
        Ok(Command::Mail { from, parameters })
    }

    fn rcpt(&self, at: usize, argument: &'a str) -> Result<Command<'a>, DecodeError> {
        let path = strip_keyword(argument, "TO:").ok_or(DecodeError::syntax(at, "TO:"))?;
        let at = at + 3;
        let (to, end) =
            parse_forward_path(path, self.utf8).map_err(|e| DecodeError::value(at, e))?;
        let parameters = self.rcpt_parameters(at + end, path.get(end..).unwrap_or_default())?;
        Ok(Command::Rcpt { to, parameters })
    }

    fn bdat(&self, at: usize, argument: &'a str) -> Result<Command<'a>, DecodeError> {
        let (size, rest) = match argument.split_once(' ') {
            Some((size, rest)) => (size, Some(rest)),
            None => (argument, None),
        };
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
        let (name, response) = match argument.split_once(' ') {
            Some((name, response)) => (name, Some(response)),
            None => (argument, None),
        };
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
        let (url, rest) = match argument.split_once(' ') {
            Some((url, rest)) => (url, Some(rest)),
            None => (argument, None),
        };
        let url = self.argument(at, url)?;
        let last = match rest {
            None => false,
            Some(marker) if marker.eq_ignore_ascii_case("LAST") => true,
            Some(_) => return Err(DecodeError::syntax(at + url.as_str().len() + 1, "LAST")),
        };
        Ok(Command::Burl { url, last })
    }

    /// Splits `SP esmtp-param *(SP esmtp-param)` (starting at `at` in the line) into keyword,
    /// value and the offset of each.
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
        for parameter in list.split(' ') {
            let (keyword, value) = match parameter.split_once('=') {
                Some((keyword, value)) => (keyword, Some(value)),
                None => (parameter, None),
            };
            check_keyword(keyword).map_err(|e| DecodeError::value(offset, e))?;
            if let Some(value) = value {
                check_esmtp_value(value, self.utf8)
                    .map_err(|e| DecodeError::value(offset + keyword.len() + 1, e))?;
            }
            each(offset, keyword, value)?;
            offset += parameter.len() + 1;
        }
        Ok(())
    }

    fn mail_parameters(&self, at: usize, text: &'a str) -> Result<MailParameters<'a>, DecodeError> {
        let mut out = MailParameters::default();
        self.parameters(at, text, |offset, keyword, value| {
            let bad = || DecodeError::new(offset, invalid_value(keyword));
            let value_at = offset + keyword.len() + 1;
            match &keyword_key(keyword) {
                b"SIZE\0\0\0\0\0\0\0" => set(
                    &mut out.size,
                    offset,
                    keyword,
                    digits(value_at, need(value, bad)?, 20, "SIZE")?,
                ),
                b"BODY\0\0\0\0\0\0\0" => {
                    let body = match need(value, bad)?.to_ascii_uppercase().as_str() {
                        "7BIT" => Body::SevenBit,
                        "8BITMIME" => Body::EightBitMime,
                        "BINARYMIME" => Body::BinaryMime,
                        _ => return Err(bad()),
                    };
                    set(&mut out.body, offset, keyword, body)
                }
                b"SMTPUTF8\0\0\0" => flag(&mut out.smtputf8, offset, keyword, value),
                b"REQUIRETLS\0" => flag(&mut out.require_tls, offset, keyword, value),
                b"RET\0\0\0\0\0\0\0\0" => {
                    let ret = match need(value, bad)? {
                        v if v.eq_ignore_ascii_case("FULL") => Ret::Full,
                        v if v.eq_ignore_ascii_case("HDRS") => Ret::Headers,
                        _ => return Err(bad()),
                    };
                    set(&mut out.ret, offset, keyword, ret)
                }
                b"ENVID\0\0\0\0\0\0" => {
                    let envid = XText::decode(need(value, bad)?)
                        .and_then(EnvelopeId::new)
                        .map_err(|e| DecodeError::value(value_at, e))?;
                    set(&mut out.envid, offset, keyword, envid)
                }
                b"AUTH\0\0\0\0\0\0\0" => {
                    let value = need(value, bad)?;
                    let auth = match value {
                        "<>" => None,
                        _ => Some(
                            XText::decode(value).map_err(|e| DecodeError::value(value_at, e))?,
                        ),
                    };
                    set(&mut out.auth, offset, keyword, auth)
                }
                b"MT-PRIORITY" => {
                    let value = need(value, bad)?;
                    let number = value.strip_prefix('+').unwrap_or(value);
                    let priority = match number.as_bytes() {
                        [digit] | [b'-', digit] if digit.is_ascii_digit() => {
                            number.parse().ok().and_then(Priority::new)
                        }
                        _ => None,
                    };
                    set(
                        &mut out.mt_priority,
                        offset,
                        keyword,
                        priority.ok_or_else(bad)?,
                    )
                }
                b"HOLDFOR\0\0\0\0" => {
                    let seconds = digits(value_at, need(value, bad)?, 9, "HOLDFOR")?;
                    let hold = u32::try_from(seconds)
                        .ok()
                        .and_then(HoldFor::new)
                        .ok_or_else(bad)?;
                    set(&mut out.hold_for, offset, keyword, hold)
                }
                b"HOLDUNTIL\0\0" => {
                    let time = DateTime::new(need(value, bad)?)
                        .map_err(|e| DecodeError::value(value_at, e))?;
                    set(&mut out.hold_until, offset, keyword, time)
                }
                b"BY\0\0\0\0\0\0\0\0\0" => {
                    let by = deliver_by(need(value, bad)?).ok_or_else(bad)?;
                    set(&mut out.by, offset, keyword, by)
                }
                b"NOTIFY\0\0\0\0\0" | b"ORCPT\0\0\0\0\0\0" | b"RRVS\0\0\0\0\0\0\0" => {
                    Err(not_allowed(offset, keyword))
                }
                _ => other(&mut out.other, offset, keyword, value),
            }
        })?;
        Ok(out)
    }

    fn rcpt_parameters(&self, at: usize, text: &'a str) -> Result<RcptParameters<'a>, DecodeError> {
        let mut out = RcptParameters::default();
        self.parameters(at, text, |offset, keyword, value| {
            let bad = || DecodeError::new(offset, invalid_value(keyword));
            let value_at = offset + keyword.len() + 1;
            match &keyword_key(keyword) {
                b"NOTIFY\0\0\0\0\0" => set(
                    &mut out.notify,
                    offset,
                    keyword,
                    notify(need(value, bad)?).ok_or_else(bad)?,
                ),
                b"ORCPT\0\0\0\0\0\0" => {
                    let value = need(value, bad)?;
                    let (addr_type, address) = value.split_once(';').ok_or_else(bad)?;
                    let address_at = value_at + addr_type.len() + 1;
                    let address = if addr_type.eq_ignore_ascii_case("utf-8") {
                        XText::decode_unitext(address)
                    } else {
                        XText::decode(address)
                    }
                    .map_err(|e| DecodeError::value(address_at, e))?;
                    let orcpt = OriginalRecipient::new(addr_type, address)
                        .map_err(|e| DecodeError::value(value_at, e))?;
                    set(&mut out.orcpt, offset, keyword, orcpt)
                }
                b"RRVS\0\0\0\0\0\0\0" => {
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
                b"SIZE\0\0\0\0\0\0\0"
                | b"BODY\0\0\0\0\0\0\0"
                | b"SMTPUTF8\0\0\0"
                | b"REQUIRETLS\0"
                | b"RET\0\0\0\0\0\0\0\0"
                | b"ENVID\0\0\0\0\0\0"
                | b"AUTH\0\0\0\0\0\0\0"
                | b"MT-PRIORITY"
                | b"HOLDFOR\0\0\0\0"
                | b"HOLDUNTIL\0\0"
                | b"BY\0\0\0\0\0\0\0\0\0" => Err(not_allowed(offset, keyword)),
                _ => other(&mut out.other, offset, keyword, value),
            }
        })?;
        Ok(out)
    }
}

/// The argument after the verb, which the command needs.
fn required<'t>(
    at: usize,
    argument: Option<&'t str>,
    expected: &'static str,
) -> Result<&'t str, DecodeError> {
    argument.ok_or(DecodeError::syntax(at.saturating_sub(1), expected))
}

/// `text` without its case-insensitive `prefix`.
fn strip_keyword<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

/// `1*max DIGIT` as a number; more digits, or a value over `u64`, is out of range.
fn digits(at: usize, text: &str, max: usize, what: &'static str) -> Result<u64, DecodeError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecodeError::syntax(at, "digits"));
    }
    if text.len() > max {
        return Err(DecodeError::new(at, ErrorKind::NumberOutOfRange { what }));
    }
    text.parse()
        .map_err(|_| DecodeError::new(at, ErrorKind::NumberOutOfRange { what }))
}

/// Upper-cases a parameter keyword of up to 11 octets into a fixed key.
fn keyword_key(keyword: &str) -> [u8; 11] {
    let mut key = [0u8; 11];
    if keyword.len() <= key.len() {
        for (slot, byte) in key.iter_mut().zip(keyword.bytes()) {
            *slot = byte.to_ascii_uppercase();
        }
    }
    key
}

/// The static name of a known keyword, for errors.
fn known_name(keyword: &str) -> &'static str {
    const NAMES: &[&str] = &[
        "SIZE",
        "BODY",
        "SMTPUTF8",
        "RET",
        "ENVID",
        "AUTH",
        "REQUIRETLS",
        "MT-PRIORITY",
        "HOLDFOR",
        "HOLDUNTIL",
        "BY",
        "NOTIFY",
        "ORCPT",
        "RRVS",
    ];
    NAMES
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

fn need(value: Option<&str>, bad: impl Fn() -> DecodeError) -> Result<&str, DecodeError> {
    value.ok_or_else(bad)
}

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
    list: &mut Vec<Parameter<'a>>,
    offset: usize,
    keyword: &'a str,
    value: Option<&'a str>,
) -> Result<(), DecodeError> {
    if list
        .iter()
        .any(|p| p.keyword().eq_ignore_ascii_case(keyword))
    {
        return Err(duplicate(offset, keyword));
    }
    list.push(Parameter::checked(keyword, value));
    Ok(())
}

/// `NEVER` or a comma list of `SUCCESS`, `FAILURE`, `DELAY`, each at most once (RFC 3461 4.1).
fn notify(value: &str) -> Option<Notify> {
    if value.eq_ignore_ascii_case("NEVER") {
        return Some(Notify::Never);
    }
    let (mut success, mut failure, mut delay) = (false, false, false);
    for item in value.split(',') {
        let slot = match item {
            i if i.eq_ignore_ascii_case("SUCCESS") => &mut success,
            i if i.eq_ignore_ascii_case("FAILURE") => &mut failure,
            i if i.eq_ignore_ascii_case("DELAY") => &mut delay,
            _ => return None,
        };
        if *slot {
            return None;
        }
        *slot = true;
    }
    Notify::on(success, failure, delay)
}

/// `by-time ";" by-mode [by-trace]` (RFC 2852 4): `["-" / "+"] 1*9DIGIT ";" ("N" / "R") ["T"]`.
fn deliver_by(value: &str) -> Option<DeliverBy> {
    let (time, mode) = value.split_once(';')?;
    let digits = time.strip_prefix(['-', '+']).unwrap_or(time);
    if digits.is_empty() || digits.len() > 9 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let seconds: i32 = digits.parse().ok()?;
    let seconds = if time.starts_with('-') {
        -seconds
    } else {
        seconds
    };
    let mode = mode.to_ascii_uppercase();
    let (return_on_expiry, trace) = match mode.as_str() {
        "N" => (false, false),
        "R" => (true, false),
        "NT" => (false, true),
        "RT" => (true, true),
        _ => return None,
    };
    DeliverBy::new(seconds, return_on_expiry, trace)
}

#[cfg(test)]
mod tests;
