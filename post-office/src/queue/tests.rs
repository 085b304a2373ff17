#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::envelope::{QueuedRecipient, RecipientState};

/// A fresh data directory.
pub(crate) fn scratch(name: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "queue-test-{}-{}-{name}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// An envelope from alice to bob, pending.
pub(crate) fn envelope(id: &str) -> QueuedEnvelope {
    QueuedEnvelope {
        id: id.into(),
        from: "<alice@a.example>".parse().unwrap(),
        parameters: "SIZE=100".parse().unwrap(),
        recipients: vec![QueuedRecipient {
            to: "<bob@b.example>".parse().unwrap(),
            parameters: "".parse().unwrap(),
            state: RecipientState::Pending {
                attempts: 0,
                next_attempt: 0,
                last: None,
            },
        }],
        arrival: 1_765_000_000,
        received_from: "[127.0.0.1] (client.example)".into(),
    }
}

/// A durable spool file with `content`.
pub(crate) fn spool(data: &Path, name: &str, content: &[u8]) -> PathBuf {
    let path = data.join(format!("spool-{name}"));
    write_synced(&path, content).unwrap();
    path
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_enqueued_message_is_read_back_after_a_restart() {
    let data = scratch("enqueue");
    let queue = Queue::open(&data).unwrap();
    let message = spool(&data, "a", b"Subject: hi\r\n\r\nbody\r\n");
    queue.enqueue(&message, &envelope("m1")).unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue.take_arrivals(), vec![envelope("m1")]);
    // The spool file goes away; the queue's link stays.
    fs::remove_file(&message).unwrap();
    drop(queue);

    let queue = Queue::open(&data).unwrap();
    assert_eq!(queue.recover().unwrap(), vec![envelope("m1")]);
    assert_eq!(queue.len(), 1);
    assert_eq!(
        fs::read(queue.message_path("m1")).unwrap(),
        b"Subject: hi\r\n\r\nbody\r\n"
    );
    assert!(names(&queue.dir().join("tmp")).is_empty());
    let _ = fs::remove_dir_all(data);
}

#[test]
fn an_id_already_queued_is_not_queued_again() {
    let data = scratch("twice");
    let queue = Queue::open(&data).unwrap();
    let first = spool(&data, "a", b"first\r\n");
    let second = spool(&data, "b", b"second\r\n");
    queue.enqueue(&first, &envelope("m1")).unwrap();
    queue.enqueue(&second, &envelope("m1")).unwrap();
    queue
        .enqueue_content(b"third\r\n", &envelope("m1"))
        .unwrap();
    assert_eq!(queue.len(), 1);
    // Handed over each time (a retry must not strand it): the scheduler keeps one.
    assert_eq!(queue.take_arrivals(), vec![envelope("m1"); 3]);
    assert_eq!(fs::read(queue.message_path("m1")).unwrap(), b"first\r\n");
    let _ = fs::remove_dir_all(data);
}

#[test]
fn ids_that_are_not_plain_file_names_are_refused() {
    let data = scratch("ids");
    let queue = Queue::open(&data).unwrap();
    let message = spool(&data, "a", b"x\r\n");
    let too_long = "a".repeat(MAX_ID + 1);
    for id in [
        "",
        ".hidden",
        "../escape",
        "a/b",
        "a b",
        "é",
        too_long.as_str(),
    ] {
        let error = queue.enqueue(&message, &envelope(id)).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidInput, "{id:?}");
    }
    assert!(names(&queue.dir().join("msg")).is_empty());
    let _ = fs::remove_dir_all(data);
}

#[test]
fn corrupt_envelope_files_are_moved_aside_not_a_crash() {
    let data = scratch("corrupt");
    let queue = Queue::open(&data).unwrap();
    let message = spool(&data, "a", b"x\r\n");
    queue.enqueue(&message, &envelope("good")).unwrap();
    for id in ["garbage", "wrong-id", "no-message", "huge", "bad-path"] {
        queue.enqueue(&message, &envelope(id)).unwrap();
    }
    let env = queue.dir().join("env");
    fs::write(env.join("garbage.json"), b"{\"id\": \"garb").unwrap();
    let mut other = envelope("someone-else");
    fs::write(
        env.join("wrong-id.json"),
        serde_json::to_vec(&other).unwrap(),
    )
    .unwrap();
    fs::remove_file(queue.message_path("no-message")).unwrap();
    fs::write(
        env.join("huge.json"),
        vec![b' '; usize::try_from(MAX_ENVELOPE_FILE).unwrap() + 1],
    )
    .unwrap();
    // A path its constructor refuses (smtp-proto checks it again when reading).
    other.id = "bad-path".into();
    let json = serde_json::to_string(&other)
        .unwrap()
        .replace("<alice@a.example>", "<alice@@a.example>");
    fs::write(env.join("bad-path.json"), json).unwrap();
    fs::write(env.join("stray-file"), b"?").unwrap();
    drop(queue);

    let queue = Queue::open(&data).unwrap();
    let loaded = queue.recover().unwrap();
    assert_eq!(loaded, vec![envelope("good")]);
    assert_eq!(queue.len(), 1);
    assert_eq!(
        names(&queue.dir().join("corrupt")),
        [
            "bad-path.json",
            "garbage.json",
            "huge.json",
            "no-message.json",
            "stray-file",
            "wrong-id.json"
        ]
    );
    // Their message files had no envelope any more: removed.
    assert_eq!(names(&queue.dir().join("msg")), ["good"]);
    let _ = fs::remove_dir_all(data);
}

