//! The sans-IO POP3 client (RFC 1939, 2449, 2595, 3206, 5034).
//!
//! The application says what to do; the machine runs the dialogue. The driving loop and the
//! verbs are those of the other machines: hand over what the server sent
//! ([`Client::receive`], [`Client::receive_eof`], [`Client::handle_timeout`]) and drain
//! [`Client::poll_output`]. The client greets, asks for the capabilities, starts TLS by
//! policy, logs in, then says [`Event::Ready`]; from then on [`Client::request`] queues
//! requests (sent at once with PIPELINING, one at a time otherwise), each answered by its own
//! event. Messages stream: [`Event::Message`], [`Event::Body`] chunks, [`Event::MessageEnd`].
//! Once it is closed, [`Client::outcome`] says how the session ended, and whether the deletions
//! were committed.
//!
//! **The invariant:** after every input and every request, call `poll_output` until it
//! returns `None`.
//!
//! **Line ends.** RFC 1939 3 ends every line of a response with CRLF. A bare LF (or, in a
//! message, a bare CR) is refused the moment it arrives, in a status line, a listing line, a
//! SASL challenge or a message body alike: the session ends at once with
//! [`Error::MalformedResponse`] ([`ErrorKind::BareLf`] /
//! [`BareCr`](crate::codec::ErrorKind::BareCr), with the offset in the line or body), then
//! [`Output::Close`]. The client never waits for a CRLF that a server ending its lines in LF
//! would never send, and never guesses where such a message ends (`\n.\n` is no terminator).
//! There is no lenient mode: RFC 1939 allows no other line end.
//!
//! Here it fetches and deletes a message from this crate's own server, in memory:
//!
//! ```
//! use pop3_proto::client::{Client, ClientConfig, Credentials, Event, Outcome, Output, Request, TlsPolicy};
//! use pop3_proto::server::{self, Answer, MessageInfo, Server, ServerConfig};
//! use pop3_proto::types::{MessageNumber, UniqueId};
//!
//! let credentials = Credentials::user("alice", "secret")?;
//! let config = ClientConfig { tls: TlsPolicy::Never, allow_plaintext_auth: true, ..ClientConfig::default() };
//! let mut client = Client::new(config, credentials);
//! let mut server = Server::new(ServerConfig { plaintext_login: true, ..ServerConfig::default() });
//! let stored = b".signature\r\nline\r\n".to_vec();
//! let (mut to_server, mut to_client, mut fetched) = (Vec::new(), Vec::new(), Vec::new());
//! let mut committed = None;
//! while !client.is_closed() {
//!     while let Some(output) = server.poll_output() {
//!         match output {
//!             server::Output::Transmit(bytes) => to_client.extend_from_slice(&bytes),
//!             server::Output::Event(server::Event::Login(_)) => {
//!                 let uid: UniqueId = "a1".parse()?;
//!                 server.answer(Answer::Open(vec![MessageInfo { size: stored.len() as u64, uid }]))?;
//!             }
//!             server::Output::Event(server::Event::Retrieve { .. }) => {
//!                 server.answer(Answer::Accept)?;
//!                 server.send_body(&stored)?;
//!                 server.end_body()?;
//!             }
//!             server::Output::Event(event) if event.is_decision() => server.answer(Answer::Accept)?,
//!             _ => {}
//!         }
//!     }
//!     // The client takes every octet it is given (it reads every reply at once).
//!     let taken = client.receive(&to_client);
//!     to_client.drain(..taken);
//!     while let Some(output) = client.poll_output() {
//!         match output {
//!             Output::Transmit(bytes) => to_server.extend_from_slice(&bytes),
//!             Output::Event(Event::Ready) => {
//!                 let first = MessageNumber::FIRST;
//!                 client.request(Request::Retr(first))?;
//!                 client.request(Request::Dele(first))?;
//!                 client.request(Request::Quit)?;
//!             }
//!             Output::Event(Event::Body(chunk)) => fetched.extend_from_slice(&chunk),
//!             Output::Event(Event::Closed { committed: c, .. }) => committed = Some(c),
//!             Output::Event(Event::Error(error)) => return Err(error.into()),
//!             _ => {}
//!         }
//!     }
//!     // A server may take less (back-pressure): the rest is offered again, first.
//!     let taken = server.receive(&to_server);
//!     to_server.drain(..taken);
//! }
//! assert_eq!(fetched, stored);
//! assert_eq!(committed, Some(true));
//! // How the session ended, in one place.
//! assert_eq!(client.outcome(), Some(&Outcome::Quit { committed: true }));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod outcome;

use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Bytes, BytesMut};
use mail_wire::Secret;
use mail_wire::dot::{BodyError, DecodeBareEndings, DecoderConfig, DotDecoder, DotEvent};
use mail_wire::line::{LineConfig, LineError, LineReader};
use mail_wire::machine::{OutputQueue, TimerEpoch};
use mail_wire::sasl::{self, ClientMechanism, SaslError};

pub use config::{ClientConfig, TlsPolicy};
pub use outcome::Outcome;

use crate::codec::{
    DecodeError, ErrorKind, encode_command, parse_capability, parse_continuation,
    parse_language_listing, parse_response, parse_scan_listing, parse_selected_language,
    parse_stat, parse_uid_listing,
};
use crate::types::{
    ApopDigest, Capability, Command, InvalidValue, LanguageListing, LanguageTag, Mechanism,
    MessageNumber, Response, ScanListing, Status, UidListing, Username,
};

