//! The POP3 server, blocking: an accept loop with a thread per connection, and a maildrop
//! trait.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpListener};

use mail_wire::sasl::ChannelBinding;
use pop3_proto::server::{Answer, Event};
use pop3_proto::types::{Timestamp, UidListing};

pub use pop3_proto::server::{
    Login, MessageInfo, ScramSecret, ScramUnknownUsers, Server, ServerConfig, ServerMechanisms,
};

use crate::closing::Step;
use crate::pop3_server::{BODY_CHUNK, CLIENT_TOO_MANY, TOO_MANY, chunk_size};
pub use crate::pop3_server::{Refusal, Retrieve, ServerError};

use super::super::accept::{Refusals, accept_loop};
use super::super::smtp::read_some;
use super::super::{Connection, ServeOptions, Transport};

/// A maildrop as a POP3 session sees it: one method per decision, called in the order of the
/// session, on a value of its own for each connection ([`serve`] makes one per connection and
/// runs it in the connection's thread). The blocking twin of the tokio
/// [`Maildrop`](crate::pop3::Maildrop).
///
/// The machine answers everything else itself (STAT, LIST, UIDL, DELE, RSET, NOOP, CAPA, the
/// SASL exchange, STLS, TOP's cut), from the listing [`login`](Self::login) returns.
///
/// - [`login`](Self::login): check the credentials (with [`Login::verify_secret`]), take the
///   maildrop's lock if it has one, and list it.
/// - [`retrieve`](Self::retrieve): a reader over one message (RETR and TOP); it streams out in
///   64 KiB chunks, dot-stuffed, bare line ends made CRLF (per [`ServerConfig::bare_endings`]).
/// - [`commit`](Self::commit): at QUIT only, once, the messages marked deleted. A session that
///   ends any other way (the client goes away, times out, the server shuts down) commits nothing.
/// - [`closed`](Self::closed): once, as the session ends, whichever way: release the lock here.
///
/// A POP3 server over a maildrop in memory, shared by every session:
///
/// ```
/// use std::io::{Cursor, Read, Write};
/// use std::sync::{Arc, Mutex};
///
/// use mail_io::blocking::ServeOptions;
/// use mail_io::blocking::pop3::{serve, Login, Maildrop, MessageInfo, Refusal, Retrieve};
/// use mail_io::blocking::pop3::{ServerConfig, UidListing, UniqueId};
///
/// /// Messages by unique-id, in delivery order.
/// type Store = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
///
/// struct Memory(Store, Vec<(String, Vec<u8>)>);
///
/// impl Maildrop for Memory {
///     type Message = Cursor<Vec<u8>>;
///
///     fn login(&mut self, login: &Login) -> Result<Vec<MessageInfo>, Refusal> {
///         if login.username() != Some("alice") || !login.verify_secret(b"secret") {
///             return Err(Refusal::auth());
///         }
///         self.1 = self.0.lock().map_err(|_| Refusal::temporary("store broken"))?.clone();
///         let listing = self.1.iter().map(|(uid, message)| {
///             let uid = UniqueId::new(uid.clone()).map_err(|_| Refusal::temporary("bad uid"))?;
///             Ok(MessageInfo { size: message.len() as u64, uid })
///         });
///         listing.collect()
///     }
///
///     fn retrieve(&mut self, request: &Retrieve) -> Result<Self::Message, Refusal> {
///         let message = self.1.get(request.message.index()).ok_or(Refusal::new("no such message"))?;
///         Ok(Cursor::new(message.1.clone()))
///     }
///
///     fn commit(&mut self, deleted: &[UidListing<'static>]) -> Result<(), Refusal> {
///         let mut store = self.0.lock().map_err(|_| Refusal::temporary("store broken"))?;
///         store.retain(|(uid, _)| !deleted.iter().any(|gone| gone.uid.as_str() == uid));
///         Ok(())
///     }
/// }
///
/// let store: Store = Arc::new(Mutex::new(vec![("m1".into(), b"Subject: hi\r\n\r\n.\r\n".to_vec())]));
/// let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
/// # let address = listener.local_addr()?;
/// let config = ServerConfig { plaintext_login: true, ..ServerConfig::default() };
/// let options = ServeOptions::new();
/// # let shutdown = options.shutdown.clone();
/// # let server = std::thread::spawn(move || {
/// serve(listener, config, options, move |_peer| Memory(store.clone(), Vec::new()))?;
/// # Ok::<(), std::io::Error>(())
/// # });
/// # let mut client = std::net::TcpStream::connect(address)?;
/// # client.write_all(b"USER alice\r\nPASS secret\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n")?;
/// # let mut transcript = String::new();
/// # client.read_to_string(&mut transcript)?;
/// # assert!(transcript.contains("+OK 18 octets\r\nSubject: hi\r\n\r\n..\r\n.\r\n"), "{transcript}");
/// # assert!(transcript.ends_with("+OK bye\r\n"), "{transcript}");
/// # shutdown.trigger();
/// # server.join().expect("the server thread")?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Maildrop {
    /// A message's content, as [`retrieve`](Self::retrieve) hands it over: a
    /// `std::fs::File`, a `std::io::Cursor` over bytes in memory, any reader.
    type Message: Read;

    /// *Decision*: a client presents credentials (USER/PASS, APOP, SASL; the secret stays in
    /// [`Login`], check it with [`Login::verify_secret`]). Open the maildrop, locking it for
    /// this session if the store needs that, and list it, message 1 first; or refuse
    /// ([`Refusal::auth`], [`Refusal::in_use`], [`Refusal::temporary`]). A refused login counts
    /// towards [`ServerConfig::max_errors`].
    fn login(&mut self, login: &Login) -> Result<Vec<MessageInfo>, Refusal>;

    /// *Decision*: the client wants a message (RETR, or TOP: the machine cuts it after the
    /// lines asked for and stops reading). Return a reader over it, exactly as listed at
    /// login; or refuse. A reader that fails before its first octets is answered
    /// `-ERR [SYS/TEMP] message not readable`; one that fails later ends the session (the
    /// response cannot be completed).
    fn retrieve(&mut self, request: &Retrieve) -> Result<Self::Message, Refusal>;

    /// *Decision*: QUIT (RFC 1939 6): remove exactly these messages for good, then say so
    /// (`+OK bye`); or fail (`-ERR`, for example [`Refusal::not_removed`]). Called once per
    /// session that logged in and ended with QUIT, even with nothing to delete; never otherwise.
    ///
    /// The default removes nothing: it succeeds when nothing is marked deleted and otherwise
    /// answers `-ERR [SYS/PERM] some deleted messages not removed` (a read-only maildrop).
    fn commit(&mut self, deleted: &[UidListing<'static>]) -> Result<(), Refusal> {
        if deleted.is_empty() {
            Ok(())
        } else {
            Err(Refusal::new("[SYS/PERM] some deleted messages not removed"))
        }
    }

    /// The session is over: called exactly once per session, whichever way it ends (QUIT,
    /// the client going away, a timeout, the shutdown, an I/O error, a failed TLS handshake),
    /// with the error if it ended on one. Release the maildrop's lock here.
    ///
    /// It runs before the session's last words are written whenever the session ends without
    /// an I/O error (after [`commit`](Self::commit) and before `+OK bye` goes out, as RFC 1939
    /// 6 orders: a client that reconnects at once finds the maildrop unlocked; before the
    /// `-ERR` of a deadline, of too many errors or of the shutdown too), so that a client which
    /// stops reading cannot keep the maildrop locked while that write waits. After an I/O
    /// error it runs as the connection is dropped. If the thread panics it cannot run: keep a
    /// lock in a guard whose `Drop` releases it too. The default does nothing.
    fn closed(&mut self, error: Option<&ServerError>) {
        let _ = error;
    }

    /// *Decision*: SCRAM-SHA-256 (offered through [`ServerConfig::sasl_mechanisms`]) needs
    /// the stored secret of `username` (RFC 5802 section 3; make it with
    /// [`ScramSecret::derive`] when the password is set). `None`, the default, is an unknown
    /// user: the exchange goes on and fails at its end, as for a wrong password. A user that
    /// passes gets to [`login`](Self::login) with credentials that are already verified
    /// ([`Credentials::is_verified`](mail_wire::sasl::Credentials::is_verified)).
    fn scram_secret(&mut self, username: &str) -> Option<ScramSecret> {
        let _ = username;
        None
    }

    /// The APOP timestamp for this session (RFC 1939 7: unique per connection, for example
    /// `<process.counter.clock@host>`), or `None` (the default) not to offer APOP.
    ///
    /// [`serve`] calls it once per connection, before the greeting, and ignores any timestamp
    /// in its [`ServerConfig`]: the same timestamp on every connection would let a recorded
    /// APOP login be replayed.
    fn apop_timestamp(&mut self) -> Option<Timestamp<'static>> {
        None
    }
}

