//! The CRAM-MD5 mechanism (RFC 2195): the server sends a unique `msg-id` challenge, the client
//! answers with its user name and the HMAC-MD5 of the challenge keyed with the password.
//!
//! CRAM-MD5 does not authenticate the server and needs the password (or its HMAC contexts)
//! stored on the server; RFC 4954 section 4 keeps it only for interoperability.

use alloc::string::String;
use alloc::vec::Vec;

use hmac::{Hmac, Mac};
use md5::Md5;

use super::{ClientMechanism, Credentials, SaslError, ServerMechanism, ServerStep, text_field};
use crate::Secret;

/// The mechanism name (RFC 2195 section 2).
pub const CRAM_MD5: &str = "CRAM-MD5";

/// The default limit of [`CramMd5Server`] on the user name, the same as PLAIN's.
pub const CRAM_MD5_USERNAME_LIMIT: usize = super::PLAIN_FIELD_LIMIT;

type HmacMd5 = Hmac<Md5>;

/// The client side of CRAM-MD5 (RFC 2195 section 2).
#[derive(Debug, Clone)]
pub struct CramMd5Client {
    username: String,
    password: Secret<String>,
    answered: bool,
}

impl CramMd5Client {
    /// A client for this user name (non-empty) and shared secret (a `&str`, a `String` or a
    /// [`Secret<String>`]).
    pub fn new(username: &str, password: impl Into<Secret<String>>) -> Result<Self, SaslError> {
        if username.is_empty() {
            return Err(SaslError::InvalidArgument {
                mechanism: CRAM_MD5,
                reason: "empty user name",
            });
        }
        Ok(Self {
            username: String::from(username),
            password: password.into(),
            answered: false,
        })
    }
}

impl ClientMechanism for CramMd5Client {
    fn name(&self) -> &str {
        CRAM_MD5
    }

    /// None: the server speaks first.
    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        None
    }

    /// Answers the one challenge with `username SP digest`, the digest in lowercase hex
    /// (RFC 2195 section 2). An empty or a second challenge is an error.
    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        if challenge.is_empty() || self.answered {
            return Err(SaslError::UnexpectedChallenge {
                mechanism: CRAM_MD5,
            });
        }
        self.answered = true;
        let mut mac = hmac_md5(self.password.expose_secret().as_bytes())?;
        mac.update(challenge);
        let digest = mac.finalize().into_bytes();
        let mut response = Vec::with_capacity(self.username.len() + 33);
        response.extend_from_slice(self.username.as_bytes());
        response.push(b' ');
        for byte in digest {
            for nibble in [byte >> 4, byte & 0x0f] {
                response.push(hex_digit(nibble));
            }
        }
        Ok(Secret::new(response))
    }
}

/// The server side of CRAM-MD5, giving [`Credentials::CramMd5`]; check the password with
/// [`Credentials::verify_password`].
#[derive(Debug, Clone)]
pub struct CramMd5Server {
    challenge: String,
    max_username_len: usize,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    AwaitingResponse,
    /// `Done` was returned: the application judges the credentials.
    Judging,
    Finished,
}

impl CramMd5Server {
    /// A server sending `challenge`, which the caller makes unique: RFC 2195 section 2 wants
    /// an RFC 822 `msg-id` such as `<1896.697170952@postoffice.reston.mci.net>` (random digits,
    /// a timestamp, the host name), since nothing here has a clock or randomness.
    ///
    /// The challenge must be non-empty printable ASCII.
    pub fn new(challenge: &str) -> Result<Self, SaslError> {
        if challenge.is_empty()
            || !challenge
                .bytes()
                .all(|byte| byte.is_ascii_graphic() || byte == b' ')
        {
            return Err(SaslError::InvalidArgument {
                mechanism: CRAM_MD5,
                reason: "challenge is not printable ASCII",
            });
        }
        Ok(Self {
            challenge: String::from(challenge),
            max_username_len: CRAM_MD5_USERNAME_LIMIT,
            state: State::Start,
        })
    }

    /// Accepts user names up to `max_username_len` octets instead of
    /// [`CRAM_MD5_USERNAME_LIMIT`].
    pub fn with_max_username_len(mut self, max_username_len: usize) -> Self {
        self.max_username_len = max_username_len;
        self
    }
}

