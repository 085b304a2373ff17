//! SMTP commands (RFC 5321 4.1.1 and the extensions).

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

use super::address::{Domain, ForwardPath, Host, ReversePath, parse_domain};
use super::chars;
use super::error::InvalidValue;
use super::params::{MailParameters, RcptParameters, check_keyword};

/// A command's free-form argument (HELP, NOOP, unknown commands):
/// printable characters and inner spaces, UTF-8 allowed; never CR, LF, NUL or other controls, so
/// it cannot end the command early.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Argument<'a>(Cow<'a, str>);

impl<'a> Argument<'a> {
    /// Checks `text`: not empty, no control characters, no leading or trailing space.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        check_argument(&text, true)?;
        Ok(Self(text))
    }

    pub(crate) fn checked(text: &'a str) -> Self {
        Self(Cow::Borrowed(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same argument, owning its text.
    pub fn into_owned(self) -> Argument<'static> {
        Argument(Cow::Owned(self.0.into_owned()))
    }
}

pub(crate) fn check_argument(text: &str, utf8: bool) -> Result<(), InvalidValue> {
    const WHAT: &str = "argument";
    if text.is_empty() {
        return Err(InvalidValue::Empty { what: WHAT });
    }
    if let Some((offset, found)) = text.char_indices().find(|(_, c)| c.is_control()) {
        return Err(InvalidValue::UnexpectedChar {
            what: WHAT,
            offset,
            found,
        });
    }
    if !utf8 {
        if let Some(offset) = text.bytes().position(|b| b >= 0x80) {
            return Err(InvalidValue::NonAscii { what: WHAT, offset });
        }
    }
    if text.starts_with(' ') || text.ends_with(' ') {
        let offset = if text.starts_with(' ') {
            0
        } else {
            text.len() - 1
        };
        return Err(InvalidValue::UnexpectedChar {
            what: WHAT,
            offset,
            found: ' ',
        });
    }
    Ok(())
}

impl fmt::Display for Argument<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `VRFY` or `EXPN` asks about (RFC 5321 4.1.1.6, 4.1.1.7), and whether the client takes
/// UTF-8 in the reply (the `SMTPUTF8` parameter, RFC 6531 3.7.4.2).
///
/// The string is checked as an [`Argument`] is (printable, inner spaces allowed, UTF-8
/// allowed) and may not end in the word `SMTPUTF8`, which on the wire is the parameter.
///
/// ```
/// use smtp_proto::types::Lookup;
///
/// let lookup = Lookup::new("Jörg Smith")?.with_smtputf8(true);
/// assert_eq!(lookup.to_string(), "Jörg Smith SMTPUTF8");
/// assert!(Lookup::new("list SMTPUTF8").is_err());
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Lookup<'a> {
    string: Cow<'a, str>,
    smtputf8: bool,
}

impl<'a> Lookup<'a> {
    /// Checks `text`, without the `SMTPUTF8` parameter.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let string = text.into();
        check_argument(&string, true)?;
        if let Some(offset) = smtputf8_suffix(&string) {
            return Err(InvalidValue::Malformed {
                what: "VRFY / EXPN string",
                offset,
                reason: "ends in the word SMTPUTF8, which is the parameter",
            });
        }
        Ok(Self {
            string,
            smtputf8: false,
        })
    }

    /// Built by the decoder from a checked string.
    pub(crate) fn checked(string: &'a str, smtputf8: bool) -> Self {
        Self {
            string: Cow::Borrowed(string),
            smtputf8,
        }
    }

    /// The same lookup with the `SMTPUTF8` parameter set or not (RFC 6531 3.7.4.2: send it
    /// only to a server that offered SMTPUTF8).
    #[must_use]
    pub fn with_smtputf8(mut self, smtputf8: bool) -> Self {
        self.smtputf8 = smtputf8;
        self
    }

    /// The user or list name asked about.
    pub fn as_str(&self) -> &str {
        &self.string
    }

    /// Whether the client sent `SMTPUTF8`: the reply may hold UTF-8 mailboxes (RFC 6531
    /// 3.7.4.2); without it a reply that needs them must be 252 or 550.
    pub fn smtputf8(&self) -> bool {
        self.smtputf8
    }

    /// The same lookup, owning its text.
    pub fn into_owned(self) -> Lookup<'static> {
        Lookup {
            string: Cow::Owned(self.string.into_owned()),
            smtputf8: self.smtputf8,
        }
    }
}

