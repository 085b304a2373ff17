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

use std::io::Write;
use std::time::{Duration, Instant};

use common::{Client, Office};

/// Delivers one message over plain SMTP, each command answered before the next; returns the
/// reply to the end of data.
fn deliver(port: u16) -> String {
    let mut smtp = Client::connect(port);
    smtp.reply();
    let mut end = String::new();
    for command in [
        "HELO legit.example",
        "MAIL FROM:<a@legit.example>",
        "RCPT TO:<alice@localhost>",
        "DATA",
        "Subject: served\r\n\r\nwhile a trickler waited\r\n.",
        "QUIT",
    ] {
        let reply = smtp.smtp(command);
        if command.starts_with("Subject") {
            end = reply;
        }
    }
    end
}

#[test]
fn a_trickling_smtp_client_is_closed_at_its_command_deadline_while_others_are_served() {
    let office = Office::start("deadline-trickle", &["--command-timeout", "1"]);
    let mut read = Client::connect(office.smtp);
    let write = read.stream.try_clone().unwrap();
    let greeting = read.line();
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
    let closed = std::thread::spawn(move || (read.rest(), started.elapsed()));
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
    let started = Instant::now();
    let (mut pop, answer) = Client::pop_login(office.pop3, "bob", "hunter2");
    assert!(answer.starts_with("+OK"), "{answer}");
    // NOOP every 100 ms: never idle, bounded by the session's limit (at most 100 turns).
    let mut served = 0;
    let mut line = String::new();
    for _ in 0..100 {
        if pop.stream.write_all(b"NOOP\r\n").is_err() {
            break;
        }
        line = pop.line();
        if line.is_empty() || line.starts_with("-ERR") {
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
    let (_again, answer) = Client::pop_login(office.pop3, "bob", "hunter2");
    assert!(answer.starts_with("+OK"), "{answer}");
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
    let started = Instant::now();
    let (first, answer) = Client::pop_login(office.pop3, "bob", "hunter2");
    assert!(answer.starts_with("+OK"), "{answer}");
    // From here on the first client reads nothing, and keeps its socket open.
    std::thread::sleep(Duration::from_millis(1100).saturating_sub(started.elapsed()));
    let second = Instant::now();
    let (mut again, answer) = Client::pop_login(office.pop3, "bob", "hunter2");
    assert!(
        answer.starts_with("+OK"),
        "the second login after the deadline: {answer}"
    );
    let took = second.elapsed();
    again.send("QUIT\r\n");
    eprintln!(
        "second login in {took:?}, {:?} after the first (--session-timeout 1), the first client never reading",
        second.duration_since(started)
    );
    drop(first);
}
