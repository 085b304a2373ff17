//! MAIL and RCPT parameters (RFC 5321 4.1.2 esmtp-param, and the extensions that define them).

use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::fmt;

use super::error::InvalidValue;
use super::xtext::XText;

/// `BODY=` (RFC 6152 2, RFC 3030 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Body {
    /// `7BIT`
    SevenBit,
    /// `8BITMIME`
    EightBitMime,
    /// `BINARYMIME`
    BinaryMime,
}

impl Body {
    /// The keyword as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SevenBit => "7BIT",
            Self::EightBitMime => "8BITMIME",
            Self::BinaryMime => "BINARYMIME",
        }
    }
}

/// `RET=` (RFC 3461 4.3): what a failure DSN returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Ret {
    /// `FULL`: the whole message.
    Full,
    /// `HDRS`: the headers only.
    Headers,
}

impl Ret {
    /// The keyword as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "FULL",
            Self::Headers => "HDRS",
        }
    }
}

/// `NOTIFY=` (RFC 3461 4.1): `NEVER`, or a set of the events `SUCCESS`, `FAILURE`, `DELAY`.
///
/// The events are named flags that combine with `|`; `NEVER` is of another type, so that it
/// cannot be combined with them, as RFC 3461 4.1 requires.
///
/// ```
/// use smtp_proto::types::{Notify, RcptParameters};
///
/// let parameters = RcptParameters::new().with_notify(Notify::FAILURE | Notify::DELAY);
/// assert_eq!(parameters.to_string(), " NOTIFY=FAILURE,DELAY");
/// let never = RcptParameters::new().with_notify(Notify::NEVER);
/// assert_eq!(never.to_string(), " NOTIFY=NEVER");
/// assert!(Notify::from(Notify::SUCCESS).success());
/// // `Notify::NEVER | Notify::SUCCESS` does not compile.
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NEVER`: no DSN, whatever happens.
    Never,
    /// A DSN on each of these events.
    On(NotifyEvents),
}

/// The events of `NOTIFY=` (RFC 3461 4.1): at least one of `SUCCESS`, `FAILURE`, `DELAY`,
/// made from [`Notify::SUCCESS`], [`Notify::FAILURE`] and [`Notify::DELAY`] with `|`.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct NotifyEvents(u8);

impl Notify {
    /// `NEVER`.
    pub const NEVER: Notify = Notify::Never;
    /// `SUCCESS`: on delivery.
    pub const SUCCESS: NotifyEvents = NotifyEvents(1);
    /// `FAILURE`: on failure.
    pub const FAILURE: NotifyEvents = NotifyEvents(2);
    /// `DELAY`: on a delay.
    pub const DELAY: NotifyEvents = NotifyEvents(4);

    /// Whether it is `NEVER`.
    pub fn is_never(self) -> bool {
        self == Self::Never
    }

    /// Whether a DSN is asked on success.
    pub fn success(self) -> bool {
        self.has(Self::SUCCESS)
    }

    /// Whether a DSN is asked on failure.
    pub fn failure(self) -> bool {
        self.has(Self::FAILURE)
    }

    /// Whether a DSN is asked on delay.
    pub fn delay(self) -> bool {
        self.has(Self::DELAY)
    }

    fn has(self, event: NotifyEvents) -> bool {
        match self {
            Self::Never => false,
            Self::On(events) => events.contains(event),
        }
    }
}

impl NotifyEvents {
    /// Whether every event of `other` is in this set.
    pub fn contains(self, other: NotifyEvents) -> bool {
        self.0 & other.0 == other.0
    }
}

impl core::ops::BitOr for NotifyEvents {
    type Output = NotifyEvents;

    fn bitor(self, other: NotifyEvents) -> NotifyEvents {
        NotifyEvents(self.0 | other.0)
    }
}

impl core::ops::BitOrAssign for NotifyEvents {
    fn bitor_assign(&mut self, other: NotifyEvents) {
        self.0 |= other.0;
    }
}

impl From<NotifyEvents> for Notify {
    fn from(events: NotifyEvents) -> Self {
        Self::On(events)
    }
}

impl fmt::Debug for NotifyEvents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NotifyEvents({self})")
    }
}

impl fmt::Display for NotifyEvents {
    /// `SUCCESS,FAILURE,DELAY`, in that order, those in the set.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (event, name) in [
            (Notify::SUCCESS, "SUCCESS"),
            (Notify::FAILURE, "FAILURE"),
            (Notify::DELAY, "DELAY"),
        ] {
            if self.contains(event) {
                if !first {
                    f.write_str(",")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Never => f.write_str("NEVER"),
            Self::On(events) => events.fmt(f),
        }
    }
}

/// `ORCPT=addr-type;xtext` (RFC 3461 4.2), including the `utf-8` type of RFC 6533 3.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OriginalRecipient<'a> {
    addr_type: Cow<'a, str>,
    address: XText<'a>,
}

/// RFC 3461 4.2: ORCPT is at most 500 characters.
pub const MAX_ORCPT: usize = 500;
/// RFC 3461 4.4: ENVID is at most 100 characters.
pub const MAX_ENVID: usize = 100;

impl OriginalRecipient<'static> {
    /// An original recipient of the given address type (`rfc822`, `utf-8`, ...: an atom) and
    /// address (decoded: escaping happens when it is sent), owned.
    ///
    /// ```
    /// use smtp_proto::types::OriginalRecipient;
    ///
    /// let orcpt = OriginalRecipient::rfc822("a+b@example.com")?;
    /// assert_eq!(orcpt.to_string(), "rfc822;a+2Bb@example.com");
    /// assert_eq!("rfc822;a+2Bb@example.com".parse::<OriginalRecipient>()?, orcpt);
    /// # Ok::<(), smtp_proto::types::InvalidValue>(())
    /// ```
    pub fn new(addr_type: &str, address: &str) -> Result<Self, InvalidValue> {
        OriginalRecipient::from_parts(
            alloc::string::String::from(addr_type),
            XText::new(alloc::string::String::from(address))?,
        )
    }

    /// An `rfc822` original recipient (RFC 3461 4.2), owned.
    pub fn rfc822(address: &str) -> Result<Self, InvalidValue> {
        Self::new("rfc822", address)
    }

    /// A `utf-8` original recipient (RFC 6533 3), owned.
    pub fn utf8(address: &str) -> Result<Self, InvalidValue> {
        Self::new("utf-8", address)
    }

    /// Reads the encoded form, `addr-type;xtext` (`utf-8;` with RFC 6533's escapes), as it
    /// stands after `ORCPT=`.
    pub fn parse(text: &str) -> Result<Self, InvalidValue> {
        let (addr_type, address) = text.split_once(';').ok_or(InvalidValue::Malformed {
            what: "ORCPT",
            offset: text.len(),
            reason: "no ';' after the address type",
        })?;
        let at = addr_type.len() + 1;
        let address = if addr_type.eq_ignore_ascii_case("utf-8") {
            XText::decode_unitext(address)
        } else {
            XText::decode(address)
        }
        .map_err(|e| e.shifted(at))?;
        OriginalRecipient::from_parts(addr_type, address).map(OriginalRecipient::into_owned)
    }
}

