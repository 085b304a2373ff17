//! Per-client limits of a real post-office process on loopback: one client address cannot lock
//! the others out, and every connection refused is told so before it is closed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{Client, Office};

/// How long any read of these tests may wait.
const READ: Duration = Duration::from_secs(10);

/// A connection to `port` on 127.0.0.1 from the loopback address `from` (Linux answers on all
/// of 127/8).
fn connect_from(from: [u8; 4], port: u16) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&SocketAddr::from((from, 0)).into())
        .expect("binds a loopback address");
    socket
        .connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)).into(), READ)
        .unwrap();
    let stream = TcpStream::from(socket);
    stream.set_read_timeout(Some(READ)).unwrap();
    stream
}

/// The first line the server says ("" if it closed without a word).
fn first_line(stream: &TcpStream) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8; 1];
    while line.len() < 512 {
        match (&*stream).read(&mut byte) {
            Ok(1) => {
                line.push(byte[0]);
                if byte[0] == b'\n' {
                    break;
                }
            }
            _ => break,
        }
    }
    String::from_utf8_lossy(&line).into_owned()
}

/// A whole SMTP delivery to alice from `from`; the replies, in order.
fn smtp_delivery_from(from: [u8; 4], port: u16) -> Vec<String> {
    let mut talk = Client::over(connect_from(from, port));
    let mut replies = vec![talk.reply()];
    for command in [
        "EHLO legit.example\r\n",
        "MAIL FROM:<friend@example.org>\r\n",
        "RCPT TO:<alice@example.com>\r\n",
        "DATA\r\n",
        "Subject: through the flood\r\n\r\nHello.\r\n.\r\n",
        "QUIT\r\n",
    ] {
        talk.send(command);
        replies.push(talk.reply());
    }
    replies
}

/// A POP3 session of alice from `from`: login, STAT, RETR 1, QUIT; the responses.
fn pop3_session_from(from: [u8; 4], port: u16) -> (Vec<String>, String) {
    let mut talk = Client::over(connect_from(from, port));
    let mut responses = vec![talk.line()];
    for command in [
        "USER alice\r\n",
        "PASS secret\r\n",
        "STAT\r\n",
        "RETR 1\r\n",
    ] {
        talk.send(command);
        responses.push(talk.line());
    }
    let mut message = String::new();
    if responses.last().is_some_and(|r| r.starts_with("+OK")) {
        for _ in 0..1000 {
            let line = talk.line();
            if line == ".\r\n" || line.is_empty() {
                break;
            }
            message.push_str(&line);
        }
    }
    talk.send("QUIT\r\n");
    responses.push(talk.line());
    (responses, message)
}

/// What the flood's connections heard.
#[derive(Debug, Default)]
struct Flood {
    held: Vec<TcpStream>,
    refused: usize,
    silent: Vec<String>,
}

/// Opens `count` connections from 127.0.0.1 to `port`, keeping open those greeted with
/// `greeting` and counting those told `refusal`; anything else (a close without a word, a
/// time-out) is kept in `silent`.
fn flood(port: u16, count: usize, greeting: &str, refusal: &str, into: &mut Flood) {
    for _ in 0..count {
        let stream = connect_from([127, 0, 0, 1], port);
        let line = first_line(&stream);
        if line.starts_with(greeting) {
            into.held.push(stream);
        } else if line.starts_with(refusal) {
            into.refused += 1;
        } else {
            into.silent.push(line);
        }
    }
}

