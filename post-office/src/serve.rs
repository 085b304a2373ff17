//! `post-office serve`: the arguments, start-up, the SMTP, submission, SMTPS, LMTP, POP3 and
//! POP3S listeners on mail-io's servers, and the shutdown at Ctrl-C.

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use mail_io::smtp::{Host, Mailbox};
use mail_io::{ClientLimits, ServeOptions, SessionLimit, Shutdown};
use tokio::net::TcpListener;
use tracing::{info, warn};

use crate::UserPass;
use crate::auth::Penalties;
use crate::delivery::Spool;
use crate::maildir::{Maildir, STALE_TMP};
use crate::queue::{Queue, RetryPolicy, Scheduler, Settings};
use crate::relay::Outbound;

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
    /// The user who gets mail for `<Postmaster>` and `postmaster@` each of our domains (RFC
    /// 5321 4.5.1: every server must take it). Default: the user `postmaster` if there is
    /// one, else the first --user.
    #[arg(long, value_name = "USER")]
    postmaster: Option<String>,
    /// Our domains, repeatable: mail for their users is stored here. Without any, every
    /// domain is ours (and nothing is relayed); with some, a recipient of another domain is
    /// relayed for clients that authenticated or are in a --relay-network, and refused with
    /// 554 5.7.1 for the others.
    #[arg(long = "domain")]
    domains: Vec<String>,
    /// A network whose clients may relay without authenticating, `ADDRESS/PREFIX` or one
    /// address; repeatable; none by default (Postfix's `mynetworks` in
    /// `permit_mynetworks`). Relaying needs --domain.
    #[arg(long = "relay-network", value_name = "CIDR")]
    relay_networks: Vec<mail_io::Network>,
    /// Refuse a message (554 5.4.6) that arrives with more `Received:` fields than this: a
    /// mail loop (RFC 5321 6.3; Postfix's `hopcount_limit` is 50, Exim's 100).
    #[arg(long, default_value_t = 100)]
    max_received: u32,
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
    /// Refuse mail (452 4.3.1 at MAIL and before DATA or BDAT) while the data directory's file
    /// system has fewer octets free than this (Postfix's `queue_minfree`); 0 turns the check
    /// off. Default: 1.5 times `--max-message-size`.
    #[arg(long)]
    min_free: Option<u64>,
    /// Allow logins and AUTH without TLS (loopback tests with clients that cannot do TLS).
    #[arg(long)]
    plaintext_login: bool,
    /// Sessions at once across all listeners; one more is told 421 / -ERR and closed.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    max_sessions: u32,
    /// Sessions at once per client address (an IPv6 client by its /64), across all listeners;
    /// 0: no limit of its own. One client never gets more than half of --max-sessions
    /// (unless both this and --rate-per-client are 0: no per-client limit at all).
    #[arg(long, default_value_t = 50)]
    max_per_client: u32,
    /// New connections a minute per client address, across all listeners (a minute's worth
    /// may come at once); 0: no limit.
    #[arg(long, default_value_t = 60)]
    rate_per_client: u32,
    /// A trusted network, `ADDRESS/PREFIX` (`192.0.2.0/24`, `2001:db8::/32`) or one address;
    /// repeatable; none by default. Its clients are exempt from --max-per-client and
    /// --rate-per-client (not from --max-sessions), and never locked out after failed logins
    /// (they still wait the growing delay): Postfix's `mynetworks`, Dovecot's
    /// `login_trusted_networks`.
    #[arg(long = "trusted-network", value_name = "CIDR")]
    trusted_networks: Vec<mail_io::Network>,
    /// Seconds an SMTP client gets for each command, from the reply to the last one to the end
    /// of its line (an AUTH command with its whole exchange), and for each 64 KiB of message
    /// data; trickling octets does not extend it (RFC 5321 4.5.3.2: 300). POP3 commands get
    /// the larger of this and RFC 1939's 10 minutes.
    #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    command_timeout: u64,
    /// Seconds a whole session may last, however busy (SMTP and POP3): then 421 / `-ERR`.
    #[arg(
        long,
        default_value_t = mail_io::SERVER_SESSION_TIMEOUT.as_secs(),
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    session_timeout: u64,
    /// Where relayed mail goes and how (routes, relay host, DNS, TLS).
    #[command(flatten)]
    pub outbound: crate::relay::OutboundArgs,
    /// Relay queue: delivery attempts at once, across all destinations.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..))]
    relay_workers: u32,
    /// Relay queue: delivery attempts at once to one destination domain.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..))]
    relay_per_domain: u32,
    /// Relay queue: seconds before a deferred recipient is tried again; doubled after each
    /// further attempt, up to --retry-max.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    retry_first: u64,
    /// Relay queue: the longest wait between two attempts, in seconds (default 4 hours).
    #[arg(long, value_name = "SECONDS", default_value_t = 4 * 3600, value_parser = clap::value_parser!(u64).range(1..))]
    retry_max: u64,
    /// Relay queue: seconds after its arrival after which a message not yet delivered is
    /// bounced (4.4.7, delivery time expired; RFC 5321 4.5.4.1 suggests 4 to 5 days; default
    /// 5 days).
    #[arg(long, value_name = "SECONDS", default_value_t = 5 * 24 * 3600)]
    give_up: u64,
    /// Relay queue: at Ctrl-C, seconds the delivery attempts under way may take to end
    /// before they are cut (a cut one is tried again after the restart). A second Ctrl-C
    /// does not wait for them.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    relay_drain: u64,
}

