//! What the relay queue keeps of a message besides its content: the envelope as it was received
//! (RFC 5321 2.3.1, with the RFC 3461 DSN parameters), and each recipient's state. Shared by the
//! SMTP listeners (which queue), the queue (which stores and schedules), the outbound client
//! (which delivers) and the DSN writer (which reports).
//!
//! Serialized as JSON through smtp-proto's `serde` feature: every path and parameter list is
//! checked again by its constructor when a queue file is read back.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use mail_io::smtp::{ForwardPath, MailParameters, RcptParameters, ReversePath};
use serde::{Deserialize, Serialize};

/// A message waiting in the queue: its envelope and its recipients' states.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedEnvelope {
    /// The queue id (a file name: letters, digits, `.`, `_`, `-`), also the `id` of our
    /// `Received:` field.
    pub id: String,
    /// MAIL FROM: the reverse-path; `<>` (null) for bounces, which are never bounced.
    pub from: ReversePath<'static>,
    /// MAIL FROM's parameters as the client gave them (BODY, SMTPUTF8, RET, ENVID,
    /// REQUIRETLS, SIZE...).
    pub parameters: MailParameters<'static>,
    /// The recipients, in RCPT order.
    pub recipients: Vec<QueuedRecipient>,
    /// When the message was accepted (seconds since the Unix epoch): RFC 3464 2.2.5
    /// `Arrival-Date`, and the start of the give-up period.
    pub arrival: u64,
    /// The client that handed it over (`[192.0.2.1]` and its EHLO name), for the DSN's
    /// `Received-From-MTA` (RFC 3464 2.2.4).
    pub received_from: String,
}

/// One recipient of a queued message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRecipient {
    /// RCPT TO's forward-path.
    pub to: ForwardPath<'static>,
    /// RCPT TO's parameters (NOTIFY, ORCPT).
    pub parameters: RcptParameters<'static>,
    /// Where it stands.
    pub state: RecipientState,
}

/// Where a recipient stands. `Pending` until an attempt decides; `Delivered` and `Failed` are
/// final, and `reported` says whether the DSN they call for (if any) has been queued.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecipientState {
    /// Waiting for its next attempt.
    Pending {
        /// Attempts made so far.
        attempts: u32,
        /// When the next may be made (seconds since the Unix epoch).
        next_attempt: u64,
        /// What the last attempt gave, if any: a transient failure.
        last: Option<Outcome>,
    },
    /// Done: delivered (or relayed), or failed for good.
    Done {
        /// What decided it.
        outcome: Outcome,
        /// The DSN it calls for, if any, has been queued (or none was needed).
        reported: bool,
    },
}

/// What one delivery attempt gave for one recipient, with what RFC 3464 2.3 reports of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Delivered, failed for good, or failed for now.
    pub kind: OutcomeKind,
    /// RFC 3463 status, as `Status:` (RFC 3464 2.3.4) gives it: `2.0.0`, `5.1.1`, `4.4.1`.
    pub status: String,
    /// The server that answered, `dns; mx.example.org` (RFC 3464 2.3.5 `Remote-MTA`), if one
    /// did.
    pub remote_mta: Option<String>,
    /// What it said, `smtp; 550 5.1.1 No such user` (RFC 3464 2.3.6 `Diagnostic-Code`), or
    /// our own explanation when no server answered (`X-Postfix`-style text is not used: the
    /// type is `smtp` for replies, and the diagnostic is left out otherwise).
    pub diagnostic: Option<String>,
    /// When (seconds since the Unix epoch): RFC 3464 2.3.7 `Last-Attempt-Date`.
    pub at: u64,
}

/// The three results of an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OutcomeKind {
    /// Accepted by the next hop (`Action: relayed` when it did not offer DSN and the recipient
    /// asked for NOTIFY=SUCCESS, RFC 3461 4.1) or stored here (`delivered`).
    Delivered {
        /// The next hop took on the DSN duties (it offered DSN, or the message was stored
        /// here); false: `relayed`.
        dsn_passed_on: bool,
    },
    /// 5yz, NXDOMAIN, a loop, a message the next hop cannot take (8BITMIME, SMTPUTF8,
    /// REQUIRETLS it lacks), or the give-up time passed: bounced.
    Failed,
    /// 4yz, a connection failure, SERVFAIL: tried again later.
    Deferred,
}

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    seconds(SystemTime::now())
}

/// Seconds since the Unix epoch of `time` (0 before it).
pub fn seconds(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_reads_back_as_written() {
        let envelope = QueuedEnvelope {
            id: "1765000000.M1P2Q3.host".into(),
            from: "<alice@a.example>".parse().expect("a reverse-path"),
            parameters: "SIZE=123 BODY=8BITMIME RET=HDRS ENVID=QQ314159"
                .parse()
                .expect("parameters"),
            recipients: vec![QueuedRecipient {
                to: "<bob@b.example>".parse().expect("a forward-path"),
                parameters: "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@b.example"
                    .parse()
                    .expect("parameters"),
                state: RecipientState::Pending {
                    attempts: 0,
                    next_attempt: 0,
                    last: None,
                },
            }],
            arrival: now(),
            received_from: "[127.0.0.1] (client.example)".into(),
        };
        let text = serde_json::to_string(&envelope).expect("serializes");
        let back: QueuedEnvelope = serde_json::from_str(&text).expect("deserializes");
        assert_eq!(back, envelope);
    }
}
