//! SMTP and LMTP over tokio: a client that sends messages, and a server that runs a handler.
//!
//! The machines are `smtp-proto`'s; this module connects them to sockets, TLS and timers.

mod client;

pub use client::{Client, ClientBuilder, ClientError, MessageWriter};
pub use mail_wire::sasl::{ClientMechanism, OAuthBearerClient, XOAuth2Client};
pub use smtp_proto::client::{ClientConfig, Envelope, RecipientReport, Report, TlsPolicy};
pub use smtp_proto::types::Mailbox;

mod server;
// The server's public items (re-exported here by its author):
pub use bytes::Bytes;
pub use mail_wire::dot::BodyError;
pub use mail_wire::sasl::Credentials;
pub use server::{Handler, SessionInfo, reply, run_session, serve};
pub use smtp_proto::server::{
    Answer, Greeting, ScramSecret, ScramUnknownUsers, Server, ServerConfig, ServerMechanisms,
    Timeouts,
};
pub use smtp_proto::types::{
    Argument, Domain, EnhancedStatus, ForwardPath, Host, Lookup, MailParameters, Mechanism,
    RcptParameters, Reply, ReplyCode, ReversePath,
};
