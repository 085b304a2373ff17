//! The tokio driver: one [`Connection`] runs any of the four machines over a [`Transport`].

use std::collections::VecDeque;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::task::Poll;

use bytes::BytesMut;
use mail_wire::machine::{Machine, Output};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};
use tokio::time::{Instant, sleep_until, timeout};

use crate::closing::{CloseNotice, Step};
use crate::deadline::Deadlines;
use crate::transport::{Stream, Transport};
use crate::{Error, IoConfig, Shutdown};
#[cfg(feature = "rustls")]
use crate::{TlsClient, TlsServer};

/// The TLS side this connection takes when its machine asks for TLS.
#[derive(Debug, Clone, Default)]
pub(crate) enum TlsRole {
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

/// A machine running over a connection: the I/O loop, written once for all four machines.
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
///   this crate connects or accepts have `TCP_NODELAY`.
/// - **Every wait bounded, by deadlines.** Reads by the machine's
///   [`timeout`](Machine::timeout), counted from the start of the phase it times (the timer
///   starts again only when [`timer_epoch`](Machine::timer_epoch) or the timeout changes, never
///   because octets arrived: a peer trickling octets is closed like a silent one), and by
///   [`IoConfig::session_timeout`] for the whole session (their expiry is handed to
///   [`handle_timeout`](Machine::handle_timeout) and
///   [`handle_session_timeout`](Machine::handle_session_timeout)); writes by [`IoConfig::write_timeout`], TLS
///   handshakes by [`IoConfig::handshake_timeout`], from their start.
/// - **No input lost.** Octets the machine did not take are kept and offered again, first;
///   while more than [`IoConfig::max_unread`] wait, nothing more is read.
/// - **Idle is cheap.** Between bursts the read buffer is given back; a plain TCP connection
///   waiting for its peer holds no buffer of the driver's.
/// - **Shutdown.** With [`with_shutdown`](Self::with_shutdown), a triggered [`Shutdown`] makes
///   the machine say goodbye (SMTP 421, POP3 `-ERR`, client QUIT) and close.
/// - **Cancel-safe.** [`next_event`](Self::next_event) and [`send`](Self::send) may be dropped
///   at any await (a `tokio::time::timeout` or `select!` around them): nothing read is lost,
///   nothing written is written twice, and the next call goes on where the last one stopped.
///   The one exception is a TLS handshake under way: cancelling it loses the connection.
/// - **Broken connections.** When a write fails because the peer went away, what the peer
///   sent last (a 421, say) still reaches the machine, and its events come before the error.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mail_io::Connection;
/// use smtp_proto::server::{Answer, Event, Server, ServerConfig};
/// use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
///
/// // A client on the other end of an in-memory pipe: it waits for the greeting and the EHLO
/// // reply, then pipelines the rest.
/// let (ours, theirs) = tokio::io::duplex(4096);
/// let client = tokio::spawn(async move {
///     let mut theirs = tokio::io::BufReader::new(theirs);
///     let mut transcript = String::new();
///     theirs.read_line(&mut transcript).await?;
///     theirs.write_all(b"EHLO c.example\r\n").await?;
///     while !transcript.contains("\n250 ") {
///         theirs.read_line(&mut transcript).await?;
///     }
///     theirs.write_all(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n").await?;
///     theirs.write_all(b"DATA\r\nhi\r\n.\r\nQUIT\r\n").await?;
///     theirs.read_to_string(&mut transcript).await?;
///     Ok::<_, std::io::Error>(transcript)
/// });
///
/// let mut connection = Connection::new(Server::new(ServerConfig::default()), ours);
/// let mut body = Vec::new();
/// while let Some(event) = connection.next_event().await? {
///     match event {
///         Event::Body(chunk) => body.extend_from_slice(&chunk),
///         event if event.is_decision() => connection.machine_mut().answer(Answer::Accept)?,
///         _ => {}
///     }
/// }
/// assert_eq!(body, b"hi\r\n");
/// assert!(client.await??.ends_with("250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"));
/// # Ok(())
/// # }
/// ```
pub struct Connection<M: Machine, T: Transport = TcpStream> {
    machine: M,
    stream: Stream<T>,
    #[cfg_attr(not(feature = "rustls"), allow(dead_code))]
    tls: TlsRole,
    config: IoConfig,
    shutdown: Option<Shutdown>,
    /// Octets read and not yet taken by the machine.
    unread: BytesMut,
    /// Transmissions gathered for the next write.
    unsent: BytesMut,
    /// Events met while only sending ([`send`](Self::send)), handed out first.
    events: VecDeque<M::Event>,
    /// The last read filled its buffer: more may be waiting, read again without waiting.
    full_read: bool,
    /// What the machine asked for and the driver has not finished (kept if a call is
    /// cancelled, and resumed by the next one).
    pending: Pending,
    /// The peer closed its side: nothing more is read.
    eof: bool,
    /// The end of stream was handed to the machine (after every octet that came before it).
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
}

impl<M: Machine, T: Transport> std::fmt::Debug for Connection<M, T>
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

impl<M: Machine, T: Transport> Connection<M, T> {
    /// Runs `machine` over `transport` (plaintext; TLS only if the machine never asks for it;
    /// see [`with_tls_client`](Self::with_tls_client), [`with_tls_server`](Self::with_tls_server)).
    pub fn new(machine: M, transport: T) -> Self {
        Self {
            machine,
            stream: Stream::Plain(transport),
            tls: TlsRole::None,
            config: IoConfig::default(),
            shutdown: None,
            unread: BytesMut::new(),
            unsent: BytesMut::new(),
            events: VecDeque::new(),
            full_read: false,
            pending: Pending::Nothing,
            eof: false,
            eof_told: false,
            failed: None,
            shutdown_seen: false,
            closed: false,
            tls_hook: None,
            deadlines: Deadlines::new(),
            close_notice: CloseNotice::Off,
        }
    }

