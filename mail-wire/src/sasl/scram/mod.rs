//! SCRAM-SHA-256 (RFC 5802, RFC 7677): a challenge-response mechanism where neither side sends
//! the password, the server stores only a salted verifier, and the server proves that it knows
//! the verifier too.
//!
//! The exchange, as RFC 7677 section 3 shows it (user `user`, password `pencil`):
//!
//! ```text
//! C: n,,n=user,r=rOprNGfwEbeRWgbNEkqO
//! S: r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096
//! C: c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=
//! S: v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=
//! C: (empty: SMTP and POP3 carry the server's last message as a challenge)
//! ```
//!
//! The nonces come from the application (nothing here has randomness): make them from at
//! least 18 random octets, printable ASCII without `,`. Between the first two messages the
//! server needs the user's stored secret: its mechanism returns
//! [`ServerStep::Lookup`](super::ServerStep::Lookup), answered with
//! [`ServerMechanism::provide_secret`](super::ServerMechanism::provide_secret).
//!
//! Channel binding (SCRAM-SHA-256-PLUS, RFC 5802 section 6) comes with a
//! [`ChannelBinding`](super::ChannelBinding) from the TLS layer. Not done here: SASLprep (RFC 4013): user
//! names and passwords are used as given, which is what SASLprep gives for printable ASCII;
//! normalise others in the application, the same way when storing and when logging in.

use alloc::vec::Vec;

use super::SaslError;
use crate::Secret;

#[cfg(feature = "scram")]
mod client;
#[cfg(feature = "scram")]
mod crypto;
#[cfg(feature = "scram")]
mod grammar;
#[cfg(feature = "scram")]
mod server;
#[cfg(test)]
#[cfg(feature = "scram")]
mod tests;

#[cfg(feature = "scram")]
pub use client::ScramSha256Client;
#[cfg(feature = "scram")]
pub use server::ScramSha256Server;

/// The mechanism name (RFC 7677 section 2).
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// The name of the variant with channel binding (RFC 7677 section 2, RFC 5802 section 6).
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// The default limit on the user name, the authzid and each nonce, in octets.
pub const SCRAM_FIELD_LIMIT: usize = super::PLAIN_FIELD_LIMIT;

/// RFC 7677 section 4: the iteration count "SHOULD be at least 4096"; the client refuses a
/// server that asks for fewer (a downgrade that makes guessing cheap).
pub const SCRAM_MIN_ITERATIONS: u32 = 4096;

/// The client's default cap on the iteration count a server may ask for, so that a server
/// cannot make the client compute for minutes (the work grows linearly with the count).
pub const SCRAM_MAX_ITERATIONS: u32 = 1_000_000;

/// The octets of a SHA-256 key or signature.
const KEY_LEN: usize = 32;

/// The fewest octets a [`ScramUnknownUsers`] key may have.
pub const SCRAM_UNKNOWN_USER_KEY_MIN_LEN: usize = 16;

/// The longest made-up salt [`ScramUnknownUsers`] gives (the client of this crate accepts
/// salts up to 256 octets).
pub const SCRAM_UNKNOWN_USER_SALT_MAX_LEN: usize = 256;

/// How a SCRAM server answers for a user it does not know, so that the answer looks like a
/// real user's (RFC 5802 section 9: the server "SHOULD" go on with made-up values, or
/// anyone may learn which users exist).
///
/// The made-up salt of a user name is an HMAC of it, keyed with a per-server secret key:
/// the same user name gets the same salt on every attempt, as a real user does, and no one
/// without the key can tell it from a random one. Keep the key secret and the same across
/// connections and restarts (say, 32 random octets in the configuration). The iteration
/// count and salt length should be those of the real users' secrets: by default 4096
/// ([`SCRAM_MIN_ITERATIONS`]) and 16 octets, what [`ScramSecret::derive`] advises.
///
/// `Debug` never shows the key.
///
/// ```
/// use mail_wire::sasl::{ScramSecret, ScramUnknownUsers};
///
/// let unknown_users = ScramUnknownUsers::new(b"32 random octets, kept secret!!!")?;
/// assert_eq!((unknown_users.iterations(), unknown_users.salt_len()), (4096, 16));
/// // Mimic what real users have, if that differs from the default:
/// let real = ScramSecret::derive("pencil", b"a salt of 24 octets here", 10_000)?;
/// let unknown_users = unknown_users.like(&real)?;
/// assert_eq!((unknown_users.iterations(), unknown_users.salt_len()), (10_000, 24));
/// # Ok::<(), mail_wire::sasl::SaslError>(())
/// ```
#[cfg(feature = "scram")]
#[derive(Clone)]
pub struct ScramUnknownUsers {
    key: Secret<Vec<u8>>,
    iterations: u32,
    salt_len: usize,
}

#[cfg(feature = "scram")]
impl core::fmt::Debug for ScramUnknownUsers {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScramUnknownUsers")
            .field("iterations", &self.iterations)
            .field("salt_len", &self.salt_len)
            .finish_non_exhaustive()
    }
}

