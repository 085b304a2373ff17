//! Durable files: a message file written through a buffer and created only when something
//! must reach the disk ([`NewFile`]), and directory syncs shared by the writers that need them
//! at the same time ([`DirSync`], a group commit).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use crate::maildir::sync_dir;

/// A [`NewFile`] keeps up to this much in memory before writing it out: a message of this
/// size or less costs one `open` and one `write` (and no blocking call while it arrives), a
/// larger one a `write` per this much.
pub const WRITE_BUFFER: usize = 64 * 1024;

/// A new file, written in pieces through a buffer of [`WRITE_BUFFER`] octets: created (never
/// over an existing file) when the buffer first fills or at [`sync`](Self::sync), so that
/// a small message reaches the disk in one `write`. Removed when dropped unless
/// [`keep`](Self::keep) was called.
pub struct NewFile {
    path: PathBuf,
    file: Option<File>,
    pending: Vec<u8>,
    kept: bool,
}

impl NewFile {
    /// A file to be created at `path`; nothing is touched yet.
    pub fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            pending: Vec::new(),
            kept: false,
        }
    }

    /// Where the file is (or will be).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether [`write`](Self::write)ing `len` more octets touches the disk (a caller on an
    /// async runtime hands the thread over only then).
    pub fn writes_through(&self, len: usize) -> bool {
        self.pending.len().saturating_add(len) >= WRITE_BUFFER
    }

    /// Appends `chunk`; writes the buffer out each time it holds [`WRITE_BUFFER`] octets
    /// (its capacity never grows beyond that).
    pub fn write(&mut self, mut chunk: &[u8]) -> io::Result<()> {
        loop {
            if self.pending.is_empty() && chunk.len() >= WRITE_BUFFER {
                return self.open()?.write_all(chunk);
            }
            let room = WRITE_BUFFER.saturating_sub(self.pending.len());
            let Some((now, rest)) = chunk.split_at_checked(room.min(chunk.len())) else {
                return Ok(());
            };
            let needed = self.pending.len() + now.len();
            if needed > self.pending.capacity() {
                // Doubling, as a Vec grows, but never past the limit.
                let grown = (self.pending.capacity() * 2).clamp(needed, WRITE_BUFFER.max(needed));
                self.pending.reserve_exact(grown - self.pending.len());
            }
            self.pending.extend_from_slice(now);
            if self.pending.len() >= WRITE_BUFFER {
                self.flush()?;
            }
            if rest.is_empty() {
                return Ok(());
            }
            chunk = rest;
        }
    }

    /// Writes out what is buffered (creating the file if need be).
    pub fn flush(&mut self) -> io::Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let written = self.open()?.write_all(&pending);
        // The buffer's room is kept for the next pieces.
        self.pending = pending;
        self.pending.clear();
        written
    }

    /// Writes out what is buffered and makes the file's content durable (`fdatasync(2)`:
    /// the data and the size, which is all a new file needs; its name is the directory's to
    /// sync).
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.open()?.sync_data()
    }

    /// Writes out what is buffered, then copies the rest of `source` into the file (by
    /// `copy_file_range(2)` where the kernel can).
    pub fn copy_from(&mut self, source: &mut File) -> io::Result<u64> {
        self.flush()?;
        io::copy(source, self.open()?)
    }

    /// Keeps the file when this value is dropped (it was renamed, or handed over).
    pub fn keep(&mut self) {
        self.kept = true;
    }

    fn open(&mut self) -> io::Result<&mut File> {
        let file = match self.file.take() {
            Some(file) => file,
            None => OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&self.path)?,
        };
        Ok(self.file.insert(file))
    }
}

