//! Who may relay (issue 15): with `--domain`, a recipient of another domain is taken only from
//! a client that authenticated or is in a `--relay-network`; anyone else gets `554 5.7.1 Relay
//! access denied`, whatever form the address takes (a classic open-relay test battery), and
//! the local recipients of the same transaction are still served. Without `--domain` every
//! domain is ours: nothing is relayed. Every read is bounded by a socket timeout.
//!
//! The relay queue itself is not asserted here (it is built apart): only the RCPT replies and
//! what is stored locally.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::time::Duration;

use common::{Office, peer, python};

/// Every read and write on a test socket ends within this.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// An SMTP connection from the loopback address `from`.
struct Client {
    lines: BufReader<TcpStream>,
    stream: TcpStream,
}

impl Client {
    fn connect(from: Ipv4Addr, port: u16) -> Self {
        use socket2::{Domain, SockAddr, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&SockAddr::from(SocketAddr::new(IpAddr::V4(from), 0)))
            .unwrap();
        let to = SockAddr::from(SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port));
        socket.connect_timeout(&to, IO_TIMEOUT).unwrap();
        let stream = TcpStream::from(socket);
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        let mut client = Self {
            lines: BufReader::new(stream.try_clone().unwrap()),
            stream,
        };
        let greeting = client.reply();
        assert!(greeting.starts_with("220"), "{greeting}");
        client
    }

    /// The last line of a (possibly multi-line) reply.
    fn reply(&mut self) -> String {
        for _ in 0..100 {
            let mut line = String::new();
            self.lines.read_line(&mut line).unwrap();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
        panic!("reply too long");
    }

    fn smtp(&mut self, command: &str) -> String {
        self.stream
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
        self.reply()
    }
}

/// Recipients that must not be relayed for a stranger when `example.com` is ours: another
/// domain however it is written, and our domain smuggled into the local part (`%` hack,
/// quoted `@`, a source route through us, which RFC 5321 says to ignore).
const FOREIGN: &[&str] = &[
    "<user@other.example>",
    "<alice@other.example>",
    "<\"alice@example.com\"@other.example>",
    "<alice%example.com@other.example>",
    "<@example.com:alice@other.example>",
    "<@example.com,@mail.example.com:alice@other.example>",
    "<alice@example.com.other.example>",
    "<alice@sub.example.com>",
    "<alice@[192.0.2.1]>",
    "<ALICE@OTHER.EXAMPLE>",
];

/// Our domain as the last one, another hidden in the local part: local parts no user has
/// (550), never relayed.
const SMUGGLED: &[&str] = &[
    "<user%other.example@example.com>",
    "<\"user@other.example\"@example.com>",
    "<other.example!user@example.com>",
    "<user@other.example@example.com>",
];

/// A stranger on the SMTP port: every address of another domain gets 554 5.7.1, our domain
/// with a foreign address in the local part 550 (no such user) or 501 (bad syntax), never
/// 250; the local recipient of the same transaction is accepted and the message stored for
/// it alone.
#[test]
fn a_stranger_cannot_relay_whatever_the_address_form() {
    let office = Office::start("relay-denied", &["--domain", "example.com"]);
    let mut smtp = Client::connect(Ipv4Addr::LOCALHOST, office.smtp);
    assert!(smtp.smtp("EHLO client.example").starts_with("250"));
    assert!(smtp.smtp("MAIL FROM:<a@other.example>").starts_with("250"));
    for to in FOREIGN {
        let reply = smtp.smtp(&format!("RCPT TO:{to}"));
        assert_eq!(reply, "554 5.7.1 Relay access denied\r\n", "RCPT TO:{to}");
    }
    for to in SMUGGLED {
        let reply = smtp.smtp(&format!("RCPT TO:{to}"));
        assert!(
            reply.starts_with("550 5.1.1") || reply.starts_with("501"),
            "RCPT TO:{to}: {reply}"
        );
    }
    assert!(
        smtp.smtp("RCPT TO:<Alice@EXAMPLE.com>").starts_with("250"),
        "the local recipient of the same transaction"
    );
    assert!(smtp.smtp("DATA").starts_with("354"));
    let end = smtp.smtp("Subject: local\r\n\r\nfor alice\r\n.");
    assert!(end.starts_with("250"), "{end}");
    smtp.smtp("QUIT");
    assert_eq!(
        office.messages("alice"),
        vec![b"Subject: local\r\n\r\nfor alice\r\n".to_vec()]
    );
    assert!(office.messages("bob").is_empty());
    assert!(office.log().contains("relay access denied"));
}

/// `--relay-network 127.0.0.2`: a client from 127.0.0.2 relays without AUTH; one from
/// 127.0.0.1, outside it, is refused. `--relay-network 127.0.0.0/8` takes every loopback
/// client.
#[test]
fn a_relay_network_client_may_relay_without_authenticating() {
    let office = Office::start(
        "relay-network",
        &["--domain", "example.com", "--relay-network", "127.0.0.2"],
    );
    let inside = Ipv4Addr::new(127, 0, 0, 2);
    for (from, expected) in [
        (inside, "250"),
        (Ipv4Addr::LOCALHOST, "554 5.7.1 Relay access denied"),
    ] {
        let mut smtp = Client::connect(from, office.smtp);
        assert!(smtp.smtp("EHLO client.example").starts_with("250"));
        assert!(smtp.smtp("MAIL FROM:<a@example.com>").starts_with("250"));
        for to in FOREIGN {
            let reply = smtp.smtp(&format!("RCPT TO:{to}"));
            assert!(reply.starts_with(expected), "{from} RCPT TO:{to}: {reply}");
        }
        // Local recipients are local either way.
        assert!(smtp.smtp("RCPT TO:<bob@example.com>").starts_with("250"));
        smtp.smtp("QUIT");
    }
    drop(office);
    let office = Office::start(
        "relay-network-8",
        &["--domain", "example.com", "--relay-network", "127.0.0.0/8"],
    );
    let mut smtp = Client::connect(Ipv4Addr::LOCALHOST, office.smtp);
    smtp.smtp("EHLO client.example");
    smtp.smtp("MAIL FROM:<a@example.com>");
    assert!(
        smtp.smtp("RCPT TO:<carol@other.example>")
            .starts_with("250")
    );
}

