//! What the application hands the client ([`Envelope`]) and what it gets back ([`Report`]).

use alloc::vec::Vec;

use crate::types::{ForwardPath, MailParameters, Mailbox, RcptParameters, Reply, ReversePath};

/// One recipient of a message and its `RCPT` parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recipient {
    /// The forward path.
    pub to: ForwardPath<'static>,
    /// Its parameters (`NOTIFY`, `ORCPT`...).
    pub parameters: RcptParameters<'static>,
}

/// The envelope of a message (RFC 5321 2.3.1): the reverse path, the recipients, and the
/// `MAIL` parameters that describe the message.
///
/// The client checks the envelope against what the server offers before it sends anything
/// ([`SendError`](super::SendError)), declares `SMTPUTF8` by itself when an address needs it,
/// and leaves the DSN parameters out for a server without DSN (then
/// [`Report::dsn_dropped`] says so, for a "relayed" notice, RFC 3461 4.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// The reverse path (`<>` for a bounce).
    pub from: ReversePath<'static>,
    /// `MAIL` parameters: `SIZE` (declared when known), `BODY`, DSN's `RET` and `ENVID`,
    /// `REQUIRETLS`...
    pub parameters: MailParameters<'static>,
    /// The recipients, in order; results come back in the same order.
    pub recipients: Vec<Recipient>,
}

impl Envelope {
    /// An envelope from `from`, without recipients or parameters.
    pub fn new(from: impl Into<ReversePath<'static>>) -> Self {
        Self {
            from: from.into(),
            parameters: MailParameters::default(),
            recipients: Vec::new(),
        }
    }

    /// The same envelope with one more recipient, without parameters.
    #[must_use]
    pub fn to(mut self, to: impl Into<ForwardPath<'static>>) -> Self {
        self.recipients.push(Recipient {
            to: to.into(),
            parameters: RcptParameters::default(),
        });
        self
    }

    /// The same envelope with its size declared (`SIZE`, RFC 1870).
    #[must_use]
    pub fn size(mut self, octets: u64) -> Self {
        self.parameters.size = Some(octets);
        self
    }

    /// Whether an address needs SMTPUTF8 (RFC 6531 3.4).
    pub(crate) fn needs_utf8(&self) -> bool {
        !self.from.is_ascii()
            || self.recipients.iter().any(|recipient| {
                !recipient.to.is_ascii()
                    || recipient
                        .parameters
                        .orcpt
                        .as_ref()
                        .is_some_and(|orcpt| orcpt.is_utf8_type())
            })
    }
}

impl From<Mailbox<'static>> for Envelope {
    fn from(from: Mailbox<'static>) -> Self {
        Self::new(from)
    }
}

/// What happened to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipientReport {
    /// The recipient.
    pub to: ForwardPath<'static>,
    /// The reply to its `RCPT`, if one arrived.
    pub rcpt: Option<Reply<'static>>,
    /// The reply that decided its fate: the reply to the end of the message (in LMTP its own
    /// one) when the `RCPT` was accepted, or the refusal that stopped it (its `RCPT`, `MAIL`,
    /// `DATA`, a `BDAT` chunk). `None` when the connection ended before anything decided.
    pub result: Option<Reply<'static>>,
}

impl RecipientReport {
    /// Whether the server took responsibility for delivering to this recipient.
    pub fn is_delivered(&self) -> bool {
        self.result.as_ref().is_some_and(Reply::is_positive)
    }

    /// Whether the failure is transient (4yz): trying again later may work.
    pub fn is_transient_failure(&self) -> bool {
        self.result
            .as_ref()
            .is_some_and(Reply::is_transient_negative)
    }
}

/// The outcome of one message, from [`Event::Sent`](super::Event::Sent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The reply to `MAIL`, if one arrived.
    pub mail: Option<Reply<'static>>,
    /// One entry per recipient, in the envelope's order.
    pub recipients: Vec<RecipientReport>,
    /// The DSN parameters were left out: the server does not offer DSN (RFC 3461 4.1).
    pub dsn_dropped: bool,
}

impl Report {
    /// Whether every recipient was accepted.
    pub fn is_delivered_to_all(&self) -> bool {
        !self.recipients.is_empty() && self.recipients.iter().all(RecipientReport::is_delivered)
    }

    /// How many recipients were accepted.
    pub fn delivered(&self) -> usize {
        self.recipients
            .iter()
            .filter(|recipient| recipient.is_delivered())
            .count()
    }
}