impl ServerMechanism for CramMd5Server {
    fn name(&self) -> &str {
        CRAM_MD5
    }

    /// Sends the challenge; an initial response is an error (RFC 4954 section 4: `501 5.7.0`).
    fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, SaslError> {
        if self.state != State::Start {
            return Err(SaslError::OutOfOrder {
                mechanism: CRAM_MD5,
                reason: "already started",
            });
        }
        if initial.is_some() {
            self.state = State::Finished;
            return Err(SaslError::UnexpectedInitialResponse {
                mechanism: CRAM_MD5,
            });
        }
        self.state = State::AwaitingResponse;
        Ok(ServerStep::Challenge(self.challenge.as_bytes().to_vec()))
    }

    /// Parses `username SP digest` (RFC 2195 section 2). The user name may hold spaces: the
    /// digest is what follows the last one. Upper-case hex is accepted too.
    fn step(&mut self, response: &[u8]) -> Result<ServerStep, SaslError> {
        if self.state != State::AwaitingResponse {
            return Err(SaslError::OutOfOrder {
                mechanism: CRAM_MD5,
                reason: "no challenge pending",
            });
        }
        self.state = State::Finished;
        let malformed = |reason| SaslError::Malformed {
            mechanism: CRAM_MD5,
            reason,
        };
        let space =
            memchr::memrchr(b' ', response).ok_or(malformed("missing space before the digest"))?;
        let (username, digest) = response.split_at(space);
        let digest = digest.get(1..).unwrap_or_default();
        let username = text_field(username, CRAM_MD5, "username", self.max_username_len)?;
        let digest = parse_digest(digest).ok_or(malformed("digest is not 32 hex digits"))?;
        self.state = State::Judging;
        Ok(ServerStep::Done(Credentials::CramMd5 {
            username,
            challenge: self.challenge.clone(),
            digest: Secret::new(digest),
        }))
    }

    fn reject(&mut self, _error: &[u8]) -> Result<ServerStep, SaslError> {
        if self.state != State::Judging {
            return Err(SaslError::OutOfOrder {
                mechanism: CRAM_MD5,
                reason: "no credentials to reject",
            });
        }
        self.state = State::Finished;
        Ok(ServerStep::Failed)
    }
}

/// Checks `digest` against the HMAC-MD5 of `challenge` keyed with `password`, in constant time.
pub(super) fn verify(password: &[u8], challenge: &[u8], digest: &[u8; 16]) -> bool {
    let Ok(mut mac) = hmac_md5(password) else {
        return false;
    };
    mac.update(challenge);
    mac.verify_slice(digest).is_ok()
}

fn hmac_md5(key: &[u8]) -> Result<HmacMd5, SaslError> {
    // HMAC takes keys of any length (RFC 2104 section 2), so this error cannot happen.
    <HmacMd5 as Mac>::new_from_slice(key).map_err(|_| SaslError::InvalidArgument {
        mechanism: CRAM_MD5,
        reason: "HMAC key rejected",
    })
}

fn hex_digit(nibble: u8) -> u8 {
    if nibble < 10 {
        b'0' + nibble
    } else {
        b'a' + (nibble - 10)
    }
}

