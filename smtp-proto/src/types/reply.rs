//! Replies: the three-digit code (RFC 5321 4.2), the enhanced status code (RFC 3463, RFC 2034)
//! and the text lines.
//!
//! Every value here is valid by construction: a [`ReplyCode`] is always 2yz to 5yz, an
//! [`EnhancedStatus`] always `class.subject.detail` with a class of 2, 4 or 5, and a
//! [`ReplyText`] never holds CR, LF, NUL or another control character, so a reply built from
//! them cannot carry anything but its own lines onto the wire.

use alloc::borrow::Cow;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;
use core::str::FromStr;

use super::error::InvalidValue;

/// A reply code (RFC 5321 4.2): `Reply-code = %x32-35 %x30-35 %x30-39`, so the first digit is
/// 2 to 5, the second 0 to 5 and the third 0 to 9.
///
/// ```
/// use smtp_proto::types::{ReplyClass, ReplyCode};
///
/// let code = ReplyCode::new(550)?;
/// assert_eq!(code, ReplyCode::MAILBOX_UNAVAILABLE);
/// assert_eq!(code.class(), ReplyClass::PermanentNegative);
/// assert!(ReplyCode::new(199).is_err());
/// assert!(ReplyCode::new(260).is_err());
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyCode(u16);

/// What the first digit of a reply code says (RFC 5321 4.2.1), ordered as the digit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum ReplyClass {
    /// 2yz, Positive Completion: the action is done.
    Positive,
    /// 3yz, Positive Intermediate: go on with the next part (the message, a SASL response).
    Intermediate,
    /// 4yz, Transient Negative Completion: not done, try again later.
    TransientNegative,
    /// 5yz, Permanent Negative Completion: not done, do not retry as is.
    PermanentNegative,
}

impl ReplyCode {
    /// 211 System status, or system help reply.
    pub const SYSTEM_STATUS: Self = Self(211);
    /// 214 Help message.
    pub const HELP: Self = Self(214);
    /// 220 `<domain>` Service ready (the greeting; also the answer to STARTTLS, RFC 3207).
    pub const READY: Self = Self(220);
    /// 221 `<domain>` Service closing transmission channel.
    pub const CLOSING: Self = Self(221);
    /// 235 Authentication succeeded (RFC 4954 6).
    pub const AUTH_SUCCESS: Self = Self(235);
    /// 250 Requested mail action okay, completed.
    pub const OK: Self = Self(250);
    /// 251 User not local; will forward.
    pub const WILL_FORWARD: Self = Self(251);
    /// 252 Cannot VRFY user, but will accept the message and attempt delivery.
    pub const CANNOT_VERIFY: Self = Self(252);
    /// 334 A SASL challenge follows (RFC 4954 4).
    pub const AUTH_CHALLENGE: Self = Self(334);
    /// 354 Start mail input; end with `<CRLF>.<CRLF>`.
    pub const START_DATA: Self = Self(354);
    /// 421 `<domain>` Service not available, closing transmission channel.
    pub const SERVICE_UNAVAILABLE: Self = Self(421);
    /// 450 Requested mail action not taken: mailbox unavailable (busy, or blocked for now).
    pub const MAILBOX_BUSY: Self = Self(450);
    /// 451 Requested action aborted: local error in processing.
    pub const LOCAL_ERROR: Self = Self(451);
    /// 452 Requested action not taken: insufficient system storage (also: too many recipients,
    /// RFC 5321 4.5.3.1.10).
    pub const INSUFFICIENT_STORAGE: Self = Self(452);
    /// 454 TLS not available for a temporary reason (RFC 3207), or a temporary authentication
    /// failure (RFC 4954 6).
    pub const TEMPORARY_TLS_OR_AUTH_FAILURE: Self = Self(454);
    /// 455 Server unable to accommodate parameters.
    pub const PARAMETERS_NOT_ACCOMMODATED: Self = Self(455);
    /// 500 Syntax error, command unrecognized (also: line too long).
    pub const COMMAND_UNRECOGNIZED: Self = Self(500);
    /// 501 Syntax error in parameters or arguments.
    pub const PARAMETER_SYNTAX_ERROR: Self = Self(501);
    /// 502 Command not implemented (RFC 5321 4.2.4).
    pub const COMMAND_NOT_IMPLEMENTED: Self = Self(502);
    /// 503 Bad sequence of commands.
    pub const BAD_SEQUENCE: Self = Self(503);
    /// 504 Command parameter not implemented.
    pub const PARAMETER_NOT_IMPLEMENTED: Self = Self(504);
    /// 530 Authentication required (RFC 4954 6).
    pub const AUTH_REQUIRED: Self = Self(530);
    /// 534 Authentication mechanism is too weak (RFC 4954 6).
    pub const AUTH_MECHANISM_TOO_WEAK: Self = Self(534);
    /// 535 Authentication credentials invalid (RFC 4954 6).
    pub const AUTH_CREDENTIALS_INVALID: Self = Self(535);
    /// 538 Encryption required for the requested authentication mechanism (RFC 4954 6).
    pub const ENCRYPTION_REQUIRED: Self = Self(538);
    /// 550 Requested action not taken: mailbox unavailable (not found, no access, policy).
    pub const MAILBOX_UNAVAILABLE: Self = Self(550);
    /// 551 User not local; please try another path.
    pub const USER_NOT_LOCAL: Self = Self(551);
    /// 552 Requested mail action aborted: exceeded storage allocation.
    pub const EXCEEDED_STORAGE: Self = Self(552);
    /// 553 Requested action not taken: mailbox name not allowed.
    pub const MAILBOX_NAME_NOT_ALLOWED: Self = Self(553);
    /// 554 Transaction failed (or, as a greeting, no SMTP service here).
    pub const TRANSACTION_FAILED: Self = Self(554);
    /// 555 MAIL FROM/RCPT TO parameters not recognized or not implemented.
    pub const PARAMETERS_NOT_RECOGNIZED: Self = Self(555);

