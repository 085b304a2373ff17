//! The blocking driver: one [`Connection`] runs any of the four machines over a [`Transport`],
//! in the calling thread.

use std::collections::VecDeque;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use mail_wire::machine::{Machine, Output};

use super::transport::{Socket, Stream, Transport, deadline, timed_out};
use crate::closing::{CloseNotice, Step};
use crate::deadline::Deadlines;
use crate::{Error, IoConfig, Shutdown};
#[cfg(feature = "rustls")]
use crate::{TlsClient, TlsServer};

/// How long one wait lasts at most while a [`Shutdown`] is watched: the signal is seen within
/// this (a blocking read cannot wait for two things at once).
const SHUTDOWN_POLL: Duration = Duration::from_millis(250);

/// Octets an idle read takes at most on a transport that cannot wait without reading.
const IDLE_READ: usize = 1024;

/// How long a read that must not wait may wait all the same (the shortest bound a socket
/// takes): only a read that filled its buffer is followed by one.
const NO_WAIT: Duration = Duration::from_millis(1);

/// The TLS side this connection takes when its machine asks for TLS.
#[derive(Debug, Clone, Default)]
enum TlsRole {
    #[default]
    None,
    #[cfg(feature = "rustls")]
    Client(TlsClient),
    #[cfg(feature = "rustls")]
    Server(TlsServer),
}

/// What a server driver calls once TLS is up, to give its machine the client certificate's
/// identity (for SASL EXTERNAL) and the channel binding data (for SCRAM-SHA-256-PLUS).
type TlsHook<M> = fn(&mut M, Option<String>, Option<mail_wire::sasl::ChannelBinding>);

/// A machine running over a connection, in the calling thread: the blocking twin of the tokio
/// [`Connection`](crate::Connection), with the same methods and the same guarantees, for
/// thread-per-connection programs.
///
/// [`next_event`](Self::next_event) feeds the machine what arrives, sends what it says, runs
/// the TLS handshake where it asks for one, keeps every timer, and returns each event. Between
/// events the machine is yours ([`machine_mut`](Self::machine_mut)): answer a decision, make a
/// request, send a body chunk; the next call to `next_event` (or [`send`](Self::send)) carries
/// on.
///
/// - **One write per drain.** Everything the machine transmits is gathered and written at once
///   (at most [`IoConfig::write_buffer`] octets wait) and flushed before the driver waits for
///   input, so a peer that waits for each answer never waits for Nagle's algorithm; sockets
///   this module connects or accepts have `TCP_NODELAY`.
/// - **Every wait bounded, by deadlines.** Reads by the machine's
///   [`timeout`](Machine::timeout), counted from the start of the phase it times (the timer
///   starts again only when [`timer_epoch`](Machine::timer_epoch) or the timeout changes,
///   never because octets arrived), and by [`IoConfig::session_timeout`] for the whole
///   session (their expiry is handed to [`handle_timeout`](Machine::handle_timeout) and
///   [`handle_session_timeout`](Machine::handle_session_timeout));
///   writes by [`IoConfig::write_timeout`], TLS handshakes by
///   [`IoConfig::handshake_timeout`]. The socket's timeouts are set from the time left before
///   each wait, so a peer that trickles one octet at a time cannot stretch a command, a
///   handshake or a write.
/// - **No input lost.** Octets the machine did not take are kept and offered again, first;
///   while more than [`IoConfig::max_unread`] wait, nothing more is read.
/// - **Idle is cheap.** Between bursts the read and write buffers are given back; a TCP
///   connection waiting for its peer holds no buffer of the driver's (it waits with a
///   one-octet peek into the stack), under TLS too, other transports a 1 KiB one. What
///   remains is the machine's state and, under TLS, rustls's
///   ([`buffer_capacity`](Self::buffer_capacity) tells what the driver holds).
/// - **Broken connections.** When a write fails because the peer went away, what the peer
///   sent last (a 421, say) still reaches the machine, and its events come before the error.
/// - **The end of the stream is told once.** After it the driver never reads again: it waits
///   only for the machine's timer and the shutdown; a machine that has neither and stays open
///   is closed.
/// - **Shutdown.** With [`with_shutdown`](Self::with_shutdown), a triggered [`Shutdown`] makes
///   the machine say goodbye (SMTP 421, POP3 `-ERR`, client QUIT) and close; each wait is cut
///   into slices of at most 250 ms to look at the signal.
///
/// ```
/// use std::io::{BufRead, BufReader, Read, Write};
/// use std::net::{TcpListener, TcpStream};
///
/// use mail_io::blocking::Connection;
/// use smtp_proto::server::{Answer, Event, Server, ServerConfig};
///
/// let listener = TcpListener::bind("127.0.0.1:0")?;
/// let address = listener.local_addr()?;
/// // A client in a thread of its own: it waits for the greeting and the EHLO reply, then
/// // pipelines the rest.
/// let client = std::thread::spawn(move || {
///     let mut theirs = BufReader::new(TcpStream::connect(address)?);
///     let mut transcript = String::new();
///     theirs.read_line(&mut transcript)?;
///     theirs.get_mut().write_all(b"EHLO c.example\r\n")?;
///     while !transcript.contains("\n250 ") {
///         theirs.read_line(&mut transcript)?;
///     }
///     theirs.get_mut().write_all(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n")?;
///     theirs.get_mut().write_all(b"DATA\r\nhi\r\n.\r\nQUIT\r\n")?;
///     theirs.read_to_string(&mut transcript)?;
///     Ok::<_, std::io::Error>(transcript)
/// });
///
/// let (stream, _) = listener.accept()?;
/// let mut connection = Connection::new(Server::new(ServerConfig::default()), stream);
/// let mut body = Vec::new();
/// while let Some(event) = connection.next_event()? {
///     match event {
///         Event::Body(chunk) => body.extend_from_slice(&chunk),
///         event if event.is_decision() => connection.machine_mut().answer(Answer::Accept)?,
///         _ => {}
///     }
/// }
/// assert_eq!(body, b"hi\r\n");
/// let transcript = client.join().expect("the client thread")?;
/// assert!(transcript.ends_with("250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Connection<M: Machine, S: Transport = TcpStream> {
    machine: M,
    stream: Stream<S>,
    tls: TlsRole,
    config: IoConfig,
    shutdown: Option<Shutdown>,
    /// Octets read and not yet taken by the machine.
    unread: BytesMut,
    /// Where reads land; given back when idle.
    buffer: Vec<u8>,
    /// Transmissions gathered for the next write.
    unsent: BytesMut,
    /// Events met while only sending ([`send`](Self::send)), handed out first.
    events: VecDeque<M::Event>,
    /// The last read filled its buffer: more may be waiting, read again at once (a read that
    /// does not wait), before waiting for readiness without a buffer.
    full_read: bool,
    /// The stream has ended (or a read failed): nothing is read any more.
    eof: bool,
    /// The machine was told of the end: once it had taken every octet read before it.
    eof_told: bool,
    /// A write failed: the machine's last events go out first, then this error.
    failed: Option<Error>,
    shutdown_seen: bool,
    closed: bool,
    /// Tells the machine what TLS established, right after the handshake (see
    /// [`on_tls_established`](Self::on_tls_established)).
    tls_hook: Option<TlsHook<M>>,
    /// The phase's and the session's deadlines.
    deadlines: Deadlines<Instant>,
    /// Whether the owner hears of the close before the machine's last words are written
    /// ([`announce_close`](Self::announce_close)).
    close_notice: CloseNotice,
    /// The session is over: the close waits for its announcement.
    closing: bool,
}

