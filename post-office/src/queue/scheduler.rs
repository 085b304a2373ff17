//! The queue's scheduler and workers: due recipients are grouped by message and destination
//! (one SMTP transaction per message per domain, RFC 5321 4.5.4.1's "one copy per host"),
//! delivered by [`Outbound::deliver`] (or stored here for local users: DSNs to local senders),
//! retried with an exponential backoff until delivered, failed, or given up (4.4.7, RFC 3463),
//! and reported ([`report`]) once every attempt of a round has ended.
//!
//! The scheduler is one task owning every envelope in memory; deliveries run as tasks of
//! their own, at most `--relay-workers` at once and `--relay-per-domain` per domain, and send
//! their outcomes back. When the last attempt of a message's round ends, the round is written
//! ([`conclude`]) on a blocking thread, which holds a worker until it is done: the messages'
//! writes overlap, and the scheduler never waits for the disk. The outcomes are written before
//! anything depends on them (the next attempt, the DSN); a message delivered to every
//! recipient without a DSN is removed at once, its outcomes never written. The task wakes when
//! a message arrives, when a delivery or a write ends, and every second (for the flush flag
//! and the next due time): it never spins.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use mail_io::Shutdown;
use mail_io::smtp::ForwardPath;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::Queue;
use crate::delivery::store_local;
use crate::dsn;
use crate::envelope::{Outcome, OutcomeKind, QueuedEnvelope, RecipientState, now};
use crate::relay::Outbound;
use crate::serve::Office;

/// How often the scheduler looks at the clock and the flush flag when nothing wakes it.
const TICK: Duration = Duration::from_secs(1);

/// The longest one delivery attempt may take before its recipients are deferred (the
/// outbound side bounds each step much tighter; this only keeps a worker from being lost).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(3600);

/// When recipients are tried again, and when the queue gives up (RFC 5321 4.5.4.1: retry at
/// least 30 minutes apart, give up after 4 to 5 days).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Seconds before the second attempt (`--retry-first`), doubled for each further one.
    pub first: u64,
    /// The longest wait between attempts (`--retry-max`).
    pub max: u64,
    /// Seconds after the arrival after which a failure for now becomes a failure for good,
    /// 4.4.7 (`--give-up`).
    pub give_up: u64,
}

impl Default for RetryPolicy {
    /// 5 minutes, doubling up to 4 hours, given up after 5 days.
    fn default() -> Self {
        Self {
            first: 300,
            max: 4 * 3600,
            give_up: 5 * 24 * 3600,
        }
    }
}

impl RetryPolicy {
    /// The wait after `attempts` attempts (at least one): `first`, doubled for each attempt
    /// after the first, at most `max`.
    pub fn delay(&self, attempts: u32) -> u64 {
        let doublings = attempts.saturating_sub(1).min(63);
        self.first
            .saturating_mul(1u64 << doublings)
            .min(self.max)
            .max(1)
    }
}

/// Records what an attempt gave for recipient `index` of `envelope` (still pending): delivered
/// or failed for good ends it (to be reported); a failure for now counts an attempt and
/// schedules the next, or fails it with 4.4.7 (RFC 3463: delivery time expired) once
/// `policy.give_up` seconds have passed since the arrival. The last attempt is made at the
/// give-up time, not after. Nothing is written: see [`Queue::update`].
pub fn record_outcome(
    envelope: &mut QueuedEnvelope,
    index: usize,
    outcome: Outcome,
    policy: &RetryPolicy,
) {
    let deadline = envelope.arrival.saturating_add(policy.give_up);
    let Some(recipient) = envelope.recipients.get_mut(index) else {
        return;
    };
    let RecipientState::Pending { attempts, .. } = &recipient.state else {
        return;
    };
    let attempts = attempts.saturating_add(1);
    recipient.state = match outcome.kind {
        OutcomeKind::Delivered { .. } | OutcomeKind::Failed => RecipientState::Done {
            outcome,
            reported: false,
        },
        OutcomeKind::Deferred if outcome.at >= deadline => RecipientState::Done {
            outcome: Outcome {
                kind: OutcomeKind::Failed,
                status: "4.4.7".into(),
                ..outcome
            },
            reported: false,
        },
        OutcomeKind::Deferred => RecipientState::Pending {
            attempts,
            next_attempt: outcome
                .at
                .saturating_add(policy.delay(attempts))
                .min(deadline.max(outcome.at.saturating_add(1))),
            last: Some(outcome),
        },
    };
}

