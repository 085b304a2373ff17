//! The relay queue under `DATA/.queue/`: messages accepted for other servers, stored durably
//! before the 250 (RFC 5321 6.1: once accepted, a message must not be lost), tried until
//! delivered, failed or given up (RFC 5321 4.5.4.1), and reported (RFC 3464 DSNs, [`report`]).
//!
//! On disk, each message is two files named by its queue id:
//!
//! - `msg/ID`: the content as received (trace fields included), a hard link to the spool file
//!   when it can be one, a copy otherwise;
//! - `env/ID.json`: its [`QueuedEnvelope`] (JSON), rewritten after each attempt.
//!
//! Every write goes to `tmp/`, is synced, renamed into place, and the directory synced: a crash
//! at any point leaves either the old file or the new one. Writers that need the same
//! directory synced at the same time share one sync (`DirSync`, a group commit). `msg/ID` is placed before
//! `env/ID.json` is written and removed after it: a message file without its envelope is
//! debris of a crash before the 250 (or after the end), removed by [`Queue::recover`]. An
//! envelope file that cannot be read is moved to `corrupt/` and logged, never a crash.
//!
//! `flush` (a file) asks the running scheduler to retry every pending recipient now
//! (`post-office queue --flush`).

mod scheduler;

pub use scheduler::{RetryPolicy, conclude, record_outcome, report};
pub(crate) use scheduler::{Scheduler, Settings};

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tracing::{info, warn};

use crate::envelope::QueuedEnvelope;
use crate::files::DirSync;
use crate::maildir::sync_dir;

/// The most messages the queue takes: beyond, [`Queue::enqueue`] fails (the SMTP listener
/// answers 4yz) until some are delivered. Each costs its envelope in memory.
pub const MAX_MESSAGES: usize = 100_000;

/// Room for DSNs beyond [`MAX_MESSAGES`]: a full queue must still take the bounces of the
/// messages it gives up, or they could never leave. DSNs never cause DSNs and always leave
/// (delivered, or dropped when they fail), so this room empties.
pub const DSN_RESERVE: usize = MAX_MESSAGES;

/// The largest envelope file read back (RFC 5321 4.5.3.1.8's 100 recipients take a few
/// kilobytes; this leaves room for thousands).
pub const MAX_ENVELOPE_FILE: u64 = 4 * 1024 * 1024;

/// The longest queue id (a file name, with room for `.json` and a DSN suffix).
pub const MAX_ID: usize = 200;

/// The queue of one data directory.
pub struct Queue {
    /// `DATA/.queue`.
    dir: PathBuf,
    /// Messages queued since the scheduler last looked (bounded by [`MAX_MESSAGES`] and
    /// [`DSN_RESERVE`]).
    arrivals: Mutex<Vec<QueuedEnvelope>>,
    /// Wakes the scheduler when a message arrives.
    wake: tokio::sync::Notify,
    /// Messages in the queue (on disk).
    count: AtomicUsize,
    /// Tests: the durable steps left before a simulated crash ([`Queue::crash_after`]).
    crash: Mutex<Option<u32>>,
    /// Tests: the durable steps left before one that fails ([`Queue::fail_after`]).
    fault: Mutex<Option<u32>>,
    /// Syncs of `msg/` and `env/`, shared by the writers waiting for one.
    msg_sync: DirSync,
    env_sync: DirSync,
}

impl Queue {
    /// The queue under `data`, its directories created.
    pub fn open(data: &Path) -> io::Result<Self> {
        let dir = data.join(".queue");
        for sub in ["msg", "env", "tmp", "corrupt"] {
            fs::create_dir_all(dir.join(sub))?;
        }
        // The directories themselves durable before anything is queued in them (a power loss
        // after the first start must not take `.queue/` and what it holds).
        sync_dir(&dir)?;
        if let Some(parent) = dir.parent() {
            sync_dir(parent)?;
        }
        Ok(Self {
            msg_sync: DirSync::new(dir.join("msg")),
            env_sync: DirSync::new(dir.join("env")),
            dir,
            arrivals: Mutex::new(Vec::new()),
            wake: tokio::sync::Notify::new(),
            count: AtomicUsize::new(0),
            crash: Mutex::new(None),
            fault: Mutex::new(None),
        })
    }

