//! Validated values: a value that exists is valid, so encoding it cannot fail or inject.

mod address;
pub(crate) mod chars;
mod command;
mod error;
pub(crate) mod inline_list;
mod params;
#[cfg(feature = "serde")]
mod serde_impls;
pub(crate) mod swar;
mod xtext;

pub use address::{
    AddressLiteral, Domain, ForwardPath, Host, LiteralKind, LocalPart, MAX_DOMAIN, MAX_LABEL,
    MAX_LOCAL_PART, MAX_MAILBOX, MAX_PATH, Mailbox, Path, ReversePath,
};
pub(crate) use address::{parse_domain, parse_forward_path, parse_host, parse_reverse_path};
pub(crate) use command::check_argument;
pub(crate) use command::parse_etrn_node;
pub(crate) use command::smtputf8_suffix;
pub use command::{
    Argument, Command, EtrnNode, InitialResponse, Lookup, MAX_QUEUE_NAME, Mechanism, QueueName,
    Url, Verb,
};
pub use error::InvalidValue;
pub use params::{
    AuthMailbox, Body, ByMode, DateTime, DeliverBy, DuplicateParameter, EnvelopeId,
    ExtensionParameters, Hold, HoldFor, MAX_ENVID, MAX_ORCPT, MailParameters, Notify, NotifyEvents,
    OriginalRecipient, Parameter, Priority, RcptParameters, Ret, Rrvs, RrvsAction,
};
pub(crate) use params::{KNOWN_PARAMETERS, check_esmtp_value, check_keyword};
pub use xtext::XText;

// Replies and EHLO capabilities.
mod capability;
mod reply;
pub use capability::*;
pub use reply::*;
