//! The POP3 client over tokio: connect, secure, log in, list, retrieve, delete, quit.

use std::collections::VecDeque;
use std::future::{Future, IntoFuture};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, Bytes};
use pop3_proto::client::{Client as Machine, Event, Request};
use pop3_proto::types::{Capability, MessageNumber, ScanListing, UidListing};
use tokio::io::{AsyncRead, ReadBuf};
use tokio::net::TcpStream;

use crate::connection::connect_tcp;
use crate::{Connection, Transport};

pub use crate::pop3_client::ClientError;
use crate::pop3_client::{Settings, pop3_builder_setters};

/// How to reach the server and log in; [`Client::connect`] starts one, `.await` (or
/// [`connect`](Self::connect)) runs it.
///
/// With a SASL mechanism of your own (OAuth here):
///
/// ```no_run
/// # async fn oauth(token: String) -> Result<(), Box<dyn std::error::Error>> {
/// use mail_io::TlsClient;
/// use mail_io::pop3::{Client, XOAuth2Client};
///
/// let client = Client::connect("pop.gmail.com:995")
///     .implicit_tls(TlsClient::webpki("pop.gmail.com")?)
///     .sasl(Box::new(XOAuth2Client::new("alice@gmail.com", token)?))
///     .await?;
/// # Ok(())
/// # }
/// ```
pub struct ClientBuilder {
    settings: Settings,
}

pop3_builder_setters!(ClientBuilder);

impl ClientBuilder {
    /// Connects, reads the greeting, runs CAPA, STLS and the login, and returns once the
    /// client is ready for commands.
    pub async fn connect(self) -> Result<Client, ClientError> {
        self.settings.check()?;
        let stream = connect_tcp(self.settings.address.as_str(), &self.settings.io).await?;
        self.over(stream).await
    }

    /// As [`connect`](Self::connect), over a transport connected already (the address given
    /// to [`Client::connect`] is not used).
    pub async fn over<T: Transport>(mut self, transport: T) -> Result<Client<T>, ClientError> {
        let credentials = self.settings.take_credentials()?;
        let implicit = self.settings.config.implicit_tls;
        let machine = Machine::new(self.settings.config, credentials);
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
            unanswered: VecDeque::new(),
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

/// A POP3 session, logged in: list, retrieve and delete messages, then [`quit`](Self::quit)
/// to commit the deletions.
///
/// One command at a time; each waits for its response, except in [`fetch`](Self::fetch),
/// which pipelines `RETR` and `DELE` over many messages. A command the server refuses
/// (`-ERR`) is [`ClientError::Refused`] and the session goes on; any other error ends it.
/// Messages stream ([`retr`](Self::retr), [`top`](Self::top)): memory stays bounded whatever
/// their size.
///
/// # Cancel safety
///
/// Every method may be cancelled (its future dropped by `tokio::time::timeout` or a
/// `select!`, say) and the session stays in step: a command already handed over still goes
/// to the server, and its answer is read and thrown away by the next call, before that call
/// sends its own command; each answer is checked against the command it answers. A call
/// cancelled while it reads what earlier calls left sends nothing. So a cancelled call may or
/// may not have taken effect: a cancelled [`dele`](Self::dele) may still mark its message,
/// which [`quit`](Self::quit) then deletes ([`rset`](Self::rset) unmarks every message, to be
/// sure), and a cancelled [`rset`](Self::rset) may still unmark. A [`MessageReader`] may be
/// dropped, or one of its reads cancelled, at any point: the rest of the message is read and
/// thrown away the same way. [`quit`](Self::quit) takes the client: cancelled, it closes the
/// connection, and QUIT may or may not have reached the server (the deletions may or may not
/// be committed).
///
/// # Ending the session: QUIT commits
///
/// Deletions take effect only at QUIT (RFC 1939 6): [`quit`](Self::quit) sends it and says
/// whether the server committed them. Dropping the client closes the connection without
/// QUIT, and the server deletes nothing. Mind the same when you drive the POP3 client machine
/// yourself on a [`Connection`] watching a [`Shutdown`](crate::Shutdown) signal
/// ([`Connection::with_shutdown`]): the machine's [`shut_down`](crate::Machine::shut_down)
/// sends QUIT when the dialogue allows it, and that QUIT commits every DELE made so far. A
/// shutdown ends the session as `quit` does, it does not abort it: to leave the maildrop as it
/// was, send RSET before, or close the connection instead.
///
/// ```no_run
/// # async fn fetch() -> Result<(), Box<dyn std::error::Error>> {
/// use mail_io::TlsClient;
/// use mail_io::pop3::Client;
///
/// let mut client = Client::connect("pop.example.com:110")
///     .stls(TlsClient::webpki("pop.example.com")?)
///     .user_pass("alice", "secret")
///     .await?;
/// let mut messages = Vec::new();
/// for entry in client.list().await? {
///     messages.push(client.retr_to_vec(entry.message).await?);
///     client.dele(entry.message).await?;
/// }
/// let committed = client.quit().await?; // whether the deletions were made
/// # Ok(())
/// # }
/// ```
pub struct Client<T: Transport = TcpStream> {
    connection: Connection<Machine, T>,
    /// Logged in and not failed: commands may go.
    ready: bool,
    /// A message is being received: its rest is read (and dropped) before the next command.
    in_message: bool,
    /// Requests handed to the machine whose answers were not taken yet, oldest first: the one
    /// under way, and those whose calls were cancelled. Their answers are read (and dropped)
    /// before the next request's, and each answer is checked against its request.
    unanswered: VecDeque<Request>,
}

impl<T: Transport> std::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connection", &self.connection)
            .field("ready", &self.ready)
            .field("in_message", &self.in_message)
            .field("unanswered", &self.unanswered)
            .finish()
    }
}

