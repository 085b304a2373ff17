//! Delivery status notifications (RFC 3464, requested per RFC 3461 6): the report the queue
//! sends a message's sender about recipients that failed for good, and about those delivered
//! when they asked (`NOTIFY=SUCCESS`).
//!
//! One DSN covers every recipient of a message decided in one attempt round. It is a
//! `multipart/report; report-type=delivery-status` (RFC 6522) of three parts: a text for
//! people, the `message/delivery-status` fields (RFC 3464 2.2, 2.3), and the original: the
//! whole message (`message/rfc822`) with `RET=FULL`, its header section only
//! (`text/rfc822-headers`) with `RET=HDRS` and also when no `RET` was given, to keep bounces
//! small (RFC 3461 4.3 leaves the choice to us).
//!
//! A DSN goes from the null reverse-path (RFC 5321 4.5.5: never answered by another), from
//! `MAILER-DAEMON@<hostname>`, and is marked `Auto-Submitted: auto-replied` (RFC 3834 5).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use mail_builder::MessageBuilder;
use mail_builder::headers::content_type::ContentType;
use mail_builder::headers::date::Date;
use mail_builder::headers::raw::Raw;
use mail_builder::mime::MimePart;
use smtp_proto::types::{
    Body, ForwardPath, MailParameters, Notify, RcptParameters, Ret, ReversePath,
};

use crate::envelope::{Outcome, OutcomeKind, QueuedEnvelope, QueuedRecipient, RecipientState};

/// The most octets of the original a DSN returns with `RET=FULL`: a larger message is
/// returned as its header section only (RFC 3461 4.3 leaves the extent to the MTA; Postfix's
/// `bounce_size_limit` is 50 000). The DSN is built in memory, the original and the DSN
/// each held once: this bounds what one bounce costs.
pub const MAX_RETURNED: u64 = 10 * 1024 * 1024;

/// The most octets of the original's header section returned (`RET=HDRS`).
pub const MAX_RETURNED_HEADERS: usize = 1024 * 1024;

/// The longest value written in a report field (one line; RFC 5322 2.1.1 allows 998).
const MAX_FIELD: usize = 900;

/// Whether `recipient` of `envelope`, decided, calls for a DSN (RFC 3461 4.1, 6.2): never to
/// the null reverse-path nor with `NOTIFY=NEVER`; on failure unless NOTIFY leaves FAILURE out
/// (its default); on delivery only with `NOTIFY=SUCCESS`, and only when the report is ours to
/// make: stored here ("delivered", RFC 3461 5.2.3) or relayed to a server without DSN
/// ("relayed", 5.2.2 (b)). A server that offers DSN got NOTIFY passed on (5.2.1 (c)) and
/// reports the delivery itself: a report of ours would be a second one, and would claim a
/// delivery we did not make (RFC 3464 2.3.3).
pub fn wanted(envelope: &QueuedEnvelope, recipient: &QueuedRecipient) -> bool {
    if envelope.from == ReversePath::Null {
        return false;
    }
    let RecipientState::Done { outcome, .. } = &recipient.state else {
        return false;
    };
    let notify = recipient.parameters.notify;
    match outcome.kind {
        OutcomeKind::Failed => notify.is_none_or(Notify::failure),
        OutcomeKind::Delivered { dsn_passed_on } => {
            // A remote MTA that answered and offered DSN took the duty over.
            let passed_on = dsn_passed_on && outcome.remote_mta.is_some();
            !passed_on && notify.is_some_and(Notify::success)
        }
        OutcomeKind::Deferred => false,
    }
}

/// The DSN's queue id: the message's, and the first recipient it reports (each recipient is
/// reported once, so this names the round): the same after a restart, so that a DSN queued
/// before a crash is not queued twice.
pub fn id(original: &str, first: usize) -> String {
    let suffix = format!(".dsn{first}");
    if original.len() + suffix.len() <= crate::queue::MAX_ID {
        return format!("{original}{suffix}");
    }
    // Only a queue file written by hand has an id this long: shortened to fit, a hash of the
    // whole keeping two such ids apart (the same after a restart, as above).
    let keep = crate::queue::MAX_ID.saturating_sub(suffix.len() + 17);
    let head = original.get(..keep).unwrap_or(original);
    format!("{head}-{:016x}{suffix}", fnv1a(original))
}

