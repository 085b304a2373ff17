//! The two sides of a mechanism: [`ClientMechanism`] and [`ServerMechanism`].
//!
//! Both traits are object safe, so a protocol machine can hold a `Box<dyn ClientMechanism>` and
//! mechanisms from other crates (SCRAM, GSSAPI...) plug in beside the built-in ones.

use alloc::string::String;
use alloc::vec::Vec;

use super::{Credentials, SaslError, ScramSecret};
use crate::Secret;

/// The client side of a SASL mechanism: turns server challenges into client responses.
///
/// Payloads are raw bytes; the [framing functions](super#functions) do the base64. Responses
/// come wrapped in [`Secret`], since they carry passwords and tokens: a protocol machine that
/// holds one keeps it out of its `Debug` output.
///
/// An implementation never does I/O, never reads a clock and never panics, and answers a
/// bounded number of challenges: a server that keeps sending them gets
/// [`SaslError::UnexpectedChallenge`], so the exchange cannot go on for ever.
pub trait ClientMechanism {
    /// The registered mechanism name, in upper case (`PLAIN`, `XOAUTH2`...).
    fn name(&self) -> &str;

    /// The initial response to send with the `AUTH` command, if the mechanism speaks first
    /// (RFC 4422 section 3.3 / RFC 4954 section 4). Call it at most once; if the result is too
    /// long for the command line, send `AUTH` alone instead: the server then sends an empty
    /// challenge, which [`ClientMechanism::respond`] answers.
    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>>;

    /// Answers one decoded server challenge. An error means the client must cancel the
    /// exchange (`*`, RFC 4954 section 4).
    fn respond(&mut self, challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError>;

    /// Called when the server reports success (SMTP `235`, POP3 `+OK`): whether the
    /// mechanism agrees that the exchange is complete. RFC 4422 section 3.6: a success
    /// outcome before the mechanism completed is a failure; a mechanism with mutual
    /// authentication (SCRAM, RFC 5802 section 5) completes only once the server proved
    /// itself. An error makes the client treat the login as failed.
    ///
    /// The default, for mechanisms with nothing to check: `Ok`.
    fn complete(&mut self) -> Result<(), SaslError> {
        Ok(())
    }
}

/// The server side of a SASL mechanism: turns client responses into challenges, and in the
/// end into [`Credentials`] for the application to judge.
///
/// The mechanism decides nothing about policy: it checks the grammar and hands over what the
/// client claimed. An implementation never does I/O, never reads a clock and never panics.
pub trait ServerMechanism {
    /// The registered mechanism name, in upper case (`PLAIN`, `XOAUTH2`...).
    fn name(&self) -> &str;

    /// Starts the exchange, with the decoded initial response if the `AUTH` command carried one
    /// (`Some(&[])` for `=`).
    fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, SaslError>;

    /// Feeds the client's decoded answer to the last [`ServerStep::Challenge`].
    fn step(&mut self, response: &[u8]) -> Result<ServerStep, SaslError>;

    /// The application refused the credentials of the last [`ServerStep::Done`].
    ///
    /// Mechanisms that report failure inside the exchange (XOAUTH2, OAUTHBEARER: RFC 7628
    /// section 3.2.2) return a [`ServerStep::Challenge`] carrying `error` (their JSON error
    /// document; empty picks a default): send it, and pass the client's answer to
    /// [`ServerMechanism::step`], which returns [`ServerStep::Failed`]. The others ignore
    /// `error` and return [`ServerStep::Failed`] at once.
    ///
    /// Only valid right after [`ServerStep::Done`]: before that, or once the exchange has
    /// failed or already been rejected, there is nothing to reject and the result is
    /// [`SaslError::OutOfOrder`].
    fn reject(&mut self, error: &[u8]) -> Result<ServerStep, SaslError>;

    /// Answers [`ServerStep::Lookup`]: the stored secret of the user it named, or `None` for
    /// an unknown user. A mechanism that asks for secrets (SCRAM) then goes on as after
    /// [`ServerMechanism::step`]; an unknown user must not end the exchange early, so that
    /// the client cannot learn which users exist (RFC 5802 section 9: the server goes on with
    /// made-up values and fails at the end).
    ///
    /// The default, for mechanisms that never ask: [`SaslError::OutOfOrder`].
    fn provide_secret(&mut self, secret: Option<ScramSecret>) -> Result<ServerStep, SaslError> {
        let _ = secret;
        Err(SaslError::OutOfOrder {
            mechanism: "SASL",
            reason: "no secret was asked for",
        })
    }
}

/// What the server does next.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use = "the exchange goes on only if the step is acted upon"]
pub enum ServerStep {
    /// Send this challenge (encoded with [`encode_challenge`](super::encode_challenge)) and
    /// pass the client's answer to [`ServerMechanism::step`].
    Challenge(Vec<u8>),
    /// The exchange is complete: the application verifies these credentials, then replies with
    /// success (RFC 4954 section 6: `235 2.7.0`) or calls [`ServerMechanism::reject`].
    Done(Credentials),
    /// The exchange ended in failure: reply "authentication failed" (RFC 4954 section 6:
    /// `535 5.7.8`; RFC 5034: `-ERR`).
    Failed,
    /// The mechanism needs the stored secret of `username` to go on (SCRAM, RFC 5802 section
    /// 5: the server-first-message carries the user's salt and iteration count): look it up
    /// and pass it, or `None` for an unknown user, to [`ServerMechanism::provide_secret`].
    /// Nothing goes to the client meanwhile.
    Lookup {
        /// The user name as the client sent it (for SCRAM, with its `=2C` and `=3D` escapes
        /// undone).
        username: String,
    },
}
