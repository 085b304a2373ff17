//! Two post-office processes on loopback relaying to each other (issue 15): A (`a.example`,
//! submission with AUTH, relaying) and B (`b.example`, the recipient domain's server). Mail
//! submitted to A by Python's smtplib and by lettre reaches B's Maildir and comes out of B's
//! POP3 byte for byte below the trace fields, with both hops' `Received:` fields; B down, A
//! queues and delivers once B is back (after `post-office queue --flush`, or at the next
//! retry); B's 550 for one recipient comes back to the sender as exactly one RFC 3464 DSN
//! (read with Python's `email` package); a stranger cannot relay through A. Every wait is
//! bounded in time, every socket read by a timeout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "common/dns.rs"]
mod dns;

use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Client, EMPTY_QUEUE, Office, peer, python, wait_until};
use dns::{DnsServer, Zone};

/// `\0alice\0secret`, for AUTH PLAIN.
const ALICE_PLAIN: &str = "AGFsaWNlAHNlY3JldA==";

/// How often [`wait_until`] looks.
const POLL: Duration = Duration::from_millis(50);

/// B: the server of `b.example` (users alice and bob), SMTP on `smtp` when given.
fn office_b(name: &str, smtp: Option<u16>) -> Office {
    office_b_with(name, smtp, &[])
}

/// [`office_b`] with `extra` arguments.
fn office_b_with(name: &str, smtp: Option<u16>, extra: &[&str]) -> Office {
    let mut args = vec![
        "--domain",
        "b.example",
        "--hostname",
        "mx.b.example",
        "--rate-per-client",
        "0",
        "--max-per-client",
        "0",
    ];
    args.extend_from_slice(extra);
    Office::start_with_smtp(name, smtp, &args)
}

/// A: the server of `a.example`, relaying for its users, `--plaintext-login` (raw AUTH PLAIN
/// in the tests below), with `next_hop` (how it finds B) and `extra`.
fn office_a(name: &str, next_hop: &[&str], extra: &[&str]) -> Office {
    office_a_on(name, None, next_hop, extra)
}

/// [`office_a`] with its SMTP listener on `smtp` when given.
fn office_a_on(name: &str, smtp: Option<u16>, next_hop: &[&str], extra: &[&str]) -> Office {
    let mut args = vec![
        "--domain",
        "a.example",
        "--hostname",
        "mx.a.example",
        "--plaintext-login",
        "--relay-connect-timeout",
        "5",
        "--relay-timeout",
        "30",
    ];
    args.extend_from_slice(next_hop);
    args.extend_from_slice(extra);
    Office::start_with_smtp(name, smtp, &args)
}

/// A and B up, each routing the other's domain to it (B's reports go back to A).
fn pair_both_ways(name: &str) -> (Office, Office) {
    let a_smtp = common::free_port();
    let back = format!("a.example=127.0.0.1:{a_smtp}");
    let b = office_b_with(
        &format!("{name}-b"),
        None,
        &["--route", &back, "--retry-first", "1"],
    );
    let route = route_to(b.smtp);
    let route: Vec<&str> = route.iter().map(String::as_str).collect();
    let a = office_a_on(
        &format!("{name}-a"),
        Some(a_smtp),
        &route,
        &["--retry-first", "1"],
    );
    (a, b)
}

/// `--route b.example=127.0.0.1:PORT`.
fn route_to(port: u16) -> Vec<String> {
    vec!["--route".into(), format!("b.example=127.0.0.1:{port}")]
}

/// One field at the top of `message`, unfolded (its CRLF TAB / CRLF SP joins become one
/// space), without its CRLF; and what follows it.
fn first_field(message: &[u8]) -> (String, &[u8]) {
    let mut end = 0;
    loop {
        let at = message[end..]
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("a field ends with CRLF");
        end += at + 2;
        if !message[end..].starts_with(b"\t") && !message[end..].starts_with(b" ") {
            break;
        }
    }
    let field = String::from_utf8(message[..end - 2].to_vec())
        .unwrap()
        .replace("\r\n\t", " ")
        .replace("\r\n ", " ");
    (field, &message[end..])
}

/// The parts of a `Received:` field up to its `id` clause: `from NAME ([IP]) by NAME with
/// KEYWORD`, as words.
fn received_clauses(field: &str) -> Vec<String> {
    let value = field
        .strip_prefix("Received: ")
        .unwrap_or_else(|| panic!("not a Received field: {field}"));
    value
        .split_whitespace()
        .take(7)
        .map(str::to_string)
        .collect()
}

