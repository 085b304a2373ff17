//! A relaying post-office killed with `kill -9` (issue 15): office A takes mail for b.example
//! from smtplib clients (a relay network) and relays it to office B; A is killed while it
//! delivers, and restarted on its data. Every message A acknowledged (250) must end up in B's
//! Maildir; a message is delivered twice only when its attempt was in flight at the kill (B
//! took it, A had not yet written so), so there are at most `--relay-workers` duplicates, each
//! of a message B had before the kill; A's queue ends empty and no DSN comes back to the
//! sender. And killed while B is down (every message queued, nothing in flight), A delivers
//! each exactly once after the restart and a flush.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use common::{EMPTY_QUEUE, Office, peer, python, queue_listing, wait_until};

/// Messages submitted to A in each round.
const MESSAGES: usize = 500;

/// smtplib sessions submitting them at once.
const SESSIONS: usize = 5;

/// A's delivery attempts at once (`--relay-workers`, and `--relay-per-domain`: every message
/// goes to b.example): the most messages that can be in flight at the kill.
const WORKERS: usize = 4;

/// How long a restarted A may take to deliver everything.
const DRAIN: Duration = Duration::from_secs(120);

/// Submits `count` messages to SMTP on `port` over `sessions` smtplib sessions at once, from
/// alice@a.example to bob@b.example, each with the Message-ID `<TAG.N@a.example>`; prints the
/// Message-ID of each message acknowledged with 250, one a line. A session that fails stops
/// (its error on standard error); the others go on.
const SUBMIT: &str = r#"
import smtplib, sys, threading
port, tag, count, sessions = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
acked, lock = [], threading.Lock()
def session(k):
    try:
        s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=30)
        for n in range(k, count, sessions):
            mid = f"<{tag}.{n}@a.example>"
            body = "".join(f"line {i} of message {n}\r\n" for i in range(20))
            msg = (f"From: alice@a.example\r\nTo: bob@b.example\r\nSubject: {tag} {n}\r\n"
                   f"Message-ID: {mid}\r\n\r\n{body}")
            refused = s.sendmail("alice@a.example", ["bob@b.example"], msg)
            assert not refused, refused
            with lock:
                acked.append(mid)
        s.quit()
    except Exception as e:
        print(f"session {k}: {e!r}", file=sys.stderr)
threads = [threading.Thread(target=session, args=(k,)) for k in range(sessions)]
for t in threads:
    t.start()
for t in threads:
    t.join(120)
with lock:
    print("\n".join(acked))
"#;

/// Office B: the final destination, for b.example (bob is a user). A connects once per
/// message from 127.0.0.1: no per-client limits.
fn start_b() -> Office {
    Office::start(
        "relay-crash-b",
        &[
            "--domain",
            "b.example",
            "--rate-per-client",
            "0",
            "--max-per-client",
            "0",
        ],
    )
}

/// Office A's arguments: a.example is ours, b.example goes to `b_port`, 127.0.0.0/8 may relay;
/// a failed attempt is tried again after `retry` seconds.
fn a_args(b_port: u16, retry: u64) -> Vec<String> {
    let workers = WORKERS.to_string();
    let retry = retry.to_string();
    [
        "--domain",
        "a.example",
        "--route",
        &format!("b.example=127.0.0.1:{b_port}"),
        "--relay-network",
        "127.0.0.0/8",
        "--relay-workers",
        &workers,
        "--relay-per-domain",
        &workers,
        "--retry-first",
        &retry,
        "--retry-max",
        &retry,
        "--rate-per-client",
        "0",
    ]
    .map(str::to_string)
    .to_vec()
}

fn start_a(name: &str, args: &[String]) -> Office {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Office::start(name, &args)
}

fn restart_a(dir: &Path, args: &[String]) -> Office {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Office::start_in(dir, &args)
}

/// Submits `count` messages tagged `tag` to `office`: the Message-IDs acknowledged.
fn submit(office: &Office, tag: &str, count: usize) -> Vec<String> {
    let out = python(
        SUBMIT,
        &[
            office.smtp.to_string(),
            tag.to_string(),
            count.to_string(),
            SESSIONS.to_string(),
        ],
    );
    out.lines().map(str::to_string).collect()
}

/// Files in bob's Maildir on B (`new/` and `cur/`), without reading them.
fn stored_count(b: &Office) -> usize {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(b.dir.join("data").join("bob").join(sub)).ok())
        .map(|entries| entries.flatten().count())
        .sum()
}

/// How many times each Message-ID is stored in bob's Maildir on B.
fn stored_ids(b: &Office) -> BTreeMap<String, usize> {
    let mut ids = BTreeMap::new();
    for message in b.stored("bob") {
        let text = String::from_utf8_lossy(&message);
        let id = text
            .lines()
            .find_map(|line| line.strip_prefix("Message-ID: "))
            .unwrap_or_else(|| panic!("a message without Message-ID in B: {text}"));
        *ids.entry(id.to_string()).or_insert(0) += 1;
    }
    ids
}

/// How often [`wait_until`] looks.
const POLL: Duration = Duration::from_millis(20);

/// Nothing came back to the sender: no DSN in alice's Maildir on A, none queued in its log.
fn assert_no_dsn(a: &Office) {
    assert!(
        a.stored("alice").is_empty(),
        "a DSN came back to the sender"
    );
    assert!(!a.log().contains("DSN queued"), "{}", a.log());
}

/// What one round measured.
struct Round {
    acked: usize,
    before_kill: usize,
    duplicates: usize,
    drain: Duration,
}

