//! How the blocking accept loop refuses a connection: the refusal in plaintext at once, or
//! inside TLS on an implicit TLS listener, and the thread where refused connections linger
//! until the client has read it.

use std::io::{self, Read, Write};
use std::net::TcpStream;
#[cfg(feature = "rustls")]
use std::sync::Arc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::Shutdown;
use crate::refusals::Channel;
#[cfg(feature = "rustls")]
use crate::refusals::REFUSAL_HANDSHAKE_TIME;

/// Refused connections that may linger at once, reading what the client still sends so that
/// the close does not reset the connection (and with it the refusal) under its feet, or, on
/// an implicit TLS listener, going through the TLS handshake that carries their refusal; more
/// are closed at once (on an implicit TLS listener, without a word: the only silent refusal,
/// so that a flood of connections cannot buy unbounded handshake work). As the tokio accept
/// loop.
pub(super) const LINGERING: usize = 256;

/// How long a refused connection may linger, and how much it may read meanwhile.
pub(super) const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_OCTETS: usize = 4096;

/// How often the lingering connections are read while some are left.
const LINGER_POLL: Duration = Duration::from_millis(10);

/// How long the lingering thread waits for a connection while none lingers.
const LINGER_IDLE: Duration = Duration::from_millis(100);

/// Answers a refused connection and closes it, never waiting on the client: the refusal goes
/// out in one non-blocking write (a new connection's send buffer has room for a line), then
/// our side is shut. While few refused connections linger, this one is handed to the
/// lingering thread ([`Lingering`]), which reads what the client still sends before it
/// closes, so that the client's pipelined command does not turn the close into a reset that
/// loses the refusal; otherwise it is closed at once.
///
/// Inside TLS, the lingering thread runs the handshake first, then says the refusal: see
/// [`TlsRefusal`].
pub(super) fn refuse(
    stream: TcpStream,
    refusal: &'static [u8],
    channel: &Channel,
    lingering: &mut Lingering,
) {
    let accepted = Instant::now();
    let _ = stream.set_nonblocking(true);
    match channel {
        Channel::Plaintext => {
            let _ = (&stream).write(refusal);
            let _ = stream.shutdown(std::net::Shutdown::Write);
            lingering.hand_over(Refused {
                stream,
                accepted,
                #[cfg(feature = "rustls")]
                tls: None,
            });
        }
        #[cfg(feature = "rustls")]
        Channel::Tls(tls) => lingering.hand_over(Refused {
            stream,
            accepted,
            tls: Some((tls.config().clone(), refusal)),
        }),
        Channel::Closed => {}
    }
}

/// A refused connection, on its way to the lingering thread.
struct Refused {
    /// Non-blocking; in plaintext, the refusal written and our side shut.
    stream: TcpStream,
    /// When it was accepted: its deadlines count from then.
    accepted: Instant,
    /// Inside TLS: the listener's settings, and the refusal to say after the handshake.
    #[cfg(feature = "rustls")]
    tls: Option<(Arc<rustls::ServerConfig>, &'static [u8])>,
}

/// The refused connections that linger: one thread for a listener, started at its first
/// refusal, reads them all without blocking (at most [`LINGER_OCTETS`] each, for at most
/// [`LINGER_TIME`]), and closes each at its end of stream or its limit; on an implicit TLS
/// listener, it runs each one's handshake first (see [`TlsRefusal`]). At most [`LINGERING`]
/// at once: the others are closed at once. One thread also bounds the CPU that refusal
/// handshakes take to one core. The thread ends once the accept loop is over and its last
/// connection has been closed; the shutdown closes at once those still in their handshake.
pub(super) struct Lingering {
    /// To the thread; `None` before the first refusal, or when no thread could be started.
    to_thread: Option<mpsc::SyncSender<Refused>>,
    /// A thread could not be started: refused connections are closed at once.
    failed: bool,
    /// The listener's shutdown.
    shutdown: Shutdown,
}

impl Lingering {
    pub(super) fn new(shutdown: &Shutdown) -> Self {
        Self {
            to_thread: None,
            failed: false,
            shutdown: shutdown.clone(),
        }
    }