/// A message as B stored it for `bob@b.example`, relayed by A: B's `Return-Path:`,
/// `Delivered-To:` and `Received:` (from A's host name, `with ESMTPS`: A uses the STARTTLS B
/// offers), A's `Received:` (from `client`, `with ESMTPSA`: under TLS, authenticated), then
/// exactly `sent`.
fn assert_relayed(stored: &[u8], sent: &[u8], client: &str) {
    let (return_path, rest) = first_field(stored);
    assert_eq!(return_path, "Return-Path: <alice@a.example>");
    let (delivered_to, rest) = first_field(rest);
    assert_eq!(delivered_to, "Delivered-To: bob@b.example");
    let (b_received, rest) = first_field(rest);
    let clauses = received_clauses(&b_received);
    assert_eq!(
        clauses[..5],
        [
            "from",
            "mx.a.example",
            "([127.0.0.1])",
            "by",
            "mx.b.example"
        ],
        "{b_received}"
    );
    assert_eq!(clauses[5..], ["with", "ESMTPS"], "{b_received}");
    assert!(b_received.contains(" for <bob@b.example>;"), "{b_received}");
    let (a_received, rest) = first_field(rest);
    let clauses = received_clauses(&a_received);
    assert_eq!(
        clauses[..5],
        ["from", client, "([127.0.0.1])", "by", "mx.a.example"],
        "{a_received}"
    );
    assert_eq!(clauses[5..], ["with", "ESMTPSA"], "{a_received}");
    assert!(
        rest == sent,
        "not what was sent:\n{}\n---- sent:\n{}",
        String::from_utf8_lossy(rest),
        String::from_utf8_lossy(sent)
    );
}

