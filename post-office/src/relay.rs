//! Outbound SMTP: where a recipient domain's mail goes (routes, smart host, MX then A/AAAA,
//! RFC 5321 5.1) and one delivery attempt there with the smtp-proto client through mail-io.
//!
//! Skeleton: the interface the queue's workers use; the issue-15 outbound work fills it in.

use std::path::Path;

use crate::envelope::{Outcome, OutcomeKind, QueuedEnvelope, now};

/// The outbound side's settings (from `serve`'s arguments).
#[derive(Clone, Debug, Default)]
pub struct OutboundConfig {
    /// Our name in EHLO.
    pub hostname: String,
}

/// Delivers to other servers.
pub struct Outbound {
    config: OutboundConfig,
}

impl Outbound {
    /// The outbound side with `config`.
    pub fn new(config: OutboundConfig) -> anyhow::Result<Self> {
        Ok(Self { config })
    }

    /// One attempt to deliver `message` (the file as queued, trace fields included) for the
    /// recipients of `envelope` at the indices `recipients`, all of domain `domain`. One
    /// outcome per index, in order.
    pub async fn deliver(
        &self,
        domain: &str,
        envelope: &QueuedEnvelope,
        recipients: &[usize],
        message: &Path,
    ) -> Vec<Outcome> {
        let _ = (domain, envelope, message, &self.config);
        recipients
            .iter()
            .map(|_| Outcome {
                kind: OutcomeKind::Deferred,
                status: "4.3.0".into(),
                remote_mta: None,
                diagnostic: None,
                at: now(),
            })
            .collect()
    }
}
