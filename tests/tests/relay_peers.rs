//! Relaying into real peers (issue 15). Post-office A (`--domain a.example`, `--route
//! b.example=127.0.0.1:PORT`, `--relay-network 127.0.0.0/8`) takes mail from a client on
//! loopback and hands it on to: aiosmtpd over STARTTLS (opportunistic, then verified with
//! `--route-tls` and `--relay-ca`); Postfix's smtp-sink (PIPELINING; it has no CHUNKING, so
//! CHUNKING is proved against a post-office B); an smtp-sink offering neither DSN nor 8BITMIME
//! (A takes on the DSN duties, and bounces what it would have to downgrade); an smtp-sink
//! answering 4yz (deferred, then delivered) and 5yz (bounced). Every message arrives as A's
//! `Received:` field above the submitted message, byte for byte.
//!
//! Between A and some peers sits a [`Tap`]: a TCP relay in the test that keeps what A sent,
//! holds each reply of the peer back a little (a client that waits for replies shows it then)
//! and can hide the peer's STARTTLS so that the session stays readable.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Client, EMPTY_QUEUE, Office, free_port, peer, run, scratch, wait_for, wait_until};

/// The message submitted to A: a line that starts with a dot (stuffed on every hop), an empty
/// line in the body and trailing white space, all of which must arrive as they were.
const MESSAGE: &[u8] = b"From: Alice <alice@a.example>\r\n\
To: Bob <bob@b.example>\r\n\
Subject: relayed to a real peer\r\n\
Message-ID: <relay-peers@a.example>\r\n\
\r\n\
Hello Bob.\r\n\
.A line that starts with a dot.\r\n\
\r\n\
Trailing white space stays.  \r\n\
The end.\r\n";

/// How long a message may take from submission to the peer (retries after 1 s).
const ARRIVAL: Duration = Duration::from_secs(30);

/// How often [`wait_until`] looks.
const POLL: Duration = Duration::from_millis(100);

/// The arguments of post-office A: `a.example` is local (users alice and bob), mail for
/// `b.example` goes to 127.0.0.1:`port`, loopback clients may relay; a deferred recipient is
/// tried again after 1 s, then every 2 s; then `extra`.
fn relay_args(port: u16, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--domain",
        "a.example",
        "--hostname",
        "mx.a.example",
        "--relay-network",
        "127.0.0.0/8",
        "--retry-first",
        "1",
        "--retry-max",
        "2",
        "--relay-timeout",
        "60",
        "--relay-connect-timeout",
        "5",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    args.push("--route".into());
    args.push(format!("b.example=127.0.0.1:{port}"));
    args.extend(extra.iter().map(ToString::to_string));
    args
}

/// alice@a.example sends MESSAGE to bob@b.example through A (SMTP on `port`), without
/// parameters.
fn submit_to_bob(port: u16) {
    submit(port, "alice@a.example", "", &["bob@b.example"], "", MESSAGE);
}

