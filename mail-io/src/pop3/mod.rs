//! POP3 over tokio: a client that lists, retrieves and deletes, and a server over a maildrop.
//!
//! The machines are `pop3-proto`'s; this module connects them to sockets, TLS and timers.

mod client;
mod server;
// The client's public items (re-exported here by its author):

// The server's public items (re-exported here by its author):
pub use pop3_proto::types::Timestamp;
pub use server::{
    Login, Maildrop, MessageInfo, Refusal, Retrieve, Server, ServerConfig, ServerError,
    run_session, serve,
};