/// The outbound side's settings from `serve`'s options (the queue's workers hold the
/// [`Outbound`](crate::relay::Outbound) made of them).
pub fn outbound_config(args: &Args) -> crate::relay::OutboundConfig {
    let mut config = args.outbound.config(&args.hostname);
    // Idle sessions: no more than could be busy at once, per domain and in all.
    config.cache.per_hop = usize::try_from(args.relay_per_domain).unwrap_or(usize::MAX);
    config.cache.total = usize::try_from(args.relay_workers).unwrap_or(usize::MAX);
    config
}

/// What every session shares: the users, the domains, the store, the maildrop locks.
pub struct Office {
    /// Where the Maildirs (`DATA/USER`) and the spool (`DATA/.spool`) are.
    pub data: PathBuf,
    /// Users (lower case) and their passwords.
    users: HashMap<String, String>,
    /// The user (lower case) who gets the postmaster's mail (`--postmaster`).
    postmaster: String,
    /// Domains taken (lower case); all when empty.
    domains: Vec<String>,
    /// In greetings, Maildir names and APOP timestamps.
    pub hostname: String,
    /// `--sink`: every recipient accepted, every message discarded.
    pub sink: bool,
    pub max_message_size: u64,
    /// Octets that must stay free on the data directory's file system (`--min-free`).
    pub min_free: u64,
    pub plaintext_login: bool,
    /// `--command-timeout`: each command's (and each data block's) deadline.
    pub command_timeout: Duration,
    /// Maildrops held by a POP3 session.
    pub locks: Mutex<HashSet<String>>,
    /// Failed logins per client address and per user name, across every listener.
    pub penalties: Penalties,
    /// `--relay-network`: clients that may relay without authenticating.
    pub relay_networks: Vec<mail_io::Network>,
    /// `--max-received`: more `Received:` fields than this is a loop (RFC 5321 6.3).
    pub max_received: u32,
    /// The relay queue (`DATA/.queue`); none in `--sink` mode.
    pub queue: Option<Queue>,
}

impl Office {
    /// Whether `host` is one of our domains (`--domain`, any case); every domain is, without
    /// any `--domain`.
    pub fn local_domain(&self, host: &Host<'_>) -> bool {
        self.domains.is_empty() || self.domains.contains(&host.to_string().to_lowercase())
    }

