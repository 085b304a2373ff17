//! What the SMTP clients, tokio and blocking, share: the error of a call, and the settings of
//! the builder with its setters (`mail_io::smtp::ClientError` and
//! `mail_io::blocking::smtp::ClientError` are the same type).

use mail_wire::sasl::{ClientMechanism, LoginClient, PlainClient};
use smtp_proto::client::{ApiError, ClientConfig, SendError, TlsPolicy};
use smtp_proto::types::Host;

use crate::IoConfig;
#[cfg(feature = "rustls")]
use crate::TlsClient;

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
    /// Reading the message body from its source failed. The message was cut off: the session
    /// cannot go on, and later calls return [`Interrupted`](Self::Interrupted) (the tokio
    /// client) or [`Closed`](Self::Closed) (the blocking one).
    #[error("reading the message: {0}")]
    Body(#[source] std::io::Error),
    /// The tokio client only: a message was cut off before its end, and the session cannot go
    /// on: the call sending it was cancelled (its future dropped, by a timeout say), its
    /// `MessageWriter` was dropped before `finish`, a write or `finish` failed outside the
    /// session (an API misuse), or its body failed to read. The server may still be waiting
    /// for the rest of the body, and replies may still be on their way: none can be matched
    /// to a command any more. Nothing more is sent; `Client::quit` drops the connection
    /// without QUIT (the server then discards a message whose end it did not see; a message
    /// whose end went out before the cut may have been delivered). Connect again to go on.
    #[error("a message was cut off before its end: the session cannot go on")]
    Interrupted,
}

impl From<ApiError> for ClientError {
    fn from(error: ApiError) -> Self {
        Self::Io(crate::Error::api(error))
    }
}

/// What a client builder holds: where to connect and how, set by the setters of
/// [`builder_setters`].
pub(crate) struct Settings {
    pub(crate) address: String,
    pub(crate) config: ClientConfig,
    pub(crate) io: IoConfig,
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<TlsClient>,
    pub(crate) mechanisms: Vec<Box<dyn ClientMechanism + Send>>,
    pub(crate) credentials_error: Option<String>,
}

impl Settings {
    /// To `address`, no TLS, the defaults otherwise.
    pub(crate) fn new(address: String) -> Self {
        Self {
            address,
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

    /// The builder's `Debug`, under its name.
    pub(crate) fn debug(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("address", &self.address)
            .field("config", &self.config)
            .field("mechanisms", &self.mechanisms.len())
            .finish_non_exhaustive()
    }

    /// TLS, its policy and implicit or not.
    #[cfg(feature = "rustls")]
    pub(crate) fn tls(&mut self, tls: TlsClient, policy: TlsPolicy, implicit: bool) {
        self.config.tls = policy;
        self.config.implicit_tls = implicit;
        self.tls = Some(tls);
    }

    /// No TLS at all.
    pub(crate) fn plaintext(&mut self) {
        self.config.tls = TlsPolicy::Never;
        self.config.implicit_tls = false;
        #[cfg(feature = "rustls")]
        {
            self.tls = None;
        }
    }

    /// AUTH PLAIN, then LOGIN, with these credentials.
    pub(crate) fn credentials(&mut self, user: &str, password: &str) {
        match PlainClient::new(None, user, password.to_string()) {
            Ok(plain) => {
                self.mechanisms.push(Box::new(plain));
                self.mechanisms
                    .push(Box::new(LoginClient::new(user, password.to_string())));
            }
            Err(error) => self.credentials_error = Some(error.to_string()),
        }
    }

    /// The name to greet with.
    pub(crate) fn hello(&mut self, name: Host<'static>) {
        self.config.hostname = name;
    }
}

/// The setters of a client builder (a struct with a `settings: Settings` field) and its
/// `Debug`, written once for the tokio and the blocking builder.
macro_rules! builder_setters {
    ($builder:ident) => {
        impl ::std::fmt::Debug for $builder {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.settings.debug(f)
            }
        }

        impl $builder {
            /// STARTTLS, required (RFC 3207): the session ends before anything is sent if the
            /// server does not offer it or refuses it.
            #[cfg(feature = "rustls")]
            pub fn starttls(mut self, tls: $crate::TlsClient) -> Self {
                let policy = ::smtp_proto::client::TlsPolicy::Required;
                self.settings.tls(tls, policy, false);
                self
            }

            /// STARTTLS when the server offers it, plaintext otherwise (relaying between MXs).
            #[cfg(feature = "rustls")]
            pub fn opportunistic_tls(mut self, tls: $crate::TlsClient) -> Self {
                let policy = ::smtp_proto::client::TlsPolicy::Opportunistic;
                self.settings.tls(tls, policy, false);
                self
            }

            /// TLS from the first octet (port 465, RFC 8314).
            #[cfg(feature = "rustls")]
            pub fn implicit_tls(mut self, tls: $crate::TlsClient) -> Self {
                let policy = ::smtp_proto::client::TlsPolicy::Never;
                self.settings.tls(tls, policy, true);
                self
            }

            /// No TLS at all (loopback, tests). Credentials are then refused unless
            /// [`allow_plaintext_auth`](Self::allow_plaintext_auth) is set.
            pub fn plaintext(mut self) -> Self {
                self.settings.plaintext();
                self
            }

            /// Authenticates with a user name and password (AUTH PLAIN, or LOGIN where the
            /// server offers only that), never over plaintext unless allowed.
            pub fn credentials(mut self, user: &str, password: &str) -> Self {
                self.settings.credentials(user, password);
                self
            }

            /// Authenticates with this SASL mechanism (in order of preference, with the
            /// others).
            pub fn mechanism(
                mut self,
                mechanism: Box<dyn ::mail_wire::sasl::ClientMechanism + Send>,
            ) -> Self {
                self.settings.mechanisms.push(mechanism);
                self
            }

            /// Lets credentials travel without TLS.
            pub fn allow_plaintext_auth(mut self) -> Self {
                self.settings.config.allow_plaintext_auth = true;
                self
            }

            /// The name to greet with (EHLO / LHLO); `localhost` unless set.
            pub fn hello(mut self, name: ::smtp_proto::types::Host<'static>) -> Self {
                self.settings.hello(name);
                self
            }

            /// Speak LMTP (RFC 2033): LHLO, one result per recipient.
            pub fn lmtp(mut self) -> Self {
                self.settings.config.lmtp = true;
                self
            }

            /// Every setting of the machine at once (TLS policy included).
            pub fn config(mut self, config: ::smtp_proto::client::ClientConfig) -> Self {
                self.settings.config = config;
                self
            }

            /// The driver's limits (connect, handshake and write timeouts, buffers).
            pub fn io(mut self, io: $crate::IoConfig) -> Self {
                self.settings.io = io;
                self
            }
        }
    };
}
pub(crate) use builder_setters;