    /// Hands a refused connection over, or closes it at once.
    fn hand_over(&mut self, refused: Refused) {
        if self.to_thread.is_none() && !self.failed {
            let (to_thread, from_loop) = mpsc::sync_channel(LINGERING);
            let shutdown = self.shutdown.clone();
            let started = std::thread::Builder::new()
                .name("accept-linger".into())
                .spawn(move || linger(&from_loop, &shutdown));
            match started {
                Ok(_) => self.to_thread = Some(to_thread),
                Err(_) => self.failed = true,
            }
        }
        if let Some(to_thread) = &self.to_thread {
            // A full channel (the thread is busy with LINGERING already): closed at once.
            let _ = to_thread.try_send(refused);
        }
    }
}

/// A refused connection lingering: what it may still read, and until when.
struct Lingerer {
    stream: TcpStream,
    left: usize,
    /// The end of its lingering; while the TLS handshake runs, the end of the handshake.
    until: Instant,
    /// The TLS handshake and refusal under way (an implicit TLS listener); `None` once said.
    #[cfg(feature = "rustls")]
    tls: Option<Box<TlsRefusal>>,
}

impl Lingerer {
    /// Reads what has come, without blocking (and, inside TLS, answers it); whether to keep
    /// it open.
    fn drain(&mut self, now: Instant) -> bool {
        #[cfg(feature = "rustls")]
        if let Some(tls) = &mut self.tls {
            if now >= self.until {
                return false;
            }
            match tls.advance(&self.stream) {
                Progress::Waiting => return true,
                Progress::Failed => return false,
                Progress::Said => {
                    // `close_notify` is out: our side is shut, and the connection lingers as
                    // in plaintext.
                    self.tls = None;
                    let _ = self.stream.shutdown(std::net::Shutdown::Write);
                    let Some(until) = now.checked_add(LINGER_TIME) else {
                        return false;
                    };
                    self.until = until;
                }
            }
        }
        let mut discard = [0u8; 512];
        while self.left > 0 && now < self.until {
            match (&self.stream).read(&mut discard) {
                Ok(0) => return false,
                Ok(read) => self.left = self.left.saturating_sub(read),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => return true,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
        false
    }

    /// Whether its TLS handshake (or the refusal after it) is still under way.
    fn in_tls(&self) -> bool {
        #[cfg(feature = "rustls")]
        return self.tls.is_some();
        #[cfg(not(feature = "rustls"))]
        false
    }
}

/// The lingering thread's loop (see [`Lingering`]).
fn linger(from_loop: &mpsc::Receiver<Refused>, shutdown: &Shutdown) {
    let mut open: Vec<Lingerer> = Vec::new();
    let mut loop_over = false;
    loop {
        // Waits for the first connection; polls while some linger.
        let wait = if open.is_empty() {
            LINGER_IDLE
        } else {
            LINGER_POLL
        };
        match from_loop.recv_timeout(wait) {
            Ok(refused) => add(&mut open, refused),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => loop_over = true,
        }
        while let Ok(refused) = from_loop.try_recv() {
            add(&mut open, refused);
        }
        if shutdown.is_triggered() {
            // The clients still in their handshake hear nothing more.
            open.retain(|lingerer| !lingerer.in_tls());
        }
        let now = Instant::now();
        open.retain_mut(|lingerer| lingerer.drain(now));
        if loop_over && open.is_empty() {
            return;
        }
        if loop_over {
            std::thread::sleep(LINGER_POLL);
        }
    }
}

/// Adds a connection to linger, or closes it at once when [`LINGERING`] already do (or when
/// its deadline lies beyond what the clock can tell).
fn add(open: &mut Vec<Lingerer>, refused: Refused) {
    if open.len() >= LINGERING {
        return;
    }
    #[cfg(feature = "rustls")]
    if let Some((config, refusal)) = refused.tls {
        let Ok(session) = rustls::ServerConnection::new(config) else {
            return;
        };
        let Some(until) = refused.accepted.checked_add(REFUSAL_HANDSHAKE_TIME) else {
            return;
        };
        open.push(Lingerer {
            stream: refused.stream,
            left: LINGER_OCTETS,
            until,
            tls: Some(Box::new(TlsRefusal {
                session,
                refusal,
                said: false,
            })),
        });
        return;
    }
    let Some(until) = refused.accepted.checked_add(LINGER_TIME) else {
        return;
    };
    open.push(Lingerer {
        stream: refused.stream,
        left: LINGER_OCTETS,
        until,
        #[cfg(feature = "rustls")]
        tls: None,
    });
}

/// Lots of records read from one refused connection at each poll, at most: one client cannot
/// keep the lingering thread to itself.
#[cfg(feature = "rustls")]
const TLS_READS_A_POLL: usize = 8;

/// A refusal inside TLS (an implicit TLS listener, RFC 8314 3.1, 3.3), driven without
/// blocking by the lingering thread: the handshake with the listener's settings, then the
/// refusal as application data and `close_notify` (RFC 8314 3.4). The handshake must be over
/// [`REFUSAL_HANDSHAKE_TIME`] after the connection, or the connection is closed without a
/// word.
#[cfg(feature = "rustls")]
struct TlsRefusal {
    session: rustls::ServerConnection,
    refusal: &'static [u8],
    /// The refusal and `close_notify` are in rustls's hands.
    said: bool,
}

/// How far a [`TlsRefusal`] got.
#[cfg(feature = "rustls")]
enum Progress {
    /// For the client (its records, or room in the socket's send buffer).
    Waiting,
    /// The refusal and `close_notify` are sent.
    Said,
    /// The handshake failed, or the connection did: close it.
    Failed,
}

#[cfg(feature = "rustls")]
impl TlsRefusal {
    /// Sends what rustls has to send, reads what the client sent, without blocking.
    fn advance(&mut self, stream: &TcpStream) -> Progress {
        let mut socket = stream;
        let mut reads = 0;
        loop {
            while self.session.wants_write() {
                match self.session.write_tls(&mut socket) {
                    Ok(0) => return Progress::Failed,
                    Ok(_) => {}
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                        return Progress::Waiting;
                    }
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Progress::Failed,
                }
            }
            if !self.session.is_handshaking() {
                if self.said {
                    return Progress::Said;
                }
                if self.session.writer().write_all(self.refusal).is_err() {
                    return Progress::Failed;
                }
                self.session.send_close_notify();
                self.said = true;
                continue;
            }
            if reads == TLS_READS_A_POLL {
                return Progress::Waiting;
            }
            reads += 1;
            match self.session.read_tls(&mut socket) {
                // The end of the stream in the middle of the handshake.
                Ok(0) => return Progress::Failed,
                Ok(_) => {
                    if self.session.process_new_packets().is_err() {
                        // The alert rustls queued tells the client why, if it listens.
                        let _ = self.session.write_tls(&mut socket);
                        return Progress::Failed;
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    return Progress::Waiting;
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Progress::Failed,
            }
        }
    }
}