    /// Whether `host` is one of the domains `--domain` named (none is, without any).
    pub fn named_domain(&self, host: &Host<'_>) -> bool {
        self.domains.contains(&host.to_string().to_lowercase())
    }

    /// The local user a recipient names, if it is one (and its domain is ours):
    /// `postmaster` (any case) is the `--postmaster` user unless a user has that name (RFC
    /// 5321 4.5.1).
    pub fn local_user(&self, mailbox: &Mailbox<'_>) -> Option<String> {
        if !self.local_domain(mailbox.host()) {
            return None;
        }
        let local = mailbox.local_part().unquoted().to_lowercase();
        if self.users.contains_key(&local) {
            Some(local)
        } else if local == "postmaster" {
            Some(self.postmaster.clone())
        } else {
            None
        }
    }

    /// The user who gets mail for `<Postmaster>` (RFC 5321 4.5.1).
    pub fn postmaster(&self) -> &str {
        &self.postmaster
    }

    /// Whether a client at `address` may relay without authenticating (`--relay-network`).
    pub fn may_relay(&self, address: IpAddr) -> bool {
        self.relay_networks
            .iter()
            .any(|network| network.contains(address))
    }

    /// A user's password.
    pub fn password(&self, user: &str) -> Option<&str> {
        self.users.get(&user.to_lowercase()).map(String::as_str)
    }
}

#[cfg(test)]
impl Office {
    /// This office with `--domain` `domains` (lower case).
    pub(crate) fn with_domains(mut self, domains: &[&str]) -> Self {
        self.domains = domains.iter().map(|domain| domain.to_string()).collect();
        self
    }

    /// An office for unit tests: `users` (password `secret`), every domain local, the queue
    /// under `data`.
    pub(crate) fn for_tests(data: &std::path::Path, users: &[&str]) -> Self {
        Self {
            data: data.to_path_buf(),
            users: users
                .iter()
                .map(|user| (user.to_string(), "secret".to_string()))
                .collect(),
            postmaster: users
                .first()
                .map(|user| user.to_string())
                .unwrap_or_default(),
            domains: Vec::new(),
            hostname: "mx.here.example".into(),
            sink: false,
            max_message_size: 1 << 20,
            min_free: 0,
            plaintext_login: false,
            command_timeout: Duration::from_secs(300),
            locks: Mutex::new(HashSet::new()),
            penalties: Penalties::new(),
            relay_networks: Vec::new(),
            max_received: 100,
            queue: Queue::open(data).ok(),
        }
    }
}