/// How the client logs in. Passwords are [`Secret`]s and SASL mechanisms come
/// from [`pop3_proto::sasl`](crate::sasl), both re-exported from `mail-wire`:
///
/// ```
/// use pop3_proto::Secret;
/// use pop3_proto::client::Credentials;
/// use pop3_proto::sasl::{ClientMechanism, PlainClient, XOAuth2Client};
/// use pop3_proto::types::Username;
///
/// let user = Credentials::User {
///     name: Username::new("alice")?,
///     password: Secret::new(String::from("secret")),
/// };
/// let mechanisms: Vec<Box<dyn ClientMechanism + Send>> = vec![
///     Box::new(XOAuth2Client::new("alice@example.org", "token")?),
///     Box::new(PlainClient::new(None, "alice", "secret")?),
/// ];
/// let sasl = Credentials::Sasl(mechanisms);
/// # let _ = (user, sasl);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub enum Credentials {
    /// `USER` then `PASS` (RFC 1939 7).
    User {
        /// The mailbox.
        name: Username<'static>,
        /// The password.
        password: Secret<String>,
    },
    /// `APOP` (RFC 1939 7): the digest of the greeting's timestamp and the shared secret.
    Apop {
        /// The mailbox.
        name: Username<'static>,
        /// The shared secret.
        secret: Secret<String>,
    },
    /// `AUTH` (RFC 5034) with the best of these mechanisms the server offers.
    Sasl(Vec<Box<dyn ClientMechanism + Send>>),
}

impl Credentials {
    /// `USER` then `PASS` from plain strings: the name as [`Username`] takes it, the password
    /// as [`Command::pass`] does (1 to 248 octets without CR, LF or NUL).
    pub fn user(
        name: impl Into<String>,
        password: impl Into<String>,
    ) -> Result<Self, InvalidValue> {
        let password = password.into();
        crate::types::check_secret(&password, "password")?;
        Ok(Self::User {
            name: Username::new(name.into())?,
            password: Secret::new(password),
        })
    }

    /// `APOP` from plain strings: the name as [`Username`] takes it, the shared secret as is.
    pub fn apop(name: impl Into<String>, secret: impl Into<String>) -> Result<Self, InvalidValue> {
        Ok(Self::Apop {
            name: Username::new(name.into())?,
            secret: Secret::new(secret.into()),
        })
    }
}

impl core::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::User { name, .. } => write!(f, "User({name})"),
            Self::Apop { name, .. } => write!(f, "Apop({name})"),
            Self::Sasl(mechanisms) => write!(f, "Sasl({} mechanisms)", mechanisms.len()),
        }
    }
}

/// Something the caller must act on, from [`Client::poll_output`].
///
/// `Transmit(bytes)` to send, `Event(event)`, `StartTls` (send what was transmitted, then start
/// TLS and call [`Client::tls_established`]) and `Close`: the shape all four machines share
/// ([`mail_wire::machine::Output`]).
pub type Output = mail_wire::machine::Output<Event>;

/// What the application asks for once the client is [`Event::Ready`] (LANG also before: see
/// [`Client::request`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Request {
    /// `STAT`: [`Event::Stat`].
    Stat,
    /// `LIST` ([`Event::Listing`]) or `LIST msg` ([`Event::Scan`]).
    List(Option<MessageNumber>),
    /// `UIDL` ([`Event::UniqueIds`]) or `UIDL msg` ([`Event::UniqueId`]).
    Uidl(Option<MessageNumber>),
    /// `RETR msg`: [`Event::Message`], [`Event::Body`]..., [`Event::MessageEnd`].
    Retr(MessageNumber),
    /// `TOP msg lines`: as `RETR`, with the headers and `lines` lines of the body.
    Top(MessageNumber, u32),
    /// `DELE msg`: [`Event::Deleted`].
    Dele(MessageNumber),
    /// `RSET`: [`Event::Done`].
    Rset,
    /// `NOOP`: [`Event::Done`].
    Noop,
    /// `QUIT`: [`Event::Closed`], which says whether the deletions were committed.
    Quit,
    /// `LANG` without argument (RFC 6856 3.2): [`Event::Languages`], the languages the server
    /// offers (when it announces [`Capability::Lang`]).
    Languages,
    /// `LANG range` (RFC 6856 3.2): [`Event::Language`] with the language the server chose
    /// for its text from now on (UTF-8), if its reply names one the range picks, or
    /// [`Event::Refused`] (the language stays).
    /// [`LanguageTag::any`] asks for the one the server's administrator prefers.
    Lang(LanguageTag<'static>),
}