    /// Checks `code` against RFC 5321 4.2: first digit 2 to 5, second 0 to 5, third 0 to 9.
    pub const fn new(code: u16) -> Result<Self, InvalidValue> {
        if code < 200 || code > 599 {
            return Err(InvalidValue::Malformed {
                what: "reply code",
                offset: 0,
                reason: "first digit is not 2 to 5",
            });
        }
        if (code / 10) % 10 > 5 {
            return Err(InvalidValue::Malformed {
                what: "reply code",
                offset: 1,
                reason: "second digit is not 0 to 5",
            });
        }
        Ok(Self(code))
    }

    /// Reads the three digits at the start of `digits`; `Err` gives the offset of the first
    /// one that is wrong (3 when fewer than three arrived).
    #[inline]
    pub(crate) fn from_digits(digits: &[u8]) -> Result<Self, usize> {
        match *digits {
            [a @ b'2'..=b'5', b @ b'0'..=b'5', c @ b'0'..=b'9', ..] => Ok(Self(
                u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'),
            )),
            _ => {
                let head = digits.get(..3).unwrap_or(digits);
                Err(reply_code_error(head).unwrap_or(head.len()))
            }
        }
    }

    /// The number.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// What the first digit says.
    pub const fn class(self) -> ReplyClass {
        match self.0 / 100 {
            2 => ReplyClass::Positive,
            3 => ReplyClass::Intermediate,
            4 => ReplyClass::TransientNegative,
            _ => ReplyClass::PermanentNegative,
        }
    }

    /// The first digit, 2 to 5.
    pub const fn first_digit(self) -> u8 {
        // 200..=599 by construction, so the quotient is 2 to 5.
        (self.0 / 100) as u8
    }

    /// The three digits as ASCII.
    pub(crate) const fn digits(self) -> [u8; 3] {
        [
            b'0' + (self.0 / 100) as u8,
            b'0' + (self.0 / 10 % 10) as u8,
            b'0' + (self.0 % 10) as u8,
        ]
    }
}

