#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::path::{Path, PathBuf};

use mail_parser::{MessageParser, MimeHeaders, PartType};

use super::*;
use crate::envelope::{Outcome, OutcomeKind, QueuedEnvelope, QueuedRecipient, RecipientState};

const ORIGINAL: &[u8] = b"Received: from client.example ([127.0.0.1]) by mx.here.example\r\n\
    From: Alice <alice@a.example>\r\n\
    To: bob@b.example\r\n\
    Subject: the original\r\n\
    \r\n\
    The body, which a HDRS return leaves out.\r\n";

/// The original message in a file of its own.
fn original(name: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!("dsn-test-{}-{name}", std::process::id()));
    std::fs::write(&path, ORIGINAL).unwrap();
    path
}

fn done(kind: OutcomeKind, status: &str, diagnostic: Option<&str>) -> RecipientState {
    RecipientState::Done {
        outcome: Outcome {
            kind,
            status: status.into(),
            remote_mta: diagnostic.map(|_| "dns; mx.b.example".to_string()),
            diagnostic: diagnostic.map(str::to_string),
            at: 1_765_000_100,
        },
        reported: false,
    }
}

fn envelope(mail: &str, recipients: Vec<(&str, &str, RecipientState)>) -> QueuedEnvelope {
    QueuedEnvelope {
        id: "1765000000.M1P2Q3.here".into(),
        from: "<alice@a.example>".parse().unwrap(),
        parameters: mail.parse().unwrap(),
        recipients: recipients
            .into_iter()
            .map(|(to, parameters, state)| QueuedRecipient {
                to: to.parse().unwrap(),
                parameters: parameters.parse().unwrap(),
                state,
            })
            .collect(),
        arrival: 1_765_000_000,
        received_from: "[127.0.0.1] (client.example)".into(),
    }
}

/// The `message/delivery-status` part's text: the per-message block, then one per recipient.
fn status_blocks(message: &mail_parser::Message<'_>) -> Vec<Vec<(String, String)>> {
    let part = delivery_status(message);
    let text = std::str::from_utf8(part.contents()).unwrap();
    text.split("\r\n\r\n")
        .filter(|block| !block.trim().is_empty())
        .map(|block| {
            block
                .lines()
                .map(|line| {
                    let (name, value) = line.split_once(": ").expect("a field");
                    (name.to_string(), value.to_string())
                })
                .collect()
        })
        .collect()
}

/// `envelope` built into a DSN at a fixed time: its content and its envelope.
fn built(
    envelope: &QueuedEnvelope,
    indices: &[usize],
    message: &Path,
) -> (Vec<u8>, QueuedEnvelope) {
    build("mx.here.example", envelope, indices, message, 1_765_000_200)
        .unwrap()
        .expect("a DSN")
}

fn failed() -> RecipientState {
    done(OutcomeKind::Failed, "5.1.1", None)
}

fn delivered(dsn_passed_on: bool) -> RecipientState {
    done(OutcomeKind::Delivered { dsn_passed_on }, "2.0.0", None)
}

/// A message with `mail` parameters whose one recipient, bob, failed with 5.1.1.
fn bounce_to_bob(mail: &str) -> QueuedEnvelope {
    envelope(mail, vec![("<bob@b.example>", "", failed())])
}

/// The `message/delivery-status` part.
fn delivery_status<'a>(message: &'a mail_parser::Message<'_>) -> &'a mail_parser::MessagePart<'a> {
    message
        .parts
        .iter()
        .find(|part| {
            part.content_type()
                .is_some_and(|t| t.ctype() == "message" && t.subtype() == Some("delivery-status"))
        })
        .expect("a message/delivery-status part")
}

fn value<'a>(block: &'a [(String, String)], name: &str) -> Option<&'a str> {
    block
        .iter()
        .find(|(field, _)| field == name)
        .map(|(_, value)| value.as_str())
}

