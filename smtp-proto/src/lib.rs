//! SMTP and LMTP, sans-IO: validated types and a strict, zero-copy codec for every command,
//! reply and extension in common use (RFC 5321 and its extensions). Sans-IO client and
//! server state machines run the dialogue on top of them.
//!
//! Nothing here touches a socket, a clock or a file: bytes go in, typed values come out, and
//! values go back to bytes. Decoders borrow from the input; every value can also be built by
//! hand, and a value that exists is valid, so encoding cannot fail and no field can smuggle a
//! CR LF into the stream.
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
//! - [`types`]: domains, mailboxes, paths, parameters, commands, replies, capabilities.
//! - [`codec`]: `decode_*` / `parse_*` and `encode_*` for commands, replies and EHLO responses.
//! - [`client`]: the sans-IO SMTP / LMTP client state machine.
//! - [`server`]: the sans-IO SMTP / LMTP server state machine.
#![no_std]
#![forbid(unsafe_code)]

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
