//! The `serde` feature: `Serialize` and `Deserialize` for the validated values.
//!
//! A value with one canonical text (a domain, a mailbox, a path, a reply's text, a parameter
//! list as it follows the path) is serialized as that text; the others as structures, through
//! derives on the types. Deserializing always goes through the checks of the constructors or of
//! the decoder, so a bad value is a serde error, never an invalid value, and what deserializes
//! owns its text (any lifetime will do). Credentials are left out: an `AUTH` initial response
//! (RFC 4954 4, a password in base64 for PLAIN) is never serialized nor deserialized.

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use serde::de::Error as _;
use serde::ser::SerializeStruct;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::capability::{
    Capability, EhloKeyword, EhloParam, Extension, Limit, MalformedCapability, PriorityProfile,
    parse_capability,
};
use super::command::{Argument, EtrnNode, Lookup, Mechanism, QueueName, Url, Verb};
use super::command::{parse_etrn_node, smtputf8_suffix};
use super::reply::{EnhancedStatus, Reply, ReplyCode, ReplyText};
use super::{
    AddressLiteral, AuthMailbox, DateTime, Domain, EnvelopeId, ExtensionParameters, ForwardPath,
    Host, InvalidValue, LocalPart, MailParameters, Mailbox, OriginalRecipient, Parameter, Path,
    RcptParameters, ReversePath, XText,
};

/// Reads a string, then makes the value with `make`, whose error becomes the serde error.
fn from_text<'de, D, T, E>(
    deserializer: D,
    make: impl FnOnce(String) -> Result<T, E>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    E: fmt::Display,
{
    let text = String::deserialize(deserializer)?;
    make(text).map_err(D::Error::custom)
}

/// `Serialize` as `$text(self)` and `Deserialize` through `$make(String)`, for types with a
/// lifetime.
macro_rules! as_text {
    ($($name:ident: $text:expr, $make:expr;)+) => {$(
        /// Serialized as its text.
        impl Serialize for $name<'_> {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let text: &dyn fmt::Display = &($text)(self);
                serializer.collect_str(text)
            }
        }

        /// Deserialized from its text, owned, through the same checks as the constructors.
        impl<'de> Deserialize<'de> for $name<'_> {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                // Made owned, then taken for any lifetime.
                let value: Result<$name<'static>, D::Error> = from_text(deserializer, $make);
                value
            }
        }
    )+};
}

/// The text of a value that is its own text.
fn itself<T: fmt::Display>(value: &T) -> &T {
    value
}

as_text! {
    Domain: itself, |text: String| Domain::new(text);
    Host: itself, |text: String| Host::new(text);
    LocalPart: itself, |text: String| LocalPart::new(text);
    Mailbox: itself, Mailbox::try_from;
    Path: path_text, Path::try_from;
    ReversePath: reverse_path_text, ReversePath::try_from;
    ForwardPath: forward_path_text, ForwardPath::try_from;
    AddressLiteral: itself, address_literal;
    ReplyText: itself, |text: String| ReplyText::new(text);
    Argument: itself, |text: String| Argument::new(text);
    Lookup: itself, lookup;
    Url: itself, |text: String| Url::new(text);
    EtrnNode: itself, |text: String| parse_etrn_node(&text, true).map(EtrnNode::into_owned);
    QueueName: QueueName::as_str, |text: String| QueueName::new(text);
    Mechanism: itself, |text: String| Mechanism::new(text);
    Verb: Verb::as_str, |text: String| Verb::new(text);
    EhloKeyword: itself, |text: String| EhloKeyword::new(text);
    EhloParam: itself, |text: String| EhloParam::new(text);
    PriorityProfile: itself, |text: String| PriorityProfile::new(text);
    Limit: itself, |text: String| Limit::new(text);
    MalformedCapability: malformed_text, malformed;
    DateTime: itself, |text: String| DateTime::new(text);
    XText: XText::as_str, |text: String| XText::new(text);
    EnvelopeId: EnvelopeId::as_str, |text: String| EnvelopeId::new(&text);
    AuthMailbox: AuthMailbox::as_str, |text: String| AuthMailbox::new(&text);
    OriginalRecipient: itself, |text: String| OriginalRecipient::parse(&text);
    Parameter: itself, |text: String| Parameter::parse(&text);
    MailParameters: parameters_text, |text: String| text.parse::<MailParameters<'static>>();
    RcptParameters: parameters_text, |text: String| text.parse::<RcptParameters<'static>>();
}

/// A path as it is encoded: a source route (RFC 5321 4.1.2, accepted and ignored) is dropped,
/// as [`Path::parse`] and the encoder drop it.
fn path_text(path: &Path<'_>) -> String {
    path.to_string()
}

fn reverse_path_text(path: &ReversePath<'_>) -> String {
    match path {
        ReversePath::Null => String::from("<>"),
        ReversePath::Path(path) => path_text(path),
    }
}

fn forward_path_text(path: &ForwardPath<'_>) -> String {
    match path {
        ForwardPath::Postmaster => String::from("<Postmaster>"),
        ForwardPath::Path(path) => path_text(path),
    }
}