    /// Sets the driver's limits.
    pub fn with_config(mut self, config: IoConfig) -> Self {
        self.config = config;
        self
    }

    /// Watches `shutdown`: once triggered, the machine is told to
    /// [`shut_down`](Machine::shut_down) at the next wait.
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
        self.set_tls_server(tls);
        self
    }

    /// [`with_tls_server`](Self::with_tls_server) on a connection that stays where it is.
    #[cfg(feature = "rustls")]
    pub(crate) fn set_tls_server(&mut self, tls: TlsServer) {
        self.tls = TlsRole::Server(tls);
    }

    /// Starts TLS now, as the client, before the machine speaks (implicit TLS, RFC 8314):
    /// the machine should be configured for implicit TLS.
    #[cfg(feature = "rustls")]
    pub async fn connect_tls(mut self, tls: TlsClient) -> Result<Self, Error> {
        self.tls = TlsRole::Client(tls);
        Box::pin(self.handshake()).await?;
        Ok(self)
    }

    /// Starts TLS now, as the server, before the machine speaks (implicit TLS, RFC 8314).
    #[cfg(feature = "rustls")]
    pub async fn accept_tls(mut self, tls: TlsServer) -> Result<Self, Error> {
        self.accept_tls_in_place(tls).await?;
        Ok(self)
    }

