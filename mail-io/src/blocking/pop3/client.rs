//! The POP3 client, blocking: connect, secure, log in, list, retrieve, delete, quit.

use std::io::{self, Read};
use std::net::TcpStream;

use bytes::{Buf, Bytes};
use pop3_proto::client::{Client as Machine, Event, Request};
use pop3_proto::types::{Capability, MessageNumber, ScanListing, UidListing};

use super::super::connection::connect_tcp;
use super::super::{Connection, Transport};

pub use crate::pop3_client::ClientError;
use crate::pop3_client::{Settings, pop3_builder_setters};

/// How to reach the server and log in; [`Client::connect`] starts one,
/// [`connect`](Self::connect) runs it.
pub struct ClientBuilder {
    settings: Settings,
}

pop3_builder_setters!(ClientBuilder);

impl ClientBuilder {
    /// Connects, reads the greeting, runs CAPA, STLS and the login, and returns once the
    /// client is ready for commands.
    pub fn connect(self) -> Result<Client, ClientError> {
        self.settings.check()?;
        let stream = connect_tcp(self.settings.address.as_str(), &self.settings.io)?;
        self.over(stream)
    }

    /// As [`connect`](Self::connect), over a transport connected already (the address given
    /// to [`Client::connect`] is not used).
    pub fn over<S: Transport>(mut self, transport: S) -> Result<Client<S>, ClientError> {
        let credentials = self.settings.take_credentials()?;
        let implicit = self.settings.config.implicit_tls;
        let machine = Machine::new(self.settings.config, credentials);
        #[cfg_attr(not(feature = "rustls"), allow(unused_mut))]
        let mut connection = Connection::new(machine, transport).with_config(self.settings.io);
        #[cfg(feature = "rustls")]
        if let Some(tls) = self.settings.tls {
            connection = if implicit {
                connection.connect_tls(tls)?
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
        client.until_ready()?;
        Ok(client)
    }
}

/// A POP3 session, logged in and ready for commands, one at a time.
///
/// ```no_run
/// use mail_io::blocking::pop3::{Client, MessageNumber};
/// use mail_io::TlsClient;
///
/// let mut client = Client::connect("pop.example.com:110")
///     .stls(TlsClient::webpki("pop.example.com")?)
///     .user_pass("alice", "secret")
///     .connect()?;
/// let (count, _size) = client.stat()?;
/// for n in 1..=count {
///     let Some(message) = u32::try_from(n).ok().and_then(MessageNumber::new) else { break };
///     let mut file = std::fs::File::create(format!("message-{n}.eml"))?;
///     std::io::copy(&mut client.retr(message)?, &mut file)?;
///     client.dele(message)?;
/// }
/// let committed = client.quit()?;
/// assert!(committed);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client<S: Transport = TcpStream> {
    connection: Connection<Machine, S>,
    /// Logged in and not failed: commands may go.
    ready: bool,
    /// A message is being received: its rest is read (and dropped) before the next command.
    in_message: bool,
}

impl<S: Transport> std::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connection", &self.connection)
            .field("ready", &self.ready)
            .field("in_message", &self.in_message)
            .finish()
    }
}

impl Client {
    /// Starts a connection to `address` (`host:port`); set it up with the builder's methods
    /// (a login method at least), then [`connect`](ClientBuilder::connect).
    pub fn connect(address: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            settings: Settings::new(address.into()),
        }
    }
}

impl<S: Transport> Client<S> {
    /// What the server offered in its last CAPA response (`None` if it refused CAPA).
    pub fn capabilities(&self) -> Option<&[Capability<'static>]> {
        self.connection.machine().capabilities()
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.connection.is_tls()
    }

    /// The connection underneath, with its machine.
    pub fn connection(&self) -> &Connection<Machine, S> {
        &self.connection
    }

    /// `STAT` (RFC 1939 5): the number of messages and their total size in octets, deleted
    /// ones not counted.
    pub fn stat(&mut self) -> Result<(u64, u64), ClientError> {
        match self.request(Request::Stat)? {
            Event::Stat { count, size } => Ok((count, size)),
            _ => Err(self.out_of_step()),
        }
    }

    /// `LIST` (RFC 1939 5): each message not deleted, with its size.
    pub fn list(&mut self) -> Result<Vec<ScanListing>, ClientError> {
        match self.request(Request::List(None))? {
            Event::Listing(listing) => Ok(listing),
            _ => Err(self.out_of_step()),
        }
    }

