//! The SMTP / LMTP server over tokio: an accept loop and a handler trait.
//!
//! [`serve`] accepts connections and runs `smtp-proto`'s server machine on each, asking a
//! [`Handler`] (one per connection, made by your factory) every decision the protocol leaves to
//! the application: the connection, the greeting, the sender, each recipient, the start and
//! end of each message, credentials, VRFY and EXPN. The machine does the protocol (syntax,
//! order, limits, pipelining, STARTTLS, AUTH exchanges, dot-unstuffing, BDAT); the driver does
//! the I/O ([`Connection`]); the handler only decides. Every decision has a default, so a
//! handler implements only what it cares about. [`serve`]'s docs show a sink.
//!
//! With an accept loop of your own (or a Unix socket, or an in-memory pipe), build the
//! [`Connection`] yourself and hand it to [`run_session`].

use std::borrow::Cow;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use mail_wire::dot::BodyError;
use mail_wire::sasl::{ChannelBinding, Credentials};
use smtp_proto::server::{Answer, Event, Greeting, ScramSecret, Server, ServerConfig};
use smtp_proto::types::{
    EnhancedStatus, ForwardPath, Host, Lookup, MailParameters, Mechanism, RcptParameters, Reply,
    ReplyCode, ReplyText, ReversePath,
};
use tokio::net::{TcpListener, TcpStream};

#[cfg(feature = "rustls")]
use crate::TlsServer;
use crate::accept::{Refusals, SessionPermit, accept_loop};
use crate::{Connection, Error, ServeOptions, Transport};

/// What a connection over the session limit is told before it is closed (RFC 5321 3.8).
const TOO_MANY: &[u8] = b"421 4.3.2 Too many connections, try again later\r\n";
/// Over the client's own limits (sessions at once, connections a minute); 4.7.0 as Postfix
/// answers its `anvil` limits (RFC 3463 3.8: a security or policy status).
const CLIENT_TOO_MANY: &[u8] =
    b"421 4.7.0 Too many connections from your address, try again later\r\n";

/// Where a session comes from: what the handler factory of [`serve`] is given.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The client's address.
    pub peer: SocketAddr,
    /// Our address on this connection (which listener, when one factory serves several).
    pub local: Option<SocketAddr>,
    /// The session starts with TLS (implicit TLS, port 465); otherwise TLS comes, if at all,
    /// with STARTTLS ([`Handler::tls_established`]).
    pub implicit_tls: bool,
    /// The listener speaks LMTP.
    pub lmtp: bool,
}

/// The application's side of an SMTP / LMTP session: one value per connection, which holds the
/// session's state (the envelope being built, a spool file, who authenticated...).
///
/// Each *decision* method answers one question of the machine with an [`Answer`]: `Accept`
/// (the usual positive reply), `Reply` (your own reply: 2yz accepts with your text, 4yz / 5yz
/// refuses) or, at the end of an LMTP message, `PerRecipient`. The machine asks nothing more
/// until the answer is given; pipelined commands wait, so replies always go out in order.
/// Every decision has a default: the safe one for a sink (accept the connection, the
/// greeting, senders, recipients and messages; refuse credentials; VRFY 252, EXPN 502).
///
/// The other methods report what happened and default to doing nothing. [`body`](Self::body)
/// receives the message, unstuffed, between [`data_start`](Self::data_start) and
/// [`message_end`](Self::message_end); after [`message_rejected`](Self::message_rejected) or
/// [`transaction_reset`](Self::transaction_reset), drop what was received of the message.
///
/// Implement the methods with `async fn`: the futures must be `Send`, so that sessions run on
/// any tokio runtime. A refusal is a [`Reply`]; [`reply`] builds one from its parts.
///
/// ```
/// use mail_io::smtp::{reply, Answer, EnhancedStatus, ForwardPath, Handler, RcptParameters, ReplyCode};
///
/// /// Takes mail for postmaster@example.com only.
/// struct Postmaster;
///
/// impl Handler for Postmaster {
///     async fn rcpt_to(&mut self, to: ForwardPath<'static>, _: RcptParameters<'static>) -> Answer {
///         match to.mailbox() {
///             Some(mailbox) if mailbox.to_string() == "postmaster@example.com" => Answer::Accept,
///             _ => Answer::Reply(reply(
///                 ReplyCode::MAILBOX_UNAVAILABLE,
///                 EnhancedStatus::BAD_DESTINATION_MAILBOX,
///                 "No such user here",
///             )),
///         }
///     }
/// }
/// ```
pub trait Handler: Send {
    /// *Decision*: a client connected; `Accept` greets it (220), a refusal (554, or 421 when
    /// busy) is sent and the connection closed.
    fn connected(&mut self) -> impl Future<Output = Answer> + Send {
        async { Answer::Accept }
    }

