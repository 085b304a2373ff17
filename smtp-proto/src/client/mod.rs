//! The sans-IO SMTP and LMTP client (RFC 5321, 2033, 2920, 3030, 3207, 4954).
//!
//! The application says what to send; the machine runs the dialogue. It never reads a socket,
//! a clock or a file: the caller hands it what the server sent ([`Client::receive`]), the end
//! of the stream ([`Client::receive_eof`]) and expired timeouts ([`Client::handle_timeout`]),
//! and drains [`Client::poll_output`]: bytes to send, [`Event`]s, the point where TLS starts,
//! and the end of the connection. The requests are [`Client::send_message`] (once the client
//! is [`Event::Ready`]), [`Client::send_body`] and [`Client::end_body`] (after
//! [`Event::SendBody`]), [`Client::reset`] and [`Client::quit`]. Once it is closed, [`Client::outcome`] says how the
//! session ended.
//!
//! **The invariant:** after every input and every request, call `poll_output` until it
//! returns `None`.
//!
//! Here the client talks to this crate's own [`Server`](crate::server::Server), in memory:
//!
//! ```
//! use smtp_proto::client::{Client, ClientConfig, Envelope, Event, Outcome, Output as ClientOutput, TlsPolicy};
//! use smtp_proto::server::{Answer, Output as ServerOutput, Server, ServerConfig};
//! use smtp_proto::types::Mailbox;
//!
//! let mut client = Client::new(ClientConfig { tls: TlsPolicy::Never, ..ClientConfig::default() });
//! let mut server = Server::new(ServerConfig::default());
//! let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
//! let mut body = Vec::new();
//! let mut report = None;
//! let mut message = Some(
//!     Envelope::new(Mailbox::parse("alice@example.org")?).to(Mailbox::parse("bob@example.com")?),
//! );
//! while !client.is_closed() {
//!     // The server's side: accept everything, keep the body.
//!     while let Some(output) = server.poll_output() {
//!         match output {
//!             ServerOutput::Transmit(bytes) => to_client.extend_from_slice(&bytes),
//!             ServerOutput::Event(smtp_proto::server::Event::Body(chunk)) => body.extend_from_slice(&chunk),
//!             ServerOutput::Event(event) if event.is_decision() => server.answer(Answer::Accept)?,
//!             _ => {}
//!         }
//!     }
//!     // The client takes every octet it is given (it reads every reply at once).
//!     let taken = client.receive(&to_client);
//!     to_client.drain(..taken);
//!     // The client's side: send one message, then quit.
//!     while let Some(output) = client.poll_output() {
//!         match output {
//!             ClientOutput::Transmit(bytes) => to_server.extend_from_slice(&bytes),
//!             ClientOutput::Event(Event::Ready) => match message.take() {
//!                 Some(envelope) => client.send_message(envelope)?,
//!                 None => client.quit()?,
//!             },
//!             ClientOutput::Event(Event::SendBody) => {
//!                 client.send_body(b"Subject: hi\r\n\r\n.leading dot\r\nno final newline")?;
//!                 client.end_body()?;
//!             }
//!             ClientOutput::Event(Event::Sent(sent)) => report = Some(sent),
//!             ClientOutput::Event(Event::Error(error)) => return Err(error.into()),
//!             ClientOutput::Event(_) | ClientOutput::StartTls | ClientOutput::Close => {}
//!         }
//!     }
//!     // A server may take less (back-pressure): the rest is offered again, first.
//!     let taken = server.receive(&to_server);
//!     to_server.drain(..taken);
//! }
//! assert!(report.expect("a report").is_delivered_to_all());
//! assert_eq!(body, b"Subject: hi\r\n\r\n.leading dot\r\nno final newline\r\n");
//! // How the session ended, in one place.
//! assert_eq!(client.outcome(), Some(&Outcome::Quit));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod config;
mod message;
mod outcome;

use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;
use alloc::vec::Vec;
use core::time::Duration;

use bytes::{BufMut, BytesMut};
use mail_wire::dot::{BodyError, DotEncoder, EncodeBareEndings};
use mail_wire::machine::{OutputQueue, TimerEpoch};
use mail_wire::sasl::{self, ClientMechanism, SaslError};

pub use config::{ClientConfig, ClientTimeouts, TlsPolicy};
pub use message::{Envelope, Recipient, RecipientReport, Report, body_type};
pub use outcome::Outcome;

use crate::codec::{DecodeError, ReplyAssembler, encode_command};
use crate::types::{
    Body, Capability, Command, EhloResponse, Extension, Host, MailParameters, Mechanism, MinByTime,
    Reply, ReplyCode, ReplyText,
};

/// Something the caller must act on, from [`Client::poll_output`].
///
/// `Transmit(bytes)` to send, `Event(event)`, `StartTls` (send what was transmitted, then start
/// TLS and call [`Client::tls_established`]) and `Close`: the shape all four machines share
/// ([`mail_wire::machine::Output`]).
pub type Output = mail_wire::machine::Output<Event>;