/// The messages in `user`'s Maildir on `office`, fetched over POP3 (STLS, USER / PASS) by
/// Python's poplib, each as the server sent it (dot-stuffing undone, CRLF line ends).
fn pop3_messages(office: &Office, user: &str, password: &str) -> Vec<Vec<u8>> {
    let out = office.dir.join(format!("pop3-{user}"));
    std::fs::create_dir_all(&out).unwrap();
    python(
        r#"
import os, poplib, ssl, sys
port, user, password, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
p = poplib.POP3("127.0.0.1", port, timeout=30)
p.stls(context=ctx)
p.user(user)
p.pass_(password)
count, _ = p.stat()
for n in range(1, count + 1):
    _, lines, _ = p.retr(n)
    with open(os.path.join(out, "%04d" % n), "wb") as f:
        f.write(b"".join(line + b"\r\n" for line in lines))
p.quit()
"#,
        &[
            office.pop3.to_string(),
            user.into(),
            password.into(),
            out.to_string_lossy().into_owned(),
        ],
    );
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    names.sort();
    names
        .iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// smtplib (STARTTLS, AUTH as alice) and lettre (STARTTLS, AUTH) submit a message each to
/// A for bob@b.example; both arrive in B's Maildir, and B's POP3 gives them back, byte for
/// byte what was sent below B's trace fields and A's `Received:`.
fn smtplib_and_lettre_through_a_to_b(a: &Office, b: &Office) {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::transport::smtp::extension::ClientId;
    use lettre::{Message, SmtpTransport, Transport};

    let by_smtplib =
        b"From: Alice <alice@a.example>\r\nTo: Bob <bob@b.example>\r\nSubject: via smtplib\r\n\
          Message-ID: <smtplib@a.example>\r\n\r\n.a leading dot\r\nHello Bob.\r\n"
            .to_vec();
    let file = a.dir.join("smtplib.eml");
    std::fs::write(&file, &by_smtplib).unwrap();
    python(
        r#"
import smtplib, ssl, sys
port, path = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", port, local_hostname="smtplib.example", timeout=30)
s.starttls(context=ctx)
s.login("alice", "secret")
refused = s.sendmail("alice@a.example", ["bob@b.example"], open(path, "rb").read())
assert refused == {}, refused
s.quit()
"#,
        &[
            a.submission.to_string(),
            file.to_string_lossy().into_owned(),
        ],
    );

    let message = Message::builder()
        .from("Alice <alice@a.example>".parse().unwrap())
        .to("Bob <bob@b.example>".parse().unwrap())
        .subject("via lettre")
        .body(".leading dot\r\nfrom lettre\r\n".to_string())
        .unwrap();
    let tls = TlsParameters::builder("localhost".to_string())
        .dangerous_accept_invalid_certs(true)
        .build()
        .unwrap();
    SmtpTransport::builder_dangerous("127.0.0.1")
        .port(a.submission)
        .hello_name(ClientId::Domain("lettre.example".into()))
        .tls(Tls::Required(tls))
        .credentials(Credentials::new("alice".into(), "secret".into()))
        .timeout(Some(Duration::from_secs(30)))
        .build()
        .send(&message)
        .unwrap_or_else(|e| panic!("lettre: {e}\n{}", a.log()));
    // lettre puts CRLF before the final dot after a body that ends with CRLF (PEERS.md).
    let mut by_lettre = message.formatted();
    by_lettre.extend_from_slice(b"\r\n");

    assert!(
        wait_until(Duration::from_secs(30), POLL, || b.stored("bob").len() >= 2),
        "not at B:\nA:\n{}\nB:\n{}",
        a.log(),
        b.log()
    );
    let stored = b.stored("bob");
    assert_eq!(stored.len(), 2);
    // Which came first is the queue's business: tell them by their Subject.
    let (from_smtplib, from_lettre) =
        if String::from_utf8_lossy(&stored[0]).contains("Subject: via smtplib") {
            (&stored[0], &stored[1])
        } else {
            (&stored[1], &stored[0])
        };
    assert_relayed(from_smtplib, &by_smtplib, "smtplib.example");
    assert_relayed(from_lettre, &by_lettre, "lettre.example");

    // POP3 gives back the files as stored.
    let mut fetched = pop3_messages(b, "bob", "hunter2");
    fetched.sort();
    let mut stored = stored;
    stored.sort();
    assert!(fetched == stored, "POP3 differs from the Maildir");
    // Done: nothing left in A's queue.
    assert!(
        wait_until(Duration::from_secs(10), POLL, || a.queue(&[])
            == EMPTY_QUEUE),
        "{}",
        a.queue(&[])
    );
}

#[test]
fn submitted_mail_reaches_b_through_a_route_byte_for_byte() {
    if !peer("python3", "apt-get install -y python3") {
        return;
    }
    let b = office_b("relay-b-route", None);
    let route = route_to(b.smtp);
    let route: Vec<&str> = route.iter().map(String::as_str).collect();
    let a = office_a("relay-a-route", &route, &[]);
    smtplib_and_lettre_through_a_to_b(&a, &b);
}

#[test]
fn submitted_mail_reaches_b_through_its_mx_record_byte_for_byte() {
    if !peer("python3", "apt-get install -y python3") {
        return;
    }
    let dns = DnsServer::start(
        Zone::new()
            .mx("b.example", 10, "mx.b.example")
            .a("mx.b.example", "127.0.0.1"),
    );
    let b = office_b("relay-b-mx", None);
    let port = b.smtp.to_string();
    let resolver = dns.address();
    let a = office_a(
        "relay-a-mx",
        &["--resolver", &resolver, "--relay-port", &port],
        &[],
    );
    smtplib_and_lettre_through_a_to_b(&a, &b);
}

/// Submits one message as alice to A's submission port (AUTH PLAIN without TLS): `mail`
/// after `MAIL FROM:`, each of `rcpts` after `RCPT TO:`, `body` (dot-stuffed already, ending
/// with CRLF). Panics unless every reply is positive.
fn submit(port: u16, mail: &str, rcpts: &[&str], body: &[u8]) {
    let mut smtp = Client::connect(port);
    assert!(smtp.reply().starts_with("220"));
    assert!(smtp.smtp("EHLO client.example").starts_with("250"));
    let auth = smtp.smtp(&format!("AUTH PLAIN {ALICE_PLAIN}"));
    assert!(auth.starts_with("235"), "{auth}");
    let reply = smtp.smtp(&format!("MAIL FROM:{mail}"));
    assert!(reply.starts_with("250"), "MAIL FROM:{mail}: {reply}");
    for rcpt in rcpts {
        let reply = smtp.smtp(&format!("RCPT TO:{rcpt}"));
        assert!(reply.starts_with("250"), "RCPT TO:{rcpt}: {reply}");
    }
    assert!(smtp.smtp("DATA").starts_with("354"));
    smtp.send(body);
    let end = smtp.smtp(".");
    assert!(end.starts_with("250"), "{end}");
    assert!(smtp.smtp("QUIT").starts_with("221"));
}

const BODY: &[u8] = b"From: alice@a.example\r\nTo: bob@b.example\r\nSubject: while B was down\r\n\
                      \r\nHello.\r\n";

/// With B down, A takes a message for bob@b.example and queues it: the listing shows bob
/// pending with the connection failure as its last diagnostic. Returns A and B's port.
fn queued_while_b_is_down(name: &str, retry_first: &str) -> (Office, u16) {
    let b_port = common::free_port();
    let route = route_to(b_port);
    let route: Vec<&str> = route.iter().map(String::as_str).collect();
    let a = office_a(name, &route, &["--retry-first", retry_first]);
    submit(
        a.submission,
        "<alice@a.example>",
        &["<bob@b.example>"],
        BODY,
    );
    let mut listing = String::new();
    assert!(
        wait_until(Duration::from_secs(20), POLL, || {
            listing = a.queue(&[]);
            listing.contains("attempts 1")
        }),
        "no attempt made:\n{listing}\n{}",
        a.log()
    );
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    assert!(
        lines[0].contains("  from <alice@a.example>  arrived "),
        "{listing}"
    );
    assert!(
        lines[1].starts_with("  <bob@b.example>  pending  attempts 1  next "),
        "{listing}"
    );
    // Nobody listens: 4.4.1 (RFC 3463), with what the connection said.
    let last = lines[1].split_once("  last ").map(|(_, last)| last);
    let last = last.unwrap_or_else(|| panic!("no diagnostic: {listing}"));
    assert!(last.starts_with("4.4.1 "), "{listing}");
    assert!(last.contains(&format!("127.0.0.1:{b_port}")), "{listing}");
    assert_eq!(lines[2], "1 message queued, 1 recipient pending");
    (a, b_port)
}

/// B's copies for bob, once one arrived (at most `limit`), then `settle` later: a second copy
/// would have come by then.
fn delivered_to_bob(a: &Office, b: &Office, limit: Duration, settle: Duration) -> Vec<Vec<u8>> {
    assert!(
        wait_until(limit, POLL, || !b.stored("bob").is_empty()),
        "not delivered:\n{}\nA:\n{}\nB:\n{}",
        a.queue(&[]),
        a.log(),
        b.log()
    );
    std::thread::sleep(settle);
    b.messages("bob")
}

#[test]
fn queued_while_b_is_down_and_delivered_once_by_a_flush() {
    // The next retry is an hour away: only the flush can deliver it.
    let (a, b_port) = queued_while_b_is_down("relay-down-flush", "3600");
    let b = office_b("relay-up-flush", Some(b_port));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(b.stored("bob").is_empty(), "delivered before the flush");
    let output = a.queue(&["--flush"]);
    assert!(output.starts_with("flush requested"), "{output}");
    let messages = delivered_to_bob(&a, &b, Duration::from_secs(20), Duration::from_secs(3));
    assert_eq!(messages.len(), 1, "delivered exactly once");
    let (received, rest) = first_field(&messages[0]);
    assert!(
        received.starts_with("Received: from client.example"),
        "{received}"
    );
    assert_eq!(rest, BODY);
    assert_eq!(a.queue(&[]), EMPTY_QUEUE);
}

#[test]
fn queued_while_b_is_down_and_delivered_once_at_the_next_retry() {
    let (a, b_port) = queued_while_b_is_down("relay-down-retry", "2");
    let b = office_b("relay-up-retry", Some(b_port));
    // Retries 2, 4, 8 s apart: one of them finds B up. No flush asked.
    let messages = delivered_to_bob(&a, &b, Duration::from_secs(40), Duration::from_secs(3));
    assert_eq!(messages.len(), 1, "delivered exactly once");
    assert_eq!(first_field(&messages[0]).1, BODY);
    assert_eq!(a.queue(&[]), EMPTY_QUEUE);
    assert!(!a.dir.join("data").join(".queue").join("flush").exists());
}

/// A and B up, A routing to B.
fn pair(name: &str) -> (Office, Office) {
    let b = office_b(&format!("{name}-b"), None);
    let route = route_to(b.smtp);
    let route: Vec<&str> = route.iter().map(String::as_str).collect();
    let a = office_a(&format!("{name}-a"), &route, &["--retry-first", "1"]);
    (a, b)
}

/// Alice's Maildir on A after bob's copy reached B: waits for `expected` files, then a little
/// more (a second DSN would have come by then).
fn alice_after(a: &Office, b: &Office, expected: usize) -> Vec<Vec<u8>> {
    delivered_to_bob(a, b, Duration::from_secs(30), Duration::ZERO);
    assert!(
        wait_until(Duration::from_secs(20), POLL, || a.stored("alice").len()
            >= expected),
        "no DSN:\n{}\n{}",
        a.queue(&[]),
        a.log()
    );
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        wait_until(Duration::from_secs(10), POLL, || a.queue(&[])
            == EMPTY_QUEUE),
        "{}",
        a.queue(&[])
    );
    a.stored("alice")
}

