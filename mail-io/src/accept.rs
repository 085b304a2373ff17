//! The accept loop both servers share: session limit, `TCP_NODELAY`, a polite refusal over the
//! limit, back-off when accepting fails, and shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio::time::timeout;

use crate::ServeOptions;

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
/// # let _ = (smtp, pop3);
/// ```
#[derive(Debug, Clone)]
pub struct SessionLimit {
    slots: Arc<Semaphore>,
    max: usize,
}

impl SessionLimit {
    /// At most `max` sessions at once (at least 1).
    pub fn new(max: usize) -> Self {
        let max = max.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            slots: Arc::new(Semaphore::new(max)),
            max,
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
}

/// Accepts until the shutdown, running `session` for each connection in a task of its own,
/// then waits (at most the grace period) for its sessions to end, and ends the rest. Over the
/// session limit a connection gets `refusal` (written within a second) and is closed.
pub(crate) async fn accept_loop<S, F>(
    listener: TcpListener,
    options: &ServeOptions,
    refusal: &'static [u8],
    mut session: S,
) where
    S: FnMut(TcpStream, SocketAddr, OwnedSemaphorePermit) -> F,
    F: Future<Output = ()> + Send + 'static,
{
    let slots = options
        .session_limit
        .clone()
        .unwrap_or_else(|| SessionLimit::new(options.max_sessions))
        .slots;
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
        match slots.clone().try_acquire_owned() {
            Ok(permit) => {
                // Forget the sessions that ended, so the set stays as large as the live ones.
                while sessions.try_join_next().is_some() {}
                sessions.spawn(session(stream, peer, permit));
            }
            Err(_) => {
                tokio::spawn(refuse(stream, refusal));
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

async fn refuse(mut stream: TcpStream, refusal: &'static [u8]) {
    let _ = timeout(Duration::from_secs(1), async {
        stream.write_all(refusal).await?;
        stream.shutdown().await
    })
    .await;
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncBufReadExt, BufReader};

    use super::*;
    use crate::Shutdown;
    use crate::smtp::{Handler, ServerConfig, serve};

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
        shutdown.trigger();
        for server in servers {
            server.await.expect("serve ends");
        }
    }
}
