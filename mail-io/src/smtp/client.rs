//! The SMTP / LMTP client over tokio: connect, secure, authenticate, send, quit.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use smtp_proto::client::{Client as Machine, Envelope, Event, Report};
use smtp_proto::types::EhloResponse;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;

use crate::connection::connect_tcp;
pub use crate::smtp_client::ClientError;
use crate::smtp_client::{Settings, builder_setters};
use crate::{Connection, Transport};

/// How to reach the server; [`Client::connect`] starts one, `.await` (or
/// [`connect`](Self::connect)) runs it.
pub struct ClientBuilder {
    settings: Settings,
}

builder_setters!(ClientBuilder);

impl ClientBuilder {
    /// Connects, runs the greeting, EHLO, STARTTLS and AUTH, and returns once the client is
    /// ready to send.
    pub async fn connect(self) -> Result<Client, ClientError> {
        let stream = connect_tcp(self.settings.address.as_str(), &self.settings.io).await?;
        self.over(stream).await
    }

    /// As [`connect`](Self::connect), over a transport connected already.
    pub async fn over<T: Transport>(self, transport: T) -> Result<Client<T>, ClientError> {
        if let Some(error) = self.settings.credentials_error {
            return Err(ClientError::Credentials(error));
        }
        let implicit = self.settings.config.implicit_tls;
        let machine = Machine::with_auth(self.settings.config, self.settings.mechanisms);
        #[cfg_attr(not(feature = "rustls"), allow(unused_mut))]
        let mut connection = Connection::new(machine, transport).with_config(self.settings.io);
        #[cfg(feature = "rustls")]
        if let Some(tls) = self.settings.tls {
            connection = if implicit {
                connection.connect_tls(tls).await?
            } else {
                connection.with_tls_client(tls)
            };
        }
        #[cfg(not(feature = "rustls"))]
        if implicit {
            return Err(crate::Error::TlsUnavailable.into());
        }
        let mut client = Client {
            connection,
            ready: false,
            in_message: false,
        };
        client.until_ready().await?;
        Ok(client)
    }
}

impl IntoFuture for ClientBuilder {
    type Output = Result<Client, ClientError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.connect())
    }
}

/// An SMTP (or LMTP) session, ready to send messages one after the other.
///
/// A message goes with [`send`](Self::send) (the body from any [`AsyncRead`]) or with
/// [`start`](Self::start), which returns a [`MessageWriter`] for a body pushed in pieces.
/// Either way the result is the per-recipient [`Report`]: a refused recipient is in it, not
/// an error. An error other than [`ClientError::Send`] ends the session.
///
/// # Cancel safety
///
/// The methods that send a message ([`send`](Self::send), [`start`](Self::start),
/// [`MessageWriter::write`], [`MessageWriter::finish`]) are **not** cancel safe: a message
/// cannot be taken back half-way through the dialogue. If one of their futures is dropped
/// before it completes (by `tokio::time::timeout`, say, or a `select!`), or a
/// [`MessageWriter`] is dropped before `finish`, the session is over: every later call
/// returns [`ClientError::Interrupted`] (instead of taking replies meant for the message
/// as its own), and [`quit`](Self::quit) closes the connection without a word. To bound how
/// long sending takes, rely on the timeouts (the machine's reply timeouts,
/// [`IoConfig::write_timeout`]), which fail the session cleanly, or drop the client.
/// [`quit`](Self::quit) takes the client: dropping its future just closes the connection.
///
/// [`IoConfig::write_timeout`]: crate::IoConfig::write_timeout
///
/// ```no_run
/// # async fn send() -> Result<(), Box<dyn std::error::Error>> {
/// use mail_io::smtp::{Client, Envelope, Mailbox};
/// use mail_io::TlsClient;
///
/// let mut client = Client::connect("mail.example.com:587")
///     .starttls(TlsClient::webpki("mail.example.com")?)
///     .credentials("alice", "secret")
///     .await?;
/// let envelope = Envelope::new(Mailbox::parse("alice@example.com")?)
///     .to(Mailbox::parse("bob@example.org")?);
/// let report = client.send(envelope, &b"Subject: hi\r\n\r\nHello.\r\n"[..]).await?;
/// assert!(report.is_delivered_to_all());
/// client.quit().await?;
/// # Ok(())
/// # }
/// ```
pub struct Client<T: Transport = TcpStream> {
    connection: Connection<Machine, T>,
    /// Set up and between messages, not failed: a message may start.
    ready: bool,
    /// A message started and has not ended (nor failed). Seen by a call on the client, it
    /// means the message was cut off: only a [`MessageWriter`] holds a message under way, and
    /// it borrows the client.
    in_message: bool,
}

