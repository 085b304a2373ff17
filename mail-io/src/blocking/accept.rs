//! The accept loop of the blocking servers: one thread per connection, the limits per client and
//! for the listener with a polite refusal over them, `TCP_NODELAY`, back-off when accepting
//! fails, and shutdown.

use std::io::{self, Write};
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
            refuse(&stream, refusals.client);
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
                refuse(&stream, refusals.busy);
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
            Err(_) => refuse(&stream, refusals.busy),
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

/// Writes the refusal without waiting (a new socket's send buffer has room for a line) and
/// closes our side.
fn refuse(stream: &TcpStream, refusal: &[u8]) {
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write(refusal);
    let _ = stream.shutdown(std::net::Shutdown::Write);
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