/// Serves POP3 on `listener` until [`ServeOptions::shutdown`] is triggered, one thread per
/// connection, with a maildrop handler made by `new_handler` for each connection (given the
/// peer's address; it runs in the accepting thread, the handler in the connection's).
///
/// Each connection runs [`run_session`] with `config` (STLS offered only when `options` has
/// TLS; implicit TLS as `options` says; the APOP timestamp from
/// [`Maildrop::apop_timestamp`]), the driver's limits of [`ServeOptions::io`] and
/// `TCP_NODELAY`. Over [`ServeOptions::max_sessions`] a connection is answered
/// `-ERR [SYS/TEMP] too many connections` and closed, and over its client's limits
/// ([`ServeOptions::client_limits`]: sessions at once and connections a minute per address)
/// `-ERR [SYS/TEMP] too many connections from your address, try again later`. On an implicit
/// TLS listener these refusals are said inside TLS (RFC 8314 3.1), all handshakes of refusals
/// run by one thread of the listener: the client has 5 seconds from its connection to
/// complete the handshake, then it reads the refusal and `close_notify`; only a client that
/// does not complete it in time, or that comes while 256 refusals are already under way on
/// the listener (a flood must not buy unbounded handshake work), or whose handshake the
/// shutdown interrupts, is closed without a word. Refusals hold no session thread. Once the
/// shutdown is triggered, no connection is accepted any more (within 100 ms), each session says
/// `-ERR server shutting down` at its next wait (within 250 ms) and closes (nothing
/// committed; a session still in its implicit TLS handshake ends without a word), and `serve`
/// returns when they are all over or after [`ServeOptions::grace`].
///
/// Errors only if the listener has no local address; failures to accept are waited out.
///
/// See [`Maildrop`] for a whole server.
pub fn serve<F, H>(
    listener: TcpListener,
    config: ServerConfig,
    options: ServeOptions,
    mut new_handler: F,
) -> io::Result<()>
where
    F: FnMut(SocketAddr) -> H,
    H: Maildrop + Send + 'static,
{
    listener.local_addr()?;
    let mut config = config;
    config.apop_timestamp = None;
    #[cfg(feature = "rustls")]
    let tls = options.tls.clone();
    #[cfg(feature = "rustls")]
    {
        config.stls = tls.is_some() && !options.implicit_tls;
    }
    #[cfg(not(feature = "rustls"))]
    {
        config.stls = false;
    }
    config.implicit_tls = options.implicit_tls;
    let io = options.io;
    let shutdown = options.shutdown.clone();
    let implicit = options.implicit_tls;
    // Inside TLS on an implicit TLS listener.
    let refusals = Refusals::new(TOO_MANY, CLIENT_TOO_MANY, &options);
    accept_loop(
        &listener,
        &options,
        "pop3-session",
        refusals,
        |stream, peer| {
            let mut handler = new_handler(peer);
            let mut config = config.clone();
            config.apop_timestamp = handler.apop_timestamp();
            let connection = Connection::new(Server::new(config), stream)
                .with_config(io)
                .with_shutdown(shutdown.clone());
            #[cfg(feature = "rustls")]
            let tls = tls.clone();
            move || {
                // The implicit TLS handshake is cut short by the shutdown (`Ok(None)`): the
                // session ends without a word.
                #[cfg(feature = "rustls")]
                let connection = match (tls, implicit) {
                    (Some(tls), true) => connection.accept_tls_unless_shut_down(tls),
                    (Some(tls), false) => Ok(Some(connection.with_tls_server(tls))),
                    (None, true) => Err(crate::Error::TlsUnavailable),
                    (None, false) => Ok(Some(connection)),
                };
                #[cfg(not(feature = "rustls"))]
                let connection = if implicit {
                    Err(crate::Error::TlsUnavailable)
                } else {
                    Ok(Some(connection))
                };
                // The handler hears how it ended; nobody else is waiting for the outcome.
                let _ = match connection {
                    Ok(Some(connection)) => run_session(connection, handler),
                    Ok(None) => {
                        handler.closed(None);
                        Ok(())
                    }
                    Err(error) => {
                        let error = ServerError::from(error);
                        handler.closed(Some(&error));
                        Err(error)
                    }
                };
            }
        },
    );
    Ok(())
}

