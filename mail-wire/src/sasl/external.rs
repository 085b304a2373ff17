//! The EXTERNAL mechanism (RFC 4422 appendix A): the client is authenticated by something
//! below SASL (a TLS client certificate, an IPsec association...), and its one message names
//! only the identity it wants to act as.

use alloc::string::String;
use alloc::vec::Vec;

use super::{ClientMechanism, Credentials, SaslError, ServerMechanism, ServerStep, text_field};
use crate::Secret;

/// The mechanism name (RFC 4422 appendix A).
pub const EXTERNAL: &str = "EXTERNAL";

/// The default limit of [`ExternalServer`] on the authzid, the same as PLAIN's.
pub const EXTERNAL_AUTHZID_LIMIT: usize = super::PLAIN_FIELD_LIMIT;

/// The client side of EXTERNAL (RFC 4422 appendix A.1): one message, the authzid or nothing.
///
/// ```
/// use mail_wire::sasl::{ClientMechanism, ExternalClient};
///
/// // Act as the identity the TLS client certificate established: an empty message (`=`).
/// let mut client = ExternalClient::new(None)?;
/// assert_eq!(client.initial_response().unwrap().expose_secret(), b"");
/// # Ok::<(), mail_wire::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExternalClient {
    authzid: String,
    answered: bool,
}

impl ExternalClient {
    /// A client asking to act as `authzid`, or as the externally established identity with
    /// `None` (or an empty string). The authzid must be free of NUL (RFC 4422 appendix A.1:
    /// `1*( UTF8-char-no-nul )`).
    pub fn new(authzid: Option<&str>) -> Result<Self, SaslError> {
        let authzid = authzid.unwrap_or_default();
        if authzid.contains('\0') {
            return Err(SaslError::InvalidArgument {
                mechanism: EXTERNAL,
                reason: "NUL inside the authzid",
            });
        }
        Ok(Self {
            authzid: String::from(authzid),
            answered: false,
        })
    }
}

impl ClientMechanism for ExternalClient {
    fn name(&self) -> &str {
        EXTERNAL
    }

    /// The authzid, empty when the client acts as itself (sent as `=`).
    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        Some(Secret::new(self.authzid.as_bytes().to_vec()))
    }

    /// Answers the empty challenge of a server that got `AUTH EXTERNAL` alone, once.
    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        if !challenge.is_empty() || self.answered {
            return Err(SaslError::UnexpectedChallenge {
                mechanism: EXTERNAL,
            });
        }
        self.answered = true;
        Ok(Secret::new(self.authzid.as_bytes().to_vec()))
    }
}

/// The server side of EXTERNAL (RFC 4422 appendix A.1), giving [`Credentials::External`].
///
/// It is made with the identity the layer below established (the server machines pass what
/// the application set with their `set_external_identity`). Without one the exchange fails:
/// there is nobody to be.
///
/// ```
/// use mail_wire::sasl::{Credentials, ExternalServer, ServerMechanism, ServerStep};
///
/// let mut server = ExternalServer::new(Some("alice@example.org"));
/// let ServerStep::Done(credentials) = server.start(Some(b""))? else { unreachable!() };
/// assert_eq!(credentials.username(), Some("alice@example.org"));
/// assert_eq!(credentials.authzid(), None);
/// assert!(credentials.is_verified());
///
/// let mut anonymous = ExternalServer::new(None);
/// assert_eq!(anonymous.start(Some(b""))?, ServerStep::Failed);
/// # Ok::<(), mail_wire::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExternalServer {
    identity: Option<String>,
    max_authzid_len: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    AwaitingMessage,
    /// `Done` was returned: the application judges the credentials.
    Judging,
    Finished,
}

impl ExternalServer {
    /// A server for a client that the layer below authenticated as `identity` (`None`: it
    /// did not, and the exchange fails).
    pub fn new(identity: Option<&str>) -> Self {
        Self {
            identity: identity.map(String::from),
            max_authzid_len: EXTERNAL_AUTHZID_LIMIT,
            state: State::Start,
        }
    }

    /// Accepts an authzid up to `max_authzid_len` octets instead of [`EXTERNAL_AUTHZID_LIMIT`].
    pub fn with_max_authzid_len(mut self, max_authzid_len: usize) -> Self {
        self.max_authzid_len = max_authzid_len;
        self
    }

    /// RFC 4422 appendix A.1: `message = [ authz-id-string ]`, UTF-8 without NUL.
    fn finish(&mut self, message: &[u8]) -> Result<ServerStep, SaslError> {
        self.state = State::Finished;
        let authzid = if message.is_empty() {
            None
        } else {
            Some(text_field(
                message,
                EXTERNAL,
                "authzid",
                self.max_authzid_len,
            )?)
        };
        let Some(identity) = self.identity.clone() else {
            return Ok(ServerStep::Failed);
        };
        self.state = State::Judging;
        Ok(ServerStep::Done(Credentials::External {
            identity,
            authzid,
        }))
    }
}

impl ServerMechanism for ExternalServer {
    fn name(&self) -> &str {
        EXTERNAL
    }

    /// Takes the message from the initial response, or asks for it with an empty challenge.
    fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, SaslError> {
        if self.state != State::Start {
            return Err(SaslError::OutOfOrder {
                mechanism: EXTERNAL,
                reason: "already started",
            });
        }
        match initial {
            Some(message) => self.finish(message),
            None => {
                self.state = State::AwaitingMessage;
                Ok(ServerStep::Challenge(Vec::new()))
            }
        }
    }

