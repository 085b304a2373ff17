//! Domains, address literals, mailboxes and paths (RFC 5321 4.1.2, 4.1.3; RFC 6531 3.3).
//!
//! Every value here is valid by construction: the constructors check the grammar, so no value
//! can hold CR, LF, NUL or anything else that could change the meaning of a command it is put in.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::{Ipv4Addr, Ipv6Addr};
use core::str::FromStr;

use super::chars;
use super::error::InvalidValue;

/// `TryFrom<&str>` (borrowing), `TryFrom<String>` and `FromStr` (owned, `'static`) for a type
/// through its checked constructor: `new` (which keeps an owned `String` as it is) or `parse`.
macro_rules! text_conversions {
    ($type:ident, new) => {
        impl<'a> TryFrom<&'a str> for $type<'a> {
            type Error = InvalidValue;
            fn try_from(text: &'a str) -> Result<Self, InvalidValue> {
                Self::new(text)
            }
        }

        impl TryFrom<String> for $type<'static> {
            type Error = InvalidValue;
            fn try_from(text: String) -> Result<Self, InvalidValue> {
                Self::new(text)
            }
        }

        impl FromStr for $type<'static> {
            type Err = InvalidValue;
            fn from_str(text: &str) -> Result<Self, InvalidValue> {
                $type::new(text).map($type::into_owned)
            }
        }
    };
    ($type:ident, parse) => {
        impl<'a> TryFrom<&'a str> for $type<'a> {
            type Error = InvalidValue;
            fn try_from(text: &'a str) -> Result<Self, InvalidValue> {
                Self::parse(text)
            }
        }

        impl TryFrom<String> for $type<'static> {
            type Error = InvalidValue;
            fn try_from(text: String) -> Result<Self, InvalidValue> {
                $type::parse(&text).map($type::into_owned)
            }
        }

        impl FromStr for $type<'static> {
            type Err = InvalidValue;
            fn from_str(text: &str) -> Result<Self, InvalidValue> {
                $type::parse(text).map($type::into_owned)
            }
        }
    };
}

/// RFC 5321 4.5.3.1.1: a local part is at most 64 octets.
pub const MAX_LOCAL_PART: usize = 64;
/// RFC 5321 4.5.3.1.2: a domain is at most 255 octets.
pub const MAX_DOMAIN: usize = 255;
/// RFC 1035 2.3.4: a label is at most 63 octets.
pub const MAX_LABEL: usize = 63;
/// RFC 5321 4.5.3.1.3: a path is at most 256 octets, `<` and `>` included.
pub const MAX_PATH: usize = 256;
/// The longest mailbox that fits in a path: 256 less `<` and `>`.
pub const MAX_MAILBOX: usize = MAX_PATH - 2;

/// A domain name: `sub-domain *("." sub-domain)`, letters, digits and inner hyphens, labels of at
/// most 63 octets, at most 255 octets in all (RFC 5321 4.1.2, 4.5.3.1.2). U-labels (non-ASCII)
/// are allowed as RFC 6531 3.3 extends the grammar; [`is_ascii`](Self::is_ascii) tells whether
/// the domain needs SMTPUTF8. Kept as written; compare with [`eq_ignore_case`](Self::eq_ignore_case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Domain<'a>(Cow<'a, str>);

impl<'a> Domain<'a> {
    /// Checks `text` against the grammar.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        check_domain(&text, true)?;
        Ok(Self(text))
    }

    /// A domain known to be valid (a literal in this crate).
    pub(crate) const fn checked(text: &'a str) -> Self {
        Self(Cow::Borrowed(text))
    }

    /// The domain as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is all ASCII (usable without SMTPUTF8).
    pub fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }

    /// Domain names compare without regard to ASCII case.
    pub fn eq_ignore_case(&self, other: &Domain<'_>) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }

    /// The same domain, owning its text.
    pub fn into_owned(self) -> Domain<'static> {
        Domain(Cow::Owned(self.0.into_owned()))
    }
}

impl fmt::Display for Domain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_conversions!(Domain, new);

/// What kind of address an [`AddressLiteral`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LiteralKind {
    /// `[192.0.2.1]`
    Ipv4(Ipv4Addr),
    /// `[IPv6:2001:db8::1]`
    Ipv6(Ipv6Addr),
    /// `[tag:content]`, a General-address-literal; `tag_len` octets of tag precede the colon.
    General {
        /// Length of the tag.
        tag_len: usize,
    },
}

/// An address literal (RFC 5321 4.1.3): `[IPv4]`, `[IPv6:...]` or `[tag:content]`. The text
/// between the brackets is kept exactly as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AddressLiteral<'a> {
    text: Cow<'a, str>,
    kind: LiteralKind,
}

