//! The sans-IO POP3 server (RFC 1939, 2449, 2595, 3206, 5034, 6856).
//!
//! The machine speaks the protocol; the application owns the maildrop. It never reads a
//! socket, a clock or a file: the caller hands it what arrived ([`Server::receive`]), the end
//! of the stream ([`Server::receive_eof`]) and expired timeouts ([`Server::handle_timeout`]),
//! and drains [`Server::poll_output`]: bytes to send, [`Event`]s, the point where TLS starts,
//! and the end of the connection. The verbs are those of the SMTP machines.
//!
//! **The invariant:** after every input, answer and body call, call `poll_output` until it
//! returns `None`. Events marked *decision* wait for [`Server::answer`]; until then (and while
//! a message is being sent) pipelined commands wait, bounded by
//! [`ServerConfig::max_pending`], so responses always go out in order.
//!
//! After a login the application hands over the maildrop listing ([`Answer::Open`]); from then
//! on the machine answers STAT, LIST, UIDL, DELE, RSET and NOOP itself (RFC 1939 5), asks for
//! message contents ([`Event::Retrieve`]), which the application streams
//! ([`Server::send_body`], [`Server::end_body`]), and at QUIT asks once to commit the deletions
//! ([`Event::Commit`]). A session that ends any other way commits nothing.
//!
//! ```
//! use pop3_proto::server::{Answer, Event, MessageInfo, Output, Server, ServerConfig};
//! use pop3_proto::types::UniqueId;
//!
//! let config = ServerConfig { plaintext_login: true, ..ServerConfig::default() };
//! let mut server = Server::new(config);
//! let mailbox = [b"Subject: one\r\n\r\n.hello\r\n".to_vec()];
//! let mut sent = Vec::new();
//! let mut deleted = Vec::new();
//! let client: &[&[u8]] = &[b"USER alice\r\nPASS secret words\r\n", b"STAT\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n"];
//! let mut input = client.iter();
//! let mut unread = Vec::new();
//! loop {
//!     while let Some(output) = server.poll_output() {
//!         match output {
//!             Output::Transmit(bytes) => sent.extend_from_slice(&bytes),
//!             Output::Event(Event::Login(login)) => {
//!                 let answer = if login.verify_secret(b"secret words") {
//!                     let uid = UniqueId::new("msg-1")?;
//!                     Answer::Open(vec![MessageInfo { size: mailbox[0].len() as u64, uid }])
//!                 } else {
//!                     Answer::reject("[AUTH] wrong password")?
//!                 };
//!                 server.answer(answer)?;
//!             }
//!             Output::Event(Event::Retrieve { message, .. }) => {
//!                 server.answer(Answer::Accept)?;
//!                 server.send_body(&mailbox[message.index()])?;
//!                 server.end_body()?;
//!             }
//!             Output::Event(Event::Commit { deleted: marked }) => {
//!                 deleted = marked; // delete them for good, then:
//!                 server.answer(Answer::Accept)?;
//!             }
//!             Output::Event(event) if event.is_decision() => server.answer(Answer::Accept)?,
//!             Output::Event(_) | Output::StartTls => {}
//!             Output::Close => break,
//!         }
//!     }
//!     if server.is_closed() { break; }
//!     // What arrived goes behind what the machine did not take before (back-pressure while
//!     // a decision or an output waits); only what it takes leaves the buffer.
//!     match input.next() {
//!         Some(bytes) => unread.extend_from_slice(bytes),
//!         None if unread.is_empty() => break,
//!         None => {}
//!     }
//!     let taken = server.receive(&unread);
//!     unread.drain(..taken);
//! }
//! assert_eq!(deleted.len(), 1);
//! let transcript = String::from_utf8(sent)?;
//! assert!(transcript.starts_with("+OK POP3 server ready\r\n+OK\r\n+OK alice's maildrop has 1 message (24 octets)\r\n+OK 1 24\r\n"));
//! assert!(transcript.contains("+OK 24 octets\r\nSubject: one\r\n\r\n..hello\r\n.\r\n"));
//! assert!(transcript.ends_with("+OK message 1 deleted\r\n+OK bye\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;

use alloc::boxed::Box;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;
use core::time::Duration;

use bytes::{Bytes, BytesMut};
use mail_wire::Secret;
use mail_wire::dot::{BodyError, DotEncoder};
use mail_wire::line::{LineConfig, LineError, LineReader};
use mail_wire::machine::{OutputQueue, TimerEpoch};
use mail_wire::sasl::{
    self, ChannelBinding, ClientResponse, Context, Credentials, ServerMechanism, ServerStep,
};

pub use config::ServerConfig;
#[cfg(feature = "scram")]
pub use mail_wire::sasl::ScramUnknownUsers;
pub use mail_wire::sasl::{ScramSecret, ServerMechanisms};

use crate::codec::{
    CommandOptions, encode_capability, encode_continuation, encode_language_listing,
    encode_response, encode_scan_listing, encode_uid_listing, parse_command,
};
use crate::types::{
    ApopDigest, Capability, Command, InvalidValue, KnownCode, LanguageTag, MAX_TEXT, Mechanism,
    MessageNumber, Response, ResponseCode, SaslMechanisms, ScanListing, Status, Text, Timestamp,
    UidListing, UniqueId, Username,
};

/// Something the caller must act on, from [`Server::poll_output`].
///
/// `Transmit(bytes)` to send, `Event(event)`, `StartTls` (send what was transmitted, then start
/// TLS and call [`Server::tls_established`]) and `Close`: the shape all four machines share
/// ([`mail_wire::machine::Output`]).
pub type Output = mail_wire::machine::Output<Event>;

/// One message of the maildrop, as the application lists it at login.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageInfo {
    /// Its size in octets as it will be sent (CRLF line ends, before dot-stuffing).
    pub size: u64,
    /// Its unique-id (RFC 1939 7), stable across sessions.
    pub uid: UniqueId<'static>,
}

/// How the client logged in; the secrets it presented stay [`Secret`]s.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Login {
    /// `USER` then `PASS`.
    User {
        /// The mailbox.
        name: Username<'static>,
        /// The password.
        password: Secret<String>,
    },
    /// `APOP` (RFC 1939 7).
    Apop {
        /// The mailbox.
        name: Username<'static>,
        /// What the client sent.
        digest: ApopDigest,
        /// The timestamp of this session's greeting.
        timestamp: Timestamp<'static>,
    },
    /// `AUTH` (RFC 5034).
    Sasl {
        /// The mechanism used.
        mechanism: Mechanism<'static>,
        /// What the client presented.
        credentials: Credentials,
    },
}

impl Login {
    /// The mailbox the client names (for SASL, the authenticated identity, or the one it asks
    /// to act as for OAuth).
    pub fn username(&self) -> Option<&str> {
        match self {
            Self::User { name, .. } | Self::Apop { name, .. } => Some(name.as_str()),
            Self::Sasl { credentials, .. } => {
                credentials.username().or_else(|| credentials.authzid())
            }
        }
    }

