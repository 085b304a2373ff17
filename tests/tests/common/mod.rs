//! Starting post-office and peers on loopback, and reading what ended up in the Maildirs.

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A port nobody listens on now, new in this process. Taken from 10000-29999, below the
/// kernel's ephemeral range (32768-60999 on Linux): under load that range fills with client
/// sockets in TIME-WAIT, and binding port 0 then hands the same few ports to tests running side
/// by side before either has started its server.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    // Each process starts elsewhere, so that test binaries run at once rarely meet.
    let start = std::process::id().wrapping_mul(7919);
    for _ in 0..20_000 {
        let offset = start.wrapping_add(NEXT.fetch_add(1, Ordering::SeqCst)) % 20_000;
        let port = 10_000 + u16::try_from(offset).unwrap();
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in 10000-29999");
}

/// A fresh directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "peer-tests-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Whether `program` is installed; if not, the test says how to install it and passes, unless
/// `PEERS_REQUIRED=1` (as in CI), where it fails.
pub fn peer(program: &str, install: &str) -> bool {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .stdout(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if !found {
        let message = format!("{program} is not installed; install it with: {install}");
        if std::env::var("PEERS_REQUIRED").as_deref() == Ok("1") {
            panic!("{message}");
        }
        eprintln!("skipped: {message}");
    }
    found
}

/// Waits until something accepts connections on `port`.
pub fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("nothing listens on port {port}");
}

/// A running `post-office serve`.
pub struct Office {
    child: Child,
    pub dir: PathBuf,
    pub smtp: u16,
    pub submission: u16,
    pub smtps: u16,
    pub lmtp: u16,
    pub pop3: u16,
    pub pop3s: u16,
}

/// The program under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_po-under-test")
}

impl Office {
    /// Starts post-office with users `alice:secret` and `bob:hunter2`, every listener on a free
    /// port, and `extra` arguments.
    pub fn start(name: &str, extra: &[&str]) -> Self {
        Self::start_with_smtp(name, None, extra)
    }

    /// Like [`Office::start`], with the SMTP listener on `smtp` when given (a port another
    /// server was told to relay to before this one runs).
    pub fn start_with_smtp(name: &str, smtp: Option<u16>, extra: &[&str]) -> Self {
        // A port picked free can be taken by a test running beside this one before post-office
        // binds it: then post-office exits at once, and the start is tried again.
        let mut log = String::new();
        for _ in 0..5 {
            let dir = scratch(name);
            if let Some(office) = Self::try_start(&dir, smtp, extra) {
                return office;
            }
            log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
            let _ = std::fs::remove_dir_all(&dir);
        }
        panic!("post-office did not start:\n{log}");
    }

    /// Starts post-office again on the data left in `dir` by [`Office::kill`] (same users,
    /// fresh ports).
    pub fn start_in(dir: &Path, extra: &[&str]) -> Self {
        for _ in 0..5 {
            if let Some(office) = Self::try_start(dir, None, extra) {
                return office;
            }
        }
        let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
        panic!(
            "post-office did not start again in {}:\n{log}",
            dir.display()
        );
    }

    /// `kill -9`: the process gets no chance to clean up. Returns the directory, kept for
    /// [`Office::start_in`], whose `Office` removes it when dropped.
    pub fn kill(mut self) -> PathBuf {
        self.child.kill().unwrap();
        let _ = self.child.wait();
        // `Drop` then removes an empty path, which fails and is ignored.
        std::mem::take(&mut self.dir)
    }