impl Client {
    /// Starts a connection to `address` (`host:port`); set it up with the builder's methods
    /// (a login method at least), then `.await` it.
    pub fn connect(address: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            settings: Settings::new(address.into()),
        }
    }
}

impl<T: Transport> Client<T> {
    /// What the server offered in its last CAPA response (`None` if it refused CAPA).
    pub fn capabilities(&self) -> Option<&[Capability<'static>]> {
        self.connection.machine().capabilities()
    }

    /// Whether the session runs over TLS.
    pub fn is_tls(&self) -> bool {
        self.connection.is_tls()
    }

    /// The connection underneath, with its machine.
    pub fn connection(&self) -> &Connection<Machine, T> {
        &self.connection
    }

    /// `STAT` (RFC 1939 5): the number of messages and their total size in octets, deleted
    /// ones not counted.
    pub async fn stat(&mut self) -> Result<(u64, u64), ClientError> {
        match self.request(Request::Stat).await? {
            Event::Stat { count, size } => Ok((count, size)),
            _ => Err(self.out_of_step()),
        }
    }

    /// `LIST` (RFC 1939 5): each message not deleted, with its size.
    pub async fn list(&mut self) -> Result<Vec<ScanListing>, ClientError> {
        match self.request(Request::List(None)).await? {
            Event::Listing(listing) => Ok(listing),
            _ => Err(self.out_of_step()),
        }
    }

    /// `LIST msg` (RFC 1939 5): the size of one message.
    pub async fn list_one(&mut self, message: MessageNumber) -> Result<ScanListing, ClientError> {
        match self.request(Request::List(Some(message))).await? {
            Event::Scan(listing) => Ok(listing),
            _ => Err(self.out_of_step()),
        }
    }

