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

use crate::client_limits::ClientPermit;
use crate::refusals::Channel;
#[cfg(feature = "rustls")]
use crate::refusals::REFUSAL_HANDSHAKE_TIME;
pub(crate) use crate::refusals::Refusals;
use crate::{ServeOptions, Shutdown};

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

/// What a session holds while it runs: its slot under the session limit and its client's.
pub(crate) struct SessionPermit {
    _slot: OwnedSemaphorePermit,
    _client: ClientPermit,
}

/// Refused connections that may linger at once, reading what the client still sends so that
/// the close does not reset the connection (and with it the refusal) under its feet; on an
/// implicit TLS listener, refused connections whose TLS handshake (and refusal) may run at
/// once. Over it, a refused connection is closed at once: on an implicit TLS listener, without
/// a word (the only silent refusal: a flood of connections must not buy unbounded handshake
/// work).
const LINGERING: usize = 256;

/// How long a refused connection may linger, and how much it may read meanwhile.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_OCTETS: usize = 4096;

/// Accepts until the shutdown, running `session` for each connection in a task of its own,
/// then waits (at most the grace period) for its sessions to end, and ends the rest. A
/// connection over its client's limits or over the session limit gets the matching refusal
/// (written without waiting, or inside TLS by a task of its own: see [`refuse_in_tls`]) and
/// is closed. Refusals hold no session slot.
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
                refuse(
                    stream,
                    refusals.client,
                    &refusals.channel,
                    &lingering,
                    &options.shutdown,
                );
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
                refuse(
                    stream,
                    refusals.busy,
                    &refusals.channel,
                    &lingering,
                    &options.shutdown,
                );
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
///
/// Inside TLS, the refusal waits for the handshake: see [`refuse_in_tls`].
#[cfg_attr(not(feature = "rustls"), allow(unused_variables))]
fn refuse(
    stream: TcpStream,
    refusal: &'static [u8],
    channel: &Channel,
    lingering: &Arc<Semaphore>,
    shutdown: &Shutdown,
) {
    match channel {
        Channel::Plaintext => {}
        #[cfg(feature = "rustls")]
        Channel::Tls(tls) => {
            // Over the bound (or with a deadline beyond what the clock can tell), closed at
            // once: dropped.
            let until = tokio::time::Instant::now().checked_add(REFUSAL_HANDSHAKE_TIME);
            if let (Ok(linger), Some(until)) = (lingering.clone().try_acquire_owned(), until) {
                let config = tls.config().clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move {
                    let _linger = linger;
                    refuse_in_tls(stream, refusal, config, until, &shutdown).await;
                });
            }
            return;
        }
        Channel::Closed => return,
    }
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

