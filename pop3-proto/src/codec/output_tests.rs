//! The encoders write into any [`Output`]: `Vec<u8>`, `BytesMut` and a caller's own buffer
//! get the same bytes.

use alloc::vec;
use alloc::vec::Vec;

use bytes::BytesMut;
use proptest::prelude::*;

use super::*;
use crate::types::{
    Capability, Command, Expire, KnownCode, Mechanism, MessageNumber, Response, ResponseCode,
    SaslMechanisms, ScanListing, Text, UidListing, UniqueId, Username,
};

/// A buffer of the caller's own: only [`Output::put`] is written, the rest is the trait's.
#[derive(Default)]
struct Pieces(Vec<Vec<u8>>);

impl Output for Pieces {
    fn put(&mut self, bytes: &[u8]) {
        self.0.push(bytes.to_vec());
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
    assert_eq!(vec, pieces.0.concat());
    assert_eq!(vec, reborrowed);
    vec
}

fn number(n: u32) -> MessageNumber {
    MessageNumber::new(n).unwrap()
}

// RFC 1939 5-7: commands, the same bytes in every buffer.
#[test]
fn commands_encode_alike_into_vec_and_bytes_mut_rfc1939() {
    let commands = [
        Command::User(Username::new("alice").unwrap()),
        Command::Top {
            message: number(3),
            lines: 10,
        },
        Command::List(None),
        Command::Uidl(Some(number(4_000_000_000))),
        Command::Quit,
    ];
    let mut wire = Vec::new();
    for command in &commands {
        wire.extend(everywhere(|out| encode_command(command, out)));
    }
    assert_eq!(
        wire,
        b"USER alice\r\nTOP 3 10\r\nLIST\r\nUIDL 4000000000\r\nQUIT\r\n"
    );
}

// RFC 2449 5 and 6: capabilities, the same bytes in every buffer.
#[test]
fn capabilities_encode_alike_into_vec_and_bytes_mut_rfc2449_6() {
    let capabilities = [
        Capability::Sasl(SaslMechanisms::new(vec![Mechanism::new("PLAIN").unwrap()]).unwrap()),
        Capability::LoginDelay {
            seconds: 900,
            per_user: true,
        },
        Capability::Expire {
            expire: Expire::Days(31),
            per_user: false,
        },
        Capability::Expire {
            expire: Expire::Never,
            per_user: false,
        },
    ];
    let mut wire = Vec::new();
    for capability in &capabilities {
        wire.extend(everywhere(|out| encode_capability(capability, out)));
    }
    assert_eq!(
        wire,
        b"SASL PLAIN\r\nLOGIN-DELAY 900 USER\r\nEXPIRE 31\r\nEXPIRE NEVER\r\n"
    );
}

// RFC 5034 4: a SASL continuation.
#[test]
fn continuation_encodes_alike_into_vec_and_bytes_mut_rfc5034_4() {
    assert_eq!(
        everywhere(|out| encode_continuation("dGVzdA==", out)),
        b"+ dGVzdA==\r\n"
    );
}

proptest! {
    // RFC 1939 3 and RFC 2449 8: responses with or without a code.
    #[test]
    fn responses_encode_alike_into_vec_and_bytes_mut(
        ok in any::<bool>(),
        code in any::<bool>(),
        text in "[ -~]{0,60}",
    ) {
        let text = Text::new(text).unwrap();
        let mut response = if ok { Response::ok(text) } else { Response::err(text) };
        if code {
            response = response.with_code(ResponseCode::known(KnownCode::InUse)).unwrap();
        }
        let wire = everywhere(|out| encode_response(&response, out));
        prop_assert_eq!(parse_response(&wire[..wire.len() - 2], false).unwrap(), response);
    }

    // RFC 1939 5 and 7: scan and unique-id listings.
    #[test]
    fn listings_encode_alike_into_vec_and_bytes_mut(
        message in 1u32..,
        size in any::<u64>(),
        uid in "[!-~]{1,70}",
    ) {
        let scan = ScanListing { message: number(message), size };
        let wire = everywhere(|out| encode_scan_listing(&scan, out));
        prop_assert_eq!(parse_scan_listing(&wire[..wire.len() - 2]).unwrap(), scan);
        let listing = UidListing { message: number(message), uid: UniqueId::new(uid).unwrap() };
        let wire = everywhere(|out| encode_uid_listing(&listing, out));
        prop_assert_eq!(parse_uid_listing(&wire[..wire.len() - 2]).unwrap(), listing);
    }
}
