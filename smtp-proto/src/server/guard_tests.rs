//! Input that would hold a session for nothing: a TLS handshake on a plaintext port, BDAT sizes
//! beyond the message size limit.

use alloc::string::String;
use alloc::vec::Vec;

use super::*;

/// What the server said, whether it closed, and the events, after `chunks` (each fed whole,
/// outputs drained after each, every decision accepted). Bounded: a livelock fails.
fn run(config: ServerConfig, chunks: &[&[u8]]) -> (String, bool, Vec<Event>) {
    let mut server = Server::new(config);
    let mut text = String::new();
    let mut closed = false;
    let mut events = Vec::new();
    let mut drain = |server: &mut Server, text: &mut String, closed: &mut bool| {
        for _ in 0..10_000 {
            let Some(output) = server.poll_output() else {
                return;
            };
            match output {
                Output::Transmit(bytes) => text.push_str(&String::from_utf8_lossy(&bytes)),
                Output::Event(event) => {
                    if event.is_decision() {
                        server.answer(Answer::Accept).unwrap();
                    }
                    events.push(event);
                }
                Output::Close => *closed = true,
                Output::StartTls => {}
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
    (text, closed, events)
}

/// The start of a TLS 1.2/1.3 ClientHello record as clients send it.
const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

// RFC 3207 4 / RFC 8314 3.3: TLS starts with STARTTLS here; a client that starts with a
// handshake is told so at once and the session ends, instead of waiting for a line end.
#[test]
fn client_hello_on_the_plaintext_port_gets_421_and_close_at_once() {
    let config = ServerConfig {
        starttls: true,
        ..ServerConfig::default()
    };
    let (text, closed, _) = run(config, &[CLIENT_HELLO]);
    assert!(closed, "{text}");
    assert!(
        text.ends_with(
            "421 4.7.0 TLS handshake on a plaintext port: use STARTTLS or the implicit TLS port\r\n"
        ),
        "{text}"
    );
}

#[test]
fn client_hello_after_a_command_or_split_after_its_first_octet_still_ends_the_session() {
    let (text, closed, _) = run(
        ServerConfig::default(),
        &[b"EHLO c.example\r\n", b"\x16", b"\x03\x01"],
    );
    assert!(closed, "{text}");
    assert!(
        text.ends_with("plaintext port: use the implicit TLS port\r\n"),
        "{text}"
    );
}

#[test]
fn control_octet_inside_a_line_is_not_taken_for_tls() {
    // Only the start of a command line is checked: 0x16 later in a line is a syntax error.
    let (text, closed, _) = run(
        ServerConfig::default(),
        &[EHLO, b"NOOP \x16\x03\r\nNOOP\r\n"],
    );
    assert!(!closed, "{text}");
    assert!(text.ends_with("250 2.0.0 Ok\r\n"), "{text}");
}

#[test]
fn client_hello_in_the_auth_exchange_is_an_auth_line_not_tls() {
    let config = ServerConfig {
        sasl_mechanisms: ServerMechanisms::new().plain(),
        auth_without_tls: true,
        ..ServerConfig::default()
    };
    let (text, closed, _) = run(config, &[EHLO, b"AUTH PLAIN\r\n", b"\x16\x03\x01\r\n"]);
    assert!(!closed, "{text}");
    assert!(!text.contains("421"), "{text}");
}

const TRANSACTION: &[u8] = b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n";

const EHLO: &[u8] = b"EHLO c.example\r\n";

fn limited(limit: u64) -> ServerConfig {
    ServerConfig {
        max_message_size: Some(limit),
        ..ServerConfig::default()
    }
}

// RFC 3030 2 would have the chunk read and discarded; a 20-digit size cannot be: it is refused
// unread and the session ends.
#[test]
fn bdat_with_a_20_digit_size_gets_552_and_close_without_reading() {
    let (text, closed, events) = run(
        limited(1000),
        &[
            EHLO,
            TRANSACTION,
            b"BDAT 18446744073709551615 LAST\r\nMAIL FROM:<x@y.example>\r\n",
        ],
    );
    assert!(closed, "{text}");
    assert!(
        text.ends_with("552 5.3.4 Message size exceeds the limit, closing the connection\r\n"),
        "{text}"
    );
    // The application never opened the message; the transaction is gone.
    assert!(
        !events.iter().any(|e| matches!(e, Event::DataStart)),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| matches!(e, Event::TransactionReset)),
        "{events:?}"
    );
}

#[test]
fn bdat_chunks_growing_past_the_limit_are_still_read_and_refused_in_step() {
    // Each chunk within the limit: read, discarded, 552; the session goes on.
    let (text, closed, events) = run(
        limited(10),
        &[
            EHLO,
            TRANSACTION,
            b"BDAT 6\r\nabcdef",
            b"BDAT 5 LAST\r\nghijkNOOP\r\n",
        ],
    );
    assert!(!closed, "{text}");
    assert!(
        text.ends_with("250 2.0.0 6 octets received\r\n552 5.3.4 Message size exceeds the limit\r\n250 2.0.0 Ok\r\n"),
        "{text}"
    );
    assert!(!events.iter().any(|e| matches!(e, Event::MessageEnd { .. })));
}

#[test]
fn bdat_chunk_alone_beyond_the_limit_in_lmtp_is_refused_per_recipient_and_closed() {
    let config = ServerConfig {
        lmtp: true,
        ..limited(10)
    };
    let (text, closed, _) = run(
        config,
        &[
            b"LHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@d.example>\r\nBDAT 11 LAST\r\n",
        ],
    );
    assert!(closed, "{text}");
    assert_eq!(
        text.matches("552 5.3.4 Message size exceeds the limit, closing")
            .count(),
        2,
        "{text}"
    );
}

#[test]
fn bdat_up_to_the_limit_is_taken() {
    let (text, closed, events) = run(
        limited(10),
        &[EHLO, TRANSACTION, b"BDAT 10 LAST\r\n0123456789QUIT\r\n"],
    );
    assert!(closed, "{text}");
    assert!(
        text.ends_with("250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"),
        "{text}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::MessageEnd { size: 10, .. }))
    );
}

#[test]
fn huge_bdat_outside_a_transaction_gets_503_and_close() {
    let (text, closed, _) = run(limited(1000), &[EHLO, b"BDAT 1001 LAST\r\n"]);
    assert!(closed, "{text}");
    assert!(text.ends_with("503 5.5.1 Send MAIL first\r\n"), "{text}");
}

#[test]
fn bdat_size_past_2_to_the_64_gets_its_error_then_421_and_close() {
    let (text, closed, _) = run(
        limited(1000),
        &[
            EHLO,
            TRANSACTION,
            b"BDAT 99999999999999999999 LAST\r\nRSET\r\n",
        ],
    );
    assert!(closed, "{text}");
    assert!(text.contains("501 5.5.4"), "{text}");
    assert!(
        text.ends_with("421 4.7.0 Chunk size unreadable, closing the connection\r\n"),
        "{text}"
    );
}

#[test]
fn small_bdat_outside_a_transaction_is_still_read_and_refused_in_step() {
    // RFC 3030 2: a pipelined chunk behind a failed MAIL is discarded; the session goes on.
    let (text, closed, _) = run(limited(1000), &[EHLO, b"BDAT 4 LAST\r\nMAILNOOP\r\n"]);
    assert!(!closed, "{text}");
    assert!(
        text.ends_with("503 5.5.1 Send MAIL first\r\n250 2.0.0 Ok\r\n"),
        "{text}"
    );
}