impl core::str::FromStr for OriginalRecipient<'static> {
    type Err = InvalidValue;

    /// See [`OriginalRecipient::parse`].
    fn from_str(text: &str) -> Result<Self, InvalidValue> {
        Self::parse(text)
    }
}

impl<'a> OriginalRecipient<'a> {
    /// An original recipient of the given address type and decoded address, borrowing what
    /// it is given.
    pub fn from_parts(
        addr_type: impl Into<Cow<'a, str>>,
        address: XText<'a>,
    ) -> Result<Self, InvalidValue> {
        let addr_type = addr_type.into();
        if addr_type.is_empty() {
            return Err(InvalidValue::Empty {
                what: "address type",
            });
        }
        // An atom (RFC 3461 4.2) inside an esmtp-value, which has no `=` (RFC 5321 4.1.2).
        if let Some(bad) = addr_type
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b"!#$%&'*+-/?^_`{|}~".contains(&b)))
        {
            return Err(InvalidValue::at("address type", &addr_type, bad, false));
        }
        let utf8 = addr_type.eq_ignore_ascii_case("utf-8");
        let length = addr_type.len()
            + 1
            + if utf8 {
                address.unitext_len()
            } else {
                address.xtext_len()
            };
        if length > MAX_ORCPT {
            return Err(InvalidValue::TooLong {
                what: "ORCPT",
                length,
                limit: MAX_ORCPT,
            });
        }
        Ok(Self { addr_type, address })
    }

    /// Built by the decoder, which has checked the type and the encoded length.
    pub(crate) fn checked(addr_type: &'a str, address: XText<'a>) -> Self {
        Self {
            addr_type: Cow::Borrowed(addr_type),
            address,
        }
    }

    /// The address type as sent.
    pub fn addr_type(&self) -> &str {
        &self.addr_type
    }

    /// Whether the type is RFC 6533's `utf-8`.
    pub fn is_utf8_type(&self) -> bool {
        self.addr_type.eq_ignore_ascii_case("utf-8")
    }

    /// The decoded address.
    pub fn address(&self) -> &XText<'a> {
        &self.address
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> OriginalRecipient<'static> {
        OriginalRecipient {
            addr_type: Cow::Owned(self.addr_type.into_owned()),
            address: self.address.into_owned(),
        }
    }
}

