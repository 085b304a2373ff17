//! The trace fields of issue 15: every stored message is `Return-Path:`, `Delivered-To:`, our
//! `Received:` field (RFC 5321 4.4, with-keywords of RFC 3848 and RFC 6531), then byte for
//! byte what the client sent, in the Maildir and over POP3; a message that arrives with more
//! `Received:` fields than `--max-received` is a loop (RFC 5321 6.3: 554 5.4.6). Every read is
//! bounded by a socket timeout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Office, peer, python};

/// A connection whose every read ends within 10 s.
struct Client {
    lines: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Client {
    fn connect(port: u16) -> Self {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Self {
            lines: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    fn line(&mut self) -> Vec<u8> {
        let mut line = Vec::new();
        self.lines.read_until(b'\n', &mut line).unwrap();
        line
    }

    /// A whole (possibly multi-line) SMTP reply, as text.
    fn reply(&mut self) -> String {
        let mut reply = String::new();
        for _ in 0..100 {
            let line = String::from_utf8(self.line()).unwrap();
            reply.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return reply;
            }
        }
        panic!("reply too long: {reply}");
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    fn smtp(&mut self, command: &str) -> String {
        self.send(format!("{command}\r\n").as_bytes());
        self.reply()
    }

    /// A POP3 multi-line response, unstuffed, every line with its CRLF.
    fn multi(&mut self, command: &str) -> Vec<u8> {
        self.send(format!("{command}\r\n").as_bytes());
        let first = self.line();
        assert!(
            first.starts_with(b"+OK"),
            "{}",
            String::from_utf8_lossy(&first)
        );
        let mut out = Vec::new();
        for _ in 0..100_000 {
            let line = self.line();
            assert!(!line.is_empty(), "the connection closed mid-response");
            if line == b".\r\n" {
                return out;
            }
            out.extend_from_slice(line.strip_prefix(b".").unwrap_or(&line));
        }
        panic!("response too long");
    }

    fn pop_login(port: u16, user: &str, password: &str) -> Self {
        let mut pop = Self::connect(port);
        assert!(pop.line().starts_with(b"+OK"));
        pop.send(format!("USER {user}\r\nPASS {password}\r\n").as_bytes());
        assert!(pop.line().starts_with(b"+OK"));
        let pass = pop.line();
        assert!(
            pass.starts_with(b"+OK"),
            "{}",
            String::from_utf8_lossy(&pass)
        );
        pop
    }
}

/// `message` dot-stuffed and terminated for DATA (it ends with CRLF).
fn stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for line in message.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b".") {
            out.push(b'.');
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A stored message cut into its trace fields and the rest.
#[derive(Debug)]
struct Traced {
    return_path: String,
    delivered_to: String,
    /// Unfolded, without `Received: ` and CRLF.
    received: String,
    /// The lines of the Received field as they were folded.
    received_lines: Vec<String>,
    rest: Vec<u8>,
}

fn traced(stored: &[u8]) -> Traced {
    let mut lines = stored.split_inclusive(|&b| b == b'\n');
    let mut field = |name: &str| -> String {
        let line = String::from_utf8(lines.next().unwrap().to_vec()).unwrap();
        line.strip_prefix(name)
            .unwrap_or_else(|| panic!("{name:?} expected: {line:?}"))
            .strip_suffix("\r\n")
            .unwrap()
            .to_string()
    };
    let return_path = field("Return-Path: ");
    let delivered_to = field("Delivered-To: ");
    let first = field("Received: ");
    let mut received_lines = vec![format!("Received: {first}")];
    let mut received = first;
    let mut consumed: usize = received_lines[0].len() + 2;
    consumed += return_path.len() + "Return-Path: \r\n".len();
    consumed += delivered_to.len() + "Delivered-To: \r\n".len();
    for line in lines {
        let Some(continued) = line.strip_prefix(b"\t") else {
            break;
        };
        let text = String::from_utf8(line.to_vec()).unwrap();
        consumed += line.len();
        received.push(' ');
        received.push_str(
            std::str::from_utf8(continued)
                .unwrap()
                .strip_suffix("\r\n")
                .unwrap(),
        );
        received_lines.push(text.strip_suffix("\r\n").unwrap().to_string());
    }
    Traced {
        return_path,
        delivered_to,
        received,
        received_lines,
        rest: stored[consumed..].to_vec(),
    }
}

/// Days from 1970-01-01 to a date, counted the long way (not the server's formula).
fn days_since_epoch(year: u64, month: u64, day: u64) -> u64 {
    let leap = |y: u64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let mut days = 0;
    for y in 1970..year {
        days += if leap(y) { 366 } else { 365 };
    }
    let lengths = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    for m in 1..month {
        days += lengths[(m - 1) as usize] + u64::from(m == 2 && leap(year));
    }
    days + day - 1
}

/// Parses an RFC 5322 `date-time` as the server writes it (`Mon, 7 Dec 2026 02:33:12 +0000`)
/// to seconds since the epoch; the weekday must agree with the date.
fn parse_date(text: &str) -> u64 {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let [weekday, day, month, year, time, zone] = parts[..] else {
        panic!("not a date-time: {text:?}");
    };
    assert_eq!(zone, "+0000", "{text}");
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = months.iter().position(|m| *m == month).unwrap() as u64 + 1;
    let days = days_since_epoch(year.parse().unwrap(), month, day.parse().unwrap());
    let weekdays = ["Thu,", "Fri,", "Sat,", "Sun,", "Mon,", "Tue,", "Wed,"];
    assert_eq!(weekday, weekdays[(days % 7) as usize], "{text}");
    let hms: Vec<u64> = time.split(':').map(|n| n.parse().unwrap()).collect();
    assert!(
        hms.len() == 3 && hms[0] < 24 && hms[1] < 60 && hms[2] < 61,
        "{text}"
    );
    days * 86_400 + hms[0] * 3600 + hms[1] * 60 + hms[2]
}

/// What a Received field says, checked clause by clause: `from HELO ([127.0.0.1]) by HOST
/// with PROTOCOL id ID [for <PATH>]; DATE`, the date within 10 minutes of now. Returns the id.
fn check_received(traced: &Traced, helo: &str, protocol: &str, recipient: Option<&str>) -> String {
    for line in &traced.received_lines {
        assert!(line.len() <= 78, "a line over 78 octets: {line:?}");
    }
    let (clauses, date) = traced.received.split_once("; ").unwrap();
    let words: Vec<&str> = clauses.split(' ').collect();
    assert_eq!(words[..3], ["from", helo, "([127.0.0.1])"], "{clauses}");
    let rest = &words[3..];
    assert_eq!(
        rest[..4],
        ["by", "mail.test", "with", protocol],
        "{clauses}"
    );
    assert_eq!(rest[4], "id", "{clauses}");
    let id = rest[5].to_string();
    assert!(
        !id.is_empty() && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "the id is an RFC 5321 Atom: {id}"
    );
    match recipient {
        Some(path) => assert_eq!(rest[6..], ["for", path], "{clauses}"),
        None => assert_eq!(rest.len(), 6, "no `for` with several recipients: {clauses}"),
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(parse_date(date).abs_diff(now) < 600, "{date}");
    id
}

/// Every line end CRLF, as POP3 sends a message (RFC 1939 3).
fn crlf(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < message.len() {
        match (message[at], message.get(at + 1)) {
            (b'\r', Some(b'\n')) => {
                out.extend_from_slice(b"\r\n");
                at += 1;
            }
            (b'\r' | b'\n', _) => out.extend_from_slice(b"\r\n"),
            (byte, _) => out.push(byte),
        }
        at += 1;
    }
    out
}

/// A message with dots at line starts (one a line of its own), a 990-octet line, 8-bit and
/// control octets, and a `Received:` in the body (not counted: the body is no header).
fn awkward_message() -> Vec<u8> {
    let mut message =
        b"From: <sender@example.org>\r\nSubject: trace test\r\n\r\n.leading dot\r\n..two\r\n.\r\n"
            .to_vec();
    message.extend_from_slice(&[b'x'; 990]);
    message.extend_from_slice(b"\r\n");
    message.extend((0x80..=0xffu8).chain(1..=8).chain([0x0b, 0x0c, 0x1f, 0x7f]));
    message.extend_from_slice(b"\r\nReceived: in the body\r\nlast line\r\n");
    message
}

/// DATA (8BITMIME, dot-stuffed) to one local user and BDAT (bare CR and LF, NUL, no final
/// line end) to two: each stored copy is `Return-Path`, `Delivered-To` (its own recipient),
/// `Received` (`for` only with one recipient), then exactly the octets sent; POP3 RETR gives
/// the same with every line end CRLF. HELO gives `with SMTP`, LHLO `with LMTP`.
#[test]
fn stored_and_retrieved_messages_are_trace_fields_then_exactly_what_was_sent() {
    let office = Office::start(
        "trace-bytes",
        &["--plaintext-login", "--hostname", "mail.test"],
    );
    let data_message = awkward_message();
    let bdat_message =
        b"Subject: bdat\r\n\r\nbare\rCR, bare\nLF, NUL \0, \xff\xfe\r\nno final line end";
    let mut smtp = Client::connect(office.smtp);
    assert!(smtp.reply().starts_with("220"));
    assert!(smtp.smtp("EHLO client.example").starts_with("250"));
    assert!(
        smtp.smtp("MAIL FROM:<sender@example.org> BODY=8BITMIME")
            .starts_with("250")
    );
    assert!(smtp.smtp("RCPT TO:<Alice@Example.com>").starts_with("250"));
    assert!(smtp.smtp("DATA").starts_with("354"));
    smtp.send(&stuffed(&data_message));
    let end = smtp.reply();
    assert!(end.starts_with("250"), "{end}");
    assert!(smtp.smtp("MAIL FROM:<>").starts_with("250"));
    assert!(smtp.smtp("RCPT TO:<alice@example.com>").starts_with("250"));
    assert!(smtp.smtp("RCPT TO:<bob@example.com>").starts_with("250"));
    smtp.send(format!("BDAT {} LAST\r\n", bdat_message.len()).as_bytes());
    smtp.send(bdat_message);
    let end = smtp.reply();
    assert!(end.starts_with("250"), "{end}\n{}", office.log());
    smtp.smtp("QUIT");
    // HELO and LHLO.
    let mut smtp = Client::connect(office.smtp);
    smtp.reply();
    assert!(smtp.smtp("HELO helo.example").starts_with("250"));
    smtp.smtp("MAIL FROM:<helo@example.org>");
    smtp.smtp("RCPT TO:<bob@example.com>");
    smtp.smtp("DATA");
    smtp.send(b"Subject: helo\r\n\r\nhi\r\n.\r\n");
    assert!(smtp.reply().starts_with("250"));
    let mut lmtp = Client::connect(office.lmtp);
    lmtp.reply();
    assert!(lmtp.smtp("LHLO lmtp.example").starts_with("250"));
    lmtp.smtp("MAIL FROM:<lmtp@example.org>");
    lmtp.smtp("RCPT TO:<bob@example.com>");
    lmtp.smtp("DATA");
    lmtp.send(b"Subject: lmtp\r\n\r\nhi\r\n.\r\n");
    assert!(lmtp.reply().starts_with("250"));

    let alice = office.stored("alice");
    let bob = office.stored("bob");
    assert_eq!((alice.len(), bob.len()), (2, 3));
    // DATA: one recipient, `for` it, as given.
    let first = traced(&alice[0]);
    assert_eq!(first.return_path, "<sender@example.org>");
    assert_eq!(first.delivered_to, "Alice@Example.com");
    let data_id = check_received(
        &first,
        "client.example",
        "ESMTP",
        Some("<Alice@Example.com>"),
    );
    assert_eq!(first.rest, data_message);
    // BDAT: two recipients, each a copy of its own, the same Received field.
    let (to_alice, to_bob) = (traced(&alice[1]), traced(&bob[0]));
    assert_eq!(to_alice.return_path, "<>");
    assert_eq!(to_alice.delivered_to, "alice@example.com");
    assert_eq!(to_bob.delivered_to, "bob@example.com");
    let bdat_id = check_received(&to_alice, "client.example", "ESMTP", None);
    assert_eq!(to_alice.received, to_bob.received);
    assert_ne!(bdat_id, data_id);
    assert_eq!(to_alice.rest, bdat_message);
    assert_eq!(to_bob.rest, bdat_message);
    let helo = traced(&bob[1]);
    check_received(&helo, "helo.example", "SMTP", Some("<bob@example.com>"));
    assert_eq!(helo.rest, b"Subject: helo\r\n\r\nhi\r\n");
    let lmtp = traced(&bob[2]);
    check_received(&lmtp, "lmtp.example", "LMTP", Some("<bob@example.com>"));

    // POP3 sends the files as stored, every line end CRLF (and one after the last line).
    let mut pop = Client::pop_login(office.pop3, "alice", "secret");
    assert_eq!(pop.multi("RETR 1"), alice[0]);
    let mut expected = crlf(&alice[1]);
    expected.extend_from_slice(b"\r\n");
    assert_eq!(pop.multi("RETR 2"), expected);
}

/// After STARTTLS and AUTH the field says `ESMTPSA` (RFC 3848), `UTF8SMTPSA` for an SMTPUTF8
/// transaction (RFC 6531 3.7.3); over implicit TLS without AUTH, `ESMTPS`.
#[test]
fn tls_and_authentication_show_in_the_with_keyword() {
    if !peer("python3", "apt-get install python3") {
        return;
    }
    let office = Office::start("trace-with", &["--hostname", "mail.test"]);
    let script = r#"
import smtplib, ssl, sys
port, smtps = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example")
s.starttls(context=ctx)
s.ehlo("client.example")
s.login("alice", "secret")
assert s.sendmail("alice@example.com", ["bob@example.com"], b"Subject: a\r\n\r\nauth\r\n") == {}
msg = "Subject: \u00fc\r\n\r\nutf8\r\n".encode()
assert s.sendmail("j\u00f6rg@example.org", ["bob@example.com"], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"]) == {}
s.quit()
s = smtplib.SMTP_SSL("127.0.0.1", smtps, local_hostname="tls.example", context=ctx)
assert s.sendmail("x@example.org", ["bob@example.com", "alice@example.com"], b"Subject: t\r\n\r\ntls\r\n") == {}
s.quit()
print("ok")
"#;
    let out = python(script, &[office.smtp.to_string(), office.smtps.to_string()]);
    assert_eq!(out.trim(), "ok", "{}", office.log());
    let bob = office.stored("bob");
    assert_eq!(bob.len(), 3);
    let auth = traced(&bob[0]);
    check_received(
        &auth,
        "client.example",
        "ESMTPSA",
        Some("<bob@example.com>"),
    );
    assert_eq!(auth.rest, b"Subject: a\r\n\r\nauth\r\n");
    let utf8 = traced(&bob[1]);
    assert_eq!(utf8.return_path, "<jörg@example.org>");
    check_received(
        &utf8,
        "client.example",
        "UTF8SMTPSA",
        Some("<bob@example.com>"),
    );
    check_received(&traced(&bob[2]), "tls.example", "ESMTPS", None);
    assert_eq!(office.stored("alice").len(), 1);
}

/// A message that arrives with `count` Received fields, to alice: the reply to its end.
fn send_with_hops(office: &Office, count: usize) -> String {
    let mut message = String::new();
    for n in 0..count {
        message.push_str(&format!(
            "Received: from hop{n}.example by hop{}.example; Thu, 1 Jan 2026 00:00:00 +0000\r\n",
            n + 1
        ));
    }
    message.push_str("Subject: loop?\r\n\r\nReceived: in the body, not counted\r\n");
    let mut smtp = Client::connect(office.smtp);
    smtp.reply();
    smtp.smtp("EHLO client.example");
    smtp.smtp("MAIL FROM:<a@example.org>");
    smtp.smtp("RCPT TO:<alice@example.com>");
    assert!(smtp.smtp("DATA").starts_with("354"));
    smtp.send(&stuffed(message.as_bytes()));
    let end = smtp.reply();
    smtp.smtp("QUIT");
    end
}

/// RFC 5321 6.3: 101 Received fields (the default `--max-received` is 100) is a loop,
/// refused with 554 5.4.6 and not stored; 100 is taken; `--max-received 3` refuses 4.
#[test]
fn more_received_fields_than_max_received_is_refused_as_a_loop() {
    let office = Office::start("trace-loop", &[]);
    let refused = send_with_hops(&office, 101);
    assert_eq!(refused, "554 5.4.6 Too many hops (mail loop)\r\n");
    assert!(office.stored("alice").is_empty());
    let taken = send_with_hops(&office, 100);
    assert!(taken.starts_with("250"), "{taken}");
    let stored = office.stored("alice");
    assert_eq!(stored.len(), 1);
    // Ours makes 101 now: the next hop would see them all.
    let received = String::from_utf8_lossy(&stored[0])
        .lines()
        .filter(|line| line.starts_with("Received:"))
        .count();
    assert_eq!(received, 102, "ours, 100 and the one in the body");
    drop(office);
    let office = Office::start("trace-loop-3", &["--max-received", "3"]);
    assert!(send_with_hops(&office, 3).starts_with("250"));
    assert!(send_with_hops(&office, 4).starts_with("554 5.4.6"));
}
