//! SASL exchanges as SMTP AUTH (RFC 4954) and POP3 AUTH (RFC 5034) frame them, and the common
//! mechanisms.
//!
//! Two layers, both protocol-neutral and sans-IO:
//!
//! - **Framing**: a challenge or response is one line of base64; a client cancels with `*`; an
//!   empty initial response is sent as `=`. The functions here handle the line's payload: the
//!   protocol crates add `334 ` (SMTP) or `+ ` (POP3) and the CRLF. Every decoder takes a limit
//!   on the decoded length, so the memory an exchange uses is bounded.
//! - **Mechanisms**: state machines behind [`ClientMechanism`] and [`ServerMechanism`] that turn
//!   raw challenges into raw responses and back, ending in [`Credentials`] for the application to
//!   verify. Built in: PLAIN (RFC 4616), LOGIN, XOAUTH2 and OAUTHBEARER (RFC 7628), EXTERNAL
//!   (RFC 4422 appendix A), CRAM-MD5 (RFC 2195, feature `cram-md5`) and SCRAM-SHA-256 with
//!   its channel-bound SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677, [`ChannelBinding`]; feature
//!   `scram`). Others plug in through the same object-safe traits.
//! - **What a server offers**: [`ServerMechanisms`], an ordered list of names and factories that
//!   the SMTP and POP3 server machines take in their configuration (`sasl_mechanisms`); each
//!   exchange gets a fresh mechanism, made with the connection's [`Context`] (TLS up, the
//!   identity TLS established for EXTERNAL, the channel binding data for -PLUS). A mechanism that needs the user's stored secret
//!   (SCRAM) asks with [`ServerStep::Lookup`]; the machines turn that into an event.
//!
//! Whatever carries a password or a token on its way out (client responses, their base64
//! lines) or in (decoded responses, [`Credentials`]) is a [`Secret`](crate::Secret), so a
//! `{:?}` never shows it; check secrets with [`Credentials::verify_password`],
//! [`Credentials::verify_token`] or [`constant_time_eq`], not with `==` on exposed contents.
//!
//! A PLAIN exchange without initial response, as in RFC 4954 section 4.1 (`AUTH PLAIN`,
//! `334 `, then the response on a line of its own):
//!
//! ```
//! use mail_wire::sasl::{
//!     self, ClientMechanism, ClientResponse, PlainClient, PlainServer, ServerMechanism,
//!     ServerStep, MAX_DECODED_LEN,
//! };
//!
//! let mut client = PlainClient::new(None, "tim", "tanstaaftanstaaf")?;
//! let mut server = PlainServer::new();
//!
//! // Server, on `AUTH PLAIN` with no initial response: an empty challenge.
//! let ServerStep::Challenge(challenge) = server.start(None)? else { unreachable!() };
//! let line = format!("334 {}", sasl::encode_challenge(&challenge));
//! assert_eq!(line, "334 ");
//!
//! // Client: decode the challenge and answer it.
//! let challenge = sasl::decode_challenge(line["334 ".len()..].as_bytes(), MAX_DECODED_LEN)?;
//! let response = client.respond(&challenge)?;
//! let line = sasl::encode_response(response.expose_secret());
//! assert_eq!(format!("{line:?}"), "Secret(<redacted>)"); // safe to log
//! let line = line.expose_secret(); // to write it out
//! assert_eq!(line, "AHRpbQB0YW5zdGFhZnRhbnN0YWFm");
//!
//! // Server: frame the line (`sasl::auth_line_config()`), decode it (it could be `*`) and step
//! // the mechanism.
//! let ClientResponse::Data(response) = sasl::decode_response(line.as_bytes(), MAX_DECODED_LEN)?
//! else {
//!     unreachable!("the client cancelled: reply 501")
//! };
//! let ServerStep::Done(credentials) = server.step(response.expose_secret())? else {
//!     unreachable!()
//! };
//!
//! // The application decides: here, a password check, then `235 2.7.0`.
//! assert_eq!(credentials.username(), Some("tim"));
//! assert!(credentials.verify_password(b"tanstaaftanstaaf"));
//! # Ok::<(), mail_wire::sasl::SaslError>(())
//! ```
//!
//! What a server offers, built-in and plugged-in alike, and how it starts an exchange (the
//! server machines do this part):
//!
//! ```
//! use mail_wire::sasl::{
//!     Context, Credentials, SaslError, ScramSecret, ScramUnknownUsers, ServerMechanism,
//!     ServerMechanisms, ServerStep,
//! };
//!
//! /// X-TOKEN: a mechanism of our own, one message holding a token.
//! struct Token;
//! impl ServerMechanism for Token {
//!     fn name(&self) -> &str { "X-TOKEN" }
//!     fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, SaslError> {
//!         match initial {
//!             Some(token) => self.step(token),
//!             None => Ok(ServerStep::Challenge(Vec::new())),
//!         }
//!     }
//!     fn step(&mut self, token: &[u8]) -> Result<ServerStep, SaslError> {
//!         let data = token.to_vec().into();
//!         Ok(ServerStep::Done(Credentials::Other { mechanism: "X-TOKEN".into(), data }))
//!     }
//!     fn reject(&mut self, _: &[u8]) -> Result<ServerStep, SaslError> { Ok(ServerStep::Failed) }
//! }
//!
//! // The factories are application code: they may draw nonces and challenges at random.
//! // SCRAM makes up answers for unknown users with the server's secret key (RFC 5802 9).
//! let unknown_users = ScramUnknownUsers::new(b"32 random octets, kept secret!!!")?;
//! let offered = ServerMechanisms::new()
//!     .scram_sha_256(unknown_users, || String::from("fresh-random-nonce"))
//!     .external()
//!     .plain()
//!     .with("X-TOKEN", |_: &Context<'_>| Some(Box::new(Token) as _))?;
//! assert_eq!(
//!     offered.names().collect::<Vec<_>>(),
//!     ["SCRAM-SHA-256", "EXTERNAL", "PLAIN", "X-TOKEN"] // the EHLO / CAPA list
//! );
//!
//! // `AUTH EXTERNAL =` on a connection whose TLS client certificate named alice:
//! let context = Context::new(true, Some("alice@example.org"));
//! let mut external = offered.start("EXTERNAL", &context).unwrap();
//! let ServerStep::Done(credentials) = external.start(Some(b""))? else { unreachable!() };
//! assert_eq!(credentials.username(), Some("alice@example.org"));
//!
//! // `AUTH SCRAM-SHA-256 <client-first-message>`: the mechanism asks for alice's secret.
//! let mut scram = offered.start("scram-sha-256", &context).unwrap();
//! let step = scram.start(Some(b"n,,n=alice,r=client-nonce"))?;
//! assert_eq!(step, ServerStep::Lookup { username: "alice".into() });
//! let secret = ScramSecret::derive("password of alice", b"salt of alice", 4096)?;
//! let ServerStep::Challenge(server_first) = scram.provide_secret(Some(secret))? else {
//!     unreachable!()
//! };
//! assert!(server_first.starts_with(b"r=client-noncefresh-random-nonce,s="));
//! # Ok::<(), mail_wire::sasl::SaslError>(())
//! ```

