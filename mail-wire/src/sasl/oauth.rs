//! The OAuth 2.0 bearer token mechanisms: OAUTHBEARER (RFC 7628) and Google's older XOAUTH2.
//!
//! Both send the token in one client message of `key=value` pairs ended by `%x01`. When the
//! token is refused, the server first sends a JSON error document as a challenge, the client
//! answers it with a dummy response, and only then does the server fail the exchange
//! (RFC 7628 section 3.2.2 and 3.2.3). [`ServerMechanism::reject`] starts that dance on the
//! server side; the clients answer any non-empty challenge with the dummy response.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use super::{ClientMechanism, Credentials, SaslError, ServerMechanism, ServerStep};
use crate::Secret;

/// The mechanism name of RFC 7628 section 3.
pub const OAUTHBEARER: &str = "OAUTHBEARER";

/// The mechanism name of Google's XOAUTH2.
pub const XOAUTH2: &str = "XOAUTH2";

/// The error challenge sent by [`ServerMechanism::reject`] when the application gives none
/// (RFC 7628 section 3.2.2: `status` is the one required member).
pub const DEFAULT_OAUTH_ERROR: &[u8] = br#"{"status":"invalid_token"}"#;

/// RFC 7628 section 3.1: `kvsep = %x01`.
const KVSEP: char = '\x01';

/// Builds the JSON error document of a failed OAuth exchange (RFC 7628 section 3.2.2), to pass
/// to [`ServerMechanism::reject`]: `status` is an OAuth error code such as `invalid_token`,
/// `scope` a scope that would work, `openid_configuration` the URL of a discovery document.
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

/// The client side of OAUTHBEARER (RFC 7628 section 3.1).
#[derive(Debug, Clone)]
pub struct OAuthBearerClient {
    user: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    token: Secret<String>,
}

impl OAuthBearerClient {
    /// A client presenting `token`, with `user` as the gs2 authzid if given.
    ///
    /// The token must be non-empty visible ASCII (RFC 6750 section 2.1 `b64token`), the user
    /// non-empty and without NUL (RFC 5801 section 4 `saslname`).
    pub fn new(user: Option<&str>, token: impl Into<Secret<String>>) -> Result<Self, SaslError> {
        let token = token.into();
        check_token(OAUTHBEARER, token.expose_secret())?;
        if let Some(user) = user {
            if user.is_empty() || user.contains('\0') {
                return Err(invalid(OAUTHBEARER, "user is empty or contains NUL"));
            }
        }
        Ok(Self {
            user: user.map(String::from),
            host: None,
            port: None,
            token,
        })
    }

    /// Adds the `host` key: the host name the client connected to (RFC 7628 section 3.1).
    pub fn with_host(mut self, host: &str) -> Result<Self, SaslError> {
        if host.is_empty() || !host.bytes().all(|byte| byte.is_ascii_graphic()) {
            return Err(invalid(OAUTHBEARER, "host is not visible ASCII"));
        }
        self.host = Some(String::from(host));
        Ok(self)
    }

    /// Adds the `port` key: the port the client connected to, a positive integer (RFC 7628
    /// section 3.1).
    pub fn with_port(mut self, port: u16) -> Result<Self, SaslError> {
        if port == 0 {
            return Err(invalid(OAUTHBEARER, "port 0"));
        }
        self.port = Some(port);
        Ok(self)
    }

    /// The client message: `n,[a=user],^Ahost=...^Aport=...^Aauth=Bearer token^A^A`.
    pub fn message(&self) -> Vec<u8> {
        let mut message = String::from("n,");
        if let Some(user) = &self.user {
            // RFC 5801 section 4: "," and "=" are escaped inside a saslname.
            message.push_str("a=");
            message.push_str(&user.replace('=', "=3D").replace(',', "=2C"));
        }
        message.push(',');
        message.push(KVSEP);
        if let Some(host) = &self.host {
            message.push_str(&format!("host={host}{KVSEP}"));
        }
        if let Some(port) = self.port {
            message.push_str(&format!("port={port}{KVSEP}"));
        }
        let token = self.token.expose_secret();
        message.push_str(&format!("auth=Bearer {token}{KVSEP}{KVSEP}"));
        message.into_bytes()
    }
}

impl ClientMechanism for OAuthBearerClient {
    fn name(&self) -> &str {
        OAUTHBEARER
    }

