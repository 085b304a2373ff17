//! The POP3 server over tokio: an accept loop and a maildrop trait.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use mail_wire::sasl::ChannelBinding;
use pop3_proto::server::{Answer, Event};
use pop3_proto::types::{Timestamp, UidListing};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, TcpStream};

pub use pop3_proto::server::{
    Login, MessageInfo, ScramSecret, ScramUnknownUsers, Server, ServerConfig, ServerMechanisms,
};

use crate::pop3_server::{BODY_CHUNK, CLIENT_TOO_MANY, TOO_MANY, chunk_size};
pub use crate::pop3_server::{Refusal, Retrieve, ServerError};

#[cfg(feature = "rustls")]
use crate::TlsServer;
use crate::accept::{Refusals, SessionPermit, accept_loop};
use crate::closing::Step;
use crate::{Connection, IoConfig, ServeOptions, Shutdown, Transport};

/// A maildrop as a POP3 session sees it: one async method per decision, called in the order of
/// the session, on a value of its own for each connection ([`serve`] makes one per connection).
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
/// A POP3 server over a maildrop in memory, shared by every session (the whole of
/// `examples/pop3_memory.rs`):
///
/// ```
/// use std::io::Cursor;
/// use std::sync::Arc;
///
/// use mail_io::ServeOptions;
/// use mail_io::pop3::{Login, Maildrop, MessageInfo, Refusal, Retrieve, ServerConfig, serve};
/// use mail_io::pop3::{UidListing, UniqueId};
/// use tokio::sync::Mutex;
///
/// /// The messages, in delivery order, shared by every session.
/// type Store = Arc<Mutex<Vec<(UniqueId<'static>, Vec<u8>)>>>;
///
/// /// One session: the store, and the messages as listed at login.
/// struct Memory {
///     store: Store,
///     listed: Vec<(UniqueId<'static>, Vec<u8>)>,
/// }
///
/// impl Maildrop for Memory {
///     type Message = Cursor<Vec<u8>>;
///
///     async fn login(&mut self, login: &Login) -> Result<Vec<MessageInfo>, Refusal> {
///         if login.username() != Some("alice") || !login.verify_secret(b"secret") {
///             return Err(Refusal::auth());
///         }
///         self.listed = self.store.lock().await.clone();
///         let info = |(uid, message): &(UniqueId<'static>, Vec<u8>)| MessageInfo {
///             size: message.len() as u64,
///             uid: uid.clone(),
///         };
///         Ok(self.listed.iter().map(info).collect())
///     }
///
///     async fn retrieve(&mut self, request: &Retrieve) -> Result<Self::Message, Refusal> {
///         let listed = self.listed.get(request.message.index());
///         let (_, message) = listed.ok_or(Refusal::new("no such message"))?;
///         Ok(Cursor::new(message.clone()))
///     }
///
///     async fn commit(&mut self, deleted: &[UidListing<'static>]) -> Result<(), Refusal> {
///         let mut store = self.store.lock().await;
///         store.retain(|(uid, _)| deleted.iter().all(|gone| gone.uid != *uid));
///         Ok(())
///     }
/// }
///
/// #[tokio::main]
/// async fn main() -> Result<(), Box<dyn std::error::Error>> {
///     let port = std::env::args().nth(1).unwrap_or_else(|| "1110".into());
/// #   let port = { let _ = port; String::from("0") };
///     let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse()?)).await?;
/// #   let address = listener.local_addr()?;
///     let hello = b"From: bob@example.org\r\nSubject: hello\r\n\r\nHi Alice.\r\n".to_vec();
///     let store = Arc::new(Mutex::new(vec![(UniqueId::new("m1")?, hello)]));
///     let config = ServerConfig {
///         plaintext_login: true,
///         ..ServerConfig::default()
///     };
///     let new_session = move |_peer| Memory {
///         store: store.clone(),
///         listed: Vec::new(),
///     };
///     let options = ServeOptions::new();
/// #   let shutdown = options.shutdown.clone();
/// #   let client = tokio::spawn(async move {
/// #       use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// #       let mut transcript = String::new();
/// #       let talk = async {
/// #           let mut client = tokio::net::TcpStream::connect(address).await?;
/// #           client.write_all(b"USER alice\r\nPASS secret\r\nRETR 1\r\nDELE 1\r\nQUIT\r\n").await?;
/// #           client.read_to_string(&mut transcript).await
/// #       };
/// #       let talked = talk.await;
/// #       shutdown.trigger();
/// #       talked.map(|_| transcript)
/// #   });
///     serve(listener, config, options, new_session).await;
/// #   let transcript = client.await??;
/// #   assert!(transcript.contains("+OK 52 octets\r\nFrom: bob@example.org\r\n"), "{transcript}");
/// #   assert!(transcript.ends_with("+OK message 1 deleted\r\n+OK bye\r\n"), "{transcript}");
///     Ok(())
/// }
/// ```
pub trait Maildrop: Send {
    /// A message's content, as [`retrieve`](Self::retrieve) hands it over: a file
    /// (`tokio::fs::File`), a `std::io::Cursor` over bytes in memory, any reader.
    type Message: AsyncRead + Unpin + Send;