    fn try_start(dir: &Path, smtp: Option<u16>, extra: &[&str]) -> Option<Self> {
        let dir = dir.to_path_buf();
        let (smtp, submission, smtps, lmtp, pop3, pop3s) = (
            smtp.unwrap_or_else(free_port),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
            free_port(),
        );
        let addr = |port: u16| format!("127.0.0.1:{port}");
        let mut command = Command::new(binary());
        command
            .arg("serve")
            .args([
                "--smtp",
                &addr(smtp),
                "--submission",
                &addr(submission),
                "--smtps",
                &addr(smtps),
            ])
            .args([
                "--lmtp",
                &addr(lmtp),
                "--pop3",
                &addr(pop3),
                "--pop3s",
                &addr(pop3s),
            ])
            .args(["--data", dir.join("data").to_str().unwrap()])
            .args(["--user", "alice:secret", "--user", "bob:hunter2"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.join("serve.log")).unwrap(),
            ));
        let mut child = command.spawn().expect("post-office starts");
        // It prints each listener once bound, the POP3S one last (or exits if a port is taken).
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if child.try_wait().unwrap().is_some() {
                return None;
            }
            let log = std::fs::read_to_string(dir.join("serve.log")).unwrap_or_default();
            if log.contains(&format!("Pop3s on 127.0.0.1:{pop3s}")) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "post-office did not start:\n{log}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self {
            child,
            dir,
            smtp,
            submission,
            smtps,
            lmtp,
            pop3,
            pop3s,
        })
    }

    /// The messages in a user's Maildir, oldest first, each without the trace fields
    /// post-office put above it ([`without_trace`]): what the client sent.
    pub fn messages(&self, user: &str) -> Vec<Vec<u8>> {
        self.stored(user)
            .iter()
            .map(|message| without_trace(message))
            .collect()
    }

    /// The files in a user's Maildir as stored, oldest first.
    pub fn stored(&self, user: &str) -> Vec<Vec<u8>> {
        messages_in(&self.dir.join("data").join(user))
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the process to end (after a signal), at most 10 seconds.
    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "post-office did not exit");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `post-office queue` on this office's data, with `extra`: its output.
    pub fn queue(&self, extra: &[&str]) -> String {
        queue_listing(&self.dir.join("data"), extra)
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("serve.log")).unwrap_or_default()
    }
}