impl<T: Transport> std::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connection", &self.connection)
            .field("ready", &self.ready)
            .field("in_message", &self.in_message)
            .finish()
    }
}

/// Octets of body read from the source and handed to the machine at a time.
const BODY_CHUNK: usize = 64 * 1024;

impl Client {
    /// Starts a connection to `address` (`host:port`); set it up with the builder's methods,
    /// then `.await` it.
    pub fn connect(address: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            settings: Settings::new(address.into()),
        }
    }
}

impl<T: Transport> Client<T> {
    /// What the server offered in its last EHLO / LHLO response.
    pub fn capabilities(&self) -> Option<&EhloResponse<'static>> {
        self.connection.machine().capabilities()
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.connection.is_tls()
    }

    /// Whether the client authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.connection.machine().is_authenticated()
    }

    /// The connection underneath, with its machine.
    pub fn connection(&self) -> &Connection<Machine, T> {
        &self.connection
    }

    /// Whether a message may be sent now: set up, not failed, no message cut off.
    pub fn is_ready(&self) -> bool {
        self.ready && !self.in_message
    }

    /// Sends one message: the envelope, then the body read from `body` to its end (a
    /// `&[u8]`, a file, any `AsyncRead`), dot-stuffed or chunked as the server allows. Returns
    /// the per-recipient report; a refused recipient is in the report, not an error. When the
    /// server refuses the message before its body (MAIL, or every recipient), `body` is not
    /// read at all.
    ///
    /// The body is read in pieces of 64 KiB and each goes out before the next is read: memory
    /// stays bounded whatever the size. For a body the application produces piece by piece,
    /// see [`start`](Self::start).
    ///
    /// Not cancel safe: see [the type's docs](Self#cancel-safety). A failure to read `body`
    /// is [`ClientError::Body`], and the session cannot go on.
    pub async fn send(
        &mut self,
        envelope: Envelope,
        mut body: impl AsyncRead + Unpin,
    ) -> Result<Report, ClientError> {
        let mut writer = self.start(envelope).await?;
        let mut chunk = Vec::new();
        while writer.report().is_none() {
            chunk.resize(BODY_CHUNK, 0);
            let n = body.read(&mut chunk).await.map_err(ClientError::Body)?;
            match chunk.get(..n) {
                Some(read) if n > 0 => writer.write(read).await?,
                _ => break,
            }
        }
        writer.finish().await
    }

    /// Starts one message: sends the envelope and returns, once the server waits for the body,
    /// a [`MessageWriter`] to push the body through, piece by piece, then
    /// [`finish`](MessageWriter::finish) for the per-recipient report. Nothing of the message
    /// is held beyond the piece being sent.
    ///
    /// When the server refuses the message before its body (MAIL, or every recipient), the
    /// writer is returned all the same, with the report already known
    /// ([`MessageWriter::report`]): its writes send nothing, and `finish` returns the report.
    ///
    /// ```no_run
    /// # async fn send(client: &mut mail_io::smtp::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use mail_io::smtp::{Envelope, Mailbox};
    ///
    /// let envelope = Envelope::new(Mailbox::parse("alice@example.com")?)
    ///     .to(Mailbox::parse("bob@example.org")?);
    /// let mut message = client.start(envelope).await?;
    /// message.write(b"Subject: numbers\r\n\r\n").await?;
    /// for n in 0..1000 {
    ///     message.write(format!("{n}\r\n").as_bytes()).await?;
    /// }
    /// let report = message.finish().await?;
    /// assert!(report.is_delivered_to_all());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A message the server cannot take as it is (no recipients, too large for its SIZE, an
    /// extension it lacks) is [`ClientError::Send`], nothing is sent and the session goes on.
    /// Not cancel safe: see [the type's docs](Self#cancel-safety).
    pub async fn start(&mut self, envelope: Envelope) -> Result<MessageWriter<'_, T>, ClientError> {
        self.check_idle()?;
        self.connection.machine_mut().send_message(envelope)?;
        self.ready = false;
        self.in_message = true;
        let mut writer = MessageWriter {
            client: self,
            report: None,
            busy: false,
        };
        writer.until_body().await?;
        Ok(writer)
    }

    /// Checks that the session still answers, between messages: `RSET` (RFC 5321 4.1.1.5),
    /// and its 250. Made before a message goes over a session that stood idle (a connection
    /// cache), it tells a session the server gave up meanwhile (421, the end of the
    /// connection, no answer in time) before anything of the message is sent. Any failure
    /// ends the session.
    ///
    /// Not cancel safe: dropping its future before it completes leaves the session unusable
    /// for messages ([`ClientError::Closed`]); [`quit`](Self::quit) still ends it politely.
    pub async fn reset(&mut self) -> Result<(), ClientError> {
        self.check_idle()?;
        self.connection.machine_mut().reset()?;
        self.ready = false;
        self.until_ready().await
    }

    /// Sets the session's overall limit ([`IoConfig::session_timeout`]) and counts it from
    /// now: for a session kept between messages, each message's own bound.
    ///
    /// [`IoConfig::session_timeout`]: crate::IoConfig::session_timeout
    pub fn restart_session_timeout(&mut self, limit: Option<std::time::Duration>) {
        self.connection.restart_session_timeout(limit);
    }

    /// Ends the session politely (QUIT) and closes the connection. After a message was cut off
    /// ([`ClientError::Interrupted`]) nothing is sent: the connection is closed as it is, and
    /// the result is that error. After a [`reset`](Self::reset) whose future was dropped, QUIT
    /// follows its RSET (RFC 5321 4.1.1.10): at once with PIPELINING, else once the RSET is
    /// answered.
    pub async fn quit(mut self) -> Result<(), ClientError> {
        if self.in_message {
            // The server may be in the middle of a body: QUIT would be read as part of it.
            return Err(ClientError::Interrupted);
        }
        let machine = self.connection.machine_mut();
        if self.ready {
            machine.quit()?;
        } else {
            // An RSET awaiting its reply takes a QUIT behind it; a failed session, nothing.
            let _ = machine.quit();
        }
        while let Some(event) = self.connection.next_event().await? {
            if let Event::Error(error) = event {
                return Err(error.into());
            }
        }
        Ok(())
    }

    /// Whether a message may start: not cut off, not failed.
    fn check_idle(&self) -> Result<(), ClientError> {
        if self.in_message {
            Err(ClientError::Interrupted)
        } else if self.ready {
            Ok(())
        } else {
            Err(ClientError::Closed)
        }
    }

    /// The next event. A failed session, the end of the connection or an I/O error end the
    /// session (and the message under way: it is not cut off, it failed).
    async fn event(&mut self) -> Result<Event, ClientError> {
        let error = match self.connection.next_event().await {
            Ok(Some(Event::Error(error))) => error.into(),
            Ok(Some(event)) => return Ok(event),
            Ok(None) => ClientError::Closed,
            Err(error) => error.into(),
        };
        self.ended();
        Err(error)
    }

    /// Sends what the machine has to say; an I/O error ends the session.
    async fn flush(&mut self) -> Result<(), ClientError> {
        if let Err(error) = self.connection.send().await {
            self.ended();
            return Err(error.into());
        }
        Ok(())
    }

    /// The session is over (failed or closed): later calls return [`ClientError::Closed`].
    fn ended(&mut self) {
        self.ready = false;
        self.in_message = false;
    }

    async fn until_ready(&mut self) -> Result<(), ClientError> {
        loop {
            if let Event::Ready = self.event().await? {
                self.ready = true;
                return Ok(());
            }
        }
    }
}

