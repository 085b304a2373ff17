//! The connection cache against a scripted next hop on loopback: what it reuses, what it
//! never reuses, what it closes, and that a kept session the server gave up costs no message.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use super::*;
use crate::envelope::OutcomeKind;
use crate::queue::tests::envelope;

/// Every test ends well within this, or fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(60);

/// How the scripted next hop behaves on every connection after its first message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    /// Goes on normally.
    Serve,
    /// Closes the connection after its 250 to the first message (its idle timeout, say).
    Close,
    /// Answers RSET with 421 and closes.
    RsetClosing,
    /// Never answers RSET (the connection stays open).
    RsetSilent,
    /// Answers RSET with 250, then the next MAIL with 421 and closes.
    MailClosing,
    /// Answers RSET with 250, takes the next message's data, then answers its end with 421
    /// and closes.
    DataClosing,
    /// Answers every MAIL with 421 and closes, the first one too.
    Closing,
}

/// What the scripted next hop saw: per connection (in accept order), its commands' verbs.
#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<Vec<String>>>>);

impl Seen {
    fn connections(&self) -> usize {
        self.0.lock().unwrap().len()
    }

    fn commands(&self, connection: usize) -> Vec<String> {
        self.0.lock().unwrap()[connection].clone()
    }

    /// Messages whose end of data was answered 250, in all.
    fn messages(&self) -> usize {
        self.0
            .lock()
            .unwrap()
            .iter()
            .flatten()
            .filter(|verb| *verb == ".")
            .count()
    }
}

/// A next hop on loopback speaking just enough SMTP (PIPELINING, no STARTTLS), each reply
/// `delay` late: its port and what it sees.
async fn next_hop(after: After, delay: Duration) -> (u16, Seen) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Seen::default();
    let shared = seen.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let index = {
                let mut all = shared.0.lock().unwrap();
                all.push(Vec::new());
                all.len() - 1
            };
            let seen = shared.clone();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                let _ = write.write_all(b"220 hop.test ESMTP\r\n").await;
                let mut delivered = 0;
                let mut in_data = false;
                let mut refused = false;
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line != "." {
                            continue;
                        }
                        in_data = false;
                    }
                    let verb = line
                        .split([' ', ':'])
                        .next()
                        .unwrap_or_default()
                        .to_ascii_uppercase();
                    seen.0.lock().unwrap()[index].push(verb.clone());
                    tokio::time::sleep(delay).await;
                    let (reply, close): (&[u8], bool) = match verb.as_str() {
                        "EHLO" => (b"250-hop.test\r\n250 PIPELINING\r\n", false),
                        "MAIL" if line.contains("refuse") => {
                            refused = true;
                            (b"550 5.7.1 not from you\r\n", false)
                        }
                        "RCPT" | "DATA" if refused => (b"503 5.5.1 no sender\r\n", false),
                        "RSET" if refused => {
                            refused = false;
                            (b"250 2.0.0 ok\r\n", false)
                        }
                        "MAIL" if after == After::Closing => (b"421 4.3.2 closing\r\n", true),
                        "MAIL" if delivered > 0 && after == After::MailClosing => {
                            (b"421 4.3.2 closing\r\n", true)
                        }
                        "RSET" if after == After::RsetClosing => (b"421 4.4.2 idle\r\n", true),
                        "RSET" if after == After::RsetSilent => (b"", false),
                        "DATA" => {
                            in_data = true;
                            (b"354 go on\r\n", false)
                        }
                        "." if delivered > 0 && after == After::DataClosing => {
                            (b"421 4.3.0 going down\r\n", true)
                        }
                        "." => {
                            delivered += 1;
                            (b"250 2.0.0 taken\r\n", after == After::Close)
                        }
                        "QUIT" => (b"221 2.0.0 bye\r\n", true),
                        _ => (b"250 2.0.0 ok\r\n", false),
                    };
                    if write.write_all(reply).await.is_err() || close {
                        break;
                    }
                }
            });
        }
    });
    (port, seen)
}

