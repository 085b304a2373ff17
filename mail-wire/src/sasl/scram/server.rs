//! The server side of SCRAM-SHA-256.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use super::crypto::{hmac, sha256, xor};
use super::grammar::{
    attribute, check_nonce, decode_base64, decode_key, decode_name, encode_base64, is_extension,
    malformed, text,
};
use super::{
    KEY_LEN, SCRAM_FIELD_LIMIT, SCRAM_SHA_256, SCRAM_SHA_256_PLUS, ScramSecret, ScramUnknownUsers,
};
use crate::sasl::ChannelBinding;
use crate::sasl::{Credentials, SaslError, ServerMechanism, ServerStep, constant_time_eq};

/// The server side of SCRAM-SHA-256 (RFC 5802 section 5, RFC 7677), without channel binding.
///
/// After the client-first-message it asks for the user's stored secret with
/// [`ServerStep::Lookup`]; [`ServerMechanism::provide_secret`] goes on with it. It checks the
/// client's proof itself, sends its own signature as a last challenge, and ends in
/// [`Credentials::Scram`]: the user is authenticated, the application only authorizes.
///
/// An unknown user (`provide_secret(None)`) gets a made-up salt and iteration count from the
/// [`ScramUnknownUsers`] the server was made with (the same on every attempt, shaped as the
/// real users' are), and made-up keys; the proof is checked against them with the same work
/// as for a real user, and the exchange fails there, as for a wrong password (RFC 5802
/// section 9). No SASLprep is applied (see [`ScramSha256Client`](super::ScramSha256Client)).
///
/// Channel binding (RFC 5802 section 6): plain, the server accepts the gs2 flags `n` and `y`
/// and refuses `p=`; once the server also offers SCRAM-SHA-256-PLUS
/// ([`with_binding_offered`](Self::with_binding_offered)), it refuses `y` too (a client that
/// could bind was talked out of it: a downgrade). With
/// [`with_channel_binding`](Self::with_channel_binding) it is SCRAM-SHA-256-PLUS and takes
/// only `p=` with that binding's type, and a `c=` that carries its data.
///
/// ```
/// use mail_wire::sasl::{
///     Credentials, ScramSecret, ScramSha256Server, ScramUnknownUsers, ServerMechanism, ServerStep,
/// };
///
/// // Made once per server, from a secret key in its configuration.
/// let unknown_users = ScramUnknownUsers::new(b"32 random octets, kept secret!!!")?;
/// // RFC 7677 section 3, with the nonce the RFC's server chose.
/// let mut server = ScramSha256Server::new("%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", &unknown_users)?;
/// let step = server.start(Some(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"))?;
/// assert_eq!(step, ServerStep::Lookup { username: "user".into() });
///
/// // The application looks the user up (here: derived on the spot).
/// let salt = b"\x5b\x6d\x99\x68\x9d\x12\x35\x8e\xec\xa0\x4b\x14\x12\x36\xfa\x81";
/// let secret = ScramSecret::derive("pencil", salt, 4096)?;
/// let ServerStep::Challenge(first) = server.provide_secret(Some(secret))? else { unreachable!() };
/// assert_eq!(first, b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
///
/// let ServerStep::Challenge(last) = server.step(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=")? else {
///     unreachable!("the proof verifies")
/// };
/// assert_eq!(last, b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
/// let ServerStep::Done(credentials) = server.step(b"")? else { unreachable!() };
/// assert_eq!(credentials, Credentials::Scram { authcid: "user".into(), authzid: None });
/// assert!(credentials.is_verified());
/// # Ok::<(), mail_wire::sasl::SaslError>(())
/// ```
#[derive(Debug, Clone)]
pub struct ScramSha256Server {
    nonce: String,
    unknown_users: ScramUnknownUsers,
    max_field_len: usize,
    binding: Binding,
    state: State,
}

/// What the server does with channel binding.
#[derive(Debug, Clone)]
enum Binding {
    /// Not offered at all.
    None,
    /// Offered through SCRAM-SHA-256-PLUS, not in this exchange.
    Offered,
    /// This exchange is SCRAM-SHA-256-PLUS, bound to this.
    Plus(ChannelBinding),
}

/// What the client-first-message said.
#[derive(Debug, Clone)]
struct ClientFirst {
    gs2_header: String,
    bare: String,
    username: String,
    authzid: Option<String>,
    nonce: String,
}

