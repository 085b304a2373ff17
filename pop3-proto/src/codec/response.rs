//! Responses, listings, capabilities and SASL continuations.

use alloc::vec::Vec;

use mail_wire::Output;
use mail_wire::decode::{check_line, line_text};

use super::{DecodeError, DecodeErrorExt, ErrorKind, put};
use crate::types::{
    CapaParam, CapaTag, Capability, Expire, ImplementationText, LanguageListing, LanguageTag,
    MAX_IMPLEMENTATION, Mechanism, MessageNumber, OtherCapability, RESPONSE_LINE, Response,
    ResponseCode, SaslMechanisms, ScanListing, Status, Text, UidListing, UniqueId, escapes,
    line_length, whole_number,
};

/// Parses the first line of a response (without its CRLF): `+OK` or `-ERR` in any case, then
/// an optional response code (RFC 2449 8) and text. Text may be UTF-8 when `utf8` (after the
/// `UTF8` command, RFC 6856). A text that only looks like a code (`[` without a valid code and
/// `]`) is kept as text; a text that starts with a space, then any spaces and `[`, loses that
/// first space, which [`encode_response`] puts there to escape a `[`.
pub fn parse_response(line: &[u8], utf8: bool) -> Result<Response<'_>, DecodeError> {
    check_line(line)?;
    let text = line_text(line, utf8)?;
    let (status, rest) = if starts_with_ignore_case(text, "+OK") {
        (Status::Ok, text.get(3..).unwrap_or_default())
    } else if starts_with_ignore_case(text, "-ERR") {
        (Status::Err, text.get(4..).unwrap_or_default())
    } else {
        return Err(DecodeError::syntax(0, "+OK or -ERR"));
    };
    let base = text.len() - rest.len();
    let rest = match rest.strip_prefix(' ') {
        Some(rest) => rest,
        None if rest.is_empty() => rest,
        None => return Err(DecodeError::syntax(base, "a space after the status")),
    };
    let base = text.len() - rest.len();
    let (code, body, _) = split_code(rest, base);
    // Undo the escape of `encode_response`: one space before spaces and a `[`.
    let body = match body.strip_prefix(' ') {
        Some(unescaped) if code.is_none() && escapes(unescaped) => unescaped,
        _ => body,
    };
    Ok(Response {
        status,
        code,
        // The framing has refused CR, LF and NUL; the length is the line limit's business.
        text: Text::decoded(body),
    })
}

/// Splits a leading `[code]` off `text`, if it is one.
fn split_code(text: &str, base: usize) -> (Option<ResponseCode<'_>>, &str, usize) {
    let Some(inner) = text.strip_prefix('[') else {
        return (None, text, base);
    };
    let Some(end) = inner.find(']') else {
        return (None, text, base);
    };
    let Ok(code) = ResponseCode::new(inner.get(..end).unwrap_or_default()) else {
        return (None, text, base);
    };
    let after = inner.get(end + 1..).unwrap_or_default();
    match after.strip_prefix(' ') {
        Some(body) => (Some(code), body, base + end + 3),
        None if after.is_empty() => (Some(code), after, base + end + 2),
        // `[x]y`: not a code followed by text.
        None => (None, text, base),
    }
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Writes a response line: status, `[code]`, text, CRLF. With no code, a text that starts with
/// `[` (after any spaces) is escaped with a space (RFC 2449 6.4: under RESP-CODES such text would
/// be a code).
///
/// The line never passes the 512 octets of RFC 2449 4, CRLF included: a built [`Response`] always
/// fits; one decoded from a longer line (a raised response-line limit, or a `[` the peer did not
/// escape at the very limit) has its text cut, at a character boundary, to fit.
pub fn encode_response<O: Output + ?Sized>(response: &Response<'_>, out: &mut O) {
    out.put(response.status.as_str().as_bytes());
    if let Some(code) = &response.code {
        put(out, &[b" [", code.as_str().as_bytes(), b"]"]);
    }
    let mut text = response.text.as_str();
    let length = line_length(response.status, response.code.as_ref(), text);
    if let Some(over) = length.checked_sub(RESPONSE_LINE).filter(|over| *over > 0) {
        let mut keep = text.len().saturating_sub(over);
        while !text.is_char_boundary(keep) {
            keep -= 1;
        }
        text = text.get(..keep).unwrap_or_default();
    }
    if !text.is_empty() {
        out.put(b" ");
        if response.code.is_none() && escapes(text) {
            out.put(b" ");
        }
        out.put(text.as_bytes());
    }
    out.put(b"\r\n");
}

/// Parses a SASL continuation (RFC 5034 4): `+ ` and the base64 payload, or a bare `+` (some
/// servers send that for an empty challenge). `None` for any other line.
pub fn parse_continuation(line: &[u8]) -> Option<&[u8]> {
    match line {
        [b'+'] => Some(&[]),
        [b'+', b' ', payload @ ..] => Some(payload),
        _ => None,
    }
}

/// Writes a SASL continuation: `+ `, the base64 payload (possibly empty), CRLF.
pub fn encode_continuation<O: Output + ?Sized>(payload: &str, out: &mut O) {
    put(out, &[b"+ ", payload.as_bytes(), b"\r\n"]);
}

/// The two numbers at the start of `text`, separated by one space, and what follows them (which
/// must start with a space, if anything does).
fn two_numbers<'a>(
    text: &'a str,
    first: &'static str,
    second: &'static str,
) -> Result<(u64, u64, &'a str), DecodeError> {
    let (a, rest) = text
        .split_once(' ')
        .ok_or(DecodeError::syntax(text.len(), "two numbers"))?;
    let (b, tail) = match rest.split_once(' ') {
        Some((b, tail)) => (b, Some(tail)),
        None => (rest, None),
    };
    let x = whole_number(a.as_bytes(), first, u64::MAX).map_err(|e| DecodeError::value(0, e))?;
    let y = whole_number(b.as_bytes(), second, u64::MAX)
        .map_err(|e| DecodeError::value(a.len() + 1, e))?;
    Ok((x, y, tail.unwrap_or_default()))
}

