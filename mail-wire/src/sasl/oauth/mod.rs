//! The OAuth 2.0 bearer token mechanisms: OAUTHBEARER (RFC 7628, in `bearer.rs`) and Google's
//! older XOAUTH2 (in `xoauth2.rs`).
//!
//! Both send the token in one client message of `key=value` pairs ended by `%x01`. When the
//! token is refused, the server first sends a JSON error document as a challenge, the client
//! answers it with a dummy response, and only then does the server fail the exchange
//! (RFC 7628 section 3.2.2 and 3.2.3). [`ServerMechanism::reject`](super::ServerMechanism::reject)
//! starts that dance on the server side; the clients answer one error challenge with the dummy response, and refuse any
//! challenge after it.
//!
//! Neither mechanism names the authenticated user: that is the token's subject, which only
//! the application can learn by validating the token. The user a client names (OAUTHBEARER's
//! authzid, XOAUTH2's `user`) is a claim, reported as [`Credentials::authzid`] for the
//! application to check against the subject (see [`Credentials::OAuth`]).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use super::{Credentials, SaslError, ServerStep};

mod bearer;
#[cfg(test)]
mod tests;
mod xoauth2;

pub use bearer::{OAUTHBEARER, OAuthBearerClient, OAuthBearerServer};
pub use xoauth2::{XOAUTH2, XOAuth2Client, XOAuth2Server};

/// The error challenge sent by [`ServerMechanism::reject`](super::ServerMechanism::reject)
/// when the application gives none (RFC 7628 section 3.2.2: `status` is the one required
/// member).
pub const DEFAULT_OAUTH_ERROR: &[u8] = br#"{"status":"invalid_token"}"#;

/// RFC 7628 section 3.1: `kvsep = %x01`.
const KVSEP: char = '\x01';

/// Builds the JSON error document of a failed OAuth exchange (RFC 7628 section 3.2.2), to pass
/// to [`ServerMechanism::reject`](super::ServerMechanism::reject): `status` is an OAuth error
/// code such as `invalid_token`, `scope` a scope that would work, `openid_configuration` the
/// URL of a discovery document.
pub fn oauth_error(
    status: &str,
    scope: Option<&str>,
    openid_configuration: Option<&str>,
) -> Vec<u8> {
    let mut json = String::from("{");
    let members = [
        ("status", Some(status)),
        ("scope", scope),
        ("openid-configuration", openid_configuration),
    ];
    for (name, value) in members {
        let Some(value) = value else { continue };
        if json.len() > 1 {
            json.push(',');
        }
        push_json_string(&mut json, name);
        json.push(':');
        push_json_string(&mut json, value);
    }
    json.push('}');
    json.into_bytes()
}

fn push_json_string(json: &mut String, text: &str) {
    json.push('"');
    for c in text.chars() {
        match c {
            '"' => json.push_str("\\\""),
            '\\' => json.push_str("\\\\"),
            // Writing to a String cannot fail.
            c if c.is_control() => {
                let _ = write!(json, "\\u{:04x}", u32::from(c));
            }
            c => json.push(c),
        }
    }
    json.push('"');
}

/// How far a client of either mechanism has got. A hostile server must not keep the exchange
/// going, so each kind of challenge is answered once: an empty one (no initial response was
/// sent) with the message, a non-empty one (the error, RFC 7628 section 3.2.2) with the dummy
/// response; after the error nothing more is answered, since the server must then fail.
#[derive(Debug, Clone, Default)]
struct ClientProgress {
    sent_message: bool,
    answered_error: bool,
}

/// What a client sends for a challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    /// The client message with the token.
    Message,
    /// The mechanism's answer to the error challenge.
    Dummy,
}

impl ClientProgress {
    fn answer(&mut self, mechanism: &'static str, challenge: &[u8]) -> Result<Answer, SaslError> {
        let unexpected = SaslError::UnexpectedChallenge { mechanism };
        if self.answered_error {
            return Err(unexpected);
        }
        if challenge.is_empty() {
            if self.sent_message {
                return Err(unexpected);
            }
            self.sent_message = true;
            Ok(Answer::Message)
        } else {
            self.answered_error = true;
            Ok(Answer::Dummy)
        }
    }
}

/// What tells the two server mechanisms apart.
#[derive(Debug, Clone, Copy)]
struct Format {
    mechanism: &'static str,
    /// Parses the client message; `None` for a message that simply fails the exchange.
    parse: fn(&[u8]) -> Result<Option<Credentials>, SaslError>,
    /// The one answer to the error challenge the server accepts, if it insists on one.
    dummy: Option<&'static [u8]>,
}

/// The state both OAuth servers share.
#[derive(Debug, Clone)]
struct Exchange {
    format: Format,
    state: State,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    AwaitingMessage,
    /// `Done` was returned: the application judges the token.
    Judging,
    ErrorSent,
    Finished,
}

impl Exchange {
    fn new(format: Format) -> Self {
        Self {
            format,
            state: State::Start,
        }
    }

    fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, SaslError> {
        if self.state != State::Start {
            return Err(self.out_of_order("already started"));
        }
        match initial {
            Some(message) => self.message(message),
            None => {
                self.state = State::AwaitingMessage;
                Ok(ServerStep::Challenge(Vec::new()))
            }
        }
    }

    fn step(&mut self, response: &[u8]) -> Result<ServerStep, SaslError> {
        match self.state {
            State::AwaitingMessage => self.message(response),
            State::ErrorSent => {
                self.state = State::Finished;
                match self.format.dummy {
                    Some(dummy) if response != dummy => Err(malformed(
                        self.format.mechanism,
                        "expected %x01 after the error challenge",
                    )),
                    _ => Ok(ServerStep::Failed),
                }
            }
            State::Start | State::Judging | State::Finished => {
                Err(self.out_of_order("no challenge pending"))
            }
        }
    }

    fn reject(&mut self, error: &[u8]) -> Result<ServerStep, SaslError> {
        if self.state != State::Judging {
            return Err(self.out_of_order("no credentials to reject"));
        }
        self.state = State::ErrorSent;
        let error = if error.is_empty() {
            DEFAULT_OAUTH_ERROR
        } else {
            error
        };
        Ok(ServerStep::Challenge(error.to_vec()))
    }

    fn message(&mut self, message: &[u8]) -> Result<ServerStep, SaslError> {
        self.state = State::Finished;
        Ok(match (self.format.parse)(message)? {
            Some(credentials) => {
                self.state = State::Judging;
                ServerStep::Done(credentials)
            }
            // RFC 7628 section 3.1: a lone kvsep as the first message may simply fail.
            None => ServerStep::Failed,
        })
    }

    fn out_of_order(&self, reason: &'static str) -> SaslError {
        SaslError::OutOfOrder {
            mechanism: self.format.mechanism,
            reason,
        }
    }
}

fn malformed(mechanism: &'static str, reason: &'static str) -> SaslError {
    SaslError::Malformed { mechanism, reason }
}

fn invalid(mechanism: &'static str, reason: &'static str) -> SaslError {
    SaslError::InvalidArgument { mechanism, reason }
}

fn check_token(mechanism: &'static str, token: &str) -> Result<(), SaslError> {
    if token.is_empty() || !token.bytes().all(|byte| byte.is_ascii_graphic()) {
        return Err(invalid(mechanism, "token is not visible ASCII"));
    }
    Ok(())
}

/// The keys these mechanisms know; RFC 7628 section 3.1: unknown keys are ignored.
#[derive(Default)]
struct Pairs<'a> {
    user: Option<&'a str>,
    auth: Option<&'a str>,
    host: Option<&'a str>,
    port: Option<&'a str>,
}

impl<'a> Pairs<'a> {
    /// Parses `*kvpair kvsep`, with `kvpair = key "=" value kvsep` (RFC 7628 section 3.1).
    fn parse(mut rest: &'a str, mechanism: &'static str) -> Result<Self, SaslError> {
        let bad = |reason| malformed(mechanism, reason);
        let mut pairs = Self::default();
        loop {
            let (pair, after) = rest.split_once(KVSEP).ok_or(bad("missing final %x01"))?;
            if pair.is_empty() {
                return if after.is_empty() {
                    Ok(pairs)
                } else {
                    Err(bad("data after the final %x01"))
                };
            }
            let (key, value) = pair.split_once('=').ok_or(bad("key without value"))?;
            // key = 1*(ALPHA); value = *(VCHAR / SP / HTAB / CR / LF)
            if key.is_empty() || !key.bytes().all(|byte| byte.is_ascii_alphabetic()) {
                return Err(bad("invalid key"));
            }
            let value_byte = |byte: u8| byte.is_ascii_graphic() || b" \t\r\n".contains(&byte);
            if !value.bytes().all(value_byte) {
                return Err(bad("invalid character in a value"));
            }
            let slot = match key {
                "user" if mechanism == XOAUTH2 => &mut pairs.user,
                "auth" => &mut pairs.auth,
                "host" if mechanism == OAUTHBEARER => &mut pairs.host,
                "port" if mechanism == OAUTHBEARER => &mut pairs.port,
                _ => {
                    rest = after;
                    continue;
                }
            };
            if slot.replace(value).is_some() {
                return Err(bad("duplicate key"));
            }
            rest = after;
        }
    }
}

/// RFC 6750 section 2.1: `"Bearer" 1*SP b64token`; an empty `auth` (RFC 7628 section 4.3, to
/// discover the scope) gives an empty token.
fn bearer_token<'a>(auth: &'a str, mechanism: &'static str) -> Result<&'a str, SaslError> {
    if auth.is_empty() {
        return Ok(auth);
    }
    match auth.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("Bearer") => {
            let token = token.trim_start_matches(' ');
            if token.is_empty() || token.contains(|c: char| c.is_ascii_whitespace()) {
                Err(malformed(mechanism, "invalid bearer token"))
            } else {
                Ok(token)
            }
        }
        _ => Err(malformed(mechanism, "auth scheme is not Bearer")),
    }
}