/// Starts post-office A (see [`relay_args`]).
fn relay(name: &str, port: u16, extra: &[&str]) -> Office {
    let args = relay_args(port, extra);
    Office::start(name, &args.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `message` dot-stuffed for DATA (RFC 5321 4.5.2).
fn stuffed(message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 16);
    let mut line_start = true;
    for &octet in message {
        if line_start && octet == b'.' {
            out.push(b'.');
        }
        out.push(octet);
        line_start = octet == b'\n';
    }
    out
}

/// Submits `message` to A's SMTP port (no AUTH: the client is in the relay network) as
/// `MAIL FROM:<from>` + `mail` parameters and `RCPT TO:<to>` + `rcpt` parameters for each of
/// `recipients`; returns the reply to the end of data, which must be 250.
fn submit(port: u16, from: &str, mail: &str, recipients: &[&str], rcpt: &str, message: &[u8]) {
    let mut client = Client::connect(port);
    assert!(client.reply().starts_with("220"));
    assert!(client.smtp("EHLO client.a.example").starts_with("250"));
    let reply = client.smtp(&format!("MAIL FROM:<{from}>{mail}"));
    assert!(reply.starts_with("250"), "MAIL: {reply}");
    for to in recipients {
        let reply = client.smtp(&format!("RCPT TO:<{to}>{rcpt}"));
        assert!(reply.starts_with("250"), "RCPT {to}: {reply}");
    }
    assert!(client.smtp("DATA").starts_with("354"));
    client.send(stuffed(message));
    let reply = client.smtp(".");
    assert!(reply.starts_with("250"), "end of data: {reply}");
    client.smtp("QUIT");
}

/// The `Received:` field at the top of `message` (with its folded lines) and what is below.
fn below_received(message: &[u8]) -> (String, Vec<u8>) {
    assert!(
        message.starts_with(b"Received: "),
        "no Received: field on top of {:?}",
        String::from_utf8_lossy(&message[..message.len().min(300)])
    );
    let mut rest = message;
    loop {
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
        rest = &rest[end..];
        if !rest.starts_with(b"\t") && !rest.starts_with(b" ") {
            break;
        }
    }
    let field = String::from_utf8_lossy(&message[..message.len() - rest.len()]).into_owned();
    (field, rest.to_vec())
}

/// Checks that `message` is MESSAGE as relayed by A: A's `Received:` field on top, then the
/// message unchanged. Returns the field.
fn assert_relayed_whole(message: &[u8]) -> String {
    let (field, rest) = below_received(message);
    assert_received_by_a(&field);
    assert_eq!(
        String::from_utf8_lossy(&rest),
        String::from_utf8_lossy(MESSAGE)
    );
    assert_eq!(rest, MESSAGE);
    field
}

/// Checks that `field` is A's `Received:` field for a message from the client above.
fn assert_received_by_a(field: &str) {
    assert!(
        field.starts_with("Received: from client.a.example "),
        "{field}"
    );
    assert!(field.contains("127.0.0.1"), "{field}");
    assert!(field.contains("by mx.a.example"), "{field}");
    assert!(field.contains("with ESMTP"), "{field}");
    assert!(field.ends_with("\r\n"), "{field}");
}

/// Whether A's queue is empty: every recipient delivered or reported.
fn queue_empty(office: &Office) -> bool {
    office.queue(&[]).ends_with(EMPTY_QUEUE)
}

/// Waits until A's queue is empty; fails with its listing if it does not empty in time.
fn assert_queue_empties(a: &Office) {
    assert!(
        wait_until(ARRIVAL, POLL, || queue_empty(a)),
        "{}",
        a.queue(&[])
    );
}

/// The DSNs in alice's Maildir on A, as text.
fn dsns(office: &Office) -> Vec<String> {
    office
        .stored("alice")
        .iter()
        .map(|message| String::from_utf8_lossy(message).into_owned())
        .collect()
}

/// Waits for the `n`th DSN to alice on A, and returns it.
fn nth_dsn(office: &Office, n: usize) -> String {
    assert!(
        wait_until(ARRIVAL, POLL, || dsns(office).len() >= n),
        "no DSN number {n} came back:\n{}\n{}",
        office.queue(&[]),
        office.log()
    );
    assert_eq!(dsns(office).len(), n, "more DSNs than expected");
    dsns(office).remove(n - 1)
}

/// A self-signed certificate for `localhost` and 127.0.0.1 made by openssl in `dir`:
/// (`NAME.pem`, `NAME.key`).
fn certificate(dir: &Path, name: &str) -> (String, String) {
    let path = |ext: &str| {
        dir.join(format!("{name}.{ext}"))
            .to_str()
            .unwrap()
            .to_string()
    };
    run(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
        ])
        .args(["-subj", "/CN=localhost", "-addext"])
        .arg("subjectAltName=DNS:localhost,IP:127.0.0.1")
        .args(["-keyout", &path("key")])
        .args(["-out", &path("pem")]));
    (path("pem"), path("key"))
}

/// Whether aiosmtpd (PyPI) is there; if not, the test is skipped, or fails with
/// `PEERS_REQUIRED=1`.
fn aiosmtpd_installed() -> bool {
    if !peer("python3", "apt-get install python3") || !peer("openssl", "apt-get install openssl") {
        return false;
    }
    let available = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .status()
        .is_ok_and(|s| s.success());
    if !available {
        assert!(
            std::env::var("PEERS_REQUIRED").as_deref() != Ok("1"),
            "aiosmtpd missing: pip install aiosmtpd"
        );
        eprintln!("skipped: aiosmtpd is not installed; install it with: pip install aiosmtpd");
    }
    available
}

/// aiosmtpd requiring STARTTLS with the certificate given: each message goes to `N.eml`
/// (`envelope.original_content`, as received) with `N.info` (whether the session was over
/// TLS, the envelope). It stops by itself after two minutes.
const AIOSMTPD: &str = r#"
import os, ssl, sys, time
from aiosmtpd.controller import Controller
out, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
context.load_cert_chain(cert, key)
class Keep:
    n = 0
    async def handle_DATA(self, server, session, envelope):
        Keep.n += 1
        base = f"{out}/{Keep.n}"
        with open(base + ".info", "w") as f:
            f.write(f"tls {session.ssl is not None}\n")
            f.write(f"mail {envelope.mail_from} {' '.join(envelope.mail_options)}\n")
            f.write(f"rcpt {' '.join(envelope.rcpt_tos)}\n")
        with open(base + ".tmp", "wb") as f:
            f.write(envelope.original_content)
        os.rename(base + ".tmp", base + ".eml")
        return "250 2.0.0 OK"
controller = Controller(Keep(), hostname="127.0.0.1", port=port, tls_context=context,
                        require_starttls=True)
controller.start()
deadline = time.time() + 120
while time.time() < deadline:
    time.sleep(0.2)
controller.stop()
"#;

/// A running aiosmtpd, killed when dropped.
struct Aiosmtpd {
    child: Child,
    port: u16,
    out: PathBuf,
}

