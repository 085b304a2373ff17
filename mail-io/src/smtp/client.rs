//! The SMTP / LMTP client over tokio: connect, secure, authenticate, send, quit.

use std::future::{Future, IntoFuture};
use std::pin::Pin;

use mail_wire::sasl::{ClientMechanism, LoginClient, PlainClient};
use smtp_proto::client::{
    ApiError, Client as Machine, ClientConfig, Envelope, Event, Report, SendError, TlsPolicy,
};
use smtp_proto::types::{EhloResponse, Host};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::TcpStream;

#[cfg(feature = "rustls")]
use crate::TlsClient;
use crate::connection::connect_tcp;
use crate::{Connection, IoConfig, Transport};

/// Why an SMTP client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The connection failed at the I/O edge (connect, TLS, timeouts, resets).
    #[error(transparent)]
    Io(#[from] crate::Error),
    /// The session failed: the server refused it, broke the protocol, timed out, closed...
    #[error(transparent)]
    Session(#[from] smtp_proto::client::Error),
    /// The message was not sent: the server cannot take it as it is (nothing was sent).
    #[error(transparent)]
    Send(#[from] SendError),
    /// The session is over (after an earlier failure, or after QUIT).
    #[error("the session is closed")]
    Closed,
    /// Credentials could not be encoded (a user name or password too long, say).
    #[error("credentials: {0}")]
    Credentials(String),
    /// Reading the message body from its source failed.
    #[error("reading the message: {0}")]
    Body(#[source] std::io::Error),
}

impl From<ApiError> for ClientError {
    fn from(error: ApiError) -> Self {
        Self::Io(crate::Error::api(error))
    }
}

/// How to reach the server; [`Client::connect`] starts one, `.await` (or
/// [`connect`](Self::connect)) runs it.
pub struct ClientBuilder {
    address: String,
    config: ClientConfig,
    io: IoConfig,
    #[cfg(feature = "rustls")]
    tls: Option<TlsClient>,
    mechanisms: Vec<Box<dyn ClientMechanism + Send>>,
    credentials_error: Option<String>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("address", &self.address)
            .field("config", &self.config)
            .field("mechanisms", &self.mechanisms.len())
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// STARTTLS, required (RFC 3207): the session ends before anything is sent if the server
    /// does not offer it or refuses it.
    #[cfg(feature = "rustls")]
    pub fn starttls(mut self, tls: TlsClient) -> Self {
        self.config.tls = TlsPolicy::Required;
        self.config.implicit_tls = false;
        self.tls = Some(tls);
        self
    }

    /// STARTTLS when the server offers it, plaintext otherwise (relaying between MXs).
    #[cfg(feature = "rustls")]
    pub fn opportunistic_tls(mut self, tls: TlsClient) -> Self {
        self.config.tls = TlsPolicy::Opportunistic;
        self.config.implicit_tls = false;
        self.tls = Some(tls);
        self
    }

    /// TLS from the first octet (port 465, RFC 8314).
    #[cfg(feature = "rustls")]
    pub fn implicit_tls(mut self, tls: TlsClient) -> Self {
        self.config.tls = TlsPolicy::Never;
        self.config.implicit_tls = true;
        self.tls = Some(tls);
        self
    }

    /// No TLS at all (loopback, tests). Credentials are then refused unless
    /// [`allow_plaintext_auth`](Self::allow_plaintext_auth) is set.
    pub fn plaintext(mut self) -> Self {
        self.config.tls = TlsPolicy::Never;
        self.config.implicit_tls = false;
        #[cfg(feature = "rustls")]
        {
            self.tls = None;
        }
        self
    }

    /// Authenticates with a user name and password (AUTH PLAIN, or LOGIN where the server
    /// offers only that), never over plaintext unless allowed.
    pub fn credentials(mut self, user: &str, password: &str) -> Self {
        match PlainClient::new(None, user, password.to_string()) {
            Ok(plain) => {
                self.mechanisms.push(Box::new(plain));
                self.mechanisms
                    .push(Box::new(LoginClient::new(user, password.to_string())));
            }
            Err(error) => self.credentials_error = Some(error.to_string()),
        }
        self
    }

    /// Authenticates with this SASL mechanism (in order of preference, with the others).
    pub fn mechanism(mut self, mechanism: Box<dyn ClientMechanism + Send>) -> Self {
        self.mechanisms.push(mechanism);
        self
    }

    /// Lets credentials travel without TLS.
    pub fn allow_plaintext_auth(mut self) -> Self {
        self.config.allow_plaintext_auth = true;
        self
    }

    /// The name to greet with (EHLO / LHLO); `localhost` unless set.
    pub fn hello(mut self, name: Host<'static>) -> Self {
        self.config.hostname = name;
        self
    }

    /// Speak LMTP (RFC 2033): LHLO, one result per recipient.
    pub fn lmtp(mut self) -> Self {
        self.config.lmtp = true;
        self
    }

    /// Every setting of the machine at once (TLS policy included).
    pub fn config(mut self, config: ClientConfig) -> Self {
        self.config = config;
        self
    }

    /// The driver's limits (connect, handshake and write timeouts, buffers).
    pub fn io(mut self, io: IoConfig) -> Self {
        self.io = io;
        self
    }

    /// Connects, runs the greeting, EHLO, STARTTLS and AUTH, and returns once the client is
    /// ready to send.
    pub async fn connect(self) -> Result<Client, ClientError> {
        let stream = connect_tcp(self.address.as_str(), &self.io).await?;
        self.over(stream).await
    }

    /// As [`connect`](Self::connect), over a transport connected already.
    pub async fn over<T: Transport>(self, transport: T) -> Result<Client<T>, ClientError> {
        if let Some(error) = self.credentials_error {
            return Err(ClientError::Credentials(error));
        }
        let implicit = self.config.implicit_tls;
        let machine = Machine::with_auth(self.config, self.mechanisms);
        let mut connection = Connection::new(machine, transport).with_config(self.io);
        #[cfg(feature = "rustls")]
        if let Some(tls) = self.tls {
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
    ready: bool,
}

impl<T: Transport> std::fmt::Debug for Client<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("connection", &self.connection)
            .field("ready", &self.ready)
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
            address: address.into(),
            config: ClientConfig {
                tls: TlsPolicy::Never,
                ..ClientConfig::default()
            },
            io: IoConfig::default(),
            #[cfg(feature = "rustls")]
            tls: None,
            mechanisms: Vec::new(),
            credentials_error: None,
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

    /// Sends one message: the envelope, then the body read from `body` to its end (a
    /// `&[u8]`, a file, any `AsyncRead`), dot-stuffed or chunked as the server allows. Returns
    /// the per-recipient report; a refused recipient is in the report, not an error.
    pub async fn send(
        &mut self,
        envelope: Envelope,
        mut body: impl AsyncRead + Unpin,
    ) -> Result<Report, ClientError> {
        if !self.ready {
            return Err(ClientError::Closed);
        }
        self.connection.machine_mut().send_message(envelope)?;
        self.ready = false;
        let mut report = None;
        let mut chunk = Vec::new();
        let mut ended = false;
        loop {
            let Some(event) = self.connection.next_event().await? else {
                return Err(ClientError::Closed);
            };
            match event {
                Event::SendBody => {
                    while !ended && self.connection.machine().wants_body() {
                        chunk.resize(BODY_CHUNK, 0);
                        let n = body.read(&mut chunk).await.map_err(ClientError::Body)?;
                        let machine = self.connection.machine_mut();
                        if n == 0 {
                            machine.end_body()?;
                            ended = true;
                        } else {
                            machine.send_body(chunk.get(..n).unwrap_or_default())?;
                        }
                        self.connection.send().await?;
                    }
                }
                Event::Sent(sent) => report = Some(sent),
                Event::Ready => {
                    self.ready = true;
                    return report.ok_or(ClientError::Closed);
                }
                Event::Error(error) => return Err(error.into()),
                _ => {}
            }
        }
    }

    /// Ends the session politely (QUIT) and closes the connection.
    pub async fn quit(mut self) -> Result<(), ClientError> {
        if self.ready {
            self.connection.machine_mut().quit()?;
        }
        while let Some(event) = self.connection.next_event().await? {
            if let Event::Error(error) = event {
                return Err(error.into());
            }
        }
        Ok(())
    }

    async fn until_ready(&mut self) -> Result<(), ClientError> {
        loop {
            match self.connection.next_event().await? {
                Some(Event::Ready) => {
                    self.ready = true;
                    return Ok(());
                }
                Some(Event::Error(error)) => return Err(error.into()),
                Some(_) => {}
                None => return Err(ClientError::Closed),
            }
        }
    }
}