/// Runs one POP3 session to its end over `connection` with `handler`, in the calling thread:
/// for a listener of your own (or a Unix socket). Set the connection up first (TLS, limits,
/// shutdown) and configure its machine to match ([`ServerConfig::stls`] only with
/// [`Connection::with_tls_server`], [`ServerConfig::implicit_tls`] after
/// [`Connection::accept_tls`]).
///
/// [`Maildrop::closed`] has run when this returns, with the error returned here if any.
///
/// ```
/// # use std::io::Cursor;
/// # use mail_io::blocking::pop3::{Login, Maildrop, MessageInfo, Refusal, Retrieve};
/// # struct Empty;
/// # impl Maildrop for Empty {
/// #     type Message = Cursor<Vec<u8>>;
/// #     fn login(&mut self, _: &Login) -> Result<Vec<MessageInfo>, Refusal> { Ok(Vec::new()) }
/// #     fn retrieve(&mut self, _: &Retrieve) -> Result<Self::Message, Refusal> {
/// #         Err(Refusal::new("no such message"))
/// #     }
/// # }
/// use std::io::{Read, Write};
/// use std::os::unix::net::UnixStream;
///
/// use mail_io::blocking::Connection;
/// use mail_io::blocking::pop3::{run_session, Server, ServerConfig};
///
/// let (ours, mut theirs) = UnixStream::pair()?;
/// let config = ServerConfig { plaintext_login: true, ..ServerConfig::default() };
/// let session = std::thread::spawn(move || {
///     run_session(Connection::new(Server::new(config), ours), Empty)
/// });
/// theirs.write_all(b"USER bob\r\nPASS pw\r\nSTAT\r\nQUIT\r\n")?;
/// let mut transcript = String::new();
/// theirs.read_to_string(&mut transcript)?;
/// session.join().expect("the session thread")?;
/// assert!(transcript.ends_with("+OK 0 0\r\n+OK bye\r\n"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn run_session<H, S>(connection: Connection<Server, S>, handler: H) -> Result<(), ServerError>
where
    H: Maildrop,
    S: Transport,
{
    let mut session = Session {
        connection,
        handler,
        ended: false,
    };
    let result = session.run();
    if !session.ended {
        session.handler.closed(result.as_ref().err());
    }
    result
}

