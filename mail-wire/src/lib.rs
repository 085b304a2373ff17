//! Sans-IO wire pieces shared by the SMTP and POP3 crates of this workspace.
//!
//! Nothing here touches a socket, a clock or a file: every type takes bytes in and gives values
//! and bytes out, so it runs on any runtime, in a fuzzer, or on `no_std` with `alloc`.
//!
//! - [`line`](mod@line): CRLF line framing with a length limit that holds however the input is chunked.
//! - [`decode`]: what the protocol crates' decoders share: [`Decoded`](decode::Decoded),
//!   [`DecodeError`](decode::DecodeError) and strict framing of one line in a buffer.
//! - [`dot`]: streaming dot-stuffing encoder and decoder (RFC 5321 4.5.2, RFC 1939 section 3).
//! - [`sasl`]: SASL exchange framing (RFC 4954, RFC 5034) and the common mechanisms.
//! - [`machine`]: the [`Machine`](machine::Machine) trait the four protocol machines implement, and their output queue.
//! - [`Secret`]: a wrapper that keeps credentials out of `Debug` output.
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
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]
#![forbid(unsafe_code)]

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
