//! [`Credentials`]: what a client presented, once a server mechanism is done.

use alloc::string::String;
use alloc::vec::Vec;

use crate::Secret;
use crate::secret::constant_time_eq;

/// What the client presented in a completed exchange, for the application to verify.
///
/// Passwords, tokens and digests are wrapped in [`Secret`], so the value can be logged with
/// `{:?}`, and `==` compares them in constant time (see [`constant_time_eq`]). To check a
/// credential, use [`Credentials::verify_password`] or [`Credentials::verify_token`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// PLAIN (RFC 4616 section 2).
    Plain {
        /// The identity to act as, as sent; `None` when the client left it empty, for the
        /// server to derive from `authcid`.
        authzid: Option<String>,
        /// The identity whose password this is.
        authcid: String,
        /// The clear-text password.
        password: Secret<String>,
    },
    /// LOGIN (draft-murchison-sasl-login).
    Login {
        /// The user name.
        username: String,
        /// The clear-text password.
        password: Secret<String>,
    },
    /// XOAUTH2 or OAUTHBEARER (RFC 7628 section 3.1): an OAuth 2.0 bearer token.
    ///
    /// **Nothing in here says who the client is.** The authenticated identity is the token's
    /// subject (RFC 7628 section 3.2: "the identity securely established for the client with
    /// the OAuth credential"), which only the application can establish, by validating the
    /// token; so [`Credentials::username`] is `None` for this variant. The application:
    ///
    /// 1. validates `token` and learns its subject (an empty token is never valid: RFC 7628
    ///    section 4.3 sends one to discover the scope);
    /// 2. if `authzid` is given, checks that the subject may act as it (normally: that both
    ///    name the same user) and refuses otherwise;
    /// 3. logs the client in as the subject, or as `authzid` once step 2 allowed it.
    ///
    /// `authzid` alone is whatever the client typed: logging in as it without step 2 lets
    /// anyone with a valid token for one user become any other.
    ///
    /// ```
    /// use mail_wire::sasl::{Credentials, OAuthBearerServer, ServerMechanism, ServerStep};
    ///
    /// let mut server = OAuthBearerServer::new();
    /// let message = b"n,a=mallory@example.com,\x01auth=Bearer token-of-alice\x01\x01";
    /// let ServerStep::Done(credentials) = server.start(Some(message))? else { unreachable!() };
    /// assert_eq!(credentials.username(), None); // only the token can tell
    /// assert_eq!(credentials.authzid(), Some("mallory@example.com")); // a claim
    ///
    /// // The application's token check says the token is alice's: the claim does not match.
    /// let subject = "alice@example.com";
    /// assert!(credentials.verify_token(b"token-of-alice"));
    /// assert_ne!(credentials.authzid(), Some(subject)); // so: reject
    /// # Ok::<(), mail_wire::sasl::SaslError>(())
    /// ```
    OAuth {
        /// The identity the client claims to act as, unverified: OAUTHBEARER's optional gs2
        /// authzid (`a=`, RFC 7628 section 3.1, RFC 5801 section 4) or XOAUTH2's `user=`.
        /// Check it against the token's subject before trusting it.
        authzid: Option<String>,
        /// The bearer token; empty when the client sent an empty `auth` to discover the scope
        /// it needs (RFC 7628 section 4.3), which the application answers with a rejection.
        token: Secret<String>,
        /// OAUTHBEARER's `host` key: the host name the client connected to.
        host: Option<String>,
        /// OAUTHBEARER's `port` key: the port the client connected to.
        port: Option<u16>,
    },
    /// CRAM-MD5 (RFC 2195 section 2): verify with [`Credentials::verify_password`].
    #[cfg(feature = "cram-md5")]
    CramMd5 {
        /// The user name.
        username: String,
        /// The challenge the server sent.
        challenge: String,
        /// The client's HMAC-MD5 of the challenge, keyed with the password.
        digest: Secret<[u8; 16]>,
    },
    /// EXTERNAL (RFC 4422 appendix A): the client is who a layer below SASL (a TLS client
    /// certificate, say) established; see [`ServerMechanisms::external`](super::ServerMechanisms::external).
    ///
    /// The mechanism checked nothing but the message's grammar: `identity` is what the
    /// application handed to the server machine as the external identity. The application
    /// only decides whether that identity may act as `authzid`.
    External {
        /// The identity established outside SASL.
        identity: String,
        /// The identity to act as, exactly as sent; `None` when the client sent an empty
        /// message, to act as `identity` itself.
        authzid: Option<String>,
    },
    /// SCRAM-SHA-256 (RFC 5802, RFC 7677): **already verified**. The mechanism checked the
    /// client's proof against the stored secret the application provided
    /// ([`ServerStep::Lookup`](super::ServerStep::Lookup)), and proved itself to the client
    /// in turn; a wrong password never gets this far.
    ///
    /// The application still does authorization: whether `authcid` may log in now, and act as
    /// `authzid` if that is given.
    Scram {
        /// The authenticated user, as sent with its escapes undone (no SASLprep applied).
        authcid: String,
        /// The identity to act as, exactly as sent (the gs2 `a=`), if any.
        authzid: Option<String>,
    },
    /// An identity a plug-in mechanism has verified itself (SCRAM, EXTERNAL over a TLS client
    /// certificate...): the application only decides whether it may act as `authzid`.
    Verified {
        /// The mechanism's name.
        mechanism: String,
        /// The authenticated identity.
        identity: String,
        /// The identity to act as, if the client asked for one.
        authzid: Option<String>,
    },
    /// Data a plug-in mechanism leaves to the application to interpret.
    Other {
        /// The mechanism's name.
        mechanism: String,
        /// The mechanism's data.
        data: Secret<Vec<u8>>,
    },
}