impl fmt::Display for OriginalRecipient<'_> {
    /// The encoded form: `rfc822;a+2Bb@example.com`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{};", self.addr_type)?;
        if self.is_utf8_type() {
            self.address.write_unitext(f)
        } else {
            self.address.write_xtext(f)
        }
    }
}

/// `ENVID=` (RFC 3461 4.4): an envelope identifier of at most 100 characters in xtext form.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EnvelopeId<'a>(XText<'a>);

impl EnvelopeId<'static> {
    /// An identifier from its text (decoded: xtext escaping happens when it is sent), owned.
    ///
    /// ```
    /// use smtp_proto::types::EnvelopeId;
    ///
    /// let id = EnvelopeId::new("QQ314159+1")?;
    /// assert_eq!(id.as_str(), "QQ314159+1");
    /// # Ok::<(), smtp_proto::types::InvalidValue>(())
    /// ```
    pub fn new(id: &str) -> Result<Self, InvalidValue> {
        EnvelopeId::from_xtext(XText::new(alloc::string::String::from(id))?)
    }
}

impl<'a> EnvelopeId<'a> {
    /// Checks the length of the encoded form of a decoded value.
    pub fn from_xtext(id: XText<'a>) -> Result<Self, InvalidValue> {
        // RFC 3461 4.4: printable US-ASCII, and an esmtp-value is never empty.
        if id.as_str().is_empty() {
            return Err(InvalidValue::Empty { what: "ENVID" });
        }
        if let Some(offset) = id.as_str().bytes().position(|b| !(0x20..0x7f).contains(&b)) {
            return Err(InvalidValue::NonAscii {
                what: "ENVID",
                offset,
            });
        }
        let length = id.xtext_len();
        if length > MAX_ENVID {
            return Err(InvalidValue::TooLong {
                what: "ENVID",
                length,
                limit: MAX_ENVID,
            });
        }
        Ok(Self(id))
    }

    /// The decoded identifier.
    pub fn as_xtext(&self) -> &XText<'a> {
        &self.0
    }

    /// The decoded identifier as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> EnvelopeId<'static> {
        EnvelopeId(self.0.into_owned())
    }
}

/// The mailbox of `AUTH=` (RFC 4954 5), decoded: not empty and not `<>`, which would read back
/// as the unknown identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthMailbox<'a>(XText<'a>);

impl AuthMailbox<'static> {
    /// A mailbox from its text (decoded: xtext escaping happens when it is sent), owned.
    pub fn new(mailbox: &str) -> Result<Self, InvalidValue> {
        AuthMailbox::from_xtext(XText::new(alloc::string::String::from(mailbox))?)
    }
}

impl<'a> AuthMailbox<'a> {
    /// Checks a decoded value.
    pub fn from_xtext(mailbox: XText<'a>) -> Result<Self, InvalidValue> {
        match mailbox.as_str() {
            "" => Err(InvalidValue::Empty {
                what: "AUTH mailbox",
            }),
            "<>" => Err(InvalidValue::Malformed {
                what: "AUTH mailbox",
                offset: 0,
                reason: "<> is the unknown identity, not a mailbox",
            }),
            _ => Ok(Self(mailbox)),
        }
    }

    /// The decoded mailbox.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> AuthMailbox<'static> {
        AuthMailbox(self.0.into_owned())
    }
}

/// `MT-PRIORITY=` (RFC 6710 2): -9 to 9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Priority(i8);

impl Priority {
    /// A priority, if within -9 to 9.
    pub fn new(value: i8) -> Option<Self> {
        (-9..=9).contains(&value).then_some(Self(value))
    }

    /// The value.
    pub fn get(self) -> i8 {
        self.0
    }
}

/// What happens to a message whose `BY=` deadline passes (RFC 2852 4 `by-mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ByMode {
    /// `N`: deliver anyway and send a "delayed" DSN. The only mode that allows a by-time of
    /// zero or less (the deadline has already passed).
    Notify,
    /// `R`: return the message undelivered. Needs a by-time greater than zero.
    Return,
}

