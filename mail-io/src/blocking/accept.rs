//! The accept loop of the blocking servers: one thread per connection, the limits per client and
//! for the listener with a polite refusal over them, `TCP_NODELAY`, back-off when accepting
//! fails, and shutdown.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use crate::{ServeOptions, Shutdown};

/// What a listener says before it closes a connection it refuses (empty on an implicit TLS
/// listener: plaintext there would only garble the client's handshake).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refusals {
    /// Over the listener's session limit, or when no thread can be started.
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

/// How often the watcher looks at the shutdown signal while `accept` blocks.
const WATCH: Duration = Duration::from_millis(100);

/// Refused connections that may linger at once, reading what the client still sends so that
/// the close does not reset the connection (and with it the refusal) under its feet; more are
/// closed at once. As the tokio accept loop.
const LINGERING: usize = 256;

/// How long a refused connection may linger, and how much it may read meanwhile.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_OCTETS: usize = 4096;

/// How often the lingering connections are read while some are left.
const LINGER_POLL: Duration = Duration::from_millis(10);

/// Sessions running, and the signal that one ended.
#[derive(Default)]
struct Sessions {
    running: Mutex<usize>,
    ended: Condvar,
}

/// Frees a session's slot when its thread ends, however it ends (a panic too).
struct Slot(Arc<Sessions>);

impl Drop for Slot {
    fn drop(&mut self) {
        let mut running = self
            .0
            .running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *running = running.saturating_sub(1);
        self.0.ended.notify_all();
    }
}