impl Credentials {
    /// The identity the presented credential belongs to, once verified: PLAIN's authcid, the
    /// user name of LOGIN and CRAM-MD5, SCRAM's authcid, EXTERNAL's external identity, a
    /// plug-in's verified identity.
    ///
    /// `None` for OAuth ([`Credentials::OAuth`]): the identity is the token's subject, which
    /// only the application can learn; the user the client names there is only a claim, given
    /// by [`Credentials::authzid`]. `None` for [`Credentials::Other`].
    pub fn username(&self) -> Option<&str> {
        match self {
            Self::Plain { authcid, .. } => Some(authcid),
            Self::Login { username, .. } => Some(username),
            #[cfg(feature = "cram-md5")]
            Self::CramMd5 { username, .. } => Some(username),
            Self::Verified { identity, .. } | Self::External { identity, .. } => Some(identity),
            Self::Scram { authcid, .. } => Some(authcid),
            Self::OAuth { .. } | Self::Other { .. } => None,
        }
    }

    /// The identity the client asked to act as (RFC 4422 section 3.4.1), exactly as sent,
    /// whenever it sent a non-empty one, even when it equals [`Credentials::username`]:
    /// PLAIN's authzid, OAUTHBEARER's gs2 authzid, XOAUTH2's `user`, a plug-in's authzid.
    ///
    /// The application decides whether the authenticated identity may act as it; `None` means
    /// the client acts as itself.
    pub fn authzid(&self) -> Option<&str> {
        match self {
            Self::Plain { authzid, .. }
            | Self::Verified { authzid, .. }
            | Self::External { authzid, .. }
            | Self::Scram { authzid, .. }
            | Self::OAuth { authzid, .. } => authzid.as_deref(),
            Self::Login { .. } | Self::Other { .. } => None,
            #[cfg(feature = "cram-md5")]
            Self::CramMd5 { .. } => None,
        }
    }

    /// Checks the presented password (PLAIN, LOGIN) or CRAM-MD5 digest against the stored
    /// `password`, in constant time ([`constant_time_eq`], with the length of `password` hidden
    /// as far as practical). False for the kinds that carry no password.
    pub fn verify_password(&self, password: &[u8]) -> bool {
        match self {
            Self::Plain {
                password: presented,
                ..
            }
            | Self::Login {
                password: presented,
                ..
            } => constant_time_eq(presented.expose_secret().as_bytes(), password),
            #[cfg(feature = "cram-md5")]
            Self::CramMd5 {
                challenge, digest, ..
            } => super::cram_md5::verify(password, challenge.as_bytes(), digest.expose_secret()),
            Self::OAuth { .. }
            | Self::Verified { .. }
            | Self::External { .. }
            | Self::Scram { .. }
            | Self::Other { .. } => false,
        }
    }