#[test]
fn a_message_file_without_envelope_and_temp_files_are_removed_at_start() {
    let data = scratch("debris");
    let queue = Queue::open(&data).unwrap();
    let message = spool(&data, "a", b"x\r\n");
    // Crash after the message file is placed, before the envelope is written.
    queue.crash_after(2);
    assert!(queue.enqueue(&message, &envelope("m1")).is_err());
    assert_eq!(names(&queue.dir().join("msg")), ["m1"]);
    drop(queue);
    let queue = Queue::open(&data).unwrap();
    // Crash with the envelope's temp file written, not renamed.
    queue.crash_after(3);
    assert!(queue.enqueue(&message, &envelope("m2")).is_err());
    assert_eq!(names(&queue.dir().join("tmp")), ["m2.json"]);
    drop(queue);

    let queue = Queue::open(&data).unwrap();
    assert!(queue.recover().unwrap().is_empty());
    assert!(names(&queue.dir().join("msg")).is_empty());
    assert!(names(&queue.dir().join("tmp")).is_empty());
    assert!(names(&queue.dir().join("env")).is_empty());
    let _ = fs::remove_dir_all(data);
}

#[test]
fn an_update_cut_anywhere_leaves_the_old_state_or_the_new() {
    let data = scratch("update");
    let message = spool(&data, "a", b"x\r\n");
    let old = envelope("m1");
    let mut new = old.clone();
    new.recipients[0].state = RecipientState::Pending {
        attempts: 1,
        next_attempt: 1_765_000_300,
        last: None,
    };
    let mut seen_new = false;
    for steps in 0..4 {
        let queue = Queue::open(&data).unwrap();
        let _ = fs::remove_file(queue.envelope_path("m1"));
        queue.enqueue(&message, &old).unwrap();
        queue.crash_after(steps);
        let result = queue.update(&new);
        drop(queue);
        let queue = Queue::open(&data).unwrap();
        let loaded = queue.recover().unwrap();
        assert_eq!(loaded.len(), 1, "cut after {steps} steps");
        if result.is_ok() {
            assert_eq!(loaded[0], new);
        }
        assert!(loaded[0] == old || loaded[0] == new);
        seen_new |= loaded[0] == new;
    }
    assert!(seen_new, "the rename makes the new state durable");
    let _ = fs::remove_dir_all(data);
}

#[test]
fn a_removed_message_leaves_nothing_even_when_cut_midway() {
    let data = scratch("remove");
    let message = spool(&data, "a", b"x\r\n");
    for steps in 0..4 {
        let queue = Queue::open(&data).unwrap();
        queue.enqueue(&message, &envelope("m1")).unwrap();
        queue.crash_after(steps);
        let result = queue.remove("m1");
        drop(queue);
        let queue = Queue::open(&data).unwrap();
        let loaded = queue.recover().unwrap();
        if result.is_ok() || steps > 0 {
            // Once the envelope is gone, the message file goes at the start.
            assert!(loaded.is_empty(), "cut after {steps} steps");
            assert!(names(&queue.dir().join("msg")).is_empty());
        } else {
            assert_eq!(loaded.len(), 1);
            queue.remove("m1").unwrap();
        }
    }
    let _ = fs::remove_dir_all(data);
}

#[test]
fn flush_requests_are_seen_once() {
    let data = scratch("flush");
    let queue = Queue::open(&data).unwrap();
    assert!(!queue.take_flush());
    request_flush(&data).unwrap();
    assert!(queue.take_flush());
    assert!(!queue.take_flush());
    let _ = fs::remove_dir_all(data);
}

