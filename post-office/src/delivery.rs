//! Delivery of a received message: written to the spool as it arrives, then stored durably in
//! each recipient's Maildir before the server says 250.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use crate::maildir::{Maildir, Sizes, sync_dir, unique_name};

/// Octets free for an unprivileged user on the file system of `path` (statvfs(3)'s
/// `f_bavail` blocks of `f_frsize` octets).
pub fn free_space(path: &Path) -> io::Result<u64> {
    let stat = rustix::fs::statvfs(path)?;
    Ok(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// Whether `path`'s file system has `needed` octets free. When it cannot be told (statvfs
/// fails), yes: a write that then fails still gets its 4yz reply.
pub fn has_room(path: &Path, needed: u64) -> bool {
    if needed == 0 {
        return true;
    }
    match free_space(path) {
        Ok(free) => free >= needed,
        Err(error) => {
            warn!(%error, "checking free disk space");
            true
        }
    }
}

/// A message being received into `DATA/.spool/`. Whatever happens to the session, the spool
/// file does not outlive this value: a broken connection leaves nothing behind.
pub struct Spool {
    path: PathBuf,
    /// `None` once writing failed (the file is gone then).
    file: Option<File>,
    /// Counted as it is written: the Maildir file names carry them.
    sizes: Sizes,
}

impl Spool {
    /// The directory of spool files under the data directory.
    pub fn dir(data: &Path) -> PathBuf {
        data.join(".spool")
    }

    /// Creates the spool directory, and removes what a killed process left in it: nobody
    /// answered 250 for a half-received message.
    pub fn clean(data: &Path) -> io::Result<()> {
        let dir = Self::dir(data);
        fs::create_dir_all(&dir)?;
        for entry in fs::read_dir(&dir)?.flatten() {
            let _ = fs::remove_file(entry.path());
        }
        Ok(())
    }

    /// A new, empty spool file.
    pub fn create(data: &Path, hostname: &str) -> io::Result<Self> {
        let path = Self::dir(data).join(unique_name(hostname));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Self {
            path,
            file: Some(file),
            sizes: Sizes::default(),
        })
    }

    /// Appends a piece of the message. When it cannot be written (a full disk, say) the file
    /// is removed, the rest of the message is ignored, and [`deliver`](Self::deliver) fails.
    pub fn write(&mut self, chunk: &[u8]) {
        if let Some(file) = &mut self.file {
            self.sizes.count(chunk);
            if let Err(error) = file.write_all(chunk) {
                warn!(%error, "writing a spool file");
                self.file = None;
                let _ = fs::remove_file(&self.path);
            }
        }
    }

    /// Makes the message durable and stores it in the Maildir of each user (`DATA/USER`):
    /// `tmp/`, fsync, `new/`, directory fsync. One result per entry of `users`, in order
    /// (a user named twice gets one copy and two results).
    pub fn deliver(mut self, users: &[String], data: &Path, hostname: &str) -> Vec<bool> {
        let Some(file) = self.file.take() else {
            return vec![false; users.len()];
        };
        let synced = file.sync_all();
        drop(file);
        let mut done: HashMap<&str, bool> = HashMap::new();
        let mut results = Vec::with_capacity(users.len());
        for user in users {
            let ok = *done.entry(user).or_insert_with(|| {
                synced.is_ok()
                    && Maildir::open(data.join(user))
                        .and_then(|maildir| maildir.deliver_file(&self.path, hostname, &self.sizes))
                        .map_err(|error| warn!(%error, user, "delivery failed"))
                        .is_ok()
            });
            results.push(ok);
        }
        let _ = fs::remove_file(&self.path);
        if let Some(parent) = self.path.parent() {
            let _ = sync_dir(parent);
        }
        info!(recipients = users.len(), "message stored");
        results
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        if self.file.take().is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Final delivery of a message the queue holds (a DSN to a local sender, say): `message` (a
/// durable file) stored in `user`'s Maildir under `data`.
///
/// Skeleton for the queue: the issue-15 trace work adds `Return-Path:` and `Delivered-To:`
/// above the message (RFC 5321 4.4) here as in [`Spool::deliver`].
pub fn store_local(
    data: &Path,
    hostname: &str,
    user: &str,
    delivered_to: &str,
    return_path: &mail_io::smtp::ReversePath<'_>,
    message: &Path,
) -> io::Result<String> {
    let _ = (delivered_to, return_path);
    let mut sizes = Sizes::default();
    sizes.count(&fs::read(message)?);
    Maildir::open(data.join(user))?.deliver_file(message, hostname, &sizes)
}