/// A message file to relay.
fn message_file() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let path = std::env::temp_dir().join(format!(
        "relay-cache-test-{}-{}.eml",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::write(&path, b"Subject: cached\r\n\r\nhello\r\n").unwrap();
    path
}

/// An outbound side that sends b.example's mail to `port`, with `cache`.
fn outbound(port: u16, cache: CacheLimits, route_tls: bool) -> Outbound {
    Outbound::new(OutboundConfig {
        routes: vec![format!("b.example=127.0.0.1:{port}").parse().unwrap()],
        route_tls: if route_tls {
            vec!["b.example".into()]
        } else {
            Vec::new()
        },
        attempt_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(5),
        cache,
        ..OutboundConfig::default()
    })
    .unwrap()
}

/// One attempt for bob: its outcome.
async fn send(outbound: &Outbound, message: &Path, id: &str) -> OutcomeKind {
    let outcomes = outbound
        .deliver("b.example", &envelope(id), &[0], message)
        .await;
    assert_eq!(outcomes.len(), 1);
    outcomes[0].kind
}

const DELIVERED: OutcomeKind = OutcomeKind::Delivered {
    dsn_passed_on: false,
};

/// Waits (a bounded while) until `done` holds.
async fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..200 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("never: {what}");
}

/// Two messages to the same hop, one after the other: one connection, the second message
/// after an RSET, no second EHLO.
#[tokio::test]
async fn two_messages_to_one_hop_share_one_connection() {
    tokio::time::timeout(LIMIT, async {
        let (port, seen) = next_hop(After::Serve, Duration::ZERO).await;
        let outbound = outbound(port, CacheLimits::default(), false);
        let message = message_file();
        assert_eq!(send(&outbound, &message, "m1").await, DELIVERED);
        assert_eq!(outbound.cache.idle(), 1);
        assert_eq!(send(&outbound, &message, "m2").await, DELIVERED);
        assert_eq!(seen.connections(), 1);
        assert_eq!(
            seen.commands(0),
            [
                "EHLO", "MAIL", "RCPT", "DATA", ".", "RSET", "MAIL", "RCPT", "DATA", "."
            ]
        );
        // At the end, QUIT.
        outbound.close().await;
        assert_eq!(seen.commands(0).last().map(String::as_str), Some("QUIT"));
        assert_eq!(outbound.cache.idle(), 0);
        // Closed for good: nothing is kept any more.
        assert_eq!(send(&outbound, &message, "m3").await, DELIVERED);
        assert_eq!(outbound.cache.idle(), 0);
        assert_eq!(seen.connections(), 2);
    })
    .await
    .unwrap();
}

