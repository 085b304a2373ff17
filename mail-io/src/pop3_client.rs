//! What the POP3 clients, tokio and blocking, share: the error of a call, and the settings of
//! the builder with its setters (`mail_io::pop3::ClientError` and
//! `mail_io::blocking::pop3::ClientError` are the same type).

use std::io;

use pop3_proto::client::{ApiError, ClientConfig, Credentials, Request, TlsPolicy};
use pop3_proto::types::Response;

use crate::IoConfig;
#[cfg(feature = "rustls")]
use crate::TlsClient;

/// Why a POP3 client call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The connection failed at the I/O edge (connect, TLS, timeouts, resets).
    #[error(transparent)]
    Io(#[from] crate::Error),
    /// The session failed: the server refused the login, broke the protocol, timed out,
    /// closed the connection...
    #[error(transparent)]
    Session(#[from] pop3_proto::client::Error),
    /// The server refused this command (`-ERR`): no such message, a message already deleted...
    /// The session goes on.
    #[error("the server refused {request:?}: -ERR {}", .response.text())]
    Refused {
        /// What was asked.
        request: Request,
        /// The server's response, with its response code if any (RFC 2449 8).
        response: Response<'static>,
    },
    /// The session is over (after an earlier failure, or after QUIT).
    #[error("the session is closed")]
    Closed,
    /// Credentials could not be used (a user name with a space, an empty password, none
    /// given...).
    #[error("credentials: {0}")]
    Credentials(String),
}

impl ClientError {
    /// Whether the server refused the command and the session goes on
    /// ([`Refused`](Self::Refused)).
    pub fn is_refused(&self) -> bool {
        matches!(self, Self::Refused { .. })
    }
}

impl From<ApiError> for ClientError {
    fn from(error: ApiError) -> Self {
        Self::Io(crate::Error::api(error))
    }
}

impl From<ClientError> for io::Error {
    fn from(error: ClientError) -> Self {
        match error {
            ClientError::Io(crate::Error::Io(error)) => error,
            error => io::Error::other(error),
        }
    }
}

/// What a POP3 client builder holds: where to connect, how, and how to log in, set by the
/// setters of [`pop3_builder_setters`].
pub(crate) struct Settings {
    pub(crate) address: String,
    pub(crate) config: ClientConfig,
    pub(crate) io: IoConfig,
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<TlsClient>,
    pub(crate) credentials: Option<Credentials>,
    pub(crate) credentials_error: Option<String>,
}

impl Settings {
    /// To `address`, no TLS, no login method yet, the defaults otherwise.
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
            credentials: None,
            credentials_error: None,
        }
    }

    /// The builder's `Debug`, under its name.
    pub(crate) fn debug(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("address", &self.address)
            .field("config", &self.config)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }

    /// Whether a usable login method is set (checked before connecting).
    pub(crate) fn check(&self) -> Result<(), ClientError> {
        if let Some(error) = &self.credentials_error {
            return Err(ClientError::Credentials(error.clone()));
        }
        if self.credentials.is_none() {
            return Err(ClientError::Credentials("no login method set".into()));
        }
        Ok(())
    }

    /// The login method, taken for the machine.
    pub(crate) fn take_credentials(&mut self) -> Result<Credentials, ClientError> {
        self.check()?;
        self.credentials
            .take()
            .ok_or_else(|| ClientError::Credentials("no login method set".into()))
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

    /// `USER`/`PASS` (`apop: false`) or `APOP` (`apop: true`) for `user`.
    pub(crate) fn user(&mut self, user: &str, secret: &str, apop: bool) {
        match pop3_proto::types::Username::new(user) {
            Ok(name) => {
                let name = name.into_owned();
                self.credentials = Some(if apop {
                    Credentials::Apop {
                        name,
                        secret: secret.into(),
                    }
                } else {
                    Credentials::User {
                        name,
                        password: secret.into(),
                    }
                });
            }
            Err(error) => self.credentials_error = Some(format!("user name: {error}")),
        }
    }

    /// AUTH PLAIN, then LOGIN, with these credentials.
    pub(crate) fn auth_plain(&mut self, user: &str, password: &str) {
        match mail_wire::sasl::PlainClient::new(None, user, password) {
            Ok(plain) => {
                self.sasl(Box::new(plain));
                self.sasl(Box::new(mail_wire::sasl::LoginClient::new(user, password)));
            }
            Err(error) => self.credentials_error = Some(error.to_string()),
        }
    }

    /// One more SASL mechanism; replaces `USER`/`PASS` or `APOP`.
    pub(crate) fn sasl(&mut self, mechanism: Box<dyn mail_wire::sasl::ClientMechanism + Send>) {
        match &mut self.credentials {
            Some(Credentials::Sasl(mechanisms)) => mechanisms.push(mechanism),
            _ => self.credentials = Some(Credentials::Sasl(vec![mechanism])),
        }
    }
}