/// Where ` SMTPUTF8` (any case) starts if `text` ends with it after something else.
pub(crate) fn smtputf8_suffix(text: &str) -> Option<usize> {
    const WORD: &str = " SMTPUTF8";
    let start = text
        .len()
        .checked_sub(WORD.len())
        .filter(|start| *start > 0)?;
    text.get(start..)
        .filter(|tail| tail.eq_ignore_ascii_case(WORD))
        .map(|_| start)
}

impl fmt::Display for Lookup<'_> {
    /// The string, then ` SMTPUTF8` when set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.string)?;
        if self.smtputf8 {
            f.write_str(" SMTPUTF8")?;
        }
        Ok(())
    }
}

/// The URL of BURL (RFC 4468 3: an `absolute-URI` of RFC 3986 4.3), such as
/// `imap://joe@example.com/outbox;UIDVALIDITY=1/;UID=2;URLAUTH=submit+joe:internal:91354a`.
///
/// Checked against RFC 3986: a scheme (`ALPHA *(ALPHA / DIGIT / "+" / "-" / ".")`), `:`, then
/// only the characters of `hier-part` and `query` (unreserved, sub-delims, `:`, `@`, `/`,
/// `?`, `%` with two hex digits; `[` and `]` only in the authority), and no fragment. So it
/// never holds a space, and can never be confused with the `LAST` that may follow it.
///
/// ```
/// use smtp_proto::types::Url;
///
/// let url = Url::new("imap://joe@example.com/outbox;UIDVALIDITY=1/;UID=2")?;
/// assert_eq!(url.scheme(), "imap");
/// assert!(Url::new("outbox;UID=2").is_err()); // relative: no scheme
/// assert!(Url::new("imap://x/a#frag").is_err()); // absolute-URI has no fragment
/// assert!(Url::new("imap://x/%zz").is_err());
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Url<'a>(Cow<'a, str>);

impl<'a> Url<'a> {
    /// Checks `text` as an `absolute-URI` (RFC 3986 4.3).
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        check_absolute_uri(&text)?;
        Ok(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The scheme, before the first `:` (`imap` for the URLs of RFC 4468).
    pub fn scheme(&self) -> &str {
        self.0.split_once(':').map_or("", |(scheme, _)| scheme)
    }

    /// The same URL, owning its text.
    pub fn into_owned(self) -> Url<'static> {
        Url(Cow::Owned(self.0.into_owned()))
    }
}

/// `absolute-URI = scheme ":" hier-part [ "?" query ]` (RFC 3986 4.3), by character class.
fn check_absolute_uri(text: &str) -> Result<(), InvalidValue> {
    const WHAT: &str = "URL";
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return Err(InvalidValue::Empty { what: WHAT });
    }
    // scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986 3.1)
    let scheme = bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.')))
        .unwrap_or(bytes.len());
    if !bytes.first().is_some_and(u8::is_ascii_alphabetic) {
        return Err(InvalidValue::at(WHAT, text, 0, false));
    }
    if bytes.get(scheme) != Some(&b':') {
        return Err(match bytes.get(scheme) {
            None => InvalidValue::Malformed {
                what: WHAT,
                offset: scheme,
                reason: "no scheme: not an absolute URI",
            },
            Some(_) => InvalidValue::at(WHAT, text, scheme, false),
        });
    }
    // The authority, where an IP literal may use brackets, runs from "//" to the next "/"
    // or "?" (RFC 3986 3.2).
    let rest = scheme + 1;
    let authority_end = if bytes.get(rest..rest + 2) == Some(b"//") {
        bytes
            .get(rest + 2..)
            .and_then(|tail| tail.iter().position(|&b| b == b'/' || b == b'?'))
            .map_or(bytes.len(), |len| rest + 2 + len)
    } else {
        rest
    };
    let mut at = rest;
    while let Some(&byte) = bytes.get(at) {
        let allowed = byte.is_ascii_alphanumeric()
            // unreserved, sub-delims, and the other pchar / query octets
            || b"-._~!$&'()*+,;=:@/?".contains(&byte)
            || (at < authority_end && matches!(byte, b'[' | b']'));
        if byte == b'%' {
            let hex = bytes.get(at + 1..at + 3);
            if !hex.is_some_and(|pair| pair.iter().all(u8::is_ascii_hexdigit)) {
                return Err(InvalidValue::Malformed {
                    what: WHAT,
                    offset: at,
                    reason: "'%' not followed by two hex digits",
                });
            }
            at += 3;
            continue;
        }
        if !allowed {
            return Err(InvalidValue::at(WHAT, text, at, false));
        }
        at += 1;
    }
    Ok(())
}

