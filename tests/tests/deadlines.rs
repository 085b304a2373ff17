//! post-office's deadlines against clients that keep their sessions busy: one that trickles a
//! command an octet at a time (closed at its command deadline, as a silent one), and one that
//! keeps sending commands (closed at the session's overall limit). Both run in seconds with
//! the limits set by `--command-timeout` and `--session-timeout`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::Office;

/// A connection whose reads give up after `limit` (no test can hang on a server that stays).
fn connect(port: u16, limit: Duration) -> (BufReader<TcpStream>, TcpStream) {
    let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream.set_read_timeout(Some(limit)).unwrap();
    (BufReader::new(stream.try_clone().unwrap()), stream)
}

/// Delivers one message over plain SMTP, each command answered before the next; returns the
/// reply to the end of data.
fn deliver(port: u16) -> String {
    let (mut read, mut write) = connect(port, Duration::from_secs(10));
    let mut line = String::new();
    read.read_line(&mut line).unwrap();
    let mut last = String::new();
    for command in [
        "HELO legit.example\r\n",
        "MAIL FROM:<a@legit.example>\r\n",
        "RCPT TO:<alice@localhost>\r\n",
        "DATA\r\n",
        "Subject: served\r\n\r\nwhile a trickler waited\r\n.\r\n",
        "QUIT\r\n",
    ] {
        write.write_all(command.as_bytes()).unwrap();
        last.clear();
        read.read_line(&mut last).unwrap();
        if command.starts_with("Subject") {
            line = last.clone();
        }
    }
    line
}

#[test]
fn a_trickling_smtp_client_is_closed_at_its_command_deadline_while_others_are_served() {
    let office = Office::start("deadline-trickle", &["--command-timeout", "1"]);
    let (mut read, write) = connect(office.smtp, Duration::from_secs(15));
    let mut greeting = String::new();
    read.read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("220 "), "{greeting}");
    let started = Instant::now();
    // One octet every 200 ms: the 30-octet line would take 6 s. Each octet used to restart
    // the timer, so the client kept its slot as long as it had octets to send.
    let trickler = std::thread::spawn(move || {
        let mut write = write;
        for (sent, byte) in b"EHLO a-very-slow-client.example\r\n".iter().enumerate() {
            if write.write_all(std::slice::from_ref(byte)).is_err() {
                return sent;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        usize::MAX
    });
    // The close, timed where it happens (not after the delivery below, however long that
    // takes): a reader of the trickler's socket stamps its end of stream.
    let closed = std::thread::spawn(move || {
        let mut rest = String::new();
        let read = read.read_to_string(&mut rest);
        (read.map(|_| rest), started.elapsed())
    });
    // Meanwhile a client that does not dawdle is served.
    let delivered = deliver(office.smtp);
    assert!(delivered.starts_with("250 "), "{delivered}");
    let (rest, held) = closed.join().unwrap();
    let rest = rest.expect("closed before the read timeout");
    assert_eq!(rest, "421 4.4.2 Timeout waiting for a command, closing\r\n");
    // Half the deadline at least: a generous margin for a slow CI box.
    assert!(held >= Duration::from_millis(500), "{held:?}");
    assert!(
        held < Duration::from_secs(4),
        "the trickler held its slot {held:?}"
    );
    let sent = trickler.join().unwrap();
    assert!(sent < 20, "{sent} octets went in before the close");
    assert_eq!(office.messages("alice").len(), 1);
    eprintln!("a client trickling 1 octet / 200 ms held its slot {held:?} (--command-timeout 1)");
}

#[test]
fn a_busy_pop3_session_is_ended_at_the_session_timeout() {
    let office = Office::start(
        "deadline-session",
        &["--session-timeout", "2", "--plaintext-login"],
    );
    let (mut read, mut write) = connect(office.pop3, Duration::from_secs(15));
    let mut line = String::new();
    read.read_line(&mut line).unwrap();
    let started = Instant::now();
    for command in ["USER bob\r\n", "PASS hunter2\r\n"] {
        write.write_all(command.as_bytes()).unwrap();
        line.clear();
        read.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "{line}");
    }
    // NOOP every 100 ms: never idle, bounded by the session's limit (at most 100 turns).
    let mut served = 0;
    for _ in 0..100 {
        if write.write_all(b"NOOP\r\n").is_err() {
            break;
        }
        line.clear();
        if read.read_line(&mut line).unwrap() == 0 || line.starts_with("-ERR") {
            break;
        }
        served += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    let held = started.elapsed();
    assert_eq!(line, "-ERR session time limit reached, closing\r\n");
    assert!(served >= 5, "{served} commands served first");
    // Half the limit at least (it counts from the connection, a little before `started`).
    assert!(held >= Duration::from_millis(1000), "{held:?}");
    assert!(held < Duration::from_secs(5), "{held:?}");
    // The session is over: the maildrop is free again.
    let (mut read, mut write) = connect(office.pop3, Duration::from_secs(10));
    read.read_line(&mut line).unwrap();
    for command in ["USER bob\r\n", "PASS hunter2\r\n"] {
        write.write_all(command.as_bytes()).unwrap();
        line.clear();
        read.read_line(&mut line).unwrap();
    }
    assert!(line.starts_with("+OK"), "{line}");
    eprintln!(
        "a POP3 client sending NOOP every 100 ms was ended after {held:?} (--session-timeout 2)"
    );
}

/// RFC 1939 6: a session ended by its deadline releases the maildrop before its `-ERR` is
/// written, so a client that logged in and then never reads cannot keep the maildrop locked
/// past the deadline (while that write waits, up to the write timeout): a new login right
/// after the deadline gets in, without `[IN-USE]`.
#[test]
fn a_pop3_session_ended_by_its_deadline_frees_the_maildrop_even_if_the_client_never_reads() {
    let office = Office::start(
        "deadline-lock",
        &["--session-timeout", "1", "--plaintext-login"],
    );
    let (mut read, mut write) = connect(office.pop3, Duration::from_secs(10));
    let started = Instant::now();
    let mut line = String::new();
    read.read_line(&mut line).unwrap();
    for command in ["USER bob\r\n", "PASS hunter2\r\n"] {
        write.write_all(command.as_bytes()).unwrap();
        line.clear();
        read.read_line(&mut line).unwrap();
        assert!(line.starts_with("+OK"), "{line}");
    }
    // From here on the first client reads nothing, and keeps its socket open.
    std::thread::sleep(Duration::from_millis(1100).saturating_sub(started.elapsed()));
    let second = Instant::now();
    let (mut read2, mut write2) = connect(office.pop3, Duration::from_secs(10));
    read2.read_line(&mut line).unwrap();
    for command in ["USER bob\r\n", "PASS hunter2\r\n"] {
        write2.write_all(command.as_bytes()).unwrap();
        line.clear();
        read2.read_line(&mut line).unwrap();
    }
    assert!(
        line.starts_with("+OK"),
        "the second login after the deadline: {line}"
    );
    let took = second.elapsed();
    write2.write_all(b"QUIT\r\n").unwrap();
    eprintln!(
        "second login in {took:?}, {:?} after the first (--session-timeout 1), the first client never reading",
        second.duration_since(started)
    );
    drop((read, write));
}