    /// `UIDL` (RFC 1939 7): each message not deleted, with its unique-id, stable across
    /// sessions.
    pub async fn uidl(&mut self) -> Result<Vec<UidListing<'static>>, ClientError> {
        match self.request(Request::Uidl(None)).await? {
            Event::UniqueIds(listing) => Ok(listing),
            _ => Err(self.out_of_step()),
        }
    }

    /// `UIDL msg` (RFC 1939 7): the unique-id of one message.
    pub async fn uidl_one(
        &mut self,
        message: MessageNumber,
    ) -> Result<UidListing<'static>, ClientError> {
        match self.request(Request::Uidl(Some(message))).await? {
            Event::UniqueId(listing) => Ok(listing),
            _ => Err(self.out_of_step()),
        }
    }

    /// `RETR msg` (RFC 1939 5): the message, as a stream of its octets, unstuffed. Read it
    /// to its end, or drop the reader: the rest is then read and thrown away at the next call.
    pub async fn retr(
        &mut self,
        message: MessageNumber,
    ) -> Result<MessageReader<'_, T>, ClientError> {
        self.message(Request::Retr(message)).await
    }

    /// `TOP msg n` (RFC 1939 7): the headers, the blank line and the first `lines` lines of the
    /// body, as [`retr`](Self::retr) streams them.
    pub async fn top(
        &mut self,
        message: MessageNumber,
        lines: u32,
    ) -> Result<MessageReader<'_, T>, ClientError> {
        self.message(Request::Top(message, lines)).await
    }

    /// `RETR msg`, the whole message in memory.
    pub async fn retr_to_vec(&mut self, message: MessageNumber) -> Result<Vec<u8>, ClientError> {
        let mut reader = self.retr(message).await?;
        let mut octets = Vec::new();
        if let Some(size) = reader.octets() {
            // The announced size, trusted only so far.
            octets.reserve(usize::try_from(size).unwrap_or(0).min(1 << 20));
        }
        while let Some(chunk) = reader.next_chunk().await? {
            octets.extend_from_slice(&chunk);
        }
        Ok(octets)
    }

    /// `DELE msg` (RFC 1939 5): marks the message deleted; it goes at [`quit`](Self::quit)
    /// (at any QUIT, the one a shutdown of the machine sends included: see
    /// [Ending the session](Self#ending-the-session-quit-commits)), unless
    /// [`rset`](Self::rset) unmarks it first. Cancelled, it may still mark the message (see
    /// [Cancel safety](Self#cancel-safety)).
    pub async fn dele(&mut self, message: MessageNumber) -> Result<(), ClientError> {
        match self.request(Request::Dele(message)).await? {
            Event::Deleted(_) => Ok(()),
            _ => Err(self.out_of_step()),
        }
    }

    /// `RSET` (RFC 1939 5): unmarks every message marked deleted.
    pub async fn rset(&mut self) -> Result<(), ClientError> {
        match self.request(Request::Rset).await? {
            Event::Done(..) => Ok(()),
            _ => Err(self.out_of_step()),
        }
    }

    /// `NOOP` (RFC 1939 5): the server answers, nothing else.
    pub async fn noop(&mut self) -> Result<(), ClientError> {
        match self.request(Request::Noop).await? {
            Event::Done(..) => Ok(()),
            _ => Err(self.out_of_step()),
        }
    }

    /// `QUIT` (RFC 1939 6): ends the session and closes the connection. `Ok(true)` when the
    /// server committed the deletions (`+OK`), `Ok(false)` when it answered `-ERR` (some
    /// messages marked deleted may remain). Answers still owed to cancelled calls are read
    /// first. Dropping the future closes the connection; QUIT may or may not have reached the
    /// server then.
    pub async fn quit(mut self) -> Result<bool, ClientError> {
        let committed = match self.request(Request::Quit).await? {
            Event::Closed { committed, .. } => committed,
            _ => return Err(self.out_of_step()),
        };
        // The machine closes after the answer: let the connection end cleanly. The outcome is
        // known already, so a failure from here on changes nothing.
        while let Ok(Some(_)) = self.connection.next_event().await {}
        Ok(committed)
    }

    /// `RETR` for each of `messages`, in order, pipelined: a [`Fetch`] that hands out each
    /// message as a [`MessageReader`] and sends the `DELE`s asked for
    /// ([`Fetch::delete`]) along with the next requests.
    ///
    /// When the server offers PIPELINING (and [`ClientConfig::pipelining`](pop3_proto::client::ClientConfig::pipelining) is on), up to
    /// [`Fetch::DEFAULT_WINDOW`] `RETR`s ([`Fetch::window`]) go out together, and more as the
    /// messages come in, so a distant server is not waited for once per message; otherwise
    /// one command at a time, as the other methods do. Each message still streams: only what
    /// one read brought is held, whatever the size of the messages and of the window.
    /// Nothing is sent until the first [`Fetch::next`].
    pub fn fetch<I>(&mut self, messages: I) -> Fetch<'_, T>
    where
        I: IntoIterator<Item = MessageNumber>,
    {
        Fetch {
            client: self,
            waiting: messages.into_iter().collect(),
            deletions: VecDeque::new(),
            window: Fetch::<T>::DEFAULT_WINDOW,
            started: false,
        }
    }

    /// Sends `request` once the session is in step, and waits for its answer.
    async fn request(&mut self, request: Request) -> Result<Event, ClientError> {
        self.catch_up().await?;
        if !self.ready {
            return Err(ClientError::Closed);
        }
        self.hand_over(request)?;
        self.answer().await
    }

    /// Hands `request` to the machine (sent at once, or after the answers before it without
    /// PIPELINING), its answer owed from then on.
    fn hand_over(&mut self, request: Request) -> Result<(), ClientError> {
        self.connection.machine_mut().request(request.clone())?;
        self.unanswered.push_back(request);
        Ok(())
    }

    /// Whether requests go out without waiting for the answers before them.
    fn pipelines(&self) -> bool {
        let machine = self.connection.machine();
        machine.config().pipelining
            && machine
                .capabilities()
                .is_some_and(|c| c.contains(&Capability::Pipelining))
    }

    /// Reads what earlier calls left unread: the rest of a message whose reader was dropped,
    /// and the answers to requests whose calls were cancelled (a message among them read to
    /// its end), all thrown away.
    async fn catch_up(&mut self) -> Result<(), ClientError> {
        loop {
            self.skip_message().await?;
            if self.unanswered.is_empty() {
                return Ok(());
            }
            match self.answer().await {
                Ok(_) | Err(ClientError::Refused { .. }) => {}
                Err(error) => return Err(error),
            }
        }
    }

    /// Waits for the answer to the oldest unanswered request; an answer to another request
    /// ends the session (it is out of step).
    async fn answer(&mut self) -> Result<Event, ClientError> {
        loop {
            let event = self.next_event().await?;
            match answers(&event, self.unanswered.front().cloned()) {
                // News on the way (a body chunk of a message being skipped, say).
                None => continue,
                Some(false) => return Err(self.out_of_step()),
                Some(true) => {
                    self.unanswered.pop_front();
                }
            }
            return match event {
                Event::Refused(request, response) => {
                    Err(ClientError::Refused { request, response })
                }
                Event::Message { .. } => {
                    self.in_message = true;
                    Ok(event)
                }
                Event::Closed { .. } => {
                    self.ready = false;
                    Ok(event)
                }
                event => Ok(event),
            };
        }
    }

    async fn message(&mut self, request: Request) -> Result<MessageReader<'_, T>, ClientError> {
        match self.request(request).await? {
            Event::Message {
                message, octets, ..
            } => Ok(MessageReader {
                client: self,
                message,
                octets,
            }),
            _ => Err(self.out_of_step()),
        }
    }

    /// The next piece of the message being received; `None` at its end.
    async fn body_chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        while self.in_message {
            match self.next_event().await {
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
    async fn skip_message(&mut self) -> Result<(), ClientError> {
        while self.body_chunk().await?.is_some() {}
        Ok(())
    }

    /// The next event; a failed session, a closed connection or an I/O error ends the session.
    async fn next_event(&mut self) -> Result<Event, ClientError> {
        match self.connection.next_event().await {
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

    async fn until_ready(&mut self) -> Result<(), ClientError> {
        loop {
            if let Event::Ready = self.next_event().await? {
                self.ready = true;
                return Ok(());
            }
        }
    }

    /// An answer that does not fit the request: the machine answers each request with its
    /// own event, in order, so this cannot happen; if it did, the session is no longer
    /// trusted.
    fn out_of_step(&mut self) -> ClientError {
        self.ready = false;
        self.unanswered.clear();
        ClientError::Closed
    }
}

/// Many messages retrieved at once ([`Client::fetch`]): `RETR` pipelined over a bounded
/// window, each message handed out as a [`MessageReader`] in the order asked, and `DELE`s sent
/// when asked for ([`delete`](Self::delete)), typically once the message is stored.
///
/// Call [`next`](Self::next) until it returns `Ok(None)`: that is once every message was
/// handed out (or refused) and every `DELE` answered. A message or a `DELE` the server refuses
/// is [`ClientError::Refused`] (its [`request`](ClientError::Refused::request) says which) and
/// the fetch goes on: call `next` again. Any other error ends the session, and `next` then
/// says [`ClientError::Closed`].
///
/// **Deletion waits for you.** No `DELE` goes out unless [`delete`](Self::delete) asked for
/// it, and then only with the next call to `next`: a message is never marked before the
/// application is done with it (stored durably, say), and a failure before that leaves it on
/// the server. `DELE`s share the pipeline with the `RETR`s still under way, their answers
/// are read in order by `next`, and they take effect at [`Client::quit`] only, as always.
///
/// **Cancel safety** as for every call of the client: a reader from this fetch may be
/// dropped before its end (the rest of the message is read and thrown away by the next `next`),
/// a `next` may be cancelled (the next one goes on where it stopped), and the fetch itself may
/// be dropped at any point. The client's next call then first reads the answers still owed,
/// each checked against its request, and throws them away: with PIPELINING, that may be up to
/// a window of messages read for nothing. Deletions asked for but not yet sent are never sent;
/// those sent may have marked their messages ([`Client::rset`] unmarks them all).
///
/// ```no_run
/// # async fn fetch(mut client: mail_io::pop3::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use mail_io::pop3::ClientError;
///
/// let numbers: Vec<_> = client.list().await?.iter().map(|entry| entry.message).collect();
/// let mut fetch = client.fetch(numbers);
/// loop {
///     let mut reader = match fetch.next().await {
///         Ok(Some(reader)) => reader,
///         Ok(None) => break,
///         // This message (or a DELE) was refused; the others go on.
///         Err(ClientError::Refused { request, response }) => {
///             eprintln!("{request:?}: {}", response.text());
///             continue;
///         }
///         Err(error) => return Err(error.into()),
///     };
///     let message = reader.message();
///     let mut stored = Vec::new(); // a file, say, made durable before the DELE
///     while let Some(chunk) = reader.next_chunk().await? {
///         stored.extend_from_slice(&chunk);
///     }
///     fetch.delete(message); // goes out with the next call to `next`
/// }
/// drop(fetch);
/// let committed = client.quit().await?;
/// # Ok(())
/// # }
/// ```
pub struct Fetch<'a, T: Transport = TcpStream> {
    client: &'a mut Client<T>,
    /// Messages not asked for yet, in order.
    waiting: VecDeque<MessageNumber>,
    /// `DELE`s asked for and not handed to the machine yet.
    deletions: VecDeque<MessageNumber>,
    /// How many `RETR`s may wait for their answers at once.
    window: usize,
    /// The answers owed to calls made before this fetch were read: every request the client
    /// still owes an answer to is this fetch's.
    started: bool,
}

impl<T: Transport> std::fmt::Debug for Fetch<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetch")
            .field("waiting", &self.waiting.len())
            .field("deletions", &self.deletions)
            .field("window", &self.window)
            .field("unanswered", &self.client.unanswered)
            .finish_non_exhaustive()
    }
}

