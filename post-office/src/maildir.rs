//! Maildirs (one per user): messages written to `tmp/`, made durable, then moved to `new/`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A Maildir directory.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

/// One stored message.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The unique name (the file name up to the first `,` or `:`), used as the POP3
    /// unique-id.
    pub unique: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size in octets.
    pub size: u64,
    /// Its size as POP3 sends it (every line end CRLF): the name's `W=`, else `size`.
    pub wire_size: u64,
}

/// The sizes of a message as it is written, counted on the way: the octets, and the octets
/// with every bare CR or LF made CRLF (as POP3 sends it, RFC 1939 3). They go into the file
/// name as `,S=<size>,W=<wire size>` (Dovecot's and Courier's convention), so that listing a
/// maildrop needs no file opened.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sizes {
    size: u64,
    extra: u64,
    last: u8,
}

impl Sizes {
    /// Counts a piece of the message.
    pub fn count(&mut self, chunk: &[u8]) {
        let Some(&final_octet) = chunk.last() else {
            return;
        };
        self.size = self.size.saturating_add(chunk.len() as u64);
        // A CR that ended the last piece is bare unless this one starts with LF.
        if self.last == b'\r' && chunk.first() != Some(&b'\n') {
            self.extra += 1;
        }
        // Only line ends matter: memchr finds them, the rest is skipped.
        for at in memchr::memchr2_iter(b'\r', b'\n', chunk) {
            let bare = if chunk.get(at) == Some(&b'\r') {
                // At the end of the piece the next one decides.
                chunk.get(at + 1).is_some_and(|&next| next != b'\n')
            } else {
                let before = match at.checked_sub(1) {
                    Some(before) => chunk.get(before).copied(),
                    None => Some(self.last),
                };
                before != Some(b'\r')
            };
            self.extra += u64::from(bare);
        }
        self.last = final_octet;
    }

    /// The octets counted.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The size as POP3 sends it (a final bare CR included).
    pub fn wire_size(&self) -> u64 {
        self.size + self.extra + u64::from(self.last == b'\r')
    }

    /// `,S=<size>,W=<wire size>`, for the file name.
    fn suffix(&self) -> String {
        format!(",S={},W={}", self.size(), self.wire_size())
    }
}

/// Files in `tmp/` older than this are debris (the Maildir convention: 36 hours).
pub const STALE_TMP: Duration = Duration::from_secs(36 * 60 * 60);

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

    /// Stores the contents of `spool` (of `sizes`) as a new message: written to `tmp/`, synced,
    /// renamed into `new/` (named `<unique>,S=<size>,W=<wire size>`), the directory synced.
    /// Returns the unique name.
    pub fn deliver_file(&self, spool: &Path, hostname: &str, sizes: &Sizes) -> io::Result<String> {
        let unique = unique_name(hostname);
        let name = format!("{unique}{}", sizes.suffix());
        let tmp = self.root.join("tmp").join(&name);
        // A hard link when the spool is on the same file system, a copy otherwise.
        let new = self.root.join("new").join(&name);
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
            new_dir: self.root.join("new"),
            tmp,
            unique,
            sizes: Sizes::default(),
            done: false,
        })
    }

    /// Removes the files in `tmp/` last modified more than `age` ago (36 hours by the Maildir
    /// convention, [`STALE_TMP`]): what a delivery killed midway left. Returns how many.
    pub fn sweep_tmp(&self, age: Duration) -> io::Result<usize> {
        let now = SystemTime::now();
        let mut removed = 0;
        for entry in fs::read_dir(self.root.join("tmp"))? {
            let entry = entry?;
            // Files only (a symbolic link is not followed, a directory is left alone).
            let metadata = entry.metadata()?;
            if !metadata.is_file() {
                continue;
            }
            let stale = metadata
                .modified()
                .ok()
                .and_then(|modified| now.duration_since(modified).ok())
                .is_some_and(|elapsed| elapsed > age);
            if stale && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
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
                let (unique, named) = parse_name(&name);
                // Sizes from the name (no file opened); a file without them is stat'ed, and
                // its wire size taken as its size.
                let size = match named.size {
                    Some(size) => size,
                    None => entry.metadata()?.len(),
                };
                out.push(Stored {
                    unique: unique.to_string(),
                    path: entry.path(),
                    size,
                    wire_size: named.wire_size.unwrap_or(size),
                });
            }
        }
        out.sort_by(|a, b| a.unique.cmp(&b.unique));
        Ok(out)
    }
}

/// The sizes a Maildir file name carries (`,S=` and `,W=`), if it carries them.
#[derive(Debug, Default, PartialEq, Eq)]
struct NamedSizes {
    size: Option<u64>,
    wire_size: Option<u64>,
}

/// Splits a Maildir file name: the unique part (up to the first `,` or `:`) and the sizes
/// among the `,`-separated fields before the `:2,` flags.
fn parse_name(name: &str) -> (&str, NamedSizes) {
    let base = name.split(':').next().unwrap_or_default();
    let mut fields = base.split(',');
    let unique = fields.next().unwrap_or_default();
    let mut sizes = NamedSizes::default();
    for field in fields {
        if let Some(n) = field.strip_prefix("S=") {
            sizes.size = n.parse().ok();
        } else if let Some(n) = field.strip_prefix("W=") {
            sizes.wire_size = n.parse().ok();
        }
    }
    (unique, sizes)
}

