//! The POP3 server over tokio (`mail_io::pop3::serve` and `run_session`), driven by raw TCP
//! clients, by an in-memory pipe, and by Python's poplib where python3 is installed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::collections::HashSet;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use mail_io::pop3::{
    Login, Maildrop, MessageInfo, Refusal, Retrieve, Server, ServerConfig, ServerError, Timestamp,
    UidListing, UniqueId, run_session, serve,
};
use mail_io::tls::{CertificateDer, PrivateKeyDer};
use mail_io::{Connection, IoConfig, ServeOptions, SessionLimit, TlsClient, TlsServer};
use pop3_proto::types::ApopDigest;
use tokio::io::{
    AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader, ReadBuf,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[path = "common/pki.rs"]
mod pki;
use pki::{mutual_tls, pki};

/// How long any one step of a test may take before it fails instead of hanging.
const STEP: Duration = Duration::from_secs(20);

// ---------------------------------------------------------------------------------------------
// A maildrop that records what the session asked of it.

/// What the handlers of a test saw, in order.
#[derive(Debug, Default)]
struct Log {
    /// Every login attempt, by user name.
    logins: Vec<String>,
    /// Every retrieval: message number and TOP lines.
    retrieved: Vec<(u32, Option<u32>)>,
    /// Every commit: the numbers and unique-ids of the messages deleted.
    commits: Vec<Vec<(u32, String)>>,
    /// Every end of a session: the error it ended on, if any.
    closed: Vec<Option<String>>,
    /// Sessions counted by the limit when each handler was dropped (with `Mailbox::limit`).
    in_use_at_drop: Vec<usize>,
}

/// A test's maildrop: its messages, its log, its locks, and the faults it should show.
#[derive(Clone, Default)]
struct Mailbox {
    messages: Arc<Vec<Vec<u8>>>,
    log: Arc<Mutex<Log>>,
    /// Users whose maildrop a session holds (`[IN-USE]` for a second one).
    locks: Arc<Mutex<HashSet<String>>>,
    /// Octets handed out by all message readers so far.
    octets_read: Arc<AtomicUsize>,
    /// Message index whose reader fails once it has handed out this many octets.
    failing: Option<(usize, usize)>,
    /// Commits fail.
    refuse_commit: bool,
    /// Sessions get APOP timestamps, numbered by this counter.
    apop: Option<Arc<AtomicUsize>>,
    /// The limit the server counts sessions with, read as each handler is dropped.
    limit: Option<SessionLimit>,
}

impl Mailbox {
    fn new(messages: Vec<Vec<u8>>) -> Self {
        Self {
            messages: Arc::new(messages),
            ..Self::default()
        }
    }

    fn log(&self) -> std::sync::MutexGuard<'_, Log> {
        self.log.lock().unwrap()
    }

    fn handler(&self) -> Handler {
        Handler {
            mailbox: self.clone(),
            user: None,
        }
    }

    /// Waits until `sessions` sessions have ended.
    async fn until_closed(&self, sessions: usize) {
        let start = Instant::now();
        while self.log().closed.len() < sessions {
            assert!(
                start.elapsed() < STEP,
                "sessions never ended: {:?}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// One session's handler.
struct Handler {
    mailbox: Mailbox,
    /// The user whose lock this session holds.
    user: Option<String>,
}

fn uid(index: usize) -> String {
    format!("uid-{}", index + 1)
}

impl Maildrop for Handler {
    type Message = Reader;

    async fn login(&mut self, login: &Login) -> Result<Vec<MessageInfo>, Refusal> {
        let name = login.username().unwrap_or_default().to_string();
        self.mailbox.log().logins.push(name.clone());
        let verified =
            matches!(login, Login::Sasl { credentials, .. } if credentials.is_verified());
        if name != "alice" || !(login.verify_secret(b"secret") || verified) {
            return Err(Refusal::auth());
        }
        if !self.mailbox.locks.lock().unwrap().insert(name.clone()) {
            return Err(Refusal::in_use());
        }
        self.user = Some(name);
        let listing = self
            .mailbox
            .messages
            .iter()
            .enumerate()
            .map(|(i, message)| {
                let uid = UniqueId::new(uid(i)).unwrap();
                MessageInfo {
                    size: message.len() as u64,
                    uid,
                }
            });
        Ok(listing.collect())
    }

    async fn retrieve(&mut self, request: &Retrieve) -> Result<Reader, Refusal> {
        let index = request.message.index();
        self.mailbox
            .log()
            .retrieved
            .push((request.message.get(), request.top));
        assert_eq!(request.uid.as_str(), uid(index));
        if index >= self.mailbox.messages.len() {
            return Err(Refusal::new("no such message"));
        }
        let fail_at = self
            .mailbox
            .failing
            .filter(|(failing, _)| *failing == index)
            .map(|(_, at)| at);
        Ok(Reader {
            messages: self.mailbox.messages.clone(),
            index,
            at: 0,
            fail_at,
            counter: self.mailbox.octets_read.clone(),
        })
    }

    async fn commit(&mut self, deleted: &[UidListing<'static>]) -> Result<(), Refusal> {
        let deleted = deleted
            .iter()
            .map(|listing| (listing.message.get(), listing.uid.to_string()))
            .collect();
        self.mailbox.log().commits.push(deleted);
        if self.mailbox.refuse_commit {
            return Err(Refusal::not_removed());
        }
        Ok(())
    }

    async fn scram_secret(&mut self, username: String) -> Option<mail_io::pop3::ScramSecret> {
        (username == "alice")
            .then(|| mail_io::pop3::ScramSecret::derive("secret", b"alice's salt", 4096).unwrap())
    }

    fn apop_timestamp(&mut self) -> Option<Timestamp<'static>> {
        let n = self.mailbox.apop.as_ref()?.fetch_add(1, Ordering::SeqCst);
        Timestamp::new(format!("<{n}.test@localhost>")).ok()
    }

    async fn closed(&mut self, error: Option<&ServerError>) {
        if let Some(user) = self.user.take() {
            self.mailbox.locks.lock().unwrap().remove(&user);
        }
        self.mailbox
            .log()
            .closed
            .push(error.map(ToString::to_string));
    }
}

impl Drop for Handler {
    fn drop(&mut self) {
        if let Some(limit) = &self.mailbox.limit {
            let in_use = limit.in_use();
            self.mailbox.log().in_use_at_drop.push(in_use);
        }
    }
}

/// A message's reader: hands out whatever the caller's buffer takes, counts it, and fails
/// where the test says.
struct Reader {
    messages: Arc<Vec<Vec<u8>>>,
    index: usize,
    at: usize,
    fail_at: Option<usize>,
    counter: Arc<AtomicUsize>,
}

impl AsyncRead for Reader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.fail_at.is_some_and(|at| self.at >= at) {
            return Poll::Ready(Err(std::io::Error::other("disk on fire")));
        }
        let message = &self.messages[self.index];
        let mut end = message.len().min(self.at + buf.remaining());
        if let Some(at) = self.fail_at {
            end = end.min(at);
        }
        buf.put_slice(&message[self.at..end]);
        let n = end - self.at;
        self.counter.fetch_add(n, Ordering::SeqCst);
        self.at = end;
        Poll::Ready(Ok(()))
    }
}

// ---------------------------------------------------------------------------------------------
// Servers and clients.

fn plaintext() -> ServerConfig {
    ServerConfig {
        plaintext_login: true,
        ..ServerConfig::default()
    }
}

/// Serves `mailbox` on a fresh loopback port.
async fn start(
    mailbox: &Mailbox,
    config: ServerConfig,
    options: ServeOptions,
) -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mailbox = mailbox.clone();
    let server = serve(listener, config, options, move |_peer| mailbox.handler());
    (address, tokio::spawn(server))
}

/// A raw POP3 client: lines in, lines out.
struct Peer<S> {
    io: BufReader<S>,
}

impl Peer<TcpStream> {
    async fn connect(address: SocketAddr) -> Self {
        Self::over(TcpStream::connect(address).await.unwrap())
    }

    /// Connects and logs in as alice (plaintext).
    async fn alice(address: SocketAddr) -> Self {
        let mut peer = Self::connect(address).await;
        assert!(peer.line().await.starts_with("+OK"));
        peer.login().await;
        peer
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Peer<S> {
    fn over(io: S) -> Self {
        Self {
            io: BufReader::new(io),
        }
    }

    /// One line, CRLF included ("" at the end of the stream).
    async fn line(&mut self) -> String {
        let mut line = String::new();
        bounded(self.io.read_line(&mut line)).await.unwrap();
        line
    }

    async fn send(&mut self, text: &str) {
        bounded(self.io.get_mut().write_all(text.as_bytes()))
            .await
            .unwrap();
    }

    /// Sends a command, returns the first line of its response.
    async fn command(&mut self, command: &str) -> String {
        self.send(&format!("{command}\r\n")).await;
        self.line().await
    }

    async fn login(&mut self) {
        assert_eq!(self.command("USER alice").await, "+OK\r\n");
        let reply = self.command("PASS secret").await;
        assert!(reply.starts_with("+OK alice's maildrop has"), "{reply}");
    }

    /// The rest of a multi-line response as sent (dot-stuffed), without the final `.`.
    async fn multi(&mut self) -> Vec<u8> {
        let mut body = Vec::new();
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = bounded(self.io.read_until(b'\n', &mut line)).await.unwrap();
            assert!(n > 0, "the stream ended inside a multi-line response");
            if line == b".\r\n" {
                return body;
            }
            body.extend_from_slice(&line);
        }
    }

    /// Whether the server closed the connection (after whatever is still to read).
    async fn at_end(&mut self) -> bool {
        let mut rest = Vec::new();
        match bounded(self.io.read_to_end(&mut rest)).await {
            Ok(_) => rest.is_empty(),
            // A reset is an end too.
            Err(_) => true,
        }
    }
}

async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(STEP, future)
        .await
        .expect("a step of the test took too long")
}

/// Undoes dot-stuffing (RFC 1939 3).
fn unstuff(stuffed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(stuffed.len());
    for line in stuffed.split_inclusive(|&b| b == b'\n') {
        out.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
    }
    out
}

/// A message with a header, `size` octets in all, CRLF lines, some starting with dots.
fn message(size: usize, seed: u64) -> Vec<u8> {
    let mut message = format!("Subject: test {seed}\r\n\r\n").into_bytes();
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
    while message.len() < size {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let length = 1 + (state >> 33) as usize % 120;
        if state % 7 == 0 {
            message.push(b'.');
        }
        for i in 0..length {
            message.push(b'a' + ((state >> (i % 32)) % 26) as u8);
        }
        message.extend_from_slice(b"\r\n");
    }
    // Exactly `size` octets, ending with CRLF.
    message.truncate(size - 2);
    if let Some(last) = message.last_mut().filter(|last| **last == b'\r') {
        *last = b'x';
    }
    message.extend_from_slice(b"\r\n");
    message
}

fn self_signed() -> (TlsServer, TlsClient, CertificateDer<'static>, String) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let certificate = certified.cert.der().clone();
    let key = PrivateKeyDer::try_from(certified.key_pair.serialize_der()).unwrap();
    let server = TlsServer::from_der(vec![certificate.clone()], key).unwrap();
    let client = TlsClient::trusting("localhost", vec![certificate.clone()]).unwrap();
    (server, client, certificate, certified.cert.pem())
}

async fn tls_connect<S: AsyncRead + AsyncWrite + Unpin>(
    tls: &TlsClient,
    io: S,
) -> tokio_rustls::client::TlsStream<S> {
    let connector = tokio_rustls::TlsConnector::from(tls.config().clone());
    bounded(connector.connect(tls.server_name().clone(), io))
        .await
        .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Sessions.

#[tokio::test]
async fn login_then_stat_list_uidl_and_quit() {
    let mailbox = Mailbox::new(vec![message(300, 1), message(1000, 2), message(20, 3)]);
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::connect(address).await;
    assert_eq!(peer.line().await, "+OK POP3 server ready\r\n");

    assert_eq!(peer.command("USER alice").await, "+OK\r\n");
    assert_eq!(
        peer.command("PASS wrong").await,
        "-ERR [AUTH] invalid user name or password\r\n"
    );
    assert_eq!(peer.command("STAT").await, "-ERR not logged in\r\n");
    peer.login().await;

    let sizes: Vec<usize> = mailbox.messages.iter().map(Vec::len).collect();
    let total: usize = sizes.iter().sum();
    assert_eq!(peer.command("STAT").await, format!("+OK 3 {total}\r\n"));
    assert!(peer.command("LIST").await.starts_with("+OK 3 messages"));
    let listing = String::from_utf8(peer.multi().await).unwrap();
    let expected: String = (0..3)
        .map(|i| format!("{} {}\r\n", i + 1, sizes[i]))
        .collect();
    assert_eq!(listing, expected);
    assert_eq!(
        peer.command("LIST 2").await,
        format!("+OK 2 {}\r\n", sizes[1])
    );
    assert!(peer.command("UIDL").await.starts_with("+OK"));
    let uids = String::from_utf8(peer.multi().await).unwrap();
    assert_eq!(uids, "1 uid-1\r\n2 uid-2\r\n3 uid-3\r\n");
    assert_eq!(peer.command("UIDL 3").await, "+OK 3 uid-3\r\n");
    assert_eq!(peer.command("LIST 4").await, "-ERR no such message\r\n");
    assert_eq!(peer.command("NOOP").await, "+OK\r\n");
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    assert!(peer.at_end().await);

    mailbox.until_closed(1).await;
    let log = mailbox.log();
    assert_eq!(log.logins, ["alice", "alice"]);
    assert_eq!(log.commits, [Vec::<(u32, String)>::new()]);
    assert_eq!(log.closed, [None]);
    assert!(log.retrieved.is_empty());
}

#[tokio::test]
async fn scram_sha_256_secret_from_the_maildrop() {
    use mail_wire::sasl::{self, ClientMechanism, ScramSha256Client};
    let mailbox = Mailbox::new(vec![message(300, 1)]);
    let config = ServerConfig {
        sasl_mechanisms: mail_io::pop3::ServerMechanisms::new()
            .plain()
            .scram_sha_256(
                mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
                || "server-nonce".to_string(),
            ),
        ..plaintext()
    };
    let (address, _) = start(&mailbox, config, ServeOptions::new()).await;
    for (password, verified) in [("secret", true), ("wrong", false)] {
        let mut peer = Peer::connect(address).await;
        assert!(peer.line().await.starts_with("+OK"));
        let mut client = ScramSha256Client::new(None, "alice", password, "client-nonce").unwrap();
        let first = client.initial_response().unwrap();
        let first = sasl::encode_initial_response(first.expose_secret());
        let mut line = peer
            .command(&format!("AUTH SCRAM-SHA-256 {}", first.expose_secret()))
            .await;
        // server-first, then (for the right password) server-final; each answered.
        while let Some(challenge) = line.strip_prefix("+ ") {
            let challenge = sasl::decode_challenge(challenge.trim_end().as_bytes(), 1024).unwrap();
            let response = client.respond(&challenge).unwrap();
            let response = sasl::encode_response(response.expose_secret());
            line = peer.command(response.expose_secret()).await;
        }
        if verified {
            assert!(
                line.starts_with("+OK alice's maildrop has 1 message"),
                "{line}"
            );
            assert!(client.is_server_verified());
        } else {
            assert!(line.starts_with("-ERR"), "{line}");
        }
    }
}

#[tokio::test]
async fn retr_sends_a_dot_stuffed_message_exactly() {
    let text = b"Subject: dots\r\n\r\n.hello\r\n..two\r\n.\r\nend\r\n. \r\n".to_vec();
    let mailbox = Mailbox::new(vec![text.clone()]);
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::alice(address).await;
    assert_eq!(
        peer.command("RETR 1").await,
        format!("+OK {} octets\r\n", text.len())
    );
    let stuffed = peer.multi().await;
    assert_eq!(
        stuffed,
        b"Subject: dots\r\n\r\n..hello\r\n...two\r\n..\r\nend\r\n.. \r\n"
    );
    assert_eq!(unstuff(&stuffed), text);
    assert_eq!(peer.command("RETR 2").await, "-ERR no such message\r\n");
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    mailbox.until_closed(1).await;
    assert_eq!(mailbox.log().retrieved, [(1, None)]);
}

#[tokio::test]
async fn retr_of_a_5_mib_message_arrives_exactly() {
    let big = message(5 * 1024 * 1024, 5);
    let mailbox = Mailbox::new(vec![message(100, 1), big.clone()]);
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::alice(address).await;
    assert_eq!(
        peer.command("RETR 2").await,
        format!("+OK {} octets\r\n", big.len())
    );
    let received = unstuff(&peer.multi().await);
    assert!(received == big, "the message changed on the way");
    // The session goes on after it.
    assert_eq!(peer.command("RETR 1").await, "+OK 100 octets\r\n");
    assert_eq!(unstuff(&peer.multi().await), mailbox.messages[0]);
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
}

#[tokio::test]
async fn a_message_streams_with_bounded_memory_while_the_client_does_not_read() {
    let big = message(5 * 1024 * 1024, 9);
    let mailbox = Mailbox::new(vec![big.clone()]);
    // An in-memory pipe holding at most 64 KiB: what the server reads from the maildrop
    // beyond that waits in its own buffers.
    let (ours, theirs) = tokio::io::duplex(64 * 1024);
    let connection = Connection::new(Server::new(plaintext()), ours);
    let session = tokio::spawn(run_session(connection, mailbox.handler()));
    let mut peer = Peer::over(theirs);
    assert!(peer.line().await.starts_with("+OK"));
    peer.login().await;
    peer.send("RETR 1\r\n").await;

    // The server runs until it can write no more; what it read by then is what it holds.
    let start = Instant::now();
    let mut before = usize::MAX;
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let now = mailbox.octets_read.load(Ordering::SeqCst);
        if now == before && now > 0 {
            break;
        }
        assert!(start.elapsed() < STEP, "the server never started sending");
        before = now;
    }
    assert!(
        before <= 512 * 1024,
        "{before} octets read from the maildrop for a client that reads nothing"
    );

    assert!(peer.line().await.starts_with("+OK"));
    assert!(unstuff(&peer.multi().await) == big);
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    bounded(session).await.unwrap().unwrap();
    assert_eq!(mailbox.log().closed, [None]);
}

#[tokio::test]
async fn top_sends_the_headers_and_the_lines_asked_for() {
    let text = b"Subject: top\r\nFrom: a@example.org\r\n\r\none\r\n.two\r\nthree\r\n".to_vec();
    let mailbox = Mailbox::new(vec![text]);
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::alice(address).await;
    assert!(peer.command("TOP 1 0").await.starts_with("+OK"));
    assert_eq!(
        peer.multi().await,
        b"Subject: top\r\nFrom: a@example.org\r\n\r\n"
    );
    assert!(peer.command("TOP 1 2").await.starts_with("+OK"));
    assert_eq!(
        peer.multi().await,
        b"Subject: top\r\nFrom: a@example.org\r\n\r\none\r\n..two\r\n"
    );
    assert!(peer.command("TOP 1 100").await.starts_with("+OK"));
    assert_eq!(unstuff(&peer.multi().await), mailbox.messages[0]);
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    mailbox.until_closed(1).await;
    assert_eq!(
        mailbox.log().retrieved,
        [(1, Some(0)), (1, Some(2)), (1, Some(100))]
    );
}

#[tokio::test]
async fn top_of_a_large_message_reads_only_a_small_prefix_and_streams_the_rest_in_pieces() {
    let big = message(1024 * 1024, 3);
    let mailbox = Mailbox::new(vec![big.clone()]);
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::alice(address).await;
    assert!(peer.command("TOP 1 0").await.starts_with("+OK"));
    assert_eq!(peer.multi().await, b"Subject: test 3\r\n\r\n");
    let read = mailbox.octets_read.load(Ordering::SeqCst);
    // Not the 64 KiB piece a RETR reads.
    assert!(
        read <= 8 * 1024,
        "{read} octets read for the headers of a 1 MiB message"
    );
    assert!(peer.command("TOP 1 100000").await.starts_with("+OK"));
    assert!(unstuff(&peer.multi().await) == big);
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    mailbox.until_closed(1).await;
}

#[tokio::test]
async fn quit_commits_exactly_the_messages_marked_deleted() {
    let mailbox = Mailbox::new((0..5).map(|i| message(200, i)).collect());
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::alice(address).await;
    assert_eq!(peer.command("DELE 1").await, "+OK message 1 deleted\r\n");
    assert_eq!(peer.command("DELE 3").await, "+OK message 3 deleted\r\n");
    assert!(peer.command("RSET").await.starts_with("+OK"));
    assert_eq!(peer.command("DELE 2").await, "+OK message 2 deleted\r\n");
    assert_eq!(peer.command("DELE 5").await, "+OK message 5 deleted\r\n");
    assert_eq!(
        peer.command("DELE 5").await,
        "-ERR message 5 already deleted\r\n"
    );
    assert_eq!(peer.command("STAT").await, "+OK 3 600\r\n");
    assert!(mailbox.log().commits.is_empty());
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    // The session let go of the maildrop before it said goodbye (RFC 1939 6): a client
    // that reconnects at once is not told `[IN-USE]`.
    assert_eq!(mailbox.log().closed, [None]);
    assert!(mailbox.locks.lock().unwrap().is_empty());
    assert!(peer.at_end().await);
    let log = mailbox.log();
    assert_eq!(
        log.commits,
        [vec![(2, "uid-2".to_string()), (5, "uid-5".to_string())]]
    );
}

#[tokio::test]
async fn a_failed_commit_is_reported_and_the_session_still_ends() {
    let mailbox = Mailbox {
        refuse_commit: true,
        ..Mailbox::new(vec![message(100, 1)])
    };
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::alice(address).await;
    assert!(peer.command("DELE 1").await.starts_with("+OK"));
    assert_eq!(
        peer.command("QUIT").await,
        "-ERR some deleted messages not removed\r\n"
    );
    assert!(peer.at_end().await);
    mailbox.until_closed(1).await;
    assert_eq!(mailbox.log().commits, [vec![(1, "uid-1".to_string())]]);
    assert_eq!(mailbox.log().closed, [None]);
}

#[tokio::test]
async fn a_dropped_connection_commits_nothing_and_releases_the_lock() {
    let mailbox = Mailbox::new(vec![message(100, 1), message(100, 2)]);
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut first = Peer::alice(address).await;
    assert!(first.command("DELE 1").await.starts_with("+OK"));

    // The maildrop is locked while the first session lives.
    let mut second = Peer::connect(address).await;
    assert!(second.line().await.starts_with("+OK"));
    assert_eq!(second.command("USER alice").await, "+OK\r\n");
    assert_eq!(
        second.command("PASS secret").await,
        "-ERR [IN-USE] maildrop already locked\r\n"
    );

    std::mem::drop(first);
    mailbox.until_closed(1).await;
    assert!(mailbox.log().commits.is_empty());
    assert_eq!(mailbox.log().closed, [None]);

    // Released: the second client gets in now.
    second.login().await;
    assert_eq!(second.command("STAT").await, "+OK 2 200\r\n");
    assert_eq!(second.command("QUIT").await, "+OK bye\r\n");
    mailbox.until_closed(2).await;
    assert_eq!(mailbox.log().commits, [Vec::<(u32, String)>::new()]);
}

#[tokio::test]
async fn refused_and_unreadable_messages_are_answered_and_the_session_goes_on() {
    let mailbox = Mailbox {
        failing: Some((1, 0)),
        ..Mailbox::new(vec![message(100, 1), message(100, 2)])
    };
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::alice(address).await;
    assert_eq!(
        peer.command("RETR 2").await,
        "-ERR [SYS/TEMP] message not readable\r\n"
    );
    assert_eq!(peer.command("NOOP").await, "+OK\r\n");
    assert!(peer.command("RETR 1").await.starts_with("+OK"));
    assert_eq!(unstuff(&peer.multi().await), mailbox.messages[0]);
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
}

#[tokio::test]
async fn a_message_that_fails_midway_ends_the_session_without_a_commit() {
    let mailbox = Mailbox {
        failing: Some((0, 200 * 1024)),
        ..Mailbox::new(vec![message(1024 * 1024, 1), message(100, 2)])
    };
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::alice(address).await;
    assert!(peer.command("DELE 2").await.starts_with("+OK"));
    peer.send("RETR 1\r\nQUIT\r\n").await;
    assert!(peer.line().await.starts_with("+OK"));
    // No final `.`: the connection just ends after part of the message.
    let mut rest = Vec::new();
    let _ = bounded(peer.io.read_to_end(&mut rest)).await;
    assert!(!rest.ends_with(b"\r\n.\r\n"));
    mailbox.until_closed(1).await;
    let log = mailbox.log();
    assert!(log.commits.is_empty(), "{log:?}");
    let error = log.closed[0].clone().unwrap();
    assert!(error.contains("disk on fire"), "{error}");
}

#[tokio::test]
async fn a_client_that_stops_reading_is_cut_off_and_the_lock_released() {
    let mailbox = Mailbox::new(vec![message(4 * 1024 * 1024, 3)]);
    let (ours, theirs) = tokio::io::duplex(16 * 1024);
    let io = IoConfig::default().write_timeout(Duration::from_millis(300));
    let connection = Connection::new(Server::new(plaintext()), ours).with_config(io);
    let session = tokio::spawn(run_session(connection, mailbox.handler()));
    let mut peer = Peer::over(theirs);
    assert!(peer.line().await.starts_with("+OK"));
    peer.login().await;
    peer.send("RETR 1\r\n").await;
    // Then the client reads nothing more, and keeps the connection open.
    let result = bounded(session).await.unwrap();
    assert!(
        matches!(&result, Err(ServerError::Io(error)) if error.is_timeout()),
        "{result:?}"
    );
    let log = mailbox.log();
    assert!(log.commits.is_empty());
    assert!(
        log.closed[0]
            .as_ref()
            .is_some_and(|e| e.contains("did not read"))
    );
    assert!(mailbox.locks.lock().unwrap().is_empty());
    std::mem::drop(peer);
}

#[tokio::test]
async fn quit_before_login_ends_the_session_without_a_commit() {
    let mailbox = Mailbox::new(vec![]);
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::connect(address).await;
    assert!(peer.line().await.starts_with("+OK"));
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    assert!(peer.at_end().await);
    mailbox.until_closed(1).await;
    assert!(mailbox.log().commits.is_empty());
    assert!(mailbox.log().logins.is_empty());
}

#[tokio::test]
async fn apop_is_offered_with_a_timestamp_of_each_session_only() {
    // A timestamp in the configuration would be the same on every connection: never used.
    let fixed = ServerConfig {
        apop_timestamp: Some(Timestamp::new("<fixed@localhost>").unwrap()),
        ..plaintext()
    };
    let without = Mailbox::new(vec![message(100, 1)]);
    let (address, _) = start(&without, fixed.clone(), ServeOptions::new()).await;
    let mut peer = Peer::connect(address).await;
    assert_eq!(peer.line().await, "+OK POP3 server ready\r\n");
    let digest = ApopDigest::compute(&Timestamp::new("<fixed@localhost>").unwrap(), b"secret");
    let apop = format!("APOP alice {}", digest.to_hex());
    assert_eq!(peer.command(&apop).await, "-ERR APOP not supported\r\n");

    let with = Mailbox {
        apop: Some(Arc::new(AtomicUsize::new(1))),
        ..Mailbox::new(vec![message(100, 1)])
    };
    let (address, _) = start(&with, fixed, ServeOptions::new()).await;
    for n in 1..=2 {
        let mut peer = Peer::connect(address).await;
        let stamp = format!("<{n}.test@localhost>");
        assert_eq!(
            peer.line().await,
            format!("+OK POP3 server ready {stamp}\r\n")
        );
        let digest = ApopDigest::compute(&Timestamp::new(stamp).unwrap(), b"secret");
        let apop = format!("APOP alice {}", digest.to_hex());
        assert!(
            peer.command(&apop)
                .await
                .starts_with("+OK alice's maildrop")
        );
        assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    }
}

#[tokio::test]
async fn over_the_session_limit_a_client_is_told_and_closed() {
    let mailbox = Mailbox::new(vec![message(100, 1)]);
    let options = ServeOptions::new().max_sessions(1);
    let (address, _) = start(&mailbox, plaintext(), options).await;
    let mut first = Peer::alice(address).await;

    let mut second = Peer::connect(address).await;
    assert_eq!(
        second.line().await,
        "-ERR [SYS/TEMP] too many connections\r\n"
    );
    assert!(second.at_end().await);

    assert_eq!(first.command("QUIT").await, "+OK bye\r\n");
    assert!(first.at_end().await);
    mailbox.until_closed(1).await;
    // The slot is given back as the session ends.
    let start = Instant::now();
    loop {
        let mut third = Peer::connect(address).await;
        if third.line().await.starts_with("+OK") {
            break;
        }
        assert!(start.elapsed() < STEP, "the slot was never given back");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn the_slot_is_given_back_only_once_the_handler_is_gone() {
    // What a handler holds (a maildrop lock's guard, a file) is let go before its session
    // stops counting against the limit.
    let limit = SessionLimit::new(4);
    let mut mailbox = Mailbox::new(vec![message(100, 1)]);
    mailbox.limit = Some(limit.clone());
    let options = ServeOptions::new().session_limit(limit.clone());
    let (address, _) = start(&mailbox, plaintext(), options).await;
    let mut peer = Peer::alice(address).await;
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    assert!(peer.at_end().await);
    let start = Instant::now();
    while mailbox.log().in_use_at_drop.is_empty() {
        assert!(start.elapsed() < STEP, "the handler was never dropped");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(mailbox.log().in_use_at_drop, [1]);
    while limit.in_use() != 0 {
        assert!(start.elapsed() < STEP, "the slot was never given back");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn an_implicit_tls_handshake_that_never_comes_times_out_and_frees_its_slot() {
    let (tls_server, tls_client, _, _) = self_signed();
    let mailbox = Mailbox::new(vec![]);
    let io = IoConfig::new().handshake_timeout(Duration::from_millis(300));
    let options = ServeOptions::new()
        .implicit_tls(tls_server)
        .max_sessions(1)
        .io(io);
    let (address, _) = start(&mailbox, ServerConfig::default(), options).await;
    // A client that never says hello holds the only slot until the handshake's deadline.
    let started = Instant::now();
    let mut silent = Peer::connect(address).await;
    assert!(silent.at_end().await);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    mailbox.until_closed(1).await;
    let error = mailbox.log().closed[0].clone().unwrap_or_default();
    assert!(error.contains("TLS handshake took longer"), "{error}");
    // The slot is free again: a client that speaks TLS is greeted.
    let tcp = TcpStream::connect(address).await.unwrap();
    let mut peer = Peer::over(tls_connect(&tls_client, tcp).await);
    assert!(peer.line().await.starts_with("+OK"));
}

#[tokio::test]
async fn shutdown_says_err_to_idle_sessions_and_closes_them() {
    let mailbox = Mailbox::new(vec![message(100, 1)]);
    let options = ServeOptions::new();
    let shutdown = options.shutdown.clone();
    let (address, server) = start(&mailbox, plaintext(), options).await;
    let mut greeted = Peer::connect(address).await;
    assert!(greeted.line().await.starts_with("+OK"));
    let mut logged_in = Peer::alice(address).await;
    assert!(logged_in.command("DELE 1").await.starts_with("+OK"));

    shutdown.trigger();
    // RFC 1939 6, as at QUIT: the maildrop is released before the last words go out, so a
    // client that reconnects at once finds it unlocked.
    assert_eq!(logged_in.line().await, "-ERR server shutting down\r\n");
    assert!(
        mailbox.locks.lock().unwrap().is_empty(),
        "the lock outlived the -ERR"
    );
    assert_eq!(greeted.line().await, "-ERR server shutting down\r\n");
    for peer in [&mut greeted, &mut logged_in] {
        assert!(peer.at_end().await);
    }
    bounded(server).await.unwrap();
    assert!(TcpStream::connect(address).await.is_err());
    let log = mailbox.log();
    assert!(log.commits.is_empty());
    assert_eq!(log.closed, [None, None]);
    assert!(mailbox.locks.lock().unwrap().is_empty());
}

#[tokio::test]
async fn stls_with_a_self_signed_certificate() {
    let (tls_server, tls_client, _, _) = self_signed();
    let mailbox = Mailbox::new(vec![message(5000, 1)]);
    // Passwords only under TLS (the default).
    let options = ServeOptions::new().tls(tls_server);
    let (address, _) = start(&mailbox, ServerConfig::default(), options).await;
    let mut peer = Peer::connect(address).await;
    assert!(peer.line().await.starts_with("+OK"));
    assert!(peer.command("CAPA").await.starts_with("+OK"));
    let capabilities = String::from_utf8(peer.multi().await).unwrap();
    assert!(capabilities.contains("STLS\r\n"), "{capabilities}");
    assert!(!capabilities.contains("USER\r\n"), "{capabilities}");
    assert_eq!(
        peer.command("USER alice").await,
        "-ERR [AUTH] use STLS first\r\n"
    );
    assert_eq!(peer.command("STLS").await, "+OK begin TLS negotiation\r\n");

    let tcp = peer.io.into_inner();
    let mut peer = Peer::over(tls_connect(&tls_client, tcp).await);
    assert!(peer.command("CAPA").await.starts_with("+OK"));
    let capabilities = String::from_utf8(peer.multi().await).unwrap();
    assert!(!capabilities.contains("STLS"), "{capabilities}");
    assert!(capabilities.contains("USER\r\n"), "{capabilities}");
    peer.login().await;
    assert!(peer.command("RETR 1").await.starts_with("+OK"));
    assert_eq!(unstuff(&peer.multi().await), mailbox.messages[0]);
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    mailbox.until_closed(1).await;
    assert_eq!(mailbox.log().closed, [None]);
}

#[tokio::test]
async fn stls_is_not_offered_without_tls_settings() {
    let mailbox = Mailbox::new(vec![]);
    let config = ServerConfig {
        stls: true,
        ..plaintext()
    };
    let (address, _) = start(&mailbox, config, ServeOptions::new()).await;
    let mut peer = Peer::connect(address).await;
    assert!(peer.line().await.starts_with("+OK"));
    assert!(peer.command("CAPA").await.starts_with("+OK"));
    let capabilities = String::from_utf8(peer.multi().await).unwrap();
    assert!(!capabilities.contains("STLS"), "{capabilities}");
    assert_eq!(peer.command("STLS").await, "-ERR STLS not available\r\n");
}

#[tokio::test]
async fn implicit_tls_and_a_plaintext_client_on_the_tls_port() {
    let (tls_server, tls_client, _, _) = self_signed();
    let mailbox = Mailbox::new(vec![message(100, 1)]);
    let options = ServeOptions::new().implicit_tls(tls_server);
    let (address, _) = start(&mailbox, ServerConfig::default(), options).await;

    let tcp = TcpStream::connect(address).await.unwrap();
    let mut peer = Peer::over(tls_connect(&tls_client, tcp).await);
    assert!(peer.line().await.starts_with("+OK"));
    assert!(peer.command("CAPA").await.starts_with("+OK"));
    let capabilities = String::from_utf8(peer.multi().await).unwrap();
    assert!(!capabilities.contains("STLS"), "{capabilities}");
    peer.login().await;
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
    mailbox.until_closed(1).await;

    // Plaintext on the TLS port: the handshake fails, the handler hears of it.
    let mut plain = Peer::connect(address).await;
    plain.send("CAPA\r\n").await;
    let mut alert = Vec::new();
    let _ = bounded(plain.io.read_to_end(&mut alert)).await;
    assert!(!alert.starts_with(b"+OK"));
    mailbox.until_closed(2).await;
    let error = mailbox.log().closed[1].clone();
    assert!(error.is_some_and(|e| e.contains("TLS")));
}

#[tokio::test]
async fn twenty_thousand_pipelined_commands_are_all_answered_with_a_small_read_buffer() {
    let mailbox = Mailbox::new(vec![message(100, 1)]);
    let options = ServeOptions::new().io(IoConfig::default().read_buffer(16));
    // The junk-command limit set aside: this test is about the buffer.
    let config = ServerConfig {
        max_junk_commands: usize::MAX,
        ..plaintext()
    };
    let (address, _) = start(&mailbox, config, options).await;
    let peer = Peer::alice(address).await;
    let (mut reader, mut writer) = peer.io.into_inner().into_split();

    const COMMANDS: usize = 20_000;
    let writing = tokio::spawn(async move {
        let mut commands = "STAT\r\n".repeat(COMMANDS / 2) + &"NOOP\r\n".repeat(COMMANDS / 2);
        commands.push_str("QUIT\r\n");
        writer.write_all(commands.as_bytes()).await.unwrap();
        writer
    });
    let mut responses = String::new();
    bounded(reader.read_to_string(&mut responses))
        .await
        .unwrap();
    let _writer = bounded(writing).await.unwrap();
    let lines: Vec<&str> = responses.lines().collect();
    assert_eq!(lines.len(), COMMANDS + 1);
    assert!(lines[..COMMANDS / 2].iter().all(|l| *l == "+OK 1 100"));
    assert!(lines[COMMANDS / 2..COMMANDS].iter().all(|l| *l == "+OK"));
    assert_eq!(lines[COMMANDS], "+OK bye");
    mailbox.until_closed(1).await;
    assert_eq!(mailbox.log().commits.len(), 1);
}

#[tokio::test]
async fn a_client_that_waits_for_each_answer_is_not_held_back() {
    // About 40 ms per command would come back with Nagle's algorithm and delayed ACKs: 200
    // of them would then take 8 seconds or more.
    let mailbox = Mailbox::new((0..200).map(|i| message(20 * 1024, i)).collect());
    let (address, _) = start(&mailbox, plaintext(), ServeOptions::new()).await;
    let mut peer = Peer::alice(address).await;
    let start = Instant::now();
    for i in 1..=200 {
        assert!(peer.command(&format!("RETR {i}")).await.starts_with("+OK"));
        assert!(peer.multi().await.len() >= 20 * 1024);
    }
    let retr = start.elapsed();
    let start = Instant::now();
    for i in 1..=200 {
        assert!(peer.command(&format!("TOP {i} 0")).await.starts_with("+OK"));
        peer.multi().await;
    }
    let top = start.elapsed();
    assert!(
        retr < Duration::from_secs(5) && top < Duration::from_secs(5),
        "200 RETR took {retr:?}, 200 TOP n 0 took {top:?}"
    );
    assert_eq!(peer.command("QUIT").await, "+OK bye\r\n");
}

// ---------------------------------------------------------------------------------------------
// Python's poplib, if python3 is here.

const POPLIB: &str = r#"
import poplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
p = poplib.POP3("localhost", port, timeout=20)
p.stls(ssl.create_default_context(cafile=cafile))
p.user("alice")
p.pass_("secret")
print("stat", *p.stat())
print("list", *p.list()[1])
print("uidl", *p.uidl()[1])
print("retr", repr(b"\r\n".join(p.retr(1)[1])))
print("top", repr(b"\r\n".join(p.top(2, 0)[1])))
print("big", len(b"\r\n".join(p.retr(2)[1])))
p.dele(1)
print("quit", p.quit())
"#;

#[tokio::test]
async fn python_poplib_over_stls() {
    if std::process::Command::new("python3")
        .arg("--version")
        .output()
        .is_err()
    {
        eprintln!("python3 is not installed: skipped");
        return;
    }
    let (tls_server, _, _, pem) = self_signed();
    let cafile = std::env::temp_dir().join(format!("mail-io-pop3-{}.pem", std::process::id()));
    std::fs::write(&cafile, pem).unwrap();
    let first = b"Subject: one\r\n\r\n.dotted\r\nline\r\n".to_vec();
    let second = message(200 * 1024, 7);
    let mailbox = Mailbox::new(vec![first, second.clone()]);
    let options = ServeOptions::new().tls(tls_server);
    let (address, _) = start(&mailbox, ServerConfig::default(), options).await;

    let port = address.port().to_string();
    let script_cafile = cafile.clone();
    let output = bounded(tokio::task::spawn_blocking(move || {
        std::process::Command::new("python3")
            .args(["-c", POPLIB, &port])
            .arg(&script_cafile)
            .output()
            .unwrap()
    }))
    .await
    .unwrap();
    let _ = std::fs::remove_file(&cafile);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    let total = 31 + second.len();
    assert_eq!(lines[0], format!("stat 2 {total}"));
    assert_eq!(lines[1], format!("list b'1 31' b'2 {}'", second.len()));
    assert_eq!(lines[2], "uidl b'1 uid-1' b'2 uid-2'");
    assert_eq!(lines[3], r"retr b'Subject: one\r\n\r\n.dotted\r\nline'");
    assert_eq!(lines[4], r"top b'Subject: test 7\r\n'");
    // poplib drops the last line end.
    assert_eq!(lines[5], format!("big {}", second.len() - 2));
    assert_eq!(lines[6], "quit b'+OK bye'");
    mailbox.until_closed(1).await;
    assert_eq!(mailbox.log().commits, [vec![(1, "uid-1".to_string())]]);
}

#[tokio::test]
async fn over_the_session_limit_an_implicit_tls_client_is_closed_without_plaintext() {
    let (tls_server, _, _, _) = self_signed();
    let mailbox = Mailbox::new(vec![]);
    let options = ServeOptions::new().implicit_tls(tls_server).max_sessions(1);
    let (address, _) = start(&mailbox, ServerConfig::default(), options).await;
    // The first client holds the only slot, in its handshake.
    let _first = TcpStream::connect(address).await.unwrap();
    // The second is closed without a word: plaintext would only garble its TLS.
    let mut second = Peer::connect(address).await;
    let mut said = Vec::new();
    let _ = bounded(second.io.read_to_end(&mut said)).await;
    assert_eq!(String::from_utf8_lossy(&said), "");
}

#[tokio::test]
async fn shutdown_cuts_an_implicit_tls_handshake_short() {
    let (tls_server, _, _, _) = self_signed();
    let mailbox = Mailbox::new(vec![]);
    // The handshake would wait 30 s, the server 10 s for its sessions.
    let options = ServeOptions::new().implicit_tls(tls_server);
    let shutdown = options.shutdown.clone();
    let (address, server) = start(&mailbox, ServerConfig::default(), options).await;
    // A client that never says hello.
    let mut silent = Peer::connect(address).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    shutdown.trigger();
    bounded(server).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(silent.at_end().await);
    mailbox.until_closed(1).await;
    assert_eq!(mailbox.log().closed, [None]);
}

// ---------------------------------------------------------------------------------------------
// What TLS establishes reaches the machine before the next command (RFC 2595 4: after STLS
// the client sends CAPA again, then AUTH).

/// RFC 5802 section 6 / RFC 9266 (SCRAM-SHA-256-PLUS offered over TLS 1.3) and RFC 4422
/// appendix A (EXTERNAL with the client certificate's identity) right after STLS: the
/// machine knows the identity and the binding before it reads CAPA and AUTH (the review's
/// `review2_pop3_stls_external_and_plus`).
#[tokio::test]
async fn rfc2595_4_stls_then_capa_offers_plus_and_external_sees_the_certificate() {
    let pki = pki("alice", None);
    let (tls_server, tls_client) = mutual_tls(&pki, true);
    let mailbox = Mailbox::new(vec![message(300, 1)]);
    let unknown_users =
        || mail_io::pop3::ScramUnknownUsers::new(b"a server-wide secret key").unwrap();
    let config = ServerConfig {
        sasl_mechanisms: mail_io::pop3::ServerMechanisms::new()
            .scram_sha_256_plus(unknown_users(), || "server-nonce".to_string())
            .external()
            .scram_sha_256(unknown_users(), || "server-nonce".to_string()),
        ..ServerConfig::default()
    };
    let options = ServeOptions::new().tls(tls_server);
    let (address, _) = start(&mailbox, config, options).await;
    let mut peer = Peer::connect(address).await;
    assert!(peer.line().await.starts_with("+OK"));
    // Before TLS: no -PLUS (no binding), and no EXTERNAL identity.
    assert!(peer.command("CAPA").await.starts_with("+OK"));
    let plaintext = String::from_utf8(peer.multi().await).unwrap();
    assert!(!plaintext.contains("SCRAM-SHA-256-PLUS"), "{plaintext:?}");
    assert_eq!(peer.command("STLS").await, "+OK begin TLS negotiation\r\n");
    let tcp = peer.io.into_inner();
    let mut peer = Peer::over(tls_connect(&tls_client, tcp).await);
    assert!(peer.command("CAPA").await.starts_with("+OK"));
    let capabilities = String::from_utf8(peer.multi().await).unwrap();
    assert!(
        capabilities.contains("SASL SCRAM-SHA-256-PLUS EXTERNAL SCRAM-SHA-256\r\n"),
        "TLS 1.3, so SCRAM-SHA-256-PLUS is offered: {capabilities:?}"
    );
    let external = peer.command("AUTH EXTERNAL =").await;
    assert!(external.starts_with("+OK"), "{external:?}");
}

/// RFC 1939 6, as at QUIT: on shutdown, the maildrop is released before the session's
/// `-ERR` goes out, even when that `-ERR` cannot go out yet (the client reads nothing, its
/// socket is full): a client that reconnects finds the maildrop unlocked at once, not after
/// the write timeout.
#[tokio::test]
async fn on_shutdown_the_lock_is_released_before_the_err_of_a_client_that_does_not_read() {
    let mailbox = Mailbox::new((0..2000).map(|seed| message(10, seed)).collect());
    let options = ServeOptions::new();
    let shutdown = options.shutdown.clone();
    let (address, server) = start(&mailbox, plaintext(), options).await;
    let mut peer = Peer::alice(address).await;
    assert!(!mailbox.locks.lock().unwrap().is_empty());
    // About 20 KB a LIST: the server's writes block long before the last one.
    peer.send(&"LIST\r\n".repeat(2000)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let triggered = Instant::now();
    shutdown.trigger();
    while !mailbox.locks.lock().unwrap().is_empty() {
        assert!(
            triggered.elapsed() < Duration::from_secs(5),
            "the lock is held until the -ERR is written"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let released = triggered.elapsed();
    println!("lock released {released:?} after the shutdown, the client reading nothing");
    assert_eq!(mailbox.log().closed, [None]);
    // The client reads at last: every response, then the -ERR, then the end.
    let mut rest = Vec::new();
    bounded(peer.io.read_to_end(&mut rest)).await.unwrap();
    assert!(rest.ends_with(b"-ERR server shutting down\r\n"));
    bounded(server).await.unwrap();
    assert!(mailbox.log().commits.is_empty());
}

/// RFC 1939 6, as at QUIT and on shutdown: when the session's deadline ends it, the maildrop
/// is released before the `-ERR` is written, even when that `-ERR` cannot go out (the client
/// reads nothing and its pipe is full): a client that reconnects finds the maildrop unlocked
/// at the deadline, not a write timeout later.
#[tokio::test]
async fn at_the_session_deadline_the_lock_is_released_before_the_err_of_a_client_that_does_not_read()
 {
    let mailbox = Mailbox::new(vec![message(100, 1)]);
    // Room for exactly 20 `+OK\r\n`.
    let (ours, theirs) = tokio::io::duplex(100);
    let io = IoConfig::default()
        .session_timeout(Some(Duration::from_millis(500)))
        .write_timeout(Duration::from_secs(10));
    let connection = Connection::new(Server::new(plaintext()), ours).with_config(io);
    let session = tokio::spawn(run_session(connection, mailbox.handler()));
    let mut peer = Peer::over(theirs);
    assert!(peer.line().await.starts_with("+OK"));
    peer.login().await;
    assert_eq!(peer.command("NOOP").await, "+OK\r\n");
    let started = Instant::now();
    // The responses fill the pipe; then the client reads nothing.
    peer.send(&"NOOP\r\n".repeat(20)).await;
    while !mailbox.locks.lock().unwrap().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(3),
            "the lock is held until the -ERR is written"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "lock released {:?} after the last command, the client reading nothing",
        started.elapsed()
    );
    assert_eq!(mailbox.log().closed, [None]);
    assert!(!session.is_finished(), "the -ERR is still to be written");
    // The client reads at last: every response, then the -ERR, then the end.
    let mut rest = Vec::new();
    bounded(peer.io.read_to_end(&mut rest)).await.unwrap();
    let rest = String::from_utf8(rest).unwrap();
    assert_eq!(rest.matches("+OK\r\n").count(), 20, "{rest}");
    assert!(
        rest.ends_with("+OK\r\n-ERR session time limit reached, closing\r\n"),
        "{rest}"
    );
    bounded(session).await.unwrap().unwrap();
    assert!(mailbox.log().commits.is_empty());
}