    /// [`accept_tls`](Self::accept_tls) on a connection that stays where it is: a session
    /// task that owns its connection need not hold a second one while the handshake runs.
    #[cfg(feature = "rustls")]
    pub(crate) async fn accept_tls_in_place(&mut self, tls: TlsServer) -> Result<(), Error> {
        self.tls = TlsRole::Server(tls);
        Box::pin(self.handshake()).await
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
        match &self.stream {
            Stream::Client(tls) => tls.get_ref().1.peer_certificates()?.first(),
            Stream::Server(tls) => tls.get_ref().1.peer_certificates()?.first(),
            Stream::Plain(_) | Stream::Broken => None,
        }
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
                Stream::Client(tls) if is_tls13(tls.get_ref().1) => tls
                    .get_ref()
                    .1
                    .export_keying_material(output, TLS_EXPORTER_LABEL, None),
                Stream::Server(tls) if is_tls13(tls.get_ref().1) => tls
                    .get_ref()
                    .1
                    .export_keying_material(output, TLS_EXPORTER_LABEL, None),
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

    /// Octets of buffer the driver holds allocated (read and write buffers, used or not).
    /// Zero while a TCP connection waits for its peer.
    pub fn buffer_capacity(&self) -> usize {
        self.unread.capacity() + self.unsent.capacity()
    }

    /// Sets [`IoConfig::session_timeout`] and counts it from now, not from the connection: a
    /// connection kept for a new piece of work gets that work's bound. A limit that already
    /// expired (the machine was told) stays expired.
    pub fn restart_session_timeout(&mut self, limit: Option<std::time::Duration>) {
        self.config.session_timeout = limit;
        self.deadlines.restart_session();
    }

    /// The driver's limits.
    pub fn config(&self) -> &IoConfig {
        &self.config
    }

    /// The machine, once the connection is done with.
    pub fn into_machine(self) -> M {
        self.machine
    }

    /// Runs the connection until the machine has something to report: `Ok(Some(event))`, or
    /// `Ok(None)` once the connection is closed (after the machine's last word went out).
    /// `Err` means the I/O failed; the connection is closed then too.
    pub async fn next_event(&mut self) -> Result<Option<M::Event>, Error> {
        loop {
            match self.next_step().await? {
                Step::Event(event) => return Ok(Some(event)),
                Step::Closed => return Ok(None),
                Step::Closing => {}
            }
        }
    }

    /// As [`next_event`](Self::next_event), and with [`announce_close`](Self::announce_close)
    /// [`Step::Closing`] once before the machine's last words go out. Cancel-safe likewise.
    pub(crate) async fn next_step(&mut self) -> Result<Step<M::Event>, Error> {
        if let Some(event) = self.events.pop_front() {
            return Ok(Step::Event(event));
        }
        let result = self.run(true).await;
        if result.is_err() {
            self.closed = true;
        }
        result
    }

    /// Sends what the machine has to say, without waiting for input: call it after handing the
    /// machine a body chunk, so that large bodies stream out with bounded memory. Events met on
    /// the way are kept for [`next_event`](Self::next_event).
    pub async fn send(&mut self) -> Result<(), Error> {
        let result = match self.run(false).await {
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
    ///
    /// Cancel-safe: every step records its progress in `self` before it awaits (bytes taken
    /// from the machine are in `unsent`, and written ones leave it; a TLS start or a close the
    /// machine asked for is in `pending`), so a dropped call loses and repeats nothing, and the
    /// next one goes on. Only a TLS handshake cannot be resumed: cancelling one loses the
    /// connection.
    async fn run(&mut self, read: bool) -> Result<Step<M::Event>, Error> {
        loop {
            if self.closed {
                return Ok(Step::Closed);
            }
            if let Some(event) = self.after_failure() {
                return event;
            }
            if self.deadlines.session_due(self.config.session_timeout) {
                self.deadlines
                    .expired(self.config.session_timeout)
                    .tell(&mut self.machine);
            }
            match self.pending {
                Pending::StartTls => {
                    self.start_tls().await?;
                    self.pending = Pending::Nothing;
                    continue;
                }
                Pending::Close => {
                    if self.close_notice == CloseNotice::Armed {
                        if read {
                            self.close_notice = CloseNotice::Given;
                        }
                        return Ok(Step::Closing);
                    }
                    self.close().await?;
                    return Ok(Step::Closed);
                }
                Pending::Nothing => {}
            }
            while let Some(output) = self.machine.poll_output() {
                match output {
                    Output::Transmit(bytes) => {
                        self.unsent.extend_from_slice(&bytes);
                        if self.unsent.len() >= self.config.write_buffer {
                            self.write_or_salvage().await?;
                            if self.failed.is_some() {
                                break;
                            }
                        }
                    }
                    Output::Event(event) => return Ok(Step::Event(event)),
                    Output::StartTls => {
                        self.pending = Pending::StartTls;
                        break;
                    }
                    Output::Close => {
                        self.pending = Pending::Close;
                        break;
                    }
                }
            }
            if self.pending != Pending::Nothing || self.failed.is_some() {
                continue;
            }
            if !self.unread.is_empty() && self.machine.receive_from(&mut self.unread) > 0 {
                continue;
            }
            if self.eof && !self.eof_told && self.unread.is_empty() {
                // The end of the stream comes after every octet that came before it.
                self.eof_told = true;
                self.machine.receive_eof();
                continue;
            }
            self.write_or_salvage().await?;
            if self.failed.is_some() {
                continue;
            }
            if !read {
                return Ok(Step::Closed);
            }
            self.read().await?;
        }
    }

    /// After a failed write: the events the machine made of the peer's last words (a 421, say),
    /// then the error, then the end.
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
    /// what the peer said last is still handed to the machine: a server that says 421 and
    /// closes is reported as such, not as a broken pipe.
    async fn write_or_salvage(&mut self) -> Result<(), Error> {
        match self.write_unsent().await {
            Err(Error::Io(error)) => {
                self.unsent = BytesMut::new();
                self.pending = Pending::Nothing;
                if !self.eof {
                    let _ = self.wait(None, None, Wait::TryRead).await;
                    if !self.eof_told && !self.machine.is_closed() {
                        self.eof = true;
                        self.eof_told = true;
                        self.machine.receive_eof();
                    }
                }
                self.failed = Some(Error::Io(error));
                Ok(())
            }
            other => other,
        }
    }

    /// Writes what was gathered, within the write timeout, and flushes (TLS records too).
    /// Written octets leave `unsent` as they go, so a cancelled write resumes where it stopped.
    async fn write_unsent(&mut self) -> Result<(), Error> {
        if self.unsent.is_empty() {
            return Ok(());
        }
        let limit = self.config.write_timeout;
        let stream = &mut self.stream;
        let unsent = &mut self.unsent;
        let written = timeout(limit, async {
            while !unsent.is_empty() {
                if stream.write_buf(unsent).await? == 0 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
            }
            stream.flush().await
        })
        .await;
        match written {
            Err(_) => return Err(Error::WriteTimeout(limit)),
            Ok(Err(error)) => return Err(Error::Io(error)),
            Ok(Ok(())) => {}
        }
        if self.unsent.capacity() > self.config.write_buffer {
            self.unsent = BytesMut::new();
        } else {
            self.unsent.clear();
        }
        Ok(())
    }

    /// Waits for input and hands it to the machine: octets, the end of the stream, the
    /// machine's timeout, or the shutdown signal.
    async fn read(&mut self) -> Result<(), Error> {
        if self.deadlines.session_over() && !self.machine.is_closed() {
            // Told its session is over, the machine stays open: the driver ends it.
            self.pending = Pending::Close;
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
        let held_back = self.unread.len() >= self.config.max_unread.max(1);
        if self.eof || held_back {
            // Nothing is read (after the end of the stream, or while the machine takes nothing
            // until the application acts): only the timer and the shutdown signal can move the
            // machine on. Without either, it would wait for ever.
            if next.phase.is_none() && shutdown.is_none() {
                if self.eof && self.unread.is_empty() {
                    self.pending = Pending::Close;
                    return Ok(());
                }
                return Err(Error::Api(
                    "the machine waits for the application: answer it before reading on".into(),
                ));
            }
            self.wait(deadline, shutdown.as_ref(), Wait::Nothing).await;
            return Ok(());
        }
        if self.full_read && self.wait(deadline, shutdown.as_ref(), Wait::TryRead).await {
            // More was waiting behind a read that filled its buffer.
            return Ok(());
        }
        if self.unread.is_empty() {
            // Probably idle: wait for readiness without a buffer, then read what is there
            // without waiting. Readiness can be stale (a new socket starts out "ready"); then
            // the read finds nothing, the buffer goes, and the next readiness wait is exact.
            // A transport that cannot tell readiness is ready at once twice: it gets a read
            // that waits, with a buffer.
            for _ in 0..2 {
                self.release_buffers();
                if self.wait(deadline, shutdown.as_ref(), Wait::Readable).await {
                    return Ok(());
                }
                if self.wait(deadline, shutdown.as_ref(), Wait::TryRead).await {
                    return Ok(());
                }
            }
        }
        self.wait(deadline, shutdown.as_ref(), Wait::Read).await;
        Ok(())
    }

    /// Waits for one thing to happen and hands it to the machine; `false` when it was only
    /// readiness (nothing handed over yet).
    async fn wait(
        &mut self,
        deadline: Option<Instant>,
        shutdown: Option<&Shutdown>,
        what: Wait,
    ) -> bool {
        let room = self
            .config
            .read_buffer
            .min(self.config.max_unread.saturating_sub(self.unread.len()))
            .max(1);
        self.full_read = false;
        let stream = &mut self.stream;
        let unread = &mut self.unread;
        let io = async {
            match what {
                Wait::Nothing => std::future::pending::<io::Result<Read>>().await,
                Wait::Readable => {
                    // Holding `&mut`, not `&`, keeps the future `Send` for transports that
                    // are not `Sync`.
                    let stream = &mut *stream;
                    poll_fn(move |cx| stream.poll_read_ready(cx))
                        .await
                        .map(|()| Read::Ready)
                }
                Wait::Read => {
                    unread.reserve(room);
                    let mut limited = (&mut *stream).take(room as u64);
                    limited.read_buf(unread).await.map(Read::Octets)
                }
                Wait::TryRead => {
                    unread.reserve(room);
                    let mut limited = (&mut *stream).take(room as u64);
                    let mut read = std::pin::pin!(limited.read_buf(unread));
                    poll_fn(|cx| match read.as_mut().poll(cx) {
                        Poll::Ready(done) => Poll::Ready(done.map(Read::Octets)),
                        Poll::Pending => Poll::Ready(Ok(Read::Ready)),
                    })
                    .await
                }
            }
        };
        let timer = async {
            match deadline {
                Some(deadline) => sleep_until(deadline).await,
                None => std::future::pending().await,
            }
        };
        let signal = async {
            match shutdown {
                Some(shutdown) => shutdown.triggered().await,
                None => std::future::pending().await,
            }
        };
        let outcome = tokio::select! {
            biased;
            () = signal => Read::Shutdown,
            read = io => match read {
                Ok(read) => read,
                // A reset or broken connection is its end, for the machine.
                Err(_) => Read::Octets(0),
            },
            () = timer => Read::Timeout,
        };
        match outcome {
            Read::Ready => return false,
            Read::Octets(0) => {
                self.eof = true;
                if self.unread.is_empty() {
                    self.eof_told = true;
                    self.machine.receive_eof();
                }
            }
            Read::Octets(n) => {
                self.full_read = n >= room;
                let _ = self.machine.receive_from(&mut self.unread);
            }
            Read::Timeout => {
                self.deadlines
                    .expired(self.config.session_timeout)
                    .tell(&mut self.machine);
            }
            Read::Shutdown => {
                self.shutdown_seen = true;
                self.machine.shut_down();
            }
        }
        true
    }

    /// Gives the buffers back while nothing flows (an idle connection holds none of them).
    fn release_buffers(&mut self) {
        if self.unread.is_empty() {
            self.unread = BytesMut::new();
        }
        if self.unsent.is_empty() {
            self.unsent = BytesMut::new();
        }
    }

    /// The machine asked for TLS: send what it said before, drop the plaintext that followed
    /// its command (the machine reports it), run the handshake, tell the machine.
    async fn start_tls(&mut self) -> Result<(), Error> {
        self.write_unsent().await?;
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
        Box::pin(self.handshake()).await?;
        self.machine.tls_established().map_err(Error::api)?;
        self.tls_up();
        Ok(())
    }

    #[cfg(feature = "rustls")]
    async fn handshake(&mut self) -> Result<(), Error> {
        let limit = self.config.handshake_timeout;
        if matches!(self.tls, TlsRole::None) {
            return Err(Error::TlsUnavailable);
        }
        let io = match std::mem::replace(&mut self.stream, Stream::Broken) {
            Stream::Plain(io) => io,
            Stream::Broken => {
                return Err(Error::Io(io::Error::new(
                    io::ErrorKind::NotConnected,
                    "the connection was lost in a cancelled TLS handshake",
                )));
            }
            tls => {
                self.stream = tls;
                return Err(Error::TlsUnavailable);
            }
        };
        let upgraded = match &self.tls {
            TlsRole::None => return Err(Error::TlsUnavailable),
            TlsRole::Client(tls) => {
                let connector = tokio_rustls::TlsConnector::from(tls.config().clone());
                timeout(limit, connector.connect(tls.server_name().clone(), io))
                    .await
                    .map(|done| done.map(|tls| Stream::Client(Box::new(tls))))
            }
            TlsRole::Server(tls) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(tls.config().clone());
                timeout(limit, acceptor.accept(io))
                    .await
                    .map(|done| done.map(|tls| Stream::Server(Box::new(tls))))
            }
        };
        match upgraded {
            Err(_) => Err(Error::HandshakeTimeout(limit)),
            Ok(Err(error)) => Err(Error::Tls(error)),
            Ok(Ok(stream)) => {
                // The handshake may have read the peer's first records (a TLS 1.3 client
                // sends its first command with its Finished): they wait inside rustls, and the
                // readiness of a TLS stream says so (`ready_under_tls`).
                self.stream = stream;
                Ok(())
            }
        }
    }

    #[cfg(not(feature = "rustls"))]
    async fn handshake(&mut self) -> Result<(), Error> {
        Err(Error::TlsUnavailable)
    }

    /// Sends the machine's last words and closes our side (within the write timeout).
    async fn close(&mut self) -> Result<(), Error> {
        let written = self.write_unsent().await;
        self.closed = true;
        self.pending = Pending::Nothing;
        self.unread = BytesMut::new();
        self.unsent = BytesMut::new();
        let limit = self.config.write_timeout;
        let _ = timeout(limit, self.stream.shutdown()).await;
        written
    }
}

/// What the machine asked for that the driver has not finished yet.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Pending {
    Nothing,
    StartTls,
    Close,
}

/// What a wait is for.
#[derive(Clone, Copy)]
enum Wait {
    /// Only the timer and the shutdown signal (input is held back).
    Nothing,
    /// Readiness, without a buffer.
    Readable,
    /// Octets already there, without waiting.
    TryRead,
    /// Octets.
    Read,
}

enum Read {
    Ready,
    Octets(usize),
    Timeout,
    Shutdown,
}

impl<M: Machine> Connection<M, TcpStream> {
    /// Connects to `address` (within [`IoConfig::connect_timeout`]), with `TCP_NODELAY`.
    pub async fn connect(
        address: impl ToSocketAddrs,
        machine: M,
        config: IoConfig,
    ) -> Result<Self, Error> {
        let stream = connect_tcp(address, &config).await?;
        Ok(Self::new(machine, stream).with_config(config))
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> Option<SocketAddr> {
        match &self.stream {
            Stream::Plain(io) => io.peer_addr().ok(),
            #[cfg(feature = "rustls")]
            Stream::Client(tls) => tls.get_ref().0.peer_addr().ok(),
            #[cfg(feature = "rustls")]
            Stream::Server(tls) => tls.get_ref().0.peer_addr().ok(),
            Stream::Broken => None,
        }
    }
}

/// Connects with `TCP_NODELAY`, within the connect timeout, trying each address in turn.
pub(crate) async fn connect_tcp(
    address: impl ToSocketAddrs,
    config: &IoConfig,
) -> Result<TcpStream, Error> {
    let limit = config.connect_timeout;
    let stream = timeout(limit, TcpStream::connect(address))
        .await
        .map_err(|_| Error::ConnectTimeout(limit))?
        .map_err(Error::Connect)?;
    stream.set_nodelay(true).map_err(Error::Connect)?;
    Ok(stream)
}

/// Whether TLS 1.3 was negotiated (what `tls-exporter` needs, RFC 9266 section 3).
#[cfg(feature = "rustls")]
fn is_tls13(state: &rustls::CommonState) -> bool {
    state.protocol_version() == Some(rustls::ProtocolVersion::TLSv1_3)
}
