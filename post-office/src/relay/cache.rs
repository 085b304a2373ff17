//! Idle SMTP sessions to next hops, kept a short while for the next message to the same hop
//! (a connection cache, as Postfix's): a message that finds one skips the TCP connection, the
//! greeting, EHLO, STARTTLS with its handshake and the second EHLO. A new transaction may
//! follow a completed one (RFC 5321 4.1.4); an RSET goes first (4.1.1.5) only to prove that
//! the session still answers: a server may close an idle session at any time (its own idle
//! timeout, a restart, 421), and the failure of a transaction does not say how far it got,
//! so without the RSET a message could meet a dead session half-way, its fate unknown. A
//! session that fails the RSET has carried nothing, and the message takes a new connection
//! in the same attempt. Once the RSET is answered, the session stands for the hop as a new
//! one would: a 421 later defers the message to its retry (RFC 5321 4.5.4.1). It costs one
//! round trip per reused session.
//!
//! A session is cached only after every transaction on it completed cleanly, and is found
//! again only by a message that needs exactly what it was opened with: the same hop (name and
//! address) and the same [`Tls`] (a plaintext session never carries a message that needs TLS,
//! and a verified one is kept for messages that ask for verification). Bounded: idle time,
//! age, transactions per session, idle sessions per hop and in all ([`CacheLimits`]). Expired
//! sessions are closed with QUIT by a small task that runs while sessions wait, and ends when
//! none do (within the idle time, even when the cache is dropped meanwhile) or at the
//! shutdown. Every QUIT of a session with a next hop goes through the cache (those of
//! sessions not kept too: [`Cache::quit`], and of a kept one that left its RSET unanswered:
//! [`Cache::dismiss`]) and is counted, and
//! [`Cache::close_all`] returns only once every QUIT begun before it has ended, those the
//! reaper began at the shutdown included, so that a process that awaits it before exiting
//! ends those sessions cleanly. (A session still carrying a message then is not waited for.)

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use mail_io::Shutdown;
use mail_io::smtp::Client;
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::debug;

use super::deliver::Tls;
use super::route::Hop;

/// How long the QUIT of a session leaving the cache may wait for its reply.
const CLOSE_WAIT: Duration = Duration::from_secs(2);

/// The cache's bounds (`serve`'s `--relay-cache-time`, `--relay-reuse-limit`,
/// `--relay-reuse-time`, `--relay-per-domain` and `--relay-workers`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheLimits {
    /// How long a session waits for the next message; zero: no session is kept.
    pub idle: Duration,
    /// Transactions one session carries at most.
    pub transactions: u32,
    /// A session this old is not used again (counted from its connection).
    pub age: Duration,
    /// Idle sessions kept per hop (and TLS).
    pub per_hop: usize,
    /// Idle sessions kept in all.
    pub total: usize,
    /// How long a kept session may take to answer the RSET that shows it still works,
    /// before a new connection is made instead (and no other kept session to the hop is
    /// tried). Non-zero: with zero no kept session would ever pass.
    pub probe: Duration,
}

impl Default for CacheLimits {
    /// 2 s idle (Postfix's `smtp_connection_cache_time_limit`), 100 transactions, 300 s of
    /// age (Postfix's `smtp_connection_reuse_time_limit`), 4 per hop and 16 in all (`serve`'s
    /// default attempts at once per domain and in all); 5 s for the RSET.
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(2),
            transactions: 100,
            age: Duration::from_secs(300),
            per_hop: 4,
            total: 16,
            probe: Duration::from_secs(5),
        }
    }
}

/// What makes a session fit for a message.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) struct Key {
    address: SocketAddr,
    name: String,
    tls: Tls,
}

impl Key {
    pub(super) fn new(hop: &Hop, tls: Tls) -> Self {
        Self {
            address: hop.address,
            name: hop.name.clone(),
            tls,
        }
    }
}

/// A session with a next hop, set up and between messages.
#[derive(Debug)]
pub(super) struct Session {
    pub(super) client: Client,
    /// When it was connected.
    opened: Instant,
    /// Transactions it carried.
    pub(super) transactions: u32,
}

impl Session {
    /// A session connected just now.
    pub(super) fn new(client: Client) -> Self {
        Self {
            client,
            opened: Instant::now(),
            transactions: 0,
        }
    }
}

/// A session waiting in the cache.
#[derive(Debug)]
struct Idle {
    session: Session,
    since: Instant,
}

impl Idle {
    /// When it must leave the cache: idle too long, or too old to be used again (`None`:
    /// beyond the clock's range, never).
    fn expiry(&self, limits: &CacheLimits) -> Option<Instant> {
        let idle = self.since.checked_add(limits.idle);
        let old = self.session.opened.checked_add(limits.age);
        match (idle, old) {
            (Some(idle), Some(old)) => Some(idle.min(old)),
            (idle, old) => idle.or(old),
        }
    }

