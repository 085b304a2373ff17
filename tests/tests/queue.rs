//! The relay queue (issue 15): what it holds survives a crash at any step, each recipient is
//! reported once; `post-office queue` lists it and `--flush` makes a running server (or the next
//! to start) retry at once; a message not delivered in time comes back to its sender as an
//! RFC 3464 DSN.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{EMPTY_QUEUE, Office, queue_listing, wait_until};
use post_office::envelope::{
    Outcome, OutcomeKind, QueuedEnvelope, QueuedRecipient, RecipientState, now,
};
use post_office::queue::{Queue, RetryPolicy, conclude, record_outcome, report};

/// A recipient, pending since the Unix epoch unless `next_attempt` says otherwise.
fn recipient(to: &str, parameters: &str, next_attempt: u64) -> QueuedRecipient {
    QueuedRecipient {
        to: to.parse().unwrap(),
        parameters: parameters.parse().unwrap(),
        state: RecipientState::Pending {
            attempts: 0,
            next_attempt,
            last: None,
        },
    }
}

fn envelope(id: &str, from: &str, recipients: Vec<QueuedRecipient>) -> QueuedEnvelope {
    QueuedEnvelope {
        id: id.into(),
        from: from.parse().unwrap(),
        parameters: "".parse().unwrap(),
        recipients,
        arrival: now(),
        received_from: "[127.0.0.1] (client.example)".into(),
    }
}

/// Queues `envelope` under `data` with a small message, as the SMTP listener would; returns
/// its size.
fn enqueue(data: &Path, envelope: &QueuedEnvelope) -> usize {
    let queue = Queue::open(data).unwrap();
    let spool = data.join(format!("spool-{}", envelope.id));
    let content = format!(
        "From: someone@client.example\r\nSubject: queued {}\r\n\r\nHello.\r\n",
        envelope.id
    );
    std::fs::write(&spool, &content).unwrap();
    queue.enqueue(&spool, envelope).unwrap();
    std::fs::remove_file(spool).unwrap();
    content.len()
}

/// How often [`wait_until`] looks.
const POLL: Duration = Duration::from_millis(100);

/// A scratch directory for [`Office::start_in`], with its `data/`.
fn prepared(name: &str) -> (PathBuf, PathBuf) {
    let dir = common::scratch(name);
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    (dir, data)
}

#[test]
fn the_listing_shows_each_message_and_the_state_of_each_recipient() {
    let (dir, data) = prepared("queue-list");
    let later = now() + 3600;
    let mut queued = envelope(
        "1765000000.M1P1Q1.here",
        "<alice@a.example>",
        vec![
            recipient("<bob@b.example>", "", later),
            recipient("<carol@c.example>", "", later),
        ],
    );
    let size = enqueue(&data, &queued);
    // Carol's first attempt said 451.
    let deferred = Outcome {
        kind: OutcomeKind::Deferred,
        status: "4.3.0".into(),
        remote_mta: Some("dns; mx.c.example".into()),
        diagnostic: Some("smtp; 451 4.3.0 Try later".into()),
        at: now(),
    };
    record_outcome(&mut queued, 1, deferred, &RetryPolicy::default());
    Queue::open(&data).unwrap().update(&queued).unwrap();

    let listing = queue_listing(&data, &[]);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 4, "{listing}");
    assert!(lines[0].starts_with("1765000000.M1P1Q1.here  from <alice@a.example>  arrived "));
    assert!(lines[0].ends_with(&format!("  size {size}")), "{listing}");
    assert!(
        lines[1].starts_with("  <bob@b.example>  pending  attempts 0  next "),
        "{listing}"
    );
    assert!(
        lines[2].starts_with("  <carol@c.example>  pending  attempts 1  next "),
        "{listing}"
    );
    assert!(
        lines[2].ends_with("last 4.3.0 smtp; 451 4.3.0 Try later"),
        "{listing}"
    );
    assert_eq!(lines[3], "1 message queued, 2 recipients pending");
    // An empty queue, or none at all.
    let empty = common::scratch("queue-list-empty");
    assert_eq!(queue_listing(&empty, &[]), EMPTY_QUEUE);
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(empty);
}

