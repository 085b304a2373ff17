//! The relay queue under `DATA/.queue/`: messages accepted for other servers, stored durably
//! before the 250, tried until delivered, failed or given up, and reported (RFC 3464 DSNs).
//!
//! Skeleton: the interface the SMTP listeners and the workers use; the issue-15 queue work
//! fills it in.

use std::io;
use std::path::{Path, PathBuf};

use crate::envelope::QueuedEnvelope;

/// The queue of one data directory.
pub struct Queue {
    /// `DATA/.queue`.
    dir: PathBuf,
}

impl Queue {
    /// The queue under `data`, its directories created.
    pub fn open(data: &Path) -> io::Result<Self> {
        let dir = data.join(".queue");
        std::fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    /// Where the queue lives.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Takes over a message: `message` is its content, already durable (fsync'ed: trace
    /// fields and all); it is linked (or copied) into the queue, and `envelope` written beside
    /// it; both are durable (files and directories synced) when this returns `Ok`, and only
    /// then may the server answer 250. `envelope.id` names both files.
    pub fn enqueue(&self, message: &Path, envelope: &QueuedEnvelope) -> io::Result<()> {
        let _ = (message, envelope);
        Err(io::Error::other("the relay queue is not built yet"))
    }
}