impl<M: Machine, S: Transport> std::fmt::Debug for Connection<M, S>
where
    M: std::fmt::Debug,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("machine", &self.machine)
            .field("tls", &self.stream.is_tls())
            .field("unread", &self.unread.len())
            .field("unsent", &self.unsent.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<M: Machine, S: Transport> Connection<M, S> {
    /// Runs `machine` over `stream` (plaintext; TLS only if the machine never asks for it;
    /// see [`with_tls_client`](Self::with_tls_client), [`with_tls_server`](Self::with_tls_server)).
    pub fn new(machine: M, stream: S) -> Self {
        Self {
            machine,
            stream: Stream::Plain(Socket::new(stream)),
            tls: TlsRole::None,
            config: IoConfig::default(),
            shutdown: None,
            unread: BytesMut::new(),
            buffer: Vec::new(),
            unsent: BytesMut::new(),
            events: VecDeque::new(),
            full_read: false,
            eof: false,
            eof_told: false,
            failed: None,
            shutdown_seen: false,
            closed: false,
            tls_hook: None,
            deadlines: Deadlines::new(),
            close_notice: CloseNotice::Off,
            closing: false,
        }
    }

    /// Sets the driver's limits.
    pub fn with_config(mut self, config: IoConfig) -> Self {
        self.config = config;
        self
    }

    /// Watches `shutdown`: once triggered, the machine is told to
    /// [`shut_down`](Machine::shut_down) at the next wait (within 250 ms of the trigger while
    /// waiting).
    pub fn with_shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = Some(shutdown);
        self
    }

    /// Where the machine asks for TLS (STARTTLS, STLS), take the client side with `tls`.
    #[cfg(feature = "rustls")]
    pub fn with_tls_client(mut self, tls: TlsClient) -> Self {
        self.tls = TlsRole::Client(tls);
        self
    }

    /// Where the machine asks for TLS (STARTTLS, STLS), take the server side with `tls`.
    #[cfg(feature = "rustls")]
    pub fn with_tls_server(mut self, tls: TlsServer) -> Self {
        self.tls = TlsRole::Server(tls);
        self
    }

    /// Starts TLS now, as the client, before the machine speaks (implicit TLS, RFC 8314):
    /// the machine should be configured for implicit TLS.
    #[cfg(feature = "rustls")]
    pub fn connect_tls(mut self, tls: TlsClient) -> Result<Self, Error> {
        self.tls = TlsRole::Client(tls);
        self.handshake()?;
        Ok(self)
    }

    /// Starts TLS now, as the server, before the machine speaks (implicit TLS, RFC 8314).
    #[cfg(feature = "rustls")]
    pub fn accept_tls(mut self, tls: TlsServer) -> Result<Self, Error> {
        self.tls = TlsRole::Server(tls);
        self.handshake()?;
        Ok(self)
    }

    /// [`accept_tls`](Self::accept_tls), cut short by the shutdown signal this connection
    /// watches (within 250 ms of the trigger): `Ok(None)` then.
    #[cfg(feature = "rustls")]
    pub(crate) fn accept_tls_unless_shut_down(
        mut self,
        tls: TlsServer,
    ) -> Result<Option<Self>, Error> {
        self.tls = TlsRole::Server(tls);
        let shutdown = self.shutdown.clone();
        if self.handshake_watching(shutdown.as_ref())? {
            Ok(Some(self))
        } else {
            Ok(None)
        }
    }

    /// The machine, to read its state.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The machine, to answer, request or send a body between events.
    pub fn machine_mut(&mut self) -> &mut M {
        &mut self.machine
    }

    /// Whether TLS is up.
    pub fn is_tls(&self) -> bool {
        self.stream.is_tls()
    }

    /// The certificate the peer presented in the TLS handshake (its end entity), once TLS is
    /// up: the server's, or a client's where the server asked for one.
    #[cfg(feature = "rustls")]
    pub fn peer_certificate(&self) -> Option<&rustls::pki_types::CertificateDer<'static>> {
        self.stream.peer_certificate()
    }

    /// The connection's channel binding data (RFC 5056) for SCRAM-SHA-256-PLUS:
    /// `tls-exporter` (RFC 9266), over TLS 1.3 only (over TLS 1.2 it is safe only with the
    /// extended master secret, which is not checked here). `None` without TLS 1.3 or without
    /// rustls.
    pub fn channel_binding(&self) -> Option<mail_wire::sasl::ChannelBinding> {
        #[cfg(feature = "rustls")]
        {
            use mail_wire::sasl::{ChannelBinding, TLS_EXPORTER_LABEL, TLS_EXPORTER_LEN};
            let output = [0_u8; TLS_EXPORTER_LEN];
            let exported = match &self.stream {
                Stream::Tls(tls) if tls.is_tls13() => tls.export(output, TLS_EXPORTER_LABEL),
                _ => return None,
            };
            exported.ok().map(ChannelBinding::tls_exporter)
        }
        #[cfg(not(feature = "rustls"))]
        {
            None
        }
    }

    /// Has `hook` tell the machine the client certificate's identity and the channel binding
    /// data as soon as a STARTTLS / STLS handshake completes, before any further input reaches
    /// the machine (a server's CAPA or AUTH right after the handshake must already see them),
    /// and now if TLS is already up (implicit TLS).
    pub(crate) fn on_tls_established(&mut self, hook: TlsHook<M>) {
        self.tls_hook = Some(hook);
        if self.is_tls() {
            self.tls_up();
        }
    }

    /// Runs the [`on_tls_established`](Self::on_tls_established) hook, if any.
    fn tls_up(&mut self) {
        if let Some(hook) = self.tls_hook {
            let identity = self.tls_identity();
            let binding = self.channel_binding();
            hook(&mut self.machine, identity, binding);
        }
    }

    /// The identity the peer's TLS certificate names ([`crate::tls::certificate_identity`]),
    /// for SASL EXTERNAL; `None` without TLS, without a certificate, or without rustls.
    pub(crate) fn tls_identity(&self) -> Option<String> {
        #[cfg(feature = "rustls")]
        {
            self.peer_certificate()
                .and_then(crate::tls::certificate_identity)
        }
        #[cfg(not(feature = "rustls"))]
        {
            None
        }
    }

    /// Has [`next_step`](Self::next_step) return [`Step::Closing`] once, when the session is
    /// over (the machine closed it: QUIT, a deadline, the shutdown, too many errors; or the
    /// driver ended it at the session limit) and before its last words are written: a POP3
    /// server releases the maildrop then (RFC 1939 6), not after a write that a peer which
    /// does not read can hold up to the write timeout.
    pub(crate) fn announce_close(&mut self) {
        self.close_notice = CloseNotice::Armed;
    }

    /// Whether the connection is over (the machine closed it, or I/O failed).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Octets the driver holds: read and not yet taken by the machine, plus gathered and not
    /// yet written. Bounded by [`IoConfig::max_unread`] and [`IoConfig::write_buffer`] (plus
    /// one transmission).
    pub fn buffered(&self) -> usize {
        self.unread.len() + self.unsent.len()
    }

    /// Octets of buffer the driver holds allocated (the read buffer, octets read and not yet
    /// taken, the write buffer; used or not). Zero while a TCP connection, plain or TLS, waits
    /// for its peer.
    pub fn buffer_capacity(&self) -> usize {
        self.unread.capacity() + self.unsent.capacity() + self.buffer.capacity()
    }

    /// The driver's limits.
    pub fn config(&self) -> &IoConfig {
        &self.config
    }

    /// The transport underneath (`None` only after a failed TLS handshake).
    pub fn transport(&self) -> Option<&S> {
        self.stream.transport()
    }

    /// The machine, once the connection is done with.
    pub fn into_machine(self) -> M {
        self.machine
    }

    /// Runs the connection until the machine has something to report: `Ok(Some(event))`, or
    /// `Ok(None)` once the connection is closed (after the machine's last word went out).
    /// `Err` means the I/O failed; the connection is closed then too.
    pub fn next_event(&mut self) -> Result<Option<M::Event>, Error> {
        loop {
            match self.next_step()? {
                Step::Event(event) => return Ok(Some(event)),
                Step::Closed => return Ok(None),
                Step::Closing => {}
            }
        }
    }

    /// As [`next_event`](Self::next_event), and with [`announce_close`](Self::announce_close)
    /// [`Step::Closing`] once before the machine's last words go out.
    pub(crate) fn next_step(&mut self) -> Result<Step<M::Event>, Error> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Step::Event(event));
        }
        let result = self.run(true);
        if result.is_err() {
            self.closed = true;
        }
        result
    }

    /// Sends what the machine has to say, without waiting for input: call it after handing the
    /// machine a body chunk, so that large bodies stream out with bounded memory. Events met on
    /// the way are kept for [`next_event`](Self::next_event).
    pub fn send(&mut self) -> Result<(), Error> {
        let result = match self.run(false) {
            Ok(Step::Event(event)) => {
                self.events.push_back(event);
                Ok(())
            }
            // With the close announced, the machine's last words wait for `next_step`.
            Ok(Step::Closed | Step::Closing) => Ok(()),
            Err(error) => Err(error),
        };
        if result.is_err() {
            self.closed = true;
        }
        result
    }

    /// The loop. With `read`, it returns at the next event or the close; without, once the
    /// machine's output is drained and written (or, the close being announced, as soon as the
    /// machine closed: its last words then wait for the announcement, made with `read`).
    fn run(&mut self, read: bool) -> Result<Step<M::Event>, Error> {
        loop {
            if self.closed {
                return Ok(Step::Closed);
            }
            if self.closing {
                return self.close_or_announce(read);
            }
            if let Some(outcome) = self.after_failure() {
                return outcome;
            }
            if self.deadlines.session_due(self.config.session_timeout) {
                self.deadlines
                    .expired(self.config.session_timeout)
                    .tell(&mut self.machine);
            }
            while let Some(output) = self.machine.poll_output() {
                match output {
                    Output::Transmit(bytes) => {
                        self.unsent.extend_from_slice(&bytes);
                        if self.unsent.len() >= self.config.write_buffer {
                            self.write_or_salvage()?;
                            if self.failed.is_some() {
                                break;
                            }
                        }
                    }
                    Output::Event(event) => return Ok(Step::Event(event)),
                    Output::StartTls => self.start_tls()?,
                    Output::Close => {
                        self.closing = true;
                        return self.close_or_announce(read);
                    }
                }
            }
            if self.failed.is_some() {
                continue;
            }
            if !self.unread.is_empty() && self.machine.receive_from(&mut self.unread) > 0 {
                continue;
            }
            self.write_or_salvage()?;
            if self.failed.is_some() {
                continue;
            }
            if !read {
                return Ok(Step::Closed);
            }
            self.read()?;
        }
    }

    /// The session is over: announces it first if asked to (only where `read`; the close
    /// waits meanwhile), then closes.
    fn close_or_announce(&mut self, read: bool) -> Result<Step<M::Event>, Error> {
        if self.close_notice == CloseNotice::Armed {
            if read {
                self.close_notice = CloseNotice::Given;
            }
            return Ok(Step::Closing);
        }
        self.close()?;
        Ok(Step::Closed)
    }

    /// After a failed write: the events the machine made of the peer's last words (a 421,
    /// say), then the error, then the end.
    fn after_failure(&mut self) -> Option<Result<Step<M::Event>, Error>> {
        self.failed.as_ref()?;
        while let Some(output) = self.machine.poll_output() {
            if let Output::Event(event) = output {
                return Some(Ok(Step::Event(event)));
            }
        }
        self.closed = true;
        self.failed.take().map(Err)
    }

    /// Writes what was gathered. When the connection broke (the peer reset it or closed),
    /// what the peer said last is still handed to the machine, and then the end of the
    /// stream: a server that says 421 and closes is reported as such, not as a broken pipe.
    fn write_or_salvage(&mut self) -> Result<(), Error> {
        match self.write_unsent() {
            Err(Error::Io(error)) => {
                self.unsent = BytesMut::new();
                if !self.eof {
                    let _ = self.wait(None, None, Wait::TryRead);
                    self.eof = true;
                }
                if !self.eof_told && !self.machine.is_closed() {
                    self.tell_eof();
                }
                self.failed = Some(Error::Io(error));
                Ok(())
            }
            other => other,
        }
    }

    /// Writes what was gathered and flushes (TLS records too), all within the write timeout.
    /// What went out is removed as it goes: a write that fails or times out half-way leaves
    /// only what was never sent, and nothing is ever sent twice.
    fn write_unsent(&mut self) -> Result<(), Error> {
        if self.unsent.is_empty() {
            return Ok(());
        }
        let limit = self.config.write_timeout;
        match self.stream.write_all(&mut self.unsent, deadline(limit)) {
            Err(error) if timed_out(&error) => return Err(Error::WriteTimeout(limit)),
            Err(error) => return Err(Error::Io(error)),
            Ok(()) => {}
        }
        if self.unsent.capacity() > self.config.write_buffer {
            self.unsent = BytesMut::new();
        } else {
            self.unsent.clear();
        }
        Ok(())
    }

    /// Waits for input and hands it to the machine: octets, the end of the stream, the
    /// machine's timeout, or the shutdown signal. `Err` only when nothing can ever happen.
    fn read(&mut self) -> Result<(), Error> {
        if self.deadlines.session_over() && !self.machine.is_closed() {
            // Told its session is over, the machine stays open: the driver ends it.
            self.closing = true;
            return Ok(());
        }
        let next = self
            .deadlines
            .next(&self.machine, self.config.session_timeout);
        let deadline = next.any;
        let shutdown = if self.shutdown_seen {
            None
        } else {
            self.shutdown.clone()
        };
        if self.eof && !self.eof_told && self.unread.is_empty() {
            // The machine has taken what came before the end: now it hears of the end.
            self.tell_eof();
            return Ok(());
        }
        if self.eof || self.unread.len() >= self.config.max_unread.max(1) {
            // Nothing is to be read: the stream has ended, or the machine takes nothing more
            // until the application acts. Only the timer and the shutdown can move it on now.
            self.full_read = false;
            return self.wait_without_input(next.phase, deadline, shutdown.as_ref());
        }
        if std::mem::take(&mut self.full_read) {
            // The last read filled its buffer: take what followed it, without waiting (the
            // buffer is not held for a wait).
            if self.wait(deadline, shutdown.as_ref(), Wait::TryRead) {
                return Ok(());
            }
        }
        // Wait for readiness without a buffer (the write buffer, empty now, goes too: a large
        // response must not stay allocated between commands), then read what is there.
        self.release_buffers();
        if !self.wait(deadline, shutdown.as_ref(), Wait::Readable) {
            self.wait(deadline, shutdown.as_ref(), Wait::Read);
        }
        Ok(())
    }

    /// Gives the buffers back while nothing flows: what waits in them stays.
    fn release_buffers(&mut self) {
        self.buffer = Vec::new();
        if self.unread.is_empty() {
            self.unread = BytesMut::new();
        }
        if self.unsent.is_empty() {
            self.unsent = BytesMut::new();
        }
    }

    /// Waits with nothing to read, for the machine's timer or the shutdown. With neither,
    /// nothing can ever happen: after the end of the stream the connection is over (closed);
    /// before it, the machine waits for the application that waits for it (an unanswered
    /// decision, say), which is an error rather than a wait for ever.
    fn wait_without_input(
        &mut self,
        phase: Option<Instant>,
        deadline: Option<Instant>,
        shutdown: Option<&Shutdown>,
    ) -> Result<(), Error> {
        if phase.is_none() && shutdown.is_none() {
            if self.eof_told {
                self.closing = true;
                return Ok(());
            }
            return Err(Error::Api(
                "the machine takes no more input and has no timer: nothing can happen until \
                 the application acts (answer its pending decision before waiting for the \
                 next event)"
                    .into(),
            ));
        }
        self.wait(deadline, shutdown, Wait::Nothing);
        Ok(())
    }

    /// Waits for one thing to happen and hands it to the machine; `false` when it was only
    /// readiness, or nothing to read at once (nothing handed over yet).
    fn wait(&mut self, deadline: Option<Instant>, shutdown: Option<&Shutdown>, what: Wait) -> bool {
        let mut room = self
            .config
            .read_buffer
            .min(
                self.config
                    .max_unread
                    .max(1)
                    .saturating_sub(self.unread.len()),
            )
            .max(1);
        if what == Wait::Idle {
            room = room.min(IDLE_READ);
        }
        let writes = self.config.write_timeout;
        loop {
            if shutdown.is_some_and(Shutdown::is_triggered) {
                self.shutdown_seen = true;
                self.machine.shut_down();
                return true;
            }
            let now = Instant::now();
            if deadline.is_some_and(|deadline| now >= deadline) {
                self.deadlines
                    .expired(self.config.session_timeout)
                    .tell(&mut self.machine);
                return true;
            }
            // One slice of the wait: to the machine's deadline, or to the next look at the
            // shutdown signal; a read that must not wait, a moment at most.
            let mut until = match (deadline, shutdown) {
                (deadline, Some(_)) => {
                    let slice = now + SHUTDOWN_POLL;
                    Some(deadline.map_or(slice, |deadline| deadline.min(slice)))
                }
                (deadline, None) => deadline,
            };
            if what == Wait::TryRead {
                let moment = now + NO_WAIT;
                until = Some(until.map_or(moment, |until| until.min(moment)));
            }
            match what {
                Wait::Nothing => match until {
                    Some(until) => std::thread::sleep(until.saturating_duration_since(now)),
                    // Not reached (see `wait_without_input`); the shutdown or the timer ends
                    // any wait that is.
                    None => return false,
                },
                Wait::Readable => match self.stream.wait_readable(until, writes) {
                    Ok(true) => return false,
                    Ok(false) => {
                        // The transport cannot tell: wait in a small read instead.
                        return self.wait(deadline, shutdown, Wait::Idle);
                    }
                    Err(error) if timed_out(&error) => {}
                    Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                    // A reset, a broken connection or a TLS failure is its end, for the
                    // machine.
                    Err(_) => {
                        self.end_of_input();
                        return true;
                    }
                },
                Wait::TryRead | Wait::Read | Wait::Idle => {
                    if self.buffer.len() < room {
                        self.buffer.resize(room, 0);
                    }
                    let buffer = self.buffer.get_mut(..room).unwrap_or_default();
                    match self.stream.read(buffer, until, writes) {
                        Ok(0) => {
                            self.end_of_input();
                            return true;
                        }
                        Ok(n) => {
                            self.full_read = n >= room;
                            self.hand_over(n);
                            return true;
                        }
                        // Nothing there at once.
                        Err(error) if timed_out(&error) && what == Wait::TryRead => return false,
                        Err(error) if timed_out(&error) => {}
                        Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                        // A reset or broken connection is its end, for the machine.
                        Err(_) => {
                            self.end_of_input();
                            return true;
                        }
                    }
                }
            }
        }
    }

    /// The stream has ended (or failed): nothing is read again, and the machine hears of it
    /// once, after every octet read before it (at once if it has taken them all).
    fn end_of_input(&mut self) {
        self.full_read = false;
        self.eof = true;
        self.buffer = Vec::new();
        if self.unread.is_empty() {
            self.tell_eof();
        }
    }

    fn tell_eof(&mut self) {
        self.eof_told = true;
        self.machine.receive_eof();
    }

    /// Hands the `n` octets just read to the machine, keeping what it did not take behind
    /// what waited already.
    fn hand_over(&mut self, n: usize) {
        let read = self.buffer.get(..n).unwrap_or_default();
        if self.unread.is_empty() {
            let taken = self.machine.receive(read).min(n);
            self.unread
                .extend_from_slice(read.get(taken..).unwrap_or_default());
        } else {
            self.unread.extend_from_slice(read);
            let _ = self.machine.receive_from(&mut self.unread);
        }
    }

    /// The machine asked for TLS: send what it said before, drop the plaintext that followed
    /// its command (the machine reports it), run the handshake, tell the machine.
    fn start_tls(&mut self) -> Result<(), Error> {
        self.write_unsent()?;
        if !self.unread.is_empty() {
            // Plaintext read behind the command: the machine discards and reports it; it must
            // never be read as if it came over TLS.
            let _ = self.machine.receive_from(&mut self.unread);
            self.unread = BytesMut::new();
        }
        if self.machine.is_closed() {
            // It gave up on what followed its command (a response injection): no TLS now.
            return Ok(());
        }
        self.handshake()?;
        self.machine.tls_established().map_err(Error::api)?;
        self.tls_up();
        Ok(())
    }

    /// Runs the TLS handshake, within the handshake timeout.
    fn handshake(&mut self) -> Result<(), Error> {
        self.handshake_watching(None).map(|_| ())
    }

    /// Runs the TLS handshake, within the handshake timeout; cut short (`Ok(false)`) once
    /// `shutdown` is triggered, within 250 ms.
    #[cfg(feature = "rustls")]
    fn handshake_watching(&mut self, shutdown: Option<&Shutdown>) -> Result<bool, Error> {
        use super::transport::Tls;

        let limit = self.config.handshake_timeout;
        let socket = match std::mem::replace(&mut self.stream, Stream::Broken) {
            Stream::Plain(socket) => socket,
            // TLS already (or lost in a failed handshake): it stays as it is.
            stream => {
                self.stream = stream;
                return Err(Error::TlsUnavailable);
            }
        };
        let session = match &self.tls {
            TlsRole::None => {
                self.stream = Stream::Plain(socket);
                return Err(Error::TlsUnavailable);
            }
            TlsRole::Client(tls) => {
                rustls::ClientConnection::new(tls.config().clone(), tls.server_name().clone())
                    .map(rustls::Connection::Client)
            }
            TlsRole::Server(tls) => {
                rustls::ServerConnection::new(tls.config().clone()).map(rustls::Connection::Server)
            }
        };
        let session = session.map_err(|error| Error::Tls(io::Error::other(error)))?;
        let mut tls = Box::new(Tls::new(session, socket));
        let until = deadline(limit);
        loop {
            // With a shutdown to watch, the handshake runs in slices, a look at the signal
            // between two.
            let slice = match shutdown {
                Some(_) => {
                    let slice = Instant::now() + SHUTDOWN_POLL;
                    Some(until.map_or(slice, |until| until.min(slice)))
                }
                None => until,
            };
            match tls.handshake(slice) {
                Err(error) if timed_out(&error) || error.kind() == io::ErrorKind::Interrupted => {
                    if shutdown.is_some_and(Shutdown::is_triggered) {
                        return Ok(false);
                    }
                    if until.is_some_and(|until| Instant::now() >= until) {
                        return Err(Error::HandshakeTimeout(limit));
                    }
                }
                Err(error) => return Err(Error::Tls(error)),
                Ok(()) => {
                    // Records that came with the end of the handshake may hold input already:
                    // they wait inside rustls, and the readiness wait sees them.
                    self.stream = Stream::Tls(tls);
                    return Ok(true);
                }
            }
        }
    }

    #[cfg(not(feature = "rustls"))]
    fn handshake_watching(&mut self, shutdown: Option<&Shutdown>) -> Result<bool, Error> {
        let _ = (&self.tls, shutdown);
        Err(Error::TlsUnavailable)
    }

    /// Sends the machine's last words and closes our side (within the write timeout).
    fn close(&mut self) -> Result<(), Error> {
        let written = self.write_unsent();
        self.closed = true;
        self.unread = BytesMut::new();
        self.unsent = BytesMut::new();
        self.buffer = Vec::new();
        let _ = self.stream.close(deadline(self.config.write_timeout));
        written
    }
}