impl Aiosmtpd {
    fn start(dir: &Path, cert: &str, key: &str) -> Self {
        let out = dir.join("aiosmtpd");
        std::fs::create_dir_all(&out).unwrap();
        let port = free_port();
        let child = Command::new("python3")
            .args(["-c", AIOSMTPD, out.to_str().unwrap(), &port.to_string()])
            .args([cert, key])
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("aiosmtpd.log")).unwrap())
            .spawn()
            .unwrap();
        wait_for(port);
        Self { child, port, out }
    }

    /// Message `n` (from 1) and its `.info`, once it arrived (within [`ARRIVAL`]).
    fn message(&self, n: usize, office: &Office) -> (Vec<u8>, String) {
        let eml = self.out.join(format!("{n}.eml"));
        assert!(
            wait_until(ARRIVAL, POLL, || eml.exists()),
            "message {n} did not reach aiosmtpd:\n{}\n{}",
            office.queue(&[]),
            office.log()
        );
        let info = std::fs::read_to_string(self.out.join(format!("{n}.info"))).unwrap();
        (std::fs::read(eml).unwrap(), info)
    }

    fn count(&self) -> usize {
        std::fs::read_dir(&self.out)
            .unwrap()
            .flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "eml"))
            .count()
    }
}

impl Drop for Aiosmtpd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Opportunistic STARTTLS (the default): aiosmtpd, which requires STARTTLS, gets the
/// message over TLS with its self-signed certificate unchecked, A's `Received:` field above
/// the submitted message byte for byte.
#[test]
fn aiosmtpd_gets_the_message_whole_over_opportunistic_starttls() {
    if !aiosmtpd_installed() {
        return;
    }
    let dir = scratch("relay-aiosmtpd");
    let (cert, key) = certificate(&dir, "server");
    let server = Aiosmtpd::start(&dir, &cert, &key);
    let a = relay("relay-aiosmtpd-a", server.port, &[]);
    submit_to_bob(a.smtp);
    let (message, info) = server.message(1, &a);
    let field = assert_relayed_whole(&message);
    assert!(field.contains("for <bob@b.example>"), "{field}");
    assert!(info.contains("tls True\n"), "{info}");
    assert!(info.contains("mail alice@a.example"), "{info}");
    assert!(info.contains("rcpt bob@b.example\n"), "{info}");
    assert_queue_empties(&a);
    assert!(
        a.log().contains("tls=true"),
        "A's log does not say TLS:\n{}",
        a.log()
    );
    let _ = std::fs::remove_dir_all(dir);
}

/// `--route-tls b.example --relay-ca cert.pem`: A verifies aiosmtpd's certificate (an
/// `openssl req -x509` one, for 127.0.0.1) and delivers; with another certificate as the CA
/// the message waits (4.7.5), nothing is sent in plaintext, and it goes once the right CA is
/// given.
#[test]
fn aiosmtpd_gets_the_message_over_verified_tls_and_a_wrong_ca_defers_it() {
    if !aiosmtpd_installed() {
        return;
    }
    let dir = scratch("relay-aiosmtpd-verified");
    let (cert, key) = certificate(&dir, "server");
    let (other, _) = certificate(&dir, "other");
    let server = Aiosmtpd::start(&dir, &cert, &key);

    // The wrong CA: deferred with 4.7.5, nothing delivered.
    let a = relay(
        "relay-aiosmtpd-wrong-ca",
        server.port,
        &["--route-tls", "b.example", "--relay-ca", &other],
    );
    submit_to_bob(a.smtp);
    assert!(
        wait_until(ARRIVAL, POLL, || a.queue(&[]).contains("last 4.7.5")),
        "not deferred for TLS:\n{}\n{}",
        a.queue(&[]),
        a.log()
    );
    assert_eq!(server.count(), 0);
    // The same queue, with the right CA.
    let data = a.kill();
    let args = relay_args(
        server.port,
        &["--route-tls", "b.example", "--relay-ca", &cert],
    );
    let a = Office::start_in(&data, &args.iter().map(String::as_str).collect::<Vec<_>>());
    let (message, info) = server.message(1, &a);
    assert_relayed_whole(&message);
    assert!(info.contains("tls True\n"), "{info}");
    assert_queue_empties(&a);
    assert!(a.log().contains("verified=true"), "{}", a.log());
    assert_eq!(server.count(), 1, "delivered once");
    assert!(dsns(&a).is_empty(), "no DSN was asked for");
    let _ = std::fs::remove_dir_all(dir);
}

/// Pieces of a peer's replies, each with how much A had sent when it was passed on.
type Replies = Vec<(Vec<u8>, usize)>;

/// What went through a [`Tap`] on one connection.
#[derive(Default)]
struct Session {
    /// Everything A sent.
    sent: Vec<u8>,
    /// Each piece of the peer's replies as passed on to A, with how much A had sent by then.
    replies: Replies,
}

/// A TCP relay to `127.0.0.1:upstream` that records each session (see the module's docs).
/// It accepts for at most two minutes; each read gives up after 30 s.
struct Tap {
    port: u16,
    sessions: Arc<Mutex<Vec<Arc<Mutex<Session>>>>>,
}