impl<'a> AddressLiteral<'a> {
    /// Checks the text between the brackets (`192.0.2.1`, `IPv6:::1`, `x-tag:value`).
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        let kind = literal_kind(&text)?;
        Ok(Self { text, kind })
    }

    /// An IPv4 literal.
    pub fn ipv4(address: Ipv4Addr) -> AddressLiteral<'static> {
        AddressLiteral {
            text: Cow::Owned(alloc::format!("{address}")),
            kind: LiteralKind::Ipv4(address),
        }
    }

    /// An IPv6 literal.
    pub fn ipv6(address: Ipv6Addr) -> AddressLiteral<'static> {
        AddressLiteral {
            text: Cow::Owned(alloc::format!("IPv6:{address}")),
            kind: LiteralKind::Ipv6(address),
        }
    }

    /// The text between the brackets.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The kind, with the parsed address for IPv4 and IPv6.
    pub fn kind(&self) -> LiteralKind {
        self.kind
    }

    /// The same literal, owning its text.
    pub fn into_owned(self) -> AddressLiteral<'static> {
        AddressLiteral {
            text: Cow::Owned(self.text.into_owned()),
            kind: self.kind,
        }
    }
}

impl fmt::Display for AddressLiteral<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.text)
    }
}

/// What follows the `@` of a mailbox, or names a client in EHLO: a domain or an address literal.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Host<'a> {
    /// A domain name.
    Domain(Domain<'a>),
    /// An address literal (boxed: rare, and it keeps every path and command small).
    Literal(alloc::boxed::Box<AddressLiteral<'a>>),
}

impl<'a> Host<'a> {
    /// Parses `example.com` or `[192.0.2.1]` (RFC 5321 4.1.2, 4.1.3), from what
    /// [`Domain::new`] takes: a `&str` (borrowed), a `String` (kept) or a `Cow<str>`.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        match text.into() {
            Cow::Borrowed(text) => whole(text, "host", |text| parse_host(text, true)),
            Cow::Owned(text) => {
                let literal = match whole(&text, "host", |text| parse_host(text, true))? {
                    Host::Domain(_) => None,
                    Host::Literal(literal) => Some((*literal).into_owned()),
                };
                Ok(match literal {
                    None => Host::Domain(Domain(Cow::Owned(text))),
                    Some(literal) => Host::from(literal),
                })
            }
        }
    }

    /// Whether it is all ASCII.
    pub fn is_ascii(&self) -> bool {
        match self {
            Self::Domain(domain) => domain.is_ascii(),
            Self::Literal(_) => true,
        }
    }

    /// The same host, owning its text.
    pub fn into_owned(self) -> Host<'static> {
        match self {
            Self::Domain(domain) => Host::Domain(domain.into_owned()),
            Self::Literal(literal) => {
                Host::Literal(alloc::boxed::Box::new((*literal).into_owned()))
            }
        }
    }
}

impl fmt::Display for Host<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Domain(domain) => domain.fmt(f),
            Self::Literal(literal) => literal.fmt(f),
        }
    }
}

text_conversions!(Host, new);

impl<'a> From<Domain<'a>> for Host<'a> {
    fn from(domain: Domain<'a>) -> Self {
        Self::Domain(domain)
    }
}

impl<'a> From<AddressLiteral<'a>> for Host<'a> {
    fn from(literal: AddressLiteral<'a>) -> Self {
        Self::Literal(alloc::boxed::Box::new(literal))
    }
}

/// The part of a mailbox before the `@` (RFC 5321 4.1.2): a Dot-string (`john.smith`) or a
/// Quoted-string (`"john smith"`), kept exactly as written, quotes and backslashes included;
/// at most 64 octets (4.5.3.1.1). Non-ASCII characters need SMTPUTF8 (RFC 6531 3.3).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LocalPart<'a>(Cow<'a, str>);

impl<'a> LocalPart<'a> {
    /// Checks `text` (with its quotes, if quoted) against the grammar.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        let end = local_part_end(&text, true)?;
        if end != text.len() {
            return Err(InvalidValue::at("local part", &text, end, true));
        }
        Ok(Self(text))
    }

    /// The local part as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is a Quoted-string.
    pub fn is_quoted(&self) -> bool {
        self.0.starts_with('"')
    }

    /// The value with quoting removed (RFC 5321 4.1.2 says all quoted forms are equivalent).
    pub fn unquoted(&self) -> Cow<'_, str> {
        let Some(inner) = self.0.strip_prefix('"').and_then(|s| s.strip_suffix('"')) else {
            return Cow::Borrowed(&self.0);
        };
        if !inner.contains('\\') {
            return Cow::Borrowed(inner);
        }
        let mut out = String::with_capacity(inner.len());
        let mut escaped = false;
        for c in inner.chars() {
            if c == '\\' && !escaped {
                escaped = true;
            } else {
                out.push(c);
                escaped = false;
            }
        }
        Cow::Owned(out)
    }

    /// Whether it is all ASCII.
    pub fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }

    /// The same local part, owning its text.
    pub fn into_owned(self) -> LocalPart<'static> {
        LocalPart(Cow::Owned(self.0.into_owned()))
    }
}