    fn initial_response(&mut self) -> Option<Vec<u8>> {
        Some(self.message())
    }

    /// An empty challenge asks for the message (no initial response was sent); anything else
    /// is the server's JSON error, answered with the `%x01` dummy response (RFC 7628 section
    /// 3.2.3). Inspect the challenge for the error's `status` and `scope`.
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        Ok(if challenge.is_empty() {
            self.message()
        } else {
            vec![0x01]
        })
    }
}

/// The client side of XOAUTH2: `user=...^Aauth=Bearer token^A^A`.
#[derive(Debug, Clone)]
pub struct XOAuth2Client {
    user: String,
    token: Secret<String>,
}

impl XOAuth2Client {
    /// A client presenting `token` for `user`.
    ///
    /// The token must be non-empty visible ASCII, the user non-empty printable ASCII (the
    /// value grammar of RFC 7628 section 3.1, which XOAUTH2 shares).
    pub fn new(user: &str, token: impl Into<Secret<String>>) -> Result<Self, SaslError> {
        let token = token.into();
        check_token(XOAUTH2, token.expose_secret())?;
        if user.is_empty()
            || !user
                .bytes()
                .all(|byte| byte.is_ascii_graphic() || byte == b' ')
        {
            return Err(invalid(XOAUTH2, "user is not printable ASCII"));
        }
        Ok(Self {
            user: String::from(user),
            token,
        })
    }

    /// The client message.
    pub fn message(&self) -> Vec<u8> {
        let (user, token) = (&self.user, self.token.expose_secret());
        format!("user={user}{KVSEP}auth=Bearer {token}{KVSEP}{KVSEP}").into_bytes()
    }
}

impl ClientMechanism for XOAuth2Client {
    fn name(&self) -> &str {
        XOAUTH2
    }

    fn initial_response(&mut self) -> Option<Vec<u8>> {
        Some(self.message())
    }

    /// An empty challenge asks for the message (no initial response was sent); anything else
    /// is the server's JSON error, answered with an empty response as Google documents.
    fn respond(&mut self, challenge: &[u8]) -> Result<Vec<u8>, SaslError> {
        Ok(if challenge.is_empty() {
            self.message()
        } else {
            Vec::new()
        })
    }
}

/// The server side of OAUTHBEARER (RFC 7628 section 3), giving [`Credentials::OAuth`].
///
/// The application validates the token (and that `host` and `port` match where it listens,
/// RFC 7628 section 3.2); to refuse it, call [`ServerMechanism::reject`] with an error from
/// [`oauth_error`].
#[derive(Debug, Clone)]
pub struct OAuthBearerServer(Exchange);

/// The server side of XOAUTH2, giving [`Credentials::OAuth`] with `user` set.
///
/// To refuse the token, call [`ServerMechanism::reject`] with an error from [`oauth_error`].
#[derive(Debug, Clone)]
pub struct XOAuth2Server(Exchange);

impl OAuthBearerServer {
    /// A server waiting for `AUTH OAUTHBEARER`.
    pub fn new() -> Self {
        Self(Exchange::new(OAUTHBEARER))
    }
}

impl Default for OAuthBearerServer {
    fn default() -> Self {
        Self::new()
    }
}

impl XOAuth2Server {
    /// A server waiting for `AUTH XOAUTH2`.
    pub fn new() -> Self {
        Self(Exchange::new(XOAUTH2))
    }
}

impl Default for XOAuth2Server {
    fn default() -> Self {
        Self::new()
    }
}

impl ServerMechanism for OAuthBearerServer {
    fn name(&self) -> &str {
        OAUTHBEARER
    }

    fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, SaslError> {
        self.0.start(initial)
    }

    /// After the error challenge, RFC 7628 section 3.2.3 wants a lone `%x01`: that gives
    /// [`ServerStep::Failed`], anything else an error (the exchange fails either way).
    fn step(&mut self, response: &[u8]) -> Result<ServerStep, SaslError> {
        self.0.step(response)
    }

    fn reject(&mut self, error: &[u8]) -> Result<ServerStep, SaslError> {
        self.0.reject(error)
    }
}

impl ServerMechanism for XOAuth2Server {
    fn name(&self) -> &str {
        XOAUTH2
    }

    fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, SaslError> {
        self.0.start(initial)
    }