/// Reads a DSN with Python's `email` package (policy default) and checks its structure:
/// `multipart/report; report-type=delivery-status`, text/plain, message/delivery-status, and
/// the returned part (`returned_type`), whose header fields must be those of the file at
/// `original` (and with `message/rfc822`, its body too). Prints the per-message fields, then
/// each recipient's block (`Name: value` lines, blocks apart by a line `--`).
const READ_DSN: &str = r#"
import email, email.policy, sys
dsn = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
original = email.message_from_bytes(open(sys.argv[2], 'rb').read(), policy=email.policy.default)
returned_type = sys.argv[3]
assert dsn.get_content_type() == 'multipart/report', dsn.get_content_type()
assert dsn.get_param('report-type') == 'delivery-status', dsn.get_param('report-type')
assert dsn['Auto-Submitted'] == 'auto-replied', dsn['Auto-Submitted']
assert dsn['To'] == 'alice@a.example', dsn['To']
parts = list(dsn.iter_parts())
types = [p.get_content_type() for p in parts]
assert types == ['text/plain', 'message/delivery-status', returned_type], types
assert 'This is the mail system at ' in parts[0].get_content(), parts[0].get_content()
if returned_type == 'message/rfc822':
    returned = parts[2].get_payload(0)
    assert returned.get_payload() == original.get_payload(), (returned.get_payload(), original.get_payload())
