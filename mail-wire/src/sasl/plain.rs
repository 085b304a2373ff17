//! The PLAIN mechanism (RFC 4616): `[authzid] NUL authcid NUL password` in one client message.

use alloc::string::String;
use alloc::vec::Vec;

use super::{ClientMechanism, Credentials, SaslError, ServerMechanism, ServerStep, text_field};
use crate::Secret;

/// The mechanism name (RFC 4616 section 2).
pub const PLAIN: &str = "PLAIN";

/// RFC 4616 section 2: servers must accept authzid, authcid and password up to 255 octets
/// each; the default per-field limit of [`PlainServer`].
pub const PLAIN_FIELD_LIMIT: usize = 255;

/// The client side of PLAIN (RFC 4616 section 2).
///
/// ```
/// use mail_wire::sasl::{ClientMechanism, PlainClient};
///
/// let mut client = PlainClient::new(None, "tim", "tanstaaftanstaaf")?;
/// let message = client.initial_response().unwrap();
/// assert_eq!(message.expose_secret(), b"\0tim\0tanstaaftanstaaf");
/// # Ok::<(), mail_wire::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct PlainClient {
    authzid: Option<String>,
    authcid: String,
    password: Secret<String>,
    /// Whether the empty challenge has been answered: PLAIN has only the one message.
    answered: bool,
}

impl PlainClient {
    /// Checks the fields against RFC 4616 section 2: authcid and password non-empty, no NUL in
    /// any field. An empty `authzid` is the same as `None`. The password may be a `&str`, a
    /// `String` or a [`Secret<String>`].
    pub fn new(
        authzid: Option<&str>,
        authcid: &str,
        password: impl Into<Secret<String>>,
    ) -> Result<Self, SaslError> {
        let password = password.into();
        let invalid = |reason| {
            Err(SaslError::InvalidArgument {
                mechanism: PLAIN,
                reason,
            })
        };
        if authcid.is_empty() {
            return invalid("empty authcid");
        }
        if password.expose_secret().is_empty() {
            return invalid("empty password");
        }
        let has_nul = |field: &str| field.as_bytes().contains(&0);
        if authzid.is_some_and(has_nul) || has_nul(authcid) || has_nul(password.expose_secret()) {
            return invalid("NUL inside a field");
        }
        Ok(Self {
            authzid: authzid
                .filter(|authzid| !authzid.is_empty())
                .map(String::from),
            authcid: String::from(authcid),
            password,
            answered: false,
        })
    }

    /// The one client message: `[authzid] NUL authcid NUL password`.
    pub fn message(&self) -> Secret<Vec<u8>> {
        let password = self.password.expose_secret();
        let authzid = self.authzid.as_deref().unwrap_or_default();
        let mut message =
            Vec::with_capacity(authzid.len() + self.authcid.len() + password.len() + 2);
        message.extend_from_slice(authzid.as_bytes());
        message.push(0);
        message.extend_from_slice(self.authcid.as_bytes());
        message.push(0);
        message.extend_from_slice(password.as_bytes());
        Secret::new(message)
    }
}

impl ClientMechanism for PlainClient {
    fn name(&self) -> &str {
        PLAIN
    }

    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        Some(self.message())
    }

    /// Answers the empty challenge a server sends when `AUTH PLAIN` came without an initial
    /// response, once; PLAIN has no other challenge.
    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        if !challenge.is_empty() || self.answered {
            return Err(SaslError::UnexpectedChallenge { mechanism: PLAIN });
        }
        self.answered = true;
        Ok(self.message())
    }
}

/// The server side of PLAIN (RFC 4616 section 2): one message, parsed into
/// [`Credentials::Plain`].
#[derive(Debug, Clone)]
pub struct PlainServer {
    max_field_len: usize,
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

impl PlainServer {
    /// A server accepting fields up to [`PLAIN_FIELD_LIMIT`] octets.
    pub fn new() -> Self {
        Self::with_max_field_len(PLAIN_FIELD_LIMIT)
    }

    /// A server accepting fields up to `max_field_len` octets each; RFC 4616 section 2 wants
    /// at least 255.
    pub fn with_max_field_len(max_field_len: usize) -> Self {
        Self {
            max_field_len,
            state: State::Start,
        }
    }

    fn finish(&mut self, message: &[u8]) -> Result<ServerStep, SaslError> {
        self.state = State::Finished;
        let credentials = parse(message, self.max_field_len)?;
        self.state = State::Judging;
        Ok(ServerStep::Done(credentials))
    }
}

impl Default for PlainServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerMechanism for PlainServer {
    fn name(&self) -> &str {
        PLAIN
    }

