//! The SMTP, submission, SMTPS and LMTP listeners' policy: which recipients are taken (local
//! users, and other domains' for clients that may relay), who may authenticate, the trace
//! field each message gets (RFC 5321 4.4), mail loops (6.3), when a message counts as delivered
//! (LMTP: per recipient) or queued, and `--sink`.

use std::net::SocketAddr;
use std::sync::Arc;

use mail_io::smtp::{
    Answer, Bytes, Credentials, Domain, EnhancedStatus, ForwardPath, Greeting, Handler, Host,
    MailParameters, Mechanism, RcptParameters, Reply, ReplyCode, ReversePath, ServerConfig,
    ServerMechanisms, SessionInfo, Timeouts, reply,
};
use tracing::{info, warn};

use crate::auth::{self, Protocol, Verdict};
use crate::delivery::{Delivery, Enqueue, LocalRecipient, Relay, Spool, delivery_fields, has_room};
use crate::dsn;
use crate::envelope::{
    self, Outcome, OutcomeKind, QueuedEnvelope, QueuedRecipient, RecipientState,
};
use crate::queue::{self, Queue};
use crate::serve::Office;
use crate::trace::{self, HopCounter, Received};

/// The machine's settings for one listener.
pub fn config(office: &Office, lmtp: bool, submission: bool) -> anyhow::Result<ServerConfig> {
    let hostname = Domain::new(office.hostname.clone()).or_else(|_| Domain::new("localhost"))?;
    Ok(ServerConfig {
        hostname: hostname.into_owned(),
        lmtp,
        sasl_mechanisms: ServerMechanisms::new().plain().login(),
        auth_without_tls: office.plaintext_login,
        auth_required: submission,
        max_message_size: Some(office.max_message_size),
        timeouts: Timeouts {
            command: office.command_timeout,
            data_block: office.command_timeout.min(Timeouts::default().data_block),
            ..Timeouts::default()
        },
        // RFC 8689: offered under TLS only (the machine's rule); a REQUIRETLS message leaves
        // only over verified TLS to a hop the operator named (`relay::deliver`).
        require_tls: true,
        // STARTTLS and implicit TLS follow the listener's `ServeOptions`.
        ..ServerConfig::default()
    })
}

/// One SMTP or LMTP session.
pub struct Session {
    office: Arc<Office>,
    peer: SocketAddr,
    lmtp: bool,
    /// Under TLS (implicit, or after STARTTLS): `S` in the `with` keyword.
    tls: bool,
    /// What the client said in HELO / EHLO / LHLO (forgotten at STARTTLS, RFC 3207 4.2).
    hello: Option<(Greeting, Host<'static>)>,
    /// The client authenticated (forgotten at STARTTLS): `A` in the `with` keyword, and it may
    /// relay.
    authenticated: bool,
    /// Boxed: a few hundred octets that every idle connection would hold otherwise.
    transaction: Option<Box<Transaction>>,
}

/// The message being received.
struct Transaction {
    /// MAIL FROM: `Return-Path:` of each copy, the queued envelope's sender.
    from: ReversePath<'static>,
    /// MAIL FROM's parameters, queued as received.
    parameters: MailParameters<'static>,
    /// The recipients accepted, in RCPT order (duplicates kept for LMTP's per-recipient
    /// replies).
    recipients: Vec<Accepted>,
    /// Where the message goes as it arrives (none in `--sink` mode, or when it could not be
    /// opened).
    spool: Option<Spool>,
    /// The `Received:` fields the message arrived with (RFC 5321 6.3).
    hops: HopCounter,
}

/// A recipient accepted at RCPT.
struct Accepted {
    to: ForwardPath<'static>,
    parameters: RcptParameters<'static>,
    /// The local user it names; `None`: another domain's, for the relay queue.
    user: Option<String>,
}

impl Session {
    /// A session described by `info` (the client, the listener, implicit TLS).
    pub fn new(office: Arc<Office>, info: &SessionInfo) -> Self {
        Self {
            office,
            peer: info.peer,
            lmtp: info.lmtp,
            tls: info.implicit_tls,
            hello: None,
            authenticated: false,
            transaction: None,
        }
    }

    /// Our `Received:` field for the message `transaction` is about to receive, with `id`.
    fn received(&self, transaction: &Transaction, id: &str) -> Vec<u8> {
        let protocol = trace::protocol(
            self.lmtp,
            self.hello.as_ref().map(|(greeting, _)| *greeting),
            self.tls,
            self.authenticated,
            transaction.parameters.smtputf8,
        );
        let recipient = match transaction.recipients.as_slice() {
            [one] => Some(&one.to),
            _ => None,
        };
        // The name the greeting gives ([`config`]): never anything a header cannot hold.
        let by = Domain::new(self.office.hostname.as_str())
            .map_or_else(|_| "localhost".to_string(), |domain| domain.to_string());
        Received {
            helo: self.hello.as_ref().map(|(_, host)| host),
            peer: self.peer.ip(),
            by: &by,
            protocol: &protocol,
            id,
            recipient,
            at: envelope::now(),
        }
        .field()
    }

