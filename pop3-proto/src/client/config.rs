//! What a [`Client`](super::Client) does and tolerates.

use core::time::Duration;

use crate::codec::MAX_RESPONSE_LINE;

/// Whether the session must run over TLS (RFC 2595, RFC 8314).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// STLS must succeed before credentials are sent: a server that does not offer it, or
    /// refuses it, ends the session ([`Error::TlsUnavailable`](super::Error::TlsUnavailable),
    /// [`Error::TlsRefused`](super::Error::TlsRefused)). The default.
    #[default]
    Required,
    /// STLS when the server offers it; plaintext otherwise (credentials still stay off
    /// plaintext unless [`ClientConfig::allow_plaintext_auth`] is set).
    Opportunistic,
    /// Never STLS (for a connection that is already safe).
    Never,
}

/// The settings of a [`Client`](super::Client). Every limit has a safe, generous default.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// Whether STLS is required, used when offered, or never used.
    pub tls: TlsPolicy,
    /// The connection started with TLS (port 995): no STLS.
    pub implicit_tls: bool,
    /// Send credentials (USER/PASS, APOP, AUTH) over a connection without TLS. Off by
    /// default.
    pub allow_plaintext_auth: bool,
    /// Use PIPELINING (RFC 2449 6.6) when offered: requests go out without waiting.
    pub pipelining: bool,
    /// Send the SASL initial response with AUTH when it fits in the 255-octet command
    /// (RFC 5034 4); otherwise (and always when off) it goes after the server's first `+`.
    pub initial_response: bool,
    /// The longest first line of a response, CRLF included (RFC 2449 4: 512). Real servers
    /// sometimes send longer ones; raise it for them.
    pub max_response_line: usize,
    /// The longest line of a listing (LIST, UIDL, CAPA), CRLF included.
    pub max_listing_line: usize,
    /// The most entries of one listing (LIST, UIDL, CAPA): a listing that never ends is an
    /// error, not a memory leak.
    pub max_listing_entries: usize,
    /// The longest line of a retrieved message, CRLF included. Messages stream, so this only
    /// guards against a peer that never ends a line; 1000 (RFC 5322) and 2048 are far too small
    /// for real mail. 1 MiB by default.
    pub max_body_line: usize,
    /// The largest retrieved message in octets (unstuffed): a multi-line response that never
    /// ends is an error. 1 GiB by default.
    pub max_message_size: u64,
    /// How long a response may take (RFC 1939 has no client timeout; 10 minutes, as the
    /// server's idle timer).
    pub timeout: Duration,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            tls: TlsPolicy::Required,
            implicit_tls: false,
            allow_plaintext_auth: false,
            pipelining: true,
            initial_response: true,
            max_response_line: MAX_RESPONSE_LINE,
            max_listing_line: MAX_RESPONSE_LINE,
            max_listing_entries: 1_000_000,
            max_body_line: 1024 * 1024,
            max_message_size: 1024 * 1024 * 1024,
            timeout: Duration::from_secs(10 * 60),
        }
    }
}
