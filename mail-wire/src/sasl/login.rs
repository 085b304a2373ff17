//! The LOGIN mechanism (draft-murchison-sasl-login, never an RFC but widely deployed): the
//! server asks `Username:`, then `Password:`.

use alloc::string::String;
use alloc::vec::Vec;

use super::{ClientMechanism, Credentials, SaslError, ServerMechanism, ServerStep, text_field};
use crate::Secret;

/// The mechanism name.
pub const LOGIN: &str = "LOGIN";

/// The first challenge.
pub const USERNAME_CHALLENGE: &[u8] = b"Username:";

/// The second challenge.
pub const PASSWORD_CHALLENGE: &[u8] = b"Password:";

/// The default per-field limit of [`LoginServer`], the same as PLAIN's (RFC 4616 section 2).
pub const LOGIN_FIELD_LIMIT: usize = super::PLAIN_FIELD_LIMIT;

/// The client side of LOGIN: answers the user name challenge, then the password challenge.
#[derive(Debug, Clone)]
pub struct LoginClient {
    username: String,
    password: Secret<String>,
    sent_username: bool,
    sent_password: bool,
}

impl LoginClient {
    /// A client for this user name and password (a `&str`, a `String` or a
    /// [`Secret<String>`]).
    pub fn new(username: &str, password: impl Into<Secret<String>>) -> Self {
        Self {
            username: String::from(username),
            password: password.into(),
            sent_username: false,
            sent_password: false,
        }
    }
}

impl ClientMechanism for LoginClient {
    fn name(&self) -> &str {
        LOGIN
    }

    /// None: the user name waits for the server's first challenge, which every server sends.
    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        None
    }

    /// Sends the user name for a challenge that starts with `User` and the password for one
    /// that starts with `Pass` (any case); for other texts, the user name first and the
    /// password second. Each is sent once: a challenge asking for one already sent, and so
    /// any third challenge, is an error.
    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        let starts_with = |prefix: &[u8]| {
            challenge
                .get(..prefix.len())
                .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
        };
        let wants_password = if starts_with(b"user") {
            false
        } else if starts_with(b"pass") {
            true
        } else {
            self.sent_username
        };
        let sent = if wants_password {
            &mut self.sent_password
        } else {
            &mut self.sent_username
        };
        if *sent {
            return Err(SaslError::UnexpectedChallenge { mechanism: LOGIN });
        }
        *sent = true;
        Ok(Secret::new(if wants_password {
            self.password.expose_secret().as_bytes().to_vec()
        } else {
            self.username.as_bytes().to_vec()
        }))
    }
}

/// The server side of LOGIN, giving [`Credentials::Login`].
///
/// A user name sent as the initial response (`AUTH LOGIN dXNlcg==`, which some clients do) is
/// accepted and skips the first challenge.
#[derive(Debug, Clone)]
pub struct LoginServer {
    max_field_len: usize,
    state: State,
}

#[derive(Debug, Clone)]
enum State {
    Start,
    AwaitingUsername,
    AwaitingPassword {
        username: String,
    },
    /// `Done` was returned: the application judges the credentials.
    Judging,
    Finished,
}

impl LoginServer {
    /// A server accepting user names and passwords up to [`LOGIN_FIELD_LIMIT`] octets.
    pub fn new() -> Self {
        Self::with_max_field_len(LOGIN_FIELD_LIMIT)
    }

    /// A server accepting user names and passwords up to `max_field_len` octets.
    pub fn with_max_field_len(max_field_len: usize) -> Self {
        Self {
            max_field_len,
            state: State::Start,
        }
    }

    fn take_username(&mut self, username: &[u8]) -> Result<ServerStep, SaslError> {
        self.state = State::Finished;
        let username = text_field(username, LOGIN, "username", self.max_field_len)?;
        self.state = State::AwaitingPassword { username };
        Ok(ServerStep::Challenge(PASSWORD_CHALLENGE.to_vec()))
    }
}

impl Default for LoginServer {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerMechanism for LoginServer {
    fn name(&self) -> &str {
        LOGIN
    }

    fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, SaslError> {
        if !matches!(self.state, State::Start) {
            return Err(SaslError::OutOfOrder {
                mechanism: LOGIN,
                reason: "already started",
            });
        }
        match initial {
            Some(username) => self.take_username(username),
            None => {
                self.state = State::AwaitingUsername;
                Ok(ServerStep::Challenge(USERNAME_CHALLENGE.to_vec()))
            }
        }
    }

    fn step(&mut self, response: &[u8]) -> Result<ServerStep, SaslError> {
        match core::mem::replace(&mut self.state, State::Finished) {
            State::AwaitingUsername => self.take_username(response),
            State::AwaitingPassword { username } => {
                let password = text_field(response, LOGIN, "password", self.max_field_len)?;
                self.state = State::Judging;
                Ok(ServerStep::Done(Credentials::Login {
                    username,
                    password: Secret::new(password),
                }))
            }
            state @ (State::Start | State::Judging | State::Finished) => {
                self.state = state;
                Err(SaslError::OutOfOrder {
                    mechanism: LOGIN,
                    reason: "no challenge pending",
                })
            }
        }
    }