impl Tap {
    /// `hold`: how long each piece of the peer's replies is held back; `hide_starttls`: the
    /// peer's `STARTTLS` capability is renamed `XNOTLS` on its way to A.
    fn start(upstream: u16, hold: Duration, hide_starttls: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let sessions: Arc<Mutex<Vec<Arc<Mutex<Session>>>>> = Arc::default();
        let all = Arc::clone(&sessions);
        std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(120);
            while Instant::now() < deadline {
                let Ok((client, _)) = listener.accept() else {
                    std::thread::sleep(Duration::from_millis(10));
                    continue;
                };
                let session: Arc<Mutex<Session>> = Arc::default();
                all.lock().unwrap().push(Arc::clone(&session));
                Self::pass(client, upstream, session, hold, hide_starttls);
            }
        });
        Self { port, sessions }
    }

    fn pass(
        client: TcpStream,
        upstream: u16,
        session: Arc<Mutex<Session>>,
        hold: Duration,
        hide_starttls: bool,
    ) {
        let timeout = Some(Duration::from_secs(30));
        client.set_nonblocking(false).unwrap();
        let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
            return;
        };
        for stream in [&client, &server] {
            stream.set_read_timeout(timeout).unwrap();
        }
        // A to the peer, kept as it goes.
        let (mut from_a, mut to_peer) = (client.try_clone().unwrap(), server.try_clone().unwrap());
        let sent = Arc::clone(&session);
        std::thread::spawn(move || {
            let mut buf = vec![0; 64 * 1024];
            while let Ok(n) = from_a.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sent.lock().unwrap().sent.extend_from_slice(&buf[..n]);
                if to_peer.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
            let _ = to_peer.shutdown(Shutdown::Write);
        });
        // The peer to A, line by line, each piece held back.
        let (from_peer, mut to_a) = (server, client);
        std::thread::spawn(move || {
            let mut lines = BufReader::new(from_peer);
            let mut piece = Vec::new();
            loop {
                let mut line = Vec::new();
                match lines.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                if hide_starttls
                    && line.len() == 14
                    && line[4..].eq_ignore_ascii_case(b"STARTTLS\r\n")
                {
                    line.truncate(4);
                    line.extend_from_slice(b"XNOTLS\r\n");
                }
                piece.extend_from_slice(&line);
                if lines.buffer().is_empty() {
                    std::thread::sleep(hold);
                    let sent = session.lock().unwrap().sent.len();
                    session.lock().unwrap().replies.push((piece.clone(), sent));
                    if to_a.write_all(&piece).is_err() {
                        break;
                    }
                    piece.clear();
                }
            }
            let _ = to_a.shutdown(Shutdown::Write);
        });
    }

    /// Copies of the sessions so far: (what A sent, the replies with A's octets by then).
    fn sessions(&self) -> Vec<(Vec<u8>, Replies)> {
        self.sessions
            .lock()
            .unwrap()
            .iter()
            .map(|s| {
                let s = s.lock().unwrap();
                (s.sent.clone(), s.replies.clone())
            })
            .collect()
    }
}

/// Whether smtp-sink is there (skipped, or failing with `PEERS_REQUIRED=1`, if not).
fn smtp_sink_installed() -> bool {
    peer(
        "smtp-sink",
        "apt-get install postfix (choose \"No configuration\")",
    )
}

/// A running `smtp-sink -u nobody -d DUMP/%M. ARGS 127.0.0.1:PORT 64`, killed when dropped.
struct Sink {
    child: Child,
    port: u16,
    dump: PathBuf,
}

/// One message as smtp-sink dumped it.
struct Dumped {
    /// `X-Mail-Args:` (the MAIL command's arguments).
    mail: String,
    /// `X-Rcpt-Args:`, in order.
    rcpt: Vec<String>,
    /// The message as received, its lines ended by LF (smtp-sink's dump format).
    content: Vec<u8>,
}

impl Sink {
    fn start(dir: &Path, args: &[&str]) -> Self {
        Self::start_on(dir, free_port(), args)
    }