impl Drop for Office {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The messages of a Maildir (`new/` and `cur/`), by file name.
pub fn messages_in(maildir: &Path) -> Vec<Vec<u8>> {
    let mut files = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(entries) = std::fs::read_dir(maildir.join(sub)) {
            for entry in entries.flatten() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    files
        .into_iter()
        .map(|path| std::fs::read(path).unwrap())
        .collect()
}

/// `message` without the fields post-office puts above each message it stores (RFC 5321
/// 4.4): `Return-Path:`, `Delivered-To:` and its `Received:` field (with its folded lines),
/// which must be there, in that order.
pub fn without_trace(message: &[u8]) -> Vec<u8> {
    let mut rest = message;
    for name in ["Return-Path: ", "Delivered-To: ", "Received: "] {
        assert!(
            rest.starts_with(name.as_bytes()),
            "no {name:?} where expected in {:?}",
            String::from_utf8_lossy(message.get(..message.len().min(400)).unwrap())
        );
        // The field, and the lines that continue it (folded: they start with white space).
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
            rest = &rest[end..];
            if !rest.starts_with(b"\t") && !rest.starts_with(b" ") {
                break;
            }
        }
    }
    rest.to_vec()
}

/// Runs a command; panics with its output unless it exits 0.
pub fn run(command: &mut Command) -> String {
    let output = command.output().expect("the command runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

/// Waits (at most `limit`, looking every `every`) until `done` says yes; whether it did.
pub fn wait_until(limit: Duration, every: Duration, mut done: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if done() {
            return true;
        }
        std::thread::sleep(every);
    }
    done()
}

/// What `post-office queue` prints for an empty queue.
pub const EMPTY_QUEUE: &str = "0 messages queued, 0 recipients pending\n";

/// `post-office queue --data DATA` and `extra`: its output (it must exit 0).
pub fn queue_listing(data: &Path, extra: &[&str]) -> String {
    run(Command::new(binary())
        .arg("queue")
        .arg("--data")
        .arg(data)
        .args(extra))
}

/// Runs a Python script (standard library only unless the peer is installed) with arguments.
pub fn python(script: &str, args: &[String]) -> String {
    run(Command::new("python3").arg("-c").arg(script).args(args))
}

/// A line-at-a-time client of a text protocol (SMTP, POP3) over a plain TCP connection,
/// whose reads give up after 10 s (no test can hang on a server that stays silent).
pub struct Client {
    lines: BufReader<TcpStream>,
    /// The connection, to write to directly.
    pub stream: TcpStream,
}

impl Client {
    /// Connects to `port` on loopback.
    pub fn connect(port: u16) -> Self {
        Self::over(TcpStream::connect(("127.0.0.1", port)).unwrap())
    }

    /// Talks over `stream` (connected from some address of its own, say).
    pub fn over(stream: TcpStream) -> Self {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Self {
            lines: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    /// One line, CRLF included ("" at the end of the stream).
    pub fn line(&mut self) -> String {
        let mut line = String::new();
        self.lines.read_line(&mut line).unwrap();
        line
    }

    /// The last line of an SMTP reply (multi-line replies end with `CODE `).
    pub fn reply(&mut self) -> String {
        for _ in 0..100 {
            let line = self.line();
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
        panic!("a reply of more than 100 lines");
    }

    /// Exactly `buf.len()` octets, whatever lines they hold.
    pub fn read_exact(&mut self, buf: &mut [u8]) {
        self.lines.read_exact(buf).unwrap();
    }

    /// Writes `bytes` as they are.
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        self.stream.write_all(bytes.as_ref()).unwrap();
    }

    /// Sends a POP3 command (CRLF added); its first response line.
    pub fn cmd(&mut self, cmd: &str) -> String {
        self.send(format!("{cmd}\r\n"));
        self.line()
    }

    /// Sends an SMTP command (CRLF added); the last line of its reply.
    pub fn smtp(&mut self, cmd: &str) -> String {
        self.send(format!("{cmd}\r\n"));
        self.reply()
    }

    /// Whether the server closed: end of stream within the read timeout.
    pub fn closed(&mut self) -> bool {
        let mut rest = Vec::new();
        self.lines.read_to_end(&mut rest).is_ok()
    }

    /// Everything until the server closes (within the read timeout).
    pub fn rest(&mut self) -> std::io::Result<String> {
        let mut rest = String::new();
        self.lines.read_to_string(&mut rest).map(|_| rest)
    }

    /// A plaintext POP3 login (needs `--plaintext-login`): the client and the answer to PASS.
    pub fn pop_login(port: u16, user: &str, pass: &str) -> (Self, String) {
        let mut pop = Self::connect(port);
        pop.line();
        pop.cmd(&format!("USER {user}"));
        let answer = pop.cmd(&format!("PASS {pass}"));
        (pop, answer)
    }

    /// A multi-line POP3 response: the first line and the rest up to `.` (as sent).
    pub fn multi(&mut self, cmd: &str) -> (String, Vec<u8>) {
        let first = self.cmd(cmd);
        let mut rest = Vec::new();
        if first.starts_with("+OK") {
            for _ in 0..1_000_000 {
                let line = self.line();
                if line == ".\r\n" || line.is_empty() {
                    break;
                }
                rest.extend_from_slice(line.as_bytes());
            }
        }
        (first, rest)
    }
}

/// One message into SMTP on `port`, raw (no TLS; the SMTP listener takes mail without AUTH),
/// each reply checked.
pub fn smtp_deliver(port: u16, rcpt: &str, body: &str) {
    let mut smtp = Client::connect(port);
    assert!(smtp.reply().starts_with("220"));
    assert!(smtp.smtp("EHLO c.example").starts_with("250"));
    assert!(smtp.smtp("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(smtp.smtp(&format!("RCPT TO:<{rcpt}>")).starts_with("250"));
    assert!(smtp.smtp("DATA").starts_with("354"));
    smtp.send(body);
    let end = smtp.smtp(".");
    assert!(end.starts_with("250"), "{end}");
    assert!(smtp.smtp("QUIT").starts_with("221"));
}
