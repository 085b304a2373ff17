//! Maildirs (one per user): messages written to `tmp/`, made durable, then moved to `new/`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::files::{self, NewFile};

/// A Maildir directory.
#[derive(Debug, Clone)]
pub struct Maildir {
    root: PathBuf,
}

/// One stored message.
#[derive(Debug, Clone)]
pub struct Stored {
    /// The unique name (the file name up to `:`, its flags), used as the POP3 unique-id
    /// (RFC 1939 7). `,S=` and `,W=` are part of it: they never change, and cutting them
    /// off would change the unique-id of files other servers named (Dovecot, Courier).
    pub unique: String,
    /// Where it is.
    pub path: PathBuf,
    /// Its size as POP3 sends it (every line end CRLF, RFC 1939 3): the name's `W=`, else
    /// counted once and remembered in [`SIZES_FILE`].
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
    /// The first octet counted (0 before any).
    first: u8,
    last: u8,
}

impl Sizes {
    /// Counts a piece of the message.
    pub fn count(&mut self, chunk: &[u8]) {
        let Some(&final_octet) = chunk.last() else {
            return;
        };
        if self.size == 0 {
            self.first = chunk.first().copied().unwrap_or_default();
        }
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

    /// The sizes of what these counted followed by what `after` counted, as if counted in one
    /// go: a CR at the end of the first and an LF at the start of the second make one CRLF.
    pub fn then(&self, after: &Sizes) -> Sizes {
        if self.size == 0 {
            return *after;
        }
        if after.size == 0 {
            return *self;
        }
        let mut extra = self.extra.saturating_add(after.extra);
        if self.last == b'\r' {
            if after.first == b'\n' {
                // `after` counted its first LF as bare: it was not.
                extra = extra.saturating_sub(1);
            } else {
                // The CR that ended the first part is bare.
                extra = extra.saturating_add(1);
            }
        }
        Sizes {
            size: self.size.saturating_add(after.size),
            extra,
            first: self.first,
            last: after.last,
        }
    }

    /// `,S=<size>,W=<wire size>`, for the file name.
    fn suffix(&self) -> String {
        format!(",S={},W={}", self.size(), self.wire_size())
    }
}

/// Files in `tmp/` older than this are debris (the Maildir convention: 36 hours).
pub const STALE_TMP: Duration = Duration::from_secs(36 * 60 * 60);

/// RFC 1939 7: a unique-id is at most 70 characters; our file names fit in it.
const MAX_UNIQUE: usize = 70;

/// The file, at the root of a Maildir, remembering the wire sizes of messages whose names
/// carry no `W=` (delivered by other programs): one line `<unique> <size> <wire size>` each,
/// so that each is read once, not at every login. Rewritten whole (`tmp/`, fsync, rename)
/// when it changes; entries of vanished files are dropped.
pub const SIZES_FILE: &str = "post-office-sizes";

/// At most this many wire sizes are remembered (beyond, they are counted at every login).
const MAX_REMEMBERED: usize = 50_000;

/// At most this much of [`SIZES_FILE`] is read (room for [`MAX_REMEMBERED`] lines of a
/// 255-octet name and two numbers).
const MAX_SIZES_FILE: u64 = 16 * 1024 * 1024;

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// This process's id, asked of the kernel once (`getpid(2)` is a system call each time, and
/// every delivery names two files with it).
fn process_id() -> u32 {
    static ID: std::sync::OnceLock<u32> = std::sync::OnceLock::new();
    *ID.get_or_init(std::process::id)
}

/// The host part of [`unique_name`]: POP3 unique-ids are at most 70 characters, so it is cut
/// to fit, and made of characters a unique-id allows.
fn host_part(hostname: &str) -> String {
    hostname
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(24)
        .collect()
}

/// A name no other delivery on this host uses (the Maildir convention: time, process, counter,
/// host), made only of characters a POP3 unique-id allows.
pub fn unique_name(hostname: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let host = host_part(hostname);
    // Zero-padded, so that the names sort in the order of delivery.
    format!(
        "{}.M{:06}P{}Q{:06}.{}",
        now.as_secs(),
        now.subsec_micros(),
        process_id(),
        n,
        host
    )
}

impl Maildir {
    /// The Maildir at `root`, created with its `tmp`, `new` and `cur` if missing (looked at
    /// first: `mkdir` of an existing directory would lock its parent, which every concurrent
    /// delivery into the Maildir needs).
    pub fn open(root: impl Into<PathBuf>) -> io::Result<Self> {
        let root = root.into();
        for sub in ["tmp", "new", "cur"] {
            let dir = root.join(sub);
            if !dir.is_dir() {
                fs::create_dir_all(dir)?;
            }
        }
        Ok(Self { root })
    }