#[test]
fn a_flush_makes_a_running_server_retry_at_once() {
    let (dir, data) = prepared("queue-flush");
    // For alice (a local user), not due for an hour.
    enqueue(
        &data,
        &envelope(
            "1765000000.M1P1Q2.here",
            "<sender@client.example>",
            vec![recipient("<alice@here.example>", "", now() + 3600)],
        ),
    );
    let office = Office::start_in(&dir, &[]);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(office.stored("alice").is_empty(), "not due yet");

    let output = queue_listing(&data, &["--flush"]);
    assert!(output.starts_with("flush requested"), "{output}");
    assert!(
        wait_until(Duration::from_secs(15), POLL, || office
            .stored("alice")
            .len()
            == 1),
        "the flush was not acted on:\n{}",
        office.log()
    );
    let stored = String::from_utf8(office.stored("alice").remove(0)).unwrap();
    assert!(
        stored.contains("Subject: queued 1765000000.M1P1Q2.here"),
        "{stored}"
    );
    // Delivered: gone from the queue, and the request consumed.
    assert!(wait_until(Duration::from_secs(5), POLL, || {
        queue_listing(&data, &[]) == EMPTY_QUEUE
    }));
    assert!(!data.join(".queue").join("flush").exists());
}

#[test]
fn a_flush_asked_while_no_server_runs_happens_at_the_next_start() {
    let (dir, data) = prepared("queue-flush-start");
    enqueue(
        &data,
        &envelope(
            "1765000000.M1P1Q3.here",
            "<sender@client.example>",
            vec![recipient("<bob@here.example>", "", now() + 3600)],
        ),
    );
    queue_listing(&data, &["--flush"]);
    let office = Office::start_in(&dir, &[]);
    assert!(
        wait_until(Duration::from_secs(15), POLL, || office.stored("bob").len()
            == 1),
        "not delivered after the start:\n{}",
        office.log()
    );
}

#[test]
fn a_message_not_delivered_in_time_comes_back_to_its_sender_as_a_dsn() {
    let (dir, data) = prepared("queue-give-up");
    // `nobody` is no user here: the message goes to another server, which (the outbound stub,
    // or no such domain) does not take it. Alice is local: her DSN is stored here.
    let mut queued = envelope(
        "1765000000.M1P1Q4.here",
        "<alice@here.example>",
        vec![recipient(
            "<nobody@remote.invalid>",
            "ORCPT=rfc822;Nobody@remote.invalid",
            0,
        )],
    );
    queued.parameters = "ENVID=test-envid".parse().unwrap();
    enqueue(&data, &queued);
    let office = Office::start_in(
        &dir,
        &["--retry-first", "1", "--retry-max", "1", "--give-up", "2"],
    );
    assert!(
        wait_until(Duration::from_secs(30), POLL, || office
            .stored("alice")
            .len()
            == 1),
        "no DSN came back:\n{}",
        office.log()
    );
    let dsn = office.stored("alice").remove(0);
    let text = String::from_utf8_lossy(&dsn).into_owned();
    assert!(
        text.contains("Subject: Undelivered Mail Returned to Sender"),
        "{text}"
    );
    assert!(text.contains("Auto-Submitted: auto-replied"), "{text}");
    assert!(
        text.contains("Final-Recipient: rfc822;nobody@remote.invalid"),
        "{text}"
    );
    assert!(
        text.contains("Original-Recipient: rfc822;Nobody@remote.invalid"),
        "{text}"
    );
    assert!(text.contains("Original-Envelope-Id: test-envid"), "{text}");
    assert!(text.contains("Action: failed"), "{text}");
    // Given up (the stub defers), or refused for good once the outbound side resolves names.
    assert!(
        text.contains("Status: 4.4.7") || text.contains("Status: 5."),
        "{text}"
    );
    assert!(
        text.contains("Subject: queued 1765000000.M1P1Q4.here"),
        "the original's header section is returned: {text}"
    );
    // Everything done: the message and its DSN are gone from the queue.
    assert!(wait_until(Duration::from_secs(5), POLL, || {
        queue_listing(&data, &[]) == EMPTY_QUEUE
    }));

    // A reader nobody here wrote: Python's email package.
    if common::peer("python3", "apt-get install -y python3") {
        let path = dir.join("dsn.eml");
        std::fs::write(&path, &dsn).unwrap();
        let out = common::python(
            r#"
import email, email.policy, sys
m = email.message_from_bytes(open(sys.argv[1], 'rb').read(), policy=email.policy.default)
assert m.get_content_type() == 'multipart/report', m.get_content_type()
assert m.get_param('report-type') == 'delivery-status'
parts = list(m.iter_parts())
assert [p.get_content_type() for p in parts] == ['text/plain', 'message/delivery-status', 'text/rfc822-headers'], [p.get_content_type() for p in parts]
blocks = parts[1].get_payload()
assert blocks[0]['Reporting-MTA'] == 'dns; localhost', blocks[0]['Reporting-MTA']
assert blocks[1]['Final-Recipient'] == 'rfc822;nobody@remote.invalid'
assert blocks[1]['Action'] == 'failed'
print(str(m['From']), blocks[1]['Status'])
"#,
            &[path.to_string_lossy().into_owned()],
        );
        assert!(
            out.starts_with("Mail Delivery System <MAILER-DAEMON@localhost>"),
            "{out}"
        );
    }
}

