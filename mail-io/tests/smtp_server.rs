//! The SMTP / LMTP server over tokio: sessions with the crate's own client and with a raw TCP
//! client, the handler's answers on the wire, body chunks, the session limit, the shutdown,
//! STARTTLS and implicit TLS, and 20 000 pipelined commands through a 7-octet read buffer.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_io::smtp::{
    Answer, BodyError, Bytes, Client, ClientError, Credentials, EnhancedStatus, Envelope,
    ForwardPath, Greeting, Handler, Host, MailParameters, Mailbox, Mechanism, RcptParameters,
    ReplyCode, ReversePath, Server, ServerConfig, SessionInfo, reply, run_session, serve,
};
use mail_io::{
    ClientLimits, Connection, Error, IoConfig, ServeOptions, SessionLimit, Shutdown, TlsClient,
    TlsServer,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tokio::time::timeout;

#[path = "common/pki.rs"]
mod pki;
use pki::{mutual_tls, pki};

/// Every test is over in seconds; a hang fails instead of blocking the run.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs a test within twice [`LIMIT`].
async fn bounded(test: impl std::future::Future<Output = ()>) {
    timeout(2 * LIMIT, test).await.expect("the test hung");
}

// ---------------------------------------------------------------------------------------------
// A handler that records what it is told and refuses some recipients.

/// What the handlers of one server saw, across sessions.
#[derive(Debug, Default)]
struct Log {
    sessions: Vec<SessionInfo>,
    hellos: Vec<String>,
    senders: Vec<String>,
    recipients: Vec<String>,
    /// Whole messages, as the chunks added up.
    messages: Vec<Vec<u8>>,
    /// The `size` of each `message_end`.
    sizes: Vec<u64>,
    /// Every chunk's length (none may be empty).
    chunks: Vec<usize>,
    resets: usize,
    rejected: Vec<BodyError>,
    tls: usize,
    discarded: Vec<usize>,
    quits: usize,
    /// One per session end: `None`, or the error as text.
    closed: Vec<Option<String>>,
}

type Shared = Arc<Mutex<Log>>;

/// Refuses `nobody@...` (550), answers `full@...` with 452 at the end of an LMTP message,
/// keeps the body, accepts `alice` / `secret`.
struct Recorder {
    log: Shared,
    accepted: Vec<String>,
    body: Vec<u8>,
}

impl Recorder {
    fn new(log: &Shared, info: &SessionInfo) -> Self {
        log.lock().unwrap().sessions.push(info.clone());
        Self {
            log: log.clone(),
            accepted: Vec::new(),
            body: Vec::new(),
        }
    }
}

impl Handler for Recorder {
    async fn hello(&mut self, greeting: Greeting, host: Host<'static>) -> Answer {
        let text = format!("{greeting:?} {host}");
        self.log.lock().unwrap().hellos.push(text);
        Answer::Accept
    }

    async fn mail_from(
        &mut self,
        from: ReversePath<'static>,
        _: MailParameters<'static>,
    ) -> Answer {
        self.log.lock().unwrap().senders.push(from.to_string());
        self.accepted.clear();
        self.body.clear();
        Answer::Accept
    }

    async fn rcpt_to(&mut self, to: ForwardPath<'static>, _: RcptParameters<'static>) -> Answer {
        let to = to.mailbox().map(ToString::to_string).unwrap_or_default();
        self.log.lock().unwrap().recipients.push(to.clone());
        if to.starts_with("nobody@") {
            return Answer::Reply(reply(
                ReplyCode::MAILBOX_UNAVAILABLE,
                EnhancedStatus::BAD_DESTINATION_MAILBOX,
                "No such user here",
            ));
        }
        self.accepted.push(to);
        Answer::Accept
    }

    async fn body(&mut self, chunk: Bytes) {
        self.log.lock().unwrap().chunks.push(chunk.len());
        self.body.extend_from_slice(&chunk);
    }

    async fn message_end(&mut self, size: u64, recipients: usize) -> Answer {
        assert_eq!(recipients, self.accepted.len());
        let lmtp = {
            let mut log = self.log.lock().unwrap();
            log.messages.push(std::mem::take(&mut self.body));
            log.sizes.push(size);
            log.sessions.last().is_some_and(|info| info.lmtp)
        };
        if !lmtp {
            return Answer::Reply(reply(
                ReplyCode::OK,
                EnhancedStatus::SUCCESS,
                "Queued as 42",
            ));
        }
        let replies = self
            .accepted
            .iter()
            .map(|to| match to.starts_with("full@") {
                true => reply(
                    ReplyCode::INSUFFICIENT_STORAGE,
                    EnhancedStatus::MAILBOX_FULL_TRANSIENT,
                    "Mailbox full",
                ),
                false => reply(ReplyCode::OK, EnhancedStatus::SUCCESS, "Delivered"),
            })
            .collect();
        Answer::PerRecipient(replies)
    }

    fn message_rejected(&mut self, error: BodyError) {
        self.log.lock().unwrap().rejected.push(error);
    }

    fn transaction_reset(&mut self) {
        self.body.clear();
        self.log.lock().unwrap().resets += 1;
    }

    async fn authenticate(&mut self, _: Mechanism<'static>, credentials: Credentials) -> Answer {
        let proven = credentials.verify_password(b"secret") || credentials.is_verified();
        if credentials.username() == Some("alice") && proven {
            return Answer::Accept;
        }
        Answer::Reply(reply(
            ReplyCode::AUTH_CREDENTIALS_INVALID,
            EnhancedStatus::AUTH_CREDENTIALS_INVALID,
            "Who are you?",
        ))
    }

    async fn scram_secret(&mut self, username: String) -> Option<mail_io::smtp::ScramSecret> {
        (username == "alice")
            .then(|| mail_io::smtp::ScramSecret::derive("secret", b"alice's salt", 4096).unwrap())
    }

    fn tls_established(&mut self) {
        self.log.lock().unwrap().tls += 1;
    }

    fn plaintext_discarded(&mut self, octets: usize) {
        self.log.lock().unwrap().discarded.push(octets);
    }

    fn quit(&mut self) {
        self.log.lock().unwrap().quits += 1;
    }

    fn closed(&mut self, error: Option<&Error>) {
        let error = error.map(ToString::to_string);
        self.log.lock().unwrap().closed.push(error);
    }
}

/// A handler with every default.
struct Defaults;
impl Handler for Defaults {}

/// A server with a [`Recorder`] per session, on a loopback port.
struct Running {
    address: SocketAddr,
    log: Shared,
    shutdown: Shutdown,
    task: JoinHandle<()>,
}

async fn start(config: ServerConfig, options: ServeOptions) -> Running {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let log = Shared::default();
    let shutdown = options.shutdown.clone();
    let shared = log.clone();
    let task = tokio::spawn(serve(listener, config, options, move |info| {
        Recorder::new(&shared, info)
    }));
    Running {
        address,
        log,
        shutdown,
        task,
    }
}

impl Running {
    /// Stops the server and waits for it.
    async fn stop(self) -> Shared {
        self.shutdown.trigger();
        timeout(LIMIT, self.task).await.unwrap().unwrap();
        self.log
    }

    /// Waits until `check` holds for the log (sessions end in their own tasks).
    async fn wait_for(&self, check: impl Fn(&Log) -> bool) {
        timeout(LIMIT, async {
            while !check(&self.log.lock().unwrap()) {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .unwrap();
    }
}

fn mailbox(text: &str) -> Mailbox<'static> {
    Mailbox::parse(text).unwrap().into_owned()
}

// ---------------------------------------------------------------------------------------------
// A raw client.

struct Raw<S> {
    stream: BufReader<S>,
}

impl Raw<TcpStream> {
    async fn connect(address: SocketAddr) -> Self {
        let stream = TcpStream::connect(address).await.unwrap();
        Self {
            stream: BufReader::new(stream),
        }
    }
}

impl<S: AsyncRead + tokio::io::AsyncWrite + Unpin> Raw<S> {
    /// One reply, all its lines.
    async fn reply(&mut self) -> String {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            let n = timeout(LIMIT, self.stream.read_line(&mut line))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "the connection closed after {text:?}");
            text.push_str(&line);
            if line.as_bytes().get(3) != Some(&b'-') {
                return text;
            }
        }
    }

    async fn send(&mut self, text: &str) {
        self.stream.write_all(text.as_bytes()).await.unwrap();
    }

    async fn command(&mut self, text: &str) -> String {
        self.send(text).await;
        self.reply().await
    }

    /// Everything up to the end of the stream.
    async fn rest(&mut self) -> String {
        let mut text = String::new();
        timeout(LIMIT, self.stream.read_to_string(&mut text))
            .await
            .unwrap()
            .unwrap();
        text
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions.

#[tokio::test]
async fn the_crate_client_sends_and_the_handler_decides() {
    bounded(async {
        let server = start(ServerConfig::default(), ServeOptions::new()).await;
        let mut client = Client::connect(server.address.to_string())
            .plaintext()
            .await
            .unwrap();
        let envelope = Envelope::new(mailbox("alice@example.org"))
            .to(mailbox("bob@example.com"))
            .to(mailbox("nobody@example.com"));
        let message = b"Subject: hi\r\n\r\n.leading dot\r\nHello.\r\n";
        let report = client.send(envelope, &message[..]).await.unwrap();
        assert_eq!(report.delivered(), 1);
        let refused = report.recipients[1].rcpt.as_ref().unwrap();
        assert_eq!(refused.code(), ReplyCode::MAILBOX_UNAVAILABLE);
        assert_eq!(refused.lines()[0].as_str(), "No such user here");
        let accepted = report.recipients[0].result.as_ref().unwrap();
        assert_eq!(accepted.lines()[0].as_str(), "Queued as 42");

        // A second message on the same connection.
        let envelope = Envelope::new(mailbox("alice@example.org")).to(mailbox("carol@example.com"));
        let report = client.send(envelope, &b"Second\r\n"[..]).await.unwrap();
        assert!(report.is_delivered_to_all());
        client.quit().await.unwrap();

        server.wait_for(|log| log.closed.len() == 1).await;
        let address = server.address;
        let log = server.stop().await;
        let log = log.lock().unwrap();
        assert_eq!(log.hellos, ["Ehlo localhost"]);
        assert_eq!(log.senders.len(), 2);
        assert_eq!(
            log.recipients,
            ["bob@example.com", "nobody@example.com", "carol@example.com"]
        );
        assert_eq!(log.messages, [&message[..], b"Second\r\n"]);
        assert_eq!(log.sizes, [message.len() as u64, 8]);
        assert_eq!(log.quits, 1);
        assert_eq!(log.closed, [None]);
        assert!(!log.sessions[0].implicit_tls && !log.sessions[0].lmtp);
        assert_eq!(log.sessions[0].local, Some(address));
    })
    .await;
}

#[tokio::test]
async fn a_raw_client_sees_the_handlers_replies() {
    bounded(async {
        let server = start(ServerConfig::default(), ServeOptions::new()).await;
        let mut raw = Raw::connect(server.address).await;
        assert_eq!(raw.reply().await, "220 localhost ESMTP\r\n");
        let ehlo = raw.command("EHLO client.example\r\n").await;
        assert!(ehlo.starts_with("250-localhost\r\n"), "{ehlo}");
        assert!(ehlo.contains("PIPELINING"), "{ehlo}");
        // No TLS settings: STARTTLS is not offered, and refused.
        assert!(!ehlo.contains("STARTTLS"), "{ehlo}");
        assert_eq!(
            raw.command("STARTTLS\r\n").await,
            "502 5.5.1 STARTTLS not offered\r\n"
        );
        assert_eq!(
            raw.command("MAIL FROM:<a@example.org>\r\n").await,
            "250 2.1.0 Ok\r\n"
        );
        assert_eq!(
            raw.command("RCPT TO:<nobody@example.com>\r\n").await,
            "550 5.1.1 No such user here\r\n"
        );
        assert_eq!(
            raw.command("RCPT TO:<b@example.com>\r\n").await,
            "250 2.1.5 Ok\r\n"
        );
        assert!(raw.command("DATA\r\n").await.starts_with("354 "));
        raw.send("Subject: x\r\n\r\n..dot\r\nend\r\n").await;
        assert_eq!(raw.command(".\r\n").await, "250 2.0.0 Queued as 42\r\n");
        // Defaults of the machine for what the handler is not asked.
        assert_eq!(
            raw.command("VRFY b\r\n").await,
            "502 5.5.1 Command not implemented\r\n"
        );
        assert_eq!(raw.command("RSET\r\n").await, "250 2.0.0 Ok\r\n");
        assert_eq!(raw.command("QUIT\r\n").await, "221 2.0.0 Bye\r\n");
        assert_eq!(raw.rest().await, "");

        server.wait_for(|log| log.closed.len() == 1).await;
        let log = server.stop().await;
        let log = log.lock().unwrap();
        assert_eq!(log.messages, [b"Subject: x\r\n\r\n.dot\r\nend\r\n"]);
        assert_eq!(log.hellos, ["Ehlo client.example"]);
    })
    .await;
}

#[tokio::test]
async fn lmtp_answers_each_recipient() {
    bounded(async {
        let config = ServerConfig {
            lmtp: true,
            ..ServerConfig::default()
        };
        let server = start(config, ServeOptions::new()).await;

        // Raw: one reply per accepted recipient after the end of data (RFC 2033 4.2).
        let mut raw = Raw::connect(server.address).await;
        assert_eq!(raw.reply().await, "220 localhost LMTP\r\n");
        assert!(raw.command("LHLO c\r\n").await.starts_with("250-"));
        raw.send(
        "MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nRCPT TO:<nobody@example.com>\r\n\
         RCPT TO:<full@example.com>\r\nDATA\r\n",
    )
    .await;
        assert_eq!(raw.reply().await, "250 2.1.0 Ok\r\n");
        assert_eq!(raw.reply().await, "250 2.1.5 Ok\r\n");
        assert_eq!(raw.reply().await, "550 5.1.1 No such user here\r\n");
        assert_eq!(raw.reply().await, "250 2.1.5 Ok\r\n");
        assert!(raw.reply().await.starts_with("354 "));
        raw.send("Hi\r\n.\r\n").await;
        assert_eq!(raw.reply().await, "250 2.0.0 Delivered\r\n");
        assert_eq!(raw.reply().await, "452 4.2.2 Mailbox full\r\n");
        assert_eq!(raw.command("QUIT\r\n").await, "221 2.0.0 Bye\r\n");

        // The crate's client reads them into its report.
        let mut client = Client::connect(server.address.to_string())
            .plaintext()
            .lmtp()
            .await
            .unwrap();
        let envelope = Envelope::new(mailbox("a@example.org"))
            .to(mailbox("full@example.com"))
            .to(mailbox("b@example.com"));
        let report = client.send(envelope, &b"Hi\r\n"[..]).await.unwrap();
        assert!(report.recipients[0].is_transient_failure());
        assert!(report.recipients[1].is_delivered());
        client.quit().await.unwrap();

        server.wait_for(|log| log.closed.len() == 2).await;
        let log = server.stop().await;
        let log = log.lock().unwrap();
        assert!(log.sessions.iter().all(|info| info.lmtp));
        assert_eq!(log.messages, [b"Hi\r\n", b"Hi\r\n"]);
        assert_eq!(log.hellos, ["Lhlo c", "Lhlo localhost"]);
    })
    .await;
}

/// A body with every case the decoder must get right: leading dots, long lines, a line that
/// is only a dot once unstuffed, CRLF across chunk boundaries.
fn large_body() -> Vec<u8> {
    let mut body = Vec::new();
    let mut n = 0u32;
    while body.len() < 1024 * 1024 {
        n += 1;
        match n % 5 {
            0 => body.extend_from_slice(b".\r\n"),
            1 => body.extend_from_slice(format!("..{n} two dots\r\n").as_bytes()),
            2 => body.extend_from_slice(&vec![b'x'; 900 + (n as usize % 97)]),
            3 => body.extend_from_slice(b"\r\n"),
            _ => body.extend_from_slice(format!("line {n}\r\n").as_bytes()),
        }
    }
    body.extend_from_slice(b"\r\n");
    body
}

#[tokio::test]
async fn body_chunks_arrive_exactly() {
    bounded(async {
        let body = large_body();
        // BDAT (CHUNKING offered) and DATA (not offered), through small and large reads.
        for (chunking, read_buffer) in [(true, 64 * 1024), (false, 64 * 1024), (false, 7)] {
            let config = ServerConfig {
                chunking,
                ..ServerConfig::default()
            };
            let options = ServeOptions::new().io(IoConfig::new().read_buffer(read_buffer));
            let server = start(config, options).await;
            let mut client = Client::connect(server.address.to_string())
                .plaintext()
                .await
                .unwrap();
            let envelope = Envelope::new(mailbox("a@example.org")).to(mailbox("b@example.com"));
            let report = client.send(envelope, &body[..]).await.unwrap();
            assert!(report.is_delivered_to_all());
            client.quit().await.unwrap();
            server.wait_for(|log| log.closed.len() == 1).await;
            let log = server.stop().await;
            let log = log.lock().unwrap();
            assert_eq!(log.messages.len(), 1);
            assert!(
                log.messages[0] == body,
                "chunking {chunking}: the body differs"
            );
            assert_eq!(log.sizes, [body.len() as u64]);
            assert!(log.chunks.iter().all(|&n| n > 0));
            assert_eq!(log.chunks.iter().sum::<usize>(), body.len());
        }
    })
    .await;
}

#[tokio::test]
async fn a_message_the_machine_refuses_resets_the_handler() {
    bounded(async {
        let config = ServerConfig {
            max_message_size: Some(1000),
            chunking: false,
            ..ServerConfig::default()
        };
        let server = start(config, ServeOptions::new()).await;
        let mut raw = Raw::connect(server.address).await;
        raw.reply().await;
        raw.command("EHLO c\r\n").await;
        raw.command("MAIL FROM:<a@example.org>\r\n").await;
        raw.command("RCPT TO:<b@example.com>\r\n").await;
        raw.command("DATA\r\n").await;
        raw.send(&"y".repeat(3000)).await;
        assert_eq!(
            raw.command("\r\n.\r\n").await,
            "552 5.3.4 Message size exceeds the limit\r\n"
        );
        raw.command("QUIT\r\n").await;
        server.wait_for(|log| log.closed.len() == 1).await;
        let log = server.stop().await;
        let log = log.lock().unwrap();
        assert!(matches!(
            log.rejected[..],
            [BodyError::TooLarge { limit: 1000 }]
        ));
        assert_eq!(log.resets, 1);
        assert!(log.messages.is_empty());
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Limits and shutdown.

/// A handler that notes, as it is dropped, how many sessions the limit counts.
struct CountsAtDrop {
    limit: SessionLimit,
    seen: Arc<Mutex<Vec<usize>>>,
}
impl Handler for CountsAtDrop {}
impl Drop for CountsAtDrop {
    fn drop(&mut self) {
        self.seen.lock().unwrap().push(self.limit.in_use());
    }
}

#[tokio::test]
async fn the_slot_is_given_back_only_once_the_connection_and_handler_are_gone() {
    bounded(async {
        let limit = SessionLimit::new(4);
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let options = ServeOptions::new().session_limit(limit.clone());
        let (counted, shared) = (limit.clone(), seen.clone());
        let _server = tokio::spawn(serve(
            listener,
            ServerConfig::default(),
            options,
            move |_| CountsAtDrop {
                limit: counted.clone(),
                seen: shared.clone(),
            },
        ));
        let mut client = Raw::connect(address).await;
        assert!(client.reply().await.starts_with("220 "));
        client.command("QUIT\r\n").await;
        client.rest().await;
        while seen.lock().unwrap().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(*seen.lock().unwrap(), [1]);
        while limit.in_use() != 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
}

#[tokio::test]
async fn over_the_session_limit_a_client_hears_421() {
    bounded(async {
        // One address, the clients': with limits per client it would hear 421 4.7.0 instead.
        let options = ServeOptions::new()
            .max_sessions(2)
            .client_limits(ClientLimits::unlimited());
        let server = start(ServerConfig::default(), options).await;
        let mut first = Raw::connect(server.address).await;
        let mut second = Raw::connect(server.address).await;
        assert!(first.reply().await.starts_with("220 "));
        assert!(second.reply().await.starts_with("220 "));
        let mut third = Raw::connect(server.address).await;
        assert_eq!(
            third.rest().await,
            "421 4.3.2 Too many connections, try again later\r\n"
        );
        // A session that ends frees its place.
        first.command("QUIT\r\n").await;
        first.rest().await;
        server.wait_for(|log| log.closed.len() == 1).await;
        let greeting = timeout(LIMIT, async {
            loop {
                let mut next = Raw::connect(server.address).await;
                let reply = next.reply().await;
                if reply.starts_with("220 ") {
                    return reply;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap();
        assert_eq!(greeting, "220 localhost ESMTP\r\n");
        drop(second);
        let log = server.stop().await;
        assert_eq!(log.lock().unwrap().sessions.len(), 3);
    })
    .await;
}

#[tokio::test]
async fn shutdown_says_421_to_idle_sessions_and_closes_them() {
    bounded(async {
        let server = start(ServerConfig::default(), ServeOptions::new()).await;
        let mut idle = Raw::connect(server.address).await;
        idle.reply().await;
        let mut in_transaction = Raw::connect(server.address).await;
        in_transaction.reply().await;
        in_transaction.command("EHLO c\r\n").await;
        in_transaction
            .command("MAIL FROM:<a@example.org>\r\n")
            .await;
        let address = server.address;
        let log = server.stop().await;
        assert_eq!(idle.rest().await, "421 4.3.2 Service shutting down\r\n");
        assert_eq!(
            in_transaction.rest().await,
            "421 4.3.2 Service shutting down\r\n"
        );
        // The listener is gone with the accept loop.
        assert!(TcpStream::connect(address).await.is_err());
        let log = log.lock().unwrap();
        assert_eq!(log.closed, [None, None]);
        assert_eq!(log.resets, 1);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// TLS.

fn certificate() -> (TlsServer, CertificateDer<'static>) {
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let certificate = made.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
    let tls = TlsServer::from_der(vec![certificate.clone()], key).unwrap();
    (tls, certificate)
}

#[tokio::test]
async fn starttls_with_a_self_signed_certificate() {
    bounded(async {
        let (tls, certificate) = certificate();
        let server = start(ServerConfig::default(), ServeOptions::new().tls(tls)).await;
        let trust = TlsClient::trusting("localhost", vec![certificate]).unwrap();
        let mut client = Client::connect(server.address.to_string())
            .starttls(trust)
            .await
            .unwrap();
        assert!(client.is_tls());
        let envelope = Envelope::new(mailbox("a@example.org")).to(mailbox("b@example.com"));
        let report = client.send(envelope, &b"Secret\r\n"[..]).await.unwrap();
        assert!(report.is_delivered_to_all());
        client.quit().await.unwrap();

        // The offer, seen by a raw client.
        let mut raw = Raw::connect(server.address).await;
        raw.reply().await;
        assert!(raw.command("EHLO c\r\n").await.contains("250-STARTTLS\r\n"));
        raw.command("QUIT\r\n").await;

        server.wait_for(|log| log.closed.len() == 2).await;
        let log = server.stop().await;
        let log = log.lock().unwrap();
        assert_eq!(log.tls, 1);
        assert_eq!(log.messages, [b"Secret\r\n"]);
        // The greeting before TLS, and again after it (RFC 3207 4.2).
        assert_eq!(log.hellos[..2], ["Ehlo localhost", "Ehlo localhost"]);
    })
    .await;
}

#[tokio::test]
async fn plaintext_behind_starttls_is_discarded_and_reported() {
    bounded(async {
        let (tls, certificate) = certificate();
        let server = start(ServerConfig::default(), ServeOptions::new().tls(tls)).await;
        let mut raw = Raw::connect(server.address).await;
        raw.reply().await;
        raw.command("EHLO c\r\n").await;
        // The injection of CVE-2011-0411: a command behind STARTTLS in the same packet.
        assert_eq!(
            raw.command("STARTTLS\r\nRSET\r\n").await,
            "220 2.0.0 Ready to start TLS\r\n"
        );
        let trust = TlsClient::trusting("localhost", vec![certificate]).unwrap();
        let connector = tokio_rustls::TlsConnector::from(trust.config().clone());
        let stream = raw.stream.into_inner();
        let secured = connector
            .connect(trust.server_name().clone(), stream)
            .await
            .unwrap();
        let mut secured = Raw {
            stream: BufReader::new(secured),
        };
        // Nothing answers the injected RSET: the next reply is to our EHLO.
        assert!(secured.command("EHLO c\r\n").await.starts_with("250-"));
        assert_eq!(secured.command("QUIT\r\n").await, "221 2.0.0 Bye\r\n");
        server.wait_for(|log| log.closed.len() == 1).await;
        let log = server.stop().await;
        let log = log.lock().unwrap();
        assert_eq!(log.discarded, [6]);
        assert_eq!(log.tls, 1);
    })
    .await;
}

#[tokio::test]
async fn implicit_tls() {
    bounded(async {
        let (tls, certificate) = certificate();
        let server = start(
            ServerConfig::default(),
            ServeOptions::new().implicit_tls(tls),
        )
        .await;
        let trust = TlsClient::trusting("localhost", vec![certificate]).unwrap();
        let mut client = Client::connect(server.address.to_string())
            .implicit_tls(trust)
            .await
            .unwrap();
        assert!(client.is_tls());
        let envelope = Envelope::new(mailbox("a@example.org")).to(mailbox("b@example.com"));
        let report = client.send(envelope, &b"Over TLS\r\n"[..]).await.unwrap();
        assert!(report.is_delivered_to_all());
        client.quit().await.unwrap();

        // Plaintext on the TLS port: the handshake fails, the handler hears why.
        let mut raw = Raw::connect(server.address).await;
        raw.send("EHLO c\r\n").await;
        let mut rest = Vec::new();
        let _ = timeout(LIMIT, raw.stream.read_to_end(&mut rest))
            .await
            .unwrap();
        assert!(!rest.starts_with(b"220"));

        server.wait_for(|log| log.closed.len() == 2).await;
        let log = server.stop().await;
        let log = log.lock().unwrap();
        assert!(log.sessions.iter().all(|info| info.implicit_tls));
        assert_eq!(log.messages, [b"Over TLS\r\n"]);
        assert_eq!(log.tls, 1);
        assert_eq!(log.closed[0], None);
        let failed = log.closed[1].as_deref().unwrap();
        assert!(failed.contains("TLS"), "{failed}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Authentication, VRFY, EXPN, refusals.

#[tokio::test]
async fn authentication_is_refused_by_default_and_checked_by_a_handler() {
    bounded(async {
        let config = ServerConfig {
            sasl_mechanisms: smtp_proto::server::ServerMechanisms::new().plain(),
            auth_without_tls: true,
            ..ServerConfig::default()
        };
        // The defaults: refused, whatever the credentials.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let options = ServeOptions::new();
        let shutdown = options.shutdown.clone();
        let task = tokio::spawn(serve(listener, config.clone(), options, |_| Defaults));
        let mut raw = Raw::connect(address).await;
        raw.reply().await;
        raw.command("EHLO c\r\n").await;
        // "\0alice\0secret"
        assert_eq!(
            raw.command("AUTH PLAIN AGFsaWNlAHNlY3JldA==\r\n").await,
            "535 5.7.8 Authentication credentials invalid\r\n"
        );
        raw.command("QUIT\r\n").await;
        shutdown.trigger();
        task.await.unwrap();

        // A handler with a user table.
        let server = start(config, ServeOptions::new()).await;
        let client = Client::connect(server.address.to_string())
            .plaintext()
            .allow_plaintext_auth()
            .credentials("alice", "secret")
            .await
            .unwrap();
        assert!(client.is_authenticated());
        client.quit().await.unwrap();
        let refused = Client::connect(server.address.to_string())
            .plaintext()
            .allow_plaintext_auth()
            .credentials("alice", "wrong")
            .await;
        assert!(
            matches!(refused, Err(ClientError::Session(_))),
            "{refused:?}"
        );
        server.stop().await;
    })
    .await;
}

#[tokio::test]
async fn scram_sha_256_secret_from_the_handler() {
    bounded(async {
        let config = ServerConfig {
            sasl_mechanisms: smtp_proto::server::ServerMechanisms::new()
                .plain()
                .scram_sha_256(
                    mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
                    || "server-nonce".to_string(),
                ),
            auth_without_tls: true,
            ..ServerConfig::default()
        };
        let scram = |password: &str| {
            let mechanism =
                mail_wire::sasl::ScramSha256Client::new(None, "alice", password, "client-nonce")
                    .unwrap();
            Box::new(mechanism)
        };
        // The handler's scram_secret knows alice (RFC 5802 / RFC 7677 end to end).
        let server = start(config.clone(), ServeOptions::new()).await;
        let client = Client::connect(server.address.to_string())
            .plaintext()
            .allow_plaintext_auth()
            .mechanism(scram("secret"))
            .await
            .unwrap();
        assert!(client.is_authenticated());
        client.quit().await.unwrap();
        let refused = Client::connect(server.address.to_string())
            .plaintext()
            .allow_plaintext_auth()
            .mechanism(scram("wrong"))
            .await;
        assert!(
            matches!(refused, Err(ClientError::Session(_))),
            "{refused:?}"
        );
        server.stop().await;

        // The default knows nobody: the exchange runs to its end and fails.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let options = ServeOptions::new();
        let shutdown = options.shutdown.clone();
        let task = tokio::spawn(serve(listener, config, options, |_| Defaults));
        let mut raw = Raw::connect(address).await;
        raw.reply().await;
        assert!(
            raw.command("EHLO c\r\n")
                .await
                .contains("AUTH PLAIN SCRAM-SHA-256")
        );
        // "n,,n=alice,r=cn"
        let first = raw
            .command("AUTH SCRAM-SHA-256 biwsbj1hbGljZSxyPWNu\r\n")
            .await;
        assert!(first.starts_with("334 "), "{first}");
        raw.command("*\r\n").await;
        raw.command("QUIT\r\n").await;
        shutdown.trigger();
        task.await.unwrap();
    })
    .await;
}

#[tokio::test]
async fn vrfy_and_expn_defaults() {
    bounded(async {
        let config = ServerConfig {
            vrfy: true,
            expn: true,
            ..ServerConfig::default()
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let options = ServeOptions::new();
        let shutdown = options.shutdown.clone();
        let task = tokio::spawn(serve(listener, config, options, |_| Defaults));
        let mut raw = Raw::connect(address).await;
        raw.reply().await;
        let ehlo = raw.command("EHLO c\r\n").await;
        assert!(ehlo.contains("VRFY") && ehlo.contains("EXPN"), "{ehlo}");
        assert!(raw.command("VRFY bob\r\n").await.starts_with("252 "));
        assert_eq!(
            raw.command("EXPN staff\r\n").await,
            "502 5.5.1 Command not implemented\r\n"
        );
        raw.command("QUIT\r\n").await;
        shutdown.trigger();
        task.await.unwrap();
    })
    .await;
}

/// Refuses the connection itself.
struct Closed;
impl Handler for Closed {
    async fn connected(&mut self) -> Answer {
        Answer::Reply(reply(
            ReplyCode::TRANSACTION_FAILED,
            EnhancedStatus::NOT_AUTHORIZED,
            "Not from here",
        ))
    }
}

#[tokio::test]
async fn a_refused_connection_is_told_and_closed() {
    bounded(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let options = ServeOptions::new();
        let shutdown = options.shutdown.clone();
        let task = tokio::spawn(serve(listener, ServerConfig::default(), options, |_| {
            Closed
        }));
        let mut raw = Raw::connect(address).await;
        assert_eq!(raw.rest().await, "554 5.7.1 Not from here\r\n");
        shutdown.trigger();
        task.await.unwrap();
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// run_session over a transport of one's own.

/// Answers the end of an SMTP message as if it were LMTP: a bug.
struct Confused;
impl Handler for Confused {
    async fn message_end(&mut self, _: u64, _: usize) -> Answer {
        Answer::PerRecipient(vec![reply(ReplyCode::OK, EnhancedStatus::SUCCESS, "Ok")])
    }
}

#[tokio::test]
async fn run_session_over_a_pipe_and_an_unfit_answer() {
    bounded(async {
        let (ours, theirs) = tokio::io::duplex(1024);
        let connection = Connection::new(Server::new(ServerConfig::default()), ours);
        let session = tokio::spawn(async move { run_session(connection, &mut Confused).await });
        let mut raw = Raw {
            stream: BufReader::new(theirs),
        };
        raw.reply().await;
        raw.command("EHLO c\r\n").await;
        raw.send("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
            .await;
        raw.reply().await;
        raw.reply().await;
        raw.reply().await;
        raw.send("Hi\r\n.\r\n").await;
        // The client is never left waiting: a temporary failure, then the end of the session.
        assert_eq!(
            raw.rest().await,
            "451 4.3.0 Local error in processing\r\n421 4.3.2 Service shutting down\r\n"
        );
        let result = timeout(LIMIT, session).await.unwrap().unwrap();
        assert!(matches!(result, Err(Error::Api(_))), "{result:?}");
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Pipelining.

#[tokio::test]
async fn twenty_thousand_pipelined_commands_through_a_seven_octet_buffer() {
    bounded(async {
        const COMMANDS: usize = 20_000;
        let options = ServeOptions::new().io(IoConfig::new().read_buffer(7));
        // The junk-command limit set aside: this test is about the buffer.
        let config = ServerConfig {
            max_junk_commands: usize::MAX,
            ..ServerConfig::default()
        };
        let server = start(config, options).await;
        let mut raw = Raw::connect(server.address).await;
        raw.reply().await;
        raw.command("EHLO c\r\n").await;
        let (mut reading, mut writing) = raw.stream.into_inner().into_split();
        let writer = tokio::spawn(async move {
            let mut commands = "NOOP\r\n".repeat(COMMANDS);
            commands.push_str("QUIT\r\n");
            writing.write_all(commands.as_bytes()).await.unwrap();
            writing
        });
        let mut transcript = String::new();
        timeout(LIMIT, reading.read_to_string(&mut transcript))
            .await
            .unwrap()
            .unwrap();
        drop(writer.await.unwrap());
        assert_eq!(transcript.matches("250 2.0.0 Ok\r\n").count(), COMMANDS);
        assert_eq!(transcript.len(), COMMANDS * 14 + "221 2.0.0 Bye\r\n".len());
        assert!(transcript.ends_with("250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"));
        server.wait_for(|log| log.closed.len() == 1).await;
        let log = server.stop().await;
        assert_eq!(log.lock().unwrap().closed, [None]);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// SASL EXTERNAL over a TLS client certificate (RFC 4422 appendix A).

#[test]
fn certificate_identity_prefers_the_email_name() {
    let with_email = pki("Alice Example", Some("alice@example.org"));
    assert_eq!(
        mail_io::tls::certificate_identity(&with_email.client.0).as_deref(),
        Some("alice@example.org")
    );
    let common_name_only = pki("alice", None);
    assert_eq!(
        mail_io::tls::certificate_identity(&common_name_only.client.0).as_deref(),
        Some("alice")
    );
    assert_eq!(
        mail_io::tls::certificate_identity(&CertificateDer::from(vec![1, 2, 3])),
        None
    );
}

#[tokio::test]
async fn rfc4422_appendix_a_external_with_the_client_certificate() {
    bounded(async {
        let pki = pki("alice", None);
        let config = ServerConfig {
            sasl_mechanisms: smtp_proto::server::ServerMechanisms::new().external(),
            ..ServerConfig::default()
        };
        let external = || Box::new(mail_wire::sasl::ExternalClient::new(None).unwrap());

        // Implicit TLS with a client certificate: EXTERNAL logs in as its subject.
        let (tls, trust) = mutual_tls(&pki, true);
        let server = start(config.clone(), ServeOptions::new().implicit_tls(tls)).await;
        let client = Client::connect(server.address.to_string())
            .implicit_tls(trust)
            .mechanism(external())
            .await
            .unwrap();
        assert!(client.is_authenticated());
        client.quit().await.unwrap();
        server.stop().await;

        // STARTTLS with a client certificate: the same, after the upgrade.
        let (tls, trust) = mutual_tls(&pki, true);
        let server = start(config.clone(), ServeOptions::new().tls(tls)).await;
        let client = Client::connect(server.address.to_string())
            .starttls(trust)
            .mechanism(external())
            .await
            .unwrap();
        assert!(client.is_authenticated());
        client.quit().await.unwrap();
        server.stop().await;

        // No client certificate: no identity, so EXTERNAL fails.
        let (tls, trust) = mutual_tls(&pki, false);
        let server = start(config, ServeOptions::new().implicit_tls(tls)).await;
        let refused = Client::connect(server.address.to_string())
            .implicit_tls(trust)
            .mechanism(external())
            .await;
        assert!(
            matches!(refused, Err(ClientError::Session(_))),
            "{refused:?}"
        );
        server.stop().await;
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// SCRAM-SHA-256-PLUS over TLS 1.3 (RFC 5802 section 6, RFC 9266 tls-exporter).

/// Runs a SCRAM exchange with `client` over `raw`, answering each 334; the final reply.
async fn scram_over<S: AsyncRead + tokio::io::AsyncWrite + Unpin>(
    raw: &mut Raw<S>,
    mut client: mail_wire::sasl::ScramSha256Client,
) -> String {
    use mail_wire::sasl::{self, ClientMechanism};
    let name = client.name().to_string();
    let first = client.initial_response().unwrap();
    let first = sasl::encode_initial_response(first.expose_secret());
    let mut reply = raw
        .command(&format!("AUTH {name} {}\r\n", first.expose_secret()))
        .await;
    while let Some(challenge) = reply.strip_prefix("334 ") {
        let challenge = sasl::decode_challenge(challenge.trim_end().as_bytes(), 4096).unwrap();
        let Ok(response) = client.respond(&challenge) else {
            return raw.command("*\r\n").await;
        };
        let response = sasl::encode_response(response.expose_secret());
        reply = raw
            .command(&format!("{}\r\n", response.expose_secret()))
            .await;
    }
    reply
}

#[tokio::test]
async fn rfc9266_scram_plus_with_the_tls_exporter() {
    use mail_wire::sasl::{ChannelBinding, ScramSha256Client, TLS_EXPORTER_LABEL};
    bounded(async {
        let (tls, certificate) = certificate();
        let config = ServerConfig {
            sasl_mechanisms: smtp_proto::server::ServerMechanisms::new()
                .scram_sha_256_plus(
                    mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
                    || "server-nonce".to_string(),
                )
                .scram_sha_256(
                    mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
                    || "server-nonce".to_string(),
                ),
            ..ServerConfig::default()
        };
        let server = start(config, ServeOptions::new().implicit_tls(tls)).await;
        let trust = TlsClient::trusting("localhost", vec![certificate]).unwrap();
        let connect = || async {
            let connector = tokio_rustls::TlsConnector::from(trust.config().clone());
            let stream = TcpStream::connect(server.address).await.unwrap();
            let secured = connector
                .connect(trust.server_name().clone(), stream)
                .await
                .unwrap();
            let exported = secured
                .get_ref()
                .1
                .export_keying_material([0_u8; 32], TLS_EXPORTER_LABEL, None)
                .unwrap();
            let mut raw = Raw {
                stream: BufReader::new(secured),
            };
            assert!(raw.reply().await.starts_with("220 "));
            let ehlo = raw.command("EHLO c\r\n").await;
            assert!(
                ehlo.contains("AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256\r\n"),
                "{ehlo}"
            );
            (raw, ChannelBinding::tls_exporter(exported))
        };
        let scram = || ScramSha256Client::new(None, "alice", "secret", "client-nonce").unwrap();

        // Bound to this connection's exporter: the server computed the same.
        let (mut raw, binding) = connect().await;
        let reply = scram_over(&mut raw, scram().with_channel_binding(binding)).await;
        assert_eq!(reply, "235 2.7.0 Authentication succeeded\r\n");
        raw.command("QUIT\r\n").await;

        // Data of another connection (a relay): refused.
        let (mut raw, _) = connect().await;
        let elsewhere = ChannelBinding::tls_exporter([7; 32]);
        let reply = scram_over(&mut raw, scram().with_channel_binding(elsewhere)).await;
        assert!(reply.starts_with("501 "), "{reply}");
        raw.command("QUIT\r\n").await;

        // RFC 5802 section 6: a client that could bind says `y` to SCRAM-SHA-256 only when it
        // believes the server cannot; this server can, so that is a downgrade, refused.
        let (mut raw, _) = connect().await;
        let first = mail_wire::sasl::encode_initial_response(b"y,,n=alice,r=cn");
        let reply = raw
            .command(&format!("AUTH SCRAM-SHA-256 {}\r\n", first.expose_secret()))
            .await;
        assert!(reply.starts_with("501 "), "{reply}");
        raw.command("QUIT\r\n").await;
        server.stop().await;
    })
    .await;
}