impl fmt::Display for LocalPart<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

text_conversions!(LocalPart, new);

/// `Local-part "@" ( Domain / address-literal )` (RFC 5321 4.1.2).
///
/// Every address value is built the same ways, from borrowed or owned text: `TryFrom<&str>`
/// borrows, `TryFrom<String>` and [`FromStr`] give a `'static` value, and `into_owned` turns a
/// borrowed value into a `'static` one. The `new` of a one-piece value ([`Domain`], [`Host`],
/// [`LocalPart`], [`AddressLiteral`]) takes a `&str`, a `String` or a `Cow<str>` (borrowing,
/// or keeping the `String`); the `parse` of a value read from text ([`Mailbox`], [`Path`],
/// [`ReversePath`], [`ForwardPath`]) borrows from a `&str`.
///
/// ```
/// use smtp_proto::types::{Domain, ForwardPath, Host, LocalPart, Mailbox, ReversePath};
///
/// let domain: Domain<'static> = "example.com".parse()?;
/// let host = Host::new(String::from("[192.0.2.1]"))?;
/// let local = LocalPart::new(String::from("\"a b\""))?;
/// let mailbox = Mailbox::try_from(String::from("alice@example.org"))?;
/// let from: ReversePath<'static> = "<>".parse()?;
/// let to = ForwardPath::parse("<bob@example.com>")?;
/// assert_eq!(Host::from(domain.clone()), Host::new("example.com")?);
/// assert_eq!(host.to_string(), "[192.0.2.1]");
/// assert_eq!(mailbox.to_string(), "alice@example.org");
/// assert_eq!(from, ReversePath::Null);
/// assert_eq!(to.to_string(), "<bob@example.com>");
/// assert_eq!(Mailbox::new(local, host)?.to_string(), "\"a b\"@[192.0.2.1]");
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Mailbox<'a> {
    local_part: LocalPart<'a>,
    host: Host<'a>,
}

impl<'a> Mailbox<'a> {
    /// A mailbox from its parts, at most [`MAX_MAILBOX`] octets so that its path fits the 256
    /// octets of RFC 5321 4.5.3.1.3.
    pub fn new(local_part: LocalPart<'a>, host: impl Into<Host<'a>>) -> Result<Self, InvalidValue> {
        let host = host.into();
        let length = local_part.as_str().len() + 1 + host_len(&host);
        check_mailbox_len(length)?;
        Ok(Self { local_part, host })
    }

    /// Parses `user@example.com`, `"a b"@example.com` or `user@[192.0.2.1]` (RFC 5321
    /// 4.1.2), borrowing from `text`; from a `String`, use `TryFrom<String>` or `str::parse`.
    pub fn parse(text: &'a str) -> Result<Self, InvalidValue> {
        whole(text, "mailbox", |text| parse_mailbox(text, true))
    }

    /// The part before the `@`.
    pub fn local_part(&self) -> &LocalPart<'a> {
        &self.local_part
    }

    /// The part after the `@`.
    pub fn host(&self) -> &Host<'a> {
        &self.host
    }

    /// Whether it is all ASCII (usable without SMTPUTF8).
    pub fn is_ascii(&self) -> bool {
        self.local_part.is_ascii() && self.host.is_ascii()
    }

    /// The same mailbox, owning its text.
    pub fn into_owned(self) -> Mailbox<'static> {
        Mailbox {
            local_part: self.local_part.into_owned(),
            host: self.host.into_owned(),
        }
    }
}

impl fmt::Display for Mailbox<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}@{}", self.local_part, self.host)
    }
}

text_conversions!(Mailbox, parse);

/// `"<" [ A-d-l ":" ] Mailbox ">"` (RFC 5321 4.1.2). A source route (`<@a,@b:user@c>`) is
/// accepted and never sent: RFC 5321 says it MUST be accepted, SHOULD NOT be generated and
/// SHOULD be ignored. The command decoder keeps it in [`route`](Self::route) for a server to
/// see; [`parse`](Self::parse) and the other constructors drop it, so that a path built by
/// hand is the path its encoding decodes to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Path<'a> {
    // Boxed rather than a Vec: routes are rare, and this keeps every command smaller.
    route: alloc::boxed::Box<[Domain<'a>]>,
    mailbox: Mailbox<'a>,
}

impl<'a> Path<'a> {
    /// A path to `mailbox`, with no route.
    pub fn new(mailbox: Mailbox<'a>) -> Self {
        Self {
            route: alloc::boxed::Box::default(),
            mailbox,
        }
    }

    /// Parses a path as written, `<user@example.com>` (a source route is accepted and
    /// dropped, RFC 5321 4.1.2), or a bare mailbox, `user@example.com`.
    pub fn parse(text: &'a str) -> Result<Self, InvalidValue> {
        path_text(text).map(Path::without_route)
    }