#[test]
fn the_listing_reads_without_changing_anything() {
    let data = scratch("list");
    assert_eq!(list(&data).unwrap(), (vec![], vec![]));
    let queue = Queue::open(&data).unwrap();
    let message = spool(&data, "a", b"x\r\n");
    let mut later = envelope("m2");
    later.arrival += 10;
    queue.enqueue(&message, &later).unwrap();
    queue.enqueue(&message, &envelope("m1")).unwrap();
    fs::write(queue.dir().join("env").join("bad.json"), b"[").unwrap();
    let (envelopes, unreadable) = list(&data).unwrap();
    assert_eq!(envelopes, vec![envelope("m1"), later]);
    assert_eq!(unreadable, ["bad.json"]);
    assert!(queue.dir().join("env").join("bad.json").exists());
    let _ = fs::remove_dir_all(data);
}

#[test]
fn the_last_place_is_taken_by_one_writer_and_given_back_when_its_write_fails() {
    let data = scratch("places");
    let queue = Queue::open(&data).unwrap();
    let message = spool(&data, "a", b"x\r\n");
    queue.count.store(MAX_MESSAGES - 1, Ordering::Relaxed);
    let slot = queue.admit("m1", MAX_MESSAGES).unwrap().unwrap();
    assert!(
        queue.enqueue(&message, &envelope("m2")).is_err(),
        "the last place is taken"
    );
    // DSNs still have their reserve.
    assert!(queue.admit_dsn("m1.dsn0").unwrap().is_some());
    drop(slot);
    assert_eq!(queue.len(), MAX_MESSAGES - 1);
    // A write that fails gives its place back.
    queue.fail_after(1);
    assert!(queue.enqueue(&message, &envelope("m2")).is_err());
    assert_eq!(queue.len(), MAX_MESSAGES - 1);
    queue.enqueue(&message, &envelope("m2")).unwrap();
    assert_eq!(queue.len(), MAX_MESSAGES);
    let _ = fs::remove_dir_all(data);
}

#[test]
fn a_removal_that_failed_midway_succeeds_when_tried_again_and_counts_once() {
    let data = scratch("remove-again");
    let queue = Queue::open(&data).unwrap();
    let message = spool(&data, "a", b"x\r\n");
    queue.enqueue(&message, &envelope("m1")).unwrap();
    queue.enqueue(&message, &envelope("m2")).unwrap();
    // The envelope is unlinked, then the directory's sync fails: tried again, it is done.
    queue.fail_after(1);
    assert!(queue.remove("m1").is_err());
    queue.remove("m1").unwrap();
    assert_eq!(queue.len(), 1);
    assert!(!queue.message_path("m1").exists());
    // The message file cannot be removed (a directory stands in its place): logged, not a
    // failure (the start removes what is left), and counted once however often it is asked.
    fs::remove_file(queue.message_path("m2")).unwrap();
    fs::create_dir(queue.message_path("m2")).unwrap();
    queue.remove("m2").unwrap();
    assert_eq!(queue.len(), 0);
    queue.remove("m2").unwrap();
    assert_eq!(queue.len(), 0);
    assert!(names(&queue.dir().join("env")).is_empty());
    let _ = fs::remove_dir_all(data);
}

#[test]
fn an_envelope_whose_sync_failed_is_taken_back_and_the_retry_hands_the_message_over() {
    let data = scratch("env-sync");
    let queue = Queue::open(&data).unwrap();
    let dsn = envelope("m1.dsn0");
    // Content written (1), renamed (2), synced (3); envelope written (4), renamed (5): its
    // directory's sync (6) fails. The caller hears of a failure: nothing may stay queued.
    queue.fail_after(5);
    assert!(queue.enqueue_content(b"report\r\n", &dsn).is_err());
    assert!(names(&queue.dir().join("env")).is_empty());
    assert_eq!(queue.len(), 0);
    assert!(queue.take_arrivals().is_empty());
    // Tried again: written, and handed to the scheduler.
    queue.enqueue_content(b"report\r\n", &dsn).unwrap();
    assert_eq!(queue.take_arrivals(), vec![dsn.clone()]);
    assert_eq!(queue.len(), 1);
    // Queued already (a retry after a later step failed): not written again, handed over
    // (the scheduler ignores an id it knows).
    queue.enqueue_content(b"other\r\n", &dsn).unwrap();
    assert_eq!(queue.take_arrivals(), vec![dsn]);
    assert_eq!(queue.len(), 1);
    assert_eq!(
        fs::read(queue.message_path("m1.dsn0")).unwrap(),
        b"report\r\n"
    );
    let _ = fs::remove_dir_all(data);
}