#[test]
fn a_bounce_has_every_rfc_3464_field_and_the_header_section_by_default() {
    let message = original("bounce");
    let envelope = envelope(
        "ENVID=QQ+2B314159",
        vec![
            (
                "<bob@b.example>",
                "ORCPT=rfc822;Bob+2BTag@b.example",
                done(
                    OutcomeKind::Failed,
                    "5.1.1",
                    Some("smtp; 550 5.1.1 No such user"),
                ),
            ),
            (
                "<carol@c.example>",
                "",
                done(OutcomeKind::Failed, "4.4.7", None),
            ),
        ],
    );
    let (content, dsn) = built(&envelope, &[0, 1], &message);
    let parsed = MessageParser::default().parse(&content).expect("parses");

    assert_eq!(
        parsed.subject(),
        Some("Undelivered Mail Returned to Sender")
    );
    let from = parsed.from().and_then(|from| from.first()).unwrap();
    assert_eq!(from.address(), Some("MAILER-DAEMON@mx.here.example"));
    let to = parsed.to().and_then(|to| to.first()).unwrap();
    assert_eq!(to.address(), Some("alice@a.example"));
    assert_eq!(
        parsed.header_raw("Auto-Submitted").map(str::trim),
        Some("auto-replied")
    );
    assert_eq!(
        parsed.message_id(),
        Some("1765000000.M1P2Q3.here.dsn0@mx.here.example")
    );
    let root = parsed.content_type().unwrap();
    assert_eq!(
        (root.ctype(), root.subtype()),
        ("multipart", Some("report"))
    );
    assert_eq!(root.attribute("report-type"), Some("delivery-status"));

    // The part for people names each recipient and the reason.
    let text = parsed.body_text(0).unwrap();
    assert!(
        text.contains("<bob@b.example>: failed: smtp; 550 5.1.1 No such user"),
        "{text}"
    );
    assert!(
        text.contains("<carol@c.example>: failed: still not delivered"),
        "{text}"
    );

    let blocks = status_blocks(&parsed);
    assert_eq!(blocks.len(), 3, "{blocks:?}");
    let per_message = &blocks[0];
    assert_eq!(
        value(per_message, "Reporting-MTA"),
        Some("dns; mx.here.example")
    );
    assert_eq!(
        value(per_message, "Original-Envelope-Id"),
        Some("QQ+314159")
    );
    assert_eq!(
        value(per_message, "Received-From-MTA"),
        Some("dns; client.example ([127.0.0.1])")
    );
    let arrival = value(per_message, "Arrival-Date").unwrap();
    assert!(
        arrival.contains("2025") && arrival.ends_with("+0000"),
        "{arrival}"
    );

    let bob = &blocks[1];
    assert_eq!(
        value(bob, "Original-Recipient"),
        Some("rfc822;Bob+Tag@b.example")
    );
    assert_eq!(value(bob, "Final-Recipient"), Some("rfc822;bob@b.example"));
    assert_eq!(value(bob, "Action"), Some("failed"));
    assert_eq!(value(bob, "Status"), Some("5.1.1"));
    assert_eq!(value(bob, "Remote-MTA"), Some("dns; mx.b.example"));
    assert_eq!(
        value(bob, "Diagnostic-Code"),
        Some("smtp; 550 5.1.1 No such user")
    );
    assert!(value(bob, "Last-Attempt-Date").is_some());

    let carol = &blocks[2];
    assert_eq!(value(carol, "Original-Recipient"), None);
    assert_eq!(
        value(carol, "Final-Recipient"),
        Some("rfc822;carol@c.example")
    );
    assert_eq!(value(carol, "Status"), Some("4.4.7"));
    assert_eq!(value(carol, "Remote-MTA"), None);

    // No RET: the header section only.
    let returned = parsed
        .parts
        .iter()
        .find(|part| {
            part.content_type()
                .is_some_and(|t| t.ctype() == "text" && t.subtype() == Some("rfc822-headers"))
        })
        .expect("a text/rfc822-headers part");
    let headers = std::str::from_utf8(returned.contents()).unwrap();
    assert!(headers.contains("Subject: the original"), "{headers}");
    assert!(!content.windows(8).any(|w| w == b"The body"));

    // Its envelope: from <> to the sender, never reported on itself.
    assert_eq!(dsn.id, "1765000000.M1P2Q3.here.dsn0");
    assert_eq!(dsn.from, ReversePath::Null);
    assert_eq!(dsn.recipients.len(), 1);
    assert_eq!(dsn.recipients[0].to.to_string(), "<alice@a.example>");
    assert_eq!(dsn.recipients[0].parameters.notify, Some(Notify::NEVER));
    let _ = std::fs::remove_file(message);
}

#[test]
fn ret_full_returns_the_whole_message_as_message_rfc822() {
    let message = original("full");
    let envelope = bounce_to_bob("RET=FULL");
    let (content, _) = built(&envelope, &[0], &message);
    let parsed = MessageParser::default().parse(&content).unwrap();
    let nested = parsed
        .parts
        .iter()
        .find_map(|part| match &part.body {
            PartType::Message(nested) => Some(nested),
            _ => None,
        })
        .expect("a message/rfc822 part");
    assert_eq!(nested.subject(), Some("the original"));
    assert_eq!(
        nested.body_text(0).as_deref().map(str::trim_end),
        Some("The body, which a HDRS return leaves out.")
    );
    let _ = std::fs::remove_file(message);
}

