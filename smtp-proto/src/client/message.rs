//! What the application hands the client ([`Envelope`]) and what it gets back ([`Report`]).

use alloc::vec::Vec;

use crate::types::{
    Body, ForwardPath, MailParameters, Mailbox, RcptParameters, Reply, ReversePath,
};

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

    /// The same envelope declaring what `message` needs: its size (`SIZE`) and its body type
    /// ([`body_type`]), for a message the application holds whole.
    #[must_use]
    pub fn for_message(mut self, message: &[u8]) -> Self {
        self.parameters.size = Some(message.len() as u64);
        self.parameters.body = body_type(message);
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

/// The `BODY` a message needs: `None` for 7-bit text; `8BITMIME` (RFC 6152) when an octet has
/// the high bit set; `BINARYMIME` (RFC 3030 3) when it holds a NUL or a line longer than the
/// 998 octets of RFC 5322 2.1.1, which only BDAT carries intact.
pub fn body_type(message: &[u8]) -> Option<Body> {
    let mut line = 0usize;
    let mut eight_bit = false;
    for &byte in message {
        match byte {
            0 => return Some(Body::BinaryMime),
            b'\n' => line = 0,
            b'\r' => {}
            _ => {
                line += 1;
                if line > 998 {
                    return Some(Body::BinaryMime);
                }
                eight_bit |= byte >= 0x80;
            }
        }
    }
    eight_bit.then_some(Body::EightBitMime)
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    #[test]
    fn body_types() {
        assert_eq!(body_type(b"Subject: x\r\n\r\nplain\r\n"), None);
        assert_eq!(body_type("Grüße\r\n".as_bytes()), Some(Body::EightBitMime));
        assert_eq!(body_type(b"a\0b"), Some(Body::BinaryMime));
        let long = vec![b'x'; 999];
        assert_eq!(body_type(&long), Some(Body::BinaryMime));
        assert_eq!(body_type(&long[..998]), None);
        let envelope = Envelope::new(ReversePath::Null).for_message("é".as_bytes());
        assert_eq!(envelope.parameters.size, Some(2));
        assert_eq!(envelope.parameters.body, Some(Body::EightBitMime));
    }
}