    /// *Decision*: the client introduced itself (HELO, EHLO, or LHLO in LMTP). `Accept` sends
    /// the greeting reply (with the extensions for EHLO / LHLO); any transaction is reset.
    fn hello(
        &mut self,
        greeting: Greeting,
        host: Host<'static>,
    ) -> impl Future<Output = Answer> + Send {
        let _ = (greeting, host);
        async { Answer::Accept }
    }

    /// *Decision*: the sender of a new message (MAIL FROM); its parameters were checked
    /// against what is offered. A new transaction starts when this is accepted.
    fn mail_from(
        &mut self,
        from: ReversePath<'static>,
        parameters: MailParameters<'static>,
    ) -> impl Future<Output = Answer> + Send {
        let _ = (from, parameters);
        async { Answer::Accept }
    }

    /// *Decision*: one recipient (RCPT TO). Refuse with 550 (unknown user), 4yz (try later)...
    fn rcpt_to(
        &mut self,
        to: ForwardPath<'static>,
        parameters: RcptParameters<'static>,
    ) -> impl Future<Output = Answer> + Send {
        let _ = (to, parameters);
        async { Answer::Accept }
    }

    /// *Decision*: the client wants to send the message (DATA, or its first BDAT chunk). Open
    /// the spool file here; refuse with 452 / 451 if it cannot be opened.
    fn data_start(&mut self) -> impl Future<Output = Answer> + Send {
        async { Answer::Accept }
    }

    /// A piece of the message body, unstuffed, never empty, in order.
    fn body(&mut self, chunk: Bytes) -> impl Future<Output = ()> + Send {
        let _ = chunk;
        async {}
    }

    /// *Decision*: the whole message has arrived, `size` octets for `recipients` accepted
    /// recipients. Accept (250) only once it is safely stored. In LMTP, answer
    /// [`Answer::PerRecipient`] with one reply per accepted recipient in RCPT order (RFC 2033
    /// 4.2), or `Accept` / one `Reply` for all of them.
    fn message_end(&mut self, size: u64, recipients: usize) -> impl Future<Output = Answer> + Send {
        let _ = (size, recipients);
        async { Answer::Accept }
    }

    /// The machine refused the message itself (too large, bare CR or LF): drop what was
    /// received of it. The client is told once the message has been read to its end;
    /// [`transaction_reset`](Self::transaction_reset) follows.
    fn message_rejected(&mut self, error: BodyError) {
        let _ = error;
    }

    /// The transaction was abandoned (RSET, a new greeting, STARTTLS, QUIT or the end of the
    /// connection in the middle of it, a refused message): drop the envelope and any partial
    /// message.
    fn transaction_reset(&mut self) {}

    /// *Decision*: AUTH credentials to check (RFC 4954). The default refuses them all (535):
    /// a server that offers AUTH must say whom it knows. Passwords are `Secret`s; check them
    /// with [`Credentials::verify_password`].
    fn authenticate(
        &mut self,
        mechanism: Mechanism<'static>,
        credentials: Credentials,
    ) -> impl Future<Output = Answer> + Send {
        let _ = (mechanism, credentials);
        async {
            Answer::Reply(reply(
                ReplyCode::AUTH_CREDENTIALS_INVALID,
                EnhancedStatus::AUTH_CREDENTIALS_INVALID,
                "Authentication credentials invalid",
            ))
        }
    }

    /// *Decision*: SCRAM-SHA-256 (offered through [`ServerConfig::sasl_mechanisms`]) needs
    /// the stored secret of `username` (RFC 5802 section 3; make it with
    /// [`ScramSecret::derive`] when the password is set). `None`, the default, is an unknown
    /// user: the exchange goes on and fails at its end, as for a wrong password. A user that
    /// passes gets to [`authenticate`](Self::authenticate) with credentials that are already
    /// verified ([`Credentials::is_verified`]): only authorization is left.
    fn scram_secret(
        &mut self,
        username: String,
    ) -> impl Future<Output = Option<ScramSecret>> + Send {
        let _ = username;
        async { None }
    }

