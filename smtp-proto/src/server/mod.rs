//! The sans-IO SMTP and LMTP server (RFC 5321, 2033, 2920, 3030, 3207, 4954).
//!
//! The machine speaks the protocol; the application decides policy. It never reads a socket,
//! a clock or a file: the caller hands it what arrived ([`Server::receive`]), the end of the
//! stream ([`Server::receive_eof`]) and expired timeouts ([`Server::handle_timeout`]), and
//! drains [`Server::poll_output`]: bytes to send, [`Event`]s, the point where TLS starts, and
//! the end of the connection.
//!
//! **The invariant:** after every input, call `poll_output` until it returns `None`. Events
//! marked *decision* wait for [`Server::answer`]; until then the machine processes nothing
//! more (pipelined commands wait, bounded by [`ServerConfig::max_pending`]), so replies always
//! go out in order (RFC 2920).
//!
//! ```
//! use smtp_proto::server::{Answer, Event, Output, Server, ServerConfig};
//!
//! let mut server = Server::new(ServerConfig::default());
//! let mut sent = Vec::new();
//! let mut messages = Vec::new();
//! let mut body = Vec::new();
//! let client: &[&[u8]] = &[
//!     b"EHLO client.example\r\n",
//!     b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n",
//!     b"Subject: hi\r\n\r\n..dot\r\n.\r\nQUIT\r\n",
//! ];
//! let mut input = client.iter();
//! let mut unread = Vec::new();
//! loop {
//!     // Drain everything the machine has to say.
//!     while let Some(output) = server.poll_output() {
//!         match output {
//!             Output::Transmit(bytes) => sent.extend_from_slice(&bytes),
//!             Output::Event(Event::Body(chunk)) => body.extend_from_slice(&chunk),
//!             Output::Event(Event::MessageEnd { .. }) => {
//!                 messages.push(std::mem::take(&mut body));
//!                 server.answer(Answer::Accept)?;
//!             }
//!             // Accept the connection, the client, the sender, the recipients...
//!             Output::Event(event) if event.is_decision() => server.answer(Answer::Accept)?,
//!             Output::Event(_) => {}
//!             Output::StartTls => unreachable!("not offered in this example"),
//!             Output::Close => break,
//!         }
//!     }
//!     if server.is_closed() {
//!         break;
//!     }
//!     // Then feed what the peer sent next (here, the scripted client) behind what the
//!     // machine did not take last time: while a decision is pending it takes only up to
//!     // `max_pending` octets (back-pressure), and the rest is offered again, first.
//!     match input.next() {
//!         Some(bytes) => unread.extend_from_slice(bytes),
//!         None if unread.is_empty() => break,
//!         None => {}
//!     }
//!     let taken = server.receive(&unread);
//!     unread.drain(..taken);
//! }
//! assert_eq!(messages, [b"Subject: hi\r\n\r\n.dot\r\n".to_vec()]);
//! let transcript = String::from_utf8(sent)?;
//! assert!(transcript.starts_with("220 localhost ESMTP\r\n250-localhost\r\n"));
//! assert!(transcript.ends_with("354 Start mail input; end with <CRLF>.<CRLF>\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{Bytes, BytesMut};
use mail_wire::dot::{BodyError, DecoderConfig, DotDecoder, DotEvent};
use mail_wire::line::{LineConfig, LineError, LineReader};
use mail_wire::machine::{OutputQueue, TimerEpoch};
use mail_wire::sasl::{
    self, ChannelBinding, ClientResponse, Context, Credentials, ServerMechanism, ServerStep,
};

pub use config::{ServerConfig, Timeouts};
#[cfg(feature = "scram")]
pub use mail_wire::sasl::ScramUnknownUsers;
pub use mail_wire::sasl::{ScramSecret, ServerMechanisms};

use crate::codec::{CommandOptions, DecodeError, ErrorKind, encode_reply, parse_command};
use crate::types::{
    Body, Capability, Command, EhloResponse, EnhancedStatus, ForwardPath, Host, InvalidValue,
    Lookup, MailParameters, Mechanism, RcptParameters, Reply, ReplyClass, ReplyCode, ReplyText,
    ReversePath, parse_status_prefix,
};

/// Something the caller must act on, from [`Server::poll_output`].
///
/// `Transmit(bytes)` to send, `Event(event)`, `StartTls` (send what was transmitted, then start
/// TLS and call [`Server::tls_established`]) and `Close`: the shape all four machines share
/// ([`mail_wire::machine::Output`]).
pub type Output = mail_wire::machine::Output<Event>;

/// How the client greeted the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Greeting {
    /// `HELO`
    Helo,
    /// `EHLO`
    Ehlo,
    /// `LHLO` (LMTP)
    Lhlo,
}