/// A client that authenticated after STARTTLS (on the SMTP port and on submission) may relay;
/// the same client before AUTH may not.
#[test]
fn an_authenticated_client_may_relay() {
    if !peer("python3", "apt-get install python3") {
        return;
    }
    let office = Office::start("relay-auth", &["--domain", "example.com"]);
    let script = r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
for port in sys.argv[1:]:
    s = smtplib.SMTP("127.0.0.1", int(port), local_hostname="client.example")
    s.starttls(context=ctx)
    s.ehlo("client.example")
    if port == sys.argv[1]:
        # Under TLS but not authenticated yet: refused.
        assert s.mail("alice@example.com")[0] == 250
        code, text = s.rcpt("carol@other.example")
        assert (code, text) == (554, b"5.7.1 Relay access denied"), (code, text)
        s.rset()
    s.login("alice", "secret")
    assert s.mail("alice@example.com")[0] == 250
    for to in ["carol@other.example", "dan@[192.0.2.1]"]:
        code, text = s.rcpt(to)
        assert code == 250, (port, to, code, text)
    assert s.rcpt("bob@example.com")[0] == 250
    assert s.rcpt("nobody@example.com")[0] == 550
    s.rset()
    s.quit()
print("ok")
"#;
    let out = python(
        script,
        &[office.smtp.to_string(), office.submission.to_string()],
    );
    assert_eq!(out.trim(), "ok", "{}", office.log());
}

/// Without `--domain` every domain is ours (as before relaying existed): a known user of any
/// domain is stored, an unknown one is 550, and nothing is ever relayed, even from a relay
/// network.
#[test]
fn without_domain_every_domain_is_local_and_nothing_is_relayed() {
    let office = Office::start("relay-no-domain", &["--relay-network", "127.0.0.0/8"]);
    let mut smtp = Client::connect(Ipv4Addr::LOCALHOST, office.smtp);
    smtp.smtp("EHLO client.example");
    smtp.smtp("MAIL FROM:<a@example.org>");
    assert!(
        smtp.smtp("RCPT TO:<carol@other.example>")
            .starts_with("550 5.1.1")
    );
    assert!(
        smtp.smtp("RCPT TO:<alice@anything.example>")
            .starts_with("250")
    );
    assert!(smtp.smtp("DATA").starts_with("354"));
    assert!(smtp.smtp("Subject: x\r\n\r\nx\r\n.").starts_with("250"));
    smtp.smtp("QUIT");
    assert_eq!(office.messages("alice").len(), 1);
    assert!(office.log().contains("--relay-network without --domain"));
}

/// RFC 5321 4.5.1: `<Postmaster>` and `postmaster@` each of our domains (any case) are taken
/// from anyone and stored for the `--postmaster` user; `postmaster@` another domain is still
/// another domain's.
#[test]
fn postmaster_is_taken_in_both_forms_for_the_postmaster_user() {
    let office = Office::start(
        "relay-postmaster",
        &["--domain", "example.com", "--postmaster", "bob"],
    );
    let mut smtp = Client::connect(Ipv4Addr::LOCALHOST, office.smtp);
    smtp.smtp("EHLO client.example");
    assert!(smtp.smtp("MAIL FROM:<a@example.org>").starts_with("250"));
    let reply = smtp.smtp("RCPT TO:<Postmaster>");
    assert!(reply.starts_with("250"), "{reply}");
    let reply = smtp.smtp("RCPT TO:<POSTMASTER@Example.com>");
    assert!(reply.starts_with("250"), "{reply}");
    let reply = smtp.smtp("RCPT TO:<postmaster@other.example>");
    assert!(reply.starts_with("554 5.7.1"), "{reply}");
    assert!(smtp.smtp("DATA").starts_with("354"));
    assert!(
        smtp.smtp("Subject: abuse report\r\n\r\nx\r\n.")
            .starts_with("250")
    );
    smtp.smtp("QUIT");
    let stored = office.stored("bob");
    assert_eq!(stored.len(), 1, "one copy for the one user");
    assert!(
        stored[0].starts_with(b"Return-Path: <a@example.org>\r\nDelivered-To: postmaster\r\n"),
        "{}",
        String::from_utf8_lossy(&stored[0])
    );
    assert!(office.messages("alice").is_empty());
}

/// RFC 8689 2: REQUIRETLS is offered once the session is under TLS, never in plaintext (a
/// REQUIRETLS message then leaves only over verified TLS to a hop the operator named).
#[test]
fn requiretls_is_offered_under_tls_only() {
    if !peer("python3", "apt-get install -y python3") {
        return;
    }
    let office = Office::start("relay-requiretls-offer", &["--domain", "here.example"]);
    let out = python(
        r#"
import smtplib, ssl, sys
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s = smtplib.SMTP("127.0.0.1", int(sys.argv[1]))
s.ehlo("client.example")
print("plain", s.has_extn("requiretls"))
s.starttls(context=ctx)
s.ehlo("client.example")
print("tls", s.has_extn("requiretls"))
s.quit()
"#,
        &[office.smtp.to_string()],
    );
    assert_eq!(out, "plain False\ntls True\n");
}