impl<T: Transport> Fetch<'_, T> {
    /// How many `RETR`s wait for their answers at once, by default, when the server offers
    /// PIPELINING.
    pub const DEFAULT_WINDOW: usize = 32;

    /// How many `RETR`s may wait for their answers at once when the server offers PIPELINING
    /// (1 at least; [`DEFAULT_WINDOW`](Self::DEFAULT_WINDOW) unless set). Without PIPELINING
    /// the window is 1: one command at a time.
    pub fn window(mut self, messages: usize) -> Self {
        self.window = messages.max(1);
        self
    }

    /// Asks for `DELE message`, sent with the next call to [`next`](Self::next) (whose
    /// answers include this one's: a refusal is [`ClientError::Refused`] there). Any message
    /// may be named, one of this fetch or not.
    pub fn delete(&mut self, message: MessageNumber) {
        self.deletions.push_back(message);
    }

    /// Messages not handed out yet: those not asked for, and those asked for whose answers
    /// have not come.
    pub fn remaining(&self) -> usize {
        let asked = self
            .client
            .unanswered
            .iter()
            .filter(|r| matches!(r, Request::Retr(_)))
            .count();
        self.waiting.len() + if self.started { asked } else { 0 }
    }

    /// The next message, as it starts arriving; `Ok(None)` once every message was handed out
    /// and every `DELE` asked for was answered.
    ///
    /// Reads what the last reader left of its message first, then sends the `DELE`s asked
    /// for and as many `RETR`s as the window allows. [`ClientError::Refused`] for a message
    /// (`RETR`) or a `DELE` the server refused: the fetch goes on. Any other error ends the
    /// session (a server that closes the connection mid-batch is
    /// [`Session`](ClientError::Session)`(`[`ConnectionClosed`](pop3_proto::client::Error::ConnectionClosed)`)`).
    pub async fn next(&mut self) -> Result<Option<MessageReader<'_, T>>, ClientError> {
        let Self {
            client,
            waiting,
            deletions,
            window,
            started,
        } = self;
        let client: &mut Client<T> = client;
        if *started {
            client.skip_message().await?;
        } else {
            client.catch_up().await?;
            *started = true;
        }
        loop {
            if !client.ready {
                return Err(ClientError::Closed);
            }
            while let Some(&message) = deletions.front() {
                client.hand_over(Request::Dele(message))?;
                deletions.pop_front();
            }
            let window = if client.pipelines() { *window } else { 1 };
            let mut asked = client
                .unanswered
                .iter()
                .filter(|r| matches!(r, Request::Retr(_)))
                .count();
            while asked < window {
                let Some(&message) = waiting.front() else {
                    break;
                };
                client.hand_over(Request::Retr(message))?;
                waiting.pop_front();
                asked += 1;
            }
            if client.unanswered.is_empty() {
                return Ok(None);
            }
            match client.answer().await? {
                Event::Message {
                    message, octets, ..
                } => {
                    return Ok(Some(MessageReader {
                        client,
                        message,
                        octets,
                    }));
                }
                Event::Deleted(_) => {}
                _ => return Err(client.out_of_step()),
            }
        }
    }
}