impl fmt::Display for Url<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What `ETRN` asks the server to flush (RFC 1985 5, 5.3).
///
/// ```
/// use smtp_proto::types::{Domain, EtrnNode};
///
/// assert_eq!(EtrnNode::parse("@example.com")?, EtrnNode::Subdomains(Domain::new("example.com")?));
/// assert_eq!(EtrnNode::parse("#uucp")?.to_string(), "#uucp");
/// assert!(EtrnNode::parse("example.com; rm -rf").is_err());
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EtrnNode<'a> {
    /// `node-name`: the queue of one fully qualified domain (RFC 1985 5).
    Domain(Domain<'a>),
    /// `@node-name`: the domain and every domain under it (RFC 1985 5.3).
    Subdomains(Domain<'a>),
    /// `#queue-name`: a queue named by the server's own convention (RFC 1985 5.3).
    Queue(QueueName<'a>),
}

impl<'a> EtrnNode<'a> {
    /// Reads the argument of ETRN: a domain, `@` and a domain, or `#` and a queue name.
    pub fn parse(text: &'a str) -> Result<Self, InvalidValue> {
        parse_etrn_node(text, false)
    }

    /// The same node, owning its text.
    pub fn into_owned(self) -> EtrnNode<'static> {
        match self {
            Self::Domain(domain) => EtrnNode::Domain(domain.into_owned()),
            Self::Subdomains(domain) => EtrnNode::Subdomains(domain.into_owned()),
            Self::Queue(queue) => EtrnNode::Queue(queue.into_owned()),
        }
    }
}

/// An ETRN argument; UTF-8 domains with `utf8` (RFC 6531).
pub(crate) fn parse_etrn_node(text: &str, utf8: bool) -> Result<EtrnNode<'_>, InvalidValue> {
    let (prefix, body) = match text.as_bytes().first() {
        Some(b'@') | Some(b'#') => text.split_at(1),
        _ => ("", text),
    };
    if body.is_empty() && !prefix.is_empty() {
        return Err(InvalidValue::Malformed {
            what: "ETRN node",
            offset: 1,
            reason: "nothing after the prefix",
        });
    }
    if prefix == "#" {
        return QueueName::new(body)
            .map(EtrnNode::Queue)
            .map_err(|e| e.shifted(1));
    }
    let (domain, end) = parse_domain(body, utf8).map_err(|e| match e {
        // A domain that is not there: point at what stands in its place.
        InvalidValue::Empty { .. } => InvalidValue::at("ETRN node", text, prefix.len(), utf8),
        other => other.shifted(prefix.len()),
    })?;
    if end != body.len() {
        return Err(InvalidValue::at(
            "ETRN node",
            text,
            prefix.len() + end,
            utf8,
        ));
    }
    Ok(if prefix.is_empty() {
        EtrnNode::Domain(domain)
    } else {
        EtrnNode::Subdomains(domain)
    })
}

impl fmt::Display for EtrnNode<'_> {
    /// As sent: `example.com`, `@example.com` or `#queue`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(domain) => f.write_str(domain.as_str()),
            Self::Subdomains(domain) => write!(f, "@{}", domain.as_str()),
            Self::Queue(queue) => write!(f, "#{}", queue.as_str()),
        }
    }
}

/// The name of an ETRN `#` queue (RFC 1985 5.3 leaves its syntax to the server): 1 to 64
/// visible ASCII characters, no spaces.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct QueueName<'a>(Cow<'a, str>);

/// The longest [`QueueName`], a bound of this crate.
pub const MAX_QUEUE_NAME: usize = 64;

impl<'a> QueueName<'a> {
    /// Checks the name.
    pub fn new(name: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        const WHAT: &str = "queue name";
        let name = name.into();
        if name.is_empty() {
            return Err(InvalidValue::Empty { what: WHAT });
        }
        if let Some(bad) = name.bytes().position(|b| !(0x21..0x7f).contains(&b)) {
            return Err(InvalidValue::at(WHAT, &name, bad, false));
        }
        if name.len() > MAX_QUEUE_NAME {
            return Err(InvalidValue::TooLong {
                what: WHAT,
                length: name.len(),
                limit: MAX_QUEUE_NAME,
            });
        }
        Ok(Self(name))
    }