/// Makes a directory's entries durable (the rename into `new/`).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A message being written into a Maildir; removed from `tmp/` if dropped unfinished.
pub struct Incoming {
    file: File,
    tmp: PathBuf,
    new_dir: PathBuf,
    unique: String,
    sizes: Sizes,
    done: bool,
}

impl Incoming {
    /// Appends a piece.
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.sizes.count(chunk);
        self.file.write_all(chunk)
    }

    /// Syncs the file, moves it into `new/` (named with its sizes, `,S=` and `,W=`), syncs the
    /// directory; returns the unique name.
    pub fn finish(mut self) -> io::Result<String> {
        self.file.sync_all()?;
        let name = format!("{}{}", self.unique, self.sizes.suffix());
        fs::rename(&self.tmp, self.new_dir.join(name))?;
        sync_dir(&self.new_dir)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("po-maildir-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        dir
    }

    /// The wire size the old way: every octet looked at.
    fn wire_size_by_hand(octets: &[u8]) -> u64 {
        let mut extra = 0;
        let mut last = 0u8;
        for &byte in octets {
            match (last, byte) {
                (b'\r', b'\n') => {}
                (b'\r', _) | (_, b'\n') => extra += 1,
                _ => {}
            }
            last = byte;
        }
        octets.len() as u64 + extra + u64::from(last == b'\r')
    }

    #[test]
    fn sizes_count_bare_line_ends_as_crlf_however_the_message_is_split() {
        let samples: [&[u8]; 6] = [
            b"a\r\nb\r\n",
            b"a\nb\n",
            b"a\rb\r",
            b"\r\r\n\n\r",
            b"\n\r\n\r\r\n\nx",
            b"",
        ];
        for sample in samples {
            for split in 0..=sample.len() {
                let mut sizes = Sizes::default();
                let (a, b) = sample.split_at(split);
                sizes.count(a);
                sizes.count(b);
                assert_eq!(sizes.size(), sample.len() as u64);
                assert_eq!(
                    sizes.wire_size(),
                    wire_size_by_hand(sample),
                    "{sample:?} at {split}"
                );
            }
        }
    }

    #[test]
    fn names_give_the_unique_id_and_the_sizes() {
        let (unique, sizes) = parse_name("1700000000.M1P2Q3.host,S=1234,W=1260:2,S");
        assert_eq!(unique, "1700000000.M1P2Q3.host");
        assert_eq!(sizes.size, Some(1234));
        assert_eq!(sizes.wire_size, Some(1260));
        let (unique, sizes) = parse_name("1700000000.big.localhost");
        assert_eq!(unique, "1700000000.big.localhost");
        assert_eq!(sizes, NamedSizes::default());
        let (_, sizes) = parse_name("x,S=12x,W=:2,");
        assert_eq!(sizes, NamedSizes::default());
    }

    #[test]
    fn delivered_files_are_listed_with_their_sizes_from_the_name() {
        let dir = scratch("named");
        let maildir = Maildir::open(&dir).unwrap();
        let spool = dir.join("spool");
        fs::write(&spool, b"a\nb\r\n").unwrap();
        let mut sizes = Sizes::default();
        sizes.count(b"a\nb\r\n");
        let unique = maildir.deliver_file(&spool, "host", &sizes).unwrap();
        // The file changes behind the name's back: the listing believes the name.
        let listed = maildir.list().unwrap();
        fs::write(&listed[0].path, b"").unwrap();
        let listed = maildir.list().unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].unique, unique);
        assert_eq!((listed[0].size, listed[0].wire_size), (5, 6));
    }

    #[test]
    fn files_without_sizes_in_the_name_are_stat_ed() {
        let dir = scratch("unnamed");
        let maildir = Maildir::open(&dir).unwrap();
        fs::write(dir.join("new/1700000000.x.host"), b"abc\n").unwrap();
        let listed = maildir.list().unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!((listed[0].size, listed[0].wire_size), (4, 4));
    }

    #[test]
    fn sweep_removes_only_tmp_files_older_than_the_age() {
        let dir = scratch("sweep");
        let maildir = Maildir::open(&dir).unwrap();
        let old = dir.join("tmp/old");
        fs::write(&old, b"debris").unwrap();
        let two_days = SystemTime::now() - Duration::from_secs(48 * 60 * 60);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(two_days)
            .unwrap();
        fs::write(dir.join("tmp/fresh"), b"being delivered").unwrap();
        fs::create_dir(dir.join("tmp/subdir")).unwrap();
        let removed = maildir.sweep_tmp(STALE_TMP).unwrap();
        let left: Vec<_> = fs::read_dir(dir.join("tmp"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(removed, 1);
        assert!(!left.contains(&"old".to_string()), "{left:?}");
        assert!(left.contains(&"fresh".to_string()), "{left:?}");
        assert!(left.contains(&"subdir".to_string()), "{left:?}");
    }
}
