//! The positive answer to EHLO on the wire (RFC 5321 4.1.1.1):
//!
//! ```text
//! ehlo-ok-rsp = ( "250" SP Domain [ SP ehlo-greet ] CRLF )
//!             / ( "250-" Domain [ SP ehlo-greet ] CRLF
//!                 *( "250-" ehlo-line CRLF )
//!                 "250" SP ehlo-line CRLF )
//! ehlo-line   = ehlo-keyword *( SP ehlo-param )
//! ```
//!
//! [`decode_ehlo_response`] reads it straight from the bytes; a [`Reply`] already decoded (by
//! the [`ReplyAssembler`](super::ReplyAssembler), say) converts with `EhloResponse::try_from`.
//! Beyond the grammar, a run of spaces between parameters, trailing spaces, and an `=` after
//! the keyword (`AUTH=LOGIN PLAIN`, the pre-standard form that Postfix and others still send
//! for old clients) are accepted; all `AUTH` lines merge into one [`Capability::Auth`].
//!
//! ```
//! use bytes::BytesMut;
//! use smtp_proto::codec::{Decoded, ReplyOptions, decode_ehlo_response, encode_ehlo_response};
//! use smtp_proto::types::{Capability, Extension};
//!
//! let input = b"250-mx.example Hello client.example\r\n\
//!               250-SIZE 35882577\r\n\
//!               250-AUTH=LOGIN PLAIN\r\n\
//!               250-AUTH LOGIN PLAIN XOAUTH2\r\n\
//!               250-X-VENDOR-THING 3\r\n\
//!               250 PIPELINING\r\n";
//! let Decoded::Complete(ehlo, _) = decode_ehlo_response(input, &ReplyOptions::default())? else {
//!     unreachable!("the reply is all there");
//! };
//! assert_eq!(ehlo.host().to_string(), "mx.example");
//! assert_eq!(ehlo.greeting().map(|g| g.as_str()), Some("Hello client.example"));
//! assert_eq!(ehlo.size(), Some(35882577));
//! let mechanisms: Vec<&str> = ehlo.auth_mechanisms().iter().map(|m| m.as_str()).collect();
//! assert_eq!(mechanisms, ["LOGIN", "PLAIN", "XOAUTH2"]);
//! assert!(ehlo.supports(Extension::Pipelining));
//! assert_eq!(ehlo.find_keyword("x-vendor-thing").map(|c| c.to_string()).as_deref(),
//!            Some("X-VENDOR-THING 3"));
//!
//! let mut out = BytesMut::new();
//! encode_ehlo_response(&ehlo, &mut out);
//! assert_eq!(&out[..], &b"250-mx.example Hello client.example\r\n\
//!                         250-SIZE 35882577\r\n\
//!                         250-AUTH LOGIN PLAIN XOAUTH2\r\n\
//!                         250-X-VENDOR-THING 3\r\n\
//!                         250 PIPELINING\r\n"[..]);
//! # Ok::<(), smtp_proto::codec::DecodeError>(())
//! ```

use alloc::borrow::Cow;
use alloc::string::ToString;
use alloc::vec::Vec;
use core::fmt;

use mail_wire::Output;

use super::reply::{
    MOST_PLAIN_LINES, ReplyLines, frame_reply, is_plain, plain_lines, plain_window, reply_str,
    text_error,
};
use super::{DecodeError, Decoded, ErrorKind, MAX_REPLY_LINE, ReplyOptions};
use crate::types::{
    Capability, EhloResponse, Host, InvalidValue, Mechanism, Reply, ReplyCode, ReplyText,
    check_reply_text, parse_capability, parse_host, parse_usual_line, push_capability,
};

/// Decodes the EHLO response at the start of `input`: [`Decoded::Incomplete`] until its last
/// line has arrived. A reply with another code than 250 is an error
/// ([`ErrorKind::ReplyCodeMismatch`]); decode it with [`decode_reply`](super::decode_reply).
pub fn decode_ehlo_response<'a>(
    input: &'a [u8],
    options: &ReplyOptions,
) -> Result<Decoded<EhloResponse<'a>>, DecodeError> {
    if let Some((ehlo, used)) = decode_plain(input, options) {
        return Ok(Decoded::Complete(ehlo, used));
    }
    decode_general(input, options)
}

/// [`decode_ehlo_response`] without its fast path: any input, with the precise error.
fn decode_general<'a>(
    input: &'a [u8],
    options: &ReplyOptions,
) -> Result<Decoded<EhloResponse<'a>>, DecodeError> {
    let Some(framed) = frame_reply(input, options, Some(ReplyCode::OK))? else {
        return Ok(Decoded::Incomplete);
    };
    let reply = reply_str(input.get(..framed.used).unwrap_or_default(), options.utf8)?;
    let mut lines = ReplyLines::new(reply);
    let (first, offset) = lines.next().unwrap_or_default();
    let (host, greeting) =
        parse_first_line(first, options.utf8).map_err(|e| text_error(offset, e))?;
    let mut capabilities = Vec::with_capacity(framed.lines.saturating_sub(1));
    for (line, offset) in lines {
        let capability = parse_capability(line).map_err(|e| text_error(offset, e))?;
        push_capability(&mut capabilities, capability);
    }
    Ok(Decoded::Complete(
        EhloResponse {
            host,
            greeting,
            capabilities,
        },
        framed.used,
    ))
}