    /// *Decision*: VRFY (asked only with [`ServerConfig::vrfy`]). `Accept` answers 252 ("cannot
    /// verify, but will accept the message", RFC 5321 3.5.3), which reveals nothing; that is
    /// the default. [`Lookup::smtputf8`] says whether the reply may hold UTF-8 (RFC 6531
    /// 3.7.4.2).
    fn verify(&mut self, lookup: Lookup<'static>) -> impl Future<Output = Answer> + Send {
        let _ = lookup;
        async { Answer::Accept }
    }

    /// *Decision*: EXPN (asked only with [`ServerConfig::expn`]). The default is 502, as if
    /// EXPN were not offered: mailing lists are not disclosed.
    fn expand(&mut self, lookup: Lookup<'static>) -> impl Future<Output = Answer> + Send {
        let _ = lookup;
        async {
            Answer::Reply(reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                EnhancedStatus::INVALID_COMMAND,
                "Command not implemented",
            ))
        }
    }

    /// TLS is up: at the start of an implicit TLS session, or after STARTTLS (RFC 3207 4.2:
    /// the session starts over, everything learnt before is forgotten; a new greeting follows).
    /// The machine has been given the client certificate's identity for SASL EXTERNAL
    /// ([`certificate_identity`](crate::tls::certificate_identity)), if the TLS configuration
    /// asked for a certificate and the client sent one.
    fn tls_established(&mut self) {}

    /// `octets` arrived in plaintext behind STARTTLS and were thrown away unread (the
    /// injection of CVE-2011-0411): a client that does this is broken or an attack.
    fn plaintext_discarded(&mut self, octets: usize) {
        let _ = octets;
    }

    /// The client said QUIT.
    fn quit(&mut self) {}

    /// The session is over, once, however it ended: `None` after an orderly end (QUIT, the
    /// client closed, a timeout or the shutdown, after 421), or the error that ended it.
    fn closed(&mut self, error: Option<&Error>) {
        let _ = error;
    }
}

/// A reply from its parts, for an [`Answer`]: `status` is kept where it agrees with `code`
/// (RFC 2034 4) and the machine adds or drops it as ENHANCEDSTATUSCODES is offered or not;
/// text that cannot go on the wire (a CR or LF, say) is left out rather than failing.
pub fn reply(
    code: ReplyCode,
    status: EnhancedStatus,
    text: impl Into<Cow<'static, str>>,
) -> Reply<'static> {
    let text = ReplyText::new(text).unwrap_or_else(|_| ReplyText::empty());
    let bare = Reply::from_text(code, text);
    bare.clone().set_status(status).unwrap_or(bare)
}