/// The exchange after the server-first-message.
#[derive(Debug, Clone)]
struct Sent {
    first: ClientFirst,
    server_first: String,
    /// The user's secret, or the made-up one of an unknown user.
    secret: ScramSecret,
    /// False for an unknown user: the proof is checked all the same, then fails.
    known: bool,
}

#[derive(Debug, Clone)]
enum State {
    Start,
    /// An empty challenge went out: the client-first-message comes next.
    AwaitingFirst,
    AwaitingSecret(ClientFirst),
    AwaitingFinal(Sent),
    /// The server-final-message went out; the client's empty answer ends the exchange.
    AwaitingAck(Credentials),
    /// `Done` was returned: the application authorizes.
    Judging,
    Finished,
}

impl ScramSha256Server {
    /// A server adding `nonce` to the client's: fresh and unpredictable for each exchange
    /// (at least 18 random octets, say base64 of them), printable ASCII without `,`, at most
    /// [`SCRAM_FIELD_LIMIT`] octets. `unknown_users` makes up what unknown users get (RFC 5802
    /// section 9): share one per server.
    pub fn new(nonce: &str, unknown_users: &ScramUnknownUsers) -> Result<Self, SaslError> {
        if check_nonce(nonce, SCRAM_FIELD_LIMIT).is_err() {
            return Err(SaslError::InvalidArgument {
                mechanism: SCRAM_SHA_256,
                reason: "nonce is not 1 to 255 printable ASCII octets without ','",
            });
        }
        Ok(Self {
            nonce: String::from(nonce),
            unknown_users: unknown_users.clone(),
            max_field_len: SCRAM_FIELD_LIMIT,
            binding: Binding::None,
            state: State::Start,
        })
    }

    /// Makes this SCRAM-SHA-256-PLUS, bound to the connection's `binding` (RFC 5802 section
    /// 6): the client must send the gs2 flag `p=` with its type, and its data in `c=`.
    pub fn with_channel_binding(mut self, binding: ChannelBinding) -> Self {
        self.binding = Binding::Plus(binding);
        self
    }

    /// Says that the server offers SCRAM-SHA-256-PLUS on this connection too, so that a
    /// client's `y` flag (it could bind, but believes the server cannot) is refused (RFC 5802
    /// section 6).
    pub fn with_binding_offered(mut self) -> Self {
        if matches!(self.binding, Binding::None) {
            self.binding = Binding::Offered;
        }
        self
    }

    /// Accepts user names, authzids and client nonces up to `max_field_len` octets instead
    /// of [`SCRAM_FIELD_LIMIT`].
    pub fn with_max_field_len(mut self, max_field_len: usize) -> Self {
        self.max_field_len = max_field_len;
        self
    }

    /// RFC 5802 section 7: `client-first-message = gs2-header client-first-message-bare`,
    /// `gs2-header = gs2-cbind-flag "," [authzid] ","`, `client-first-message-bare =
    /// [reserved-mext ","] username "," nonce ["," extensions]`.
    fn first(&mut self, message: &[u8]) -> Result<ServerStep, SaslError> {
        self.state = State::Finished;
        let message = text(message)?;
        let mut header = message.splitn(3, ',');
        let flag = header.next().unwrap_or_default();
        let requested = flag.strip_prefix("p=");
        if !matches!(flag, "n" | "y") && requested.is_none() {
            return Err(malformed("gs2 flag is not n, y or p="));
        }
        match (&self.binding, requested) {
            (Binding::Plus(binding), Some(kind)) if kind == binding.kind() => {}
            (Binding::Plus(_), Some(_)) => {
                return Err(malformed("channel binding type not supported"));
            }
            (Binding::Plus(_), None) => {
                return Err(malformed("SCRAM-SHA-256-PLUS needs channel binding (p=)"));
            }
            (Binding::None | Binding::Offered, Some(_)) => {
                return Err(malformed("channel binding (p=) is not supported"));
            }
            // `y`: the client could bind but believes the server cannot, which is a downgrade
            // when the server offers -PLUS.
            (Binding::Offered, None) if flag == "y" => {
                return Err(malformed(
                    "gs2 flag y, but the server offers channel binding",
                ));
            }
            (Binding::None | Binding::Offered, None) => {}
        }
        let authzid = header
            .next()
            .ok_or(malformed("gs2 header is not closed with ','"))?;
        let bare = header
            .next()
            .ok_or(malformed("gs2 header is not closed with ','"))?;
        let authzid = match authzid {
            "" => None,
            _ => {
                let value = attribute(Some(authzid), "a").ok_or(malformed("authzid is not a="))?;
                Some(decode_name(value, "authzid", self.max_field_len)?)
            }
        };
        let gs2_header = message
            .get(..message.len() - bare.len())
            .unwrap_or_default();
        let mut parts = bare.split(',');
        let first = parts.next();
        if attribute(first, "m").is_some() {
            return Err(malformed("mandatory extension (m=) not supported"));
        }
        let username = attribute(first, "n").ok_or(malformed("no user name (n=)"))?;
        let username = decode_name(username, "username", self.max_field_len)?;
        let nonce = attribute(parts.next(), "r").ok_or(malformed("no nonce (r=)"))?;
        check_nonce(nonce, self.max_field_len)?;
        if !parts.all(is_extension) {
            return Err(malformed("extension is not attr=value"));
        }
        self.state = State::AwaitingSecret(ClientFirst {
            gs2_header: String::from(gs2_header),
            bare: String::from(bare),
            username: username.clone(),
            authzid,
            nonce: String::from(nonce),
        });
        Ok(ServerStep::Lookup { username })
    }