/// Ends a round of `envelope` whose outcomes are already written ([`Queue::update`]; no attempt
/// of it running): the recipients decided and not yet reported get their DSN if they call for
/// one (`dsn::wanted`; one DSN for them all, queued under an id derived from theirs, so that
/// a crash before they are marked does not give a second one), then are marked reported; a
/// message with every recipient done is removed instead (its marks are not written: a removal
/// needs none). True when it was removed. Each step is durable before the next.
///
/// The DSN's place is taken before it is built (a full queue costs no build; DSNs have a
/// reserve of their own, [`super::DSN_RESERVE`]), and it is handed to the scheduler only once
/// the marks or the removal are durable: delivered and removed before, a crash would leave
/// the round unreported and its DSN gone, to be made again. A DSN queued by an earlier call
/// that failed is handed over the same way. On failure, `envelope` is left as it was (no
/// marks kept that were not written), so that the report is made again.
pub fn report(queue: &Queue, hostname: &str, envelope: &mut QueuedEnvelope) -> io::Result<bool> {
    let decided: Vec<usize> = envelope
        .recipients
        .iter()
        .enumerate()
        .filter(|(_, recipient)| {
            matches!(
                recipient.state,
                RecipientState::Done {
                    reported: false,
                    ..
                }
            )
        })
        .map(|(index, _)| index)
        .collect();
    if envelope.from == mail_io::smtp::ReversePath::Null {
        // RFC 5321 4.5.5: a bounce is never bounced; the log is all that is left of it.
        for recipient in &envelope.recipients {
            if let RecipientState::Done {
                outcome,
                reported: false,
            } = &recipient.state
            {
                if outcome.kind == OutcomeKind::Failed {
                    warn!(id = %envelope.id, status = %outcome.status, "a DSN could not be delivered; dropped");
                }
            }
        }
    }
    let wanted: Vec<usize> = decided
        .iter()
        .copied()
        .filter(|&index| {
            envelope
                .recipients
                .get(index)
                .is_some_and(|recipient| dsn::wanted(envelope, recipient))
        })
        .collect();
    let mut notification = None;
    // `dsn::build` makes none for the null reverse-path.
    let first = wanted.first().filter(|_| envelope.from.mailbox().is_some());
    if let Some(&first) = first {
        let id = dsn::id(&envelope.id, first);
        match queue.admit_dsn(&id)? {
            // Queued by a call that failed after: handed over below.
            None => notification = queue.queued(&id),
            Some(slot) => {
                let message = queue.message_path(&envelope.id);
                if let Some((content, built)) =
                    dsn::build(hostname, envelope, &wanted, &message, now())?
                {
                    queue.store_content(slot, &content, &built)?;
                    info!(id = %envelope.id, dsn = %built.id, recipients = wanted.len(), "DSN queued");
                    notification = Some(built);
                }
            }
        }
    }
    let mut marked = envelope.clone();
    for &index in &decided {
        if let Some(RecipientState::Done { reported, .. }) = marked
            .recipients
            .get_mut(index)
            .map(|recipient| &mut recipient.state)
        {
            *reported = true;
        }
    }
    let removed = finished(&marked);
    if removed {
        queue.remove(&marked.id)?;
        info!(id = %marked.id, "message done, removed from the queue");
    } else if !decided.is_empty() {
        queue.update(&marked)?;
    }
    *envelope = marked;
    if let Some(notification) = notification {
        queue.hand_over(notification);
    }
    Ok(removed)
}