/// The offset of the first octet of `digits` (at most three) that cannot start a reply code.
pub(crate) fn reply_code_error(digits: &[u8]) -> Option<usize> {
    let ranges = [b'2'..=b'5', b'0'..=b'5', b'0'..=b'9'];
    digits
        .iter()
        .zip(ranges)
        .position(|(digit, range)| !range.contains(digit))
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl TryFrom<u16> for ReplyCode {
    type Error = InvalidValue;
    fn try_from(code: u16) -> Result<Self, InvalidValue> {
        Self::new(code)
    }
}

impl From<ReplyCode> for u16 {
    fn from(code: ReplyCode) -> u16 {
        code.0
    }
}

/// An enhanced mail system status code (RFC 3463 2): `class "." subject "." detail`, the class
/// 2 (success), 4 (persistent transient failure) or 5 (permanent failure), subject and detail
/// of one to three digits without leading zeros. Shown as `5.1.1`.
///
/// ```
/// use smtp_proto::types::EnhancedStatus;
///
/// let status: EnhancedStatus = "5.1.1".parse()?;
/// assert_eq!(status, EnhancedStatus::BAD_DESTINATION_MAILBOX);
/// assert_eq!(status.to_string(), "5.1.1");
/// assert!("3.1.1".parse::<EnhancedStatus>().is_err());
/// assert!("5.01.1".parse::<EnhancedStatus>().is_err());
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnhancedStatus {
    class: u8,
    subject: u16,
    detail: u16,
}

impl EnhancedStatus {
    /// 2.0.0 Other or undefined status: success.
    pub const SUCCESS: Self = Self::known(2, 0, 0);
    /// 2.1.0 Other address status: the sender is accepted.
    pub const SENDER_OK: Self = Self::known(2, 1, 0);
    /// 2.1.5 Destination address valid: the recipient is accepted.
    pub const RECIPIENT_OK: Self = Self::known(2, 1, 5);
    /// 2.6.0 Other media status: by custom, the message is accepted.
    pub const MESSAGE_ACCEPTED: Self = Self::known(2, 6, 0);
    /// 2.7.0 Other security status: by custom, authentication succeeded (RFC 4954 6).
    pub const AUTH_SUCCEEDED: Self = Self::known(2, 7, 0);
    /// 4.2.2 Mailbox full, for now.
    pub const MAILBOX_FULL_TRANSIENT: Self = Self::known(4, 2, 2);
    /// 4.3.0 Other or undefined mail system status, transient.
    pub const SYSTEM_TRANSIENT: Self = Self::known(4, 3, 0);
    /// 4.3.1 Mail system full.
    pub const SYSTEM_FULL: Self = Self::known(4, 3, 1);
    /// 4.4.5 Mail system congestion.
    pub const CONGESTION: Self = Self::known(4, 4, 5);
    /// 4.5.3 Too many recipients, try the rest later (RFC 5321 4.5.3.1.10).
    pub const TOO_MANY_RECIPIENTS_TRANSIENT: Self = Self::known(4, 5, 3);
    /// 4.7.0 Other security status, transient: temporary authentication failure (RFC 4954 6).
    pub const SECURITY_TRANSIENT: Self = Self::known(4, 7, 0);
    /// 5.0.0 Other or undefined status: permanent failure.
    pub const PERMANENT_FAILURE: Self = Self::known(5, 0, 0);
    /// 5.1.1 Bad destination mailbox address.
    pub const BAD_DESTINATION_MAILBOX: Self = Self::known(5, 1, 1);
    /// 5.1.2 Bad destination system address.
    pub const BAD_DESTINATION_SYSTEM: Self = Self::known(5, 1, 2);
    /// 5.1.3 Bad destination mailbox address syntax.
    pub const BAD_DESTINATION_SYNTAX: Self = Self::known(5, 1, 3);
    /// 5.1.7 Bad sender's mailbox address syntax.
    pub const BAD_SENDER_SYNTAX: Self = Self::known(5, 1, 7);
    /// 5.1.8 Bad sender's system address.
    pub const BAD_SENDER_SYSTEM: Self = Self::known(5, 1, 8);
    /// 5.2.2 Mailbox full.
    pub const MAILBOX_FULL: Self = Self::known(5, 2, 2);
    /// 5.3.4 Message too big for system (RFC 1870 6).
    pub const MESSAGE_TOO_BIG: Self = Self::known(5, 3, 4);
    /// 5.5.1 Invalid command.
    pub const INVALID_COMMAND: Self = Self::known(5, 5, 1);
    /// 5.5.2 Syntax error.
    pub const SYNTAX_ERROR: Self = Self::known(5, 5, 2);
    /// 5.5.3 Too many recipients.
    pub const TOO_MANY_RECIPIENTS: Self = Self::known(5, 5, 3);
    /// 5.5.4 Invalid command arguments.
    pub const INVALID_ARGUMENTS: Self = Self::known(5, 5, 4);
    /// 5.5.6 Authentication exchange line too long (RFC 4954 6).
    pub const AUTH_LINE_TOO_LONG: Self = Self::known(5, 5, 6);
    /// 5.6.7 Non-ASCII addresses not permitted for that sender or recipient (RFC 6531 3.5).
    pub const NON_ASCII_NOT_PERMITTED: Self = Self::known(5, 6, 7);
    /// 5.7.0 Other security status: authentication required (RFC 4954 6).
    pub const SECURITY: Self = Self::known(5, 7, 0);
    /// 5.7.1 Delivery not authorized, message refused.
    pub const NOT_AUTHORIZED: Self = Self::known(5, 7, 1);
    /// 5.7.8 Authentication credentials invalid (RFC 4954 6).
    pub const AUTH_CREDENTIALS_INVALID: Self = Self::known(5, 7, 8);
    /// 5.7.9 Authentication mechanism is too weak (RFC 4954 6).
    pub const AUTH_MECHANISM_TOO_WEAK: Self = Self::known(5, 7, 9);
    /// 5.7.11 Encryption required for the requested authentication mechanism (RFC 4954 6).
    pub const ENCRYPTION_REQUIRED: Self = Self::known(5, 7, 11);
    /// 5.7.30 REQUIRETLS support required (RFC 8689 4.2.1).
    pub const REQUIRETLS_REQUIRED: Self = Self::known(5, 7, 30);

    /// For the constants above, which are valid by inspection.
    const fn known(class: u8, subject: u16, detail: u16) -> Self {
        Self {
            class,
            subject,
            detail,
        }
    }

    /// Checks the parts: class 2, 4 or 5; subject and detail at most 999 (three digits).
    pub const fn new(class: u8, subject: u16, detail: u16) -> Result<Self, InvalidValue> {
        let reason = if !matches!(class, 2 | 4 | 5) {
            "class is not 2, 4 or 5"
        } else if subject > 999 {
            "subject longer than three digits"
        } else if detail > 999 {
            "detail longer than three digits"
        } else {
            return Ok(Self::known(class, subject, detail));
        };
        Err(InvalidValue::Malformed {
            what: "enhanced status code",
            offset: 0,
            reason,
        })
    }

    /// The class: 2, 4 or 5.
    pub const fn class(self) -> u8 {
        self.class
    }

    /// The subject: 0 to 999.
    pub const fn subject(self) -> u16 {
        self.subject
    }

    /// The detail: 0 to 999.
    pub const fn detail(self) -> u16 {
        self.detail
    }

    /// Whether it agrees with `code`: the class equals the code's first digit (RFC 2034 4).
    pub const fn agrees_with(self, code: ReplyCode) -> bool {
        self.class == code.first_digit()
    }
}

/// Reads `status-code` at the start of `text`, followed by a space or the end; gives the code
/// and its length (without the space).
#[inline(always)]
pub(crate) fn parse_status_prefix(text: &[u8]) -> Option<(EnhancedStatus, usize)> {
    // Most codes are one digit each and have text after them (`2.1.0 Ok`): their six octets
    // are checked as one word, in place.
    if let Some(head) = text.get(..6) {
        if let Some(status) = short_status(head) {
            return Some((status, 5));
        }
    }
    parse_status_prefix_apart(text)
}

/// [`parse_status_prefix`] for any other text, apart from its callers: the grammar read octet
/// by octet (RFC 3463 2: each of subject and detail 1 to 3 digits, no leading zero).
#[inline(never)]
fn parse_status_prefix_apart(text: &[u8]) -> Option<(EnhancedStatus, usize)> {
    let class = match text.first()? {
        b'2' => 2,
        b'4' => 4,
        b'5' => 5,
        _ => return None,
    };
    if text.get(1) != Some(&b'.') {
        return None;
    }
    let (subject, subject_len) = sub_code(text.get(2..)?)?;
    let at = 2 + subject_len;
    if text.get(at) != Some(&b'.') {
        return None;
    }
    let (detail, detail_len) = sub_code(text.get(at + 1..)?)?;
    let end = at + 1 + detail_len;
    match text.get(end) {
        None | Some(b' ') => Some((EnhancedStatus::known(class, subject, detail), end)),
        _ => None,
    }
}

/// `class "." digit "." digit SP` in the six octets of `head`, read as one word: the dots and
/// the space compared at once, the three digits checked at once (each octet XOR `0` is below
/// 10: no bit of its high half set, even once 6 is added).
#[inline(always)]
fn short_status(head: &[u8]) -> Option<EnhancedStatus> {
    const DIGITS: u64 = 0x00_ff_00_ff_00_ff;
    const FIXED: u64 = 0xff_00_ff_00_ff_00;
    const SEPARATORS: u64 = u64::from_le_bytes([0, b'.', 0, b'.', 0, b' ', 0, 0]);
    const ZEROS: u64 = u64::from_le_bytes([b'0', 0, b'0', 0, b'0', 0, 0, 0]);
    const HIGH_HALVES: u64 = 0x00_f0_00_f0_00_f0;
    let mut octets = [0u8; 8];
    octets.get_mut(..6)?.copy_from_slice(head);
    let word = u64::from_le_bytes(octets);
    let digits = (word & DIGITS) ^ ZEROS;
    let not_digits = (digits | (digits + 0x06_00_06_00_06)) & HIGH_HALVES;
    if word & FIXED != SEPARATORS || not_digits != 0 {
        return None;
    }
    // Octets 0, 2 and 4, each 0 to 9; the class must be 2, 4 or 5.
    let class = (digits & 0xff) as u8;
    if (0b11_0100u16 >> class) & 1 == 0 {
        return None;
    }
    Some(EnhancedStatus::known(
        class,
        ((digits >> 16) & 0xff) as u16,
        ((digits >> 32) & 0xff) as u16,
    ))
}

/// `1*3digit` without a leading zero (RFC 3463 2), at the start of `text`: the digits one by
/// one (a fourth digit or a leading zero refuses it), without counting them first.
#[inline]
fn sub_code(text: &[u8]) -> Option<(u16, usize)> {
    let digit = |at: usize| {
        text.get(at)
            .filter(|b| b.is_ascii_digit())
            .map(|b| u16::from(b - b'0'))
    };
    let first = digit(0)?;
    let Some(second) = digit(1) else {
        return Some((first, 1));
    };
    if first == 0 {
        return None;
    }
    let Some(third) = digit(2) else {
        return Some((first * 10 + second, 2));
    };
    if digit(3).is_some() {
        return None;
    }
    Some((first * 100 + second * 10 + third, 3))
}

impl fmt::Display for EnhancedStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

impl FromStr for EnhancedStatus {
    type Err = InvalidValue;
    fn from_str(text: &str) -> Result<Self, InvalidValue> {
        match parse_status_prefix(text.as_bytes()) {
            Some((status, len)) if len == text.len() => Ok(status),
            _ => Err(InvalidValue::Malformed {
                what: "enhanced status code",
                offset: 0,
                reason: "not class.subject.detail (RFC 3463)",
            }),
        }
    }
}

/// One line of reply text (RFC 5321 4.2: `textstring = 1*(%d09 / %d32-126)`), with UTF-8
/// allowed as RFC 6531 3.7.4.2 does. CR, LF, NUL, DEL and every other control character but HT
/// are refused. It may be empty: `250` alone is a reply (RFC 5321 4.2 asks clients to accept
/// the code without text).
///
/// ```
/// use smtp_proto::types::ReplyText;
///
/// assert!(ReplyText::new("Requested mail action okay").is_ok());
/// assert!(ReplyText::new("").is_ok());
/// assert!(ReplyText::new("ok\r\nDATA").is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ReplyText<'a>(Cow<'a, str>);

impl<'a> ReplyText<'a> {
    /// Checks `text`.
    pub fn new(text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        let text = text.into();
        check_reply_text(&text, true)?;
        Ok(Self(text))
    }

    /// For text the caller has checked with the same rule.
    pub(crate) const fn checked(text: &'a str) -> Self {
        Self(Cow::Borrowed(text))
    }

    /// For text, borrowed or owned, that the caller has checked.
    pub(crate) fn checked_cow(text: Cow<'a, str>) -> Self {
        Self(text)
    }

    /// Drops the first `n` octets (an ASCII prefix the decoder recognised).
    pub(crate) fn drop_front(&mut self, n: usize) {
        match &mut self.0 {
            Cow::Borrowed(text) => *text = text.get(n..).unwrap_or_default(),
            Cow::Owned(text) => *text = String::from(text.get(n..).unwrap_or_default()),
        }
    }

    /// The empty text.
    pub const fn empty() -> ReplyText<'static> {
        ReplyText(Cow::Borrowed(""))
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether it is all ASCII (usable without SMTPUTF8).
    pub fn is_ascii(&self) -> bool {
        self.0.is_ascii()
    }

    /// The text, borrowed or owned as it was.
    pub fn into_inner(self) -> Cow<'a, str> {
        self.0
    }

    /// The same text, owning its characters.
    pub fn into_owned(self) -> ReplyText<'static> {
        ReplyText(Cow::Owned(self.0.into_owned()))
    }
}