/// Parses the text of the `+OK` to `STAT` (RFC 1939 5: `nn mm`): the number of messages and
/// their size. Text after the numbers is tolerated (real servers add some).
pub fn parse_stat(text: &str) -> Result<(u64, u64), DecodeError> {
    let (count, size, _) = two_numbers(text, "message count", "maildrop size")?;
    Ok((count, size))
}

/// Parses a scan listing (RFC 1939 5: `msg size`), from a line of `LIST` or the text of the
/// `+OK` to `LIST msg`. Text after the size is tolerated (RFC 1939 5 allows it).
pub fn parse_scan_listing(line: &[u8]) -> Result<ScanListing, DecodeError> {
    check_line(line)?;
    let text = line_text(line, false)?;
    let (message, size, _) = two_numbers(text, "message number", "message size")?;
    let message = u32::try_from(message)
        .ok()
        .and_then(MessageNumber::new)
        .ok_or(DecodeError::syntax(
            0,
            "a message number from 1 to 4294967295",
        ))?;
    Ok(ScanListing { message, size })
}

/// Writes a scan listing line.
pub fn encode_scan_listing<O: Output + ?Sized>(listing: &ScanListing, out: &mut O) {
    out.put_fmt(format_args!("{} {}\r\n", listing.message, listing.size));
}

/// Parses a unique-id listing (RFC 1939 7: `msg unique-id`), strictly: the id is 1 to 70
/// characters in 0x21..0x7E and nothing follows it.
pub fn parse_uid_listing(line: &[u8]) -> Result<UidListing<'_>, DecodeError> {
    check_line(line)?;
    let text = line_text(line, false)?;
    let (number, uid) = text.split_once(' ').ok_or(DecodeError::syntax(
        text.len(),
        "a message number and a unique-id",
    ))?;
    Ok(UidListing {
        message: MessageNumber::parse(number).map_err(|e| DecodeError::value(0, e))?,
        uid: UniqueId::new(uid).map_err(|e| DecodeError::value(number.len() + 1, e))?,
    })
}

/// Writes a unique-id listing line.
pub fn encode_uid_listing<O: Output + ?Sized>(listing: &UidListing<'_>, out: &mut O) {
    out.put_fmt(format_args!("{} {}\r\n", listing.message, listing.uid));
}