/// Ends a round of `envelope` whose outcomes are recorded in memory only ([`record_outcome`]),
/// with the fewest durable steps that keep every guarantee. When no DSN is called for, the
/// outcomes are written once (the decided ones marked reported), or the message is removed at
/// once when every recipient is done: a crash before that leaves the state before the round,
/// whose recipients are tried again (a duplicate at worst, which RFC 5321 6.1 allows; never a
/// loss). When a DSN is called for, the outcomes are written first (so that the DSN, whose id
/// derives from the round, is never made for a round a restart would not see: each recipient
/// is reported once), then [`report`]. True when the message was removed.
pub fn conclude(queue: &Queue, hostname: &str, envelope: &mut QueuedEnvelope) -> io::Result<bool> {
    let dsn_wanted = envelope.recipients.iter().any(|recipient| {
        matches!(
            recipient.state,
            RecipientState::Done {
                reported: false,
                ..
            }
        ) && dsn::wanted(envelope, recipient)
    });
    // Without a DSN, `report` writes the decided recipients' marks (with every outcome) or
    // removes the message; a round of deferrals alone is written here.
    if dsn_wanted || !unreported(envelope) && !finished(envelope) {
        queue.update(envelope)?;
    }
    report(queue, hostname, envelope)
}

/// Whether every recipient of `envelope` is done (delivered, or failed for good).
fn finished(envelope: &QueuedEnvelope) -> bool {
    envelope
        .recipients
        .iter()
        .all(|recipient| matches!(recipient.state, RecipientState::Done { .. }))
}

/// Whether `envelope` has recipients decided and not reported yet.
fn unreported(envelope: &QueuedEnvelope) -> bool {
    envelope.recipients.iter().any(|recipient| {
        matches!(
            recipient.state,
            RecipientState::Done {
                reported: false,
                ..
            }
        )
    })
}

/// Delivery to other servers as the scheduler sees it: [`Outbound`], or a stand-in in tests.
pub(crate) trait Remote: Send + Sync + 'static {
    /// One attempt for `recipients` of `envelope`, all at `domain`: one outcome per index.
    fn deliver<'a>(
        &'a self,
        domain: &'a str,
        envelope: &'a QueuedEnvelope,
        recipients: &'a [usize],
        message: &'a Path,
    ) -> Pin<Box<dyn Future<Output = Vec<Outcome>> + Send + 'a>>;
}

impl Remote for Outbound {
    fn deliver<'a>(
        &'a self,
        domain: &'a str,
        envelope: &'a QueuedEnvelope,
        recipients: &'a [usize],
        message: &'a Path,
    ) -> Pin<Box<dyn Future<Output = Vec<Outcome>> + Send + 'a>> {
        Box::pin(Outbound::deliver(
            self, domain, envelope, recipients, message,
        ))
    }
}

/// The scheduler's settings (from `serve`'s arguments).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Settings {
    /// Retries and giving up.
    pub policy: RetryPolicy,
    /// Attempts at once (`--relay-workers`).
    pub workers: usize,
    /// Attempts at once per destination domain (`--relay-per-domain`).
    pub per_domain: usize,
    /// At the shutdown, how long the attempts under way may take to end (`--relay-drain`).
    pub drain: Duration,
}

/// Where a group of recipients goes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Destination {
    /// Local users: stored here.
    Local,
    /// Another server's domain (lower case).
    Domain(String),
}

/// One attempt that ended.
struct Attempt {
    id: String,
    destination: Destination,
    indices: Vec<usize>,
    outcomes: Vec<Outcome>,
}

/// What the scheduler hears back from the tasks it started.
enum Event {
    /// A delivery attempt ended.
    Attempt(Attempt),
    /// The round of message `id` was ended on disk ([`conclude`], on a blocking thread):
    /// `envelope` as it left it, and whether the message was removed.
    Concluded {
        id: String,
        envelope: Box<QueuedEnvelope>,
        result: io::Result<bool>,
    },
}

/// A queued message in memory.
struct Entry {
    envelope: QueuedEnvelope,
    /// Attempts of the current round still running.
    running: usize,
}

