//! POP3, blocking: a client that lists, retrieves and deletes, and a server over a maildrop,
//! one thread per connection (the twins of [`crate::pop3`] where tokio is built, with the same
//! names).
//!
//! The machines are `pop3-proto`'s; a [`Connection`](super::Connection) runs them.

mod client;
mod server;

pub use client::{Client, ClientBuilder, ClientError, MessageReader};
pub use mail_wire::sasl::{ClientMechanism, OAuthBearerClient, XOAuth2Client};
pub use pop3_proto::client::{ClientConfig, Request, TlsPolicy};
pub use pop3_proto::types::{
    Capability, MessageNumber, Response, ScanListing, Status, Timestamp, UidListing, UniqueId,
};
pub use server::{
    Login, Maildrop, MessageInfo, Refusal, Retrieve, ScramSecret, ScramUnknownUsers, Server,
    ServerConfig, ServerError, ServerMechanisms, run_session, serve,
};