/// Parses one line of a CAPA response (RFC 2449 5): a tag in any case and its parameters.
/// Unknown tags are kept with their parameters. A known tag followed by parameters beyond the
/// ones it defines (`LANG en de`, `TOP x`, `UTF8 USER X`) is kept and the extra parameters are
/// ignored: RFC 2449 3 lets any capability carry parameters, and a later revision of an
/// extension may add some, which a client must not choke on. A parameter a known tag defines
/// that breaks its grammar (`LOGIN-DELAY x`) is an error. Only the `IMPLEMENTATION` text may be
/// UTF-8 (it is free text, as [`Text`]).
///
/// The length of the line is the caller's business, as with [`parse_response`]: the client
/// holds CAPA lines to its [`max_listing_line`](crate::client::ClientConfig::max_listing_line)
/// (512 octets, CRLF included, by default: RFC 2449 4). Within 512 octets every capability
/// decodes to a value its constructors also allow.
pub fn parse_capability(line: &[u8]) -> Result<Capability<'_>, DecodeError> {
    check_line(line)?;
    let text = line_text(line, true)?;
    let (tag, rest) = match text.split_once(' ') {
        Some((tag, rest)) => (tag, Some(rest)),
        None => (text, None),
    };
    let base = tag.len() + 1;
    let is = |name: &str| tag.eq_ignore_ascii_case(name);
    let params: Vec<&str> = rest.map(|r| r.split(' ').collect()).unwrap_or_default();
    // Tags that take no parameters (and the free text of IMPLEMENTATION) take any spacing.
    let takes_none = [
        "TOP",
        "USER",
        "RESP-CODES",
        "PIPELINING",
        "UIDL",
        "STLS",
        "AUTH-RESP-CODE",
        "LANG",
        "IMPLEMENTATION",
    ];
    if params.iter().any(|p| p.is_empty()) && !takes_none.iter().any(|name| is(name)) {
        return Err(DecodeError::syntax(base, "one space between parameters"));
    }
    // Parameters a known tag does not define are ignored (see above).
    let user_flag = |index: usize| {
        params
            .get(index)
            .is_some_and(|p| p.eq_ignore_ascii_case("USER"))
    };
    Ok(match () {
        () if is("TOP") => Capability::Top,
        () if is("USER") => Capability::User,
        () if is("RESP-CODES") => Capability::RespCodes,
        () if is("PIPELINING") => Capability::Pipelining,
        () if is("UIDL") => Capability::Uidl,
        () if is("STLS") => Capability::Stls,
        () if is("AUTH-RESP-CODE") => Capability::AuthRespCode,
        () if is("LANG") => Capability::Lang,
        () if is("UTF8") => Capability::Utf8 { user: user_flag(0) },
        () if is("SASL") => {
            let mut mechanisms = Vec::with_capacity(params.len());
            let mut at = base;
            for name in &params {
                mechanisms.push(Mechanism::new(*name).map_err(|e| DecodeError::value(at, e))?);
                at += name.len() + 1;
            }
            Capability::Sasl(SaslMechanisms::decoded(mechanisms))
        }
        () if is("LOGIN-DELAY") => {
            let seconds = params.first().ok_or(DecodeError::new(
                text.len(),
                ErrorKind::MissingArgument {
                    verb: "LOGIN-DELAY",
                },
            ))?;
            let seconds = whole_number(seconds.as_bytes(), "login delay", u64::from(u32::MAX))
                .map_err(|e| DecodeError::value(base, e))?;
            Capability::LoginDelay {
                seconds: u32::try_from(seconds).unwrap_or(u32::MAX),
                per_user: user_flag(1),
            }
        }
        () if is("EXPIRE") => {
            let value = params.first().ok_or(DecodeError::new(
                text.len(),
                ErrorKind::MissingArgument { verb: "EXPIRE" },
            ))?;
            let expire = if value.eq_ignore_ascii_case("NEVER") {
                Expire::Never
            } else {
                let days = whole_number(value.as_bytes(), "expiry days", u64::from(u32::MAX))
                    .map_err(|e| DecodeError::value(base, e))?;
                Expire::Days(u32::try_from(days).unwrap_or(u32::MAX))
            };
            Capability::Expire {
                expire,
                per_user: user_flag(1),
            }
        }
        // The framing has refused CR, LF and NUL; the length is the line limit's business.
        () if is("IMPLEMENTATION") => {
            Capability::Implementation(ImplementationText::decoded(rest.unwrap_or_default()))
        }
        () => {
            let tag = CapaTag::new(tag).map_err(|e| DecodeError::value(0, e))?;
            let mut kept = Vec::with_capacity(params.len());
            let mut at = base;
            for param in &params {
                kept.push(CapaParam::new(*param).map_err(|e| DecodeError::value(at, e))?);
                at += param.len() + 1;
            }
            Capability::Other(OtherCapability::decoded(tag, kept))
        }
    })
}