/// Whether `event` answers `request` (the oldest request without its answer, if any);
/// `None` when it answers no request at all. The machine's events say what they answer: the
/// request itself, or the message it names.
fn answers(event: &Event, request: Option<Request>) -> Option<bool> {
    let fits = |wanted: Request| request == Some(wanted);
    Some(match event {
        Event::Stat { .. } => fits(Request::Stat),
        Event::Listing(_) => fits(Request::List(None)),
        Event::Scan(listing) => fits(Request::List(Some(listing.message))),
        Event::UniqueIds(_) => fits(Request::Uidl(None)),
        Event::UniqueId(listing) => fits(Request::Uidl(Some(listing.message))),
        Event::Message { message, .. } => {
            matches!(request, Some(Request::Retr(m) | Request::Top(m, _)) if m == *message)
        }
        Event::Deleted(message) => fits(Request::Dele(*message)),
        Event::Done(answered, _) | Event::Refused(answered, _) => fits(answered.clone()),
        Event::Closed { .. } => fits(Request::Quit),
        _ => return None,
    })
}

/// A message being received ([`Client::retr`], [`Client::top`]): its octets as they arrive,
/// unstuffed (RFC 1939 3: the leading dot of a stuffed line is gone, the final `.` line is
/// not part of it), line ends as sent. Only what one read brought is held at a time.
///
/// Read it with [`next_chunk`](Self::next_chunk), or turn it into a [`tokio::io::AsyncRead`]
/// with [`into_async_read`](Self::into_async_read). Dropping it before the end is fine: the
/// client reads the rest and throws it away at its next call, so the session stays in step.
///
/// ```no_run
/// # async fn fetch(client: &mut mail_io::pop3::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use mail_io::pop3::MessageNumber;
///
/// let mut reader = client.retr(MessageNumber::FIRST).await?;
/// let mut size = 0;
/// while let Some(chunk) = reader.next_chunk().await? {
///     size += chunk.len(); // or write it somewhere
/// }
/// client.dele(MessageNumber::FIRST).await?;
/// # Ok(())
/// # }
/// ```
pub struct MessageReader<'a, T: Transport = TcpStream> {
    client: &'a mut Client<T>,
    message: MessageNumber,
    octets: Option<u64>,
}

