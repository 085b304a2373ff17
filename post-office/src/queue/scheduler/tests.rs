#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fs;

use super::*;
use crate::queue::tests::{envelope, scratch, spool};

const POLICY: RetryPolicy = RetryPolicy {
    first: 300,
    max: 4 * 3600,
    give_up: 5 * 24 * 3600,
};

fn outcome(kind: OutcomeKind, status: &str, at: u64) -> Outcome {
    Outcome {
        kind,
        status: status.into(),
        remote_mta: Some("dns; mx.b.example".into()),
        diagnostic: Some(format!("smtp; {status}")),
        at,
    }
}

#[test]
fn the_wait_doubles_from_the_first_up_to_the_cap() {
    let waits: Vec<u64> = (1..=9).map(|n| POLICY.delay(n)).collect();
    assert_eq!(
        waits,
        [300, 600, 1200, 2400, 4800, 9600, 14400, 14400, 14400]
    );
    assert_eq!(POLICY.delay(u32::MAX), 14400);
    assert_eq!(POLICY.delay(0), 300);
}

#[test]
fn a_deferred_recipient_is_tried_again_later_and_later() {
    let mut envelope = envelope("m1");
    let arrival = envelope.arrival;
    let mut at = arrival;
    for (attempt, wait) in [(1, 300), (2, 600), (3, 1200)] {
        record_outcome(
            &mut envelope,
            0,
            outcome(OutcomeKind::Deferred, "4.4.1", at),
            &POLICY,
        );
        let RecipientState::Pending {
            attempts,
            next_attempt,
            last,
        } = &envelope.recipients[0].state
        else {
            panic!("still pending");
        };
        assert_eq!(*attempts, attempt);
        assert_eq!(*next_attempt, at + wait);
        assert_eq!(last.as_ref().map(|l| l.status.as_str()), Some("4.4.1"));
        at = *next_attempt;
    }
}

#[test]
fn the_last_attempt_is_at_the_give_up_time_then_it_fails_with_4_4_7() {
    let mut envelope = envelope("m1");
    let deadline = envelope.arrival + POLICY.give_up;
    // Long after many attempts: the next would be after the deadline, so it is at it.
    envelope.recipients[0].state = RecipientState::Pending {
        attempts: 30,
        next_attempt: 0,
        last: None,
    };
    record_outcome(
        &mut envelope,
        0,
        outcome(OutcomeKind::Deferred, "4.4.1", deadline - 60),
        &POLICY,
    );
    let RecipientState::Pending { next_attempt, .. } = envelope.recipients[0].state else {
        panic!("still pending");
    };
    assert_eq!(next_attempt, deadline);
    record_outcome(
        &mut envelope,
        0,
        outcome(OutcomeKind::Deferred, "4.4.1", deadline),
        &POLICY,
    );
    let RecipientState::Done { outcome, reported } = &envelope.recipients[0].state else {
        panic!("done");
    };
    assert_eq!(outcome.kind, OutcomeKind::Failed);
    assert_eq!(outcome.status, "4.4.7");
    // What the last attempt said stays for the DSN's Diagnostic-Code.
    assert_eq!(outcome.diagnostic.as_deref(), Some("smtp; 4.4.1"));
    assert!(!reported);
}

#[test]
fn delivered_and_failed_end_a_recipient_and_a_done_one_stays_done() {
    let mut envelope = envelope("m1");
    record_outcome(
        &mut envelope,
        0,
        outcome(OutcomeKind::Failed, "5.1.1", 1),
        &POLICY,
    );
    let done = envelope.recipients[0].state.clone();
    assert!(matches!(
        done,
        RecipientState::Done {
            reported: false,
            ..
        }
    ));
    record_outcome(
        &mut envelope,
        0,
        outcome(
            OutcomeKind::Delivered {
                dsn_passed_on: true,
            },
            "2.0.0",
            2,
        ),
        &POLICY,
    );
    assert_eq!(envelope.recipients[0].state, done);
    // An index out of range is ignored.
    record_outcome(
        &mut envelope,
        7,
        outcome(OutcomeKind::Failed, "5.1.1", 1),
        &POLICY,
    );
}