/// Accepts SMTP (or LMTP, with [`ServerConfig::lmtp`]) sessions on `listener` until
/// `options.shutdown` is triggered, each in a task of its own with the handler
/// `new_handler` makes for it; then waits, at most `options.grace`, for the sessions to end
/// (each says 421 and closes at its next wait).
///
/// - **TLS** comes from `options`, not `config`: STARTTLS is offered exactly when
///   `options.tls` is set, and with `options.implicit_tls` every session starts with the TLS
///   handshake (port 465) and STARTTLS is not offered.
/// - **Session limit**: over `options.max_sessions`, a connection is told `421 4.3.2 Too many
///   connections, try again later` and closed.
/// - **Client limits**: over its client's limits (`options.client_limits`: sessions at once
///   and connections a minute per address), a connection is told `421 4.7.0 Too many
///   connections from your address, try again later` and closed.
/// - **Refusals** are written without waiting on the client and hold no session slot. On an
///   implicit TLS listener they are said inside TLS (RFC 8314 3.3): the client has 5 seconds
///   from its connection to complete the handshake, then it reads the refusal and
///   `close_notify`. Only a client that does not complete it in time, or that comes while 256
///   refusals are already under way on the listener (a flood must not buy unbounded handshake
///   work), or whose handshake the shutdown interrupts, is closed without a word.
/// - **Errors** of a session (I/O, timeouts, a failed handshake) end that session only and
///   are reported to its handler's [`closed`](Handler::closed).
///
/// A sink that reports the size of each message it is sent, in a few lines:
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mail_io::smtp::{serve, Answer, Client, Envelope, Handler, Mailbox, ServerConfig};
/// use mail_io::ServeOptions;
/// use tokio::sync::mpsc;
///
/// struct Sink(mpsc::UnboundedSender<u64>);
///
/// impl Handler for Sink {
///     async fn message_end(&mut self, size: u64, _recipients: usize) -> Answer {
///         let _ = self.0.send(size);
///         Answer::Accept
///     }
/// }
///
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let address = listener.local_addr()?;
/// let options = ServeOptions::new();
/// let shutdown = options.shutdown.clone();
/// let (seen, mut sizes) = mpsc::unbounded_channel();
/// let server = tokio::spawn(serve(listener, ServerConfig::default(), options, move |_| Sink(seen.clone())));
///
/// // Send one message with the crate's own client.
/// let mut client = Client::connect(address.to_string()).plaintext().await?;
/// let envelope = Envelope::new(Mailbox::parse("alice@example.org")?)
///     .to(Mailbox::parse("bob@example.com")?);
/// let report = client.send(envelope, &b"Subject: hi\r\n\r\nHello.\r\n"[..]).await?;
/// assert!(report.is_delivered_to_all());
/// client.quit().await?;
/// assert_eq!(sizes.recv().await, Some(23));
///
/// // Sessions still open get 421; the accept loop ends.
/// shutdown.trigger();
/// server.await?;
/// # Ok(())
/// # }
/// ```
pub async fn serve<F, H>(
    listener: TcpListener,
    config: ServerConfig,
    options: ServeOptions,
    mut new_handler: F,
) where
    F: FnMut(&SessionInfo) -> H + Send,
    H: Handler + 'static,
{
    let mut config = config;
    #[cfg(feature = "rustls")]
    let has_tls = options.tls.is_some();
    #[cfg(not(feature = "rustls"))]
    let has_tls = false;
    config.implicit_tls = options.implicit_tls;
    config.starttls = has_tls && !options.implicit_tls;
    // Inside TLS on an implicit TLS listener.
    let refusals = Refusals::new(TOO_MANY, CLIENT_TOO_MANY, &options);
    let lmtp = config.lmtp;
    accept_loop(listener, &options, refusals, |stream, peer, permit| {
        let info = SessionInfo {
            peer,
            local: stream.local_addr().ok(),
            implicit_tls: options.implicit_tls,
            lmtp,
        };
        let handler = new_handler(&info);
        let connection = Connection::new(Server::new(config.clone()), stream)
            .with_config(options.io)
            .with_shutdown(options.shutdown.clone());
        let security = Security::from(&options);
        session(permit, security, connection, handler)
    })
    .await;
}

/// One session of [`serve`], in its task. The connection is held once, where the task
/// captured it, and lent to the handshake and the session loop: an `async fn` would hold its
/// argument twice (the argument and its binding), and moving it into each step would hold it
/// again there, over 1 KiB each time for as long as the session lasts, idle or not.
#[allow(clippy::manual_async_fn)]
fn session<H: Handler>(
    permit: SessionPermit,
    security: Security,
    mut connection: Connection<Server, TcpStream>,
    mut handler: H,
) -> impl Future<Output = ()> {
    async move {
        match security.apply(&mut connection).await {
            Ok(()) => {
                // The outcome goes to the handler's `closed`, as in `run_session`.
                let result = drive(&mut connection, &mut handler).await;
                handler.closed(result.as_ref().err());
            }
            Err(error) => handler.closed(error.as_ref()),
        }
        drop(connection);
        drop(handler);
        // The slot (what the limit counts) is free once the connection is closed and the
        // handler is gone.
        drop(permit);
    }
}

/// The TLS side of a listener, for each of its sessions.
struct Security {
    implicit: bool,
    #[cfg(feature = "rustls")]
    tls: Option<TlsServer>,
    #[cfg(feature = "rustls")]
    shutdown: crate::Shutdown,
}

impl From<&ServeOptions> for Security {
    fn from(options: &ServeOptions) -> Self {
        Self {
            implicit: options.implicit_tls,
            #[cfg(feature = "rustls")]
            tls: options.tls.clone(),
            #[cfg(feature = "rustls")]
            shutdown: options.shutdown.clone(),
        }
    }
}