/// The scheduler task's state.
pub(crate) struct Scheduler {
    office: Arc<Office>,
    remote: Arc<dyn Remote>,
    settings: Settings,
    messages: HashMap<String, Entry>,
    /// Messages with nothing running (no attempt, no write), by the time they are next due.
    due: BTreeSet<(u64, String)>,
    /// Messages due but waiting for a busy domain (at `--relay-per-domain`), oldest first:
    /// out of `due`, so that each dispatch does not look at them all again (a backlog for one
    /// domain made every dispatch cost its length); one goes back to `due` each time an
    /// attempt to that domain ends.
    parked: HashMap<String, VecDeque<(u64, String)>>,
    /// Attempts running per domain (only domains with some).
    domains: HashMap<String, usize>,
    /// Attempts and rounds being written (each takes one of `--relay-workers`).
    running: usize,
    events_tx: mpsc::UnboundedSender<Event>,
    events_rx: mpsc::UnboundedReceiver<Event>,
}

impl Scheduler {
    /// A scheduler for the queue of `office` (which must have one).
    pub(crate) fn new(office: Arc<Office>, remote: Arc<dyn Remote>, settings: Settings) -> Self {
        // Bounded in effect by the workers: one event per attempt or write running.
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Self {
            office,
            remote,
            settings: Settings {
                workers: settings.workers.max(1),
                per_domain: settings.per_domain.max(1),
                ..settings
            },
            messages: HashMap::new(),
            due: BTreeSet::new(),
            parked: HashMap::new(),
            domains: HashMap::new(),
            running: 0,
            events_tx,
            events_rx,
        }
    }

    /// Runs until `shutdown`, starting from the envelopes [`Queue::recover`] read: what was
    /// decided and not reported before a crash is reported first, before anything is tried
    /// (a DSN queued before the crash must still be in the queue when its id is looked for).
    /// Then [drains](Self::drain) the attempts under way.
    pub(crate) async fn run(mut self, loaded: Vec<QueuedEnvelope>, shutdown: Shutdown) {
        let office = self.office.clone();
        let Some(queue) = office.queue.as_ref() else {
            return;
        };
        info!(messages = loaded.len(), "relay queue loaded");
        for mut envelope in loaded {
            let mut due = next_due(&envelope);
            if unreported(&envelope) || finished(&envelope) {
                let hostname = &office.hostname;
                match tokio::task::block_in_place(|| report(queue, hostname, &mut envelope)) {
                    Ok(true) => continue,
                    Ok(false) => due = next_due(&envelope),
                    Err(error) => {
                        warn!(id = %envelope.id, %error, "reporting on a queued message; tried again later");
                        due = Some(now().saturating_add(self.settings.policy.first));
                    }
                }
            }
            self.insert(envelope, due);
        }
        // Nothing starts once the shutdown is there, whatever else is ready with it.
        while !shutdown.is_triggered() {
            for envelope in queue.take_arrivals() {
                let due = next_due(&envelope);
                self.insert(envelope, due);
            }
            if queue.take_flush() {
                self.flush();
            }
            self.dispatch(queue, now());
            tokio::select! {
                biased;
                () = shutdown.triggered() => break,
                Some(event) = self.events_rx.recv() => match event {
                    Event::Attempt(attempt) => self.finished(attempt),
                    Event::Concluded { id, envelope, result } => {
                        self.concluded(&id, envelope, result);
                    }
                },
                () = queue.arrival() => {}
                () = tokio::time::sleep(TICK) => {}
            }
        }
        self.drain().await;
    }

    /// At the shutdown: nothing more starts, and the attempts under way get
    /// [`Settings::drain`] to end and have their outcomes written. An attempt cut in the
    /// middle of a transaction leaves its recipients pending, to be tried again after the
    /// restart; if the next hop had taken the message (its reply to the final dot not yet
    /// read), it would go twice (RFC 1047), which waiting for the attempt avoids.
    async fn drain(&mut self) {
        if self.running == 0 {
            return;
        }
        info!(
            running = self.running,
            within = ?self.settings.drain,
            "shutdown: waiting for the relay attempts under way"
        );
        let deadline = tokio::time::sleep(self.settings.drain);
        tokio::pin!(deadline);
        while self.running > 0 {
            tokio::select! {
                // An outcome that is there is taken, even at the deadline.
                biased;
                Some(event) = self.events_rx.recv() => match event {
                    Event::Attempt(attempt) => self.finished(attempt),
                    Event::Concluded { id, envelope, result } => {
                        self.concluded(&id, envelope, result);
                    }
                },
                () = &mut deadline => {
                    warn!(
                        running = self.running,
                        "shutdown: relay attempts still under way are cut; their recipients are tried again after the restart"
                    );
                    return;
                }
            }
        }
    }