    /// The mailbox.
    pub fn mailbox(&self) -> &Mailbox<'a> {
        &self.mailbox
    }

    /// The source route that came with it on input (empty for almost everyone).
    pub fn route(&self) -> &[Domain<'a>] {
        &self.route
    }

    /// The path without its source route, as it is encoded.
    #[must_use]
    pub fn without_route(self) -> Self {
        Self::new(self.mailbox)
    }

    /// The same path, owning its text.
    pub fn into_owned(self) -> Path<'static> {
        Path {
            route: self
                .route
                .into_vec()
                .into_iter()
                .map(Domain::into_owned)
                .collect(),
            mailbox: self.mailbox.into_owned(),
        }
    }
}

impl<'a> From<Mailbox<'a>> for Path<'a> {
    fn from(mailbox: Mailbox<'a>) -> Self {
        Self::new(mailbox)
    }
}

text_conversions!(Path, parse);

impl fmt::Display for Path<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}>", self.mailbox)
    }
}

/// The sender in `MAIL FROM:` (RFC 5321 4.1.2): a path, or `<>` for bounces (4.5.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ReversePath<'a> {
    /// `<>`, the null reverse path.
    Null,
    /// A mailbox.
    Path(Path<'a>),
}

impl<'a> ReversePath<'a> {
    /// Parses a reverse path as written, `<user@example.com>` or `<>` (RFC 5321 4.1.2), or a
    /// bare mailbox, `user@example.com`.
    pub fn parse(text: &'a str) -> Result<Self, InvalidValue> {
        reverse_path_text(text).map(|path| match path {
            Self::Path(path) => Self::Path(path.without_route()),
            null => null,
        })
    }

    /// The mailbox, unless null.
    pub fn mailbox(&self) -> Option<&Mailbox<'_>> {
        match self {
            Self::Null => None,
            Self::Path(path) => Some(path.mailbox()),
        }
    }

    /// Whether it is all ASCII.
    pub fn is_ascii(&self) -> bool {
        self.mailbox().is_none_or(Mailbox::is_ascii)
    }

    /// The same path, owning its text.
    pub fn into_owned(self) -> ReversePath<'static> {
        match self {
            Self::Null => ReversePath::Null,
            Self::Path(path) => ReversePath::Path(path.into_owned()),
        }
    }
}

text_conversions!(ReversePath, parse);

impl fmt::Display for ReversePath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Null => f.write_str("<>"),
            Self::Path(path) => path.fmt(f),
        }
    }
}

impl<'a> From<Mailbox<'a>> for ReversePath<'a> {
    fn from(mailbox: Mailbox<'a>) -> Self {
        Self::Path(Path::new(mailbox))
    }
}

/// The recipient in `RCPT TO:` (RFC 5321 4.1.1.3): a path, or `<Postmaster>` without a domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ForwardPath<'a> {
    /// `<Postmaster>` (any case), which every server must accept (4.5.1).
    Postmaster,
    /// A mailbox.
    Path(Path<'a>),
}

impl<'a> ForwardPath<'a> {
    /// Parses a forward path as written, `<user@example.com>` or `<Postmaster>` (RFC 5321
    /// 4.1.1.3), or a bare mailbox, `user@example.com`.
    pub fn parse(text: &'a str) -> Result<Self, InvalidValue> {
        forward_path_text(text).map(|path| match path {
            Self::Path(path) => Self::Path(path.without_route()),
            postmaster => postmaster,
        })
    }

    /// The mailbox, unless it is the bare postmaster.
    pub fn mailbox(&self) -> Option<&Mailbox<'_>> {
        match self {
            Self::Postmaster => None,
            Self::Path(path) => Some(path.mailbox()),
        }
    }

    /// Whether it is all ASCII.
    pub fn is_ascii(&self) -> bool {
        self.mailbox().is_none_or(Mailbox::is_ascii)
    }

    /// The same path, owning its text.
    pub fn into_owned(self) -> ForwardPath<'static> {
        match self {
            Self::Postmaster => ForwardPath::Postmaster,
            Self::Path(path) => ForwardPath::Path(path.into_owned()),
        }
    }
}

text_conversions!(ForwardPath, parse);

impl fmt::Display for ForwardPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Postmaster => f.write_str("<Postmaster>"),
            Self::Path(path) => path.fmt(f),
        }
    }
}

impl<'a> From<Mailbox<'a>> for ForwardPath<'a> {
    fn from(mailbox: Mailbox<'a>) -> Self {
        Self::Path(Path::new(mailbox))
    }
}

/// A whole path as written (`<...>`), or a bare mailbox.
fn path_text(text: &str) -> Result<Path<'_>, InvalidValue> {
    if text.starts_with('<') {
        whole(text, "path", |text| parse_path(text, true))
    } else {
        Mailbox::parse(text).map(Path::new)
    }
}