/// `BY=` (RFC 2852 4): a deadline in seconds, what to do when it passes, and whether to trace.
///
/// ```
/// use smtp_proto::types::{ByMode, DeliverBy};
///
/// let by = DeliverBy::new(3600, ByMode::Return, false)?;
/// assert_eq!(by.to_string(), "3600;R");
/// // RFC 2852 4: a by-time of zero or less is only allowed with mode N.
/// assert!(DeliverBy::new(0, ByMode::Return, false).is_err());
/// assert_eq!(DeliverBy::new(-60, ByMode::Notify, true)?.to_string(), "-60;NT");
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliverBy {
    seconds: i32,
    mode: ByMode,
    trace: bool,
}

/// RFC 2852 4: by-time is at most 9 digits.
const MAX_BY_TIME: i32 = 999_999_999;

impl DeliverBy {
    /// `seconds` (at most 9 digits, either sign; RFC 2852 4: greater than zero with
    /// [`ByMode::Return`]), the mode, and `trace` for `T`.
    pub fn new(seconds: i32, mode: ByMode, trace: bool) -> Result<Self, InvalidValue> {
        const WHAT: &str = "BY";
        if !(-MAX_BY_TIME..=MAX_BY_TIME).contains(&seconds) {
            return Err(InvalidValue::Malformed {
                what: WHAT,
                offset: 0,
                reason: "by-time has more than 9 digits",
            });
        }
        if mode == ByMode::Return && seconds <= 0 {
            return Err(InvalidValue::Malformed {
                what: WHAT,
                offset: 0,
                reason: "by-time of zero or less with by-mode R",
            });
        }
        Ok(Self {
            seconds,
            mode,
            trace,
        })
    }

    /// The deadline in seconds from now.
    pub fn seconds(self) -> i32 {
        self.seconds
    }

    /// What happens when the deadline passes.
    pub fn mode(self) -> ByMode {
        self.mode
    }

    /// Mode `R`: return the message when the deadline passes (else `N`: notify).
    pub fn return_on_expiry(self) -> bool {
        self.mode == ByMode::Return
    }

    /// Trace requested (`T`).
    pub fn trace(self) -> bool {
        self.trace
    }
}

impl fmt::Display for DeliverBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.mode {
            ByMode::Return => 'R',
            ByMode::Notify => 'N',
        };
        write!(f, "{};{mode}", self.seconds)?;
        if self.trace {
            f.write_str("T")?;
        }
        Ok(())
    }
}

/// An RFC 3339 date-time (`HOLDUNTIL=`, RFC 4865; `RRVS=`, RFC 7293), checked for shape and
/// kept as written.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DateTime<'a>(Cow<'a, str>);

impl<'a> DateTime<'a> {
    /// Checks `YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)`.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        check_date_time(&text)?;
        Ok(Self(text))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same value, owning its text.
    pub fn into_owned(self) -> DateTime<'static> {
        DateTime(Cow::Owned(self.0.into_owned()))
    }
}

fn check_date_time(text: &str) -> Result<(), InvalidValue> {
    const WHAT: &str = "date-time";
    let bytes = text.as_bytes();
    let malformed = |offset| InvalidValue::Malformed {
        what: WHAT,
        offset,
        reason: "not an RFC 3339 date-time",
    };
    // Shape of the fixed part: digits where '9' stands, the punctuation as is.
    const SHAPE: &[u8] = b"9999-99-99T99:99:99";
    for (at, &want) in SHAPE.iter().enumerate() {
        let got = bytes.get(at).copied().map(|b| b.to_ascii_uppercase());
        let ok = match want {
            b'9' => got.is_some_and(|b| b.is_ascii_digit()),
            _ => got == Some(want),
        };
        if !ok {
            return Err(malformed(at));
        }
    }
    let mut at = SHAPE.len();
    if bytes.get(at) == Some(&b'.') {
        at += 1;
        let digits = bytes
            .get(at..)
            .unwrap_or_default()
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == 0 {
            return Err(malformed(at));
        }
        at += digits;
    }
    let zone = bytes.get(at..).unwrap_or_default();
    let two = |from: usize, s: &[u8]| -> u32 {
        s.get(from..from + 2).map_or(99, |d| {
            d.iter().fold(0, |n, b| n * 10 + u32::from(b - b'0'))
        })
    };
    let valid_zone = matches!(zone, [b'Z' | b'z'])
        || matches!(zone, [b'+' | b'-', h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|b| b.is_ascii_digit()))
            && two(1, zone) <= 23
            && two(4, zone) <= 59;
    if !valid_zone {
        return Err(malformed(at));
    }
    // RFC 3339 5.6 ranges: month, day, hour, minute, second (60 for a leap second).
    let ranges = [
        (5, 1, 12),
        (8, 1, 31),
        (11, 0, 23),
        (14, 0, 59),
        (17, 0, 60),
    ];
    if let Some(&(offset, _, _)) = ranges
        .iter()
        .find(|&&(offset, low, high)| !(low..=high).contains(&two(offset, bytes)))
    {
        return Err(malformed(offset));
    }
    Ok(())
}

