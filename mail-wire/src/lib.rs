//! Sans-IO wire pieces shared by the SMTP and POP3 crates of this workspace (`smtp-proto`,
//! `pop3-proto`): line framing, dot-stuffing, SASL exchanges, and the driving contract of their
//! state machines.
//!
//! Nothing here touches a socket, a clock or a file: every type takes bytes in and gives values
//! and bytes out, so it runs on any runtime, in a fuzzer, or on `no_std` with `alloc`. Every
//! buffer is bounded, bad input is a typed error, and nothing panics on any input.
//!
//! - [`line`](mod@line): CRLF line framing with a length limit that holds however the input is chunked.
//! - [`decode`]: what the protocol crates' decoders share: [`Decoded`](decode::Decoded),
//!   [`DecodeError`](decode::DecodeError) and strict framing of one line in a buffer.
//! - [`dot`]: streaming dot-stuffing encoder and decoder (RFC 5321 4.5.2, RFC 1939 section 3).
//! - [`sasl`]: SASL exchange framing (RFC 4954, RFC 5034) and the common mechanisms.
//! - [`machine`]: the [`Machine`](machine::Machine) trait the four protocol machines implement, and their output queue.
//! - [`Secret`]: a wrapper that keeps credentials out of `Debug` output.
//!
//! # Bytes in, values out, bytes out
//!
//! ```
//! use bytes::Bytes;
//! use mail_wire::dot::{DotDecoder, DotEncoder, DotEvent};
//! use mail_wire::line::{LineReader, LineConfig};
//!
//! // Frame a command stream that arrives in arbitrary pieces.
//! let mut lines = LineReader::new(LineConfig::default());
//! let mut input = Bytes::from_static(b"EHLO client.example\r\nDATA\r\nFrom: a\r\n..dot\r\n.\r\n");
//! assert_eq!(lines.next_line(&mut input).unwrap().unwrap(), "EHLO client.example");
//! assert_eq!(lines.next_line(&mut input).unwrap().unwrap(), "DATA");
//!
//! // After DATA the rest of the stream is a dot-stuffed body: decode it.
//! let mut decoder = DotDecoder::default();
//! let mut body = Vec::new();
//! while let Some(event) = decoder.decode(&mut input) {
//!     match event {
//!         DotEvent::Data(chunk) => body.extend_from_slice(&chunk),
//!         DotEvent::Invalid(error) => panic!("bad body: {error}"),
//!         DotEvent::End => break,
//!     }
//! }
//! assert_eq!(body, b"From: a\r\n.dot\r\n");
//!
//! // And stuff it again for the wire.
//! let mut encoder = DotEncoder::default();
//! let mut wire = Vec::new();
//! encoder.encode(&body, &mut wire).unwrap();
//! encoder.finish(&mut wire).unwrap();
//! assert_eq!(wire, b"From: a\r\n..dot\r\n.\r\n");
//! ```
//!
//! # The driving loop
//!
//! The SMTP and POP3 clients and servers all implement [`machine::Machine`], so one driver runs
//! any of them: hand the machine what arrived, then drain [`poll_output`](machine::Machine::poll_output)
//! until it returns `None`, acting on each output in order, and only then wait for more input.
//! Input the machine did not take is offered again, first ([`receive_from`](machine::Machine::receive_from)
//! does that bookkeeping). The [`machine`] module runs a toy machine through that loop; one turn of
//! a driver, generic over the machines, looks like this:
//!
//! ```
//! use bytes::BytesMut;
//! use mail_wire::machine::{Machine, Output};
//!
//! /// Feeds what arrived, then drains every output. Returns whether the session goes on.
//! fn turn<M: Machine>(machine: &mut M, arrived: &mut BytesMut, wire: &mut Vec<u8>) -> bool {
//!     machine.receive_from(arrived); // what it did not take stays in `arrived`, first in line
//!     while let Some(output) = machine.poll_output() {
//!         match output {
//!             Output::Transmit(bytes) => wire.extend_from_slice(&bytes), // write to the peer
//!             Output::Event(_event) => {} // the application acts; a decision gets its answer here
//!             Output::StartTls => {} // send what was written, hand the connection to TLS
//!             Output::Close => return false,
//!         }
//!     }
//!     true // now wait for input, for at most `machine.timeout()`
//! }
//! ```
//!
//! The `mail-io` crate is that driver over real sockets, with TLS and timers.
//!
//! # Features
//!
//! - `std` (default): the `std` features of the dependencies (memchr's run-time detection of
//!   vector instructions among them). Without it the crate is `no_std` with `alloc`; the error
//!   types implement `core::error::Error` either way.
//! - `cram-md5` (default): the CRAM-MD5 SASL mechanism (RFC 2195), client and server, with the
//!   `md-5` and `hmac` crates.
//! - `scram` (default): SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677, RFC 9266),
//!   client and server, with the `sha2`, `hmac` and `pbkdf2` crates.
//!
//! # Examples
//!
//! The examples live with the crates that use these pieces (run from a clone of the repository):
//! `cargo run -p smtp-proto --example codec` decodes and encodes an SMTP command stream, and the
//! `mail-io/examples/` servers and clients (`smtp_sink`, `smtp_send`, `pop3_memory`) run the
//! machines over sockets. The [`machine`] and [`sasl`] module docs hold runnable examples too.
//!
//! # Out of scope, and where to find it
//!
//! - The protocols themselves: commands, replies and the dialogue are in `smtp-proto` and
//!   `pop3-proto`; sockets, TLS ([rustls](https://docs.rs/rustls)) and timers in `mail-io`.
//! - Building and parsing messages: a body is opaque bytes here. Use
//!   [mail-builder](https://docs.rs/mail-builder) and [mail-parser](https://docs.rs/mail-parser).
//! - SASLprep and SASL mechanisms beyond the built-in ones: they plug in through
//!   [`sasl::ClientMechanism`] and [`sasl::ServerMechanism`].
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

pub mod decode;
pub mod dot;
mod input;
pub mod line;
pub mod machine;
pub mod sasl;
mod secret;
#[cfg(test)]
mod testing;

pub use input::{Input, Output};
pub use secret::Secret;