    /// The name, without the `#`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same name, owning its text.
    pub fn into_owned(self) -> QueueName<'static> {
        QueueName(Cow::Owned(self.0.into_owned()))
    }
}

/// A SASL mechanism name (RFC 4422 3.1: 1 to 20 of upper-case letters, digits, `-`, `_`;
/// lower case is accepted and compared without regard to case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mechanism<'a>(Cow<'a, str>);

impl<'a> Mechanism<'a> {
    /// Checks the name.
    #[inline]
    pub fn new(name: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let name = name.into();
        const WHAT: &str = "mechanism";
        if name.is_empty() {
            return Err(InvalidValue::Empty { what: WHAT });
        }
        if name.len() > 20 {
            return Err(InvalidValue::TooLong {
                what: WHAT,
                length: name.len(),
                limit: 20,
            });
        }
        if let Some(bad) = name
            .bytes()
            .position(|b| chars::class(b) & chars::MECHANISM == 0)
        {
            return Err(InvalidValue::at(WHAT, &name, bad, false));
        }
        Ok(Self(name))
    }

    /// For a name already checked (or the placeholder of an unused place).
    pub(crate) const fn from_cow(name: Cow<'a, str>) -> Self {
        Self(name)
    }

    /// The name as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it names `other` (case-insensitive).
    pub fn is(&self, other: &str) -> bool {
        self.0.eq_ignore_ascii_case(other)
    }

    /// The same name, owning its text.
    pub fn into_owned(self) -> Mechanism<'static> {
        Mechanism(Cow::Owned(self.0.into_owned()))
    }
}

impl AsRef<str> for Mechanism<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Mechanism<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The initial response of `AUTH` (RFC 4954 4): base64 text, or `=` for an empty response. Only
/// the base64 alphabet is allowed; decode it with `mail_wire::sasl::decode_initial_response`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InitialResponse<'a>(Cow<'a, str>);

impl<'a> InitialResponse<'a> {
    /// Checks that `text` is `=` or made of base64 characters.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        if text.is_empty() {
            return Err(InvalidValue::Empty {
                what: "initial response",
            });
        }
        if text != "=" {
            // RFC 4954 4: base64 in groups of four, `=` only as padding at the end.
            let data = text.trim_end_matches('=');
            let padding = text.len() - data.len();
            if let Some(bad) = data
                .bytes()
                .position(|b| !(b.is_ascii_alphanumeric() || b == b'+' || b == b'/'))
            {
                return Err(InvalidValue::at("initial response", &text, bad, false));
            }
            if text.len() % 4 != 0 || padding > 2 {
                return Err(InvalidValue::Malformed {
                    what: "initial response",
                    offset: data.len(),
                    reason: "not base64 in groups of four",
                });
            }
        }
        Ok(Self(text))
    }

    /// The text as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> InitialResponse<'static> {
        InitialResponse(Cow::Owned(self.0.into_owned()))
    }
}

/// A command verb outside the known set (RFC 5321 4.1.2 Keyword: letters, digits, `-`), kept so
/// a server can answer `500` naming it, or a client can send an extension command.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Verb<'a>(Cow<'a, str>);

impl<'a> Verb<'a> {
    /// Checks the verb: a keyword, and not one of the commands that have their own variant
    /// (those would decode back as that variant).
    pub fn new(verb: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        const KNOWN_VERBS: &[&str] = &[
            "EHLO", "HELO", "LHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "VRFY", "EXPN", "HELP",
            "NOOP", "QUIT", "STARTTLS", "AUTH", "ETRN", "ATRN", "BURL",
        ];
        let verb = verb.into();
        check_keyword(&verb)?;
        if KNOWN_VERBS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&verb))
        {
            return Err(InvalidValue::Malformed {
                what: "verb",
                offset: 0,
                reason: "a command with its own variant",
            });
        }
        Ok(Self(verb))
    }

    pub(crate) fn checked(verb: &'a str) -> Self {
        Self(Cow::Borrowed(verb))
    }

    /// The verb as sent.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same verb, owning its text.
    pub fn into_owned(self) -> Verb<'static> {
        Verb(Cow::Owned(self.0.into_owned()))
    }
}

