//! The accept loop of the blocking servers: one thread per connection, the limits per client and
//! for the listener with a polite refusal over them, `TCP_NODELAY`, back-off when accepting
//! fails, and shutdown.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant};

use super::refuse::{Lingering, refuse};
pub(crate) use crate::refusals::Refusals;
use crate::{ServeOptions, Shutdown};

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
    let mut lingering = Lingering::new(&options.shutdown);
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
            refuse(stream, refusals.client, &refusals.channel, &mut lingering);
            continue;
        };
        {
            let mut running = sessions
                .running
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if *running >= options.max_sessions {
                drop(running);
                // Refused for the server's sake, not the client's: it keeps its rate (as the
                // tokio accept loop).
                client.refund();
                refuse(stream, refusals.busy, &refusals.channel, &mut lingering);
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
            Err(_) => refuse(stream, refusals.busy, &refusals.channel, &mut lingering),
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

    use std::io::{Read, Write};
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::ClientLimits;
    use crate::blocking::refuse::LINGER_TIME;
    use crate::refusals::Channel;

    /// Plaintext refusals, busy and over the client's limits.
    fn plaintext(busy: &'static [u8], client: &'static [u8]) -> Refusals {
        Refusals {
            busy,
            client,
            channel: Channel::Plaintext,
        }
    }

    /// Serves with `options` (and a grace of 1 s) and a session that writes `greeting` and
    /// holds the connection until the client closes (10 s at most).
    fn holding(
        options: ServeOptions,
        refusals: Refusals,
        greeting: &'static [u8],
    ) -> (SocketAddr, Shutdown, std::thread::JoinHandle<()>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let options = options.grace(Duration::from_secs(1));
        let shutdown = options.shutdown.clone();
        let server = std::thread::spawn(move || {
            accept_loop(
                &listener,
                &options,
                "test-session",
                refusals,
                |stream, _| {
                    move || {
                        let _ = (&stream).write_all(greeting);
                        let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                        let _ = (&stream).read(&mut [0u8; 1]);
                    }
                },
            );
        });
        (address, shutdown, server)
    }

    /// The first read on `stream` (32 octets at most), as text.
    fn first_read(stream: &TcpStream) -> String {
        let mut line = [0u8; 32];
        let read = (&*stream).read(&mut line).unwrap();
        String::from_utf8_lossy(&line[..read]).into_owned()
    }

    #[test]
    fn a_client_over_its_limit_is_told_so_until_its_session_ends() {
        let (address, shutdown, server) = holding(
            ServeOptions::new().client_limits(ClientLimits::new().max_sessions_per_client(1)),
            plaintext(b"-ERR busy\r\n", b"-ERR you again\r\n"),
            b"+OK\r\n",
        );
        let greeting = first_read;
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
    fn a_client_refused_because_the_server_is_full_keeps_its_rate() {
        let limits = ClientLimits::new().connections_per_minute(2);
        let (address, shutdown, server) = holding(
            ServeOptions::new()
                .max_sessions(1)
                .client_limits(limits.clone()),
            plaintext(b"421 busy\r\n", b"421 4.7.0 you again\r\n"),
            b"220 hi\r\n",
        );
        let line = first_read;
        // Two connections a minute: the first holds the one slot, the second is refused for
        // the server's sake and gets its share of the rate back, so a third is still served.
        let holder = TcpStream::connect(address).unwrap();
        assert_eq!(line(&holder), "220 hi\r\n");
        let busy = TcpStream::connect(address).unwrap();
        assert_eq!(line(&busy), "421 busy\r\n");
        drop(holder);
        let mut third = String::new();
        for _ in 0..50 {
            third = line(&TcpStream::connect(address).unwrap());
            if third != "421 busy\r\n" {
                break;
            }
            // The holder's session is still ending (and got its rate back too).
            std::thread::sleep(Duration::from_millis(50));
        }
        assert_eq!(third, "220 hi\r\n");
        assert_eq!(limits.refused().rate, 0);
        shutdown.trigger();
        server.join().unwrap();
    }

    /// Serves with one connection a minute per client and a session that greets and holds
    /// the connection until the client closes.
    fn one_a_minute() -> (SocketAddr, Shutdown, std::thread::JoinHandle<()>) {
        holding(
            ServeOptions::new().client_limits(ClientLimits::new().connections_per_minute(1)),
            plaintext(b"421 busy\r\n", b"421 4.7.0 you again\r\n"),
            b"220 hi\r\n",
        )
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
                plaintext(b"-ERR busy\r\n", b"-ERR you again\r\n"),
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

    /// Refusals on an implicit TLS listener, said inside TLS.
    #[cfg(feature = "rustls")]
    mod implicit_tls {
        use std::io::Cursor;

        use rustls::{ClientConnection, StreamOwned};

        use super::*;
        use crate::blocking::pop3::{Login, Maildrop, MessageInfo, Refusal, Retrieve};
        use crate::blocking::pop3::{ServerConfig, serve};
        use crate::blocking::refuse::LINGERING;
        use crate::refusals::REFUSAL_HANDSHAKE_TIME;
        use crate::tls::PrivateKeyDer;
        use crate::{TlsClient, TlsServer};

        /// The listener's settings with a new self-signed certificate, and a client that
        /// trusts it.
        fn certificate() -> (TlsServer, TlsClient) {
            let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
            let certificate = made.cert.der().clone();
            let key = PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
            let server = TlsServer::from_der(vec![certificate.clone()], key).unwrap();
            let client = TlsClient::trusting("localhost", vec![certificate]).unwrap();
            (server, client)
        }

        /// A maildrop with nothing in it.
        struct Empty;

        impl Maildrop for Empty {
            type Message = Cursor<Vec<u8>>;

            fn login(&mut self, _: &Login) -> Result<Vec<MessageInfo>, Refusal> {
                Ok(Vec::new())
            }

            fn retrieve(&mut self, _: &Retrieve) -> Result<Self::Message, Refusal> {
                Err(Refusal::new("no such message"))
            }
        }

        /// A POP3 listener on implicit TLS with these options.
        fn pop3(
            tls: TlsServer,
            options: ServeOptions,
        ) -> (SocketAddr, Shutdown, std::thread::JoinHandle<()>) {
            let listener = TcpListener::bind("127.0.0.1:0").unwrap();
            let address = listener.local_addr().unwrap();
            let options = options.implicit_tls(tls).grace(Duration::from_secs(1));
            let shutdown = options.shutdown.clone();
            let server = std::thread::spawn(move || {
                serve(listener, ServerConfig::default(), options, |_| Empty).unwrap();
            });
            (address, shutdown, server)
        }

        /// Connects without a word; reads wait 10 s at most.
        fn connect(address: SocketAddr) -> TcpStream {
            let stream = TcpStream::connect(address).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            stream
                .set_write_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            stream
        }

        /// Connects and completes the TLS handshake.
        fn secured(
            address: SocketAddr,
            trust: &TlsClient,
        ) -> StreamOwned<ClientConnection, TcpStream> {
            let session =
                ClientConnection::new(trust.config().clone(), trust.server_name().clone()).unwrap();
            let mut secured = StreamOwned::new(session, connect(address));
            while secured.conn.is_handshaking() {
                secured.conn.complete_io(&mut secured.sock).unwrap();
            }
            secured
        }

        /// Connects and reads the first line inside TLS; the session lives as long as the
        /// stream.
        fn greeted(
            address: SocketAddr,
            trust: &TlsClient,
        ) -> (String, StreamOwned<ClientConnection, TcpStream>) {
            let mut secured = secured(address, trust);
            let mut line = Vec::new();
            let mut octet = [0u8; 1];
            while !line.ends_with(b"\r\n") && line.len() < 512 {
                secured.read_exact(&mut octet).unwrap();
                line.push(octet[0]);
            }
            (String::from_utf8(line).unwrap(), secured)
        }

        /// Connects and reads all it is sent inside TLS, up to its end: the refusal, then
        /// `close_notify` (an end of the TCP stream without it is an error).
        fn refused(address: SocketAddr, trust: &TlsClient) -> String {
            let mut secured = secured(address, trust);
            let mut all = Vec::new();
            let read = secured.read_to_end(&mut all);
            assert!(read.is_ok(), "{read:?} {:?}", String::from_utf8_lossy(&all));
            String::from_utf8(all).unwrap()
        }

        /// How long, since `since`, until a connection that says nothing is closed.
        fn closed_after(mut stream: &TcpStream, since: Instant) -> Duration {
            let read = stream.read(&mut [0u8; 64]);
            // Closed: the end of the stream (or a reset), not the read timeout.
            assert!(
                match &read {
                    Ok(read) => *read == 0,
                    Err(error) => !matches!(
                        error.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ),
                },
                "{read:?}"
            );
            since.elapsed()
        }

        #[test]
        fn a_pop3_client_over_its_limit_on_implicit_tls_reads_err_sys_temp_inside_tls_then_the_end()
        {
            let (tls, trust) = certificate();
            let options =
                ServeOptions::new().client_limits(ClientLimits::new().max_sessions_per_client(1));
            let (address, shutdown, server) = pop3(tls, options);
            let (greeting, first) = greeted(address, &trust);
            assert!(greeting.starts_with("+OK"), "{greeting}");
            let started = Instant::now();
            assert_eq!(
                refused(address, &trust),
                "-ERR [SYS/TEMP] too many connections from your address, try again later\r\n"
            );
            println!("refused inside TLS in {:?}", started.elapsed());
            drop(first);
            shutdown.trigger();
            server.join().unwrap();
        }

        #[test]
        fn a_pop3_connection_over_the_session_limit_on_implicit_tls_reads_err_sys_temp_inside_tls()
        {
            let (tls, trust) = certificate();
            let (address, shutdown, server) = pop3(tls, ServeOptions::new().max_sessions(1));
            let (greeting, first) = greeted(address, &trust);
            assert!(greeting.starts_with("+OK"), "{greeting}");
            assert_eq!(
                refused(address, &trust),
                "-ERR [SYS/TEMP] too many connections\r\n"
            );
            drop(first);
            shutdown.trigger();
            server.join().unwrap();
        }

        #[test]
        fn a_refused_client_without_a_client_hello_is_closed_at_the_handshake_deadline() {
            let (tls, trust) = certificate();
            let (address, shutdown, server) = pop3(tls, ServeOptions::new().max_sessions(1));
            let (_, first) = greeted(address, &trust);
            let connected = Instant::now();
            let silent = connect(address);
            let took = closed_after(&silent, connected);
            crate::refusals::assert_closed_at_the_handshake_deadline(took);
            drop(first);
            shutdown.trigger();
            server.join().unwrap();
        }

        #[test]
        fn the_shutdown_ends_refusal_handshakes_at_once_and_does_not_wait_for_them() {
            let (tls, trust) = certificate();
            let (address, shutdown, server) = pop3(tls, ServeOptions::new().max_sessions(1));
            let (_, first) = greeted(address, &trust);
            let silent = connect(address);
            // The refusal is under way (its handshake waits for the client).
            std::thread::sleep(Duration::from_millis(200));
            let triggered = Instant::now();
            shutdown.trigger();
            // `serve` waits for the session (it says goodbye), not for the refusal.
            server.join().unwrap();
            let took = closed_after(&silent, triggered);
            println!("the shutdown closed a refusal handshake after {took:?}");
            assert!(took < REFUSAL_HANDSHAKE_TIME / 2, "{took:?}");
            drop(first);
        }

        #[test]
        fn over_the_bound_a_refused_client_is_closed_at_once_without_a_handshake() {
            let (tls, trust) = certificate();
            let (address, shutdown, server) = pop3(tls, ServeOptions::new().max_sessions(1));
            let (_, first) = greeted(address, &trust);
            // As many refusal handshakes under way as the bound allows...
            let waiting: Vec<TcpStream> = (0..LINGERING).map(|_| connect(address)).collect();
            // ...so the next refused client is closed at once.
            let connected = Instant::now();
            let over = connect(address);
            let took = closed_after(&over, connected);
            println!("over the bound, closed after {took:?}");
            assert!(took < REFUSAL_HANDSHAKE_TIME / 2, "{took:?}");
            // Those under the bound still wait for their handshake.
            let mut last = waiting.last().unwrap();
            last.set_read_timeout(Some(Duration::from_millis(200)))
                .unwrap();
            let read = last.read(&mut [0u8; 1]);
            assert!(
                read.as_ref().is_err_and(|error| matches!(
                    error.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                )),
                "{read:?}"
            );
            drop(first);
            shutdown.trigger();
            server.join().unwrap();
        }
    }
}
