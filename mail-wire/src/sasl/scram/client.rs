//! The client side of SCRAM-SHA-256.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::crypto::{hmac, salted_password, sha256, xor};
use super::grammar::{
    attribute, check_nonce, decode_base64, decode_key, encode_base64, encode_name, malformed, text,
};
use super::{
    KEY_LEN, SCRAM_FIELD_LIMIT, SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS, SCRAM_SHA_256,
    SCRAM_SHA_256_PLUS,
};
use crate::Secret;
use crate::sasl::{ChannelBinding, ClientMechanism, SaslError, constant_time_eq};

/// The most salt octets the client accepts from a server.
const MAX_SALT_LEN: usize = 256;

/// The client side of SCRAM-SHA-256 (RFC 5802 section 5, RFC 7677): without channel binding
/// (gs2 flag `n`), or SCRAM-SHA-256-PLUS with the connection's
/// ([`with_channel_binding`](Self::with_channel_binding)).
///
/// It speaks first (the client-first-message is the initial response), answers the
/// server-first-message with its proof, and checks the server's signature in the
/// server-final-message, which SMTP and POP3 carry as a last challenge: the answer to that is
/// empty. A server whose signature does not verify gets an error, on which the client
/// cancels the exchange.
///
/// Not done: SASLprep (RFC 4013): the user name and password are used as given, which is what SASLprep gives for
/// printable ASCII; normalise others in the application, the same way as the server did
/// when it stored the secret.
///
/// ```
/// use mail_wire::sasl::{ClientMechanism, ScramSha256Client};
///
/// // RFC 7677 section 3, with the nonce the RFC's client chose.
/// let mut client = ScramSha256Client::new(None, "user", "pencil", "rOprNGfwEbeRWgbNEkqO")?;
/// let first = client.initial_response().unwrap();
/// assert_eq!(first.expose_secret(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
/// let last = client.respond(
///     b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
/// )?;
/// assert_eq!(
///     last.expose_secret(),
///     b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
/// );
/// let ack = client.respond(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")?;
/// assert!(ack.expose_secret().is_empty());
/// assert!(client.is_server_verified());
/// # Ok::<(), mail_wire::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ScramSha256Client {
    authzid: Option<String>,
    username: String,
    password: Secret<String>,
    nonce: String,
    max_iterations: u32,
    binding: Option<ChannelBinding>,
    /// Whether the client could bind (gs2 flag `y` when it does not).
    binding_supported: bool,
    state: State,
}

#[derive(Clone)]
enum State {
    Start,
    /// The client-first-message went out.
    SentFirst,
    /// The client-final-message went out; the server must sign with this.
    SentFinal(Secret<[u8; KEY_LEN]>),
    /// The server's signature verified.
    Verified,
    Failed,
}

impl core::fmt::Debug for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Start => "Start",
            Self::SentFirst => "SentFirst",
            Self::SentFinal(_) => "SentFinal",
            Self::Verified => "Verified",
            Self::Failed => "Failed",
        })
    }
}

impl ScramSha256Client {
    /// A client logging in as `username` with `password` (a `&str`, a `String` or a
    /// [`Secret<String>`]), asking to act as `authzid` if given (empty is the same as
    /// `None`). `nonce` is this exchange's client nonce: fresh and unpredictable each time
    /// (at least 18 random octets, say base64 of them), printable ASCII without `,`.
    ///
    /// The user name and authzid must be non-empty where given and free of NUL; they are
    /// sent as given (no SASLprep: see [`ScramSha256Client`]).
    pub fn new(
        authzid: Option<&str>,
        username: &str,
        password: impl Into<Secret<String>>,
        nonce: &str,
    ) -> Result<Self, SaslError> {
        let invalid = |reason| {
            Err(SaslError::InvalidArgument {
                mechanism: SCRAM_SHA_256,
                reason,
            })
        };
        if username.is_empty() {
            return invalid("empty user name");
        }
        if username.contains('\0') || authzid.is_some_and(|a| a.contains('\0')) {
            return invalid("NUL inside a name");
        }
        if check_nonce(nonce, SCRAM_FIELD_LIMIT).is_err() {
            return invalid("nonce is not 1 to 255 printable ASCII octets without ','");
        }
        Ok(Self {
            authzid: authzid.filter(|a| !a.is_empty()).map(String::from),
            username: String::from(username),
            password: password.into(),
            nonce: String::from(nonce),
            max_iterations: SCRAM_MAX_ITERATIONS,
            binding: None,
            binding_supported: false,
            state: State::Start,
        })
    }

