//! What the accept loops (tokio and blocking) say to a connection they refuse, and how: in
//! plaintext, or inside TLS on an implicit TLS listener.

#[cfg(feature = "rustls")]
use std::time::Duration;

use crate::ServeOptions;
#[cfg(feature = "rustls")]
use crate::TlsServer;

/// How long a client refused on an implicit TLS listener has, from its connection, to complete
/// the TLS handshake that carries its refusal; then it is closed without a word. Short, as a
/// refusal is not worth a session's handshake timeout: a client that wants its answer sends
/// its ClientHello at once (RFC 8314 3.1, 3.3: "a TLS handshake begins immediately").
#[cfg(feature = "rustls")]
pub(crate) const REFUSAL_HANDSHAKE_TIME: Duration = Duration::from_secs(5);

/// What a listener says before it closes a connection it refuses, and how it says it.
#[derive(Debug, Clone)]
pub(crate) struct Refusals {
    /// Over the session limit of the listener (or of the program), or, for the blocking
    /// servers, when no thread can be started.
    pub(crate) busy: &'static [u8],
    /// Over the client's own limits (sessions at once, connections a minute).
    pub(crate) client: &'static [u8],
    /// How the refusal reaches the client.
    pub(crate) channel: Channel,
}

/// How a refusal reaches the client.
#[derive(Debug, Clone)]
pub(crate) enum Channel {
    /// In plaintext, in one write as soon as the connection is accepted.
    Plaintext,
    /// Inside TLS (an implicit TLS listener, where plaintext would only garble the client's
    /// handshake: RFC 8314 3.1, 3.3): the handshake with the listener's own settings within
    /// [`REFUSAL_HANDSHAKE_TIME`] of the connection, the refusal as application data, then
    /// `close_notify` before the TCP close (RFC 8314 3.4).
    #[cfg(feature = "rustls")]
    Tls(TlsServer),
    /// Not at all: an implicit TLS listener without TLS (no settings, or no `rustls`
    /// feature), whose sessions cannot start either.
    Closed,
}

impl Refusals {
    /// The refusals of a listener with these options: in plaintext, or inside TLS on an
    /// implicit TLS listener.
    pub(crate) fn new(busy: &'static [u8], client: &'static [u8], options: &ServeOptions) -> Self {
        Self {
            busy,
            client,
            channel: Channel::of(options),
        }
    }
}

impl Channel {
    fn of(options: &ServeOptions) -> Self {
        if !options.implicit_tls {
            return Self::Plaintext;
        }
        #[cfg(feature = "rustls")]
        if let Some(tls) = &options.tls {
            return Self::Tls(tls.clone());
        }
        Self::Closed
    }
}

/// Checks that a refused client that never sent its ClientHello was closed `took` after it
/// connected: at the handshake deadline, give or take.
#[cfg(all(test, feature = "rustls"))]
pub(crate) fn assert_closed_at_the_handshake_deadline(took: Duration) {
    println!("a silent refused client was closed after {took:?}");
    assert!(
        took >= REFUSAL_HANDSHAKE_TIME - Duration::from_millis(500),
        "{took:?}"
    );
    assert!(
        took < REFUSAL_HANDSHAKE_TIME + Duration::from_secs(3),
        "{took:?}"
    );
}
