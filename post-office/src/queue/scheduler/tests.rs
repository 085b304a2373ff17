#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fs;

use super::*;
use crate::queue::tests::{envelope, scratch, spool};
use crate::serve::Office;

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

/// A message's content, as every test here spools it.
const BODY: &[u8] = b"Subject: s\r\n\r\nbody\r\n";

const DELIVERED: OutcomeKind = OutcomeKind::Delivered {
    dsn_passed_on: true,
};

/// A delivery at `at` whose DSN duty was passed on.
fn delivered(at: u64) -> Outcome {
    outcome(DELIVERED, "2.0.0", at)
}

/// Records a permanent failure (5.1.1) of recipient `index` at `at`.
fn fail(envelope: &mut QueuedEnvelope, index: usize, at: u64) {
    record_outcome(
        envelope,
        index,
        outcome(OutcomeKind::Failed, "5.1.1", at),
        &POLICY,
    );
}

/// Records a deferral (4.4.1) of recipient `index` at `at`.
fn defer(envelope: &mut QueuedEnvelope, index: usize, at: u64) {
    record_outcome(
        envelope,
        index,
        outcome(OutcomeKind::Deferred, "4.4.1", at),
        &POLICY,
    );
}

/// A scratch data directory named `name`, a message spooled there, and its queue opened.
fn queue_with_message(name: &str) -> (PathBuf, PathBuf, Queue) {
    let data = scratch(name);
    let message = spool(&data, "a", BODY);
    let queue = Queue::open(&data).unwrap();
    (data, message, queue)
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
        defer(&mut envelope, 0, at);
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
    defer(&mut envelope, 0, deadline - 60);
    let RecipientState::Pending { next_attempt, .. } = envelope.recipients[0].state else {
        panic!("still pending");
    };
    assert_eq!(next_attempt, deadline);
    defer(&mut envelope, 0, deadline);
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
    fail(&mut envelope, 0, 1);
    let done = envelope.recipients[0].state.clone();
    assert!(matches!(
        done,
        RecipientState::Done {
            reported: false,
            ..
        }
    ));
    record_outcome(&mut envelope, 0, delivered(2), &POLICY);
    assert_eq!(envelope.recipients[0].state, done);
    // An index out of range is ignored.
    fail(&mut envelope, 7, 1);
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
    let mut dsns: Vec<QueuedEnvelope> = envelopes
        .into_iter()
        .filter(|envelope| envelope.from == mail_io::smtp::ReversePath::Null)
        .collect();
    // In the order of their ids (a directory lists in no order of its own).
    dsns.sort_by(|a, b| a.id.cmp(&b.id));
    dsns
}

/// [`report`] as mx.here.example.
fn report_here(queue: &Queue, envelope: &mut QueuedEnvelope) -> io::Result<bool> {
    report(queue, "mx.here.example", envelope)
}

/// [`conclude`] as mx.here.example.
fn conclude_here(queue: &Queue, envelope: &mut QueuedEnvelope) -> io::Result<bool> {
    conclude(queue, "mx.here.example", envelope)
}

/// m1 queued with `message`, its one recipient failed (5.1.1) and that written.
fn failed_m1(queue: &Queue, message: &Path) -> QueuedEnvelope {
    let mut envelope = envelope("m1");
    queue.enqueue(message, &envelope).unwrap();
    fail(&mut envelope, 0, 1);
    queue.update(&envelope).unwrap();
    envelope
}

/// The ids of the DSNs queued, in order.
fn dsn_ids(queue: &Queue) -> Vec<String> {
    dsns(queue).into_iter().map(|e| e.id).collect()
}

