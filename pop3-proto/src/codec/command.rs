//! Commands: `decode_command`, `parse_command`, `encode_command`.

use alloc::borrow::Cow;
use alloc::string::String;

use mail_wire::Output;
use mail_wire::Secret;
use mail_wire::decode::{check_line, frame_line, line_text};

use super::{DecodeError, DecodeErrorExt, Decoded, ErrorKind, MAX_COMMAND_LINE, put};
use crate::types::{
    ApopDigest, Command, LanguageTag, Mechanism, MessageNumber, Text, Username, Verb, check_secret,
    whole_number,
};

/// Limits and switches of the command decoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandOptions {
    /// The longest line, CRLF included: 255 by default (RFC 2449 4).
    pub max_line_length: usize,
    /// Whether arguments may be UTF-8 (after `UTF8`, RFC 6856 2). Off by default.
    pub utf8: bool,
}

impl CommandOptions {
    /// The defaults: 255-octet lines, ASCII only.
    pub const fn new() -> Self {
        Self {
            max_line_length: MAX_COMMAND_LINE,
            utf8: false,
        }
    }
}

impl Default for CommandOptions {
    fn default() -> Self {
        Self::new()
    }
}

/// Decodes the command line at the start of `input`: [`Decoded::Incomplete`] until its CRLF.
pub fn decode_command<'a>(
    input: &'a [u8],
    options: &CommandOptions,
) -> Result<Decoded<Command<'a>>, DecodeError> {
    match frame_line(input, options.max_line_length)? {
        None => Ok(Decoded::Incomplete),
        Some((line, used)) => Ok(Decoded::Complete(parse_command(line, options)?, used)),
    }
}

/// Parses one command line without its CRLF (framed by the caller, such as mail-wire's
/// `LineReader`). Keywords in any case (RFC 1939 3); arguments separated by one space;
/// numbers ASCII digits only, no sign, bounded; message numbers from 1.
pub fn parse_command<'a>(
    line: &'a [u8],
    options: &CommandOptions,
) -> Result<Command<'a>, DecodeError> {
    check_line(line)?;
    let text = line_text(line, options.utf8)?;
    let (verb, rest) = match text.find(' ') {
        Some(space) => (
            text.get(..space).unwrap_or_default(),
            Some(text.get(space + 1..).unwrap_or_default()),
        ),
        None => (text, None),
    };
    let base = verb.len() + 1;
    let known = |name: &str| verb.eq_ignore_ascii_case(name);
    let args = Args { rest, base };
    let command = if known("USER") {
        let [name] = args.exact::<1>("USER")?;
        Command::User(Username::new(name.0).map_err(|e| DecodeError::value(name.1, e))?)
    } else if known("PASS") {
        // The rest of the line, spaces included (RFC 1939 7).
        let password = rest.filter(|p| !p.is_empty()).ok_or(DecodeError::new(
            text.len(),
            ErrorKind::MissingArgument { verb: "PASS" },
        ))?;
        check_secret(password, "password").map_err(|e| DecodeError::value(base, e))?;
        Command::Pass(Secret::new(String::from(password)))
    } else if known("APOP") {
        let [name, digest] = args.exact::<2>("APOP")?;
        Command::Apop {
            name: Username::new(name.0).map_err(|e| DecodeError::value(name.1, e))?,
            digest: ApopDigest::parse(digest.0).map_err(|e| DecodeError::value(digest.1, e))?,
        }
    } else if known("STAT") {
        args.none("STAT", Command::Stat)?
    } else if known("LIST") {
        Command::List(args.optional_number("LIST")?)
    } else if known("RETR") {
        Command::Retr(args.number("RETR")?)
    } else if known("DELE") {
        Command::Dele(args.number("DELE")?)
    } else if known("NOOP") {
        args.none("NOOP", Command::Noop)?
    } else if known("RSET") {
        args.none("RSET", Command::Rset)?
    } else if known("QUIT") {
        args.none("QUIT", Command::Quit)?
    } else if known("TOP") {
        let [message, lines] = args.exact::<2>("TOP")?;
        Command::Top {
            message: MessageNumber::parse(message.0)
                .map_err(|e| DecodeError::value(message.1, e))?,
            lines: whole_number(lines.0.as_bytes(), "line count", u64::from(u32::MAX))
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX))
                .map_err(|e| DecodeError::value(lines.1, e))?,
        }
    } else if known("UIDL") {
        Command::Uidl(args.optional_number("UIDL")?)
    } else if known("CAPA") {
        args.none("CAPA", Command::Capa)?
    } else if known("STLS") {
        args.none("STLS", Command::Stls)?
    } else if known("AUTH") {
        parse_auth(&args)?
    } else if known("UTF8") {
        args.none("UTF8", Command::Utf8)?
    } else if known("LANG") {
        match args.list::<1>("LANG")? {
            (0, _) => Command::Lang(None),
            (_, [tag]) => Command::Lang(Some(
                LanguageTag::new(tag.0).map_err(|e| DecodeError::value(tag.1, e))?,
            )),
        }
    } else {
        let verb = Verb::new(verb).map_err(|e| DecodeError::value(0, e))?;
        let arguments = match rest {
            None => None,
            Some(rest) => Some(Text::new(rest).map_err(|e| DecodeError::value(base, e))?),
        };
        Command::Other { verb, arguments }
    };
    Ok(command)
}