/// Accepts until the shutdown, running `session` for each connection in a thread of its own
/// (named `name`), then waits (at most the grace period) for the sessions to end. Over its
/// client's limits a connection gets `refusals.client`; over the session limit, or when no
/// thread can be started, `refusals.busy`; then it is closed.
///
/// `session` runs in the accepting thread (it makes the connection's handler) only once the
/// connection's thread is up: a connection refused for want of a thread has no handler, so no
/// handler is ever dropped without hearing of its end.
pub(crate) fn accept_loop<F, R>(
    listener: &TcpListener,
    options: &ServeOptions,
    name: &str,
    refusals: Refusals,
    session: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> R,
    R: FnOnce() + Send + 'static,
{
    accept_loop_with(listener, options, refusals, session, |job| {
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(job)
            .map(drop)
    });
}

/// A session's thread, to be started.
type Job = Box<dyn FnOnce() + Send>;

/// [`accept_loop`] with the way threads are started (`spawn`), which may fail.
fn accept_loop_with<F, R, T>(
    listener: &TcpListener,
    options: &ServeOptions,
    refusals: Refusals,
    mut session: F,
    mut spawn: T,
) where
    F: FnMut(TcpStream, SocketAddr) -> R,
    R: FnOnce() + Send + 'static,
    T: FnMut(Job) -> io::Result<()>,
{
    let sessions = Arc::new(Sessions::default());
    let mut lingering = Lingering::default();
    let done = Arc::new(AtomicBool::new(false));
    let watcher = wake_on_shutdown(listener, &options.shutdown, &done);
    while !options.shutdown.is_triggered() {
        let (stream, peer) = match listener.accept() {
            Ok(accepted) => accepted,
            Err(_) => {
                // Out of descriptors, say: back off instead of spinning.
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
        };
        if options.shutdown.is_triggered() {
            // The watcher's wake-up call, or a client just too late.
            break;
        }
        let _ = stream.set_nodelay(true);
        // The client's limits first: a client over them takes no slot from the others.
        let Ok(client) =
            options
                .client_limits
                .admit(peer.ip(), options.max_sessions, Instant::now())
        else {
            refuse(stream, refusals.client, &mut lingering);
            continue;
        };
        {
            let mut running = sessions
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if *running >= options.max_sessions {
                drop(running);
                drop(client);
                refuse(stream, refusals.busy, &mut lingering);
                continue;
            }
            *running += 1;
        }
        let slot = Slot(sessions.clone());
        // The thread first, then the session (and its handler), handed over to it.
        let (hand_over, handed) = mpsc::sync_channel::<R>(1);
        let spawned = spawn(Box::new(move || {
            let _slot = slot;
            let _client = client;
            // Nothing comes if making the session failed (it panicked): the slot is freed.
            if let Ok(run) = handed.recv() {
                run();
            }
        }));
        match spawned {
            Ok(()) => {
                let _ = hand_over.send(session(stream, peer));
            }
            // The closure (and the slot in it) is gone with the error; no handler was made:
            // refuse politely.
            Err(_) => refuse(stream, refusals.busy, &mut lingering),
        }
    }
    done.store(true, Ordering::SeqCst);
    if let Some(watcher) = watcher {
        let _ = watcher.join();
    }
    // Sessions see the same signal and say goodbye; wait for them, within the grace period
    // (with no end if it lies beyond what the clock can tell).
    let until = Instant::now().checked_add(options.grace);
    let mut running = sessions
        .running
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    while *running > 0 {
        let left = match until {
            Some(until) => until.checked_duration_since(Instant::now()),
            None => Some(options.grace),
        };
        let Some(left) = left else {
            break;
        };
        running = match sessions.ended.wait_timeout(running, left) {
            Ok((running, _)) => running,
            Err(poisoned) => poisoned.into_inner().0,
        };
    }
}

/// Answers a refused connection and closes it, never waiting on the client: the refusal goes
/// out in one non-blocking write (a new connection's send buffer has room for a line), then
/// our side is shut. While few refused connections linger, this one is handed to the
/// lingering thread ([`Lingering`]), which reads what the client still sends before it
/// closes, so that the client's pipelined command does not turn the close into a reset that
/// loses the refusal; otherwise it is closed at once.
fn refuse(stream: TcpStream, refusal: &[u8], lingering: &mut Lingering) {
    let _ = stream.set_nonblocking(true);
    let _ = (&stream).write(refusal);
    let _ = stream.shutdown(std::net::Shutdown::Write);
    lingering.hand_over(stream);
}

/// The refused connections that linger: one thread for a listener, started at its first
/// refusal, reads them all without blocking (at most [`LINGER_OCTETS`] each, for at most
/// [`LINGER_TIME`]), and closes each at its end of stream or its limit. At most [`LINGERING`]
/// at once: the others are closed at once. The thread ends once the accept loop is over and
/// its last connection has been closed.
#[derive(Default)]
struct Lingering {
    /// To the thread; `None` before the first refusal, or when no thread could be started.
    to_thread: Option<mpsc::SyncSender<TcpStream>>,
    /// A thread could not be started: refused connections are closed at once.
    failed: bool,
}

impl Lingering {
    /// Hands a refused connection (non-blocking, its side shut) over, or closes it at once.
    fn hand_over(&mut self, stream: TcpStream) {
        if self.to_thread.is_none() && !self.failed {
            let (to_thread, from_loop) = mpsc::sync_channel(LINGERING);
            let started = std::thread::Builder::new()
                .name("accept-linger".into())
                .spawn(move || linger(&from_loop));
            match started {
                Ok(_) => self.to_thread = Some(to_thread),
                Err(_) => self.failed = true,
            }
        }
        if let Some(to_thread) = &self.to_thread {
            // A full channel (the thread is busy with LINGERING already): closed at once.
            let _ = to_thread.try_send(stream);
        }
    }
}

/// A refused connection lingering: what it may still read, and until when.
struct Lingerer {
    stream: TcpStream,
    left: usize,
    until: Instant,
}

impl Lingerer {
    /// Reads what has come, without blocking; whether to keep it open.
    fn drain(&mut self, now: Instant) -> bool {
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
}

/// The lingering thread's loop (see [`Lingering`]).
fn linger(from_loop: &mpsc::Receiver<TcpStream>) {
    let mut open: Vec<Lingerer> = Vec::new();
    let mut loop_over = false;
    loop {
        // Waits for the first connection; polls while some linger.
        let wait = if open.is_empty() { WATCH } else { LINGER_POLL };
        match from_loop.recv_timeout(wait) {
            Ok(stream) => add(&mut open, stream),
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => loop_over = true,
        }
        while let Ok(stream) = from_loop.try_recv() {
            add(&mut open, stream);
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

/// Adds a connection to linger, or closes it at once when [`LINGERING`] already do.
fn add(open: &mut Vec<Lingerer>, stream: TcpStream) {
    if open.len() < LINGERING {
        open.push(Lingerer {
            stream,
            left: LINGER_OCTETS,
            // Beyond what the clock can tell: no lingering.
            until: Instant::now()
                .checked_add(LINGER_TIME)
                .unwrap_or_else(Instant::now),
        });
    }
}

/// A thread that, once the shutdown is triggered, connects to the listener so that its
/// blocking `accept` returns and sees the signal. `None` if the listener has no address or the
/// thread cannot start (the loop then stops at its next connection).
fn wake_on_shutdown(
    listener: &TcpListener,
    shutdown: &Shutdown,
    done: &Arc<AtomicBool>,
) -> Option<std::thread::JoinHandle<()>> {
    let mut address = listener.local_addr().ok()?;
    if address.ip().is_unspecified() {
        let loopback = match address.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        };
        address.set_ip(loopback);
    }
    let shutdown = shutdown.clone();
    let done = done.clone();
    std::thread::Builder::new()
        .name("accept-watch".into())
        .spawn(move || {
            while !done.load(Ordering::SeqCst) {
                if shutdown.is_triggered() {
                    let _ = TcpStream::connect_timeout(&address, Duration::from_secs(1));
                    return;
                }
                std::thread::sleep(WATCH);
            }
        })
        .ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::io::Read;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::ClientLimits;

    #[test]
    fn a_client_over_its_limit_is_told_so_until_its_session_ends() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let options = ServeOptions::new()
            .client_limits(ClientLimits::new().max_sessions_per_client(1))
            .grace(Duration::from_secs(1));
        let shutdown = options.shutdown.clone();
        let server = std::thread::spawn(move || {
            accept_loop(
                &listener,
                &options,
                "test-session",
                Refusals {
                    busy: b"-ERR busy\r\n",
                    client: b"-ERR you again\r\n",
                },
                |stream, _| {
                    move || {
                        // Greets, then holds the session until the client closes.
                        let _ = (&stream).write_all(b"+OK\r\n");
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        let _ = (&stream).read(&mut [0u8; 1]);
                    }
                },
            );
        });
        let greeting = |stream: &TcpStream| {
            let mut line = [0u8; 16];
            let read = (&*stream).read(&mut line).unwrap();
            String::from_utf8_lossy(&line[..read]).into_owned()
        };
        let first = TcpStream::connect(address).unwrap();
        assert_eq!(greeting(&first), "+OK\r\n");
        let second = TcpStream::connect(address).unwrap();
        assert_eq!(greeting(&second), "-ERR you again\r\n");
        // Once its session has ended, the client is served again.
        drop(first);
        let served = (0..50).any(|_| {
            let again = TcpStream::connect(address).unwrap();
            if greeting(&again) == "+OK\r\n" {
                return true;
            }
            std::thread::sleep(Duration::from_millis(100));
            false
        });
        assert!(served);
        shutdown.trigger();
        server.join().unwrap();
    }

    /// Serves with one connection a minute per client and a session that greets and holds
    /// the connection until the client closes.
    fn one_a_minute() -> (SocketAddr, Shutdown, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let options = ServeOptions::new()
            .client_limits(ClientLimits::new().connections_per_minute(1))
            .grace(Duration::from_secs(1));
        let shutdown = options.shutdown.clone();
        let server = std::thread::spawn(move || {
            accept_loop(
                &listener,
                &options,
                "test-session",
                Refusals {
                    busy: b"421 busy\r\n",
                    client: b"421 4.7.0 you again\r\n",
                },
                |stream, _| {
                    move || {
                        let _ = (&stream).write_all(b"220 hi\r\n");
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        let _ = (&stream).read(&mut [0u8; 1]);
                    }
                },
            );
        });
        (address, shutdown, server)
    }

    #[test]
    fn a_refused_client_that_already_sent_a_command_still_reads_the_refusal() {
        let (address, shutdown, server) = one_a_minute();
        let first = TcpStream::connect(address).unwrap();
        let mut greeting = [0u8; 8];
        (&first).read_exact(&mut greeting).unwrap();
        assert_eq!(&greeting, b"220 hi\r\n");
        // Refused, though they speak first (pipelining clients): the close must not reset
        // the refusal away. Several, so that a lucky timing does not hide a reset.
        for _ in 0..5 {
            let mut stream = TcpStream::connect(address).unwrap();
            stream.write_all(b"EHLO eager.example\r\n").unwrap();
            // More of the pipeline, as the refusal and the close are on their way.
            std::thread::sleep(Duration::from_millis(20));
            let _ = stream.write_all(&b"NOOP\r\n".repeat(100));
            std::thread::sleep(Duration::from_millis(20));
            stream
                .set_read_timeout(Some(Duration::from_secs(5)))
                .unwrap();
            let mut all = Vec::new();
            let read = stream.read_to_end(&mut all);
            assert!(read.is_ok(), "{read:?}");
            assert_eq!(all, b"421 4.7.0 you again\r\n");
        }
        drop(first);
        shutdown.trigger();
        server.join().unwrap();
    }

    #[test]
    fn a_refused_client_that_keeps_talking_is_closed_after_the_linger_time() {
        let (address, shutdown, server) = one_a_minute();
        let first = TcpStream::connect(address).unwrap();
        let mut stream = TcpStream::connect(address).unwrap();
        let mut refusal = [0u8; 21];
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.read_exact(&mut refusal).unwrap();
        assert_eq!(&refusal, b"421 4.7.0 you again\r\n");
        // A line every 50 ms: read and dropped while the connection lingers (about the linger
        // time), then met by a reset once it is closed (a write fails).
        let started = Instant::now();
        let cut = (0..200).find(|_| {
            std::thread::sleep(Duration::from_millis(50));
            stream.write_all(b"NOOP\r\n").is_err()
        });
        let took = started.elapsed();
        assert!(cut.is_some(), "still open after {took:?}");
        // Not at once (no reset that could take the refusal with it: what the client sends
        // is read), and not for ever.
        assert!(took >= LINGER_TIME / 2, "reset after {took:?}");
        assert!(took < LINGER_TIME * 2, "{took:?}");
        println!("a refused connection lingered {took:?}");
        drop(first);
        shutdown.trigger();
        server.join().unwrap();
    }

    #[test]
    fn a_connection_without_a_thread_is_refused_and_no_handler_is_left_behind() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let options = ServeOptions::new().max_sessions(1);
        let shutdown = options.shutdown.clone();
        // Handlers made, and handlers that heard of their end (a session run, here).
        let made = Arc::new(AtomicUsize::new(0));
        let ended = Arc::new(AtomicUsize::new(0));
        let (made_by_loop, ended_by_loop) = (made.clone(), ended.clone());
        let server = std::thread::spawn(move || {
            let mut spawns = 0;
            accept_loop_with(
                &listener,
                &options,
                Refusals {
                    busy: b"-ERR busy\r\n",
                    client: b"-ERR you again\r\n",
                },
                move |stream, _| {
                    made_by_loop.fetch_add(1, Ordering::SeqCst);
                    let ended = ended_by_loop.clone();
                    move || {
                        let _ = (&stream).write_all(b"+OK\r\n");
                        ended.fetch_add(1, Ordering::SeqCst);
                    }
                },
                // The first thread cannot be started; the others can.
                move |job| {
                    spawns += 1;
                    if spawns == 1 {
                        return Err(io::Error::other("no more threads"));
                    }
                    std::thread::Builder::new().spawn(job).map(drop)
                },
            );
        });
        let mut first = String::new();
        TcpStream::connect(address)
            .unwrap()
            .read_to_string(&mut first)
            .unwrap();
        assert_eq!(first, "-ERR busy\r\n");
        assert_eq!(made.load(Ordering::SeqCst), 0);
        // Its slot was freed: with one session at most, the next connection is served.
        let mut second = String::new();
        TcpStream::connect(address)
            .unwrap()
            .read_to_string(&mut second)
            .unwrap();
        assert_eq!(second, "+OK\r\n");
        shutdown.trigger();
        server.join().unwrap();
        assert_eq!(made.load(Ordering::SeqCst), 1);
        assert_eq!(ended.load(Ordering::SeqCst), 1);
    }
}
