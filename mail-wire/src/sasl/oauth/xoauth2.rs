//! Google's XOAUTH2: `user=... ^A auth=Bearer token ^A ^A`, the older sibling of OAUTHBEARER.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::{
    Answer, ClientProgress, Exchange, Format, KVSEP, Pairs, bearer_token, check_token, invalid,
    malformed,
};
use crate::Secret;
use crate::sasl::{ClientMechanism, Credentials, SaslError, ServerMechanism, ServerStep};

/// The mechanism name of Google's XOAUTH2.
pub const XOAUTH2: &str = "XOAUTH2";

/// The client side of XOAUTH2: `user=...^Aauth=Bearer token^A^A`.
#[derive(Debug, Clone)]
pub struct XOAuth2Client {
    user: String,
    token: Secret<String>,
    progress: ClientProgress,
}

impl XOAuth2Client {
    /// A client presenting `token` (a `&str`, a `String` or a [`Secret<String>`]) for `user`.
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
            progress: ClientProgress::default(),
        })
    }

    /// The client message.
    pub fn message(&self) -> Secret<Vec<u8>> {
        let (user, token) = (&self.user, self.token.expose_secret());
        Secret::new(format!("user={user}{KVSEP}auth=Bearer {token}{KVSEP}{KVSEP}").into_bytes())
    }
}

impl ClientMechanism for XOAuth2Client {
    fn name(&self) -> &str {
        XOAUTH2
    }

    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        Some(self.message())
    }

    /// An empty challenge asks for the message (no initial response was sent), and is answered
    /// once; anything else is the server's JSON error, answered once with an empty response as
    /// Google documents. Any challenge after the error is [`SaslError::UnexpectedChallenge`]:
    /// the server had to fail the exchange.
    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        Ok(match self.progress.answer(XOAUTH2, challenge)? {
            Answer::Message => self.message(),
            Answer::Dummy => Secret::new(Vec::new()),
        })
    }
}

/// The server side of XOAUTH2, giving [`Credentials::OAuth`] with the `user` as its `authzid`.
///
/// That `user` is only what the client typed: the application validates the token, learns
/// its subject, and checks that it is that user before logging anyone in (see
/// [`Credentials::OAuth`]). To refuse, call [`ServerMechanism::reject`] with an error from
/// [`oauth_error`](super::oauth_error).
#[derive(Debug, Clone)]
pub struct XOAuth2Server(Exchange);

impl XOAuth2Server {
    /// A server waiting for `AUTH XOAUTH2`.
    pub fn new() -> Self {
        Self(Exchange::new(Format {
            mechanism: XOAUTH2,
            parse,
            // Google's clients answer the error with an empty response; take anything.
            dummy: None,
        }))
    }
}

impl Default for XOAuth2Server {
    fn default() -> Self {
        Self::new()
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

/// `user=... kvsep auth=Bearer token kvsep kvsep`; never `None`.
fn parse(message: &[u8]) -> Result<Option<Credentials>, SaslError> {
    let bad = |reason| malformed(XOAUTH2, reason);
    let text = core::str::from_utf8(message).map_err(|_| bad("not UTF-8"))?;
    let pairs = Pairs::parse(text, XOAUTH2)?;
    let user = pairs
        .user
        .filter(|user| !user.is_empty())
        .ok_or(bad("missing user"))?;
    let auth = pairs.auth.ok_or(bad("missing auth"))?;
    Ok(Some(Credentials::OAuth {
        authzid: Some(String::from(user)),
        token: Secret::new(String::from(bearer_token(auth, XOAUTH2)?)),
        host: None,
        port: None,
    }))
}
