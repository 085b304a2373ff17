//! [`ChannelBinding`]: what ties a SASL exchange to the TLS connection under it (RFC 5056).

use alloc::string::String;
use alloc::vec::Vec;

use super::SaslError;

/// The channel binding type of RFC 9266: keying material exported from TLS 1.3.
pub const TLS_EXPORTER: &str = "tls-exporter";

/// RFC 9266 section 2: the exporter label for `tls-exporter`, with no context.
pub const TLS_EXPORTER_LABEL: &[u8] = b"EXPORTER-Channel-Binding";

/// RFC 9266 section 2: `tls-exporter` data is 32 octets.
pub const TLS_EXPORTER_LEN: usize = 32;

/// Channel binding data of a connection (RFC 5056): its type name and its data, as the TLS
/// layer computed them. SCRAM-SHA-256-PLUS proves that client and server see the same data,
/// so that no one in the middle can relay the exchange.
///
/// Use `tls-exporter` (RFC 9266) over TLS 1.3: 32 octets exported with
/// [`TLS_EXPORTER_LABEL`] and no context ([`ChannelBinding::tls_exporter`]); not over TLS 1.2,
/// where it is safe only with the extended master secret.
///
/// `Debug` shows the type and the length of the data.
#[derive(Clone, PartialEq, Eq)]
pub struct ChannelBinding {
    kind: String,
    data: Vec<u8>,
}

impl core::fmt::Debug for ChannelBinding {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChannelBinding")
            .field("kind", &self.kind)
            .field("data_len", &self.data.len())
            .finish()
    }
}

impl ChannelBinding {
    /// Binding data of type `kind` (RFC 5802 section 7: `cb-name = 1*(ALPHA / DIGIT / "." /
    /// "-")`, such as `tls-exporter` or `tls-server-end-point`); `data` must be non-empty.
    pub fn new(kind: &str, data: Vec<u8>) -> Result<Self, SaslError> {
        let valid_kind = !kind.is_empty()
            && kind
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid_kind || data.is_empty() {
            return Err(SaslError::InvalidArgument {
                mechanism: "SASL",
                reason: "channel binding needs a cb-name and data",
            });
        }
        Ok(Self {
            kind: String::from(kind),
            data,
        })
    }

    /// `tls-exporter` data (RFC 9266): the [`TLS_EXPORTER_LEN`] octets the TLS 1.3 library
    /// exported with [`TLS_EXPORTER_LABEL`] and no context.
    pub fn tls_exporter(data: [u8; TLS_EXPORTER_LEN]) -> Self {
        Self {
            kind: String::from(TLS_EXPORTER),
            data: data.to_vec(),
        }
    }

    /// The type name.
    pub fn kind(&self) -> &str {
        &self.kind
    }

    /// The data.
    pub fn data(&self) -> &[u8] {
        &self.data
    }
}