/// TLS is up: the machine learns what it established (see
/// [`Connection::on_tls_established`]).
fn tls_up(server: &mut Server, identity: Option<String>, binding: Option<ChannelBinding>) {
    server.set_external_identity(identity);
    server.set_channel_binding(binding);
}

/// One session: the connection, the handler, and whether the handler heard of the end.
struct Session<H, S: Transport> {
    connection: Connection<Server, S>,
    handler: H,
    ended: bool,
}

impl<H: Maildrop, S: Transport> Session<H, S> {
    fn run(&mut self) -> Result<(), ServerError> {
        // Implicit TLS now, STLS as soon as its handshake completes (before the machine sees
        // the CAPA or AUTH that follows): the client certificate's identity, for SASL
        // EXTERNAL, and the channel binding data, for SCRAM-SHA-256-PLUS.
        self.connection.on_tls_established(tls_up);
        // The maildrop is released before the session's last words are written, however it
        // ends (QUIT, a deadline, too many errors, the shutdown): a client that does not read
        // cannot keep it locked while that write waits (RFC 1939 6).
        self.connection.announce_close();
        loop {
            let event = match self.connection.next_step()? {
                Step::Event(event) => event,
                Step::Closing => {
                    if !self.ended {
                        self.ended = true;
                        self.handler.closed(None);
                    }
                    continue;
                }
                Step::Closed => return Ok(()),
            };
            match event {
                Event::Login(login) => {
                    let answer = match self.handler.login(&login) {
                        Ok(listing) => Answer::Open(listing),
                        Err(refusal) => refusal.into_answer(),
                    };
                    self.answer(answer)?;
                }
                Event::Retrieve {
                    message,
                    uid,
                    size,
                    top,
                } => {
                    let request = Retrieve {
                        message,
                        uid,
                        size,
                        top,
                    };
                    self.retrieve(&request)?;
                }
                Event::Commit { deleted } => {
                    let answer = match self.handler.commit(&deleted) {
                        Ok(()) => Answer::Accept,
                        Err(refusal) => refusal.into_answer(),
                    };
                    self.answer(answer)?;
                }
                Event::LookupSecret { username, .. } => {
                    let secret = self.handler.scram_secret(&username);
                    self.connection.machine_mut().provide_secret(secret)?;
                }
                // The greeting, and any decision of a later version of the machine.
                event if event.is_decision() => self.answer(Answer::Accept)?,
                _ => {}
            }
        }
    }