impl fmt::Display for DateTime<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `RRVS=` (RFC 7293 3.1): the time the mailbox must have existed since, and what to do when
/// the check cannot be made.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Rrvs<'a> {
    /// The date-time.
    pub since: DateTime<'a>,
    /// `;C` (continue) or `;R` (reject), when given.
    pub on_unsupported: Option<RrvsAction>,
}

/// What an RRVS-unaware hop does with the message (RFC 7293 3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RrvsAction {
    /// `C`: continue.
    Continue,
    /// `R`: reject.
    Reject,
}

impl Rrvs<'_> {
    /// The same value, owning its text.
    pub fn into_owned(self) -> Rrvs<'static> {
        Rrvs {
            since: self.since.into_owned(),
            on_unsupported: self.on_unsupported,
        }
    }
}

impl fmt::Display for Rrvs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.since.as_str())?;
        match self.on_unsupported {
            Some(RrvsAction::Continue) => f.write_str(";C"),
            Some(RrvsAction::Reject) => f.write_str(";R"),
            None => Ok(()),
        }
    }
}

/// The keywords that have typed fields, on MAIL or RCPT; a [`Parameter`] cannot use them.
pub(crate) const KNOWN_PARAMETERS: &[&str] = &[
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

/// An extension parameter without a typed field: `esmtp-keyword ["=" esmtp-value]` (RFC 5321
/// 4.1.2), kept as sent, never dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Parameter<'a> {
    keyword: Cow<'a, str>,
    value: Option<Cow<'a, str>>,
}

impl<'a> Parameter<'a> {
    /// Checks the keyword (letters, digits, `-`, starting with a letter or digit; not one with a
    /// typed field) and the value (printable characters but `=` and space; UTF-8 allowed as RFC
    /// 6531 3.3 extends esmtp-value).
    pub fn new(
        keyword: impl Into<Cow<'a, str>>,
        value: Option<Cow<'a, str>>,
    ) -> Result<Self, InvalidValue> {
        let keyword = keyword.into();
        check_keyword(&keyword)?;
        if KNOWN_PARAMETERS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&keyword))
        {
            return Err(InvalidValue::Malformed {
                what: "parameter",
                offset: 0,
                reason: "keyword has a typed field",
            });
        }
        if let Some(value) = &value {
            check_esmtp_value(value, true)?;
        }
        Ok(Self { keyword, value })
    }

    /// Reads `keyword[=value]`, as it stands on the wire, into an owned parameter; error
    /// offsets count from the start of `text`.
    pub fn parse(text: &str) -> Result<Parameter<'static>, InvalidValue> {
        let (keyword, value) = match text.split_once('=') {
            Some((keyword, value)) => (keyword, Some(value)),
            None => (text, None),
        };
        check_keyword(keyword)?;
        if let Some(value) = value {
            check_esmtp_value(value, true).map_err(|e| e.shifted(keyword.len() + 1))?;
        }
        Parameter::new(
            alloc::string::String::from(keyword),
            value.map(|v| Cow::Owned(v.into())),
        )
    }

    /// Built by the decoder from checked parts.
    pub(crate) fn checked(keyword: &'a str, value: Option<&'a str>) -> Self {
        Self {
            keyword: Cow::Borrowed(keyword),
            value: value.map(Cow::Borrowed),
        }
    }

    /// The keyword as sent.
    pub fn keyword(&self) -> &str {
        &self.keyword
    }

    /// The value, if any.
    pub fn value(&self) -> Option<&str> {
        self.value.as_deref()
    }

    /// The same parameter, owning its text.
    pub fn into_owned(self) -> Parameter<'static> {
        Parameter {
            keyword: Cow::Owned(self.keyword.into_owned()),
            value: self.value.map(|v| Cow::Owned(v.into_owned())),
        }
    }
}