fn parse_digest(hex: &[u8]) -> Option<[u8; 16]> {
    if hex.len() != 32 {
        return None;
    }
    let mut digest = [0_u8; 16];
    for (byte, pair) in digest.iter_mut().zip(hex.chunks_exact(2)) {
        let mut value = 0_u8;
        for &digit in pair {
            let nibble = char::from(digit).to_digit(16)?;
            value = (value << 4) | u8::try_from(nibble).ok()?;
        }
        *byte = value;
    }
    Some(digest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::{ClientResponse, MAX_DECODED_LEN, decode_challenge, decode_response};
    use crate::sasl::{encode_challenge, encode_response};
    use alloc::boxed::Box;
    use proptest::prelude::*;

    const CHALLENGE: &str = "<1896.697170952@postoffice.reston.mci.net>";

    #[test]
    fn rfc2195_example() {
        let mut server = CramMd5Server::new(CHALLENGE).unwrap();
        let mut client = CramMd5Client::new("tim", "tanstaaftanstaaf").unwrap();
        assert_eq!(client.initial_response(), None);

        let ServerStep::Challenge(challenge) = server.start(None).unwrap() else {
            panic!("no challenge")
        };
        let line = encode_challenge(&challenge);
        assert_eq!(
            line,
            "PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"
        );

        let response = client
            .respond(&decode_challenge(line.as_bytes(), MAX_DECODED_LEN).unwrap())
            .unwrap();
        assert_eq!(
            response.expose_secret(),
            b"tim b913a602c7eda7a495b4e6e7334d3890"
        );
        let line = encode_response(response.expose_secret()).into_inner();
        assert_eq!(line, "dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw");

        let ClientResponse::Data(response) =
            decode_response(line.as_bytes(), MAX_DECODED_LEN).unwrap()
        else {
            panic!("cancelled")
        };
        let ServerStep::Done(credentials) = server.step(response.expose_secret()).unwrap() else {
            panic!("not done")
        };
        assert_eq!(credentials.username(), Some("tim"));
        assert!(credentials.verify_password(b"tanstaaftanstaaf"));
        assert!(!credentials.verify_password(b"tanstaaftanstaaF"));
        assert!(!credentials.verify_password(b""));
        let Credentials::CramMd5 { challenge, .. } = &credentials else {
            panic!("wrong kind")
        };
        assert_eq!(challenge, CHALLENGE);
        // The digest stays out of logs.
        assert!(!alloc::format!("{credentials:?}").contains("185"));
    }

    #[test]
    fn rfc4954_example_response_parses() {
        // RFC 4954 section 4.1 (the password is not given, so only the parsing is checked).
        let mut server =
            CramMd5Server::new("<4192942341.12828472@sourcefour.andrew.cmu.edu>").unwrap();
        let _ = server.start(None);
        let Ok(ServerStep::Done(Credentials::CramMd5 {
            username, digest, ..
        })) = server.step(b"rjs3 ec3a59fed395aba1ec6367c4f4b41ac0")
        else {
            panic!("not parsed")
        };
        assert_eq!(username, "rjs3");
        assert_eq!(digest.expose_secret()[..2], [0xec, 0x3a]);
    }

    #[test]
    fn user_names_with_spaces_and_upper_case_hex() {
        let mut server = CramMd5Server::new(CHALLENGE).unwrap();
        let mut client = CramMd5Client::new("Tim Berners", "pw").unwrap();
        let _ = server.start(None);
        let mut response = client.respond(CHALLENGE.as_bytes()).unwrap().into_inner();
        response.make_ascii_uppercase();
        let Ok(ServerStep::Done(credentials)) = server.step(&response) else {
            panic!("not done")
        };
        assert_eq!(credentials.username(), Some("TIM BERNERS"));
        assert!(credentials.verify_password(b"pw"));
    }

    #[test]
    fn malformed_responses() {
        let malformed = |reason| {
            Err(SaslError::Malformed {
                mechanism: CRAM_MD5,
                reason,
            })
        };
        let cases: &[(&[u8], Result<ServerStep, SaslError>)] = &[
            (b"", malformed("missing space before the digest")),
            (
                b"timb913a602c7eda7a495b4e6e7334d3890",
                malformed("missing space before the digest"),
            ),
            (b"tim ", malformed("digest is not 32 hex digits")),
            (
                b"tim b913a602c7eda7a495b4e6e7334d389",
                malformed("digest is not 32 hex digits"),
            ),
            (
                b"tim b913a602c7eda7a495b4e6e7334d38900",
                malformed("digest is not 32 hex digits"),
            ),
            (
                b"tim g913a602c7eda7a495b4e6e7334d3890",
                malformed("digest is not 32 hex digits"),
            ),
            (
                b"tim +913a602c7eda7a495b4e6e7334d3890",
                malformed("digest is not 32 hex digits"),
            ),
            (
                b" b913a602c7eda7a495b4e6e7334d3890",
                Err(SaslError::InvalidField {
                    mechanism: CRAM_MD5,
                    field: "username",
                    reason: "empty",
                }),
            ),
            (
                b"t\xffm b913a602c7eda7a495b4e6e7334d3890",
                Err(SaslError::InvalidField {
                    mechanism: CRAM_MD5,
                    field: "username",
                    reason: "not UTF-8",
                }),
            ),
        ];
        for (response, expected) in cases {
            let mut server = CramMd5Server::new(CHALLENGE).unwrap();
            let _ = server.start(None);
            assert_eq!(&server.step(response), expected, "{response:?}");
        }
    }

    #[test]
    fn initial_response_is_refused() {
        let mut server: Box<dyn ServerMechanism> = Box::new(CramMd5Server::new(CHALLENGE).unwrap());
        assert_eq!(server.name(), CRAM_MD5);
        assert_eq!(
            server.start(Some(b"")),
            Err(SaslError::UnexpectedInitialResponse {
                mechanism: CRAM_MD5
            })
        );
        assert!(
            server
                .step(b"tim b913a602c7eda7a495b4e6e7334d3890")
                .is_err_and(|error| error.is_misuse())
        );
    }

    #[test]
    fn argument_checks() {
        assert!(CramMd5Server::new("").is_err_and(|error| error.is_misuse()));
        assert!(CramMd5Server::new("<a\r\n@b>").is_err());
        assert!(CramMd5Client::new("", "pw").is_err());
        let mut client = CramMd5Client::new("tim", "pw").unwrap();
        assert_eq!(
            client.respond(b""),
            Err(SaslError::UnexpectedChallenge {
                mechanism: CRAM_MD5
            })
        );
        assert!(client.respond(b"<1@x>").is_ok());
        assert_eq!(
            client.respond(b"<2@x>"),
            Err(SaslError::UnexpectedChallenge {
                mechanism: CRAM_MD5
            })
        );
    }

    #[test]
    fn reject_only_after_done() {
        let out_of_order = Err(SaslError::OutOfOrder {
            mechanism: CRAM_MD5,
            reason: "no credentials to reject",
        });
        let mut server = CramMd5Server::new(CHALLENGE).unwrap();
        assert_eq!(server.reject(b""), out_of_order);
        let _ = server.start(None);
        assert_eq!(server.reject(b""), out_of_order);
        let step = server.step(b"tim b913a602c7eda7a495b4e6e7334d3890");
        assert!(matches!(step, Ok(ServerStep::Done(_))));
        assert_eq!(server.reject(b""), Ok(ServerStep::Failed));
        assert_eq!(server.reject(b""), out_of_order);
    }

    #[test]
    fn long_passwords_are_hashed_first() {
        // RFC 2195 section 2: secrets over 64 octets are replaced by their MD5; HMAC does that.
        let password = "p".repeat(100);
        let mut client = CramMd5Client::new("tim", password.clone()).unwrap();
        let response = client.respond(CHALLENGE.as_bytes()).unwrap().into_inner();
        let mut server = CramMd5Server::new(CHALLENGE)
            .unwrap()
            .with_max_username_len(3);
        let _ = server.start(None);
        let Ok(ServerStep::Done(credentials)) = server.step(&response) else {
            panic!("not done")
        };
        assert!(credentials.verify_password(password.as_bytes()));
    }

    proptest! {
        #[test]
        fn client_and_server_agree(username in "[^\0]{1,30}", password in ".{0,80}") {
            let mut client = CramMd5Client::new(&username, password.clone()).unwrap();
            let mut server = CramMd5Server::new(CHALLENGE).unwrap().with_max_username_len(usize::MAX);
            let ServerStep::Challenge(challenge) = server.start(None).unwrap() else { panic!("no challenge") };
            let response = client.respond(&challenge).unwrap().into_inner();
            let Ok(ServerStep::Done(credentials)) = server.step(&response) else { panic!("not done") };
            prop_assert_eq!(credentials.username(), Some(username.as_str()));
            prop_assert!(credentials.verify_password(password.as_bytes()));
        }

        #[test]
        fn server_never_panics(response in proptest::collection::vec(any::<u8>(), 0..80)) {
            let mut server = CramMd5Server::new(CHALLENGE).unwrap();
            let _ = server.start(None);
            let _ = server.step(&response);
        }
    }
}
