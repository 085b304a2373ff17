//! Validated POP3 values. A value that exists is valid: constructors refuse CR, LF and NUL and
//! whatever else the grammar forbids (RFC 1939 3, RFC 2449 3), so no field can carry a command
//! or a response into the stream, and encoding cannot fail. Values that share a line are checked
//! together where the line has a limit: a [`Response`]'s code and text, and a [`Capability`]'s
//! parameters, fit in 512 octets.

mod capability;
mod command;
mod language;
mod response;
mod text;

pub use capability::{
    CapaParam, CapaTag, Capability, Expire, ImplementationText, MAX_IMPLEMENTATION,
    OtherCapability, SaslMechanisms,
};
pub use command::{ApopDigest, Command, MessageNumber, Username, Verb};
pub use language::{LanguageListing, LanguageTag};
pub use response::{KnownCode, Response, ResponseCode, ScanListing, Status, UidListing, UniqueId};
pub use text::{InvalidValue, MAX_ARGUMENT, MAX_TEXT, Mechanism, Text, Timestamp};

pub(crate) use response::{escapes, line_length};
pub(crate) use text::{COMMAND_LINE, RESPONSE_LINE};

pub(crate) use command::check_secret;
pub(crate) use text::whole_number;
