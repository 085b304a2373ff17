//! The accept loop both servers share: the limits per client and for all, `TCP_NODELAY`, a
//! polite refusal over a limit, back-off when accepting fails, and shutdown.

use std::future::Future;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::ServeOptions;
use crate::client_limits::ClientPermit;

/// A limit on sessions at once that several listeners share (an SMTP and a POP3 listener of one
/// program, say): give each listener's [`ServeOptions::session_limit`] a clone, and together
/// they run at most `max` sessions; over it, each listener refuses as it does over its own
/// [`ServeOptions::max_sessions`].
///
/// After the shutdown, each listener waits for its own sessions (at most
/// [`ServeOptions::grace`], then it ends those still running).
///
/// ```
/// use mail_io::{ServeOptions, SessionLimit};
///
/// let limit = SessionLimit::new(1024);
/// let smtp = ServeOptions::new().session_limit(limit.clone());
/// let pop3 = ServeOptions::new().session_limit(limit.clone());
/// assert_eq!(limit.in_use(), 0);
/// assert_eq!(limit.refused(), 0);
/// # let _ = (smtp, pop3);
/// ```
#[derive(Debug, Clone)]
pub struct SessionLimit {
    slots: Arc<Semaphore>,
    max: usize,
    refused: Arc<AtomicU64>,
}

impl SessionLimit {
    /// At most `max` sessions at once (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
            refused: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The limit.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Sessions running now under this limit.
    pub fn in_use(&self) -> usize {
        self.max.saturating_sub(self.slots.available_permits())
    }

    /// Connections refused so far because the limit was reached.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }
}

/// What a listener says before it closes a connection it refuses (empty on an implicit TLS
/// listener: plaintext there would only garble the client's handshake).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusals {
    /// Over the session limit of the listener (or of the program).
    pub(crate) busy: &'static [u8],
    /// Over the client's own limits (sessions at once, connections a minute).
    pub(crate) client: &'static [u8],
}

impl Refusals {
    /// Nothing said at all (implicit TLS).
    pub(crate) const SILENT: Self = Self {
        busy: b"",
        client: b"",
    };
}

/// What a session holds while it runs: its slot under the session limit and its client's.
pub(crate) struct SessionPermit {
    _slot: OwnedSemaphorePermit,
    _client: ClientPermit,
}

/// Refused connections that may linger at once, reading what the client still sends so that
/// the close does not reset the connection (and with it the refusal) under its feet.
const LINGERING: usize = 256;

/// How long a refused connection may linger, and how much it may read meanwhile.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_OCTETS: usize = 4096;

/// Accepts until the shutdown, running `session` for each connection in a task of its own,
/// then waits (at most the grace period) for its sessions to end, and ends the rest. A
/// connection over its client's limits or over the session limit gets the matching refusal
/// (written without waiting) and is closed.
pub(crate) async fn accept_loop<S, F>(
    listener: TcpListener,
    options: &ServeOptions,
    refusals: Refusals,
    mut session: S,
) where
    S: FnMut(TcpStream, SocketAddr, SessionPermit) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let limit = options
        .session_limit
        .clone()
        .unwrap_or_else(|| SessionLimit::new(options.max_sessions));
    let clients = &options.client_limits;
    let lingering = Arc::new(Semaphore::new(LINGERING));
    let mut sessions = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = options.shutdown.triggered() => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of descriptors, say: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // The client's limits first: a client over them takes no slot from the others (and
        // one refused for want of a slot gets back what it spent of its rate).
        let client = match clients.admit(peer.ip(), limit.max, Instant::now()) {
            Ok(client) => client,
            Err(_) => {
                refuse(stream, refusals.client, &lingering);
                continue;
            }
        };
        match limit.slots.clone().try_acquire_owned() {
            Ok(slot) => {
                // Forget the sessions that ended, so the set stays as large as the live ones.
                while sessions.try_join_next().is_some() {}
                let permit = SessionPermit {
                    _slot: slot,
                    _client: client,
                };
                sessions.spawn(session(stream, peer, permit));
            }
            Err(_) => {
                limit.refused.fetch_add(1, Ordering::Relaxed);
                // Refused for the server's sake, not the client's: it keeps its rate.
                client.refund();
                refuse(stream, refusals.busy, &lingering);
            }
        }
    }
    // Sessions see the same signal and say goodbye; wait for them, within the grace period,
    // then end the ones still running (a handler stuck in a call, say): nothing outlives
    // `serve`.
    let ended = timeout(options.grace, async {
        while sessions.join_next().await.is_some() {}
    })
    .await;
    if ended.is_err() {
        sessions.abort_all();
        while sessions.join_next().await.is_some() {}
    }
}