/// What a wait is for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// Only the timer and the shutdown signal (input is held back).
    Nothing,
    /// Readiness, without a buffer.
    Readable,
    /// Octets already there, without waiting.
    TryRead,
    /// Octets, with a small buffer (idle, on a transport that cannot wait without reading).
    Idle,
    /// Octets.
    Read,
}

impl<M: Machine> Connection<M, TcpStream> {
    /// Connects to `address` (within [`IoConfig::connect_timeout`]), with `TCP_NODELAY`.
    pub fn connect(
        address: impl ToSocketAddrs,
        machine: M,
        config: IoConfig,
    ) -> Result<Self, Error> {
        let stream = connect_tcp(address, &config)?;
        Ok(Self::new(machine, stream).with_config(config))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        self.stream.transport()?.peer_addr().ok()
    }
}

/// Connects with `TCP_NODELAY`, within the connect timeout (for all addresses together),
/// trying each address in turn.
pub(crate) fn connect_tcp(
    address: impl ToSocketAddrs,
    config: &IoConfig,
) -> Result<TcpStream, Error> {
    let limit = config.connect_timeout;
    let until = deadline(limit);
    let addresses = address.to_socket_addrs().map_err(Error::Connect)?;
    let mut last = None;
    for address in addresses {
        let left = match until {
            Some(until) => until.checked_duration_since(Instant::now()),
            // Beyond what the clock can tell: as long as the system lets a connect take.
            None => Some(limit),
        };
        let Some(left) = left.filter(|d| !d.is_zero()) else {
            return Err(Error::ConnectTimeout(limit));
        };
        match TcpStream::connect_timeout(&address, left) {
            Ok(stream) => {
                stream.set_nodelay(true).map_err(Error::Connect)?;
                return Ok(stream);
            }
            Err(error) => last = Some(error),
        }
    }
    match last {
        Some(error) if timed_out(&error) => Err(Error::ConnectTimeout(limit)),
        Some(error) => Err(Error::Connect(error)),
        None => Err(Error::Connect(io::Error::new(
            io::ErrorKind::NotFound,
            "the address resolved to nothing",
        ))),
    }
}

