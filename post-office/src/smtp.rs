//! The SMTP, submission, SMTPS and LMTP listeners' policy: which recipients are taken, who may
//! authenticate, when a message counts as delivered (LMTP: per recipient), and `--sink`.

use std::net::SocketAddr;
use std::sync::Arc;

use mail_io::smtp::{
    Answer, Bytes, Credentials, Domain, EnhancedStatus, ForwardPath, Handler, MailParameters,
    Mechanism, RcptParameters, Reply, ReplyCode, ReversePath, ServerConfig, ServerMechanisms,
    Timeouts, reply,
};
use tracing::info;

use crate::auth::{self, Protocol, Verdict};
use crate::delivery::{Spool, has_room};
use crate::serve::Office;

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
        // STARTTLS and implicit TLS follow the listener's `ServeOptions`.
        ..ServerConfig::default()
    })
}

/// One SMTP or LMTP session.
pub struct Session {
    office: Arc<Office>,
    peer: SocketAddr,
    lmtp: bool,
    transaction: Option<Transaction>,
}

/// The message being received.
#[derive(Default)]
struct Transaction {
    /// Local users, in RCPT order (duplicates kept for LMTP's per-recipient replies).
    recipients: Vec<String>,
    /// Where the message goes as it arrives (none in `--sink` mode, or when it could not be
    /// opened).
    spool: Option<Spool>,
}

impl Session {
    /// A session from `peer`.
    pub fn new(office: Arc<Office>, peer: SocketAddr, lmtp: bool) -> Self {
        Self {
            office,
            peer,
            lmtp,
            transaction: None,
        }
    }

    /// Stores the message for every recipient, durably, and says how it went: 250 only once
    /// it is in every Maildir; in LMTP one reply per recipient.
    fn deliver(&self, transaction: Transaction) -> Answer {
        let Transaction { recipients, spool } = transaction;
        let Some(spool) = spool else {
            // `--sink`: nothing to store.
            return Answer::Accept;
        };
        let results = tokio::task::block_in_place(|| {
            spool.deliver(&recipients, &self.office.data, &self.office.hostname)
        });
        if self.lmtp {
            let replies = results.into_iter().map(|ok| {
                if ok {
                    reply(ReplyCode::OK, EnhancedStatus::SUCCESS, "Delivered")
                } else {
                    not_stored()
                }
            });
            return Answer::PerRecipient(replies.collect());
        }
        if results.iter().all(|ok| *ok) {
            Answer::Accept
        } else {
            Answer::Reply(not_stored())
        }
    }
}

/// 452 4.3.1: the disk is too full to take a message now (Postfix's `queue_minfree`).
fn no_room() -> Answer {
    Answer::Reply(reply(
        ReplyCode::INSUFFICIENT_STORAGE,
        EnhancedStatus::SYSTEM_FULL,
        "Insufficient system storage",
    ))
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
    /// A transaction, unless the disk has less than `--min-free` octets free (plus the size
    /// the client declared, RFC 1870): then 452 4.3.1 before anything is sent.
    async fn mail_from(
        &mut self,
        _: ReversePath<'static>,
        parameters: MailParameters<'static>,
    ) -> Answer {
        let office = &self.office;
        let needed = office
            .min_free
            .saturating_add(parameters.size.unwrap_or_default());
        if !office.sink && office.min_free > 0 && !has_room(&office.data, needed) {
            return no_room();
        }
        self.transaction = Some(Transaction::default());
        Answer::Accept
    }

    /// A local user (of an accepted domain), or 550; anything in `--sink` mode.
    async fn rcpt_to(&mut self, to: ForwardPath<'static>, _: RcptParameters<'static>) -> Answer {
        if self.office.sink {
            return Answer::Accept;
        }
        match to
            .mailbox()
            .and_then(|mailbox| self.office.local_user(mailbox))
        {
            Some(user) => {
                if let Some(transaction) = &mut self.transaction {
                    transaction.recipients.push(user);
                }
                Answer::Accept
            }
            None => Answer::Reply(reply(
                ReplyCode::MAILBOX_UNAVAILABLE,
                EnhancedStatus::BAD_DESTINATION_MAILBOX,
                "No such user here",
            )),
        }
    }

    /// Opens the spool file, or answers 452 when it cannot be opened or the disk has less
    /// than `--min-free` octets free (4.3.1, before the body is sent).
    async fn data_start(&mut self) -> Answer {
        let office = &self.office;
        let Some(transaction) = &mut self.transaction else {
            return Answer::Accept;
        };
        if office.sink {
            return Answer::Accept;
        }
        if !has_room(&office.data, office.min_free) {
            return no_room();
        }
        let spool = tokio::task::block_in_place(|| Spool::create(&office.data, &office.hostname));
        match spool {
            Ok(spool) => {
                transaction.spool = Some(spool);
                Answer::Accept
            }
            Err(error) => {
                tracing::warn!(%error, "opening a spool file");
                Answer::Reply(reply(
                    ReplyCode::INSUFFICIENT_STORAGE,
                    EnhancedStatus::SYSTEM_FULL,
                    "Cannot store messages now",
                ))
            }
        }
    }

    async fn body(&mut self, chunk: Bytes) {
        if let Some(spool) = self.transaction.as_mut().and_then(|t| t.spool.as_mut()) {
            tokio::task::block_in_place(|| spool.write(&chunk));
        }
    }

    async fn message_end(&mut self, _size: u64, _recipients: usize) -> Answer {
        match self.transaction.take() {
            Some(transaction) => self.deliver(transaction),
            None => Answer::Accept,
        }
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
            Verdict::Accepted => Answer::Accept,
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

    fn closed(&mut self, error: Option<&mail_io::Error>) {
        // A message cut off is dropped with its spool file.
        self.transaction = None;
        if let Some(error) = error {
            info!(peer = %self.peer, lmtp = self.lmtp, "session ended: {error}");
        }
    }
}