    /// A message to keep (unless kept already), due at `due`.
    fn insert(&mut self, envelope: QueuedEnvelope, due: Option<u64>) {
        if self.messages.contains_key(&envelope.id) {
            return;
        }
        if let Some(due) = due {
            self.due.insert((due, envelope.id.clone()));
        }
        self.messages.insert(
            envelope.id.clone(),
            Entry {
                envelope,
                running: 0,
            },
        );
    }

    /// `post-office queue --flush`: every pending recipient is due now.
    fn flush(&mut self) {
        let now = now();
        let mut pending = 0;
        for entry in self.messages.values_mut() {
            for recipient in &mut entry.envelope.recipients {
                if let RecipientState::Pending { next_attempt, .. } = &mut recipient.state {
                    *next_attempt = (*next_attempt).min(now);
                    pending += 1;
                }
            }
        }
        let idle: Vec<(u64, String)> = std::mem::take(&mut self.due).into_iter().collect();
        self.due = idle
            .into_iter()
            .map(|(due, id)| (due.min(now), id))
            .collect();
        info!(
            recipients = pending,
            "queue flush: every pending recipient is due now"
        );
    }

    /// Starts what is due, within the limits: the report of recipients decided and not
    /// reported (a write that failed), else the attempts.
    fn dispatch(&mut self, queue: &Queue, now: u64) {
        let mut waiting = Vec::new();
        while self.running < self.settings.workers {
            let Some((due, id)) = self.due.first().cloned() else {
                break;
            };
            if due > now {
                break;
            }
            self.due.remove(&(due, id.clone()));
            let Some(entry) = self.messages.get_mut(&id) else {
                continue;
            };
            if unreported(&entry.envelope) || finished(&entry.envelope) {
                self.conclude(&id);
                continue;
            }
            let groups = groups(&self.office, &entry.envelope, now);
            if groups.is_empty() {
                // Nothing pending is due (it was moved): its time to wait.
                if let Some(next) = next_due(&entry.envelope) {
                    waiting.push((next.max(now.saturating_add(1)), id));
                }
                continue;
            }
            let mut started = 0;
            let mut busy_domain = None;
            let single = groups.len() == 1;
            for (destination, indices) in groups {
                if self.running >= self.settings.workers {
                    break;
                }
                if let Destination::Domain(domain) = &destination {
                    let busy = self.domains.get(domain).copied().unwrap_or(0);
                    if busy >= self.settings.per_domain {
                        busy_domain.get_or_insert_with(|| domain.clone());
                        continue;
                    }
                    self.domains.insert(domain.clone(), busy + 1);
                }
                self.running += 1;
                started += 1;
                tokio::spawn(attempt(
                    self.office.clone(),
                    self.remote.clone(),
                    entry.envelope.clone(),
                    queue.message_path(&id),
                    destination,
                    indices,
                    self.events_tx.clone(),
                ));
            }
            entry.running += started;
            if started == 0 {
                match busy_domain {
                    // Its one destination is busy: it waits until an attempt there ends.
                    // (A message for several busy domains stays due, to go to whichever
                    // frees first.)
                    Some(domain) if single && self.running < self.settings.workers => {
                        self.parked.entry(domain).or_default().push_back((due, id));
                    }
                    _ => waiting.push((due, id)),
                }
            }
        }
        self.due.extend(waiting);
    }