impl<T: Transport> std::fmt::Debug for MessageReader<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MessageReader")
            .field("message", &self.message)
            .field("octets", &self.octets)
            .finish_non_exhaustive()
    }
}

impl<'a, T: Transport> MessageReader<'a, T> {
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
    /// [`ClientConfig::max_message_size`](pop3_proto::client::ClientConfig::max_message_size), a timeout...).
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        self.client.body_chunk().await
    }

    /// Reads the rest of the message into memory.
    pub async fn to_vec(mut self) -> Result<Vec<u8>, ClientError> {
        let mut octets = Vec::new();
        while let Some(chunk) = self.next_chunk().await? {
            octets.extend_from_slice(&chunk);
        }
        Ok(octets)
    }

    /// The rest of the message as a [`tokio::io::AsyncRead`], for `tokio::io::copy` into a
    /// file, say. The client stays borrowed until it is dropped: use it in one expression,
    /// or drop it before the next command.
    ///
    /// ```no_run
    /// # async fn fetch(
    /// #     client: &mut mail_io::pop3::Client,
    /// #     file: &mut (impl tokio::io::AsyncWrite + Unpin),
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// use mail_io::pop3::MessageNumber;
    ///
    /// // `file`: a `tokio::fs::File`, say.
    /// let mut body = client.retr(MessageNumber::FIRST).await?.into_async_read();
    /// tokio::io::copy(&mut body, file).await?;
    /// drop(body);
    /// client.dele(MessageNumber::FIRST).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn into_async_read(self) -> AsyncMessageReader<'a, T> {
        AsyncMessageReader {
            client: Reading::Idle(self.client),
            message: self.message,
            unread: Bytes::new(),
        }
    }
}

