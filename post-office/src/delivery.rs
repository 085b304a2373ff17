//! Delivery of a received message: written to the spool as it arrives, then stored durably in
//! each recipient's Maildir before the server says 250.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use mail_io::smtp::ReversePath;

use crate::envelope::QueuedEnvelope;
use crate::files::NewFile;
use crate::maildir::{Incoming, Maildir, Sizes, count_file, unique_name};
use crate::queue::Queue;

/// Whether `path`'s file system has `needed` octets free and is writable (a file system
/// remounted read-only after an error takes nothing: better 452 before the message than 451
/// after it). When it cannot be told (statvfs fails), yes: a write that then fails still gets
/// its 4yz reply.
pub fn has_room(path: &Path, needed: u64) -> bool {
    if needed == 0 {
        return true;
    }
    match rustix::fs::statvfs(path) {
        Ok(stat) if stat.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY) => {
            warn!(path = %path.display(), "the data directory's file system is read-only");
            false
        }
        // Octets free for an unprivileged user: `f_bavail` blocks of `f_frsize` octets.
        Ok(stat) => stat.f_bavail.saturating_mul(stat.f_frsize) >= needed,
        Err(error) => {
            warn!(%error, "checking free disk space");
            true
        }
    }
}

/// A new spool and queue id: the Maildir convention's time, process and counter (a unique
/// name on this host, [`unique_name`]) in letters and digits only, so that it is an RFC 5321
/// `Atom` for the `id` of the `Received:` field, and a file name.
pub fn new_id() -> String {
    unique_name("")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect()
}

/// The fields above each stored copy (RFC 5321 4.4): `Return-Path:` (the reverse-path, `<>`
/// for the null one), then `Delivered-To:` (the recipient the copy is for, as common
/// practice since qmail and Postfix: it also lets a later hop see a loop).
pub fn delivery_fields(return_path: &ReversePath<'_>, delivered_to: &str) -> Vec<u8> {
    format!("Return-Path: {return_path}\r\nDelivered-To: {delivered_to}\r\n").into_bytes()
}

/// One local recipient of a message: the user (its Maildir) and the address as given in RCPT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRecipient {
    /// The user (lower case): `DATA/USER` is the Maildir.
    pub user: String,
    /// The recipient as the client gave it (`Delivered-To:`).
    pub address: String,
}

/// Where the relay queue takes a message over: [`Queue`] in the server, a stand-in in tests.
pub trait Enqueue {
    /// Takes over `message` (durable) for `envelope`'s recipients, durably before `Ok`.
    fn enqueue(&self, message: &Path, envelope: &QueuedEnvelope) -> io::Result<()>;
}

impl Enqueue for Queue {
    fn enqueue(&self, message: &Path, envelope: &QueuedEnvelope) -> io::Result<()> {
        Queue::enqueue(self, message, envelope)
    }
}

/// What the relay queue is given by [`Spool::deliver`].
#[derive(Clone, Copy, Default)]
pub struct Relay<'a> {
    /// The queue (none: nothing can be queued).
    pub queue: Option<&'a dyn Enqueue>,
    /// The envelope of the other domains' recipients, queued before anything is stored
    /// (`None`: there are none).
    pub remote: Option<&'a QueuedEnvelope>,
    /// One reply for the whole message (SMTP): the local recipients as the queue would hold
    /// them (one per local recipient, in order, under an id of their own), so that those that
    /// cannot be stored now are queued for the scheduler to store with retries; and nothing
    /// is stored when the queue does not take `remote`. `None` (LMTP): each recipient has its
    /// own reply, its own result.
    pub retry: Option<&'a QueuedEnvelope>,
}

/// How the delivery of one message went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// One per local recipient, in order: stored in its Maildir.
    pub local: Vec<bool>,
    /// Whether the queue took the message for the other recipients (`None`: there were none).
    pub queued: Option<bool>,
    /// Whether the local recipients not stored were queued, to be stored with retries
    /// ([`Relay::retry`]; false when every one was stored).
    pub retry_queued: bool,
}