    /// Where the queue lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the content of message `id` is.
    pub fn message_path(&self, id: &str) -> PathBuf {
        self.dir.join("msg").join(id)
    }

    /// Where the envelope of message `id` is.
    fn envelope_path(&self, id: &str) -> PathBuf {
        self.dir.join("env").join(format!("{id}.json"))
    }

    /// Messages in the queue.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether the queue is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes over a message: `message` is its content, already durable (synced: trace
    /// fields and all); it is linked (or copied) into the queue, and `envelope` written beside
    /// it; both are durable (files and directories synced) when this returns `Ok`, and only
    /// then may the server answer 250. `envelope.id` names both files.
    ///
    /// An id already queued is not queued again (`Ok`), but handed to the scheduler again (a
    /// retry after a failure that followed its write must not strand it): a DSN's id is
    /// derived from its message's, so that one written before a crash is not written twice.
    pub fn enqueue(&self, message: &Path, envelope: &QueuedEnvelope) -> io::Result<()> {
        let Some(slot) = self.admit(&envelope.id, MAX_MESSAGES)? else {
            self.hand_over_queued(&envelope.id);
            return Ok(());
        };
        let id = &envelope.id;
        let target = self.message_path(id);
        self.step()?;
        // A message file without its envelope is what a crash before the 250 left.
        let _ = fs::remove_file(&target);
        if fs::hard_link(message, &target).is_err() {
            let tmp = self.dir.join("tmp").join(id);
            fs::copy(message, &tmp)?;
            File::open(&tmp)?.sync_data()?;
            fs::rename(&tmp, &target)?;
        }
        self.step()?;
        self.msg_sync.sync()?;
        self.write_new_envelope(envelope)?;
        slot.keep();
        self.hand_over(envelope.clone());
        Ok(())
    }

    /// Like [`enqueue`](Self::enqueue), for a DSN made here: `content` is written to the
    /// queue and synced (in the room of [`DSN_RESERVE`] when the queue is full).
    pub fn enqueue_content(&self, content: &[u8], envelope: &QueuedEnvelope) -> io::Result<()> {
        let Some(slot) = self.admit_dsn(&envelope.id)? else {
            self.hand_over_queued(&envelope.id);
            return Ok(());
        };
        self.store_content(slot, content, envelope)?;
        self.hand_over(envelope.clone());
        Ok(())
    }