/// Control characters other than HT, which no reply text may hold.
const fn is_control(byte: u8) -> bool {
    (byte < 0x20 && byte != b'\t') || byte == 0x7f
}

/// Checks reply text: no control character but HT; non-ASCII only with `utf8` (RFC 6531).
pub(crate) fn check_reply_text(text: &str, utf8: bool) -> Result<(), InvalidValue> {
    match text
        .bytes()
        .position(|b| is_control(b) || (!utf8 && b >= 0x80))
    {
        Some(at) => Err(InvalidValue::at("reply text", text, at, utf8)),
        None => Ok(()),
    }
}

impl fmt::Display for ReplyText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for ReplyText<'_> {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl<'a> TryFrom<&'a str> for ReplyText<'a> {
    type Error = InvalidValue;
    fn try_from(text: &'a str) -> Result<Self, InvalidValue> {
        Self::new(text)
    }
}

impl TryFrom<String> for ReplyText<'static> {
    type Error = InvalidValue;
    fn try_from(text: String) -> Result<Self, InvalidValue> {
        Self::new(text)
    }
}

/// A reply (RFC 5321 4.2): a code, an optional enhanced status code (RFC 2034) and one or more
/// lines of text. The status code, when present, is the same on every line and is kept apart
/// from the text.
///
/// Encoding ([`encode_reply`](crate::codec::encode_reply)) writes `code-text` for every line but
/// the last and `code SP text` for the last, and splits a line that would be longer than 512
/// octets (RFC 5321 4.5.3.1.5) into several.
///
/// ```
/// use smtp_proto::types::{EnhancedStatus, Reply, ReplyCode};
///
/// let reply = Reply::with_status(ReplyCode::OK, EnhancedStatus::SENDER_OK, "Ok")?;
/// assert!(reply.is_positive());
/// assert_eq!(reply.to_string(), "250 2.1.0 Ok");
///
/// let help = Reply::from_lines(ReplyCode::HELP, ["Commands:", "HELO EHLO MAIL RCPT DATA"])?;
/// assert_eq!(help.lines().len(), 2);
/// # Ok::<(), smtp_proto::types::InvalidValue>(())
/// ```
#[derive(Debug, Clone)]
pub struct Reply<'a> {
    code: ReplyCode,
    status: Option<EnhancedStatus>,
    lines: Lines<'a>,
}