/// A message being received, its trace field first: into `DATA/.spool/ID` (to be queued
/// and/or copied into Maildirs), or, when every recipient is one local user (the usual case),
/// straight into that user's Maildir, `Return-Path:` and `Delivered-To:` first
/// ([`for_user`](Self::for_user)): one file, written once, in its final place. Written through
/// a buffer ([`NewFile`]): a message of up to [`WRITE_BUFFER`](crate::files::WRITE_BUFFER)
/// octets reaches the disk in one `write` at the end. Whatever happens to the session, the
/// file does not outlive this value unless delivered: a broken connection leaves nothing
/// behind.
pub struct Spool {
    /// The spool and queue id (the `id` of the `Received:` field).
    id: String,
    place: Place,
}

/// Where a [`Spool`] writes.
enum Place {
    /// `DATA/.spool/ID`, and its sizes, counted as it is written (the Maildir file names
    /// carry them).
    Spool(NewFile, Sizes),
    /// The Maildir `tmp/` of the one local user every recipient names.
    Maildir { user: String, incoming: Incoming },
    /// Writing failed: the file is gone, the rest is ignored, delivery fails.
    Gone,
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

    /// A new, empty spool file `DATA/.spool/ID`, named with a new id ([`new_id`]); created
    /// when its first octets are written out.
    pub fn new(data: &Path) -> Self {
        let id = new_id();
        Self {
            place: Place::Spool(NewFile::new(Self::dir(data).join(&id)), Sizes::default()),
            id,
        }
    }

    /// A message for `user` alone, written straight into its Maildir (`DATA/USER/tmp/`),
    /// starting with `fields` (its `Return-Path:` and `Delivered-To:`, [`delivery_fields`]);
    /// it is never queued. When the Maildir cannot be opened, a spool file
    /// ([`new`](Self::new)) instead: its delivery fails or queues the user for a retry as any
    /// failed copy.
    pub fn for_user(data: &Path, hostname: &str, user: &str, fields: &[u8]) -> Self {
        match Maildir::open(data.join(user)) {
            Ok(maildir) => {
                let mut spool = Self {
                    id: new_id(),
                    place: Place::Maildir {
                        user: user.to_string(),
                        incoming: maildir.begin(hostname),
                    },
                };
                spool.write(fields);
                spool
            }
            Err(error) => {
                warn!(%error, user, "opening a Maildir");
                Self::new(data)
            }
        }
    }

    /// Whether the file can be expected to be created: its directory is there (looked at
    /// before the body is sent, so that a broken data directory gets 452 at DATA rather than
    /// 451 after the message).
    pub fn ready(&self) -> bool {
        match &self.place {
            Place::Spool(file, _) => file.path().parent().is_some_and(Path::is_dir),
            // Opened just now ([`for_user`](Self::for_user)).
            Place::Maildir { .. } => true,
            Place::Gone => false,
        }
    }

    /// The spool and queue id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The file (gone once [`deliver`](Self::deliver) returns); it holds what was written
    /// once [`flush`](Self::flush)ed.
    pub fn path(&self) -> &Path {
        match &self.place {
            Place::Spool(file, _) => file.path(),
            Place::Maildir { incoming, .. } => incoming.path(),
            Place::Gone => Path::new(""),
        }
    }

    /// Whether [`write`](Self::write)ing `len` more octets touches the disk (a caller on an
    /// async runtime hands the thread over only then).
    pub fn writes_through(&self, len: usize) -> bool {
        match &self.place {
            Place::Spool(file, _) => file.writes_through(len),
            Place::Maildir { incoming, .. } => incoming.writes_through(len),
            Place::Gone => false,
        }
    }

    /// Appends a piece of the message. When it cannot be written (a full disk, say) the file
    /// is removed, the rest of the message is ignored, and [`deliver`](Self::deliver) fails.
    pub fn write(&mut self, chunk: &[u8]) {
        let written = match &mut self.place {
            Place::Spool(file, sizes) => {
                sizes.count(chunk);
                file.write(chunk)
            }
            // The Maildir file counts its own sizes (the name carries them).
            Place::Maildir { incoming, .. } => incoming.write(chunk),
            Place::Gone => Ok(()),
        };
        self.fail_on(written);
    }

    /// Writes out what is buffered, so that the file at [`path`](Self::path) holds the
    /// message so far.
    pub fn flush(&mut self) {
        let flushed = match &mut self.place {
            Place::Spool(file, _) => file.flush(),
            Place::Maildir { incoming, .. } => incoming.flush(),
            Place::Gone => Ok(()),
        };
        self.fail_on(flushed);
    }