impl Security {
    /// Sets the connection up: the handshake now (implicit TLS; cut short by the shutdown,
    /// which ends the session without a word: `Err(None)`), or the settings for STARTTLS.
    #[cfg(feature = "rustls")]
    async fn apply<T: Transport>(
        self,
        connection: &mut Connection<Server, T>,
    ) -> Result<(), Option<Error>> {
        match (self.tls, self.implicit) {
            (Some(tls), true) => tokio::select! {
                secured = connection.accept_tls_in_place(tls) => secured.map_err(Some),
                () = self.shutdown.triggered() => Err(None),
            },
            (None, true) => Err(Some(Error::TlsUnavailable)),
            (Some(tls), false) => {
                connection.set_tls_server(tls);
                Ok(())
            }
            (None, false) => Ok(()),
        }
    }

    /// Without TLS support, an implicit TLS listener cannot work.
    #[cfg(not(feature = "rustls"))]
    async fn apply<T: Transport>(
        self,
        connection: &mut Connection<Server, T>,
    ) -> Result<(), Option<Error>> {
        let _ = connection;
        if self.implicit {
            return Err(Some(Error::TlsUnavailable));
        }
        Ok(())
    }
}

/// Runs one session to its end: every event of the machine goes to `handler`, every decision
/// is answered with what it returns. For an accept loop of your own; [`serve`] calls it for
/// each connection.
///
/// The connection is yours to set up: its machine (`Server::new` with the config; set
/// [`ServerConfig::starttls`] only with [`Connection::with_tls_server`], and
/// [`ServerConfig::implicit_tls`] after [`Connection::accept_tls`]), its limits, its shutdown
/// signal. Returns once the connection is closed; `Err` when the I/O failed. `handler` hears of
/// the end either way ([`Handler::closed`]).
///
/// An answer that does not fit its decision ([`Answer::PerRecipient`] outside LMTP's end of
/// data, or with the wrong number of replies; a 3yz reply) is a bug in the handler: the client
/// is told `451 4.3.0` for that decision, then `421` as the session ends, and the result is
/// [`Error::Api`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mail_io::Connection;
/// use mail_io::smtp::{run_session, Handler, Server, ServerConfig};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// struct Accepting;
/// impl Handler for Accepting {}
///
/// let (ours, mut theirs) = tokio::io::duplex(4096);
/// let connection = Connection::new(Server::new(ServerConfig::default()), ours);
/// let session = tokio::spawn(async move { run_session(connection, &mut Accepting).await });
/// theirs.write_all(b"QUIT\r\n").await?;
/// let mut transcript = String::new();
/// theirs.read_to_string(&mut transcript).await?;
/// assert_eq!(transcript, "220 localhost ESMTP\r\n221 2.0.0 Bye\r\n");
/// session.await??;
/// # Ok(())
/// # }
/// ```
#[allow(clippy::manual_async_fn)]
pub fn run_session<H: Handler, T: Transport>(
    mut connection: Connection<Server, T>,
    handler: &mut H,
) -> impl Future<Output = Result<(), Error>> {
    // Not an `async fn`: that would hold the connection twice (see `session`).
    async move {
        let result = drive(&mut connection, handler).await;
        handler.closed(result.as_ref().err());
        result
    }
}