    /// Queues the message for the other domains' recipients, then stores it for every local
    /// one, durably ([`Spool::deliver`]). SMTP: 250 once every recipient is stored or queued
    /// (a local one that cannot be stored now is queued, for the scheduler to store with
    /// retries); 451 4.3.0 otherwise, and then nothing durable was made, so that the client's
    /// retry duplicates nothing (unless the queue failed between two writes: see
    /// [`one_reply`]). LMTP: one reply per recipient, 250 for those stored or queued.
    async fn deliver(&self, transaction: Transaction) -> Answer {
        let Transaction {
            from,
            parameters,
            recipients,
            spool,
            ..
        } = transaction;
        let Some(mut spool) = spool else {
            // `--sink`: nothing to store.
            return Answer::Accept;
        };
        let local: Vec<LocalRecipient> = recipients
            .iter()
            .filter_map(|accepted| {
                Some(LocalRecipient {
                    user: accepted.user.clone()?,
                    address: delivered_to(&accepted.to),
                })
            })
            .collect();
        let received_from = received_from(self.peer, self.hello.as_ref().map(|(_, host)| host));
        let now = envelope::now();
        let id = spool.id().to_string();
        let remote = queued_envelope(
            &id,
            &from,
            &parameters,
            &recipients,
            &received_from,
            now,
            false,
        );
        // SMTP: the local recipients that cannot be stored now go to the queue, under an id
        // of their own when the others are queued under the message's.
        let retry_id = match remote {
            Some(_) => format!("{id}.retry"),
            None => id.clone(),
        };
        let retry = (!self.lmtp)
            .then(|| {
                queued_envelope(
                    &retry_id,
                    &from,
                    &parameters,
                    &recipients,
                    &received_from,
                    now,
                    true,
                )
            })
            .flatten();
        // The header section for a report of local deliveries, read while the spool file is
        // there, only when a recipient asked for one.
        let wants_report = from != ReversePath::Null
            && recipients.iter().any(|accepted| {
                accepted.user.is_some()
                    && accepted
                        .parameters
                        .notify
                        .is_some_and(smtp_proto::types::Notify::success)
            });
        let headers = wants_report
            .then(|| {
                tokio::task::block_in_place(|| {
                    spool.flush();
                    dsn::read_headers(spool.path()).ok()
                })
            })
            .flatten();
        // On the blocking pool: the worker thread goes on with the other sessions meanwhile
        // (no hand-over of the runtime, as `block_in_place` makes).
        let office = Arc::clone(&self.office);
        let return_path = from.clone();
        let local_count = local.len();
        let delivered = tokio::task::spawn_blocking(move || {
            let relay = Relay {
                queue: office.queue.as_ref().map(|queue| queue as &dyn Enqueue),
                remote: remote.as_ref(),
                retry: retry.as_ref(),
            };
            spool.deliver(&local, &return_path, &office.data, &office.hostname, relay)
        })
        .await;
        let delivery = delivered.unwrap_or_else(|error| {
            // Nothing panics there; if it did, the client hears 4yz (a retry may duplicate).
            warn!(%error, %id, "delivery task failed");
            Delivery {
                local: vec![false; local_count],
                queued: Some(false),
                retry_queued: false,
            }
        });
        let taken = per_recipient(&recipients, &delivery);
        let answered = if self.lmtp {
            taken.iter().map(|taken| *taken != Taken::No).collect()
        } else {
            vec![one_reply(&id, &taken); taken.len()]
        };
        if let Some(headers) = headers {
            // Those stored here and answered 250 (the queue reports those it stores).
            let stored: Vec<bool> = taken
                .iter()
                .zip(&answered)
                .map(|(taken, ok)| *ok && *taken == Taken::Stored)
                .collect();
            self.report_local(&id, &from, &parameters, &recipients, &stored, &headers);
        }
        if self.lmtp {
            let replies = answered.into_iter().map(|ok| {
                if ok {
                    reply(ReplyCode::OK, EnhancedStatus::SUCCESS, "Delivered")
                } else {
                    not_stored()
                }
            });
            return Answer::PerRecipient(replies.collect());
        }
        if answered.first().copied().unwrap_or(true) {
            Answer::Accept
        } else {
            Answer::Reply(not_stored())
        }
    }
}

impl Session {
    /// RFC 3461 5.2.3 (a): the "delivered" DSN of the local recipients stored that asked for
    /// one (NOTIFY=SUCCESS), queued for the sender. Once the message is stored, so a DSN
    /// that cannot be queued is logged, not a reason to take the message again.
    fn report_local(
        &self,
        id: &str,
        from: &ReversePath<'static>,
        parameters: &MailParameters<'static>,
        recipients: &[Accepted],
        done: &[bool],
        headers: &[u8],
    ) {
        let Some(queue) = &self.office.queue else {
            return;
        };
        let received_from = received_from(self.peer, self.hello.as_ref().map(|(_, host)| host));
        let now = envelope::now();
        let Some(report) =
            local_report(id, from, parameters, recipients, done, &received_from, now)
        else {
            return;
        };
        let indices: Vec<usize> = (0..report.recipients.len()).collect();
        let hostname = &self.office.hostname;
        let queued = tokio::task::block_in_place(|| {
            let built = dsn::build_from(
                hostname,
                &report,
                &indices,
                dsn::Original::Headers(headers),
                now,
            )?;
            match built {
                Some((content, notification)) => queue.enqueue_content(&content, &notification),
                None => Ok(()),
            }
        });
        match queued {
            Ok(()) => info!(id, recipients = indices.len(), "delivery DSN queued"),
            Err(error) => warn!(id, %error, "queueing a delivery DSN failed"),
        }
    }
}

/// What a report of local deliveries covers (RFC 3461 5.2.3 (a)): the local recipients
/// stored (`done`, in RCPT order) that asked for NOTIFY=SUCCESS, delivered here, under an id
/// of its own (`ID.local`: the queue's reports of the same message are `ID.dsnN`). `None`
/// when there are none, or for the null reverse-path.
fn local_report(
    id: &str,
    from: &ReversePath<'static>,
    parameters: &MailParameters<'static>,
    recipients: &[Accepted],
    done: &[bool],
    received_from: &str,
    now: u64,
) -> Option<QueuedEnvelope> {
    let reported: Vec<QueuedRecipient> = recipients
        .iter()
        .zip(done)
        .filter(|(accepted, stored)| **stored && accepted.user.is_some())
        .map(|(accepted, _)| QueuedRecipient {
            to: accepted.to.clone(),
            parameters: accepted.parameters.clone(),
            state: RecipientState::Done {
                outcome: Outcome {
                    kind: OutcomeKind::Delivered {
                        dsn_passed_on: true,
                    },
                    status: "2.0.0".into(),
                    remote_mta: None,
                    diagnostic: None,
                    at: now,
                },
                reported: false,
            },
        })
        .collect();
    let mut report = QueuedEnvelope {
        id: format!("{id}.local"),
        from: from.clone(),
        parameters: parameters.clone(),
        recipients: reported,
        arrival: now,
        received_from: received_from.to_string(),
    };
    // Only the recipients that asked (and never for `<>`: [`dsn::wanted`]).
    let asked: Vec<QueuedRecipient> = report
        .recipients
        .iter()
        .filter(|recipient| dsn::wanted(&report, recipient))
        .cloned()
        .collect();
    report.recipients = asked;
    (!report.recipients.is_empty()).then_some(report)
}

/// The one local user every recipient names, and the first recipient's address, if that is
/// what `recipients` are (no other domain's among them).
fn sole_user(recipients: &[Accepted]) -> Option<(&str, String)> {
    let first = recipients.first()?;
    let user = first.user.as_deref()?;
    recipients
        .iter()
        .all(|accepted| accepted.user.as_deref() == Some(user))
        .then(|| (user, delivered_to(&first.to)))
}

/// The recipient as `Delivered-To:` names it: the address, `postmaster` for `<Postmaster>`.
fn delivered_to(to: &ForwardPath<'_>) -> String {
    to.mailbox()
        .map_or_else(|| "postmaster".to_string(), ToString::to_string)
}

/// What became of a recipient at the end of DATA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Taken {
    /// A local recipient, stored in its Maildir.
    Stored,
    /// In the queue: another domain's, or a local one to be stored with retries.
    Queued,
    /// Neither.
    No,
}

