//! The POP3 and POP3S listeners' policy: who may log in, one session per maildrop (`[IN-USE]`),
//! the listing, retrieval, and deletions at QUIT only.

use std::fs::{self, File};
use std::io::{Cursor, Read};
use std::net::SocketAddr;
use std::sync::Arc;

use mail_io::pop3::{
    Login, Maildrop, MessageInfo, Refusal, Retrieve, ServerConfig, ServerError, ServerMechanisms,
    Timestamp, UidListing, UniqueId,
};
use tokio::io::{AsyncRead, AsyncReadExt};
use tracing::{info, warn};

use crate::auth::{self, Protocol, Verdict};
use crate::maildir::{Maildir, Stored, sync_dir, unique_name};
use crate::serve::Office;

/// Messages up to this size are read whole when retrieved; larger ones stream from the file.
const READ_WHOLE: u64 = 256 * 1024;

/// The machine's settings for both listeners.
pub fn config(office: &Office) -> anyhow::Result<ServerConfig> {
    Ok(ServerConfig {
        sasl_mechanisms: ServerMechanisms::new().plain(),
        plaintext_login: office.plaintext_login,
        // The machine keeps RFC 1939's 10 minutes as the least.
        idle_timeout: office.command_timeout,
        // STLS and implicit TLS follow the listener's `ServeOptions`; the APOP timestamp is
        // the session's own (`apop_timestamp`).
        ..ServerConfig::default()
    })
}

/// One POP3 session.
pub struct Session {
    office: Arc<Office>,
    peer: SocketAddr,
    /// The maildrop this session holds, once logged in.
    lock: Option<Lock>,
    /// The messages as listed at login: message `n` is `messages[n - 1]`.
    messages: Vec<Stored>,
}

/// A maildrop held by a session; released when dropped, however the session ends.
struct Lock {
    office: Arc<Office>,
    user: String,
}

impl Lock {
    /// Takes `user`'s maildrop, unless another session holds it.
    fn take(office: &Arc<Office>, user: &str) -> Option<Self> {
        let mut locks = office.locks.lock().ok()?;
        locks.insert(user.to_string()).then(|| Self {
            office: office.clone(),
            user: user.to_string(),
        })
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        if let Ok(mut locks) = self.office.locks.lock() {
            locks.remove(&self.user);
        }
    }
}

impl Session {
    /// A session from `peer`.
    pub fn new(office: Arc<Office>, peer: SocketAddr) -> Self {
        Self {
            office,
            peer,
            lock: None,
            messages: Vec::new(),
        }
    }

    /// The maildrop's messages whose names are valid unique-ids (only those are served, and
    /// the message numbers index exactly that list), with their sizes as sent.
    fn list(&mut self, user: &str) -> std::io::Result<Vec<MessageInfo>> {
        let stored = Maildir::open(self.office.data.join(user))?.list()?;
        let mut infos = Vec::with_capacity(stored.len());
        self.messages.clear();
        for message in stored {
            let Ok(uid) = UniqueId::new(message.unique.clone()) else {
                continue;
            };
            // From the file name (or a stat): a login never reads a message.
            let size = message.wire_size;
            infos.push(MessageInfo { size, uid });
            self.messages.push(message);
        }
        Ok(infos)
    }
}

impl Maildrop for Session {
    type Message = Box<dyn AsyncRead + Unpin + Send>;

    async fn login(&mut self, login: &Login) -> Result<Vec<MessageInfo>, Refusal> {
        let name = login.username().map(str::to_lowercase).unwrap_or_default();
        // Acting as another user (a PLAIN authzid) is not offered.
        let (own, mechanism) = match login {
            Login::Sasl {
                credentials,
                mechanism,
            } => (
                credentials
                    .authzid()
                    .is_none_or(|authzid| Some(authzid) == credentials.username()),
                mechanism.as_str(),
            ),
            Login::User { .. } => (true, "USER"),
            Login::Apop { .. } => (true, "APOP"),
            _ => (true, "OTHER"),
        };
        // After the address's penalty delay; refused at once after too many failures.
        let verdict = auth::check_login(
            &self.office,
            Protocol::Pop3,
            self.peer.ip(),
            login.username().unwrap_or_default(),
            mechanism,
            |password| login.verify_secret(password) & own,
        )
        .await;
        match verdict {
            Verdict::Accepted => {}
            Verdict::Rejected => return Err(Refusal::auth()),
            Verdict::Refused => {
                return Err(Refusal::temporary(
                    "too many failed logins, try again later",
                ));
            }
        }
        let lock = Lock::take(&self.office, &name).ok_or_else(Refusal::in_use)?;
        match tokio::task::block_in_place(|| self.list(&name)) {
            Ok(listing) => {
                self.lock = Some(lock);
                Ok(listing)
            }
            Err(error) => {
                // The lock goes with `lock`.
                warn!(%error, "listing the maildrop");
                Err(Refusal::temporary("cannot open the maildrop"))
            }
        }
    }