    /// On `port` (again, after [`Sink::stop`]).
    fn start_on(dir: &Path, port: u16, args: &[&str]) -> Self {
        let mut dump = dir.join("sink");
        std::fs::create_dir_all(&dump).unwrap();
        // smtp-sink writes as nobody.
        run(Command::new("chmod").arg("0777").arg(&dump));
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let child = Command::new("smtp-sink")
                .args(["-u", "nobody", "-d"])
                .arg(format!("{}/%M.", dump.display()))
                .args(args)
                .arg(format!("127.0.0.1:{port}"))
                .arg("64")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut sink = Self { child, port, dump };
            std::thread::sleep(Duration::from_millis(100));
            // It exits at once when the port is still held (by a closing session).
            if sink.child.try_wait().unwrap().is_none() {
                wait_for(port);
                return sink;
            }
            assert!(Instant::now() < deadline, "smtp-sink does not start");
            std::thread::sleep(Duration::from_millis(200));
            dump = std::mem::take(&mut sink.dump);
        }
    }

    fn stop(self) -> PathBuf {
        self.dump.parent().unwrap().to_path_buf()
    }

    /// The messages dumped so far (those whose dump is complete), in no particular order.
    fn messages(&self) -> Vec<Dumped> {
        std::fs::read_dir(&self.dump)
            .unwrap()
            .flatten()
            .filter_map(|entry| Self::parse(&std::fs::read(entry.path()).ok()?))
            .collect()
    }

    /// One dump file; `None` while smtp-sink is still writing it.
    fn parse(text: &[u8]) -> Option<Dumped> {
        let mut dumped = Dumped {
            mail: String::new(),
            rcpt: Vec::new(),
            content: Vec::new(),
        };
        let mut rest = text;
        // smtp-sink's own fields, then its three-line Received: field.
        let mut in_received = false;
        loop {
            let end = rest.iter().position(|&b| b == b'\n')? + 1;
            let line = String::from_utf8_lossy(&rest[..end - 1]).into_owned();
            if in_received && !line.starts_with('\t') {
                break;
            }
            rest = &rest[end..];
            if let Some(mail) = line.strip_prefix("X-Mail-Args: ") {
                dumped.mail = mail.to_string();
            } else if let Some(rcpt) = line.strip_prefix("X-Rcpt-Args: ") {
                dumped.rcpt.push(rcpt.to_string());
            } else if line.starts_with("Received: ") {
                in_received = true;
            }
        }
        // The dump ends with an empty line of its own.
        dumped.content = rest.strip_suffix(b"\n\n")?.to_vec();
        dumped.content.push(b'\n');
        Some(dumped)
    }

    /// Waits until `n` messages were dumped.
    fn wait_for_messages(&self, n: usize, office: &Office) -> Vec<Dumped> {
        assert!(
            wait_until(ARRIVAL, POLL, || self.messages().len() >= n),
            "smtp-sink got {} of {n} messages:\n{}\n{}",
            self.messages().len(),
            office.queue(&[]),
            office.log()
        );
        self.messages()
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A message as smtp-sink dumped it (lines ended by LF) with its lines ended by CR LF again,
/// as they were sent: the messages here have no bare LF.
fn crlf(dumped: &[u8]) -> Vec<u8> {
    assert!(!dumped.contains(&b'\r'), "smtp-sink kept a CR");
    String::from_utf8_lossy(dumped)
        .replace('\n', "\r\n")
        .into_bytes()
}

/// The capabilities a server lists after EHLO, one string each.
fn ehlo(port: u16) -> Vec<String> {
    let mut client = Client::connect(port);
    assert!(client.reply().starts_with("220"));
    client.send("EHLO probe.example\r\n");
    let mut lines = Vec::new();
    for _ in 0..50 {
        let line = client.line();
        lines.push(line[4..].trim_end().to_string());
        if line.as_bytes().get(3) != Some(&b'-') {
            break;
        }
    }
    client.smtp("QUIT");
    lines
}

/// Checks that for every transaction on the sessions of `tap` (a session may carry several:
/// A keeps its sessions for the next message), A sent its RCPTs and DATA (or BDAT) before it
/// could have read the reply to MAIL, held back by the tap: PIPELINING (RFC 2920 3.1).
fn assert_pipelined(tap: &Tap, transactions: usize) {
    let sessions = tap.sessions();
    let mut seen = 0;
    for (sent, replies) in sessions {
        let mails = sent
            .windows(10)
            .enumerate()
            .filter(|(_, w)| *w == b"MAIL FROM:")
            .map(|(at, _)| at);
        for mail in mails {
            seen += 1;
            // The first reply passed on once MAIL had gone out: the reply to MAIL.
            let (_, by_then) = replies
                .iter()
                .find(|(_, sent)| *sent > mail)
                .expect("a reply to MAIL");
            let before = String::from_utf8_lossy(&sent[mail..*by_then]);
            assert!(
                before.contains("RCPT TO:")
                    && (before.contains("\r\nDATA\r\n") || before.contains("BDAT ")),
                "A waited for the reply to MAIL; it had sent only {before:?}"
            );
        }
    }
    assert_eq!(seen, transactions, "transactions");
}

/// smtp-sink (Postfix 3.7, PIPELINING but no CHUNKING here: the EHLO says so) gets three
/// messages of two recipients each, every one whole below A's `Received:` field, through
/// pipelined sessions.
#[test]
fn smtp_sink_gets_several_messages_for_several_recipients_pipelined() {
    if !smtp_sink_installed() {
        return;
    }
    let dir = scratch("relay-sink");
    let sink = Sink::start(&dir, &[]);
    let offered = ehlo(sink.port);
    assert!(offered.iter().any(|c| c == "PIPELINING"), "{offered:?}");
    assert!(
        !offered.iter().any(|c| c == "CHUNKING"),
        "smtp-sink offers CHUNKING now: test BDAT against it too ({offered:?})"
    );
    let tap = Tap::start(sink.port, Duration::from_millis(400), false);
    let a = relay("relay-sink-a", tap.port, &[]);
    let messages: Vec<Vec<u8>> = (1..=3)
        .map(|n| {
            String::from_utf8_lossy(MESSAGE)
                .replace("Subject: relayed", &format!("Subject: message {n} relayed"))
                .into_bytes()
        })
        .collect();
    for message in &messages {
        submit(
            a.smtp,
            "alice@a.example",
            "",
            &["bob@b.example", "carol@b.example"],
            "",
            message,
        );
    }
    let dumped = sink.wait_for_messages(3, &a);
    assert_queue_empties(&a);
    assert_eq!(sink.messages().len(), 3, "each message once");
    for message in &messages {
        let subject = String::from_utf8_lossy(message)
            .lines()
            .find(|l| l.starts_with("Subject: "))
            .unwrap()
            .to_string();
        let got: Vec<&Dumped> = dumped
            .iter()
            .filter(|d| String::from_utf8_lossy(&d.content).contains(&format!("\n{subject}\n")))
            .collect();
        assert_eq!(got.len(), 1, "{subject}");
        let got = got[0];
        assert!(got.mail.starts_with("<alice@a.example>"), "{}", got.mail);
        assert_eq!(got.rcpt, ["<bob@b.example>", "<carol@b.example>"]);
        // A's Received: field (one, without `for`: two recipients), then the message.
        let (field, rest) = below_received(&crlf(&got.content));
        assert_received_by_a(&field);
        assert!(!field.contains(" for <"), "{field}");
        assert_eq!(&rest, message);
    }
    assert_pipelined(&tap, 3);
    assert!(dsns(&a).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// The BDAT chunks of the one transaction in `sent` (what a client sent): their sizes and
/// what they hold together; the last chunk must say LAST and be the end of the transaction.
fn bdat_chunks(sent: &[u8]) -> (Vec<usize>, Vec<u8>) {
    let mut rest = &sent[sent
        .windows(5)
        .position(|w| w == b"BDAT ")
        .expect("no BDAT")..];
    let (mut sizes, mut body) = (Vec::new(), Vec::new());
    for _ in 0..10_000 {
        let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
        let command = std::str::from_utf8(&rest[..end]).unwrap();
        let mut words = command.split(' ');
        assert_eq!(words.next(), Some("BDAT"), "{command:?}");
        let size: usize = words.next().unwrap().parse().unwrap();
        let last = words.next() == Some("LAST");
        body.extend_from_slice(&rest[end + 2..end + 2 + size]);
        rest = &rest[end + 2 + size..];
        sizes.push(size);
        if last {
            assert!(
                rest.is_empty() || rest.starts_with(b"QUIT\r\n"),
                "after LAST"
            );
            return (sizes, body);
        }
    }
    panic!("no BDAT LAST");
}

/// CHUNKING (RFC 3030), which smtp-sink lacks, against a post-office B that offers it:
/// A sends the message with BDAT, never DATA (a 200 KB one in several chunks), and B stores
/// it whole. (The tap hides B's STARTTLS, so that what A sends can be read.)
#[test]
fn a_peer_offering_chunking_gets_bdat() {
    let b = Office::start("relay-chunking-b", &["--domain", "b.example"]);
    let offered = ehlo(b.smtp);
    assert!(offered.iter().any(|c| c == "CHUNKING"), "{offered:?}");
    let tap = Tap::start(b.smtp, Duration::from_millis(50), true);
    let a = relay("relay-chunking-a", tap.port, &[]);
    let mut large = MESSAGE.to_vec();
    for n in 0..4000 {
        large.extend_from_slice(
            format!("line {n:05} of a large message, to fill several chunks\r\n").as_bytes(),
        );
    }
    assert!(large.len() > 200_000);
    submit_to_bob(a.smtp);
    assert!(
        wait_until(ARRIVAL, POLL, || b.stored("bob").len() == 1),
        "{}\n{}",
        a.queue(&[]),
        a.log()
    );
    submit(
        a.smtp,
        "alice@a.example",
        "",
        &["bob@b.example"],
        "",
        &large,
    );
    assert!(
        wait_until(ARRIVAL, POLL, || b.stored("bob").len() == 2),
        "{}\n{}",
        a.queue(&[]),
        a.log()
    );
    assert_queue_empties(&a);
    // Below B's trace fields: A's Received: field, then the message as submitted.
    let mut stored: Vec<Vec<u8>> = b.messages("bob");
    stored.sort_by_key(Vec::len);
    for (got, sent) in stored.iter().zip([MESSAGE, &large[..]]) {
        let (field, rest) = below_received(got);
        assert_received_by_a(&field);
        assert!(rest == sent, "the message changed on its way");
    }
    let sessions = tap.sessions();
    let transactions: Vec<String> = sessions
        .iter()
        .map(|(sent, _)| String::from_utf8_lossy(sent).into_owned())
        .filter(|sent| sent.contains("MAIL FROM:"))
        .collect();
    assert_eq!(transactions.len(), 2);
    for sent in &transactions {
        assert!(!sent.contains("\r\nDATA\r\n"), "A used DATA");
    }
    // Each transaction: BDAT chunks that add up to the message as stored, the last one LAST.
    let mut sizes = Vec::new();
    for (sent, stored) in transactions.iter().zip(&stored) {
        let (chunks, body) = bdat_chunks(sent.as_bytes());
        assert_eq!(&body, stored, "the chunks are not the message");
        sizes.push(chunks);
    }
    // The small message in one chunk of data, the large one in 64 KiB pieces (mail-io ends
    // both with an empty `BDAT 0 LAST`, which RFC 3030 2 allows).
    let data = |chunks: &Vec<usize>| chunks.iter().filter(|&&n| n > 0).count();
    assert_eq!(data(&sizes[0]), 1, "{sizes:?}");
    assert!(data(&sizes[1]) >= 4, "{sizes:?}");
    assert!(sizes[1].iter().all(|&n| n <= 64 * 1024), "{sizes:?}");
}

/// A field of a DSN's text, `Name: value` (first occurrence).
fn dsn_field<'a>(dsn: &'a str, name: &str) -> Option<&'a str> {
    dsn.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(": "))
}

