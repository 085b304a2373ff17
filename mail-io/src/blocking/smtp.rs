//! SMTP and LMTP, blocking: a client that connects, secures, authenticates, sends and quits
//! (the twin of the tokio [`crate::smtp::Client`] where tokio is built).
//!
//! The machine is `smtp-proto`'s; a [`Connection`] runs it. For a blocking server, run
//! `smtp_proto::server::Server` over a [`Connection`] in a thread per connection (see its
//! example).

use std::io::{self, Read};
use std::net::TcpStream;

use smtp_proto::client::{Client as Machine, Event};
use smtp_proto::types::EhloResponse;

pub use mail_wire::sasl::{ClientMechanism, OAuthBearerClient, XOAuth2Client};
pub use smtp_proto::client::{Envelope, RecipientReport, Report};
pub use smtp_proto::types::Mailbox;

use super::connection::connect_tcp;
use super::{Connection, Transport};
pub use crate::smtp_client::ClientError;
use crate::smtp_client::{Settings, builder_setters};

/// How to reach the server; [`Client::connect`] starts one, [`connect`](Self::connect) runs
/// it.
pub struct ClientBuilder {
    settings: Settings,
}

builder_setters!(ClientBuilder);

impl ClientBuilder {
    /// Connects, runs the greeting, EHLO, STARTTLS and AUTH, and returns once the client is
    /// ready to send.
    pub fn connect(self) -> Result<Client, ClientError> {
        if let Some(error) = &self.settings.credentials_error {
            return Err(ClientError::Credentials(error.clone()));
        }
        let stream = connect_tcp(self.settings.address.as_str(), &self.settings.io)?;
        self.over(stream)
    }

    /// As [`connect`](Self::connect), over a transport connected already (the address given
    /// to [`Client::connect`] is not used).
    pub fn over<S: Transport>(self, transport: S) -> Result<Client<S>, ClientError> {
        if let Some(error) = self.settings.credentials_error {
            return Err(ClientError::Credentials(error));
        }
        let implicit = self.settings.config.implicit_tls;
        let machine = Machine::with_auth(self.settings.config, self.settings.mechanisms);
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
        };
        client.until_ready()?;
        Ok(client)
    }
}

/// An SMTP (or LMTP) session, ready to send messages one after the other.
///
/// ```no_run
/// use mail_io::blocking::smtp::{Client, Envelope, Mailbox};
/// use mail_io::TlsClient;
///
/// let mut client = Client::connect("mail.example.com:587")
///     .starttls(TlsClient::webpki("mail.example.com")?)
///     .credentials("alice", "secret")
///     .connect()?;
/// let envelope = Envelope::new(Mailbox::parse("alice@example.com")?)
///     .to(Mailbox::parse("bob@example.org")?);
/// let report = client.send(envelope, std::fs::File::open("message.eml")?)?;
/// assert!(report.is_delivered_to_all());
/// client.quit()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client<S: Transport = TcpStream> {
    connection: Connection<Machine, S>,
    ready: bool,
}

impl<S: Transport> std::fmt::Debug for Client<S> {
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
    /// then [`connect`](ClientBuilder::connect).
    pub fn connect(address: impl Into<String>) -> ClientBuilder {
        ClientBuilder {
            settings: Settings::new(address.into()),
        }
    }
}

impl<S: Transport> Client<S> {
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
    pub fn connection(&self) -> &Connection<Machine, S> {
        &self.connection
    }

    /// Sends one message: the envelope, then the body read from `body` to its end (a
    /// `&[u8]`, a file, any `Read`), dot-stuffed or chunked as the server allows. Returns the
    /// per-recipient report; a refused recipient is in the report, not an error.
    pub fn send(&mut self, envelope: Envelope, mut body: impl Read) -> Result<Report, ClientError> {
        if !self.ready {
            return Err(ClientError::Closed);
        }
        self.connection.machine_mut().send_message(envelope)?;
        self.ready = false;
        let mut report = None;
        let mut chunk = Vec::new();
        let mut ended = false;
        loop {
            let Some(event) = self.connection.next_event()? else {
                return Err(ClientError::Closed);
            };
            match event {
                Event::SendBody => {
                    while !ended && self.connection.machine().wants_body() {
                        chunk.resize(BODY_CHUNK, 0);
                        let n = read_some(&mut body, &mut chunk).map_err(ClientError::Body)?;
                        let machine = self.connection.machine_mut();
                        if n == 0 {
                            machine.end_body()?;
                            ended = true;
                        } else {
                            machine.send_body(chunk.get(..n).unwrap_or_default())?;
                        }
                        self.connection.send()?;
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
    pub fn quit(mut self) -> Result<(), ClientError> {
        if self.ready {
            self.connection.machine_mut().quit()?;
        }
        while let Some(event) = self.connection.next_event()? {
            if let Event::Error(error) = event {
                return Err(error.into());
            }
        }
        Ok(())
    }

    fn until_ready(&mut self) -> Result<(), ClientError> {
        loop {
            match self.connection.next_event()? {
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

/// One read, retried when interrupted.
pub(crate) fn read_some(source: &mut impl Read, buffer: &mut [u8]) -> io::Result<usize> {
    loop {
        match source.read(buffer) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            result => return result,
        }
    }
}