#[test]
fn a_success_report_says_delivered_or_relayed() {
    let message = original("success");
    let envelope = envelope(
        "",
        vec![
            ("<bob@b.example>", "NOTIFY=SUCCESS", delivered(true)),
            (
                "<carol@c.example>",
                "NOTIFY=SUCCESS,FAILURE",
                delivered(false),
            ),
        ],
    );
    let (content, dsn) = built(&envelope, &[0, 1], &message);
    let parsed = MessageParser::default().parse(&content).unwrap();
    assert_eq!(parsed.subject(), Some("Successful Mail Delivery Report"));
    let blocks = status_blocks(&parsed);
    assert_eq!(value(&blocks[0], "Original-Envelope-Id"), None);
    assert_eq!(value(&blocks[1], "Action"), Some("delivered"));
    assert_eq!(value(&blocks[2], "Action"), Some("relayed"));
    assert_eq!(dsn.id, "1765000000.M1P2Q3.here.dsn0");
    let _ = std::fs::remove_file(message);
}

#[test]
fn dsns_are_wanted_only_as_rfc_3461_says() {
    let cases = [
        ("", failed(), true),
        ("NOTIFY=FAILURE", failed(), true),
        ("NOTIFY=SUCCESS", failed(), false),
        ("NOTIFY=NEVER", failed(), false),
        ("", delivered(true), false),
        ("NOTIFY=FAILURE", delivered(true), false),
        ("NOTIFY=SUCCESS", delivered(true), true),
        (
            "",
            RecipientState::Pending {
                attempts: 1,
                next_attempt: 0,
                last: None,
            },
            false,
        ),
    ];
    for (parameters, state, expected) in cases {
        let mut envelope = envelope("", vec![("<bob@b.example>", parameters, state)]);
        assert_eq!(
            wanted(&envelope, &envelope.recipients[0]),
            expected,
            "{parameters} {:?}",
            envelope.recipients[0].state
        );
        // Never to the null reverse-path.
        envelope.from = ReversePath::Null;
        assert!(!wanted(&envelope, &envelope.recipients[0]));
    }
}

#[test]
fn a_header_section_is_cut_at_the_empty_line_or_at_a_whole_line() {
    let dir = std::env::temp_dir();
    let path = dir.join(format!("dsn-test-{}-headers", std::process::id()));
    for (content, expected) in [
        (
            &b"A: 1\r\nB: 2\r\n\r\nbody\r\n"[..],
            &b"A: 1\r\nB: 2\r\n"[..],
        ),
        (b"A: 1\nB: 2\n\nbody\n", b"A: 1\nB: 2\n"),
        (b"\r\nbody only\r\n", b""),
        (b"A: 1\r\nB: unfinished", b"A: 1\r\n"),
    ] {
        std::fs::write(&path, content).unwrap();
        assert_eq!(read_headers(&path).unwrap(), expected);
    }
    let _ = std::fs::remove_file(path);
}

#[test]
fn an_original_gone_from_the_queue_still_gives_the_report() {
    let envelope = bounce_to_bob("RET=FULL");
    let missing = std::env::temp_dir().join("dsn-test-no-such-file");
    let (content, _) = built(&envelope, &[0], &missing);
    let parsed = MessageParser::default().parse(&content).unwrap();
    let blocks = status_blocks(&parsed);
    assert_eq!(value(&blocks[1], "Status"), Some("5.1.1"));
}

#[test]
fn no_success_report_when_a_dsn_server_took_the_duty_over() {
    // Relayed to a server that offers DSN: NOTIFY=SUCCESS went on with the message, and that
    // server reports the delivery (RFC 3461 5.2.1): no second report from us.
    let relayed_on = |dsn_passed_on| RecipientState::Done {
        outcome: Outcome {
            kind: OutcomeKind::Delivered { dsn_passed_on },
            status: "2.0.0".into(),
            remote_mta: Some("dns; mx.b.example".into()),
            diagnostic: Some("smtp; 250 2.0.0 Ok".into()),
            at: 1_765_000_100,
        },
        reported: false,
    };
    let envelope = envelope(
        "",
        vec![
            ("<bob@b.example>", "NOTIFY=SUCCESS", relayed_on(true)),
            ("<carol@c.example>", "NOTIFY=SUCCESS", relayed_on(false)),
        ],
    );
    assert!(!wanted(&envelope, &envelope.recipients[0]));
    // A server without DSN: ours to report, as "relayed" (5.2.2 (b)).
    assert!(wanted(&envelope, &envelope.recipients[1]));
}

/// Whether the DSN returns the whole original (`message/rfc822`) rather than its header
/// section (`text/rfc822-headers`).
fn returns_full(content: &[u8]) -> bool {
    let parsed = MessageParser::default().parse(content).unwrap();
    let full = parsed
        .parts
        .iter()
        .any(|part| matches!(part.body, PartType::Message(_)));
    let headers = parsed.parts.iter().any(|part| {
        part.content_type()
            .is_some_and(|t| t.ctype() == "text" && t.subtype() == Some("rfc822-headers"))
    });
    assert!(full != headers, "one returned part");
    full
}

