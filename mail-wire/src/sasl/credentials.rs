//! [`Credentials`]: what a client presented, once a server mechanism is done.

use alloc::string::String;
use alloc::vec::Vec;

use crate::Secret;

/// What the client presented in a completed exchange, for the application to verify.
///
/// Passwords, tokens and digests are wrapped in [`Secret`], so the value can be logged with
/// `{:?}`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Credentials {
    /// PLAIN (RFC 4616 section 2).
    Plain {
        /// The identity to act as; `None` when the client left it to the server to derive.
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
    OAuth {
        /// XOAUTH2's `user`, or OAUTHBEARER's optional gs2 authzid.
        user: Option<String>,
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
    /// The identity that authenticated: PLAIN's authcid, the user name of LOGIN and CRAM-MD5,
    /// the OAuth user if given, a plug-in's verified identity.
    pub fn username(&self) -> Option<&str> {
        match self {
            Self::Plain { authcid, .. } => Some(authcid),
            Self::Login { username, .. } => Some(username),
            Self::OAuth { user, .. } => user.as_deref(),
            #[cfg(feature = "cram-md5")]
            Self::CramMd5 { username, .. } => Some(username),
            Self::Verified { identity, .. } => Some(identity),
            Self::Other { .. } => None,
        }
    }

    /// The identity the client asked to act as, if it differs from [`Credentials::username`]
    /// (RFC 4422 section 3.4.1).
    pub fn authzid(&self) -> Option<&str> {
        match self {
            Self::Plain { authzid, .. } | Self::Verified { authzid, .. } => authzid.as_deref(),
            _ => None,
        }
    }

    /// Checks the presented password (PLAIN, LOGIN) or CRAM-MD5 digest against `password`, in
    /// constant time for equal lengths. False for the kinds that carry no password.
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
            Self::OAuth { .. } | Self::Verified { .. } | Self::Other { .. } => false,
        }
    }
}

/// Compares without an early exit, so the time taken does not reveal where the first
/// difference is. The lengths are not secret.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let difference = a
        .iter()
        .zip(b)
        .fold(0_u8, |acc, (x, y)| core::hint::black_box(acc | (x ^ y)));
    difference == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

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
        assert!(!plain.verify_password(b""));
        assert_eq!(plain.username(), Some("Kurt"));
        assert_eq!(plain.authzid(), Some("Ursel"));

        let oauth = Credentials::OAuth {
            user: Some("user@example.com".into()),
            token: Secret::new("token".into()),
            host: None,
            port: None,
        };
        assert!(!oauth.verify_password(b"token"));
        assert_eq!(oauth.username(), Some("user@example.com"));
        assert_eq!(oauth.authzid(), None);

        let other = Credentials::Other {
            mechanism: "X-TEST".into(),
            data: Secret::new(b"data".to_vec()),
        };
        assert_eq!(other.username(), None);
        assert!(!other.verify_password(b"data"));
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

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"", b""));
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }
}
