//! SMTP and LMTP, sans-IO: validated types and a strict, zero-copy codec for every command,
//! reply and extension in common use (RFC 5321 and its extensions), and the client and server
//! state machines that run the dialogue on top of them.
//!
//! Nothing here touches a socket, a clock or a file: bytes go in, typed values and events come
//! out, and values go back to bytes. Decoders borrow from the input; every value can also be
//! built by hand, and a value that exists is valid, so encoding cannot fail and no field can
//! smuggle a CR LF into the stream. The I/O loop over real sockets, with TLS and timers, is the
//! `mail-io` crate; this crate embeds anywhere (`no_std` with `alloc`).
//!
//! # The driving loop
//!
//! A machine ([`server::Server`], [`client::Client`]) is driven the same way every time: hand
//! it what arrived (`receive`, `receive_eof`, `handle_timeout`), then drain `poll_output` and
//! act on each output in order: bytes to send, an event, the start of TLS, the close.
//!
//! **The invariant:** after every input and every answer or request, call `poll_output` until
//! it returns `None`, and only then wait for more input. An event marked *decision* waits for
//! an answer ([`server::Server::answer`]); until then the machine reads nothing more. Input that
//! `receive` did not take is offered again, first.
//!
//! A server, fed by a client whose bytes arrive in pieces that ignore line boundaries:
//!
//! ```
//! use smtp_proto::server::{Answer, Event, Output, Server, ServerConfig};
//!
//! let mut server = Server::new(ServerConfig::default());
//! let arriving: &[&[u8]] = &[
//!     b"EHLO client.example\r\n",
//!     b"MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@exa",
//!     b"mple.com>\r\nDATA\r\n",
//!     b"Hello\r\n..dot\r\n.\r\nQUIT\r\n",
//! ];
//! let mut arriving = arriving.iter();
//! let (mut unread, mut sent, mut body, mut recipients) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
//! loop {
//!     // Bytes out, events in: act on every output, in order.
//!     while let Some(output) = server.poll_output() {
//!         match output {
//!             Output::Transmit(bytes) => sent.extend_from_slice(&bytes), // write them to the peer
//!             Output::Event(Event::RcptTo { to, .. }) => {
//!                 recipients.push(to.to_string());
//!                 server.answer(Answer::Accept)?; // the application decides; the machine replies
//!             }
//!             Output::Event(Event::Body(chunk)) => body.extend_from_slice(&chunk), // unstuffed
//!             // The connection, EHLO, MAIL, DATA and the end of the message: accept.
//!             Output::Event(event) if event.is_decision() => server.answer(Answer::Accept)?,
//!             Output::Event(_) => {}
//!             Output::StartTls => unreachable!("STARTTLS is not offered by this configuration"),
//!             Output::Close => break,
//!         }
//!     }
//!     if server.is_closed() {
//!         break;
//!     }
//!     // Bytes in: what arrived goes behind what the machine did not take before.
//!     match arriving.next() {
//!         Some(bytes) => unread.extend_from_slice(bytes),
//!         None if unread.is_empty() => break,
//!         None => {}
//!     }
//!     let taken = server.receive(&unread);
//!     unread.drain(..taken);
//! }
//! assert_eq!(recipients, ["<bob@example.com>"]);
//! assert_eq!(body, b"Hello\r\n.dot\r\n");
//! let transcript = String::from_utf8(sent)?;
//! assert!(transcript.starts_with("220 localhost ESMTP\r\n250-localhost\r\n"));
//! assert!(transcript.ends_with("250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The [`client`] is driven the same way: it greets, reads the capabilities, starts TLS and
//! authenticates by its configuration, then says [`client::Event::Ready`]; the application
//! hands it an envelope ([`client::Client::send_message`]), streams the body when asked
//! ([`client::Event::SendBody`]) and reads the per-recipient outcome ([`client::Event::Sent`]).
//! Its module docs run a client against this crate's server, in memory.
//!
//! # The codec
//!
//! ```
//! use bytes::BytesMut;
//! use smtp_proto::codec::{decode_command, encode_command, CommandOptions, Decoded};
//! use smtp_proto::types::{Command, Mailbox, MailParameters, ReversePath};
//!
//! // A server decodes what arrived; a prefix is just incomplete.
//! let received = b"MAIL FROM:<alice@example.org> SIZE=2048\r\nRCPT TO:<bob@example.com>\r\n";
//! let options = CommandOptions::default();
//! let Decoded::Complete(command, used) = decode_command(received, &options)? else {
//!     unreachable!("the whole line is there")
//! };
//! match &command {
//!     Command::Mail { from, parameters } => {
//!         assert_eq!(from.mailbox().map(|m| m.to_string()).as_deref(), Some("alice@example.org"));
//!         assert_eq!(parameters.size, Some(2048));
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! assert!(matches!(decode_command(&received[used..], &options)?, Decoded::Complete(Command::Rcpt { .. }, _)));
//!
//! // A client builds commands from validated values and encodes them.
//! let sender = Mailbox::parse("carol@example.net")?;
//! let mail = Command::Mail {
//!     from: ReversePath::from(sender),
//!     parameters: MailParameters { size: Some(512), ..MailParameters::default() },
//! };
//! let mut out = BytesMut::new();
//! encode_command(&mail, &mut out);
//! assert_eq!(&out[..], b"MAIL FROM:<carol@example.net> SIZE=512\r\n");
//!
//! // Injection is impossible by construction.
//! assert!(Mailbox::parse("x@example.net>\r\nRCPT TO:<victim@example.com").is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Modules
//!
//! - [`types`]: domains, mailboxes, paths, parameters, commands, replies, capabilities.
//! - [`codec`]: `decode_*` / `parse_*` and `encode_*` for commands, replies and EHLO responses.
//! - [`client`]: the sans-IO SMTP / LMTP client state machine.
//! - [`server`]: the sans-IO SMTP / LMTP server state machine.
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
//! - `serde`: `Serialize` / `Deserialize` for the [`types`]: addresses, paths, parameter lists
//!   and reply text as the text they are written in (`"<alice@example.org>"`,
//!   `"SIZE=1000 BODY=8BITMIME"`), replies, commands and EHLO capabilities as structures
//!   (`{"code": 250, "status": "2.1.0", "lines": ["Ok"]}`). Deserializing goes through the
//!   constructors' and the decoder's checks, so a bad value is a serde error, never an invalid
//!   value; values deserialize owned. An `AUTH` initial response is a credential: serializing
//!   one is an error, and none deserializes.
//!
//! # Examples
//!
//! In the repository (run from a clone):
//!
//! - `smtp-proto/examples/codec.rs`: the codec alone, a pipelined command stream and an EHLO
//!   response decoded and encoded again (`cargo run -p smtp-proto --example codec`).
//! - `mail-io/examples/smtp_send.rs` and `smtp_sink.rs`: a client and a server on these
//!   machines over real sockets, with STARTTLS and AUTH (`cargo run -p mail-io --example
//!   smtp_sink -- 2525`).
//!
//! # Out of scope, and where to find it
//!
//! - Building and parsing messages (headers, MIME, encodings): the body is opaque bytes here.
//!   Use [mail-builder](https://docs.rs/mail-builder) to build one and
//!   [mail-parser](https://docs.rs/mail-parser) to read one.
//! - Reading delivery status notifications: this crate requests them (RFC 3461 `NOTIFY`,
//!   `RET`, `ENVID`, `ORCPT`); the report itself (RFC 3464) is a `multipart/report` message,
//!   read with a MIME parser such as [mail-parser](https://docs.rs/mail-parser).
//! - DNS: finding a domain's mail exchangers (MX records, RFC 5321 5.1) is for a resolver such
//!   as [hickory-resolver](https://docs.rs/hickory-resolver).
//! - TLS and sockets: STARTTLS is an [`Output`](server::Output::StartTls) here; the handshake
//!   is done by the driver, `mail-io`, with [rustls](https://docs.rs/rustls).
//! - Queues, retries, DKIM, SPF and DMARC: policy for the application.
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

/// A wrapper that keeps passwords and tokens out of `Debug` output; re-exported from
/// `mail-wire`.
pub use mail_wire::Secret;
/// SASL (RFC 4954): the client mechanisms to hand to
/// [`Client::with_auth`](client::Client::with_auth) ([`PlainClient`](sasl::PlainClient),
/// [`LoginClient`](sasl::LoginClient), [`XOAuth2Client`](sasl::XOAuth2Client)...), the
/// [`Credentials`](sasl::Credentials) a server's `Authenticate` event carries, and the traits
/// to write other mechanisms. Re-exported from `mail-wire`, so that none of it needs a
/// dependency on that crate.
pub use mail_wire::sasl;