    fn step(&mut self, response: &[u8]) -> Result<ServerStep, SaslError> {
        if self.state != State::AwaitingMessage {
            return Err(SaslError::OutOfOrder {
                mechanism: EXTERNAL,
                reason: "no challenge pending",
            });
        }
        self.finish(response)
    }

    fn reject(&mut self, _error: &[u8]) -> Result<ServerStep, SaslError> {
        if self.state != State::Judging {
            return Err(SaslError::OutOfOrder {
                mechanism: EXTERNAL,
                reason: "no credentials to reject",
            });
        }
        self.state = State::Finished;
        Ok(ServerStep::Failed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::{EMPTY_INITIAL_RESPONSE, encode_initial_response};
    use proptest::prelude::*;

    fn done(step: Result<ServerStep, SaslError>) -> Credentials {
        match step {
            Ok(ServerStep::Done(credentials)) => credentials,
            other => panic!("not done: {other:?}"),
        }
    }

    #[test]
    fn rfc4422_appendix_a_empty_message_acts_as_the_external_identity() {
        let mut client = ExternalClient::new(None).unwrap();
        let message = client.initial_response().unwrap();
        // RFC 4954 section 4: an empty initial response goes as `=`.
        assert_eq!(
            encode_initial_response(message.expose_secret()).expose_secret(),
            EMPTY_INITIAL_RESPONSE
        );
        let mut server = ExternalServer::new(Some("CN=alice"));
        let credentials = done(server.start(Some(message.expose_secret())));
        assert_eq!(
            credentials,
            Credentials::External {
                identity: "CN=alice".into(),
                authzid: None
            }
        );
        assert!(credentials.is_verified());
        assert!(!credentials.verify_password(b""));
    }

    #[test]
    fn rfc4422_appendix_a_authzid_after_an_empty_challenge() {
        let mut client = ExternalClient::new(Some("bob")).unwrap();
        let mut server = ExternalServer::new(Some("alice"));
        assert_eq!(server.start(None), Ok(ServerStep::Challenge(Vec::new())));
        let response = client.respond(b"").unwrap();
        let credentials = done(server.step(response.expose_secret()));
        assert_eq!(credentials.username(), Some("alice"));
        assert_eq!(credentials.authzid(), Some("bob"));
        // One message only.
        assert_eq!(
            client.respond(b""),
            Err(SaslError::UnexpectedChallenge {
                mechanism: EXTERNAL
            })
        );
    }

    #[test]
    fn without_an_external_identity_the_exchange_fails() {
        let mut server = ExternalServer::new(None);
        assert_eq!(server.start(Some(b"")), Ok(ServerStep::Failed));
        let mut server = ExternalServer::new(None);
        assert_eq!(server.start(Some(b"bob")), Ok(ServerStep::Failed));
        // Nothing to reject afterwards.
        assert!(server.reject(b"").is_err_and(|e| e.is_misuse()));
    }

    #[test]
    fn malformed_authzids() {
        let invalid = |reason| {
            Err(SaslError::InvalidField {
                mechanism: EXTERNAL,
                field: "authzid",
                reason,
            })
        };
        let cases: &[(&[u8], Result<ServerStep, SaslError>)] = &[
            (b"a\0b", invalid("contains NUL")),
            (b"\xff", invalid("not UTF-8")),
            (
                &[b'a'; 256],
                Err(SaslError::FieldTooLong {
                    mechanism: EXTERNAL,
                    field: "authzid",
                    limit: 255,
                }),
            ),
        ];
        for (message, expected) in cases {
            let mut server = ExternalServer::new(Some("alice"));
            assert_eq!(&server.start(Some(message)), expected, "{message:?}");
        }
        let mut server = ExternalServer::new(Some("alice")).with_max_authzid_len(300);
        assert!(matches!(
            server.start(Some(&[b'a'; 256])),
            Ok(ServerStep::Done(_))
        ));
        assert!(ExternalClient::new(Some("a\0b")).is_err_and(|e| e.is_misuse()));
    }

    #[test]
    fn out_of_order_and_reject() {
        let mut server = ExternalServer::new(Some("alice"));
        assert!(server.step(b"").is_err_and(|e| e.is_misuse()));
        assert!(server.reject(b"").is_err_and(|e| e.is_misuse()));
        let _ = done(server.start(Some(b"")));
        assert!(server.start(None).is_err_and(|e| e.is_misuse()));
        assert!(server.provide_secret(None).is_err_and(|e| e.is_misuse()));
        assert_eq!(server.reject(b""), Ok(ServerStep::Failed));
        assert!(server.reject(b"").is_err_and(|e| e.is_misuse()));
    }

    proptest! {
        #[test]
        fn client_and_server_agree(authzid in "[^\0]{0,40}") {
            let mut client = ExternalClient::new(Some(&authzid)).unwrap();
            let mut server = ExternalServer::new(Some("alice"));
            let message = client.initial_response().unwrap();
            let credentials = done(server.start(Some(message.expose_secret())));
            prop_assert_eq!(credentials.username(), Some("alice"));
            prop_assert_eq!(credentials.authzid(), (!authzid.is_empty()).then_some(authzid.as_str()));
        }

        #[test]
        fn server_never_panics(message in proptest::collection::vec(any::<u8>(), 0..300)) {
            let mut server = ExternalServer::new(Some("alice"));
            let _ = server.start(None);
            let _ = server.step(&message);
            let _ = server.reject(b"");
        }
    }
}