#[test]
fn a_round_gives_one_dsn_for_the_recipients_that_ask_then_the_message_goes() {
    let (data, message, queue) = queue_with_message("report");
    let mut envelope = three("m1");
    queue.enqueue(&message, &envelope).unwrap();

    // Round 1: carol fails (NEVER: no DSN), dave is relayed to a server without DSN
    // (SUCCESS: a "relayed" DSN of ours).
    fail(&mut envelope, 1, 1);
    let delivered = outcome(
        OutcomeKind::Delivered {
            dsn_passed_on: false,
        },
        "2.0.0",
        1,
    );
    record_outcome(&mut envelope, 2, delivered, &POLICY);
    assert!(!report_here(&queue, &mut envelope).unwrap());
    let queued = dsns(&queue);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0].id, "m1.dsn2");
    assert_eq!(queued[0].recipients[0].to.to_string(), "<alice@a.example>");
    // Nothing new to report: nothing written, no DSN.
    assert!(!report_here(&queue, &mut envelope).unwrap());
    assert_eq!(dsns(&queue).len(), 1);

    // Round 2: bob fails: the second DSN, and the message is done.
    fail(&mut envelope, 0, 2);
    assert!(report_here(&queue, &mut envelope).unwrap());
    assert_eq!(dsn_ids(&queue), ["m1.dsn0", "m1.dsn2"]);
    assert!(!queue.message_path("m1").exists());
    let (left, _) = crate::queue::list(&data).unwrap();
    assert_eq!(left.len(), 2, "only the DSNs remain");

    // A DSN's own failure is never reported (null reverse-path): it just goes.
    let mut bounce = dsns(&queue).remove(0);
    fail(&mut bounce, 0, 3);
    assert!(report_here(&queue, &mut bounce).unwrap());
    assert_eq!(dsns(&queue).len(), 1);
    let _ = fs::remove_dir_all(data);
}

#[test]
fn a_crash_between_the_dsn_and_the_mark_gives_no_second_dsn() {
    let (data, message, queue) = queue_with_message("report-crash");
    let mut envelope = failed_m1(&queue, &message);
    // The DSN is enqueued (its 6 steps), then the process dies.
    queue.crash_after(6);
    assert!(report_here(&queue, &mut envelope).is_err());
    drop(queue);

    let queue = Queue::open(&data).unwrap();
    let mut loaded = queue.recover().unwrap();
    assert_eq!(loaded.len(), 2);
    let mut original = loaded.remove(loaded.iter().position(|e| e.id == "m1").unwrap());
    assert!(report_here(&queue, &mut original).unwrap());
    assert_eq!(dsn_ids(&queue), ["m1.dsn0"]);
    let _ = fs::remove_dir_all(data);
}

#[test]
fn a_full_queue_still_takes_its_bounces_and_lets_the_message_go() {
    let (data, message, queue) = queue_with_message("report-full");
    let mut envelope = failed_m1(&queue, &message);
    queue.count.store(
        crate::queue::MAX_MESSAGES,
        std::sync::atomic::Ordering::Relaxed,
    );
    // The bounce has a reserve of its own: the message is reported and goes.
    assert!(report_here(&queue, &mut envelope).unwrap());
    assert_eq!(dsn_ids(&queue), ["m1.dsn0"]);
    assert!(!queue.message_path("m1").exists());
    // A new message is still refused: the bounce took the place the message left.
    let error = queue.enqueue(&message, &crate::queue::tests::envelope("m2"));
    assert!(error.is_err());
    let _ = fs::remove_dir_all(data);
}

#[test]
fn a_dsn_is_handed_over_only_once_its_report_is_durable() {
    let (data, message, queue) = queue_with_message("report-handover");
    let failed = outcome(OutcomeKind::Failed, "5.1.1", 1);
    // m1: bob fails, the others pending (the marks are written); m2: its one recipient fails
    // (the message is removed).
    let mut m1 = three("m1");
    let mut m2 = envelope("m2");
    for envelope in [&mut m1, &mut m2] {
        queue.enqueue(&message, envelope).unwrap();
        record_outcome(envelope, 0, failed.clone(), &POLICY);
        queue.update(envelope).unwrap();
    }
    queue.take_arrivals();
    for envelope in [&mut m1, &mut m2] {
        // The DSN is written (its 6 steps); the marks' write, or the removal, fails.
        queue.fail_after(6);
        assert!(report_here(&queue, envelope).is_err());
        assert!(
            queue.take_arrivals().is_empty(),
            "{}: a DSN handed over before its report is durable",
            envelope.id
        );
        assert!(
            matches!(
                envelope.recipients[0].state,
                RecipientState::Done {
                    reported: false,
                    ..
                }
            ),
            "{}: the marks of a failed write are kept",
            envelope.id
        );
        // Tried again: the DSN queued already is handed over once the report is durable.
        let removed = report_here(&queue, envelope).unwrap();
        assert_eq!(removed, envelope.id == "m2");
        let arrived: Vec<String> = queue.take_arrivals().into_iter().map(|e| e.id).collect();
        assert_eq!(arrived, [format!("{}.dsn0", envelope.id)]);
    }
    assert_eq!(dsn_ids(&queue), ["m1.dsn0", "m2.dsn0"]);
    assert!(matches!(
        m1.recipients[0].state,
        RecipientState::Done { reported: true, .. }
    ));
    assert_eq!(queue.len(), 3);
    let _ = fs::remove_dir_all(data);
}