    fn reject(&mut self, _error: &[u8]) -> Result<ServerStep, SaslError> {
        if !matches!(self.state, State::Judging) {
            return Err(SaslError::OutOfOrder {
                mechanism: LOGIN,
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
    use crate::sasl::{MAX_DECODED_LEN, decode_challenge, encode_challenge};

    #[test]
    fn exchange() {
        let mut client = LoginClient::new("tim", "tanstaaftanstaaf");
        let mut server = LoginServer::new();
        assert_eq!(client.initial_response(), None);

        let ServerStep::Challenge(challenge) = server.start(None).unwrap() else {
            panic!("no challenge")
        };
        // The well-known wire form of the challenges.
        let line = encode_challenge(&challenge);
        assert_eq!(line, "VXNlcm5hbWU6");
        let username = client
            .respond(&decode_challenge(line.as_bytes(), MAX_DECODED_LEN).unwrap())
            .unwrap()
            .into_inner();
        assert_eq!(username, b"tim");

        let ServerStep::Challenge(challenge) = server.step(&username).unwrap() else {
            panic!("no challenge")
        };
        assert_eq!(encode_challenge(&challenge), "UGFzc3dvcmQ6");
        let password = client.respond(&challenge).unwrap().into_inner();
        assert_eq!(password, b"tanstaaftanstaaf");

        let ServerStep::Done(credentials) = server.step(&password).unwrap() else {
            panic!("not done")
        };
        assert_eq!(credentials.username(), Some("tim"));
        assert!(credentials.verify_password(b"tanstaaftanstaaf"));

        assert!(server.step(b"more").is_err_and(|error| error.is_misuse()));
        assert_eq!(
            client.respond(b"Password:"),
            Err(SaslError::UnexpectedChallenge { mechanism: LOGIN })
        );
    }

    fn respond(client: &mut LoginClient, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        client.respond(challenge).map(Secret::into_inner)
    }

    #[test]
    fn client_follows_the_challenge_text() {
        let mut client = LoginClient::new("tim", "pw");
        assert_eq!(respond(&mut client, b"PASSWORD:").unwrap(), b"pw");
        assert_eq!(respond(&mut client, b"user name").unwrap(), b"tim");

        // Unknown texts: user name first, then password.
        let mut client = LoginClient::new("tim", "pw");
        assert_eq!(respond(&mut client, b"").unwrap(), b"tim");
        assert_eq!(respond(&mut client, b"?").unwrap(), b"pw");
        assert!(client.respond(b"?").is_err());
    }

    #[test]
    fn client_sends_each_field_once() {
        let unexpected = Err(SaslError::UnexpectedChallenge { mechanism: LOGIN });
        // A server asking for the password again does not get it again...
        let mut client = LoginClient::new("tim", "pw");
        assert_eq!(respond(&mut client, b"Password:").unwrap(), b"pw");
        assert_eq!(respond(&mut client, b"Password:"), unexpected);
        // ...though it may still ask for the user name, and then nothing more.
        assert_eq!(respond(&mut client, b"Username:").unwrap(), b"tim");
        assert_eq!(respond(&mut client, b"Username:"), unexpected);
        assert_eq!(respond(&mut client, b"?"), unexpected);

        let mut client = LoginClient::new("tim", "pw");
        assert_eq!(respond(&mut client, b"Username:").unwrap(), b"tim");
        assert_eq!(respond(&mut client, b"Username:"), unexpected);
        assert_eq!(respond(&mut client, b"?").unwrap(), b"pw");
        assert_eq!(respond(&mut client, b"?"), unexpected);
    }

    #[test]
    fn username_as_initial_response() {
        let mut server = LoginServer::new();
        assert_eq!(
            server.start(Some(b"tim")),
            Ok(ServerStep::Challenge(PASSWORD_CHALLENGE.to_vec()))
        );
        let expected = Credentials::Login {
            username: "tim".into(),
            password: Secret::new("pw".into()),
        };
        assert_eq!(server.step(b"pw"), Ok(ServerStep::Done(expected)));
    }

    #[test]
    fn invalid_fields() {
        let invalid = |field, reason| {
            Err(SaslError::InvalidField {
                mechanism: LOGIN,
                field,
                reason,
            })
        };
        assert_eq!(
            LoginServer::new().start(Some(b"")),
            invalid("username", "empty")
        );
        assert_eq!(
            LoginServer::new().start(Some(b"t\0m")),
            invalid("username", "contains NUL")
        );
        assert_eq!(
            LoginServer::new().start(Some(b"t\xffm")),
            invalid("username", "not UTF-8")
        );
        let mut server = LoginServer::new();
        let _ = server.start(Some(b"tim"));
        assert_eq!(server.step(b""), invalid("password", "empty"));
        // The exchange is over after an error.
        assert!(server.step(b"pw").is_err_and(|error| error.is_misuse()));

        let mut server = LoginServer::with_max_field_len(3);
        assert_eq!(
            server.start(Some(b"timo")),
            Err(SaslError::FieldTooLong {
                mechanism: LOGIN,
                field: "username",
                limit: 3
            })
        );
    }

    #[test]
    fn server_misuse() {
        let mut server = LoginServer::new();
        assert!(server.step(b"tim").is_err_and(|error| error.is_misuse()));
        let _ = server.start(None);
        assert!(server.start(None).is_err_and(|error| error.is_misuse()));
    }

    #[test]
    fn reject_only_after_done() {
        let out_of_order = Err(SaslError::OutOfOrder {
            mechanism: LOGIN,
            reason: "no credentials to reject",
        });
        let mut server = LoginServer::new();
        assert_eq!(server.reject(b""), out_of_order);
        let _ = server.start(None);
        assert_eq!(server.reject(b""), out_of_order);
        let _ = server.step(b"tim");
        assert_eq!(server.reject(b""), out_of_order);
        assert!(matches!(server.step(b"pw"), Ok(ServerStep::Done(_))));
        // Still judging: a stray step does not end it.
        assert!(server.step(b"pw").is_err_and(|error| error.is_misuse()));
        assert_eq!(server.reject(b"ignored"), Ok(ServerStep::Failed));
        assert_eq!(server.reject(b""), out_of_order);
    }
}