/// A message under way ([`Client::start`]): push its body with [`write`](Self::write), then
/// [`finish`](Self::finish) it for the per-recipient report.
///
/// Each write goes out as it is made (dot-stuffed for DATA, as one BDAT chunk per piece of at
/// most 64 KiB with CHUNKING), after waiting, with BDAT, for the server to acknowledge enough
/// of the chunks before it ([`ClientConfig::max_chunks_in_flight`]): nothing of the message is
/// kept. With CHUNKING, write in pieces of some kilobytes: each write of a few octets would be
/// a chunk of its own, with its own reply. Line ends are made CR LF (or refused, per
/// [`ClientConfig::bare_endings`]); a body declared 7-bit that holds an octet above 127 ends the
/// session before its end is sent ([`smtp_proto::client::Error::BodyRefused`]).
///
/// Dropping the writer before `finish`, or a `write` or `finish` future before it completes,
/// cuts the message off: the session is then over ([`ClientError::Interrupted`], see
/// [`Client`'s cancel safety](Client#cancel-safety)). An error from `write` ends the session
/// too; `finish` then returns [`ClientError::Closed`] (or `Interrupted` after an API misuse).
///
/// [`ClientConfig::max_chunks_in_flight`]: super::ClientConfig::max_chunks_in_flight
/// [`ClientConfig::bare_endings`]: super::ClientConfig::bare_endings
pub struct MessageWriter<'a, T: Transport = TcpStream> {
    client: &'a mut Client<T>,
    /// The outcome, once known.
    report: Option<Report>,
    /// A `write` or `finish` is under way: seen at the start of the next, it was cancelled.
    busy: bool,
}