/// What happened. *Decision* events wait for [`Server::answer`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// *Decision*: a client connected; accept (220) or refuse (for example 554, then close).
    Connected,
    /// *Decision*: the client introduced itself.
    Hello {
        /// HELO, EHLO or LHLO.
        greeting: Greeting,
        /// The name it gave.
        host: Host<'static>,
    },
    /// *Decision*: the sender of a new message.
    MailFrom {
        /// The reverse path.
        from: ReversePath<'static>,
        /// Its parameters (already checked against what is advertised).
        parameters: MailParameters<'static>,
    },
    /// *Decision*: one recipient.
    RcptTo {
        /// The forward path.
        to: ForwardPath<'static>,
        /// Its parameters.
        parameters: RcptParameters<'static>,
    },
    /// *Decision*: the client wants to send the message (DATA, or the first BDAT chunk).
    DataStart,
    /// A piece of the message body, unstuffed. Never empty.
    Body(Bytes),
    /// *Decision*: the whole message has arrived and nothing is wrong with it. Accept it (250)
    /// only once it is safely stored. In LMTP mode answer with one reply per accepted
    /// recipient ([`Answer::PerRecipient`]), or `Accept` for all.
    MessageEnd {
        /// Octets of the body.
        size: u64,
        /// Recipients accepted for it, in order (what an LMTP answer must match).
        recipients: usize,
    },
    /// The message is refused by the server itself (bare CR/LF, too large); discard the body
    /// delivered so far. The client is told once the rest of the message has been read (never
    /// guess where a message ends); [`Event::TransactionReset`] follows then.
    MessageRejected(BodyError),
    /// The transaction was abandoned (RSET, a new EHLO, STARTTLS); discard any partial
    /// message.
    TransactionReset,
    /// *Decision*: AUTH credentials to check. Accept (235) or refuse (535 and the like).
    Authenticate {
        /// The mechanism used.
        mechanism: Mechanism<'static>,
        /// What the client presented; passwords and tokens are `Secret`s.
        credentials: Credentials,
    },
    /// *Decision*: a SASL mechanism (SCRAM-SHA-256) needs the stored secret of `username` to
    /// go on: answer with [`Server::provide_secret`], `None` for an unknown user (the
    /// exchange then fails at its end, as for a wrong password, so that the client does not
    /// learn who exists). [`Answer::Reply`] with a 4yz or 5yz reply ends the exchange with it
    /// instead.
    LookupSecret {
        /// The mechanism asking.
        mechanism: Mechanism<'static>,
        /// The user, as the client named it.
        username: String,
    },
    /// An AUTH exchange failed without the application deciding it: a SCRAM proof that did
    /// not verify (a wrong password, or the unknown user of an [`Event::LookupSecret`]
    /// answered with `None`), or a malformed exchange. The client got `535 5.7.8` or `501`,
    /// and the failure counts toward [`ServerConfig::max_errors`] as every failed AUTH does
    /// (RFC 4954 9 leaves the limit to the server). For logging and rate limiting; no answer
    /// is due.
    AuthFailed {
        /// The mechanism used.
        mechanism: Mechanism<'static>,
        /// The user the client named, where the mechanism got that far (SCRAM's
        /// [`Event::LookupSecret`]).
        username: Option<String>,
    },
    /// *Decision*: `VRFY` (only with [`ServerConfig::vrfy`]). [`Lookup::smtputf8`] says
    /// whether the reply may hold UTF-8 (RFC 6531 3.7.4.2). Without it, the machine does not
    /// send a reply with UTF-8 text: it sends `252 2.6.8` in place of an acceptance and
    /// `550 5.6.8` in place of a refusal (the enhanced code where those are advertised).
    Verify(Lookup<'static>),
    /// *Decision*: `EXPN` (only with [`ServerConfig::expn`]), as for [`Event::Verify`].
    Expand(Lookup<'static>),
    /// Octets that arrived in plaintext after STARTTLS (or while TLS was being set up) were
    /// thrown away unread: the STARTTLS injection of CVE-2011-0411 and its kin.
    PlaintextDiscarded(usize),
    /// The client ended the session with QUIT.
    Quit,
}

impl Event {
    /// Whether the machine waits for [`Server::answer`] after this event.
    pub fn is_decision(&self) -> bool {
        matches!(
            self,
            Self::Connected
                | Self::Hello { .. }
                | Self::MailFrom { .. }
                | Self::RcptTo { .. }
                | Self::DataStart
                | Self::MessageEnd { .. }
                | Self::Authenticate { .. }
                | Self::LookupSecret { .. }
                | Self::Verify(_)
                | Self::Expand(_)
        )
    }
}

/// The application's answer to a decision event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Yes, with the usual reply.
    Accept,
    /// This reply: a 2yz one accepts with the application's own text (a queue id, say); a
    /// 4yz or 5yz one refuses.
    Reply(Reply<'static>),
    /// LMTP end of data: one reply per accepted recipient, in order (RFC 2033 4.2).
    PerRecipient(Vec<Reply<'static>>),
}

impl Answer {
    /// Refuses: `code` must be 4yz (try again later) or 5yz (do not retry as is, RFC 5321
    /// 4.2.1); `status`, an enhanced status code or `None`, must have the code's class (RFC
    /// 2034 4: 4.x.x with 4yz, 5.x.x with 5yz); `text` is one line, checked as
    /// [`ReplyText::new`] does (no CR, LF or other control character). What is wrong comes back
    /// as an [`InvalidValue`], and nothing is answered. Without a status, text that starts
    /// with one is read as one, as a client would read it, so it must have the code's class
    /// too (`550` with `"4.2.2 Mailbox full"` is refused); without any, a server that
    /// advertises ENHANCEDSTATUSCODES sends the class's generic one (`4.0.0`, `5.0.0`), as RFC
    /// 2034 3 has every reply carry one.
    ///
    /// ```
    /// use smtp_proto::server::Answer;
    /// use smtp_proto::types::{EnhancedStatus, ReplyCode};
    ///
    /// let unknown = Answer::reject(
    ///     ReplyCode::MAILBOX_UNAVAILABLE,
    ///     EnhancedStatus::BAD_DESTINATION_MAILBOX,
    ///     "No such user here",
    /// )?;
    /// let busy = Answer::reject(ReplyCode::new(451)?, None, "Try again later")?;
    /// # let _ = (unknown, busy);
    /// assert!(Answer::reject(ReplyCode::OK, None, "not a refusal").is_err());
    /// assert!(Answer::reject(ReplyCode::new(550)?, EnhancedStatus::SYSTEM_TRANSIENT, "4.x.x with 550").is_err());
    /// assert!(Answer::reject(ReplyCode::new(550)?, None, "no\r\nRSET").is_err());
    /// assert!(Answer::reject(ReplyCode::new(550)?, None, "4.2.2 Mailbox full").is_err());
    /// # Ok::<(), smtp_proto::types::InvalidValue>(())
    /// ```
    pub fn reject(
        code: ReplyCode,
        status: impl Into<Option<EnhancedStatus>>,
        text: impl Into<Cow<'static, str>>,
    ) -> Result<Self, InvalidValue> {
        if !matches!(
            code.class(),
            ReplyClass::TransientNegative | ReplyClass::PermanentNegative
        ) {
            return Err(InvalidValue::Malformed {
                what: "reply code",
                offset: 0,
                reason: "a refusal takes a 4yz or 5yz code",
            });
        }
        Self::reply(code, status.into(), text)
    }

    /// Accepts with the application's own reply (a queue id after the message, say): `code`
    /// must be 2yz (RFC 5321 4.2.1), `status` and `text` are checked as
    /// [`reject`](Self::reject) checks them. Plain [`Answer::Accept`] sends the usual reply.
    ///
    /// ```
    /// use smtp_proto::server::Answer;
    /// use smtp_proto::types::{EnhancedStatus, ReplyCode};
    ///
    /// let queued = Answer::accept_with(ReplyCode::OK, EnhancedStatus::SUCCESS, "Ok: queued as 4F2A")?;
    /// # let _ = queued;
    /// assert!(Answer::accept_with(ReplyCode::new(550)?, None, "not an acceptance").is_err());
    /// # Ok::<(), smtp_proto::types::InvalidValue>(())
    /// ```
    pub fn accept_with(
        code: ReplyCode,
        status: impl Into<Option<EnhancedStatus>>,
        text: impl Into<Cow<'static, str>>,
    ) -> Result<Self, InvalidValue> {
        if code.class() != ReplyClass::Positive {
            return Err(InvalidValue::Malformed {
                what: "reply code",
                offset: 0,
                reason: "an acceptance takes a 2yz code",
            });
        }
        Self::reply(code, status.into(), text)
    }

    fn reply(
        code: ReplyCode,
        status: Option<EnhancedStatus>,
        text: impl Into<Cow<'static, str>>,
    ) -> Result<Self, InvalidValue> {
        let text = text.into();
        let reply = match status {
            Some(status) => Reply::with_status(code, status, text)?,
            None => {
                // Without a status, one at the start of the text is what a client reads
                // (`550 4.2.2 ...`): it must have the code's class too (RFC 2034 4).
                let leading = parse_status_prefix(text.as_bytes());
                if leading.is_some_and(|(found, _)| !found.agrees_with(code)) {
                    return Err(InvalidValue::Malformed {
                        what: "reply text",
                        offset: 0,
                        reason: "starts with an enhanced status code of another class than the reply code",
                    });
                }
                Reply::new(code, text)?
            }
        };
        Ok(Self::Reply(reply))
    }
}

/// The application used the machine wrongly; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// [`Server::answer`] with no decision pending.
    #[error("no decision is pending")]
    NoDecisionPending,
    /// An answer that does not fit the decision (per-recipient replies outside LMTP's end of
    /// data, or the wrong number of them; a 3yz reply).
    #[error("this answer does not fit the pending decision")]
    UnfitAnswer,
    /// [`Server::tls_established`] without a preceding [`Output::StartTls`].
    #[error("TLS was not being started")]
    NotStartingTls,
    /// [`Server::provide_secret`] without a pending [`Event::LookupSecret`].
    #[error("no secret was asked for")]
    NoLookupPending,
}

/// The first octet of a TLS handshake record (RFC 8446 5.1: `ContentType` 22).
const TLS_HANDSHAKE: u8 = 0x16;

/// Where the session stands.
#[derive(Debug)]
enum Phase {
    /// Reading command lines.
    Command,
    /// Reading a DATA body.
    Data(DotDecoder),
    /// Reading a BDAT chunk: octets left, whether it is the last, and the refusal to send
    /// once it has been read (RFC 3030 2: a refused chunk is still consumed first).
    Chunk {
        left: u64,
        last: bool,
        refusal: Option<Refusal>,
    },
    /// Reading AUTH response lines.
    Auth(Exchange, Mechanism<'static>),
    /// STARTTLS accepted: waiting for the caller's TLS; input is discarded.
    StartingTls,
    /// Closed; input is discarded.
    Closed,
}

/// A refusal of a BDAT chunk, sent once the chunk has been read.
#[derive(Debug)]
struct Refusal {
    reply: Reply<'static>,
    /// Whether it counts towards the error limit.
    error: bool,
}

/// A SASL exchange in progress (its state may hold credentials: not shown in `Debug`).
struct Exchange(Box<dyn ServerMechanism + Send>);

impl core::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Exchange({})", self.0.name())
    }
}