/// The recipients each DSN in the queue reports, by the id of the message it is about.
fn reported(queue: &Queue, envelopes: &[QueuedEnvelope]) -> HashMap<(String, String), usize> {
    let mut count = HashMap::new();
    for dsn in envelopes {
        let Some((original, _)) = dsn.id.rsplit_once(".dsn") else {
            continue;
        };
        let content = std::fs::read_to_string(queue.message_path(&dsn.id)).unwrap();
        for line in content.lines() {
            if let Some(address) = line.strip_prefix("Final-Recipient: rfc822;") {
                *count
                    .entry((original.to_string(), address.to_string()))
                    .or_insert(0) += 1;
            }
        }
    }
    count
}

#[test]
fn what_was_acknowledged_survives_a_crash_at_any_step_and_is_reported_once() {
    // Each round written then reported (as at a restart), and each ended by `conclude` (as the
    // scheduler does: a removal without the writes before it, unless a DSN is called for).
    for written_first in [true, false] {
        acknowledged_survives_every_cut(written_first);
    }
}

/// Ends the round of `queued`, its outcomes recorded: written then reported, or concluded.
fn end_round(
    queue: &Queue,
    queued: &mut QueuedEnvelope,
    written_first: bool,
) -> std::io::Result<bool> {
    if written_first {
        queue.update(queued)?;
        report(queue, "mx.here.example", queued)
    } else {
        conclude(queue, "mx.here.example", queued)
    }
}

fn acknowledged_survives_every_cut(written_first: bool) {
    const MESSAGES: usize = 4;
    let policy = RetryPolicy::default();
    let failed = |at| Outcome {
        kind: OutcomeKind::Failed,
        status: "5.1.1".into(),
        remote_mta: None,
        diagnostic: None,
        at,
    };
    let deferred = |at| Outcome {
        kind: OutcomeKind::Deferred,
        ..failed(at)
    };
    let delivered = |at| Outcome {
        kind: OutcomeKind::Delivered {
            dsn_passed_on: true,
        },
        status: "2.0.0".into(),
        ..failed(at)
    };
    let quiet = |n: usize| n % 2 == 1;
    let started = Instant::now();
    let mut cut = 0;
    loop {
        assert!(cut < 2000, "the life of {MESSAGES} messages never ended");
        assert!(started.elapsed() < Duration::from_secs(240), "too slow");
        let data = common::scratch("queue-cuts");
        let queue = Queue::open(&data).unwrap();
        queue.crash_after(cut);
        // The life of the messages: queued; bob failed and carol deferred in a first round;
        // carol delivered (she asked for NOTIFY=SUCCESS) in a second. Every other message is
        // quiet, no DSN ever: dave delivered and erin deferred, then erin delivered. Cut at
        // step `cut`.
        let mut acknowledged = Vec::new();
        let life = (|| -> std::io::Result<()> {
            let mut envelopes = Vec::new();
            for n in 0..MESSAGES {
                let recipients = if quiet(n) {
                    vec![
                        recipient(&format!("<dave{n}@d.example>"), "", 0),
                        recipient(&format!("<erin{n}@e.example>"), "", 0),
                    ]
                } else {
                    vec![
                        recipient(&format!("<bob{n}@b.example>"), "", 0),
                        recipient(
                            &format!("<carol{n}@c.example>"),
                            "NOTIFY=SUCCESS,FAILURE",
                            0,
                        ),
                    ]
                };
                let mut queued = envelope(&format!("m{n}"), "<alice@a.example>", recipients);
                queued.arrival = 1_765_000_000;
                let spool = data.join(format!("spool{n}"));
                std::fs::write(&spool, format!("Subject: {n}\r\n\r\nbody\r\n"))?;
                queue.enqueue(&spool, &queued)?;
                acknowledged.push(queued.id.clone());
                envelopes.push(queued);
            }
            for (n, queued) in envelopes.iter_mut().enumerate() {
                let first = if quiet(n) {
                    delivered(1_765_000_001)
                } else {
                    failed(1_765_000_001)
                };
                record_outcome(queued, 0, first, &policy);
                record_outcome(queued, 1, deferred(1_765_000_001), &policy);
                end_round(&queue, queued, written_first)?;
            }
            for queued in &mut envelopes {
                record_outcome(queued, 1, delivered(1_765_000_400), &policy);
                end_round(&queue, queued, written_first)?;
            }
            Ok(())
        })();
        drop(queue);
        let finished = life.is_ok();

        // The restart: what was decided is reported first, then the rest is tried and decided.
        let queue = Queue::open(&data).unwrap();
        let loaded = queue.recover().unwrap();
        for mut queued in loaded.iter().filter(|e| !e.id.contains(".dsn")).cloned() {
            report(&queue, "mx.here.example", &mut queued).unwrap();
            let n: usize = queued.id[1..].parse().unwrap();
            let mut changed = false;
            for index in 0..queued.recipients.len() {
                if matches!(
                    queued.recipients[index].state,
                    RecipientState::Pending { .. }
                ) {
                    let outcome = if index == 0 && !quiet(n) {
                        failed(1_765_000_500)
                    } else {
                        delivered(1_765_000_500)
                    };
                    record_outcome(&mut queued, index, outcome, &policy);
                    changed = true;
                }
            }
            if changed {
                assert!(end_round(&queue, &mut queued, written_first).unwrap());
            }
        }

        // Only DSNs are left, each recipient of each acknowledged message in exactly one.
        let left = queue.recover().unwrap();
        assert!(
            left.iter().all(|e| e.id.contains(".dsn")),
            "cut {cut}: {left:?}"
        );
        let count = reported(&queue, &left);
        for id in &acknowledged {
            let n: usize = id[1..].parse().unwrap();
            if quiet(n) {
                assert!(
                    count.keys().all(|(original, _)| original != id),
                    "cut {cut}: {id} is quiet: {count:?}"
                );
                continue;
            }
            for address in [format!("bob{n}@b.example"), format!("carol{n}@c.example")] {
                assert_eq!(
                    count.get(&(id.clone(), address.clone())),
                    Some(&1),
                    "cut {cut}: {id} {address}: {count:?}"
                );
            }
        }
        // Nor was anything not acknowledged reported twice.
        assert!(count.values().all(|&n| n == 1), "cut {cut}: {count:?}");
        let _ = std::fs::remove_dir_all(&data);
        if finished {
            eprintln!("{cut} cut points tried");
            break;
        }
        cut += 1;
    }
}

