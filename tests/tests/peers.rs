//! post-office against real peers, end to end, every message checked byte for byte.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::process::Command;

use common::{Office, binary, peer, python, run, scratch};

const MESSAGE: &[u8] = b"From: Alice <a@example.org>\r\nSubject: test\r\n\r\n.a line with a leading dot\r\n..two dots\r\n.\r\nlast line\r\n";

/// 1. lettre (Rust SMTP client): plaintext, STARTTLS, and AUTH after STARTTLS.
#[test]
fn lettre_plain_starttls_auth() {
    use lettre::transport::smtp::authentication::Credentials;
    use lettre::transport::smtp::client::{Tls, TlsParameters};
    use lettre::{Message, SmtpTransport, Transport};

    let office = Office::start("lettre", &[]);
    let email = |n: u32| {
        Message::builder()
            .from("Sender <sender@example.org>".parse().unwrap())
            .to("Alice <alice@example.com>".parse().unwrap())
            .subject(format!("lettre {n}"))
            .body(format!(".leading dot {n}\r\nsecond line\r\n"))
            .unwrap()
    };
    let tls = TlsParameters::builder("localhost".to_string())
        .dangerous_accept_invalid_certs(true)
        .build()
        .unwrap();
    let plain = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(office.smtp)
        .build();
    let starttls = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(office.smtp)
        .tls(Tls::Required(tls.clone()))
        .build();
    let auth = SmtpTransport::builder_dangerous("127.0.0.1")
        .port(office.submission)
        .tls(Tls::Required(tls))
        .credentials(Credentials::new("alice".into(), "secret".into()))
        .build();
    let mut sent = Vec::new();
    for (n, transport) in [plain, starttls, auth].iter().enumerate() {
        let message = email(n as u32);
        transport
            .send(&message)
            .unwrap_or_else(|e| panic!("lettre #{n}: {e}\n{}", office.log()));
        // lettre ends DATA with CRLF "." CRLF after the body even when the body already ends
        // with CRLF: the message the server receives has one more empty line, byte for byte.
        let mut wire = message.formatted();
        wire.extend_from_slice(b"\r\n");
        sent.push(wire);
    }
    assert_eq!(office.messages("alice"), sent);
}