/// A whole reverse path as written (`<...>`, `<>`), or a bare mailbox.
fn reverse_path_text(text: &str) -> Result<ReversePath<'_>, InvalidValue> {
    if text.starts_with('<') {
        whole(text, "reverse path", |text| parse_reverse_path(text, true))
    } else {
        Mailbox::parse(text).map(ReversePath::from)
    }
}

/// A whole forward path as written (`<...>`, `<Postmaster>`), or a bare mailbox.
fn forward_path_text(text: &str) -> Result<ForwardPath<'_>, InvalidValue> {
    if text.starts_with('<') {
        whole(text, "forward path", |text| parse_forward_path(text, true))
    } else {
        Mailbox::parse(text).map(ForwardPath::from)
    }
}

// ---------------------------------------------------------------------------------------------
// Grammar. Each `parse_*` reads a value at the start of `text` and returns it with the number of
// octets it took; `utf8` says whether RFC 6531's UTF-8 extensions are in effect.

/// Runs `parse` and requires it to take all of `text`.
fn whole<'a, T>(
    text: &'a str,
    what: &'static str,
    parse: impl FnOnce(&'a str) -> Result<(T, usize), InvalidValue>,
) -> Result<T, InvalidValue> {
    let (value, end) = parse(text)?;
    if end != text.len() {
        return Err(InvalidValue::at(what, text, end, true));
    }
    Ok(value)
}

fn is_ldh(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'-'
}

/// Scans the domain at the start of `text` in one pass: where it ends (the first octet that
/// cannot be part of it), or what is wrong with it. Checks the label rules of RFC 5321 4.1.2
/// (letters, digits, inner hyphens; U-labels with `utf8`) and the lengths of 4.5.3.1.2.
#[inline]
fn scan_domain(text: &str, utf8: bool) -> Result<usize, InvalidValue> {
    const WHAT: &str = "domain";
    let bytes = text.as_bytes();
    let malformed = |offset, reason| InvalidValue::Malformed {
        what: WHAT,
        offset,
        reason,
    };
    let mut label_start = 0;
    // The previous octet, with '.' standing for "start of a label".
    let mut previous = b'.';
    let letters = chars::with_utf8(chars::LET_DIG, utf8);
    // One loop over the octets: letters and digits (most of them) cost a lookup and a test.
    let mut end = bytes.len();
    for (at, &byte) in bytes.iter().enumerate() {
        if chars::class(byte) & letters != 0 {
            previous = b'a';
            continue;
        }
        match byte {
            b'-' if previous == b'.' => {
                return Err(malformed(at, "label starts with a hyphen"));
            }
            b'-' => previous = b'-',
            b'.' => {
                if previous == b'.' {
                    return Err(malformed(at, "empty label"));
                }
                if previous == b'-' {
                    return Err(malformed(at - 1, "label ends with a hyphen"));
                }
                if at - label_start > MAX_LABEL {
                    return Err(malformed(label_start, "label longer than 63 octets"));
                }
                label_start = at + 1;
                previous = b'.';
            }
            0x80.. => {
                return Err(InvalidValue::NonAscii {
                    what: WHAT,
                    offset: at,
                });
            }
            _ => {
                end = at;
                break;
            }
        }
    }
    match previous {
        _ if end == 0 => Err(InvalidValue::Empty { what: WHAT }),
        b'.' => Err(malformed(end - 1, "empty label")),
        b'-' => Err(malformed(end - 1, "label ends with a hyphen")),
        _ if end - label_start > MAX_LABEL => {
            Err(malformed(label_start, "label longer than 63 octets"))
        }
        _ if end > MAX_DOMAIN => Err(InvalidValue::TooLong {
            what: WHAT,
            length: end,
            limit: MAX_DOMAIN,
        }),
        _ => {
            if utf8 {
                check_unicode(WHAT, text.get(..end).unwrap_or_default())?;
            }
            Ok(end)
        }
    }
}

/// UTF-8 octets passed the scanners as a class; here the characters themselves are checked:
/// no C1 control and no line or paragraph separator, which could break a line in some
/// readers although they are not CR or LF.
fn check_unicode(what: &'static str, text: &str) -> Result<(), InvalidValue> {
    if text.is_ascii() {
        return Ok(());
    }
    match text
        .char_indices()
        .find(|&(_, c)| c.is_control() || c == '\u{2028}' || c == '\u{2029}')
    {
        Some((offset, found)) => Err(InvalidValue::UnexpectedChar {
            what,
            offset,
            found,
        }),
        None => Ok(()),
    }
}

/// Checks a whole domain.
pub(crate) fn check_domain(text: &str, utf8: bool) -> Result<(), InvalidValue> {
    let end = scan_domain(text, utf8)?;
    if end != text.len() {
        return Err(InvalidValue::at("domain", text, end, utf8));
    }
    Ok(())
}

