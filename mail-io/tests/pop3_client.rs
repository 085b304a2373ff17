//! The POP3 client against an in-process server on loopback: `pop3-proto`'s server machine
//! driven by `mail_io::Connection`, answering from an in-memory maildrop.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mail_io::pop3::{
    Capability, Client, ClientConfig, ClientError, MessageNumber, Request, TlsPolicy,
};
use mail_io::{Connection, IoConfig, TlsClient, TlsServer};
use pop3_proto::client::Error as SessionError;
use pop3_proto::server::{Answer, Event, MessageInfo, Server, ServerConfig};
use pop3_proto::types::{KnownCode, Timestamp, UniqueId};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Every test ends well within this, or fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(30);

fn n(number: u32) -> MessageNumber {
    MessageNumber::new(number).unwrap()
}

/// A message whose lines start with dots: the server stuffs them, the client must unstuff.
const DOTTED: &[u8] = b"From: a@example.org\r\nSubject: dots\r\n\r\n.\r\n..\r\n.leading dot\r\n...three\r\nmiddle . line\r\nlast\r\n";

fn small_maildrop() -> Vec<Vec<u8>> {
    vec![
        b"Subject: one\r\n\r\nfirst\r\n".to_vec(),
        DOTTED.to_vec(),
        b"Subject: three\r\n\r\nthird message\r\nwith two lines\r\n".to_vec(),
    ]
}

/// About 5 MiB of lines of varied length, some with leading dots.
fn large_message() -> Vec<u8> {
    let mut message = b"Subject: large\r\n\r\n".to_vec();
    let mut i = 0u32;
    while message.len() < 5 * 1024 * 1024 {
        if i % 7 == 0 {
            message.extend_from_slice(b".");
        }
        let width = (i * 37 % 150) as usize;
        message.extend(std::iter::repeat_n(b'a' + (i % 26) as u8, width));
        message.extend_from_slice(b"\r\n");
        i += 1;
    }
    message
}

/// What the in-process server keeps between sessions.
#[derive(Default)]
struct Store {
    messages: Vec<Vec<u8>>,
    /// The unique-ids removed at each committed QUIT.
    commits: Mutex<Vec<Vec<String>>>,
}

#[derive(Clone)]
struct Setup {
    config: ServerConfig,
    tls: Option<TlsServer>,
    implicit_tls: bool,
}

impl Setup {
    fn plaintext() -> Self {
        Self {
            config: ServerConfig {
                plaintext_login: true,
                ..ServerConfig::default()
            },
            tls: None,
            implicit_tls: false,
        }
    }
}

/// A server on loopback, serving `messages` to alice (password or APOP secret `secret`).
async fn start(setup: Setup, messages: Vec<Vec<u8>>) -> (SocketAddr, Arc<Store>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let store = Arc::new(Store {
        messages,
        ..Store::default()
    });
    let shared = store.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (setup, store) = (setup.clone(), shared.clone());
            tokio::spawn(async move {
                let _ = session(stream, setup, store).await;
            });
        }
    });
    (address, store)
}

async fn session(stream: TcpStream, setup: Setup, store: Arc<Store>) -> Result<(), mail_io::Error> {
    stream.set_nodelay(true)?;
    let mut connection = Connection::new(Server::new(setup.config.clone()), stream);
    if let Some(tls) = setup.tls {
        connection = if setup.implicit_tls {
            connection.accept_tls(tls).await?
        } else {
            connection.with_tls_server(tls)
        };
    }
    while let Some(event) = connection.next_event().await? {
        match event {
            Event::Login(login) => {
                let answer = if login.username() == Some("alice") && login.verify_secret(b"secret")
                {
                    let listing = store
                        .messages
                        .iter()
                        .enumerate()
                        .map(|(i, message)| MessageInfo {
                            size: message.len() as u64,
                            uid: UniqueId::new(format!("uid-{}", i + 1)).unwrap(),
                        })
                        .collect();
                    Answer::Open(listing)
                } else {
                    Answer::reject("[AUTH] wrong user or password").unwrap()
                };
                connection.machine_mut().answer(answer).unwrap();
            }
            Event::Retrieve { message, .. } => {
                connection.machine_mut().answer(Answer::Accept).unwrap();
                let body = &store.messages[message.index()];
                for chunk in body.chunks(16 * 1024) {
                    if !connection.machine().wants_body() {
                        break;
                    }
                    connection.machine_mut().send_body(chunk).unwrap();
                    connection.send().await?;
                }
                connection.machine_mut().end_body().unwrap();
            }
            Event::Commit { deleted } => {
                let uids = deleted.iter().map(|d| d.uid.to_string()).collect();
                store.commits.lock().unwrap().push(uids);
                connection.machine_mut().answer(Answer::Accept).unwrap();
            }
            event if event.is_decision() => {
                connection.machine_mut().answer(Answer::Accept).unwrap()
            }
            _ => {}
        }
    }
    Ok(())
}

/// alice over plaintext, USER/PASS.
async fn login(address: SocketAddr) -> Client {
    Client::connect(address.to_string())
        .plaintext()
        .user_pass("alice", "secret")
        .allow_plaintext_auth()
        .await
        .unwrap()
}

fn self_signed() -> (TlsServer, CertificateDer<'static>) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let certificate = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let server = TlsServer::from_der(vec![certificate.clone()], key).unwrap();
    (server, certificate)
}