#[cfg(feature = "scram")]
impl ScramUnknownUsers {
    /// Made-up values keyed with `key`, a per-server secret of at least
    /// [`SCRAM_UNKNOWN_USER_KEY_MIN_LEN`] octets, with 4096 iterations and 16-octet salts.
    pub fn new(key: &[u8]) -> Result<Self, SaslError> {
        if key.len() < SCRAM_UNKNOWN_USER_KEY_MIN_LEN {
            return Err(SaslError::InvalidArgument {
                mechanism: SCRAM_SHA_256,
                reason: "unknown-user key shorter than 16 octets",
            });
        }
        Ok(Self {
            key: Secret::new(key.to_vec()),
            iterations: SCRAM_MIN_ITERATIONS,
            salt_len: 16,
        })
    }

    /// The same, with `iterations` (at least 1) as the made-up iteration count.
    pub fn with_iterations(mut self, iterations: u32) -> Result<Self, SaslError> {
        if iterations == 0 {
            return Err(SaslError::InvalidArgument {
                mechanism: SCRAM_SHA_256,
                reason: "zero iterations",
            });
        }
        self.iterations = iterations;
        Ok(self)
    }

    /// The same, with made-up salts of `salt_len` octets (1 to
    /// [`SCRAM_UNKNOWN_USER_SALT_MAX_LEN`]).
    pub fn with_salt_len(mut self, salt_len: usize) -> Result<Self, SaslError> {
        if !(1..=SCRAM_UNKNOWN_USER_SALT_MAX_LEN).contains(&salt_len) {
            return Err(SaslError::InvalidArgument {
                mechanism: SCRAM_SHA_256,
                reason: "made-up salt length not within 1 to 256 octets",
            });
        }
        self.salt_len = salt_len;
        Ok(self)
    }

    /// The same, with the iteration count and salt length of a real user's `secret`.
    pub fn like(self, secret: &ScramSecret) -> Result<Self, SaslError> {
        self.with_iterations(secret.iterations())?
            .with_salt_len(secret.salt().len())
    }

    /// The made-up iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The made-up salt length, in octets.
    pub fn salt_len(&self) -> usize {
        self.salt_len
    }
}

/// What a SCRAM-SHA-256 server stores for a user instead of the password (RFC 5802 section
/// 3): the salt, the iteration count, `StoredKey` and `ServerKey`. Make one from a password
/// with [`ScramSecret::derive`] (feature `scram`) when the user sets it, and keep it.
///
/// `Debug` shows the salt length and the iteration count, never the keys.
#[derive(Clone, PartialEq, Eq)]
pub struct ScramSecret {
    salt: Vec<u8>,
    iterations: u32,
    stored_key: Secret<[u8; KEY_LEN]>,
    server_key: Secret<[u8; KEY_LEN]>,
}

impl core::fmt::Debug for ScramSecret {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ScramSecret")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramSecret {
    /// A stored secret from its parts: `StoredKey = H(HMAC(SaltedPassword, "Client Key"))`,
    /// `ServerKey = HMAC(SaltedPassword, "Server Key")` (RFC 5802 section 3). The salt must
    /// be non-empty and the iteration count at least 1 (RFC 7677 section 4 wants 4096 or
    /// more, [`SCRAM_MIN_ITERATIONS`]; this crate's client refuses fewer).
    pub fn new(
        salt: Vec<u8>,
        iterations: u32,
        stored_key: [u8; KEY_LEN],
        server_key: [u8; KEY_LEN],
    ) -> Result<Self, SaslError> {
        let invalid = |reason| SaslError::InvalidArgument {
            mechanism: SCRAM_SHA_256,
            reason,
        };
        if salt.is_empty() {
            return Err(invalid("empty salt"));
        }
        if iterations == 0 {
            return Err(invalid("zero iterations"));
        }
        Ok(Self {
            salt,
            iterations,
            stored_key: Secret::new(stored_key),
            server_key: Secret::new(server_key),
        })
    }

    /// Derives the stored secret from a password (RFC 5802 section 3: `SaltedPassword =
    /// Hi(password, salt, i)`, PBKDF2-HMAC-SHA-256), for servers that set passwords
    /// themselves. The salt should be at least 16 random octets per user.
    ///
    /// ```
    /// use mail_wire::sasl::ScramSecret;
    ///
    /// let secret = ScramSecret::derive("pencil", b"a salt of 16 oct", 4096)?;
    /// assert_eq!(secret.iterations(), 4096);
    /// assert_eq!(format!("{secret:?}"), "ScramSecret { salt_len: 16, iterations: 4096, .. }");
    /// # Ok::<(), mail_wire::sasl::SaslError>(())
    /// ```
    #[cfg(feature = "scram")]
    pub fn derive(password: &str, salt: &[u8], iterations: u32) -> Result<Self, SaslError> {
        let mut checked = Self::new(salt.to_vec(), iterations, [0; KEY_LEN], [0; KEY_LEN])?;
        let salted = crypto::salted_password(password.as_bytes(), salt, iterations);
        let client_key = crypto::hmac(&salted, &[b"Client Key"]);
        checked.stored_key = Secret::new(crypto::sha256(&client_key));
        checked.server_key = Secret::new(crypto::hmac(&salted, &[b"Server Key"]));
        Ok(checked)
    }

    /// The salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The iteration count.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// `StoredKey`, what the client's proof is checked against.
    pub fn stored_key(&self) -> &Secret<[u8; KEY_LEN]> {
        &self.stored_key
    }

    /// `ServerKey`, what the server proves itself with.
    pub fn server_key(&self) -> &Secret<[u8; KEY_LEN]> {
        &self.server_key
    }
}