/// A kept session the server gave up meanwhile (closed, 421 to RSET) is dropped, and the
/// message goes through a new connection in the same attempt, once.
#[tokio::test]
async fn a_kept_session_the_server_gave_up_is_replaced_within_the_attempt() {
    tokio::time::timeout(LIMIT, async {
        for after in [After::Close, After::RsetClosing] {
            let (port, seen) = next_hop(after, Duration::ZERO).await;
            let outbound = outbound(port, CacheLimits::default(), false);
            let message = message_file();
            assert_eq!(send(&outbound, &message, "m1").await, DELIVERED);
            if after == After::Close {
                // The server's close reaches the client before the next message.
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert_eq!(
                send(&outbound, &message, "m2").await,
                DELIVERED,
                "{after:?}"
            );
            assert_eq!(seen.connections(), 2, "{after:?}");
            assert_eq!(seen.messages(), 2, "{after:?}: each message once");
            let second = seen.commands(1);
            assert_eq!(second[0], "EHLO", "{after:?}: a new session");
            assert!(second.contains(&".".to_string()), "{after:?}: {second:?}");
            outbound.close().await;
        }
    })
    .await
    .unwrap();
}

/// A kept session that does not answer its RSET within the probe's time is dropped, and the
/// message goes through a new connection in the same attempt, once; the silent session
/// carried none of it, and is closed with QUIT behind its RSET (RFC 5321 4.1.1.10).
#[tokio::test]
async fn a_kept_session_silent_to_rset_is_replaced_after_the_probe_time() {
    tokio::time::timeout(LIMIT, async {
        let (port, seen) = next_hop(After::RsetSilent, Duration::ZERO).await;
        let limits = CacheLimits {
            probe: Duration::from_millis(300),
            ..CacheLimits::default()
        };
        let outbound = outbound(port, limits, false);
        let message = message_file();
        assert_eq!(send(&outbound, &message, "m1").await, DELIVERED);
        let started = std::time::Instant::now();
        assert_eq!(send(&outbound, &message, "m2").await, DELIVERED);
        let took = started.elapsed();
        // The probe's wait, not the default 5 s nor the attempt's 30 s.
        assert!(
            took >= Duration::from_millis(300) && took < Duration::from_secs(3),
            "{took:?}"
        );
        assert_eq!(seen.connections(), 2);
        assert_eq!(seen.messages(), 2, "each message once");
        eventually("QUIT behind the unanswered RSET", || {
            seen.commands(0) == ["EHLO", "MAIL", "RCPT", "DATA", ".", "RSET", "QUIT"]
        })
        .await;
        assert_eq!(seen.commands(1), ["EHLO", "MAIL", "RCPT", "DATA", "."]);
        outbound.close().await;
    })
    .await
    .unwrap();
}

/// A kept session that answered its RSET is the hop's answer like a new one: a 421 to MAIL or
/// at the end of the data defers the message (tried again after the retry delay, RFC 5321
/// 4.5.4.1), it is not sent again at once over another connection.
#[tokio::test]
async fn a_421_after_a_good_rset_defers_the_message_instead_of_sending_it_again_at_once() {
    tokio::time::timeout(LIMIT, async {
        for after in [After::MailClosing, After::DataClosing] {
            let (port, seen) = next_hop(after, Duration::ZERO).await;
            let outbound = outbound(port, CacheLimits::default(), false);
            let message = message_file();
            assert_eq!(send(&outbound, &message, "m1").await, DELIVERED);
            assert_eq!(
                send(&outbound, &message, "m2").await,
                OutcomeKind::Deferred,
                "{after:?}"
            );
            assert_eq!(seen.connections(), 1, "{after:?}: no second connection");
            let commands = seen.commands(0);
            assert_eq!(
                commands.iter().filter(|c| *c == "RSET").count(),
                1,
                "{commands:?}"
            );
            let sent_twice = if after == After::DataClosing { 2 } else { 1 };
            assert_eq!(seen.messages(), sent_twice, "{after:?}: {commands:?}");
            outbound.close().await;
        }
    })
    .await
    .unwrap();
}

/// A 421 on a new connection defers the message: no second connection within the attempt.
#[tokio::test]
async fn a_421_on_a_new_session_defers_without_another_connection() {
    tokio::time::timeout(LIMIT, async {
        let (port, seen) = next_hop(After::Closing, Duration::ZERO).await;
        let outbound = outbound(port, CacheLimits::default(), false);
        let message = message_file();
        assert_eq!(send(&outbound, &message, "m1").await, OutcomeKind::Deferred);
        assert_eq!(seen.connections(), 1);
        assert_eq!(seen.commands(0), ["EHLO", "MAIL"]);
        assert_eq!(
            outbound.cache.idle(),
            0,
            "a session that said 421 is not kept"
        );
        outbound.close().await;
    })
    .await
    .unwrap();
}

/// A session opened without TLS is not used for a message that needs verified TLS: that one
/// opens its own (which fails here: no STARTTLS), and waits.
#[tokio::test]
async fn a_plaintext_session_never_carries_a_message_that_needs_tls() {
    tokio::time::timeout(LIMIT, async {
        let (port, seen) = next_hop(After::Serve, Duration::ZERO).await;
        let plain = outbound(port, CacheLimits::default(), false);
        let message = message_file();
        assert_eq!(send(&plain, &message, "m1").await, DELIVERED);
        // The same cache, a `--route-tls` domain: the kept session is not fit.
        let mut strict = outbound(port, CacheLimits::default(), true);
        strict.cache = plain.cache;
        assert_eq!(strict.cache.idle(), 1);
        assert_eq!(send(&strict, &message, "m2").await, OutcomeKind::Deferred);
        assert_eq!(seen.connections(), 2);
        assert_eq!(seen.commands(0), ["EHLO", "MAIL", "RCPT", "DATA", "."]);
        assert_eq!(seen.messages(), 1);
        // The plaintext session is still kept, untouched.
        assert_eq!(strict.cache.idle(), 1);
        strict.close().await;
    })
    .await
    .unwrap();
}

/// An idle session is closed with QUIT at the end of its idle time, and one too old is not
/// used again.
#[tokio::test]
async fn idle_and_old_sessions_are_closed() {
    tokio::time::timeout(LIMIT, async {
        let (port, seen) = next_hop(After::Serve, Duration::ZERO).await;
        let limits = CacheLimits {
            idle: Duration::from_millis(200),
            ..CacheLimits::default()
        };
        let outbound = outbound(port, limits, false);
        let message = message_file();
        assert_eq!(send(&outbound, &message, "m1").await, DELIVERED);
        assert_eq!(outbound.cache.idle(), 1);
        eventually("QUIT after the idle time", || {
            seen.commands(0).last().map(String::as_str) == Some("QUIT")
        })
        .await;
        assert_eq!(outbound.cache.idle(), 0);
        assert_eq!(send(&outbound, &message, "m2").await, DELIVERED);
        assert_eq!(seen.connections(), 2);

        let (port, seen) = next_hop(After::Serve, Duration::ZERO).await;
        let limits = CacheLimits {
            age: Duration::from_millis(200),
            ..CacheLimits::default()
        };
        let outbound = outbound_with(port, limits);
        assert_eq!(send(&outbound, &message, "m1").await, DELIVERED);
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(send(&outbound, &message, "m2").await, DELIVERED);
        assert_eq!(seen.connections(), 2);
        eventually("QUIT of the old session", || {
            seen.commands(0).last().map(String::as_str) == Some("QUIT")
        })
        .await;
        outbound.close().await;
    })
    .await
    .unwrap();
}

fn outbound_with(port: u16, limits: CacheLimits) -> Outbound {
    outbound(port, limits, false)
}

/// The limits: transactions per session, idle sessions per hop and in all; a zero idle
/// time keeps nothing.
#[tokio::test]
async fn limits_are_kept() {
    tokio::time::timeout(LIMIT, async {
        let message = message_file();
        // Two transactions a session: three messages take two connections.
        let (port, seen) = next_hop(After::Serve, Duration::ZERO).await;
        let limits = CacheLimits {
            transactions: 2,
            ..CacheLimits::default()
        };
        let outbound = outbound_with(port, limits);
        for id in ["m1", "m2", "m3"] {
            assert_eq!(send(&outbound, &message, id).await, DELIVERED);
        }
        assert_eq!(seen.connections(), 2);
        assert_eq!(seen.commands(0).last().map(String::as_str), Some("QUIT"));
        outbound.close().await;

        // Three at once, one idle session per hop (or in all) kept: the others QUIT.
        for (per_hop, total) in [(1, 16), (4, 1)] {
            let (port, seen) = next_hop(After::Serve, Duration::from_millis(50)).await;
            let limits = CacheLimits {
                per_hop,
                total,
                ..CacheLimits::default()
            };
            let outbound = outbound_with(port, limits);
            let (a, b, c) = tokio::join!(
                send(&outbound, &message, "m1"),
                send(&outbound, &message, "m2"),
                send(&outbound, &message, "m3"),
            );
            assert_eq!([a, b, c], [DELIVERED, DELIVERED, DELIVERED]);
            assert_eq!(seen.connections(), 3);
            assert_eq!(outbound.cache.idle(), 1, "per hop {per_hop}, total {total}");
            eventually("two sessions QUIT", || {
                (0..3)
                    .filter(|&n| seen.commands(n).last().map(String::as_str) == Some("QUIT"))
                    .count()
                    == 2
            })
            .await;
            outbound.close().await;
        }

        // No idle time: nothing kept, every session QUIT.
        let (port, seen) = next_hop(After::Serve, Duration::ZERO).await;
        let limits = CacheLimits {
            idle: Duration::ZERO,
            ..CacheLimits::default()
        };
        let outbound = outbound_with(port, limits);
        assert_eq!(send(&outbound, &message, "m1").await, DELIVERED);
        assert_eq!(outbound.cache.idle(), 0);
        eventually("QUIT at once", || {
            seen.commands(0).last().map(String::as_str) == Some("QUIT")
        })
        .await;
        assert_eq!(send(&outbound, &message, "m2").await, DELIVERED);
        assert_eq!(seen.connections(), 2);
    })
    .await
    .unwrap();
}

/// A session whose transaction did not complete cleanly is not kept: here the server refuses
/// the sender (the client then sends RSET), and the session is closed with QUIT.
#[tokio::test]
async fn a_session_after_a_refused_transaction_is_not_kept() {
    tokio::time::timeout(LIMIT, async {
        let (port, seen) = next_hop(After::Serve, Duration::ZERO).await;
        let outbound = outbound(port, CacheLimits::default(), false);
        let message = message_file();
        let mut refused = envelope("m1");
        refused.from = "<refuse@a.example>".parse().unwrap();
        let outcomes = outbound
            .deliver("b.example", &refused, &[0], &message)
            .await;
        assert_eq!(outcomes[0].kind, OutcomeKind::Failed);
        assert_eq!(outbound.cache.idle(), 0);
        eventually("QUIT after the RSET", || {
            seen.commands(0) == ["EHLO", "MAIL", "RCPT", "DATA", "RSET", "QUIT"]
        })
        .await;
        assert_eq!(send(&outbound, &message, "m2").await, DELIVERED);
        assert_eq!(seen.connections(), 2);
        outbound.close().await;
    })
    .await
    .unwrap();
}

/// At the shutdown the idle sessions are closed with QUIT and none is kept after it; an
/// outbound side dropped with a session waiting still closes it with QUIT at its idle time.
#[tokio::test]
async fn sessions_are_closed_at_the_shutdown_and_after_a_drop() {
    tokio::time::timeout(LIMIT, async {
        let message = message_file();
        let (port, seen) = next_hop(After::Serve, Duration::ZERO).await;
        let shutdown = Shutdown::new();
        let limits = CacheLimits {
            idle: Duration::from_secs(30),
            ..CacheLimits::default()
        };
        let outbound = outbound(port, limits, false).close_at(shutdown.clone());
        assert_eq!(send(&outbound, &message, "m1").await, DELIVERED);
        assert_eq!(outbound.cache.idle(), 1);
        shutdown.trigger();
        eventually("QUIT at the shutdown", || {
            seen.commands(0).last().map(String::as_str) == Some("QUIT")
        })
        .await;
        assert_eq!(outbound.cache.idle(), 0);
        assert_eq!(send(&outbound, &message, "m2").await, DELIVERED);
        assert_eq!(outbound.cache.idle(), 0);
        eventually("QUIT after the message", || {
            seen.commands(1).last().map(String::as_str) == Some("QUIT")
        })
        .await;

        let (port, seen) = next_hop(After::Serve, Duration::ZERO).await;
        let limits = CacheLimits {
            idle: Duration::from_millis(200),
            ..CacheLimits::default()
        };
        let outbound = outbound_with(port, limits);
        assert_eq!(send(&outbound, &message, "m1").await, DELIVERED);
        drop(outbound);
        eventually("QUIT after the drop", || {
            seen.commands(0).last().map(String::as_str) == Some("QUIT")
        })
        .await;
    })
    .await
    .unwrap();
}

/// At the shutdown the reaper takes the kept sessions and sends their QUITs; `close` (which
/// `serve` awaits before it exits) still waits for their replies.
#[tokio::test]
async fn close_waits_for_the_quits_the_reaper_began_at_the_shutdown() {
    tokio::time::timeout(LIMIT, async {
        let message = message_file();
        let (port, seen) = next_hop(After::Serve, Duration::from_millis(400)).await;
        let shutdown = Shutdown::new();
        let limits = CacheLimits {
            idle: Duration::from_secs(30),
            ..CacheLimits::default()
        };
        let outbound = outbound(port, limits, false).close_at(shutdown.clone());
        assert_eq!(send(&outbound, &message, "m1").await, DELIVERED);
        assert_eq!(outbound.cache.idle(), 1);
        let started = std::time::Instant::now();
        shutdown.trigger();
        eventually("the reaper took the session", || outbound.cache.idle() == 0).await;
        outbound.close().await;
        // The QUIT's reply comes 400 ms after the hop read it, which was after the trigger.
        assert!(
            started.elapsed() >= Duration::from_millis(400),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(seen.commands(0).last().map(String::as_str), Some("QUIT"));
    })
    .await
    .unwrap();
}