/// A message being received, as a [`tokio::io::AsyncRead`]
/// ([`MessageReader::into_async_read`]). Dropping it before the end is fine, as for
/// [`MessageReader`].
pub struct AsyncMessageReader<'a, T: Transport = TcpStream> {
    client: Reading<'a, T>,
    message: MessageNumber,
    /// What a read did not take of the last chunk.
    unread: Bytes,
}

/// The answer to one read: the client comes back with it.
type Chunk<'a, T> = (&'a mut Client<T>, Result<Option<Bytes>, ClientError>);

/// The client, or the read under way that holds it: `poll_read` cannot keep an `async fn`'s
/// future otherwise. Dropping a read under way leaves the client waiting for the rest of the
/// message, which its next call reads and drops.
enum Reading<'a, T: Transport> {
    Idle(&'a mut Client<T>),
    Busy(Pin<Box<dyn Future<Output = Chunk<'a, T>> + Send + 'a>>),
    /// Only while switching between the two.
    Switching,
}

impl<T: Transport> std::fmt::Debug for AsyncMessageReader<'_, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncMessageReader")
            .field("message", &self.message)
            .field("busy", &matches!(self.client, Reading::Busy(_)))
            .field("unread", &self.unread.len())
            .finish()
    }
}

impl<T: Transport> AsyncMessageReader<'_, T> {
    /// The message.
    pub fn message(&self) -> MessageNumber {
        self.message
    }

    /// The next chunk, through a boxed future that holds the client meanwhile.
    fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Result<Option<Bytes>, ClientError>> {
        loop {
            match std::mem::replace(&mut self.client, Reading::Switching) {
                Reading::Idle(client) => {
                    self.client = Reading::Busy(Box::pin(async move {
                        let chunk = client.body_chunk().await;
                        (client, chunk)
                    }));
                }
                Reading::Busy(mut read) => {
                    return match read.as_mut().poll(cx) {
                        Poll::Ready((client, chunk)) => {
                            self.client = Reading::Idle(client);
                            Poll::Ready(chunk)
                        }
                        Poll::Pending => {
                            self.client = Reading::Busy(read);
                            Poll::Pending
                        }
                    };
                }
                // Reached only if a poll panicked half-way: the reader is spent.
                Reading::Switching => return Poll::Ready(Err(ClientError::Closed)),
            }
        }
    }
}