/// A peer offering neither DSN nor 8BITMIME (nor SMTPUTF8: `smtp-sink -8 -N`). A 7-bit
/// message with NOTIFY=SUCCESS is delivered without the DSN parameters, and A reports it
/// `relayed` itself (RFC 3461 4.1, RFC 3464 2.3.3); an 8-bit message (BODY=8BITMIME) is not
/// converted but bounced with 5.6.3, and one that needs SMTPUTF8 with 5.6.7, each DSN saying
/// why.
#[test]
fn a_peer_without_dsn_or_8bitmime_gets_a_relayed_report_or_a_bounce() {
    if !smtp_sink_installed() {
        return;
    }
    let dir = scratch("relay-sink-plain");
    let sink = Sink::start(&dir, &["-8", "-N"]);
    let offered = ehlo(sink.port);
    for absent in ["DSN", "8BITMIME", "SMTPUTF8", "CHUNKING"] {
        assert!(!offered.iter().any(|c| c == absent), "{offered:?}");
    }
    let a = relay("relay-sink-plain-a", sink.port, &[]);

    // NOTIFY=SUCCESS to a peer without DSN: delivered, reported `relayed` by A.
    submit(
        a.smtp,
        "alice@a.example",
        " BODY=7BIT RET=HDRS ENVID=envelope-1",
        &["bob@b.example"],
        " NOTIFY=SUCCESS ORCPT=rfc822;Bob@b.example",
        MESSAGE,
    );
    let dumped = sink.wait_for_messages(1, &a);
    let got = &dumped[0];
    // None of DSN's parameters, nor BODY, to a server that offers neither (RFC 3461 4.1,
    // RFC 6152 3).
    assert_eq!(got.mail, "<alice@a.example>");
    assert_eq!(got.rcpt, ["<bob@b.example>"]);
    assert_relayed_whole(&crlf(&got.content));
    let dsn = nth_dsn(&a, 1);
    assert!(dsn.contains("multipart/report"), "{dsn}");
    assert!(dsn.contains("report-type=\"delivery-status\""), "{dsn}");
    assert_eq!(dsn_field(&dsn, "Action"), Some("relayed"), "{dsn}");
    assert!(
        dsn_field(&dsn, "Status").unwrap().starts_with("2."),
        "{dsn}"
    );
    assert_eq!(
        dsn_field(&dsn, "Final-Recipient"),
        Some("rfc822;bob@b.example")
    );
    assert_eq!(
        dsn_field(&dsn, "Original-Recipient"),
        Some("rfc822;Bob@b.example")
    );
    assert_eq!(dsn_field(&dsn, "Original-Envelope-Id"), Some("envelope-1"));
    assert!(
        dsn.contains("relayed to a server that does not send delivery reports"),
        "{dsn}"
    );

    // An 8-bit message: never downgraded, bounced with 5.6.3.
    let eight_bit = [MESSAGE, "Grüße, café.\r\n".as_bytes()].concat();
    submit(
        a.smtp,
        "alice@a.example",
        " BODY=8BITMIME",
        &["bob@b.example"],
        "",
        &eight_bit,
    );
    let dsn = nth_dsn(&a, 2);
    assert_eq!(dsn_field(&dsn, "Action"), Some("failed"), "{dsn}");
    assert_eq!(dsn_field(&dsn, "Status"), Some("5.6.3"), "{dsn}");
    assert!(dsn.contains("does not offer 8BITMIME"), "{dsn}");
    assert!(dsn.contains("Undelivered Mail Returned to Sender"), "{dsn}");

    // A message that needs SMTPUTF8 (a UTF-8 recipient): bounced with 5.6.7.
    submit(
        a.smtp,
        "alice@a.example",
        " SMTPUTF8",
        &["jörg@b.example"],
        "",
        MESSAGE,
    );
    let dsn = nth_dsn(&a, 3);
    assert_eq!(dsn_field(&dsn, "Action"), Some("failed"), "{dsn}");
    assert_eq!(dsn_field(&dsn, "Status"), Some("5.6.7"), "{dsn}");
    assert!(dsn.contains("does not offer SMTPUTF8"), "{dsn}");
    // The address in RFC 6533's 7-bit form: message/delivery-status is a 7-bit part.
    assert_eq!(
        dsn_field(&dsn, "Final-Recipient"),
        Some("utf-8;j\\x{F6}rg@b.example"),
        "{dsn}"
    );
    let start = dsn.find("Content-Type: message/delivery-status").unwrap();
    let end = start + dsn[start..].find("\r\n--").unwrap();
    assert!(dsn[start..end].is_ascii(), "{dsn}");

    assert_queue_empties(&a);
    assert_eq!(sink.messages().len(), 1, "only the 7-bit message went");
    let _ = std::fs::remove_dir_all(dir);
}