use alloc::string::String;

mod binding;
#[cfg(feature = "cram-md5")]
mod cram_md5;
mod credentials;
mod error;
mod external;
mod framing;
mod login;
mod mechanism;
mod oauth;
mod plain;
mod preference;
mod registry;
mod scram;

pub use binding::{ChannelBinding, TLS_EXPORTER, TLS_EXPORTER_LABEL, TLS_EXPORTER_LEN};
#[cfg(feature = "cram-md5")]
pub use cram_md5::{CRAM_MD5, CRAM_MD5_USERNAME_LIMIT, CramMd5Client, CramMd5Server};
pub use credentials::Credentials;
pub use error::SaslError;
pub use external::{EXTERNAL, EXTERNAL_AUTHZID_LIMIT, ExternalClient, ExternalServer};
pub use framing::{
    AUTH_LINE_LIMIT, CANCEL, ClientResponse, EMPTY_INITIAL_RESPONSE, MAX_DECODED_LEN,
    auth_line_config, decode_challenge, decode_initial_response, decode_response, encode_challenge,
    encode_initial_response, encode_response,
};
pub use login::{
    LOGIN, LOGIN_FIELD_LIMIT, LoginClient, LoginServer, PASSWORD_CHALLENGE, USERNAME_CHALLENGE,
};
pub use mechanism::{ClientMechanism, ServerMechanism, ServerStep};
pub use oauth::{
    DEFAULT_OAUTH_ERROR, OAUTHBEARER, OAuthBearerClient, OAuthBearerServer, XOAUTH2, XOAuth2Client,
    XOAuth2Server, oauth_error,
};
pub use plain::{PLAIN, PLAIN_FIELD_LIMIT, PlainClient, PlainServer};
pub use preference::preferred;
pub use registry::{BoxedServerMechanism, Context, MechanismFactory, ServerMechanisms};
pub use scram::{
    SCRAM_FIELD_LIMIT, SCRAM_MAX_ITERATIONS, SCRAM_MIN_ITERATIONS, SCRAM_SHA_256,
    SCRAM_SHA_256_PLUS, SCRAM_UNKNOWN_USER_KEY_MIN_LEN, SCRAM_UNKNOWN_USER_SALT_MAX_LEN,
    ScramSecret,
};
#[cfg(feature = "scram")]
pub use scram::{ScramSha256Client, ScramSha256Server, ScramUnknownUsers};

pub use crate::secret::constant_time_eq;

/// The name of CRAM-MD5 (RFC 2195 section 2), for [`preferred`] when the mechanism itself is
/// compiled out.
#[cfg(not(feature = "cram-md5"))]
pub const CRAM_MD5: &str = "CRAM-MD5";

/// Checks a text field of a client message: non-empty, at most `max_len` octets, UTF-8, no NUL.
fn text_field(
    bytes: &[u8],
    mechanism: &'static str,
    field: &'static str,
    max_len: usize,
) -> Result<String, SaslError> {
    let invalid = |reason| SaslError::InvalidField {
        mechanism,
        field,
        reason,
    };
    if bytes.is_empty() {
        return Err(invalid("empty"));
    }
    if bytes.len() > max_len {
        return Err(SaslError::FieldTooLong {
            mechanism,
            field,
            limit: max_len,
        });
    }
    let text = core::str::from_utf8(bytes).map_err(|_| invalid("not UTF-8"))?;
    if text.contains('\0') {
        return Err(invalid("contains NUL"));
    }
    Ok(String::from(text))
}