fn parse_auth<'a>(args: &Args<'a>) -> Result<Command<'a>, DecodeError> {
    let (count, [mechanism, response]) = args.list::<2>("AUTH")?;
    if count == 0 {
        return Ok(Command::Auth {
            mechanism: None,
            initial_response: None,
        });
    }
    let name = Mechanism::new(mechanism.0).map_err(|e| DecodeError::value(mechanism.1, e))?;
    let initial = (count == 2).then(|| String::from(response.0));
    Command::auth(name, initial).map_err(|e| DecodeError::value(response.1, e))
}

/// The arguments after the verb, each with where it starts in the line.
struct Args<'a> {
    rest: Option<&'a str>,
    base: usize,
}

type Arg<'a> = (&'a str, usize);

impl<'a> Args<'a> {
    /// Up to `N` arguments, separated by exactly one space: the count and the arguments
    /// (missing ones empty).
    fn list<const N: usize>(
        &self,
        verb: &'static str,
    ) -> Result<(usize, [Arg<'a>; N]), DecodeError> {
        let mut out = [("", 0); N];
        let Some(rest) = self.rest else {
            return Ok((0, out));
        };
        let mut count = 0;
        let mut at = self.base;
        for part in rest.split(' ') {
            if part.is_empty() {
                return Err(DecodeError::syntax(at, "one space between arguments"));
            }
            let Some(slot) = out.get_mut(count) else {
                return Err(DecodeError::new(at, ErrorKind::TooManyArguments { verb }));
            };
            *slot = (part, at);
            count += 1;
            at += part.len() + 1;
        }
        Ok((count, out))
    }

    fn exact<const N: usize>(&self, verb: &'static str) -> Result<[Arg<'a>; N], DecodeError> {
        let (count, args) = self.list::<N>(verb)?;
        if count < N {
            let end = self.base + self.rest.map_or(0, str::len);
            return Err(DecodeError::new(
                end.saturating_sub(usize::from(self.rest.is_none())),
                ErrorKind::MissingArgument { verb },
            ));
        }
        Ok(args)
    }

    fn none(&self, verb: &'static str, command: Command<'a>) -> Result<Command<'a>, DecodeError> {
        match self.rest {
            None => Ok(command),
            Some(_) => Err(DecodeError::new(
                self.base.saturating_sub(1),
                ErrorKind::TooManyArguments { verb },
            )),
        }
    }

    fn number(&self, verb: &'static str) -> Result<MessageNumber, DecodeError> {
        let [n] = self.exact::<1>(verb)?;
        MessageNumber::parse(n.0).map_err(|e| DecodeError::value(n.1, e))
    }