/// What became of each recipient, in RCPT order: a local one stored in its Maildir (or
/// queued when it could not be), another domain's in the queue.
fn per_recipient(recipients: &[Accepted], delivery: &Delivery) -> Vec<Taken> {
    let mut stored = delivery.local.iter();
    let queued = |yes: bool| if yes { Taken::Queued } else { Taken::No };
    recipients
        .iter()
        .map(|accepted| match accepted.user {
            Some(_) => match stored.next() {
                Some(true) => Taken::Stored,
                Some(false) => queued(delivery.retry_queued),
                None => Taken::No,
            },
            None => queued(delivery.queued.unwrap_or(false)),
        })
        .collect()
}

/// SMTP's one reply for the message: 250 when every recipient is stored or queued. Otherwise
/// 451, which [`Spool::deliver`] makes sure follows nothing durable, except when the queue
/// took one part and then failed to take the local recipients not stored: 451 then (the
/// client's retry duplicates the copies made) rather than 250 for a copy never made.
fn one_reply(id: &str, taken: &[Taken]) -> bool {
    if taken.iter().all(|taken| *taken != Taken::No) {
        return true;
    }
    if taken.iter().any(|taken| *taken != Taken::No) {
        warn!(
            id,
            "part of the message was stored or queued, not all: a retry duplicates it"
        );
    }
    false
}

/// The queue's envelope for the recipients of other domains among `recipients` (or, `local`,
/// for the local ones), if there are any: each `Pending`, to be tried at once; parameters as
/// received.
fn queued_envelope(
    id: &str,
    from: &ReversePath<'static>,
    parameters: &MailParameters<'static>,
    recipients: &[Accepted],
    received_from: &str,
    now: u64,
    local: bool,
) -> Option<QueuedEnvelope> {
    let remote: Vec<QueuedRecipient> = recipients
        .iter()
        .filter(|accepted| accepted.user.is_some() == local)
        .map(|accepted| QueuedRecipient {
            to: accepted.to.clone(),
            parameters: accepted.parameters.clone(),
            state: RecipientState::Pending {
                attempts: 0,
                next_attempt: now,
                last: None,
            },
        })
        .collect();
    (!remote.is_empty()).then(|| QueuedEnvelope {
        id: id.to_string(),
        from: from.clone(),
        parameters: parameters.clone(),
        recipients: remote,
        arrival: now,
        received_from: received_from.to_string(),
    })
}

/// The client as a DSN names it (RFC 3464 2.2.4 `Received-From-MTA`): `[192.0.2.1]
/// (client.example)`, its address and the name it gave.
fn received_from(peer: SocketAddr, helo: Option<&Host<'static>>) -> String {
    let address = trace::address_literal(peer.ip());
    match helo {
        Some(helo) => format!("{address} ({helo})"),
        None => address,
    }
}

/// 554 5.4.6 (RFC 5321 6.3, RFC 3463 3.5 "Routing loop detected"): the message came with more
/// `Received:` fields than `--max-received`.
fn too_many_hops() -> Answer {
    let status = EnhancedStatus::new(5, 4, 6).unwrap_or(EnhancedStatus::PERMANENT_FAILURE);
    Answer::Reply(reply(
        ReplyCode::TRANSACTION_FAILED,
        status,
        "Too many hops (mail loop)",
    ))
}

/// 554 5.7.1: a recipient of another domain, from a client that may not relay (Postfix's
/// answer).
fn relay_denied() -> Answer {
    Answer::Reply(reply(
        ReplyCode::TRANSACTION_FAILED,
        EnhancedStatus::NOT_AUTHORIZED,
        "Relay access denied",
    ))
}