/// How often refusals are summed up in the log: a flood of refused connections gives one
/// line per period, not one per connection.
const REFUSALS_LOGGED_EVERY: Duration = Duration::from_secs(5);

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
    let postmaster = postmaster(args.postmaster.as_deref(), &args.users, &users)?;
    Spool::clean(&args.data).with_context(|| format!("creating {}", args.data.display()))?;
    for name in users.keys() {
        let maildir = Maildir::open(args.data.join(name))?;
        // What a delivery killed midway left in tmp/: ours at once (never answered 250),
        // other programs' after 36 hours (the Maildir convention).
        let swept = maildir
            .sweep_own_tmp(&args.hostname)
            .and_then(|own| Ok(own + maildir.sweep_tmp(STALE_TMP)?));
        match swept {
            Ok(0) => {}
            Ok(removed) => info!(user = %name, removed, "unfinished files removed from tmp/"),
            Err(error) => warn!(user = %name, %error, "sweeping tmp/"),
        }
    }
    let queue = if args.sink {
        None
    } else {
        Some(
            Queue::open(&args.data)
                .with_context(|| format!("opening the queue in {}", args.data.display()))?,
        )
    };
    if !args.relay_networks.is_empty() && args.domains.is_empty() {
        warn!("--relay-network without --domain: every domain is ours, nothing is relayed");
    }
    let relay_networks = args
        .relay_networks
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    info!(
        domains = %if args.domains.is_empty() { "any".to_string() } else { args.domains.join(",") },
        relay_networks = %if relay_networks.is_empty() { "-" } else { &relay_networks },
        max_received = args.max_received,
        "relay policy: other domains for authenticated clients and relay networks"
    );
    let office = Arc::new(Office {
        data: args.data.clone(),
        users,
        postmaster,
        domains: args.domains.iter().map(|d| d.to_lowercase()).collect(),
        hostname: args.hostname.clone(),
        sink: args.sink,
        max_message_size: args.max_message_size,
        // Room for one more message of the largest size and half again, as Postfix asks
        // of `queue_minfree`.
        min_free: args
            .min_free
            .unwrap_or_else(|| args.max_message_size.saturating_mul(3) / 2),
        plaintext_login: args.plaintext_login,
        command_timeout: Duration::from_secs(args.command_timeout),
        locks: Mutex::new(HashSet::new()),
        penalties: Penalties::new().trusted(args.trusted_networks.iter().copied()),
        relay_networks: args.relay_networks.clone(),
        max_received: args.max_received,
        queue,
    });
    let shutdown = Shutdown::new();
    let relay = start_queue(&office, &args, &shutdown)?;
    let sessions = SessionLimit::new(usize::try_from(args.max_sessions).unwrap_or(usize::MAX));
    let mut clients = ClientLimits::new()
        .max_sessions_per_client(usize::try_from(args.max_per_client).unwrap_or(usize::MAX))
        .connections_per_minute(args.rate_per_client);
    for network in &args.trusted_networks {
        clients = clients.exempt(*network);
    }
    let trusted = args
        .trusted_networks
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",");
    info!(
        max_sessions = sessions.max(),
        max_per_client = args.max_per_client,
        rate_per_client = args.rate_per_client,
        trusted_networks = %if trusted.is_empty() { "-" } else { &trusted },
        "connection limits"
    );
    let io =
        mail_io::IoConfig::new().session_timeout(Some(Duration::from_secs(args.session_timeout)));
    let options = ServeOptions::new()
        .io(io)
        .session_limit(sessions.clone())
        .client_limits(clients.clone())
        .shutdown(shutdown.clone())
        .grace(GRACE);
    tokio::spawn(log_refusals(sessions, clients, shutdown.clone()));
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
    // Listening for a second Ctrl-C from now on, not only once the listeners are done.
    let mut second = tokio::spawn(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    // Every session says goodbye (421 / -ERR); each listener waits for its own, within GRACE.
    shutdown.trigger();
    for listener in running {
        let _ = listener.await;
    }
    if let Some((outbound, scheduler)) = relay {
        // The relay attempts under way end and their outcomes are written (within
        // --relay-drain), unless a second Ctrl-C says not to wait.
        tokio::select! {
            _ = scheduler => {}
            _ = &mut second => warn!("second interrupt: relay attempts under way are cut"),
        }
        // The sessions the relay kept open say QUIT before the process ends (each waits a
        // moment for its reply).
        outbound.close().await;
    }
    Ok(())
}

/// The user who gets the postmaster's mail: `--postmaster` (a user), else the user
/// `postmaster`, else the first `--user` (`demo` without any).
fn postmaster(
    named: Option<&str>,
    given: &[UserPass],
    users: &HashMap<String, String>,
) -> Result<String> {
    let user = match named {
        Some(named) => named.to_lowercase(),
        None if users.contains_key("postmaster") => "postmaster".to_string(),
        None => given
            .first()
            .map_or_else(|| "demo".to_string(), |user| user.name.to_lowercase()),
    };
    anyhow::ensure!(
        users.contains_key(&user),
        "--postmaster {user}: no such --user"
    );
    Ok(user)
}

