//! `post-office serve`: the SMTP, submission, SMTPS and LMTP listeners, the POP3 and POP3S
//! listeners, and the Maildirs between them.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use bytes::{Buf, BytesMut};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;
use tracing::{info, warn};

use crate::UserPass;
use crate::conn::{Conn, Input};
use crate::maildir::{Maildir, Stored, sync_dir, unique_name};

/// `serve`'s options.
#[derive(clap::Args)]
pub struct Args {
    /// SMTP listener (STARTTLS; AUTH PLAIN and LOGIN after TLS).
    #[arg(long, default_value = "127.0.0.1:2525")]
    smtp: SocketAddr,
    /// Submission listener: like SMTP, but AUTH is required before MAIL.
    #[arg(long)]
    submission: Option<SocketAddr>,
    /// SMTP with implicit TLS.
    #[arg(long)]
    smtps: Option<SocketAddr>,
    /// LMTP listener.
    #[arg(long)]
    lmtp: Option<SocketAddr>,
    /// POP3 listener (STLS; USER/PASS, APOP, AUTH PLAIN).
    #[arg(long, default_value = "127.0.0.1:1110")]
    pop3: SocketAddr,
    /// POP3 with implicit TLS.
    #[arg(long)]
    pop3s: Option<SocketAddr>,
    /// Where the Maildirs live (one per user).
    #[arg(long, default_value = "post-office-data")]
    data: PathBuf,
    /// A user, `NAME:PASSWORD`; repeatable. Without any, user `demo` with password `demo`.
    #[arg(long = "user")]
    users: Vec<UserPass>,
    /// Accept mail only for these domains (any domain when none is given).
    #[arg(long = "domain")]
    domains: Vec<String>,
    /// The name in greetings and the self-signed certificate.
    #[arg(long, default_value = "localhost")]
    hostname: String,
    /// TLS certificate chain (PEM); without it a self-signed one is made at start-up.
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Accept and discard every message (for load comparisons with other sinks).
    #[arg(long)]
    sink: bool,
    /// The largest message accepted, in octets.
    #[arg(long, default_value_t = 50 * 1024 * 1024)]
    max_message_size: u64,
    /// Allow logins and AUTH without TLS (loopback tests with clients that cannot do TLS).
    #[arg(long)]
    plaintext_login: bool,
}

/// What every session shares.
struct Office {
    data: PathBuf,
    users: HashMap<String, String>,
    domains: Vec<String>,
    hostname: String,
    sink: bool,
    max_message_size: u64,
    plaintext_login: bool,
    acceptor: TlsAcceptor,
    /// Maildrops held by a POP3 session.
    locks: Mutex<HashSet<String>>,
    shutdown: watch::Receiver<bool>,
    active: AtomicUsize,
}

/// Sessions at once, across listeners (each holds a socket and a task).
const MAX_SESSIONS: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Listener {
    Smtp,
    Submission,
    Smtps,
    Lmtp,
    Pop3,
    Pop3s,
}