else:
    returned = email.message_from_string(parts[2].get_content(), policy=email.policy.default)
assert [(k, str(v)) for k, v in returned.items()] == [(k, str(v)) for k, v in original.items()], (returned.items(), original.items())
blocks = parts[1].get_payload()
for n, block in enumerate(blocks):
    if n:
        print('--')
    for name, value in block.items():
        print('%s: %s' % (name, value))
"#;

/// The blocks [`READ_DSN`] printed: per-message fields first, then one per recipient.
fn dsn_blocks(a: &Office, dsn: &[u8], original: &[u8], returned_type: &str) -> Vec<Vec<String>> {
    let dsn_path = a.dir.join(format!("dsn-{}.eml", common::free_port()));
    let original_path = a.dir.join(format!("original-{}.eml", common::free_port()));
    std::fs::write(&dsn_path, dsn).unwrap();
    std::fs::write(&original_path, original).unwrap();
    let out = python(
        READ_DSN,
        &[
            dsn_path.to_string_lossy().into_owned(),
            original_path.to_string_lossy().into_owned(),
            returned_type.into(),
        ],
    );
    out.split("--\n")
        .map(|block| block.lines().map(str::to_string).collect())
        .collect()
}

/// The value of field `name` in `block`, which must be there once.
fn value<'a>(block: &'a [String], name: &str) -> &'a str {
    let found: Vec<&str> = block
        .iter()
        .filter_map(|line| line.strip_prefix(&format!("{name}: ")))
        .collect();
    assert_eq!(found.len(), 1, "{name} in {block:?}");
    found[0]
}

#[test]
fn a_550_at_b_comes_back_to_the_sender_as_one_dsn() {
    if !peer("python3", "apt-get install -y python3") {
        return;
    }
    for ret in ["", " RET=FULL"] {
        let (a, b) = pair("relay-dsn");
        let before = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        submit(
            a.submission,
            &format!("<alice@a.example> ENVID=QQ314159{ret}"),
            &[
                "<bob@b.example>",
                "<nobody@b.example> ORCPT=rfc822;NoBody@b.example",
            ],
            BODY,
        );
        let alice = alice_after(&a, &b, 1);
        assert_eq!(alice.len(), 1, "exactly one DSN");
        let dsn = &alice[0];
        // What A relayed: its Received field, then what alice sent (as B stored it for bob).
        let original = &b.messages("bob")[0];
        let (received, sent) = first_field(original);
        assert_eq!(
            received_clauses(&received),
            [
                "from",
                "client.example",
                "([127.0.0.1])",
                "by",
                "mx.a.example",
                "with",
                "ESMTPA"
            ]
        );
        assert_eq!(sent, BODY);
        let returned_type = if ret.is_empty() {
            "text/rfc822-headers"
        } else {
            // The whole message, byte for byte.
            assert!(
                dsn.windows(original.len())
                    .any(|w| w == original.as_slice()),
                "RET=FULL: the original is not in the DSN"
            );
            "message/rfc822"
        };
        let blocks = dsn_blocks(&a, dsn, original, returned_type);
        assert_eq!(blocks.len(), 2, "one recipient reported: {blocks:?}");
        let message = &blocks[0];
        assert_eq!(value(message, "Reporting-MTA"), "dns; mx.a.example");
        assert_eq!(value(message, "Original-Envelope-Id"), "QQ314159");
        assert_eq!(
            value(message, "Received-From-MTA"),
            "dns; client.example ([127.0.0.1])"
        );
        let arrival = value(message, "Arrival-Date");
        let arrival = python(
            "import email.utils, sys; print(int(email.utils.parsedate_to_datetime(sys.argv[1]).timestamp()))",
            &[arrival.to_string()],
        );
        let arrival: u64 = arrival.trim().parse().unwrap();
        assert!(
            arrival + 1 >= before.as_secs() && arrival <= before.as_secs() + 30,
            "Arrival-Date {arrival} vs {before:?}"
        );
        let failed = &blocks[1];
        assert_eq!(value(failed, "Final-Recipient"), "rfc822;nobody@b.example");
        assert_eq!(
            value(failed, "Original-Recipient"),
            "rfc822;NoBody@b.example"
        );
        assert_eq!(value(failed, "Action"), "failed");
        assert_eq!(value(failed, "Status"), "5.1.1");
        // The hop as `--route` named it, and B's reply as it came.
        assert_eq!(value(failed, "Remote-MTA"), "dns; [127.0.0.1]");
        assert_eq!(
            value(failed, "Diagnostic-Code"),
            "smtp; 550 5.1.1 No such user here"
        );
        assert!(value(failed, "Last-Attempt-Date").ends_with(" +0000"));
        assert!(
            !String::from_utf8_lossy(dsn).contains("Final-Recipient: rfc822;bob@b.example"),
            "the delivered recipient is not reported"
        );
        // Bob has his copy, once.
        assert_eq!(b.stored("bob").len(), 1);
    }
}

