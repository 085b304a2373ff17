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

/// `NOTIFY=` (RFC 3461 4.1): `NEVER`, or any of `SUCCESS`, `FAILURE`, `DELAY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Notify {
    /// `NEVER`
    Never,
    /// Some of the three; at least one is set (see [`Notify::on`]).
    On {
        /// `SUCCESS`
        success: bool,
        /// `FAILURE`
        failure: bool,
        /// `DELAY`
        delay: bool,
    },
}

impl Notify {
    /// Notification on the given events; `None` when none is set (use [`Notify::Never`]).
    pub fn on(success: bool, failure: bool, delay: bool) -> Option<Self> {
        (success || failure || delay).then_some(Self::On {
            success,
            failure,
            delay,
        })
    }
}

impl fmt::Display for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self::On {
            success,
            failure,
            delay,
        } = *self
        else {
            return f.write_str("NEVER");
        };
        let mut first = true;
        for (set, name) in [(success, "SUCCESS"), (failure, "FAILURE"), (delay, "DELAY")] {
            if set {
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

impl<'a> OriginalRecipient<'a> {
    /// An original recipient of the given address type (`rfc822`, `utf-8`, ...: an atom).
    pub fn new(
        addr_type: impl Into<Cow<'a, str>>,
        address: XText<'a>,
    ) -> Result<Self, InvalidValue> {
        let addr_type = addr_type.into();
        if addr_type.is_empty() {
            return Err(InvalidValue::Empty {
                what: "address type",
            });
        }
        if let Some(bad) = addr_type
            .bytes()
            .position(|b| !(b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)))
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

    /// An `rfc822` original recipient.
    pub fn rfc822(address: XText<'a>) -> Result<Self, InvalidValue> {
        Self::new("rfc822", address)
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

impl<'a> EnvelopeId<'a> {
    /// Checks the length of the encoded form.
    pub fn new(id: XText<'a>) -> Result<Self, InvalidValue> {
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

impl<'a> AuthMailbox<'a> {
    /// Checks the value.
    pub fn new(mailbox: XText<'a>) -> Result<Self, InvalidValue> {
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

impl fmt::Display for Parameter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.keyword)?;
        if let Some(value) = &self.value {
            write!(f, "={value}")?;
        }
        Ok(())
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
    /// `HOLDFOR=` seconds (RFC 4865), at most 9 digits.
    pub hold_for: Option<HoldFor>,
    /// `HOLDUNTIL=` (RFC 4865).
    pub hold_until: Option<DateTime<'a>>,
    /// `BY=` (RFC 2852).
    pub by: Option<DeliverBy>,
    /// Every other parameter, as sent. Keywords must differ from each other (case aside): the
    /// decoder refuses a parameter given twice.
    pub other: Vec<Parameter<'a>>,
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
            hold_for: self.hold_for,
            hold_until: self.hold_until.map(DateTime::into_owned),
            by: self.by,
            other: self.other.into_iter().map(Parameter::into_owned).collect(),
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
        if let Some(hold_for) = self.hold_for {
            write!(f, " HOLDFOR={}", hold_for.seconds())?;
        }
        if let Some(until) = &self.hold_until {
            write!(f, " HOLDUNTIL={until}")?;
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
    /// Every other parameter, as sent.
    pub other: Vec<Parameter<'a>>,
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
            other: self.other.into_iter().map(Parameter::into_owned).collect(),
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
