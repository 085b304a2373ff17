//! What a [`Client`](super::Client) does and tolerates.

use core::time::Duration;

use mail_wire::dot::EncodeBareEndings;

use crate::codec::ReplyOptions;
use crate::types::{Domain, Host};

/// Whether the session must run over TLS (RFC 3207, RFC 8314).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsPolicy {
    /// STARTTLS must succeed before anything else is sent: a server that does not offer it,
    /// or refuses it, ends the session ([`Error::TlsUnavailable`](super::Error::TlsUnavailable),
    /// [`Error::TlsRefused`](super::Error::TlsRefused)). The default.
    #[default]
    Required,
    /// STARTTLS when the server offers it; plaintext otherwise (mail relaying between MXs).
    /// Credentials still stay off plaintext unless
    /// [`ClientConfig::allow_plaintext_auth`] is set.
    ///
    /// A STARTTLS line the client cannot read (`STARTTLS x`, a
    /// [`Capability::Malformed`](crate::types::Capability::Malformed)) counts as offered, under
    /// every policy: the client tries it rather than go on in plaintext; if the server then
    /// refuses, this policy goes on in plaintext as it would without the offer.
    Opportunistic,
    /// Never STARTTLS (for a connection that is already safe, such as loopback).
    Never,
}

/// How long the client waits for each reply, RFC 5321 4.5.3.2 (client side).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// The greeting: 5 minutes (4.5.3.2.1).
    pub greeting: Duration,
    /// The reply to MAIL: 5 minutes (4.5.3.2.2).
    pub mail: Duration,
    /// The reply to each RCPT: 5 minutes (4.5.3.2.3).
    pub rcpt: Duration,
    /// The 354 to DATA: 2 minutes (4.5.3.2.4).
    pub data_initiation: Duration,
    /// Each block of message data sent (and each non-final BDAT reply): 3 minutes
    /// (4.5.3.2.5).
    pub data_block: Duration,
    /// The reply to the end of the message: 10 minutes (4.5.3.2.6).
    pub data_termination: Duration,
    /// Any other reply (EHLO, STARTTLS, AUTH, RSET, QUIT): 5 minutes, as for MAIL.
    pub command: Duration,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        let minutes = |n: u64| Duration::from_secs(n * 60);
        Self {
            greeting: minutes(5),
            mail: minutes(5),
            rcpt: minutes(5),
            data_initiation: minutes(2),
            data_block: minutes(3),
            data_termination: minutes(10),
            command: minutes(5),
        }
    }
}

/// The settings of a [`Client`](super::Client). Every limit has a safe default.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The name sent with EHLO / LHLO (RFC 5321 4.1.1.1: the client's fully qualified domain
    /// name, or an address literal). HELO, the fallback, needs a domain.
    pub hostname: Host<'static>,
    /// Speak LMTP (RFC 2033): LHLO, no HELO fallback, one reply per recipient after data.
    pub lmtp: bool,
    /// Whether STARTTLS is required, used when offered, or never used.
    pub tls: TlsPolicy,
    /// The connection started with TLS (ports 465 and 995, RFC 8314): no STARTTLS.
    pub implicit_tls: bool,
    /// Send credentials over a connection without TLS. Off by default: AUTH over plaintext
    /// is an error ([`Error::AuthNeedsTls`](super::Error::AuthNeedsTls)) before anything is
    /// sent.
    pub allow_plaintext_auth: bool,
    /// Use PIPELINING (RFC 2920) when offered: MAIL, every RCPT and DATA in one flight, BDAT
    /// chunks without waiting.
    pub pipelining: bool,
    /// Use BDAT (RFC 3030) when CHUNKING is offered. BINARYMIME bodies always use BDAT.
    pub chunking: bool,
    /// With PIPELINING, how many BDAT chunks may wait for their replies at once (taken as 1
    /// if 0; without PIPELINING each chunk waits for its reply anyway). While this many are
    /// unanswered, [`Client::wants_body`](super::Client::wants_body) is false; a reply that
    /// brings the count under the limit makes [`Event::SendBody`](super::Event::SendBody)
    /// come again.
    ///
    /// Why a limit: a driver that does not read while it writes (most do, `mail-io`'s among
    /// them) meets a server that answers each chunk as it arrives. The replies nobody reads
    /// fill the socket buffers, the server stops reading while it cannot write them, and both
    /// sides wait for each other until a timeout (RFC 2920 3.1: a client that does not read
    /// while it sends must keep what it sends in one go within what the connection holds).
    /// Capping the chunks in flight caps the unread replies: 16 replies, even of the 512
    /// octets a reply line may have, fit in 8 KiB, under the smallest socket buffers in use,
    /// while 16 chunks of a driver's usual 64 KiB keep a megabyte on its way. It also bounds
    /// the client's queue of expected replies. Default 16.
    pub max_chunks_in_flight: usize,
    /// What to do with a bare CR or LF in a text body (DATA, or BDAT without BINARYMIME):
    /// convert it to CRLF (default) or refuse the body. BINARYMIME goes out exactly as given.
    pub bare_endings: EncodeBareEndings,
    /// Limits on the server's replies (line length, lines, octets). The default accepts the
    /// 512-octet lines of RFC 5321 4.5.3.1.5; text may be UTF-8 once the server has offered
    /// SMTPUTF8, whatever `utf8` says here.
    pub replies: ReplyOptions,
    /// Reply timeouts.
    pub timeouts: ClientTimeouts,
    /// Hold a server that offered ENHANCEDSTATUSCODES to RFC 2034 3-4: every later 2yz, 4yz
    /// and 5yz reply (but the answers to EHLO / LHLO / HELO; 3yz replies are exempt) must
    /// start each line with the same valid enhanced status code whose class is the reply
    /// code's first digit; one that does not ends the session with
    /// [`Error::EnhancedStatusMissing`](super::Error::EnhancedStatusMissing), a protocol
    /// violation. A 421 is exempt too: with or without a code it is the server closing
    /// (RFC 5321 3.8), [`Error::ServiceClosing`](super::Error::ServiceClosing).
    ///
    /// Off by default, leniently: a reply whose code is missing, malformed, differs between
    /// lines or is of another class (`250 5.1.1 ok`) is taken for its reply code alone;
    /// [`Reply::status`](crate::types::Reply::status) is `None` and the text keeps whatever
    /// the server wrote, so nothing is lost and nothing fails.
    pub require_enhanced_status_codes: bool,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            hostname: Host::Domain(Domain::checked("localhost")),
            lmtp: false,
            tls: TlsPolicy::Required,
            implicit_tls: false,
            allow_plaintext_auth: false,
            pipelining: true,
            chunking: false,
            max_chunks_in_flight: 16,
            bare_endings: EncodeBareEndings::ConvertToCrlf,
            replies: ReplyOptions::default(),
            timeouts: ClientTimeouts::default(),
            require_enhanced_status_codes: false,
        }
    }
}
