//! Delivery of a received message: written to the spool as it arrives, then stored durably in
//! each recipient's Maildir before the server says 250.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing::{info, warn};

use mail_io::smtp::ReversePath;

use crate::envelope::QueuedEnvelope;
use crate::maildir::{Maildir, Sizes, count_file, sync_dir, unique_name};
use crate::queue::Queue;

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

/// A message being received into `DATA/.spool/`, its trace field first. Whatever happens to
/// the session, the spool file does not outlive this value: a broken connection leaves
/// nothing behind.
pub struct Spool {
    /// The spool and queue id (the file's name, the `id` of the `Received:` field).
    id: String,
    path: PathBuf,
    /// `None` once writing failed (the file is gone then).
    file: Option<File>,
    /// Counted as it is written: the Maildir file names carry them.
    sizes: Sizes,
    /// The user whose `Return-Path:` and `Delivered-To:` the file starts with, if any
    /// ([`write_delivery_fields`](Self::write_delivery_fields)).
    fields_for: Option<String>,
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

    /// A new, empty spool file, named with a new id ([`new_id`]).
    pub fn create(data: &Path) -> io::Result<Self> {
        let id = new_id();
        let path = Self::dir(data).join(&id);
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)?;
        Ok(Self {
            id,
            path,
            file: Some(file),
            sizes: Sizes::default(),
            fields_for: None,
        })
    }

    /// Starts the file with `user`'s `Return-Path:` and `Delivered-To:` ([`delivery_fields`]):
    /// for a message whose recipients are all that one local user (the usual case), so that
    /// its Maildir copy is the spool file itself, hard-linked, not a copy. Only before
    /// anything else is written, and never for a message that goes to the queue.
    pub fn write_delivery_fields(&mut self, user: &str, fields: &[u8]) {
        if self.sizes.size() == 0 {
            self.write(fields);
            self.fields_for = Some(user.to_string());
        }
    }

    /// The spool and queue id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The spool file (gone once [`deliver`](Self::deliver) returns).
    pub fn path(&self) -> &Path {
        &self.path
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
        mut self,
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
        let Some(file) = self.file.take() else {
            return failed();
        };
        let synced = file.sync_all();
        drop(file);
        if let Err(error) = synced {
            warn!(%error, "syncing a spool file");
            let _ = fs::remove_file(&self.path);
            return failed();
        }
        let enqueue = |envelope: &QueuedEnvelope| {
            let queued = match relay.queue {
                // The queue takes the message as received, no fields of a local copy.
                _ if self.fields_for.is_some() => Err(io::Error::other(
                    "the spool file starts with a local user's delivery fields",
                )),
                Some(queue) => queue.enqueue(&self.path, envelope),
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
            self.store(local, return_path, data, hostname)
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
                    warn!(id = %self.id, "the retry envelope does not match the local recipients");
                    false
                }
            }
            _ => false,
        };
        let _ = fs::remove_file(&self.path);
        if let Some(parent) = self.path.parent() {
            let _ = sync_dir(parent);
        }
        info!(
            id = %self.id,
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

    /// Stores the (durable) spool file in each local recipient's Maildir: one result per
    /// recipient, one copy per user.
    fn store(
        &self,
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
                Maildir::open(data.join(user))
                    .and_then(|maildir| {
                        if self.fields_for.as_deref() == Some(user) {
                            // The spool file is this user's copy already.
                            maildir.deliver_file(&self.path, hostname, &self.sizes)
                        } else {
                            let fields = delivery_fields(return_path, &recipient.address);
                            maildir.deliver_with(&fields, &self.path, hostname, &self.sizes)
                        }
                    })
                    .map_err(|error| warn!(%error, user, "delivery failed"))
                    .is_ok()
            });
            results.push(ok);
        }
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
        let spool = Spool::create(&data).unwrap();
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
    fn a_message_for_one_user_is_stored_as_the_spool_file_itself() {
        let (data, mut spool) = spool("one-user");
        let from: ReversePath<'static> = "<alice@a.example>".parse().unwrap();
        let fields = delivery_fields(&from, "Bob@ours.example");
        spool.write_delivery_fields("bob", &fields);
        spool.write(b"Received: r\r\n");
        // Too late for another user's fields: ignored.
        spool.write_delivery_fields("dave", b"X: y\r\n");
        spool.write(b"\r\nbody\n");
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
        let _ = fs::remove_dir_all(&data);
        assert_eq!(
            delivery,
            Delivery {
                local: vec![true, true],
                queued: None,
                retry_queued: false,
            }
        );
        assert_eq!(
            bob,
            vec![
                b"Return-Path: <alice@a.example>\r\nDelivered-To: Bob@ours.example\r\nReceived: r\r\n\r\nbody\n"
                    .to_vec()
            ]
        );
    }

    #[test]
    fn a_spool_with_a_users_fields_is_never_queued() {
        let (data, mut spool) = spool("fields-not-queued");
        spool.write_delivery_fields("bob", b"Return-Path: <>\r\nDelivered-To: bob@x\r\n");
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
        spool.file = None;
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