/// FNV-1a, 64 bits: a stable hash (std's `DefaultHasher` may change between releases).
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Where a DSN finds the original it returns.
#[derive(Clone, Copy, Debug)]
pub enum Original<'a> {
    /// The message file (queued): the whole or its header section, as RET says.
    File(&'a Path),
    /// The header section alone, read before the message file went (a report of local
    /// deliveries, which returns no more: RFC 3461 4.3).
    Headers(&'a [u8]),
}

/// The DSN about the recipients of `envelope` at `indices` (all decided), the original read
/// from `message`: its content and its envelope (from `<>` to the original sender, NOTIFY=NEVER),
/// `None` when the sender is the null reverse-path.
pub fn build(
    hostname: &str,
    envelope: &QueuedEnvelope,
    indices: &[usize],
    message: &Path,
    now: u64,
) -> io::Result<Option<(Vec<u8>, QueuedEnvelope)>> {
    build_from(hostname, envelope, indices, Original::File(message), now)
}

/// [`build`], the original taken from `original`.
pub fn build_from(
    hostname: &str,
    envelope: &QueuedEnvelope,
    indices: &[usize],
    original: Original<'_>,
    now: u64,
) -> io::Result<Option<(Vec<u8>, QueuedEnvelope)>> {
    let Some(sender) = envelope.from.mailbox() else {
        return Ok(None);
    };
    let Some(&first) = indices.first() else {
        return Ok(None);
    };
    let reported: Vec<(&QueuedRecipient, &Outcome)> = indices
        .iter()
        .filter_map(|&index| envelope.recipients.get(index))
        .filter_map(|recipient| match &recipient.state {
            RecipientState::Done { outcome, .. } => Some((recipient, outcome)),
            RecipientState::Pending { .. } => None,
        })
        .collect();
    let failed = reported
        .iter()
        .any(|(_, outcome)| !matches!(outcome.kind, OutcomeKind::Delivered { .. }));
    let id = id(&envelope.id, first);
    let text = human_text(hostname, envelope, &reported, failed);
    let status = delivery_status(hostname, envelope, &reported);
    // RET=FULL applies to reports of failures only (RFC 3461 4.3), and never to a message
    // sent with REQUIRETLS, whose bounce behaves as RET=HDRS (RFC 8689 5).
    let requiretls = envelope.parameters.require_tls;
    let full = envelope.parameters.ret == Some(Ret::Full) && failed && !requiretls;
    // An original that cannot be read (gone from the queue) leaves the third part empty: the
    // report itself matters more.
    let unreadable = |error: io::Error| {
        tracing::warn!(id = %envelope.id, %error, "reading a queued message for its DSN");
    };
    let whole = match original {
        Original::File(message) if full => read_full(message).map_err(unreadable).ok().flatten(),
        _ => None,
    };
    let returned = match whole {
        Some(content) => {
            let encoding = if content.is_ascii() { "7bit" } else { "8bit" };
            MimePart::new("message/rfc822", content).transfer_encoding(encoding)
        }
        None => {
            let headers = match original {
                Original::File(message) => read_headers(message)
                    .map_err(unreadable)
                    .unwrap_or_default(),
                Original::Headers(headers) => headers.to_vec(),
            };
            let encoding = if headers.is_ascii() { "7bit" } else { "8bit" };
            MimePart::new("text/rfc822-headers", headers).transfer_encoding(encoding)
        }
    };
    let subject = if failed {
        "Undelivered Mail Returned to Sender"
    } else {
        "Successful Mail Delivery Report"
    };
    let report = MimePart::new(
        ContentType::new("multipart/report").attribute("report-type", "delivery-status"),
        vec![
            // Lines of at most 900 octets: no need to encode them.
            MimePart::new("text/plain", text.clone()).transfer_encoding(if text.is_ascii() {
                "7bit"
            } else {
                "8bit"
            }),
            MimePart::new("message/delivery-status", status.into_bytes()).transfer_encoding("7bit"),
            returned,
        ],
    );
    let content = MessageBuilder::new()
        .from((
            "Mail Delivery System",
            format!("MAILER-DAEMON@{hostname}").as_str(),
        ))
        .to(sender.to_string())
        .subject(subject)
        .message_id(format!("{id}@{hostname}"))
        .date(Date::new(i64::try_from(now).unwrap_or(i64::MAX)))
        .header("Auto-Submitted", Raw::new("auto-replied"))
        .body(report)
        .write_to_vec()?;
    let mut parameters = MailParameters::new();
    if !content.is_ascii() {
        parameters = parameters.with_body(Body::EightBitMime);
    }
    parameters.smtputf8 = !sender.is_ascii();
    // RFC 8689 5: the bounce of a REQUIRETLS message is protected as the message was (sent
    // with REQUIRETLS where the next hop offers it; being from `<>`, never dropped for it).
    parameters.require_tls = requiretls;
    let dsn = QueuedEnvelope {
        id,
        from: ReversePath::Null,
        parameters,
        recipients: vec![QueuedRecipient {
            to: ForwardPath::from(sender.clone().into_owned()),
            parameters: RcptParameters::new().with_notify(Notify::NEVER),
            state: RecipientState::Pending {
                attempts: 0,
                next_attempt: now,
                last: None,
            },
        }],
        arrival: now,
        received_from: format!("[127.0.0.1] ({hostname})"),
    };
    Ok(Some((content, dsn)))
}

/// The part for people: what happened to each recipient, and why.
fn human_text(
    hostname: &str,
    envelope: &QueuedEnvelope,
    reported: &[(&QueuedRecipient, &Outcome)],
    failed: bool,
) -> String {
    let mut text = format!("This is the mail system at {hostname}.\r\n\r\n");
    text.push_str(if failed {
        "Your message could not be delivered to one or more of its recipients.\r\n\
         The reasons are below; the attached report says the same for programs.\r\n\r\n"
    } else {
        "Your message was delivered to the recipients below, as you asked (NOTIFY=SUCCESS).\r\n\r\n"
    });
    for (recipient, outcome) in reported {
        let reason = match outcome.kind {
            OutcomeKind::Delivered {
                dsn_passed_on: true,
            } => "delivered".to_string(),
            OutcomeKind::Delivered {
                dsn_passed_on: false,
            } => "relayed to a server that does not send delivery reports".to_string(),
            _ if outcome.status == "4.4.7" => format!(
                "failed: still not delivered after trying since {} (status 4.4.7){}",
                date(envelope.arrival),
                outcome
                    .diagnostic
                    .as_deref()
                    .map(|d| format!("; last error: {d}"))
                    .unwrap_or_default()
            ),
            _ => match &outcome.diagnostic {
                Some(diagnostic) => format!("failed: {diagnostic}"),
                None => format!("failed (status {})", outcome.status),
            },
        };
        text.push_str(&field(&format!("{}: {reason}", recipient.to)));
        text.push_str("\r\n");
    }
    text
}

/// The `message/delivery-status` fields (RFC 3464 2.1): the per-message fields, then a block
/// per recipient, each after an empty line.
fn delivery_status(
    hostname: &str,
    envelope: &QueuedEnvelope,
    reported: &[(&QueuedRecipient, &Outcome)],
) -> String {
    let mut fields = Vec::new();
    // RFC 3464 2.2.2.
    fields.push(format!("Reporting-MTA: dns; {hostname}"));
    // 2.2.1: the ENVID, decoded from xtext.
    if let Some(envid) = &envelope.parameters.envid {
        fields.push(format!("Original-Envelope-Id: {}", envid.as_str()));
    }
    // 2.2.4: the client's name first, `dns; client.example ([192.0.2.1])`.
    if !envelope.received_from.is_empty() {
        fields.push(format!(
            "Received-From-MTA: dns; {}",
            mta_name(&envelope.received_from)
        ));
    }
    // 2.2.5.
    fields.push(format!("Arrival-Date: {}", date(envelope.arrival)));
    let mut text = String::new();
    for line in &fields {
        text.push_str(&field(line));
        text.push_str("\r\n");
    }
    for (recipient, outcome) in reported {
        text.push_str("\r\n");
        let mut fields = Vec::new();
        // 2.3.1, with RFC 3461 4.2's xtext decoded; a `utf-8` address already is in RFC
        // 6533's unitext form but may hold UTF-8, which a 7-bit part cannot.
        if let Some(orcpt) = &recipient.parameters.orcpt {
            let address = orcpt.address().as_str();
            fields.push(format!(
                "Original-Recipient: {};{}",
                orcpt.addr_type(),
                if orcpt.is_utf8_type() {
                    utf8_addr_xtext(address, true)
                } else {
                    address.to_string()
                }
            ));
        }
        // 2.3.2; a UTF-8 address as RFC 6533 3's `utf-8-addr-xtext`.
        let address = match recipient.to.mailbox() {
            Some(mailbox) => mailbox.to_string(),
            None => "postmaster".to_string(),
        };
        let address = if address.is_ascii() {
            format!("rfc822;{address}")
        } else {
            format!("utf-8;{}", utf8_addr_xtext(&address, false))
        };
        fields.push(format!("Final-Recipient: {address}"));
        // 2.3.3.
        let action = match outcome.kind {
            OutcomeKind::Delivered {
                dsn_passed_on: true,
            } => "delivered",
            OutcomeKind::Delivered {
                dsn_passed_on: false,
            } => "relayed",
            OutcomeKind::Failed | OutcomeKind::Deferred => "failed",
        };
        fields.push(format!("Action: {action}"));
        // 2.3.4.
        fields.push(format!("Status: {}", outcome.status));
        // 2.3.5, 2.3.6: as the outbound side wrote them (`dns; ...`, `smtp; ...`).
        if let Some(remote) = &outcome.remote_mta {
            fields.push(format!("Remote-MTA: {remote}"));
        }
        if let Some(diagnostic) = &outcome.diagnostic {
            fields.push(format!("Diagnostic-Code: {diagnostic}"));
        }
        // 2.3.7.
        fields.push(format!("Last-Attempt-Date: {}", date(outcome.at)));
        for line in &fields {
            text.push_str(&field(line));
            text.push_str("\r\n");
        }
    }
    text
}

/// `address` in RFC 6533 3's 7-bit `utf-8-addr-xtext` form, as a `message/delivery-status`
/// part needs it (that part is 7-bit; UTF-8 fields would need `message/global-delivery-status`):
/// each character outside ASCII as `\x{HEX}`, and, for an address not yet `unitext`-encoded
/// (`encoded` false: a mailbox as it is), also `\`, `+`, `=`, space and controls.
fn utf8_addr_xtext(address: &str, encoded: bool) -> String {
    let mut out = String::with_capacity(address.len() + 8);
    for c in address.chars() {
        let special =
            !encoded && matches!(c, '\\' | '+' | '=' | ' ' | '\u{0}'..='\u{1f}' | '\u{7f}');
        if c.is_ascii() && !special {
            out.push(c);
        } else {
            out.push_str(&format!("\\x{{{:02X}}}", u32::from(c)));
        }
    }
    out
}

/// `[192.0.2.1] (client.example)` as RFC 3464 2.2.4's `dns` name-type wants it, the domain
/// first: `client.example ([192.0.2.1])`; anything else as it is.
fn mta_name(received_from: &str) -> String {
    match received_from.split_once(" (") {
        Some((address, name)) if address.starts_with('[') && name.ends_with(')') => {
            format!("{} ({address})", name.trim_end_matches(')'))
        }
        _ => received_from.to_string(),
    }
}

/// An RFC 5322 date-time (`Mon, 7 Dec 2026 02:33:12 +0000`) of seconds since the epoch.
pub fn date(seconds: u64) -> String {
    Date::new(i64::try_from(seconds).unwrap_or(i64::MAX)).to_rfc822()
}

/// One line of at most [`MAX_FIELD`] octets: controls (CR, LF...) become spaces.
fn field(line: &str) -> String {
    let mut out = String::with_capacity(line.len().min(MAX_FIELD));
    for c in line.chars() {
        if out.len() + c.len_utf8() > MAX_FIELD {
            break;
        }
        out.push(if c.is_control() { ' ' } else { c });
    }
    out
}

/// The whole message, unless larger than [`MAX_RETURNED`].
fn read_full(message: &Path) -> io::Result<Option<Vec<u8>>> {
    let mut content = Vec::new();
    File::open(message)?
        .take(MAX_RETURNED + 1)
        .read_to_end(&mut content)?;
    Ok((content.len() as u64 <= MAX_RETURNED).then_some(content))
}

/// The message's header section (RFC 5322 2.1: up to the first empty line, which is left
/// out), at most [`MAX_RETURNED_HEADERS`] octets.
pub fn read_headers(message: &Path) -> io::Result<Vec<u8>> {
    let mut content = Vec::new();
    File::open(message)?
        .take(MAX_RETURNED_HEADERS as u64)
        .read_to_end(&mut content)?;
    let end = if content.starts_with(b"\r\n") || content.starts_with(b"\n") {
        0
    } else {
        memchr::memmem::find(&content, b"\r\n\r\n")
            .map(|at| at + 2)
            .or_else(|| memchr::memmem::find(&content, b"\n\n").map(|at| at + 1))
            .unwrap_or(content.len())
    };
    content.truncate(end);
    // A header section cut off at the limit ends at its last whole line.
    if !content.ends_with(b"\n") {
        let last = memchr::memrchr(b'\n', &content).map_or(0, |at| at + 1);
        content.truncate(last);
    }
    Ok(content)
}

#[cfg(test)]
mod tests;