impl Drop for NewFile {
    fn drop(&mut self) {
        if !self.kept && self.file.is_some() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// At most this many directories have a shared [`DirSync`] ([`shared`]); beyond, the table
/// starts again (a sync is then shared a little less, never skipped).
const MAX_SHARED: usize = 4096;

/// The [`DirSync`] of `dir` that every caller in the process shares, so that concurrent
/// deliveries into one Maildir share its syncs.
pub fn shared(dir: &Path) -> Arc<DirSync> {
    static TABLE: OnceLock<Mutex<HashMap<PathBuf, Arc<DirSync>>>> = OnceLock::new();
    let mut table = TABLE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(sync) = table.get(dir) {
        return sync.clone();
    }
    if table.len() >= MAX_SHARED {
        table.clear();
    }
    let sync = Arc::new(DirSync::new(dir.to_path_buf()));
    table.insert(dir.to_path_buf(), sync.clone());
    sync
}

/// The syncs of one directory, shared (a group commit): a writer asks for one once its change
/// (a rename, a removal) is made; a sync that begins after that covers it, whoever made it.
/// While one runs, the writers that come wait for it to end, and the first of them then syncs
/// for them all: with many writers, far fewer syncs than changes.
pub struct DirSync {
    dir: PathBuf,
    state: Mutex<SyncState>,
    /// Signalled when a sync ends.
    ended: Condvar,
}

#[derive(Default)]
struct SyncState {
    /// Changes made so far (each caller's ticket).
    changes: u64,
    /// Changes covered by the syncs that succeeded.
    synced: u64,
    /// Changes covered by syncs that failed.
    failed: u64,
    /// Whether a sync is under way.
    running: bool,
    /// Syncs made (tests).
    syncs: u64,
}

impl DirSync {
    pub fn new(dir: PathBuf) -> Self {
        Self {
            dir,
            state: Mutex::new(SyncState::default()),
            ended: Condvar::new(),
        }
    }

    /// Makes every change made to the directory before this call durable.
    pub fn sync(&self) -> io::Result<()> {
        self.sync_with(|| sync_dir(&self.dir))
    }

    /// [`sync`](Self::sync), with `sync` doing the syncing (tests).
    ///
    /// A sync that fails fails every writer it would have covered: on Linux a write-back
    /// error is reported once, so a second sync could succeed without the changes being on
    /// disk; each of them then undoes its change and answers 4yz.
    fn sync_with(&self, sync: impl Fn() -> io::Result<()>) -> io::Result<()> {
        let mut state = self.lock();
        state.changes += 1;
        let ticket = state.changes;
        loop {
            if state.synced >= ticket {
                return Ok(());
            }
            if state.failed >= ticket {
                return Err(io::Error::other(format!(
                    "syncing {} failed",
                    self.dir.display()
                )));
            }
            if !state.running {
                // Every change with a ticket so far was made before this sync begins.
                let covered = state.changes;
                state.running = true;
                state.syncs += 1;
                drop(state);
                // Whatever happens in `sync` (a panic too), the others are let go.
                let running = Running(self);
                let result = sync();
                let mut state = self.lock();
                if result.is_ok() {
                    state.synced = state.synced.max(covered);
                } else {
                    state.failed = state.failed.max(covered);
                }
                drop(state);
                drop(running);
                return result;
            }
            state = self
                .ended
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Syncs made so far (tests).
    #[cfg(test)]
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    fn lock(&self) -> MutexGuard<'_, SyncState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A sync under way: when it ends, however it ends, the writers waiting are told.
struct Running<'a>(&'a DirSync);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.lock().running = false;
        self.0.ended.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("po-files-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_small_file_is_created_only_when_synced_and_written_whole() {
        let dir = scratch("small");
        let path = dir.join("f");
        let mut file = NewFile::new(path.clone());
        file.write(b"Return-Path: <>\r\n").unwrap();
        file.write(b"\r\nbody\r\n").unwrap();
        assert!(!file.writes_through(WRITE_BUFFER - 26));
        assert!(file.writes_through(WRITE_BUFFER - 25));
        let before = path.exists();
        file.sync().unwrap();
        file.keep();
        drop(file);
        let content = fs::read(&path).unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert!(!before, "nothing on disk before the end");
        assert_eq!(content, b"Return-Path: <>\r\n\r\nbody\r\n");
    }

    #[test]
    fn a_large_file_reaches_the_disk_as_the_buffer_fills_whatever_the_pieces() {
        let dir = scratch("large");
        let message: Vec<u8> = (0..WRITE_BUFFER * 3 + 7).map(|i| (i % 251) as u8).collect();
        for piece in [
            1,
            1000,
            WRITE_BUFFER - 1,
            WRITE_BUFFER,
            WRITE_BUFFER * 2 + 5,
        ] {
            let path = dir.join(format!("f{piece}"));
            let mut file = NewFile::new(path.clone());
            let mut on_disk_early = false;
            for chunk in message.chunks(piece) {
                file.write(chunk).unwrap();
                on_disk_early |= path.exists();
            }
            // Never more than the buffer held back.
            let written = fs::metadata(&path).map_or(0, |m| m.len() as usize);
            assert!(message.len() - written < WRITE_BUFFER, "piece {piece}");
            file.sync().unwrap();
            file.keep();
            drop(file);
            assert!(on_disk_early, "piece {piece}");
            assert_eq!(fs::read(&path).unwrap(), message, "piece {piece}");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_buffer_never_holds_more_than_its_limit_whatever_the_pieces() {
        let dir = scratch("capacity");
        for (n, pieces) in [
            vec![1000; 200],
            vec![60_000, 60_000, 10],
            vec![65_535, 65_536, 3],
            vec![1, WRITE_BUFFER * 2, 5],
        ]
        .into_iter()
        .enumerate()
        {
            let path = dir.join(format!("f{n}"));
            let mut file = NewFile::new(path.clone());
            let mut expected = Vec::new();
            for (i, len) in pieces.into_iter().enumerate() {
                let piece = vec![i as u8; len];
                file.write(&piece).unwrap();
                expected.extend_from_slice(&piece);
                assert!(file.pending.capacity() <= WRITE_BUFFER, "case {n}");
            }
            file.sync().unwrap();
            file.keep();
            drop(file);
            assert_eq!(fs::read(&path).unwrap(), expected, "case {n}");
        }
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_file_dropped_unkept_is_removed_and_an_existing_one_is_never_overwritten() {
        let dir = scratch("drop");
        let path = dir.join("f");
        let mut file = NewFile::new(path.clone());
        file.write(&[b'x'; WRITE_BUFFER]).unwrap();
        let existed = path.exists();
        drop(file);
        let gone = !path.exists();
        fs::write(&path, b"someone else's").unwrap();
        let mut file = NewFile::new(path.clone());
        file.write(b"mine").unwrap();
        let refused = file.sync().is_err();
        drop(file);
        let kept = fs::read(&path).unwrap();
        let _ = fs::remove_dir_all(&dir);
        assert!(existed && gone);
        assert!(refused);
        assert_eq!(kept, b"someone else's");
    }

    #[test]
    fn every_caller_shares_one_sync_per_directory() {
        let a = shared(Path::new("/nonexistent/a"));
        let b = shared(Path::new("/nonexistent/b"));
        assert!(Arc::ptr_eq(&a, &shared(Path::new("/nonexistent/a"))));
        assert!(!Arc::ptr_eq(&a, &b));
    }

    /// A first caller holding a sync of a directory (until released), and `waiting` more callers
    /// who ask for one while it runs; the next sync after the first fails when `next_fails`: the
    /// results, the first caller's first, and the syncs made.
    fn around_a_sync(waiting: usize, next_fails: bool) -> (Vec<io::Result<()>>, u64) {
        use std::sync::Arc;
        use std::sync::atomic::AtomicBool;
        use std::sync::mpsc::channel;
        use std::thread;
        use std::time::{Duration, Instant};

        let sync = Arc::new(DirSync::new(PathBuf::from("unused")));
        let (started_tx, started_rx) = channel();
        let (release_tx, release_rx) = channel::<()>();
        let first = thread::spawn({
            let sync = sync.clone();
            move || {
                sync.sync_with(|| {
                    started_tx.send(()).unwrap();
                    release_rx.recv_timeout(Duration::from_secs(10)).unwrap();
                    Ok(())
                })
            }
        });
        started_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let fail = Arc::new(AtomicBool::new(next_fails));
        let others: Vec<_> = (0..waiting)
            .map(|_| {
                let (sync, fail) = (sync.clone(), fail.clone());
                thread::spawn(move || {
                    sync.sync_with(|| {
                        if fail.swap(false, Ordering::SeqCst) {
                            Err(io::Error::other("EIO"))
                        } else {
                            Ok(())
                        }
                    })
                })
            })
            .collect();
        // Until every one of them has made its change and asks.
        let deadline = Instant::now() + Duration::from_secs(10);
        while sync.lock().changes < 1 + waiting as u64 {
            assert!(Instant::now() < deadline, "the callers never asked");
            thread::sleep(Duration::from_millis(5));
        }
        release_tx.send(()).unwrap();
        let mut results = vec![first.join().unwrap()];
        results.extend(others.into_iter().map(|other| other.join().unwrap()));
        let syncs = sync.lock().syncs;
        (results, syncs)
    }

    #[test]
    fn writers_that_ask_during_a_sync_share_the_next_one() {
        let (results, syncs) = around_a_sync(5, false);
        assert!(results.iter().all(Result::is_ok));
        // The one under way began before their changes: it cannot count for them; one more does.
        assert_eq!(syncs, 2);
    }

    #[test]
    fn a_sync_that_failed_fails_every_writer_it_covered() {
        let (results, syncs) = around_a_sync(4, true);
        // The first caller's sync succeeded; the next one, made for the four others, failed:
        // all four hear of it (a retry could succeed without their changes on disk).
        assert!(results[0].is_ok());
        assert_eq!(results.iter().filter(|result| result.is_err()).count(), 4);
        assert_eq!(syncs, 2);
    }

    #[test]
    fn a_sync_that_panicked_lets_the_next_writer_sync() {
        let sync = Arc::new(DirSync::new(PathBuf::from("unused")));
        let panicked = std::thread::spawn({
            let sync = sync.clone();
            move || sync.sync_with(|| panic!("in the sync"))
        })
        .join();
        assert!(panicked.is_err());
        assert!(sync.sync_with(|| Ok(())).is_ok());
        assert_eq!(sync.lock().syncs, 2);
    }
}