    /// *Decision*: a client presents credentials (USER/PASS, APOP, SASL; the secret stays in
    /// [`Login`], check it with [`Login::verify_secret`]). Open the maildrop, locking it for
    /// this session if the store needs that, and list it, message 1 first; or refuse
    /// ([`Refusal::auth`], [`Refusal::in_use`], [`Refusal::temporary`]). A refused login counts
    /// towards [`ServerConfig::max_errors`].
    fn login(
        &mut self,
        login: &Login,
    ) -> impl Future<Output = Result<Vec<MessageInfo>, Refusal>> + Send;

    /// *Decision*: the client wants a message (RETR, or TOP: the machine cuts it after the
    /// lines asked for and stops reading). Return a reader over it, exactly as listed at
    /// login; or refuse. A reader that fails before its first octets is answered
    /// `-ERR [SYS/TEMP] message not readable`; one that fails later ends the session (the
    /// response cannot be completed).
    fn retrieve(
        &mut self,
        request: &Retrieve,
    ) -> impl Future<Output = Result<Self::Message, Refusal>> + Send;

    /// *Decision*: QUIT (RFC 1939 6): remove exactly these messages for good, then say so
    /// (`+OK bye`); or fail (`-ERR`, for example [`Refusal::not_removed`]). Called once per
    /// session that logged in and ended with QUIT, even with nothing to delete; never otherwise.
    ///
    /// The default removes nothing: it succeeds when nothing is marked deleted and otherwise
    /// answers `-ERR [SYS/PERM] some deleted messages not removed` (a read-only maildrop).
    fn commit(
        &mut self,
        deleted: &[UidListing<'static>],
    ) -> impl Future<Output = Result<(), Refusal>> + Send {
        let result = if deleted.is_empty() {
            Ok(())
        } else {
            Err(Refusal::new("[SYS/PERM] some deleted messages not removed"))
        };
        std::future::ready(result)
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
    /// error it runs as the connection is dropped. If the session's task is dropped midway
    /// (the runtime stops), it cannot run: keep a lock in a guard whose `Drop` releases it
    /// too. The default does nothing.
    fn closed(&mut self, error: Option<&ServerError>) -> impl Future<Output = ()> + Send {
        let _ = error;
        std::future::ready(())
    }

    /// *Decision*: SCRAM-SHA-256 (offered through [`ServerConfig::sasl_mechanisms`]) needs
    /// the stored secret of `username` (RFC 5802 section 3; make it with
    /// [`ScramSecret::derive`] when the password is set). `None`, the default, is an unknown
    /// user: the exchange goes on and fails at its end, as for a wrong password. A user that
    /// passes gets to [`login`](Self::login) with credentials that are already verified
    /// ([`Credentials::is_verified`](mail_wire::sasl::Credentials::is_verified)).
    fn scram_secret(
        &mut self,
        username: String,
    ) -> impl Future<Output = Option<ScramSecret>> + Send {
        let _ = username;
        std::future::ready(None)
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

/// Serves POP3 on `listener` until [`ServeOptions::shutdown`] is triggered, with a maildrop
/// handler made by `new_handler` for each connection (given the peer's address).
///
/// Each connection runs [`run_session`] in a task of its own, with `config` (STLS offered
/// only when `options` has TLS; implicit TLS as `options` says; the APOP timestamp from
/// [`Maildrop::apop_timestamp`], never the one in `config`), the driver's limits of [`ServeOptions::io`] and
/// `TCP_NODELAY`. Over [`ServeOptions::max_sessions`] a connection is answered
/// `-ERR [SYS/TEMP] too many connections` and closed, and over its client's limits
/// ([`ServeOptions::client_limits`]: sessions at once and connections a minute per address)
/// `-ERR [SYS/TEMP] too many connections from your address, try again later`. On an implicit
/// TLS listener these refusals are said inside TLS (RFC 8314 3.1): the client has 5 seconds
/// from its connection to complete the handshake, then it reads the refusal and
/// `close_notify`; only a client that does not complete it in time, or that comes while 256
/// refusals are already under way on the listener (a flood must not buy unbounded handshake
/// work), or whose handshake the shutdown interrupts, is closed without a word. Refusals hold
/// no session slot. Once the shutdown is triggered, no connection is accepted any more, each
/// session says `-ERR server shutting down` at its next wait and closes (nothing committed; a session still in its implicit TLS
/// handshake ends at once, without a word), and `serve` returns when they are all over or
/// after [`ServeOptions::grace`].
///
/// See [`Maildrop`] for a whole server.
pub async fn serve<F, H>(
    listener: TcpListener,
    mut config: ServerConfig,
    options: ServeOptions,
    mut new_handler: F,
) where
    F: FnMut(SocketAddr) -> H,
    H: Maildrop + 'static,
{
    #[cfg(feature = "rustls")]
    let has_tls = options.tls.is_some();
    #[cfg(not(feature = "rustls"))]
    let has_tls = false;
    config.stls = has_tls && !options.implicit_tls;
    config.implicit_tls = options.implicit_tls;
    // Inside TLS on an implicit TLS listener.
    let refusals = Refusals::new(TOO_MANY, CLIENT_TOO_MANY, &options);
    let listening = Arc::new(Listening {
        config,
        io: options.io,
        shutdown: options.shutdown.clone(),
        #[cfg(feature = "rustls")]
        tls: options.tls.clone(),
    });
    accept_loop(listener, &options, refusals, |stream, peer, permit| {
        session(permit, listening.clone(), stream, new_handler(peer))
    })
    .await;
}

/// One session of [`serve`], in its task. The connection and the handler are held once, where
/// the task captured them, and lent to the handshake and the session loop: an `async fn` would
/// hold its arguments twice (the argument and its binding), and moving them into each step
/// would hold them again there, over 1 KiB each time for as long as the session lasts, idle or
/// not.
#[allow(clippy::manual_async_fn)]
fn session<H: Maildrop>(
    permit: SessionPermit,
    listening: Arc<Listening>,
    stream: TcpStream,
    mut handler: H,
) -> impl Future<Output = ()> {
    async move {
        // In the task, not on the accept loop: a slow or panicking `apop_timestamp` holds up
        // or ends this session only.
        // (In a block of its own: nothing built on the way is kept in the task.)
        let mut connection = {
            let mut config = listening.config.clone();
            config.apop_timestamp = handler.apop_timestamp();
            Connection::new(Server::new(config), stream)
                .with_config(listening.io)
                .with_shutdown(listening.shutdown.clone())
        };
        match listening.secure(&mut connection).await {
            Ok(()) => {
                let shutdown = Some(listening.shutdown.clone());
                // The handler heard how it ended; nobody else is waiting for the outcome.
                let _ = Session::new(&mut connection, &mut handler, shutdown)
                    .finish()
                    .await;
            }
            // The shutdown came during the implicit TLS handshake: no word can be said.
            Err(None) => handler.closed(None).await,
            Err(Some(error)) => handler.closed(Some(&error.into())).await,
        }
        drop(connection);
        drop(handler);
        // The slot is free once the handler has had its last word, the connection is closed
        // and what the handler held (a maildrop lock's guard) is let go.
        drop(permit);
    }
}

/// What every connection of one [`serve`] shares.
struct Listening {
    config: ServerConfig,
    io: IoConfig,
    shutdown: Shutdown,
    #[cfg(feature = "rustls")]
    tls: Option<TlsServer>,
}

impl Listening {
    /// TLS as the listener has it: offered for STLS, or started at once (implicit TLS; cut
    /// short by the shutdown, which ends the session without a word: `Err(None)`).
    #[cfg(feature = "rustls")]
    async fn secure(
        &self,
        connection: &mut Connection<Server>,
    ) -> Result<(), Option<crate::Error>> {
        match (&self.tls, self.config.implicit_tls) {
            (Some(tls), true) => tokio::select! {
                secured = connection.accept_tls_in_place(tls.clone()) => secured.map_err(Some),
                () = self.shutdown.triggered() => Err(None),
            },
            (Some(tls), false) => {
                connection.set_tls_server(tls.clone());
                Ok(())
            }
            (None, true) => Err(Some(crate::Error::TlsUnavailable)),
            (None, false) => Ok(()),
        }
    }

    #[cfg(not(feature = "rustls"))]
    async fn secure(
        &self,
        connection: &mut Connection<Server>,
    ) -> Result<(), Option<crate::Error>> {
        let _ = connection;
        if self.config.implicit_tls {
            return Err(Some(crate::Error::TlsUnavailable));
        }
        Ok(())
    }
}

/// Runs one POP3 session to its end over `connection` with `handler`: for a listener of your
/// own (or a Unix socket, or an in-memory pipe). Set the connection up first (TLS, limits,
/// shutdown) and configure its machine to match ([`ServerConfig::stls`] only with
/// [`Connection::with_tls_server`], [`ServerConfig::implicit_tls`] after
/// [`Connection::accept_tls`]).
///
/// [`Maildrop::closed`] has run when this returns, with the error returned here if any.
///
/// ```
/// # use std::io::Cursor;
/// # use mail_io::pop3::{Login, Maildrop, MessageInfo, Refusal, Retrieve};
/// # struct Empty;
/// # impl Maildrop for Empty {
/// #     type Message = Cursor<Vec<u8>>;
/// #     async fn login(&mut self, _: &Login) -> Result<Vec<MessageInfo>, Refusal> { Ok(Vec::new()) }
/// #     async fn retrieve(&mut self, _: &Retrieve) -> Result<Self::Message, Refusal> {
/// #         Err(Refusal::new("no such message"))
/// #     }
/// # }
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use mail_io::Connection;
/// use mail_io::pop3::{run_session, Server, ServerConfig};
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
///
/// let (ours, mut theirs) = tokio::io::duplex(4096);
/// let config = ServerConfig { plaintext_login: true, ..ServerConfig::default() };
/// let session = tokio::spawn(run_session(Connection::new(Server::new(config), ours), Empty));
/// theirs.write_all(b"USER bob\r\nPASS pw\r\nSTAT\r\nQUIT\r\n").await?;
/// let mut transcript = String::new();
/// theirs.read_to_string(&mut transcript).await?;
/// session.await??;
/// assert!(transcript.ends_with("+OK 0 0\r\n+OK bye\r\n"));
/// # Ok(())
/// # }
/// ```
#[allow(clippy::manual_async_fn)]
pub fn run_session<H, T>(
    mut connection: Connection<Server, T>,
    mut handler: H,
) -> impl Future<Output = Result<(), ServerError>>
where
    H: Maildrop,
    T: Transport,
{
    // Not an `async fn`: that would hold the connection twice (see `session`).
    async move {
        Session::new(&mut connection, &mut handler, None)
            .finish()
            .await
    }
}

/// TLS is up: the machine learns what it established (see
/// [`Connection::on_tls_established`]).
fn tls_up(server: &mut Server, identity: Option<String>, binding: Option<ChannelBinding>) {
    server.set_external_identity(identity);
    server.set_channel_binding(binding);
}

/// One session: the connection and the handler (lent by whoever holds them), and whether the
/// handler heard of the end.
struct Session<'a, H, T: Transport> {
    connection: &'a mut Connection<Server, T>,
    handler: &'a mut H,
    ended: bool,
    /// The server's shutdown, watched here too so that the maildrop is released before the
    /// session's `-ERR` goes out (`None` once seen, or when the caller has its own).
    shutdown: Option<Shutdown>,
}

impl<'a, H: Maildrop, T: Transport> Session<'a, H, T> {
    fn new(
        connection: &'a mut Connection<Server, T>,
        handler: &'a mut H,
        shutdown: Option<Shutdown>,
    ) -> Self {
        Self {
            connection,
            handler,
            ended: false,
            shutdown,
        }
    }

    /// Runs the session to its end; [`Maildrop::closed`] has run when this returns.
    async fn finish(mut self) -> Result<(), ServerError> {
        let result = self.run().await;
        if !self.ended {
            self.handler.closed(result.as_ref().err()).await;
        }
        result
    }

    /// The next event. Once the shutdown is triggered, the maildrop is released first, then
    /// the machine says `-ERR` and closes (RFC 1939 6 has the lock released before the
    /// session's last words, as at QUIT). `next_event` is cancel-safe: a wait cut short by
    /// the shutdown loses nothing.
    ///
    /// Whichever way the session ends (QUIT, a deadline, too many errors, the client going
    /// away), the connection announces the close before the machine's last words are written
    /// ([`Connection::announce_close`]): the maildrop is released then, so that a client which
    /// does not read cannot keep it locked for the write timeout.
    async fn next_event(&mut self) -> Result<Option<Event>, crate::Error> {
        loop {
            let step = match self.shutdown.clone() {
                Some(shutdown) => tokio::select! {
                    biased;
                    () = shutdown.triggered() => {
                        self.shutdown = None;
                        self.end().await;
                        self.connection.machine_mut().shut_down();
                        continue;
                    }
                    step = self.connection.next_step() => step?,
                },
                None => self.connection.next_step().await?,
            };
            match step {
                Step::Event(event) => return Ok(Some(event)),
                Step::Closing => self.end().await,
                Step::Closed => return Ok(None),
            }
        }
    }

    /// Tells the handler the session is over, once.
    async fn end(&mut self) {
        if !self.ended {
            self.ended = true;
            self.handler.closed(None).await;
        }
    }

    async fn run(&mut self) -> Result<(), ServerError> {
        // Implicit TLS now, STLS as soon as its handshake completes (before the machine sees
        // the CAPA or AUTH that follows): the client certificate's identity, for SASL
        // EXTERNAL, and the channel binding data, for SCRAM-SHA-256-PLUS.
        self.connection.on_tls_established(tls_up);
        self.connection.announce_close();
        while let Some(event) = self.next_event().await? {
            match event {
                Event::Login(login) => {
                    let answer = match self.handler.login(&login).await {
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
                    self.retrieve(&request).await?;
                }
                Event::Commit { deleted } => {
                    let answer = match self.handler.commit(&deleted).await {
                        Ok(()) => Answer::Accept,
                        Err(refusal) => refusal.into_answer(),
                    };
                    self.answer(answer)?;
                }
                Event::LookupSecret { username, .. } => {
                    let secret = self.handler.scram_secret(username).await;
                    self.connection.machine_mut().provide_secret(secret)?;
                }
                // The greeting, and any decision of a later version of the machine.
                event if event.is_decision() => self.answer(Answer::Accept)?,
                _ => {}
            }
        }
        Ok(())
    }

    fn answer(&mut self, answer: Answer) -> Result<(), ServerError> {
        self.connection.machine_mut().answer(answer)?;
        Ok(())
    }

    /// Streams one message: a chunk at a time, written out whenever a chunk's worth waits.
    async fn retrieve(&mut self, request: &Retrieve) -> Result<(), ServerError> {
        let mut message = match self.handler.retrieve(request).await {
            Ok(message) => message,
            Err(refusal) => return self.answer(refusal.into_answer()),
        };
        // Allocated per message, freed after it: an idle session holds no chunk.
        let mut chunk = vec![0; chunk_size(request)];
        // The first read decides between `+OK` and `-ERR`.
        let mut read = match message.read(&mut chunk).await {
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
                self.connection.send().await?;
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
            read = match message.read(&mut chunk).await {
                Ok(read) => read,
                Err(error) => {
                    // Half a message went out: it cannot be completed; end the session.
                    self.connection.machine_mut().shut_down();
                    let _ = self.connection.send().await;
                    return Err(ServerError::Message(error));
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_support::{Empty, size_of_return};

    /// An idle connection's memory is mostly its task: the connection in it once, with the
    /// session loop's state beside it (not a second copy moved into the handshake, the session
    /// or the loop).
    #[test]
    #[allow(unreachable_code, clippy::diverging_sub_expression)]
    fn a_session_task_holds_its_connection_once() {
        let connection = std::mem::size_of::<Connection<Server, TcpStream>>();
        let session_loop = size_of_return(|| Session::<Empty, TcpStream>::run(todo!()));
        let task = size_of_return(|| session::<Empty>(todo!(), todo!(), todo!(), todo!()));
        assert!(
            task <= connection + session_loop + 256,
            "a session task of {task} octets: connection {connection}, loop {session_loop}"
        );
        let run = size_of_return(|| run_session::<Empty, TcpStream>(todo!(), todo!()));
        assert!(
            run <= connection + session_loop + 256,
            "run_session's future of {run} octets: connection {connection}, loop {session_loop}"
        );
    }
}