    /// Starts a new message: a file in `tmp/` (created when its first octets reach the disk,
    /// [`NewFile`]) that appears in `new/` only once [`Incoming::finish`] has made it durable.
    pub fn begin(&self, hostname: &str) -> Incoming {
        let unique = unique_name(hostname);
        Incoming {
            file: NewFile::new(self.root.join("tmp").join(&unique)),
            maildir: self.clone(),
            unique,
            sizes: Sizes::default(),
        }
    }

    /// Stores `prefix` (trace fields: `Return-Path:`, `Delivered-To:`) followed by the contents
    /// of `message` (of `sizes`) as a new message ([`begin`](Self::begin), then the message
    /// copied after the prefix, by `copy_file_range(2)` where the kernel can, and
    /// [`Incoming::finish`]). Returns the name, the message's POP3 unique-id.
    pub fn deliver_with(
        &self,
        prefix: &[u8],
        message: &Path,
        hostname: &str,
        sizes: &Sizes,
    ) -> io::Result<String> {
        let mut incoming = self.begin(hostname);
        incoming.write(prefix)?;
        incoming.file.copy_from(&mut File::open(message)?)?;
        incoming.sizes = incoming.sizes.then(sizes);
        incoming.finish()
    }

    /// Makes `file` (a message in `tmp/` named `unique`, of `sizes`) part of the Maildir:
    /// `fdatasync(2)`, renamed into `new/` (named `<unique>,S=<size>,W=<wire size>`,
    /// [`stored_name`]), `new/` synced, a sync shared with the deliveries that end at the same
    /// time ([`files::shared`](crate::files::shared), a group commit). When the sync fails
    /// the file is taken out of `new/` again: an error means nothing was stored. Returns the
    /// name, the message's POP3 unique-id.
    fn commit(&self, file: &mut NewFile, unique: &str, sizes: &Sizes) -> io::Result<String> {
        self.commit_with(file, unique, sizes, |new_dir| files::shared(new_dir).sync())
    }

    /// [`commit`](Self::commit), with `sync_new` making `new/`'s entries durable (tests).
    fn commit_with(
        &self,
        file: &mut NewFile,
        unique: &str,
        sizes: &Sizes,
        sync_new: impl FnOnce(&Path) -> io::Result<()>,
    ) -> io::Result<String> {
        file.sync()?;
        let name = stored_name(unique, sizes);
        let new_dir = self.root.join("new");
        let new = new_dir.join(&name);
        fs::rename(file.path(), &new)?;
        file.keep();
        if let Err(error) = sync_new(&new_dir) {
            let _ = fs::remove_file(&new);
            return Err(error);
        }
        Ok(name)
    }