/// smtp-sink refusing RCPT with 451 (`-r RCPT -b ...`): the recipient is deferred (the
/// queue shows the peer's reply), no DSN is sent; once a sink that accepts listens there,
/// the retry delivers the message, once.
#[test]
fn a_4yz_from_the_peer_defers_and_a_later_retry_delivers() {
    if !smtp_sink_installed() {
        return;
    }
    let dir = scratch("relay-sink-4yz");
    let sink = Sink::start(&dir, &["-r", "RCPT", "-b", "451 4.7.1 Try again later"]);
    let port = sink.port;
    let a = relay("relay-sink-4yz-a", port, &[]);
    submit_to_bob(a.smtp);
    assert!(
        wait_until(ARRIVAL, POLL, || a
            .queue(&[])
            .contains("last 4.7.1 smtp; 451 4.7.1 Try again later")),
        "not deferred:\n{}\n{}",
        a.queue(&[]),
        a.log()
    );
    assert!(sink.messages().is_empty());
    let dir = sink.stop();
    let sink = Sink::start_on(&dir, port, &[]);
    let dumped = sink.wait_for_messages(1, &a);
    assert_queue_empties(&a);
    assert_relayed_whole(&crlf(&dumped[0].content));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(sink.messages().len(), 1, "delivered once");
    assert!(dsns(&a).is_empty(), "a DSN for a delivered message");
    let _ = std::fs::remove_dir_all(dir);
}