/// Submits [`MESSAGES`] to A, kills A once B holds `kill_at` of them (at once if it holds
/// more when the submission ends), restarts A on its data, and checks the outcome.
fn crash_round(b: &Office, round: usize, kill_at: usize) -> Round {
    let tag = format!("round{round}");
    let args = a_args(b.smtp, 1);
    let a = start_a("relay-crash-a", &args);
    let before = stored_count(b);
    let acked = submit(&a, &tag, MESSAGES);
    assert_eq!(acked.len(), MESSAGES, "not every message was acknowledged");
    assert!(
        wait_until(Duration::from_secs(60), POLL, || stored_count(b) - before
            >= kill_at),
        "B never had {kill_at} messages:\n{}",
        a.log()
    );
    let dir = a.kill();
    // A message whose final dot went out just before the kill is B's to store: let it finish.
    std::thread::sleep(Duration::from_millis(500));
    let before_kill = stored_ids(b);
    let delivered_before: usize = before_kill
        .iter()
        .filter(|(id, _)| id.contains(&format!("<{tag}.")))
        .count();
    assert!(
        delivered_before < MESSAGES,
        "everything was delivered before the kill: nothing was left queued"
    );

    let restarted = Instant::now();
    let a = restart_a(&dir, &args);
    assert!(
        wait_until(DRAIN, POLL, || stored_count(b) - before >= MESSAGES),
        "not every acknowledged message reached B in {DRAIN:?}:\n{}",
        a.log()
    );
    let drain = restarted.elapsed();
    // Removed from the queue once delivered and recorded.
    assert!(
        wait_until(Duration::from_secs(20), POLL, || queue_listing(
            &a.dir.join("data"),
            &[]
        ) == EMPTY_QUEUE),
        "A's queue is not empty: {}",
        a.queue(&[])
    );

    let ids = stored_ids(b);
    let mine: BTreeMap<&String, &usize> = ids
        .iter()
        .filter(|(id, _)| id.contains(&format!("<{tag}.")))
        .collect();
    let acked_set: BTreeSet<&String> = acked.iter().collect();
    for id in &acked {
        assert!(mine.contains_key(id), "{id} was acknowledged and lost");
    }
    for id in mine.keys() {
        assert!(acked_set.contains(id), "{id} was never acknowledged");
    }
    let mut duplicates = 0;
    for (id, &&count) in &mine {
        if count > 1 {
            assert_eq!(count, 2, "{id} was delivered {count} times");
            assert!(
                before_kill.contains_key(*id),
                "{id} was delivered twice but was not in flight at the kill"
            );
            duplicates += 1;
        }
    }
    assert!(
        duplicates <= WORKERS,
        "{duplicates} duplicates, more than the {WORKERS} attempts in flight"
    );
    assert_no_dsn(&a);
    Round {
        acked: acked.len(),
        before_kill: delivered_before,
        duplicates,
        drain,
    }
}

/// Three rounds, killed at different points of the delivery.
#[test]
fn killed_while_relaying_every_acknowledged_message_arrives_with_duplicates_only_from_the_attempts_in_flight()
 {
    if !peer("python3", "apt-get install -y python3") {
        return;
    }
    let b = start_b();
    let started = Instant::now();
    for (round, kill_at) in [100, 200, 300].into_iter().enumerate() {
        let r = crash_round(&b, round, kill_at);
        eprintln!(
            "round {round} (kill at {kill_at} in B): acked {}, delivered before the kill {}, \
             duplicates {}, drained {:.1} s after the restart",
            r.acked,
            r.before_kill,
            r.duplicates,
            r.drain.as_secs_f64()
        );
    }
    eprintln!("3 rounds in {:.1} s", started.elapsed().as_secs_f64());
}

/// Killed while B is down: every message is queued and none is in flight, so after the
/// restart (and a flush: their next attempt is an hour away) each arrives exactly once.
#[test]
fn killed_while_the_next_hop_is_down_every_message_arrives_exactly_once_after_a_flush() {
    const COUNT: usize = 200;
    if !peer("python3", "apt-get install -y python3") {
        return;
    }
    // Nobody listens there: every attempt is refused, deferred for an hour.
    let down = common::free_port();
    let a = start_a("relay-crash-down-a", &a_args(down, 3600));
    let acked = submit(&a, "down", COUNT);
    assert_eq!(acked.len(), COUNT, "not every message was acknowledged");
    let data = a.dir.join("data");
    let everything_deferred = format!("{COUNT} messages queued, {COUNT} recipients pending\n");
    assert!(
        wait_until(Duration::from_secs(30), POLL, || {
            let listing = queue_listing(&data, &[]);
            listing.ends_with(&everything_deferred)
                && listing.matches("  attempts 1 ").count() == COUNT
        }),
        "not every message was tried once and deferred: {}",
        queue_listing(&data, &[])
    );
    let dir = a.kill();

    // B comes up; A, restarted, is told where it now is.
    let b = start_b();
    let a = restart_a(&dir, &a_args(b.smtp, 3600));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(stored_count(&b), 0, "retried before the flush");
    let output = queue_listing(&data, &["--flush"]);
    assert!(output.starts_with("flush requested"), "{output}");
    assert!(
        wait_until(DRAIN, POLL, || stored_count(&b) >= COUNT),
        "not every message reached B after the flush:\n{}",
        a.log()
    );
    assert!(
        wait_until(Duration::from_secs(20), POLL, || queue_listing(&data, &[])
            == EMPTY_QUEUE),
        "A's queue is not empty: {}",
        queue_listing(&data, &[])
    );
    let ids = stored_ids(&b);
    let expected: BTreeMap<String, usize> = acked.into_iter().map(|id| (id, 1)).collect();
    assert_eq!(ids, expected, "each message exactly once");
    assert_no_dsn(&a);
}