impl Request {
    fn command(self) -> Command<'static> {
        match self {
            Self::Stat => Command::Stat,
            Self::List(n) => Command::List(n),
            Self::Uidl(n) => Command::Uidl(n),
            Self::Retr(n) => Command::Retr(n),
            Self::Top(n, lines) => Command::Top { message: n, lines },
            Self::Dele(n) => Command::Dele(n),
            Self::Rset => Command::Rset,
            Self::Noop => Command::Noop,
            Self::Quit => Command::Quit,
            Self::Languages => Command::Lang(None),
            Self::Lang(range) => Command::Lang(Some(range)),
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server's greeting.
    Greeting(Response<'static>),
    /// The CAPA response; `None` when the server refused CAPA (RFC 2449 5: an older server,
    /// assumed to offer nothing beyond RFC 1939). After STLS this comes again and only the new
    /// list counts.
    Capabilities(Option<Vec<Capability<'static>>>),
    /// The login succeeded.
    LoggedIn(Response<'static>),
    /// Logged in: call [`Client::request`].
    Ready,
    /// `STAT`: messages and octets.
    Stat {
        /// Messages in the maildrop (not counting deleted ones).
        count: u64,
        /// Their total size.
        size: u64,
    },
    /// `LIST`: every message not deleted.
    Listing(Vec<ScanListing>),
    /// `LIST msg`.
    Scan(ScanListing),
    /// `UIDL`: every message not deleted.
    UniqueIds(Vec<UidListing<'static>>),
    /// `UIDL msg`.
    UniqueId(UidListing<'static>),
    /// `RETR` / `TOP` accepted: the body follows as [`Event::Body`] chunks.
    Message {
        /// The message.
        message: MessageNumber,
        /// The size the server announced (`+OK 120 octets`), if it did.
        octets: Option<u64>,
        /// The first line.
        response: Response<'static>,
    },
    /// A piece of the message, unstuffed, byte for byte. Never empty.
    Body(Bytes),
    /// The end of the message.
    MessageEnd(MessageNumber),
    /// `DELE msg` succeeded.
    Deleted(MessageNumber),
    /// `RSET` or `NOOP` succeeded.
    Done(Request, Response<'static>),
    /// `LANG`: the languages the server offers (RFC 6856 3.2).
    Languages(Vec<LanguageListing<'static>>),
    /// `LANG range` succeeded (RFC 6856 3.2): the server's text is in this language from now
    /// on, starting with `response`.
    Language {
        /// The exact language tag the server selected, which starts the text of its `+OK`
        /// (`+OK es Idioma cambiado`). `None` when the text does not start with a language
        /// tag that the range asked for picks (RFC 4647 3.3.1): a server that left the tag out
        /// (`+OK Idioma cambiado`, or a bare `+OK`) still changed the language, but did not
        /// say to which.
        tag: Option<LanguageTag<'static>>,
        /// The response, in that language.
        response: Response<'static>,
    },
    /// The server refused a request (`-ERR`, with its response code if any); the session
    /// goes on.
    Refused(Request, Response<'static>),
    /// The server answered QUIT: whether it committed the deletions (RFC 1939 6: `+OK`), then
    /// [`Output::Close`].
    Closed {
        /// `+OK`: the marked messages are gone.
        committed: bool,
        /// The response.
        response: Response<'static>,
    },
    /// The session failed; [`Output::Close`] follows (after QUIT when the dialogue allows).
    Error(Error),
}

/// Why the session failed. [`Error::is_protocol_violation`] picks out the server's faults.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A response broke the grammar or a limit (a bad number, a unique-id outside 1 to 70
    /// printable characters, an over-long line...).
    #[error("malformed response: {0}")]
    MalformedResponse(DecodeError),
    /// A listing or message longer than the configured limit (it may never end).
    #[error("{what} over the limit of {limit}")]
    TooLarge {
        /// What.
        what: &'static str,
        /// The limit.
        limit: u64,
    },
    /// A response that answers nothing the client sent.
    #[error("unsolicited response")]
    Unsolicited,
    /// The server sent bytes after its `+OK` to STLS before TLS began (a response
    /// injection); none of them was read.
    #[error("{octets} octets after the STLS response (response injection)")]
    ResponseInjection {
        /// How many.
        octets: usize,
    },
    /// The server closed the connection while responses were owed.
    #[error("connection closed by the server")]
    ConnectionClosed,
    /// A response did not come in time.
    #[error("timed out waiting for the server")]
    Timeout,
    /// The server's greeting was `-ERR`.
    #[error("refused by the server")]
    Refused(Response<'static>),
    /// TLS is required and the server does not offer STLS.
    #[error("the server does not offer STLS")]
    TlsUnavailable,
    /// TLS is required and the server refused STLS.
    #[error("STLS refused")]
    TlsRefused(Response<'static>),
    /// Credentials would travel in plaintext (see [`ClientConfig::allow_plaintext_auth`]).
    #[error("login needs TLS")]
    AuthNeedsTls,
    /// The server offers no way in for these credentials (no common SASL mechanism, no APOP
    /// timestamp in the greeting).
    #[error("no login method in common with the server")]
    AuthUnavailable,
    /// The application's password cannot go in a PASS command (CR, LF or NUL, or too long).
    #[error("unusable credentials: {0}")]
    BadCredentials(InvalidValue),
    /// The server refused the login; its response code says why (`[AUTH]`, `[IN-USE]`,
    /// `[LOGIN-DELAY]`, `[SYS/TEMP]`...).
    #[error("login refused")]
    LoginFailed {
        /// The server's response.
        response: Response<'static>,
        /// Why the client cancelled a SASL exchange, if it did; or, with a `+OK` response,
        /// why it did not accept the server's success ([`SaslError::Incomplete`]: RFC 4422
        /// 3.6, a SCRAM server that did not prove itself, RFC 5802 5).
        cause: Option<SaslError>,
    },
}

impl Error {
    /// Whether the server broke the protocol.
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            Self::MalformedResponse(_)
                | Self::TooLarge { .. }
                | Self::Unsolicited
                | Self::ResponseInjection { .. }
        )
    }
}

/// The application used the machine wrongly; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// Not logged in yet (only LANG may be asked for before, RFC 6856 3.1), already
    /// quitting, or closed.
    #[error("the client is not ready")]
    NotReady,
    /// [`Client::tls_established`] without a preceding [`Output::StartTls`].
    #[error("TLS was not being started")]
    NotStartingTls,
}

/// The response the client waits for, in the order the commands went out.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Greeting,
    Capa,
    Stls,
    User,
    Pass,
    Apop,
    Auth,
    Request(Request),
    /// QUIT after a failure.
    Quit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Setup,
    StartingTls,
    Ready,
    /// QUIT sent (asked for, or after a failure).
    Quitting,
    Closed,
}

/// What the next input is.
#[derive(Debug)]
enum Reading {
    /// A first line.
    Line,
    /// The entries of a listing, up to `.`, each checked as it arrives.
    Listing(Listing),
    /// A message body.
    Body(MessageNumber, DotDecoder, u64),
}

/// A listing being read.
#[derive(Debug)]
enum Listing {
    Capa(Vec<Capability<'static>>),
    Scan(Vec<ScanListing>),
    Uid(Vec<UidListing<'static>>),
    Lang(Vec<LanguageListing<'static>>),
}

impl Listing {
    fn len(&self) -> usize {
        match self {
            Self::Capa(v) => v.len(),
            Self::Scan(v) => v.len(),
            Self::Uid(v) => v.len(),
            Self::Lang(v) => v.len(),
        }
    }

    /// Adds one line (unstuffed); CAPA lines may end in spaces (tolerated), which are kept
    /// where they belong to the value (an `IMPLEMENTATION` text).
    fn push(&mut self, line: &[u8]) -> Result<(), DecodeError> {
        match self {
            Self::Capa(v) => {
                let capability = match parse_capability(line) {
                    Ok(capability) => capability,
                    Err(_) => {
                        let end = line.iter().rposition(|b| *b != b' ').map_or(0, |p| p + 1);
                        parse_capability(line.get(..end).unwrap_or_default())?
                    }
                };
                v.push(capability.into_owned());
            }
            Self::Scan(v) => v.push(parse_scan_listing(line)?),
            Self::Uid(v) => v.push(parse_uid_listing(line)?.into_owned()),
            Self::Lang(v) => v.push(parse_language_listing(line)?.into_owned()),
        }
        Ok(())
    }
}

/// A SASL exchange in progress (it may hold credentials: not shown in `Debug`).
struct Exchange {
    mechanism: Box<dyn ClientMechanism + Send>,
    /// The initial response not sent with the command, for the server's first `+`.
    initial: Option<Secret<Vec<u8>>>,
    cancelled: Option<SaslError>,
}

impl core::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Exchange({})", self.mechanism.name())
    }
}

/// The POP3 client. See the [module docs](self).
pub struct Client {
    config: ClientConfig,
    credentials: Option<Credentials>,
    stage: Stage,
    lines: LineReader,
    /// Octets the line reader had consumed at the end of the last line (to tell a line that
    /// ended in a bare LF from one that ended in CRLF).
    line_end: u64,
    reading: Reading,
    expected: VecDeque<Expect>,
    /// Requests not yet sent (lock-step without PIPELINING).
    queued: VecDeque<Request>,
    output: OutputQueue<Event>,
    capabilities: Option<Vec<Capability<'static>>>,
    timestamp: Option<crate::types::Timestamp<'static>>,
    tls: bool,
    exchange: Option<Exchange>,
    /// Responses expected so far and responses received (see `receive`).
    issued: u64,
    answered: u64,
    /// Octets of the current body line (for the line limit).
    body_line: usize,
    /// How the session ended (set at the first failure, or when it closes).
    outcome: Option<Outcome>,
    /// The phase the timeout times (see [`timer_epoch`](Self::timer_epoch)).
    timer: TimerEpoch,
}

/// Octets of a multi-line response (a message, a listing) that restart the deadline: the
/// server must send this much within each [`ClientConfig::timeout`].
const RESPONSE_BLOCK: usize = 64 * 1024;

impl core::fmt::Debug for Client {
    /// Shows the state, never credentials.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("stage", &self.stage)
            .field("expected", &self.expected)
            .field("queued", &self.queued.len())
            .field("tls", &self.tls)
            .field("exchange", &self.exchange)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for a new connection, logging in with `credentials`; it waits for the
    /// greeting.
    pub fn new(config: ClientConfig, credentials: Credentials) -> Self {
        // SASL challenges may be longer than any other line (RFC 5034 4): 12 288 octets.
        let limit = config
            .max_response_line
            .max(config.max_listing_line)
            .max(sasl::AUTH_LINE_LIMIT);
        let tls = config.implicit_tls;
        Self {
            config,
            credentials: Some(credentials),
            stage: Stage::Setup,
            // A bare LF ends a line at once, so that it is refused at once (see `next_line`),
            // not after a CRLF that may never come.
            lines: LineReader::new(LineConfig::new(limit).accept_bare_lf(true)),
            line_end: 0,
            reading: Reading::Line,
            expected: VecDeque::from([Expect::Greeting]),
            queued: VecDeque::new(),
            output: OutputQueue::new(),
            capabilities: None,
            timestamp: None,
            tls,
            exchange: None,
            issued: 1,
            answered: 0,
            body_line: 0,
            outcome: None,
            timer: TimerEpoch::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The capabilities of the last CAPA (`None` before it, when refused, and after STLS
    /// until the next).
    pub fn capabilities(&self) -> Option<&[Capability<'static>]> {
        self.capabilities.as_deref()
    }

    /// Whether TLS is up.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether [`request`](Self::request) may be called (for LANG, also before: see there).
    pub fn is_ready(&self) -> bool {
        self.stage == Stage::Ready
    }

    /// How the session ended: `None` while it is open, then [`Outcome::Quit`] (with whether
    /// the deletions were committed), [`Outcome::ShutDown`] or [`Outcome::Failed`] with the
    /// error, once [`Output::Close`] was queued. The one place to read the end of a session,
    /// whatever events were drained.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome
            .as_ref()
            .filter(|_| self.stage == Stage::Closed)
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.stage == Stage::Closed
    }

    /// Octets held of a partial line, and entries of a listing being read (bounded by
    /// [`ClientConfig::max_listing_entries`]).
    pub fn buffered(&self) -> usize {
        let listing = match &self.reading {
            Reading::Listing(listing) => listing.len(),
            _ => 0,
        };
        self.lines.buffered() + listing
    }

    /// How long the server may take for the response now awaited, from the command (see
    /// [`timer_epoch`](Self::timer_epoch)), before [`handle_timeout`](Self::handle_timeout)
    /// should be called; `None` when no response is owed.
    pub fn timeout(&self) -> Option<Duration> {
        let streaming = !matches!(self.reading, Reading::Line);
        if self.stage == Stage::Closed || (self.expected.is_empty() && !streaming) {
            return None;
        }
        Some(self.config.timeout)
    }

    /// Changes where a new deadline starts: at every transmission, at every complete
    /// response line, and after every 64 KiB of a multi-line response; never while a line
    /// trickles in octet by octet.
    pub fn timer_epoch(&self) -> u64 {
        self.timer.get()
    }

    /// Takes the next output; `None` when there is nothing to do until the next input or
    /// request.
    pub fn poll_output(&mut self) -> Option<Output> {
        let output = self.output.pop();
        if matches!(output, Some(Output::Transmit(_))) {
            // What was just sent is answered under a deadline of its own.
            self.timer.restart();
        }
        output
    }

    /// Ends the session now (for example on shutdown): QUIT when the dialogue allows it,
    /// otherwise close. Mind that QUIT commits the deletions (RFC 1939 6): every DELE made so
    /// far takes effect, as with [`Request::Quit`]. To end the session without deleting
    /// anything, request [`Request::Rset`] first, or close the connection instead.
    pub fn shut_down(&mut self) {
        if self.request(Request::Quit).is_err() {
            self.close(Outcome::ShutDown);
        }
    }

    /// Asks for something, once [`Event::Ready`]: sent at once with PIPELINING, after the
    /// responses before it otherwise. Nothing may follow `QUIT`.
    ///
    /// [`Request::Lang`] and [`Request::Languages`] may come earlier, from the start (RFC 6856
    /// 3.1: LANG is valid in the AUTHORIZATION state too): they go out after CAPA and STLS,
    /// just before the login, whose responses are then in the language chosen; asked for once
    /// the login is under way, they go out after it.
    pub fn request(&mut self, request: Request) -> Result<(), ApiError> {
        let before_login = matches!(self.stage, Stage::Setup | Stage::StartingTls);
        if before_login && matches!(request, Request::Lang(_) | Request::Languages) {
            self.queued.push_back(request);
            return Ok(());
        }
        if self.stage != Stage::Ready {
            return Err(ApiError::NotReady);
        }
        if request == Request::Quit {
            self.stage = Stage::Quitting;
        }
        self.queued.push_back(request);
        self.send_queued();
        Ok(())
    }

    /// Hands over bytes from the server. All are taken.
    #[must_use = "bytes that were not taken must be offered again"]
    pub fn receive(&mut self, bytes: &[u8]) -> usize {
        match self.stage {
            Stage::Closed => return bytes.len(),
            Stage::StartingTls => {
                if !bytes.is_empty() {
                    self.fail(Error::ResponseInjection {
                        octets: bytes.len(),
                    });
                }
                return bytes.len();
            }
            _ => {}
        }
        let mut input = Bytes::copy_from_slice(bytes);
        // Commands written while this input is read cannot have been answered in it.
        let horizon = self.issued;
        while !input.is_empty() && self.stage != Stage::Closed && self.stage != Stage::StartingTls {
            match &mut self.reading {
                Reading::Body(message, decoder, size) => {
                    let message = *message;
                    match decoder.decode(&mut input) {
                        Some(DotEvent::Data(chunk)) => {
                            *size += chunk.len() as u64;
                            self.body_chunk(chunk);
                        }
                        Some(DotEvent::Invalid(error)) => self.fail(body_error(error)),
                        Some(DotEvent::End) => {
                            self.reading = Reading::Line;
                            self.emit(Event::MessageEnd(message));
                            self.send_queued();
                        }
                        None => {}
                    }
                }
                Reading::Line | Reading::Listing(..) => {
                    let Some(line) = self.next_line(&mut input) else {
                        continue;
                    };
                    let line = match line {
                        Ok(line) => line,
                        Err(error) => {
                            let error = line_error(error);
                            self.fail(Error::MalformedResponse(error));
                            break;
                        }
                    };
                    if matches!(self.reading, Reading::Listing(..)) {
                        self.listing_line(line);
                        continue;
                    }
                    if self.answered >= horizon {
                        self.fail(Error::Unsolicited);
                        break;
                    }
                    let after = input.len() + self.lines.buffered();
                    self.first_line(&line, after);
                }
            }
        }
        bytes.len()
    }

    /// The server closed its side: fine once QUIT was answered; otherwise
    /// [`Error::ConnectionClosed`].
    pub fn receive_eof(&mut self) {
        if self.stage != Stage::Closed {
            let between = self.expected.is_empty() && matches!(self.reading, Reading::Line);
            if between && self.stage == Stage::Quitting && self.queued.is_empty() {
                // Nothing owed, but no QUIT was answered either: nothing was committed.
                self.close(Outcome::ShutDown);
            } else {
                self.fail(Error::ConnectionClosed);
            }
        }
    }

    /// The [`timeout`](Self::timeout) expired: [`Error::Timeout`], and close.
    pub fn handle_timeout(&mut self) {
        if self.stage != Stage::Closed {
            self.fail(Error::Timeout);
        }
    }

    /// TLS is up after [`Output::StartTls`]: the client asks for the capabilities again and
    /// forgets the old ones (RFC 2595 4).
    pub fn tls_established(&mut self) -> Result<(), ApiError> {
        if self.stage != Stage::StartingTls {
            return Err(ApiError::NotStartingTls);
        }
        self.tls = true;
        self.capabilities = None;
        self.lines.reset();
        self.line_end = 0;
        self.stage = Stage::Setup;
        self.command(&Command::Capa, Expect::Capa);
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Inside.

/// A message body the dot decoder refused: too large, or a bare CR or LF (RFC 1939 3: lines
/// end in CRLF), found as soon as the octet after it arrived.
fn body_error(error: BodyError) -> Error {
    let at = |offset: u64| usize::try_from(offset).unwrap_or(usize::MAX);
    let kind = match error {
        BodyError::TooLarge { limit } => {
            return Error::TooLarge {
                what: "message",
                limit,
            };
        }
        BodyError::BareCr { offset } => (at(offset), ErrorKind::BareCr),
        BodyError::BareLf { offset } => (at(offset), ErrorKind::BareLf),
        // A kind added to mail-wire later: still a broken body.
        _ => (0, ErrorKind::BareLf),
    };
    Error::MalformedResponse(DecodeError {
        offset: kind.0,
        kind: kind.1,
    })
}

fn line_error(error: LineError) -> DecodeError {
    let kind = match error {
        LineError::TooLong { limit, .. } => ErrorKind::LineTooLong { limit },
        LineError::BareCr { .. } => ErrorKind::BareCr,
        _ => ErrorKind::BareLf,
    };
    let offset = match error {
        LineError::BareCr { offset } | LineError::BareLf { offset } => offset,
        _ => 0,
    };
    DecodeError { offset, kind }
}

impl Client {
    /// The next line of a first line or a listing. The reader ends a line at a bare LF too;
    /// such a line is refused here, at once (RFC 1939 3: every line ends in CRLF), rather than
    /// held until a CRLF that a server which ends lines in LF would never send.
    fn next_line(&mut self, input: &mut Bytes) -> Option<Result<Bytes, LineError>> {
        let line = self.lines.next_line(input)?;
        let end = self.lines.consumed();
        let used = end.saturating_sub(self.line_end);
        self.line_end = end;
        Some(match line {
            Ok(line) if used == line.len() as u64 + 1 => {
                Err(LineError::BareLf { offset: line.len() })
            }
            other => other,
        })
    }

    fn command(&mut self, command: &Command<'_>, expect: Expect) {
        encode_command(command, self.output.buffer());
        self.expect(expect);
    }

    fn expect(&mut self, expect: Expect) {
        self.expected.push_back(expect);
        self.issued += 1;
    }

    fn flush(&mut self) {
        self.output.flush();
    }

    fn emit(&mut self, event: Event) {
        self.output.emit(event);
    }

    /// Closes the session; `outcome` counts unless a failure came first.
    fn close(&mut self, outcome: Outcome) {
        if self.stage == Stage::Closed {
            return;
        }
        self.outcome.get_or_insert(outcome);
        self.output.close();
        self.stage = Stage::Closed;
        self.expected.clear();
        self.queued.clear();
        self.exchange = None;
        self.credentials = None;
    }

    /// Ends the session: QUIT when the dialogue is in step, otherwise just close.
    fn fail(&mut self, error: Error) {
        if self.stage == Stage::Closed {
            return;
        }
        let in_step = self.expected.is_empty()
            && matches!(self.reading, Reading::Line)
            && self.stage != Stage::StartingTls
            && !error.is_protocol_violation()
            && !matches!(
                error,
                Error::ConnectionClosed | Error::Timeout | Error::Refused(_)
            );
        let failed = Outcome::Failed(error.clone());
        self.emit(Event::Error(error));
        self.queued.clear();
        if in_step {
            self.outcome.get_or_insert(failed);
            self.stage = Stage::Quitting;
            self.command(&Command::Quit, Expect::Quit);
        } else {
            self.close(failed);
        }
    }

    /// Sends what may go now: everything with PIPELINING, else one request at a time. Before
    /// the login only LANG waits (see [`Client::request`]): the login goes on once it has been
    /// answered.
    fn send_queued(&mut self) {
        if self.stage == Stage::Setup {
            if self.expected.is_empty() && matches!(self.reading, Reading::Line) {
                self.login();
            }
            return;
        }
        let pipelining = self.config.pipelining
            && self
                .capabilities
                .as_ref()
                .is_some_and(|c| c.contains(&Capability::Pipelining));
        while !self.queued.is_empty() {
            let idle = self.expected.is_empty() && matches!(self.reading, Reading::Line);
            if !pipelining && !idle {
                break;
            }
            let Some(request) = self.queued.pop_front() else {
                break;
            };
            self.command(&request.clone().command(), Expect::Request(request));
        }
    }

    fn body_chunk(&mut self, chunk: Bytes) {
        self.timer.count(chunk.len(), RESPONSE_BLOCK);
        // The line limit: octets since the last LF, across chunks.
        let limit = self.config.max_body_line;
        let mut current = self.body_line;
        let mut last = 0;
        for lf in memchr::memchr_iter(b'\n', &chunk) {
            current += lf - last + 1;
            if current > limit {
                break;
            }
            current = 0;
            last = lf + 1;
        }
        if current <= limit {
            current += chunk.len() - last;
        }
        if current > limit {
            return self.fail(Error::TooLarge {
                what: "message line",
                limit: limit as u64,
            });
        }
        self.body_line = current;
        self.emit(Event::Body(chunk));
    }

    fn listing_line(&mut self, line: Bytes) {
        self.timer.count(line.len() + 2, RESPONSE_BLOCK);
        if line.len() + 2 > self.config.max_listing_line {
            let limit = self.config.max_listing_line;
            return self.fail(Error::MalformedResponse(DecodeError {
                offset: 0,
                kind: ErrorKind::LineTooLong { limit },
            }));
        }
        let Reading::Listing(listing) = &mut self.reading else {
            return;
        };
        if line.as_ref() == b"." {
            let Reading::Listing(listing) = core::mem::replace(&mut self.reading, Reading::Line)
            else {
                return;
            };
            return self.listing_done(listing);
        }
        if listing.len() >= self.config.max_listing_entries {
            let limit = self.config.max_listing_entries as u64;
            return self.fail(Error::TooLarge {
                what: "listing",
                limit,
            });
        }
        // Dot-stuffed like any multi-line response.
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if let Err(error) = listing.push(line) {
            self.fail(Error::MalformedResponse(error));
        }
    }

    fn listing_done(&mut self, listing: Listing) {
        let event = match listing {
            Listing::Capa(capabilities) => {
                self.capabilities = Some(capabilities.clone());
                self.emit(Event::Capabilities(Some(capabilities)));
                return self.after_capa();
            }
            Listing::Scan(listings) => Event::Listing(listings),
            Listing::Uid(listings) => Event::UniqueIds(listings),
            Listing::Lang(listings) => Event::Languages(listings),
        };
        self.emit(event);
        self.send_queued();
    }

    fn first_line(&mut self, line: &[u8], after: usize) {
        self.timer.restart();
        let continuation =
            self.expected.front() == Some(&Expect::Auth) && parse_continuation(line).is_some();
        if !continuation && line.len() + 2 > self.config.max_response_line {
            let limit = self.config.max_response_line;
            return self.fail(Error::MalformedResponse(DecodeError {
                offset: limit,
                kind: ErrorKind::LineTooLong { limit },
            }));
        }
        let Some(expect) = self.expected.front().cloned() else {
            return self.fail(Error::Unsolicited);
        };
        // A SASL continuation (`+ ` or a bare `+`, RFC 5034 4) answers AUTH only.
        if expect == Expect::Auth {
            if let Some(payload) = parse_continuation(line) {
                self.expected.pop_front();
                self.answered += 1;
                return self.auth_challenge(payload);
            }
        }
        // Text that is not UTF-8 (Latin-1 from an old server) is only for humans: keep it
        // readable rather than end the session.
        let text = String::from_utf8_lossy(line);
        let response = match parse_response(text.as_bytes(), true) {
            Ok(response) => response.into_owned(),
            Err(error) => return self.fail(Error::MalformedResponse(error)),
        };
        self.expected.pop_front();
        self.answered += 1;
        let ok = response.status == Status::Ok;
        match expect {
            Expect::Greeting => {
                if !ok {
                    return self.fail(Error::Refused(response));
                }
                self.timestamp = response
                    .timestamp()
                    .map(crate::types::Timestamp::into_owned);
                self.emit(Event::Greeting(response));
                self.command(&Command::Capa, Expect::Capa);
            }
            Expect::Capa => {
                if ok {
                    self.reading = Reading::Listing(Listing::Capa(Vec::new()));
                } else {
                    // RFC 2449 5: no CAPA, no extensions.
                    self.capabilities = None;
                    self.emit(Event::Capabilities(None));
                    self.after_capa();
                }
            }
            Expect::Stls => {
                if ok {
                    if after > 0 {
                        return self.fail(Error::ResponseInjection { octets: after });
                    }
                    self.stage = Stage::StartingTls;
                    self.flush();
                    self.output.start_tls();
                } else if self.config.tls == TlsPolicy::Required {
                    self.fail(Error::TlsRefused(response));
                } else {
                    self.login();
                }
            }
            Expect::User => {
                if !ok {
                    return self.login_failed(response, None);
                }
                let password = match &self.credentials {
                    Some(Credentials::User { password, .. }) => password.expose_secret().clone(),
                    _ => return self.fail(Error::AuthUnavailable),
                };
                match Command::pass(password) {
                    Ok(command) => self.command(&command, Expect::Pass),
                    Err(error) => self.fail(Error::BadCredentials(error)),
                }
            }
            Expect::Pass | Expect::Apop | Expect::Auth => {
                let mut cause = None;
                if let Some(mut exchange) = self.exchange.take() {
                    cause = exchange.cancelled.take();
                    // RFC 4422 3.6: success before the mechanism completed (a SCRAM server
                    // that never signed, RFC 5802 5) is a failure; the client QUITs.
                    if ok && cause.is_none() {
                        cause = exchange.mechanism.complete().err();
                    }
                }
                if ok && cause.is_none() {
                    self.credentials = None;
                    self.emit(Event::LoggedIn(response));
                    self.stage = Stage::Ready;
                    self.emit(Event::Ready);
                    // LANG asked for while the login was under way.
                    self.send_queued();
                } else {
                    self.login_failed(response, cause);
                }
            }
            // The QUIT after a failure: the failure is the outcome.
            Expect::Quit => self.close(Outcome::ShutDown),
            Expect::Request(request) => self.request_response(request, response),
        }
    }

    fn request_response(&mut self, request: Request, response: Response<'static>) {
        if response.status == Status::Err {
            if request == Request::Quit {
                self.emit(Event::Closed {
                    committed: false,
                    response,
                });
                return self.close(Outcome::Quit { committed: false });
            }
            self.emit(Event::Refused(request, response));
            return self.send_queued();
        }
        let text = response.text.as_str();
        let event = match request {
            Request::Stat => match parse_stat(text) {
                Ok((count, size)) => Event::Stat { count, size },
                Err(error) => return self.fail(Error::MalformedResponse(error)),
            },
            Request::List(Some(asked)) => match parse_scan_listing(text.as_bytes()) {
                Ok(listing) if listing.message == asked => Event::Scan(listing),
                Ok(_) => return self.fail(Error::MalformedResponse(other_message())),
                Err(error) => return self.fail(Error::MalformedResponse(error)),
            },
            Request::Uidl(Some(asked)) => match parse_uid_listing(text.as_bytes()) {
                Ok(listing) if listing.message == asked => Event::UniqueId(listing.into_owned()),
                Ok(_) => return self.fail(Error::MalformedResponse(other_message())),
                Err(error) => return self.fail(Error::MalformedResponse(error)),
            },
            Request::List(None) => {
                self.reading = Reading::Listing(Listing::Scan(Vec::new()));
                return;
            }
            Request::Uidl(None) => {
                self.reading = Reading::Listing(Listing::Uid(Vec::new()));
                return;
            }
            Request::Retr(message) | Request::Top(message, _) => {
                let octets = announced_octets(text);
                let decoder = DotDecoder::new(
                    DecoderConfig::new()
                        .max_size(self.config.max_message_size)
                        .bare_endings(DecodeBareEndings::Reject),
                );
                self.reading = Reading::Body(message, decoder, 0);
                self.body_line = 0;
                self.emit(Event::Message {
                    message,
                    octets,
                    response,
                });
                return;
            }
            Request::Languages => {
                self.reading = Reading::Listing(Listing::Lang(Vec::new()));
                return;
            }
            Request::Lang(range) => Event::Language {
                tag: selected_language(text, &range),
                response,
            },
            Request::Dele(message) => Event::Deleted(message),
            Request::Rset | Request::Noop => Event::Done(request, response),
            Request::Quit => {
                self.emit(Event::Closed {
                    committed: true,
                    response,
                });
                return self.close(Outcome::Quit { committed: true });
            }
        };
        self.emit(event);
        self.send_queued();
    }

    fn after_capa(&mut self) {
        let offers_stls = self
            .capabilities
            .as_ref()
            .map(|c| c.contains(&Capability::Stls));
        if !self.tls && self.config.tls != TlsPolicy::Never {
            // Required: try STLS even when CAPA was refused (an older server may still have it).
            let try_stls = match (offers_stls, self.config.tls) {
                (Some(offered), _) => offered,
                (None, policy) => policy == TlsPolicy::Required,
            };
            if try_stls {
                return self.command(&Command::Stls, Expect::Stls);
            }
            if self.config.tls == TlsPolicy::Required {
                return self.fail(Error::TlsUnavailable);
            }
        }
        self.login();
    }

    fn login(&mut self) {
        if !self.tls && !self.config.allow_plaintext_auth {
            return self.fail(Error::AuthNeedsTls);
        }
        // RFC 6856 3.1: LANG asked for before the login goes first, one at a time.
        if let Some(request) = self.queued.pop_front() {
            return self.command(&request.clone().command(), Expect::Request(request));
        }
        match self.credentials.take() {
            Some(Credentials::User { name, password }) => {
                self.command(&Command::User(name.clone()), Expect::User);
                self.credentials = Some(Credentials::User { name, password });
            }
            Some(Credentials::Apop { name, secret }) => {
                let Some(timestamp) = &self.timestamp else {
                    return self.fail(Error::AuthUnavailable);
                };
                let digest = ApopDigest::compute(timestamp, secret.expose_secret().as_bytes());
                let command = Command::Apop { name, digest };
                // RFC 2449 4: a name that fills a USER line leaves no room for the digest.
                let length = command.encoded_len();
                if length > crate::codec::MAX_COMMAND_LINE {
                    return self.fail(Error::BadCredentials(InvalidValue::TooLong {
                        what: "APOP command",
                        length,
                        limit: crate::codec::MAX_COMMAND_LINE,
                    }));
                }
                self.command(&command, Expect::Apop);
            }
            Some(Credentials::Sasl(mechanisms)) => self.start_sasl(mechanisms),
            None => self.fail(Error::AuthUnavailable),
        }
    }

    fn start_sasl(&mut self, mut mechanisms: Vec<Box<dyn ClientMechanism + Send>>) {
        let offered: Vec<Mechanism<'static>> = self
            .capabilities
            .as_ref()
            .and_then(|c| {
                c.iter().find_map(|capability| match capability {
                    Capability::Sasl(list) => Some(list.to_vec()),
                    _ => None,
                })
            })
            .unwrap_or_default();
        let names: Vec<&str> = mechanisms.iter().map(|m| m.name()).collect();
        // Without a SASL capability (CAPA refused), try the application's first choice.
        let chosen = if offered.is_empty() && self.capabilities.is_none() {
            names.first().map(|n| String::from(*n))
        } else {
            sasl::preferred(&offered, &names).map(String::from)
        };
        let Some(chosen) = chosen else {
            return self.fail(Error::AuthUnavailable);
        };
        let Some(position) = mechanisms
            .iter()
            .position(|m| m.name().eq_ignore_ascii_case(&chosen))
        else {
            return self.fail(Error::AuthUnavailable);
        };
        let mut mechanism = mechanisms.swap_remove(position);
        let Ok(name) = Mechanism::new(chosen) else {
            return self.fail(Error::AuthUnavailable);
        };
        let initial = mechanism.initial_response();
        let mut line = BytesMut::new();
        line.extend_from_slice(b"AUTH ");
        line.extend_from_slice(name.as_str().as_bytes());
        let mut stashed = None;
        if let Some(initial) = initial {
            let encoded = sasl::encode_initial_response(initial.expose_secret());
            let encoded = encoded.expose_secret();
            // RFC 5034 4: the command with its initial response stays within 255 octets.
            let fits = line.len() + 1 + encoded.len() + 2 <= crate::codec::MAX_COMMAND_LINE;
            if self.config.initial_response && fits {
                line.extend_from_slice(b" ");
                line.extend_from_slice(encoded.as_bytes());
            } else {
                stashed = Some(initial);
            }
        }
        line.extend_from_slice(b"\r\n");
        self.output.buffer().extend_from_slice(&line);
        self.expect(Expect::Auth);
        self.exchange = Some(Exchange {
            mechanism,
            initial: stashed,
            cancelled: None,
        });
    }

    fn auth_challenge(&mut self, payload: &[u8]) {
        let Some(mut exchange) = self.exchange.take() else {
            return self.fail(Error::Unsolicited);
        };
        if exchange.cancelled.is_some() {
            return self.fail(Error::Unsolicited);
        }
        let response = match sasl::decode_challenge(payload, sasl::MAX_DECODED_LEN) {
            // The two-step form: the initial response after the first, empty, challenge.
            Ok(challenge) if challenge.is_empty() && exchange.initial.is_some() => Ok(exchange
                .initial
                .take()
                .unwrap_or_else(|| Secret::new(Vec::new()))),
            Ok(challenge) => exchange.mechanism.respond(&challenge),
            Err(error) => Err(error),
        };
        match response {
            Ok(response) => {
                let line = sasl::encode_response(response.expose_secret());
                self.output
                    .buffer()
                    .extend_from_slice(line.expose_secret().as_bytes());
            }
            Err(error) => {
                self.output
                    .buffer()
                    .extend_from_slice(sasl::CANCEL.as_bytes());
                exchange.cancelled = Some(error);
            }
        }
        self.output.buffer().extend_from_slice(b"\r\n");
        self.expect(Expect::Auth);
        self.exchange = Some(exchange);
    }

    fn login_failed(&mut self, response: Response<'static>, cause: Option<SaslError>) {
        self.credentials = None;
        self.fail(Error::LoginFailed { response, cause });
    }
}

/// A listing of another message than the one asked for.
fn other_message() -> DecodeError {
    DecodeError {
        offset: 0,
        kind: ErrorKind::Syntax {
            expected: "the listing of the message asked for",
        },
    }
}

/// The language tag that starts the text of the `+OK` to `LANG range` (RFC 6856 3.2: `+OK`, a
/// space, the exact tag selected, a space, text), if it is one the range picks (RFC 4647
/// 3.3.1) and has the shape of a language tag rather than of a word (RFC 5646 2.1: a primary
/// language subtag of 2 or 3 letters, or the `i-` and `x-` prefixes). Anything else is text
/// in a language the server did not name.
fn selected_language(text: &str, range: &LanguageTag<'_>) -> Option<LanguageTag<'static>> {
    let tag = parse_selected_language(text.trim_start_matches(' ')).ok()?;
    let mut subtags = tag.as_str().split('-');
    let primary = subtags.next().unwrap_or_default();
    let shaped = match primary.len() {
        2 | 3 => true,
        // `i-default`, `x-private`: a singleton is never a tag on its own.
        1 => matches!(primary, "i" | "I" | "x" | "X") && subtags.next().is_some(),
        // 4 letters are reserved, 5 to 8 for languages not registered yet (RFC 5646 2.2.1).
        _ => false,
    };
    (shaped && range.matches(&tag)).then(|| tag.into_owned())
}

/// The size in `+OK 120 octets` (RFC 1939 5 example), if the text starts with it.
fn announced_octets(text: &str) -> Option<u64> {
    let (number, rest) = text.split_once(' ')?;
    if !rest
        .get(..6)
        .is_some_and(|w| w.eq_ignore_ascii_case("octets"))
    {
        return None;
    }
    crate::types::whole_number(number.as_bytes(), "octets", u64::MAX).ok()
}

mail_wire::impl_machine!(Client, Event, ApiError);

#[cfg(test)]
mod outcome_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod edge_tests;