impl core::str::FromStr for Parameter<'static> {
    type Err = InvalidValue;

    /// See [`Parameter::parse`].
    fn from_str(text: &str) -> Result<Self, InvalidValue> {
        Parameter::parse(text)
    }
}

impl fmt::Display for Parameter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keyword)?;
        if let Some(value) = &self.value {
            write!(f, "={value}")?;
        }
        Ok(())
    }
}

/// The extension parameters of a MAIL or RCPT command that have no typed field, in the order
/// sent, each keyword at most once (without regard to case), as the decoder requires: a list
/// that encodes is a list that decodes back the same.
///
/// ```
/// use smtp_proto::types::{ExtensionParameters, Parameter};
///
/// let mut list = ExtensionParameters::new();
/// list.push(Parameter::parse("X-TAG=blue")?)?;
/// list.push(Parameter::parse("XVERP")?)?;
/// assert!(list.push(Parameter::parse("x-tag=red")?).is_err());
/// assert_eq!(list.get("X-TAG").and_then(|p| p.value()), Some("blue"));
/// assert_eq!(list.len(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct ExtensionParameters<'a>(Vec<Parameter<'a>>);

/// A keyword already in the list ([`ExtensionParameters::push`]); RFC 5321 4.1.2 gives each
/// parameter once.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter {keyword} given twice")]
pub struct DuplicateParameter {
    /// The keyword, as in the refused parameter.
    pub keyword: alloc::string::String,
}

impl<'a> ExtensionParameters<'a> {
    /// An empty list.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Adds `parameter` at the end, unless its keyword is already there.
    pub fn push(&mut self, parameter: Parameter<'a>) -> Result<(), DuplicateParameter> {
        if self.get(parameter.keyword()).is_some() {
            return Err(DuplicateParameter {
                keyword: parameter.keyword().into(),
            });
        }
        self.0.push(parameter);
        Ok(())
    }

    /// The same list with `parameter` added (see [`push`](Self::push)).
    pub fn with(mut self, parameter: Parameter<'a>) -> Result<Self, DuplicateParameter> {
        self.push(parameter)?;
        Ok(self)
    }

    /// The parameter with this keyword, in any case.
    pub fn get(&self, keyword: &str) -> Option<&Parameter<'a>> {
        self.0
            .iter()
            .find(|p| p.keyword().eq_ignore_ascii_case(keyword))
    }

    /// Takes out the parameter with this keyword, in any case.
    pub fn remove(&mut self, keyword: &str) -> Option<Parameter<'a>> {
        let at = self
            .0
            .iter()
            .position(|p| p.keyword().eq_ignore_ascii_case(keyword))?;
        Some(self.0.remove(at))
    }

    /// The parameters, in order.
    pub fn as_slice(&self) -> &[Parameter<'a>] {
        &self.0
    }

    /// The same list, owning its text.
    pub fn into_owned(self) -> ExtensionParameters<'static> {
        ExtensionParameters(self.0.into_iter().map(Parameter::into_owned).collect())
    }
}

impl<'a> core::ops::Deref for ExtensionParameters<'a> {
    type Target = [Parameter<'a>];

    fn deref(&self) -> &[Parameter<'a>] {
        &self.0
    }
}

impl<'l, 'a> IntoIterator for &'l ExtensionParameters<'a> {
    type Item = &'l Parameter<'a>;
    type IntoIter = core::slice::Iter<'l, Parameter<'a>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl<'a> IntoIterator for ExtensionParameters<'a> {
    type Item = Parameter<'a>;
    type IntoIter = alloc::vec::IntoIter<Parameter<'a>>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> TryFrom<Vec<Parameter<'a>>> for ExtensionParameters<'a> {
    type Error = DuplicateParameter;

    fn try_from(parameters: Vec<Parameter<'a>>) -> Result<Self, DuplicateParameter> {
        let mut list = Self::new();
        for parameter in parameters {
            list.push(parameter)?;
        }
        Ok(list)
    }
}

/// `HOLDFOR=` or `HOLDUNTIL=` (RFC 4865 3): a message is held one way or the other, never
/// both.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Hold<'a> {
    /// `HOLDFOR=` seconds.
    For(HoldFor),
    /// `HOLDUNTIL=` a date-time.
    Until(DateTime<'a>),
}

impl Hold<'_> {
    /// The same value, owning its text.
    pub fn into_owned(self) -> Hold<'static> {
        match self {
            Self::For(seconds) => Hold::For(seconds),
            Self::Until(time) => Hold::Until(time.into_owned()),
        }
    }
}