/// 2. Python's smtplib (STARTTLS, AUTH, SMTPUTF8, 8BITMIME, several recipients and messages
///    per session) and poplib (STLS, APOP, USER/PASS, UIDL, TOP, RETR, DELE, QUIT, then a
///    second session that sees the deletions).
#[test]
fn python_smtplib_and_poplib() {
    if !peer("python3", "apt-get install python3") {
        return;
    }
    let office = Office::start("python", &[]);
    let script = r#"
import poplib, smtplib, ssl, sys
smtp_port, pop3_port = int(sys.argv[1]), int(sys.argv[2])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
def sent(lines):
    # post-office's trace fields come first: Return-Path, Delivered-To, Received (folded).
    for at, name in enumerate([b"Return-Path: ", b"Delivered-To: ", b"Received: "]):
        assert lines[at].startswith(name), lines[:6]
    rest = lines[3:]
    while rest[0].startswith(b"\t"):
        rest = rest[1:]
    return rest
one = b"Subject: one\r\n\r\n.dot\r\nbody one\r\n"
two = "Subject: zwei\r\n\r\nGr\u00fc\u00dfe, J\u00f6rg\r\n".encode()
s = smtplib.SMTP("127.0.0.1", smtp_port)
s.starttls(context=ctx)
s.login("alice", "secret")
refused = s.sendmail("sender@example.org", ["alice@example.com", "bob@example.com"], one)
assert refused == {}, refused
refused = s.sendmail("j\u00f6rg@example.org", ["alice@example.com"], two, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
assert refused == {}, refused
try:
    s.sendmail("sender@example.org", ["nobody@example.com"], one)
    raise SystemExit("unknown user accepted")
except smtplib.SMTPRecipientsRefused as e:
    assert e.recipients["nobody@example.com"][0] == 550
s.quit()

p = poplib.POP3("127.0.0.1", pop3_port)
greeting = p.getwelcome()
p.stls(context=ctx)
p.apop("alice", "secret")
count, size = p.stat()
assert count == 2, count
uids = p.uidl()[1]
assert len(uids) == 2
top = sent(p.top(1, 0)[1])
assert top == [b"Subject: one", b""], top
assert b"\r\n".join(sent(p.retr(1)[1])) + b"\r\n" == one
assert b"\r\n".join(sent(p.retr(2)[1])) + b"\r\n" == two
p.dele(1)
assert p.quit().startswith(b"+OK")

p = poplib.POP3("127.0.0.1", pop3_port)
p.stls(context=ctx)
p.user("alice"); p.pass_("secret")
assert p.stat()[0] == 1
p.quit()
p = poplib.POP3("127.0.0.1", pop3_port)
p.stls(context=ctx)
p.user("bob"); p.pass_("hunter2")
assert b"\r\n".join(sent(p.retr(1)[1])) + b"\r\n" == one
p.quit()
print("ok")
"#;
    let out = python(script, &[office.smtp.to_string(), office.pop3.to_string()]);
    assert_eq!(out.trim(), "ok", "{}", office.log());
    let alice = office.messages("alice");
    assert_eq!(
        alice,
        vec!["Subject: zwei\r\n\r\nGrüße, Jörg\r\n".as_bytes().to_vec()]
    );
    assert_eq!(
        office.messages("bob"),
        vec![b"Subject: one\r\n\r\n.dot\r\nbody one\r\n".to_vec()]
    );
}

/// 5. curl as an SMTP and as a POP3 client.
#[test]
fn curl_smtp_and_pop3() {
    if !peer("curl", "apt-get install curl") {
        return;
    }
    let office = Office::start("curl", &[]);
    let dir = scratch("curl-message");
    let file = dir.join("message.eml");
    std::fs::write(&file, MESSAGE).unwrap();
    run(Command::new("curl")
        .args(["--silent", "--show-error", "--ssl-reqd", "--insecure"])
        .arg(format!("smtp://127.0.0.1:{}", office.smtp))
        .args([
            "--user",
            "alice:secret",
            "--mail-from",
            "sender@example.org",
        ])
        .args(["--mail-rcpt", "alice@example.com", "--upload-file"])
        .arg(&file));
    assert_eq!(office.messages("alice"), vec![MESSAGE.to_vec()]);
    let fetched = run(Command::new("curl")
        .args(["--silent", "--show-error", "--ssl-reqd", "--insecure"])
        .arg(format!("pop3://127.0.0.1:{}/1", office.pop3))
        .args(["--user", "alice:secret"]));
    assert_eq!(common::without_trace(fetched.as_bytes()), MESSAGE);
}

/// `post-office send` and `post-office fetch` against post-office itself: every listener.
#[test]
fn own_send_and_fetch_every_listener() {
    let office = Office::start("own", &[]);
    let dir = scratch("own-client");
    let file = dir.join("message.eml");
    std::fs::write(&file, MESSAGE).unwrap();
    let send = |args: &[&str]| {
        run(Command::new(binary())
            .arg("send")
            .args([
                "--from",
                "sender@example.org",
                "--to",
                "alice@example.com",
                "--insecure",
            ])
            .args(args)
            .arg(&file))
    };
    send(&[
        "--server",
        &format!("127.0.0.1:{}", office.smtp),
        "--starttls",
    ]);
    send(&[
        "--server",
        &format!("127.0.0.1:{}", office.submission),
        "--starttls",
        "--auth",
        "alice:secret",
    ]);
    send(&["--server", &format!("127.0.0.1:{}", office.smtps), "--tls"]);
    send(&["--server", &format!("127.0.0.1:{}", office.lmtp), "--lmtp"]);
    // Submission without AUTH is refused, and the exit status says so.
    let refused = Command::new(binary())
        .arg("send")
        .args([
            "--from",
            "sender@example.org",
            "--to",
            "alice@example.com",
            "--insecure",
            "--starttls",
        ])
        .args(["--server", &format!("127.0.0.1:{}", office.submission)])
        .arg(&file)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    assert_eq!(office.messages("alice"), vec![MESSAGE.to_vec(); 4]);
    let out = dir.join("fetched");
    let fetch = |args: &[&str]| {
        run(Command::new(binary())
            .arg("fetch")
            .args([
                "--user",
                "alice:secret",
                "--insecure",
                "--out",
                out.to_str().unwrap(),
            ])
            .args(args))
    };
    fetch(&["--server", &format!("127.0.0.1:{}", office.pop3), "--stls"]);
    fetch(&[
        "--server",
        &format!("127.0.0.1:{}", office.pop3s),
        "--tls",
        "--apop",
    ]);
    fetch(&[
        "--server",
        &format!("127.0.0.1:{}", office.pop3),
        "--stls",
        "--auth",
        "PLAIN",
        "--delete",
    ]);
    let fetched: Vec<Vec<u8>> = common::messages_in(&out)
        .iter()
        .map(|message| common::without_trace(message))
        .collect();
    assert_eq!(fetched, vec![MESSAGE.to_vec(); 12]);
    assert!(office.messages("alice").is_empty());
}

/// `post-office send --ca` and `fetch --ca` trust a server whose self-signed certificate is
/// that very file, even one made by a plain `openssl req -x509` (marked CA:TRUE, which rustls
/// alone refuses as a server's own certificate), by IP address and by name, over STARTTLS/STLS
/// and implicit TLS; a server presenting another certificate is refused.
#[test]
fn send_and_fetch_trust_an_openssl_self_signed_certificate() {
    if !peer("openssl", "apt-get install openssl") {
        return;
    }
    let dir = scratch("self-signed");
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    for name in ["server", "other"] {
        run(Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            ])
            .args(["-subj", "/CN=localhost", "-addext"])
            .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
            .args(["-keyout", &path(&format!("{name}.key"))])
            .args(["-out", &path(&format!("{name}.pem"))]));
    }
    let text =
        run(Command::new("openssl").args(["x509", "-noout", "-text", "-in", &path("server.pem")]));
    assert!(text.contains("CA:TRUE"), "{text}");
    let office = Office::start(
        "self-signed-office",
        &[
            "--tls-cert",
            &path("server.pem"),
            "--tls-key",
            &path("server.key"),
        ],
    );
    let file = dir.join("message.eml");
    std::fs::write(&file, MESSAGE).unwrap();
    let send = |ca: &str, server: String, tls: &str| {
        Command::new(binary())
            .arg("send")
            .args(["--server", &server, tls, "--ca", &path(ca)])
            .args(["--from", "sender@example.org", "--to", "alice@example.com"])
            .arg(&file)
            .output()
            .unwrap()
    };
    let out = dir.join("fetched");
    let fetch = |ca: &str, server: String, tls: &str| {
        Command::new(binary())
            .arg("fetch")
            .args(["--server", &server, tls, "--ca", &path(ca)])
            .args(["--user", "alice:secret", "--out", out.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let report = |output: &std::process::Output| {
        format!(
            "{}{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr),
            office.log()
        )
    };
    for (server, tls) in [
        (format!("127.0.0.1:{}", office.smtp), "--starttls"),
        (format!("localhost:{}", office.smtp), "--starttls"),
        (format!("127.0.0.1:{}", office.smtps), "--tls"),
    ] {
        let sent = send("server.pem", server, tls);
        assert!(sent.status.success(), "{}", report(&sent));
    }
    assert_eq!(office.messages("alice"), vec![MESSAGE.to_vec(); 3]);
    // Another certificate: refused, nothing sent.
    for (server, tls) in [
        (format!("127.0.0.1:{}", office.smtp), "--starttls"),
        (format!("127.0.0.1:{}", office.smtps), "--tls"),
    ] {
        let refused = send("other.pem", server, tls);
        assert!(!refused.status.success(), "{}", report(&refused));
    }
    assert_eq!(office.messages("alice").len(), 3);
    for (server, tls) in [
        (format!("127.0.0.1:{}", office.pop3), "--stls"),
        (format!("localhost:{}", office.pop3s), "--tls"),
    ] {
        let refused = fetch("other.pem", server.clone(), tls);
        assert!(!refused.status.success(), "{}", report(&refused));
        let fetched = fetch("server.pem", server, tls);
        assert!(fetched.status.success(), "{}", report(&fetched));
    }
    let fetched: Vec<Vec<u8>> = common::messages_in(&out)
        .iter()
        .map(|message| common::without_trace(message))
        .collect();
    assert_eq!(fetched, vec![MESSAGE.to_vec(); 6]);
}

/// 3. swaks with `--pipeline`, `--tls`, `--auth`, and a body with lines that start with dots.
#[test]
fn swaks_pipeline_tls_auth() {
    if !peer(
        "swaks",
        "apt-get install swaks libnet-ssleay-perl libio-socket-ssl-perl",
    ) {
        return;
    }
    let office = Office::start("swaks", &[]);
    let dir = scratch("swaks-message");
    let file = dir.join("message.eml");
    std::fs::write(&file, MESSAGE).unwrap();
    for port in [office.smtp, office.submission] {
        run(Command::new("swaks")
            .args(["-s", "127.0.0.1", "-p", &port.to_string()])
            .args([
                "-f",
                "sender@example.org",
                "-t",
                "alice@example.com,bob@example.com",
            ])
            .args([
                "--tls",
                "--pipeline",
                "-a",
                "PLAIN",
                "-au",
                "alice",
                "-ap",
                "secret",
            ])
            .arg("--data")
            .arg(format!("@{}", file.display()))
            .arg("--silent"));
    }
    // swaks, like lettre, puts CRLF before the final dot even after a body that ends with
    // CRLF (PEERS.md): one more empty line arrives, byte for byte.
    let mut wire = MESSAGE.to_vec();
    wire.extend_from_slice(b"\r\n");
    assert_eq!(office.messages("alice"), vec![wire.clone(); 2]);
    assert_eq!(office.messages("bob"), vec![wire; 2]);
}

/// 4. Postfix's smtp-source: 2000 messages in 20 sessions into the SMTP listener, and the same
///    in LMTP mode into the LMTP listener; every message is in the Maildirs.
#[test]
fn postfix_smtp_source_smtp_and_lmtp() {
    if !peer(
        "smtp-source",
        "apt-get install postfix (choose \"No configuration\")",
    ) {
        return;
    }
    // 2000 connections a run from one address: over the default 60 a minute per client.
    let office = Office::start("smtp-source", &["--rate-per-client", "0"]);
    for (port, lmtp, user) in [(office.smtp, false, "alice"), (office.lmtp, true, "bob")] {
        let mut command = Command::new("smtp-source");
        command.args([
            "-s",
            "20",
            "-m",
            "2000",
            "-l",
            "1024",
            "-f",
            "source@example.org",
        ]);
        command.args(["-t", &format!("{user}@example.com"), "-M", "client.example"]);
        if lmtp {
            command.arg("-L");
        }
        command.arg(format!("127.0.0.1:{port}"));
        run(&mut command);
        let messages = office.messages(user);
        assert_eq!(messages.len(), 2000, "{user}");
        assert!(
            messages
                .iter()
                .all(|m| m.windows(18).any(|w| w == b"From: <source@exam")),
            "{user}"
        );
    }
}

/// 7a. `post-office send` into aiosmtpd (Python): the message arrives byte for byte.
#[test]
fn send_into_aiosmtpd() {
    if !peer("python3", "apt-get install python3") {
        return;
    }
    let available = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !available {
        assert!(
            std::env::var("PEERS_REQUIRED").as_deref() != Ok("1"),
            "aiosmtpd missing: pip install aiosmtpd"
        );
        eprintln!("skipped: aiosmtpd is not installed; install it with: pip install aiosmtpd");
        return;
    }
    let dir = scratch("aiosmtpd");
    let port = common::free_port();
    let script = r#"
import asyncio, sys
from aiosmtpd.controller import Controller
out, port = sys.argv[1], int(sys.argv[2])
class Keep:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Keep.n += 1
        with open(f"{out}/{Keep.n}.eml", "wb") as f:
            f.write(envelope.original_content)
        with open(f"{out}/{Keep.n}.rcpt", "w") as f:
            f.write(" ".join(envelope.rcpt_tos))
        return "250 OK"
controller = Controller(Keep(), hostname="127.0.0.1", port=port)
controller.start()
import time
while True:
    time.sleep(1)
"#;
    let mut server = Command::new("python3")
        .args(["-c", script, dir.to_str().unwrap(), &port.to_string()])
        .spawn()
        .unwrap();
    common::wait_for(port);
    let file = dir.join("message.eml");
    std::fs::write(&file, MESSAGE).unwrap();
    let result = Command::new(binary())
        .arg("send")
        .args(["--server", &format!("127.0.0.1:{port}")])
        .args([
            "--from",
            "sender@example.org",
            "--to",
            "x@example.com",
            "--to",
            "y@example.com",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let printed = String::from_utf8_lossy(&result.stdout);
    assert!(
        printed.contains("<x@example.com>: accepted")
            && printed.contains("<y@example.com>: accepted"),
        "{printed}"
    );
    assert_eq!(std::fs::read(dir.join("1.eml")).unwrap(), MESSAGE);
    assert_eq!(
        std::fs::read_to_string(dir.join("1.rcpt")).unwrap(),
        "x@example.com y@example.com"
    );
}

/// 7b. `post-office send` into Postfix's smtp-sink, in SMTP and in LMTP mode.
#[test]
fn send_into_smtp_sink() {
    if !peer(
        "smtp-sink",
        "apt-get install postfix (choose \"No configuration\")",
    ) {
        return;
    }
    let dir = scratch("smtp-sink");
    let file = dir.join("message.eml");
    std::fs::write(&file, MESSAGE).unwrap();
    for lmtp in [false, true] {
        let port = common::free_port();
        let mut sink = Command::new("smtp-sink");
        sink.args(["-u", "nobody", "-c"]);
        if lmtp {
            sink.arg("-L");
        }
        let mut sink = sink
            .arg(format!("127.0.0.1:{port}"))
            .arg("16")
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        common::wait_for(port);
        let mut send = Command::new(binary());
        send.arg("send")
            .args(["--server", &format!("127.0.0.1:{port}")])
            .args([
                "--from",
                "sender@example.org",
                "--to",
                "x@example.com",
                "--to",
                "y@example.com",
            ]);
        if lmtp {
            send.arg("--lmtp");
        }
        let result = send.arg(&file).output().unwrap();
        let _ = sink.kill();
        let _ = sink.wait();
        let out = String::from_utf8_lossy(&result.stdout);
        assert!(
            result.status.success(),
            "{out}{}",
            String::from_utf8_lossy(&result.stderr)
        );
        assert_eq!(out.matches(": accepted").count(), 2, "{out}");
    }
}

/// 6. fetchmail retrieving everything over STLS.
#[test]
fn fetchmail_over_stls() {
    if !peer("fetchmail", "apt-get install fetchmail") {
        return;
    }
    let office = Office::start("fetchmail", &[]);
    // Three messages for alice, delivered through SMTP.
    let dir = scratch("fetchmail-home");
    let file = dir.join("message.eml");
    std::fs::write(&file, MESSAGE).unwrap();
    for _ in 0..3 {
        run(Command::new(binary())
            .arg("send")
            .args(["--server", &format!("127.0.0.1:{}", office.smtp)])
            .args(["--from", "sender@example.org", "--to", "alice@example.com"])
            .arg(&file));
    }
    let out = dir.join("out");
    std::fs::create_dir_all(&out).unwrap();
    let rc = dir.join("fetchmailrc");
    std::fs::write(
        &rc,
        format!(
            "set no syslog\n\
             poll localhost with proto POP3 port {port}\n  \
             user \"alice\" there with password \"secret\" is \"nobody\" here\n  \
             sslproto 'TLS1.2+' no sslcertck\n  \
             mda \"/bin/sh -c 'cat > {out}/msg.$$'\"\n",
            port = office.pop3,
            out = out.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&rc, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let result = Command::new("fetchmail")
        .args(["-f", rc.to_str().unwrap(), "--nodetach"])
        .env("FETCHMAILHOME", &dir)
        .output()
        .unwrap();
    assert_eq!(
        result.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let mut fetched: Vec<Vec<u8>> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    fetched.sort();
    assert_eq!(fetched.len(), 3);
    for message in &fetched {
        // fetchmail hands the MDA the message with its own Received: header on top and LF
        // line ends; what follows it is the message, line for line.
        let text = String::from_utf8_lossy(message).replace("\r\n", "\n");
        let original = String::from_utf8_lossy(MESSAGE).replace("\r\n", "\n");
        assert!(text.ends_with(&original), "{text}");
    }
    // fetchmail deleted what it fetched (no `keep`).
    assert!(office.messages("alice").is_empty());
}

/// 8. `post-office fetch` from Dovecot (a private instance on a high port) over STLS with
///    USER/PASS, APOP and AUTH PLAIN: every message byte for byte.
#[test]
fn fetch_from_dovecot() {
    if !peer("dovecot", "apt-get install dovecot-core dovecot-pop3d")
        || !peer("openssl", "apt-get install openssl")
    {
        return;
    }
    let dir = scratch("dovecot");
    let port = common::free_port();
    // A CA and a server certificate it signed: `--ca` trusts the chain (a server's own
    // self-signed certificate is trusted too: see the test above).
    let path = |name: &str| dir.join(name).to_str().unwrap().to_string();
    run(Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=peer-tests CA",
        ])
        .args(["-keyout", &path("ca.key"), "-out", &path("ca.pem")]));
    run(Command::new("openssl")
        .args([
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
        ])
        .args(["-keyout", &path("key.pem"), "-out", &path("server.csr")]));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(Command::new("openssl")
        .args([
            "x509",
            "-req",
            "-in",
            &path("server.csr"),
            "-CA",
            &path("ca.pem"),
            "-CAkey",
            &path("ca.key"),
        ])
        .args([
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            &path("ext.cnf"),
            "-out",
            &path("cert.pem"),
        ]));
    let home = dir.join("home");
    let maildir = home.join("alice").join("Maildir");
    let messages: Vec<Vec<u8>> = (0..3)
        .map(|i| format!("Subject: dovecot {i}\r\n\r\n.dot line {i}\r\nend\r\n").into_bytes())
        .collect();
    for sub in ["tmp", "new", "cur"] {
        std::fs::create_dir_all(maildir.join(sub)).unwrap();
    }
    for (i, message) in messages.iter().enumerate() {
        std::fs::write(
            maildir.join("new").join(format!("100{i}.M1P1.test")),
            message,
        )
        .unwrap();
    }
    run(Command::new("chown")
        .args(["-R", "nobody:nogroup"])
        .arg(&home));
    std::fs::write(dir.join("passwd"), "alice:{PLAIN}secret\n").unwrap();
    let d = dir.display();
    let config = format!(
        "base_dir = {d}/run\n\
         state_dir = {d}/state\n\
         instance_name = peer-tests-{port}\n\
         protocols = pop3\n\
         listen = 127.0.0.1\n\
         log_path = {d}/dovecot.log\n\
         ssl = yes\n\
         ssl_cert = <{d}/cert.pem\n\
         ssl_key = <{d}/key.pem\n\
         auth_mechanisms = plain apop\n\
         passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {d}/passwd\n}}\n\
         userdb {{\n  driver = static\n  args = uid=nobody gid=nogroup home={d}/home/%u\n}}\n\
         mail_location = maildir:~/Maildir\n\
         service pop3-login {{\n  inet_listener pop3 {{\n    port = {port}\n  }}\n  inet_listener pop3s {{\n    port = 0\n  }}\n}}\n\
         service anvil {{\n  chroot =\n}}\n\
         service stats {{\n  chroot =\n}}\n"
    );
    let conf = dir.join("dovecot.conf");
    std::fs::write(&conf, config).unwrap();
    let mut dovecot = Command::new("dovecot")
        .args(["-c", conf.to_str().unwrap(), "-F"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    common::wait_for(port);
    let fetch = |name: &str, args: &[&str]| {
        let out = dir.join(name);
        let result = Command::new(binary())
            .arg("fetch")
            .args(["--server", &format!("localhost:{port}"), "--stls"])
            .args(["--ca", &path("ca.pem")])
            .args(["--user", "alice:secret", "--out", out.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr)
        );
        (result.status.success(), report, common::messages_in(&out))
    };
    let results = [
        fetch("user", &[]),
        fetch("apop", &["--apop"]),
        fetch("plain", &["--auth", "PLAIN"]),
    ];
    let _ = Command::new("doveadm")
        .args(["-c", conf.to_str().unwrap(), "stop"])
        .status();
    let _ = dovecot.kill();
    let _ = dovecot.wait();
    let log = std::fs::read_to_string(dir.join("dovecot.log")).unwrap_or_default();
    for (ok, report, mut fetched) in results {
        assert!(ok, "{report}\n{log}");
        fetched.sort();
        assert_eq!(fetched, messages, "{report}\n{log}");
    }
}

/// Ctrl-C: open sessions are told (421 / -ERR) and the program exits.
#[test]
fn ctrl_c_closes_sessions_politely() {
    use std::io::{BufRead, BufReader, Write};
    let mut office = Office::start("ctrl-c", &[]);
    let smtp = std::net::TcpStream::connect(("127.0.0.1", office.smtp)).unwrap();
    let pop3 = std::net::TcpStream::connect(("127.0.0.1", office.pop3)).unwrap();
    let mut smtp_lines = BufReader::new(smtp.try_clone().unwrap());
    let mut pop3_lines = BufReader::new(pop3.try_clone().unwrap());
    let mut line = String::new();
    smtp_lines.read_line(&mut line).unwrap();
    assert!(line.starts_with("220 "), "{line}");
    line.clear();
    pop3_lines.read_line(&mut line).unwrap();
    assert!(line.starts_with("+OK"), "{line}");
    (&smtp).write_all(b"EHLO client.example\r\n").unwrap();
    loop {
        line.clear();
        smtp_lines.read_line(&mut line).unwrap();
        if line.starts_with("250 ") {
            break;
        }
    }
    run(Command::new("kill").args(["-INT", &office.pid().to_string()]));
    line.clear();
    smtp_lines.read_line(&mut line).unwrap();
    assert!(line.starts_with("421 "), "{line}");
    line.clear();
    pop3_lines.read_line(&mut line).unwrap();
    assert!(line.starts_with("-ERR "), "{line}");
    let status = office.wait();
    assert!(status.success(), "{status:?}");
}

/// A maildrop held by one POP3 session answers `-ERR [IN-USE]` to a second; `--sink` stores
/// nothing; `--domain` limits the domains accepted.
#[test]
fn in_use_sink_and_domains() {
    let office = Office::start("in-use", &["--domain", "example.com"]);
    let script = r#"
import poplib, smtplib, ssl, sys
ctx = ssl._create_unverified_context()
first = poplib.POP3("127.0.0.1", int(sys.argv[1])); first.stls(context=ctx)
first.user("alice"); first.pass_("secret")
second = poplib.POP3("127.0.0.1", int(sys.argv[1])); second.stls(context=ctx)
second.user("alice")
try:
    second.pass_("secret")
    raise SystemExit("second session got the maildrop")
except poplib.error_proto as e:
    assert str(e).startswith("b'-ERR [IN-USE]"), e
first.quit()
third = poplib.POP3("127.0.0.1", int(sys.argv[1])); third.stls(context=ctx)
third.user("alice"); third.pass_("secret"); third.quit()
s = smtplib.SMTP("127.0.0.1", int(sys.argv[2]))
try:
    s.sendmail("a@example.org", ["alice@other.example"], b"x\r\n")
    raise SystemExit("other domain accepted")
except smtplib.SMTPRecipientsRefused as e:
    # Another domain, from a client that may not relay (issue 15).
    assert e.recipients["alice@other.example"] == (554, b"5.7.1 Relay access denied"), e
print("ok")
"#;
    let out = python(script, &[office.pop3.to_string(), office.smtp.to_string()]);
    assert_eq!(out.trim(), "ok");
    drop(office);
    let sink = Office::start("sink", &["--sink"]);
    let dir = scratch("sink-message");
    let file = dir.join("m.eml");
    std::fs::write(&file, MESSAGE).unwrap();
    let printed = run(Command::new(binary())
        .arg("send")
        .args(["--server", &format!("127.0.0.1:{}", sink.smtp)])
        .args(["--from", "a@example.org", "--to", "anyone@anywhere.example"])
        .arg(&file));
    assert!(printed.contains("accepted"), "{printed}");
    assert!(sink.messages("alice").is_empty());
}

/// A connection that breaks in the middle of a message leaves nothing behind: no message, no
/// spool file.
#[test]
fn broken_connection_leaves_nothing() {
    use std::io::{BufRead, BufReader, Write};
    let office = Office::start("broken", &[]);
    let stream = std::net::TcpStream::connect(("127.0.0.1", office.smtp)).unwrap();
    let mut lines = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    lines.read_line(&mut line).unwrap();
    let mut until = |lines: &mut BufReader<std::net::TcpStream>, prefix: &str| loop {
        line.clear();
        assert!(
            lines.read_line(&mut line).unwrap() > 0,
            "closed before {prefix}"
        );
        if line.starts_with(prefix) {
            break;
        }
    };
    (&stream).write_all(b"EHLO c.example\r\n").unwrap();
    until(&mut lines, "250 ");
    (&stream)
        .write_all(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<alice@example.com>\r\nDATA\r\n")
        .unwrap();
    until(&mut lines, "354");
    (&stream)
        .write_all(b"Subject: half\r\n\r\nonly half of it")
        .unwrap();
    drop(lines);
    drop(stream);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert!(office.messages("alice").is_empty());
    let spool: Vec<_> = std::fs::read_dir(office.dir.join("data").join(".spool"))
        .unwrap()
        .collect();
    assert!(spool.is_empty(), "{spool:?}");
}