    async fn retrieve(&mut self, request: &Retrieve) -> Result<Self::Message, Refusal> {
        let stored = self
            .messages
            .get(request.message.index())
            .ok_or_else(|| Refusal::permanent("no such message"))?;
        let unreadable = |_| Refusal::temporary("message not readable");
        // Opened on the worker, and its length from the open file (fstat), not from the
        // name's `S=`: a file named `S=5` may hold 1 GiB, and would be read whole.
        let file = File::open(&stored.path).map_err(unreadable)?;
        let length = file.metadata().map_err(unreadable)?.len();
        if request.top.is_some() {
            // TOP needs the header section and a few lines: read on the worker, piece by
            // piece as the machine asks (a few kilobytes for most), rather than the whole
            // file or each read sent to the blocking pool and back.
            return Ok(Box::new(InlineFile(file)));
        }
        if length <= READ_WHOLE {
            // On the worker: a small file from the page cache reads in microseconds, while
            // handing the worker over (`block_in_place`) wakes threads on every RETR.
            return read_small(file, length).map_err(unreadable);
        }
        Ok(Box::new(tokio::fs::File::from_std(file)))
    }

    /// Removes the messages marked deleted, durably.
    async fn commit(&mut self, deleted: &[UidListing<'static>]) -> Result<(), Refusal> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        let maildir = self.office.data.join(&lock.user);
        let removed = tokio::task::block_in_place(|| -> std::io::Result<()> {
            for listing in deleted {
                if let Some(stored) = self.messages.get(listing.message.index()) {
                    fs::remove_file(&stored.path)?;
                }
            }
            sync_dir(&maildir.join("new"))?;
            sync_dir(&maildir.join("cur"))
        });
        removed.map_err(|error| {
            warn!(%error, "deleting messages");
            Refusal::not_removed()
        })
    }

    /// Releases the maildrop (before `+OK bye` goes out after QUIT).
    async fn closed(&mut self, error: Option<&ServerError>) {
        self.lock = None;
        if let Some(error) = error {
            info!(peer = %self.peer, "POP3 session ended: {error}");
        }
    }

    /// `<unique@hostname>`, new for each connection.
    fn apop_timestamp(&mut self) -> Option<Timestamp<'static>> {
        let unique = unique_name("x").replace(['<', '>'], "");
        Timestamp::new(format!("<{unique}@{}>", self.office.hostname)).ok()
    }
}

/// Reads a small message (`length` octets by fstat, at most [`READ_WHOLE`]) whole: one read
/// (a Maildir file never changes once delivered). `fs::read` would read once more to see its
/// end. Memory stays within `length` + 1 octets: a file that grew after all is read that far,
/// and the rest streams from the file.
fn read_small(mut file: File, length: u64) -> std::io::Result<Box<dyn AsyncRead + Unpin + Send>> {
    let expected = usize::try_from(length.min(READ_WHOLE)).unwrap_or(0);
    let mut octets = vec![0; expected + 1];
    let mut filled = 0;
    while let Some(room) = octets.get_mut(filled..).filter(|room| !room.is_empty()) {
        match file.read(room) {
            Ok(0) => break,
            Ok(n) => {
                filled += n;
                if filled == expected {
                    break;
                }
            }
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    octets.truncate(filled);
    if filled > expected {
        let rest = InlineFile(file);
        return Ok(Box::new(AsyncReadExt::chain(Cursor::new(octets), rest)));
    }
    Ok(Box::new(Cursor::new(octets)))
}

/// A file read on the worker itself, chunk by chunk as the machine asks (TOP reads a prefix).
struct InlineFile(File);

impl AsyncRead for InlineFile {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let read = self.0.read(buf.initialize_unfilled());
        std::task::Poll::Ready(read.map(|n| buf.advance(n)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything `read_small` gives for a file of `contents` said to be `length` octets.
    fn read_all(contents: &[u8], length: u64) -> Vec<u8> {
        let path = std::env::temp_dir().join(format!(
            "po-pop3-{}-{}-{length}",
            std::process::id(),
            contents.len()
        ));
        fs::write(&path, contents).unwrap();
        let file = File::open(&path).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut out = Vec::new();
        runtime.block_on(async {
            let mut reader = read_small(file, length).unwrap();
            reader.read_to_end(&mut out).await.unwrap();
        });
        let _ = fs::remove_file(&path);
        out
    }

    #[test]
    fn a_small_file_is_read_whole_and_one_that_grew_streams_the_rest() {
        assert_eq!(read_all(b"hello\r\n", 7), b"hello\r\n");
        assert_eq!(read_all(b"", 0), b"");
        // Longer than its fstat said (it grew): all of it, not only `length` octets.
        let grown: Vec<u8> = (0..200_000u32).map(|n| n as u8).collect();
        assert_eq!(read_all(&grown, 10), grown);
        // Shorter (it shrank): what is there.
        assert_eq!(read_all(b"abc", 10), b"abc");
    }
}