    /// Whether it may still be used at `now`.
    fn fresh(&self, limits: &CacheLimits, now: Instant) -> bool {
        self.expiry(limits).is_none_or(|at| at > now)
    }
}

/// The sessions waiting, and whether the task that closes expired ones runs.
#[derive(Debug, Default)]
struct Waiting {
    /// Per key, the most recently used last.
    sessions: HashMap<Key, Vec<Idle>>,
    count: usize,
    reaper: bool,
    /// Closed for good (the shutdown): nothing is kept any more.
    closed: bool,
}

/// The connection cache of an [`Outbound`](super::Outbound).
#[derive(Debug)]
pub(super) struct Cache {
    limits: CacheLimits,
    waiting: Arc<Mutex<Waiting>>,
    shutdown: Option<Shutdown>,
    /// QUITs under way, of the sessions this cache held and of those given to
    /// [`Cache::quit`].
    quits: Quits,
}

/// How many sessions are on their way out (from leaving the cache, or the call of
/// [`Cache::quit`], to the end of their QUIT) at the moment.
#[derive(Clone, Debug)]
struct Quits(Arc<watch::Sender<usize>>);

impl Default for Quits {
    fn default() -> Self {
        Self(Arc::new(watch::Sender::new(0)))
    }
}

impl Quits {
    /// `session`, counted as closing until the returned value is dropped.
    fn leaving(&self, session: Session) -> Leaving {
        Leaving {
            session,
            counted: self.count(),
        }
    }

    /// One more on its way out, until the returned value is dropped.
    fn count(&self) -> Counted {
        self.0.send_modify(|running| *running += 1);
        Counted(self.clone())
    }

    /// Until no QUIT is under way.
    async fn ended(&self) {
        let _ = self.0.subscribe().wait_for(|running| *running == 0).await;
    }
}

/// A session on its way out of the cache, counted in [`Quits`] while its [`Counted`] lives.
#[derive(Debug)]
struct Leaving {
    session: Session,
    counted: Counted,
}

/// One QUIT under way in [`Quits`], until dropped.
#[derive(Debug)]
struct Counted(Quits);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0
            .0
            .send_modify(|running| *running = running.saturating_sub(1));
    }
}

impl Cache {
    pub(super) fn new(limits: CacheLimits) -> Self {
        Self {
            limits,
            waiting: Arc::default(),
            shutdown: None,
            quits: Quits::default(),
        }
    }

    /// Closes every session at `shutdown`, and keeps none after it.
    pub(super) fn close_at(&mut self, shutdown: Shutdown) {
        self.shutdown = Some(shutdown);
    }

    /// The most recently used session for `key` that has not expired, if any (expired ones
    /// met on the way are closed).
    pub(super) fn take(&self, key: &Key) -> Option<Session> {
        let now = Instant::now();
        let mut expired = Vec::new();
        let found = {
            let mut waiting = lock(&self.waiting);
            let mut found = None;
            let mut taken = 0;
            if let Some(sessions) = waiting.sessions.get_mut(key) {
                while let Some(idle) = sessions.pop() {
                    taken += 1;
                    if idle.fresh(&self.limits, now) {
                        found = Some(idle.session);
                        break;
                    }
                    expired.push(self.quits.leaving(idle.session));
                }
                if sessions.is_empty() {
                    waiting.sessions.remove(key);
                }
            }
            waiting.count = waiting.count.saturating_sub(taken);
            found
        };
        close(expired);
        found
    }

    /// Keeps `session` (idle, after transactions that all completed) for the next message
    /// to `key`, unless it reached a limit or the cache is full: then it is closed.
    pub(super) fn put(&self, key: Key, session: Session) {
        let limits = &self.limits;
        let usable = !limits.idle.is_zero()
            && session.transactions < limits.transactions
            && session.opened.elapsed() < limits.age
            && session.client.is_ready()
            && !self.shutdown.as_ref().is_some_and(Shutdown::is_triggered);
        let start_reaper = {
            let mut waiting = lock(&self.waiting);
            let fits = usable
                && !waiting.closed
                && waiting.count < limits.total
                && waiting
                    .sessions
                    .get(&key)
                    .is_none_or(|sessions| sessions.len() < limits.per_hop);
            if !fits {
                // Counted before the lock is let go, as `drain` does.
                let leaving = self.quits.leaving(session);
                drop(waiting);
                close(vec![leaving]);
                return;
            }
            waiting.sessions.entry(key).or_default().push(Idle {
                session,
                since: Instant::now(),
            });
            waiting.count += 1;
            !std::mem::replace(&mut waiting.reaper, true)
        };
        if start_reaper {
            tokio::spawn(reap(
                Arc::clone(&self.waiting),
                self.limits,
                self.shutdown.clone(),
                self.quits.clone(),
            ));
        }
    }