    /// Makes this SCRAM-SHA-256-PLUS, bound to the connection's `binding` (RFC 5802 section
    /// 6): the gs2 flag `p=` names its type and `c=` carries its data, so the exchange fails
    /// if anyone relays it onto another TLS connection.
    pub fn with_channel_binding(mut self, binding: ChannelBinding) -> Self {
        self.binding = Some(binding);
        self
    }

    /// Says that the client supports channel binding although this exchange does not bind:
    /// the gs2 flag becomes `y` instead of `n` (RFC 5802 section 6), for the SCRAM-SHA-256
    /// a client uses when it has channel binding data but the server did not offer
    /// SCRAM-SHA-256-PLUS. A server that does offer -PLUS then refuses the exchange, since
    /// someone must have removed -PLUS from its list on the way (a downgrade). Offer such a
    /// client next to a -PLUS one ([`sasl::preferred`](crate::sasl::preferred) picks the -PLUS
    /// one when the server offers it). Has no effect with
    /// [`with_channel_binding`](Self::with_channel_binding) (`p=` is sent).
    ///
    /// ```
    /// use mail_wire::sasl::{ClientMechanism, ScramSha256Client};
    ///
    /// let mut client = ScramSha256Client::new(None, "user", "pencil", "rOprNGfwEbeRWgbNEkqO")?
    ///     .with_binding_supported();
    /// assert_eq!(client.name(), "SCRAM-SHA-256");
    /// let first = client.initial_response().unwrap();
    /// assert_eq!(first.expose_secret(), b"y,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    /// # Ok::<(), mail_wire::sasl::SaslError>(())
    /// ```
    pub fn with_binding_supported(mut self) -> Self {
        self.binding_supported = true;
        self
    }

    /// Accepts iteration counts up to `max_iterations` instead of [`SCRAM_MAX_ITERATIONS`].
    pub fn with_max_iterations(mut self, max_iterations: u32) -> Self {
        self.max_iterations = max_iterations;
        self
    }

    /// Whether the server proved that it knows the user's secret (its server-final-message
    /// verified). A server that reports success without sending it has not: the protocol
    /// machines check this through [`ClientMechanism::complete`] and fail the login.
    pub fn is_server_verified(&self) -> bool {
        matches!(self.state, State::Verified)
    }

    /// `gs2-header`: the channel binding flag, the optional authzid.
    fn gs2_header(&self) -> String {
        let flag = match &self.binding {
            Some(binding) => format!("p={}", binding.kind()),
            None if self.binding_supported => String::from("y"),
            None => String::from("n"),
        };
        match &self.authzid {
            Some(authzid) => format!("{flag},a={},", encode_name(authzid)),
            None => format!("{flag},,"),
        }
    }

    fn first_bare(&self) -> String {
        format!("n={},r={}", encode_name(&self.username), self.nonce)
    }

    fn first(&mut self) -> Secret<Vec<u8>> {
        self.state = State::SentFirst;
        let message = format!("{}{}", self.gs2_header(), self.first_bare());
        Secret::new(message.into_bytes())
    }