    /// Checks the presented secret against the stored one in constant time: the password of
    /// USER/PASS and SASL PLAIN/LOGIN, the password the CRAM-MD5 digest was made with, the MD5
    /// digest of APOP. False for SASL mechanisms that verified the user themselves (SCRAM,
    /// EXTERNAL: [`Credentials::is_verified`]).
    pub fn verify_secret(&self, secret: &[u8]) -> bool {
        match self {
            Self::User { password, .. } => {
                sasl::constant_time_eq(password.expose_secret().as_bytes(), secret)
            }
            Self::Apop {
                digest, timestamp, ..
            } => digest.verify(timestamp, secret),
            Self::Sasl { credentials, .. } => credentials.verify_password(secret),
        }
    }
}

/// What happened. *Decision* events wait for [`Server::answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// *Decision*: a client connected; accept (the greeting) or refuse (`-ERR`, then close).
    Connected,
    /// *Decision*: credentials to check. Open the maildrop ([`Answer::Open`]) or refuse
    /// ([`Answer::Reply`] with `-ERR`, optionally `[AUTH]`, `[IN-USE]`, `[LOGIN-DELAY]`,
    /// `[SYS/TEMP]`).
    Login(Login),
    /// *Decision*: the client wants a message (`RETR`, or `TOP` with `top` body lines).
    /// Accept, then stream it whole with [`Server::send_body`] and [`Server::end_body`] (for
    /// TOP the machine sends only the headers and the lines asked for); or refuse.
    Retrieve {
        /// The message.
        message: MessageNumber,
        /// Its unique-id.
        uid: UniqueId<'static>,
        /// Its size, as listed.
        size: u64,
        /// `TOP`: the number of body lines; `None` for `RETR`.
        top: Option<u32>,
    },
    /// *Decision*: QUIT in the TRANSACTION state (RFC 1939 6): remove exactly these messages,
    /// then accept (`+OK`) or report a failure (`-ERR`; with no text, `-ERR some deleted
    /// messages not removed`, RFC 1939 6).
    /// Sent once per session, even with nothing to delete.
    Commit {
        /// The messages marked deleted and not reset, in order.
        deleted: Vec<UidListing<'static>>,
    },
    /// *Decision*: a SASL mechanism (SCRAM-SHA-256) needs the stored secret of `username` to
    /// go on: answer with [`Server::provide_secret`], `None` for an unknown user (the
    /// exchange then fails at its end, as for a wrong password, so that the client does not
    /// learn who exists). [`Answer::Reply`] with `-ERR` ends the exchange with it instead.
    LookupSecret {
        /// The mechanism asking.
        mechanism: Mechanism<'static>,
        /// The user, as the client named it.
        username: String,
    },
    /// An AUTH exchange failed without the application deciding it: a SCRAM proof that did
    /// not verify (a wrong password, or the unknown user of an [`Event::LookupSecret`]
    /// answered with `None`), or a malformed exchange. The client got `-ERR`, and the failure
    /// counts toward [`ServerConfig::max_errors`] as every failed login does. For logging and
    /// rate limiting; no answer is due.
    AuthFailed {
        /// The mechanism used.
        mechanism: Mechanism<'static>,
        /// The user the client named, where the mechanism got that far (SCRAM's
        /// [`Event::LookupSecret`]).
        username: Option<String>,
    },
    /// The client ended the session with QUIT before logging in.
    Quit,
    /// Octets that arrived in plaintext after STLS (or while TLS was being set up) were thrown
    /// away unread (RFC 2595 4; CVE-2011-0411 and its kin).
    PlaintextDiscarded(usize),
    /// The language of the session's text changed: `LANG` selected this one (RFC 6856 3.2),
    /// one of [`ServerConfig::languages`], or STLS put it back to `i-default` (RFC 2277 4.5)
    /// ([`Server::tls_established`]). The texts of the application's answers should be in it
    /// from now on (UTF-8).
    LanguageChanged(LanguageTag<'static>),
}

impl Event {
    /// Whether the machine waits for [`Server::answer`] after this event.
    pub fn is_decision(&self) -> bool {
        matches!(
            self,
            Self::Connected
                | Self::Login(_)
                | Self::LookupSecret { .. }
                | Self::Retrieve { .. }
                | Self::Commit { .. }
        )
    }
}

/// The application's answer to a decision event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Yes (the greeting, a message transfer, the commit).
    Accept,
    /// Login accepted: the maildrop, message 1 first.
    Open(Vec<MessageInfo>),
    /// This response: `-ERR` refuses; `+OK` accepts with the application's own text (not for a
    /// login, which needs [`Answer::Open`]).
    Reply(Response<'static>),
}

impl Answer {
    /// `-ERR text`; a leading `[CODE]` in `text` becomes the response code (RFC 2449 8). The
    /// text is checked, not repaired: a CR, LF or NUL, or a line longer than the 512 octets of
    /// RFC 2449 4 (CRLF included), is an error, as in SMTP's `Answer::reject`.
    ///
    /// ```
    /// use pop3_proto::server::Answer;
    /// use pop3_proto::types::KnownCode;
    ///
    /// let Answer::Reply(refusal) = Answer::reject("[AUTH] wrong password")? else { unreachable!() };
    /// assert!(refusal.code().is_some_and(|code| code.is(KnownCode::Auth)));
    /// assert_eq!(refusal.text().as_str(), "wrong password");
    /// assert!(Answer::reject("no\r\n+OK fake").is_err());
    /// assert!(Answer::reject(&"x".repeat(600)).is_err());
    /// # Ok::<(), pop3_proto::types::InvalidValue>(())
    /// ```
    pub fn reject(text: &str) -> Result<Self, InvalidValue> {
        if let Some(offset) = text.bytes().position(|b| matches!(b, b'\r' | b'\n' | 0)) {
            return Err(InvalidValue::UnexpectedChar {
                what: "text",
                offset,
                found: text
                    .get(offset..)
                    .and_then(|rest| rest.chars().next())
                    .unwrap_or('\u{fffd}'),
            });
        }
        let line = alloc::format!("-ERR {text}");
        // Without CR, LF and NUL, `-ERR ` and UTF-8 text always parse.
        let parsed = crate::codec::parse_response(line.as_bytes(), true).map_err(|_| {
            InvalidValue::Malformed {
                what: "text",
                reason: "not a response text",
            }
        })?;
        // The text is held to `Text::new` too, so that the response also deserializes.
        let text = Text::new(parsed.text.as_str())?;
        let response = Response::new(Status::Err, parsed.code, text)?;
        Ok(Self::Reply(response.into_owned()))
    }
}

/// The application used the machine wrongly; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// [`Server::answer`] with no decision pending.
    #[error("no decision is pending")]
    NoDecisionPending,
    /// An answer that does not fit the decision (a login accepted without a maildrop, a
    /// maildrop for anything else).
    #[error("this answer does not fit the pending decision")]
    UnfitAnswer,
    /// [`Server::tls_established`] without a preceding [`Output::StartTls`].
    #[error("TLS was not being started")]
    NotStartingTls,
    /// [`Server::provide_secret`] without a pending [`Event::LookupSecret`].
    #[error("no secret was asked for")]
    NoLookupPending,
    /// [`Server::send_body`] or [`Server::end_body`] with no message being sent.
    #[error("no message is being sent")]
    NotSendingBody,
    /// The message holds a bare CR or LF under `EncodeBareEndings::Reject`: the response
    /// cannot be completed, so the connection is closed.
    #[error("message refused: {0}")]
    BodyRefused(BodyError),
}

/// RFC 1939's three states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Authorization,
    Transaction,
    Update,
}