    /// `LIST msg` (RFC 1939 5): the size of one message.
    pub fn list_one(&mut self, message: MessageNumber) -> Result<ScanListing, ClientError> {
        match self.request(Request::List(Some(message)))? {
            Event::Scan(listing) => Ok(listing),
            _ => Err(self.out_of_step()),
        }
    }

    /// `UIDL` (RFC 1939 7): each message not deleted, with its unique-id, stable across
    /// sessions.
    pub fn uidl(&mut self) -> Result<Vec<UidListing<'static>>, ClientError> {
        match self.request(Request::Uidl(None))? {
            Event::UniqueIds(listing) => Ok(listing),
            _ => Err(self.out_of_step()),
        }
    }

    /// `UIDL msg` (RFC 1939 7): the unique-id of one message.
    pub fn uidl_one(&mut self, message: MessageNumber) -> Result<UidListing<'static>, ClientError> {
        match self.request(Request::Uidl(Some(message)))? {
            Event::UniqueId(listing) => Ok(listing),
            _ => Err(self.out_of_step()),
        }
    }

    /// `RETR msg` (RFC 1939 5): the message, as a [`Read`] of its octets, unstuffed. Read it
    /// to its end, or drop the reader: the rest is then read and thrown away at the next call.
    pub fn retr(&mut self, message: MessageNumber) -> Result<MessageReader<'_, S>, ClientError> {
        self.message(Request::Retr(message))
    }

    /// `TOP msg n` (RFC 1939 7): the headers, the blank line and the first `lines` lines of the
    /// body, as [`retr`](Self::retr) streams them.
    pub fn top(
        &mut self,
        message: MessageNumber,
        lines: u32,
    ) -> Result<MessageReader<'_, S>, ClientError> {
        self.message(Request::Top(message, lines))
    }

    /// `RETR msg`, the whole message in memory.
    pub fn retr_to_vec(&mut self, message: MessageNumber) -> Result<Vec<u8>, ClientError> {
        self.retr(message)?.to_vec()
    }

    /// `DELE msg` (RFC 1939 5): marks the message deleted; it goes at [`quit`](Self::quit),
    /// unless [`rset`](Self::rset) unmarks it first.
    pub fn dele(&mut self, message: MessageNumber) -> Result<(), ClientError> {
        match self.request(Request::Dele(message))? {
            Event::Deleted(_) => Ok(()),
            _ => Err(self.out_of_step()),
        }
    }

    /// `RSET` (RFC 1939 5): unmarks every message marked deleted.
    pub fn rset(&mut self) -> Result<(), ClientError> {
        match self.request(Request::Rset)? {
            Event::Done(..) => Ok(()),
            _ => Err(self.out_of_step()),
        }
    }

    /// `NOOP` (RFC 1939 5): the server answers, nothing else.
    pub fn noop(&mut self) -> Result<(), ClientError> {
        match self.request(Request::Noop)? {
            Event::Done(..) => Ok(()),
            _ => Err(self.out_of_step()),
        }
    }

    /// `QUIT` (RFC 1939 6): ends the session and closes the connection. `Ok(true)` when the
    /// server committed the deletions (`+OK`), `Ok(false)` when it answered `-ERR` (some
    /// messages marked deleted may remain).
    pub fn quit(mut self) -> Result<bool, ClientError> {
        let committed = match self.request(Request::Quit)? {
            Event::Closed { committed, .. } => committed,
            _ => return Err(self.out_of_step()),
        };
        // The machine closes after the answer: let the connection end cleanly.
        while let Some(event) = self.connection.next_event()? {
            if let Event::Error(error) = event {
                return Err(error.into());
            }
        }
        Ok(committed)
    }

    /// Sends `request` once the session is in step, and waits for its answer.
    fn request(&mut self, request: Request) -> Result<Event, ClientError> {
        self.skip_message()?;
        if !self.ready {
            return Err(ClientError::Closed);
        }
        self.connection.machine_mut().request(request)?;
        loop {
            let event = self.next_event()?;
            match event {
                Event::Refused(request, response) => {
                    return Err(ClientError::Refused { request, response });
                }
                Event::Stat { .. }
                | Event::Listing(_)
                | Event::Scan(_)
                | Event::UniqueIds(_)
                | Event::UniqueId(_)
                | Event::Deleted(_)
                | Event::Done(..) => return Ok(event),
                Event::Message { .. } => {
                    self.in_message = true;
                    return Ok(event);
                }
                Event::Closed { .. } => {
                    self.ready = false;
                    return Ok(event);
                }
                _ => {}
            }
        }
    }

    fn message(&mut self, request: Request) -> Result<MessageReader<'_, S>, ClientError> {
        match self.request(request)? {
            Event::Message {
                message, octets, ..
            } => Ok(MessageReader {
                client: self,
                message,
                octets,
                unread: Bytes::new(),
            }),
            _ => Err(self.out_of_step()),
        }
    }

    /// The next piece of the message being received; `None` at its end.
    fn body_chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        while self.in_message {
            match self.next_event() {
                Ok(Event::Body(chunk)) => return Ok(Some(chunk)),
                Ok(Event::MessageEnd(_)) => self.in_message = false,
                Ok(_) => {}
                Err(error) => {
                    self.in_message = false;
                    return Err(error);
                }
            }
        }
        Ok(None)
    }

    /// Reads what is left of a message whose reader was dropped before its end.
    fn skip_message(&mut self) -> Result<(), ClientError> {
        while self.body_chunk()?.is_some() {}
        Ok(())
    }

    /// The next event; a failed session, a closed connection or an I/O error ends the session.
    fn next_event(&mut self) -> Result<Event, ClientError> {
        match self.connection.next_event() {
            Ok(Some(Event::Error(error))) => {
                self.ready = false;
                Err(error.into())
            }
            Ok(Some(event)) => Ok(event),
            Ok(None) => {
                self.ready = false;
                Err(ClientError::Closed)
            }
            Err(error) => {
                self.ready = false;
                Err(error.into())
            }
        }
    }

    fn until_ready(&mut self) -> Result<(), ClientError> {
        loop {
            if let Event::Ready = self.next_event()? {
                self.ready = true;
                return Ok(());
            }
        }
    }

    /// An answer that does not fit the request: the machine answers each request with its
    /// own event, so this cannot happen; if it did, the session is no longer trusted.
    fn out_of_step(&mut self) -> ClientError {
        self.ready = false;
        ClientError::Closed
    }
}