    /// The server-first-message: `r=c-nonce s-nonce,s=salt,i=iterations`.
    fn server_first(&mut self, first: ClientFirst, secret: Option<ScramSecret>) -> ServerStep {
        // Made up for every user, so that both paths do the same work.
        let decoy = made_up_secret(&self.unknown_users, &first.username);
        let known = secret.is_some();
        let secret = secret.unwrap_or(decoy);
        let server_first = format!(
            "r={}{},s={},i={}",
            first.nonce,
            self.nonce,
            encode_base64(secret.salt()),
            secret.iterations()
        );
        let challenge = server_first.as_bytes().to_vec();
        self.state = State::AwaitingFinal(Sent {
            first,
            server_first,
            secret,
            known,
        });
        ServerStep::Challenge(challenge)
    }

    /// RFC 5802 section 7: `client-final-message = channel-binding "," nonce [","
    /// extensions] "," proof`; checked, then the proof verified against `StoredKey`.
    fn last(&mut self, sent: Sent, message: &[u8]) -> Result<ServerStep, SaslError> {
        self.state = State::Finished;
        let message = text(message)?;
        let (without_proof, proof) = message
            .rsplit_once(',')
            .ok_or(malformed("client-final: no proof (p=)"))?;
        let proof = attribute(Some(proof), "p").ok_or(malformed("client-final: no proof (p=)"))?;
        let proof = decode_key(proof, "proof is not base64 of 32 octets")?;
        let mut parts = without_proof.split(',');
        let binding = attribute(parts.next(), "c").ok_or(malformed("no channel binding (c=)"))?;
        // RFC 5802 section 7: `cbind-input = gs2-header [ cbind-data ]`.
        let mut cbind_input = sent.first.gs2_header.as_bytes().to_vec();
        if let Binding::Plus(data) = &self.binding {
            cbind_input.extend_from_slice(data.data());
        }
        let differs = "channel binding differs from the gs2 header";
        let binding = decode_base64(binding, cbind_input.len(), differs)?;
        if !constant_time_eq(&binding, &cbind_input) {
            return Err(malformed(differs));
        }
        let nonce = attribute(parts.next(), "r").ok_or(malformed("client-final: no nonce (r=)"))?;
        let expected = format!("{}{}", sent.first.nonce, self.nonce);
        if nonce != expected {
            return Err(malformed("nonce differs from the server-first-message's"));
        }
        if !parts.all(is_extension) {
            return Err(malformed("extension is not attr=value"));
        }
        let secret = sent.secret;
        let auth_message: [&[u8]; 5] = [
            sent.first.bare.as_bytes(),
            b",",
            sent.server_first.as_bytes(),
            b",",
            without_proof.as_bytes(),
        ];
        let stored_key = secret.stored_key().expose_secret();
        let client_signature = hmac(stored_key, &auth_message);
        let client_key: [u8; KEY_LEN] = xor(&proof, &client_signature);
        // An unknown user fails here too, after the same work as a wrong password (RFC 5802
        // section 9); `&` rather than `&&` so that both sides are always evaluated.
        if !(constant_time_eq(&sha256(&client_key), stored_key) & sent.known) {
            return Ok(ServerStep::Failed);
        }
        let signature = hmac(secret.server_key().expose_secret(), &auth_message);
        self.state = State::AwaitingAck(Credentials::Scram {
            authcid: sent.first.username,
            authzid: sent.first.authzid,
        });
        Ok(ServerStep::Challenge(
            format!("v={}", encode_base64(&signature)).into_bytes(),
        ))
    }
}