/// Writes one CAPA line.
///
/// The line never passes the 512 octets of RFC 2449 4, CRLF included: a built [`Capability`]
/// always fits; one decoded from a longer line (a raised
/// [`max_listing_line`](crate::client::ClientConfig::max_listing_line)) loses the mechanisms or
/// parameters that do not fit, or has its `IMPLEMENTATION` text cut at a character boundary.
pub fn encode_capability<O: Output + ?Sized>(capability: &Capability<'_>, out: &mut O) {
    let tag = capability.tag();
    out.put(tag.as_bytes());
    // What the line holds after the tag, spaces included.
    let mut room = RESPONSE_LINE.saturating_sub(tag.len() + "\r\n".len());
    let mut word = |out: &mut O, word: &str| {
        let length = " ".len() + word.len();
        let fits = length <= room;
        if fits {
            room -= length;
            put(out, &[b" ", word.as_bytes()]);
        }
        fits
    };
    match capability {
        Capability::Sasl(mechanisms) => {
            for mechanism in mechanisms {
                if !word(out, mechanism.as_str()) {
                    break;
                }
            }
        }
        Capability::LoginDelay { seconds, per_user } => {
            out.put_fmt(format_args!(" {seconds}"));
            if *per_user {
                out.put(b" USER");
            }
        }
        Capability::Expire { expire, per_user } => {
            match expire {
                Expire::Never => out.put(b" NEVER"),
                Expire::Days(days) => out.put_fmt(format_args!(" {days}")),
            }
            if *per_user {
                out.put(b" USER");
            }
        }
        Capability::Implementation(text) if !text.is_empty() => {
            let text = text.as_str();
            let mut keep = text.len().min(MAX_IMPLEMENTATION);
            while !text.is_char_boundary(keep) {
                keep -= 1;
            }
            word(out, text.get(..keep).unwrap_or_default());
        }
        Capability::Utf8 { user: true } => out.put(b" USER"),
        Capability::Other(other) => {
            for param in other.params() {
                if !word(out, param.as_str()) {
                    break;
                }
            }
        }
        _ => {}
    }
    out.put(b"\r\n");
}

/// Parses a language listing, one line of the response to a bare `LANG` (RFC 6856 3.2): a
/// language tag, then optionally one space and its name in that language (UTF-8). A tag alone
/// with a trailing space is tolerated (no description).
pub fn parse_language_listing(line: &[u8]) -> Result<LanguageListing<'_>, DecodeError> {
    check_line(line)?;
    let text = line_text(line, true)?;
    let (tag, description) = match text.split_once(' ') {
        Some((tag, description)) => (tag, Some(description)),
        None => (text, None),
    };
    let tag = LanguageTag::new(tag).map_err(|e| DecodeError::value(0, e))?;
    let base = tag.as_str().len() + 1;
    let description = match description.filter(|d| !d.is_empty()) {
        Some(d) => Some(Text::new(d).map_err(|e| DecodeError::value(base, e))?),
        None => None,
    };
    LanguageListing::new(tag, description).map_err(|e| DecodeError::value(0, e))
}

/// Writes a language listing line.
pub fn encode_language_listing<O: Output + ?Sized>(listing: &LanguageListing<'_>, out: &mut O) {
    out.put(listing.tag().as_str().as_bytes());
    if let Some(description) = listing.description() {
        put(out, &[b" ", description.as_str().as_bytes()]);
    }
    out.put(b"\r\n");
}

/// The language a `+OK` to `LANG range` selected (RFC 6856 3.2): the text of the response
/// starts with the exact language tag, then a space and text in that language (or ends after
/// the tag).
pub fn parse_selected_language(text: &str) -> Result<LanguageTag<'_>, DecodeError> {
    let tag = text.split_once(' ').map_or(text, |(tag, _)| tag);
    match LanguageTag::new(tag) {
        Ok(tag) if !tag.is_any() => Ok(tag),
        Ok(_) => Err(DecodeError::syntax(0, "a language tag, not `*`")),
        Err(error) => Err(DecodeError::value(0, error)),
    }
}