/// An envelope with three recipients: bob (NOTIFY default), carol (NOTIFY=NEVER), dave
/// (NOTIFY=SUCCESS).
fn three(id: &str) -> QueuedEnvelope {
    let mut envelope = envelope(id);
    let template = envelope.recipients[0].clone();
    for (to, parameters) in [
        ("<carol@c.example>", "NOTIFY=NEVER"),
        ("<dave@d.example>", "NOTIFY=SUCCESS"),
    ] {
        let mut recipient = template.clone();
        recipient.to = to.parse().unwrap();
        recipient.parameters = parameters.parse().unwrap();
        envelope.recipients.push(recipient);
    }
    envelope
}

fn dsns(queue: &Queue) -> Vec<QueuedEnvelope> {
    let (envelopes, _) = crate::queue::list(queue.dir().parent().unwrap()).unwrap();
    envelopes
        .into_iter()
        .filter(|envelope| envelope.from == mail_io::smtp::ReversePath::Null)
        .collect()
}

#[test]
fn a_round_gives_one_dsn_for_the_recipients_that_ask_then_the_message_goes() {
    let data = scratch("report");
    let queue = Queue::open(&data).unwrap();
    let message = spool(&data, "a", b"Subject: s\r\n\r\nbody\r\n");
    let mut envelope = three("m1");
    queue.enqueue(&message, &envelope).unwrap();

    // Round 1: carol fails (NEVER: no DSN), dave is delivered (SUCCESS: a DSN).
    record_outcome(
        &mut envelope,
        1,
        outcome(OutcomeKind::Failed, "5.1.1", 1),
        &POLICY,
    );
    let delivered = outcome(
        OutcomeKind::Delivered {
            dsn_passed_on: true,
        },
        "2.0.0",
        1,
    );
    record_outcome(&mut envelope, 2, delivered, &POLICY);
    assert!(!report(&queue, "mx.here.example", &mut envelope).unwrap());
    let queued = dsns(&queue);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].id, "m1.dsn2");
    assert_eq!(queued[0].recipients[0].to.to_string(), "<alice@a.example>");
    // Nothing new to report: nothing written, no DSN.
    assert!(!report(&queue, "mx.here.example", &mut envelope).unwrap());
    assert_eq!(dsns(&queue).len(), 1);

    // Round 2: bob fails: the second DSN, and the message is done.
    record_outcome(
        &mut envelope,
        0,
        outcome(OutcomeKind::Failed, "5.1.1", 2),
        &POLICY,
    );
    assert!(report(&queue, "mx.here.example", &mut envelope).unwrap());
    let ids: Vec<String> = dsns(&queue).into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["m1.dsn0", "m1.dsn2"]);
    assert!(!queue.message_path("m1").exists());
    let (left, _) = crate::queue::list(&data).unwrap();
    assert_eq!(left.len(), 2, "only the DSNs remain");

    // A DSN's own failure is never reported (null reverse-path): it just goes.
    let mut bounce = dsns(&queue).remove(0);
    record_outcome(
        &mut bounce,
        0,
        outcome(OutcomeKind::Failed, "5.1.1", 3),
        &POLICY,
    );
    assert!(report(&queue, "mx.here.example", &mut bounce).unwrap());
    assert_eq!(dsns(&queue).len(), 1);
    let _ = fs::remove_dir_all(data);
}

#[test]
fn a_crash_between_the_dsn_and_the_mark_gives_no_second_dsn() {
    let data = scratch("report-crash");
    let message = spool(&data, "a", b"Subject: s\r\n\r\nbody\r\n");
    let queue = Queue::open(&data).unwrap();
    let mut envelope = envelope("m1");
    queue.enqueue(&message, &envelope).unwrap();
    record_outcome(
        &mut envelope,
        0,
        outcome(OutcomeKind::Failed, "5.1.1", 1),
        &POLICY,
    );
    queue.update(&envelope).unwrap();
    // The DSN is enqueued (its 6 steps), then the process dies.
    queue.crash_after(6);
    assert!(report(&queue, "mx.here.example", &mut envelope).is_err());
    drop(queue);

    let queue = Queue::open(&data).unwrap();
    let mut loaded = queue.recover().unwrap();
    assert_eq!(loaded.len(), 2);
    let mut original = loaded.remove(loaded.iter().position(|e| e.id == "m1").unwrap());
    assert!(report(&queue, "mx.here.example", &mut original).unwrap());
    let ids: Vec<String> = dsns(&queue).into_iter().map(|e| e.id).collect();
    assert_eq!(ids, ["m1.dsn0"]);
    let _ = fs::remove_dir_all(data);
}