    /// A place for DSN `id` ([`DSN_RESERVE`] beyond [`MAX_MESSAGES`]); `None` when it is
    /// queued already. Taken before the DSN is built, so that a full queue costs no build.
    pub(crate) fn admit_dsn(&self, id: &str) -> io::Result<Option<Slot<'_>>> {
        self.admit(id, MAX_MESSAGES + DSN_RESERVE)
    }

    /// Writes DSN `envelope` with its `content` durably in the place `slot` holds, without
    /// handing it to the scheduler ([`hand_over`](Self::hand_over), once what depends on it
    /// is durable too).
    pub(crate) fn store_content(
        &self,
        slot: Slot<'_>,
        content: &[u8],
        envelope: &QueuedEnvelope,
    ) -> io::Result<()> {
        let id = &envelope.id;
        let tmp = self.dir.join("tmp").join(id);
        self.step()?;
        write_synced(&tmp, content)?;
        self.step()?;
        fs::rename(&tmp, self.message_path(id))?;
        self.step()?;
        self.msg_sync.sync()?;
        self.write_new_envelope(envelope)?;
        slot.keep();
        Ok(())
    }

    /// Checks the id and takes a place, while fewer than `limit` messages are queued (the
    /// check and the count one step: two writers cannot both take the last place); `None`
    /// when the message is queued already. The place is given back unless it is kept.
    fn admit(&self, id: &str, limit: usize) -> io::Result<Option<Slot<'_>>> {
        check_id(id)?;
        if self.envelope_path(id).exists() {
            return Ok(None);
        }
        self.count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| {
                (count < limit).then_some(count + 1)
            })
            .map_err(|_| io::Error::other(format!("the queue is full ({limit} messages)")))?;
        Ok(Some(Slot {
            queue: self,
            kept: false,
        }))
    }

    /// The envelope of message `id` if it is queued (as written last).
    pub(crate) fn queued(&self, id: &str) -> Option<QueuedEnvelope> {
        let path = self.envelope_path(id);
        path.exists().then(|| read_envelope(&path).ok()).flatten()
    }

    /// Hands message `id`, queued already, to the scheduler again (which ignores an id it
    /// knows): a retry after a failure that followed its durable write.
    fn hand_over_queued(&self, id: &str) {
        if let Some(envelope) = self.queued(id) {
            self.hand_over(envelope);
        }
    }

    /// Hands a message written durably to the scheduler.
    pub(crate) fn hand_over(&self, envelope: QueuedEnvelope) {
        if let Ok(mut arrivals) = self.arrivals.lock() {
            arrivals.push(envelope);
        }
        self.wake.notify_one();
    }

    /// One message fewer (never below zero).
    fn uncount(&self) {
        let _ = self
            .count
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |count| {
                count.checked_sub(1)
            });
    }

    /// Rewrites the envelope of a queued message (its recipients' states) durably: a temp
    /// file, synced, renamed over the old one, the directory synced.
    pub fn update(&self, envelope: &QueuedEnvelope) -> io::Result<()> {
        check_id(&envelope.id)?;
        self.write_envelope(envelope)
    }

    fn write_envelope(&self, envelope: &QueuedEnvelope) -> io::Result<()> {
        let json = serde_json::to_vec_pretty(envelope).map_err(io::Error::other)?;
        let tmp = self.dir.join("tmp").join(format!("{}.json", envelope.id));
        self.step()?;
        write_synced(&tmp, &json)?;
        self.step()?;
        fs::rename(&tmp, self.envelope_path(&envelope.id))?;
        self.step()?;
        self.env_sync.sync()
    }

    /// The first envelope of a message: should it fail once in place (its directory not
    /// synced), it is taken back, so that a failure means not queued: the caller answers
    /// 4yz or tries again, and the message is not stranded (queued, never handed over) nor
    /// delivered twice (once from here after a restart, once as sent again).
    fn write_new_envelope(&self, envelope: &QueuedEnvelope) -> io::Result<()> {
        let result = self.write_envelope(envelope);
        if result.is_err() && !self.crashed() {
            // Best effort: should the unlink fail too, the start finds the message queued.
            let _ = fs::remove_file(self.envelope_path(&envelope.id));
        }
        result
    }

    /// Removes a message that is done: its envelope first, made durable, then its content.
    /// The content's removal is not synced: should a crash undo it, the message file is left
    /// without its envelope, which [`recover`](Self::recover) removes (the envelope's removal
    /// is synced first, so that no envelope is ever left without its message file).
    ///
    /// Tried again after a failure, it goes on where it stopped: an envelope already gone
    /// was removed by the failed call (counted then), and is made durable now. A message file
    /// that cannot be removed is logged, not a failure (the next start removes it).
    pub fn remove(&self, id: &str) -> io::Result<()> {
        check_id(id)?;
        self.step()?;
        match fs::remove_file(self.envelope_path(id)) {
            Ok(()) => self.uncount(),
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(error) => return Err(error),
        }
        self.step()?;
        self.env_sync.sync()?;
        self.step()?;
        match fs::remove_file(self.message_path(id)) {
            Err(error) if error.kind() != io::ErrorKind::NotFound => {
                warn!(%id, %error, "removing a delivered message's file; removed at the next start");
            }
            _ => {}
        }
        Ok(())
    }

    /// Reads the queue back at start-up, before anything is queued: temp files removed, every
    /// envelope loaded (oldest first), an unreadable one moved to `corrupt/` and logged, a
    /// message file without envelope removed (no 250 was given for it, or it was done).
    pub fn recover(&self) -> io::Result<Vec<QueuedEnvelope>> {
        for entry in fs::read_dir(self.dir.join("tmp"))?.flatten() {
            let _ = fs::remove_file(entry.path());
        }
        let mut loaded = Vec::new();
        for entry in fs::read_dir(self.dir.join("env"))?.flatten() {
            let path = entry.path();
            match self.load(&path) {
                Ok(envelope) => loaded.push(envelope),
                Err(error) => {
                    warn!(file = %path.display(), %error, "unreadable queue file moved to corrupt/");
                    self.set_aside(&path);
                }
            }
        }
        let mut removed = 0;
        for entry in fs::read_dir(self.dir.join("msg"))?.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if !self.envelope_path(&name).exists() && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        if removed > 0 {
            info!(
                removed,
                "message files without envelope removed from the queue"
            );
        }
        sync_dir(&self.dir.join("msg"))?;
        sync_dir(&self.dir.join("env"))?;
        loaded.sort_by(|a, b| a.arrival.cmp(&b.arrival).then_with(|| a.id.cmp(&b.id)));
        self.count.store(loaded.len(), Ordering::Relaxed);
        if let Ok(mut arrivals) = self.arrivals.lock() {
            arrivals.clear();
        }
        Ok(loaded)
    }

    /// One envelope file, checked: its name is its id, and its message file is there.
    fn load(&self, path: &Path) -> io::Result<QueuedEnvelope> {
        let envelope = read_envelope(path)?;
        let named = path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(|name| name.strip_suffix(".json"));
        if named != Some(envelope.id.as_str()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("the file holds message {}", envelope.id),
            ));
        }
        check_id(&envelope.id)?;
        if !self.message_path(&envelope.id).is_file() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "its message file is missing",
            ));
        }
        Ok(envelope)
    }

    /// Moves an envelope file to `corrupt/` (a name not taken there yet).
    fn set_aside(&self, path: &Path) {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().into_owned())
            .unwrap_or_default();
        let corrupt = self.dir.join("corrupt");
        let mut target = corrupt.join(&name);
        let mut n = 0;
        while target.exists() && n < 1000 {
            n += 1;
            target = corrupt.join(format!("{name}.{n}"));
        }
        if let Err(error) = fs::rename(path, &target) {
            warn!(file = %path.display(), %error, "moving a queue file aside");
            return;
        }
        let _ = sync_dir(&corrupt);
    }

    /// The messages queued since the last call (for the scheduler).
    pub fn take_arrivals(&self) -> Vec<QueuedEnvelope> {
        self.arrivals
            .lock()
            .map(|mut arrivals| std::mem::take(&mut *arrivals))
            .unwrap_or_default()
    }

    /// Resolves when a message has arrived (at once if one arrived since the last wait).
    pub async fn arrival(&self) {
        self.wake.notified().await;
    }

    /// Whether a flush was asked for ([`request_flush`]); the request is removed.
    pub fn take_flush(&self) -> bool {
        fs::remove_file(self.dir.join("flush")).is_ok()
    }

    /// Tests: after `steps` more durable steps (a file written, renamed, removed or a
    /// directory synced), every step fails as if the process had died there, and nothing is
    /// cleaned up. Reopen the queue to see what a restart would.
    #[doc(hidden)]
    pub fn crash_after(&self, steps: u32) {
        if let Ok(mut crash) = self.crash.lock() {
            *crash = Some(steps);
        }
    }

    /// Tests: after `steps` more durable steps, the next one fails (an I/O error, a disk
    /// full, say), once: the caller cleans up as it would, and what follows succeeds.
    #[doc(hidden)]
    pub fn fail_after(&self, steps: u32) {
        if let Ok(mut fault) = self.fault.lock() {
            *fault = Some(steps);
        }
    }

    /// One durable step: fails once the simulated crash has happened (and at the failure
    /// [`fail_after`](Self::fail_after) asked for).
    fn step(&self) -> io::Result<()> {
        if let Ok(mut crash) = self.crash.lock() {
            match &mut *crash {
                None => {}
                Some(0) => return Err(io::Error::other("simulated crash")),
                Some(left) => *left -= 1,
            }
        }
        if let Ok(mut fault) = self.fault.lock() {
            match &mut *fault {
                None => {}
                Some(0) => {
                    *fault = None;
                    return Err(io::Error::other("simulated failure"));
                }
                Some(left) => *left -= 1,
            }
        }
        Ok(())
    }

    /// Whether the simulated crash has happened (then nothing is cleaned up).
    fn crashed(&self) -> bool {
        self.crash.lock().is_ok_and(|crash| *crash == Some(0))
    }
}

