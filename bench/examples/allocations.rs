//! Counts the heap allocations of the machines in steady state: per SMTP transaction and per
//! POP3 RETR, through the same in-memory wiring as `benches/machines.rs`. Prints a Markdown
//! table. Steady state is the difference between a session of 2N and one of N (transactions
//! or RETRs), divided by N: the session's setup and teardown cancel out.
//!
//! `cargo run --release --example allocations`

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

use mail_bench::wiring::{RUNNING, maildrop, pop3_session, smtp_session};

/// `System`, counting calls to `alloc`, `alloc_zeroed` and `realloc`, and the octets they
/// asked for (for `realloc`, the new size), per side ([`RUNNING`]: wiring, client, server).
struct Counting;

static CALLS: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];
static BYTES: [AtomicU64; 3] = [const { AtomicU64::new(0) }; 3];

fn count(size: usize) {
    let side = usize::from(RUNNING.load(Ordering::Relaxed)).min(2);
    CALLS[side].fetch_add(1, Ordering::Relaxed);
    BYTES[side].fetch_add(size as u64, Ordering::Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`, which upholds the contract.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: the caller's guarantees about `layout` are passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: as for `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: `ptr` and `layout` came from this allocator, that is from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as for `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocation calls and octets per side (wiring, client, server).
#[derive(Clone, Copy)]
struct Counts([u64; 3], [u64; 3]);

fn snapshot() -> Counts {
    Counts(
        [0, 1, 2].map(|side| CALLS[side].load(Ordering::Relaxed)),
        [0, 1, 2].map(|side| BYTES[side].load(Ordering::Relaxed)),
    )
}

/// Allocation calls and octets while `run` runs.
fn measure(run: impl FnOnce()) -> Counts {
    let before = snapshot();
    run();
    let after = snapshot();
    Counts(
        [0, 1, 2].map(|side| after.0[side] - before.0[side]),
        [0, 1, 2].map(|side| after.1[side] - before.1[side]),
    )
}

/// A table row: calls and octets in all, then client, server and wiring, each divided by `n`.
fn row(name: &str, counts: Counts, n: f64) {
    let calls = |side: usize| counts.0[side] as f64 / n;
    let bytes = |side: usize| counts.1[side] as f64 / n;
    println!(
        "| {name} | {:.1} | {:.0} | {:.1} / {:.0} | {:.1} / {:.0} | {:.1} / {:.0} |",
        calls(0) + calls(1) + calls(2),
        bytes(0) + bytes(1) + bytes(2),
        calls(1),
        bytes(1),
        calls(2),
        bytes(2),
        calls(0),
        bytes(0),
    );
}

/// `long` minus `short`.
fn minus(long: Counts, short: Counts) -> Counts {
    Counts(
        [0, 1, 2].map(|side| long.0[side] - short.0[side]),
        [0, 1, 2].map(|side| long.1[side] - short.1[side]),
    )
}

const BODY: usize = 10 * 1024;
const N: usize = 1000;
const MESSAGES: usize = 100;

fn main() {
    let body = mail_bench::message(BODY);
    let listing = maildrop(&body, MESSAGES);
    // Warm up: whatever is allocated once per process (lazy statics) is not counted.
    smtp_session(&body, 2);
    pop3_session(&body, &listing, 2);

    let smtp_one = measure(|| assert_eq!(smtp_session(&body, 1), body.len()));
    let smtp_n = measure(|| assert_eq!(smtp_session(&body, N), body.len() * N));
    let smtp_2n = measure(|| assert_eq!(smtp_session(&body, 2 * N), body.len() * 2 * N));
    let pop3_one = measure(|| {
        assert_eq!(
            pop3_session(&body, &listing, MESSAGES),
            body.len() * MESSAGES
        )
    });
    let pop3_n = measure(|| assert_eq!(pop3_session(&body, &listing, N), body.len() * N));
    let pop3_2n = measure(|| assert_eq!(pop3_session(&body, &listing, 2 * N), body.len() * 2 * N));

    println!(
        "| measure ({} octet messages) | allocations | bytes | client (allocations / bytes) | server | wiring |",
        body.len()
    );
    println!("|---|---:|---:|---:|---:|---:|");
    row("SMTP session: EHLO, 1 transaction, QUIT", smtp_one, 1.0);
    row(
        &format!(
            "per SMTP transaction, steady state (MAIL, RCPT, DATA; {N} vs {} in a session)",
            2 * N
        ),
        minus(smtp_2n, smtp_n),
        N as f64,
    );
    row(
        &format!("POP3 session: USER, PASS, LIST, {MESSAGES} RETR, QUIT"),
        pop3_one,
        1.0,
    );
    row(
        &format!(
            "per POP3 RETR, steady state ({N} vs {} in a session)",
            2 * N
        ),
        minus(pop3_2n, pop3_n),
        N as f64,
    );
}
