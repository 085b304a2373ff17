//! A blocking POP3 server over an in-memory maildrop, one thread per connection.
//!
//! ```text
//! cargo run -p mail-io --features blocking --example pop3_blocking_memory -- 1100
//! # then, with any POP3 client: USER alice, PASS secret (plaintext logins allowed: a demo)
//! ```
use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError};

use mail_io::blocking::ServeOptions;
use mail_io::blocking::pop3::{Login, Maildrop, MessageInfo, Refusal, Retrieve, ServerConfig};
use mail_io::blocking::pop3::{UidListing, UniqueId, serve};

type Messages = Vec<(UniqueId<'static>, Vec<u8>)>;

/// The messages shared by every session (deletions last), and the copy this session listed.
struct Memory(Arc<Mutex<Messages>>, Messages);

impl Maildrop for Memory {
    type Message = Cursor<Vec<u8>>;

    fn login(&mut self, login: &Login) -> Result<Vec<MessageInfo>, Refusal> {
        if login.username() != Some("alice") || !login.verify_secret(b"secret") {
            return Err(Refusal::auth());
        }
        let shared = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        self.1 = shared.clone();
        let listing = self.1.iter().map(|(uid, message)| MessageInfo {
            size: message.len() as u64,
            uid: uid.clone(),
        });
        Ok(listing.collect())
    }

    fn retrieve(&mut self, request: &Retrieve) -> Result<Self::Message, Refusal> {
        let Some((_, message)) = self.1.get(request.message.index()) else {
            return Err(Refusal::new("no such message"));
        };
        Ok(Cursor::new(message.clone()))
    }

    fn commit(&mut self, deleted: &[UidListing<'static>]) -> Result<(), Refusal> {
        let mut messages = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        messages.retain(|(uid, _)| !deleted.iter().any(|gone| gone.uid == *uid));
        Ok(())
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let argument = std::env::args().nth(1);
    let port: u16 = argument.as_deref().unwrap_or("1100").parse()?;
    let welcome = b"From: postmaster@example.org\r\nSubject: Welcome\r\n\r\nHello, Alice.\r\n";
    let messages = vec![(UniqueId::new("welcome-1")?, welcome.to_vec())];
    let store = Arc::new(Mutex::new(messages));
    let config = ServerConfig {
        plaintext_login: true,
        ..ServerConfig::default()
    };
    let listener = std::net::TcpListener::bind(("127.0.0.1", port))?;
    println!("POP3 on port {port}: USER alice, PASS secret");
    let new_session = move |_peer| Memory(store.clone(), Vec::new());
    serve(listener, config, ServeOptions::new(), new_session)?;
    Ok(())
}