/// The lines of a reply: most replies have one, which then needs no allocation.
#[derive(Debug, Clone)]
enum Lines<'a> {
    One(ReplyText<'a>),
    /// Never empty.
    Many(Vec<ReplyText<'a>>),
}

impl<'a> Lines<'a> {
    fn as_slice(&self) -> &[ReplyText<'a>] {
        match self {
            Self::One(line) => core::slice::from_ref(line),
            Self::Many(lines) => lines,
        }
    }

    fn push(&mut self, line: ReplyText<'a>) {
        match self {
            Self::One(first) => {
                let mut lines = Vec::with_capacity(4);
                lines.push(core::mem::take(first));
                lines.push(line);
                *self = Self::Many(lines);
            }
            Self::Many(lines) => lines.push(line),
        }
    }
}

impl<'a> Reply<'a> {
    /// A reply with one line of text (checked as [`ReplyText::new`] does); see
    /// [`from_text`](Self::from_text).
    pub fn new(code: ReplyCode, text: impl Into<Cow<'a, str>>) -> Result<Self, InvalidValue> {
        Ok(Self::from_text(code, ReplyText::new(text)?))
    }

    /// A reply with one line of checked text, held as the decoder would read it back: text
    /// that starts with an enhanced status code agreeing with `code` (`550 5.1.1 unknown`)
    /// gives the reply that status (RFC 3463, RFC 2034 4), and text longer than
    /// [`MAX_REPLY_TEXT`] is split into lines as [`encode_reply`] splits it (at a space where
    /// there is one).
    ///
    /// [`encode_reply`]: crate::codec::encode_reply
    ///
    /// ```
    /// use smtp_proto::types::{EnhancedStatus, Reply, ReplyCode, ReplyText};
    ///
    /// let reply = Reply::from_text(ReplyCode::MAILBOX_UNAVAILABLE, ReplyText::new("5.1.1 No such user")?);
    /// assert_eq!(reply.status(), Some(EnhancedStatus::BAD_DESTINATION_MAILBOX));
    /// assert_eq!(reply.lines()[0].as_str(), "No such user");
    /// # Ok::<(), smtp_proto::types::InvalidValue>(())
    /// ```
    pub fn from_text(code: ReplyCode, text: ReplyText<'a>) -> Self {
        if text.as_str().len() <= MAX_REPLY_TEXT && status_prefix(code, &text).is_none() {
            return Self {
                code,
                status: None,
                lines: Lines::One(text),
            };
        }
        Self::canonical(code, None, alloc::vec![text])
    }

    /// A reply with an enhanced status code, which must agree with the reply code (RFC 2034
    /// 4: a 2yz reply carries 2.x.x, and so on; a 3yz reply carries none). The text is taken
    /// as it is (a status code at its start stays text); a long one is split as in
    /// [`from_text`](Self::from_text).
    pub fn with_status(
        code: ReplyCode,
        status: EnhancedStatus,
        text: impl Into<Cow<'a, str>>,
    ) -> Result<Self, InvalidValue> {
        let text = ReplyText::new(text)?;
        if !status.agrees_with(code) {
            return Err(disagreeing_status());
        }
        Ok(Self::canonical(code, Some(status), alloc::vec![text]))
    }

    /// A reply of several lines; none at all gives one empty line. As in
    /// [`from_text`](Self::from_text), a status code agreeing with `code` at the start of
    /// every line is the reply's status, and long lines are split.
    pub fn from_lines<I>(code: ReplyCode, lines: I) -> Result<Self, InvalidValue>
    where
        I: IntoIterator,
        I::Item: Into<Cow<'a, str>>,
    {
        let checked = lines
            .into_iter()
            .map(ReplyText::new)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::canonical(code, None, checked))
    }

    /// A reply as the decoder reads back its encoding: with no `status`, one agreeing with
    /// `code` at the start of every line is taken out of the text (as the decoder does), and
    /// lines longer than [`MAX_REPLY_TEXT`] are split (as the encoder does).
    fn canonical(
        code: ReplyCode,
        mut status: Option<EnhancedStatus>,
        mut lines: Vec<ReplyText<'a>>,
    ) -> Self {
        if status.is_none() {
            status = lift_status(code, &mut lines);
        }
        let mut split = Vec::with_capacity(lines.len());
        for line in lines {
            split_line(line, &mut split);
        }
        Self::decoded_many(code, status, split)
    }

    /// Puts `status` on the reply; it must agree with the code (RFC 2034 4).
    pub fn set_status(mut self, status: EnhancedStatus) -> Result<Self, InvalidValue> {
        if !status.agrees_with(self.code) {
            return Err(disagreeing_status());
        }
        self.status = Some(status);
        Ok(self)
    }

    /// The reply with `status` if it agrees with the code (RFC 2034 4), unchanged otherwise.
    pub(crate) fn with_agreeing_status(mut self, status: EnhancedStatus) -> Self {
        if status.agrees_with(self.code) {
            self.status = Some(status);
        }
        self
    }

    /// Adds a line at the end (split if longer than [`MAX_REPLY_TEXT`], as the encoder would
    /// split it).
    pub fn push_line(&mut self, text: ReplyText<'a>) {
        if text.as_str().len() <= MAX_REPLY_TEXT {
            return self.lines.push(text);
        }
        let mut split = Vec::new();
        split_line(text, &mut split);
        for line in split {
            self.lines.push(line);
        }
    }

    /// A reply of one line assembled by the decoder (a status that disagrees with the code is
    /// dropped).
    pub(crate) fn decoded_one(
        code: ReplyCode,
        status: Option<EnhancedStatus>,
        line: ReplyText<'a>,
    ) -> Self {
        Self::decoded_agreeing(code, status.filter(|s| s.agrees_with(code)), line)
    }

    /// A reply of one line assembled by the decoder, whose status (if any) agrees with the
    /// code already.
    #[inline(always)]
    pub(crate) fn decoded_agreeing(
        code: ReplyCode,
        status: Option<EnhancedStatus>,
        line: ReplyText<'a>,
    ) -> Self {
        Self {
            code,
            status,
            lines: Lines::One(line),
        }
    }

    /// A reply of several lines assembled by the decoder.
    pub(crate) fn decoded_many(
        code: ReplyCode,
        status: Option<EnhancedStatus>,
        mut lines: Vec<ReplyText<'a>>,
    ) -> Self {
        let lines = match lines.len() {
            0 | 1 => Lines::One(lines.pop().unwrap_or_default()),
            _ => Lines::Many(lines),
        };
        Self {
            code,
            status: status.filter(|s| s.agrees_with(code)),
            lines,
        }
    }

    /// The reply code.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The enhanced status code, if the reply has one.
    pub fn status(&self) -> Option<EnhancedStatus> {
        self.status
    }

    /// The lines of text, without codes; at least one.
    pub fn lines(&self) -> &[ReplyText<'a>] {
        self.lines.as_slice()
    }

    /// The lines, taken out of the reply.
    pub fn into_lines(self) -> Vec<ReplyText<'a>> {
        match self.lines {
            Lines::One(line) => vec![line],
            Lines::Many(lines) => lines,
        }
    }

    /// What the first digit says.
    pub fn class(&self) -> ReplyClass {
        self.code.class()
    }

    /// 2yz: done.
    pub fn is_positive(&self) -> bool {
        self.class() == ReplyClass::Positive
    }

    /// 3yz: go on.
    pub fn is_intermediate(&self) -> bool {
        self.class() == ReplyClass::Intermediate
    }

    /// 4yz: failed for now.
    pub fn is_transient_negative(&self) -> bool {
        self.class() == ReplyClass::TransientNegative
    }

    /// 5yz: failed for good.
    pub fn is_permanent_negative(&self) -> bool {
        self.class() == ReplyClass::PermanentNegative
    }

    /// The same reply, owning its text.
    pub fn into_owned(self) -> Reply<'static> {
        Reply {
            code: self.code,
            status: self.status,
            lines: match self.lines {
                Lines::One(line) => Lines::One(line.into_owned()),
                Lines::Many(lines) => {
                    Lines::Many(lines.into_iter().map(ReplyText::into_owned).collect())
                }
            },
        }
    }
}