    /// After the error challenge any answer (normally empty) gives [`ServerStep::Failed`].
    fn step(&mut self, response: &[u8]) -> Result<ServerStep, SaslError> {
        self.0.step(response)
    }

    fn reject(&mut self, error: &[u8]) -> Result<ServerStep, SaslError> {
        self.0.reject(error)
    }
}

/// The state both OAuth servers share; `mechanism` picks the message format.
#[derive(Debug, Clone)]
struct Exchange {
    mechanism: &'static str,
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
    fn new(mechanism: &'static str) -> Self {
        Self {
            mechanism,
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
                if self.mechanism == OAUTHBEARER && response != [0x01] {
                    Err(malformed(
                        OAUTHBEARER,
                        "expected %x01 after the error challenge",
                    ))
                } else {
                    Ok(ServerStep::Failed)
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
        let parsed = if self.mechanism == OAUTHBEARER {
            parse_oauthbearer(message)?
        } else {
            Some(parse_xoauth2(message)?)
        };
        Ok(match parsed {
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
            mechanism: self.mechanism,
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

/// RFC 7628 section 3.1: `client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep`.
/// `None` for the lone kvsep.
fn parse_oauthbearer(message: &[u8]) -> Result<Option<Credentials>, SaslError> {
    let bad = |reason| malformed(OAUTHBEARER, reason);
    let text = core::str::from_utf8(message).map_err(|_| bad("not UTF-8"))?;
    if text == "\x01" {
        return Ok(None);
    }
    // RFC 5801 section 4: gs2-header = gs2-cb-flag "," [gs2-authzid] ","
    let (flag, rest) = text.split_once(',').ok_or(bad("missing gs2 header"))?;
    match flag {
        "n" | "y" => {}
        flag if flag.starts_with("p=") => return Err(bad("channel binding is not supported")),
        _ => return Err(bad("invalid gs2 channel binding flag")),
    }
    let (authzid, rest) = rest.split_once(',').ok_or(bad("missing gs2 header"))?;
    let user = if authzid.is_empty() {
        None
    } else {
        let name = authzid
            .strip_prefix("a=")
            .ok_or(bad("invalid gs2 authzid"))?;
        Some(decode_saslname(name)?)
    };
    let pairs = rest
        .strip_prefix(KVSEP)
        .ok_or(bad("missing %x01 after the gs2 header"))?;
    let pairs = Pairs::parse(pairs, OAUTHBEARER)?;
    let auth = pairs.auth.ok_or(bad("missing auth"))?;
    let port = pairs.port.map(parse_port).transpose()?;
    Ok(Some(Credentials::OAuth {
        user,
        token: Secret::new(String::from(bearer_token(auth, OAUTHBEARER)?)),
        host: pairs.host.map(String::from),
        port,
    }))
}

/// Google's XOAUTH2: `user=... kvsep auth=Bearer token kvsep kvsep`.
fn parse_xoauth2(message: &[u8]) -> Result<Credentials, SaslError> {
    let bad = |reason| malformed(XOAUTH2, reason);
    let text = core::str::from_utf8(message).map_err(|_| bad("not UTF-8"))?;
    let pairs = Pairs::parse(text, XOAUTH2)?;
    let user = pairs
        .user
        .filter(|user| !user.is_empty())
        .ok_or(bad("missing user"))?;
    let auth = pairs.auth.ok_or(bad("missing auth"))?;
    Ok(Credentials::OAuth {
        user: Some(String::from(user)),
        token: Secret::new(String::from(bearer_token(auth, XOAUTH2)?)),
        host: None,
        port: None,
    })
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

/// RFC 7628 section 3.1: "a decimal positive integer string without leading zeros".
fn parse_port(port: &str) -> Result<u16, SaslError> {
    let bad = || malformed(OAUTHBEARER, "invalid port");
    if port.starts_with('0') || !port.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(bad());
    }
    port.parse().map_err(|_| bad())
}

/// RFC 5801 section 4: `saslname = 1*(UTF8-char-safe / "=2C" / "=3D")`.
fn decode_saslname(name: &str) -> Result<String, SaslError> {
    let bad = |reason| malformed(OAUTHBEARER, reason);
    if name.is_empty() {
        return Err(bad("empty gs2 authzid"));
    }
    if name.contains('\0') {
        return Err(bad("NUL in gs2 authzid"));
    }
    let mut decoded = String::with_capacity(name.len());
    let mut rest = name;
    while let Some((before, after)) = rest.split_once('=') {
        decoded.push_str(before);
        let (code, after) = after
            .split_at_checked(2)
            .ok_or(bad("invalid escape in gs2 authzid"))?;
        if code.eq_ignore_ascii_case("2C") {
            decoded.push(',');
        } else if code.eq_ignore_ascii_case("3D") {
            decoded.push('=');
        } else {
            return Err(bad("invalid escape in gs2 authzid"));
        }
        rest = after;
    }
    decoded.push_str(rest);
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sasl::{
        ClientResponse, MAX_DECODED_LEN, decode_challenge, decode_initial_response,
        decode_response, encode_challenge, encode_initial_response, encode_response,
    };
    use alloc::boxed::Box;
    use alloc::string::ToString;
    use proptest::prelude::*;

    const TOKEN: &str = "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==";

    fn oauth(
        user: Option<&str>,
        token: &str,
        host: Option<&str>,
        port: Option<u16>,
    ) -> Credentials {
        Credentials::OAuth {
            user: user.map(String::from),
            token: Secret::new(token.into()),
            host: host.map(String::from),
            port,
        }
    }

    fn response(line: &str) -> Vec<u8> {
        match decode_response(line.as_bytes(), MAX_DECODED_LEN).unwrap() {
            ClientResponse::Data(data) => data.into_inner(),
            ClientResponse::Cancel => panic!("cancelled"),
        }
    }

    #[test]
    fn rfc7628_4_1_imap_and_smtp() {
        // RFC 7628 section 4.1, the wrapped base64 lines joined.
        for (port, line) in [
            (
                143,
                "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB",
            ),
            (
                587,
                "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9NTg3AWF1dGg9QmVhcmVyIHZGOWRmdDRxbVRjMk52YjNSbGNrQmhiSFJoZG1semRHRXVZMjl0Q2c9PQEB",
            ),
        ] {
            let mut client = OAuthBearerClient::new(Some("user@example.com"), TOKEN.to_string())
                .unwrap()
                .with_host("server.example.com")
                .unwrap()
                .with_port(port)
                .unwrap();
            let initial = client.initial_response().unwrap();
            assert_eq!(encode_initial_response(&initial), line);

            let decoded = decode_initial_response(line.as_bytes(), MAX_DECODED_LEN).unwrap();
            let mut server = OAuthBearerServer::new();
            let expected = oauth(
                Some("user@example.com"),
                TOKEN,
                Some("server.example.com"),
                Some(port),
            );
            assert_eq!(
                server.start(Some(decoded.expose_secret())),
                Ok(ServerStep::Done(expected))
            );
        }
    }

    #[test]
    fn rfc7628_4_3_failed_exchange() {
        let initial =
            "bixhPXVzZXJAZXhhbXBsZS5jb20sAWhvc3Q9c2VydmVyLmV4YW1wbGUuY29tAXBvcnQ9MTQzAWF1dGg9AQE=";
        let error = oauth_error(
            "invalid_token",
            Some("example_scope"),
            Some("https://example.com/.well-known/openid-configuration"),
        );
        let challenge = "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=";

        // Server: an empty auth is parsed (the client is asking for the scope)...
        let decoded = decode_initial_response(initial.as_bytes(), MAX_DECODED_LEN).unwrap();
        let mut server = OAuthBearerServer::new();
        let expected = oauth(
            Some("user@example.com"),
            "",
            Some("server.example.com"),
            Some(143),
        );
        assert_eq!(
            server.start(Some(decoded.expose_secret())),
            Ok(ServerStep::Done(expected))
        );
        // ...the application refuses it, and the error goes out as a challenge...
        let Ok(ServerStep::Challenge(sent)) = server.reject(&error) else {
            panic!("no error challenge")
        };
        assert_eq!(encode_challenge(&sent), challenge);
        // ...the client answers with the dummy AQ== and the exchange fails.
        let mut client =
            OAuthBearerClient::new(Some("user@example.com"), TOKEN.to_string()).unwrap();
        let dummy = client
            .respond(&decode_challenge(challenge.as_bytes(), MAX_DECODED_LEN).unwrap())
            .unwrap();
        assert_eq!(encode_response(&dummy), "AQ==");
        assert_eq!(server.step(&response("AQ==")), Ok(ServerStep::Failed));
        assert!(server.step(b"\x01").is_err_and(|error| error.is_misuse()));
    }

    #[test]
    fn rfc7628_4_4_smtp_failure() {
        // RFC 7628 section 4.4 uses "n,user=...," where RFC 5801 wants "n,a=...,": the
        // example does not follow the grammar, and the server says so.
        let initial = "bix1c2VyPXNvbWV1c2VyQGV4YW1wbGUuY29tLAFhdXRoPUJlYXJlciB2RjlkZnQ0cW1UYzJOdmIzUmxja0JoZEhSaGRtbHpkR0V1WTI5dENnPT0BAQ==";
        let decoded = decode_initial_response(initial.as_bytes(), MAX_DECODED_LEN).unwrap();
        assert_eq!(
            OAuthBearerServer::new().start(Some(decoded.expose_secret())),
            Err(malformed(OAUTHBEARER, "invalid gs2 authzid"))
        );
        // The error challenge and the dummy answer from the same example.
        let challenge = "eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NoZW1lcyI6ImJlYXJlciBtYWMiLCJzY29wZSI6Imh0dHBzOi8vbWFpbC5leGFtcGxlLmNvbS8ifQ==";
        let error = decode_challenge(challenge.as_bytes(), MAX_DECODED_LEN).unwrap();
        let mut client = OAuthBearerClient::new(None, TOKEN.to_string()).unwrap();
        assert_eq!(encode_response(&client.respond(&error).unwrap()), "AQ==");
    }

    #[test]
    fn oauthbearer_without_initial_response() {
        let mut server = OAuthBearerServer::new();
        let mut client: Box<dyn ClientMechanism> =
            Box::new(OAuthBearerClient::new(None, "tok".to_string()).unwrap());
        assert_eq!(client.name(), OAUTHBEARER);
        assert_eq!(server.start(None), Ok(ServerStep::Challenge(Vec::new())));
        let message = client.respond(b"").unwrap();
        assert_eq!(message, b"n,,\x01auth=Bearer tok\x01\x01");
        assert_eq!(
            server.step(&message),
            Ok(ServerStep::Done(oauth(None, "tok", None, None)))
        );
        // Accepted: nothing more to do; reject is still possible until then.
        assert!(server.step(b"").is_err_and(|error| error.is_misuse()));
    }

    #[test]
    fn oauthbearer_lone_kvsep_fails() {
        assert_eq!(
            OAuthBearerServer::new().start(Some(b"\x01")),
            Ok(ServerStep::Failed)
        );
    }

    #[test]
    fn oauthbearer_default_error_and_bad_dummy() {
        let mut server = OAuthBearerServer::new();
        let _ = server.start(Some(b"n,,\x01auth=Bearer tok\x01\x01"));
        assert_eq!(
            server.reject(b""),
            Ok(ServerStep::Challenge(DEFAULT_OAUTH_ERROR.to_vec()))
        );
        assert!(server.reject(b"").is_err_and(|error| error.is_misuse()));
        assert_eq!(
            server.step(b"x"),
            Err(malformed(
                OAUTHBEARER,
                "expected %x01 after the error challenge"
            ))
        );
    }

    #[test]
    fn saslname_escapes() {
        let client = OAuthBearerClient::new(Some("a,b=c"), "tok".to_string()).unwrap();
        let message = client.message();
        assert_eq!(message, b"n,a=a=2Cb=3Dc,\x01auth=Bearer tok\x01\x01");
        let mut server = OAuthBearerServer::new();
        assert_eq!(
            server.start(Some(&message)),
            Ok(ServerStep::Done(oauth(Some("a,b=c"), "tok", None, None)))
        );
    }

    #[test]
    fn oauthbearer_malformed() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "missing gs2 header"),
            (b"n", "missing gs2 header"),
            (b"n,", "missing gs2 header"),
            (b"n,,", "missing %x01 after the gs2 header"),
            (
                b"x,,\x01auth=Bearer t\x01\x01",
                "invalid gs2 channel binding flag",
            ),
            (
                b"p=tls-unique,,\x01auth=Bearer t\x01\x01",
                "channel binding is not supported",
            ),
            (b"n,b=user,\x01auth=Bearer t\x01\x01", "invalid gs2 authzid"),
            (b"n,a=,\x01auth=Bearer t\x01\x01", "empty gs2 authzid"),
            (
                b"n,a=x=2,\x01auth=Bearer t\x01\x01",
                "invalid escape in gs2 authzid",
            ),
            (
                b"n,a=x=41,\x01auth=Bearer t\x01\x01",
                "invalid escape in gs2 authzid",
            ),
            (b"n,,\x01auth=Bearer t\x01", "missing final %x01"),
            (b"n,,\x01auth=Bearer t", "missing final %x01"),
            (b"n,,\x01\x01", "missing auth"),
            (
                b"n,,\x01auth=Bearer t\x01\x01junk",
                "data after the final %x01",
            ),
            (b"n,,\x01auth\x01\x01", "key without value"),
            (b"n,,\x01=x\x01auth=Bearer t\x01\x01", "invalid key"),
            (b"n,,\x01k2=x\x01auth=Bearer t\x01\x01", "invalid key"),
            (
                b"n,,\x01auth=Bearer t\x01auth=Bearer u\x01\x01",
                "duplicate key",
            ),
            (
                b"n,,\x01auth=Bearer \x00\x01\x01",
                "invalid character in a value",
            ),
            (
                b"n,,\x01auth=Basic dXNlcjpwdw==\x01\x01",
                "auth scheme is not Bearer",
            ),
            (b"n,,\x01auth=Bearer\x01\x01", "auth scheme is not Bearer"),
            (b"n,,\x01auth=Bearer  \x01\x01", "invalid bearer token"),
            (b"n,,\x01auth=Bearer a b\x01\x01", "invalid bearer token"),
            (b"n,,\x01port=0143\x01auth=Bearer t\x01\x01", "invalid port"),
            (b"n,,\x01port=0\x01auth=Bearer t\x01\x01", "invalid port"),
            (
                b"n,,\x01port=65536\x01auth=Bearer t\x01\x01",
                "invalid port",
            ),
            (b"n,,\x01port=+1\x01auth=Bearer t\x01\x01", "invalid port"),
            (b"n,,\x01auth=Bearer t\xff\x01\x01", "not UTF-8"),
        ];
        for (message, reason) in cases {
            let got = OAuthBearerServer::new().start(Some(message));
            assert_eq!(got, Err(malformed(OAUTHBEARER, reason)), "{message:?}");
        }
        // Unknown keys are ignored, the scheme is case-insensitive, "y" is a valid flag.
        let got =
            OAuthBearerServer::new().start(Some(b"y,,\x01mthd=POST\x01auth=bEaReR t\x01\x01"));
        assert_eq!(got, Ok(ServerStep::Done(oauth(None, "t", None, None))));
    }

    #[test]
    fn xoauth2_exchange() {
        let mut client = XOAuth2Client::new(
            "someuser@example.com",
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg".to_string(),
        )
        .unwrap();
        let message = client.initial_response().unwrap();
        assert_eq!(
            message,
            b"user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"
        );
        // The form Google documents, base64 encoded.
        assert_eq!(
            encode_initial_response(&message),
            "dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ=="
        );
        let mut server = XOAuth2Server::new();
        let expected = oauth(
            Some("someuser@example.com"),
            "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg",
            None,
            None,
        );
        assert_eq!(server.start(Some(&message)), Ok(ServerStep::Done(expected)));

        // Refused: the error challenge, an empty answer, failure.
        let error = br#"{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}"#;
        assert_eq!(
            server.reject(error),
            Ok(ServerStep::Challenge(error.to_vec()))
        );
        let answer = client.respond(error).unwrap();
        assert_eq!(encode_response(&answer), "");
        assert_eq!(server.step(&answer), Ok(ServerStep::Failed));
    }

    #[test]
    fn xoauth2_without_initial_response() {
        let mut client = XOAuth2Client::new("u", "t".to_string()).unwrap();
        let mut server: Box<dyn ServerMechanism> = Box::new(XOAuth2Server::new());
        assert_eq!(server.name(), XOAUTH2);
        assert_eq!(server.start(None), Ok(ServerStep::Challenge(Vec::new())));
        let message = client.respond(b"").unwrap();
        assert_eq!(
            server.step(&message),
            Ok(ServerStep::Done(oauth(Some("u"), "t", None, None)))
        );
    }

    #[test]
    fn xoauth2_malformed() {
        let cases: &[(&[u8], &str)] = &[
            (b"", "missing final %x01"),
            (b"\x01", "missing user"),
            (b"user=\x01auth=Bearer t\x01\x01", "missing user"),
            (b"user=u\x01\x01", "missing auth"),
            (b"user=u\x01auth=Bearer t\x01", "missing final %x01"),
            (b"user=u\x01auth=t\x01\x01", "auth scheme is not Bearer"),
            (
                b"user=u\x01user=v\x01auth=Bearer t\x01\x01",
                "duplicate key",
            ),
        ];
        for (message, reason) in cases {
            let got = XOAuth2Server::new().start(Some(message));
            assert_eq!(got, Err(malformed(XOAUTH2, reason)), "{message:?}");
        }
        // OAUTHBEARER's keys mean nothing to XOAUTH2.
        let got = XOAuth2Server::new().start(Some(b"host=h\x01user=u\x01auth=Bearer t\x01\x01"));
        assert_eq!(got, Ok(ServerStep::Done(oauth(Some("u"), "t", None, None))));
    }

    #[test]
    fn client_validation() {
        assert!(XOAuth2Client::new("", "t".to_string()).is_err());
        assert!(XOAuth2Client::new("u\x01", "t".to_string()).is_err());
        assert!(XOAuth2Client::new("ü", "t".to_string()).is_err());
        assert!(XOAuth2Client::new("u", String::new()).is_err());
        assert!(XOAuth2Client::new("u", "t\x01".to_string()).is_err());
        assert!(XOAuth2Client::new("u", "t t".to_string()).is_err());
        assert!(OAuthBearerClient::new(Some(""), "t".to_string()).is_err());
        assert!(OAuthBearerClient::new(Some("a\0"), "t".to_string()).is_err());
        let client = OAuthBearerClient::new(None, "t".to_string()).unwrap();
        assert!(client.clone().with_host("").is_err());
        assert!(client.clone().with_host("a b").is_err());
        assert!(client.clone().with_host("a\x01").is_err());
        assert!(client.with_port(0).is_err_and(|error| error.is_misuse()));
    }

    #[test]
    fn error_json() {
        assert_eq!(
            oauth_error("invalid_token", None, None),
            DEFAULT_OAUTH_ERROR
        );
        assert_eq!(
            oauth_error("a\"b\\c\n", Some("s"), None),
            br#"{"status":"a\"b\\c\u000a","scope":"s"}"#
        );
    }

    #[test]
    fn debug_does_not_leak() {
        let client = OAuthBearerClient::new(None, TOKEN.to_string()).unwrap();
        let server_side = oauth(None, TOKEN, None, None);
        let shown = alloc::format!("{client:?} {server_side:?}");
        assert!(!shown.contains("vF9dft"), "{shown}");
    }

    proptest! {
        #[test]
        fn oauthbearer_round_trip(
            user in proptest::option::of("[^\0]{1,30}"),
            token in "[!-~]{1,40}",
            host in proptest::option::of("[!-~]{1,30}"),
            port in proptest::option::of(1_u16..),
        ) {
            let mut client = OAuthBearerClient::new(user.as_deref(), token.clone()).unwrap();
            if let Some(host) = &host {
                client = client.with_host(host).unwrap();
            }
            if let Some(port) = port {
                client = client.with_port(port).unwrap();
            }
            let message = client.initial_response().unwrap();
            let expected = oauth(user.as_deref(), &token, host.as_deref(), port);
            prop_assert_eq!(OAuthBearerServer::new().start(Some(&message)), Ok(ServerStep::Done(expected)));
        }

        #[test]
        fn xoauth2_round_trip(user in "[ -~]{1,30}", token in "[!-~]{1,40}") {
            let mut client = XOAuth2Client::new(&user, token.clone()).unwrap();
            let message = client.initial_response().unwrap();
            let got = XOAuth2Server::new().start(Some(&message));
            prop_assert_eq!(got, Ok(ServerStep::Done(oauth(Some(&user), &token, None, None))));
        }

        #[test]
        fn servers_never_panic(message in proptest::collection::vec(any::<u8>(), 0..80)) {
            let _ = OAuthBearerServer::new().start(Some(&message));
            let _ = XOAuth2Server::new().start(Some(&message));
        }

        #[test]
        fn servers_never_panic_on_near_misses(message in "[naypuserthotk=,\x01 0-9]{0,40}") {
            let _ = OAuthBearerServer::new().start(Some(message.as_bytes()));
            let _ = XOAuth2Server::new().start(Some(message.as_bytes()));
        }
    }
}