/// 550 5.1.1: no such local user.
fn no_such_user() -> Answer {
    Answer::Reply(reply(
        ReplyCode::MAILBOX_UNAVAILABLE,
        EnhancedStatus::BAD_DESTINATION_MAILBOX,
        "No such user here",
    ))
}

/// 452 4.3.1: the disk is too full to take a message now (Postfix's `queue_minfree`).
fn no_room() -> Answer {
    Answer::Reply(reply(
        ReplyCode::INSUFFICIENT_STORAGE,
        EnhancedStatus::SYSTEM_FULL,
        "Insufficient system storage",
    ))
}

/// Whether the relay queue can take one more message now: there is one, under its cap
/// ([`queue::MAX_MESSAGES`]), and its directories can be written.
fn queue_has_room(queue: Option<&Queue>) -> bool {
    use rustix::fs::{Access, access};
    queue.is_some_and(|queue| {
        queue.len() < queue::MAX_MESSAGES
            && ["tmp", "msg", "env"].iter().all(|sub| {
                access(queue.dir().join(sub), Access::WRITE_OK | Access::EXEC_OK).is_ok()
            })
    })
}

/// 451: try again later.
fn not_stored() -> Reply<'static> {
    reply(
        ReplyCode::LOCAL_ERROR,
        EnhancedStatus::SYSTEM_TRANSIENT,
        "Could not store the message",
    )
}

impl Handler for Session {
    /// Any name: it is only recorded, for the `Received:` field (RFC 5321 4.1.4: a server
    /// MUST NOT refuse a message because the name does not match the address).
    async fn hello(&mut self, greeting: Greeting, host: Host<'static>) -> Answer {
        self.hello = Some((greeting, host));
        Answer::Accept
    }

    /// A transaction, unless the disk has less than `--min-free` octets free (plus the size
    /// the client declared, RFC 1870): then 452 4.3.1 before anything is sent.
    async fn mail_from(
        &mut self,
        from: ReversePath<'static>,
        parameters: MailParameters<'static>,
    ) -> Answer {
        let office = &self.office;
        let needed = office
            .min_free
            .saturating_add(parameters.size.unwrap_or_default());
        if !office.sink && office.min_free > 0 && !has_room(&office.data, needed) {
            return no_room();
        }
        self.transaction = Some(Box::new(Transaction {
            from,
            parameters,
            recipients: Vec::new(),
            spool: None,
            hops: HopCounter::new(),
        }));
        Answer::Accept
    }

    /// A local user of one of our domains (`--domain`; every domain is ours without it), or
    /// 550 5.1.1; `<Postmaster>` and `postmaster@` our domains are the `--postmaster` user's
    /// (RFC 5321 4.5.1). A recipient of another domain, for the relay queue, only from a client that
    /// authenticated or is in a `--relay-network`; 554 5.7.1 otherwise (RFC 5321 3.6.1:
    /// servers MAY decline to act as relays; 7.9), and 452 4.3.1 (RFC 5321 4.5.3.1.10) when
    /// the queue cannot take a message now. Source routes were dropped by the parser
    /// (RFC 5321 C: ignored), and `%` or a quoted `@` in the local part are part of the local
    /// part (RFC 5321 2.4): the domain after the last `@` decides. Anything in `--sink` mode.
    async fn rcpt_to(
        &mut self,
        to: ForwardPath<'static>,
        parameters: RcptParameters<'static>,
    ) -> Answer {
        let office = &self.office;
        if office.sink {
            return Answer::Accept;
        }
        let user = match to.mailbox() {
            // `<Postmaster>`: always taken (RFC 5321 4.5.1).
            None => Some(office.postmaster().to_string()),
            Some(mailbox) if office.local_domain(mailbox.host()) => {
                match office.local_user(mailbox) {
                    Some(user) => Some(user),
                    None => return no_such_user(),
                }
            }
            Some(_) if self.authenticated || office.may_relay(self.peer.ip()) => {
                if !queue_has_room(office.queue.as_ref()) {
                    // RFC 5321 4.5.3.1.10: this recipient, not the transaction.
                    info!(to = %to, "the relay queue cannot take a message now");
                    return no_room();
                }
                None
            }
            Some(_) => {
                info!(peer = %self.peer.ip().to_canonical(), to = %to, "relay access denied");
                return relay_denied();
            }
        };
        if let Some(transaction) = &mut self.transaction {
            transaction.recipients.push(Accepted {
                to,
                parameters,
                user,
            });
        }
        Answer::Accept
    }

    /// Starts the message's file ([`Spool`]: straight into the Maildir when every recipient is
    /// one local user, else the spool), or answers 452 when the disk has less than
    /// `--min-free` octets free, or when the file's directory is missing (4.3.1, before the
    /// body is sent). Nothing is written yet: a small message is written in one go at its end.
    async fn data_start(&mut self) -> Answer {
        let office = &self.office;
        let Some(transaction) = &self.transaction else {
            return Answer::Accept;
        };
        if office.sink {
            return Answer::Accept;
        }
        if !has_room(&office.data, office.min_free) {
            return no_room();
        }
        // The message starts with our trace field (RFC 5321 4.4); when it goes to one local
        // user alone, with that copy's Return-Path and Delivered-To above it.
        let mut spool = match sole_user(&transaction.recipients) {
            Some((user, address)) => Spool::for_user(
                &office.data,
                &office.hostname,
                user,
                &delivery_fields(&transaction.from, &address),
            ),
            None => Spool::new(&office.data),
        };
        if !spool.ready() {
            warn!(path = %spool.path().display(), "no directory for a message file");
            return Answer::Reply(reply(
                ReplyCode::INSUFFICIENT_STORAGE,
                EnhancedStatus::SYSTEM_FULL,
                "Cannot store messages now",
            ));
        }
        let received = self.received(transaction, spool.id());
        spool.write(&received);
        if let Some(transaction) = &mut self.transaction {
            transaction.spool = Some(spool);
        }
        Answer::Accept
    }