/// A domain at the start of `text`.
#[inline(always)]
pub(crate) fn parse_domain(text: &str, utf8: bool) -> Result<(Domain<'_>, usize), InvalidValue> {
    // An ASCII domain that is valid (nearly all) is read in place, in registers; anything else
    // goes through the full scan, which names what is wrong, or reads the U-labels.
    let end = match ascii_domain_end(text.as_bytes()) {
        Some(end) => end,
        None => return parse_domain_scanned(text, utf8),
    };
    Ok((
        Domain(Cow::Borrowed(text.get(..end).unwrap_or_default())),
        end,
    ))
}

/// Where the valid ASCII domain at the start of `bytes` ends; `None` for anything
/// [`scan_domain`] refuses and for any octet above 0x7f, which it reads (or refuses) itself.
/// With or without UTF-8, what this accepts the scan accepts alike.
#[inline(always)]
fn ascii_domain_end(bytes: &[u8]) -> Option<usize> {
    let mut label_start = 0;
    // As in `scan_domain`: the previous octet, '.' standing for "start of a label".
    let mut previous = b'.';
    let mut end = 0;
    while let Some(&byte) = bytes.get(end) {
        if chars::class(byte) & chars::LET_DIG != 0 {
            previous = b'a';
            end += 1;
            continue;
        }
        match byte {
            b'-' if previous != b'.' => previous = b'-',
            b'.' if previous == b'a' && end - label_start <= MAX_LABEL => {
                label_start = end + 1;
                previous = b'.';
            }
            b'-' | b'.' | 0x80.. => return None,
            _ => break,
        }
        end += 1;
    }
    (previous == b'a' && end - label_start <= MAX_LABEL && end <= MAX_DOMAIN).then_some(end)
}

/// A domain at the start of `text`, through the full scan.
#[inline(never)]
fn parse_domain_scanned(text: &str, utf8: bool) -> Result<(Domain<'_>, usize), InvalidValue> {
    let end = scan_domain(text, utf8)?;
    Ok((
        Domain(Cow::Borrowed(text.get(..end).unwrap_or_default())),
        end,
    ))
}

/// `[ ... ]` at the start of `text`.
pub(crate) fn parse_literal(text: &str) -> Result<(AddressLiteral<'_>, usize), InvalidValue> {
    const WHAT: &str = "address literal";
    let Some(inner) = text.strip_prefix('[') else {
        return Err(InvalidValue::at(WHAT, text, 0, false));
    };
    let Some(close) = inner.find(']') else {
        return Err(InvalidValue::Malformed {
            what: WHAT,
            offset: text.len(),
            reason: "no closing ']'",
        });
    };
    let content = inner.get(..close).unwrap_or_default();
    let kind = literal_kind(content).map_err(|e| e.shifted(1))?;
    Ok((
        AddressLiteral {
            text: Cow::Borrowed(content),
            kind,
        },
        close + 2,
    ))
}

fn literal_kind(content: &str) -> Result<LiteralKind, InvalidValue> {
    const WHAT: &str = "address literal";
    if content.is_empty() {
        return Err(InvalidValue::Empty { what: WHAT });
    }
    // Bracketed, no longer than a domain (RFC 5321 4.5.3.1.2), so that it fits wherever a
    // domain does (the 512-octet EHLO line, 4.5.3.1.4).
    if content.len() + 2 > MAX_DOMAIN {
        return Err(InvalidValue::TooLong {
            what: WHAT,
            length: content.len() + 2,
            limit: MAX_DOMAIN,
        });
    }
    if let Some(bad) = content
        .bytes()
        .position(|b| !(33..=126).contains(&b) || b == b'[' || b == b']' || b == b'\\')
    {
        return Err(InvalidValue::at(WHAT, content, bad, false));
    }
    let Some((tag, value)) = content.split_once(':') else {
        return parse_ipv4(content)
            .map(LiteralKind::Ipv4)
            .ok_or(InvalidValue::Malformed {
                what: WHAT,
                offset: 0,
                reason: "not an IPv4 address",
            });
    };
    let malformed = |offset, reason| InvalidValue::Malformed {
        what: WHAT,
        offset,
        reason,
    };
    if tag.eq_ignore_ascii_case("IPv6") {
        return parse_ipv6(value)
            .map(LiteralKind::Ipv6)
            .ok_or(malformed(5, "not an IPv6 address"));
    }
    // General-address-literal: Standardized-tag ":" 1*dcontent; the tag is an Ldh-str.
    if tag.is_empty() || !tag.bytes().all(is_ldh) || tag.ends_with('-') {
        return Err(malformed(0, "tag is not letters, digits and hyphens"));
    }
    if value.is_empty() {
        return Err(malformed(tag.len() + 1, "empty address"));
    }
    Ok(LiteralKind::General { tag_len: tag.len() })
}