    /// Parses the initial response, or asks for the message with an empty challenge (RFC 4422
    /// section 5 (a)).
    fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, SaslError> {
        if self.state != State::Start {
            return Err(SaslError::OutOfOrder {
                mechanism: PLAIN,
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
                mechanism: PLAIN,
                reason: "no challenge pending",
            });
        }
        self.finish(response)
    }

    fn reject(&mut self, _error: &[u8]) -> Result<ServerStep, SaslError> {
        if self.state != State::Judging {
            return Err(SaslError::OutOfOrder {
                mechanism: PLAIN,
                reason: "no credentials to reject",
            });
        }
        self.state = State::Finished;
        Ok(ServerStep::Failed)
    }
}

/// RFC 4616 section 2: `message = [authzid] UTF8NUL authcid UTF8NUL passwd`, each field
/// `1*SAFE` (UTF-8 without NUL).
fn parse(message: &[u8], max_field_len: usize) -> Result<Credentials, SaslError> {
    let malformed = |reason| SaslError::Malformed {
        mechanism: PLAIN,
        reason,
    };
    let mut fields = message.split(|&byte| byte == 0);
    let (Some(authzid), Some(authcid), Some(password), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(if memchr::memchr_iter(0, message).count() < 2 {
            malformed("fewer than two NUL separators")
        } else {
            malformed("more than two NUL separators")
        });
    };
    let authzid = if authzid.is_empty() {
        None
    } else {
        Some(text_field(authzid, PLAIN, "authzid", max_field_len)?)
    };
    Ok(Credentials::Plain {
        authzid,
        authcid: text_field(authcid, PLAIN, "authcid", max_field_len)?,
        password: Secret::new(text_field(password, PLAIN, "password", max_field_len)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::{ClientResponse, MAX_DECODED_LEN, decode_initial_response, decode_response};
    use crate::sasl::{encode_initial_response, encode_response};
    use alloc::boxed::Box;
    use alloc::vec;
    use proptest::prelude::*;

    fn plain(authzid: Option<&str>, authcid: &str, password: &str) -> Credentials {
        Credentials::Plain {
            authzid: authzid.map(String::from),
            authcid: authcid.into(),
            password: Secret::new(password.into()),
        }
    }

    #[test]
    fn rfc4616_examples() {
        // RFC 4616 section 4, first example: no authzid, message after an empty challenge.
        let mut client = PlainClient::new(None, "tim", "tanstaaftanstaaf").unwrap();
        let mut server = PlainServer::new();
        assert_eq!(server.start(None), Ok(ServerStep::Challenge(vec![])));
        let message = client.respond(b"").unwrap().into_inner();
        assert_eq!(message, b"\0tim\0tanstaaftanstaaf");
        let expected = plain(None, "tim", "tanstaaftanstaaf");
        assert_eq!(server.step(&message), Ok(ServerStep::Done(expected)));

        // Second example: authzid "Ursel", as an initial response.
        let mut client = PlainClient::new(Some("Ursel"), "Kurt", "xipj3plmq").unwrap();
        let message = client.initial_response().unwrap().into_inner();
        assert_eq!(message, b"Ursel\0Kurt\0xipj3plmq");
        assert_eq!(
            encode_initial_response(&message).expose_secret(),
            "VXJzZWwAS3VydAB4aXBqM3BsbXE="
        );
        let expected = plain(Some("Ursel"), "Kurt", "xipj3plmq");
        let mut server = PlainServer::new();
        assert_eq!(server.start(Some(&message)), Ok(ServerStep::Done(expected)));
    }

    #[test]
    fn rfc4954_examples() {
        // RFC 4954 section 4.1: AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=
        let initial = decode_initial_response(b"dGVzdAB0ZXN0ADEyMzQ=", MAX_DECODED_LEN).unwrap();
        let mut server = PlainServer::new();
        let expected = plain(Some("test"), "test", "1234");
        let step = server.start(Some(initial.expose_secret()));
        assert_eq!(step, Ok(ServerStep::Done(expected.clone())));
        // The authzid is reported as sent, although it equals the authcid.
        let Ok(ServerStep::Done(credentials)) = step else {
            panic!("not done")
        };
        assert_eq!(credentials.username(), Some("test"));
        assert_eq!(credentials.authzid(), Some("test"));

        // The same after "334 ".
        let mut server = PlainServer::new();
        assert_eq!(server.start(None), Ok(ServerStep::Challenge(vec![])));
        let ClientResponse::Data(response) =
            decode_response(b"dGVzdAB0ZXN0ADEyMzQ=", MAX_DECODED_LEN).unwrap()
        else {
            panic!("cancelled");
        };
        assert_eq!(
            server.step(response.expose_secret()),
            Ok(ServerStep::Done(expected))
        );

        let client = PlainClient::new(Some("test"), "test", "1234").unwrap();
        let line = encode_response(client.message().expose_secret());
        assert_eq!(line.expose_secret(), "dGVzdAB0ZXN0ADEyMzQ=");
    }

    #[test]
    fn malformed_messages() {
        let malformed = |reason| SaslError::Malformed {
            mechanism: PLAIN,
            reason,
        };
        let cases: &[(&[u8], SaslError)] = &[
            (b"", malformed("fewer than two NUL separators")),
            (b"timtanstaaf", malformed("fewer than two NUL separators")),
            (b"tim\0tanstaaf", malformed("fewer than two NUL separators")),
            (
                b"\0tim\0tans\0taaf",
                malformed("more than two NUL separators"),
            ),
            (b"a\0b\0c\0", malformed("more than two NUL separators")),
            (
                b"\0\0password",
                SaslError::InvalidField {
                    mechanism: PLAIN,
                    field: "authcid",
                    reason: "empty",
                },
            ),
            (
                b"\0tim\0",
                SaslError::InvalidField {
                    mechanism: PLAIN,
                    field: "password",
                    reason: "empty",
                },
            ),
            (
                b"\0\0",
                SaslError::InvalidField {
                    mechanism: PLAIN,
                    field: "authcid",
                    reason: "empty",
                },
            ),
            (
                b"\0t\xffm\0pw",
                SaslError::InvalidField {
                    mechanism: PLAIN,
                    field: "authcid",
                    reason: "not UTF-8",
                },
            ),
            (
                b"\xc0\0tim\0pw",
                SaslError::InvalidField {
                    mechanism: PLAIN,
                    field: "authzid",
                    reason: "not UTF-8",
                },
            ),
            (
                b"\0tim\0p\xe2\x82",
                SaslError::InvalidField {
                    mechanism: PLAIN,
                    field: "password",
                    reason: "not UTF-8",
                },
            ),
        ];
        for (message, expected) in cases {
            let mut server = PlainServer::new();
            assert_eq!(
                server.start(Some(message)).as_ref(),
                Err(expected),
                "{message:?}"
            );
        }
    }

    #[test]
    fn field_limits() {
        let long = "x".repeat(PLAIN_FIELD_LIMIT);
        let message = PlainClient::new(Some(&long), &long, long.as_str())
            .unwrap()
            .message()
            .into_inner();
        let mut server = PlainServer::new();
        assert!(matches!(
            server.start(Some(&message)),
            Ok(ServerStep::Done(_))
        ));

        let too_long = "x".repeat(PLAIN_FIELD_LIMIT + 1);
        for (authzid, authcid, password, field) in [
            (too_long.as_str(), "a", "p", "authzid"),
            ("", too_long.as_str(), "p", "authcid"),
            ("", "a", too_long.as_str(), "password"),
        ] {
            let message = PlainClient::new(Some(authzid), authcid, password)
                .unwrap()
                .message()
                .into_inner();
            let mut server = PlainServer::new();
            assert_eq!(
                server.start(Some(&message)),
                Err(SaslError::FieldTooLong {
                    mechanism: PLAIN,
                    field,
                    limit: PLAIN_FIELD_LIMIT
                })
            );
        }

        let mut roomy = PlainServer::with_max_field_len(1024);
        let message = PlainClient::new(None, "a", too_long.clone())
            .unwrap()
            .message()
            .into_inner();
        assert!(matches!(
            roomy.start(Some(&message)),
            Ok(ServerStep::Done(_))
        ));
    }

    #[test]
    fn client_validation() {
        let invalid = |reason| {
            Err(SaslError::InvalidArgument {
                mechanism: PLAIN,
                reason,
            })
        };
        assert_eq!(
            PlainClient::new(None, "", "pw").map(|_| ()),
            invalid("empty authcid")
        );
        assert_eq!(
            PlainClient::new(None, "tim", String::new()).map(|_| ()),
            invalid("empty password")
        );
        assert_eq!(
            PlainClient::new(Some("a\0"), "tim", "pw").map(|_| ()),
            invalid("NUL inside a field")
        );
        assert_eq!(
            PlainClient::new(None, "t\0m", "pw").map(|_| ()),
            invalid("NUL inside a field")
        );
        assert_eq!(
            PlainClient::new(None, "tim", "p\0w").map(|_| ()),
            invalid("NUL inside a field")
        );
        // An empty authzid is no authzid.
        let client = PlainClient::new(Some(""), "tim", "pw").unwrap();
        assert_eq!(client.message().expose_secret(), b"\0tim\0pw");
    }

    #[test]
    fn client_rejects_a_real_challenge() {
        let mut client: Box<dyn ClientMechanism> =
            Box::new(PlainClient::new(None, "tim", "pw").unwrap());
        assert_eq!(client.name(), "PLAIN");
        assert_eq!(
            client.respond(b"hello"),
            Err(SaslError::UnexpectedChallenge { mechanism: PLAIN })
        );
    }

    #[test]
    fn client_answers_one_empty_challenge_only() {
        let mut client = PlainClient::new(None, "tim", "pw").unwrap();
        assert_eq!(client.respond(b"").unwrap().expose_secret(), b"\0tim\0pw");
        // A server that keeps asking does not get the password again.
        assert_eq!(
            client.respond(b""),
            Err(SaslError::UnexpectedChallenge { mechanism: PLAIN })
        );
    }

    #[test]
    fn client_takes_passwords_of_every_kind() {
        let from_str = PlainClient::new(None, "u", "pw").unwrap();
        let from_string = PlainClient::new(None, "u", String::from("pw")).unwrap();
        let from_secret = PlainClient::new(None, "u", Secret::new(String::from("pw"))).unwrap();
        for client in [from_str, from_string, from_secret] {
            assert_eq!(client.message().expose_secret(), b"\0u\0pw");
        }
    }

    #[test]
    fn server_misuse() {
        let mut server: Box<dyn ServerMechanism> = Box::new(PlainServer::new());
        assert!(server.step(b"\0a\0b").is_err_and(|error| error.is_misuse()));
        assert!(matches!(
            server.start(Some(b"\0a\0b")),
            Ok(ServerStep::Done(_))
        ));
        assert!(server.start(None).is_err_and(|error| error.is_misuse()));
        assert!(server.step(b"\0a\0b").is_err_and(|error| error.is_misuse()));
        assert_eq!(server.reject(b""), Ok(ServerStep::Failed));
    }

    #[test]
    fn reject_only_after_done() {
        let out_of_order = Err(SaslError::OutOfOrder {
            mechanism: PLAIN,
            reason: "no credentials to reject",
        });
        // Before start, and while the message is awaited: nothing to reject.
        let mut server = PlainServer::new();
        assert_eq!(server.reject(b""), out_of_order);
        let _ = server.start(None);
        assert_eq!(server.reject(b""), out_of_order);
        // After Done: once.
        assert!(matches!(server.step(b"\0a\0b"), Ok(ServerStep::Done(_))));
        assert_eq!(server.reject(b""), Ok(ServerStep::Failed));
        assert_eq!(server.reject(b""), out_of_order);
        // After a failed parse: nothing to reject either.
        let mut server = PlainServer::new();
        assert!(server.start(Some(b"junk")).is_err());
        assert_eq!(server.reject(b""), out_of_order);
    }

    #[test]
    fn debug_does_not_leak() {
        let mut client = PlainClient::new(None, "tim", "tanstaaftanstaaf").unwrap();
        assert!(!alloc::format!("{client:?}").contains("tanstaaf"));
        // Nor what it sends, in any form.
        let message = client.initial_response().unwrap();
        let line = encode_response(message.expose_secret());
        let argument = encode_initial_response(message.expose_secret());
        let shown = alloc::format!("{message:?} {line:?} {argument:?}");
        assert!(!shown.contains("tanstaaf"), "{shown}");
        assert!(!shown.contains(line.expose_secret().as_str()), "{shown}");
        assert!(
            !shown.contains(argument.expose_secret().as_str()),
            "{shown}"
        );
    }

    proptest! {
        #[test]
        fn client_output_parses_back(
            authzid in proptest::option::of("[^\0]{1,40}"),
            authcid in "[^\0]{1,40}",
            password in "[^\0]{1,40}",
        ) {
            let mut client = PlainClient::new(authzid.as_deref(), &authcid, password.clone()).unwrap();
            let message = client.initial_response().unwrap().into_inner();
            let mut server = PlainServer::with_max_field_len(usize::MAX);
            let expected = plain(authzid.as_deref(), &authcid, &password);
            prop_assert_eq!(server.start(Some(&message)), Ok(ServerStep::Done(expected)));
        }

        #[test]
        fn server_never_panics(message in proptest::collection::vec(any::<u8>(), 0..64), max in 0_usize..8) {
            let _ = PlainServer::with_max_field_len(max).start(Some(&message));
            let mut server = PlainServer::new();
            let _ = server.start(None);
            let _ = server.step(&message);
        }
    }
}