/// The decision the machine waits for.
#[derive(Debug)]
enum Pending {
    Connect,
    Hello(Greeting, Host<'static>),
    Mail(MailParameters<'static>),
    Rcpt,
    DataStart {
        bdat: Option<(u64, bool)>,
    },
    MessageEnd,
    Auth(Exchange, Mechanism<'static>),
    /// A mechanism waits for a user's stored secret.
    Lookup(Exchange, Mechanism<'static>),
    /// VRFY or EXPN; `smtputf8`: the client allowed UTF-8 in the reply (RFC 6531 3.7.4.2).
    Verify {
        smtputf8: bool,
    },
}

/// The message being built.
#[derive(Debug, Default)]
struct Transaction {
    smtputf8: bool,
    body: Option<Body>,
    recipients: usize,
    /// BDAT has been used (DATA may not follow, RFC 3030 3).
    chunked: bool,
    /// A BDAT chunk was refused: the rest of the message is read and discarded.
    refused: bool,
    /// The first refusal of a BDAT chunk, repeated to the chunks that follow it (RFC 3030 2:
    /// they are read and discarded), so that they keep its class: a 4yz stays transient.
    refusal: Option<Reply<'static>>,
    /// Octets of body received so far (BDAT).
    size: u64,
    /// Octets announced by the current BDAT.
    chunk: u64,
    /// Why the DATA body is refused, reported after its end.
    body_error: Option<BodyError>,
}

/// The SMTP / LMTP server. See the [module docs](self).
pub struct Server {
    config: ServerConfig,
    phase: Phase,
    pending: Option<Pending>,
    /// Raw input not yet processed (only while a decision is pending).
    held: BytesMut,
    lines: LineReader,
    output: OutputQueue<Event>,
    greeting: Option<Greeting>,
    tls: bool,
    /// The identity a layer below SASL established, for EXTERNAL.
    external_identity: Option<String>,
    /// The TLS connection's channel binding data, for SCRAM-SHA-256-PLUS.
    channel_binding: Option<ChannelBinding>,
    authenticated: bool,
    /// The user the AUTH exchange under way named (SCRAM's lookup), for [`Event::AuthFailed`].
    auth_username: Option<String>,
    /// The application refused the AUTH exchange under way (XOAUTH2 and OAUTHBEARER end it
    /// one step later): its failure is no news to the application.
    auth_refused: bool,
    transaction: Option<Transaction>,
    errors: usize,
    /// Commands that moved no mail since the session started or a message was accepted
    /// ([`ServerConfig::max_junk_commands`]).
    junk: usize,
    /// The last processed line was followed by more input before its reply went out.
    ahead: bool,
    /// The client spoke before the greeting.
    early_talker: bool,
    /// The next line arrived before the reply to the end of a body or chunk.
    early: bool,
    /// The last `receive` left octets with the caller: plaintext that may follow a STARTTLS.
    short_read: bool,
    /// The phase the timeout times (see [`timer_epoch`](Self::timer_epoch)).
    timer: TimerEpoch,
}

impl core::fmt::Debug for Server {
    /// Shows the state, never the bytes held: they may be a half-received AUTH line.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Server")
            .field("phase", &self.phase)
            .field("pending", &self.pending)
            .field("held", &self.held.len())
            .field("partial_line", &self.lines.buffered())
            .field("outputs", &self.output.len())
            .field("greeting", &self.greeting)
            .field("tls", &self.tls)
            .field("authenticated", &self.authenticated)
            .field("errors", &self.errors)
            .finish_non_exhaustive()
    }
}

impl Server {
    /// A server for a new connection; the first output is [`Event::Connected`].
    pub fn new(config: ServerConfig) -> Self {
        let lines = LineReader::new(LineConfig::new(command_line_limit(&config)));
        let tls = config.implicit_tls;
        let mut server = Self {
            config,
            phase: Phase::Command,
            pending: Some(Pending::Connect),
            held: BytesMut::new(),
            lines,
            output: OutputQueue::new(),
            greeting: None,
            tls,
            external_identity: None,
            channel_binding: None,
            authenticated: false,
            auth_username: None,
            auth_refused: false,
            transaction: None,
            errors: 0,
            junk: 0,
            ahead: false,
            early_talker: false,
            early: false,
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

    /// Whether the client has authenticated.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// Whether a decision event waits for [`answer`](Self::answer).
    pub fn is_waiting(&self) -> bool {
        self.pending.is_some()
    }

    /// Octets held for processing later: never more than [`ServerConfig::max_pending`] plus
    /// the command line limit.
    pub fn buffered(&self) -> usize {
        self.held.len() + self.lines.buffered()
    }

    /// How long the phase under way may take, from its start, before
    /// [`handle_timeout`](Self::handle_timeout) should be called (RFC 5321 4.5.3.2: a command,
    /// not an octet); `None` once closed and while the application has the next move (a
    /// decision is pending: a slow answer, such as an authentication penalty or a spam check,
    /// does not time the client out). The one decision that is timed is the end of a message:
    /// [`Timeouts::data_termination`] bounds the application's answer there, as the client
    /// waits no longer for it (RFC 5321 4.5.3.2.6). [`timer_epoch`](Self::timer_epoch) says
    /// when a phase starts.
    pub fn timeout(&self) -> Option<Duration> {
        let timeouts = &self.config.timeouts;
        match (&self.phase, &self.pending) {
            (Phase::Closed, _) => None,
            (_, Some(Pending::MessageEnd)) => Some(timeouts.data_termination),
            (_, Some(_)) => None,
            (Phase::Data(_) | Phase::Chunk { .. }, _) => Some(timeouts.data_block),
            _ => Some(timeouts.command),
        }
    }

    /// Changes where a new deadline starts, never while a command line or a block trickles
    /// in: at every reply but an AUTH challenge (334: the whole AUTH exchange, from its
    /// command to its final reply, is one command), at every decision asked of the
    /// application, when TLS is up, and after every [`Timeouts::data_block_size`] octets of
    /// message data, DATA or BDAT (RFC 5321 4.5.3.2.5: a deadline per block of data, so a
    /// large message is not timed as a whole, and a trickled one is not timed per octet).
    pub fn timer_epoch(&self) -> u64 {
        self.timer.get()
    }

    /// Takes the next output; `None` when there is nothing to do until the next input or
    /// answer.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.output.pop()
    }

    /// Hands over received bytes and returns how many were taken. All are taken unless a
    /// decision is pending and [`ServerConfig::max_pending`] octets already wait: then call
    /// again with the rest once the decision is answered (this is back-pressure on a client
    /// that pipelines too much).
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
        if self.pending.is_some() {
            let room = self.config.max_pending.saturating_sub(self.held.len());
            let taken = room.min(bytes.len());
            self.held
                .extend_from_slice(bytes.get(..taken).unwrap_or_default());
            return taken;
        }
        let mut input = Bytes::copy_from_slice(bytes);
        self.process(&mut input);
        let left = input.len();
        if left > 0 {
            // A decision came up part-way: keep what is left, within the limit.
            let room = self.config.max_pending.saturating_sub(self.held.len());
            let keep = room.min(left);
            self.held
                .extend_from_slice(input.get(..keep).unwrap_or_default());
            return bytes.len() - (left - keep);
        }
        bytes.len()
    }

    /// The client closed its side. A message in progress is abandoned; nothing is committed.
    pub fn receive_eof(&mut self) {
        if self.is_closed() {
            return;
        }
        if self.transaction.is_some() {
            self.emit(Event::TransactionReset);
        }
        self.close();
    }

    /// The [`timeout`](Self::timeout) of the phase under way expired: 421 and close (RFC 5321
    /// 4.5.3.2), the text saying which deadline it was: a command line (4.5.3.2.7, the AUTH
    /// exchange being one command), a block of message data (4.5.3.2.5) or the end of a
    /// message (4.5.3.2.6).
    pub fn handle_timeout(&mut self) {
        let text = match (&self.phase, &self.pending) {
            (_, Some(Pending::MessageEnd)) => "Timeout completing the message, closing",
            (Phase::Data(_) | Phase::Chunk { .. }, _) => {
                "Timeout waiting for message data, closing"
            }
            (Phase::Auth(..), _) => "Timeout in the AUTH exchange, closing",
            _ => "Timeout waiting for a command, closing",
        };
        self.end_with(ReplyCode::SERVICE_UNAVAILABLE, (4, 4, 2), text);
    }

    /// The session's overall time limit (the driver's) expired, whatever the phase: 421 and
    /// close (RFC 5321 3.8: a server may end a session with 421).
    pub fn handle_session_timeout(&mut self) {
        self.end_with(
            ReplyCode::SERVICE_UNAVAILABLE,
            (4, 4, 2),
            "Session time limit reached, closing",
        );
    }

    /// The application ends the session now, with 421 (RFC 5321 3.8).
    pub fn shut_down(&mut self) {
        self.end_with(
            ReplyCode::SERVICE_UNAVAILABLE,
            (4, 3, 2),
            "Service shutting down",
        );
    }

    /// Ends the session with a reply (none while TLS is being set up: the wire is not
    /// plaintext any more), abandoning any message in progress.
    fn end_with(
        &mut self,
        code: ReplyCode,
        status: (u8, u16, u16),
        text: impl Into<Cow<'static, str>>,
    ) {
        if self.is_closed() {
            return;
        }
        if !matches!(self.phase, Phase::StartingTls) {
            self.send(code, status, text);
        }
        self.reset_transaction();
        self.close();
    }

    /// TLS is up after [`Output::StartTls`]: the session starts over (RFC 3207 4.2): the client
    /// must send EHLO again, and everything learnt before is forgotten.
    pub fn tls_established(&mut self) -> Result<(), ApiError> {
        if !matches!(self.phase, Phase::StartingTls) {
            return Err(ApiError::NotStartingTls);
        }
        self.tls = true;
        self.timer.restart();
        self.phase = Phase::Command;
        self.greeting = None;
        self.authenticated = false;
        self.transaction = None;
        self.lines.reset();
        Ok(())
    }

    /// Answers the pending decision, then goes on with any input that waited for it.
    pub fn answer(&mut self, answer: Answer) -> Result<(), ApiError> {
        let Some(pending) = self.pending.take() else {
            return Err(ApiError::NoDecisionPending);
        };
        let fits = match (&answer, &pending) {
            (Answer::PerRecipient(replies), Pending::MessageEnd) => {
                self.config.lmtp
                    && Some(replies.len()) == self.transaction.as_ref().map(|t| t.recipients)
                    && !replies.iter().any(Reply::is_intermediate)
            }
            (Answer::PerRecipient(_), _) => false,
            // A lookup is answered with `provide_secret`, or refused with a reply.
            (Answer::Accept, Pending::Lookup(..)) => false,
            (Answer::Reply(reply), Pending::Lookup(..)) => {
                !reply.is_intermediate() && !reply.is_positive()
            }
            // A custom 354 for DATA is the one intermediate reply that fits.
            (Answer::Reply(reply), Pending::DataStart { bdat: None }) => {
                !reply.is_intermediate() || reply.code() == ReplyCode::START_DATA
            }
            (Answer::Reply(reply), _) => !reply.is_intermediate(),
            (Answer::Accept, _) => true,
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
        self.auth_step(step, exchange, name);
        self.resume();
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Output helpers.

    fn emit(&mut self, event: Event) {
        self.output.emit(event);
    }

    fn flush(&mut self) {
        self.output.flush();
    }

    fn push_reply(&mut self, reply: &Reply<'_>) {
        encode_reply(reply, self.output.buffer());
        self.ahead = false;
        if reply.code() != ReplyCode::AUTH_CHALLENGE {
            // The client's next unit starts now: a command, or the data after 354 (an AUTH
            // exchange goes on under the deadline of its command).
            self.timer.restart();
        }
    }

    /// A reply of ours, with its enhanced status code when those are advertised.
    fn ours(
        &self,
        code: ReplyCode,
        status: (u8, u16, u16),
        text: impl Into<Cow<'static, str>>,
    ) -> Reply<'static> {
        reply(
            code,
            self.config.enhanced_status_codes.then_some(status),
            text,
        )
    }

    /// Sends a reply of ours.
    fn send(
        &mut self,
        code: ReplyCode,
        status: (u8, u16, u16),
        text: impl Into<Cow<'static, str>>,
    ) {
        let reply = self.ours(code, status, text);
        self.push_reply(&reply);
    }

    /// Sends the application's reply, with an enhanced status code exactly when those are
    /// advertised (RFC 2034 4: then every 2yz, 4yz and 5yz reply carries one).
    fn send_theirs(&mut self, theirs: &Reply<'static>) {
        let reply = self.conformed(theirs);
        self.push_reply(&reply);
    }

    /// The application's reply with an enhanced status code exactly when those are advertised
    /// (RFC 2034 4).
    fn conformed(&self, theirs: &Reply<'static>) -> Reply<'static> {
        let wants = self.config.enhanced_status_codes && !theirs.is_intermediate();
        let conformed = match (wants, theirs.status()) {
            (true, Some(_)) | (false, None) => None,
            (true, None) => {
                let class = theirs.code().first_digit();
                EnhancedStatus::new(class, 0, 0)
                    .ok()
                    .and_then(|status| theirs.clone().set_status(status).ok())
            }
            (false, Some(_)) => {
                let lines = theirs
                    .lines()
                    .iter()
                    .map(|line| Cow::Owned(String::from(line.as_str())));
                Reply::from_lines(theirs.code(), lines).ok()
            }
        };
        conformed.unwrap_or_else(|| theirs.clone())
    }

    /// Whether the client used EHLO or LHLO, so that extensions are in effect.
    fn extended(&self) -> bool {
        matches!(self.greeting, Some(Greeting::Ehlo | Greeting::Lhlo))
    }

    fn close(&mut self) {
        self.phase = Phase::Closed;
        self.pending = None;
        self.held.clear();
        self.lines.reset();
        self.output.close();
    }

    /// A protocol error: counted, and past the limit the session ends (421).
    fn error(
        &mut self,
        code: ReplyCode,
        status: (u8, u16, u16),
        text: impl Into<Cow<'static, str>>,
    ) {
        self.send(code, status, text);
        self.count_error();
    }

    /// Counts a protocol error; past the limit the session ends (421).
    fn count_error(&mut self) {
        self.errors += 1;
        if self.errors >= self.config.max_errors {
            self.send(
                ReplyCode::SERVICE_UNAVAILABLE,
                (4, 7, 0),
                "Too many errors, closing the connection",
            );
            self.close();
        }
    }

    /// Counts a command that moves no mail; past [`ServerConfig::max_junk_commands`] the
    /// session ends (421, RFC 5321 3.8) and `true` says so: the command is not carried out.
    fn count_junk(&mut self) -> bool {
        self.junk = self.junk.saturating_add(1);
        if self.junk <= self.config.max_junk_commands {
            return false;
        }
        self.end_with(
            ReplyCode::SERVICE_UNAVAILABLE,
            (4, 7, 0),
            "Too many commands, closing",
        );
        true
    }

    fn ask(&mut self, pending: Pending, event: Event) {
        // The application's time is not the client's.
        self.timer.restart();
        self.pending = Some(pending);
        self.emit(event);
    }

    // -----------------------------------------------------------------------------------------
    // Input.

    /// Processes held input once nothing is pending any more.
    fn resume(&mut self) {
        if self.pending.is_some() || self.held.is_empty() {
            if self.pending.is_none() {
                self.flush();
            }
            return;
        }
        // A TLS client on a plaintext port speaks at once: told so, rather than out of step.
        if self.tls_record(self.held.first().copied()) {
            self.held.clear();
            self.flush();
            return;
        }
        // A client without PIPELINING waits for every reply: input that arrived while a decision
        // was pending (its reply not yet sent) was sent ahead. The data of an accepted BDAT is
        // the exception: it follows its command by definition.
        if !self.pipelining() && !matches!(self.phase, Phase::Chunk { .. } | Phase::Closed) {
            self.held.clear();
            let reply = self.config.sync_error.clone();
            self.send_theirs(&reply);
            self.close();
            return;
        }
        let mut input = self.held.split().freeze();
        self.process(&mut input);
        // What is still unprocessed (a new decision came up) goes back in front.
        if !input.is_empty() {
            let mut held = BytesMut::with_capacity(input.len() + self.held.len());
            held.extend_from_slice(&input);
            held.extend_from_slice(&self.held);
            self.held = held;
        }
        self.flush();
    }

    /// Consumes `input` until it is used up, a decision comes up, or the session changes mode.
    fn process(&mut self, input: &mut Bytes) {
        while !input.is_empty() && self.pending.is_none() {
            match &mut self.phase {
                Phase::Closed => {
                    input.clear();
                }
                Phase::StartingTls => {
                    self.emit(Event::PlaintextDiscarded(input.len()));
                    input.clear();
                }
                Phase::Data(decoder) => {
                    let before = input.len();
                    let decoded = decoder.decode(input);
                    let block = self.config.timeouts.data_block_size;
                    self.timer.count(before.saturating_sub(input.len()), block);
                    match decoded {
                        Some(DotEvent::Data(chunk)) => self.emit(Event::Body(chunk)),
                        Some(DotEvent::Invalid(error)) => {
                            // Refused, but the body is read to its real end before the reply:
                            // never guess where a message ends (SMTP smuggling).
                            if let Some(transaction) = &mut self.transaction {
                                transaction.body_error = Some(error);
                            }
                            self.emit(Event::MessageRejected(error));
                        }
                        Some(DotEvent::End) => {
                            self.early = !input.is_empty();
                            self.end_of_data();
                        }
                        None => {}
                    }
                }
                Phase::Chunk { left, refusal, .. } => {
                    let take = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    let chunk = input.split_to(take);
                    *left -= take as u64;
                    let (done, keep) = (*left == 0, refusal.is_none());
                    self.timer.count(take, self.config.timeouts.data_block_size);
                    if keep && !chunk.is_empty() {
                        self.chunk_data(chunk);
                    }
                    if done {
                        self.early = !input.is_empty();
                        self.end_of_chunk();
                    }
                }
                Phase::Command | Phase::Auth(..) => {
                    if self.tls_record(input.first().copied()) {
                        input.clear();
                        continue;
                    }
                    let Some(line) = self.lines.next_line(input) else {
                        continue;
                    };
                    // Sent ahead: more input already waits behind this line (behind BDAT, that
                    // is its chunk).
                    let bdat = line.as_ref().is_ok_and(|l| {
                        l.get(..5).is_some_and(|v| v.eq_ignore_ascii_case(b"BDAT "))
                    });
                    self.ahead = !bdat && (!input.is_empty() || !self.held.is_empty());
                    match line {
                        Ok(line) => self.line(line, input),
                        Err(error) => self.line_error(error),
                    }
                }
            }
        }
        self.flush();
    }

    /// A TLS record where a command line starts (a client that speaks TLS at once, on a port
    /// where TLS starts only with STARTTLS): 421 and close at once, rather than wait for a line
    /// end that never comes (RFC 3207 4 has STARTTLS; RFC 8314 3.3 implicit TLS on its own port).
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
        let text = if self.config.starttls && !self.tls {
            "TLS handshake on a plaintext port: use STARTTLS or the implicit TLS port"
        } else {
            "TLS handshake on a plaintext port: use the implicit TLS port"
        };
        self.end_with(ReplyCode::SERVICE_UNAVAILABLE, (4, 7, 0), text);
        true
    }

    /// Whether the client may send commands ahead of the replies: PIPELINING is offered and the
    /// client used EHLO or LHLO (RFC 2920 3.1).
    fn pipelining(&self) -> bool {
        self.config.pipelining && self.extended()
    }

    /// A client without PIPELINING must wait for each reply (RFC 2920 3.1, RFC 5321 4.5.3.2).
    fn out_of_sync(&mut self) -> bool {
        let early = core::mem::take(&mut self.early);
        if self.early_talker || ((self.ahead || early) && !self.pipelining()) {
            let reply = self.config.sync_error.clone();
            self.send_theirs(&reply);
            self.close();
            return true;
        }
        false
    }

    fn line_error(&mut self, error: LineError) {
        match (&self.phase, error) {
            (Phase::Auth(..), _) => {
                self.phase = Phase::Command;
                self.error(
                    ReplyCode::COMMAND_UNRECOGNIZED,
                    (5, 5, 6),
                    "Authentication line too long or malformed",
                );
            }
            (_, LineError::TooLong { .. }) => {
                self.error(ReplyCode::COMMAND_UNRECOGNIZED, (5, 5, 6), "Line too long");
            }
            _ => self.error(
                ReplyCode::COMMAND_UNRECOGNIZED,
                (5, 5, 2),
                "Bare CR or LF in a command line",
            ),
        }
    }

    fn line(&mut self, line: Bytes, input: &mut Bytes) {
        if let Phase::Auth(..) = self.phase {
            let Phase::Auth(mechanism, name) = core::mem::replace(&mut self.phase, Phase::Command)
            else {
                return;
            };
            self.auth_line(&line, mechanism, name);
            return;
        }
        if self.out_of_sync() {
            input.clear();
            return;
        }
        // RFC 4954 4: an AUTH command with its initial response may be as long as an AUTH
        // line; every other command keeps the command limit.
        let is_auth = line
            .get(..5)
            .is_some_and(|verb| verb.eq_ignore_ascii_case(b"AUTH "));
        let limit = if is_auth {
            command_line_limit(&self.config)
        } else {
            self.config.max_command_line
        };
        let options = CommandOptions::default()
            .max_line_length(limit)
            .smtputf8(self.config.smtputf8 && self.greeting.is_some_and(|g| g != Greeting::Helo));
        match parse_command(&line, &options) {
            Ok(command) => self.command(command.into_owned(), input),
            Err(error) => {
                self.decode_error(&error);
                let bdat = line
                    .get(..5)
                    .is_some_and(|verb| verb.eq_ignore_ascii_case(b"BDAT "));
                if bdat && !self.is_closed() {
                    // A chunk of unknown size follows (a size past 2^64, say): its octets
                    // cannot be told from commands, so the session ends here.
                    self.send(
                        ReplyCode::SERVICE_UNAVAILABLE,
                        (4, 7, 0),
                        "Chunk size unreadable, closing the connection",
                    );
                    self.reset_transaction();
                    input.clear();
                    self.close();
                }
            }
        }
    }

    fn decode_error(&mut self, error: &DecodeError) {
        match &error.kind {
            ErrorKind::Syntax {
                expected: "command verb",
            } => {
                self.error(
                    ReplyCode::COMMAND_UNRECOGNIZED,
                    (5, 5, 2),
                    "Syntax error, command unrecognized",
                );
            }
            ErrorKind::LineTooLong { .. } => {
                self.error(ReplyCode::COMMAND_UNRECOGNIZED, (5, 5, 6), "Line too long")
            }
            ErrorKind::NonAscii | ErrorKind::InvalidUtf8 => {
                self.error(
                    ReplyCode::MAILBOX_NAME_NOT_ALLOWED,
                    (5, 6, 7),
                    "Non-ASCII addresses need SMTPUTF8",
                );
            }
            ErrorKind::ParameterNotAllowed { .. } => {
                self.error(
                    ReplyCode::PARAMETERS_NOT_RECOGNIZED,
                    (5, 5, 4),
                    "Parameter not allowed here",
                );
            }
            _ => {
                let text =
                    alloc::format!("Syntax error in parameters or arguments: {}", error.kind);
                self.error(ReplyCode::PARAMETER_SYNTAX_ERROR, (5, 5, 4), text);
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Commands (RFC 5321 4.1.1, 4.1.4 for the order).

    fn command(&mut self, command: Command<'static>, input: &mut Bytes) {
        let lmtp = self.config.lmtp;
        if matches!(
            command,
            Command::Noop(_)
                | Command::Rset
                | Command::Vrfy(_)
                | Command::Expn(_)
                | Command::Help(_)
                | Command::Etrn(_)
        ) && self.count_junk()
        {
            return;
        }
        match command {
            Command::Ehlo(host) if !lmtp => self.ask_hello(Greeting::Ehlo, host),
            Command::Helo(domain) if !lmtp => self.ask_hello(Greeting::Helo, Host::Domain(domain)),
            Command::Lhlo(host) if lmtp => self.ask_hello(Greeting::Lhlo, host),
            Command::Mail { from, parameters } => self.mail(from, parameters),
            Command::Rcpt { to, parameters } => self.rcpt(to, parameters),
            Command::Data => self.data(),
            Command::Bdat { size, last } => self.bdat(size, last),
            Command::Rset => {
                self.reset_transaction();
                self.send(ReplyCode::OK, (2, 0, 0), "Ok");
            }
            Command::Noop(_) => self.send(ReplyCode::OK, (2, 0, 0), "Ok"),
            Command::Quit => {
                self.send(ReplyCode::CLOSING, (2, 0, 0), "Bye");
                if self.transaction.is_some() {
                    self.emit(Event::TransactionReset);
                }
                self.emit(Event::Quit);
                input.clear();
                self.close();
            }
            Command::Vrfy(lookup) if self.config.vrfy => self.lookup(Event::Verify, lookup),
            Command::Expn(lookup) if self.config.expn => self.lookup(Event::Expand, lookup),
            Command::Help(_) => self.send(ReplyCode::HELP, (2, 0, 0), "See RFC 5321"),
            Command::StartTls => self.starttls(input),
            Command::Auth {
                mechanism,
                initial_response,
            } => self.auth(
                mechanism,
                initial_response.map(|r| String::from(r.as_str())),
            ),
            Command::Other { verb, .. } => {
                let text = alloc::format!("Command unrecognized: {}", verb.as_str());
                self.error(ReplyCode::COMMAND_UNRECOGNIZED, (5, 5, 2), text);
            }
            Command::Ehlo(_) | Command::Helo(_) | Command::Lhlo(_) => {
                self.error(
                    ReplyCode::COMMAND_UNRECOGNIZED,
                    (5, 5, 1),
                    "Wrong greeting for this protocol",
                );
            }
            Command::Vrfy(_)
            | Command::Expn(_)
            | Command::Etrn(_)
            | Command::Atrn(_)
            | Command::Burl { .. } => {
                self.error(
                    ReplyCode::COMMAND_NOT_IMPLEMENTED,
                    (5, 5, 1),
                    "Command not implemented",
                );
            }
        }
    }

    /// VRFY or EXPN, for the application to answer.
    fn lookup(&mut self, event: fn(Lookup<'static>) -> Event, lookup: Lookup<'static>) {
        if lookup.smtputf8() && !(self.config.smtputf8 && self.extended()) {
            // RFC 6531 3.7.4.2: the parameter belongs to a session that offered SMTPUTF8.
            return self.error(
                ReplyCode::PARAMETERS_NOT_RECOGNIZED,
                (5, 5, 4),
                "Unsupported parameter",
            );
        }
        let smtputf8 = lookup.smtputf8();
        self.ask(Pending::Verify { smtputf8 }, event(lookup));
    }

    fn ask_hello(&mut self, greeting: Greeting, host: Host<'static>) {
        let event = Event::Hello {
            greeting,
            host: host.clone(),
        };
        self.ask(Pending::Hello(greeting, host), event);
    }

    fn mail(&mut self, from: ReversePath<'static>, parameters: MailParameters<'static>) {
        if self.greeting.is_none() {
            return self.error(ReplyCode::BAD_SEQUENCE, (5, 5, 1), "Send EHLO first");
        }
        if self.transaction.is_some() {
            return self.error(ReplyCode::BAD_SEQUENCE, (5, 5, 1), "Nested MAIL command");
        }
        if self.config.auth_required && !self.authenticated {
            return self.error(
                ReplyCode::AUTH_REQUIRED,
                (5, 7, 0),
                "Authentication required",
            );
        }
        let config = &self.config;
        let unsupported = match parameters.body {
            Some(Body::EightBitMime) => !config.eight_bit_mime,
            Some(Body::BinaryMime) => !(config.binary_mime && config.chunking),
            _ => false,
        } || (parameters.smtputf8 && !config.smtputf8)
            || ((parameters.ret.is_some() || parameters.envid.is_some()) && !config.dsn)
            || (parameters.require_tls && !(config.require_tls && self.tls))
            || parameters.mt_priority.is_some()
            || parameters.hold.is_some()
            || parameters.by.is_some()
            || !parameters.other.is_empty()
            // After HELO no extension is in effect (RFC 5321 4.1.1.1).
            || (!self.extended() && !parameters.is_empty());
        if unsupported {
            return self.error(
                ReplyCode::PARAMETERS_NOT_RECOGNIZED,
                (5, 5, 4),
                "Unsupported parameter",
            );
        }
        if !parameters.smtputf8 && !from.is_ascii() {
            // RFC 6531 3.4: a UTF-8 sender needs the SMTPUTF8 parameter; 3.5: a MAIL refused
            // for a non-ASCII address is 550 with X.6.7 (a RCPT is 553).
            return self.send(
                ReplyCode::MAILBOX_UNAVAILABLE,
                (5, 6, 7),
                "Non-ASCII sender needs the SMTPUTF8 parameter",
            );
        }
        if let (Some(size), Some(limit)) = (parameters.size, config.max_message_size) {
            if size > limit {
                return self.send(
                    ReplyCode::EXCEEDED_STORAGE,
                    (5, 3, 4),
                    "Message size exceeds the limit",
                );
            }
        }
        let event = Event::MailFrom {
            from: from.clone(),
            parameters: parameters.clone(),
        };
        self.ask(Pending::Mail(parameters), event);
    }

    fn rcpt(&mut self, to: ForwardPath<'static>, parameters: RcptParameters<'static>) {
        let Some(transaction) = &self.transaction else {
            return self.error(ReplyCode::BAD_SEQUENCE, (5, 5, 1), "Send MAIL first");
        };
        if transaction.chunked {
            return self.error(ReplyCode::BAD_SEQUENCE, (5, 5, 1), "Recipients after BDAT");
        }
        if !transaction.smtputf8 && !to.is_ascii() {
            return self.send(
                ReplyCode::MAILBOX_NAME_NOT_ALLOWED,
                (5, 6, 7),
                "Non-ASCII recipient needs SMTPUTF8",
            );
        }
        if (parameters.notify.is_some() || parameters.orcpt.is_some()) && !self.config.dsn
            || parameters.rrvs.is_some()
            || !parameters.other.is_empty()
        {
            return self.error(
                ReplyCode::PARAMETERS_NOT_RECOGNIZED,
                (5, 5, 4),
                "Unsupported parameter",
            );
        }
        if transaction.recipients >= self.config.max_recipients {
            return self.send(
                ReplyCode::INSUFFICIENT_STORAGE,
                (4, 5, 3),
                "Too many recipients",
            );
        }
        self.ask(Pending::Rcpt, Event::RcptTo { to, parameters });
    }

    fn data(&mut self) {
        let Some(transaction) = &self.transaction else {
            return self.error(ReplyCode::BAD_SEQUENCE, (5, 5, 1), "Send MAIL first");
        };
        if transaction.chunked || transaction.body == Some(Body::BinaryMime) {
            return self.error(
                ReplyCode::BAD_SEQUENCE,
                (5, 5, 1),
                "Use BDAT for this message",
            );
        }
        if transaction.recipients == 0 {
            // RFC 2033 4.2: LMTP MUST answer 503 here.
            let code = if self.config.lmtp {
                ReplyCode::BAD_SEQUENCE
            } else {
                ReplyCode::TRANSACTION_FAILED
            };
            return self.send(code, (5, 5, 1), "No valid recipients");
        }
        self.ask(Pending::DataStart { bdat: None }, Event::DataStart);
    }

    fn bdat(&mut self, size: u64, last: bool) {
        if !self.config.chunking || !self.extended() {
            // The chunk is still there: read it so that the stream stays in step.
            let reply = self.ours(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                (5, 5, 1),
                "BDAT not offered",
            );
            return self.refuse_chunk(size, last, reply, true);
        }
        match &self.transaction {
            None => {
                let reply = self.ours(ReplyCode::BAD_SEQUENCE, (5, 5, 1), "Send MAIL first");
                self.refuse_chunk(size, last, reply, true);
            }
            Some(t) if t.refused => {
                let reply = match &t.refusal {
                    Some(first) => first.clone(),
                    // Grew past the size limit: a 552 already went out.
                    None => self.ours(
                        ReplyCode::TRANSACTION_FAILED,
                        (5, 5, 1),
                        "Message already refused",
                    ),
                };
                self.refuse_chunk(size, last, reply, false);
            }
            Some(t) if t.recipients == 0 => {
                let reply = self.ours(
                    ReplyCode::TRANSACTION_FAILED,
                    (5, 5, 1),
                    "No valid recipients",
                );
                self.refuse_chunk(size, last, reply, false);
            }
            Some(t) => {
                let first = !t.chunked;
                if self.beyond_limit(size) {
                    let reply = self.ours(
                        ReplyCode::EXCEEDED_STORAGE,
                        (5, 3, 4),
                        "Message size exceeds the limit, closing the connection",
                    );
                    return self.refuse_unread(&reply, last);
                }
                if let Some(transaction) = &mut self.transaction {
                    transaction.chunk = size;
                }
                if first {
                    let pending = Pending::DataStart {
                        bdat: Some((size, last)),
                    };
                    self.ask(pending, Event::DataStart);
                } else {
                    self.read_chunk(size, last, None);
                }
            }
        }
    }

    /// Whether a chunk of `size` octets is alone larger than
    /// [`ServerConfig::max_message_size`] (a 20-digit size always is, when there is a limit).
    fn beyond_limit(&self, size: u64) -> bool {
        self.config
            .max_message_size
            .is_some_and(|limit| size > limit)
    }

    /// Refuses a chunk without reading it, and ends the session: its octets follow the
    /// command at once, and the stream cannot be kept in step without reading them all
    /// (gigabytes, or a 20-digit size). RFC 3030 2 has a refused chunk read and discarded;
    /// that is kept for chunks within the size limit.
    ///
    /// Never silent: where [`refuse_message`](Self::refuse_message) would send nothing (LMTP,
    /// `LAST`, no transaction or no recipient, RFC 2033 4.3), it sends the reply once, as the
    /// session closes and the client must learn why.
    fn refuse_unread(&mut self, reply: &Reply<'_>, last: bool) {
        if self.refusals(last) == 0 {
            self.push_reply(reply);
        } else {
            self.refuse_message(reply, last);
        }
        self.reset_transaction();
        self.close();
    }

    /// Reads a refused chunk, then sends `reply` (RFC 3030 2); one larger than the message
    /// size limit is refused unread ([`refuse_unread`](Self::refuse_unread)).
    fn refuse_chunk(&mut self, size: u64, last: bool, reply: Reply<'static>, error: bool) {
        if self.beyond_limit(size) {
            return self.refuse_unread(&reply, last);
        }
        if let Some(transaction) = &mut self.transaction {
            transaction.refused = true;
            if transaction.refusal.is_none() {
                transaction.refusal = Some(reply.clone());
            }
        }
        self.read_chunk(size, last, Some(Refusal { reply, error }));
    }

    /// Starts reading a chunk; a zero-octet chunk (`BDAT 0 LAST`) ends at once.
    fn read_chunk(&mut self, size: u64, last: bool, refusal: Option<Refusal>) {
        self.phase = Phase::Chunk {
            left: size,
            last,
            refusal,
        };
        if size == 0 {
            self.end_of_chunk();
        }
    }

    fn chunk_data(&mut self, chunk: Bytes) {
        let limit = self.config.max_message_size;
        let Some(transaction) = &mut self.transaction else {
            return;
        };
        if transaction.refused {
            return;
        }
        transaction.size = transaction.size.saturating_add(chunk.len() as u64);
        if let Some(limit) = limit.filter(|&limit| transaction.size > limit) {
            // The rest of the message is read and dropped; 552 after this chunk.
            transaction.refused = true;
            self.emit(Event::MessageRejected(BodyError::TooLarge { limit }));
            return;
        }
        self.emit(Event::Body(chunk));
    }

    /// A chunk has been read to its last octet.
    fn end_of_chunk(&mut self) {
        let Phase::Chunk { last, refusal, .. } =
            core::mem::replace(&mut self.phase, Phase::Command)
        else {
            return;
        };
        if let Some(Refusal { reply, error }) = refusal {
            self.refuse_message(&reply, last);
            if error {
                self.count_error();
            }
            if last {
                self.reset_transaction();
            }
            return;
        }
        if self.transaction.as_ref().is_some_and(|t| t.refused) {
            // Grew past SIZE while it streamed.
            let reply = self.ours(
                ReplyCode::EXCEEDED_STORAGE,
                (5, 3, 4),
                "Message size exceeds the limit",
            );
            self.refuse_message(&reply, last);
            if last {
                self.reset_transaction();
            }
            return;
        }
        if !last {
            // RFC 3030 4.2: each chunk is acknowledged with its own size.
            let size = self.transaction.as_ref().map_or(0, |t| t.chunk);
            let text = alloc::format!("{size} octets received");
            return self.send(ReplyCode::OK, (2, 0, 0), text);
        }
        let (size, recipients) = self
            .transaction
            .as_ref()
            .map_or((0, 0), |t| (t.size, t.recipients));
        self.ask(Pending::MessageEnd, Event::MessageEnd { size, recipients });
    }

    /// Refuses the message: once, or in LMTP at the end of the message once per accepted
    /// recipient, none when there is none (RFC 2033 4.2, 4.3).
    fn refuse_message(&mut self, reply: &Reply<'_>, at_end: bool) {
        for _ in 0..self.refusals(at_end) {
            self.push_reply(reply);
        }
    }

    /// How many replies refuse the message: one, or in LMTP at the end of the message one per
    /// accepted recipient (RFC 2033 4.2, 4.3).
    fn refusals(&self, at_end: bool) -> usize {
        match (self.config.lmtp && at_end, &self.transaction) {
            (true, Some(transaction)) => transaction.recipients,
            (true, None) => 0,
            (false, _) => 1,
        }
    }

    fn end_of_data(&mut self) {
        let size = match &self.phase {
            Phase::Data(decoder) => decoder.body_size(),
            _ => 0,
        };
        self.phase = Phase::Command;
        let Some(transaction) = &self.transaction else {
            return;
        };
        let recipients = transaction.recipients;
        if let Some(error) = transaction.body_error {
            let reply = match error {
                BodyError::TooLarge { .. } => self.ours(
                    ReplyCode::EXCEEDED_STORAGE,
                    (5, 3, 4),
                    "Message size exceeds the limit",
                ),
                _ => self.ours(
                    ReplyCode::TRANSACTION_FAILED,
                    (5, 6, 0),
                    "Bare CR or LF in the message",
                ),
            };
            self.refuse_message(&reply, true);
            self.reset_transaction();
            return;
        }
        self.ask(Pending::MessageEnd, Event::MessageEnd { size, recipients });
    }

    fn starttls(&mut self, input: &mut Bytes) {
        if !self.config.starttls || self.config.implicit_tls {
            return self.error(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                (5, 5, 1),
                "STARTTLS not offered",
            );
        }
        if self.tls {
            return self.error(ReplyCode::BAD_SEQUENCE, (5, 5, 1), "TLS already active");
        }
        // Everything after the STARTTLS line is plaintext that must never be executed.
        let discarded = input.len() + self.held.len() + self.lines.buffered();
        if self.short_read {
            // So much was sent behind STARTTLS that some of it is still with the caller, who
            // could hand it over once TLS is up: refuse, and end the session.
            input.clear();
            self.held.clear();
            self.emit(Event::PlaintextDiscarded(discarded));
            self.send(
                ReplyCode::TRANSACTION_FAILED,
                (5, 5, 0),
                "Commands sent after STARTTLS",
            );
            return self.close();
        }
        self.send(ReplyCode::READY, (2, 0, 0), "Ready to start TLS");
        input.clear();
        self.held.clear();
        self.lines.reset();
        if self.transaction.is_some() {
            self.emit(Event::TransactionReset);
            self.transaction = None;
        }
        self.flush();
        self.output.start_tls();
        self.phase = Phase::StartingTls;
        if discarded > 0 {
            self.emit(Event::PlaintextDiscarded(discarded));
        }
    }

    fn auth(&mut self, name: Mechanism<'static>, initial: Option<String>) {
        let mechanisms = &self.config.sasl_mechanisms;
        if mechanisms.is_empty() || !self.extended() {
            return self.error(ReplyCode::BAD_SEQUENCE, (5, 5, 1), "AUTH not available");
        }
        if !self.tls && !self.config.auth_without_tls {
            // AUTH is not even advertised without TLS; as Postfix answers:
            return self.error(
                ReplyCode::AUTH_REQUIRED,
                (5, 7, 0),
                "Must issue a STARTTLS command first",
            );
        }
        if self.authenticated || self.transaction.is_some() {
            return self.error(ReplyCode::BAD_SEQUENCE, (5, 5, 1), "AUTH not allowed now");
        }
        let context = self.sasl_context();
        let available = mechanisms.available(&context);
        if !available
            .into_iter()
            .any(|known| known.eq_ignore_ascii_case(name.as_str()))
        {
            return self.error(
                ReplyCode::PARAMETER_NOT_IMPLEMENTED,
                (5, 5, 4),
                "Unrecognized authentication type",
            );
        }
        let Some(mechanism) = mechanisms.start(name.as_str(), &context).map(Exchange) else {
            // Offered, but the application's factory declined it for now (RFC 4954 6).
            return self.send(
                ReplyCode::TEMPORARY_TLS_OR_AUTH_FAILURE,
                (4, 7, 0),
                "Temporary authentication failure",
            );
        };
        let initial = match initial
            .as_deref()
            .map(|text| sasl::decode_initial_response(text.as_bytes(), sasl::MAX_DECODED_LEN))
        {
            Some(Ok(secret)) => Some(secret),
            Some(Err(_)) => {
                return self.error(
                    ReplyCode::PARAMETER_SYNTAX_ERROR,
                    (5, 5, 2),
                    "Invalid initial response",
                );
            }
            None => None,
        };
        let mut mechanism = mechanism;
        self.auth_username = None;
        self.auth_refused = false;
        let step = mechanism
            .0
            .start(initial.as_ref().map(|s| s.expose_secret().as_slice()));
        self.auth_step(step, mechanism, name);
    }

    fn auth_line(&mut self, line: &[u8], mut mechanism: Exchange, name: Mechanism<'static>) {
        match sasl::decode_response(line, sasl::MAX_DECODED_LEN) {
            Ok(ClientResponse::Cancel) => {
                self.error(
                    ReplyCode::PARAMETER_SYNTAX_ERROR,
                    (5, 7, 0),
                    "Authentication cancelled",
                );
            }
            Ok(ClientResponse::Data(data)) => {
                let step = mechanism.0.step(data.expose_secret());
                self.auth_step(step, mechanism, name);
            }
            Err(_) => self.error(
                ReplyCode::PARAMETER_SYNTAX_ERROR,
                (5, 5, 2),
                "Invalid base64 in the response",
            ),
        }
    }

    fn auth_step(
        &mut self,
        step: Result<ServerStep, sasl::SaslError>,
        mechanism: Exchange,
        name: Mechanism<'static>,
    ) {
        match step {
            Ok(ServerStep::Challenge(challenge)) => {
                let text = sasl::encode_challenge(&challenge);
                let reply = reply(ReplyCode::AUTH_CHALLENGE, None, text);
                self.push_reply(&reply);
                self.lines = LineReader::new(LineConfig::new(self.config.max_auth_line));
                self.phase = Phase::Auth(mechanism, name);
            }
            Ok(ServerStep::Lookup { username }) => {
                // Nothing goes to the client until the application has looked the user up.
                self.auth_username = Some(username.clone());
                let event = Event::LookupSecret {
                    mechanism: name.clone(),
                    username,
                };
                self.ask(Pending::Lookup(mechanism, name), event);
            }
            Ok(ServerStep::Done(credentials)) => {
                self.lines = LineReader::new(LineConfig::new(command_line_limit(&self.config)));
                let event = Event::Authenticate {
                    mechanism: name.clone(),
                    credentials,
                };
                self.ask(Pending::Auth(mechanism, name), event);
            }
            Ok(ServerStep::Failed) => {
                self.lines = LineReader::new(LineConfig::new(command_line_limit(&self.config)));
                self.auth_failed(name);
                // Every failed AUTH counts, so that guessing passwords ends the session.
                self.error(
                    ReplyCode::AUTH_CREDENTIALS_INVALID,
                    (5, 7, 8),
                    "Authentication credentials invalid",
                );
            }
            Err(_) => {
                self.lines = LineReader::new(LineConfig::new(command_line_limit(&self.config)));
                self.auth_failed(name);
                self.error(
                    ReplyCode::PARAMETER_SYNTAX_ERROR,
                    (5, 5, 2),
                    "Malformed authentication exchange",
                );
            }
        }
    }

    /// Tells the application of a failed exchange it did not decide itself.
    fn auth_failed(&mut self, mechanism: Mechanism<'static>) {
        let username = self.auth_username.take();
        if !core::mem::take(&mut self.auth_refused) {
            self.emit(Event::AuthFailed {
                mechanism,
                username,
            });
        }
    }

    fn reset_transaction(&mut self) {
        if self.transaction.take().is_some() {
            self.emit(Event::TransactionReset);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Decisions.

    fn decide(&mut self, pending: Pending, answer: Answer) {
        let accepted = match &answer {
            Answer::Accept => true,
            // A custom 354 accepts DATA.
            Answer::Reply(reply) => reply.is_positive() || reply.code() == ReplyCode::START_DATA,
            Answer::PerRecipient(replies) => replies.iter().any(Reply::is_positive),
        };
        let custom = match &answer {
            Answer::Reply(reply) => Some(reply.clone()),
            _ => None,
        };
        let answered = |server: &mut Self, code, status, text: &'static str| match &custom {
            Some(reply) => server.send_theirs(reply),
            None => server.send(code, status, text),
        };
        match pending {
            Pending::Connect => {
                if accepted {
                    let text = alloc::format!(
                        "{} {}",
                        self.config.hostname,
                        if self.config.lmtp { "LMTP" } else { "ESMTP" }
                    );
                    let reply = custom.unwrap_or_else(|| reply(ReplyCode::READY, None, text));
                    self.push_reply(&reply);
                    // An early talker spoke before the greeting: even PIPELINING does not
                    // allow that (RFC 2920 3.1).
                    self.early_talker = !self.held.is_empty();
                } else {
                    answered(
                        self,
                        ReplyCode::TRANSACTION_FAILED,
                        (5, 7, 1),
                        "Connection refused",
                    );
                    self.close();
                }
            }
            Pending::Hello(greeting, host) => {
                if !accepted {
                    return answered(
                        self,
                        ReplyCode::MAILBOX_UNAVAILABLE,
                        (5, 7, 1),
                        "Not welcome",
                    );
                }
                self.reset_transaction();
                self.greeting = Some(greeting);
                let reply = match (greeting, custom) {
                    (Greeting::Helo, custom) => custom.unwrap_or_else(|| {
                        reply(
                            ReplyCode::OK,
                            None,
                            String::from(self.config.hostname.as_str()),
                        )
                    }),
                    (_, _) => self.ehlo_reply(&host).to_reply(),
                };
                self.push_reply(&reply);
            }
            Pending::Mail(parameters) => {
                if accepted {
                    self.transaction = Some(Transaction {
                        smtputf8: parameters.smtputf8,
                        body: parameters.body,
                        ..Transaction::default()
                    });
                }
                let (status, text) = if accepted {
                    ((2, 1, 0), "Ok")
                } else {
                    ((5, 1, 0), "Sender refused")
                };
                answered(self, envelope_code(accepted), status, text);
            }
            Pending::Rcpt => {
                if accepted {
                    if let Some(transaction) = &mut self.transaction {
                        transaction.recipients += 1;
                    }
                }
                let (status, text) = if accepted {
                    ((2, 1, 5), "Ok")
                } else {
                    ((5, 1, 1), "Recipient refused")
                };
                answered(self, envelope_code(accepted), status, text);
            }
            Pending::DataStart { bdat } => match (accepted, bdat) {
                (true, None) => {
                    // The application may word the 354 itself; nothing else fits here.
                    match custom.filter(|reply| reply.code() == ReplyCode::START_DATA) {
                        Some(reply) => self.push_reply(&reply),
                        None => self.push_reply(&reply_start_data()),
                    }
                    let mut decoder = DecoderConfig::new().bare_endings(self.config.bare_endings);
                    if let Some(limit) = self.config.max_message_size {
                        decoder = decoder.max_size(limit);
                    }
                    self.phase = Phase::Data(DotDecoder::new(decoder));
                }
                (true, Some((size, last))) => {
                    if let Some(transaction) = &mut self.transaction {
                        transaction.chunked = true;
                    }
                    self.read_chunk(size, last, None);
                }
                (false, None) => {
                    answered(
                        self,
                        ReplyCode::TRANSACTION_FAILED,
                        (5, 5, 1),
                        "Message refused",
                    );
                    self.reset_transaction();
                }
                (false, Some((size, last))) => {
                    if let Some(transaction) = &mut self.transaction {
                        transaction.chunked = true;
                    }
                    let reply = match custom {
                        Some(reply) => self.conformed(&reply),
                        None => {
                            self.ours(ReplyCode::TRANSACTION_FAILED, (5, 5, 1), "Message refused")
                        }
                    };
                    self.refuse_chunk(size, last, reply, false);
                }
            },
            Pending::MessageEnd => {
                if accepted {
                    // A completed transaction: the client does move mail.
                    self.junk = 0;
                }
                let recipients = self.transaction.as_ref().map_or(1, |t| t.recipients.max(1));
                match answer {
                    Answer::PerRecipient(replies) => {
                        for reply in &replies {
                            self.send_theirs(reply);
                        }
                    }
                    _ => {
                        // LMTP: one reply per recipient (RFC 2033 4.2); SMTP: one.
                        let count = if self.config.lmtp { recipients } else { 1 };
                        for _ in 0..count {
                            answered(self, ReplyCode::OK, (2, 0, 0), "Ok");
                        }
                    }
                }
                self.transaction = None;
            }
            Pending::Auth(mut mechanism, name) => {
                if accepted {
                    self.authenticated = true;
                    answered(
                        self,
                        ReplyCode::AUTH_SUCCESS,
                        (2, 7, 0),
                        "Authentication succeeded",
                    );
                } else if let Ok(ServerStep::Challenge(error)) = mechanism.0.reject(&[]) {
                    // XOAUTH2 / OAUTHBEARER report failure inside the exchange first (RFC 7628
                    // 3.2.3); the client's answer then ends it with 535 (counted then).
                    self.auth_refused = true;
                    self.auth_step(Ok(ServerStep::Challenge(error)), mechanism, name);
                } else {
                    answered(
                        self,
                        ReplyCode::AUTH_CREDENTIALS_INVALID,
                        (5, 7, 8),
                        "Authentication credentials invalid",
                    );
                    // A refused login counts, so that guessing passwords ends the session.
                    self.count_error();
                }
            }
            Pending::Lookup(..) => {
                // The application refused outright (only a 4yz or 5yz reply fits here).
                self.lines = LineReader::new(LineConfig::new(command_line_limit(&self.config)));
                self.auth_username = None;
                answered(
                    self,
                    ReplyCode::AUTH_CREDENTIALS_INVALID,
                    (5, 7, 8),
                    "Authentication credentials invalid",
                );
                self.count_error();
            }
            Pending::Verify { smtputf8 } => {
                let utf8 = custom
                    .as_ref()
                    .is_some_and(|reply| reply.lines().iter().any(|line| !line.is_ascii()));
                if utf8 && !smtputf8 {
                    // RFC 6531 3.7.4.2: without the SMTPUTF8 parameter the reply must not hold
                    // UTF-8; one that needs it becomes 252 or 550, with X.6.8.
                    let (code, status) = if accepted {
                        (ReplyCode::CANNOT_VERIFY, (2, 6, 8))
                    } else {
                        (ReplyCode::MAILBOX_UNAVAILABLE, (5, 6, 8))
                    };
                    return self.send(
                        code,
                        status,
                        "UTF-8 reply required, but not permitted by the client",
                    );
                }
                answered(
                    self,
                    ReplyCode::CANNOT_VERIFY,
                    (2, 5, 2),
                    "Cannot verify the user, but will accept the message",
                );
            }
        }
    }

    /// The EHLO / LHLO response for the current state (RFC 5321 4.1.1.1).
    fn ehlo_reply(&self, _host: &Host<'_>) -> EhloResponse<'static> {
        let config = &self.config;
        let mut ehlo = EhloResponse::new(config.hostname.clone());
        if config.pipelining {
            ehlo = ehlo.with_short(Capability::Pipelining);
        }
        ehlo = ehlo.with_short(Capability::Size(config.max_message_size));
        if config.eight_bit_mime {
            ehlo = ehlo.with_short(Capability::EightBitMime);
        }
        if config.smtputf8 {
            ehlo = ehlo.with_short(Capability::SmtpUtf8);
        }
        if config.chunking {
            ehlo = ehlo.with_short(Capability::Chunking);
            if config.binary_mime {
                ehlo = ehlo.with_short(Capability::BinaryMime);
            }
        }
        if config.dsn {
            ehlo = ehlo.with_short(Capability::Dsn);
        }
        if config.enhanced_status_codes {
            ehlo = ehlo.with_short(Capability::EnhancedStatusCodes);
        }
        if config.starttls && !self.tls {
            ehlo = ehlo.with_short(Capability::StartTls);
        }
        if config.require_tls && self.tls {
            ehlo = ehlo.with_short(Capability::RequireTls);
        }
        if !config.sasl_mechanisms.is_empty() && (self.tls || config.auth_without_tls) {
            // The registry's names are valid mechanism names (RFC 4422 3.1).
            let names = config.sasl_mechanisms.available(&self.sasl_context());
            let names = names.filter_map(|name| Mechanism::new(String::from(name)).ok());
            ehlo = ehlo.with_short(Capability::Auth(names.collect()));
        }
        if config.vrfy {
            ehlo = ehlo.with_short(Capability::Vrfy);
        }
        if config.expn {
            ehlo = ehlo.with_short(Capability::Expn);
        }
        ehlo = ehlo.with_short(Capability::Help);
        ehlo
    }
}

/// The line limit of the command reader: room for an AUTH line when AUTH is offered.
fn command_line_limit(config: &ServerConfig) -> usize {
    if config.sasl_mechanisms.is_empty() {
        config.max_command_line
    } else {
        config.max_command_line.max(config.max_auth_line)
    }
}

/// A reply from fixed parts; the texts here are valid, and a status that does not fit the
/// code is dropped rather than failing.
/// A fixed text is borrowed, not copied: the usual replies allocate nothing.
pub(crate) fn reply(
    code: ReplyCode,
    status: Option<(u8, u16, u16)>,
    text: impl Into<Cow<'static, str>>,
) -> Reply<'static> {
    let text = ReplyText::new(text).unwrap_or_else(|_| ReplyText::empty());
    let reply = Reply::from_text(code, text);
    match status.and_then(|(c, s, d)| EnhancedStatus::new(c, s, d).ok()) {
        Some(status) => reply.with_agreeing_status(status),
        None => reply,
    }
}

/// 250, or 550 for a refused sender or recipient.
fn envelope_code(accepted: bool) -> ReplyCode {
    if accepted {
        ReplyCode::OK
    } else {
        ReplyCode::MAILBOX_UNAVAILABLE
    }
}

fn reply_start_data() -> Reply<'static> {
    reply(
        ReplyCode::START_DATA,
        None,
        "Start mail input; end with <CRLF>.<CRLF>",
    )
}

mail_wire::impl_machine!(Server, Event, ApiError, session_timeout);

#[cfg(test)]
mod answer_tests;
#[cfg(test)]
mod guard_tests;
#[cfg(test)]
mod tests;