/// A place in the queue taken by [`Queue::admit`]: given back when dropped, unless the
/// message was written ([`keep`](Self::keep)).
#[must_use]
pub(crate) struct Slot<'a> {
    queue: &'a Queue,
    kept: bool,
}

impl Slot<'_> {
    /// The message is queued: its place stays taken (until [`Queue::remove`]).
    fn keep(mut self) {
        self.kept = true;
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if !self.kept {
            self.queue.uncount();
        }
    }
}

/// Asks the server running on `data` (or the next to start) to retry every pending recipient
/// now: the flag file `DATA/.queue/flush`, which the scheduler looks for every second.
pub fn request_flush(data: &Path) -> io::Result<()> {
    let dir = data.join(".queue");
    fs::create_dir_all(&dir)?;
    write_synced(&dir.join("flush"), b"")?;
    sync_dir(&dir)
}

/// The queued messages of `data`, read without changing anything (a server may be running):
/// the envelopes that could be read, oldest first, and the names of those that could not.
pub fn list(data: &Path) -> io::Result<(Vec<QueuedEnvelope>, Vec<String>)> {
    let dir = data.join(".queue").join("env");
    let mut envelopes = Vec::new();
    let mut unreadable = Vec::new();
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Ok((envelopes, unreadable));
        }
        Err(error) => return Err(error),
    };
    for entry in entries.flatten() {
        match read_envelope(&entry.path()) {
            Ok(envelope) => envelopes.push(envelope),
            Err(_) => unreadable.push(entry.file_name().to_string_lossy().into_owned()),
        }
    }
    envelopes.sort_by(|a, b| a.arrival.cmp(&b.arrival).then_with(|| a.id.cmp(&b.id)));
    unreadable.sort();
    Ok((envelopes, unreadable))
}

/// Reads and parses one envelope file, of at most [`MAX_ENVELOPE_FILE`] octets.
fn read_envelope(path: &Path) -> io::Result<QueuedEnvelope> {
    let mut text = Vec::new();
    File::open(path)?
        .take(MAX_ENVELOPE_FILE + 1)
        .read_to_end(&mut text)?;
    if text.len() as u64 > MAX_ENVELOPE_FILE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "larger than an envelope file may be",
        ));
    }
    serde_json::from_slice(&text).map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error))
}

/// Writes `content` to a new file at `path` and makes it durable (`fdatasync(2)`: the data
/// and the size; the name is its directory's to sync).
fn write_synced(path: &Path, content: &[u8]) -> io::Result<()> {
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)?;
    file.write_all(content)?;
    file.sync_data()
}

/// A queue id is a file name: 1 to [`MAX_ID`] letters, digits, `.`, `_`, `-`, not starting
/// with a dot.
pub fn check_id(id: &str) -> io::Result<()> {
    let ok = !id.is_empty()
        && id.len() <= MAX_ID
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a queue id: {id:?}"),
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests;
