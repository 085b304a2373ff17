//! `post-office serve`: the arguments, start-up, the SMTP, submission, SMTPS, LMTP, POP3 and
//! POP3S listeners on mail-io's servers, and the shutdown at Ctrl-C.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use mail_io::smtp::Mailbox;
use mail_io::{ServeOptions, SessionLimit, Shutdown};
use tokio::net::TcpListener;
use tracing::info;

use crate::UserPass;
use crate::delivery::Spool;
use crate::maildir::Maildir;

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
    /// Seconds an SMTP client gets for each command, from the reply to the last one to the end
    /// of its line (an AUTH command with its whole exchange), and for each 64 KiB of message
    /// data; trickling octets does not extend it (RFC 5321 4.5.3.2: 300). POP3 commands get
    /// the larger of this and RFC 1939's 10 minutes.
    #[arg(long, default_value_t = 300)]
    command_timeout: u64,
    /// Seconds a whole session may last, however busy (SMTP and POP3): then 421 / `-ERR`.
    #[arg(long, default_value_t = mail_io::SERVER_SESSION_TIMEOUT.as_secs())]
    session_timeout: u64,
}

/// What every session shares: the users, the domains, the store, the maildrop locks.
pub struct Office {
    /// Where the Maildirs (`DATA/USER`) and the spool (`DATA/.spool`) are.
    pub data: PathBuf,
    /// Users (lower case) and their passwords.
    users: HashMap<String, String>,
    /// Domains taken (lower case); all when empty.
    domains: Vec<String>,
    /// In greetings, Maildir names and APOP timestamps.
    pub hostname: String,
    /// `--sink`: every recipient accepted, every message discarded.
    pub sink: bool,
    pub max_message_size: u64,
    pub plaintext_login: bool,
    /// `--command-timeout`: each command's (and each data block's) deadline.
    pub command_timeout: Duration,
    /// Maildrops held by a POP3 session.
    pub locks: Mutex<HashSet<String>>,
}

impl Office {
    /// The local user a recipient names, if it is one (and its domain is taken).
    pub fn local_user(&self, mailbox: &Mailbox<'_>) -> Option<String> {
        let local = mailbox.local_part().unquoted().to_lowercase();
        let domain = mailbox.host().to_string().to_lowercase();
        let domain_ok = self.domains.is_empty() || self.domains.contains(&domain);
        (domain_ok && self.users.contains_key(&local)).then_some(local)
    }

    /// A user's password.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.users.get(&user.to_lowercase()).map(String::as_str)
    }
}

/// Sessions at once, across all listeners (each holds a socket and a task).
const MAX_SESSIONS: usize = 1024;

/// How long sessions get to say goodbye after Ctrl-C.
const GRACE: Duration = Duration::from_secs(5);

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
    let tls = crate::tls::server(
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
    Spool::clean(&args.data).with_context(|| format!("creating {}", args.data.display()))?;
    for name in users.keys() {
        Maildir::open(args.data.join(name))?;
    }
    let office = Arc::new(Office {
        data: args.data.clone(),
        users,
        domains: args.domains.iter().map(|d| d.to_lowercase()).collect(),
        hostname: args.hostname.clone(),
        sink: args.sink,
        max_message_size: args.max_message_size,
        plaintext_login: args.plaintext_login,
        command_timeout: Duration::from_secs(args.command_timeout),
        locks: Mutex::new(HashSet::new()),
    });
    let shutdown = Shutdown::new();
    let io =
        mail_io::IoConfig::new().session_timeout(Some(Duration::from_secs(args.session_timeout)));
    let options = ServeOptions::new()
        .io(io)
        .session_limit(SessionLimit::new(MAX_SESSIONS))
        .shutdown(shutdown.clone())
        .grace(GRACE);
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
    let mut running = Vec::new();
    for (kind, addr) in listeners {
        let listener = TcpListener::bind(addr)
            .await
            .with_context(|| format!("binding {addr}"))?;
        info!(?kind, %addr, "listening");
        eprintln!("post-office: {kind:?} on {addr}");
        let options = match kind {
            Listener::Smtps | Listener::Pop3s => options.clone().implicit_tls(tls.clone()),
            _ => options.clone().tls(tls.clone()),
        };
        running.push(tokio::spawn(listen(
            office.clone(),
            listener,
            kind,
            options,
        )?));
    }
    tokio::signal::ctrl_c().await?;
    info!("shutting down");
    // Every session says goodbye (421 / -ERR); each listener waits for its own, within GRACE.
    shutdown.trigger();
    for listener in running {
        let _ = listener.await;
    }
    Ok(())
}

/// The accept loop of one listener, ready to be spawned.
fn listen(
    office: Arc<Office>,
    listener: TcpListener,
    kind: Listener,
    options: ServeOptions,
) -> Result<std::pin::Pin<Box<dyn Future<Output = ()> + Send>>> {
    Ok(match kind {
        Listener::Pop3 | Listener::Pop3s => {
            let config = crate::pop3::config(&office)?;
            let new_session = move |peer| crate::pop3::Session::new(office.clone(), peer);
            Box::pin(mail_io::pop3::serve(listener, config, options, new_session))
        }
        Listener::Smtp | Listener::Submission | Listener::Smtps | Listener::Lmtp => {
            let lmtp = kind == Listener::Lmtp;
            let config = crate::smtp::config(&office, lmtp, kind == Listener::Submission)?;
            let new_session = move |info: &mail_io::smtp::SessionInfo| {
                crate::smtp::Session::new(office.clone(), info.peer, lmtp)
            };
            Box::pin(mail_io::smtp::serve(listener, config, options, new_session))
        }
    })
}