    async fn body(&mut self, chunk: Bytes) {
        if let Some(Transaction {
            spool: Some(spool),
            hops,
            ..
        }) = self.transaction.as_deref_mut()
        {
            hops.feed(&chunk);
            // Buffered: the thread is handed over only when the piece reaches the disk.
            if spool.writes_through(chunk.len()) {
                tokio::task::block_in_place(|| spool.write(&chunk));
            } else {
                spool.write(&chunk);
            }
        }
    }

    /// 554 5.4.6 when the message came with more than `--max-received` `Received:` fields
    /// (RFC 5321 6.3); otherwise stored and queued ([`Session::deliver`]).
    async fn message_end(&mut self, _size: u64, _recipients: usize) -> Answer {
        let Some(transaction) = self.transaction.take() else {
            return Answer::Accept;
        };
        let hops = transaction.hops.count();
        if transaction.spool.is_some() && hops > self.office.max_received {
            info!(peer = %self.peer.ip().to_canonical(), hops, "mail loop: message refused");
            return too_many_hops();
        }
        // Boxed: what the delivery holds while it waits (over 1 KiB) would otherwise be part
        // of every session's task, idle or not.
        Box::pin(self.deliver(*transaction)).await
    }

    fn message_rejected(&mut self, _: mail_io::smtp::BodyError) {
        self.transaction = None;
    }

    fn transaction_reset(&mut self) {
        self.transaction = None;
    }

    /// A known user with the right password, acting as nobody else (no PLAIN authzid for
    /// another user); after the address's penalty delay, and refused at once (454 4.7.0,
    /// RFC 4954 6) after too many failures ([`crate::auth`]).
    async fn authenticate(
        &mut self,
        mechanism: Mechanism<'static>,
        credentials: Credentials,
    ) -> Answer {
        let own = credentials
            .authzid()
            .is_none_or(|authzid| Some(authzid) == credentials.username());
        let user = credentials
            .username()
            .or_else(|| credentials.authzid())
            .unwrap_or_default();
        let verdict = auth::check_login(
            &self.office,
            Protocol::Smtp,
            self.peer.ip(),
            user,
            mechanism.as_str(),
            |password| credentials.verify_password(password) & own,
        )
        .await;
        match verdict {
            Verdict::Accepted => {
                self.authenticated = true;
                Answer::Accept
            }
            Verdict::Rejected => Answer::Reply(reply(
                ReplyCode::AUTH_CREDENTIALS_INVALID,
                EnhancedStatus::AUTH_CREDENTIALS_INVALID,
                "Authentication credentials invalid",
            )),
            Verdict::Refused => Answer::Reply(reply(
                ReplyCode::TEMPORARY_TLS_OR_AUTH_FAILURE,
                EnhancedStatus::SECURITY_TRANSIENT,
                "Too many failed logins, try again later",
            )),
        }
    }

    /// RFC 3207 4.2: the session starts over under TLS; what the client said before is
    /// forgotten.
    fn tls_established(&mut self) {
        self.tls = true;
        self.hello = None;
        self.authenticated = false;
    }