impl<T: Transport> std::fmt::Debug for MessageWriter<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageWriter")
            .field("report", &self.report)
            .field("busy", &self.busy)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> MessageWriter<'_, T> {
    /// The outcome, when the server decided before the end of the body: it refused MAIL or
    /// every recipient (known when [`Client::start`] returns), or refused a BDAT chunk (seen
    /// by a later write). Writes then send nothing, and [`finish`](Self::finish) returns this
    /// report. `None` while the server takes the body.
    pub fn report(&self) -> Option<&Report> {
        self.report.as_ref()
    }

    /// Sends the next piece of the body. Returns once it went out (to the socket): with BDAT,
    /// after waiting for the server's replies to earlier chunks where too many are
    /// unanswered. Once the server has decided ([`report`](Self::report)), the piece is
    /// dropped and nothing is sent.
    ///
    /// Not cancel safe: a dropped `write` cuts the message off ([`ClientError::Interrupted`]).
    pub async fn write(&mut self, data: &[u8]) -> Result<(), ClientError> {
        self.enter()?;
        for piece in data.chunks(BODY_CHUNK) {
            self.until_body().await?;
            if self.report.is_some() {
                break;
            }
            self.client.connection.machine_mut().send_body(piece)?;
            self.client.flush().await?;
            if self.client.connection.machine().is_closed() {
                // The machine refused the body (an octet above 127 in a 7-bit body, a bare
                // line end refused): its report, then its error.
                loop {
                    if let Event::Sent(report) = self.client.event().await? {
                        self.report = Some(report);
                    }
                }
            }
        }
        self.busy = false;
        Ok(())
    }

    /// Ends the body (the final `.` of DATA, or the last BDAT chunk) unless the server decided
    /// already, waits for the outcome and returns the per-recipient report; the client is
    /// ready for the next message.
    ///
    /// Not cancel safe: a dropped `finish` cuts the message off ([`ClientError::Interrupted`]),
    /// and it may or may not have been delivered.
    pub async fn finish(mut self) -> Result<Report, ClientError> {
        self.enter()?;
        self.until_body().await?;
        if self.report.is_none() {
            self.client.connection.machine_mut().end_body()?;
            self.client.flush().await?;
        }
        loop {
            match self.client.event().await? {
                Event::Sent(report) => self.report = Some(report),
                Event::Ready => {
                    let Some(report) = self.report.take() else {
                        // Ready without a report: the machine never does that; not trusted.
                        self.client.ended();
                        return Err(ClientError::Closed);
                    };
                    self.client.in_message = false;
                    self.client.ready = true;
                    return Ok(report);
                }
                _ => {}
            }
        }
    }

    /// At the start of `write` and `finish`: the session must still hold this message, and
    /// no call of this writer may have been cut off.
    fn enter(&mut self) -> Result<(), ClientError> {
        if !self.client.in_message {
            // The session failed during an earlier call.
            return Err(ClientError::Closed);
        }
        if self.busy {
            return Err(ClientError::Interrupted);
        }
        self.busy = true;
        Ok(())
    }

    /// Runs the session until the machine takes body, or until the outcome is known without
    /// it (the message was refused, or a BDAT chunk was).
    async fn until_body(&mut self) -> Result<(), ClientError> {
        while self.report.is_none() && !self.client.connection.machine().wants_body() {
            match self.client.event().await? {
                Event::Sent(report) => self.report = Some(report),
                Event::Ready => {
                    // Ready before the report: the machine never does that; not trusted.
                    self.client.ended();
                    return Err(ClientError::Closed);
                }
                // Event::SendBody: the loop asks the machine itself.
                _ => {}
            }
        }
        Ok(())
    }
}