    /// Removes the files in `tmp/` that an earlier run of this server left (named by
    /// [`unique_name`] with `hostname`, another process id): messages whose delivery was cut
    /// by a crash, never answered 250, whatever their age. Other programs' files wait for
    /// [`sweep_tmp`](Self::sweep_tmp). Returns how many.
    pub fn sweep_own_tmp(&self, hostname: &str) -> io::Result<usize> {
        let host = host_part(hostname);
        let ours = process_id().to_string();
        let mut removed = 0;
        for entry in fs::read_dir(self.root.join("tmp"))?.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            let left = name
                .split_once('.')
                .and_then(|(_, rest)| rest.split_once('.'))
                .filter(|(_, named_host)| *named_host == host)
                .and_then(|(counters, _)| counters.split_once('P'))
                .and_then(|(_, rest)| rest.split_once('Q'))
                .is_some_and(|(pid, _)| pid != ours);
            if left && fs::remove_file(entry.path()).is_ok() {
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Removes the files in `tmp/` last modified more than `age` ago (36 hours by the Maildir
    /// convention, [`STALE_TMP`]): what a delivery killed midway left. Returns how many.
    /// Only reading `tmp/` itself can fail: an entry that vanishes or cannot be examined is
    /// skipped, and the sweep goes on.
    pub fn sweep_tmp(&self, age: Duration) -> io::Result<usize> {
        let entries = fs::read_dir(self.root.join("tmp"))?;
        Ok(sweep(
            entries.map(|entry| entry.map(|entry| entry.path())),
            age,
        ))
    }

    /// The messages in `new/` and `cur/`, oldest first (by unique name, which starts with the
    /// time of delivery).
    ///
    /// Sizes come from the name (`,S=`, `,W=`: no file opened). A file whose name has no `W=`
    /// is stat'ed, and its wire size counted by reading it once: later listings find it in
    /// [`SIZES_FILE`] (while the file keeps its length). Files that vanish meanwhile are
    /// left out. Other programs' files are never renamed.
    pub fn list(&self) -> io::Result<Vec<Stored>> {
        let remembered = self.remembered_sizes();
        let mut keep: HashMap<String, (u64, u64)> = HashMap::new();
        let mut changed = false;
        let mut out = Vec::new();
        for sub in ["cur", "new"] {
            for entry in fs::read_dir(self.root.join(sub))? {
                let entry = entry?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let (unique, named) = parse_name(&name);
                let path = entry.path();
                let wire_size = match named.wire_size {
                    Some(wire_size) => wire_size,
                    None => {
                        let length = match entry.metadata() {
                            Ok(metadata) => metadata.len(),
                            Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                            Err(error) => return Err(error),
                        };
                        let (wire_size, remember) = match remembered.get(unique) {
                            Some(&(size, wire_size)) if size == length => (wire_size, true),
                            _ => match count_file(&path) {
                                Ok(sizes) => {
                                    // Unless it changed while read: counted again next time.
                                    let whole = sizes.size() == length;
                                    changed |= whole;
                                    (sizes.wire_size(), whole)
                                }
                                Err(error) if error.kind() == io::ErrorKind::NotFound => {
                                    continue;
                                }
                                // Unreadable: listed at its length; RETR will tell.
                                Err(_) => (length, false),
                            },
                        };
                        if remember && rememberable(unique) && keep.len() < MAX_REMEMBERED {
                            keep.insert(unique.to_string(), (length, wire_size));
                        }
                        wire_size
                    }
                };
                out.push(Stored {
                    unique: unique.to_string(),
                    path,
                    wire_size,
                });
            }
        }
        // Entries of vanished files are dropped too.
        if changed || keep.len() != remembered.len() {
            // A cache: when it cannot be written, the sizes are counted again next time.
            let _ = self.remember_sizes(&keep);
        }
        out.sort_by(|a, b| a.unique.cmp(&b.unique));
        Ok(out)
    }

    /// The wire sizes [`SIZES_FILE`] holds: unique name to (length, wire size). A missing or
    /// unreadable file, and malformed lines, count as nothing remembered.
    fn remembered_sizes(&self) -> HashMap<String, (u64, u64)> {
        let mut remembered = HashMap::new();
        let mut text = Vec::new();
        let read = File::open(self.root.join(SIZES_FILE))
            .and_then(|file| file.take(MAX_SIZES_FILE).read_to_end(&mut text));
        if read.is_err() {
            return remembered;
        }
        for line in text.split(|&octet| octet == b'\n') {
            if remembered.len() >= MAX_REMEMBERED {
                break;
            }
            let Ok(line) = std::str::from_utf8(line) else {
                continue;
            };
            // Split from the right: the name is everything before the two numbers.
            let mut fields = line.rsplitn(3, ' ');
            let (Some(wire_size), Some(size), Some(unique)) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            if let (Ok(size), Ok(wire_size)) = (size.parse(), wire_size.parse()) {
                remembered.insert(unique.to_string(), (size, wire_size));
            }
        }
        remembered
    }

    /// Rewrites [`SIZES_FILE`] with `sizes`: written in `tmp/` (swept if left behind), synced,
    /// renamed over the old one.
    fn remember_sizes(&self, sizes: &HashMap<String, (u64, u64)>) -> io::Result<()> {
        let mut text = String::new();
        for (unique, (size, wire_size)) in sizes {
            text.push_str(&format!("{unique} {size} {wire_size}\n"));
        }
        let tmp = self
            .root
            .join("tmp")
            .join(format!("{}.{SIZES_FILE}", unique_name("x")));
        let written = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(text.as_bytes())?;
            file.sync_data()?;
            fs::rename(&tmp, self.root.join(SIZES_FILE))
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written
    }
}

/// Whether a unique name can be a line of [`SIZES_FILE`].
fn rememberable(unique: &str) -> bool {
    !unique.is_empty() && !unique.contains(['\n', '\r'])
}

/// Counts a file's sizes by reading it (64 KiB at a time).
pub fn count_file(path: &Path) -> io::Result<Sizes> {
    let mut file = File::open(path)?;
    let mut sizes = Sizes::default();
    let mut chunk = vec![0; 64 * 1024];
    loop {
        match file.read(&mut chunk) {
            Ok(0) => return Ok(sizes),
            Ok(n) => sizes.count(chunk.get(..n).unwrap_or_default()),
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
}

/// Removes the files among `paths` last modified more than `age` ago; an entry that cannot be
/// read or examined (vanished, say) is skipped. Returns how many were removed.
fn sweep(paths: impl Iterator<Item = io::Result<PathBuf>>, age: Duration) -> usize {
    let now = SystemTime::now();
    let mut removed = 0;
    for path in paths.flatten() {
        // Files only (a symbolic link is not followed, a directory is left alone).
        let Ok(metadata) = fs::symlink_metadata(&path) else {
            continue;
        };
        if !metadata.is_file() {
            continue;
        }
        let stale = metadata
            .modified()
            .ok()
            .and_then(|modified| now.duration_since(modified).ok())
            .is_some_and(|elapsed| elapsed > age);
        if stale && fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// The name a delivered message takes: `<unique>,S=<size>,W=<wire size>`, within the 70
/// characters of a POP3 unique-id (RFC 1939 7), since the whole name (up to the flags) is
/// the unique-id. The host at the end of `unique` ([`unique_name`]) is cut to make room; if
/// the sizes leave no room for the time, process and counter, they are left out (the
/// listing then counts them once, [`SIZES_FILE`]).
fn stored_name(unique: &str, sizes: &Sizes) -> String {
    let suffix = sizes.suffix();
    let Some(room) = MAX_UNIQUE.checked_sub(suffix.len()) else {
        return unique.to_string();
    };
    // The host starts after the second `.` ("<secs>.M<micros>P<pid>Q<n>.<host>").
    let host_start = unique
        .match_indices('.')
        .nth(1)
        .map_or(unique.len(), |(at, _)| at + 1);
    match unique.get(..room.min(unique.len())) {
        Some(kept) if room >= host_start => format!("{kept}{suffix}"),
        _ => unique.to_string(),
    }
}

/// What a Maildir file name tells (the listing needs only the wire size: RETR takes the
/// length from the open file).
#[derive(Debug, Default, PartialEq, Eq)]
struct NamedSizes {
    /// `,W=`: the size as POP3 sends it (Dovecot's and Courier's convention).
    wire_size: Option<u64>,
}

/// Splits a Maildir file name: the unique part (up to the `:2,` flags, as before names carried
/// sizes, so that no unique-id changes) and the `W=` among the `,`-separated fields after the
/// first.
fn parse_name(name: &str) -> (&str, NamedSizes) {
    let unique = name.split(':').next().unwrap_or_default();
    let mut sizes = NamedSizes::default();
    for field in unique.split(',').skip(1) {
        if let Some(n) = field.strip_prefix("W=") {
            sizes.wire_size = n.parse().ok();
        }
    }
    (unique, sizes)
}

/// Makes a directory's entries durable (the rename into `new/`).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A message being written into a Maildir ([`Maildir::begin`]); removed from `tmp/` if
/// dropped unfinished.
pub struct Incoming {
    file: NewFile,
    maildir: Maildir,
    unique: String,
    sizes: Sizes,
}

impl Incoming {
    /// Appends a piece (it reaches the disk when the buffer fills, [`NewFile::write`]).
    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.sizes.count(chunk);
        self.file.write(chunk)
    }

    /// Whether writing `len` more octets touches the disk ([`NewFile::writes_through`]).
    pub fn writes_through(&self, len: usize) -> bool {
        self.file.writes_through(len)
    }

    /// Writes out what is buffered, so that the file at [`path`](Self::path) holds all that
    /// was written.
    pub fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }

    /// The file in `tmp/`.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Makes the message durable and moves it into `new/` ([`Maildir::commit`]); returns the
    /// name, the POP3 unique-id.
    pub fn finish(mut self) -> io::Result<String> {
        self.maildir
            .commit(&mut self.file, &self.unique, &self.sizes)
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
    fn sizes_of_two_parts_chained_are_the_sizes_of_the_whole() {
        let samples: [&[u8]; 7] = [
            b"a\r\nb\r\n",
            b"a\nb\n",
            b"a\rb\r",
            b"\r\r\n\n\r",
            b"\n\r\n\r\r\n\nx",
            b"\r\n",
            b"",
        ];
        for sample in samples {
            for split in 0..=sample.len() {
                let (a, b) = sample.split_at(split);
                let (mut first, mut second) = (Sizes::default(), Sizes::default());
                first.count(a);
                second.count(b);
                let chained = first.then(&second);
                assert_eq!(chained.size(), sample.len() as u64);
                assert_eq!(
                    chained.wire_size(),
                    wire_size_by_hand(sample),
                    "{sample:?} at {split}"
                );
            }
        }
    }

    #[test]
    fn a_copy_with_a_prefix_is_stored_whole_and_named_with_its_sizes() {
        let dir = scratch("prefixed");
        let maildir = Maildir::open(&dir).unwrap();
        let spool = dir.join("spool");
        fs::write(&spool, b"\nbody\r").unwrap();
        let sizes = count_file(&spool).unwrap();
        let unique = maildir
            .deliver_with(b"Return-Path: <>\r", &spool, "host", &sizes)
            .unwrap();
        let listed = maildir.list().unwrap();
        let stored = fs::read(&listed[0].path).unwrap();
        let tmp_left = fs::read_dir(dir.join("tmp")).unwrap().count();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(stored, b"Return-Path: <>\r\nbody\r");
        assert!(unique.ends_with(",S=22,W=23"), "{unique}");
        assert_eq!(listed[0].wire_size, wire_size_by_hand(&stored));
        assert_eq!(tmp_left, 0);
    }

    #[test]
    fn names_give_the_unique_id_up_to_the_flags_and_the_wire_size() {
        let (unique, sizes) = parse_name("1700000000.M1P2Q3.host,S=1234,W=1260:2,S");
        assert_eq!(unique, "1700000000.M1P2Q3.host,S=1234,W=1260");
        assert_eq!(sizes.wire_size, Some(1260));
        let (unique, sizes) = parse_name("1700000000.big.localhost");
        assert_eq!(unique, "1700000000.big.localhost");
        assert_eq!(sizes, NamedSizes::default());
        let (_, sizes) = parse_name("x,S=12x,W=:2,");
        assert_eq!(sizes, NamedSizes::default());
    }

    #[test]
    fn a_commit_whose_directory_sync_fails_leaves_nothing_in_new_or_tmp() {
        let dir = scratch("commit-sync-fails");
        let maildir = Maildir::open(&dir).unwrap();
        let mut incoming = maildir.begin("host");
        incoming.write(b"x\r\n").unwrap();
        let (unique, sizes) = (incoming.unique.clone(), incoming.sizes);
        let failed = maildir.commit_with(&mut incoming.file, &unique, &sizes, |_| {
            Err(io::Error::other("EIO"))
        });
        drop(incoming);
        let left = |sub: &str| fs::read_dir(dir.join(sub)).unwrap().count();
        let (new, tmp) = (left("new"), left("tmp"));
        let _ = fs::remove_dir_all(&dir);
        assert!(failed.is_err());
        assert_eq!((new, tmp), (0, 0));
    }

    #[test]
    fn a_delivery_syncs_new_and_a_failed_rename_leaves_nothing_in_tmp() {
        let dir = scratch("commit-syncs");
        let maildir = Maildir::open(&dir).unwrap();
        let syncs = || files::shared(&dir.join("new")).syncs();
        let before = syncs();
        let mut incoming = maildir.begin("host");
        incoming.write(b"x\r\n").unwrap();
        incoming.finish().unwrap();
        let after = syncs();
        fs::remove_dir_all(dir.join("new")).unwrap();
        let mut incoming = maildir.begin("host");
        incoming.write(b"y\r\n").unwrap();
        let renamed = incoming.finish();
        let tmp = fs::read_dir(dir.join("tmp")).unwrap().count();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(after, before + 1);
        assert!(renamed.is_err());
        assert_eq!(tmp, 0);
    }

    #[test]
    fn at_start_our_own_leftovers_in_tmp_go_and_other_programs_files_stay() {
        let dir = scratch("own-tmp");
        let maildir = Maildir::open(&dir).unwrap();
        let ours = unique_name("mx.example");
        let pid = format!("P{}Q", std::process::id());
        let earlier_run = ours.replacen(&pid, "P1Q", 1);
        let names = [
            earlier_run.clone(),
            ours.clone(),
            unique_name("fetch").replacen(&pid, "P1Q", 1),
            "1700000000.M1P1Q1.other.host".to_string(),
            "not-a-maildir-name".to_string(),
        ];
        for name in &names {
            fs::write(dir.join("tmp").join(name), b"x").unwrap();
        }
        let removed = maildir.sweep_own_tmp("mx.example").unwrap();
        let kept: Vec<bool> = names
            .iter()
            .map(|n| dir.join("tmp").join(n).exists())
            .collect();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(removed, 1);
        assert_eq!(kept, [false, true, true, true, true], "{names:?}");
    }

    #[test]
    fn delivered_files_are_listed_with_their_sizes_from_the_name() {
        let dir = scratch("named");
        let maildir = Maildir::open(&dir).unwrap();
        let spool = dir.join("spool");
        fs::write(&spool, b"a\nb\r\n").unwrap();
        let mut sizes = Sizes::default();
        sizes.count(b"a\nb\r\n");
        let unique = maildir.deliver_with(b"", &spool, "host", &sizes).unwrap();
        // The file changes behind the name's back: the listing believes the name.
        let listed = maildir.list().unwrap();
        fs::write(&listed[0].path, b"").unwrap();
        let listed = maildir.list().unwrap();
        let remembered = dir.join(SIZES_FILE).exists();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].unique, unique);
        assert!(unique.ends_with(",S=5,W=6"), "{unique}");
        assert_eq!(listed[0].wire_size, 6);
        assert!(!remembered, "nothing to remember");
    }

    #[test]
    fn dovecot_and_courier_names_keep_their_unique_id_up_to_the_flags() {
        let dir = scratch("dovecot");
        let maildir = Maildir::open(&dir).unwrap();
        fs::write(dir.join("cur/1600000000.M1P2.mx,S=4,W=5:2,S"), b"abc\n").unwrap();
        fs::write(dir.join("new/1600000001.M1P2.mx,S=4"), b"abc\n").unwrap();
        let listed = maildir.list().unwrap();
        let _ = fs::remove_dir_all(&dir);
        let uniques: Vec<_> = listed.iter().map(|s| s.unique.as_str()).collect();
        assert_eq!(
            uniques,
            ["1600000000.M1P2.mx,S=4,W=5", "1600000001.M1P2.mx,S=4"]
        );
        assert_eq!((listed[0].wire_size, listed[1].wire_size), (5, 5));
    }

    #[test]
    fn files_without_a_wire_size_are_counted_once_and_remembered() {
        let dir = scratch("unnamed");
        let maildir = Maildir::open(&dir).unwrap();
        let other = dir.join("new/1700000000.x.host");
        fs::write(&other, b"abc\n").unwrap();
        let first = maildir.list().unwrap();
        let remembered = fs::read_to_string(dir.join(SIZES_FILE)).unwrap();
        // Same length, other line ends: a second listing does not read it again.
        fs::write(&other, b"abcd").unwrap();
        let second = maildir.list().unwrap();
        // Another length: counted again.
        fs::write(&other, b"a\nb\n\n").unwrap();
        let third = maildir.list().unwrap();
        let name_kept = dir.join("new/1700000000.x.host").exists();
        // Gone: its line goes too.
        fs::remove_file(&other).unwrap();
        let fourth = maildir.list().unwrap();
        let after = fs::read_to_string(dir.join(SIZES_FILE)).unwrap();
        let tmp_left = fs::read_dir(dir.join("tmp")).unwrap().count();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(first[0].unique, "1700000000.x.host");
        assert_eq!(first[0].wire_size, 5, "the bare LF counted as CRLF");
        assert_eq!(remembered, "1700000000.x.host 4 5\n");
        assert_eq!(second[0].wire_size, 5);
        assert_eq!(third[0].wire_size, 8);
        assert!(name_kept, "another program's file is never renamed");
        assert!(fourth.is_empty());
        assert_eq!(after, "");
        assert_eq!(tmp_left, 0);
    }

    #[test]
    fn malformed_lines_of_the_sizes_file_are_ignored() {
        let dir = scratch("malformed");
        let maildir = Maildir::open(&dir).unwrap();
        fs::write(dir.join("new/a b"), b"x\n").unwrap();
        fs::write(dir.join("new/c"), b"yy\n").unwrap();
        fs::write(
            dir.join(SIZES_FILE),
            b"a b 2 9\nc 3\nc x 4\n\xff\xfe 1 2\nno-numbers\n\n",
        )
        .unwrap();
        let listed = maildir.list().unwrap();
        let _ = fs::remove_dir_all(&dir);
        // "a b" was remembered (a name with a space); "c" had no valid line: counted.
        assert_eq!((listed[0].wire_size, listed[1].wire_size), (9, 4));
    }

    #[test]
    fn our_names_fit_a_pop3_unique_id_whatever_the_host_and_sizes() {
        let host = "a-very-long-host-name.example.org";
        let mut small = Sizes::default();
        small.count(b"x\r\n");
        let huge = Sizes {
            size: 1 << 40,
            ..Sizes::default()
        };
        let absurd = Sizes {
            size: u64::MAX / 2,
            ..Sizes::default()
        };
        for sizes in [small, huge, absurd] {
            let unique = unique_name(host);
            let name = stored_name(&unique, &sizes);
            assert!(name.len() <= MAX_UNIQUE, "{name}");
            let (parsed, named) = parse_name(&name);
            assert_eq!(parsed, name);
            if name != unique {
                assert_eq!(named.wire_size, Some(sizes.wire_size()), "{name}");
                assert!(name.starts_with(unique.get(..30).unwrap()), "{name}");
            }
        }
        // With room, nothing is cut.
        let unique = unique_name("h");
        assert_eq!(stored_name(&unique, &small), format!("{unique},S=3,W=3"));
        // Sizes that leave no room for the time and counter: the name alone.
        let unique = unique_name(host);
        assert_eq!(stored_name(&unique, &absurd), unique);
    }

    #[test]
    fn sweep_skips_entries_that_vanish_or_fail_and_goes_on() {
        let dir = scratch("sweep-errors");
        fs::create_dir_all(&dir).unwrap();
        let old = dir.join("old");
        fs::write(&old, b"debris").unwrap();
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(SystemTime::now() - Duration::from_secs(48 * 60 * 60))
            .unwrap();
        let entries = vec![
            Err(io::Error::other("readdir failed")),
            Ok(dir.join("vanished")),
            Ok(old.clone()),
        ];
        let removed = sweep(entries.into_iter(), STALE_TMP);
        let left = old.exists();
        let _ = fs::remove_dir_all(&dir);
        assert_eq!(removed, 1);
        assert!(!left);
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