    /// An attempt ended: its outcomes recorded (in memory); the round ends with the last.
    fn finished(&mut self, attempt: Attempt) {
        self.running = self.running.saturating_sub(1);
        if let Destination::Domain(domain) = &attempt.destination {
            let busy = self.domains.remove(domain).unwrap_or(0).saturating_sub(1);
            if busy > 0 {
                self.domains.insert(domain.clone(), busy);
            }
            // A slot there is free: the message that waited longest for it is due again.
            if let Some(parked) = self.parked.get_mut(domain) {
                if let Some(next) = parked.pop_front() {
                    self.due.insert(next);
                }
                if parked.is_empty() {
                    self.parked.remove(domain);
                }
            }
        }
        let Some(entry) = self.messages.get_mut(&attempt.id) else {
            return;
        };
        entry.running = entry.running.saturating_sub(1);
        for (&index, outcome) in attempt.indices.iter().zip(attempt.outcomes) {
            if let Some(recipient) = entry.envelope.recipients.get(index) {
                let result = match outcome.kind {
                    OutcomeKind::Delivered { .. } => "delivered",
                    OutcomeKind::Failed => "failed",
                    OutcomeKind::Deferred => "deferred",
                };
                info!(
                    id = %attempt.id,
                    to = %recipient.to,
                    status = %outcome.status,
                    remote = outcome.remote_mta.as_deref().unwrap_or("-"),
                    diagnostic = outcome.diagnostic.as_deref().unwrap_or("-"),
                    "{result}"
                );
            }
            record_outcome(&mut entry.envelope, index, outcome, &self.settings.policy);
        }
        if entry.running == 0 {
            self.conclude(&attempt.id);
        }
    }

    /// The end of a message's round, written on a blocking thread ([`conclude`]): different
    /// messages' writes overlap, and this task never waits for the disk. It takes a worker
    /// until [`concluded`](Self::concluded), so that writes cannot pile up behind attempts.
    fn conclude(&mut self, id: &str) {
        let Some(entry) = self.messages.get(id) else {
            return;
        };
        self.running += 1;
        let office = self.office.clone();
        let before = entry.envelope.clone();
        let mut envelope = before.clone();
        let write = tokio::task::spawn_blocking(move || {
            let result = match office.queue.as_ref() {
                Some(queue) => conclude(queue, &office.hostname, &mut envelope),
                None => Err(io::Error::other("no queue")),
            };
            (envelope, result)
        });
        let (id, events) = (id.to_string(), self.events_tx.clone());
        tokio::spawn(async move {
            // Should the write panic, the message stays as it was, to be tried again.
            let (envelope, result) = write
                .await
                .unwrap_or_else(|error| (before, Err(io::Error::other(error.to_string()))));
            let _ = events.send(Event::Concluded {
                id,
                envelope: Box::new(envelope),
                result,
            });
        });
    }

    /// A round was written: the message forgotten when removed, else due again when next due
    /// (or, when the write failed, tried again later: decided recipients are reported first).
    fn concluded(&mut self, id: &str, envelope: Box<QueuedEnvelope>, result: io::Result<bool>) {
        self.running = self.running.saturating_sub(1);
        let Some(entry) = self.messages.get_mut(id) else {
            return;
        };
        // The decided recipients (and their marks) as written; the pending ones as they are
        // here, where a flush may have made them due meanwhile.
        for (mine, written) in entry
            .envelope
            .recipients
            .iter_mut()
            .zip(envelope.recipients)
        {
            if matches!(written.state, RecipientState::Done { .. }) {
                *mine = written;
            }
        }
        match result {
            Ok(true) => {
                self.messages.remove(id);
            }
            Ok(false) => {
                if let Some(due) = next_due(&entry.envelope) {
                    self.due.insert((due, id.to_string()));
                }
            }
            Err(error) => {
                warn!(%id, %error, "writing a queue file; tried again later");
                let later = now().saturating_add(self.settings.policy.first);
                self.due.insert((later, id.to_string()));
            }
        }
    }
}

/// When a message has something to do: its earliest pending recipient, or now when decided
/// recipients wait for their report.
fn next_due(envelope: &QueuedEnvelope) -> Option<u64> {
    let mut due = None;
    for recipient in &envelope.recipients {
        let at = match &recipient.state {
            RecipientState::Pending { next_attempt, .. } => *next_attempt,
            RecipientState::Done {
                reported: false, ..
            } => 0,
            RecipientState::Done { reported: true, .. } => continue,
        };
        due = Some(due.map_or(at, |due: u64| due.min(at)));
    }
    due
}