#[test]
fn notify_success_gives_a_delivered_dsn_and_notify_never_none() {
    if !peer("python3", "apt-get install -y python3") {
        return;
    }
    let (a, b) = pair_both_ways("relay-notify");
    submit(
        a.submission,
        "<alice@a.example>",
        &["<bob@b.example> NOTIFY=SUCCESS"],
        BODY,
    );
    // Exactly one "delivered" DSN, from B, the server that stored the message (RFC 3461
    // 5.2.3); A passed NOTIFY on to B, which offers DSN, and reports nothing itself (5.2.1).
    let alice = alice_after(&a, &b, 1);
    assert_eq!(alice.len(), 1, "exactly one DSN");
    // What B returns: the header section of the copy it stored.
    let stored = &b.stored("bob")[0];
    let blocks = dsn_blocks(&a, &alice[0], stored, "text/rfc822-headers");
    assert_eq!(blocks.len(), 2, "{blocks:?}");
    assert_eq!(value(&blocks[0], "Reporting-MTA"), "dns; mx.b.example");
    assert_eq!(value(&blocks[1], "Final-Recipient"), "rfc822;bob@b.example");
    assert_eq!(value(&blocks[1], "Action"), "delivered");
    assert!(value(&blocks[1], "Status").starts_with("2."), "{blocks:?}");

    // NOTIFY=NEVER: neither the failure nor the delivery is reported.
    let (a, b) = pair("relay-never");
    submit(
        a.submission,
        "<alice@a.example>",
        &[
            "<bob@b.example> NOTIFY=NEVER",
            "<nobody@b.example> NOTIFY=NEVER",
        ],
        BODY,
    );
    let alice = alice_after(&a, &b, 0);
    assert!(alice.is_empty(), "a DSN despite NOTIFY=NEVER");
}

#[test]
fn a_stranger_cannot_relay_through_a_to_b() {
    let (a, b) = pair("relay-open");
    let mut smtp = Client::connect(a.smtp);
    assert!(smtp.reply().starts_with("220"));
    assert!(smtp.smtp("EHLO stranger.example").starts_with("250"));
    assert!(
        smtp.smtp("MAIL FROM:<x@stranger.example>")
            .starts_with("250")
    );
    assert_eq!(
        smtp.smtp("RCPT TO:<bob@b.example>"),
        "554 5.7.1 Relay access denied\r\n"
    );
    // No recipient: no message.
    let data = smtp.smtp("DATA");
    assert!(data.starts_with("5"), "{data}");
    assert!(smtp.smtp("QUIT").starts_with("221"));
    std::thread::sleep(Duration::from_secs(2));
    assert!(b.stored("bob").is_empty());
    assert_eq!(a.queue(&[]), EMPTY_QUEUE);
}