/// Runs until Ctrl-C.
pub async fn run(args: Args) -> Result<()> {
    let acceptor = crate::tls::acceptor(
        args.tls_cert.as_deref(),
        args.tls_key.as_deref(),
        &args.hostname,
    )?;
    let mut users = HashMap::new();
    if args.users.is_empty() {
        users.insert("demo".to_string(), "demo".to_string());
        info!("no --user given: user \"demo\", password \"demo\"");
        eprintln!("post-office: no --user given: user \"demo\", password \"demo\"");
    }
    for user in &args.users {
        users.insert(user.name.to_lowercase(), user.password.clone());
    }
    let spool = args.data.join(".spool");
    fs::create_dir_all(&spool).with_context(|| format!("creating {}", args.data.display()))?;
    // Whatever a killed process left half-received is not mail: nobody answered 250 for it.
    for entry in fs::read_dir(&spool)?.flatten() {
        let _ = fs::remove_file(entry.path());
    }
    for name in users.keys() {
        Maildir::open(args.data.join(name))?;
    }
    let (stop, shutdown) = watch::channel(false);
    let office = Arc::new(Office {
        data: args.data.clone(),
        users,
        domains: args.domains.iter().map(|d| d.to_lowercase()).collect(),
        hostname: args.hostname.clone(),
        sink: args.sink,
        max_message_size: args.max_message_size,
        plaintext_login: args.plaintext_login,
        acceptor,
        locks: Mutex::new(HashSet::new()),
        shutdown,
        active: AtomicUsize::new(0),
    });
    let mut listeners = vec![(Listener::Smtp, args.smtp), (Listener::Pop3, args.pop3)];
    let optional = [
        (Listener::Submission, args.submission),
        (Listener::Smtps, args.smtps),
        (Listener::Lmtp, args.lmtp),
        (Listener::Pop3s, args.pop3s),
    ];
    listeners.extend(
        optional
            .into_iter()
            .filter_map(|(kind, addr)| Some((kind, addr?))),
    );
    for (kind, addr) in listeners {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        info!(?kind, %addr, "listening");
        eprintln!("post-office: {kind:?} on {addr}");
        tokio::spawn(accept_loop(office.clone(), listener, kind));
    }
    tokio::signal::ctrl_c().await?;
    info!("shutting down");
    let _ = stop.send(true);
    // Sessions say goodbye (421 / -ERR); give them a moment.
    for _ in 0..50 {
        if office.active.load(Ordering::SeqCst) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn accept_loop(office: Arc<Office>, listener: TcpListener, kind: Listener) {
    let mut shutdown = office.shutdown.clone();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shutdown.changed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(error) => {
                // Out of descriptors, say: back off instead of spinning.
                warn!(%error, "accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if office.active.load(Ordering::SeqCst) >= MAX_SESSIONS {
            warn!(%peer, "too many sessions: connection closed");
            drop(tcp);
            continue;
        }
        let office = office.clone();
        office.active.fetch_add(1, Ordering::SeqCst);
        tokio::spawn(async move {
            let result = match kind {
                Listener::Pop3 | Listener::Pop3s => pop3_session(&office, tcp, kind).await,
                _ => smtp_session(&office, tcp, kind).await,
            };
            if let Err(error) = result {
                info!(%peer, ?kind, "session ended: {error:#}");
            }
            office.active.fetch_sub(1, Ordering::SeqCst);
        });
    }
}

/// What the server machines of both protocols take as input (the same verbs).
trait Machine {
    fn receive(&mut self, bytes: &[u8]) -> usize;
    fn receive_eof(&mut self);
    fn handle_timeout(&mut self);
    fn shut_down(&mut self);
    fn timeout(&self) -> Option<Duration>;
}

macro_rules! machine {
    ($server:ty) => {
        impl Machine for $server {
            fn receive(&mut self, bytes: &[u8]) -> usize {
                <$server>::receive(self, bytes)
            }
            fn receive_eof(&mut self) {
                <$server>::receive_eof(self)
            }
            fn handle_timeout(&mut self) {
                <$server>::handle_timeout(self)
            }
            fn shut_down(&mut self) {
                <$server>::shut_down(self)
            }
            fn timeout(&self) -> Option<Duration> {
                <$server>::timeout(self)
            }
        }
    };
}
machine!(smtp_proto::server::Server);
machine!(pop3_proto::server::Server);

/// Gives the machine its next input: first what it did not take before (back-pressure, in
/// order), otherwise what the connection brings, the end of stream, the idle timeout or the
/// shutdown. Untaken bytes wait in `pending`.
async fn feed(
    server: &mut impl Machine,
    conn: &mut Conn,
    buf: &mut [u8],
    pending: &mut BytesMut,
    shutdown: &mut watch::Receiver<bool>,
) {
    if !pending.is_empty() {
        let taken = server.receive(pending);
        pending.advance(taken);
        if taken > 0 {
            return;
        }
    }
    match read_input(conn, buf, server.timeout(), shutdown).await {
        Input::Data(n) => {
            let taken = server.receive(buf.get(..n).unwrap_or_default());
            pending.extend_from_slice(buf.get(taken..n).unwrap_or_default());
        }
        Input::Eof => server.receive_eof(),
        Input::Timeout => server.handle_timeout(),
        Input::Shutdown => server.shut_down(),
    }
}

/// One read, bounded by the machine's timeout and the shutdown signal.
async fn read_input(
    conn: &mut Conn,
    buf: &mut [u8],
    timeout: Option<Duration>,
    shutdown: &mut watch::Receiver<bool>,
) -> Input {
    if *shutdown.borrow() {
        return Input::Shutdown;
    }
    tokio::select! {
        input = conn.read_for(buf, timeout) => input,
        _ = shutdown.changed() => Input::Shutdown,
    }
}

// ---------------------------------------------------------------------------------------------
// SMTP.

/// The message being received.
#[derive(Default)]
struct Transaction {
    /// Local users, in RCPT order (duplicates kept for LMTP's per-recipient replies).
    recipients: Vec<String>,
    spool: Option<(PathBuf, File)>,
    /// The spool could not be written: the message gets a temporary failure.
    failed: bool,
}

impl Transaction {
    fn discard(&mut self) {
        if let Some((path, _)) = self.spool.take() {
            let _ = fs::remove_file(path);
        }
    }
}

impl Drop for Transaction {
    fn drop(&mut self) {
        // A broken connection leaves nothing behind.
        self.discard();
    }
}

async fn smtp_session(office: &Office, tcp: TcpStream, kind: Listener) -> Result<()> {
    use smtp_proto::server::{Answer, Event, Output, Server, ServerConfig};
    use smtp_proto::types::{Domain, Mechanism, Reply, ReplyCode};

    let mut conn = Conn::Plain(tcp);
    if kind == Listener::Smtps {
        conn.accept_tls(&office.acceptor).await?;
    }
    let hostname = Domain::new(office.hostname.clone()).or_else(|_| Domain::new("localhost"))?;
    let config = ServerConfig {
        hostname: hostname.into_owned(),
        lmtp: kind == Listener::Lmtp,
        starttls: kind != Listener::Smtps,
        implicit_tls: kind == Listener::Smtps,
        auth_mechanisms: vec![Mechanism::new("PLAIN")?, Mechanism::new("LOGIN")?],
        auth_without_tls: office.plaintext_login,
        auth_required: kind == Listener::Submission,
        max_message_size: Some(office.max_message_size),
        ..ServerConfig::default()
    };
    let mut server = Server::new(config);
    let mut shutdown = office.shutdown.clone();
    let mut transaction: Option<Transaction> = None;
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = BytesMut::new();
    let reply =
        |code: u16, (class, subject, detail): (u8, u16, u16), text: &str| -> Reply<'static> {
            let code = ReplyCode::new(code).unwrap_or(ReplyCode::LOCAL_ERROR);
            let text = smtp_proto::types::ReplyText::new(text.to_string())
                .unwrap_or_else(|_| smtp_proto::types::ReplyText::empty());
            let plain = Reply::from_text(code, text);
            match smtp_proto::types::EnhancedStatus::new(class, subject, detail) {
                Ok(status) => plain.clone().set_status(status).unwrap_or(plain),
                Err(_) => plain,
            }
        };
    loop {
        while let Some(output) = server.poll_output() {
            match output {
                Output::Transmit(bytes) => conn.send(&bytes).await?,
                Output::StartTls => {
                    // What the client sent behind STARTTLS/STLS is plaintext: never fed in
                    // after TLS.
                    pending.clear();
                    conn.accept_tls(&office.acceptor).await?;
                    server.tls_established()?;
                }
                Output::Close => {
                    conn.flush().await.ok();
                    conn.shutdown().await.ok();
                    return Ok(());
                }
                Output::Event(event) => {
                    let answer = match &event {
                        Event::RcptTo { to, .. } => {
                            let user = to.mailbox().and_then(|mailbox| {
                                let local = mailbox.local_part().unquoted().to_lowercase();
                                let domain = mailbox.host().to_string().to_lowercase();
                                let domain_ok =
                                    office.domains.is_empty() || office.domains.contains(&domain);
                                (domain_ok && office.users.contains_key(&local)).then_some(local)
                            });
                            match (user, office.sink) {
                                (_, true) => Some(Answer::Accept),
                                (Some(user), false) => {
                                    if let Some(t) = &mut transaction {
                                        t.recipients.push(user);
                                    }
                                    Some(Answer::Accept)
                                }
                                (None, false) => Some(Answer::Reply(Reply::with_status(
                                    ReplyCode::MAILBOX_UNAVAILABLE,
                                    smtp_proto::types::EnhancedStatus::new(5, 1, 1)?,
                                    "No such user here",
                                )?)),
                            }
                        }
                        Event::MailFrom { .. } => {
                            transaction = Some(Transaction::default());
                            Some(Answer::Accept)
                        }
                        Event::DataStart => {
                            let mut answer = Answer::Accept;
                            if let (Some(t), false) = (&mut transaction, office.sink) {
                                let path = office
                                    .data
                                    .join(".spool")
                                    .join(unique_name(&office.hostname));
                                let file =
                                    OpenOptions::new().write(true).create_new(true).open(&path);
                                match file {
                                    Ok(file) => t.spool = Some((path, file)),
                                    Err(error) => {
                                        warn!(%error, "opening a spool file");
                                        answer = Answer::Reply(reply(
                                            452,
                                            (4, 3, 1),
                                            "Cannot store messages now",
                                        ));
                                    }
                                }
                            }
                            Some(answer)
                        }
                        Event::Body(chunk) => {
                            if let Some(t) = &mut transaction {
                                if let Some((_, file)) = &mut t.spool {
                                    if let Err(error) =
                                        tokio::task::block_in_place(|| file.write_all(chunk))
                                    {
                                        // Disk full, say: the rest is read and the message
                                        // refused with a temporary error at its end.
                                        warn!(%error, "writing a spool file");
                                        t.discard();
                                        t.failed = true;
                                    }
                                }
                            }
                            None
                        }
                        Event::MessageEnd { .. } => {
                            let t = transaction.take();
                            Some(tokio::task::block_in_place(|| {
                                deliver(office, t, kind == Listener::Lmtp, &reply)
                            }))
                        }
                        Event::MessageRejected(_) | Event::TransactionReset => {
                            if let Some(mut t) = transaction.take() {
                                t.discard();
                            }
                            None
                        }
                        Event::Authenticate { credentials, .. } => {
                            // Acting as another user (a PLAIN authzid) is not offered.
                            let own = credentials
                                .authzid()
                                .is_none_or(|authzid| Some(authzid) == credentials.username());
                            let ok = own
                                && credentials
                                    .username()
                                    .and_then(|name| office.users.get(&name.to_lowercase()))
                                    .is_some_and(|password| {
                                        credentials.verify_password(password.as_bytes())
                                    });
                            Some(if ok {
                                Answer::Accept
                            } else {
                                Answer::Reply(Reply::with_status(
                                    ReplyCode::AUTH_CREDENTIALS_INVALID,
                                    smtp_proto::types::EnhancedStatus::new(5, 7, 8)?,
                                    "Authentication credentials invalid",
                                )?)
                            })
                        }
                        event if event.is_decision() => Some(Answer::Accept),
                        _ => None,
                    };
                    if let Some(answer) = answer {
                        server.answer(answer)?;
                    }
                }
            }
        }
        feed(
            &mut server,
            &mut conn,
            &mut buf,
            &mut pending,
            &mut shutdown,
        )
        .await;
    }
}

/// Builds a reply from a code, an enhanced status code and text.
type MakeReply = dyn Fn(u16, (u8, u16, u16), &str) -> smtp_proto::types::Reply<'static>;

/// Stores a whole message for every recipient, durably, then answers (250 only after fsync).
fn deliver(
    office: &Office,
    transaction: Option<Transaction>,
    lmtp: bool,
    reply: &MakeReply,
) -> smtp_proto::server::Answer {
    use smtp_proto::server::Answer;
    let Some(mut t) = transaction else {
        return Answer::Accept;
    };
    if t.failed {
        let failure = reply(451, (4, 3, 0), "Could not store the message");
        return if lmtp {
            Answer::PerRecipient(vec![failure; t.recipients.len()])
        } else {
            Answer::Reply(failure)
        };
    }
    let Some((path, file)) = t.spool.take() else {
        // The sink: nothing to store.
        return Answer::Accept;
    };
    let stored = file.sync_all();
    drop(file);
    let mut results = Vec::with_capacity(t.recipients.len());
    let mut done: HashMap<String, bool> = HashMap::new();
    for user in &t.recipients {
        let ok = match done.get(user) {
            Some(ok) => *ok,
            None => {
                let ok = stored.is_ok()
                    && Maildir::open(office.data.join(user))
                        .and_then(|maildir| maildir.deliver_file(&path, &office.hostname))
                        .map_err(|error| warn!(%error, user, "delivery failed"))
                        .is_ok();
                done.insert(user.clone(), ok);
                ok
            }
        };
        results.push(if ok {
            reply(250, (2, 0, 0), "Delivered")
        } else {
            reply(451, (4, 3, 0), "Could not store the message")
        });
    }
    let _ = fs::remove_file(&path);
    if let Some(parent) = path.parent() {
        let _ = sync_dir(parent);
    }
    info!(recipients = t.recipients.len(), "message stored");
    if lmtp {
        return Answer::PerRecipient(results);
    }
    if results.iter().all(|r| r.is_positive()) {
        Answer::Accept
    } else {
        Answer::Reply(reply(451, (4, 3, 0), "Could not store the message"))
    }
}

// ---------------------------------------------------------------------------------------------
// POP3.

/// Releases a maildrop lock when the session ends, however it ends.
struct Lock<'a> {
    office: &'a Office,
    user: Option<String>,
}

