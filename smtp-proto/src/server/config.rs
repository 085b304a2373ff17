//! What a [`Server`](super::Server) offers and what it tolerates.

use core::time::Duration;

use mail_wire::dot::DecodeBareEndings;
use mail_wire::sasl::ServerMechanisms;

use crate::types::{Domain, Reply, ReplyCode};

/// Deadlines, RFC 5321 4.5.3.2 (server side): each runs from the start of its phase, not from
/// the last octet received, so a client that trickles octets is closed like a silent one (see
/// [`Server::timer_epoch`](super::Server::timer_epoch)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For the next command, from the reply to the last one to the end of its line (an AUTH
    /// command with its whole exchange): 5 minutes (4.5.3.2.7).
    pub command: Duration,
    /// For each block of [`data_block_size`](Self::data_block_size) octets of message data
    /// (DATA or BDAT): 3 minutes (4.5.3.2.5 on the client side; the server uses the same
    /// bound).
    pub data_block: Duration,
    /// The octets of a data block: 64 KiB. With [`data_block`](Self::data_block), the
    /// slowest message data accepted: 64 KiB in 3 minutes, about 360 octets a second (as
    /// Postfix's `smtpd_min_data_rate`, 500 by default, under its per-request deadlines).
    pub data_block_size: usize,
    /// Waiting for the application's answer at the end of data: 10 minutes (4.5.3.2.6).
    pub data_termination: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            command: Duration::from_secs(5 * 60),
            data_block: Duration::from_secs(3 * 60),
            data_block_size: 64 * 1024,
            data_termination: Duration::from_secs(10 * 60),
        }
    }
}

/// The settings of a [`Server`](super::Server). Every limit has a safe default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The name in the greeting and the EHLO reply.
    pub hostname: Domain<'static>,
    /// Speak LMTP (RFC 2033): LHLO instead of EHLO/HELO, one reply per recipient after data.
    pub lmtp: bool,
    /// Advertise PIPELINING (RFC 2920). Without it, a client that sends ahead of a reply gets
    /// [`sync_error`](Self::sync_error) and the connection is closed.
    pub pipelining: bool,
    /// Advertise 8BITMIME (RFC 6152).
    pub eight_bit_mime: bool,
    /// Advertise SMTPUTF8 (RFC 6531).
    pub smtputf8: bool,
    /// Advertise CHUNKING (RFC 3030).
    pub chunking: bool,
    /// Advertise BINARYMIME (RFC 3030); needs `chunking`.
    pub binary_mime: bool,
    /// Advertise DSN (RFC 3461) and accept its parameters.
    pub dsn: bool,
    /// Advertise ENHANCEDSTATUSCODES (RFC 2034) and put status codes on replies.
    pub enhanced_status_codes: bool,
    /// The application can start TLS: advertise STARTTLS (RFC 3207) before TLS is up.
    pub starttls: bool,
    /// The session starts with TLS already up (ports 465 and 995, RFC 8314).
    pub implicit_tls: bool,
    /// Advertise REQUIRETLS (RFC 8689) once TLS is up.
    pub require_tls: bool,
    /// Answer VRFY through [`Event::Verify`](super::Event::Verify); otherwise 502.
    pub vrfy: bool,
    /// Answer EXPN through [`Event::Expand`](super::Event::Expand); otherwise 502.
    pub expn: bool,
    /// The SASL mechanisms AUTH offers (RFC 4954), in the order the EHLO reply lists them:
    /// PLAIN, LOGIN, XOAUTH2, OAUTHBEARER, EXTERNAL, CRAM-MD5 (feature `cram-md5`),
    /// SCRAM-SHA-256 (feature `scram`) or any plugged in with
    /// [`ServerMechanisms::with`]. None by default: AUTH is not offered.
    pub sasl_mechanisms: ServerMechanisms,
    /// Offer AUTH before TLS is up. Off by default: credentials travel only encrypted.
    pub auth_without_tls: bool,
    /// Require AUTH before MAIL (a submission server, RFC 6409).
    pub auth_required: bool,
    /// The largest message accepted, advertised as SIZE (RFC 1870) and enforced while the body
    /// streams (552). `None`: no limit, SIZE without a number.
    ///
    /// A BDAT chunk whose size alone exceeds it (a 20-digit size, say) is answered at once
    /// without reading its octets (552 5.3.4; outside a transaction the refusal, 503) and the
    /// session closes: RFC 3030 2 has a refused chunk read and discarded, which a client could
    /// make last for gigabytes. Smaller chunks that take the message past it are still read,
    /// discarded and answered 552, and the session goes on.
    pub max_message_size: Option<u64>,
    /// Recipients per message; more get 452 (RFC 5321 4.5.3.1.8 asks for at least 100).
    pub max_recipients: usize,
    /// The longest command line, CRLF included (RFC 5321 4.5.3.1.4: at least 512).
    pub max_command_line: usize,
    /// The longest AUTH response line, CRLF included (RFC 4954 4: 12288).
    pub max_auth_line: usize,
    /// Octets held unprocessed while a decision is pending (pipelined commands waiting);
    /// [`Server::receive`](super::Server::receive) takes no more than this.
    pub max_pending: usize,
    /// Protocol errors before the session ends with 421. Every failed AUTH counts as one
    /// (a refused or unverified login, a malformed or cancelled exchange), so that guessing
    /// passwords ends the session (RFC 4954 9 leaves the policy to the server).
    pub max_errors: usize,
    /// Commands that move no mail (NOOP, RSET, VRFY, EXPN, HELP, ETRN, answered or not) a
    /// session may send before it ends with `421 4.7.0 Too many commands, closing` (RFC 5321
    /// 3.8 lets a server close with 421; 4.5.3.2 bounds each command's time, not their
    /// number): a client cannot hold a session by talking forever. The count starts again
    /// when a message is accepted, as Postfix's `smtpd_junk_command_limit` (default 100) does.
    pub max_junk_commands: usize,
    /// What to do with a bare CR or LF in a DATA body: reject the message after its end
    /// (default) or keep them.
    pub bare_endings: DecodeBareEndings,
    /// The reply to a client that sends ahead without PIPELINING (then the session closes).
    pub sync_error: Reply<'static>,
    /// Deadlines.
    pub timeouts: Timeouts,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            hostname: Domain::checked("localhost"),
            lmtp: false,
            pipelining: true,
            eight_bit_mime: true,
            smtputf8: true,
            chunking: true,
            binary_mime: false,
            dsn: true,
            enhanced_status_codes: true,
            starttls: false,
            implicit_tls: false,
            require_tls: false,
            vrfy: false,
            expn: false,
            sasl_mechanisms: ServerMechanisms::new(),
            auth_without_tls: false,
            auth_required: false,
            max_message_size: Some(25 * 1024 * 1024),
            max_recipients: 100,
            max_command_line: 512,
            max_auth_line: 12288,
            max_pending: 64 * 1024,
            max_errors: 10,
            max_junk_commands: 100,
            bare_endings: DecodeBareEndings::Reject,
            sync_error: sync_error(),
            timeouts: Timeouts::default(),
        }
    }
}

/// 554 5.5.0, as Postfix answers a client that talks out of turn.
fn sync_error() -> Reply<'static> {
    super::reply(
        ReplyCode::TRANSACTION_FAILED,
        Some((5, 5, 0)),
        "Synchronization error: command sent before the reply",
    )
}