    fn fail_on(&mut self, result: io::Result<()>) {
        if let Err(error) = result {
            warn!(%error, id = %self.id, "writing a message file");
            // Nothing half-written stays: the file goes with its value.
            self.place = Place::Gone;
        }
    }

    /// Makes the message durable, hands it to the queue for the other domains' recipients
    /// ([`Relay::remote`]), then stores it in the Maildir of each local recipient
    /// (`DATA/USER`); with [`Relay::retry`] (one reply for all), nothing is stored when the
    /// queue did not take it, and the local recipients that could not be stored are queued:
    /// whatever the outcome, either nothing durable is made (the client's retry duplicates
    /// nothing) or every recipient is taken care of.
    ///
    /// Each user gets a file of its own, `Return-Path:` and `Delivered-To:` above the spool
    /// file's octets ([`delivery_fields`]): `tmp/`, fsync, `new/`, directory fsync; the user
    /// whose fields the spool file starts with gets the spool file itself (hard-linked: no
    /// copy, no second fsync of the data). One result per local recipient, in order (a user
    /// named twice gets one copy, with the first address, and two results).
    pub fn deliver(
        self,
        local: &[LocalRecipient],
        return_path: &ReversePath<'_>,
        data: &Path,
        hostname: &str,
        relay: Relay<'_>,
    ) -> Delivery {
        let failed = || Delivery {
            local: vec![false; local.len()],
            queued: relay.remote.map(|_| false),
            retry_queued: false,
        };
        let Self { id, place } = self;
        let (mut file, sizes) = match place {
            Place::Spool(file, sizes) => (file, sizes),
            Place::Maildir { user, incoming } => {
                return Self::deliver_direct(&id, &user, incoming, local, relay);
            }
            Place::Gone => return failed(),
        };
        if let Err(error) = file.sync() {
            warn!(%error, %id, "syncing a spool file");
            return failed();
        }
        let path = file.path();
        let enqueue = |envelope: &QueuedEnvelope| {
            let queued = match relay.queue {
                Some(queue) => queue.enqueue(path, envelope),
                None => Err(io::Error::other("no relay queue")),
            };
            queued
                .map_err(|error| warn!(%error, id = %envelope.id, "queueing failed"))
                .is_ok()
        };
        let queued = relay.remote.map(enqueue);
        let results = if relay.retry.is_some() && queued == Some(false) {
            // One reply for all, and it is 4yz: nothing stored, nothing for a retry to
            // duplicate.
            vec![false; local.len()]
        } else {
            store(path, &sizes, local, return_path, data, hostname)
        };
        let retry_queued = match relay.retry {
            Some(envelope) if results.contains(&false) => {
                if envelope.recipients.len() == local.len() {
                    let mut retry = envelope.clone();
                    retry.recipients = envelope
                        .recipients
                        .iter()
                        .zip(&results)
                        .filter(|(_, stored)| !**stored)
                        .map(|(recipient, _)| recipient.clone())
                        .collect();
                    queued != Some(false) && enqueue(&retry)
                } else {
                    warn!(%id, "the retry envelope does not match the local recipients");
                    false
                }
            }
            _ => false,
        };
        // The spool file goes with `file` (the queue and the Maildirs hold their own links
        // or copies); a crash before leaves it to [`Spool::clean`].
        drop(file);
        info!(
            %id,
            local = local.len(),
            queued = ?queued,
            retry_queued,
            "message stored"
        );
        Delivery {
            local: results,
            queued,
            retry_queued,
        }
    }

    /// The end of a message written straight into `user`'s Maildir ([`Spool::for_user`]):
    /// durable in `new/` ([`Incoming::finish`]), or nothing stored; never queued (its file
    /// starts with the user's delivery fields).
    fn deliver_direct(
        id: &str,
        user: &str,
        incoming: Incoming,
        local: &[LocalRecipient],
        relay: Relay<'_>,
    ) -> Delivery {
        if relay.remote.is_some() {
            warn!(%id, "a message for one local user has other recipients: not queued");
        }
        let stored = incoming
            .finish()
            .map_err(|error| warn!(%error, %id, user, "delivery failed"))
            .is_ok();
        info!(%id, local = local.len(), user, stored, "message stored");
        Delivery {
            local: vec![stored; local.len()],
            queued: relay.remote.map(|_| false),
            retry_queued: false,
        }
    }
}