/// The durable steps of one envelope write ([`Queue::update`]) and of a removal.
const UPDATE_STEPS: u32 = 3;
const REMOVE_STEPS: u32 = 3;

#[test]
fn a_message_delivered_everywhere_without_a_dsn_is_removed_with_nothing_written_before() {
    let data = scratch("conclude-remove");
    let message = spool(&data, "a", BODY);
    let delivered = delivered(1);
    for cut in 0..=REMOVE_STEPS {
        let queue = Queue::open(&data).unwrap();
        let queued = envelope("m1");
        queue.enqueue(&message, &queued).unwrap();
        let mut round = queued.clone();
        record_outcome(&mut round, 0, delivered.clone(), &POLICY);
        // The removal's steps are all it takes: no write of the outcome, nor of its mark.
        queue.crash_after(cut);
        let result = conclude_here(&queue, &mut round);
        assert_eq!(result.is_ok(), cut == REMOVE_STEPS, "cut {cut}");
        drop(queue);
        // A restart finds the message as it was before the round (to be tried again: a
        // duplicate, never a loss), or nothing at all.
        let queue = Queue::open(&data).unwrap();
        let loaded = queue.recover().unwrap();
        if cut == 0 {
            assert_eq!(loaded, vec![queued], "cut {cut}");
            queue.remove("m1").unwrap();
        } else {
            assert!(loaded.is_empty(), "cut {cut}: {loaded:?}");
            assert_eq!(fs::read_dir(queue.dir().join("msg")).unwrap().count(), 0);
        }
        assert!(dsns(&queue).is_empty());
    }
    let _ = fs::remove_dir_all(data);
}

#[test]
fn a_round_without_a_dsn_is_written_once_its_decided_recipients_marked() {
    let (data, message, queue) = queue_with_message("conclude-once");
    let mut queued = three("m1");
    queue.enqueue(&message, &queued).unwrap();
    // bob delivered (no DSN asked), carol failed (NOTIFY=NEVER), dave deferred.
    let delivered = delivered(1);
    record_outcome(&mut queued, 0, delivered, &POLICY);
    fail(&mut queued, 1, 1);
    defer(&mut queued, 2, 1);
    queue.crash_after(UPDATE_STEPS);
    assert!(!conclude_here(&queue, &mut queued).unwrap());
    for recipient in &queued.recipients[..2] {
        assert!(matches!(
            recipient.state,
            RecipientState::Done { reported: true, .. }
        ));
    }
    drop(queue);
    let queue = Queue::open(&data).unwrap();
    assert_eq!(queue.recover().unwrap(), vec![queued.clone()]);
    assert!(dsns(&queue).is_empty());

    // A round of deferrals alone is written too, once.
    defer(&mut queued, 2, 400);
    queue.crash_after(UPDATE_STEPS);
    assert!(!conclude_here(&queue, &mut queued).unwrap());
    drop(queue);
    let queue = Queue::open(&data).unwrap();
    let loaded = queue.recover().unwrap();
    assert_eq!(loaded, vec![queued]);
    assert!(matches!(
        loaded[0].recipients[2].state,
        RecipientState::Pending { attempts: 2, .. }
    ));
    let _ = fs::remove_dir_all(data);
}