/// `esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")`
pub(crate) fn check_keyword(keyword: &str) -> Result<(), InvalidValue> {
    const WHAT: &str = "keyword";
    let bytes = keyword.as_bytes();
    match bytes.first() {
        None => return Err(InvalidValue::Empty { what: WHAT }),
        Some(b) if !b.is_ascii_alphanumeric() => {
            return Err(InvalidValue::at(WHAT, keyword, 0, false));
        }
        Some(_) => {}
    }
    if let Some(bad) = bytes
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(InvalidValue::at(WHAT, keyword, bad, false));
    }
    Ok(())
}

/// `esmtp-value = 1*(%d33-60 / %d62-126)`, plus UTF-8 when allowed (RFC 6531 3.3).
pub(crate) fn check_esmtp_value(value: &str, utf8: bool) -> Result<(), InvalidValue> {
    const WHAT: &str = "parameter value";
    if value.is_empty() {
        return Err(InvalidValue::Empty { what: WHAT });
    }
    if let Some(bad) = value
        .bytes()
        .position(|b| !((33..=126).contains(&b) && b != b'=' || (utf8 && b >= 0x80)))
    {
        return Err(InvalidValue::at(WHAT, value, bad, utf8));
    }
    Ok(())
}

/// The parameters of `MAIL FROM:`. Unset fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct MailParameters<'a> {
    /// `SIZE=` (RFC 1870): the message size in octets.
    pub size: Option<u64>,
    /// `BODY=` (RFC 6152, RFC 3030).
    pub body: Option<Body>,
    /// `SMTPUTF8` (RFC 6531 3.4).
    pub smtputf8: bool,
    /// `RET=` (RFC 3461 4.3).
    pub ret: Option<Ret>,
    /// `ENVID=` (RFC 3461 4.4).
    pub envid: Option<EnvelopeId<'a>>,
    /// `AUTH=` (RFC 4954 5): `Some(None)` is `AUTH=<>` (identity unknown), `Some(Some(x))`
    /// the decoded mailbox.
    pub auth: Option<Option<AuthMailbox<'a>>>,
    /// `REQUIRETLS` (RFC 8689 4.1).
    pub require_tls: bool,
    /// `MT-PRIORITY=` (RFC 6710).
    pub mt_priority: Option<Priority>,
    /// `HOLDFOR=` or `HOLDUNTIL=` (RFC 4865 3).
    pub hold: Option<Hold<'a>>,
    /// `BY=` (RFC 2852).
    pub by: Option<DeliverBy>,
    /// Every other parameter, as sent, each keyword once.
    pub other: ExtensionParameters<'a>,
}

/// `HOLDFOR=` (RFC 4865 3): seconds, 1 to 9 digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HoldFor(u32);

impl HoldFor {
    /// At most 999 999 999 seconds.
    pub fn new(seconds: u32) -> Option<Self> {
        (seconds <= 999_999_999).then_some(Self(seconds))
    }

    /// The seconds.
    pub fn seconds(self) -> u32 {
        self.0
    }
}

impl<'a> MailParameters<'a> {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same parameters with `SIZE=` (RFC 1870).
    #[must_use]
    pub fn with_size(mut self, size: u64) -> Self {
        self.size = Some(size);
        self
    }

    /// The same parameters with `BODY=` (RFC 6152, RFC 3030).
    #[must_use]
    pub fn with_body(mut self, body: Body) -> Self {
        self.body = Some(body);
        self
    }

    /// The same parameters with `RET=` (RFC 3461 4.3).
    #[must_use]
    pub fn with_ret(mut self, ret: Ret) -> Self {
        self.ret = Some(ret);
        self
    }

    /// The same parameters with `ENVID=` (RFC 3461 4.4).
    #[must_use]
    pub fn with_envid(mut self, envid: EnvelopeId<'a>) -> Self {
        self.envid = Some(envid);
        self
    }

    /// The same parameters with one more extension parameter, unless its keyword is there.
    pub fn with_parameter(mut self, parameter: Parameter<'a>) -> Result<Self, DuplicateParameter> {
        self.other.push(parameter)?;
        Ok(self)
    }
}

impl MailParameters<'_> {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == MailParameters::default()
    }

    /// The same parameters, owning their text.
    pub fn into_owned(self) -> MailParameters<'static> {
        MailParameters {
            size: self.size,
            body: self.body,
            smtputf8: self.smtputf8,
            ret: self.ret,
            envid: self.envid.map(EnvelopeId::into_owned),
            auth: self.auth.map(|auth| auth.map(AuthMailbox::into_owned)),
            require_tls: self.require_tls,
            mt_priority: self.mt_priority,
            hold: self.hold.map(Hold::into_owned),
            by: self.by,
            other: self.other.into_owned(),
        }
    }
}