/// 1100 connections from 127.0.0.1 held open (or tried) against SMTP and POP3, with the
/// default limits: the address keeps its 50 sessions across both listeners, every other
/// connection is told 421 4.7.0 / -ERR [SYS/TEMP] and closed (implicit TLS: inside TLS, so a
/// client that never starts its handshake hears nothing and is closed after the refusal's
/// 5 s handshake deadline), and a client from 127.0.0.2 is served over SMTP and POP3 meanwhile. The refusals are
/// summed up in the log.
#[test]
fn a_flood_from_one_address_is_refused_politely_while_another_address_is_served() {
    let office = Office::start("limits-flood", &["--plaintext-login"]);
    let start = Instant::now();
    let mut seen = Flood::default();
    flood(office.smtp, 550, "220 ", "421 4.7.0 ", &mut seen);
    flood(
        office.pop3,
        550,
        "+OK",
        "-ERR [SYS/TEMP] too many connections from your address",
        &mut seen,
    );
    let flooded = start.elapsed();
    eprintln!(
        "flood: 1100 connections from 127.0.0.1 in {flooded:?}: {} held, {} refused with a \
         reply, {} otherwise",
        seen.held.len(),
        seen.refused,
        seen.silent.len()
    );
    assert!(seen.silent.is_empty(), "not answered: {:?}", seen.silent);
    assert_eq!(seen.held.len(), 50, "sessions held by 127.0.0.1");
    assert_eq!(seen.refused, 1050);
    // The held sessions are still there.
    assert!(seen.held.iter().all(|held| {
        held.set_nonblocking(true).unwrap();
        let mut byte = [0u8; 1];
        matches!((&*held).read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
    }));
    // On the implicit TLS port the refusal waits for the TLS handshake (mail-io's tests read
    // it inside TLS): never plaintext, and a client that never starts the handshake is closed
    // at its deadline (5 s), not held.
    let waited = Instant::now();
    let mut tls = connect_from([127, 0, 0, 1], office.smtps);
    let mut heard = Vec::new();
    tls.read_to_end(&mut heard).unwrap();
    assert!(heard.is_empty(), "plaintext on SMTPS: {heard:?}");
    assert!(
        waited.elapsed() < Duration::from_secs(9),
        "{:?}",
        waited.elapsed()
    );

    // Another address is served, over SMTP and POP3, while the flood holds its sessions.
    let served = Instant::now();
    let replies = smtp_delivery_from([127, 0, 0, 2], office.smtp);
    let codes: Vec<_> = replies.iter().map(|r| r.get(..3).unwrap_or("")).collect();
    assert_eq!(
        codes,
        ["220", "250", "250", "250", "354", "250", "221"],
        "{replies:?}"
    );
    let (responses, message) = pop3_session_from([127, 0, 0, 2], office.pop3);
    assert!(
        responses.iter().all(|r| r.starts_with("+OK")),
        "{responses:?}"
    );
    assert!(responses[3].starts_with("+OK 1 "), "{responses:?}");
    assert!(message.contains("Subject: through the flood"), "{message}");
    eprintln!(
        "legitimate client 127.0.0.2: 1 SMTP delivery and 1 POP3 session served in {:?}",
        served.elapsed()
    );

    // One summary line for the whole flood, not a line per connection.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut log = office.log();
    while !log.contains("connections refused") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(200));
        log = office.log();
    }
    let summaries: Vec<_> = log
        .lines()
        .filter(|line| line.contains("connections refused"))
        .collect();
    assert!(!summaries.is_empty(), "no refusal logged:\n{log}");
    assert!(summaries.len() <= 3, "{summaries:?}");
    assert!(summaries[0].contains("127.0.0.1"), "{summaries:?}");
    eprintln!("log: {}", summaries[0]);
    drop(seen);
}

/// With `--rate-per-client 5`, the sixth connection within the minute from one address is told
/// so (SMTP and POP3 count together), and another address is not affected.
#[test]
fn connections_a_minute_per_address_are_limited_across_listeners() {
    let office = Office::start(
        "limits-rate",
        &["--rate-per-client", "5", "--plaintext-login"],
    );
    let mut greetings = Vec::new();
    for port in [
        office.smtp,
        office.pop3,
        office.smtp,
        office.pop3,
        office.smtp,
    ] {
        greetings.push(first_line(&connect_from([127, 0, 0, 1], port)));
    }
    assert!(
        greetings
            .iter()
            .all(|g| g.starts_with("220 ") || g.starts_with("+OK")),
        "{greetings:?}"
    );
    let smtp = first_line(&connect_from([127, 0, 0, 1], office.smtp));
    assert_eq!(
        smtp,
        "421 4.7.0 Too many connections from your address, try again later\r\n"
    );
    let pop3 = first_line(&connect_from([127, 0, 0, 1], office.pop3));
    assert_eq!(
        pop3,
        "-ERR [SYS/TEMP] too many connections from your address, try again later\r\n"
    );
    let other = first_line(&connect_from([127, 0, 0, 3], office.smtp));
    assert!(other.starts_with("220 "), "{other}");
}

/// `--trusted-network 127.0.0.4/32 --max-per-client 2 --rate-per-client 3`: the trusted
/// address holds ten sessions at once (past both limits) while an untrusted one is held to two.
#[test]
fn a_trusted_network_is_exempt_from_the_per_client_limits() {
    let office = Office::start(
        "limits-trusted",
        &[
            "--trusted-network",
            "127.0.0.4/32",
            "--max-per-client",
            "2",
            "--rate-per-client",
            "3",
            "--plaintext-login",
        ],
    );
    let mut held = Vec::new();
    for _ in 0..10 {
        let stream = connect_from([127, 0, 0, 4], office.smtp);
        let greeting = first_line(&stream);
        assert!(greeting.starts_with("220 "), "{greeting}");
        held.push(stream);
    }
    for _ in 0..2 {
        let stream = connect_from([127, 0, 0, 5], office.smtp);
        let greeting = first_line(&stream);
        assert!(greeting.starts_with("220 "), "{greeting}");
        held.push(stream);
    }
    let refused = first_line(&connect_from([127, 0, 0, 5], office.smtp));
    assert!(refused.starts_with("421 4.7.0 "), "{refused}");
    eprintln!(
        "trusted 127.0.0.4: 10 sessions held; untrusted 127.0.0.5: 2 held, the third refused"
    );
    drop(held);
}

/// `--command-timeout 0` and `--session-timeout 0` would end every session at once: refused
/// at start-up, like `--max-sessions 0`.
#[test]
fn zero_timeouts_are_refused_at_start_up() {
    for flag in ["--command-timeout", "--session-timeout", "--max-sessions"] {
        let output = std::process::Command::new(common::binary())
            .args(["serve", flag, "0"])
            .output()
            .unwrap();
        assert!(!output.status.success(), "{flag} 0 accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains(&format!("invalid value '0' for '{flag}")),
            "{stderr}"
        );
    }
}
