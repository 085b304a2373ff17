//! A TLS handshake on a plaintext port: answered and closed at once, not held until the idle
//! timeout.

use alloc::string::String;
use alloc::vec::Vec;

use super::*;

/// What the server said and whether it closed after `chunks` (each fed whole, outputs drained
/// after each; a login is answered with an empty maildrop, other decisions accepted).
fn run(config: ServerConfig, chunks: &[&[u8]]) -> (String, bool) {
    let mut server = Server::new(config);
    let mut text = String::new();
    let mut closed = false;
    let drain = |server: &mut Server, text: &mut String, closed: &mut bool| {
        for _ in 0..10_000 {
            let Some(output) = server.poll_output() else {
                return;
            };
            match output {
                Output::Transmit(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
                Output::Event(Event::Login(_)) => server.answer(Answer::Open(Vec::new())).unwrap(),
                Output::Event(event) if event.is_decision() => {
                    server.answer(Answer::Accept).unwrap();
                }
                Output::Event(_) | Output::StartTls => {}
                Output::Close => *closed = true,
            }
        }
        panic!("livelock");
    };
    drain(&mut server, &mut text, &mut closed);
    for chunk in chunks {
        let taken = server.receive(chunk);
        assert!(
            taken == chunk.len() || server.is_closed(),
            "input not taken"
        );
        drain(&mut server, &mut text, &mut closed);
    }
    (text, closed)
}

/// The start of a TLS 1.2/1.3 ClientHello record as clients send it.
const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

// RFC 2595 4 / RFC 8314 3.3: TLS starts with STLS here.
#[test]
fn client_hello_on_the_plaintext_port_gets_err_and_close_at_once() {
    let config = ServerConfig {
        stls: true,
        ..ServerConfig::default()
    };
    let (text, closed) = run(config, &[CLIENT_HELLO]);
    assert!(closed, "{text}");
    assert!(
        text.ends_with(
            "-ERR TLS handshake on a plaintext port: use STLS or the implicit TLS port\r\n"
        ),
        "{text}"
    );
}

#[test]
fn client_hello_split_after_its_first_octet_after_a_command_still_ends_the_session() {
    let (text, closed) = run(
        ServerConfig::default(),
        &[b"CAPA\r\n", b"\x16", b"\x03\x01"],
    );
    assert!(closed, "{text}");
    assert!(
        text.ends_with("-ERR TLS handshake on a plaintext port: use the implicit TLS port\r\n"),
        "{text}"
    );
}

#[test]
fn control_octet_inside_a_line_is_not_taken_for_tls() {
    let (text, closed) = run(ServerConfig::default(), &[b"NOOP\x16\x03\r\nCAPA\r\n"]);
    assert!(!closed, "{text}");
    assert!(text.ends_with(".\r\n"), "{text}");
}