impl Drop for Lock<'_> {
    fn drop(&mut self) {
        if let Some(user) = self.user.take() {
            if let Ok(mut locks) = self.office.locks.lock() {
                locks.remove(&user);
            }
        }
    }
}

async fn pop3_session(office: &Office, tcp: TcpStream, kind: Listener) -> Result<()> {
    use pop3_proto::server::{Answer, Event, MessageInfo, Output, Server, ServerConfig};
    use pop3_proto::types::{Mechanism, Response, Text, Timestamp, UniqueId};

    let mut conn = Conn::Plain(tcp);
    if kind == Listener::Pop3s {
        conn.accept_tls(&office.acceptor).await?;
    }
    let stamp = format!(
        "<{}@{}>",
        unique_name("x").replace(['<', '>'], ""),
        office.hostname
    );
    let config = ServerConfig {
        apop_timestamp: Timestamp::new(stamp).ok(),
        stls: kind == Listener::Pop3,
        implicit_tls: kind == Listener::Pop3s,
        sasl_mechanisms: vec![Mechanism::new("PLAIN")?],
        plaintext_login: office.plaintext_login,
        ..ServerConfig::default()
    };
    let mut server = Server::new(config);
    let mut shutdown = office.shutdown.clone();
    let mut lock = Lock { office, user: None };
    let mut messages: Vec<Stored> = Vec::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut pending = BytesMut::new();
    loop {
        while let Some(output) = server.poll_output() {
            match output {
                Output::Transmit(bytes) => conn.send(&bytes).await?,
                Output::StartTls => {
                    // What the client sent behind STARTTLS/STLS is plaintext: never fed in
                    // after TLS.
                    pending.clear();
                    conn.accept_tls(&office.acceptor).await?;
                    server.tls_established()?;
                }
                Output::Close => {
                    conn.flush().await.ok();
                    conn.shutdown().await.ok();
                    return Ok(());
                }
                Output::Event(Event::Login(login)) => {
                    let name = login.username().map(str::to_lowercase).unwrap_or_default();
                    let own = match &login {
                        pop3_proto::server::Login::Sasl { credentials, .. } => credentials
                            .authzid()
                            .is_none_or(|authzid| Some(authzid) == credentials.username()),
                        _ => true,
                    };
                    let valid = own
                        && office
                            .users
                            .get(&name)
                            .is_some_and(|password| login.verify_secret(password.as_bytes()));
                    let answer = if !valid {
                        Answer::reject("[AUTH] invalid user name or password")
                    } else if !office
                        .locks
                        .lock()
                        .map(|mut l| l.insert(name.clone()))
                        .unwrap_or(false)
                    {
                        Answer::reject("[IN-USE] maildrop already locked")
                    } else {
                        lock.user = Some(name.clone());
                        let listing = tokio::task::block_in_place(|| {
                            Maildir::open(office.data.join(&name)).and_then(|m| m.list())
                        });
                        match listing {
                            Ok(list) => {
                                // Only files whose names are valid unique-ids are served, and
                                // the numbers index exactly that list.
                                let mut infos = Vec::with_capacity(list.len());
                                messages.clear();
                                for stored in list {
                                    let Ok(uid) = UniqueId::new(stored.unique.clone()) else {
                                        continue;
                                    };
                                    // The size as sent: bare line ends go out as CRLF.
                                    let size = tokio::task::block_in_place(|| wire_size(&stored))
                                        .unwrap_or(stored.size);
                                    infos.push(MessageInfo { size, uid });
                                    messages.push(stored);
                                }
                                Answer::Open(infos)
                            }
                            Err(error) => {
                                warn!(%error, "listing the maildrop");
                                if let Ok(mut locks) = office.locks.lock() {
                                    locks.remove(&name);
                                }
                                lock.user = None;
                                Answer::reject("[SYS/TEMP] cannot open the maildrop")
                            }
                        }
                    };
                    server.answer(answer)?;
                }
                Output::Event(Event::Retrieve { message, .. }) => {
                    let Some(stored) = messages.get(message.index()) else {
                        server.answer(Answer::reject("[SYS/PERM] no such message"))?;
                        continue;
                    };
                    let file = tokio::task::block_in_place(|| File::open(&stored.path));
                    let mut file = match file {
                        Ok(file) => file,
                        Err(_) => {
                            server.answer(Answer::reject("[SYS/TEMP] message not readable"))?;
                            continue;
                        }
                    };
                    server.answer(Answer::Accept)?;
                    let mut chunk = vec![0u8; 64 * 1024];
                    loop {
                        let n = tokio::task::block_in_place(|| file.read(&mut chunk))?;
                        if n == 0 || !server.wants_body() {
                            break;
                        }
                        server.send_body(chunk.get(..n).unwrap_or_default())?;
                        while let Some(Output::Transmit(bytes)) = server.poll_output() {
                            conn.send(&bytes).await?;
                        }
                    }
                    server.end_body()?;
                }
                Output::Event(Event::Commit { deleted }) => {
                    let result = tokio::task::block_in_place(|| -> std::io::Result<()> {
                        for listing in &deleted {
                            if let Some(stored) = messages.get(listing.message.index()) {
                                fs::remove_file(&stored.path)?;
                            }
                        }
                        if let Some(user) = &lock.user {
                            let maildir = office.data.join(user);
                            sync_dir(&maildir.join("new"))?;
                            sync_dir(&maildir.join("cur"))?;
                        }
                        Ok(())
                    });
                    let answer = match result {
                        Ok(()) => Answer::Accept,
                        Err(error) => {
                            warn!(%error, "deleting messages");
                            Answer::Reply(Response::err(Text::empty()))
                        }
                    };
                    server.answer(answer)?;
                }
                Output::Event(event) => {
                    if event.is_decision() {
                        server.answer(Answer::Accept)?;
                    }
                }
            }
        }
        feed(
            &mut server,
            &mut conn,
            &mut buf,
            &mut pending,
            &mut shutdown,
        )
        .await;
    }
}

/// The size of a stored message as POP3 sends it: every bare CR or LF becomes CRLF.
fn wire_size(stored: &Stored) -> std::io::Result<u64> {
    let mut file = File::open(&stored.path)?;
    let mut buf = vec![0u8; 64 * 1024];
    let mut extra = 0u64;
    let mut last = 0u8;
    loop {
        let n = file.read(&mut buf)?;
        let Some(chunk) = buf.get(..n).filter(|c| !c.is_empty()) else {
            break;
        };
        for &byte in chunk {
            match (last, byte) {
                (b'\r', b'\n') => {}
                (b'\r', _) => extra += 1,
                (_, b'\n') => extra += 1,
                _ => {}
            }
            last = byte;
        }
    }
    if last == b'\r' {
        extra += 1;
    }
    Ok(stored.size + extra)
}