/// A message being received ([`Client::retr`], [`Client::top`]): its octets as they arrive,
/// unstuffed (RFC 1939 3: the leading dot of a stuffed line is gone, the final `.` line is
/// not part of it), CRLF line ends as sent. Only what one read brought is held at a time.
///
/// Read it with [`next_chunk`](Self::next_chunk), or as a [`Read`] (`std::io::copy` into a
/// file, say). Dropping it before the end is fine: the client reads the rest and throws it
/// away at its next call, so the session stays in step.
pub struct MessageReader<'a, S: Transport = TcpStream> {
    client: &'a mut Client<S>,
    message: MessageNumber,
    octets: Option<u64>,
    /// What a read did not take of the last chunk.
    unread: Bytes,
}

impl<S: Transport> std::fmt::Debug for MessageReader<'_, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("message", &self.message)
            .field("octets", &self.octets)
            .field("unread", &self.unread.len())
            .finish_non_exhaustive()
    }
}

impl<S: Transport> MessageReader<'_, S> {
    /// The message.
    pub fn message(&self) -> MessageNumber {
        self.message
    }

    /// The size the server announced (`+OK 120 octets`), if it did. For `RETR` it is the size
    /// of the message as stored, which may differ from what arrives (line ends); for `TOP`
    /// it is usually the whole message's.
    pub fn octets(&self) -> Option<u64> {
        self.octets
    }

    /// The next piece of the message, never empty; `None` once it has all arrived.
    ///
    /// An error ends the session (the server closed the connection mid-message, a message over
    /// [`ClientConfig::max_message_size`](pop3_proto::client::ClientConfig::max_message_size), a line over [`ClientConfig::max_body_line`](pop3_proto::client::ClientConfig::max_body_line), a
    /// timeout...).
    pub fn next_chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        if !self.unread.is_empty() {
            return Ok(Some(std::mem::take(&mut self.unread)));
        }
        self.client.body_chunk()
    }

    /// Reads the rest of the message into memory.
    pub fn to_vec(mut self) -> Result<Vec<u8>, ClientError> {
        let mut octets = Vec::new();
        if let Some(size) = self.octets {
            // The announced size, trusted only so far.
            octets.reserve(usize::try_from(size).unwrap_or(0).min(1 << 20));
        }
        while let Some(chunk) = self.next_chunk()? {
            octets.extend_from_slice(&chunk);
        }
        Ok(octets)
    }
}

impl<S: Transport> Read for MessageReader<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        if self.unread.is_empty() {
            match self.client.body_chunk()? {
                Some(chunk) => self.unread = chunk,
                None => return Ok(0),
            }
        }
        let n = self.unread.len().min(buf.len());
        if let (Some(to), Some(from)) = (buf.get_mut(..n), self.unread.get(..n)) {
            to.copy_from_slice(from);
        }
        self.unread.advance(n);
        Ok(n)
    }
}
