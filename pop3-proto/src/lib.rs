//! POP3, sans-IO (RFC 1939, 2449, 2595, 3206, 5034, 6856): validated types, a strict codec for
//! every command and response, and the client and server state machines that run the dialogue.
//!
//! Nothing here touches a socket, a clock or a file: bytes go in, typed values and events come
//! out, and values go back to bytes. A value that exists is valid, so encoding cannot fail, no
//! field can smuggle a CR LF into the stream, and no response line passes the 512 octets of
//! RFC 2449 4 that the peer's decoder holds it to. The I/O loop over real sockets, with TLS and
//! timers, is the `mail-io` crate; this crate embeds anywhere (`no_std` with `alloc`).
//!
//! # The driving loop
//!
//! Both machines, [`client::Client`] and [`server::Server`], are driven the same way: hand them
//! what arrived (`receive`, `receive_eof`, `handle_timeout`), then drain `poll_output` and act
//! on each output in order: bytes to send, an event, the start of TLS, the close.
//!
//! **The invariant:** after every input and every request or answer, call `poll_output` until
//! it returns `None`, and only then wait for more input. Input that `receive` did not take is
//! offered again, first.
//!
//! The client greets, asks for the capabilities (CAPA), starts TLS and logs in by its
//! configuration, then says [`client::Event::Ready`]; from then on [`client::Client::request`]
//! queues requests, each answered by its own events, and messages stream out as
//! [`client::Event::Body`] chunks, unstuffed. Here it fetches a message from a scripted server,
//! which answers each transmission of the client in turn:
//!
//! ```
//! use pop3_proto::client::{Client, ClientConfig, Credentials, Event, Output, Request, TlsPolicy};
//! use pop3_proto::types::{MessageNumber, Username};
//!
//! let credentials = Credentials::User { name: Username::new("alice")?, password: "secret".into() };
//! // Plaintext only because this server is a script; the default insists on TLS.
//! let config = ClientConfig { tls: TlsPolicy::Never, allow_plaintext_auth: true, ..ClientConfig::default() };
//! let mut client = Client::new(config, credentials);
//! let mut replies = [
//!     &b"+OK capability list follows\r\nUSER\r\nUIDL\r\n.\r\n"[..], // to CAPA
//!     b"+OK\r\n",                                                   // to USER alice
//!     b"+OK maildrop has 1 message\r\n",                            // to PASS secret
//!     b"+OK 18 octets\r\n..signature\r\nline\r\n.\r\n",             // to RETR 1
//!     b"+OK bye\r\n",                                               // to QUIT
//! ]
//! .into_iter();
//! let mut arrived = b"+OK POP3 server ready\r\n".to_vec();
//! let (mut sent, mut fetched, mut committed) = (Vec::new(), Vec::new(), None);
//! while !client.is_closed() {
//!     // Bytes in: the client takes what it can; the rest is offered again, first.
//!     let taken = client.receive(&arrived);
//!     arrived.drain(..taken);
//!     // Bytes out and events: act on every output, in order.
//!     while let Some(output) = client.poll_output() {
//!         match output {
//!             Output::Transmit(bytes) => {
//!                 sent.extend_from_slice(&bytes); // write them to the server; it answers
//!                 arrived.extend_from_slice(replies.next().ok_or("the client said too much")?);
//!             }
//!             Output::Event(Event::Ready) => {
//!                 client.request(Request::Retr(MessageNumber::FIRST))?;
//!                 client.request(Request::Quit)?;
//!             }
//!             Output::Event(Event::Body(chunk)) => fetched.extend_from_slice(&chunk),
//!             Output::Event(Event::Closed { committed: c, .. }) => committed = Some(c),
//!             Output::Event(Event::Error(error)) => return Err(error.into()),
//!             Output::Event(_) | Output::StartTls | Output::Close => {}
//!         }
//!     }
//!     if arrived.is_empty() && !client.is_closed() {
//!         return Err("the client waits for a server that has nothing more to say".into());
//!     }
//! }
//! assert_eq!(sent, b"CAPA\r\nUSER alice\r\nPASS secret\r\nRETR 1\r\nQUIT\r\n");
//! assert_eq!(fetched, b".signature\r\nline\r\n");
//! assert_eq!(committed, Some(true)); // the server acknowledged QUIT: deletions (none here) done
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The [`server`] speaks the protocol while the application owns the maildrop: it asks for a
//! login decision ([`server::Event::Login`]), is handed the listing ([`server::Answer::Open`]),
//! answers STAT, LIST, UIDL, DELE, RSET and NOOP itself, asks for message contents
//! ([`server::Event::Retrieve`], streamed back with [`server::Server::send_body`]) and, at QUIT,
//! asks once to commit the deletions ([`server::Event::Commit`]). Its module docs run a whole
//! session; the [`client`] module's docs run the client against it, in memory.
//!
//! # The codec
//!
//! ```
//! use bytes::BytesMut;
//! use pop3_proto::codec::{decode_command, encode_response, parse_response, CommandOptions, Decoded};
//! use pop3_proto::types::{Command, KnownCode, MessageNumber, Response, ResponseCode, Text};
//!
//! // A server decodes what arrived; a prefix is just incomplete.
//! let options = CommandOptions::default();
//! let Decoded::Complete(command, used) = decode_command(b"RETR 2\r\nQUIT\r\n", &options)? else {
//!     unreachable!()
//! };
//! assert_eq!(command, Command::Retr(MessageNumber::new(2).unwrap()));
//! assert_eq!(used, 8);
//! assert!(matches!(decode_command(b"RETR", &options)?, Decoded::Incomplete));
//! assert!(decode_command(b"RETR -1\r\n", &options).is_err());
//!
//! // Responses carry typed codes (RFC 2449 8, RFC 3206); code and text fit in one
//! // 512-octet line together (RFC 2449 4), or `with_code` says so.
//! let busy = Response::err(Text::new("maildrop already locked")?)
//!     .with_code(ResponseCode::known(KnownCode::InUse))?;
//! let mut out = BytesMut::new();
//! encode_response(&busy, &mut out);
//! assert_eq!(&out[..], b"-ERR [IN-USE] maildrop already locked\r\n");
//! let parsed = parse_response(&out[..out.len() - 2], false)?;
//! assert!(parsed.code().is_some_and(|code| code.is(KnownCode::InUse)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//!
//! - [`types`]: message numbers, unique ids, user names, commands, responses, response codes,
//!   listings, capabilities.
//! - [`codec`]: `decode_*` / `parse_*` and `encode_*` for commands, responses, listings and CAPA.
//! - [`client`]: the sans-IO POP3 client state machine.
//! - [`server`]: the sans-IO POP3 server state machine.
//!
//! # Features
//!
//! - `std` (default): the `std` features of the dependencies (memchr's run-time detection of
//!   vector instructions among them). Without it the crate is `no_std` with `alloc`; the error
//!   types implement `core::error::Error` either way.
//! - `cram-md5` (default): the CRAM-MD5 SASL mechanism (RFC 2195) in the server's AUTH, from
//!   `mail-wire`.
//! - `scram` (default): SCRAM-SHA-256 (RFC 5802, RFC 7677) in the server's AUTH and for the
//!   client, from `mail-wire`.
//! - `serde`: `Serialize` / `Deserialize` for the [`types`]: commands, responses, capabilities,
//!   listings, and every validated text as its text (JSON `"alice"`, `{"Retr": 2}`).
//!   Deserializing goes through the constructors' checks, so a bad value is a serde error, never
//!   an invalid value; values deserialize owned. Credentials are left out: serializing `PASS` or
//!   an `AUTH` initial response is an error, and neither deserializes.
//!
//! # Examples
//!
//! In the repository (run from a clone), over real sockets with `mail-io`:
//!
//! - `mail-io/examples/pop3_memory.rs`: a POP3 server over a maildrop in memory, on tokio
//!   (`cargo run -p mail-io --example pop3_memory -- 1110`, then log in as `alice` / `secret`).
//! - `mail-io/examples/pop3_blocking_memory.rs`: the same with one thread per connection
//!   (`cargo run -p mail-io --features blocking --example pop3_blocking_memory -- 1100`).
//! - `post-office fetch` (`post-office/src/fetch.rs`): a client that fetches into a Maildir.
//!
//! # Out of scope, and where to find it
//!
//! - Parsing the messages fetched (headers, MIME, delivery status reports): they are opaque
//!   bytes here. Use [mail-parser](https://docs.rs/mail-parser); to build messages,
//!   [mail-builder](https://docs.rs/mail-builder).
//! - Storing messages: the server's application owns the maildrop (a Maildir, a database).
//! - TLS and sockets: STLS is an [`Output`](server::Output::StartTls) here; the handshake is done
//!   by the driver, `mail-io`, with [rustls](https://docs.rs/rustls).
#![no_std]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![forbid(unsafe_code)]

// The README's examples run as doc tests too, so that they cannot go stale.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod client;
pub mod codec;
pub mod server;
pub mod types;

/// A wrapper that keeps passwords and tokens out of `Debug` output (the passwords of
/// [`Credentials`](client::Credentials)); re-exported from `mail-wire`.
pub use mail_wire::Secret;
/// SASL (RFC 5034): the client mechanisms for
/// [`Credentials::Sasl`](client::Credentials::Sasl) ([`PlainClient`](sasl::PlainClient),
/// [`XOAuth2Client`](sasl::XOAuth2Client)...), the [`Credentials`](sasl::Credentials) a
/// server's login event carries, and the traits to write other mechanisms. Re-exported from
/// `mail-wire`, so that none of it needs a dependency on that crate.
pub use mail_wire::sasl;