impl ServerMechanism for ScramSha256Server {
    fn name(&self) -> &str {
        match self.binding {
            Binding::Plus(_) => SCRAM_SHA_256_PLUS,
            Binding::None | Binding::Offered => SCRAM_SHA_256,
        }
    }

    /// Parses the client-first-message from the initial response, or asks for it with an
    /// empty challenge.
    fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, SaslError> {
        if !matches!(self.state, State::Start) {
            return Err(SaslError::OutOfOrder {
                mechanism: SCRAM_SHA_256,
                reason: "already started",
            });
        }
        match initial {
            Some(message) => self.first(message),
            None => {
                self.state = State::AwaitingFirst;
                Ok(ServerStep::Challenge(Vec::new()))
            }
        }
    }

    fn step(&mut self, response: &[u8]) -> Result<ServerStep, SaslError> {
        match core::mem::replace(&mut self.state, State::Finished) {
            State::AwaitingFirst => self.first(response),
            State::AwaitingFinal(sent) => self.last(sent, response),
            State::AwaitingAck(credentials) => {
                if !response.is_empty() {
                    return Err(malformed("answer to the server-final-message is not empty"));
                }
                self.state = State::Judging;
                Ok(ServerStep::Done(credentials))
            }
            state => {
                let reason = match state {
                    State::AwaitingSecret(_) => "waiting for the user's secret",
                    _ => "no challenge pending",
                };
                self.state = state;
                Err(SaslError::OutOfOrder {
                    mechanism: SCRAM_SHA_256,
                    reason,
                })
            }
        }
    }

    fn reject(&mut self, _error: &[u8]) -> Result<ServerStep, SaslError> {
        if !matches!(self.state, State::Judging) {
            return Err(SaslError::OutOfOrder {
                mechanism: SCRAM_SHA_256,
                reason: "no credentials to reject",
            });
        }
        self.state = State::Finished;
        Ok(ServerStep::Failed)
    }

    /// Goes on with the user's stored secret, or made-up values for an unknown user (`None`).
    fn provide_secret(&mut self, secret: Option<ScramSecret>) -> Result<ServerStep, SaslError> {
        match core::mem::replace(&mut self.state, State::Finished) {
            State::AwaitingSecret(first) => Ok(self.server_first(first, secret)),
            state => {
                self.state = state;
                Err(SaslError::OutOfOrder {
                    mechanism: SCRAM_SHA_256,
                    reason: "no secret was asked for",
                })
            }
        }
    }
}

/// The made-up secret of an unknown user (RFC 5802 section 9): salt and keys are HMACs of
/// the user name under the server's key, with a label each, so they stay the same from one
/// attempt to the next and look random to anyone without the key.
fn made_up_secret(unknown: &ScramUnknownUsers, username: &str) -> ScramSecret {
    let key = unknown.key.expose_secret();
    let name = username.as_bytes();
    let mut salt = Vec::with_capacity(unknown.salt_len);
    let mut block: u32 = 0;
    while salt.len() < unknown.salt_len {
        block = block.wrapping_add(1);
        let part = hmac(key, &[b"salt\0", &block.to_be_bytes(), name]);
        let wanted = unknown.salt_len - salt.len();
        salt.extend_from_slice(part.get(..wanted.min(KEY_LEN)).unwrap_or_default());
    }
    let stored_key = hmac(key, &[b"stored key\0", name]);
    let server_key = hmac(key, &[b"server key\0", name]);
    // `ScramUnknownUsers` holds a salt length of at least 1 and a count of at least 1, so
    // this never fails; the fallback would only differ in the salt.
    ScramSecret::new(salt, unknown.iterations, stored_key, server_key).unwrap_or_else(|_| {
        ScramSecret {
            salt: alloc::vec![0],
            iterations: unknown.iterations.max(1),
            stored_key: crate::Secret::new(stored_key),
            server_key: crate::Secret::new(server_key),
        }
    })
}
