//! OAUTHBEARER (RFC 7628): a gs2 header, then `key=value` pairs carrying the bearer token.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{
    Answer, ClientProgress, Exchange, Format, KVSEP, Pairs, bearer_token, check_token, invalid,
    malformed,
};
use crate::Secret;
use crate::sasl::{ClientMechanism, Credentials, SaslError, ServerMechanism, ServerStep};

/// The mechanism name of RFC 7628 section 3.
pub const OAUTHBEARER: &str = "OAUTHBEARER";

/// RFC 7628 section 3.2.3: the client's answer to the error challenge.
const DUMMY_RESPONSE: &[u8] = &[0x01];

/// The client side of OAUTHBEARER (RFC 7628 section 3.1).
///
/// ```
/// use mail_wire::sasl::{self, ClientMechanism, OAuthBearerClient};
///
/// let mut client = OAuthBearerClient::new(Some("user@example.com"), "vF9dft4qmTc2Nvb3RlckBh")?
///     .with_host("server.example.com")?
///     .with_port(587)?;
/// let message = client.initial_response().unwrap();
/// let argument = sasl::encode_initial_response(message.expose_secret());
/// // `AUTH OAUTHBEARER <argument>`; the `Debug` of either shows no token.
/// assert_eq!(format!("{argument:?}"), "Secret(<redacted>)");
///
/// // A refused token: the server's JSON error is answered with %x01, once.
/// let error = br#"{"status":"invalid_token"}"#;
/// assert_eq!(client.respond(error)?.expose_secret(), b"\x01");
/// assert!(client.respond(error).is_err()); // the server should have failed by now: cancel
/// # Ok::<(), mail_wire::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct OAuthBearerClient {
    authzid: Option<String>,
    host: Option<String>,
    port: Option<u16>,
    token: Secret<String>,
    progress: ClientProgress,
}

impl OAuthBearerClient {
    /// A client presenting `token` (a `&str`, a `String` or a [`Secret<String>`]), asking to
    /// act as `authzid` if given (the gs2 `a=`; typically the user the token was issued to).
    ///
    /// The token must be non-empty visible ASCII (RFC 6750 section 2.1 `b64token`), the
    /// authzid non-empty and without NUL (RFC 5801 section 4 `saslname`).
    pub fn new(authzid: Option<&str>, token: impl Into<Secret<String>>) -> Result<Self, SaslError> {
        let token = token.into();
        check_token(OAUTHBEARER, token.expose_secret())?;
        if let Some(authzid) = authzid {
            if authzid.is_empty() || authzid.contains('\0') {
                return Err(invalid(OAUTHBEARER, "authzid is empty or contains NUL"));
            }
        }
        Ok(Self {
            authzid: authzid.map(String::from),
            host: None,
            port: None,
            token,
            progress: ClientProgress::default(),
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

    /// The client message: `n,[a=authzid],^Ahost=...^Aport=...^Aauth=Bearer token^A^A`.
    pub fn message(&self) -> Secret<Vec<u8>> {
        let mut message = String::from("n,");
        if let Some(authzid) = &self.authzid {
            // RFC 5801 section 4: "," and "=" are escaped inside a saslname.
            message.push_str("a=");
            message.push_str(&authzid.replace('=', "=3D").replace(',', "=2C"));
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
        Secret::new(message.into_bytes())
    }
}

impl ClientMechanism for OAuthBearerClient {
    fn name(&self) -> &str {
        OAUTHBEARER
    }

    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        Some(self.message())
    }

    /// An empty challenge asks for the message (no initial response was sent), and is answered
    /// once; anything else is the server's JSON error, answered once with the `%x01` dummy
    /// response (RFC 7628 section 3.2.3). Inspect the challenge for the error's `status` and
    /// `scope`. Any challenge after the error is [`SaslError::UnexpectedChallenge`]: the
    /// server had to fail the exchange.
    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        Ok(match self.progress.answer(OAUTHBEARER, challenge)? {
            Answer::Message => self.message(),
            Answer::Dummy => Secret::new(DUMMY_RESPONSE.to_vec()),
        })
    }
}

/// The server side of OAUTHBEARER (RFC 7628 section 3), giving [`Credentials::OAuth`].
///
/// The credentials do not say who the client is: the application validates the token, learns
/// its subject, and checks that subject against the claimed [`Credentials::authzid`] before
/// logging anyone in (see [`Credentials::OAuth`]); it also checks that `host` and `port` match
/// where it listens (RFC 7628 section 3.2). To refuse, call [`ServerMechanism::reject`] with an
/// error from [`oauth_error`](super::oauth_error).
#[derive(Debug, Clone)]
pub struct OAuthBearerServer(Exchange);

impl OAuthBearerServer {
    /// A server waiting for `AUTH OAUTHBEARER`.
    pub fn new() -> Self {
        Self(Exchange::new(Format {
            mechanism: OAUTHBEARER,
            parse,
            dummy: Some(DUMMY_RESPONSE),
        }))
    }
}

impl Default for OAuthBearerServer {
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

/// RFC 7628 section 3.1: `client-resp = (gs2-header kvsep *kvpair kvsep) / kvsep`.
/// `None` for the lone kvsep.
fn parse(message: &[u8]) -> Result<Option<Credentials>, SaslError> {
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
    let authzid = if authzid.is_empty() {
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
        authzid,
        token: Secret::new(String::from(bearer_token(auth, OAUTHBEARER)?)),
        host: pairs.host.map(String::from),
        port,
    }))
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
