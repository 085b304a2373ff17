//! Maildirs (one per user): messages written to `tmp/`, made durable, then moved to `new/`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A Maildir directory.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

/// One stored message.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The unique name (the file name up to `:`), used as the POP3 unique-id.
    pub unique: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size in octets.
    pub size: u64,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A name no other delivery on this host uses (the Maildir convention: time, process, counter,
/// host), made only of characters a POP3 unique-id allows.
pub fn unique_name(hostname: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // POP3 unique-ids are at most 70 characters: the host part is cut to fit.
    let host: String = hostname
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(24)
        .collect();
    // Zero-padded, so that the names sort in the order of delivery.
    format!(
        "{}.M{:06}P{}Q{:06}.{}",
        now.as_secs(),
        now.subsec_micros(),
        std::process::id(),
        n,
        host
    )
}

impl Maildir {
    /// The Maildir at `root`, created with its `tmp`, `new` and `cur` if missing.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        for sub in ["tmp", "new", "cur"] {
            fs::create_dir_all(root.join(sub))?;
        }
        Ok(Self { root })
    }

    /// Stores the contents of `spool` as a new message: written to `tmp/`, synced, renamed into
    /// `new/`, the directory synced. Returns the unique name.
    pub fn deliver_file(&self, spool: &Path, hostname: &str) -> io::Result<String> {
        let unique = unique_name(hostname);
        let tmp = self.root.join("tmp").join(&unique);
        // A hard link when the spool is on the same file system, a copy otherwise.
        let new = self.root.join("new").join(&unique);
        let stored = (|| {
            if fs::hard_link(spool, &tmp).is_err() {
                fs::copy(spool, &tmp)?;
            }
            File::open(&tmp)?.sync_all()?;
            fs::rename(&tmp, &new)?;
            sync_dir(&self.root.join("new"))
        })();
        if stored.is_err() {
            // Nothing half-stored stays behind.
            let _ = fs::remove_file(&tmp);
        }
        stored.map(|()| unique)
    }

    /// Starts a new message written as it arrives (the fetch side): it goes to `tmp/` and
    /// appears in `new/` only once [`Incoming::finish`] has made it durable.
    pub fn begin(&self, hostname: &str) -> io::Result<Incoming> {
        let unique = unique_name(hostname);
        let tmp = self.root.join("tmp").join(&unique);
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        Ok(Incoming {
            file,
            new: self.root.join("new").join(&unique),
            tmp,
            unique,
            done: false,
        })
    }

    /// The messages in `new/` and `cur/`, oldest first (by unique name, which starts with the
    /// time of delivery).
    pub fn list(&self) -> io::Result<Vec<Stored>> {
        let mut out = Vec::new();
        for sub in ["cur", "new"] {
            for entry in fs::read_dir(self.root.join(sub))? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let unique = name.split(':').next().unwrap_or_default().to_string();
                let size = entry.metadata()?.len();
                out.push(Stored {
                    unique,
                    path: entry.path(),
                    size,
                });
            }
        }
        out.sort_by(|a, b| a.unique.cmp(&b.unique));
        Ok(out)
    }
}

/// Makes a directory's entries durable (the rename into `new/`).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A message being written into a Maildir; removed from `tmp/` if dropped unfinished.
pub struct Incoming {
    file: File,
    tmp: PathBuf,
    new: PathBuf,
    unique: String,
    done: bool,
}

impl Incoming {
    /// Appends a piece.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.file.write_all(chunk)
    }

    /// Syncs the file, moves it into `new/`, syncs the directory; returns the unique name.
    pub fn finish(mut self) -> io::Result<String> {
        self.file.sync_all()?;
        fs::rename(&self.tmp, &self.new)?;
        if let Some(dir) = self.new.parent() {
            sync_dir(dir)?;
        }
        self.done = true;
        Ok(std::mem::take(&mut self.unique))
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        if !self.done {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}
