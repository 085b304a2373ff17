//! How a server listens, for the tokio and the blocking servers alike.

use std::time::Duration;

#[cfg(feature = "rustls")]
use crate::TlsServer;
#[cfg(feature = "tokio")]
use crate::accept::SessionLimit;
use crate::{ClientLimits, IoConfig, Shutdown};

/// The servers' default limit on a whole session: 1 hour. Twelve SMTP command deadlines
/// (RFC 5321 4.5.3.2.7) or six POP3 autologout timers (RFC 1939 3): far more than a mail
/// session needs (Postfix's client reuses a connection for at most 300 s,
/// `smtp_connection_reuse_time_limit`), and at most an hour's hold on a session slot (or a
/// maildrop lock) for a client that keeps itself busy. A POP3 server whose users fetch
/// gigabytes over slow links may want more.
pub const SERVER_SESSION_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// How a server listens: limits, TLS, shutdown. Shared by the SMTP and POP3 servers, tokio
/// and blocking (`mail_io::ServeOptions` and `mail_io::blocking::ServeOptions` are this type).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Sessions at once on this listener (tasks, or threads for the blocking servers); one
    /// more is told "too busy" and closed: 1024. Ignored by the tokio servers when
    /// [`session_limit`](Self::session_limit) is set.
    pub max_sessions: usize,
    /// A limit shared with other listeners of the tokio servers (see
    /// [`SessionLimit`](crate::SessionLimit)); `None` (the default): the listener counts its
    /// own sessions against [`max_sessions`](Self::max_sessions). The blocking servers do not
    /// look at it: they always count their own sessions against `max_sessions`.
    #[cfg(feature = "tokio")]
    pub session_limit: Option<SessionLimit>,
    /// Sessions at once and new connections a minute per client address, and the table that
    /// counts them (see [`ClientLimits`]): 50 at once and 60 a minute per client, and never
    /// more than half of the listener's sessions for one client. Each `ServeOptions::new()`
    /// has a table of its own; clones (and [`client_limits`](Self::client_limits) with a
    /// clone of one handle) share it, so listeners made from one `ServeOptions` count a
    /// client's connections together.
    pub client_limits: ClientLimits,
    /// The driver's limits for every connection; by default [`IoConfig::default`] with a
    /// [`session_timeout`](IoConfig::session_timeout) of [`SERVER_SESSION_TIMEOUT`].
    pub io: IoConfig,
    /// Ends the accept loop and every session politely once triggered.
    pub shutdown: Shutdown,
    /// TLS for STARTTLS / STLS (and for implicit TLS with `implicit_tls`).
    #[cfg(feature = "rustls")]
    pub tls: Option<TlsServer>,
    /// Start every connection with the TLS handshake (ports 465 and 995, RFC 8314).
    pub implicit_tls: bool,
    /// How long the server waits for sessions to say goodbye after the shutdown: 10 seconds.
    /// The tokio servers then end the sessions still running (a handler stuck in a call, say):
    /// their tasks are dropped, and with them the handlers and the connections.
    pub grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_sessions: 1024,
            #[cfg(feature = "tokio")]
            session_limit: None,
            client_limits: ClientLimits::default(),
            io: IoConfig::default().session_timeout(Some(SERVER_SESSION_TIMEOUT)),
            shutdown: Shutdown::new(),
            #[cfg(feature = "rustls")]
            tls: None,
            implicit_tls: false,
            grace: Duration::from_secs(10),
        }
    }
}

impl ServeOptions {
    /// The defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets [`max_sessions`](Self::max_sessions).
    pub fn max_sessions(mut self, sessions: usize) -> Self {
        self.max_sessions = sessions.max(1);
        self
    }

    /// Counts this listener's sessions against `limit`, shared with every listener given a
    /// clone of it (instead of [`max_sessions`](Self::max_sessions) of its own). Tokio
    /// servers only.
    #[cfg(feature = "tokio")]
    pub fn session_limit(mut self, limit: SessionLimit) -> Self {
        self.session_limit = Some(limit);
        self
    }

    /// Counts each client's connections in `limits` (shared with every listener given a clone
    /// of it); [`ClientLimits::unlimited`] leaves only the headroom.
    pub fn client_limits(mut self, limits: ClientLimits) -> Self {
        self.client_limits = limits;
        self
    }

    /// Sets [`io`](Self::io).
    pub fn io(mut self, io: IoConfig) -> Self {
        self.io = io;
        self
    }

    /// Sets [`shutdown`](Self::shutdown).
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Offers STARTTLS / STLS with these settings.
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, tls: TlsServer) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Starts every connection with TLS (ports 465 and 995).
    #[cfg(feature = "rustls")]
    pub fn implicit_tls(mut self, tls: TlsServer) -> Self {
        self.tls = Some(tls);
        self.implicit_tls = true;
        self
    }

    /// Sets [`grace`](Self::grace).
    pub fn grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}