impl PartialEq for Reply<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.code == other.code && self.status == other.status && self.lines() == other.lines()
    }
}

impl Eq for Reply<'_> {}

impl core::hash::Hash for Reply<'_> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.code.hash(state);
        self.status.hash(state);
        self.lines().hash(state);
    }
}

/// The most text a line of a built [`Reply`] holds: with `250-`, the longest enhanced status
/// code and its space (`5.999.999 `) and CRLF, a line stays within the 512 octets of RFC 5321
/// 4.5.3.1.5, so that encoding never splits it.
pub const MAX_REPLY_TEXT: usize = 512 - 6 - 10;

/// RFC 2034 4: the class of the status code is the first digit of the reply code.
fn disagreeing_status() -> InvalidValue {
    InvalidValue::Malformed {
        what: "enhanced status code",
        offset: 0,
        reason: "class differs from the reply code's first digit",
    }
}

/// The status code at the start of `text` if it agrees with `code`, with its length.
fn status_prefix(code: ReplyCode, text: &ReplyText<'_>) -> Option<(EnhancedStatus, usize)> {
    parse_status_prefix(text.as_str().as_bytes()).filter(|(status, _)| status.agrees_with(code))
}

/// The status code that every line starts with, taken out of the lines with the space after
/// it, as the decoder reads it (RFC 2034 4); `None`, with the lines untouched, if a line has
/// none or another.
fn lift_status(code: ReplyCode, lines: &mut [ReplyText<'_>]) -> Option<EnhancedStatus> {
    let (first, rest) = lines.split_first()?;
    let found = status_prefix(code, first)?;
    if rest
        .iter()
        .any(|line| status_prefix(code, line) != Some(found))
    {
        return None;
    }
    let (status, len) = found;
    for line in lines {
        let strip = len + usize::from(line.as_str().len() > len);
        line.drop_front(strip);
    }
    Some(status)
}

/// Pushes `line` onto `out`, split into pieces of at most [`MAX_REPLY_TEXT`] octets.
fn split_line<'a>(line: ReplyText<'a>, out: &mut Vec<ReplyText<'a>>) {
    if line.as_str().len() <= MAX_REPLY_TEXT {
        return out.push(line);
    }
    // Pieces of checked text cut at character boundaries are checked text.
    match line.into_inner() {
        Cow::Borrowed(text) => {
            let mut rest = text;
            loop {
                let (piece, next) = split_text(rest, MAX_REPLY_TEXT);
                out.push(ReplyText::checked(piece));
                match next {
                    Some(next) => rest = next,
                    None => break,
                }
            }
        }
        Cow::Owned(text) => {
            let mut rest = text.as_str();
            loop {
                let (piece, next) = split_text(rest, MAX_REPLY_TEXT);
                out.push(ReplyText::checked_cow(Cow::Owned(String::from(piece))));
                match next {
                    Some(next) => rest = next,
                    None => break,
                }
            }
        }
    }
}