/// The usual case, quickly: a whole response of plain ASCII lines with at most one `AUTH`,
/// and the octets it takes. `None` for anything else, which the general path then decodes
/// (or reports).
fn decode_plain<'a>(input: &'a [u8], options: &ReplyOptions) -> Option<(EhloResponse<'a>, usize)> {
    let text = plain_window(input, options)?;
    let bytes = text.as_bytes();
    if bytes.get(..3) != Some(b"250") {
        return None;
    }
    let mut ranges = [(0u16, 0u16); MOST_PLAIN_LINES];
    let (lines, used) = plain_lines(bytes, options, &mut ranges)?;
    let (first, rest) = ranges.get(..lines)?.split_first()?;
    // The capabilities are collected from an iterator of known length, so that each is
    // written in place: one built apart and pushed would be copied through the stack, which
    // stalls on store forwarding and costs more than reading `PIPELINING`. The usual lines
    // are read as octets: only the text they hold (AUTH's mechanisms) is cut out of `text`.
    let mut failed = false;
    let mut auth = false;
    let capabilities: Vec<Capability<'a>> = rest
        .iter()
        .map(|&(start, end)| {
            let (start, end) = (usize::from(start), usize::from(end));
            let Some(line) = bytes.get(start..end) else {
                failed = true;
                return Capability::Help;
            };
            let read = match parse_usual_line(line, |at| text.get(start + at..end)) {
                Some(capability) => Ok(capability),
                None => parse_capability(text.get(start..end).unwrap_or_default()),
            };
            match read {
                Ok(capability) => {
                    if let Capability::Auth(_) = capability {
                        // Two AUTH lines merge: the general path does that.
                        failed |= auth;
                        auth = true;
                    }
                    capability
                }
                Err(_) => {
                    failed = true;
                    Capability::Help
                }
            }
        })
        .collect();
    if failed {
        return None;
    }
    // Cut at the end, then at the start: each a check the compiler keeps inline.
    let first = text
        .get(..usize::from(first.1))?
        .get(usize::from(first.0)..)?;
    let (host, greeting) = parse_first_line(first, false).ok()?;
    Some((
        EhloResponse {
            host,
            greeting,
            capabilities,
        },
        used,
    ))
}

/// Reads an EHLO response out of a reply: 250, a first line `host [greeting]`, then one
/// capability per line, as [`decode_ehlo_response`] reads the same bytes.
///
/// A one-line reply whose host looks like an enhanced status code (`250 2.0.0`, or
/// `250 2.0.0 greeting`) had that "status" lifted off by [`decode_reply`](super::decode_reply):
/// it is put back in front of the line, so that the host is what the server sent. An
/// enhanced status code on every line of a longer reply (which an EHLO response should not
/// have, RFC 2034 4; no line after the first could then be a capability) is ignored. Error
/// offsets count from the start of the reply as [`encode_reply`](super::encode_reply) would
/// write it without such an ignored status code.
impl<'a> TryFrom<Reply<'a>> for EhloResponse<'a> {
    type Error = DecodeError;

    fn try_from(reply: Reply<'a>) -> Result<Self, DecodeError> {
        if reply.code() != ReplyCode::OK {
            return Err(not_ok(reply.code(), 0));
        }
        let lifted = reply.status().filter(|_| reply.lines().len() == 1);
        let mut lines = reply.into_lines().into_iter();
        let mut first = lines.next().unwrap_or_default();
        if let Some(status) = lifted {
            // RFC 5321 4.1.1.1: `250 SP Domain [SP ehlo-greet]`; the "status" is the Domain.
            let text = match first.as_str() {
                "" => status.to_string(),
                text => alloc::format!("{status} {text}"),
            };
            first = ReplyText::checked_cow(Cow::Owned(text));
        }
        let mut offset = 4 + first.as_str().len() + 2;
        let (host, greeting) = match first.into_inner() {
            Cow::Borrowed(text) => parse_first_line(text, true),
            Cow::Owned(text) => parse_first_line(&text, true)
                .map(|(host, greeting)| (host.into_owned(), greeting.map(ReplyText::into_owned))),
        }
        .map_err(|e| text_error(4, e))?;
        let mut capabilities = Vec::with_capacity(lines.len());
        for line in lines {
            let length = line.as_str().len();
            let capability = match line.into_inner() {
                Cow::Borrowed(text) => parse_capability(text),
                Cow::Owned(text) => parse_capability(&text).map(Capability::into_owned),
            }
            .map_err(|e| text_error(offset + 4, e))?;
            push_capability(&mut capabilities, capability);
            offset += 4 + length + 2;
        }
        Ok(Self {
            host,
            greeting,
            capabilities,
        })
    }
}