/// RFC 5321 Snum: 1 to 3 digits, 0 to 255.
fn parse_ipv4(text: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = text.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// RFC 5321 IPv6-addr: what RFC 4291 allows, with the group counts of 4.1.3 (at most 6 groups
/// beside a `::`, 4 when an IPv4 tail follows).
fn parse_ipv6(text: &str) -> Option<Ipv6Addr> {
    let address: Ipv6Addr = text.parse().ok()?;
    if text.contains("::") {
        let (head, tail) = text.split_once("::")?;
        let v4_tail = tail.contains('.');
        let groups = |s: &str| {
            s.split(':')
                .filter(|g| !g.is_empty() && !g.contains('.'))
                .count()
        };
        let limit = if v4_tail { 4 } else { 6 };
        if groups(head) + groups(tail) > limit {
            return None;
        }
    }
    Some(address)
}

/// `Domain / address-literal` at the start of `text`.
#[inline(always)]
pub(crate) fn parse_host(text: &str, utf8: bool) -> Result<(Host<'_>, usize), InvalidValue> {
    if text.starts_with('[') {
        let (literal, end) = parse_literal(text)?;
        Ok((Host::Literal(alloc::boxed::Box::new(literal)), end))
    } else {
        let (domain, end) = parse_domain(text, utf8)?;
        Ok((Host::Domain(domain), end))
    }
}

/// Where the local part at the start of `text` ends: a valid ASCII Dot-string (nearly all)
/// read in place, anything else through the full scan.
#[inline(always)]
fn local_part_end(text: &str, utf8: bool) -> Result<usize, InvalidValue> {
    match ascii_dot_string_end(text.as_bytes()) {
        Some(end) => Ok(end),
        None => local_part_scanned(text, utf8),
    }
}

/// Where the valid ASCII Dot-string at the start of `bytes` ends; `None` for anything
/// [`local_part_scanned`] refuses, a Quoted-string, and any octet above 0x7f, which it reads
/// (or refuses) itself. With or without UTF-8, what this accepts the scan accepts alike.
#[inline(always)]
fn ascii_dot_string_end(bytes: &[u8]) -> Option<usize> {
    // As in the scan: the previous octet, '.' standing for "start of an atom".
    let mut previous = b'.';
    let mut end = bytes.len();
    for (at, &byte) in bytes.iter().enumerate() {
        if chars::class(byte) & chars::ATEXT != 0 {
            previous = b'a';
            continue;
        }
        match byte {
            b'.' if previous == b'a' => previous = b'.',
            b'.' | 0x80.. => return None,
            _ => {
                end = at;
                break;
            }
        }
    }
    (previous == b'a' && end <= MAX_LOCAL_PART).then_some(end)
}

/// Where the local part at the start of `text` ends, through the full scan.
#[inline(never)]
fn local_part_scanned(text: &str, utf8: bool) -> Result<usize, InvalidValue> {
    const WHAT: &str = "local part";
    let bytes = text.as_bytes();
    let end = if bytes.first() == Some(&b'"') {
        // Quoted-string = DQUOTE *QcontentSMTP DQUOTE
        let mut at = 1;
        loop {
            match bytes.get(at) {
                Some(b'"') => break at + 1,
                Some(b'\\') => match bytes.get(at + 1) {
                    Some(32..=126) => at += 2,
                    _ => return Err(InvalidValue::at(WHAT, text, at + 1, false)),
                },
                Some(32..=126) => at += 1,
                Some(128..) if utf8 => at += 1,
                Some(_) => return Err(InvalidValue::at(WHAT, text, at, utf8)),
                None => {
                    return Err(InvalidValue::Malformed {
                        what: WHAT,
                        offset: at,
                        reason: "unterminated quoted string",
                    });
                }
            }
        }
    } else {
        // Dot-string = Atom *("." Atom), in one pass.
        let mut previous = b'.';
        let atext = chars::with_utf8(chars::ATEXT, utf8);
        let mut at = 0;
        let end = loop {
            let run = chars::span(bytes.get(at..).unwrap_or_default(), atext);
            if run > 0 {
                at += run;
                previous = b'a';
            }
            if bytes.get(at) != Some(&b'.') {
                break at;
            }
            if previous == b'.' {
                return Err(InvalidValue::Malformed {
                    what: WHAT,
                    offset: at,
                    reason: "empty atom",
                });
            }
            previous = b'.';
            at += 1;
        };
        if end == 0 {
            return Err(match bytes.first() {
                Some(_) => InvalidValue::at(WHAT, text, 0, utf8),
                None => InvalidValue::Empty { what: WHAT },
            });
        }
        if previous == b'.' {
            return Err(InvalidValue::Malformed {
                what: WHAT,
                offset: end - 1,
                reason: "empty atom",
            });
        }
        end
    };
    if utf8 {
        check_unicode(WHAT, text.get(..end).unwrap_or_default())?;
    }
    if end > MAX_LOCAL_PART {
        return Err(InvalidValue::TooLong {
            what: WHAT,
            length: end,
            limit: MAX_LOCAL_PART,
        });
    }
    Ok(end)
}

/// `Local-part "@" ( Domain / address-literal )` at the start of `text`.
#[inline(always)]
pub(crate) fn parse_mailbox(text: &str, utf8: bool) -> Result<(Mailbox<'_>, usize), InvalidValue> {
    let end = local_part_end(text, utf8)?;
    let local_part = LocalPart(Cow::Borrowed(text.get(..end).unwrap_or_default()));
    if text.as_bytes().get(end) != Some(&b'@') {
        return Err(InvalidValue::at("mailbox", text, end, utf8));
    }
    let rest = text.get(end + 1..).unwrap_or_default();
    let (host, host_end) = parse_host(rest, utf8).map_err(|e| e.shifted(end + 1))?;
    check_mailbox_len(end + 1 + host_end)?;
    Ok((Mailbox { local_part, host }, end + 1 + host_end))
}

/// Octets of a host as written.
fn host_len(host: &Host<'_>) -> usize {
    match host {
        Host::Domain(domain) => domain.as_str().len(),
        Host::Literal(literal) => literal.as_str().len() + 2,
    }
}

fn check_mailbox_len(length: usize) -> Result<(), InvalidValue> {
    if length > MAX_MAILBOX {
        return Err(InvalidValue::TooLong {
            what: "mailbox",
            length,
            limit: MAX_MAILBOX,
        });
    }
    Ok(())
}

/// `"<" [ A-d-l ":" ] Mailbox ">"` at the start of `text`.
#[inline(always)]
pub(crate) fn parse_path(text: &str, utf8: bool) -> Result<(Path<'_>, usize), InvalidValue> {
    const WHAT: &str = "path";
    if !text.starts_with('<') {
        return Err(InvalidValue::at(WHAT, text, 0, utf8));
    }
    let mut at = 1;
    // Without a source route (nearly always) the empty list, which needs no allocation.
    let route = if text.as_bytes().get(at) == Some(&b'@') {
        parse_route(text, &mut at, utf8)?
    } else {
        alloc::boxed::Box::default()
    };
    let rest = text.get(at..).unwrap_or_default();
    let (mailbox, len) = parse_mailbox(rest, utf8).map_err(|e| e.shifted(at))?;
    at += len;
    if text.as_bytes().get(at) != Some(&b'>') {
        return Err(InvalidValue::at(WHAT, text, at, utf8));
    }
    at += 1;
    if at > MAX_PATH {
        return Err(InvalidValue::TooLong {
            what: WHAT,
            length: at,
            limit: MAX_PATH,
        });
    }
    Ok((Path { route, mailbox }, at))
}

/// `A-d-l ":"` (`At-domain *( "," At-domain )`, RFC 5321 4.1.2) from `at` in the path `text`,
/// `at` moved past it.
#[cold]
fn parse_route<'a>(
    text: &'a str,
    at: &mut usize,
    utf8: bool,
) -> Result<alloc::boxed::Box<[Domain<'a>]>, InvalidValue> {
    let mut route = Vec::new();
    loop {
        let rest = text.get(*at + 1..).unwrap_or_default();
        let (domain, len) = parse_domain(rest, utf8).map_err(|e| e.shifted(*at + 1))?;
        route.push(domain);
        *at += 1 + len;
        match text.as_bytes().get(*at) {
            Some(b',') if text.as_bytes().get(*at + 1) == Some(&b'@') => *at += 1,
            Some(b':') => {
                *at += 1;
                return Ok(route.into_boxed_slice());
            }
            _ => return Err(InvalidValue::at("path", text, *at, utf8)),
        }
    }
}

/// `Reverse-path = Path / "<>"` at the start of `text`.
#[inline(always)]
pub(crate) fn parse_reverse_path(
    text: &str,
    utf8: bool,
) -> Result<(ReversePath<'_>, usize), InvalidValue> {
    if text.starts_with("<>") {
        return Ok((ReversePath::Null, 2));
    }
    let (path, end) = parse_path(text, utf8)?;
    Ok((ReversePath::Path(path), end))
}

/// `Forward-path = Path / "<Postmaster>"` at the start of `text` (RFC 5321 4.1.1.3).
#[inline(always)]
pub(crate) fn parse_forward_path(
    text: &str,
    utf8: bool,
) -> Result<(ForwardPath<'_>, usize), InvalidValue> {
    const POSTMASTER: &str = "<postmaster>";
    if text
        .get(..POSTMASTER.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(POSTMASTER))
    {
        return Ok((ForwardPath::Postmaster, POSTMASTER.len()));
    }
    let (path, end) = parse_path(text, utf8)?;
    Ok((ForwardPath::Path(path), end))
}

#[cfg(test)]
mod tests;