    fn closed(&mut self, error: Option<&mail_io::Error>) {
        // A message cut off is dropped with its spool file.
        self.transaction = None;
        if let Some(error) = error {
            info!(peer = %self.peer, lmtp = self.lmtp, "session ended: {error}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use super::*;

    fn accepted(to: &str, parameters: &str, user: Option<&str>) -> Accepted {
        Accepted {
            to: to.parse().unwrap(),
            parameters: parameters.parse().unwrap(),
            user: user.map(str::to_string),
        }
    }

    #[test]
    fn other_domains_recipients_are_queued_pending_with_the_envelope_as_received() {
        let from: ReversePath<'static> = "<alice@ours.example>".parse().unwrap();
        let parameters: MailParameters<'static> =
            "SIZE=100 BODY=8BITMIME RET=HDRS ENVID=x1".parse().unwrap();
        let recipients = [
            accepted("<bob@ours.example>", "", Some("bob")),
            accepted(
                "<carol@c.example>",
                "NOTIFY=SUCCESS ORCPT=rfc822;carol@c.example",
                None,
            ),
            accepted("<dan@d.example>", "", None),
        ];
        let envelope = queued_envelope(
            "17650M1P2Q3",
            &from,
            &parameters,
            &recipients,
            "[127.0.0.1] (client.example)",
            1_765_000_000,
            false,
        )
        .unwrap();
        assert_eq!(envelope.id, "17650M1P2Q3");
        assert_eq!(envelope.from, from);
        assert_eq!(envelope.parameters, parameters);
        assert_eq!(envelope.arrival, 1_765_000_000);
        assert_eq!(envelope.received_from, "[127.0.0.1] (client.example)");
        let queued: Vec<String> = envelope
            .recipients
            .iter()
            .map(|r| r.to.to_string())
            .collect();
        assert_eq!(queued, ["<carol@c.example>", "<dan@d.example>"]);
        assert_eq!(envelope.recipients[0].parameters, recipients[1].parameters);
        for recipient in &envelope.recipients {
            assert_eq!(
                recipient.state,
                RecipientState::Pending {
                    attempts: 0,
                    next_attempt: 1_765_000_000,
                    last: None
                }
            );
        }
        // Only local recipients: nothing to queue.
        assert!(queued_envelope("i", &from, &parameters, &recipients[..1], "", 0, false).is_none());
        // The local ones, for the queue to store when they cannot be stored now.
        let local = queued_envelope("i.retry", &from, &parameters, &recipients, "", 0, true);
        let local: Vec<String> = local
            .unwrap()
            .recipients
            .iter()
            .map(|r| r.to.to_string())
            .collect();
        assert_eq!(local, ["<bob@ours.example>"]);
    }

    #[test]
    fn each_recipient_is_stored_or_queued_by_its_own_store_or_the_queue() {
        use Taken::{No, Queued, Stored};
        let recipients = [
            accepted("<bob@ours.example>", "", Some("bob")),
            accepted("<carol@c.example>", "", None),
            accepted("<dave@ours.example>", "", Some("dave")),
            accepted("<erin@e.example>", "", None),
        ];
        let delivery = |local: Vec<bool>, queued, retry_queued| Delivery {
            local,
            queued,
            retry_queued,
        };
        assert_eq!(
            per_recipient(&recipients, &delivery(vec![true, false], Some(true), false)),
            [Stored, Queued, No, Queued]
        );
        assert_eq!(
            per_recipient(&recipients, &delivery(vec![true, false], Some(true), true)),
            [Stored, Queued, Queued, Queued],
            "dave queued to be stored with retries"
        );
        assert_eq!(
            per_recipient(&recipients, &delivery(vec![true, true], Some(false), false)),
            [Stored, No, Stored, No]
        );
        // Fewer results than local recipients (never happens): not done, no panic.
        assert_eq!(
            per_recipient(&recipients, &delivery(vec![], None, true)),
            [No; 4]
        );
    }

    #[test]
    fn one_reply_is_250_only_when_every_recipient_is_stored_or_queued() {
        use Taken::{No, Queued, Stored};
        assert!(one_reply("i", &[Stored, Queued]));
        assert!(one_reply("i", &[]));
        assert!(!one_reply("i", &[No, No]));
        // Part durable, part not (the queue failed between two writes): 451 all the same.
        assert!(!one_reply("i", &[Stored, No]));
    }

    #[test]
    fn a_sole_user_is_one_local_user_named_by_every_recipient() {
        let bob = accepted("<Bob@ours.example>", "", Some("bob"));
        let bob_again = accepted("<bob@other-ours.example>", "", Some("bob"));
        let dave = accepted("<dave@ours.example>", "", Some("dave"));
        let carol = accepted("<carol@c.example>", "", None);
        assert_eq!(
            sole_user(&[bob, bob_again]),
            Some(("bob", "Bob@ours.example".to_string()))
        );
        let bob = accepted("<bob@ours.example>", "", Some("bob"));
        assert_eq!(sole_user(&[]), None);
        assert_eq!(
            sole_user(&[accepted("<bob@ours.example>", "", Some("bob")), dave]),
            None
        );
        assert_eq!(sole_user(&[bob, carol]), None);
        assert_eq!(sole_user(&[accepted("<carol@c.example>", "", None)]), None);
    }

    #[test]
    fn the_client_is_named_by_address_and_hello() {
        let peer: SocketAddr = "[::ffff:192.0.2.1]:25".parse().unwrap();
        let helo = Host::new("client.example").unwrap();
        assert_eq!(
            received_from(peer, Some(&helo)),
            "[192.0.2.1] (client.example)"
        );
        let peer: SocketAddr = "[2001:db8::1]:25".parse().unwrap();
        assert_eq!(received_from(peer, None), "[IPv6:2001:db8::1]");
    }

    #[test]
    fn postmaster_at_our_domains_is_a_local_user_in_any_case() {
        let data = std::env::temp_dir().join(format!("po-smtp-pm-{}", std::process::id()));
        let office = Office::for_tests(&data, &["alice", "bob"]);
        let user = |to: &str| {
            let to: ForwardPath<'static> = to.parse().unwrap();
            office.local_user(to.mailbox().unwrap())
        };
        assert_eq!(office.postmaster(), "alice");
        assert_eq!(user("<PostMaster@ours.example>").as_deref(), Some("alice"));
        assert_eq!(user("<bob@ours.example>").as_deref(), Some("bob"));
        assert_eq!(user("<carol@ours.example>"), None);
        assert_eq!(delivered_to(&ForwardPath::Postmaster), "postmaster");
        // A user named postmaster is that user.
        let office = Office::for_tests(&data, &["alice", "postmaster"]);
        let to: ForwardPath<'static> = "<postmaster@ours.example>".parse().unwrap();
        assert_eq!(
            office.local_user(to.mailbox().unwrap()).as_deref(),
            Some("postmaster")
        );
        let _ = std::fs::remove_dir_all(&data);
    }

    #[test]
    fn local_deliveries_that_asked_for_success_are_reported_here() {
        let from: ReversePath<'static> = "<alice@ours.example>".parse().unwrap();
        let parameters: MailParameters<'static> = "ENVID=e1".parse().unwrap();
        let recipients = [
            accepted("<bob@ours.example>", "NOTIFY=SUCCESS", Some("bob")),
            accepted(
                "<dave@ours.example>",
                "NOTIFY=SUCCESS,FAILURE",
                Some("dave"),
            ),
            accepted("<carol@c.example>", "NOTIFY=SUCCESS", None),
            accepted("<erin@ours.example>", "", Some("erin")),
        ];
        // dave's store failed (he gets a 4yz, no report); carol is the queue's to report.
        let done = [true, false, true, true];
        let report = local_report(
            "17650M1",
            &from,
            &parameters,
            &recipients,
            &done,
            "[127.0.0.1] (client.example)",
            1_765_000_000,
        )
        .unwrap();
        assert_eq!(report.id, "17650M1.local");
        assert_eq!(report.from, from);
        assert_eq!(report.parameters, parameters);
        let reported: Vec<String> = report.recipients.iter().map(|r| r.to.to_string()).collect();
        assert_eq!(reported, ["<bob@ours.example>"]);
        let RecipientState::Done { outcome, reported } = &report.recipients[0].state else {
            panic!("decided");
        };
        assert!(!reported);
        assert_eq!(
            outcome.kind,
            OutcomeKind::Delivered {
                dsn_passed_on: true
            }
        );
        assert_eq!(outcome.remote_mta, None);
        let (content, notification) = dsn::build_from(
            "mx.here.example",
            &report,
            &[0],
            dsn::Original::Headers(b"Subject: hi\r\n"),
            1_765_000_000,
        )
        .unwrap()
        .unwrap();
        assert_eq!(notification.id, "17650M1.local.dsn0");
        let text = String::from_utf8(content).unwrap();
        assert!(text.contains("Action: delivered"), "{text}");
        assert!(text.contains("Subject: hi"), "{text}");
        // Nobody asked, or the null reverse-path: no report.
        assert!(local_report("i", &from, &parameters, &recipients[3..], &[true], "", 0).is_none());
        assert!(
            local_report(
                "i",
                &ReversePath::Null,
                &parameters,
                &recipients,
                &done,
                "",
                0
            )
            .is_none()
        );
    }

    #[test]
    fn a_loop_is_refused_with_554_5_4_6() {
        let Answer::Reply(refusal) = too_many_hops() else {
            panic!("a reply");
        };
        assert_eq!(refusal.code(), ReplyCode::TRANSACTION_FAILED);
        assert_eq!(refusal.status(), EnhancedStatus::new(5, 4, 6).ok());
    }

    /// A data directory for a session test, with its spool and queue.
    fn office_in(name: &str, users: &[&str]) -> (PathBuf, Arc<Office>) {
        let data = std::env::temp_dir().join(format!("po-smtp-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
        Spool::clean(&data).unwrap();
        let office = Office::for_tests(&data, users).with_domains(&["ours.example"]);
        (data, Arc::new(office))
    }

    /// An authenticated session (it may relay) of `office`.
    fn session(office: &Arc<Office>, lmtp: bool) -> Session {
        Session {
            office: Arc::clone(office),
            peer: "127.0.0.1:2525".parse().unwrap(),
            lmtp,
            tls: false,
            hello: None,
            authenticated: true,
            transaction: None,
        }
    }

    fn run<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
            .block_on(future)
    }

    async fn rcpt(session: &mut Session, to: &str, parameters: &str) -> Answer {
        session
            .rcpt_to(to.parse().unwrap(), parameters.parse().unwrap())
            .await
    }

    /// Every session's task holds its handler and the largest of its decisions' futures,
    /// idle or not: the transaction and the delivery's waiting state are boxed instead.
    #[test]
    fn an_idle_session_holds_no_transaction_nor_delivery_state() {
        let (_, office) = office_in("sizes", &["bob"]);
        let mut idle = session(&office, false);
        assert!(std::mem::size_of::<Session>() <= 128);
        assert!(std::mem::size_of_val(&idle.message_end(0, 0)) <= 128);
    }

    /// DATA for the transaction under way: the message's end's answer.
    async fn send_data(session: &mut Session) -> Answer {
        assert_eq!(session.data_start().await, Answer::Accept);
        session
            .body(Bytes::from_static(b"Subject: hi\r\n\r\nbody\r\n"))
            .await;
        session.message_end(0, 0).await
    }

    /// The messages in `user`'s Maildir.
    fn copies(data: &Path, user: &str) -> usize {
        std::fs::read_dir(data.join(user).join("new")).map_or(0, Iterator::count)
    }

    /// The ids of the queued messages, sorted.
    fn queued_ids(data: &Path) -> Vec<String> {
        let (envelopes, _) = queue::list(data).unwrap();
        let mut ids: Vec<String> = envelopes.into_iter().map(|e| e.id).collect();
        ids.sort();
        ids
    }

    fn code(answer: &Answer) -> Option<(ReplyCode, Option<EnhancedStatus>)> {
        match answer {
            Answer::Reply(reply) => Some((reply.code(), reply.status())),
            _ => None,
        }
    }

    #[test]
    fn a_relayed_recipient_gets_452_4_3_1_when_the_queue_cannot_be_written_and_the_rest_goes_on() {
        let (data, office) = office_in("rcpt-452", &["alice", "bob"]);
        assert!(queue_has_room(office.queue.as_ref()));
        assert!(!queue_has_room(None));
        std::fs::remove_dir_all(data.join(".queue").join("tmp")).unwrap();
        assert!(!queue_has_room(office.queue.as_ref()));
        let mut session = session(&office, false);
        let (carol, bob, answer) = run(async {
            let from = "<alice@ours.example>".parse().unwrap();
            session.mail_from(from, MailParameters::default()).await;
            let carol = rcpt(&mut session, "<carol@c.example>", "").await;
            let bob = rcpt(&mut session, "<bob@ours.example>", "").await;
            (carol, bob, send_data(&mut session).await)
        });
        let bob_copies = copies(&data, "bob");
        let _ = std::fs::remove_dir_all(&data);
        assert_eq!(
            code(&carol),
            Some((
                ReplyCode::INSUFFICIENT_STORAGE,
                Some(EnhancedStatus::SYSTEM_FULL)
            ))
        );
        assert_eq!(bob, Answer::Accept);
        assert_eq!(answer, Answer::Accept);
        assert_eq!(bob_copies, 1);
    }

    #[test]
    fn a_message_written_straight_into_a_maildir_gets_its_delivered_report_with_its_headers() {
        let (data, office) = office_in("direct-report", &["alice", "bob"]);
        let mut session = session(&office, false);
        let answer = run(async {
            let from = "<alice@ours.example>".parse().unwrap();
            session.mail_from(from, MailParameters::default()).await;
            rcpt(&mut session, "<bob@ours.example>", "NOTIFY=SUCCESS").await;
            send_data(&mut session).await
        });
        let bob_copies = copies(&data, "bob");
        let queued = queued_ids(&data);
        let _ = std::fs::remove_dir_all(&data);
        assert_eq!(answer, Answer::Accept);
        assert_eq!(bob_copies, 1);
        // The report is built from the file's header section: flushed before it is read.
        assert_eq!(queued.len(), 1, "{queued:?}");
    }

    #[test]
    fn smtp_a_queue_failing_at_the_end_of_data_gets_451_with_no_local_copy_nor_report() {
        let (data, office) = office_in("queue-fails", &["alice", "bob"]);
        let mut session = session(&office, false);
        let answer = run(async {
            let from = "<alice@ours.example>".parse().unwrap();
            session.mail_from(from, MailParameters::default()).await;
            assert_eq!(
                rcpt(&mut session, "<bob@ours.example>", "NOTIFY=SUCCESS").await,
                Answer::Accept
            );
            assert_eq!(
                rcpt(&mut session, "<carol@c.example>", "").await,
                Answer::Accept
            );
            // The queue breaks after RCPT: its messages cannot be placed.
            std::fs::remove_dir_all(data.join(".queue").join("msg")).unwrap();
            send_data(&mut session).await
        });
        let bob_copies = copies(&data, "bob");
        let queued = queued_ids(&data);
        let _ = std::fs::remove_dir_all(&data);
        assert_eq!(
            code(&answer),
            Some((
                ReplyCode::LOCAL_ERROR,
                Some(EnhancedStatus::SYSTEM_TRANSIENT)
            ))
        );
        assert_eq!(bob_copies, 0, "nothing for the client's retry to duplicate");
        assert!(queued.is_empty(), "no delivered DSN for a 451: {queued:?}");
    }

    #[test]
    fn smtp_a_local_recipient_that_cannot_be_stored_is_queued_and_the_message_gets_250() {
        let (data, office) = office_in("store-fails", &["alice", "bob", "dave"]);
        // dave's Maildir cannot be made: a file is in its way.
        std::fs::write(data.join("dave"), b"not a directory").unwrap();
        let mut session = session(&office, false);
        let answer = run(async {
            let from = "<alice@ours.example>".parse().unwrap();
            session.mail_from(from, MailParameters::default()).await;
            for to in [
                "<bob@ours.example>",
                "<dave@ours.example>",
                "<carol@c.example>",
            ] {
                assert_eq!(
                    rcpt(&mut session, to, "NOTIFY=SUCCESS").await,
                    Answer::Accept
                );
            }
            send_data(&mut session).await
        });
        let bob_copies = copies(&data, "bob");
        let (envelopes, _) = queue::list(&data).unwrap();
        let dsn: Vec<String> = envelopes
            .iter()
            .filter(|e| e.id.ends_with(".local.dsn0"))
            .map(|e| {
                String::from_utf8(
                    std::fs::read(office.queue.as_ref().unwrap().message_path(&e.id)).unwrap(),
                )
                .unwrap()
            })
            .collect();
        let _ = std::fs::remove_dir_all(&data);
        assert_eq!(answer, Answer::Accept);
        assert_eq!(bob_copies, 1);
        let mut ids: Vec<&str> = envelopes.iter().map(|e| e.id.as_str()).collect();
        ids.sort_unstable();
        let id = ids[0].to_string();
        assert_eq!(
            ids,
            [
                id.clone(),
                format!("{id}.local.dsn0"),
                format!("{id}.retry")
            ],
            "carol's, bob's report, dave's retries"
        );
        let to = |id: &str| -> Vec<String> {
            let envelope = envelopes.iter().find(|e| e.id == id).unwrap();
            envelope
                .recipients
                .iter()
                .map(|r| r.to.to_string())
                .collect()
        };
        assert_eq!(to(&id), ["<carol@c.example>"]);
        assert_eq!(to(&format!("{id}.retry")), ["<dave@ours.example>"]);
        // The report covers bob alone: dave's is the queue's to send once it stores him.
        assert_eq!(dsn.len(), 1);
        assert!(dsn[0].contains("rfc822;bob@ours.example"), "{}", dsn[0]);
        assert!(!dsn[0].contains("dave@"), "{}", dsn[0]);
    }

    #[test]
    fn lmtp_replies_per_recipient_and_queues_no_retry() {
        let (data, office) = office_in("lmtp", &["alice", "bob", "dave"]);
        std::fs::write(data.join("dave"), b"not a directory").unwrap();
        let mut session = session(&office, true);
        let answer = run(async {
            let from = "<alice@ours.example>".parse().unwrap();
            session.mail_from(from, MailParameters::default()).await;
            for to in ["<bob@ours.example>", "<dave@ours.example>"] {
                assert_eq!(rcpt(&mut session, to, "").await, Answer::Accept);
            }
            send_data(&mut session).await
        });
        let bob_copies = copies(&data, "bob");
        let queued = queued_ids(&data);
        let _ = std::fs::remove_dir_all(&data);
        let Answer::PerRecipient(replies) = answer else {
            panic!("one reply per recipient: {answer:?}");
        };
        let codes: Vec<ReplyCode> = replies.iter().map(Reply::code).collect();
        assert_eq!(codes, [ReplyCode::OK, ReplyCode::LOCAL_ERROR]);
        assert_eq!(bob_copies, 1);
        assert!(queued.is_empty(), "{queued:?}");
    }
}