/// The setters of a POP3 client builder (a struct with a `settings: Settings` field) and its
/// `Debug`, written once for the tokio and the blocking builder.
macro_rules! pop3_builder_setters {
    ($builder:ident) => {
        impl ::std::fmt::Debug for $builder {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.settings.debug(f)
            }
        }

        impl $builder {
            /// STLS, required (RFC 2595 4): the session ends before any credential is sent if
            /// the server does not offer it or refuses it.
            #[cfg(feature = "rustls")]
            pub fn stls(mut self, tls: $crate::TlsClient) -> Self {
                let policy = ::pop3_proto::client::TlsPolicy::Required;
                self.settings.tls(tls, policy, false);
                self
            }

            /// STLS when the server offers it, plaintext otherwise (credentials then stay
            /// unsent unless [`allow_plaintext_auth`](Self::allow_plaintext_auth) is set).
            #[cfg(feature = "rustls")]
            pub fn opportunistic_tls(mut self, tls: $crate::TlsClient) -> Self {
                let policy = ::pop3_proto::client::TlsPolicy::Opportunistic;
                self.settings.tls(tls, policy, false);
                self
            }

            /// TLS from the first octet (port 995, RFC 8314).
            #[cfg(feature = "rustls")]
            pub fn implicit_tls(mut self, tls: $crate::TlsClient) -> Self {
                let policy = ::pop3_proto::client::TlsPolicy::Never;
                self.settings.tls(tls, policy, true);
                self
            }

            /// No TLS at all (loopback, tests). Credentials are then refused unless
            /// [`allow_plaintext_auth`](Self::allow_plaintext_auth) is set;
            /// [`apop`](Self::apop) sends no password but is refused too.
            pub fn plaintext(mut self) -> Self {
                self.settings.plaintext();
                self
            }

            /// Logs in with `USER` and `PASS` (RFC 1939 7). The last login method set wins.
            pub fn user_pass(mut self, user: &str, password: &str) -> Self {
                self.settings.user(user, password, false);
                self
            }

            /// Logs in with `APOP` (RFC 1939 7): the MD5 digest of the greeting's timestamp and
            /// the shared `secret`, which itself never travels. The server must put a timestamp
            /// in its greeting. The last login method set wins.
            pub fn apop(mut self, user: &str, secret: &str) -> Self {
                self.settings.user(user, secret, true);
                self
            }

            /// Logs in with `AUTH PLAIN`, or `AUTH LOGIN` where the server offers only that
            /// (RFC 5034).
            pub fn auth_plain(mut self, user: &str, password: &str) -> Self {
                self.settings.auth_plain(user, password);
                self
            }

            /// Logs in with `AUTH` and this SASL mechanism (RFC 5034): several calls add
            /// mechanisms, and the best the server offers is used. Replaces `USER`/`PASS` or
            /// `APOP` set before.
            pub fn sasl(
                mut self,
                mechanism: Box<dyn ::mail_wire::sasl::ClientMechanism + Send>,
            ) -> Self {
                self.settings.sasl(mechanism);
                self
            }

            /// Lets credentials travel without TLS.
            pub fn allow_plaintext_auth(mut self) -> Self {
                self.settings.config.allow_plaintext_auth = true;
                self
            }

            /// Every setting of the machine at once (TLS policy and limits included).
            pub fn config(mut self, config: ::pop3_proto::client::ClientConfig) -> Self {
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
pub(crate) use pop3_builder_setters;