#[test]
fn a_round_that_calls_for_a_dsn_is_written_before_the_dsn_is_queued() {
    let (data, message, queue) = queue_with_message("conclude-dsn");
    let mut queued = envelope("m1");
    queue.enqueue(&message, &queued).unwrap();
    fail(&mut queued, 0, 1);
    // Cut once the outcome is written: no DSN yet, and the restart reports it, once.
    queue.crash_after(UPDATE_STEPS);
    assert!(conclude_here(&queue, &mut queued).is_err());
    assert!(dsns(&queue).is_empty());
    drop(queue);
    let queue = Queue::open(&data).unwrap();
    let mut loaded = queue.recover().unwrap();
    assert_eq!(loaded.len(), 1);
    assert!(matches!(
        loaded[0].recipients[0].state,
        RecipientState::Done {
            reported: false,
            ..
        }
    ));
    assert!(report_here(&queue, &mut loaded[0]).unwrap());
    assert_eq!(dsn_ids(&queue), ["m1.dsn0"]);
    let _ = fs::remove_dir_all(data);
}

/// A stand-in for the outbound side: each attempt takes `delay` and gives `kind`; it counts
/// attempts at once, overall and per domain, and every attempt made.
struct FakeRemote {
    delay: Duration,
    kind: OutcomeKind,
    state: std::sync::Mutex<FakeState>,
}

#[derive(Default)]
struct FakeState {
    running: usize,
    most_running: usize,
    per_domain: HashMap<String, usize>,
    most_per_domain: usize,
    /// (message id, domain, recipient indices), in order.
    attempts: Vec<(String, String, Vec<usize>)>,
}

impl FakeRemote {
    fn new(delay: Duration, kind: OutcomeKind) -> Arc<FakeRemote> {
        Arc::new(FakeRemote {
            delay,
            kind,
            state: Default::default(),
        })
    }
}

impl Remote for FakeRemote {
    fn deliver<'a>(
        &'a self,
        domain: &'a str,
        envelope: &'a QueuedEnvelope,
        recipients: &'a [usize],
        _message: &'a Path,
    ) -> Pin<Box<dyn Future<Output = Vec<Outcome>> + Send + 'a>> {
        Box::pin(async move {
            {
                let mut state = self.state.lock().unwrap();
                state.running += 1;
                state.most_running = state.most_running.max(state.running);
                let busy = state.per_domain.entry(domain.to_string()).or_insert(0);
                *busy += 1;
                let busy = *busy;
                state.most_per_domain = state.most_per_domain.max(busy);
                state
                    .attempts
                    .push((envelope.id.clone(), domain.to_string(), recipients.to_vec()));
            }
            tokio::time::sleep(self.delay).await;
            let mut state = self.state.lock().unwrap();
            state.running -= 1;
            *state.per_domain.get_mut(domain).unwrap() -= 1;
            recipients
                .iter()
                .map(|_| outcome(self.kind, "2.0.0", now()))
                .collect()
        })
    }
}

/// Runs a scheduler over the queue of `office` with `remote` until `done` says yes (at most
/// `limit`), then stops it.
async fn run_until(
    office: &Arc<Office>,
    remote: Arc<FakeRemote>,
    settings: Settings,
    limit: Duration,
    mut done: impl FnMut() -> bool,
) -> bool {
    let queue = office.queue.as_ref().unwrap();
    let loaded = queue.recover().unwrap();
    let shutdown = Shutdown::new();
    let task = tokio::spawn(
        Scheduler::new(office.clone(), remote, settings).run(loaded, shutdown.clone()),
    );
    let deadline = tokio::time::Instant::now() + limit;
    let mut ok = done();
    while !ok && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        ok = done();
    }
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the scheduler stops")
        .unwrap();
    ok
}

/// A scratch data directory named `name` and an office for alice there.
fn office(name: &str) -> (PathBuf, Arc<Office>) {
    let data = scratch(name);
    let office = Arc::new(Office::for_tests(&data, &["alice"]));
    (data, office)
}