#[tokio::test]
async fn user_pass_then_stat_list_uidl() {
    timeout(LIMIT, async {
        let messages = small_maildrop();
        let (address, store) = start(Setup::plaintext(), messages.clone()).await;
        let mut client = login(address).await;
        assert!(!client.is_tls());
        assert!(client.capabilities().is_some());

        let total: usize = messages.iter().map(Vec::len).sum();
        assert_eq!(client.stat().await.unwrap(), (3, total as u64));

        let listing = client.list().await.unwrap();
        assert_eq!(listing.len(), 3);
        for (entry, message) in listing.iter().zip(&messages) {
            assert_eq!(entry.size, message.len() as u64);
        }
        assert_eq!(listing[1].message, n(2));
        let one = client.list_one(n(2)).await.unwrap();
        assert_eq!((one.message, one.size), (n(2), messages[1].len() as u64));

        let uids = client.uidl().await.unwrap();
        let uids: Vec<_> = uids
            .iter()
            .map(|u| (u.message.get(), u.uid.to_string()))
            .collect();
        assert_eq!(
            uids,
            [
                (1, "uid-1".into()),
                (2, "uid-2".into()),
                (3, "uid-3".into())
            ]
        );
        let one = client.uidl_one(n(3)).await.unwrap();
        assert_eq!(one.uid.as_str(), "uid-3");

        client.noop().await.unwrap();
        assert!(client.quit().await.unwrap());
        // QUIT with nothing marked commits nothing.
        assert_eq!(*store.commits.lock().unwrap(), [Vec::<String>::new()]);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn apop_and_auth_plain_log_in() {
    timeout(LIMIT, async {
        let mut setup = Setup::plaintext();
        setup.config.apop_timestamp = Some(Timestamp::new("<1896.697170952@localhost>").unwrap());
        let (address, _) = start(setup, small_maildrop()).await;

        let mut client = Client::connect(address.to_string())
            .plaintext()
            .apop("alice", "secret")
            .allow_plaintext_auth()
            .await
            .unwrap();
        assert_eq!(client.stat().await.unwrap().0, 3);
        assert!(client.quit().await.unwrap());

        let mut client = Client::connect(address.to_string())
            .plaintext()
            .auth_plain("alice", "secret")
            .allow_plaintext_auth()
            .await
            .unwrap();
        assert_eq!(client.stat().await.unwrap().0, 3);
        assert!(client.quit().await.unwrap());

        let wrong = Client::connect(address.to_string())
            .plaintext()
            .apop("alice", "not the secret")
            .allow_plaintext_auth()
            .await
            .unwrap_err();
        let ClientError::Session(SessionError::LoginFailed { response, .. }) = wrong else {
            panic!("{wrong:?}");
        };
        assert!(response.code().is_some_and(|code| code.is(KnownCode::Auth)));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn login_errors_are_typed() {
    timeout(LIMIT, async {
        let (address, _) = start(Setup::plaintext(), small_maildrop()).await;

        let wrong = Client::connect(address.to_string())
            .plaintext()
            .user_pass("alice", "wrong")
            .allow_plaintext_auth()
            .await
            .unwrap_err();
        assert!(
            matches!(
                wrong,
                ClientError::Session(SessionError::LoginFailed { .. })
            ),
            "{wrong:?}"
        );

        // No TLS and no permission: the password is never sent.
        let refused = Client::connect(address.to_string())
            .plaintext()
            .user_pass("alice", "secret")
            .await
            .unwrap_err();
        assert!(
            matches!(refused, ClientError::Session(SessionError::AuthNeedsTls)),
            "{refused:?}"
        );

        // STLS required, and this server does not offer it.
        let (_, certificate) = self_signed();
        let refused = Client::connect(address.to_string())
            .stls(TlsClient::trusting("localhost", vec![certificate]).unwrap())
            .user_pass("alice", "secret")
            .await
            .unwrap_err();
        assert!(
            matches!(refused, ClientError::Session(SessionError::TlsUnavailable)),
            "{refused:?}"
        );

        // Credentials that cannot be sent fail before connecting.
        let bad = Client::connect(address.to_string())
            .user_pass("al ice", "secret")
            .await;
        assert!(matches!(bad, Err(ClientError::Credentials(_))), "{bad:?}");
        let none = Client::connect(address.to_string()).plaintext().await;
        assert!(matches!(none, Err(ClientError::Credentials(_))), "{none:?}");
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn retr_and_top_unstuff_dotted_lines() {
    timeout(LIMIT, async {
        let (address, _) = start(Setup::plaintext(), small_maildrop()).await;
        let mut client = login(address).await;

        assert_eq!(client.retr_to_vec(n(2)).await.unwrap(), DOTTED);

        let mut reader = client.retr(n(2)).await.unwrap();
        assert_eq!(reader.message(), n(2));
        assert_eq!(reader.octets(), Some(DOTTED.len() as u64));
        let mut streamed = Vec::new();
        while let Some(chunk) = reader.next_chunk().await.unwrap() {
            assert!(!chunk.is_empty());
            streamed.extend_from_slice(&chunk);
        }
        assert_eq!(streamed, DOTTED);
        // The end stays the end.
        assert!(reader.next_chunk().await.unwrap().is_none());

        let top = client.top(n(2), 2).await.unwrap().to_vec().await.unwrap();
        assert_eq!(
            top,
            b"From: a@example.org\r\nSubject: dots\r\n\r\n.\r\n..\r\n"
        );
        let headers = client.top(n(2), 0).await.unwrap().to_vec().await.unwrap();
        assert_eq!(headers, b"From: a@example.org\r\nSubject: dots\r\n\r\n");

        // As an AsyncRead, through a tiny buffer.
        let mut reader = client.retr(n(2)).await.unwrap().into_async_read();
        assert_eq!(reader.message(), n(2));
        let mut read = Vec::new();
        let mut buffer = [0u8; 7];
        loop {
            let got = reader.read(&mut buffer).await.unwrap();
            if got == 0 {
                break;
            }
            read.extend_from_slice(&buffer[..got]);
        }
        assert_eq!(read, DOTTED);
        drop(reader);

        assert!(client.quit().await.unwrap());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_large_message_streams_in_chunks() {
    timeout(LIMIT, async {
        let large = large_message();
        let messages = vec![large.clone(), b"Subject: small\r\n\r\nx\r\n".to_vec()];
        let (address, _) = start(Setup::plaintext(), messages).await;
        let mut client = login(address).await;

        let mut reader = client.retr(n(1)).await.unwrap();
        let (mut received, mut chunks, mut largest) = (Vec::new(), 0, 0);
        while let Some(chunk) = reader.next_chunk().await.unwrap() {
            chunks += 1;
            largest = largest.max(chunk.len());
            received.extend_from_slice(&chunk);
        }
        assert!(received == large, "the message arrived changed");
        assert!(chunks > 50, "{chunks} chunks");
        // No chunk is larger than one read of the driver.
        assert!(largest <= IoConfig::default().read_buffer, "{largest}");

        // tokio::io::copy through the AsyncRead side.
        let mut copied = Vec::new();
        let mut reader = client.retr(n(1)).await.unwrap().into_async_read();
        tokio::io::copy(&mut reader, &mut copied).await.unwrap();
        drop(reader);
        assert!(copied == large, "the message arrived changed");

        let top = client.top(n(1), 3).await.unwrap().to_vec().await.unwrap();
        let expected: Vec<u8> = large
            .split_inclusive(|b| *b == b'\n')
            .take(5)
            .flatten()
            .copied()
            .collect();
        assert_eq!(top, expected);

        assert!(client.quit().await.unwrap());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_dropped_reader_leaves_the_session_in_step() {
    timeout(LIMIT, async {
        let large = large_message();
        let messages = vec![large.clone(), DOTTED.to_vec()];
        let (address, _) = start(Setup::plaintext(), messages).await;
        let mut client = login(address).await;

        // Dropped after one chunk.
        let mut reader = client.retr(n(1)).await.unwrap();
        assert!(reader.next_chunk().await.unwrap().is_some());
        // (A MessageReader holds no more than the borrow: the client is usable again here.)
        assert_eq!(client.stat().await.unwrap().0, 2);

        // Dropped before reading anything.
        let _ = client.retr(n(1)).await.unwrap();
        assert_eq!(client.retr_to_vec(n(2)).await.unwrap(), DOTTED);

        // Dropped in the middle of an AsyncRead that had to wait.
        let mut reader = client.retr(n(1)).await.unwrap().into_async_read();
        let mut buffer = vec![0u8; 1024];
        let mut read = 0;
        while read < 100_000 {
            read += reader.read(&mut buffer).await.unwrap();
        }
        let _ = timeout(Duration::ZERO, reader.read(&mut buffer)).await;
        drop(reader);
        assert_eq!(client.retr_to_vec(n(2)).await.unwrap(), DOTTED);
        assert!(client.retr_to_vec(n(1)).await.unwrap() == large);

        assert!(client.quit().await.unwrap());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn dele_then_quit_commits() {
    timeout(LIMIT, async {
        let (address, store) = start(Setup::plaintext(), small_maildrop()).await;

        // Marked, then reset: nothing goes.
        let mut client = login(address).await;
        client.dele(n(1)).await.unwrap();
        assert_eq!(client.stat().await.unwrap().0, 2);
        client.rset().await.unwrap();
        assert_eq!(client.stat().await.unwrap().0, 3);
        assert!(client.quit().await.unwrap());

        // Every message retrieved, then deleted.
        let mut client = login(address).await;
        let mut fetched = Vec::new();
        for entry in client.list().await.unwrap() {
            fetched.push(client.retr_to_vec(entry.message).await.unwrap());
            client.dele(entry.message).await.unwrap();
        }
        assert_eq!(fetched, small_maildrop());
        assert_eq!(client.stat().await.unwrap(), (0, 0));
        assert!(client.quit().await.unwrap());

        let commits = store.commits.lock().unwrap().clone();
        assert_eq!(commits, [vec![], vec!["uid-1", "uid-2", "uid-3"]]);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_refused_command_keeps_the_session() {
    timeout(LIMIT, async {
        let (address, _) = start(Setup::plaintext(), small_maildrop()).await;
        let mut client = login(address).await;

        let refused = client.retr(n(9)).await.unwrap_err();
        assert!(refused.is_refused(), "{refused:?}");
        let ClientError::Refused { request, response } = refused else {
            unreachable!()
        };
        assert_eq!(request, Request::Retr(n(9)));
        assert!(!response.is_ok());

        assert!(client.list_one(n(4)).await.unwrap_err().is_refused());
        assert!(client.uidl_one(n(4)).await.unwrap_err().is_refused());
        assert!(client.top(n(4), 1).await.unwrap_err().is_refused());
        client.dele(n(1)).await.unwrap();
        assert!(client.dele(n(1)).await.unwrap_err().is_refused());
        assert!(client.retr(n(1)).await.unwrap_err().is_refused());

        assert_eq!(client.stat().await.unwrap().0, 2);
        assert_eq!(client.retr_to_vec(n(2)).await.unwrap(), DOTTED);
        assert!(client.quit().await.unwrap());
    })
    .await
    .unwrap();
}

/// A scripted server: greets, refuses CAPA, accepts any login, then answers the first
/// command after login with `reply` and closes (or, if `silent`, says nothing more).
async fn scripted(reply: &'static [u8], silent: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = BufReader::new(stream);
        stream.write_all(b"+OK ready\r\n").await.unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await.unwrap() == 0 {
                return;
            }
            let verb = line
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            match verb.as_str() {
                "CAPA" => stream.write_all(b"-ERR no CAPA here\r\n").await.unwrap(),
                "USER" | "PASS" => stream.write_all(b"+OK\r\n").await.unwrap(),
                _ => {
                    stream.write_all(reply).await.unwrap();
                    stream.flush().await.unwrap();
                    if silent {
                        tokio::time::sleep(LIMIT).await;
                    }
                    // Closes: the client must see an error, not wait for the rest.
                    return;
                }
            }
        }
    });
    address
}

#[tokio::test]
async fn a_server_that_closes_mid_body_is_an_error() {
    timeout(LIMIT, async {
        let address = scripted(
            b"+OK 5000 octets\r\nSubject: cut\r\n\r\nthe first line\r\nand half a",
            false,
        )
        .await;
        let mut client = login(address).await;
        let mut reader = client.retr(n(1)).await.unwrap();
        let mut received = Vec::new();
        let error = loop {
            match reader.next_chunk().await {
                Ok(Some(chunk)) => received.extend_from_slice(&chunk),
                Ok(None) => panic!("a cut message ended well"),
                Err(error) => break error,
            }
        };
        assert!(
            matches!(error, ClientError::Session(SessionError::ConnectionClosed)),
            "{error:?}"
        );
        assert!(received.starts_with(b"Subject: cut\r\n"));
        // The session is over.
        assert!(matches!(client.stat().await, Err(ClientError::Closed)));

        // Closed before the response: the command fails, as an error, at once.
        let address = scripted(b"", false).await;
        let mut client = login(address).await;
        let error = client.stat().await.unwrap_err();
        assert!(
            matches!(error, ClientError::Session(SessionError::ConnectionClosed)),
            "{error:?}"
        );

        // Closed in the middle of a response line.
        let address = scripted(b"+OK 2 3", false).await;
        let mut client = login(address).await;
        assert!(client.stat().await.is_err());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_reader_dropped_while_waiting_leaves_the_session_in_step() {
    timeout(LIMIT, async {
        // The server sends half the message, then waits until told to send the rest.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut stream = BufReader::new(stream);
            stream.write_all(b"+OK ready\r\n").await.unwrap();
            let mut wait = Some(wait);
            let mut line = String::new();
            while stream.read_line(&mut line).await.unwrap() > 0 {
                let reply: &[u8] = match line.split_whitespace().next().unwrap() {
                    "CAPA" => b"-ERR\r\n",
                    "RETR" => {
                        stream.write_all(b"+OK\r\nfirst half\r\n").await.unwrap();
                        if let Some(wait) = wait.take() {
                            wait.await.unwrap();
                        }
                        b"..second half\r\n.\r\n"
                    }
                    "STAT" => b"+OK 1 30\r\n",
                    "QUIT" => b"+OK bye\r\n",
                    _ => b"+OK\r\n",
                };
                stream.write_all(reply).await.unwrap();
                line.clear();
            }
        });

        let mut client = login(address).await;
        let mut reader = client.retr(n(1)).await.unwrap().into_async_read();
        let mut buffer = [0u8; 64];
        let got = reader.read(&mut buffer).await.unwrap();
        assert_eq!(&buffer[..got], b"first half\r\n");
        // A read that has to wait, abandoned, then the reader dropped.
        let waited = timeout(Duration::from_millis(100), reader.read(&mut buffer)).await;
        assert!(waited.is_err(), "the read did not wait");
        drop(reader);
        go.send(()).unwrap();
        // The rest of the message is read and dropped: STAT gets its own answer.
        assert_eq!(client.stat().await.unwrap(), (1, 30));
        assert_eq!(
            client.retr_to_vec(n(1)).await.unwrap(),
            b"first half\r\n.second half\r\n"
        );
        assert!(client.quit().await.unwrap());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn a_server_silent_mid_body_times_out() {
    timeout(LIMIT, async {
        let address = scripted(b"+OK\r\nSubject: stalled\r\n\r\nthe first line\r\n", true).await;
        let config = ClientConfig {
            tls: TlsPolicy::Never,
            allow_plaintext_auth: true,
            timeout: Duration::from_millis(300),
            ..ClientConfig::default()
        };
        let mut client = Client::connect(address.to_string())
            .config(config)
            .user_pass("alice", "secret")
            .await
            .unwrap();
        let error = client.retr_to_vec(n(1)).await.unwrap_err();
        assert!(
            matches!(error, ClientError::Session(SessionError::Timeout)),
            "{error:?}"
        );
        assert!(matches!(client.noop().await, Err(ClientError::Closed)));
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn stls_with_a_self_signed_certificate() {
    timeout(LIMIT, async {
        let (tls, certificate) = self_signed();
        let mut setup = Setup::plaintext();
        setup.config.stls = true;
        setup.config.plaintext_login = false;
        setup.tls = Some(tls);
        let (address, store) = start(setup, small_maildrop()).await;

        let mut client = Client::connect(address.to_string())
            .stls(TlsClient::trusting("localhost", vec![certificate.clone()]).unwrap())
            .user_pass("alice", "secret")
            .await
            .unwrap();
        assert!(client.is_tls());
        assert_eq!(client.retr_to_vec(n(2)).await.unwrap(), DOTTED);
        client.dele(n(2)).await.unwrap();
        assert!(client.quit().await.unwrap());
        assert_eq!(store.commits.lock().unwrap().last().unwrap(), &["uid-2"]);

        // Another certificate is refused in the handshake.
        let (_, other) = self_signed();
        let refused = Client::connect(address.to_string())
            .stls(TlsClient::trusting("localhost", vec![other]).unwrap())
            .user_pass("alice", "secret")
            .await
            .unwrap_err();
        assert!(
            matches!(refused, ClientError::Io(mail_io::Error::Tls(_))),
            "{refused:?}"
        );
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn implicit_tls() {
    timeout(LIMIT, async {
        let (tls, certificate) = self_signed();
        let mut setup = Setup::plaintext();
        setup.config.implicit_tls = true;
        setup.config.plaintext_login = false;
        setup.tls = Some(tls);
        setup.implicit_tls = true;
        let (address, _) = start(setup, small_maildrop()).await;

        let mut client = Client::connect(address.to_string())
            .implicit_tls(TlsClient::trusting("localhost", vec![certificate]).unwrap())
            .auth_plain("alice", "secret")
            .await
            .unwrap();
        assert!(client.is_tls());
        assert_eq!(client.stat().await.unwrap().0, 3);
        assert!(client.quit().await.unwrap());
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn over_an_in_memory_pipe_with_the_machine_config() {
    timeout(LIMIT, async {
        let (ours, theirs) = tokio::io::duplex(4096);
        let store = Arc::new(Store {
            messages: small_maildrop(),
            ..Store::default()
        });
        let server = tokio::spawn({
            let store = store.clone();
            async move {
                let connection = Connection::new(Server::new(Setup::plaintext().config), theirs);
                serve_pipe(connection, store).await
            }
        });
        // No PIPELINING: one command at a time, as the client does anyway.
        let config = ClientConfig {
            tls: TlsPolicy::Never,
            allow_plaintext_auth: true,
            pipelining: false,
            ..ClientConfig::default()
        };
        let mut client = Client::connect("unused")
            .config(config)
            .user_pass("alice", "secret")
            .over(ours)
            .await
            .unwrap();
        assert_eq!(client.retr_to_vec(n(2)).await.unwrap(), DOTTED);
        client.dele(n(3)).await.unwrap();
        assert!(client.quit().await.unwrap());
        server.await.unwrap();
        assert_eq!(*store.commits.lock().unwrap(), [vec!["uid-3"]]);
    })
    .await
    .unwrap();
}

/// The loopback session, over any transport.
async fn serve_pipe(
    mut connection: Connection<Server, tokio::io::DuplexStream>,
    store: Arc<Store>,
) {
    while let Some(event) = connection.next_event().await.unwrap() {
        match event {
            Event::Login(login) => {
                assert!(login.verify_secret(b"secret"));
                let listing = (0..store.messages.len())
                    .map(|i| MessageInfo {
                        size: store.messages[i].len() as u64,
                        uid: UniqueId::new(format!("uid-{}", i + 1)).unwrap(),
                    })
                    .collect();
                connection
                    .machine_mut()
                    .answer(Answer::Open(listing))
                    .unwrap();
            }
            Event::Retrieve { message, .. } => {
                let machine = connection.machine_mut();
                machine.answer(Answer::Accept).unwrap();
                machine.send_body(&store.messages[message.index()]).unwrap();
                machine.end_body().unwrap();
            }
            Event::Commit { deleted } => {
                let uids = deleted.iter().map(|d| d.uid.to_string()).collect();
                store.commits.lock().unwrap().push(uids);
                connection.machine_mut().answer(Answer::Accept).unwrap();
            }
            event if event.is_decision() => {
                connection.machine_mut().answer(Answer::Accept).unwrap()
            }
            _ => {}
        }
    }
}

/// A scripted server that answers `DELE 1`, `RETR 1` and `TOP 1 0` after 300 ms and `DELE 2`
/// with `-ERR`; it records every command line it reads, before answering it.
async fn slow_server(pipelining: bool) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = BufReader::new(stream);
        stream.write_all(b"+OK ready\r\n").await.unwrap();
        let mut line = String::new();
        while stream.read_line(&mut line).await.unwrap() > 0 {
            let command = line.trim_end().to_string();
            seen.lock().unwrap().push(command.clone());
            let slow = Duration::from_millis(300);
            let reply: &[u8] = match command.as_str() {
                "CAPA" if pipelining => b"+OK\r\nUSER\r\nPIPELINING\r\nUIDL\r\nTOP\r\n.\r\n",
                "CAPA" => b"-ERR no CAPA here\r\n",
                "DELE 1" => {
                    tokio::time::sleep(slow).await;
                    b"+OK marked\r\n"
                }
                "DELE 2" => b"-ERR no such message\r\n",
                "RETR 1" => {
                    tokio::time::sleep(slow).await;
                    b"+OK 20 octets\r\nSubject: one\r\n\r\n..dot\r\n.\r\n"
                }
                "STAT" => b"+OK 2 30\r\n",
                "TOP 1 0" => {
                    tokio::time::sleep(slow).await;
                    b"+OK\r\nSubject: one\r\n\r\n.\r\n"
                }
                "LIST 2" => b"+OK 2 10\r\n",
                "UIDL 2" => b"+OK 2 uid-2\r\n",
                "QUIT" => b"+OK bye\r\n",
                _ => b"+OK\r\n",
            };
            stream.write_all(reply).await.unwrap();
            line.clear();
        }
    });
    (address, log)
}

/// A request future dropped before its answer: the command went out and its answer comes
/// later; the next request reads it (and throws it away) before taking its own, and each
/// answer is matched to the request it answers. (The reviewer's case: `dele(2)` returned Ok,
/// before the server even read `DELE 2`, on the answer meant for `DELE 1`; the next `noop()`
/// got `Refused { Dele(2) }`.)
#[tokio::test]
async fn a_cancelled_request_leaves_its_answer_to_be_skipped() {
    timeout(LIMIT, async {
        for pipelining in [false, true] {
            let (address, log) = slow_server(pipelining).await;
            let mut client = login(address).await;

            let cancelled = timeout(Duration::from_millis(50), client.dele(n(1))).await;
            assert!(cancelled.is_err(), "DELE 1 was answered at once");
            let refused = client.dele(n(2)).await.unwrap_err();
            assert!(
                matches!(
                    refused,
                    ClientError::Refused {
                        request: Request::Dele(m),
                        ..
                    } if m == n(2)
                ),
                "{refused:?}"
            );
            assert!(log.lock().unwrap().contains(&"DELE 2".to_string()));
            client.noop().await.unwrap();

            // A cancelled RETR: its message is read and dropped.
            let cancelled = timeout(Duration::from_millis(50), client.retr_to_vec(n(1))).await;
            assert!(cancelled.is_err());
            assert_eq!(client.stat().await.unwrap(), (2, 30));

            // Several in a row: a slow TOP cancelled, then calls cancelled while they catch up
            // (they never send their commands); the next call reads the TOP's message, drops
            // it, and gets its own answer.
            let short = Duration::from_millis(50);
            assert!(timeout(short, client.top(n(1), 0)).await.is_err());
            assert!(timeout(short, client.noop()).await.is_err());
            assert!(timeout(short, client.dele(n(2))).await.is_err());
            let one = client.list_one(n(2)).await.unwrap();
            assert_eq!((one.message, one.size), (n(2), 10));
            assert_eq!(client.uidl_one(n(2)).await.unwrap().message, n(2));
            assert!(client.quit().await.unwrap());

            let log = log.lock().unwrap().clone();
            let after_login: Vec<&str> = log
                .iter()
                .map(String::as_str)
                .skip_while(|c| !c.starts_with("PASS"))
                .skip(1)
                .collect();
            assert_eq!(
                after_login,
                [
                    "DELE 1", "DELE 2", "NOOP", "RETR 1", "STAT", "TOP 1 0", "LIST 2", "UIDL 2",
                    "QUIT"
                ]
            );
        }
    })
    .await
    .unwrap();
}

/// Every message, pipelined or not, streamed byte for byte (dot-stuffed lines, a 5 MiB
/// message), each deleted once read: a refused message and a refused DELE keep the rest going.
#[tokio::test]
async fn fetch_streams_every_message_with_and_without_pipelining() {
    timeout(LIMIT, async {
        for pipelining in [true, false] {
            let mut messages = small_maildrop();
            messages.push(large_message());
            messages.push(b"Subject: last\r\n\r\n.\r\n..\r\n".to_vec());
            let mut setup = Setup::plaintext();
            setup.config.pipelining = pipelining;
            let (address, store) = start(setup, messages.clone()).await;
            let mut client = login(address).await;
            let offered = client
                .capabilities()
                .unwrap()
                .contains(&Capability::Pipelining);
            assert_eq!(offered, pipelining);

            let mut fetch = client.fetch([n(1), n(2), n(9), n(3), n(4), n(5)]);
            assert_eq!(fetch.remaining(), 6);
            let (mut fetched, mut refused, mut largest) = (Vec::new(), Vec::new(), 0);
            loop {
                let mut reader = match fetch.next().await {
                    Ok(Some(reader)) => reader,
                    Ok(None) => break,
                    Err(ClientError::Refused { request, response }) => {
                        assert!(!response.is_ok());
                        refused.push(request);
                        continue;
                    }
                    Err(error) => panic!("{error:?}"),
                };
                let message = reader.message();
                let mut octets = Vec::new();
                while let Some(chunk) = reader.next_chunk().await.unwrap() {
                    assert!(!chunk.is_empty());
                    largest = largest.max(chunk.len());
                    octets.extend_from_slice(&chunk);
                }
                fetched.push((message, octets));
                fetch.delete(message);
                if message == n(2) {
                    // Twice: the second DELE is refused.
                    fetch.delete(message);
                }
            }
            assert_eq!(fetch.remaining(), 0);
            // The end stays the end.
            assert!(fetch.next().await.unwrap().is_none());
            drop(fetch);

            assert_eq!(refused.len(), 2, "{refused:?}");
            assert!(refused.contains(&Request::Retr(n(9))), "{refused:?}");
            assert!(refused.contains(&Request::Dele(n(2))), "{refused:?}");
            let expected: Vec<_> = (1..=5)
                .map(|i| (n(i), messages[i as usize - 1].clone()))
                .collect();
            assert!(fetched == expected, "the messages arrived changed");
            // Streamed: no chunk larger than one read of the driver.
            assert!(largest <= IoConfig::default().read_buffer, "{largest}");

            assert_eq!(client.stat().await.unwrap(), (0, 0));
            assert!(client.quit().await.unwrap());
            let mut committed = store.commits.lock().unwrap().concat();
            committed.sort();
            assert_eq!(committed, ["uid-1", "uid-2", "uid-3", "uid-4", "uid-5"]);
        }
    })
    .await
    .unwrap();
}

/// A scripted server for fetches: `RETR n` is `Subject: n` and a dot-stuffed line, `RETR 9`
/// is refused. With `pipelining` it offers PIPELINING and answers no `RETR` until it has read
/// `hold` of them; then it checks that nothing more comes before its first answer (`EARLY` in
/// the log if something does). With `cut`, it answers `RETR 2` with `cut` only and closes.
/// It records every command line it reads.
async fn batch_server(
    pipelining: bool,
    hold: usize,
    cut: Option<&'static [u8]>,
) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = BufReader::new(stream);
        stream.write_all(b"+OK ready\r\n").await.unwrap();
        let (mut held, mut retrs, mut holding) = (Vec::new(), 0, pipelining && hold > 0);
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await.unwrap() == 0 {
                return;
            }
            let command = line.trim_end().to_string();
            seen.lock().unwrap().push(command.clone());
            if holding && (command.starts_with("RETR") || !held.is_empty()) {
                retrs += usize::from(command.starts_with("RETR"));
                held.push(command);
                if retrs < hold {
                    continue;
                }
                holding = false;
                // The window: nothing more before an answer.
                let more = timeout(Duration::from_millis(100), stream.fill_buf()).await;
                if more.is_ok_and(|read| read.is_ok_and(|octets| !octets.is_empty())) {
                    seen.lock().unwrap().push("EARLY".into());
                }
            } else {
                held.push(command);
            }
            for command in std::mem::take(&mut held) {
                let mut words = command.split_whitespace();
                let (verb, number) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
                let reply = match verb {
                    "CAPA" if pipelining => "+OK\r\nUSER\r\nPIPELINING\r\n.\r\n".to_string(),
                    "CAPA" => "-ERR no CAPA here\r\n".to_string(),
                    "RETR" if number == "9" => "-ERR no such message\r\n".to_string(),
                    "RETR" if number == "2" && cut.is_some() => {
                        stream.write_all(cut.unwrap_or_default()).await.unwrap();
                        stream.get_mut().shutdown().await.unwrap();
                        // Read what comes until the client closes (no reset).
                        let mut rest = Vec::new();
                        let _ = stream.read_to_end(&mut rest).await;
                        return;
                    }
                    "RETR" => format!("+OK\r\nSubject: {number}\r\n\r\n..dot {number}\r\n.\r\n"),
                    "STAT" => "+OK 0 0\r\n".to_string(),
                    "QUIT" => "+OK bye\r\n".to_string(),
                    _ => "+OK\r\n".to_string(),
                };
                stream.write_all(reply.as_bytes()).await.unwrap();
            }
        }
    });
    (address, log)
}

/// The commands after the login.
fn after_login(log: &Mutex<Vec<String>>) -> Vec<String> {
    let log = log.lock().unwrap();
    log.iter()
        .skip_while(|c| !c.starts_with("PASS"))
        .skip(1)
        .cloned()
        .collect()
}

fn subject(number: u32) -> Vec<u8> {
    format!("Subject: {number}\r\n\r\n.dot {number}\r\n").into_bytes()
}

/// With PIPELINING the window of RETRs goes out at once (the server answers none before it
/// has them all), no more than the window, and each DELE goes out once its message was read,
/// with the next RETR; without, one command at a time: RETR, DELE, RETR...
#[tokio::test]
async fn fetch_sends_a_window_of_requests_at_once() {
    timeout(LIMIT, async {
        for pipelining in [true, false] {
            let (address, log) = batch_server(pipelining, 3, None).await;
            let mut client = login(address).await;
            let mut fetch = client.fetch((1..=5).map(n)).window(3);
            let mut fetched = Vec::new();
            while let Some(reader) = fetch.next().await.unwrap() {
                let message = reader.message();
                fetched.push(reader.to_vec().await.unwrap());
                fetch.delete(message);
            }
            drop(fetch);
            assert_eq!(fetched, (1..=5).map(subject).collect::<Vec<_>>());
            assert!(client.quit().await.unwrap());
            let expected: &[&str] = if pipelining {
                &[
                    "RETR 1", "RETR 2", "RETR 3", "DELE 1", "RETR 4", "DELE 2", "RETR 5", "DELE 3",
                    "DELE 4", "DELE 5", "QUIT",
                ]
            } else {
                &[
                    "RETR 1", "DELE 1", "RETR 2", "DELE 2", "RETR 3", "DELE 3", "RETR 4", "DELE 4",
                    "RETR 5", "DELE 5", "QUIT",
                ]
            };
            assert_eq!(after_login(&log), expected, "pipelining: {pipelining}");
        }
    })
    .await
    .unwrap();
}

/// A server that closes the connection mid-batch: an error, never a wait.
#[tokio::test]
async fn a_server_closing_mid_batch_is_an_error() {
    timeout(LIMIT, async {
        // In the middle of the second message.
        let (address, _) = batch_server(true, 3, Some(b"+OK\r\nSubject: 2\r\n\r\nhalf a")).await;
        let mut client = login(address).await;
        let mut fetch = client.fetch((1..=3).map(n));
        let first = fetch.next().await.unwrap().unwrap();
        assert_eq!(first.to_vec().await.unwrap(), subject(1));
        fetch.delete(n(1));
        let mut second = fetch.next().await.unwrap().unwrap();
        assert_eq!(second.message(), n(2));
        let error = loop {
            match second.next_chunk().await {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a cut message ended well"),
                Err(error) => break error,
            }
        };
        assert!(
            matches!(error, ClientError::Session(SessionError::ConnectionClosed)),
            "{error:?}"
        );
        assert!(matches!(fetch.next().await, Err(ClientError::Closed)));
        drop(fetch);
        assert!(matches!(client.stat().await, Err(ClientError::Closed)));

        // Between two answers.
        let (address, _) = batch_server(true, 3, Some(b"")).await;
        let mut client = login(address).await;
        let mut fetch = client.fetch((1..=3).map(n));
        let first = fetch.next().await.unwrap().unwrap();
        assert_eq!(first.to_vec().await.unwrap(), subject(1));
        let error = fetch.next().await.unwrap_err();
        assert!(
            matches!(error, ClientError::Session(SessionError::ConnectionClosed)),
            "{error:?}"
        );
        assert!(matches!(fetch.next().await, Err(ClientError::Closed)));
    })
    .await
    .unwrap();
}

/// Readers dropped half-way, a `next` cancelled, the fetch dropped with answers owed: the
/// session stays in step, and only the DELEs sent take effect.
#[tokio::test]
async fn a_dropped_fetch_leaves_the_session_in_step() {
    timeout(LIMIT, async {
        for pipelining in [true, false] {
            let large = large_message();
            let third = b"Subject: three\r\n\r\nx\r\n".to_vec();
            let messages = vec![large.clone(), DOTTED.to_vec(), third.clone()];
            let mut setup = Setup::plaintext();
            setup.config.pipelining = pipelining;
            let (address, store) = start(setup, messages).await;
            let mut client = login(address).await;

            let mut fetch = client.fetch((1..=3).map(n));
            // Dropped after one chunk: the next `next` reads the rest and throws it away.
            {
                let mut reader = fetch.next().await.unwrap().unwrap();
                assert!(reader.next_chunk().await.unwrap().is_some());
            }
            let reader = fetch.next().await.unwrap().unwrap();
            assert_eq!(reader.message(), n(2));
            assert_eq!(reader.to_vec().await.unwrap(), DOTTED);
            fetch.delete(n(2));
            // DELE 2 goes out with this `next`, cancelled (or not) at once; then the fetch is
            // dropped with its answers owed.
            let _ = timeout(Duration::ZERO, fetch.next()).await;
            drop(fetch);
            let size = (large.len() + third.len()) as u64;
            assert_eq!(client.stat().await.unwrap(), (2, size));

            // A DELE asked for but never sent.
            let mut fetch = client.fetch([]);
            fetch.delete(n(1));
            drop(fetch);
            assert_eq!(client.stat().await.unwrap(), (2, size));

            // Another fetch after it: in step.
            let mut fetch = client.fetch([n(3), n(1)]);
            let reader = fetch.next().await.unwrap().unwrap();
            assert_eq!(reader.to_vec().await.unwrap(), third);
            let reader = fetch.next().await.unwrap().unwrap();
            assert!(reader.to_vec().await.unwrap() == large);
            assert!(fetch.next().await.unwrap().is_none());
            drop(fetch);
            assert!(client.quit().await.unwrap());
            assert_eq!(*store.commits.lock().unwrap(), [vec!["uid-2"]]);
        }
    })
    .await
    .unwrap();
}

/// A fetch after a cancelled call reads that call's answer first; a cancelled `next` (while
/// it catches up, and while it waits for its message) sends nothing twice and the next one
/// goes on.
#[tokio::test]
async fn a_cancelled_next_goes_on_where_it_stopped() {
    timeout(LIMIT, async {
        for pipelining in [false, true] {
            let (address, log) = slow_server(pipelining).await;
            let mut client = login(address).await;
            let short = Duration::from_millis(50);
            assert!(timeout(short, client.dele(n(1))).await.is_err());
            let mut fetch = client.fetch([n(1)]);
            // Catching up with DELE 1 (answered after 300 ms).
            assert!(timeout(short, fetch.next()).await.is_err());
            // Catching up, then RETR 1 sent and its answer (300 ms more) awaited.
            assert!(
                timeout(Duration::from_millis(400), fetch.next())
                    .await
                    .is_err()
            );
            let reader = fetch.next().await.unwrap().unwrap();
            assert_eq!(reader.message(), n(1));
            assert_eq!(
                reader.to_vec().await.unwrap(),
                b"Subject: one\r\n\r\n.dot\r\n"
            );
            assert!(fetch.next().await.unwrap().is_none());
            drop(fetch);
            assert_eq!(client.stat().await.unwrap(), (2, 30));
            assert!(client.quit().await.unwrap());
            let log = log.lock().unwrap().clone();
            let after_login: Vec<&str> = log
                .iter()
                .map(String::as_str)
                .skip_while(|c| !c.starts_with("PASS"))
                .skip(1)
                .collect();
            assert_eq!(after_login, ["DELE 1", "RETR 1", "STAT", "QUIT"]);
        }
    })
    .await
    .unwrap();
}