/// How the server answered the client's greeting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hello {
    /// EHLO (or LHLO) was accepted: the typed capabilities.
    Extended(EhloResponse<'static>),
    /// Only HELO was accepted (the server refused EHLO with 500 or 502): no extensions.
    Basic(Reply<'static>),
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The server's greeting (220).
    Greeting(Reply<'static>),
    /// The server answered EHLO / LHLO / HELO; after STARTTLS this comes again, and only the
    /// new capabilities count.
    Hello(Hello),
    /// AUTH succeeded with this mechanism.
    Authenticated(Mechanism<'static>),
    /// The session is set up and idle: call [`Client::send_message`], [`Client::reset`] or
    /// [`Client::quit`].
    Ready,
    /// The server waits for the body (after 354, or for the next BDAT chunk): call
    /// [`Client::send_body`] while [`Client::wants_body`] says so, then [`Client::end_body`].
    /// With BDAT, [`Client::wants_body`] turns false while chunks wait for their replies
    /// (each one without PIPELINING, [`ClientConfig::max_chunks_in_flight`] with it), and
    /// this event comes again once the server's reply lets the next chunk go.
    SendBody,
    /// The outcome of the message of the last [`Client::send_message`], per recipient.
    Sent(Report),
    /// The session failed; [`Output::Close`] follows (after QUIT when the dialogue allows).
    Error(Error),
}

/// Why the session failed. [`Error::is_protocol_violation`] picks out the server's faults.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A reply broke the grammar or a limit (mismatched multi-line codes, over-long lines...).
    #[error("malformed reply: {0}")]
    MalformedReply(DecodeError),
    /// A reply that answers nothing the client sent.
    #[error("unsolicited reply {}", .0.code())]
    Unsolicited(Reply<'static>),
    /// A reply that makes no sense for its command (354 to MAIL, 334 outside AUTH...).
    #[error("reply {} to {command}", reply.code())]
    UnexpectedReply {
        /// The command it answered.
        command: &'static str,
        /// The reply.
        reply: Reply<'static>,
    },
    /// A server that offered ENHANCEDSTATUSCODES sent a reply without a valid enhanced status
    /// code of the reply code's class (RFC 2034 4); only with
    /// [`ClientConfig::require_enhanced_status_codes`].
    #[error("reply {} to {command} without an enhanced status code of its class", reply.code())]
    EnhancedStatusMissing {
        /// The command it answered.
        command: &'static str,
        /// The reply.
        reply: Reply<'static>,
    },
    /// The server sent bytes after its 220 to STARTTLS before TLS began: a response
    /// injection (CVE-2011-0411 and its kin); nothing of them was read.
    #[error("{octets} octets after the STARTTLS reply (response injection)")]
    ResponseInjection {
        /// How many.
        octets: usize,
    },
    /// The server closed the connection while replies were owed or a message was under way.
    #[error("connection closed by the server")]
    ConnectionClosed,
    /// The server's reply did not come in time ([`Client::timeout`]).
    #[error("timed out waiting for the server")]
    Timeout,
    /// The server is shutting the session down (421, RFC 5321 3.8).
    #[error("service not available: {}", .0.code())]
    ServiceClosing(Reply<'static>),
    /// The server refused the session: its greeting, or both EHLO and HELO.
    #[error("refused by the server: {}", .0.code())]
    Refused(Reply<'static>),
    /// TLS is required and the server does not offer STARTTLS.
    #[error("the server does not offer STARTTLS")]
    TlsUnavailable,
    /// TLS is required and the server refused STARTTLS.
    #[error("STARTTLS refused: {}", .0.code())]
    TlsRefused(Reply<'static>),
    /// Credentials would travel in plaintext (see [`ClientConfig::allow_plaintext_auth`]).
    #[error("authentication needs TLS")]
    AuthNeedsTls,
    /// The server offers none of the client's mechanisms.
    #[error("no SASL mechanism in common with the server")]
    AuthUnavailable,
    /// The server refused the credentials (or the exchange failed), or it reported success
    /// before the mechanism completed (RFC 4422 3.6: a SCRAM server that did not prove itself,
    /// RFC 5802 5; `reply` is then the 235 and `cause` [`SaslError::Incomplete`]).
    #[error("authentication failed: {}", reply.code())]
    AuthFailed {
        /// The server's final reply.
        reply: Reply<'static>,
        /// Why the client cancelled the exchange, or did not accept its success, if it did.
        cause: Option<SaslError>,
    },
    /// The body handed to [`Client::send_body`] cannot be sent as declared: the connection
    /// is dropped so that no partial message is delivered.
    #[error("message body refused: {0}")]
    BodyRefused(BodyFault),
}

impl Error {
    /// Whether the server broke the protocol (as opposed to refusing, failing or being slow).
    pub fn is_protocol_violation(&self) -> bool {
        matches!(
            self,
            Self::MalformedReply(_)
                | Self::Unsolicited(_)
                | Self::UnexpectedReply { .. }
                | Self::EnhancedStatusMissing { .. }
                | Self::ResponseInjection { .. }
        )
    }
}

/// What is wrong with a message body (see [`Error::BodyRefused`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BodyFault {
    /// An octet above 127 in a body declared 7-bit (RFC 6152 3): declare `BODY=8BITMIME`
    /// (see [`Envelope::for_message`]).
    #[error("octet above 127 at offset {offset} in a 7-bit body")]
    EightBit {
        /// Where, counted from the start of the body.
        offset: u64,
    },
    /// A bare CR or LF under [`EncodeBareEndings::Reject`].
    #[error(transparent)]
    LineEnding(BodyError),
}

/// The application used the machine wrongly; nothing was changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// The client is not [`Event::Ready`]: setting up, busy with a message, or closed.
    #[error("the client is not ready")]
    NotReady,
    /// [`Client::send_body`] or [`Client::end_body`] without an [`Event::SendBody`] for it.
    #[error("the server is not waiting for the body")]
    NotSendingBody,
    /// [`Client::tls_established`] without a preceding [`Output::StartTls`].
    #[error("TLS was not being started")]
    NotStartingTls,
}

/// A message the client will not send to this server; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The client is not [`Event::Ready`].
    #[error(transparent)]
    Api(#[from] ApiError),
    /// An envelope without recipients.
    #[error("no recipients")]
    NoRecipients,
    /// The declared size is over the server's `SIZE` (RFC 1870 4). A server whose `SIZE`
    /// parameter cannot be read ([`EhloResponse::malformed`]) has an unknown limit, never "no
    /// limit": the size is declared with `SIZE=` and the server decides (RFC 1870 6).
    #[error("message of {size} octets over the server's limit of {limit}")]
    TooLarge {
        /// The declared size.
        size: u64,
        /// The server's limit.
        limit: u64,
    },
    /// The message needs an extension the server does not offer (SMTPUTF8 for UTF-8
    /// addresses, 8BITMIME, BINARYMIME and CHUNKING, REQUIRETLS, MT-PRIORITY, FUTURERELEASE,
    /// DELIVERBY).
    #[error("the server does not offer {}", .0.keyword())]
    Unsupported(Extension),
    /// REQUIRETLS (RFC 8689) over a connection without TLS.
    #[error("REQUIRETLS over a connection without TLS")]
    RequireTlsWithoutTls,
    /// `BY=` with by-mode `R` and a by-time below the server's `DELIVERBY` minimum
    /// ([`MinByTime`]): RFC 2852 4 has the server refuse it.
    #[error("BY= by-time of {by_time} seconds below the server's minimum of {min} for mode R")]
    ByTimeTooShort {
        /// The by-time asked for.
        by_time: i32,
        /// The server's minimum.
        min: MinByTime,
    },
}

/// The reply the client waits for, in the order the commands went out (RFC 2920 3.1: replies
/// are matched by counting, never by their codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expect {
    Greeting,
    Hello(Verb),
    StartTls,
    Auth,
    Mail,
    Rcpt(usize),
    Data,
    /// The reply to a BDAT chunk that is not the last (or the last one in SMTP).
    Chunk {
        last: bool,
    },
    /// SMTP: the reply to the end of DATA.
    EndOfData,
    /// LMTP: the reply for the recipient at this index, after the end of the message.
    Delivery(usize),
    /// The end of the empty message sent after a 354 with no recipient (RFC 2920 3.1).
    EmptyMessage,
    /// A reply to read and forget (BDAT chunks in flight after a failed one).
    Discard,
    Rset,
    Quit,
}

impl Expect {
    fn command(self) -> &'static str {
        match self {
            Self::Greeting => "the greeting",
            Self::Hello(verb) => verb.as_str(),
            Self::StartTls => "STARTTLS",
            Self::Auth => "AUTH",
            Self::Mail => "MAIL",
            Self::Rcpt(_) => "RCPT",
            Self::Data => "DATA",
            Self::Chunk { .. } | Self::Discard => "BDAT",
            Self::EndOfData | Self::Delivery(_) | Self::EmptyMessage => "the end of data",
            Self::Rset => "RSET",
            Self::Quit => "QUIT",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verb {
    Ehlo,
    Lhlo,
    Helo,
}

impl Verb {
    fn as_str(self) -> &'static str {
        match self {
            Self::Ehlo => "EHLO",
            Self::Lhlo => "LHLO",
            Self::Helo => "HELO",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Greeting, EHLO, STARTTLS, AUTH.
    Setup,
    /// [`Output::StartTls`] given; waiting for [`Client::tls_established`].
    StartingTls,
    Ready,
    /// A message or the RSET after it.
    Busy,
    /// QUIT sent.
    Quitting,
    Closed,
}

/// Where the body of the message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyState {
    /// Not yet wanted.
    Closed,
    /// The application may send.
    Open,
    /// BDAT: waiting for a chunk's reply before the next chunk may go (lock-step, or
    /// [`ClientConfig::max_chunks_in_flight`] reached).
    Waiting,
    /// Sent to its end.
    Ended,
}

/// The message under way.
#[derive(Debug)]
struct Transaction {
    report: Report,
    recipients: Vec<Recipient>,
    pipelined: bool,
    chunked: bool,
    mail_ok: bool,
    /// Indexes of accepted recipients.
    accepted: Vec<usize>,
    body: BodyState,
    encoder: DotEncoder,
    /// The body may hold octets above 127 (8BITMIME, BINARYMIME or SMTPUTF8 declared).
    eight_bit: bool,
    /// BINARYMIME: BDAT chunks go out untouched.
    binary: bool,
    /// BDAT text: a CR ended the last chunk; whether it is bare depends on the next octet.
    pending_cr: bool,
    /// Octets of body handed over so far.
    consumed: u64,
    /// BDAT chunks sent (not the last) whose replies have not come yet.
    chunks_in_flight: usize,
    /// The refusal that ended the transaction before the end of data.
    failure: Option<Reply<'static>>,
}

/// A SASL exchange in progress (it may hold credentials: not shown in `Debug`).
struct Exchange {
    mechanism: Box<dyn ClientMechanism + Send>,
    name: Mechanism<'static>,
    /// Why the client cancelled with `*`.
    cancelled: Option<SaslError>,
}

impl core::fmt::Debug for Exchange {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Exchange({})", self.name)
    }
}

/// The SMTP / LMTP client. See the [module docs](self).
pub struct Client {
    config: ClientConfig,
    stage: Stage,
    replies: ReplyAssembler,
    expected: VecDeque<Expect>,
    output: OutputQueue<Event>,
    capabilities: Option<EhloResponse<'static>>,
    tls: bool,
    authenticated: bool,
    mechanisms: Vec<Box<dyn ClientMechanism + Send>>,
    exchange: Option<Exchange>,
    transaction: Option<Transaction>,
    /// Replies expected so far, and replies received: a reply is matched to a command only
    /// if the command went out before the input that holds the reply arrived.
    issued: u64,
    answered: u64,
    /// The server offered SMTPUTF8: reply text may be UTF-8.
    reply_utf8: bool,
    /// How the session ended (set at the first failure, or when it closes).
    outcome: Option<Outcome>,
    /// The phase the timeout times (see [`timer_epoch`](Self::timer_epoch)).
    timer: TimerEpoch,
    /// [`quit`](Client::quit) was asked while an RSET awaited its reply, from a server without
    /// PIPELINING: QUIT goes once the RSET is answered.
    quit_after_rset: bool,
}

impl core::fmt::Debug for Client {
    /// Shows the state, never credentials.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("stage", &self.stage)
            .field("expected", &self.expected)
            .field("outputs", &self.output.len())
            .field("tls", &self.tls)
            .field("authenticated", &self.authenticated)
            .field("mechanisms", &self.mechanisms.len())
            .field("exchange", &self.exchange)
            .field("transaction", &self.transaction.as_ref().map(|t| t.body))
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client for a new connection that does not authenticate; it waits for the greeting.
    pub fn new(config: ClientConfig) -> Self {
        Self::with_auth(config, Vec::new())
    }

    /// A client that authenticates with the best of `mechanisms` that the server offers
    /// (see [`sasl::preferred`]), after STARTTLS. A server that offers
    /// none of them ends the session with [`Error::AuthUnavailable`] before any mail is sent.
    /// The mechanisms come from [`smtp_proto::sasl`](crate::sasl), re-exported from
    /// `mail-wire`:
    ///
    /// ```
    /// use smtp_proto::Secret;
    /// use smtp_proto::client::{Client, ClientConfig};
    /// use smtp_proto::sasl::{ClientMechanism, LoginClient, PlainClient};
    ///
    /// let password = Secret::new(String::from("app password"));
    /// let mechanisms: Vec<Box<dyn ClientMechanism + Send>> = vec![
    ///     Box::new(PlainClient::new(None, "alice", password.clone())?),
    ///     Box::new(LoginClient::new("alice", password)),
    /// ];
    /// let client = Client::with_auth(ClientConfig::default(), mechanisms);
    /// assert!(!client.is_authenticated());
    /// # Ok::<(), smtp_proto::sasl::SaslError>(())
    /// ```
    pub fn with_auth(
        config: ClientConfig,
        mechanisms: Vec<Box<dyn ClientMechanism + Send>>,
    ) -> Self {
        let tls = config.implicit_tls;
        let replies = ReplyAssembler::new(config.replies);
        Self {
            config,
            stage: Stage::Setup,
            replies,
            expected: VecDeque::from([Expect::Greeting]),
            output: OutputQueue::new(),
            capabilities: None,
            tls,
            authenticated: false,
            mechanisms,
            exchange: None,
            transaction: None,
            issued: 1,
            answered: 0,
            reply_utf8: false,
            outcome: None,
            timer: TimerEpoch::new(),
            quit_after_rset: false,
        }
    }

    /// The settings.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// What the server offered in its last EHLO / LHLO response (`None` before it, after
    /// STARTTLS until the next one, and with HELO).
    pub fn capabilities(&self) -> Option<&EhloResponse<'static>> {
        self.capabilities.as_ref()
    }

    /// Whether TLS is up.
    pub fn is_tls(&self) -> bool {
        self.tls
    }

    /// Whether AUTH succeeded.
    pub fn is_authenticated(&self) -> bool {
        self.authenticated
    }

    /// Whether [`send_message`](Self::send_message) may be called.
    pub fn is_ready(&self) -> bool {
        self.stage == Stage::Ready
    }

    /// Whether the session is over.
    pub fn is_closed(&self) -> bool {
        self.stage == Stage::Closed
    }

    /// How the session ended: `None` while it is open, then [`Outcome::Quit`],
    /// [`Outcome::ShutDown`] or [`Outcome::Failed`] with the error, once [`Output::Close`] was
    /// queued. The one place to read the end of a session, whatever events were drained.
    pub fn outcome(&self) -> Option<&Outcome> {
        self.outcome
            .as_ref()
            .filter(|_| self.stage == Stage::Closed)
    }

    /// Whether [`send_body`](Self::send_body) and [`end_body`](Self::end_body) may be called:
    /// from [`Event::SendBody`] to the end of the body, except while BDAT chunks wait for
    /// their replies (the last one without PIPELINING; [`ClientConfig::max_chunks_in_flight`]
    /// of them with it). [`Event::SendBody`] says when it is true again.
    pub fn wants_body(&self) -> bool {
        self.transaction
            .as_ref()
            .is_some_and(|t| t.body == BodyState::Open)
    }

    /// Octets of a partial reply held: never more than the reply limits of
    /// [`ClientConfig::replies`].
    pub fn buffered(&self) -> usize {
        self.replies.buffered()
    }

    /// How long the server may take for the reply now awaited, from the command (see
    /// [`timer_epoch`](Self::timer_epoch)), before [`handle_timeout`](Self::handle_timeout)
    /// should be called (RFC 5321 4.5.3.2); while the application streams a body, the time
    /// one block may take. `None` when the client waits for nothing (idle, or closed).
    pub fn timeout(&self) -> Option<Duration> {
        let timeouts = &self.config.timeouts;
        if self.stage == Stage::Closed {
            return None;
        }
        Some(match self.expected.front() {
            Some(Expect::Greeting) => timeouts.greeting,
            Some(Expect::Mail) => timeouts.mail,
            Some(Expect::Rcpt(_)) => timeouts.rcpt,
            Some(Expect::Data) => timeouts.data_initiation,
            Some(Expect::Chunk { last: false } | Expect::Discard) => timeouts.data_block,
            Some(
                Expect::Chunk { last: true }
                | Expect::EndOfData
                | Expect::Delivery(_)
                | Expect::EmptyMessage,
            ) => timeouts.data_termination,
            Some(_) => timeouts.command,
            None if self.wants_body() => timeouts.data_block,
            None => return None,
        })
    }

    /// Changes where a new deadline starts: at every transmission (a command, a block of the
    /// body: RFC 5321 4.5.3.2.5 times each) and at every complete reply, never while a reply
    /// trickles in octet by octet.
    pub fn timer_epoch(&self) -> u64 {
        self.timer.get()
    }

    /// Takes the next output; `None` when there is nothing to do until the next input or
    /// request.
    pub fn poll_output(&mut self) -> Option<Output> {
        let output = self.output.pop();
        if matches!(output, Some(Output::Transmit(_))) {
            // What was just sent is answered (or followed) under a deadline of its own.
            self.timer.restart();
        }
        output
    }

    /// Hands over bytes from the server. All are taken: the client reads every reply at once
    /// (a reply it did not ask for is an error).
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
        let mut input = bytes;
        // Commands written while this input is read cannot have been answered in it.
        let horizon = self.issued;
        while self.stage != Stage::Closed {
            let reply = match self.replies.next_reply(&mut input) {
                None => break,
                Some(Ok(reply)) => reply.into_owned(),
                Some(Err(error)) => {
                    self.fail(Error::MalformedReply(error));
                    break;
                }
            };
            let after = input.len() + usize::from(self.replies.is_mid_reply());
            if self.answered >= horizon {
                // An answer to a command not sent yet: the server talks ahead of the client
                // (or says goodbye, 421).
                let error = if reply.code() == ReplyCode::SERVICE_UNAVAILABLE {
                    Error::ServiceClosing(reply)
                } else {
                    Error::Unsolicited(reply)
                };
                self.fail(error);
                break;
            }
            self.on_reply(reply, after);
        }
        if let Some(error) = self.replies.pending_error() {
            // A reply over the limits: no need to wait for its end.
            let error = error.clone();
            self.fail(Error::MalformedReply(error));
        }
        bytes.len()
    }

    /// The server closed its side. Fine after QUIT; otherwise [`Error::ConnectionClosed`]
    /// (a message under way is reported first, with what is known).
    pub fn receive_eof(&mut self) {
        match self.stage {
            Stage::Closed => {}
            Stage::Quitting if self.expected.iter().all(|e| *e == Expect::Quit) => {
                self.close(Outcome::Quit);
            }
            _ => self.fail(Error::ConnectionClosed),
        }
    }

    /// The [`timeout`](Self::timeout) expired: [`Error::Timeout`], and close.
    pub fn handle_timeout(&mut self) {
        if self.stage != Stage::Closed {
            self.fail(Error::Timeout);
        }
    }

    /// TLS is up after [`Output::StartTls`]: the client greets again and forgets the
    /// capabilities it saw in plaintext (RFC 3207 4.2).
    pub fn tls_established(&mut self) -> Result<(), ApiError> {
        if self.stage != Stage::StartingTls {
            return Err(ApiError::NotStartingTls);
        }
        self.tls = true;
        self.capabilities = None;
        self.reply_utf8 = false;
        self.replies = ReplyAssembler::new(self.config.replies);
        self.stage = Stage::Setup;
        self.hello(self.greeting_verb());
        Ok(())
    }

    /// Ends the session now (for example on shutdown): QUIT when the dialogue allows it at
    /// once (when ready, or behind an unanswered RSET with PIPELINING), otherwise close.
    pub fn shut_down(&mut self) {
        if self.quit().is_err() || self.quit_after_rset {
            self.quit_after_rset = false;
            self.close(Outcome::ShutDown);
        }
    }

    /// Starts a message. Checks it against what the server offers first, and sends nothing
    /// if it cannot go through ([`SendError`]); then sends `MAIL`, the `RCPT`s (and `DATA`),
    /// pipelined when the server allows. [`Event::SendBody`] follows once the server waits
    /// for the body; [`Event::Sent`] reports the outcome.
    pub fn send_message(&mut self, envelope: Envelope) -> Result<(), SendError> {
        if self.stage != Stage::Ready {
            return Err(ApiError::NotReady.into());
        }
        let utf8 = envelope.needs_utf8();
        let Envelope {
            from,
            mut parameters,
            mut recipients,
        } = envelope;
        if recipients.is_empty() {
            return Err(SendError::NoRecipients);
        }
        let dsn_dropped = self.check_message(&mut parameters, &mut recipients, utf8)?;
        let binary = parameters.body == Some(Body::BinaryMime);
        let eight_bit =
            binary || parameters.body == Some(Body::EightBitMime) || parameters.smtputf8;
        let caps = self.capabilities.as_ref();
        let offers = |extension| caps.is_some_and(|c| c.supports(extension));
        let pipelined = self.config.pipelining && offers(Extension::Pipelining);
        let chunked = parameters.body == Some(Body::BinaryMime)
            || (self.config.chunking && offers(Extension::Chunking));
        let report = Report {
            mail: None,
            recipients: recipients
                .iter()
                .map(|r| RecipientReport {
                    to: r.to.clone(),
                    rcpt: None,
                    result: None,
                })
                .collect(),
            dsn_dropped,
        };
        self.command(&Command::Mail { from, parameters });
        self.expect(Expect::Mail);
        if pipelined {
            for (index, recipient) in recipients.iter().enumerate() {
                self.rcpt(recipient.clone(), index);
            }
            if !chunked {
                self.command(&Command::Data);
                self.expect(Expect::Data);
            }
        }
        self.transaction = Some(Transaction {
            report,
            recipients,
            pipelined,
            chunked,
            mail_ok: false,
            accepted: Vec::new(),
            body: BodyState::Closed,
            encoder: DotEncoder::new(self.config.bare_endings),
            eight_bit,
            binary,
            pending_cr: false,
            consumed: 0,
            chunks_in_flight: 0,
            failure: None,
        });
        self.stage = Stage::Busy;
        Ok(())
    }

    /// Sends the next piece of the body, after [`Event::SendBody`]. Text bodies have bare CR
    /// and LF made CR LF (or refused, per [`ClientConfig::bare_endings`]), DATA bodies are
    /// dot-stuffed (RFC 5321 4.5.2); each call with BDAT is one chunk, after which
    /// [`wants_body`](Self::wants_body) may be false until a reply comes (see
    /// [`ClientConfig::max_chunks_in_flight`]). A body declared 7-bit
    /// (no 8BITMIME, BINARYMIME or SMTPUTF8) that holds an octet above 127, or a refused line
    /// ending, ends the session without ending the message ([`Error::BodyRefused`]), so no
    /// damaged message is delivered.
    pub fn send_body(&mut self, chunk: &[u8]) -> Result<(), ApiError> {
        let Some(t) = self.transaction.as_mut() else {
            return Err(ApiError::NotSendingBody);
        };
        if t.body != BodyState::Open {
            return Err(ApiError::NotSendingBody);
        }
        if chunk.is_empty() {
            return Ok(());
        }
        if !t.eight_bit && !chunk.is_ascii() {
            // RFC 6152 3: eight-bit octets only in a body declared so.
            let offset = chunk.iter().position(|b| !b.is_ascii()).unwrap_or_default();
            let offset = t.consumed + offset as u64;
            self.fail(Error::BodyRefused(BodyFault::EightBit { offset }));
            return Ok(());
        }
        let consumed = t.consumed;
        t.consumed += chunk.len() as u64;
        if !t.chunked {
            if let Err(error) = t.encoder.encode(chunk, self.output.buffer()) {
                self.fail(Error::BodyRefused(BodyFault::LineEnding(error)));
            }
            return Ok(());
        }
        let text = if t.binary {
            Cow::Borrowed(chunk)
        } else {
            let reject = self.config.bare_endings == EncodeBareEndings::Reject;
            let mut text = Vec::with_capacity(chunk.len() + 2);
            if let Err(error) = canonical(chunk, consumed, &mut t.pending_cr, reject, &mut text) {
                self.fail(Error::BodyRefused(BodyFault::LineEnding(error)));
                return Ok(());
            }
            Cow::Owned(text)
        };
        if text.is_empty() {
            return Ok(());
        }
        t.chunks_in_flight += 1;
        if t.chunks_in_flight >= chunk_window(t.pipelined, &self.config) {
            // Lock-step, or as many chunks in flight as allowed: the next chunk waits for a
            // reply.
            t.body = BodyState::Waiting;
        }
        bdat(self.output.buffer(), &text, false);
        self.expect(Expect::Chunk { last: false });
        Ok(())
    }

    /// Ends the body: the final `.` of DATA, or the last BDAT chunk, when
    /// [`wants_body`](Self::wants_body) says so. The outcome comes as [`Event::Sent`].
    pub fn end_body(&mut self) -> Result<(), ApiError> {
        let Some(t) = self.transaction.as_mut() else {
            return Err(ApiError::NotSendingBody);
        };
        if t.body != BodyState::Open {
            return Err(ApiError::NotSendingBody);
        }
        t.body = BodyState::Ended;
        let lmtp = self.config.lmtp;
        let accepted = t.accepted.clone();
        let result = if !t.chunked {
            t.encoder.finish(self.output.buffer())
        } else if core::mem::take(&mut t.pending_cr) {
            if self.config.bare_endings == EncodeBareEndings::Reject {
                Err(BodyError::BareCr {
                    offset: t.consumed.saturating_sub(1),
                })
            } else {
                bdat(self.output.buffer(), b"\r\n", true);
                Ok(())
            }
        } else {
            bdat(self.output.buffer(), b"", true);
            Ok(())
        };
        if let Err(error) = result {
            self.fail(Error::BodyRefused(BodyFault::LineEnding(error)));
            return Ok(());
        }
        match (lmtp, t.chunked) {
            (true, _) => {
                for index in accepted {
                    self.expect(Expect::Delivery(index));
                }
            }
            (false, true) => self.expect(Expect::Chunk { last: true }),
            (false, false) => self.expect(Expect::EndOfData),
        }
        Ok(())
    }

    /// Resets the session between messages (`RSET`, RFC 5321 4.1.1.5), to learn whether an
    /// idle session still answers before a message is entrusted to it: [`Event::Ready`]
    /// follows the server's 250; any other reply (421 among them), the end of the connection
    /// or a timeout fails the session, before anything of a message was sent.
    pub fn reset(&mut self) -> Result<(), ApiError> {
        if self.stage != Stage::Ready {
            return Err(ApiError::NotReady);
        }
        self.command(&Command::Rset);
        self.expect(Expect::Rset);
        self.stage = Stage::Busy;
        Ok(())
    }

    /// Ends the session politely: `QUIT`, then [`Output::Close`] after the reply.
    ///
    /// Also while an RSET awaits its reply (a [`reset`](Self::reset) the application stopped
    /// waiting for, or the RSET after a failed message), as RFC 5321 4.1.1.10 wants a QUIT
    /// before the connection is closed: it goes right behind the RSET when the server offers
    /// PIPELINING (RFC 2920 3.1: QUIT may end a group), else once the RSET is answered. A
    /// refused RSET fails the session as ever (a reply RSET must not get, RFC 5321 4.1.1.5):
    /// the connection is closed at once, a QUIT waiting for the RSET's 250 never goes. A QUIT
    /// sent behind the RSET restarts the reply timer ([`timeout`](Self::timeout)). Not while
    /// BDAT chunks refused mid-message are still being answered: `NotReady` then.
    pub fn quit(&mut self) -> Result<(), ApiError> {
        match self.stage {
            Stage::Ready => self.send_quit(),
            Stage::Busy if self.only_rset_pending() => {
                let pipelining = self.config.pipelining
                    && self
                        .capabilities
                        .as_ref()
                        .is_some_and(|c| c.supports(Extension::Pipelining));
                if pipelining {
                    self.send_quit();
                } else {
                    self.quit_after_rset = true;
                }
            }
            _ => return Err(ApiError::NotReady),
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// Inside.

impl Client {
    /// Checks a message against the server's extensions (nothing is sent on failure) and
    /// adjusts its parameters: SMTPUTF8 declared when needed, SIZE only where offered, DSN
    /// parameters left out where not (the result says whether they were).
    fn check_message(
        &self,
        parameters: &mut MailParameters<'static>,
        recipients: &mut [Recipient],
        utf8: bool,
    ) -> Result<bool, SendError> {
        let caps = self.capabilities.as_ref();
        let offers = |extension| caps.is_some_and(|c| c.supports(extension));
        let require = |needed: bool, extension| {
            if needed && !offers(extension) {
                Err(SendError::Unsupported(extension))
            } else {
                Ok(())
            }
        };
        parameters.smtputf8 |= utf8;
        require(parameters.smtputf8, Extension::SmtpUtf8)?;
        match parameters.body {
            // RFC 6152 3: BODY belongs to 8BITMIME; 7-bit text needs no declaration.
            Some(Body::SevenBit) if !offers(Extension::EightBitMime) => parameters.body = None,
            Some(Body::EightBitMime) => require(true, Extension::EightBitMime)?,
            Some(Body::BinaryMime) => {
                require(true, Extension::BinaryMime)?;
                require(true, Extension::Chunking)?;
            }
            _ => {}
        }
        if parameters.require_tls {
            if !self.tls {
                return Err(SendError::RequireTlsWithoutTls);
            }
            require(true, Extension::RequireTls)?;
        }
        require(parameters.mt_priority.is_some(), Extension::MtPriority)?;
        require(parameters.hold.is_some(), Extension::FutureRelease)?;
        require(parameters.by.is_some(), Extension::DeliverBy)?;
        if let Some(by) = parameters.by {
            let min = match caps.and_then(|c| c.find(Extension::DeliverBy)) {
                Some(Capability::DeliverBy(min)) => *min,
                _ => None,
            };
            if let Some(min) = min.filter(|min| !min.allows(by)) {
                return Err(SendError::ByTimeTooShort {
                    by_time: by.seconds(),
                    min,
                });
            }
        }
        if let (Some(size), Some(limit)) = (parameters.size, caps.and_then(|c| c.size())) {
            if size > limit {
                return Err(SendError::TooLarge { size, limit });
            }
        }
        // A SIZE line whose parameter cannot be read (RFC 1870 4) still says that the server
        // takes the SIZE parameter, and its limit is unknown, not absent: the size is declared
        // so that the server judges it before any data goes (RFC 1870 6).
        let size_unreadable = caps.is_some_and(|c| c.malformed(Extension::Size).is_some());
        if !offers(Extension::Size) && !size_unreadable {
            parameters.size = None;
        }
        if !offers(Extension::Auth) {
            // RFC 4954 5: AUTH= only to a server that offers AUTH.
            parameters.auth = None;
        }
        let mut dsn_dropped = false;
        if !offers(Extension::Dsn) {
            dsn_dropped |= parameters.ret.take().is_some() | parameters.envid.take().is_some();
            for recipient in recipients.iter_mut() {
                let p = &mut recipient.parameters;
                dsn_dropped |= p.notify.take().is_some() | p.orcpt.take().is_some();
            }
        }
        Ok(dsn_dropped)
    }

    fn expect(&mut self, expect: Expect) {
        self.expected.push_back(expect);
        self.issued += 1;
    }

    /// A new reply reader: UTF-8 text once SMTPUTF8 was offered; AUTH challenge lines as long
    /// as RFC 4954 4 asks (12 288 octets) while an exchange runs. Only between replies.
    fn renew_replies(&mut self, auth: bool) {
        if self.replies.is_mid_reply() {
            return;
        }
        let mut options = self.config.replies;
        options.utf8 |= self.reply_utf8;
        if auth {
            options.max_line_length = options.max_line_length.max(sasl::AUTH_LINE_LIMIT);
            options.max_bytes = options.max_bytes.max(sasl::AUTH_LINE_LIMIT);
        }
        self.replies = ReplyAssembler::new(options);
    }

    fn greeting_verb(&self) -> Verb {
        if self.config.lmtp {
            Verb::Lhlo
        } else {
            Verb::Ehlo
        }
    }

    fn command(&mut self, command: &Command<'_>) {
        encode_command(command, self.output.buffer());
    }

    fn rcpt(&mut self, recipient: Recipient, index: usize) {
        self.command(&Command::Rcpt {
            to: recipient.to,
            parameters: recipient.parameters,
        });
        self.expect(Expect::Rcpt(index));
    }

    fn hello(&mut self, verb: Verb) {
        let host = self.config.hostname.clone();
        let command = match (verb, host) {
            (Verb::Ehlo, host) => Command::Ehlo(host),
            (Verb::Lhlo, host) => Command::Lhlo(host),
            (Verb::Helo, Host::Domain(domain)) => Command::Helo(domain),
            // Checked by the caller: HELO takes a domain only.
            (Verb::Helo, Host::Literal(_)) => return,
        };
        self.command(&command);
        self.expect(Expect::Hello(verb));
    }

    /// No transaction, and only RSETs (one, in practice) await their replies.
    fn only_rset_pending(&self) -> bool {
        self.transaction.is_none()
            && !self.expected.is_empty()
            && self.expected.iter().all(|e| *e == Expect::Rset)
    }

    fn send_quit(&mut self) {
        self.command(&Command::Quit);
        self.expect(Expect::Quit);
        self.stage = Stage::Quitting;
    }

    /// Hands the commands written so far out as one transmission.
    fn flush(&mut self) {
        self.output.flush();
    }

    fn emit(&mut self, event: Event) {
        self.output.emit(event);
    }

    /// Closes the session; `outcome` counts unless a failure came first. A message still under
    /// way (cut by [`shut_down`](Self::shut_down)) is reported as it stands and goes no
    /// further: nothing of its body follows the close.
    fn close(&mut self, outcome: Outcome) {
        if self.stage == Stage::Closed {
            return;
        }
        if let Some(t) = self.transaction.take() {
            self.emit(Event::Sent(finish_report(t)));
        }
        self.outcome.get_or_insert(outcome);
        self.output.close();
        self.stage = Stage::Closed;
        self.expected.clear();
        self.exchange = None;
    }

    /// Ends the session: a message under way is reported with what is known, then the
    /// error; QUIT goes out when the dialogue is still in step, otherwise the connection
    /// just closes.
    fn fail(&mut self, error: Error) {
        if self.stage == Stage::Closed {
            return;
        }
        if let Some(mut t) = self.transaction.take() {
            if let Error::ServiceClosing(reply) = &error {
                t.failure = Some(reply.clone());
            }
            self.emit(Event::Sent(finish_report(t)));
        }
        let in_step = self.expected.is_empty()
            && self.stage != Stage::StartingTls
            && !error.is_protocol_violation()
            && !matches!(
                error,
                Error::ConnectionClosed
                    | Error::Timeout
                    | Error::ServiceClosing(_)
                    | Error::BodyRefused(_)
            );
        let failed = Outcome::Failed(error.clone());
        self.emit(Event::Error(error));
        if in_step {
            self.outcome.get_or_insert(failed);
            self.send_quit();
        } else {
            self.close(failed);
        }
    }

    fn ready(&mut self) {
        self.stage = Stage::Ready;
        self.emit(Event::Ready);
    }

    fn on_reply(&mut self, reply: Reply<'static>, after: usize) {
        self.timer.restart();
        let Some(expect) = self.expected.pop_front() else {
            // (Counted only when matched: an unsolicited reply ends the session anyway.)
            let error = if reply.code() == ReplyCode::SERVICE_UNAVAILABLE {
                Error::ServiceClosing(reply)
            } else {
                Error::Unsolicited(reply)
            };
            return self.fail(error);
        };
        self.answered += 1;
        if self.lacks_enhanced_status(expect, &reply) {
            return self.fail(Error::EnhancedStatusMissing {
                command: expect.command(),
                reply,
            });
        }
        if reply.code() == ReplyCode::SERVICE_UNAVAILABLE && expect != Expect::Quit {
            // RFC 5321 3.8: the server is going away, whatever it was asked.
            return self.fail(Error::ServiceClosing(reply));
        }
        let intermediate_fits = match expect {
            Expect::Auth => reply.code() == ReplyCode::AUTH_CHALLENGE,
            Expect::Data => reply.code() == ReplyCode::START_DATA,
            _ => false,
        };
        if reply.is_intermediate() && !intermediate_fits {
            return self.fail(Error::UnexpectedReply {
                command: expect.command(),
                reply,
            });
        }
        match expect {
            Expect::Greeting => {
                if reply.code() == ReplyCode::READY {
                    self.emit(Event::Greeting(reply));
                    self.hello(self.greeting_verb());
                } else {
                    self.fail(Error::Refused(reply));
                }
            }
            Expect::Hello(verb) => self.on_hello(verb, reply),
            Expect::StartTls => self.on_starttls(reply, after),
            Expect::Auth => self.on_auth(reply),
            Expect::Quit => self.close(Outcome::Quit),
            Expect::Rset if !reply.is_positive() => {
                // RFC 5321 4.1.1.5: RSET must succeed; after it the state is unknown.
                self.fail(Error::UnexpectedReply {
                    command: "RSET",
                    reply,
                });
            }
            Expect::Rset if self.stage == Stage::Busy && self.quit_after_rset => {
                self.quit_after_rset = false;
                self.send_quit();
            }
            Expect::Rset => {
                if self.stage == Stage::Busy {
                    self.ready();
                }
            }
            Expect::Discard => {}
            _ => self.on_transaction_reply(expect, reply),
        }
    }

    /// RFC 2034 4, under [`ClientConfig::require_enhanced_status_codes`]: once the server
    /// offered ENHANCEDSTATUSCODES, every 2yz, 4yz and 5yz reply but the greeting and the
    /// answer to EHLO / LHLO / HELO starts each line with the same enhanced status code, of
    /// the reply code's class. The decoder keeps a code only when it is valid, on every line
    /// and of the right class, so a reply without [`Reply::status`] breaks the rule.
    fn lacks_enhanced_status(&self, expect: Expect, reply: &Reply<'_>) -> bool {
        // A 421 is the server going away (RFC 5321 3.8), whatever its form: reported as
        // such, not as a missing status code.
        let exempt = matches!(expect, Expect::Greeting | Expect::Hello(_))
            || reply.is_intermediate()
            || reply.code() == ReplyCode::SERVICE_UNAVAILABLE;
        self.config.require_enhanced_status_codes
            && !exempt
            && reply.status().is_none()
            && self
                .capabilities
                .as_ref()
                .is_some_and(|c| c.supports(Extension::EnhancedStatusCodes))
    }

    fn on_hello(&mut self, verb: Verb, reply: Reply<'static>) {
        if reply.is_positive() {
            let hello = if verb == Verb::Helo {
                self.capabilities = None;
                Hello::Basic(reply)
            } else {
                // An empty capability line (Postfix's smtp-sink ends with `250 `) carries
                // nothing: tolerated, since nothing is lost.
                let code = reply.code();
                let lines = reply.into_lines();
                let first = lines.first().cloned();
                let kept = first
                    .into_iter()
                    .chain(lines.into_iter().skip(1).filter(|l| !l.is_empty()));
                let reply = Reply::from_lines(code, kept.map(ReplyText::into_inner))
                    .unwrap_or_else(|_| Reply::from_text(code, ReplyText::empty()));
                match EhloResponse::try_from(reply) {
                    Ok(ehlo) => {
                        let ehlo = ehlo.into_owned();
                        if ehlo.supports(Extension::SmtpUtf8) {
                            // RFC 6531 3.7.4.2: reply text may now be UTF-8.
                            self.reply_utf8 = true;
                            self.renew_replies(false);
                        }
                        self.capabilities = Some(ehlo.clone());
                        Hello::Extended(ehlo)
                    }
                    Err(error) => return self.fail(Error::MalformedReply(error)),
                }
            };
            self.emit(Event::Hello(hello));
            return self.after_hello();
        }
        let unknown = matches!(reply.code().get(), 500 | 502);
        let domain = matches!(self.config.hostname, Host::Domain(_));
        if verb == Verb::Ehlo && unknown && domain {
            // RFC 5321 3.2: an old server; HELO, without extensions.
            self.hello(Verb::Helo);
        } else {
            self.fail(Error::Refused(reply));
        }
    }

    fn after_hello(&mut self) {
        if !self.tls && self.config.tls != TlsPolicy::Never {
            // A STARTTLS line with parameters it does not take (`STARTTLS x`) still names the
            // extension: it is tried, never taken for plaintext-only; a refusal is then handled
            // as for any STARTTLS.
            let offered = self.capabilities.as_ref().is_some_and(|c| {
                c.supports(Extension::StartTls) || c.malformed(Extension::StartTls).is_some()
            });
            if offered {
                self.command(&Command::StartTls);
                self.expect(Expect::StartTls);
                return;
            }
            if self.config.tls == TlsPolicy::Required {
                return self.fail(Error::TlsUnavailable);
            }
        }
        self.start_auth();
    }

    fn on_starttls(&mut self, reply: Reply<'static>, after: usize) {
        if reply.code() == ReplyCode::READY {
            if after > 0 {
                // Whatever follows the 220 was sent before TLS: never read it.
                return self.fail(Error::ResponseInjection { octets: after });
            }
            self.stage = Stage::StartingTls;
            self.flush();
            self.output.start_tls();
        } else if self.config.tls == TlsPolicy::Required {
            self.fail(Error::TlsRefused(reply));
        } else if reply.is_positive() {
            self.fail(Error::UnexpectedReply {
                command: "STARTTLS",
                reply,
            });
        } else {
            self.start_auth();
        }
    }

    fn start_auth(&mut self) {
        if self.mechanisms.is_empty() || self.authenticated {
            return self.ready();
        }
        if !self.tls && !self.config.allow_plaintext_auth {
            return self.fail(Error::AuthNeedsTls);
        }
        let offered = self
            .capabilities
            .as_ref()
            .map(|c| c.auth_mechanisms())
            .unwrap_or_default();
        let names: Vec<&str> = self.mechanisms.iter().map(|m| m.name()).collect();
        let Some(chosen) = sasl::preferred(offered, &names) else {
            return self.fail(Error::AuthUnavailable);
        };
        let chosen = String::from(chosen);
        let Some(position) = self
            .mechanisms
            .iter()
            .position(|m| m.name().eq_ignore_ascii_case(&chosen))
        else {
            return self.fail(Error::AuthUnavailable);
        };
        let mut mechanism = self.mechanisms.swap_remove(position);
        let Ok(name) = Mechanism::new(Cow::Owned(chosen)) else {
            return self.fail(Error::AuthUnavailable);
        };
        // RFC 4954 4: the initial response goes with the command unless that makes the line
        // longer than 512 octets; then the server's empty challenge asks for it.
        let mut line = BytesMut::new();
        line.put_slice(b"AUTH ");
        line.put_slice(name.as_str().as_bytes());
        if let Some(initial) = mechanism.initial_response() {
            let encoded = sasl::encode_initial_response(initial.expose_secret());
            let encoded = encoded.expose_secret();
            if line.len() + 1 + encoded.len() + 2 <= crate::codec::MAX_COMMAND_LINE {
                line.put_u8(b' ');
                line.put_slice(encoded.as_bytes());
            }
        }
        line.put_slice(b"\r\n");
        self.output.buffer().extend_from_slice(&line);
        self.expect(Expect::Auth);
        self.renew_replies(true);
        self.exchange = Some(Exchange {
            mechanism,
            name,
            cancelled: None,
        });
    }

    fn on_auth(&mut self, reply: Reply<'static>) {
        let Some(mut exchange) = self.exchange.take() else {
            return self.fail(Error::UnexpectedReply {
                command: "AUTH",
                reply,
            });
        };
        if reply.code() == ReplyCode::AUTH_CHALLENGE {
            if exchange.cancelled.is_some() {
                // A challenge after `*`: the server does not let go.
                return self.fail(Error::UnexpectedReply {
                    command: "AUTH",
                    reply,
                });
            }
            let text = reply
                .lines()
                .first()
                .map(|l| l.as_str())
                .unwrap_or_default();
            let response = sasl::decode_challenge(text.as_bytes(), sasl::MAX_DECODED_LEN)
                .and_then(|challenge| exchange.mechanism.respond(&challenge));
            match response {
                Ok(response) => {
                    let line = sasl::encode_response(response.expose_secret());
                    self.output
                        .buffer()
                        .extend_from_slice(line.expose_secret().as_bytes());
                }
                Err(error) => {
                    // RFC 4954 4: cancel.
                    self.output
                        .buffer()
                        .extend_from_slice(sasl::CANCEL.as_bytes());
                    exchange.cancelled = Some(error);
                }
            }
            self.output.buffer().extend_from_slice(b"\r\n");
            self.expect(Expect::Auth);
            self.exchange = Some(exchange);
        } else if reply.is_positive() && exchange.cancelled.is_none() {
            self.renew_replies(false);
            // RFC 4422 3.6: success before the mechanism completed (a SCRAM server that never
            // signed, RFC 5802 5) is a failure; the session ends with QUIT.
            if let Err(cause) = exchange.mechanism.complete() {
                return self.fail(Error::AuthFailed {
                    reply,
                    cause: Some(cause),
                });
            }
            self.authenticated = true;
            self.emit(Event::Authenticated(exchange.name));
            self.ready();
        } else {
            self.renew_replies(false);
            self.fail(Error::AuthFailed {
                reply,
                cause: exchange.cancelled,
            });
        }
    }

    fn on_transaction_reply(&mut self, expect: Expect, reply: Reply<'static>) {
        let Some(t) = self.transaction.as_mut() else {
            return self.fail(Error::UnexpectedReply {
                command: expect.command(),
                reply,
            });
        };
        match expect {
            Expect::Mail => {
                t.mail_ok = reply.is_positive();
                t.report.mail = Some(reply.clone());
                if !t.pipelined {
                    if t.mail_ok {
                        if let Some(first) = t.recipients.first().cloned() {
                            self.rcpt(first, 0);
                        }
                    } else {
                        t.failure = Some(reply);
                        self.conclude(false);
                    }
                }
            }
            Expect::Rcpt(index) => {
                if reply.is_positive() {
                    t.accepted.push(index);
                }
                if let Some(entry) = t.report.recipients.get_mut(index) {
                    entry.rcpt = Some(reply);
                }
                let last = index + 1 >= t.recipients.len();
                if !t.pipelined && !last {
                    if let Some(next) = t.recipients.get(index + 1).cloned() {
                        self.rcpt(next, index + 1);
                    }
                } else if last && (!t.pipelined || t.chunked) {
                    self.after_recipients();
                }
            }
            Expect::Data => {
                if reply.code() == ReplyCode::START_DATA {
                    if t.mail_ok && !t.accepted.is_empty() {
                        t.body = BodyState::Open;
                        self.emit(Event::SendBody);
                    } else {
                        // RFC 2920 3.1: DATA accepted with no recipient: an empty message.
                        // An LMTP server answers it with no reply at all (RFC 2033 4.2).
                        t.body = BodyState::Ended;
                        self.output.buffer().extend_from_slice(b".\r\n");
                        if self.config.lmtp {
                            return self.conclude(true);
                        }
                        self.expect(Expect::EmptyMessage);
                    }
                } else if reply.is_positive() {
                    self.fail(Error::UnexpectedReply {
                        command: "DATA",
                        reply,
                    });
                } else {
                    t.failure = Some(reply);
                    self.conclude(true);
                }
            }
            Expect::EmptyMessage => self.conclude(true),
            Expect::Chunk { last } => {
                if !reply.is_positive() {
                    // RFC 3030 2: no more chunks; those in flight are answered and ignored.
                    t.failure = Some(reply);
                    for pending in &mut self.expected {
                        if matches!(pending, Expect::Chunk { .. } | Expect::Delivery(_)) {
                            *pending = Expect::Discard;
                        }
                    }
                    self.conclude(true);
                } else if last {
                    for &index in &t.accepted {
                        if let Some(entry) = t.report.recipients.get_mut(index) {
                            entry.result = Some(reply.clone());
                        }
                    }
                    self.conclude(false);
                } else {
                    t.chunks_in_flight = t.chunks_in_flight.saturating_sub(1);
                    let window = chunk_window(t.pipelined, &self.config);
                    if t.body == BodyState::Waiting && t.chunks_in_flight < window {
                        t.body = BodyState::Open;
                        self.emit(Event::SendBody);
                    }
                }
            }
            Expect::EndOfData => {
                for &index in &t.accepted {
                    if let Some(entry) = t.report.recipients.get_mut(index) {
                        entry.result = Some(reply.clone());
                    }
                }
                self.conclude(false);
            }
            Expect::Delivery(index) => {
                if let Some(entry) = t.report.recipients.get_mut(index) {
                    entry.result = Some(reply);
                }
                if !self
                    .expected
                    .iter()
                    .any(|e| matches!(e, Expect::Delivery(_)))
                {
                    self.conclude(false);
                }
            }
            _ => {}
        }
    }

    /// Every RCPT has its reply (lock-step, or BDAT): the body, or the end of the message.
    fn after_recipients(&mut self) {
        let Some(t) = self.transaction.as_mut() else {
            return;
        };
        if !t.mail_ok || t.accepted.is_empty() {
            return self.conclude(true);
        }
        if t.chunked {
            t.body = BodyState::Open;
            self.emit(Event::SendBody);
        } else {
            self.command(&Command::Data);
            self.expect(Expect::Data);
        }
    }

    /// The message is over: report it, then RSET (a failure before the end of data left a
    /// transaction open) or be ready for the next.
    fn conclude(&mut self, rset: bool) {
        let Some(t) = self.transaction.take() else {
            return;
        };
        self.emit(Event::Sent(finish_report(t)));
        if rset {
            self.command(&Command::Rset);
            self.expect(Expect::Rset);
        } else {
            self.ready();
        }
    }
}

/// The report of a finished or interrupted transaction: every recipient without a result
/// gets the refusal that stopped it, if there is one.
fn finish_report(t: Transaction) -> Report {
    let Transaction {
        mut report,
        failure,
        ..
    } = t;
    // A refused MAIL decides for everyone (the RCPT replies after it are only 503s).
    let mail_refusal = report.mail.clone().filter(|mail| !mail.is_positive());
    for entry in &mut report.recipients {
        if entry.result.is_some() {
            continue;
        }
        entry.result = match (&mail_refusal, &entry.rcpt) {
            (Some(mail), _) => Some(mail.clone()),
            (None, Some(rcpt)) if !rcpt.is_positive() => Some(rcpt.clone()),
            (None, _) => failure.clone(),
        };
    }
    report
}

mail_wire::impl_machine!(Client, Event, ApiError);

#[cfg(test)]
mod outcome_tests;
#[cfg(test)]
mod tests;

/// How many BDAT chunks (not the last) may wait for their replies at once: one without
/// PIPELINING, [`ClientConfig::max_chunks_in_flight`] (at least one) with it.
fn chunk_window(pipelined: bool, config: &ClientConfig) -> usize {
    if pipelined {
        config.max_chunks_in_flight.max(1)
    } else {
        1
    }
}

/// Writes one BDAT chunk: the command, then the octets (RFC 3030 2).
fn bdat(out: &mut BytesMut, data: &[u8], last: bool) {
    encode_command(
        &Command::Bdat {
            size: data.len() as u64,
            last,
        },
        out,
    );
    out.extend_from_slice(data);
}

/// Copies text with every bare CR and LF made CR LF (or refused), for BDAT chunks that are
/// not BINARYMIME (RFC 3030 3: text in canonical form). A CR at the end is held in
/// `pending_cr` until the next octet shows whether it is bare. `offset` counts the octets
/// before `chunk`, for the error.
fn canonical(
    chunk: &[u8],
    offset: u64,
    pending_cr: &mut bool,
    reject: bool,
    out: &mut Vec<u8>,
) -> Result<(), BodyError> {
    let mut rest = chunk;
    let mut at = offset;
    if rest.is_empty() {
        return Ok(());
    }
    if core::mem::take(pending_cr) {
        if rest.first() == Some(&b'\n') {
            out.extend_from_slice(b"\r\n");
            rest = rest.get(1..).unwrap_or_default();
            at += 1;
        } else if reject {
            return Err(BodyError::BareCr {
                offset: offset.saturating_sub(1),
            });
        } else {
            out.extend_from_slice(b"\r\n");
        }
    }
    while let Some(found) = memchr::memchr2(b'\r', b'\n', rest) {
        out.extend_from_slice(rest.get(..found).unwrap_or_default());
        let ending = rest.get(found..).unwrap_or_default();
        let position = at + found as u64;
        let used = match ending {
            [b'\r', b'\n', ..] => 2,
            [b'\r'] => {
                *pending_cr = true;
                return Ok(());
            }
            [b'\r', ..] if reject => return Err(BodyError::BareCr { offset: position }),
            [b'\n', ..] if reject => return Err(BodyError::BareLf { offset: position }),
            _ => 1,
        };
        out.extend_from_slice(b"\r\n");
        rest = ending.get(used..).unwrap_or_default();
        at = position + used as u64;
    }
    out.extend_from_slice(rest);
    Ok(())
}
#[cfg(test)]
mod edge_tests;