/// Refuses a connection of an implicit TLS listener in TLS (RFC 8314 3.1, 3.3: from its
/// first octet, a connection there speaks TLS): the handshake with the listener's settings, by
/// `until` ([`REFUSAL_HANDSHAKE_TIME`] after the connection; a client that has not finished
/// it by then, or by the shutdown, is closed without a word), then the refusal as application
/// data and `close_notify` before the TCP close (RFC 8314 3.4), then the same lingering as in
/// plaintext (at most [`LINGER_OCTETS`] read and dropped, for at most [`LINGER_TIME`]) so
/// that the close does not reset the refusal away.
#[cfg(feature = "rustls")]
async fn refuse_in_tls(
    stream: TcpStream,
    refusal: &[u8],
    config: Arc<rustls::ServerConfig>,
    until: tokio::time::Instant,
    shutdown: &Shutdown,
) {
    use tokio::io::AsyncWriteExt;

    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    let handshake = tokio::time::timeout_at(until, acceptor.accept(stream));
    let mut secured = tokio::select! {
        secured = handshake => match secured {
            Ok(Ok(secured)) => secured,
            // Failed, or too late.
            Ok(Err(_)) | Err(_) => return,
        },
        () = shutdown.triggered() => return,
    };
    let _ = timeout(LINGER_TIME, async {
        // `shutdown` sends `close_notify`, then shuts our side of the TCP stream.
        if secured.write_all(refusal).await.is_err() || secured.shutdown().await.is_err() {
            return;
        }
        let mut discard = [0u8; 512];
        let mut left = LINGER_OCTETS;
        while left > 0 {
            match secured.read(&mut discard).await {
                Ok(0) | Err(_) => break,
                Ok(read) => left = left.saturating_sub(read),
            }
        }
    })
    .await;
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
        line_of(TcpStream::connect(address).await.expect("connects")).await
    }

    /// Reads the first line of `stream`.
    async fn line_of(stream: TcpStream) -> (String, BufReader<TcpStream>) {
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
        line_of(socket.connect(address).await.expect("connects")).await
    }

    /// An SMTP server with `options` (and a grace of 1 s) on all addresses, and its
    /// 127.0.0.1 address.
    async fn smtp_server(
        options: ServeOptions,
    ) -> (SocketAddr, Shutdown, tokio::task::JoinHandle<()>) {
        let listener = TcpListener::bind("0.0.0.0:0").await.expect("binds");
        let port = listener.local_addr().expect("an address").port();
        let options = options.grace(Duration::from_secs(1));
        let shutdown = options.shutdown.clone();
        let server = tokio::spawn(serve(listener, ServerConfig::default(), options, |_| {
            Accepting
        }));
        (SocketAddr::from(([127, 0, 0, 1], port)), shutdown, server)
    }

    #[tokio::test]
    async fn a_client_over_its_limit_is_answered_421_4_7_0_and_another_client_is_served() {
        let limits = ClientLimits::new().max_sessions_per_client(2);
        let (address, shutdown, server) =
            smtp_server(ServeOptions::new().client_limits(limits.clone())).await;
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
        let (address, shutdown, server) =
            smtp_server(ServeOptions::new().client_limits(limits.clone())).await;
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
        let (address, shutdown, server) = smtp_server(
            ServeOptions::new()
                .session_limit(SessionLimit::new(1))
                .client_limits(limits.clone()),
        )
        .await;
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

    /// Refusals on an implicit TLS listener, said inside TLS.
    #[cfg(feature = "rustls")]
    mod implicit_tls {
        use tokio_rustls::client::TlsStream;

        use super::*;
        use crate::tls::PrivateKeyDer;
        use crate::{TlsClient, TlsServer};

        /// The listener's settings with a new self-signed certificate, and a client that
        /// trusts it.
        fn certificate() -> (TlsServer, TlsClient) {
            let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
                .expect("a certificate");
            let certificate = made.cert.der().clone();
            let key = PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
            let server = TlsServer::from_der(vec![certificate.clone()], key).expect("settings");
            let client = TlsClient::trusting("localhost", vec![certificate]).expect("a client");
            (server, client)
        }

        /// Connects from `from` (any loopback address on Linux), without a word.
        async fn connect_from(from: &str, address: SocketAddr) -> TcpStream {
            let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
            socket
                .bind(format!("{from}:0").parse().expect("an address"))
                .expect("binds");
            socket.connect(address).await.expect("connects")
        }

        /// Connects from `from` and completes the TLS handshake (within 10 s).
        async fn secured_from(
            from: &str,
            address: SocketAddr,
            trust: &TlsClient,
        ) -> TlsStream<TcpStream> {
            let stream = connect_from(from, address).await;
            let connector = tokio_rustls::TlsConnector::from(trust.config().clone());
            timeout(
                Duration::from_secs(10),
                connector.connect(trust.server_name().clone(), stream),
            )
            .await
            .expect("the handshake in time")
            .expect("the handshake")
        }

        /// Connects from `from`, reads the first line inside TLS; the session stays open
        /// while the reader lives.
        async fn greeted_from(
            from: &str,
            address: SocketAddr,
            trust: &TlsClient,
        ) -> (String, BufReader<TlsStream<TcpStream>>) {
            let mut lines = BufReader::new(secured_from(from, address, trust).await);
            let mut line = String::new();
            timeout(Duration::from_secs(10), lines.read_line(&mut line))
                .await
                .expect("a line in time")
                .expect("reads");
            (line, lines)
        }

        /// Connects from `from` and reads all it is sent inside TLS, up to its end: the
        /// refusal, then `close_notify` (an end of the TCP stream without it is an error).
        async fn refused_from(from: &str, address: SocketAddr, trust: &TlsClient) -> String {
            let mut secured = secured_from(from, address, trust).await;
            let mut all = Vec::new();
            let read = timeout(Duration::from_secs(10), secured.read_to_end(&mut all))
                .await
                .expect("the end in time");
            assert!(read.is_ok(), "{read:?} {:?}", String::from_utf8_lossy(&all));
            String::from_utf8(all).expect("text")
        }

        /// How long, since `since`, until a connection that says nothing is closed (waits
        /// at most `limit`).
        async fn closed_after(stream: &mut TcpStream, since: Instant, limit: Duration) -> Duration {
            let mut discard = [0u8; 64];
            let read = timeout(limit, stream.read(&mut discard)).await;
            // Closed: the end of the stream (or a reset).
            assert!(matches!(read, Ok(Ok(0) | Err(_))), "{read:?}");
            since.elapsed()
        }

        /// An SMTP listener on implicit TLS with at most `max_sessions`, one session a client
        /// at most (the headroom of two), over all loopback addresses.
        fn smtp(
            tls: TlsServer,
            max_sessions: usize,
        ) -> (SocketAddr, Shutdown, tokio::task::JoinHandle<()>) {
            let (listener, address) = any_loopback();
            let options = ServeOptions::new()
                .implicit_tls(tls)
                .max_sessions(max_sessions)
                .client_limits(ClientLimits::new().max_sessions_per_client(1))
                .grace(Duration::from_secs(1));
            let shutdown = options.shutdown.clone();
            let server = tokio::spawn(serve(listener, ServerConfig::default(), options, |_| {
                Accepting
            }));
            (address, shutdown, server)
        }

        /// A listener on all addresses (made outside a runtime), and its 127.0.0.1 address.
        fn any_loopback() -> (TcpListener, SocketAddr) {
            let listener = std::net::TcpListener::bind("0.0.0.0:0").expect("binds");
            let port = listener.local_addr().expect("an address").port();
            listener.set_nonblocking(true).expect("non-blocking");
            let listener = TcpListener::from_std(listener).expect("a tokio listener");
            (listener, SocketAddr::from(([127, 0, 0, 1], port)))
        }

        /// Waits (5 s at most) for `server` to end.
        async fn ended(server: tokio::task::JoinHandle<()>) {
            timeout(Duration::from_secs(5), server)
                .await
                .expect("serve ends in time")
                .expect("serve ends");
        }

        #[tokio::test]
        async fn an_smtp_client_refused_on_implicit_tls_reads_421_inside_tls_then_the_end() {
            let (tls, trust) = certificate();
            let (address, shutdown, server) = smtp(tls, 2);
            let (greeting, _first) = greeted_from("127.0.0.1", address, &trust).await;
            assert!(greeting.starts_with("220 "), "{greeting}");
            // Over its own limit.
            let started = Instant::now();
            assert_eq!(
                refused_from("127.0.0.1", address, &trust).await,
                "421 4.7.0 Too many connections from your address, try again later\r\n"
            );
            println!("refused inside TLS in {:?}", started.elapsed());
            // Over the listener's.
            let (greeting, _second) = greeted_from("127.0.0.2", address, &trust).await;
            assert!(greeting.starts_with("220 "), "{greeting}");
            assert_eq!(
                refused_from("127.0.0.3", address, &trust).await,
                "421 4.3.2 Too many connections, try again later\r\n"
            );
            shutdown.trigger();
            ended(server).await;
        }

        use crate::test_support::Empty;

        #[tokio::test]
        async fn a_pop3_client_refused_on_implicit_tls_reads_err_sys_temp_inside_tls_then_the_end()
        {
            let (tls, trust) = certificate();
            let (listener, address) = any_loopback();
            let options = ServeOptions::new()
                .implicit_tls(tls)
                .max_sessions(2)
                .client_limits(ClientLimits::new().max_sessions_per_client(1))
                .grace(Duration::from_secs(1));
            let shutdown = options.shutdown.clone();
            let server = tokio::spawn(crate::pop3::serve(
                listener,
                crate::pop3::ServerConfig::default(),
                options,
                |_| Empty,
            ));
            let (greeting, _first) = greeted_from("127.0.0.1", address, &trust).await;
            assert!(greeting.starts_with("+OK"), "{greeting}");
            assert_eq!(
                refused_from("127.0.0.1", address, &trust).await,
                "-ERR [SYS/TEMP] too many connections from your address, try again later\r\n"
            );
            let (greeting, _second) = greeted_from("127.0.0.2", address, &trust).await;
            assert!(greeting.starts_with("+OK"), "{greeting}");
            assert_eq!(
                refused_from("127.0.0.3", address, &trust).await,
                "-ERR [SYS/TEMP] too many connections\r\n"
            );
            shutdown.trigger();
            ended(server).await;
        }

        #[tokio::test]
        async fn a_refused_client_without_a_client_hello_is_closed_at_the_handshake_deadline() {
            let (tls, trust) = certificate();
            let (address, shutdown, server) = smtp(tls, 2);
            let (_, _first) = greeted_from("127.0.0.1", address, &trust).await;
            let (_, _second) = greeted_from("127.0.0.2", address, &trust).await;
            // Over its own limit, and over the listener's: neither says a word.
            let connected = Instant::now();
            let mut over_its_own = connect_from("127.0.0.1", address).await;
            let mut busy = connect_from("127.0.0.3", address).await;
            let limit = REFUSAL_HANDSHAKE_TIME + Duration::from_secs(5);
            for stream in [&mut over_its_own, &mut busy] {
                let took = closed_after(stream, connected, limit).await;
                crate::refusals::assert_closed_at_the_handshake_deadline(took);
            }
            shutdown.trigger();
            ended(server).await;
        }

        #[tokio::test]
        async fn the_shutdown_ends_refusal_handshakes_at_once_and_does_not_wait_for_them() {
            let (tls, trust) = certificate();
            let (address, shutdown, server) = smtp(tls, 2);
            let (_, _first) = greeted_from("127.0.0.1", address, &trust).await;
            let mut silent = connect_from("127.0.0.1", address).await;
            // The refusal is under way (its handshake waits for the client).
            tokio::time::sleep(Duration::from_millis(200)).await;
            let triggered = Instant::now();
            shutdown.trigger();
            ended(server).await;
            let took = closed_after(&mut silent, triggered, REFUSAL_HANDSHAKE_TIME).await;
            println!("the shutdown closed a refusal handshake after {took:?}");
            assert!(took < REFUSAL_HANDSHAKE_TIME / 2, "{took:?}");
        }

        #[tokio::test]
        async fn over_the_bound_a_refused_client_is_closed_at_once_without_a_handshake() {
            let (tls, trust) = certificate();
            let (address, shutdown, server) = smtp(tls, 2);
            let (_, _first) = greeted_from("127.0.0.1", address, &trust).await;
            // As many refusal handshakes under way as the bound allows...
            let mut waiting = Vec::new();
            for _ in 0..LINGERING {
                waiting.push(connect_from("127.0.0.1", address).await);
            }
            // ...so the next refused client is closed at once.
            let connected = Instant::now();
            let mut over = connect_from("127.0.0.1", address).await;
            let took = closed_after(&mut over, connected, REFUSAL_HANDSHAKE_TIME / 2).await;
            println!("over the bound, closed after {took:?}");
            // Those under the bound still get their handshake.
            let mut bounded = waiting.pop().expect("a connection");
            let mut discard = [0u8; 1];
            let read = timeout(Duration::from_millis(200), bounded.read(&mut discard)).await;
            assert!(read.is_err(), "{read:?}");
            shutdown.trigger();
            ended(server).await;
        }
    }
}