impl<T: Transport> AsyncRead for AsyncMessageReader<'_, T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.unread.is_empty() {
            match ready!(this.poll_chunk(cx)) {
                Ok(Some(chunk)) => this.unread = chunk,
                Ok(None) => return Poll::Ready(Ok(())),
                Err(error) => return Poll::Ready(Err(error.into())),
            }
        }
        let n = this.unread.len().min(buf.remaining());
        if let Some(part) = this.unread.get(..n) {
            buf.put_slice(part);
        }
        this.unread.advance(n);
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use pop3_proto::types::{Response, Text, UniqueId};

    fn n(number: u32) -> MessageNumber {
        MessageNumber::new(number).unwrap()
    }

    #[test]
    fn answers_are_matched_to_their_requests() {
        let ok = Response::ok(Text::new("fine").unwrap());
        let uid = |message| UidListing {
            message,
            uid: UniqueId::new("u").unwrap(),
        };
        let message = |number| Event::Message {
            message: n(number),
            octets: None,
            response: ok.clone(),
        };
        let fitting = [
            (Event::Stat { count: 1, size: 2 }, Request::Stat),
            (Event::Listing(Vec::new()), Request::List(None)),
            (
                Event::Scan(ScanListing {
                    message: n(2),
                    size: 3,
                }),
                Request::List(Some(n(2))),
            ),
            (Event::UniqueIds(Vec::new()), Request::Uidl(None)),
            (Event::UniqueId(uid(n(2))), Request::Uidl(Some(n(2)))),
            (message(2), Request::Retr(n(2))),
            (message(2), Request::Top(n(2), 0)),
            (Event::Deleted(n(2)), Request::Dele(n(2))),
            (Event::Done(Request::Noop, ok.clone()), Request::Noop),
            (Event::Done(Request::Rset, ok.clone()), Request::Rset),
            (
                Event::Refused(Request::Dele(n(2)), ok.clone()),
                Request::Dele(n(2)),
            ),
            (
                Event::Closed {
                    committed: true,
                    response: ok.clone(),
                },
                Request::Quit,
            ),
        ];
        for (event, request) in &fitting {
            assert_eq!(
                answers(event, Some(request.clone())),
                Some(true),
                "{event:?}"
            );
            // An answer with nothing asked, or to another request, is out of step.
            assert_eq!(answers(event, None), Some(false), "{event:?}");
            for (_, other) in &fitting {
                if answers(event, Some(other.clone())) == Some(true) {
                    continue;
                }
                assert_eq!(answers(event, Some(other.clone())), Some(false));
            }
        }
        // The reviewer's case: DELE 1's answer is not DELE 2's, nor NOOP's.
        assert_eq!(
            answers(&Event::Deleted(n(1)), Some(Request::Dele(n(2)))),
            Some(false)
        );
        assert_eq!(
            answers(
                &Event::Refused(Request::Dele(n(2)), ok.clone()),
                Some(Request::Noop)
            ),
            Some(false)
        );
        assert_eq!(answers(&message(1), Some(Request::Retr(n(2)))), Some(false));
        // News is no answer.
        for event in [
            Event::Body(Bytes::from_static(b"x")),
            Event::MessageEnd(n(1)),
            Event::Ready,
        ] {
            assert_eq!(answers(&event, Some(Request::Noop)), None);
        }
    }
}