    fn optional_number(&self, verb: &'static str) -> Result<Option<MessageNumber>, DecodeError> {
        match self.list::<1>(verb)? {
            (0, _) => Ok(None),
            (_, [n]) => MessageNumber::parse(n.0)
                .map(Some)
                .map_err(|e| DecodeError::value(n.1, e)),
        }
    }
}

/// Writes `command` and its CRLF.
pub fn encode_command<O: Output + ?Sized>(command: &Command<'_>, out: &mut O) {
    let verb = command.verb().as_bytes();
    let number;
    let second;
    let (first, extra): (Option<Cow<'_, [u8]>>, Option<&[u8]>) = match command {
        Command::User(name) => (Some(Cow::Borrowed(name.as_str().as_bytes())), None),
        Command::Pass(password) => (
            Some(Cow::Borrowed(password.expose_secret().as_bytes())),
            None,
        ),
        Command::Apop { name, digest } => {
            second = digest.to_hex();
            (
                Some(Cow::Borrowed(name.as_str().as_bytes())),
                Some(second.as_bytes()),
            )
        }
        Command::List(Some(n)) | Command::Retr(n) | Command::Dele(n) | Command::Uidl(Some(n)) => {
            (Some(Cow::Owned(n.to_string_bytes())), None)
        }
        Command::Top { message, lines } => {
            number = alloc::format!("{lines}");
            (
                Some(Cow::Owned(message.to_string_bytes())),
                Some(number.as_bytes()),
            )
        }
        Command::Auth {
            mechanism: Some(mechanism),
            initial_response,
        } => (
            Some(Cow::Borrowed(mechanism.as_str().as_bytes())),
            initial_response
                .as_ref()
                .map(|r| r.expose_secret().as_bytes()),
        ),
        Command::Lang(Some(tag)) => (Some(Cow::Borrowed(tag.as_str().as_bytes())), None),
        Command::Other {
            arguments: Some(arguments),
            ..
        } => (Some(Cow::Borrowed(arguments.as_str().as_bytes())), None),
        _ => (None, None),
    };
    out.put(verb);
    if let Some(first) = first {
        put(out, &[b" ", &first]);
    }
    if let Some(extra) = extra {
        put(out, &[b" ", extra]);
    }
    out.put(b"\r\n");
}

trait NumberBytes {
    fn to_string_bytes(&self) -> alloc::vec::Vec<u8>;
}

impl NumberBytes for MessageNumber {
    fn to_string_bytes(&self) -> alloc::vec::Vec<u8> {
        alloc::format!("{self}").into_bytes()
    }
}

/// Octets of a decimal number.
fn digits(mut n: u64) -> usize {
    let mut count = 1;
    while n >= 10 {
        n /= 10;
        count += 1;
    }
    count
}

impl Command<'_> {
    /// The octets [`encode_command`] writes for this command, CRLF included. A command longer
    /// than [`MAX_COMMAND_LINE`] (255, RFC 2449 4), such as `APOP` with a 248-octet name, is
    /// refused by a server that keeps to that limit: check before sending.
    pub fn encoded_len(&self) -> usize {
        let argument = |len: usize| 1 + len;
        let arguments = match self {
            Command::User(name) => argument(name.as_str().len()),
            Command::Pass(password) => argument(password.expose_secret().len()),
            Command::Apop { name, .. } => argument(name.as_str().len()) + argument(32),
            Command::List(Some(n))
            | Command::Retr(n)
            | Command::Dele(n)
            | Command::Uidl(Some(n)) => argument(digits(u64::from(n.get()))),
            Command::Top { message, lines } => {
                argument(digits(u64::from(message.get()))) + argument(digits(u64::from(*lines)))
            }
            Command::Auth {
                mechanism: Some(mechanism),
                initial_response,
            } => {
                argument(mechanism.as_str().len())
                    + initial_response
                        .as_ref()
                        .map_or(0, |r| argument(r.expose_secret().len()))
            }
            Command::Lang(Some(tag)) => argument(tag.as_str().len()),
            Command::Other {
                arguments: Some(arguments),
                ..
            } => argument(arguments.as_str().len()),
            _ => 0,
        };
        self.verb().len() + arguments + 2
    }
}
