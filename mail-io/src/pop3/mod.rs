//! POP3 over tokio: a client that lists, retrieves and deletes, and a server over a maildrop.
//!
//! The machines are `pop3-proto`'s; this module connects them to sockets, TLS and timers.
//!
//! # The client
//!
//! [`Client::connect`] sets up a session (STLS, implicit TLS or plaintext; `USER`/`PASS`,
//! `APOP` or SASL) and logs in; then one method a command: [`Client::stat`], [`Client::list`],
//! [`Client::uidl`], [`Client::retr`] and [`Client::top`] (the message streams as unstuffed
//! octets, through a [`MessageReader`]), [`Client::dele`], [`Client::rset`], [`Client::noop`],
//! and [`Client::quit`], which says whether the server committed the deletions. A command the
//! server refuses is [`ClientError::Refused`], and the session goes on.
//!
//! Here it fetches and deletes every message of a server running in the same process
//! (`pop3-proto`'s server machine, driven by a [`Connection`](crate::Connection) at the other
//! end of an in-memory pipe):
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use mail_io::Connection;
//! use mail_io::pop3::{Client, UniqueId};
//! use pop3_proto::server::{self, Answer, Event, MessageInfo};
//!
//! let (ours, theirs) = tokio::io::duplex(64 * 1024);
//! let stored = vec![
//!     b"Subject: one\r\n\r\n.a dotted line\r\n".to_vec(),
//!     b"Subject: two\r\n\r\nhi\r\n".to_vec(),
//! ];
//!
//! // The server: alice, password "secret", two messages.
//! let maildrop = stored.clone();
//! let config = server::ServerConfig { plaintext_login: true, ..Default::default() };
//! let server = tokio::spawn(async move {
//!     let mut connection = Connection::new(server::Server::new(config), theirs);
//!     let mut deleted = Vec::new();
//!     while let Some(event) = connection.next_event().await? {
//!         let machine = connection.machine_mut();
//!         match event {
//!             Event::Login(login) if login.verify_secret(b"secret") => {
//!                 let listing = maildrop.iter().enumerate().map(|(i, message)| MessageInfo {
//!                     size: message.len() as u64,
//!                     uid: UniqueId::new(format!("m{i}")).expect("a valid unique-id"),
//!                 });
//!                 machine.answer(Answer::Open(listing.collect()))?;
//!             }
//!             Event::Login(_) => machine.answer(Answer::reject("[AUTH] no")?)?,
//!             Event::Retrieve { message, .. } => {
//!                 machine.answer(Answer::Accept)?;
//!                 machine.send_body(&maildrop[message.index()])?;
//!                 machine.end_body()?;
//!             }
//!             Event::Commit { deleted: marked } => {
//!                 deleted = marked;
//!                 machine.answer(Answer::Accept)?;
//!             }
//!             event if event.is_decision() => machine.answer(Answer::Accept)?,
//!             _ => {}
//!         }
//!     }
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(deleted.len())
//! });
//!
//! // The client (over TCP: `Client::connect("pop.example.com:110").stls(tls)...await`).
//! let mut client = Client::connect("localhost:110")
//!     .plaintext()
//!     .allow_plaintext_auth()
//!     .user_pass("alice", "secret")
//!     .over(ours)
//!     .await?;
//! let mut fetched = Vec::new();
//! for entry in client.list().await? {
//!     fetched.push(client.retr_to_vec(entry.message).await?);
//!     client.dele(entry.message).await?;
//! }
//! let committed = client.quit().await?;
//!
//! assert_eq!(fetched, stored); // unstuffed: ".a dotted line" as stored
//! assert!(committed);
//! assert_eq!(server.await?.map_err(|e| e.to_string())?, 2);
//! # Ok(())
//! # }
//! ```

mod client;
mod server;
// The client's public items (re-exported here by its author):
pub use client::{AsyncMessageReader, Client, ClientBuilder, ClientError, Fetch, MessageReader};
pub use mail_wire::sasl::{ClientMechanism, OAuthBearerClient, XOAuth2Client};
pub use pop3_proto::client::{ClientConfig, Request, TlsPolicy};
pub use pop3_proto::types::{
    Capability, MessageNumber, Response, ScanListing, Status, UidListing, UniqueId,
};

// The server's public items (re-exported here by its author):
pub use pop3_proto::types::Timestamp;
pub use server::{
    Login, Maildrop, MessageInfo, Refusal, Retrieve, ScramSecret, ScramUnknownUsers, Server,
    ServerConfig, ServerError, ServerMechanisms, run_session, serve,
};