/// One SMTP or LMTP command.
///
/// With the `serde` feature it serializes as a structure (`"Data"`, `{"Helo": "example.com"}`,
/// `{"Mail": {"from": "<a@example.com>", "parameters": "SIZE=1000"}}`), each field through its
/// checks. An `AUTH` initial response is a credential: serializing one is an error, and none
/// deserializes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Command<'a> {
    /// `EHLO` (RFC 5321 4.1.1.1): the client's domain or address literal.
    Ehlo(Host<'a>),
    /// `HELO` (RFC 5321 4.1.1.1).
    Helo(Domain<'a>),
    /// `LHLO` (RFC 2033 4.1), LMTP's EHLO.
    Lhlo(Host<'a>),
    /// `MAIL FROM:` (RFC 5321 4.1.1.2).
    Mail {
        /// The reverse path.
        from: ReversePath<'a>,
        /// The parameters.
        parameters: MailParameters<'a>,
    },
    /// `RCPT TO:` (RFC 5321 4.1.1.3).
    Rcpt {
        /// The forward path.
        to: ForwardPath<'a>,
        /// The parameters.
        parameters: RcptParameters<'a>,
    },
    /// `DATA` (RFC 5321 4.1.1.4).
    Data,
    /// `BDAT size [LAST]` (RFC 3030 2).
    Bdat {
        /// Octets in the chunk that follows.
        size: u64,
        /// Whether it is the last chunk.
        last: bool,
    },
    /// `RSET` (RFC 5321 4.1.1.5).
    Rset,
    /// `VRFY string [SMTPUTF8]` (RFC 5321 4.1.1.6, RFC 6531 3.7.4.2).
    Vrfy(Lookup<'a>),
    /// `EXPN string [SMTPUTF8]` (RFC 5321 4.1.1.7, RFC 6531 3.7.4.2).
    Expn(Lookup<'a>),
    /// `HELP [argument]` (RFC 5321 4.1.1.8).
    Help(Option<Argument<'a>>),
    /// `NOOP [argument]` (RFC 5321 4.1.1.9).
    Noop(Option<Argument<'a>>),
    /// `QUIT` (RFC 5321 4.1.1.10).
    Quit,
    /// `STARTTLS` (RFC 3207 4).
    StartTls,
    /// `AUTH mechanism [initial-response]` (RFC 4954 4).
    Auth {
        /// The mechanism.
        mechanism: Mechanism<'a>,
        /// The initial response, if sent.
        #[cfg_attr(
            feature = "serde",
            serde(
                default,
                skip_serializing_if = "Option::is_none",
                serialize_with = "super::serde_impls::refuse_credential",
                deserialize_with = "super::serde_impls::refuse_credential_input"
            )
        )]
        initial_response: Option<InitialResponse<'a>>,
    },
    /// `ETRN [@ / #]node` (RFC 1985 5).
    Etrn(EtrnNode<'a>),
    /// `ATRN [domain *("," domain)]` (RFC 2645 4.1).
    Atrn(Vec<Domain<'a>>),
    /// `BURL url [LAST]` (RFC 4468 3).
    Burl {
        /// The URL.
        url: Url<'a>,
        /// Whether it ends the message.
        last: bool,
    },
    /// Any other verb, with the rest of the line.
    Other {
        /// The verb.
        verb: Verb<'a>,
        /// The rest of the line after the space, if any.
        argument: Option<Argument<'a>>,
    },
}

impl Command<'_> {
    /// The verb as it is sent (upper case for the known commands).
    pub fn verb(&self) -> &str {
        match self {
            Self::Ehlo(_) => "EHLO",
            Self::Helo(_) => "HELO",
            Self::Lhlo(_) => "LHLO",
            Self::Mail { .. } => "MAIL",
            Self::Rcpt { .. } => "RCPT",
            Self::Data => "DATA",
            Self::Bdat { .. } => "BDAT",
            Self::Rset => "RSET",
            Self::Vrfy(_) => "VRFY",
            Self::Expn(_) => "EXPN",
            Self::Help(_) => "HELP",
            Self::Noop(_) => "NOOP",
            Self::Quit => "QUIT",
            Self::StartTls => "STARTTLS",
            Self::Auth { .. } => "AUTH",
            Self::Etrn(_) => "ETRN",
            Self::Atrn(_) => "ATRN",
            Self::Burl { .. } => "BURL",
            Self::Other { verb, .. } => verb.as_str(),
        }
    }

    /// The same command, owning its text.
    pub fn into_owned(self) -> Command<'static> {
        match self {
            Self::Ehlo(host) => Command::Ehlo(host.into_owned()),
            Self::Helo(domain) => Command::Helo(domain.into_owned()),
            Self::Lhlo(host) => Command::Lhlo(host.into_owned()),
            Self::Mail { from, parameters } => Command::Mail {
                from: from.into_owned(),
                parameters: parameters.into_owned(),
            },
            Self::Rcpt { to, parameters } => Command::Rcpt {
                to: to.into_owned(),
                parameters: parameters.into_owned(),
            },
            Self::Data => Command::Data,
            Self::Bdat { size, last } => Command::Bdat { size, last },
            Self::Rset => Command::Rset,
            Self::Vrfy(lookup) => Command::Vrfy(lookup.into_owned()),
            Self::Expn(lookup) => Command::Expn(lookup.into_owned()),
            Self::Help(argument) => Command::Help(argument.map(Argument::into_owned)),
            Self::Noop(argument) => Command::Noop(argument.map(Argument::into_owned)),
            Self::Quit => Command::Quit,
            Self::StartTls => Command::StartTls,
            Self::Auth {
                mechanism,
                initial_response,
            } => Command::Auth {
                mechanism: mechanism.into_owned(),
                initial_response: initial_response.map(InitialResponse::into_owned),
            },
            Self::Etrn(node) => Command::Etrn(node.into_owned()),
            Self::Atrn(domains) => {
                Command::Atrn(domains.into_iter().map(Domain::into_owned).collect())
            }
            Self::Burl { url, last } => Command::Burl {
                url: url.into_owned(),
                last,
            },
            Self::Other { verb, argument } => Command::Other {
                verb: verb.into_owned(),
                argument: argument.map(Argument::into_owned),
            },
        }
    }
}

impl<'a> Command<'a> {
    /// The same command without the source routes of its path, as it is encoded (RFC 5321
    /// 4.1.2: routes are accepted, and ignored).
    #[must_use]
    pub fn without_routes(self) -> Self {
        match self {
            Self::Mail {
                from: ReversePath::Path(path),
                parameters,
            } => Self::Mail {
                from: ReversePath::Path(path.without_route()),
                parameters,
            },
            Self::Rcpt {
                to: ForwardPath::Path(path),
                parameters,
            } => Self::Rcpt {
                to: ForwardPath::Path(path.without_route()),
                parameters,
            },
            other => other,
        }
    }
}

impl fmt::Display for Command<'_> {
    /// The command line without its CRLF.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let optional = |f: &mut fmt::Formatter<'_>, argument: &Option<Argument<'_>>| match argument
        {
            Some(argument) => write!(f, " {argument}"),
            None => Ok(()),
        };
        f.write_str(self.verb())?;
        match self {
            Self::Ehlo(host) | Self::Lhlo(host) => write!(f, " {host}"),
            Self::Helo(domain) => write!(f, " {domain}"),
            Self::Mail { from, parameters } => write!(f, " FROM:{from}{parameters}"),
            Self::Rcpt { to, parameters } => write!(f, " TO:{to}{parameters}"),
            Self::Bdat { size, last } => {
                write!(f, " {size}")?;
                if *last { f.write_str(" LAST") } else { Ok(()) }
            }
            Self::Vrfy(lookup) | Self::Expn(lookup) => write!(f, " {lookup}"),
            Self::Etrn(node) => write!(f, " {node}"),
            Self::Help(argument) | Self::Noop(argument) => optional(f, argument),
            Self::Other { argument, .. } => optional(f, argument),
            Self::Auth {
                mechanism,
                initial_response,
            } => {
                write!(f, " {mechanism}")?;
                match initial_response {
                    Some(response) => write!(f, " {}", response.as_str()),
                    None => Ok(()),
                }
            }
            Self::Atrn(domains) => {
                for (n, domain) in domains.iter().enumerate() {
                    f.write_str(if n == 0 { " " } else { "," })?;
                    f.write_str(domain.as_str())?;
                }
                Ok(())
            }
            Self::Burl { url, last } => {
                write!(f, " {url}")?;
                if *last { f.write_str(" LAST") } else { Ok(()) }
            }
            Self::Data | Self::Rset | Self::Quit | Self::StartTls => Ok(()),
        }
    }
}