fn settings(workers: usize, per_domain: usize, policy: RetryPolicy) -> Settings {
    Settings {
        policy,
        workers,
        per_domain,
        drain: Duration::from_secs(2),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attempts_stay_within_the_worker_and_per_domain_limits_one_per_message_and_domain() {
    let (data, office) = office("limits");
    let queue = office.queue.as_ref().unwrap();
    let message = spool(&data, "a", BODY);
    const MESSAGES: usize = 8;
    for n in 0..MESSAGES {
        let mut queued = envelope(&format!("m{n}"));
        let template = queued.recipients[0].clone();
        // bob@b.example, then two at c.example and another at b.example.
        for to in ["<x@c.example>", "<y@B.example>", "<z@c.example>"] {
            let mut recipient = template.clone();
            recipient.to = to.parse().unwrap();
            queued.recipients.push(recipient);
        }
        queue.enqueue(&message, &queued).unwrap();
    }
    let remote = FakeRemote::new(Duration::from_millis(150), DELIVERED);
    let check = remote.clone();
    let finished = run_until(
        &office,
        remote.clone(),
        settings(3, 2, POLICY),
        Duration::from_secs(30),
        || crate::queue::list(&data).unwrap().0.is_empty(),
    )
    .await;
    assert!(finished, "not all delivered");
    let state = check.state.lock().unwrap();
    assert_eq!(state.most_running, 3, "--relay-workers is used to the full");
    assert_eq!(state.most_per_domain, 2, "--relay-per-domain holds");
    // One transaction per message per domain, its recipients together.
    assert_eq!(state.attempts.len(), 2 * MESSAGES);
    for n in 0..MESSAGES {
        let id = format!("m{n}");
        let mut mine: Vec<(&str, &[usize])> = state
            .attempts
            .iter()
            .filter(|(message, ..)| *message == id)
            .map(|(_, domain, indices)| (domain.as_str(), indices.as_slice()))
            .collect();
        mine.sort();
        assert_eq!(
            mine,
            [("b.example", &[0, 2][..]), ("c.example", &[1, 3][..])]
        );
    }
    let _ = fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_queued_while_the_scheduler_waits_is_tried_at_once() {
    let (data, office) = office("wake");
    let message = spool(&data, "a", BODY);
    let remote = FakeRemote::new(Duration::ZERO, DELIVERED);
    let check = remote.clone();
    let queuer = office.clone();
    let mut queued_at = None;
    let mut latency = None;
    let started = std::time::Instant::now();
    let finished = run_until(
        &office,
        remote,
        settings(4, 4, POLICY),
        Duration::from_secs(10),
        || {
            // Queued once the scheduler has been waiting for a while, between its ticks.
            if queued_at.is_none() && started.elapsed() > Duration::from_millis(1300) {
                let queue = queuer.queue.as_ref().unwrap();
                queue.enqueue(&message, &envelope("m1")).unwrap();
                queued_at = Some(std::time::Instant::now());
            }
            let attempted = !check.state.lock().unwrap().attempts.is_empty();
            if attempted && latency.is_none() {
                latency = queued_at.map(|at| at.elapsed());
            }
            attempted
        },
    )
    .await;
    assert!(finished);
    let latency = latency.unwrap();
    eprintln!("tried {latency:?} after it was queued");
    assert!(
        latency < Duration::from_millis(500),
        "{latency:?}: not woken"
    );
    let _ = fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deferred_recipient_is_not_tried_before_its_time_and_a_local_sender_gets_the_bounce() {
    let (data, office) = office("backoff");
    let queue = office.queue.as_ref().unwrap();
    let message = spool(&data, "a", BODY);
    let mut queued = envelope("m1");
    // From a local user, so that the bounce is stored here.
    queued.from = "<alice@here.example>".parse().unwrap();
    queued.arrival = now();
    queue.enqueue(&message, &queued).unwrap();
    let remote = FakeRemote::new(Duration::ZERO, OutcomeKind::Deferred);
    let check = remote.clone();
    let policy = RetryPolicy {
        first: 1,
        max: 60,
        give_up: 3,
    };
    let maildir = data.join("alice").join("new");
    let started = std::time::Instant::now();
    let finished = run_until(
        &office,
        remote,
        settings(4, 4, policy),
        Duration::from_secs(20),
        // The bounce stored, and then (its outcome written) removed from the queue.
        || {
            fs::read_dir(&maildir).is_ok_and(|mut entries| entries.next().is_some())
                && crate::queue::list(&data).unwrap().0.is_empty()
        },
    )
    .await;
    assert!(finished, "no bounce, or the queue not emptied");
    let elapsed = started.elapsed();
    // Tried at 0, 1 and 3 seconds (1, then 2 capped at the give-up time), then failed; on a
    // machine so loaded that the second attempt is late past 3 seconds, it is the last.
    let attempts = check.state.lock().unwrap().attempts.len();
    assert!((2..=3).contains(&attempts), "{attempts} after {elapsed:?}");
    assert!(elapsed >= Duration::from_secs(2), "{elapsed:?}");
    let bounce = fs::read_dir(&maildir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let bounce = fs::read_to_string(bounce).unwrap();
    assert!(bounce.contains("Status: 4.4.7"), "{bounce}");
    assert!(
        bounce.contains("Final-Recipient: rfc822;bob@b.example"),
        "{bounce}"
    );
    // The message and its bounce are done (the bounce leaves the queue just after its store).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !crate::queue::list(&data).unwrap().0.is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue did not empty"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_waiting_for_a_busy_domain_is_set_aside_until_an_attempt_there_ends() {
    let (data, office, mut scheduler) = one_per_domain("parked");
    let queue = office.queue.as_ref().unwrap();
    // A backlog of 100 for b.example, then one for c.example behind it.
    for n in 0..100 {
        add(&mut scheduler, envelope(&format!("m{n:03}")));
    }
    let mut other = envelope("z");
    other.recipients[0].to = "<carol@c.example>".parse().unwrap();
    add(&mut scheduler, other);
    scheduler.dispatch(queue, now());
    // One attempt per domain; the other 99 wait aside, not in `due`, where every dispatch
    // would look at each of them again.
    assert_eq!(scheduler.running, 2);
    assert!(scheduler.due.is_empty());
    assert_eq!(scheduler.parked["b.example"].len(), 99);
    assert_eq!(scheduler.parked["b.example"][0].1, "m001");

    // The attempt to b.example ends: the message that waited longest is due, and started.
    scheduler.finished(delivered_first("m000", "b.example"));
    assert_eq!(due(&scheduler), ["m001"]);
    scheduler.dispatch(queue, now());
    // Two attempts, and the finished message's write (it holds a worker until done).
    assert_eq!(scheduler.running, 3);
    assert!(scheduler.due.is_empty());
    assert_eq!(scheduler.parked["b.example"].len(), 98);
    assert_eq!(scheduler.messages["m001"].running, 1);
    let _ = fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_for_several_busy_domains_stays_due_for_whichever_frees_first() {
    let (data, office, mut scheduler) = one_per_domain("parked-two");
    let queue = office.queue.as_ref().unwrap();
    let mut to_c = envelope("c1");
    to_c.recipients[0].to = "<carol@c.example>".parse().unwrap();
    add(&mut scheduler, envelope("b1"));
    add(&mut scheduler, to_c);
    // For bob@b.example and carol@c.example, both busy.
    let mut both = envelope("m2");
    let mut carol = both.recipients[0].clone();
    carol.to = "<carol@c.example>".parse().unwrap();
    both.recipients.push(carol);
    add(&mut scheduler, both);
    scheduler.dispatch(queue, now());
    assert_eq!(scheduler.running, 2);
    assert!(scheduler.parked.is_empty());
    assert_eq!(due(&scheduler), ["m2"]);

    // c.example frees first: m2's recipient there goes at once.
    scheduler.finished(delivered_first("c1", "c.example"));
    scheduler.dispatch(queue, now());
    // Two attempts, and the finished message's write (it holds a worker until done).
    assert_eq!(scheduler.running, 3);
    assert_eq!(scheduler.messages["m2"].running, 1);
    assert_eq!(scheduler.domains["c.example"], 1);
    let _ = fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_round_whose_write_failed_is_written_again_later_without_another_attempt() {
    let (data, office) = office("write-fails");
    let queue = office.queue.as_ref().unwrap();
    let message = spool(&data, "a", BODY);
    queue.enqueue(&message, &envelope("m1")).unwrap();
    // Every write fails (a full disk, say) until `healed`.
    queue.crash_after(0);
    let remote = FakeRemote::new(Duration::ZERO, DELIVERED);
    let check = remote.clone();
    let policy = RetryPolicy {
        first: 1,
        max: 60,
        give_up: 3600,
    };
    let mut healed = None;
    let finished = run_until(
        &office,
        remote,
        settings(4, 4, policy),
        Duration::from_secs(15),
        || {
            let attempts = check.state.lock().unwrap().attempts.len();
            if attempts > 0 && healed.is_none() {
                // Long enough for the removal to have failed at least once.
                std::thread::sleep(Duration::from_millis(300));
                queue.crash_after(u32::MAX);
                healed = Some(std::time::Instant::now());
            }
            // The envelope goes first, then the message file: both gone.
            healed.is_some()
                && crate::queue::list(&data).unwrap().0.is_empty()
                && !queue.message_path("m1").exists()
        },
    )
    .await;
    assert!(finished, "never removed");
    // The delivery was not repeated: the outcome was kept, only its write tried again.
    assert_eq!(check.state.lock().unwrap().attempts.len(), 1);
    assert!(!queue.message_path("m1").exists());
    let _ = fs::remove_dir_all(data);
}

/// A scheduler (not running) over a new office's queue, with 4 workers, 1 per domain, and
/// attempts that never end by themselves: the test ends them.
fn one_per_domain(name: &str) -> (PathBuf, Arc<Office>, Scheduler) {
    let (data, office) = office(name);
    let remote = FakeRemote::new(Duration::from_secs(3600), DELIVERED);
    let scheduler = Scheduler::new(office.clone(), remote, settings(4, 1, POLICY));
    (data, office, scheduler)
}

/// The attempt of `id`'s first recipient at `domain`, delivered now.
fn delivered_first(id: &str, domain: &str) -> Attempt {
    Attempt {
        id: id.into(),
        destination: Destination::Domain(domain.into()),
        indices: vec![0],
        outcomes: vec![delivered(now())],
    }
}

/// The ids of the messages due, in order.
fn due(scheduler: &Scheduler) -> Vec<&str> {
    scheduler.due.iter().map(|(_, id)| id.as_str()).collect()
}

/// Keeps `envelope` in `scheduler`, due at its next attempt (as the scheduler does at start).
fn add(scheduler: &mut Scheduler, envelope: QueuedEnvelope) {
    let due = next_due(&envelope);
    scheduler.insert(envelope, due);
}

#[test]
fn our_domains_stay_here_users_or_not_and_postmaster_goes_to_the_postmaster() {
    let data = scratch("our-domains");
    let office = Office::for_tests(&data, &["alice"]).with_domains(&["here.example"]);
    let mut message = envelope("ours");
    let pending = message.recipients[0].state.clone();
    message.recipients = [
        "<alice@here.example>",
        "<stranger@HERE.example>",
        "<Postmaster>",
        "<bob@b.example>",
    ]
    .iter()
    .map(|to| crate::envelope::QueuedRecipient {
        to: to.parse().unwrap(),
        parameters: "".parse().unwrap(),
        state: pending.clone(),
    })
    .collect();
    // A stranger at our own domain is not sent out to our own MX (and back).
    assert_eq!(
        groups(&office, &message, now()),
        [
            (Destination::Local, vec![0, 1, 2]),
            (Destination::Domain("b.example".into()), vec![3]),
        ]
    );
    let content = spool(&data, "ours", BODY);
    let kinds: Vec<OutcomeKind> = (0..3)
        .map(|index| store(&office, &message, index, &content).kind)
        .collect();
    assert_eq!(
        kinds,
        [
            OutcomeKind::Delivered {
                dsn_passed_on: true
            },
            OutcomeKind::Failed,
            OutcomeKind::Delivered {
                dsn_passed_on: true
            },
        ]
    );
    assert_eq!(store(&office, &message, 1, &content).status, "5.1.1");
    // alice got two copies: her own, and the postmaster's (she is the first user).
    let stored = fs::read_dir(data.join("alice").join("new"))
        .unwrap()
        .count();
    assert_eq!(stored, 2);
    let _ = fs::remove_dir_all(data);
}

/// Starts a scheduler over `office`'s queue with `remote` and `drain`, waits until its first
/// attempt is under way, then triggers the shutdown: the scheduler's task, and when the
/// shutdown came.
async fn shut_down_during_an_attempt(
    office: &Arc<Office>,
    remote: Arc<FakeRemote>,
    drain: Duration,
) -> (tokio::task::JoinHandle<()>, std::time::Instant) {
    let loaded = office.queue.as_ref().unwrap().recover().unwrap();
    let shutdown = Shutdown::new();
    let settings = Settings {
        drain,
        ..settings(4, 4, POLICY)
    };
    let task = tokio::spawn(
        Scheduler::new(office.clone(), remote.clone(), settings).run(loaded, shutdown.clone()),
    );
    let started = std::time::Instant::now();
    while remote.state.lock().unwrap().running == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "no attempt began"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    shutdown.trigger();
    (task, std::time::Instant::now())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_under_way_at_the_shutdown_ends_and_is_written_before_the_scheduler_stops() {
    let (data, office) = office("drain");
    let queue = office.queue.as_ref().unwrap();
    let message = spool(&data, "a", BODY);
    queue.enqueue(&message, &envelope("m1")).unwrap();
    let remote = FakeRemote::new(Duration::from_millis(600), DELIVERED);
    let (task, shut) =
        shut_down_during_an_attempt(&office, remote.clone(), Duration::from_secs(10)).await;
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("the scheduler stops once the attempt has ended")
        .unwrap();
    let waited = shut.elapsed();
    assert!(
        waited >= Duration::from_millis(300),
        "stopped after {waited:?}: the attempt was cut"
    );
    // Delivered, written, and so removed: nothing left to send again after a restart.
    assert!(crate::queue::list(&data).unwrap().0.is_empty());
    assert!(!queue.message_path("m1").exists());
    assert_eq!(remote.state.lock().unwrap().attempts.len(), 1);
    let _ = fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attempt_still_under_way_after_the_drain_time_is_cut_and_its_message_kept() {
    let (data, office) = office("drain-cut");
    let queue = office.queue.as_ref().unwrap();
    let message = spool(&data, "a", BODY);
    queue.enqueue(&message, &envelope("m1")).unwrap();
    let remote = FakeRemote::new(Duration::from_secs(3600), DELIVERED);
    let (task, shut) =
        shut_down_during_an_attempt(&office, remote, Duration::from_millis(300)).await;
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the scheduler stops at the drain time")
        .unwrap();
    let waited = shut.elapsed();
    assert!(
        (Duration::from_millis(250)..Duration::from_secs(3)).contains(&waited),
        "stopped after {waited:?}"
    );
    // Still queued, its recipient pending: tried again after the restart.
    let (envelopes, _) = crate::queue::list(&data).unwrap();
    assert_eq!(envelopes.len(), 1);
    assert!(matches!(
        envelopes[0].recipients[0].state,
        RecipientState::Pending { .. }
    ));
    assert!(queue.message_path("m1").exists());
    let _ = fs::remove_dir_all(data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nothing_is_tried_once_the_shutdown_is_there() {
    let (data, office) = office("no-start-at-shutdown");
    let queue = office.queue.as_ref().unwrap();
    let message = spool(&data, "a", BODY);
    for n in 0..3 {
        queue
            .enqueue(&message, &envelope(&format!("m{n}")))
            .unwrap();
    }
    let loaded = queue.recover().unwrap();
    let remote = FakeRemote::new(Duration::ZERO, DELIVERED);
    let shutdown = Shutdown::new();
    shutdown.trigger();
    tokio::time::timeout(
        Duration::from_secs(5),
        Scheduler::new(office.clone(), remote.clone(), settings(4, 4, POLICY))
            .run(loaded, shutdown),
    )
    .await
    .expect("the scheduler stops");
    // Three messages due, and not one attempt: they wait for the restart.
    assert!(remote.state.lock().unwrap().attempts.is_empty());
    assert_eq!(crate::queue::list(&data).unwrap().0.len(), 3);
    let _ = fs::remove_dir_all(data);
}