    /// Closes every idle session (QUIT, waiting [`CLOSE_WAIT`] at most) and keeps none
    /// from now on; returns once every QUIT under way has ended (those begun by the reaper
    /// at the shutdown, or for expired sessions, each bounded by [`CLOSE_WAIT`] too).
    pub(super) async fn close_all(&self) {
        let sessions = drain(&self.waiting, &self.quits, true);
        closing(sessions).await;
        self.quits.ended().await;
    }

    /// QUIT on `client`, a session that is not kept, waiting `wait` at most for the reply;
    /// counted, so that [`close_all`](Self::close_all) waits for it too.
    pub(super) async fn quit(&self, client: Client, wait: Duration) {
        let _counted = self.quits.count();
        let _ = tokio::time::timeout(wait, client.quit()).await;
    }

    /// Closes `session`, taken out and found unfit, in the background: QUIT (behind an RSET
    /// still unanswered, [`Client::quit`]), waiting [`CLOSE_WAIT`] at most; counted at once,
    /// so that [`close_all`](Self::close_all) waits for it too.
    pub(super) fn dismiss(&self, session: Session) {
        close(vec![self.quits.leaving(session)]);
    }

    /// How long a kept session may take to answer its RSET ([`CacheLimits::probe`]).
    pub(super) fn probe_wait(&self) -> Duration {
        self.limits.probe
    }

    /// Idle sessions now.
    #[cfg(test)]
    pub(super) fn idle(&self) -> usize {
        lock(&self.waiting).count
    }
}

/// The lock, whatever a panic elsewhere did: the map stays consistent at every step.
fn lock(waiting: &Mutex<Waiting>) -> MutexGuard<'_, Waiting> {
    waiting.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Takes every idle session out, each counted in `quits` before the lock is let go (so that a
/// [`Cache::close_all`] that finds none left waits for their QUITs); `closed`: for good.
fn drain(waiting: &Mutex<Waiting>, quits: &Quits, closed: bool) -> Vec<Leaving> {
    let mut waiting = lock(waiting);
    waiting.closed |= closed;
    waiting.count = 0;
    waiting
        .sessions
        .drain()
        .flat_map(|(_, sessions)| sessions)
        .map(|idle| quits.leaving(idle.session))
        .collect()
}

/// Closes `sessions` in the background.
fn close(sessions: Vec<Leaving>) {
    if !sessions.is_empty() {
        tokio::spawn(closing(sessions));
    }
}

/// QUIT on each of `sessions` at once, each waiting [`CLOSE_WAIT`] at most for its reply.
async fn closing(sessions: Vec<Leaving>) {
    let quits: Vec<_> = sessions
        .into_iter()
        .map(|Leaving { session, counted }| {
            tokio::spawn(async move {
                let _counted = counted;
                let mut client = session.client;
                // The session's own bound may have run out while it waited: the QUIT gets
                // its moment whatever was left of it.
                client.restart_session_timeout(Some(CLOSE_WAIT));
                let _ = tokio::time::timeout(CLOSE_WAIT, client.quit()).await;
            })
        })
        .collect();
    for quit in quits {
        let _ = quit.await;
    }
}

/// Closes sessions as they expire; ends when none wait (the next [`Cache::put`] starts it
/// again) or at `shutdown` (closing every one). It holds the sessions while it runs, so that
/// each is closed with QUIT even when the cache is dropped first.
async fn reap(
    waiting: Arc<Mutex<Waiting>>,
    limits: CacheLimits,
    shutdown: Option<Shutdown>,
    quits: Quits,
) {
    loop {
        let next = {
            let mut waiting = lock(&waiting);
            let next = waiting
                .sessions
                .values()
                .flatten()
                .filter_map(|idle| idle.expiry(&limits))
                .min();
            match next {
                Some(next) => next,
                // None waits (or none ever expires): the next `put` starts a new task.
                None => {
                    waiting.reaper = false;
                    return;
                }
            }
        };
        let stop = async {
            match &shutdown {
                Some(shutdown) => shutdown.triggered().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = stop => {
                let sessions = drain(&waiting, &quits, true);
                debug!(sessions = sessions.len(), "shutdown: closing the cached sessions");
                lock(&waiting).reaper = false;
                closing(sessions).await;
                return;
            }
        }
        let now = Instant::now();
        let mut expired = Vec::new();
        {
            let mut waiting = lock(&waiting);
            let mut left = 0;
            for sessions in waiting.sessions.values_mut() {
                let (keep, gone): (Vec<Idle>, Vec<Idle>) = std::mem::take(sessions)
                    .into_iter()
                    .partition(|idle| idle.fresh(&limits, now));
                *sessions = keep;
                left += sessions.len();
                expired.extend(gone.into_iter().map(|idle| quits.leaving(idle.session)));
            }
            waiting.sessions.retain(|_, sessions| !sessions.is_empty());
            waiting.count = left;
        }
        if !expired.is_empty() {
            debug!(sessions = expired.len(), "closing idle sessions");
            close(expired);
        }
    }
}