/// Stores the (durable) spool file at `path` (of `sizes`) in each local recipient's Maildir:
/// one result per recipient, one copy per user.
fn store(
    path: &Path,
    sizes: &Sizes,
    local: &[LocalRecipient],
    return_path: &ReversePath<'_>,
    data: &Path,
    hostname: &str,
) -> Vec<bool> {
    let mut done: HashMap<&str, bool> = HashMap::new();
    let mut results = Vec::with_capacity(local.len());
    for recipient in local {
        let user = recipient.user.as_str();
        let ok = *done.entry(user).or_insert_with(|| {
            let fields = delivery_fields(return_path, &recipient.address);
            Maildir::open(data.join(user))
                .and_then(|maildir| maildir.deliver_with(&fields, path, hostname, sizes))
                .map_err(|error| warn!(%error, user, "delivery failed"))
                .is_ok()
        });
        results.push(ok);
    }
    results
}

/// Final delivery of a message the queue holds (a DSN to a local sender, say): `message` (a
/// durable file) stored in `user`'s Maildir under `data`, `Return-Path:` and `Delivered-To:`
/// above it (RFC 5321 4.4) as in [`Spool::deliver`]. Returns the stored name (the POP3
/// unique-id).
pub fn store_local(
    data: &Path,
    hostname: &str,
    user: &str,
    delivered_to: &str,
    return_path: &ReversePath<'_>,
    message: &Path,
) -> io::Result<String> {
    let sizes = count_file(message)?;
    let fields = delivery_fields(return_path, delivered_to);
    Maildir::open(data.join(user))?.deliver_with(&fields, message, hostname, &sizes)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::envelope::{QueuedRecipient, RecipientState};

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("po-delivery-{}-{name}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    /// A queue that records what it was given (the message as it was at that moment), and
    /// takes it or not.
    struct FakeQueue {
        takes: bool,
        seen: RefCell<Vec<(Vec<u8>, QueuedEnvelope)>>,
    }

    impl FakeQueue {
        fn new(takes: bool) -> FakeQueue {
            FakeQueue {
                takes,
                seen: RefCell::new(Vec::new()),
            }
        }
    }

    impl Enqueue for FakeQueue {
        fn enqueue(&self, message: &Path, envelope: &QueuedEnvelope) -> io::Result<()> {
            self.seen
                .borrow_mut()
                .push((fs::read(message)?, envelope.clone()));
            if self.takes {
                Ok(())
            } else {
                Err(io::Error::other("full"))
            }
        }
    }

    fn envelope(id: &str) -> QueuedEnvelope {
        QueuedEnvelope {
            id: id.into(),
            from: "<alice@a.example>".parse().unwrap(),
            parameters: "BODY=8BITMIME".parse().unwrap(),
            recipients: vec![QueuedRecipient {
                to: "<carol@c.example>".parse().unwrap(),
                parameters: "NOTIFY=FAILURE".parse().unwrap(),
                state: RecipientState::Pending {
                    attempts: 0,
                    next_attempt: 0,
                    last: None,
                },
            }],
            arrival: 0,
            received_from: "[127.0.0.1] (c.example)".into(),
        }
    }

    /// A scratch data directory named `name`, cleaned, and a spool created there.
    fn spool(name: &str) -> (PathBuf, Spool) {
        let data = scratch(name);
        Spool::clean(&data).unwrap();
        let spool = Spool::new(&data);
        (data, spool)
    }

    /// How many files are left in the spool directory.
    fn spool_left(data: &Path) -> usize {
        fs::read_dir(Spool::dir(data)).unwrap().count()
    }

    /// What [`Spool::deliver`] is given to relay through `queue`.
    fn relaying<'a>(
        queue: &'a FakeQueue,
        remote: Option<&'a QueuedEnvelope>,
        retry: Option<&'a QueuedEnvelope>,
    ) -> Relay<'a> {
        Relay {
            queue: Some(queue),
            remote,
            retry,
        }
    }

    /// Delivers `spool` from the null reverse-path to `users` (each as USER@ours.example).
    fn deliver_null(spool: Spool, data: &Path, users: &[&str], relay: Relay<'_>) -> Delivery {
        let local: Vec<LocalRecipient> = users
            .iter()
            .map(|user| local(user, &format!("{user}@ours.example")))
            .collect();
        spool.deliver(&local, &ReversePath::Null, data, "host", relay)
    }

    fn local(user: &str, address: &str) -> LocalRecipient {
        LocalRecipient {
            user: user.into(),
            address: address.into(),
        }
    }

    fn stored(data: &Path, user: &str) -> Vec<Vec<u8>> {
        let maildir = Maildir::open(data.join(user)).unwrap();
        let listed = maildir.list().unwrap();
        for message in &listed {
            let length = fs::metadata(&message.path).unwrap().len();
            assert!(
                message.unique.contains(&format!(",S={length},")),
                "{}",
                message.unique
            );
        }
        listed.iter().map(|m| fs::read(&m.path).unwrap()).collect()
    }

    #[test]
    fn each_user_gets_its_own_copy_with_return_path_and_delivered_to_and_the_rest_is_queued() {
        let (data, mut spool) = spool("deliver");
        let id = spool.id().to_string();
        assert!(id.chars().all(|c| c.is_ascii_alphanumeric()), "{id}");
        spool.write(b"Received: from x\r\n\tby y; date\r\n");
        spool.write(b"Subject: hi\r\n\r\nbare\rCR\r\n.dot\r\n");
        let queue = FakeQueue::new(true);
        let relayed = envelope(&id);
        let from: ReversePath<'static> = "<alice@a.example>".parse().unwrap();
        let delivery = spool.deliver(
            &[
                local("bob", "Bob@Ours.example"),
                local("dave", "dave@ours.example"),
                local("bob", "bob@other-name.example"),
            ],
            &from,
            &data,
            "host",
            relaying(&queue, Some(&relayed), None),
        );
        let message =
            b"Received: from x\r\n\tby y; date\r\nSubject: hi\r\n\r\nbare\rCR\r\n.dot\r\n";
        let bob = stored(&data, "bob");
        let dave = stored(&data, "dave");
        let spool_left = spool_left(&data);
        let _ = fs::remove_dir_all(&data);
        assert_eq!(
            delivery,
            Delivery {
                local: vec![true, true, true],
                queued: Some(true),
                retry_queued: false,
            }
        );
        let expect = |to: &str| {
            let mut bytes =
                format!("Return-Path: <alice@a.example>\r\nDelivered-To: {to}\r\n").into_bytes();
            bytes.extend_from_slice(message);
            bytes
        };
        assert_eq!(
            bob,
            vec![expect("Bob@Ours.example")],
            "one copy, the first address"
        );
        assert_eq!(dave, vec![expect("dave@ours.example")]);
        let seen = queue.seen.borrow();
        assert_eq!(seen.len(), 1);
        assert_eq!(seen[0].0, message, "the queue gets the message as received");
        assert_eq!(seen[0].1, relayed);
        assert_eq!(spool_left, 0);
    }

    #[test]
    fn a_message_for_one_user_is_written_once_straight_into_its_maildir() {
        let data = scratch("one-user");
        Spool::clean(&data).unwrap();
        let from: ReversePath<'static> = "<alice@a.example>".parse().unwrap();
        let fields = delivery_fields(&from, "Bob@ours.example");
        let mut spool = Spool::for_user(&data, "host", "bob", &fields);
        spool.write(b"Received: r\r\n");
        spool.write(b"\r\nbody\n");
        // A small message is still all in memory: no file yet, anywhere.
        let tmp = data.join("bob").join("tmp");
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
        assert_eq!(spool_left(&data), 0);
        let delivery = spool.deliver(
            &[
                local("bob", "Bob@ours.example"),
                local("bob", "bob@ours.example"),
            ],
            &from,
            &data,
            "host",
            Relay::default(),
        );
        let bob = stored(&data, "bob");
        let (tmp_left, spool_left) = (fs::read_dir(&tmp).unwrap().count(), spool_left(&data));
        let _ = fs::remove_dir_all(&data);
        assert_eq!(
            delivery,
            Delivery {
                local: vec![true, true],
                queued: None,
                retry_queued: false,
            }
        );
        assert_eq!((tmp_left, spool_left), (0, 0), "one file, moved into new/");
        assert_eq!(
            bob,
            vec![
                b"Return-Path: <alice@a.example>\r\nDelivered-To: Bob@ours.example\r\nReceived: r\r\n\r\nbody\n"
                    .to_vec()
            ]
        );
    }

    #[test]
    fn a_message_for_one_user_that_cannot_be_written_stores_nothing() {
        let data = scratch("one-user-broken");
        let mut spool = Spool::for_user(&data, "host", "bob", b"Return-Path: <>\r\n");
        spool.write(b"\r\nbody\r\n");
        // The Maildir's tmp/ vanishes before the end: the file cannot be created.
        fs::remove_dir(data.join("bob").join("tmp")).unwrap();
        let delivery = deliver_null(spool, &data, &["bob", "bob"], Relay::default());
        let new = fs::read_dir(data.join("bob").join("new")).unwrap().count();
        let _ = fs::remove_dir_all(&data);
        assert_eq!(delivery.local, vec![false, false]);
        assert_eq!(new, 0);
    }

    #[test]
    fn a_message_written_for_one_user_is_never_queued() {
        let data = scratch("fields-not-queued");
        let mut spool = Spool::for_user(
            &data,
            "host",
            "bob",
            b"Return-Path: <>\r\nDelivered-To: bob@x\r\n",
        );
        spool.write(b"\r\nbody\r\n");
        let queue = FakeQueue::new(true);
        let relayed = envelope(spool.id());
        let delivery = deliver_null(spool, &data, &[], relaying(&queue, Some(&relayed), None));
        let _ = fs::remove_dir_all(&data);
        assert_eq!(delivery.queued, Some(false));
        assert!(queue.seen.borrow().is_empty());
    }

    #[test]
    fn with_replies_per_recipient_a_failing_or_missing_queue_fails_the_relayed_part_only() {
        for queue in [Some(FakeQueue::new(false)), None] {
            let (data, mut spool) = spool("no-queue");
            spool.write(b"\r\nbody\r\n");
            let relayed = envelope(spool.id());
            let delivery = deliver_null(
                spool,
                &data,
                &["bob"],
                Relay {
                    queue: queue.as_ref().map(|q| q as &dyn Enqueue),
                    remote: Some(&relayed),
                    retry: None,
                },
            );
            let bob = stored(&data, "bob");
            let spool_left = spool_left(&data);
            let _ = fs::remove_dir_all(&data);
            assert_eq!(
                delivery,
                Delivery {
                    local: vec![true],
                    queued: Some(false),
                    retry_queued: false,
                }
            );
            assert_eq!(
                bob,
                vec![b"Return-Path: <>\r\nDelivered-To: bob@ours.example\r\n\r\nbody\r\n".to_vec()]
            );
            assert_eq!(spool_left, 0);
        }
    }

    /// The local recipients as [`Relay::retry`] gives them, under `id`.
    fn retry_envelope(id: &str, to: &[&str]) -> QueuedEnvelope {
        let mut retry = envelope(id);
        retry.recipients = to
            .iter()
            .map(|to| QueuedRecipient {
                to: to.parse().unwrap(),
                parameters: "NOTIFY=SUCCESS".parse().unwrap(),
                state: RecipientState::Pending {
                    attempts: 0,
                    next_attempt: 0,
                    last: None,
                },
            })
            .collect();
        retry
    }

    #[test]
    fn with_one_reply_a_queue_that_refuses_the_relayed_part_leaves_nothing_stored() {
        let (data, mut spool) = spool("one-reply-queue-fails");
        spool.write(b"\r\nbody\r\n");
        let queue = FakeQueue::new(false);
        let relayed = envelope(spool.id());
        let retry = retry_envelope(&format!("{}.retry", spool.id()), &["<bob@ours.example>"]);
        let delivery = deliver_null(
            spool,
            &data,
            &["bob"],
            relaying(&queue, Some(&relayed), Some(&retry)),
        );
        let bob = stored(&data, "bob");
        let spool_left = spool_left(&data);
        let _ = fs::remove_dir_all(&data);
        assert_eq!(
            delivery,
            Delivery {
                local: vec![false],
                queued: Some(false),
                retry_queued: false,
            }
        );
        assert!(
            bob.is_empty(),
            "no copy for the client's retry to duplicate"
        );
        assert_eq!(
            queue.seen.borrow().len(),
            1,
            "asked once, for the relayed part"
        );
        assert_eq!(spool_left, 0);
    }

    #[test]
    fn with_one_reply_local_recipients_that_cannot_be_stored_are_queued_after_the_relayed_part() {
        let (data, mut spool) = spool("one-reply-retry");
        // dave's Maildir cannot be made: a file is in its way.
        fs::write(data.join("dave"), b"not a directory").unwrap();
        let id = spool.id().to_string();
        spool.write(b"Subject: hi\r\n\r\nbody\r\n");
        let queue = FakeQueue::new(true);
        let relayed = envelope(&id);
        let retry = retry_envelope(
            &format!("{id}.retry"),
            &["<bob@ours.example>", "<dave@ours.example>"],
        );
        let delivery = deliver_null(
            spool,
            &data,
            &["bob", "dave"],
            relaying(&queue, Some(&relayed), Some(&retry)),
        );
        let bob = stored(&data, "bob");
        let _ = fs::remove_dir_all(&data);
        assert_eq!(
            delivery,
            Delivery {
                local: vec![true, false],
                queued: Some(true),
                retry_queued: true,
            }
        );
        assert_eq!(bob.len(), 1);
        let seen = queue.seen.borrow();
        assert_eq!(seen.len(), 2);
        assert_eq!(seen[0].1, relayed, "the relayed part first");
        assert_eq!(seen[1].0, b"Subject: hi\r\n\r\nbody\r\n", "as received");
        assert_eq!(seen[1].1.id, format!("{id}.retry"));
        let retried: Vec<String> = seen[1]
            .1
            .recipients
            .iter()
            .map(|r| r.to.to_string())
            .collect();
        assert_eq!(retried, ["<dave@ours.example>"], "only the one not stored");
    }

    #[test]
    fn with_one_reply_a_refused_retry_says_so() {
        let (data, mut spool) = spool("one-reply-retry-refused");
        fs::write(data.join("dave"), b"not a directory").unwrap();
        spool.write(b"\r\nbody\r\n");
        let queue = FakeQueue::new(false);
        let retry = retry_envelope(spool.id(), &["<bob@ours.example>", "<dave@ours.example>"]);
        let delivery = deliver_null(
            spool,
            &data,
            &["bob", "dave"],
            relaying(&queue, None, Some(&retry)),
        );
        let _ = fs::remove_dir_all(&data);
        assert_eq!(
            delivery,
            Delivery {
                local: vec![true, false],
                queued: None,
                retry_queued: false,
            }
        );
        assert_eq!(queue.seen.borrow().len(), 1);
    }

    #[test]
    fn a_spool_that_could_not_be_written_fails_every_recipient() {
        let (data, mut spool) = spool("broken");
        spool.write(b"x");
        // As after a failed write.
        spool.place = Place::Gone;
        let relayed = envelope(spool.id());
        let delivery = spool.deliver(
            &[local("bob", "bob@x")],
            &ReversePath::Null,
            &data,
            "host",
            Relay {
                queue: None,
                remote: Some(&relayed),
                retry: None,
            },
        );
        let _ = fs::remove_dir_all(&data);
        assert_eq!(
            delivery,
            Delivery {
                local: vec![false],
                queued: Some(false),
                retry_queued: false,
            }
        );
    }

    #[test]
    fn store_local_puts_return_path_and_delivered_to_above_the_queued_message() {
        let data = scratch("store-local");
        let message = data.join("queued");
        fs::write(&message, b"Received: a\r\n\r\nDSN\n").unwrap();
        let from: ReversePath<'static> = "<>".parse().unwrap();
        let name = store_local(
            &data,
            "host",
            "alice",
            "alice@ours.example",
            &from,
            &message,
        )
        .unwrap();
        let alice = stored(&data, "alice");
        let _ = fs::remove_dir_all(&data);
        let expected =
            b"Return-Path: <>\r\nDelivered-To: alice@ours.example\r\nReceived: a\r\n\r\nDSN\n";
        assert_eq!(alice, vec![expected.to_vec()]);
        // The bare LF counts one more octet on the wire.
        assert!(
            name.ends_with(&format!(",S={},W={}", expected.len(), expected.len() + 1)),
            "{name}"
        );
    }
}