/// RFC 3461 5.2.3 (a): a message stored here for a recipient that asked for NOTIFY=SUCCESS
/// gets a "delivered" DSN, queued and stored for the (local) sender; a recipient that did not
/// ask gets none.
#[test]
fn a_local_delivery_with_notify_success_is_reported_to_the_sender() {
    let office = Office::start("queue-local-success", &["--domain", "example.com"]);
    let mut smtp = common::Client::connect(office.smtp);
    assert!(smtp.reply().starts_with("220"));
    smtp.smtp("EHLO client.example");
    assert!(
        smtp.smtp("MAIL FROM:<alice@example.com> ENVID=local-1")
            .starts_with("250")
    );
    let reply = smtp.smtp("RCPT TO:<bob@example.com> NOTIFY=SUCCESS,FAILURE");
    assert!(reply.starts_with("250"), "{reply}");
    assert!(smtp.smtp("RCPT TO:<Alice@example.com>").starts_with("250"));
    assert!(smtp.smtp("DATA").starts_with("354"));
    let end = smtp.smtp("Subject: report me\r\n\r\nhi\r\n.");
    assert!(end.starts_with("250"), "{end}");
    smtp.smtp("QUIT");
    // Alice: her copy, then the DSN.
    assert!(
        wait_until(Duration::from_secs(30), POLL, || office
            .stored("alice")
            .len()
            == 2),
        "no DSN came:\n{}",
        office.log()
    );
    let stored: Vec<String> = office
        .stored("alice")
        .iter()
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    let dsn = stored
        .iter()
        .find(|m| m.contains("multipart/report"))
        .expect("a DSN");
    assert!(dsn.starts_with("Return-Path: <>\r\n"), "{dsn}");
    assert!(
        dsn.contains("Subject: Successful Mail Delivery Report"),
        "{dsn}"
    );
    assert!(
        dsn.contains("Final-Recipient: rfc822;bob@example.com"),
        "{dsn}"
    );
    assert!(!dsn.contains("Final-Recipient: rfc822;Alice@"), "{dsn}");
    assert!(dsn.contains("Action: delivered"), "{dsn}");
    assert!(dsn.contains("Status: 2.0.0"), "{dsn}");
    assert!(dsn.contains("Original-Envelope-Id: local-1"), "{dsn}");
    assert!(dsn.contains("Subject: report me"), "{dsn}");
    assert!(!dsn.contains("\r\nhi\r\n"), "headers only: {dsn}");
    assert_eq!(office.stored("bob").len(), 1);
    // The DSN is done: nothing left in the queue.
    assert!(wait_until(Duration::from_secs(5), POLL, || {
        office.queue(&[]) == EMPTY_QUEUE
    }));
}