/// Reads the relay queue back (before any listener can queue) and starts its scheduler,
/// unless in `--sink` mode; the outbound side it delivers through, and the scheduler's task
/// (which ends once its attempts under way have, after `shutdown`).
fn start_queue(
    office: &Arc<Office>,
    args: &Args,
    shutdown: &Shutdown,
) -> Result<Option<(Arc<Outbound>, tokio::task::JoinHandle<()>)>> {
    let Some(queue) = &office.queue else {
        return Ok(None);
    };
    let loaded = queue.recover().context("reading the relay queue")?;
    let outbound = Arc::new(Outbound::new(outbound_config(args))?.close_at(shutdown.clone()));
    let settings = Settings {
        policy: RetryPolicy {
            first: args.retry_first,
            max: args.retry_max.max(args.retry_first),
            give_up: args.give_up,
        },
        workers: usize::try_from(args.relay_workers).unwrap_or(usize::MAX),
        per_domain: usize::try_from(args.relay_per_domain).unwrap_or(usize::MAX),
        drain: Duration::from_secs(args.relay_drain),
    };
    info!(
        messages = loaded.len(),
        workers = settings.workers,
        per_domain = settings.per_domain,
        retry_first = settings.policy.first,
        retry_max = settings.policy.max,
        give_up = settings.policy.give_up,
        "relay queue"
    );
    let scheduler = Scheduler::new(office.clone(), outbound.clone(), settings);
    let scheduler = tokio::spawn(scheduler.run(loaded, shutdown.clone()));
    Ok(Some((outbound, scheduler)))
}

/// Logs the connections refused over the limits, summed up every [`REFUSALS_LOGGED_EVERY`]
/// (nothing when there were none), until the shutdown.
async fn log_refusals(sessions: SessionLimit, clients: ClientLimits, shutdown: Shutdown) {
    let mut logged = (0, clients.refused());
    loop {
        tokio::select! {
            () = tokio::time::sleep(REFUSALS_LOGGED_EVERY) => {}
            () = shutdown.triggered() => return,
        }
        let now = (sessions.refused(), clients.refused());
        if now.0 == logged.0 && now.1.total() == logged.1.total() {
            continue;
        }
        // Canonical: an IPv4-mapped IPv6 client shows as IPv4, as in the auth lines.
        let last = now.1.last.map(|address| address.to_canonical().to_string());
        warn!(
            over_session_limit = now.0.saturating_sub(logged.0),
            over_client_sessions = now.1.sessions.saturating_sub(logged.1.sessions),
            over_client_rate = now.1.rate.saturating_sub(logged.1.rate),
            client_table_full = now.1.table_full.saturating_sub(logged.1.table_full),
            last_client_refused = %last.as_deref().unwrap_or("-"),
            sessions = sessions.in_use(),
            clients = clients.clients(),
            "connections refused in the last {} s",
            REFUSALS_LOGGED_EVERY.as_secs()
        );
        logged = now;
    }
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
                crate::smtp::Session::new(office.clone(), info)
            };
            Box::pin(mail_io::smtp::serve(listener, config, options, new_session))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str) -> UserPass {
        UserPass {
            name: name.into(),
            password: "x".into(),
        }
    }

    #[test]
    fn the_postmaster_is_named_or_the_user_postmaster_or_the_first_user() {
        let given = [user("Bob"), user("alice")];
        let users: HashMap<String, String> = given
            .iter()
            .map(|u| (u.name.to_lowercase(), u.password.clone()))
            .collect();
        assert_eq!(postmaster(None, &given, &users).unwrap(), "bob");
        assert_eq!(postmaster(Some("ALICE"), &given, &users).unwrap(), "alice");
        assert!(postmaster(Some("carol"), &given, &users).is_err());
        let mut with_postmaster = users.clone();
        with_postmaster.insert("postmaster".into(), "x".into());
        assert_eq!(
            postmaster(None, &given, &with_postmaster).unwrap(),
            "postmaster"
        );
        let demo: HashMap<String, String> = [("demo".to_string(), "demo".to_string())].into();
        assert_eq!(postmaster(None, &[], &demo).unwrap(), "demo");
    }
}