impl EhloResponse<'_> {
    /// The response as a reply, line for line what
    /// [`encode_ehlo_response`] writes.
    pub fn to_reply(&self) -> Reply<'static> {
        let mut lines = Vec::with_capacity(self.capabilities.len() + 1);
        for_each_line(self, |line| {
            // Lines are made of checked values: a host, reply text and EHLO tokens.
            lines.push(ReplyText::new(line.to_string()).unwrap_or_default());
        });
        // Taken as they are: a host such as `2.0.0` is not an enhanced status code here.
        Reply::decoded_many(ReplyCode::OK, None, lines)
    }
}

/// Writes `ehlo`: `250-host greeting`, then one capability per line, the last with `250 `.
///
/// A greeting too long for the first line (512 octets, RFC 5321 4.5.3.1.5) is cut short at a
/// character boundary; an `AUTH` with too many mechanisms for one line is spread over several
/// `AUTH` lines, which decoders merge again. Other capabilities are written whole: keep their
/// parameters within a line.
pub fn encode_ehlo_response<O: Output + ?Sized>(ehlo: &EhloResponse<'_>, dst: &mut O) {
    // Each line goes out once the next one shows it is not the last.
    let mut previous = None;
    for_each_line(ehlo, |line| {
        if let Some(previous) = previous.replace(line) {
            dst.put_fmt(format_args!("250-{previous}\r\n"));
        }
    });
    if let Some(last) = previous {
        dst.put_fmt(format_args!("250 {last}\r\n"));
    }
}

/// What a line of an EHLO response holds.
enum Line<'r, 'a> {
    /// `host [SP greeting]`, the greeting already cut to fit.
    First(&'r Host<'a>, Option<&'r str>),
    /// Some of the mechanisms of an `AUTH`.
    Auth(&'r [Mechanism<'a>]),
    /// Any other capability.
    Capability(&'r Capability<'a>),
}

impl fmt::Display for Line<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::First(host, greeting) => {
                write!(f, "{host}")?;
                match greeting {
                    Some(greeting) => write!(f, " {greeting}"),
                    None => Ok(()),
                }
            }
            Self::Auth(mechanisms) => {
                f.write_str("AUTH")?;
                mechanisms.iter().try_for_each(|m| write!(f, " {m}"))
            }
            Self::Capability(capability) => capability.fmt(f),
        }
    }
}

/// The most text after `250-` on one line.
const LINE_BUDGET: usize = MAX_REPLY_LINE - 6;

/// Hands each line of `ehlo` to `line`, in order.
fn for_each_line<'r, 'a>(ehlo: &'r EhloResponse<'a>, mut line: impl FnMut(Line<'r, 'a>)) {
    let host_len = match &ehlo.host {
        Host::Domain(domain) => domain.as_str().len(),
        Host::Literal(literal) => literal.as_str().len() + 2,
    };
    let greeting = ehlo
        .greeting
        .as_ref()
        .map(ReplyText::as_str)
        .filter(|greeting| !greeting.is_empty())
        .and_then(|greeting| {
            let mut room = LINE_BUDGET.saturating_sub(host_len + 1).min(greeting.len());
            while !greeting.is_char_boundary(room) {
                room -= 1;
            }
            greeting.get(..room).filter(|cut| !cut.is_empty())
        });
    line(Line::First(&ehlo.host, greeting));
    for capability in &ehlo.capabilities {
        let Capability::Auth(mechanisms) = capability else {
            line(Line::Capability(capability));
            continue;
        };
        // "AUTH", then " name" for each mechanism that fits.
        let mut start = 0;
        let mut used = 4;
        for (index, mechanism) in mechanisms.iter().enumerate() {
            let more = 1 + mechanism.as_str().len();
            if used + more > LINE_BUDGET && index > start {
                line(Line::Auth(mechanisms.get(start..index).unwrap_or_default()));
                start = index;
                used = 4;
            }
            used += more;
        }
        line(Line::Auth(mechanisms.get(start..).unwrap_or_default()));
    }
}

/// `Domain / address-literal [SP greeting]`: the first line of an EHLO response. An empty
/// greeting is none.
fn parse_first_line(
    text: &str,
    utf8: bool,
) -> Result<(Host<'_>, Option<ReplyText<'_>>), InvalidValue> {
    let (host, end) = parse_host(text, utf8)?;
    let greeting = match text.as_bytes().get(end) {
        None => None,
        Some(b' ') => {
            let greeting = text.get(end + 1..).unwrap_or_default();
            if !is_plain(greeting.as_bytes(), utf8) {
                check_reply_text(greeting, utf8).map_err(|e| e.shifted(end + 1))?;
            }
            Some(ReplyText::checked(greeting)).filter(|greeting| !greeting.is_empty())
        }
        Some(_) => return Err(InvalidValue::at("EHLO greeting", text, end, utf8)),
    };
    Ok((host, greeting))
}

fn not_ok(code: ReplyCode, offset: usize) -> DecodeError {
    DecodeError::new(
        offset,
        ErrorKind::ReplyCodeMismatch {
            expected: ReplyCode::OK.get(),
            found: code.get(),
        },
    )
}

#[cfg(test)]
mod tests;