/// The first piece of `text` that fits in `budget` octets, and the rest if there is any. A
/// split falls on the last space that fits (which is dropped), else on a character boundary.
pub(crate) fn split_text(text: &str, budget: usize) -> (&str, Option<&str>) {
    if text.len() <= budget {
        return (text, None);
    }
    let window = text.as_bytes().get(..=budget).unwrap_or_default();
    if let Some(space) = memchr::memrchr(b' ', window).filter(|&at| at > 0) {
        let (head, tail) = text.split_at(space);
        return (head, Some(tail.get(1..).unwrap_or_default()));
    }
    let mut cut = budget;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let (head, tail) = text.split_at(cut);
    (head, Some(tail))
}

/// Shows the reply as it goes on the wire, without splitting long lines, one line per `\n`
/// and no final line break: `250-first\n250 2.0.0 last`.
impl fmt::Display for Reply<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines = self.lines();
        let last = lines.len().saturating_sub(1);
        for (index, line) in lines.iter().enumerate() {
            if index > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{}", self.code)?;
            if index != last {
                f.write_str("-")?;
            } else if self.status.is_some() || !line.is_empty() {
                f.write_str(" ")?;
            }
            if let Some(status) = self.status {
                write!(f, "{status}")?;
                if !line.is_empty() {
                    f.write_str(" ")?;
                }
            }
            f.write_str(line.as_str())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