/// Relay throughput: 200 messages of 10 KiB submitted to A in one smtplib session (STARTTLS,
/// AUTH), timed from the first MAIL to the 200th file in B's `new/` (A's queue and both
/// Maildirs syncing each). Printed, not asserted.
#[test]
fn relay_throughput() {
    const MESSAGES: usize = 200;
    if !peer("python3", "apt-get install -y python3") {
        return;
    }
    let (a, b) = pair("relay-rate");
    let script = r#"
import smtplib, ssl, sys, time
port, count = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
line = b"x" * 78 + b"\r\n"
body = line * (10240 // len(line))
s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=30)
s.starttls(context=ctx)
s.login("alice", "secret")
start = time.time()
for n in range(count):
    message = b"Subject: rate %d\r\n\r\n" % n + body
    assert s.sendmail("alice@a.example", ["bob@b.example"], message) == {}
end = time.time()
s.quit()
print(start, end)
"#;
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([a.submission.to_string(), MESSAGES.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let new = b.dir.join("data").join("bob").join("new");
    let count = || std::fs::read_dir(&new).map_or(0, Iterator::count);
    // Until all arrived, or smtplib failed (it has ended, and not well).
    let arrived = wait_until(Duration::from_secs(180), POLL, || {
        count() >= MESSAGES
            || child
                .try_wait()
                .unwrap()
                .is_some_and(|status| !status.success())
    }) && count() >= MESSAGES;
    let done = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let submitted = child.wait_with_output().unwrap();
    assert!(submitted.status.success(), "smtplib failed");
    assert!(arrived, "{} of {MESSAGES} arrived:\n{}", count(), a.log());
    let times: Vec<f64> = String::from_utf8(submitted.stdout)
        .unwrap()
        .split_whitespace()
        .map(|t| t.parse().unwrap())
        .collect();
    let took = done.as_secs_f64() - times[0];
    eprintln!(
        "relay throughput: {MESSAGES} messages of 10 KiB in {took:.2} s from the first MAIL at A \
         to the last file in B's new/: {:.1} messages/s (submission alone took {:.2} s)",
        MESSAGES as f64 / took,
        times[1] - times[0]
    );
    assert!(wait_until(Duration::from_secs(10), POLL, || a.queue(&[])
        == EMPTY_QUEUE));
    assert_eq!(count(), MESSAGES);
}

/// A next hop on loopback that speaks just enough SMTP (std threads): its port and, per
/// connection in accept order, the verbs it was sent. It answers the final dot `dot_delay`
/// late and QUIT 300 ms late, and records QUIT as `QUIT unanswered` when the client had
/// closed the connection by then.
fn scripted_hop(dot_delay: Duration) -> (u16, std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::sync::{Arc, Mutex};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen: Arc<Mutex<Vec<Vec<String>>>> = Arc::default();
    let shared = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let index = {
                let mut all = shared.lock().unwrap();
                all.push(Vec::new());
                all.len() - 1
            };
            let seen = shared.clone();
            std::thread::spawn(move || {
                stream
                    .set_read_timeout(Some(Duration::from_secs(120)))
                    .unwrap();
                let mut lines = BufReader::new(stream.try_clone().unwrap());
                let _ = stream.write_all(b"220 hop.test ESMTP\r\n");
                let mut in_data = false;
                let mut line = String::new();
                loop {
                    line.clear();
                    if !matches!(lines.read_line(&mut line), Ok(1..)) {
                        return;
                    }
                    let line = line.trim_end();
                    if in_data && line != "." {
                        continue;
                    }
                    in_data = false;
                    let verb = line.split([' ', ':']).next().unwrap().to_ascii_uppercase();
                    if verb == "QUIT" {
                        // Answered late, and only while the client still listens: a client
                        // gone by then did not wait for its 221.
                        std::thread::sleep(Duration::from_millis(300));
                        stream.set_nonblocking(true).unwrap();
                        let gone = !matches!(
                            lines.get_mut().read(&mut [0; 1]),
                            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock
                        );
                        stream.set_nonblocking(false).unwrap();
                        let verb = if gone { "QUIT unanswered" } else { "QUIT" };
                        seen.lock().unwrap()[index].push(verb.into());
                        let _ = stream.write_all(b"221 2.0.0 bye\r\n");
                        return;
                    }
                    seen.lock().unwrap()[index].push(verb.clone());
                    if verb == "." {
                        std::thread::sleep(dot_delay);
                    }
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-hop.test\r\n250 PIPELINING\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 go on\r\n"
                        }
                        _ => b"250 2.0.0 ok\r\n",
                    };
                    if stream.write_all(reply).is_err() {
                        return;
                    }
                }
            });
        }
    });
    (port, seen)
}