/// Answers a refused connection and closes it, never waiting on the client: the refusal goes
/// out in one non-blocking write (a new connection's send buffer has room for a line), then
/// our side is shut. While few refused connections linger, this one reads what the client
/// still sends (at most [`LINGER_OCTETS`], for at most [`LINGER_TIME`]) before it closes, so
/// that the client's pipelined command does not turn the close into a reset that loses the
/// refusal; otherwise it is closed at once.
fn refuse(stream: TcpStream, refusal: &[u8], lingering: &Arc<Semaphore>) {
    let Ok(stream) = stream.into_std() else {
        return;
    };
    let _ = (&stream).write(refusal);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    let Ok(linger) = lingering.clone().try_acquire_owned() else {
        return;
    };
    let Ok(mut stream) = TcpStream::from_std(stream) else {
        return;
    };
    tokio::spawn(async move {
        let _linger = linger;
        let mut discard = [0u8; 512];
        let mut left = LINGER_OCTETS;
        let _ = timeout(LINGER_TIME, async {
            while left > 0 {
                match stream.read(&mut discard).await {
                    Ok(0) | Err(_) => break,
                    Ok(read) => left = left.saturating_sub(read),
                }
            }
        })
        .await;
    });
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

    use super::*;
    use crate::smtp::{Handler, ServerConfig, serve};
    use crate::{ClientLimits, Shutdown};

    struct Accepting;
    impl Handler for Accepting {}

    /// Connects and reads the first line; the connection stays open while the reader lives.
    async fn first_line(address: SocketAddr) -> (String, BufReader<TcpStream>) {
        let stream = TcpStream::connect(address).await.expect("connects");
        let mut lines = BufReader::new(stream);
        let mut line = String::new();
        lines.read_line(&mut line).await.expect("reads");
        (line, lines)
    }

    /// Connects from `from` (any loopback address on Linux) and reads the first line.
    async fn first_line_from(from: &str, address: SocketAddr) -> (String, BufReader<TcpStream>) {
        let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
        socket
            .bind(format!("{from}:0").parse().expect("an address"))
            .expect("binds");
        let stream = socket.connect(address).await.expect("connects");
        let mut lines = BufReader::new(stream);
        let mut line = String::new();
        lines.read_line(&mut line).await.expect("reads");
        (line, lines)
    }

    #[tokio::test]
    async fn a_client_over_its_limit_is_answered_421_4_7_0_and_another_client_is_served() {
        let limits = ClientLimits::new().max_sessions_per_client(2);
        let listener = TcpListener::bind("0.0.0.0:0").await.expect("binds");
        let port = listener.local_addr().expect("an address").port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let options = ServeOptions::new()
            .client_limits(limits.clone())
            .grace(Duration::from_secs(1));
        let shutdown = options.shutdown.clone();
        let server = tokio::spawn(serve(listener, ServerConfig::default(), options, |_| {
            Accepting
        }));
        let mut held = Vec::new();
        for _ in 0..2 {
            let (greeting, session) = first_line_from("127.0.0.1", address).await;
            assert!(greeting.starts_with("220 "), "{greeting}");
            held.push(session);
        }
        let (refusal, mut refused) = first_line_from("127.0.0.1", address).await;
        assert_eq!(
            refusal,
            "421 4.7.0 Too many connections from your address, try again later\r\n"
        );
        // Closed after the refusal.
        let mut rest = String::new();
        let read = timeout(Duration::from_secs(5), refused.read_line(&mut rest)).await;
        assert!(matches!(read, Ok(Ok(0))), "{read:?} {rest:?}");
        let (greeting, _other) = first_line_from("127.0.0.2", address).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        assert_eq!(limits.refused().sessions, 1);
        assert_eq!(limits.sessions_of([127, 0, 0, 1].into()), 2);
        shutdown.trigger();
        server.await.expect("serve ends");
    }

    #[tokio::test]
    async fn a_refused_client_that_already_sent_a_command_still_reads_the_refusal() {
        let limits = ClientLimits::new().connections_per_minute(1);
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
        let address = listener.local_addr().expect("an address");
        let options = ServeOptions::new()
            .client_limits(limits.clone())
            .grace(Duration::from_secs(1));
        let shutdown = options.shutdown.clone();
        let server = tokio::spawn(serve(listener, ServerConfig::default(), options, |_| {
            Accepting
        }));
        let (greeting, _first) = first_line(address).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        // The second within the minute: refused, though it speaks first (a pipelining
        // client): the close must not reset the refusal away.
        let mut stream = TcpStream::connect(address).await.expect("connects");
        stream
            .write_all(b"EHLO eager.example\r\n")
            .await
            .expect("writes");
        let mut all = Vec::new();
        let read = timeout(Duration::from_secs(5), stream.read_to_end(&mut all)).await;
        assert!(matches!(read, Ok(Ok(_))), "{read:?}");
        assert!(
            all.starts_with(b"421 4.7.0 "),
            "{:?}",
            String::from_utf8_lossy(&all)
        );
        assert_eq!(limits.refused().rate, 1);
        shutdown.trigger();
        server.await.expect("serve ends");
    }

    #[tokio::test]
    async fn listeners_sharing_a_limit_count_together() {
        let limit = SessionLimit::new(1);
        let shutdown = Shutdown::new();
        let mut addresses = Vec::new();
        let mut servers = Vec::new();
        for _ in 0..2 {
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
            addresses.push(listener.local_addr().expect("an address"));
            let options = ServeOptions::new()
                .session_limit(limit.clone())
                .shutdown(shutdown.clone())
                .grace(Duration::from_secs(1));
            servers.push(tokio::spawn(serve(
                listener,
                ServerConfig::default(),
                options,
                |_| Accepting,
            )));
        }
        let (greeting, _session) = first_line(addresses[0]).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        assert_eq!(limit.in_use(), 1);
        // The other listener is over the shared limit.
        let (refusal, _) = first_line(addresses[1]).await;
        assert!(refusal.starts_with("421 4.3.2 "), "{refusal}");
        assert_eq!(limit.refused(), 1);
        shutdown.trigger();
        for server in servers {
            server.await.expect("serve ends");
        }
    }

    #[tokio::test]
    async fn a_client_refused_because_the_server_is_full_keeps_its_rate() {
        let limits = ClientLimits::new().connections_per_minute(1);
        let listener = TcpListener::bind("0.0.0.0:0").await.expect("binds");
        let port = listener.local_addr().expect("an address").port();
        let address = SocketAddr::from(([127, 0, 0, 1], port));
        let options = ServeOptions::new()
            .session_limit(SessionLimit::new(1))
            .client_limits(limits.clone())
            .grace(Duration::from_secs(1));
        let shutdown = options.shutdown.clone();
        let server = tokio::spawn(serve(listener, ServerConfig::default(), options, |_| {
            Accepting
        }));
        let (greeting, holder) = first_line_from("127.0.0.1", address).await;
        assert!(greeting.starts_with("220 "), "{greeting}");
        // The server is full: 127.0.0.2 is told so, and its one connection a minute is kept.
        let (busy, _) = first_line_from("127.0.0.2", address).await;
        assert!(busy.starts_with("421 4.3.2 "), "{busy}");
        drop(holder);
        let mut greeting = String::new();
        for _ in 0..100 {
            let (line, _session) = first_line_from("127.0.0.2", address).await;
            greeting = line;
            if !greeting.starts_with("421 4.3.2 ") {
                break;
            }
            // The holder's session is still ending.
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(greeting.starts_with("220 "), "{greeting}");
        assert_eq!(limits.refused().rate, 0);
        shutdown.trigger();
        server.await.expect("serve ends");
    }
}
