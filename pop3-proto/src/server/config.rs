//! What a [`Server`](super::Server) offers and tolerates.

use alloc::vec::Vec;
use core::time::Duration;

use mail_wire::dot::EncodeBareEndings;
use mail_wire::sasl::ServerMechanisms;

use crate::types::{Expire, ImplementationText, LanguageListing, Text, Timestamp};

/// The settings of a [`Server`](super::Server). Every limit has a safe default.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The greeting text after `+OK` (the APOP timestamp is appended).
    pub greeting: Text<'static>,
    /// The APOP timestamp for this connection (RFC 1939 7), unique per connection: only the
    /// application can make one (the machine has no clock or randomness). APOP is offered
    /// only when this is set.
    pub apop_timestamp: Option<Timestamp<'static>>,
    /// The application can start TLS: offer STLS (RFC 2595) before TLS is up.
    pub stls: bool,
    /// The session starts with TLS already up (port 995, RFC 8314).
    pub implicit_tls: bool,
    /// Offer USER/PASS (RFC 1939 7).
    pub user_pass: bool,
    /// The SASL mechanisms AUTH offers (RFC 5034), in the order CAPA lists them: PLAIN,
    /// LOGIN, XOAUTH2, OAUTHBEARER, EXTERNAL, CRAM-MD5 (feature `cram-md5`), SCRAM-SHA-256
    /// (feature `scram`) or any plugged in with [`ServerMechanisms::with`]. PLAIN by default.
    pub sasl_mechanisms: ServerMechanisms,
    /// Allow USER/PASS and AUTH before TLS. Off by default: passwords travel only encrypted
    /// (APOP, which sends no password, is allowed either way).
    pub plaintext_login: bool,
    /// Advertise PIPELINING (RFC 2449 6.6). Pipelined commands are answered in order either
    /// way.
    pub pipelining: bool,
    /// Advertise RESP-CODES and AUTH-RESP-CODE and put response codes on replies
    /// (RFC 2449 8, RFC 3206); without it codes are left out.
    pub resp_codes: bool,
    /// `EXPIRE` to advertise (RFC 2449 6.7), and whether it varies per user.
    pub expire: Option<(Expire, bool)>,
    /// `LOGIN-DELAY` seconds to advertise (RFC 2449 6.5), and whether it varies per user.
    pub login_delay: Option<(u32, bool)>,
    /// `IMPLEMENTATION` text to advertise (RFC 2449 6.9); none by default. At most
    /// [`MAX_IMPLEMENTATION`](crate::types::MAX_IMPLEMENTATION) (495) octets, so that the CAPA
    /// line fits in 512 (RFC 2449 4).
    pub implementation: Option<ImplementationText<'static>>,
    /// Offer UTF8 (RFC 6856 2): after the `UTF8` command, UTF-8 user names and text.
    pub utf8: bool,
    /// The languages offered through `LANG` (RFC 6856 3), the administrator's preferred
    /// first (`LANG *` selects it). Empty (the default): no `LANG` capability, and `LANG` is an
    /// unknown command. A session starts in `i-default` (RFC 2277 4.5); the machine's own texts
    /// stay in English whatever is selected: the application localises its texts by
    /// [`Server::language`](super::Server::language) and
    /// [`Event::LanguageChanged`](super::Event::LanguageChanged).
    pub languages: Vec<LanguageListing<'static>>,
    /// The longest command line, CRLF included (RFC 2449 4: 255).
    pub max_command_line: usize,
    /// The longest AUTH response line, CRLF included (as SMTP's RFC 4954 4: 12288).
    pub max_auth_line: usize,
    /// Octets held unprocessed while a decision or a message transfer is pending (pipelined
    /// commands waiting); [`Server::receive`](super::Server::receive) takes no more.
    pub max_pending: usize,
    /// Protocol errors before the session ends (without committing anything).
    pub max_errors: usize,
    /// NOOP commands in the TRANSACTION state a session may send before it ends with
    /// `-ERR too many commands, closing`: default 100, as Postfix's `smtpd_junk_command_limit`
    /// for SMTP. A client cannot hold its maildrop locked by sending NOOP forever; counted over
    /// the whole session (POP3 has no transaction that would start the count again).
    pub max_junk_commands: usize,
    /// How long the client may take for each command, from the response to the last one to
    /// the end of its line, trickled or not (RFC 1939 3, the autologout timer: at least 10
    /// minutes; less is raised to 10 minutes).
    pub idle_timeout: Duration,
    /// What to do with bare CR and LF in messages the application streams: made CRLF
    /// (default, for Maildir files written with LF) or refused.
    pub bare_endings: EncodeBareEndings,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            greeting: Text::checked("POP3 server ready"),
            apop_timestamp: None,
            stls: false,
            implicit_tls: false,
            user_pass: true,
            sasl_mechanisms: ServerMechanisms::new().plain(),
            plaintext_login: false,
            pipelining: true,
            resp_codes: true,
            expire: None,
            login_delay: None,
            implementation: None,
            utf8: false,
            languages: Vec::new(),
            max_command_line: crate::codec::MAX_COMMAND_LINE,
            max_auth_line: mail_wire::sasl::AUTH_LINE_LIMIT,
            max_pending: 64 * 1024,
            max_errors: 10,
            max_junk_commands: 100,
            idle_timeout: Duration::from_secs(10 * 60),
            bare_endings: EncodeBareEndings::ConvertToCrlf,
        }
    }
}