/// A SASL exchange in progress (its state may hold credentials: not shown in `Debug`).
struct Exchange(Box<dyn ServerMechanism + Send>);

impl core::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Exchange({})", self.0.name())
    }
}

/// Where input goes.
#[derive(Debug)]
enum Phase {
    Command,
    /// Reading AUTH response lines.
    /// Reading AUTH response lines; the application's refusal to send once a mechanism that
    /// reports failure inside the exchange (XOAUTH2, OAUTHBEARER) has finished.
    Auth(Exchange, Mechanism<'static>, Option<Response<'static>>),
    /// The application streams a message.
    Sending(Transfer),
    /// STLS accepted: waiting for the caller's TLS; input is discarded.
    StartingTls,
    Closed,
}

#[derive(Debug)]
enum Pending {
    Connect,
    Login {
        exchange: Option<(Exchange, Mechanism<'static>)>,
        name: Option<String>,
    },
    /// A mechanism waits for a user's stored secret.
    Lookup(Exchange, Mechanism<'static>),
    Retrieve {
        top: Option<u32>,
        size: u64,
    },
    Commit,
}

/// A message going out.
#[derive(Debug)]
struct Transfer {
    encoder: DotEncoder,
    top: Option<Top>,
}

/// Cuts a message after its headers, the blank line and `left` body lines (RFC 1939 7, TOP).
/// A line ends at LF, CRLF or a bare CR (as the encoder will write them).
#[derive(Debug)]
struct Top {
    in_headers: bool,
    left: u32,
    /// The current line has content.
    content: bool,
    /// The last octet was a CR.
    cr: bool,
    done: bool,
}

impl Top {
    fn new(lines: u32) -> Self {
        Self {
            in_headers: true,
            left: lines,
            content: false,
            cr: false,
            done: false,
        }
    }

    /// How much of `chunk` to send.
    fn take(&mut self, chunk: &[u8]) -> usize {
        if self.done {
            return 0;
        }
        for (at, &byte) in chunk.iter().enumerate() {
            if self.cr && byte != b'\n' {
                // A bare CR ended a line: the octet here starts the next.
                self.cr = false;
                if self.end_of_line() {
                    return at;
                }
            }
            match byte {
                b'\r' => self.cr = true,
                b'\n' => {
                    self.cr = false;
                    if self.end_of_line() {
                        return at + 1;
                    }
                }
                _ => self.content = true,
            }
        }
        chunk.len()
    }

    /// A line ended; whether the cut comes here.
    fn end_of_line(&mut self) -> bool {
        let content = core::mem::take(&mut self.content);
        if self.in_headers {
            if !content {
                self.in_headers = false;
                self.done = self.left == 0;
            }
        } else {
            self.left = self.left.saturating_sub(1);
            self.done = self.left == 0;
        }
        self.done
    }
}

/// The maildrop of a logged-in session.
#[derive(Debug, Default)]
struct Maildrop {
    messages: Vec<MessageInfo>,
    deleted: Vec<bool>,
}

impl Maildrop {
    fn live(&self) -> impl Iterator<Item = (MessageNumber, &MessageInfo)> {
        self.messages
            .iter()
            .zip(&self.deleted)
            .enumerate()
            .filter(|(_, (_, deleted))| !**deleted)
            .filter_map(|(i, (info, _))| {
                let number = u32::try_from(i + 1).ok().and_then(MessageNumber::new)?;
                Some((number, info))
            })
    }

    fn totals(&self) -> (usize, u64) {
        self.live().fold((0, 0), |(n, size), (_, info)| {
            (n + 1, size.saturating_add(info.size))
        })
    }
}

/// The POP3 server. See the [module docs](self).
pub struct Server {
    config: ServerConfig,
    state: State,
    phase: Phase,
    pending: Option<Pending>,
    held: BytesMut,
    lines: LineReader,
    output: OutputQueue<Event>,
    tls: bool,
    /// The identity a layer below SASL established, for EXTERNAL.
    external_identity: Option<String>,
    /// The TLS connection's channel binding data, for SCRAM-SHA-256-PLUS.
    channel_binding: Option<ChannelBinding>,
    utf8: bool,
    /// The language selected with `LANG` (RFC 6856 3).
    language: LanguageTag<'static>,
    /// The name of a USER command just accepted (PASS must follow at once).
    user: Option<Username<'static>>,
    maildrop: Maildrop,
    errors: usize,
    /// NOOPs in the TRANSACTION state ([`ServerConfig::max_junk_commands`]).
    junk: usize,
    /// The user the AUTH exchange under way named (SCRAM's lookup), for [`Event::AuthFailed`].
    auth_username: Option<String>,
    /// The last `receive` left octets with the caller: plaintext that may follow an STLS.
    short_read: bool,
    /// The phase the timeout times (see [`timer_epoch`](Self::timer_epoch)).
    timer: TimerEpoch,
}

impl core::fmt::Debug for Server {
    /// Shows the state, never the bytes held: they may be a half-received PASS line.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("state", &self.state)
            .field("phase", &self.phase)
            .field("pending", &self.pending)
            .field("held", &self.held.len())
            .field("tls", &self.tls)
            .field("messages", &self.maildrop.messages.len())
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

/// Octets of responses written ahead of the caller before input processing pauses.
const MAX_OUTPUT: usize = 256 * 1024;

/// RFC 1939 3: the shortest autologout timer.
const MIN_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// The outcome of a protocol slip: counted towards [`ServerConfig::max_errors`].
const COUNTED: bool = true;

/// The first octet of a TLS handshake record (RFC 8446 5.1: `ContentType` 22).
const TLS_HANDSHAKE: u8 = 0x16;

impl Server {
    /// A server for a new connection; the first output is [`Event::Connected`].
    pub fn new(config: ServerConfig) -> Self {
        let limit = if config.sasl_mechanisms.is_empty() {
            config.max_command_line
        } else {
            config.max_command_line.max(config.max_auth_line)
        };
        let tls = config.implicit_tls;
        let mut server = Self {
            config,
            state: State::Authorization,
            phase: Phase::Command,
            pending: Some(Pending::Connect),
            held: BytesMut::new(),
            lines: LineReader::new(LineConfig::new(limit)),
            output: OutputQueue::new(),
            tls,
            external_identity: None,
            channel_binding: None,
            utf8: false,
            language: LanguageTag::i_default(),
            user: None,
            maildrop: Maildrop::default(),
            errors: 0,
            junk: 0,
            auth_username: None,
            short_read: false,
            timer: TimerEpoch::new(),
        };
        server.emit(Event::Connected);
        server
    }

    /// The settings.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Whether TLS is up.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Sets the identity that a layer below SASL established for the client, such as the
    /// subject of the client certificate TLS verified: what the EXTERNAL mechanism (RFC 4422
    /// appendix A) logs in as ([`sasl::Context::external_identity`]). Call it once TLS is up
    /// (after [`tls_established`](Self::tls_established), or at once with implicit TLS);
    /// `None` clears it, and EXTERNAL then fails.
    pub fn set_external_identity(&mut self, identity: Option<String>) {
        self.external_identity = identity;
    }

    /// The identity set with [`set_external_identity`](Self::set_external_identity).
    pub fn external_identity(&self) -> Option<&str> {
        self.external_identity.as_deref()
    }

    /// Sets the TLS connection's channel binding data (RFC 5056; for TLS 1.3,
    /// [`ChannelBinding::tls_exporter`], RFC 9266), which SCRAM-SHA-256-PLUS binds the
    /// exchange to; `-PLUS` mechanisms are advertised only while it is set. Call it once TLS
    /// is up, as [`set_external_identity`](Self::set_external_identity).
    pub fn set_channel_binding(&mut self, binding: Option<ChannelBinding>) {
        self.channel_binding = binding;
    }

    /// The data set with [`set_channel_binding`](Self::set_channel_binding).
    pub fn channel_binding(&self) -> Option<&ChannelBinding> {
        self.channel_binding.as_ref()
    }

    /// What the SASL mechanisms may know of the connection.
    fn sasl_context(&self) -> Context<'_> {
        Context::new(self.tls, self.external_identity.as_deref())
            .with_channel_binding(self.channel_binding.as_ref())
    }

    /// Whether UTF8 mode is on (RFC 6856 2): messages may go out with UTF-8 headers as they
    /// are; otherwise the application sends a 7-bit surrogate or refuses with `[UTF8]`.
    pub fn is_utf8(&self) -> bool {
        self.utf8
    }

    /// The language of human-readable text (RFC 6856 3): `i-default` (RFC 2277 4.5) until a
    /// `LANG` command selects one of [`ServerConfig::languages`].
    pub fn language(&self) -> &LanguageTag<'static> {
        &self.language
    }

    /// Whether the client has logged in (the TRANSACTION state or after).
    pub fn is_logged_in(&self) -> bool {
        self.state != State::Authorization
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether a decision event waits for [`answer`](Self::answer).
    pub fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Whether [`send_body`](Self::send_body) is wanted: a message is being sent and (for TOP)
    /// more of it will go out.
    pub fn wants_body(&self) -> bool {
        match &self.phase {
            Phase::Sending(transfer) => !transfer.top.as_ref().is_some_and(|t| t.done),
            _ => false,
        }
    }

    /// Octets held for processing later: never more than [`ServerConfig::max_pending`] plus
    /// the line limit.
    pub fn buffered(&self) -> usize {
        self.held.len() + self.lines.buffered()
    }

    /// How long the client may take for its next command, from the response to the last one
    /// to the end of its line (an AUTH command with its whole exchange), before
    /// [`handle_timeout`](Self::handle_timeout) should be called (RFC 1939 3: the autologout
    /// timer, at least 10 minutes); `None` while the application has the next move (a
    /// decision, a message being sent) and once closed. [`timer_epoch`](Self::timer_epoch)
    /// says when that time starts: a client trickling a line octet by octet does not restart
    /// it.
    pub fn timeout(&self) -> Option<Duration> {
        match (&self.phase, &self.pending) {
            (Phase::Closed | Phase::Sending(_), _) | (_, Some(_)) => None,
            // RFC 1939 3: the autologout timer is at least 10 minutes.
            _ => Some(self.config.idle_timeout.max(MIN_IDLE_TIMEOUT)),
        }
    }

    /// Changes where a new deadline starts, never while a command line trickles in: at every
    /// response but a SASL challenge (`+ `: the whole AUTH exchange is one command, RFC 5034
    /// 4), at every decision asked of the application, at the end of a message sent, and
    /// when TLS is up.
    pub fn timer_epoch(&self) -> u64 {
        self.timer.get()
    }

    /// Takes the next output; `None` when there is nothing to do until the next input, answer
    /// or body call.
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.output.is_empty() && !self.held.is_empty() {
            // Input held back by output back-pressure goes on now that the output is taken.
            self.resume();
        }
        self.output.pop()
    }

    /// Hands over received bytes and returns how many were taken: all, unless a decision is
    /// pending or a message is being sent and [`ServerConfig::max_pending`] octets already
    /// wait (then call again with the rest later: back-pressure on a client that pipelines
    /// too much).
    #[must_use = "bytes that were not taken must be offered again"]
    pub fn receive(&mut self, bytes: &[u8]) -> usize {
        let taken = self.take(bytes);
        self.short_read = taken < bytes.len();
        taken
    }

    fn take(&mut self, bytes: &[u8]) -> usize {
        match self.phase {
            Phase::Closed => return bytes.len(),
            Phase::StartingTls => {
                if !bytes.is_empty() {
                    self.emit(Event::PlaintextDiscarded(bytes.len()));
                }
                return bytes.len();
            }
            _ => {}
        }
        if self.is_busy() || !self.held.is_empty() {
            let room = self.config.max_pending.saturating_sub(self.held.len());
            let taken = room.min(bytes.len());
            self.held
                .extend_from_slice(bytes.get(..taken).unwrap_or_default());
            self.resume();
            return taken;
        }
        let mut input = Bytes::copy_from_slice(bytes);
        self.process(&mut input);
        let left = input.len();
        if left > 0 {
            let room = self.config.max_pending.saturating_sub(self.held.len());
            let keep = room.min(left);
            self.held
                .extend_from_slice(input.get(..keep).unwrap_or_default());
            return bytes.len() - (left - keep);
        }
        bytes.len()
    }

    /// The client closed its side: the session ends, nothing is committed.
    pub fn receive_eof(&mut self) {
        self.close();
    }

    /// The [`timeout`](Self::timeout) expired: `-ERR` and close, nothing committed (RFC 1939
    /// 3, the autologout timer), the text saying which deadline it was: a command line, or an
    /// AUTH exchange (RFC 5034 4).
    pub fn handle_timeout(&mut self) {
        if matches!(self.phase, Phase::Auth(..)) {
            self.end_with("timeout in the AUTH exchange, closing");
        } else {
            self.end_with("timeout waiting for a command, closing");
        }
    }

    /// The session's overall time limit (the driver's) expired, whatever the phase: `-ERR`
    /// and close, nothing committed.
    pub fn handle_session_timeout(&mut self) {
        self.end_with("session time limit reached, closing");
    }

    /// The application ends the session now (shutting down): `-ERR` and close, nothing
    /// committed.
    pub fn shut_down(&mut self) {
        self.end_with("server shutting down");
    }

    fn end_with(&mut self, text: &'static str) {
        if self.is_closed() {
            return;
        }
        if !matches!(self.phase, Phase::StartingTls | Phase::Sending(_)) {
            self.respond(Response::err(Text::checked(text)));
        }
        self.close();
    }

    /// TLS is up after [`Output::StartTls`]: the session starts over in the AUTHORIZATION
    /// state, with the capabilities of a TLS session (RFC 2595 4). A language chosen with
    /// `LANG` before is forgotten: [`Event::LanguageChanged`] says the text is `i-default`
    /// again (RFC 6856 3.2, RFC 2277 4.5).
    pub fn tls_established(&mut self) -> Result<(), ApiError> {
        if !matches!(self.phase, Phase::StartingTls) {
            return Err(ApiError::NotStartingTls);
        }
        self.tls = true;
        self.timer.restart();
        self.phase = Phase::Command;
        self.state = State::Authorization;
        self.user = None;
        self.utf8 = false;
        self.lines.reset();
        if self.language != LanguageTag::i_default() {
            self.language = LanguageTag::i_default();
            self.emit(Event::LanguageChanged(LanguageTag::i_default()));
        }
        Ok(())
    }

    /// Answers the pending decision, then goes on with any input that waited for it.
    pub fn answer(&mut self, answer: Answer) -> Result<(), ApiError> {
        let Some(pending) = self.pending.take() else {
            return Err(ApiError::NoDecisionPending);
        };
        let fits = match (&answer, &pending) {
            (Answer::Open(_), Pending::Login { .. }) => true,
            (Answer::Open(_), _) | (Answer::Accept, Pending::Login { .. }) => false,
            (Answer::Reply(reply), Pending::Login { .. } | Pending::Lookup(..)) => {
                reply.status == Status::Err
            }
            (Answer::Accept, Pending::Lookup(..)) => false,
            _ => true,
        };
        if !fits {
            self.pending = Some(pending);
            return Err(ApiError::UnfitAnswer);
        }
        self.decide(pending, answer);
        self.resume();
        Ok(())
    }

    /// Answers [`Event::LookupSecret`] with the user's stored secret, or `None` for an
    /// unknown user; then goes on with any input that waited.
    pub fn provide_secret(&mut self, secret: Option<ScramSecret>) -> Result<(), ApiError> {
        if !matches!(self.pending, Some(Pending::Lookup(..))) {
            return Err(ApiError::NoLookupPending);
        }
        let Some(Pending::Lookup(mut exchange, name)) = self.pending.take() else {
            return Err(ApiError::NoLookupPending);
        };
        let step = exchange.0.provide_secret(secret);
        self.auth_step(step, exchange, name, None);
        self.resume();
        Ok(())
    }

    /// Sends the next piece of the message being retrieved (after accepting
    /// [`Event::Retrieve`]): dot-stuffed, bare line ends made CRLF (per
    /// [`ServerConfig::bare_endings`]), cut after the lines TOP asked for (the rest is
    /// accepted and dropped: [`wants_body`](Self::wants_body) says when to stop reading).
    pub fn send_body(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        let Phase::Sending(transfer) = &mut self.phase else {
            return Err(ApiError::NotSendingBody);
        };
        let take = match &mut transfer.top {
            Some(top) => top.take(chunk),
            None => chunk.len(),
        };
        let part = chunk.get(..take).unwrap_or_default();
        if let Err(error) = transfer.encoder.encode(part, self.output.buffer()) {
            self.close();
            return Err(ApiError::BodyRefused(error));
        }
        Ok(())
    }

    /// Ends the message: the final `.` of the multi-line response; then pipelined commands
    /// go on.
    pub fn end_body(&mut self) -> Result<(), ApiError> {
        let Phase::Sending(transfer) = &mut self.phase else {
            return Err(ApiError::NotSendingBody);
        };
        if let Err(error) = transfer.encoder.finish(self.output.buffer()) {
            self.close();
            return Err(ApiError::BodyRefused(error));
        }
        self.timer.restart();
        self.phase = Phase::Command;
        self.resume();
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Inside.

impl Server {
    fn is_busy(&self) -> bool {
        self.pending.is_some() || matches!(self.phase, Phase::Sending(_))
    }

    fn emit(&mut self, event: Event) {
        self.output.emit(event);
    }

    fn ask(&mut self, pending: Pending, event: Event) {
        // The application's time is not the client's.
        self.timer.restart();
        self.pending = Some(pending);
        self.emit(event);
    }

    fn flush(&mut self) {
        self.output.flush();
    }

    fn close(&mut self) {
        if self.is_closed() {
            return;
        }
        self.phase = Phase::Closed;
        self.pending = None;
        self.held.clear();
        self.lines.reset();
        self.output.close();
    }

    /// Writes a response; codes only when RESP-CODES is advertised.
    fn respond(&mut self, mut response: Response<'_>) {
        if !self.config.resp_codes {
            response.code = None;
        }
        encode_response(&response, self.output.buffer());
        // The client's next command starts now.
        self.timer.restart();
    }

    fn ok(&mut self, text: &str) {
        let text = Text::new(text).unwrap_or_else(|_| Text::empty());
        self.respond(Response::ok(text));
    }

    /// [`ok`](Self::ok) with a text made of numbers and words, written on the stack when it is
    /// short (a RETR's `+OK 10240 octets` allocates nothing).
    fn ok_with(&mut self, text: fmt::Arguments<'_>) {
        let mut short = ShortText::default();
        if fmt::Write::write_fmt(&mut short, text).is_ok() {
            self.ok(short.as_str());
        } else {
            self.ok(&alloc::fmt::format(text));
        }
    }

    /// A `-ERR` for a protocol slip or a refused request; `counted` slips end the session
    /// once there are too many.
    fn err(&mut self, code: Option<KnownCode>, text: &str, counted: bool) {
        let text = Text::new(text).unwrap_or_else(|_| Text::empty());
        let response = Response::err(text);
        let response = match code.map(ResponseCode::known) {
            // The machine's texts that carry a code are short: they fit with it.
            Some(code) => response.clone().with_code(code).unwrap_or(response),
            None => response,
        };
        self.respond(response);
        if counted {
            self.count_error();
        }
    }

    fn count_error(&mut self) {
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.respond(Response::err(Text::checked("too many errors, closing")));
            self.close();
        }
    }

    /// Processes held input once nothing is pending any more.
    fn resume(&mut self) {
        if self.is_busy() || self.held.is_empty() {
            self.flush();
            return;
        }
        let mut input = core::mem::take(&mut self.held).freeze();
        self.process(&mut input);
        if !input.is_empty() {
            // Nothing else holds these octets as a rule (no event keeps a piece of a command
            // line): the buffer comes back as it is, without a copy.
            let mut rest = input
                .try_into_mut()
                .unwrap_or_else(|shared| BytesMut::from(&shared[..]));
            rest.extend_from_slice(&self.held);
            self.held = rest;
        }
        self.flush();
    }

    /// Octets of responses written and not yet taken with [`poll_output`](Self::poll_output).
    /// Input stops being processed (and then taken) once this passes 256 KiB, so a client
    /// that pipelines listings of a large maildrop cannot make the server queue without
    /// bound; draining the output lets it go on.
    pub fn pending_output(&self) -> usize {
        self.output_waiting()
    }

    fn output_waiting(&self) -> usize {
        self.output.pending_octets()
    }

    fn process(&mut self, input: &mut Bytes) {
        // Output back-pressure: a client that pipelines listings (each as large as the
        // maildrop) waits until the caller has taken what is written.
        while !input.is_empty() && !self.is_busy() && self.output_waiting() < MAX_OUTPUT {
            match &self.phase {
                Phase::Closed => input.clear(),
                Phase::StartingTls => {
                    self.emit(Event::PlaintextDiscarded(input.len()));
                    input.clear();
                }
                Phase::Sending(_) => return,
                Phase::Command | Phase::Auth(..) => {
                    if self.tls_record(input.first().copied()) {
                        input.clear();
                        continue;
                    }
                    let Some(line) = self.lines.next_line(input) else {
                        continue;
                    };
                    match line {
                        Ok(line) => self.line(&line, input),
                        Err(error) => self.line_error(error),
                    }
                }
            }
        }
        self.flush();
    }

    /// A TLS record where a command line starts (a client that speaks TLS at once, on a port
    /// where TLS starts only with STLS): `-ERR` and close at once, rather than wait for a line
    /// end that never comes (RFC 2595 4 has STLS; RFC 8314 3.3 implicit TLS on its own port).
    ///
    /// A TLS handshake record starts with octet 0x16 (then 0x03 0x0X, the record version); no
    /// command starts with a control character, so 0x16 alone decides, however the input is
    /// split. Returns whether the session ended.
    fn tls_record(&mut self, first: Option<u8>) -> bool {
        if !matches!(self.phase, Phase::Command)
            || self.lines.is_mid_line()
            || first != Some(TLS_HANDSHAKE)
        {
            return false;
        }
        let text = if self.config.stls && !self.tls {
            "TLS handshake on a plaintext port: use STLS or the implicit TLS port"
        } else {
            "TLS handshake on a plaintext port: use the implicit TLS port"
        };
        self.end_with(text);
        true
    }

    fn line_error(&mut self, error: LineError) {
        if let Phase::Auth(..) = self.phase {
            self.phase = Phase::Command;
        }
        self.user = None;
        let text = match error {
            LineError::TooLong { .. } => "line too long",
            _ => "lines end with CRLF",
        };
        self.err(None, text, COUNTED);
    }

    fn line(&mut self, line: &[u8], input: &mut Bytes) {
        if let Phase::Auth(..) = self.phase {
            return self.auth_line(line);
        }
        if line.len() + 2 > self.config.max_command_line {
            self.user = None;
            return self.err(None, "line too long", COUNTED);
        }
        let options = CommandOptions {
            max_line_length: self.config.max_command_line,
            // `UTF8 USER` (RFC 6856 2.2): UTF-8 names and passwords even before `UTF8`.
            utf8: self.utf8 || (self.config.utf8 && self.state == State::Authorization),
        };
        let command = match parse_command(line, &options) {
            Ok(command) => command.into_owned(),
            Err(error) => {
                self.user = None;
                let text = alloc::format!("{error}");
                return self.err(None, &text, COUNTED);
            }
        };
        // PASS must follow USER at once (RFC 1939 7).
        let user = self.user.take();
        match self.state {
            State::Authorization => self.authorization(command, user, input),
            State::Transaction => self.transaction(command),
            State::Update => {}
        }
    }

    // -----------------------------------------------------------------------------------------
    // AUTHORIZATION.

    /// Whether passwords may travel now.
    fn passwords_allowed(&self) -> bool {
        self.tls || self.config.plaintext_login
    }

    fn authorization(
        &mut self,
        command: Command<'static>,
        user: Option<Username<'static>>,
        input: &mut Bytes,
    ) {
        match command {
            Command::Capa => self.capa(),
            Command::Quit => {
                self.ok("bye");
                self.emit(Event::Quit);
                self.close();
            }
            Command::Stls => self.stls(input),
            Command::User(name) => {
                if !self.config.user_pass {
                    return self.err(None, "USER not supported", COUNTED);
                }
                if !self.passwords_allowed() {
                    return self.err(Some(KnownCode::Auth), "use STLS first", COUNTED);
                }
                self.user = Some(name);
                self.ok("");
            }
            Command::Pass(password) => {
                let Some(name) = user else {
                    return self.err(None, "USER first", COUNTED);
                };
                let login = Login::User { name, password };
                self.ask_login(None, login);
            }
            Command::Apop { name, digest } => {
                let Some(timestamp) = self.config.apop_timestamp.clone() else {
                    return self.err(None, "APOP not supported", COUNTED);
                };
                let login = Login::Apop {
                    name,
                    digest,
                    timestamp,
                };
                self.ask_login(None, login);
            }
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(mechanism, initial_response),
            Command::Utf8 if self.config.utf8 => {
                self.utf8 = true;
                self.ok("UTF8 enabled");
            }
            Command::Lang(range) if !self.config.languages.is_empty() => self.lang(range),
            Command::Other { .. } | Command::Utf8 | Command::Lang(_) => {
                self.err(None, "unknown command", COUNTED);
            }
            _ => self.err(None, "not logged in", COUNTED),
        }
    }

    fn stls(&mut self, input: &mut Bytes) {
        if !self.config.stls || self.tls {
            return self.err(None, "STLS not available", COUNTED);
        }
        if self.short_read {
            // The client sent so much behind STLS that some of it is still with the caller,
            // who could hand it over once TLS is up: refuse, and end the session.
            let discarded = input.len() + self.held.len() + self.lines.buffered();
            input.clear();
            self.held.clear();
            self.emit(Event::PlaintextDiscarded(discarded));
            self.respond(Response::err(Text::checked("commands sent after STLS")));
            return self.close();
        }
        self.ok("begin TLS negotiation");
        // Whatever follows the command arrived in plaintext: never read it (RFC 2595 4).
        let discarded = input.len() + self.held.len() + self.lines.buffered();
        input.clear();
        self.held.clear();
        self.lines.reset();
        self.phase = Phase::StartingTls;
        if discarded > 0 {
            self.emit(Event::PlaintextDiscarded(discarded));
        }
        self.flush();
        self.output.start_tls();
    }

    fn ask_login(&mut self, exchange: Option<(Exchange, Mechanism<'static>)>, login: Login) {
        let name = login.username().map(String::from);
        self.ask(Pending::Login { exchange, name }, Event::Login(login));
    }

    fn sasl_allowed(&self) -> bool {
        !self.config.sasl_mechanisms.is_empty() && self.passwords_allowed()
    }

    fn auth(&mut self, mechanism: Option<Mechanism<'static>>, initial: Option<Secret<String>>) {
        if !self.sasl_allowed() {
            let code = (!self.config.sasl_mechanisms.is_empty()).then_some(KnownCode::Auth);
            return self.err(code, "AUTH not available", COUNTED);
        }
        let Some(name) = mechanism else {
            // The RFC 1734 listing clients still ask for.
            self.ok("");
            let mut listing = Vec::new();
            for name in self.config.sasl_mechanisms.available(&self.sasl_context()) {
                listing.extend_from_slice(name.as_bytes());
                listing.extend_from_slice(b"\r\n");
            }
            self.output.buffer().extend_from_slice(&listing);
            self.output.buffer().extend_from_slice(b".\r\n");
            return;
        };
        self.auth_username = None;
        let mechanisms = &self.config.sasl_mechanisms;
        let context = self.sasl_context();
        let available = mechanisms.available(&context);
        if !available
            .into_iter()
            .any(|known| known.eq_ignore_ascii_case(name.as_str()))
        {
            return self.err(None, "unsupported mechanism", COUNTED);
        }
        let Some(exchange) = mechanisms.start(name.as_str(), &context).map(Exchange) else {
            // Offered, but the application's factory declined it for now.
            let text = "mechanism not available now";
            return self.err(Some(KnownCode::SysTemp), text, !COUNTED);
        };
        let decoded = match &initial {
            None => None,
            Some(text) => {
                match sasl::decode_initial_response(
                    text.expose_secret().as_bytes(),
                    sasl::MAX_DECODED_LEN,
                ) {
                    Ok(decoded) => Some(decoded),
                    Err(_) => return self.err(None, "malformed initial response", COUNTED),
                }
            }
        };
        let mut exchange = exchange;
        let step = exchange
            .0
            .start(decoded.as_ref().map(|d| d.expose_secret().as_slice()));
        self.auth_step(step, exchange, name, None);
    }

    fn auth_step(
        &mut self,
        step: Result<ServerStep, sasl::SaslError>,
        exchange: Exchange,
        name: Mechanism<'static>,
        refusal: Option<Response<'static>>,
    ) {
        match step {
            Ok(ServerStep::Challenge(challenge)) => {
                encode_continuation(&sasl::encode_challenge(&challenge), self.output.buffer());
                self.phase = Phase::Auth(exchange, name, refusal);
            }
            Ok(ServerStep::Lookup { username }) => {
                // Nothing goes to the client until the application has looked the user up.
                self.phase = Phase::Command;
                self.auth_username = Some(username.clone());
                let event = Event::LookupSecret {
                    mechanism: name.clone(),
                    username,
                };
                self.ask(Pending::Lookup(exchange, name), event);
            }
            Ok(ServerStep::Done(credentials)) => {
                self.phase = Phase::Command;
                let login = Login::Sasl {
                    mechanism: name.clone(),
                    credentials,
                };
                self.ask_login(Some((exchange, name)), login);
            }
            Ok(ServerStep::Failed) | Err(_) => {
                self.phase = Phase::Command;
                let username = self.auth_username.take();
                match refusal {
                    Some(response) => {
                        self.respond(response);
                        self.count_error();
                    }
                    None => {
                        // The application did not decide this one: tell it.
                        self.emit(Event::AuthFailed {
                            mechanism: name,
                            username,
                        });
                        self.err(Some(KnownCode::Auth), "authentication failed", COUNTED);
                    }
                }
            }
        }
    }

    fn auth_line(&mut self, line: &[u8]) {
        let Phase::Auth(exchange, name, refusal) =
            core::mem::replace(&mut self.phase, Phase::Command)
        else {
            return;
        };
        let mut exchange = exchange;
        match sasl::decode_response(line, sasl::MAX_DECODED_LEN) {
            Ok(ClientResponse::Cancel) => self.err(None, "authentication cancelled", COUNTED),
            Ok(ClientResponse::Data(data)) => {
                let step = exchange.0.step(data.expose_secret());
                self.auth_step(step, exchange, name, refusal);
            }
            Err(_) => self.err(None, "malformed authentication response", COUNTED),
        }
    }

    fn capa(&mut self) {
        let mut capabilities = Vec::new();
        let before_login = self.state == State::Authorization;
        capabilities.push(Capability::Top);
        capabilities.push(Capability::Uidl);
        if self.config.resp_codes {
            capabilities.push(Capability::RespCodes);
            capabilities.push(Capability::AuthRespCode);
        }
        if self.config.pipelining {
            capabilities.push(Capability::Pipelining);
        }
        if let Some((seconds, per_user)) = self.config.login_delay {
            capabilities.push(Capability::LoginDelay {
                seconds,
                per_user: per_user && before_login,
            });
        }
        if let Some((expire, per_user)) = self.config.expire {
            capabilities.push(Capability::Expire {
                expire,
                per_user: per_user && before_login,
            });
        }
        // RFC 2449 5: what the AUTHORIZATION state offers is announced in both states (STLS
        // is valid in AUTHORIZATION only, RFC 2595 4).
        if self.config.user_pass && self.passwords_allowed() {
            capabilities.push(Capability::User);
        }
        if self.sasl_allowed() {
            // The registry's names are valid mechanism names (RFC 4422 3.1).
            let names = self.config.sasl_mechanisms.available(&self.sasl_context());
            let mut mechanisms = SaslMechanisms::empty();
            for name in names.filter_map(|name| Mechanism::new(name).ok()) {
                // RFC 2449 4: the CAPA line holds 512 octets (at least 24 names); names
                // beyond are left out of the list.
                if mechanisms.push(name.into_owned()).is_err() {
                    break;
                }
            }
            capabilities.push(Capability::Sasl(mechanisms));
        }
        if before_login && self.config.stls && !self.tls {
            capabilities.push(Capability::Stls);
        }
        if self.config.utf8 {
            capabilities.push(Capability::Utf8 { user: true });
        }
        // RFC 6856 3.1: announced in both states.
        if !self.config.languages.is_empty() {
            capabilities.push(Capability::Lang);
        }
        if let Some(text) = self.config.implementation.clone() {
            capabilities.push(Capability::Implementation(text));
        }
        self.ok("capability list follows");
        for capability in &capabilities {
            encode_capability(capability, self.output.buffer());
        }
        self.output.buffer().extend_from_slice(b".\r\n");
    }

    /// `LANG [range]` (RFC 6856 3.2), valid in both states: the listing, or the first
    /// configured language the range picks (RFC 4647 3.3.1; `*`: the first of all).
    fn lang(&mut self, range: Option<LanguageTag<'static>>) {
        let Some(range) = range else {
            self.ok("language listing follows");
            for listing in self.config.languages.clone() {
                encode_language_listing(&listing, self.output.buffer());
            }
            self.output.buffer().extend_from_slice(b".\r\n");
            return;
        };
        let chosen = self
            .config
            .languages
            .iter()
            .find(|listing| range.matches(listing.tag()))
            .cloned();
        let Some(chosen) = chosen else {
            // A refused LANG is no protocol error: the language stays.
            return self.err(None, "unsupported language", !COUNTED);
        };
        // "+OK tag text": the text is the language's own name, in that language.
        let text = match chosen.description() {
            Some(name) if chosen.tag().as_str().len() + 1 + name.as_str().len() <= MAX_TEXT => {
                alloc::format!("{} {name}", chosen.tag())
            }
            _ => alloc::format!("{} language changed", chosen.tag()),
        };
        self.ok(&text);
        self.language = chosen.tag().clone();
        self.emit(Event::LanguageChanged(chosen.tag().clone()));
    }

    // -----------------------------------------------------------------------------------------
    // TRANSACTION.

    /// The message `n` if it exists and is not deleted; otherwise the `-ERR` is sent.
    fn message(&mut self, n: MessageNumber) -> Option<MessageInfo> {
        let index = n.index();
        match (
            self.maildrop.messages.get(index),
            self.maildrop.deleted.get(index),
        ) {
            (Some(info), Some(false)) => Some(info.clone()),
            (Some(_), _) => {
                self.err(
                    None,
                    &alloc::format!("message {n} already deleted"),
                    !COUNTED,
                );
                None
            }
            (None, _) => {
                self.err(None, "no such message", !COUNTED);
                None
            }
        }
    }

    fn transaction(&mut self, command: Command<'static>) {
        match command {
            Command::Stat => {
                let (count, size) = self.maildrop.totals();
                self.ok_with(format_args!("{count} {size}"));
            }
            Command::List(None) => {
                let (count, size) = self.maildrop.totals();
                self.ok_with(format_args!("{count} messages ({size} octets)"));
                let listings: Vec<ScanListing> = self
                    .maildrop
                    .live()
                    .map(|(message, info)| ScanListing {
                        message,
                        size: info.size,
                    })
                    .collect();
                for listing in &listings {
                    encode_scan_listing(listing, self.output.buffer());
                }
                self.output.buffer().extend_from_slice(b".\r\n");
            }
            Command::List(Some(n)) => {
                if let Some(info) = self.message(n) {
                    self.ok_with(format_args!("{n} {}", info.size));
                }
            }
            Command::Uidl(None) => {
                self.ok("");
                let listings: Vec<UidListing<'static>> = self
                    .maildrop
                    .live()
                    .map(|(message, info)| UidListing {
                        message,
                        uid: info.uid.clone(),
                    })
                    .collect();
                for listing in &listings {
                    encode_uid_listing(listing, self.output.buffer());
                }
                self.output.buffer().extend_from_slice(b".\r\n");
            }
            Command::Uidl(Some(n)) => {
                if let Some(info) = self.message(n) {
                    self.ok_with(format_args!("{n} {}", info.uid));
                }
            }
            Command::Retr(n) => self.retrieve(n, None),
            Command::Top { message, lines } => self.retrieve(message, Some(lines)),
            Command::Dele(n) => {
                if self.message(n).is_some() {
                    if let Some(flag) = self.maildrop.deleted.get_mut(n.index()) {
                        *flag = true;
                    }
                    self.ok_with(format_args!("message {n} deleted"));
                }
            }
            Command::Noop => {
                self.junk = self.junk.saturating_add(1);
                if self.junk > self.config.max_junk_commands {
                    // Nothing committed, as at any end but QUIT (RFC 1939 6).
                    self.end_with("too many commands, closing");
                } else {
                    self.ok("");
                }
            }
            Command::Rset => {
                self.maildrop.deleted.iter_mut().for_each(|d| *d = false);
                let (count, size) = self.maildrop.totals();
                self.ok(&maildrop_text(count, size));
            }
            Command::Quit => {
                self.state = State::Update;
                let deleted = self
                    .maildrop
                    .messages
                    .iter()
                    .zip(&self.maildrop.deleted)
                    .enumerate()
                    .filter(|(_, (_, deleted))| **deleted)
                    .filter_map(|(i, (info, _))| {
                        Some(UidListing {
                            message: u32::try_from(i + 1).ok().and_then(MessageNumber::new)?,
                            uid: info.uid.clone(),
                        })
                    })
                    .collect();
                self.ask(Pending::Commit, Event::Commit { deleted });
            }
            Command::Capa => self.capa(),
            Command::Lang(range) if !self.config.languages.is_empty() => self.lang(range),
            Command::Other { .. } | Command::Utf8 | Command::Lang(_) => {
                self.err(None, "unknown command", COUNTED);
            }
            _ => self.err(None, "already logged in", COUNTED),
        }
    }

    fn retrieve(&mut self, n: MessageNumber, top: Option<u32>) {
        if let Some(MessageInfo { size, uid }) = self.message(n) {
            let event = Event::Retrieve {
                message: n,
                uid,
                size,
                top,
            };
            self.ask(Pending::Retrieve { top, size }, event);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Decisions.

    fn decide(&mut self, pending: Pending, answer: Answer) {
        let custom = match &answer {
            Answer::Reply(response) => Some(response.clone()),
            _ => None,
        };
        let refused = custom.as_ref().is_some_and(|r| r.status == Status::Err);
        match pending {
            Pending::Connect => {
                if refused {
                    if let Some(response) = custom {
                        self.respond(response);
                    }
                    return self.close();
                }
                let text =
                    custom.map_or_else(|| self.config.greeting.to_string(), |r| r.text.to_string());
                let text = match &self.config.apop_timestamp {
                    Some(stamp) if !text.contains(stamp.as_str()) => {
                        // The timestamp always fits: the text gives way.
                        let room = crate::types::MAX_TEXT.saturating_sub(stamp.as_str().len() + 1);
                        let mut cut = text.len().min(room);
                        while !text.is_char_boundary(cut) {
                            cut -= 1;
                        }
                        alloc::format!("{} {stamp}", text.get(..cut).unwrap_or_default())
                    }
                    _ => text,
                };
                self.ok(text.trim_start());
            }
            Pending::Login { exchange, name } => match answer {
                Answer::Open(messages) => {
                    let count = messages.len();
                    let size = messages.iter().fold(0u64, |s, m| s.saturating_add(m.size));
                    self.maildrop = Maildrop {
                        deleted: alloc::vec![false; count],
                        messages,
                    };
                    self.state = State::Transaction;
                    let text = maildrop_text(count, size);
                    match name {
                        // As RFC 1939 10 has it: "mrose's maildrop has 2 messages".
                        Some(name) => self.ok(&alloc::format!("{name}'s {text}")),
                        None => self.ok(&text),
                    }
                }
                _ => {
                    let response = custom.unwrap_or_else(|| Response {
                        // RFC 3206 4; short enough for any line.
                        status: Status::Err,
                        code: Some(ResponseCode::known(KnownCode::Auth)),
                        text: Text::checked("authentication failed"),
                    });
                    if let Some((mut exchange, name)) = exchange {
                        // XOAUTH2 / OAUTHBEARER report failure inside the exchange first; the
                        // application's response ends it.
                        if let Ok(ServerStep::Challenge(error)) = exchange.0.reject(&[]) {
                            let step = Ok(ServerStep::Challenge(error));
                            return self.auth_step(step, exchange, name, Some(response));
                        }
                    }
                    self.respond(response);
                    // A refused login counts, so that guessing passwords ends the session.
                    self.count_error();
                }
            },
            Pending::Lookup(..) => {
                // The application refused outright (only `-ERR` fits here).
                if let Some(response) = custom {
                    self.respond(response);
                }
                self.count_error();
            }
            Pending::Retrieve { top, size } => {
                if refused {
                    if let Some(response) = custom {
                        self.respond(response);
                    }
                    return;
                }
                match custom {
                    Some(response) => self.respond(response),
                    None => match top {
                        None => self.ok_with(format_args!("{size} octets")),
                        Some(_) => self.ok("top of message follows"),
                    },
                }
                self.phase = Phase::Sending(Transfer {
                    encoder: DotEncoder::new(self.config.bare_endings),
                    top: top.map(Top::new),
                });
            }
            Pending::Commit => {
                match custom {
                    Some(response)
                        if response.status == Status::Err && response.text.is_empty() =>
                    {
                        // RFC 1939 6's text, unless the application's code leaves no room.
                        let text = Text::checked("some deleted messages not removed");
                        let code = response.code.clone();
                        let response = Response::new(Status::Err, code, text).unwrap_or(response);
                        self.respond(response);
                    }
                    Some(response) => self.respond(response),
                    None => self.ok("bye"),
                }
                self.close();
            }
        }
    }
}

fn maildrop_text(count: usize, size: u64) -> String {
    let plural = if count == 1 { "" } else { "s" };
    alloc::format!("maildrop has {count} message{plural} ({size} octets)")
}

mail_wire::impl_machine!(Server, Event, ApiError, session_timeout);

/// A short text formatted on the stack ([`Server::ok_with`]); a text longer than it holds
/// fails to write, and is then formatted on the heap.
struct ShortText {
    octets: [u8; 64],
    len: usize,
}

impl Default for ShortText {
    fn default() -> Self {
        Self {
            octets: [0; 64],
            len: 0,
        }
    }
}

impl fmt::Write for ShortText {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        let end = self.len.checked_add(text.len()).ok_or(fmt::Error)?;
        let room = self.octets.get_mut(self.len..end).ok_or(fmt::Error)?;
        room.copy_from_slice(text.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl ShortText {
    fn as_str(&self) -> &str {
        // Whole `str`s were written: the octets are UTF-8.
        self.octets
            .get(..self.len)
            .and_then(|octets| core::str::from_utf8(octets).ok())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod tests;

#[cfg(test)]
mod edge_tests;
