//! POP3, sans-IO (RFC 1939, 2449, 2595, 3206, 5034, 6856): validated types, a strict codec for
//! every command and response, and the server state machine.
//!
//! Nothing here touches a socket, a clock or a file.
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
//! // Responses carry typed codes (RFC 2449 8, RFC 3206).
//! let busy = Response::err(Text::new("maildrop already locked")?)
//!     .with_code(ResponseCode::known(KnownCode::InUse));
//! let mut out = BytesMut::new();
//! encode_response(&busy, &mut out);
//! assert_eq!(&out[..], b"-ERR [IN-USE] maildrop already locked\r\n");
//! let parsed = parse_response(&out[..out.len() - 2], false)?;
//! assert!(parsed.code.is_some_and(|code| code.is(KnownCode::InUse)));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![no_std]
#![forbid(unsafe_code)]

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