#[cfg(all(test, unix))]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]

    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    use mail_wire::machine::OutputQueue;

    use super::*;

    /// Answers every line with 64 KiB (a large response), reports each line, and reports
    /// silence after 50 ms as an event.
    struct Big {
        out: OutputQueue<&'static str>,
        line: Vec<u8>,
    }

    impl Machine for Big {
        type Event = &'static str;
        type ApiError = std::convert::Infallible;
        fn receive(&mut self, bytes: &[u8]) -> usize {
            for &byte in bytes {
                self.line.push(byte);
                if byte == b'\n' {
                    self.out.buffer().extend_from_slice(&[b'x'; 64 * 1024]);
                    self.out.emit("line");
                    self.line.clear();
                }
            }
            bytes.len()
        }
        fn receive_eof(&mut self) {
            self.out.close();
        }
        fn handle_timeout(&mut self) {
            self.out.emit("silence");
        }
        fn shut_down(&mut self) {
            self.out.close();
        }
        fn timeout(&self) -> Option<Duration> {
            Some(Duration::from_millis(50))
        }
        fn timer_epoch(&self) -> u64 {
            0
        }
        fn tls_established(&mut self) -> Result<(), Self::ApiError> {
            Ok(())
        }
        fn poll_output(&mut self) -> Option<Output<Self::Event>> {
            self.out.pop()
        }
        fn is_closed(&self) -> bool {
            self.out.is_closed()
        }
    }

    /// Runs one large answer, then a silence, and checks what the connection holds then.
    fn idle_after_a_burst<S: Transport + Send + 'static>(
        ours: S,
        mut theirs: impl Read + Write + Send + 'static,
        idle_buffer: usize,
    ) {
        let machine = Big {
            out: OutputQueue::new(),
            line: Vec::new(),
        };
        let mut connection = Connection::new(machine, ours);
        theirs.write_all(b"one\r\n").unwrap();
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            theirs.read_to_end(&mut all).map(|_| all.len())
        });
        assert_eq!(connection.next_event().unwrap(), Some("line"));
        // The response goes out, then the wait: idle, the buffers go.
        assert_eq!(connection.next_event().unwrap(), Some("silence"));
        assert_eq!(connection.unread.capacity(), 0);
        assert_eq!(connection.unsent.capacity(), 0);
        assert!(connection.buffer.capacity() <= idle_buffer);
        connection.machine_mut().shut_down();
        assert_eq!(connection.next_event().unwrap(), None);
        assert_eq!(reader.join().unwrap().unwrap(), 64 * 1024);
    }

    #[test]
    fn an_idle_tcp_connection_holds_no_buffer() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let theirs = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (ours, _) = listener.accept().unwrap();
        idle_after_a_burst(ours, theirs, 0);
    }

    #[test]
    fn an_idle_unix_connection_holds_a_small_buffer() {
        // A transport that cannot wait without reading waits in a small buffer.
        let (ours, theirs) = UnixStream::pair().unwrap();
        idle_after_a_burst(ours, theirs, IDLE_READ);
    }

    #[test]
    fn a_bound_is_replaced_only_when_too_long_or_much_too_short() {
        let second = Some(Duration::from_secs(1));
        assert!(super::super::transport::stale_for_tests(None, second));
        assert!(!super::super::transport::stale_for_tests(
            Some(second),
            Some(Duration::from_millis(995))
        ));
        assert!(super::super::transport::stale_for_tests(
            Some(second),
            Some(Duration::from_millis(900))
        ));
        assert!(super::super::transport::stale_for_tests(
            Some(second),
            Some(Duration::from_secs(3))
        ));
        assert!(super::super::transport::stale_for_tests(Some(second), None));
    }
}