    /// RFC 5802 section 7: `server-first-message = [reserved-mext ","] nonce "," salt ","
    /// iteration-count ["," extensions]`; answered with the client-final-message.
    fn last(&mut self, server_first: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        let message = text(server_first)?;
        let mut parts = message.split(',');
        let first = parts.next();
        if attribute(first, "m").is_some() {
            return Err(malformed("mandatory extension (m=) not supported"));
        }
        let nonce = attribute(first, "r").ok_or(malformed("server-first: no nonce (r=)"))?;
        check_nonce(nonce, 2 * SCRAM_FIELD_LIMIT)?;
        if !nonce.starts_with(self.nonce.as_str()) || nonce.len() == self.nonce.len() {
            return Err(malformed("server nonce does not extend the client's"));
        }
        let salt = attribute(parts.next(), "s").ok_or(malformed("server-first: no salt (s=)"))?;
        let salt = decode_base64(salt, MAX_SALT_LEN, "salt is not base64 of 1 to 256 octets")?;
        if salt.is_empty() {
            return Err(malformed("salt is not base64 of 1 to 256 octets"));
        }
        let iterations = attribute(parts.next(), "i")
            .ok_or(malformed("server-first: no iteration count (i=)"))?;
        let iterations =
            parse_count(iterations).ok_or(malformed("iteration count is not a number"))?;
        if !(SCRAM_MIN_ITERATIONS..=self.max_iterations).contains(&iterations) {
            return Err(malformed("iteration count out of the accepted range"));
        }

        let salted = salted_password(self.password.expose_secret().as_bytes(), &salt, iterations);
        let client_key = hmac(&salted, &[b"Client Key"]);
        let stored_key = sha256(&client_key);
        // RFC 5802 section 7: `cbind-input = gs2-header [ cbind-data ]`.
        let mut cbind_input = self.gs2_header().into_bytes();
        if let Some(binding) = &self.binding {
            cbind_input.extend_from_slice(binding.data());
        }
        let without_proof = format!("c={},r={nonce}", encode_base64(&cbind_input));
        let bare = self.first_bare();
        let auth_message: [&[u8]; 5] = [
            bare.as_bytes(),
            b",",
            server_first,
            b",",
            without_proof.as_bytes(),
        ];
        let client_signature = hmac(&stored_key, &auth_message);
        let proof = xor(&client_key, &client_signature);
        let server_key = hmac(&salted, &[b"Server Key"]);
        self.state = State::SentFinal(Secret::new(hmac(&server_key, &auth_message)));
        let message = format!("{without_proof},p={}", encode_base64(&proof));
        Ok(Secret::new(message.into_bytes()))
    }

    /// RFC 5802 section 7: `server-final-message = (server-error / verifier) ["," extensions]`.
    fn verify(&mut self, server_final: &[u8], expected: &[u8; KEY_LEN]) -> Result<(), SaslError> {
        let message = text(server_final)?;
        let first = message.split(',').next();
        if attribute(first, "e").is_some() {
            return Err(malformed("the server reported an error (e=)"));
        }
        let signature = attribute(first, "v").ok_or(malformed("server-final: no verifier (v=)"))?;
        let signature = decode_key(signature, "verifier is not base64 of 32 octets")?;
        if !constant_time_eq(&signature, expected) {
            return Err(malformed("server signature does not verify"));
        }
        Ok(())
    }
}

/// `posit-number = %x31-39 *DIGIT`, as a `u32`.
fn parse_count(value: &str) -> Option<u32> {
    if value.starts_with('0') || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

impl ClientMechanism for ScramSha256Client {
    fn name(&self) -> &str {
        match self.binding {
            Some(_) => SCRAM_SHA_256_PLUS,
            None => SCRAM_SHA_256,
        }
    }

    /// The client-first-message: `n,[a=authzid],n=username,r=nonce`.
    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        match self.state {
            State::Start => Some(self.first()),
            _ => None,
        }
    }

    /// Answers the server's messages in turn: an empty challenge (no initial response was
    /// sent) with the client-first-message, the server-first-message with the
    /// client-final-message, and a verified server-final-message with an empty response.
    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        let state = core::mem::replace(&mut self.state, State::Failed);
        match state {
            State::Start if challenge.is_empty() => Ok(self.first()),
            State::SentFirst => self.last(challenge),
            State::SentFinal(expected) => {
                self.verify(challenge, expected.expose_secret())?;
                self.state = State::Verified;
                Ok(Secret::new(Vec::new()))
            }
            State::Start | State::Verified | State::Failed => Err(SaslError::UnexpectedChallenge {
                mechanism: SCRAM_SHA_256,
            }),
        }
    }

    /// RFC 5802 section 5 (the client verifies the server's signature) and RFC 4422 section
    /// 3.6: success counts only once the server-final-message verified; otherwise
    /// [`SaslError::Incomplete`].
    fn complete(&mut self) -> Result<(), SaslError> {
        if self.is_server_verified() {
            Ok(())
        } else {
            self.state = State::Failed;
            Err(SaslError::Incomplete {
                mechanism: SCRAM_SHA_256,
            })
        }
    }
}
