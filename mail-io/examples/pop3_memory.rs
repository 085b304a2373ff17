//! A POP3 server over a maildrop in memory, on tokio. Run it with
//! `cargo run -p mail-io --example pop3_memory -- 1110` and log in as `alice`, password
//! `secret` (plaintext login is allowed: loopback only). Deletions last while it runs.

use std::io::Cursor;
use std::sync::Arc;

use mail_io::ServeOptions;
use mail_io::pop3::{Login, Maildrop, MessageInfo, Refusal, Retrieve, ServerConfig, serve};
use mail_io::pop3::{UidListing, UniqueId};
use tokio::sync::Mutex;

/// The messages, in delivery order, shared by every session.
type Store = Arc<Mutex<Vec<(UniqueId<'static>, Vec<u8>)>>>;

/// One session: the store, and the messages as listed at login.
struct Memory {
    store: Store,
    listed: Vec<(UniqueId<'static>, Vec<u8>)>,
}

impl Maildrop for Memory {
    type Message = Cursor<Vec<u8>>;

    async fn login(&mut self, login: &Login) -> Result<Vec<MessageInfo>, Refusal> {
        if login.username() != Some("alice") || !login.verify_secret(b"secret") {
            return Err(Refusal::auth());
        }
        self.listed = self.store.lock().await.clone();
        let info = |(uid, message): &(UniqueId<'static>, Vec<u8>)| MessageInfo {
            size: message.len() as u64,
            uid: uid.clone(),
        };
        Ok(self.listed.iter().map(info).collect())
    }

    async fn retrieve(&mut self, request: &Retrieve) -> Result<Self::Message, Refusal> {
        let listed = self.listed.get(request.message.index());
        let (_, message) = listed.ok_or(Refusal::new("no such message"))?;
        Ok(Cursor::new(message.clone()))
    }

    async fn commit(&mut self, deleted: &[UidListing<'static>]) -> Result<(), Refusal> {
        let mut store = self.store.lock().await;
        store.retain(|(uid, _)| deleted.iter().all(|gone| gone.uid != *uid));
        Ok(())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port = std::env::args().nth(1).unwrap_or_else(|| "1110".into());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port.parse()?)).await?;
    let hello = b"From: bob@example.org\r\nSubject: hello\r\n\r\nHi Alice.\r\n".to_vec();
    let store = Arc::new(Mutex::new(vec![(UniqueId::new("m1")?, hello)]));
    let config = ServerConfig {
        plaintext_login: true,
        ..ServerConfig::default()
    };
    let new_session = move |_peer| Memory {
        store: store.clone(),
        listed: Vec::new(),
    };
    let options = ServeOptions::new();
    serve(listener, config, options, new_session).await;
    Ok(())
}
