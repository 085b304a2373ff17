//! The encoders write into any [`Output`]: `Vec<u8>`, `BytesMut` and a caller's own buffer
//! get the same bytes.

use alloc::vec::Vec;

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::types::strategies::{ehlo_response, reply};
use crate::types::{Command, MailParameters, Mailbox, Reply, ReplyCode, ReversePath};

/// A buffer of the caller's own: only [`Output::put`] is written, the rest is the trait's.
#[derive(Default)]
struct Pieces(Vec<Vec<u8>>);

impl Output for Pieces {
    fn put(&mut self, bytes: &[u8]) {
        self.0.push(bytes.to_vec());
    }
}

impl Pieces {
    fn concat(&self) -> Vec<u8> {
        self.0.concat()
    }
}

/// Runs `encode` into a `Vec`, a `BytesMut`, a `&mut Vec` and a [`Pieces`]; asserts they agree
/// and gives the bytes.
fn everywhere(encode: impl Fn(&mut dyn Output)) -> Vec<u8> {
    let mut vec = Vec::new();
    let mut bytes = BytesMut::new();
    let mut pieces = Pieces::default();
    let mut reborrowed = Vec::new();
    encode(&mut vec);
    encode(&mut bytes);
    encode(&mut pieces);
    encode(&mut &mut reborrowed);
    assert_eq!(vec, &bytes[..]);
    assert_eq!(vec, pieces.concat());
    assert_eq!(vec, reborrowed);
    vec
}

// RFC 5321 4.1.1.2 and 4.1.1.3: commands, written the same into every buffer.
#[test]
fn commands_encode_alike_into_vec_and_bytes_mut_rfc5321_4_1_1() {
    let sender = Mailbox::parse("alice@example.org").unwrap();
    let commands = [
        Command::Ehlo("client.example".parse().unwrap()),
        Command::Mail {
            from: ReversePath::from(sender),
            parameters: MailParameters {
                size: Some(2048),
                ..MailParameters::default()
            },
        },
        Command::Rcpt {
            to: "<bob@example.com>".parse().unwrap(),
            parameters: crate::types::RcptParameters::default(),
        },
        Command::Data,
        Command::Quit,
    ];
    let mut wire = Vec::new();
    for command in &commands {
        wire.extend(everywhere(|out| encode_command(command, out)));
    }
    assert_eq!(
        wire,
        b"EHLO client.example\r\nMAIL FROM:<alice@example.org> SIZE=2048\r\n\
          RCPT TO:<bob@example.com>\r\nDATA\r\nQUIT\r\n"
    );
}

// RFC 5321 4.2: a multi-line reply, and a line split at 512 octets (4.5.3.1.5).
#[test]
fn long_reply_encodes_alike_into_every_buffer_rfc5321_4_5_3_1_5() {
    let text = "word ".repeat(200);
    let reply = Reply::from_lines(ReplyCode::HELP, ["first", text.trim_end()]).unwrap();
    let wire = everywhere(|out| encode_reply(&reply, out));
    assert!(wire.starts_with(b"214-first\r\n214-word"));
    assert!(wire.split(|b| *b == b'\n').all(|line| line.len() <= 512));
}

proptest! {
    // RFC 5321 4.2: any reply, the same bytes in every buffer.
    #[test]
    fn replies_encode_alike_into_vec_and_bytes_mut(reply in reply(true)) {
        let wire = everywhere(|out| encode_reply(&reply, out));
        prop_assert!(wire.ends_with(b"\r\n"));
    }

    // RFC 5321 4.1.1.1: any EHLO response, the same bytes in every buffer, the last line
    // `250 ` and every other `250-`.
    #[test]
    fn ehlo_responses_encode_alike_into_vec_and_bytes_mut(ehlo in ehlo_response()) {
        let wire = everywhere(|out| encode_ehlo_response(&ehlo, out));
        let lines: Vec<&[u8]> = wire.split_inclusive(|b| *b == b'\n').collect();
        let (last, others) = lines.split_last().unwrap();
        prop_assert!(last.starts_with(b"250 "));
        prop_assert!(others.iter().all(|line| line.starts_with(b"250-")));
    }
}