#[test]
fn ret_full_is_ignored_for_success_reports_and_requiretls_messages() {
    let message = original("full-or-not");
    let delivered = delivered(false);
    // RFC 3461 4.3: a report without failures returns the headers only.
    let success = envelope(
        "RET=FULL",
        vec![("<bob@b.example>", "NOTIFY=SUCCESS", delivered)],
    );
    let (content, dsn) = built(&success, &[0], &message);
    assert!(!returns_full(&content));
    assert!(!dsn.parameters.require_tls);
    // RFC 8689 5: a REQUIRETLS message's bounce behaves as RET=HDRS and is sent with
    // REQUIRETLS itself.
    let protected = bounce_to_bob("RET=FULL REQUIRETLS");
    let (content, dsn) = built(&protected, &[0], &message);
    assert!(!returns_full(&content));
    assert!(dsn.parameters.require_tls);
    // The same failure without REQUIRETLS: the whole message.
    let plain = bounce_to_bob("RET=FULL");
    let (content, dsn) = built(&plain, &[0], &message);
    assert!(returns_full(&content));
    assert!(!dsn.parameters.require_tls);
    let _ = std::fs::remove_file(message);
}

#[test]
fn ret_full_of_a_message_over_the_limit_returns_its_headers() {
    let path = std::env::temp_dir().join(format!("dsn-test-{}-large", std::process::id()));
    let mut large = ORIGINAL.to_vec();
    let line = [b"x".repeat(998), b"\r\n".to_vec()].concat();
    // 11 MiB: over the limit of 10 MiB (a bounce holds the original and itself in memory).
    assert_eq!(MAX_RETURNED, 10 * 1024 * 1024);
    while large.len() < 11 * 1024 * 1024 {
        large.extend_from_slice(&line);
    }
    std::fs::write(&path, &large).unwrap();
    let envelope = bounce_to_bob("RET=FULL");
    let (content, _) = built(&envelope, &[0], &path);
    let _ = std::fs::remove_file(&path);
    assert!(content.len() < 64 * 1024, "{} octets", content.len());
    assert!(!returns_full(&content));
}

#[test]
fn utf8_addresses_are_7_bit_in_the_delivery_status_part() {
    let message = original("utf8");
    let envelope = envelope(
        "SMTPUTF8",
        vec![(
            "<jörg+tag@b.example>",
            "ORCPT=utf-8;J\\x{F6}rg@b.example",
            done(
                OutcomeKind::Failed,
                "5.6.7",
                Some("smtp; 554 5.6.7 no SMTPUTF8"),
            ),
        )],
    );
    let (content, _) = built(&envelope, &[0], &message);
    let parsed = MessageParser::default().parse(&content).unwrap();
    let part = delivery_status(&parsed);
    assert!(part.contents().is_ascii(), "RFC 6533 3: a 7-bit part");
    let blocks = status_blocks(&parsed);
    // The mailbox encoded, `+` included; the ORCPT, already unitext, kept as it came.
    assert_eq!(
        value(&blocks[1], "Final-Recipient"),
        Some("utf-8;j\\x{F6}rg\\x{2B}tag@b.example")
    );
    assert_eq!(
        value(&blocks[1], "Original-Recipient"),
        Some("utf-8;J\\x{F6}rg@b.example")
    );
    assert_eq!(
        utf8_addr_xtext("日本@例え.jp", false),
        "\\x{65E5}\\x{672C}@\\x{4F8B}\\x{3048}.jp"
    );
    assert_eq!(
        utf8_addr_xtext("Jörg@b.example", true),
        "J\\x{F6}rg@b.example"
    );
    let _ = std::fs::remove_file(message);
}

#[test]
fn a_long_original_id_still_gives_a_valid_distinct_stable_dsn_id() {
    let short = id("1796613678M909876P25868Q000000", 2);
    assert_eq!(short, "1796613678M909876P25868Q000000.dsn2");
    let long_a = format!("{}a", "x".repeat(199));
    let long_b = format!("{}b", "x".repeat(199));
    for long in [&long_a, &long_b] {
        let made = id(long, 12);
        assert!(made.len() <= crate::queue::MAX_ID, "{}", made.len());
        crate::queue::check_id(&made).unwrap();
        assert!(made.ends_with(".dsn12"), "{made}");
        assert_eq!(made, id(long, 12), "stable");
    }
    assert_ne!(id(&long_a, 12), id(&long_b, 12));
}