/// The session A keeps open to a next hop after a message (its connection cache) is closed
/// with QUIT when A stops (SIGINT), before the process ends; not before, with a cache time
/// longer than the test.
#[test]
fn a_kept_relay_session_says_quit_when_the_server_stops() {
    let (port, seen) = scripted_hop(Duration::ZERO);
    let mut a = office_a(
        "relay-quit-at-stop",
        &route_to(port)
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
        &["--relay-cache-time", "600"],
    );
    submit(
        a.submission,
        "<alice@a.example>",
        &["<bob@b.example>"],
        BODY,
    );
    // The message went through and A is done with it (its session is then kept).
    assert!(
        wait_until(Duration::from_secs(30), POLL, || a
            .log()
            .contains("message done, removed from the queue")),
        "{}",
        a.log()
    );
    let commands = seen.lock().unwrap().clone();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0], ["EHLO", "MAIL", "RCPT", "DATA", "."]);
    interrupt(&a);
    let status = a.wait();
    assert!(status.success(), "{status:?}\n{}", a.log());
    // A waits for the 221, so the hop has seen the QUIT by the time A is gone.
    let commands = seen.lock().unwrap().clone();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0], ["EHLO", "MAIL", "RCPT", "DATA", ".", "QUIT"]);
}

/// A's office relaying through a [`scripted_hop`] that answers the final dot `dot_delay`
/// late, with `extra` options, once a message from alice to bob has reached that dot.
fn office_a_at_the_hops_dot(
    name: &str,
    dot_delay: Duration,
    extra: &[&str],
) -> (Office, std::sync::Arc<std::sync::Mutex<Vec<Vec<String>>>>) {
    let (port, seen) = scripted_hop(dot_delay);
    let route = route_to(port);
    let a = office_a(
        name,
        &route.iter().map(String::as_str).collect::<Vec<_>>(),
        extra,
    );
    submit(
        a.submission,
        "<alice@a.example>",
        &["<bob@b.example>"],
        BODY,
    );
    // The final dot is with the hop, its answer not yet sent.
    assert!(
        wait_until(Duration::from_secs(30), POLL, || seen
            .lock()
            .unwrap()
            .first()
            .is_some_and(|verbs| verbs.last().is_some_and(|verb| verb == "."))),
        "{}",
        a.log()
    );
    (a, seen)
}

/// Sends SIGINT (Ctrl-C) to the office's process.
fn interrupt(office: &Office) {
    let signalled = Command::new("kill")
        .args(["-INT", &office.pid().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
}

/// A message whose transaction with the next hop is under way at SIGINT (the hop takes its
/// time to answer the final dot) is not cut: A waits for the answer, writes the outcome (the
/// message leaves the queue, so a restart does not send it twice), says QUIT, then exits.
#[test]
fn a_relay_attempt_under_way_at_the_stop_ends_before_the_server_does() {
    let (mut a, seen) =
        office_a_at_the_hops_dot("relay-drain-at-stop", Duration::from_millis(1500), &[]);
    interrupt(&a);
    let status = a.wait();
    assert!(status.success(), "{status:?}\n{}", a.log());
    let log = a.log();
    assert!(
        log.contains("message done, removed from the queue"),
        "the outcome was not written before the exit:\n{log}"
    );
    let commands = seen.lock().unwrap().clone();
    assert_eq!(commands.len(), 1, "{commands:?}");
    assert_eq!(commands[0], ["EHLO", "MAIL", "RCPT", "DATA", ".", "QUIT"]);
}

/// A second SIGINT does not wait for the relay attempts under way (here one whose hop would
/// answer the final dot only after a minute, with `--relay-drain 120`).
#[test]
fn a_second_interrupt_stops_without_waiting_for_the_relay() {
    let (mut a, _seen) = office_a_at_the_hops_dot(
        "relay-second-interrupt",
        Duration::from_secs(60),
        &["--relay-drain", "120"],
    );
    interrupt(&a);
    // Still waiting for the attempt after the first.
    assert!(
        wait_until(Duration::from_secs(10), POLL, || a
            .log()
            .contains("waiting for the relay attempts under way")),
        "{}",
        a.log()
    );
    let stopping = std::time::Instant::now();
    interrupt(&a);
    let status = a.wait();
    assert!(status.success(), "{status:?}\n{}", a.log());
    assert!(
        stopping.elapsed() < Duration::from_secs(20),
        "{:?}",
        stopping.elapsed()
    );
    assert!(a.log().contains("second interrupt"), "{}", a.log());
    // The message stays queued, for after the restart.
    assert!(!a.log().contains("message done, removed from the queue"));
}