impl fmt::Display for MailParameters<'_> {
    /// Each set parameter preceded by a space, in a fixed order, as they go after the path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(size) = self.size {
            write!(f, " SIZE={size}")?;
        }
        if let Some(body) = self.body {
            write!(f, " BODY={}", body.as_str())?;
        }
        if self.smtputf8 {
            f.write_str(" SMTPUTF8")?;
        }
        if let Some(ret) = self.ret {
            write!(f, " RET={}", ret.as_str())?;
        }
        if let Some(envid) = &self.envid {
            f.write_str(" ENVID=")?;
            envid.as_xtext().write_xtext(f)?;
        }
        match &self.auth {
            Some(Some(mailbox)) => {
                f.write_str(" AUTH=")?;
                mailbox.0.write_xtext(f)?;
            }
            Some(None) => f.write_str(" AUTH=<>")?,
            None => {}
        }
        if self.require_tls {
            f.write_str(" REQUIRETLS")?;
        }
        if let Some(priority) = self.mt_priority {
            write!(f, " MT-PRIORITY={}", priority.get())?;
        }
        match &self.hold {
            Some(Hold::For(seconds)) => write!(f, " HOLDFOR={}", seconds.seconds())?,
            Some(Hold::Until(time)) => write!(f, " HOLDUNTIL={time}")?,
            None => {}
        }
        if let Some(by) = self.by {
            write!(f, " BY={by}")?;
        }
        for parameter in &self.other {
            write!(f, " {parameter}")?;
        }
        Ok(())
    }
}

/// The parameters of `RCPT TO:`. Unset fields are not sent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct RcptParameters<'a> {
    /// `NOTIFY=` (RFC 3461 4.1).
    pub notify: Option<Notify>,
    /// `ORCPT=` (RFC 3461 4.2, RFC 6533 3).
    pub orcpt: Option<OriginalRecipient<'a>>,
    /// `RRVS=` (RFC 7293).
    pub rrvs: Option<Rrvs<'a>>,
    /// Every other parameter, as sent, each keyword once.
    pub other: ExtensionParameters<'a>,
}

impl<'a> RcptParameters<'a> {
    /// No parameters.
    pub fn new() -> Self {
        Self::default()
    }

    /// The same parameters with `NOTIFY=` (RFC 3461 4.1): [`Notify::NEVER`], or events such
    /// as `Notify::SUCCESS | Notify::FAILURE`.
    #[must_use]
    pub fn with_notify(mut self, notify: impl Into<Notify>) -> Self {
        self.notify = Some(notify.into());
        self
    }

    /// The same parameters with `ORCPT=` (RFC 3461 4.2).
    #[must_use]
    pub fn with_orcpt(mut self, orcpt: OriginalRecipient<'a>) -> Self {
        self.orcpt = Some(orcpt);
        self
    }

    /// The same parameters with `RRVS=` (RFC 7293).
    #[must_use]
    pub fn with_rrvs(mut self, rrvs: Rrvs<'a>) -> Self {
        self.rrvs = Some(rrvs);
        self
    }

    /// The same parameters with one more extension parameter, unless its keyword is there.
    pub fn with_parameter(mut self, parameter: Parameter<'a>) -> Result<Self, DuplicateParameter> {
        self.other.push(parameter)?;
        Ok(self)
    }
}

impl RcptParameters<'_> {
    /// Whether nothing is set.
    pub fn is_empty(&self) -> bool {
        *self == RcptParameters::default()
    }

    /// The same parameters, owning their text.
    pub fn into_owned(self) -> RcptParameters<'static> {
        RcptParameters {
            notify: self.notify,
            orcpt: self.orcpt.map(OriginalRecipient::into_owned),
            rrvs: self.rrvs.map(Rrvs::into_owned),
            other: self.other.into_owned(),
        }
    }
}

impl fmt::Display for RcptParameters<'_> {
    /// Each set parameter preceded by a space, as they go after the path.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(notify) = self.notify {
            write!(f, " NOTIFY={notify}")?;
        }
        if let Some(orcpt) = &self.orcpt {
            write!(f, " ORCPT={orcpt}")?;
        }
        if let Some(rrvs) = &self.rrvs {
            write!(f, " RRVS={rrvs}")?;
        }
        for parameter in &self.other {
            write!(f, " {parameter}")?;
        }
        Ok(())
    }
}