/// The session loop: events to the handler, its answers to the machine.
async fn drive<H: Handler, T: Transport>(
    connection: &mut Connection<Server, T>,
    handler: &mut H,
) -> Result<(), Error> {
    // The machine learns what TLS established as soon as the handshake completes (implicit
    // TLS: now), before it reads anything that follows.
    connection.on_tls_established(tls_up);
    let mut tls = connection.is_tls();
    if tls {
        handler.tls_established();
    }
    while let Some(event) = connection.next_event().await? {
        if !tls && connection.is_tls() {
            // STARTTLS went through on the way to this event (at the latest the EHLO that must
            // follow it, before any AUTH).
            tls = true;
            handler.tls_established();
        }
        let answer = match event {
            Event::Connected => handler.connected().await,
            Event::Hello { greeting, host } => handler.hello(greeting, host).await,
            Event::MailFrom { from, parameters } => handler.mail_from(from, parameters).await,
            Event::RcptTo { to, parameters } => handler.rcpt_to(to, parameters).await,
            Event::DataStart => handler.data_start().await,
            Event::Body(chunk) => {
                handler.body(chunk).await;
                continue;
            }
            Event::MessageEnd { size, recipients } => handler.message_end(size, recipients).await,
            Event::Authenticate {
                mechanism,
                credentials,
            } => handler.authenticate(mechanism, credentials).await,
            Event::LookupSecret { username, .. } => {
                let secret = handler.scram_secret(username).await;
                if let Err(misuse) = connection.machine_mut().provide_secret(secret) {
                    return Err(misused(connection, misuse).await);
                }
                continue;
            }
            Event::Verify(lookup) => handler.verify(lookup).await,
            Event::Expand(lookup) => handler.expand(lookup).await,
            Event::MessageRejected(error) => {
                handler.message_rejected(error);
                continue;
            }
            Event::TransactionReset => {
                handler.transaction_reset();
                continue;
            }
            Event::PlaintextDiscarded(octets) => {
                handler.plaintext_discarded(octets);
                continue;
            }
            Event::Quit => {
                handler.quit();
                continue;
            }
            // A decision this version does not know of is declined; anything else is news.
            event if event.is_decision() => Answer::Reply(reply(
                ReplyCode::COMMAND_NOT_IMPLEMENTED,
                EnhancedStatus::INVALID_COMMAND,
                "Command not implemented",
            )),
            _ => continue,
        };
        if let Err(misuse) = connection.machine_mut().answer(answer) {
            return Err(misused(connection, misuse).await);
        }
    }
    Ok(())
}

/// TLS is up: the machine learns the client certificate's identity, for SASL EXTERNAL (when the
/// TLS configuration asked for a certificate), and the channel binding data, for
/// SCRAM-SHA-256-PLUS (TLS 1.3) (see [`Connection::on_tls_established`]).
fn tls_up(server: &mut Server, identity: Option<String>, binding: Option<ChannelBinding>) {
    server.set_external_identity(identity);
    server.set_channel_binding(binding);
}

/// The handler's answer did not fit: the client still gets a reply (a temporary failure, which
/// fits every decision), then the session ends with 421.
async fn misused<T: Transport>(
    connection: &mut Connection<Server, T>,
    misuse: smtp_proto::server::ApiError,
) -> Error {
    let machine = connection.machine_mut();
    let _ = machine.answer(Answer::Reply(reply(
        ReplyCode::LOCAL_ERROR,
        EnhancedStatus::SYSTEM_TRANSIENT,
        "Local error in processing",
    )));
    machine.shut_down();
    loop {
        match connection.next_event().await {
            Ok(Some(_)) => {}
            Ok(None) => break,
            Err(error) => return error,
        }
    }
    Error::api(misuse)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Accepting;
    impl Handler for Accepting {}

    use crate::test_support::size_of_return;

    /// An idle connection's memory is mostly its task: the connection in it once, with the
    /// session loop's state beside it (not a second copy moved into the loop).
    #[test]
    #[allow(unreachable_code, clippy::diverging_sub_expression)]
    fn a_session_task_holds_its_connection_once() {
        let connection = std::mem::size_of::<Connection<Server, TcpStream>>();
        let session_loop = size_of_return(|| drive::<Accepting, TcpStream>(todo!(), todo!()));
        let task = size_of_return(|| session::<Accepting>(todo!(), todo!(), todo!(), todo!()));
        assert!(
            task <= connection + session_loop + 256,
            "a session task of {task} octets: connection {connection}, loop {session_loop}"
        );
    }

    /// `run_session`, for a listener of one's own, holds its connection once too.
    #[test]
    #[allow(unreachable_code, clippy::diverging_sub_expression)]
    fn run_session_holds_its_connection_once() {
        let connection = std::mem::size_of::<Connection<Server, TcpStream>>();
        let session_loop = size_of_return(|| drive::<Accepting, TcpStream>(todo!(), todo!()));
        let run = size_of_return(|| run_session::<Accepting, TcpStream>(todo!(), todo!()));
        assert!(
            run <= connection + session_loop + 256,
            "run_session's future of {run} octets: connection {connection}, loop {session_loop}"
        );
    }
}