    fn answer(&mut self, answer: Answer) -> Result<(), ServerError> {
        self.connection.machine_mut().answer(answer)?;
        Ok(())
    }

    /// Streams one message: a chunk at a time, written out whenever a chunk's worth waits.
    fn retrieve(&mut self, request: &Retrieve) -> Result<(), ServerError> {
        let mut message = match self.handler.retrieve(request) {
            Ok(message) => message,
            Err(refusal) => return self.answer(refusal.into_answer()),
        };
        // Allocated per message, freed after it: an idle session holds no chunk.
        let mut chunk = vec![0; chunk_size(request)];
        // The first read decides between `+OK` and `-ERR`.
        let mut read = match read_some(&mut message, &mut chunk) {
            Ok(read) => read,
            Err(_) => return self.answer(Refusal::temporary("message not readable").into_answer()),
        };
        self.answer(Answer::Accept)?;
        loop {
            let machine = self.connection.machine_mut();
            if read == 0 || !machine.wants_body() {
                machine.end_body()?;
                return Ok(());
            }
            machine.send_body(chunk.get(..read).unwrap_or_default())?;
            if machine.pending_output() >= BODY_CHUNK {
                self.connection.send()?;
                if self.connection.machine().is_closed() {
                    // The session's limit came mid-message: the close is announced next.
                    return Ok(());
                }
            }
            if !self.connection.machine().wants_body() {
                // A TOP has its lines: nothing more is read.
                read = 0;
                continue;
            }
            read = match read_some(&mut message, &mut chunk) {
                Ok(read) => read,
                Err(error) => {
                    // Half a message went out: it cannot be completed; end the session.
                    self.connection.machine_mut().shut_down();
                    let _ = self.connection.send();
                    return Err(ServerError::Message(error));
                }
            };
        }
    }
}
