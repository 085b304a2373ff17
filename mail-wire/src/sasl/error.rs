//! [`SaslError`]: what went wrong in a SASL exchange.

/// What went wrong while framing or running a SASL exchange.
///
/// Most variants mean the peer violated the protocol; [`SaslError::is_misuse`] picks out the
/// ones where the application called the API wrongly. Mapping to replies (RFC 4954 section 4
/// and 6 for SMTP): base64 and mechanism errors are `501 5.5.2`, [`SaslError::TooLong`] is
/// `500 5.5.6`, [`SaslError::UnexpectedInitialResponse`] is `501 5.7.0`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaslError {
    /// A byte outside the base64 alphabet, or a pad `=` before the end (RFC 4954 section 4:
    /// such characters must be rejected, not ignored).
    #[error("invalid base64: unexpected byte 0x{byte:02x} at offset {offset}")]
    InvalidBase64Byte {
        /// Offset of the byte in the encoded text.
        offset: usize,
        /// The byte itself.
        byte: u8,
    },
    /// Base64 text that ends with a lone symbol, which encodes no whole octet.
    #[error("invalid base64: truncated final group")]
    InvalidBase64Length,
    /// Base64 text without the `=` padding RFC 4954 section 8 requires, or with too much.
    #[error("invalid base64: missing or wrong padding")]
    InvalidBase64Padding,
    /// The data decodes to more octets than the configured limit (RFC 4954 section 4: the
    /// exchange fails with `500 5.5.6`).
    #[error("SASL data longer than the limit of {limit} octets")]
    TooLong {
        /// The limit, in decoded octets.
        limit: usize,
    },
    /// An initial response argument that is present but empty: RFC 4954 section 4 and
    /// RFC 5034 section 4 require a single `=` for an empty initial response.
    #[error("empty initial response (an empty one is sent as \"=\")")]
    EmptyInitialResponse,
    /// A message that does not follow the mechanism's grammar.
    #[error("malformed {mechanism} message: {reason}")]
    Malformed {
        /// The mechanism's name.
        mechanism: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// A field that is empty, not UTF-8 or holds a NUL where the mechanism forbids it.
    #[error("invalid {mechanism} {field}: {reason}")]
    InvalidField {
        /// The mechanism's name.
        mechanism: &'static str,
        /// The field's name.
        field: &'static str,
        /// What was wrong: `empty`, `not UTF-8`, `contains NUL`.
        reason: &'static str,
    },
    /// A field longer than the mechanism's configured limit (RFC 4616 section 2: at least 255
    /// octets must be accepted).
    #[error("{mechanism} {field} longer than {limit} octets")]
    FieldTooLong {
        /// The mechanism's name.
        mechanism: &'static str,
        /// The field's name.
        field: &'static str,
        /// The limit, in octets.
        limit: usize,
    },
    /// An initial response for a mechanism where the server speaks first (RFC 4954 section 4:
    /// `501 5.7.0`).
    #[error("{mechanism} takes no initial response")]
    UnexpectedInitialResponse {
        /// The mechanism's name.
        mechanism: &'static str,
    },
    /// A server challenge the client mechanism did not expect at this point; RFC 4954 section 4
    /// says the client then cancels with `*`.
    #[error("unexpected {mechanism} challenge")]
    UnexpectedChallenge {
        /// The mechanism's name.
        mechanism: &'static str,
    },
    /// The server reported success before the mechanism completed (RFC 4422 section 3.6),
    /// such as a SCRAM server that never sent its signature (RFC 5802 section 5): the
    /// server did not prove itself, so the client treats the login as failed.
    #[error("{mechanism} exchange not complete at the server's success")]
    Incomplete {
        /// The mechanism's name.
        mechanism: &'static str,
    },
    /// The application passed a value the mechanism cannot carry (a NUL inside a PLAIN field,
    /// an empty CRAM-MD5 challenge...).
    #[error("invalid {mechanism} argument: {reason}")]
    InvalidArgument {
        /// The mechanism's name.
        mechanism: &'static str,
        /// What was wrong.
        reason: &'static str,
    },
    /// The application drove the mechanism out of order (`step` before `start`, `step` after
    /// the exchange ended, `reject` with nothing to reject).
    #[error("{mechanism} mechanism used out of order: {reason}")]
    OutOfOrder {
        /// The mechanism's name.
        mechanism: &'static str,
        /// What the mechanism was doing.
        reason: &'static str,
    },
}

impl SaslError {
    /// True when the application misused the API, false when the peer sent something wrong.
    pub fn is_misuse(&self) -> bool {
        matches!(self, Self::InvalidArgument { .. } | Self::OutOfOrder { .. })
    }
}