/// `[192.0.2.1]`, as in a mailbox or EHLO (RFC 5321 4.1.3).
fn address_literal(text: String) -> Result<AddressLiteral<'static>, InvalidValue> {
    match Host::new(text)? {
        Host::Literal(literal) => Ok(*literal),
        Host::Domain(_) => Err(InvalidValue::Malformed {
            what: "address literal",
            offset: 0,
            reason: "not in brackets",
        }),
    }
}

/// `string [SMTPUTF8]` as VRFY and EXPN send it (RFC 6531 3.7.4.2).
fn lookup(text: String) -> Result<Lookup<'static>, InvalidValue> {
    match smtputf8_suffix(&text) {
        Some(at) => {
            Ok(Lookup::new(String::from(text.get(..at).unwrap_or_default()))?.with_smtputf8(true))
        }
        None => Lookup::new(text),
    }
}

/// A parameter list as it follows the path, without the first space.
fn parameters_text(parameters: &impl fmt::Display) -> String {
    let text = parameters.to_string();
    match text.strip_prefix(' ') {
        Some(rest) => String::from(rest),
        None => text,
    }
}

/// The EHLO line of a malformed capability; read back by the decoder, which gives the reason.
fn malformed_text(malformed: &MalformedCapability<'_>) -> String {
    Capability::Malformed(Box::new(malformed.clone())).to_string()
}

fn malformed(text: String) -> Result<MalformedCapability<'static>, InvalidValue> {
    match parse_capability(&text)? {
        Capability::Malformed(malformed) => Ok(malformed.into_owned()),
        _ => Err(InvalidValue::Malformed {
            what: "malformed capability",
            offset: 0,
            reason: "a well-formed capability",
        }),
    }
}

/// Serialized as the number.
impl Serialize for ReplyCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u16(self.get())
    }
}

/// Deserialized from a number, checked as [`ReplyCode::new`] does (RFC 5321 4.2).
impl<'de> Deserialize<'de> for ReplyCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::new(u16::deserialize(deserializer)?).map_err(D::Error::custom)
    }
}

/// Serialized as `class.subject.detail`.
impl Serialize for EnhancedStatus {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// Deserialized from `class.subject.detail` (RFC 3463 2).
impl<'de> Deserialize<'de> for EnhancedStatus {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_text(deserializer, |text| text.parse::<EnhancedStatus>())
    }
}

/// Serialized as its keyword, `PIPELINING`.
impl Serialize for Extension {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.keyword())
    }
}

/// Deserialized from its keyword, in any case.
impl<'de> Deserialize<'de> for Extension {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        from_text(deserializer, |text| {
            Extension::from_keyword(&text).ok_or("not an extension this crate knows")
        })
    }
}

/// Serialized as `{"code": 250, "status": "2.1.0", "lines": ["Ok"]}`.
impl Serialize for Reply<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut reply = serializer.serialize_struct("Reply", 3)?;
        reply.serialize_field("code", &self.code())?;
        reply.serialize_field("status", &self.status())?;
        reply.serialize_field("lines", self.lines())?;
        reply.end()
    }
}

/// The fields of a [`Reply`], before they are checked together.
#[derive(Deserialize)]
#[serde(rename = "Reply")]
struct ReplyFields<'a> {
    code: ReplyCode,
    #[serde(default)]
    status: Option<EnhancedStatus>,
    lines: Vec<ReplyText<'a>>,
}

/// Deserialized through the constructors: each line checked as [`ReplyText::new`] does, the
/// status agreeing with the code (RFC 2034 4); no lines at all is one empty line.
impl<'de> Deserialize<'de> for Reply<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let fields = ReplyFields::deserialize(deserializer)?;
        let mut lines = fields.lines.into_iter();
        let mut reply = Reply::from_text(fields.code, lines.next().unwrap_or_default());
        for line in lines {
            reply.push_line(line);
        }
        match fields.status {
            Some(status) => reply.set_status(status).map_err(D::Error::custom),
            None => Ok(reply),
        }
    }
}

/// Serialized as the list of parameters, `["X-TAG=blue", "XVERP"]`.
impl Serialize for ExtensionParameters<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(serializer)
    }
}

/// Deserialized from a list, each keyword at most once (RFC 5321 4.1.2).
impl<'de> Deserialize<'de> for ExtensionParameters<'_> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let list = Vec::<Parameter<'_>>::deserialize(deserializer)?;
        Self::try_from(list).map_err(D::Error::custom)
    }
}

/// `serde` for the initial response of `Command::Auth`: a credential, never serialized.
pub(crate) fn refuse_credential<S: Serializer, T>(
    credential: &Option<T>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match credential {
        None => serializer.serialize_none(),
        Some(_) => Err(serde::ser::Error::custom(
            "credentials (an AUTH initial response) are not serialized",
        )),
    }
}

/// `serde` for the initial response of `Command::Auth`: not read from serialized data either.
pub(crate) fn refuse_credential_input<'de, D: Deserializer<'de>, T>(
    deserializer: D,
) -> Result<Option<T>, D::Error> {
    match Option::<serde::de::IgnoredAny>::deserialize(deserializer)? {
        None => Ok(None),
        Some(_) => Err(D::Error::custom(
            "credentials (an AUTH initial response) are not deserialized",
        )),
    }
}