/// The pending recipients of `envelope` due at `now`, grouped by where they go (in RCPT
/// order, destinations in the order of their first recipient).
fn groups(office: &Office, envelope: &QueuedEnvelope, now: u64) -> Vec<(Destination, Vec<usize>)> {
    let mut groups: Vec<(Destination, Vec<usize>)> = Vec::new();
    for (index, recipient) in envelope.recipients.iter().enumerate() {
        let RecipientState::Pending { next_attempt, .. } = recipient.state else {
            continue;
        };
        if next_attempt > now {
            continue;
        }
        // Our users, and anyone at a domain named by `--domain` (a stranger there fails 5.1.1
        // at its store): never out to our own MX and back. Without `--domain` (every domain
        // ours for incoming mail), what is not a user goes out: a report to a sender elsewhere.
        let destination = match recipient.to.mailbox() {
            Some(mailbox)
                if office.local_user(mailbox).is_none() && !office.named_domain(mailbox.host()) =>
            {
                Destination::Domain(mailbox.host().to_string().to_lowercase())
            }
            _ => Destination::Local,
        };
        match groups.iter_mut().find(|(d, _)| *d == destination) {
            Some((_, indices)) => indices.push(index),
            None => groups.push((destination, vec![index])),
        }
    }
    groups
}

/// One attempt for `indices` of `envelope` at `destination`; its outcomes go to `done`.
async fn attempt(
    office: Arc<Office>,
    remote: Arc<dyn Remote>,
    envelope: QueuedEnvelope,
    message: PathBuf,
    destination: Destination,
    indices: Vec<usize>,
    done: mpsc::UnboundedSender<Event>,
) {
    let outcomes = match &destination {
        Destination::Local => {
            let envelope = envelope.clone();
            let indices = indices.clone();
            tokio::task::spawn_blocking(move || {
                indices
                    .iter()
                    .map(|&index| store(&office, &envelope, index, &message))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default()
        }
        Destination::Domain(domain) => {
            // A task of its own: should the delivery panic, its recipients are deferred and
            // the worker is not lost.
            let (domain, envelope, indices) = (domain.clone(), envelope.clone(), indices.clone());
            let delivery = tokio::spawn(async move {
                tokio::time::timeout(
                    ATTEMPT_TIMEOUT,
                    remote.deliver(&domain, &envelope, &indices, &message),
                )
                .await
                .unwrap_or_default()
            });
            delivery.await.unwrap_or_default()
        }
    };
    // One outcome per recipient, whatever went wrong.
    let outcomes = (0..indices.len())
        .map(|n| {
            outcomes.get(n).cloned().unwrap_or_else(|| Outcome {
                kind: OutcomeKind::Deferred,
                status: "4.4.1".into(),
                remote_mta: None,
                diagnostic: None,
                at: now(),
            })
        })
        .collect();
    let _ = done.send(Event::Attempt(Attempt {
        id: envelope.id,
        destination,
        indices,
        outcomes,
    }));
}

/// Final delivery of recipient `index` here (a DSN to a local sender, say).
fn store(office: &Office, envelope: &QueuedEnvelope, index: usize, message: &Path) -> Outcome {
    let outcome = |kind, status: &str| Outcome {
        kind,
        status: status.into(),
        remote_mta: None,
        diagnostic: None,
        at: now(),
    };
    let Some(recipient) = envelope.recipients.get(index) else {
        return outcome(OutcomeKind::Failed, "5.1.1");
    };
    let (delivered_to, user) = match &recipient.to {
        // `<Postmaster>` alone: the postmaster user (RFC 5321 4.5.1).
        ForwardPath::Postmaster => ("Postmaster".to_string(), office.postmaster().to_string()),
        ForwardPath::Path(path) => {
            let Some(user) = office.local_user(path.mailbox()) else {
                // Not a user of our domain (or one since removed).
                return outcome(OutcomeKind::Failed, "5.1.1");
            };
            (path.mailbox().to_string(), user)
        }
    };
    match store_local(
        &office.data,
        &office.hostname,
        &user,
        &delivered_to,
        &envelope.from,
        message,
    ) {
        Ok(_) => outcome(
            OutcomeKind::Delivered {
                dsn_passed_on: true,
            },
            "2.0.0",
        ),
        Err(error) => {
            warn!(id = %envelope.id, %user, %error, "storing a queued message");
            outcome(OutcomeKind::Deferred, "4.3.0")
        }
    }
}

#[cfg(test)]
mod tests;
