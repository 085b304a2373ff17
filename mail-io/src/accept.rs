//! The accept loop both servers share: session limit, `TCP_NODELAY`, a polite refusal over the
//! limit, back-off when accepting fails, and shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::timeout;

#[cfg(feature = "rustls")]
use crate::TlsServer;
use crate::{IoConfig, Shutdown};

/// How a server listens: limits, TLS, shutdown. Shared by the SMTP and POP3 servers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServeOptions {
    /// Sessions at once on this listener; one more is told "too busy" and closed: 1024.
    pub max_sessions: usize,
    /// The driver's limits for every connection.
    pub io: IoConfig,
    /// Ends the accept loop and every session politely once triggered.
    pub shutdown: Shutdown,
    /// TLS for STARTTLS / STLS (and for implicit TLS with `implicit_tls`).
    #[cfg(feature = "rustls")]
    pub tls: Option<TlsServer>,
    /// Start every connection with the TLS handshake (ports 465 and 995, RFC 8314).
    pub implicit_tls: bool,
    /// How long [`serve`](crate::smtp::serve) waits for sessions to say goodbye after the
    /// shutdown: 10 seconds.
    pub grace: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        Self {
            max_sessions: 1024,
            io: IoConfig::default(),
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

/// Accepts until the shutdown, running `session` for each connection in a task of its own,
/// then waits (at most the grace period) for the sessions to end. Over the session limit a
/// connection gets `refusal` (written within a second) and is closed.
pub(crate) async fn accept_loop<S, F>(
    listener: TcpListener,
    options: &ServeOptions,
    refusal: &'static [u8],
    mut session: S,
) where
    S: FnMut(TcpStream, SocketAddr, OwnedSemaphorePermit) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let slots = Arc::new(Semaphore::new(options.max_sessions));
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
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                tokio::spawn(session(stream, peer, permit));
            }
            Err(_) => {
                tokio::spawn(refuse(stream, refusal));
            }
        }
    }
    // Sessions see the same signal and say goodbye; wait for them, within the grace period.
    let all = u32::try_from(options.max_sessions).unwrap_or(u32::MAX);
    let _ = timeout(options.grace, slots.acquire_many(all)).await;
}

async fn refuse(mut stream: TcpStream, refusal: &'static [u8]) {
    let _ = timeout(Duration::from_secs(1), async {
        stream.write_all(refusal).await?;
        stream.shutdown().await
    })
    .await;
}