    /// Whether the mechanism itself established [`Credentials::username`], so that nothing is
    /// left to check but authorization: SCRAM (the proof was verified), EXTERNAL (the identity
    /// came from the application) and [`Credentials::Verified`]. False for the kinds that hand
    /// a password, digest or token to the application to check.
    pub fn is_verified(&self) -> bool {
        matches!(
            self,
            Self::Scram { .. } | Self::External { .. } | Self::Verified { .. }
        )
    }

    /// Checks the presented OAuth bearer token against `expected`, in constant time
    /// ([`constant_time_eq`], with the length of `expected` hidden as far as practical), for
    /// applications that hold the valid tokens themselves. False for an empty presented token
    /// (a scope discovery, RFC 7628 section 4.3) and for the kinds that carry no token.
    ///
    /// A match says the client holds that token, not who it is: see [`Credentials::OAuth`]
    /// for binding the token's subject to [`Credentials::authzid`].
    pub fn verify_token(&self, expected: &[u8]) -> bool {
        match self {
            Self::OAuth { token, .. } => {
                let token = token.expose_secret().as_bytes();
                !token.is_empty() && constant_time_eq(token, expected)
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    fn oauth(authzid: Option<&str>, token: &str) -> Credentials {
        Credentials::OAuth {
            authzid: authzid.map(String::from),
            token: Secret::new(token.into()),
            host: None,
            port: None,
        }
    }

    #[test]
    fn password_checks() {
        let plain = Credentials::Plain {
            authzid: Some("Ursel".into()),
            authcid: "Kurt".into(),
            password: Secret::new("xipj3plmq".into()),
        };
        assert!(plain.verify_password(b"xipj3plmq"));
        assert!(!plain.verify_password(b"xipj3plmQ"));
        assert!(!plain.verify_password(b"xipj3plm"));
        assert!(!plain.verify_password(b"xipj3plmqxipj3plmq"));
        assert!(!plain.verify_password(b""));
        assert!(!plain.verify_token(b"xipj3plmq"));
        assert_eq!(plain.username(), Some("Kurt"));
        assert_eq!(plain.authzid(), Some("Ursel"));

        let other = Credentials::Other {
            mechanism: "X-TEST".into(),
            data: Secret::new(b"data".to_vec()),
        };
        assert_eq!(other.username(), None);
        assert!(!other.verify_password(b"data"));
        assert!(!other.verify_token(b"data"));
    }

    #[test]
    fn oauth_names_no_user_and_only_claims_an_authzid() {
        let oauth = oauth(Some("user@example.com"), "token");
        assert_eq!(oauth.username(), None);
        assert_eq!(oauth.authzid(), Some("user@example.com"));
        assert!(!oauth.verify_password(b"token"));
        assert_eq!(self::oauth(None, "token").authzid(), None);
    }

    #[test]
    fn token_checks() {
        let oauth = oauth(None, "vF9dft4qmTc2Nvb3RlckBh");
        assert!(oauth.verify_token(b"vF9dft4qmTc2Nvb3RlckBh"));
        assert!(!oauth.verify_token(b"vF9dft4qmTc2Nvb3RlckBH"));
        assert!(!oauth.verify_token(b"vF9dft4qmTc2Nvb3RlckB"));
        assert!(!oauth.verify_token(b"vF9dft4qmTc2Nvb3RlckBhvF9dft4qmTc2Nvb3RlckBh"));
        assert!(!oauth.verify_token(b""));
        // A scope discovery carries no token, which matches nothing, not even "".
        let discovery = self::oauth(None, "");
        assert!(!discovery.verify_token(b""));
        assert!(!discovery.verify_token(b"x"));
    }

    #[test]
    fn authzid_as_sent_even_when_equal_to_the_username() {
        // RFC 4954 section 4.1's `test\0test\01234`.
        let plain = Credentials::Plain {
            authzid: Some("test".into()),
            authcid: "test".into(),
            password: Secret::new("1234".into()),
        };
        assert_eq!(plain.username(), Some("test"));
        assert_eq!(plain.authzid(), Some("test"));
    }

    #[test]
    fn debug_does_not_leak() {
        let login = Credentials::Login {
            username: "tim".into(),
            password: Secret::new("tanstaaftanstaaf".into()),
        };
        let shown = format!("{login:?}");
        assert!(shown.contains("tim"));
        assert!(!shown.contains("tanstaaf"), "{shown}");
    }
}