/// smtp-sink refusing RCPT with 550 (`-f RCPT -B ...`): bounced at once, the DSN naming
/// the peer and carrying its reply (RFC 3464 2.3.5, 2.3.6).
#[test]
fn a_5yz_from_the_peer_bounces_with_its_reply() {
    if !smtp_sink_installed() {
        return;
    }
    let dir = scratch("relay-sink-5yz");
    let sink = Sink::start(&dir, &["-f", "RCPT", "-B", "550 5.1.1 No such user here"]);
    let a = relay("relay-sink-5yz-a", sink.port, &[]);
    submit(
        a.smtp,
        "alice@a.example",
        "",
        &["nobody@b.example"],
        "",
        MESSAGE,
    );
    let dsn = nth_dsn(&a, 1);
    assert_eq!(dsn_field(&dsn, "Action"), Some("failed"), "{dsn}");
    assert_eq!(dsn_field(&dsn, "Status"), Some("5.1.1"), "{dsn}");
    assert_eq!(
        dsn_field(&dsn, "Final-Recipient"),
        Some("rfc822;nobody@b.example")
    );
    assert!(dsn_field(&dsn, "Remote-MTA").is_some(), "{dsn}");
    assert_eq!(
        dsn_field(&dsn, "Diagnostic-Code"),
        Some("smtp; 550 5.1.1 No such user here"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Subject: relayed to a real peer"),
        "the original's header: {dsn}"
    );
    assert_queue_empties(&a);
    assert!(sink.messages().is_empty());
    let _ = std::fs::remove_dir_all(dir);
}

/// Connection reuse against smtp-sink: three messages one after another go over one session
/// (one EHLO, an RSET before each later message); smtp-sink restarted meanwhile, the kept
/// session is gone and the next message takes a new one, delivered once; the last session is
/// closed with QUIT once idle for `--relay-cache-time`.
#[test]
fn smtp_sink_gets_messages_one_after_another_over_one_kept_session() {
    if !smtp_sink_installed() {
        return;
    }
    let dir = scratch("relay-sink-reuse");
    let sink = Sink::start(&dir, &[]);
    let port = sink.port;
    let tap = Tap::start(port, Duration::ZERO, false);
    let a = relay("relay-sink-reuse-a", tap.port, &["--relay-cache-time", "5"]);
    for n in 1..=3 {
        submit_to_bob(a.smtp);
        sink.wait_for_messages(n, &a);
    }
    let sessions = tap.sessions();
    assert_eq!(sessions.len(), 1, "one connection for three messages");
    let sent = String::from_utf8_lossy(&sessions[0].0).into_owned();
    assert_eq!(sent.matches("EHLO ").count(), 1, "{sent}");
    assert_eq!(sent.matches("MAIL FROM:").count(), 3, "{sent}");
    assert_eq!(sent.matches("\r\nRSET\r\n").count(), 2, "{sent}");
    assert!(!sent.contains("QUIT"), "{sent}");

    let dir = sink.stop();
    let sink = Sink::start_on(&dir, port, &[]);
    submit_to_bob(a.smtp);
    let dumped = sink.wait_for_messages(4, &a);
    assert_queue_empties(&a);
    for message in &dumped {
        assert_relayed_whole(&crlf(&message.content));
    }
    assert_eq!(
        tap.sessions().len(),
        2,
        "a new connection after the restart"
    );
    assert!(
        wait_until(Duration::from_secs(20), POLL, || {
            String::from_utf8_lossy(&tap.sessions()[1].0).ends_with("QUIT\r\n")
        }),
        "no QUIT after the idle time: {:?}",
        String::from_utf8_lossy(&tap.sessions()[1].0)
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(sink.messages().len(), 4, "each message once");
    assert!(dsns(&a).is_empty());
    let _ = std::fs::remove_dir_all(dir);
}
