//! The blocking driver, in process on loopback: its SMTP and POP3 clients against this crate's
//! own servers, STARTTLS and STLS, and the faults (stalled handshakes, peers that stop reading,
//! endless lines, long pipelines through a tiny read buffer, session limits, shutdown).
#![cfg(feature = "blocking")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![allow(clippy::type_complexity, missing_docs)]

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mail_io::blocking::pop3::{self, Login, Maildrop, MessageInfo, Refusal, Retrieve, UidListing};
use mail_io::blocking::{Connection, ServeOptions, smtp};
use mail_io::{Error, IoConfig, Machine, Output, Shutdown};
use mail_wire::machine::OutputQueue;
use pop3_proto::types::{KnownCode, MessageNumber, UniqueId};
use smtp_proto::server::{Answer, Event as SmtpEvent, Server as SmtpServer, ServerConfig};

#[cfg(feature = "rustls")]
use mail_io::{TlsClient, TlsServer};

#[cfg(feature = "rustls")]
#[path = "common/pki.rs"]
mod pki;

// ---------------------------------------------------------------------------------------------
// Helpers.

/// A self-signed certificate for `localhost`, as the server and the client that trusts it.
#[cfg(feature = "rustls")]
fn tls_pair() -> (TlsServer, TlsClient) {
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let der = certified.cert.der().clone();
    let key = certified.key_pair.serialize_der().try_into().unwrap();
    let server = TlsServer::from_der(vec![der.clone()], key).unwrap();
    let client = TlsClient::trusting("localhost", vec![der]).unwrap();
    (server, client)
}

fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    (listener, address)
}

fn number(n: u32) -> MessageNumber {
    MessageNumber::new(n).unwrap()
}

/// A message of `size` octets of 78-character lines, made as it is read.
struct Generated {
    left: u64,
    at: usize,
}

const LINE: &[u8] =
    b"0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ012345\r\n";

impl Generated {
    fn new(size: u64) -> Self {
        Self { left: size, at: 0 }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        while n < buf.len() && self.left > 0 {
            buf[n] = LINE[self.at];
            self.at = (self.at + 1) % LINE.len();
            self.left -= 1;
            n += 1;
        }
        Ok(n)
    }
}

/// A maildrop over messages in memory, shared by every session: deletions at QUIT last.
#[derive(Clone)]
struct Memory {
    store: Arc<Mutex<Vec<(String, Vec<u8>)>>>,
    session: Vec<(String, Vec<u8>)>,
    closed: Arc<Mutex<Vec<Option<String>>>>,
}

impl Memory {
    fn new(messages: &[(&str, &[u8])]) -> Self {
        let messages = messages
            .iter()
            .map(|(uid, message)| (uid.to_string(), message.to_vec()))
            .collect();
        Self {
            store: Arc::new(Mutex::new(messages)),
            session: Vec::new(),
            closed: Arc::new(Mutex::new(Vec::new())),
        }
    }
}

impl Maildrop for Memory {
    type Message = io::Cursor<Vec<u8>>;

    fn login(&mut self, login: &Login) -> Result<Vec<MessageInfo>, Refusal> {
        if login.username() != Some("alice") || !login.verify_secret(b"secret") {
            return Err(Refusal::auth());
        }
        self.session = self.store.lock().unwrap().clone();
        Ok(self
            .session
            .iter()
            .map(|(uid, message)| MessageInfo {
                size: message.len() as u64,
                uid: UniqueId::new(uid.clone()).unwrap(),
            })
            .collect())
    }

    fn retrieve(&mut self, request: &Retrieve) -> Result<Self::Message, Refusal> {
        let (_, message) = self
            .session
            .get(request.message.index())
            .ok_or_else(|| Refusal::new("no such message"))?;
        Ok(io::Cursor::new(message.clone()))
    }

    fn commit(&mut self, deleted: &[UidListing<'static>]) -> Result<(), Refusal> {
        let mut store = self.store.lock().unwrap();
        store.retain(|(uid, _)| !deleted.iter().any(|gone| gone.uid.as_str() == uid));
        Ok(())
    }

    fn closed(&mut self, error: Option<&pop3::ServerError>) {
        self.closed
            .lock()
            .unwrap()
            .push(error.map(|error| error.to_string()));
    }
}

/// A maildrop of one generated message of `size` octets, any login accepted.
struct Big {
    size: u64,
    closed: Arc<Mutex<Option<String>>>,
}

impl Maildrop for Big {
    type Message = Generated;

    fn login(&mut self, _login: &Login) -> Result<Vec<MessageInfo>, Refusal> {
        Ok(vec![MessageInfo {
            size: self.size,
            uid: UniqueId::new("big").unwrap(),
        }])
    }

    fn retrieve(&mut self, _request: &Retrieve) -> Result<Self::Message, Refusal> {
        Ok(Generated::new(self.size))
    }

    fn closed(&mut self, error: Option<&pop3::ServerError>) {
        *self.closed.lock().unwrap() = error.map(|error| error.to_string());
    }
}

fn pop3_config() -> pop3::ServerConfig {
    pop3::ServerConfig {
        plaintext_login: true,
        ..pop3::ServerConfig::default()
    }
}

/// Serves POP3 over `maildrop` in a thread; returns the address, the shutdown and the thread.
fn serve_pop3(
    maildrop: Memory,
    options: ServeOptions,
) -> (SocketAddr, Shutdown, thread::JoinHandle<io::Result<()>>) {
    let (listener, address) = bind();
    let shutdown = options.shutdown.clone();
    let config = pop3_config();
    let server = thread::spawn(move || {
        pop3::serve(listener, config, options, move |_peer| maildrop.clone())
    });
    (address, shutdown, server)
}

/// Runs an SMTP server machine over one accepted connection, accepting everything (AUTH only
/// for alice/secret); returns the bodies.
fn smtp_server(
    listener: TcpListener,
    config: ServerConfig,
    #[cfg(feature = "rustls")] tls: Option<TlsServer>,
) -> thread::JoinHandle<Result<Vec<Vec<u8>>, Error>> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let connection = Connection::new(SmtpServer::new(config), stream);
        #[cfg(feature = "rustls")]
        let connection = match tls {
            Some(tls) => connection.with_tls_server(tls),
            None => connection,
        };
        let mut connection = connection;
        let mut bodies = Vec::new();
        let mut body = Vec::new();
        while let Some(event) = connection.next_event()? {
            let machine = connection.machine_mut();
            match event {
                SmtpEvent::Body(chunk) => body.extend_from_slice(&chunk),
                SmtpEvent::MessageEnd { .. } => {
                    bodies.push(std::mem::take(&mut body));
                    machine.answer(Answer::Accept).unwrap();
                }
                SmtpEvent::Authenticate { credentials, .. } => {
                    let good = credentials.username() == Some("alice")
                        && credentials.verify_password(b"secret");
                    let answer = if good {
                        Answer::Accept
                    } else {
                        let code = smtp_proto::types::ReplyCode::new(535).unwrap();
                        Answer::Reply(smtp_proto::types::Reply::new(code, "no").unwrap())
                    };
                    machine.answer(answer).unwrap();
                }
                event if event.is_decision() => machine.answer(Answer::Accept).unwrap(),
                _ => {}
            }
        }
        Ok(bodies)
    })
}

fn envelope() -> smtp::Envelope {
    smtp::Envelope::new(smtp::Mailbox::parse("alice@example.org").unwrap())
        .to(smtp::Mailbox::parse("bob@example.com").unwrap())
}

/// Octets resident in this process (Linux), for memory checks.
fn resident() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

// ---------------------------------------------------------------------------------------------
// SMTP.

#[test]
fn the_smtp_client_sends_several_messages_to_a_blocking_server() {
    let (listener, address) = bind();
    let server = smtp_server(
        listener,
        ServerConfig::default(),
        #[cfg(feature = "rustls")]
        None,
    );
    let mut client = smtp::Client::connect(address.to_string())
        .plaintext()
        .connect()
        .unwrap();
    assert!(!client.is_tls());
    let first = b"Subject: one\r\n\r\n.starts with a dot\r\n".to_vec();
    let report = client.send(envelope(), &first[..]).unwrap();
    assert!(report.is_delivered_to_all(), "{report:?}");
    // A large body streams from a reader.
    let size = LINE.len() as u64 * 40_000;
    let report = client.send(envelope(), Generated::new(size)).unwrap();
    assert!(report.is_delivered_to_all(), "{report:?}");
    client.quit().unwrap();
    let bodies = server.join().unwrap().unwrap();
    assert_eq!(bodies.len(), 2);
    assert_eq!(bodies[0], first);
    let mut second = Vec::new();
    Generated::new(size).read_to_end(&mut second).unwrap();
    assert!(bodies[1] == second, "the large body differs");
}

#[cfg(feature = "rustls")]
#[test]
fn the_smtp_client_starts_tls_and_authenticates() {
    let (server_tls, client_tls) = tls_pair();
    let (listener, address) = bind();
    let config = ServerConfig {
        starttls: true,
        sasl_mechanisms: smtp_proto::server::ServerMechanisms::new().plain(),
        ..ServerConfig::default()
    };
    let server = smtp_server(listener, config, Some(server_tls));
    let mut client = smtp::Client::connect(address.to_string())
        .starttls(client_tls)
        .credentials("alice", "secret")
        .connect()
        .unwrap();
    assert!(client.is_tls());
    assert!(client.is_authenticated());
    let report = client
        .send(envelope(), &b"Subject: over TLS\r\n\r\nhi\r\n"[..])
        .unwrap();
    assert!(report.is_delivered_to_all());
    client.quit().unwrap();
    let bodies = server.join().unwrap().unwrap();
    assert_eq!(bodies, [b"Subject: over TLS\r\n\r\nhi\r\n".to_vec()]);
}

#[test]
fn the_machine_timeout_ends_an_idle_session_while_a_shutdown_is_watched() {
    let (listener, address) = bind();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut config = ServerConfig::default();
        config.timeouts.command = Duration::from_millis(600);
        let mut connection =
            Connection::new(SmtpServer::new(config), stream).with_shutdown(Shutdown::new());
        while let Some(event) = connection.next_event().unwrap() {
            if event.is_decision() {
                connection.machine_mut().answer(Answer::Accept).unwrap();
            }
        }
    });
    let started = Instant::now();
    let mut transcript = String::new();
    TcpStream::connect(address)
        .unwrap()
        .read_to_string(&mut transcript)
        .unwrap();
    let waited = started.elapsed();
    server.join().unwrap();
    assert!(transcript.starts_with("220 "), "{transcript}");
    assert!(transcript.contains("\r\n421 "), "{transcript}");
    assert!(waited >= Duration::from_millis(550), "{waited:?}");
    assert!(waited < Duration::from_secs(3), "{waited:?}");
}

// ---------------------------------------------------------------------------------------------
// POP3.

#[test]
fn the_pop3_client_lists_retrieves_deletes_and_commits() {
    let messages: [(&str, &[u8]); 3] = [
        ("m1", b"Subject: one\r\n\r\n.dotted\r\nline\r\n"),
        ("m2", b"Subject: two\r\n\r\n1\r\n2\r\n3\r\n"),
        ("m3", b"Subject: three\r\n\r\nthree\r\n"),
    ];
    let total: usize = messages.iter().map(|(_, message)| message.len()).sum();
    let maildrop = Memory::new(&messages);
    let closed = maildrop.closed.clone();
    let store = maildrop.store.clone();
    let (address, shutdown, server) = serve_pop3(maildrop, ServeOptions::new());
    let mut client = pop3::Client::connect(address.to_string())
        .plaintext()
        .allow_plaintext_auth()
        .user_pass("alice", "secret")
        .connect()
        .unwrap();
    assert!(client.capabilities().is_some());
    assert_eq!(client.stat().unwrap(), (3, total as u64));
    let listing = client.list().unwrap();
    assert_eq!(listing.len(), 3);
    assert_eq!(client.list_one(number(2)).unwrap().size, 25);
    let uids = client.uidl().unwrap();
    assert_eq!(uids[2].uid.as_str(), "m3");
    assert_eq!(client.uidl_one(number(1)).unwrap().uid.as_str(), "m1");
    // RETR as a Read, unstuffed.
    let mut first = Vec::new();
    client
        .retr(number(1))
        .unwrap()
        .read_to_end(&mut first)
        .unwrap();
    assert_eq!(first, b"Subject: one\r\n\r\n.dotted\r\nline\r\n");
    // TOP: the headers, the blank line and one line.
    let mut top = Vec::new();
    let mut reader = client.top(number(2), 1).unwrap();
    assert_eq!(reader.message(), number(2));
    reader.read_to_end(&mut top).unwrap();
    assert_eq!(top, b"Subject: two\r\n\r\n1\r\n");
    // A reader dropped half-way: the rest is skipped at the next call.
    let mut reader = client.retr(number(3)).unwrap();
    let mut one = [0; 1];
    reader.read_exact(&mut one).unwrap();
    drop(reader);
    assert_eq!(
        client.retr_to_vec(number(3)).unwrap(),
        b"Subject: three\r\n\r\nthree\r\n"
    );
    // Refusals leave the session going.
    let refused = client.retr_to_vec(number(9)).unwrap_err();
    assert!(refused.is_refused(), "{refused:?}");
    client.dele(number(1)).unwrap();
    client.rset().unwrap();
    client.dele(number(2)).unwrap();
    client.noop().unwrap();
    assert!(client.dele(number(2)).unwrap_err().is_refused());
    assert!(client.quit().unwrap());
    let left: Vec<String> = store
        .lock()
        .unwrap()
        .iter()
        .map(|(uid, _)| uid.clone())
        .collect();
    assert_eq!(left, ["m1", "m3"]);
    // A wrong password is refused with [AUTH].
    let refused = pop3::Client::connect(address.to_string())
        .plaintext()
        .allow_plaintext_auth()
        .user_pass("alice", "wrong")
        .connect()
        .unwrap_err();
    let pop3::ClientError::Session(pop3_proto::client::Error::LoginFailed { response, .. }) =
        refused
    else {
        panic!("{refused:?}");
    };
    assert!(response.code().is_some_and(|code| code.is(KnownCode::Auth)));
    shutdown.trigger();
    server.join().unwrap().unwrap();
    let closed = closed.lock().unwrap();
    assert_eq!(closed.len(), 2, "{closed:?}");
    assert_eq!(closed[0], None);
}

#[cfg(feature = "rustls")]
#[test]
fn the_pop3_client_runs_stls_and_implicit_tls() {
    let (server_tls, client_tls) = tls_pair();
    let maildrop = Memory::new(&[("m1", b"Subject: secret\r\n\r\nhi\r\n")]);
    let options = ServeOptions::new().tls(server_tls.clone());
    let (address, shutdown, server) = serve_pop3(maildrop.clone(), options);
    let mut client = pop3::Client::connect(address.to_string())
        .stls(client_tls.clone())
        .user_pass("alice", "secret")
        .connect()
        .unwrap();
    assert!(client.is_tls());
    assert_eq!(
        client.retr_to_vec(number(1)).unwrap(),
        b"Subject: secret\r\n\r\nhi\r\n"
    );
    assert!(client.quit().unwrap());
    // Without TLS, the credentials stay home.
    let refused = pop3::Client::connect(address.to_string())
        .plaintext()
        .user_pass("alice", "secret")
        .connect()
        .unwrap_err();
    assert!(
        matches!(refused, pop3::ClientError::Session(_)),
        "{refused:?}"
    );
    shutdown.trigger();
    server.join().unwrap().unwrap();

    let options = ServeOptions::new().implicit_tls(server_tls);
    let (address, shutdown, server) = serve_pop3(maildrop, options);
    let mut client = pop3::Client::connect(address.to_string())
        .implicit_tls(client_tls)
        .user_pass("alice", "secret")
        .connect()
        .unwrap();
    assert!(client.is_tls());
    assert_eq!(client.stat().unwrap(), (1, 23));
    assert!(client.quit().unwrap());
    shutdown.trigger();
    server.join().unwrap().unwrap();
}

#[test]
fn over_the_session_limit_a_client_is_told_and_closed() {
    let maildrop = Memory::new(&[]);
    let (address, shutdown, server) = serve_pop3(maildrop, ServeOptions::new().max_sessions(1));
    let mut first = BufReader::new(TcpStream::connect(address).unwrap());
    let mut greeting = String::new();
    first.read_line(&mut greeting).unwrap();
    assert!(greeting.starts_with("+OK"), "{greeting}");
    let mut second = String::new();
    TcpStream::connect(address)
        .unwrap()
        .read_to_string(&mut second)
        .unwrap();
    assert_eq!(second, "-ERR [SYS/TEMP] too many connections\r\n");
    shutdown.trigger();
    server.join().unwrap().unwrap();
}

#[test]
fn shutdown_ends_idle_sessions_politely_and_serve_returns() {
    let maildrop = Memory::new(&[]);
    let (address, shutdown, server) = serve_pop3(maildrop, ServeOptions::new());
    let mut idle = BufReader::new(TcpStream::connect(address).unwrap());
    let mut transcript = String::new();
    idle.read_line(&mut transcript).unwrap();
    let started = Instant::now();
    shutdown.trigger();
    idle.read_to_string(&mut transcript).unwrap();
    assert!(
        transcript.ends_with("-ERR server shutting down\r\n"),
        "{transcript}"
    );
    server.join().unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[cfg(feature = "rustls")]
#[test]
fn over_the_session_limit_an_implicit_tls_client_is_closed_without_plaintext() {
    let (server_tls, _) = tls_pair();
    let maildrop = Memory::new(&[]);
    let options = ServeOptions::new().implicit_tls(server_tls).max_sessions(1);
    let (address, shutdown, server) = serve_pop3(maildrop, options);
    // The first client holds the only slot, in its handshake.
    let first = TcpStream::connect(address).unwrap();
    thread::sleep(Duration::from_millis(100));
    // The second is closed without a word: plaintext would only garble its TLS.
    let mut said = String::new();
    TcpStream::connect(address)
        .unwrap()
        .read_to_string(&mut said)
        .unwrap();
    assert_eq!(said, "");
    drop(first);
    shutdown.trigger();
    server.join().unwrap().unwrap();
}

#[cfg(feature = "rustls")]
#[test]
fn shutdown_cuts_an_implicit_tls_handshake_short() {
    let (server_tls, _) = tls_pair();
    let maildrop = Memory::new(&[]);
    let closed = maildrop.closed.clone();
    // The handshake would wait 30 s, the server 10 s for its sessions.
    let options = ServeOptions::new().implicit_tls(server_tls);
    let (address, shutdown, server) = serve_pop3(maildrop, options);
    // A client that never says hello.
    let mut silent = TcpStream::connect(address).unwrap();
    thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    shutdown.trigger();
    server.join().unwrap().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    let mut said = Vec::new();
    let _ = silent.read_to_end(&mut said);
    assert!(said.is_empty(), "{said:?}");
    assert_eq!(*closed.lock().unwrap(), [None]);
}

// ---------------------------------------------------------------------------------------------
// Faults.

/// Plays an SMTP server up to the `220` to STARTTLS, then sends the start of a TLS record one
/// octet every 100 ms, for ever: a handshake that never ends.
#[cfg(feature = "rustls")]
fn trickling_starttls_server(listener: TcpListener) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut stream = stream;
        let mut line = String::new();
        stream.write_all(b"220 localhost ESMTP\r\n").unwrap();
        reader.read_line(&mut line).unwrap();
        stream
            .write_all(b"250-localhost\r\n250 STARTTLS\r\n")
            .unwrap();
        reader.read_line(&mut line).unwrap();
        assert!(line.ends_with("STARTTLS\r\n"), "{line}");
        stream
            .write_all(b"220 2.0.0 Ready to start TLS\r\n")
            .unwrap();
        let header = [0x16, 0x03, 0x03, 0x40, 0x00];
        for i in 0.. {
            let octet = header.get(i).copied().unwrap_or(0);
            if stream.write_all(&[octet]).is_err() {
                return;
            }
            thread::sleep(Duration::from_millis(100));
        }
    })
}

#[cfg(feature = "rustls")]
#[test]
fn a_server_that_trickles_the_tls_handshake_times_out_within_the_limit() {
    let (_, client_tls) = tls_pair();
    let (listener, address) = bind();
    let server = trickling_starttls_server(listener);
    let started = Instant::now();
    let failed = smtp::Client::connect(address.to_string())
        .starttls(client_tls)
        .io(IoConfig::new().handshake_timeout(Duration::from_secs(1)))
        .connect()
        .unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(failed, smtp::ClientError::Io(Error::HandshakeTimeout(_))),
        "{failed:?}"
    );
    assert!(waited >= Duration::from_millis(950), "{waited:?}");
    assert!(waited < Duration::from_millis(2000), "{waited:?}");
    server.join().unwrap();
}

#[cfg(feature = "rustls")]
#[test]
fn a_server_that_stalls_the_implicit_tls_handshake_times_out() {
    let (_, client_tls) = tls_pair();
    let (listener, address) = bind();
    let stall = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        thread::sleep(Duration::from_secs(3));
        drop(stream);
    });
    let started = Instant::now();
    let failed = pop3::Client::connect(address.to_string())
        .implicit_tls(client_tls)
        .user_pass("alice", "secret")
        .io(IoConfig::new().handshake_timeout(Duration::from_millis(500)))
        .connect()
        .unwrap_err();
    assert!(
        matches!(failed, pop3::ClientError::Io(Error::HandshakeTimeout(_))),
        "{failed:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1500),
        "{:?}",
        started.elapsed()
    );
    stall.join().unwrap();
}

/// A POP3 session over one accepted connection that streams a `size`-octet message, with a
/// one-second write timeout; returns the session's result and how long it ran.
fn big_message_session(
    listener: TcpListener,
    size: u64,
) -> thread::JoinHandle<(Result<(), pop3::ServerError>, Option<String>)> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let closed = Arc::new(Mutex::new(None));
        let maildrop = Big {
            size,
            closed: closed.clone(),
        };
        let io = IoConfig::new().write_timeout(Duration::from_secs(1));
        let connection = Connection::new(pop3::Server::new(pop3_config()), stream).with_config(io);
        let result = pop3::run_session(connection, maildrop);
        let closed = closed.lock().unwrap().clone();
        (result, closed)
    })
}

#[test]
fn a_peer_that_stops_reading_a_large_response_gets_a_write_timeout() {
    let (listener, address) = bind();
    let session = big_message_session(listener, 1 << 30);
    let mut client = TcpStream::connect(address).unwrap();
    client
        .write_all(b"USER alice\r\nPASS secret\r\nRETR 1\r\n")
        .unwrap();
    let started = Instant::now();
    // Never read: the session must give up on its own.
    let (result, closed) = session.join().unwrap();
    let waited = started.elapsed();
    assert!(
        matches!(result, Err(pop3::ServerError::Io(Error::WriteTimeout(_)))),
        "{result:?}"
    );
    assert!(closed.is_some_and(|error| error.contains("did not read")));
    assert!(waited < Duration::from_secs(5), "{waited:?}");
    drop(client);
}

#[test]
fn a_peer_that_reads_a_trickle_cannot_stretch_a_write_past_its_deadline() {
    let (listener, address) = bind();
    let session = big_message_session(listener, 1 << 30);
    let mut client = TcpStream::connect(address).unwrap();
    client
        .write_all(b"USER alice\r\nPASS secret\r\nRETR 1\r\n")
        .unwrap();
    let hang_up = client.try_clone().unwrap();
    let reader = thread::spawn(move || {
        // 1 KiB every 20 ms: each write of the server moves, none finishes in time.
        let mut buffer = [0; 1024];
        while let Ok(n) = client.read(&mut buffer) {
            if n == 0 {
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
    });
    let started = Instant::now();
    let (result, _) = session.join().unwrap();
    let waited = started.elapsed();
    assert!(
        matches!(result, Err(pop3::ServerError::Io(Error::WriteTimeout(_)))),
        "{result:?}"
    );
    assert!(waited < Duration::from_secs(8), "{waited:?}");
    hang_up.shutdown(std::net::Shutdown::Both).unwrap();
    reader.join().unwrap();
}

#[test]
fn twenty_thousand_pipelined_commands_through_a_seven_octet_read_buffer_are_all_answered() {
    const COMMANDS: usize = 20_000;
    let (listener, address) = bind();
    let session = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let maildrop = Memory::new(&[("m1", b"Subject: s\r\n\r\n.body\r\n")]);
        let io = IoConfig::new().read_buffer(7);
        let connection = Connection::new(pop3::Server::new(pop3_config()), stream).with_config(io);
        pop3::run_session(connection, maildrop)
    });
    let stream = TcpStream::connect(address).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = thread::spawn(move || {
        let mut commands = b"USER alice\r\nPASS secret\r\n".to_vec();
        for i in 0..COMMANDS {
            // STAT, not NOOP: a session of 10 000 NOOPs is junk (`max_junk_commands`).
            commands.extend_from_slice(if i % 2 == 0 {
                b"RETR 1\r\n"
            } else {
                b"STAT\r\n"
            });
        }
        commands.extend_from_slice(b"QUIT\r\n");
        writer.write_all(&commands).unwrap();
    });
    let mut transcript = Vec::new();
    BufReader::new(stream).read_to_end(&mut transcript).unwrap();
    sender.join().unwrap();
    session.join().unwrap().unwrap();
    let transcript = String::from_utf8(transcript).unwrap();
    let lines: Vec<&str> = transcript.split("\r\n").collect();
    let ok = lines.iter().filter(|line| line.starts_with("+OK")).count();
    let ends = lines.iter().filter(|line| **line == ".").count();
    let stuffed = lines.iter().filter(|line| **line == "..body").count();
    assert!(!transcript.contains("-ERR"), "{}", &transcript[..200]);
    // Greeting, USER, PASS, every command, QUIT.
    assert_eq!(ok, 3 + COMMANDS + 1);
    assert_eq!(ends, COMMANDS / 2);
    assert_eq!(stuffed, COMMANDS / 2);
    assert!(transcript.ends_with("+OK bye\r\n"));
}

/// Plays a POP3 server up to `RETR`, then answers it with `+OK` and 1 GiB without a line end,
/// made as it goes; returns how many octets of it went out before the client hung up.
fn endless_line_server(listener: TcpListener) -> thread::JoinHandle<u64> {
    thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut stream = stream;
        stream.write_all(b"+OK ready\r\n").unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                return 0;
            }
            match line.split_whitespace().next() {
                Some("CAPA") => stream.write_all(b"+OK\r\nUSER\r\n.\r\n").unwrap(),
                Some("RETR") => break,
                _ => stream.write_all(b"+OK\r\n").unwrap(),
            }
        }
        stream.write_all(b"+OK here it comes\r\n").unwrap();
        let chunk = vec![b'a'; 64 * 1024];
        let mut sent = 0u64;
        while sent < 1 << 30 {
            if stream.write_all(&chunk).is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        sent
    })
}

#[test]
fn a_gigabyte_without_a_line_end_is_cut_off_at_the_line_limit() {
    let (listener, address) = bind();
    let server = endless_line_server(listener);
    let before = resident();
    let mut client = pop3::Client::connect(address.to_string())
        .plaintext()
        .allow_plaintext_auth()
        .user_pass("alice", "secret")
        .connect()
        .unwrap();
    let mut reader = client.retr(number(1)).unwrap();
    let failed = io::copy(&mut reader, &mut io::sink()).unwrap_err();
    assert!(failed.to_string().contains("line"), "{failed}");
    drop(client);
    let sent = server.join().unwrap();
    // Cut off after the 1 MiB line limit (and what the socket buffers held), far from 1 GiB.
    assert!(sent < 64 << 20, "{sent} octets went out");
    if let (Some(before), Some(after)) = (before, resident()) {
        assert!(
            after.saturating_sub(before) < 64 << 20,
            "{before} -> {after}"
        );
    }
}

#[test]
fn a_gigabyte_command_line_is_consumed_with_bounded_memory_then_refused() {
    let (listener, address) = bind();
    let session = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let connection = Connection::new(pop3::Server::new(pop3_config()), stream);
        pop3::run_session(connection, Memory::new(&[]))
    });
    let stream = TcpStream::connect(address).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let before = resident();
    let sender = thread::spawn(move || {
        let chunk = vec![b'a'; 256 * 1024];
        for _ in 0..(1 << 30) / chunk.len() {
            writer.write_all(&chunk).unwrap();
        }
        writer.write_all(b"\r\nQUIT\r\n").unwrap();
    });
    let mut transcript = String::new();
    BufReader::new(stream)
        .read_to_string(&mut transcript)
        .unwrap();
    sender.join().unwrap();
    session.join().unwrap().unwrap();
    assert!(
        transcript.ends_with("-ERR line too long\r\n+OK bye\r\n"),
        "{transcript}"
    );
    if let (Some(before), Some(after)) = (before, resident()) {
        assert!(
            after.saturating_sub(before) < 64 << 20,
            "{before} -> {after}"
        );
    }
}

#[cfg(unix)]
#[test]
fn a_unix_socket_carries_a_session_through_small_idle_reads() {
    use std::os::unix::net::UnixStream;

    let (ours, mut theirs) = UnixStream::pair().unwrap();
    let session = thread::spawn(move || {
        let maildrop = Memory::new(&[("m1", b"Subject: unix\r\n\r\nhi\r\n")]);
        let connection = Connection::new(pop3::Server::new(pop3_config()), ours);
        pop3::run_session(connection, maildrop)
    });
    let mut reader = BufReader::new(theirs.try_clone().unwrap());
    let mut transcript = String::new();
    reader.read_line(&mut transcript).unwrap();
    // One command at a time, each answered before the next goes.
    for command in ["USER alice", "PASS secret", "STAT"] {
        theirs
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
        reader.read_line(&mut transcript).unwrap();
    }
    theirs.write_all(b"QUIT\r\n").unwrap();
    reader.read_to_string(&mut transcript).unwrap();
    session.join().unwrap().unwrap();
    assert!(transcript.contains("+OK 1 21\r\n"), "{transcript}");
    assert!(transcript.ends_with("+OK bye\r\n"), "{transcript}");
}

// ---------------------------------------------------------------------------------------------
// The driver itself, with a toy machine.

/// A toy machine: a line `starttls` is answered `go` and starts TLS, and so does a line `go`
/// (no events; nothing more is taken as plaintext after either); a line `hold` is reported
/// (`"held"`) and nothing more is taken until the application lets go of `hold`; any other
/// line is reported (`"line"`) and, by a server, answered `ok`; silence for its timer is
/// reported (`"silence"`), and so is the end of the stream (`"eof"`), which it may leave open.
struct Toy {
    out: OutputQueue<&'static str>,
    line: Vec<u8>,
    hold: bool,
    answer: bool,
    timeout: Option<Duration>,
    close_at_eof: bool,
    eofs: Arc<AtomicUsize>,
    /// Lines taken: each starts a new deadline.
    lines: u64,
}

impl Toy {
    /// A server: answers each line.
    fn server(timeout: Option<Duration>) -> Self {
        Self {
            out: OutputQueue::new(),
            line: Vec::new(),
            hold: false,
            answer: true,
            timeout,
            close_at_eof: true,
            eofs: Arc::new(AtomicUsize::new(0)),
            lines: 0,
        }
    }

    /// A client: says `first` (or asks for TLS with `starttls`), answers nothing.
    fn client(timeout: Option<Duration>, starttls: bool, first: &[u8]) -> Self {
        let mut toy = Self::server(timeout);
        toy.answer = false;
        if starttls {
            toy.out.buffer().extend_from_slice(b"starttls\r\n");
        }
        toy.out.buffer().extend_from_slice(first);
        toy
    }
}

impl Machine for Toy {
    type Event = &'static str;
    type ApiError = std::convert::Infallible;

    fn receive(&mut self, bytes: &[u8]) -> usize {
        for (at, &byte) in bytes.iter().enumerate() {
            if self.hold {
                return at;
            }
            self.line.push(byte);
            if byte == b'\n' {
                self.lines += 1;
                if self.line == b"starttls\r\n" || self.line == b"go\r\n" {
                    if self.answer {
                        self.out.buffer().extend_from_slice(b"go\r\n");
                    }
                    self.out.start_tls();
                    self.line.clear();
                    return at + 1;
                } else if self.line == b"hold\r\n" {
                    self.hold = true;
                    self.out.emit("held");
                } else {
                    if self.answer {
                        self.out.buffer().extend_from_slice(b"ok\r\n");
                    }
                    self.out.emit("line");
                }
                self.line.clear();
            }
        }
        bytes.len()
    }

    fn receive_eof(&mut self) {
        self.eofs.fetch_add(1, Ordering::SeqCst);
        self.out.emit("eof");
        if self.close_at_eof {
            self.out.close();
        }
    }

    fn handle_timeout(&mut self) {
        self.out.emit("silence");
    }

    fn shut_down(&mut self) {
        self.out.close();
    }

    fn timeout(&self) -> Option<Duration> {
        if self.out.is_closed() {
            None
        } else {
            self.timeout
        }
    }

    fn timer_epoch(&self) -> u64 {
        self.lines
    }

    fn tls_established(&mut self) -> Result<(), Self::ApiError> {
        Ok(())
    }

    fn poll_output(&mut self) -> Option<Output<Self::Event>> {
        self.out.pop()
    }

    fn is_closed(&self) -> bool {
        self.out.is_closed()
    }
}

/// Runs `test` in a thread of its own; fails if it takes longer than `limit` (a hang) instead
/// of blocking the run.
fn within<T: Send + 'static>(limit: Duration, test: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, outcome) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let _ = done.send(test());
    });
    outcome
        .recv_timeout(limit)
        .expect("the test hung (or panicked: see above)")
}

/// The next event, which must be `expected`.
fn expect_event<S: mail_io::blocking::Transport>(
    connection: &mut Connection<Toy, S>,
    expected: &str,
) {
    assert_eq!(connection.next_event().unwrap(), Some(expected));
}

#[cfg(feature = "rustls")]
#[test]
fn implicit_tls_and_starttls_sessions_that_go_idle_hold_no_driver_buffer() {
    for starttls in [false, true] {
        within(Duration::from_secs(10), move || {
            let (server_tls, client_tls) = tls_pair();
            let (listener, address) = bind();
            let (idle, idle_seen) = std::sync::mpsc::channel();
            let client = thread::spawn(move || {
                let stream = TcpStream::connect(address).unwrap();
                let toy = Toy::client(Some(Duration::from_millis(100)), starttls, b"");
                let connection = Connection::new(toy, stream);
                let mut connection = if starttls {
                    connection.with_tls_client(client_tls)
                } else {
                    connection.connect_tls(client_tls).unwrap()
                };
                // Up, then nothing to say: idle.
                expect_event(&mut connection, "silence");
                assert!(connection.is_tls());
                assert_eq!(connection.buffer_capacity(), 0, "starttls: {starttls}");
                idle_seen.recv().unwrap();
                while connection.next_event().unwrap().is_some() {}
            });
            let (stream, _) = listener.accept().unwrap();
            let connection = Connection::new(Toy::server(Some(Duration::from_millis(400))), stream);
            let mut connection = if starttls {
                connection.with_tls_server(server_tls)
            } else {
                connection.accept_tls(server_tls).unwrap()
            };
            expect_event(&mut connection, "silence");
            assert!(connection.is_tls());
            assert_eq!(connection.buffer_capacity(), 0, "starttls: {starttls}");
            idle.send(()).unwrap();
            connection.machine_mut().shut_down();
            assert_eq!(connection.next_event().unwrap(), None);
            client.join().unwrap();
        });
    }
}

#[test]
fn after_a_read_that_fills_the_buffer_an_idle_wait_holds_no_buffer() {
    // Plain TCP and TLS: four octets into a four-octet read buffer, then silence.
    let tls_too = cfg!(feature = "rustls");
    for tls in [false, tls_too] {
        within(Duration::from_secs(10), move || {
            let (listener, address) = bind();
            #[cfg(feature = "rustls")]
            let (server_tls, client_tls) = tls_pair();
            let client = thread::spawn(move || {
                let stream = TcpStream::connect(address).unwrap();
                let toy = Toy::client(None, false, b"ab\r\n");
                let connection = Connection::new(toy, stream);
                #[cfg(feature = "rustls")]
                let connection = if tls {
                    connection.connect_tls(client_tls).unwrap()
                } else {
                    connection
                };
                let mut connection = connection;
                // `ok`, then the server's close.
                expect_event(&mut connection, "line");
                expect_event(&mut connection, "eof");
                assert_eq!(connection.next_event().unwrap(), None);
            });
            let (stream, _) = listener.accept().unwrap();
            let io = IoConfig::new().read_buffer(4);
            let toy = Toy::server(Some(Duration::from_millis(300)));
            let connection = Connection::new(toy, stream).with_config(io);
            #[cfg(feature = "rustls")]
            let connection = if tls {
                connection.accept_tls(server_tls).unwrap()
            } else {
                connection
            };
            let mut connection = connection;
            expect_event(&mut connection, "line");
            let started = Instant::now();
            expect_event(&mut connection, "silence");
            assert_eq!(connection.buffer_capacity(), 0, "tls: {tls}");
            assert!(started.elapsed() >= Duration::from_millis(250));
            connection.machine_mut().shut_down();
            assert_eq!(connection.next_event().unwrap(), None);
            client.join().unwrap();
        });
    }
}

#[test]
fn timeouts_of_duration_max_neither_overflow_nor_expire() {
    let tls_too = cfg!(feature = "rustls");
    for tls in [false, tls_too] {
        within(Duration::from_secs(10), move || {
            #[cfg(not(feature = "rustls"))]
            let _ = tls;
            let forever = IoConfig::new()
                .connect_timeout(Duration::MAX)
                .handshake_timeout(Duration::MAX)
                .write_timeout(Duration::MAX);
            let (listener, address) = bind();
            #[cfg(feature = "rustls")]
            let (server_tls, client_tls) = tls_pair();
            let client = thread::spawn(move || {
                let toy = Toy::client(Some(Duration::MAX), false, b"hi\r\n");
                let connection = Connection::connect(address, toy, forever).unwrap();
                #[cfg(feature = "rustls")]
                let connection = if tls {
                    connection.connect_tls(client_tls).unwrap()
                } else {
                    connection
                };
                let mut connection = connection;
                expect_event(&mut connection, "line");
                connection.machine_mut().shut_down();
                assert_eq!(connection.next_event().unwrap(), None);
            });
            let (stream, _) = listener.accept().unwrap();
            let toy = Toy::server(Some(Duration::MAX));
            let connection = Connection::new(toy, stream).with_config(forever);
            #[cfg(feature = "rustls")]
            let connection = if tls {
                connection.accept_tls(server_tls).unwrap()
            } else {
                connection
            };
            let mut connection = connection;
            expect_event(&mut connection, "line");
            expect_event(&mut connection, "eof");
            assert_eq!(connection.next_event().unwrap(), None);
            client.join().unwrap();
        });
    }
}

#[test]
fn a_machine_that_stays_open_at_the_end_of_the_stream_hears_of_it_once() {
    // A timer: the driver waits for it, and never reads again.
    within(Duration::from_secs(10), || {
        let (listener, address) = bind();
        drop(TcpStream::connect(address).unwrap());
        let (stream, _) = listener.accept().unwrap();
        let mut toy = Toy::server(Some(Duration::from_millis(200)));
        toy.close_at_eof = false;
        let eofs = toy.eofs.clone();
        let mut connection = Connection::new(toy, stream);
        expect_event(&mut connection, "eof");
        let started = Instant::now();
        expect_event(&mut connection, "silence");
        expect_event(&mut connection, "silence");
        assert!(started.elapsed() >= Duration::from_millis(350));
        assert_eq!(eofs.load(Ordering::SeqCst), 1);
        connection.machine_mut().shut_down();
        assert_eq!(connection.next_event().unwrap(), None);
    });
    // No timer, a shutdown watched: the driver waits for it.
    within(Duration::from_secs(10), || {
        let (listener, address) = bind();
        drop(TcpStream::connect(address).unwrap());
        let (stream, _) = listener.accept().unwrap();
        let mut toy = Toy::server(None);
        toy.close_at_eof = false;
        let eofs = toy.eofs.clone();
        let shutdown = Shutdown::new();
        let mut connection = Connection::new(toy, stream).with_shutdown(shutdown.clone());
        expect_event(&mut connection, "eof");
        let trigger = thread::spawn(move || {
            thread::sleep(Duration::from_millis(300));
            shutdown.trigger();
        });
        let started = Instant::now();
        assert_eq!(connection.next_event().unwrap(), None);
        assert!(started.elapsed() >= Duration::from_millis(250));
        assert_eq!(eofs.load(Ordering::SeqCst), 1);
        trigger.join().unwrap();
    });
    // Neither: nothing can happen any more, the connection is closed.
    within(Duration::from_secs(10), || {
        let (listener, address) = bind();
        drop(TcpStream::connect(address).unwrap());
        let (stream, _) = listener.accept().unwrap();
        let mut toy = Toy::server(None);
        toy.close_at_eof = false;
        let eofs = toy.eofs.clone();
        let mut connection = Connection::new(toy, stream);
        expect_event(&mut connection, "eof");
        assert_eq!(connection.next_event().unwrap(), None);
        assert!(connection.is_closed());
        assert_eq!(eofs.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn the_end_of_the_stream_is_told_after_the_input_that_came_before_it() {
    within(Duration::from_secs(10), || {
        let (listener, address) = bind();
        let mut client = TcpStream::connect(address).unwrap();
        client.write_all(b"hold\r\nafter\r\n").unwrap();
        drop(client);
        let (stream, _) = listener.accept().unwrap();
        let toy = Toy::server(Some(Duration::from_millis(300)));
        let mut connection = Connection::new(toy, stream);
        expect_event(&mut connection, "held");
        // Still held: the end has come, but `after` is not taken yet.
        expect_event(&mut connection, "silence");
        connection.machine_mut().hold = false;
        expect_event(&mut connection, "line");
        expect_event(&mut connection, "eof");
        assert_eq!(connection.next_event().unwrap(), None);
    });
}

#[test]
fn a_max_unread_of_zero_still_reads() {
    // The field can be set to 0 directly (the builder makes it at least 1): read as 1.
    let mut io = IoConfig::new();
    io.max_unread = 0;
    let (listener, address) = bind();
    let client = thread::spawn(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .write_all(b"USER alice\r\nPASS secret\r\nSTAT\r\nQUIT\r\n")
            .unwrap();
        let mut transcript = String::new();
        stream.read_to_string(&mut transcript).unwrap();
        transcript
    });
    within(Duration::from_secs(10), move || {
        let (stream, _) = listener.accept().unwrap();
        let connection = Connection::new(pop3::Server::new(pop3_config()), stream).with_config(io);
        pop3::run_session(connection, Memory::new(&[])).unwrap();
    });
    let transcript = client.join().unwrap();
    assert!(
        transcript.ends_with("+OK 0 0\r\n+OK bye\r\n"),
        "{transcript}"
    );
}

// ---------------------------------------------------------------------------------------------
// More faults, as the tokio driver has them.

#[test]
fn a_server_closing_mid_reply_and_a_client_closing_mid_body_end_cleanly() {
    use smtp_proto::client::{
        Client as SmtpClient, ClientConfig, Error as ClientError, Event as ClientEvent, TlsPolicy,
    };

    // The client's side: the server hangs up in the middle of a multi-line EHLO reply.
    let (listener, address) = bind();
    let server = thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        stream.write_all(b"220 x ESMTP\r\n").unwrap();
        let mut buffer = [0; 256];
        let _ = stream.read(&mut buffer).unwrap();
        stream.write_all(b"250-x\r\n250-PIPELI").unwrap();
    });
    let failure = within(Duration::from_secs(5), move || {
        let machine = SmtpClient::new(ClientConfig {
            tls: TlsPolicy::Never,
            ..ClientConfig::default()
        });
        let mut connection = Connection::connect(address, machine, IoConfig::default()).unwrap();
        let mut failure = None;
        while let Some(event) = connection.next_event().unwrap() {
            if let ClientEvent::Error(error) = event {
                failure = Some(error);
            }
        }
        failure
    });
    assert_eq!(failure, Some(ClientError::ConnectionClosed));
    server.join().unwrap();

    // The server's side: the client hangs up in the middle of a body; nothing is delivered.
    let (listener, address) = bind();
    #[cfg(feature = "rustls")]
    let session = smtp_server(listener, ServerConfig::default(), None);
    #[cfg(not(feature = "rustls"))]
    let session = smtp_server(listener, ServerConfig::default());
    let mut stream = TcpStream::connect(address).unwrap();
    let mut buffer = [0; 1024];
    let _ = stream.read(&mut buffer).unwrap();
    stream.write_all(b"EHLO c\r\n").unwrap();
    let _ = stream.read(&mut buffer).unwrap();
    stream
        .write_all(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n")
        .unwrap();
    stream.write_all(b"Subject: half\r\n\r\nhalf a bo").unwrap();
    thread::sleep(Duration::from_millis(50));
    drop(stream);
    let bodies = within(Duration::from_secs(5), move || session.join().unwrap());
    assert_eq!(bodies.unwrap(), Vec::<Vec<u8>>::new());
}

#[cfg(feature = "rustls")]
#[test]
fn tls_on_a_plaintext_port_and_plaintext_on_a_tls_port_end_promptly() {
    use smtp_proto::client::{Client as SmtpClient, ClientConfig, TlsPolicy};

    let quick = IoConfig::new()
        .handshake_timeout(Duration::from_secs(2))
        .write_timeout(Duration::from_secs(1));

    // A TLS ClientHello to a plaintext SMTP server: the handshake fails, the session ends.
    let (listener, address) = bind();
    let config = ServerConfig {
        max_errors: 3,
        ..ServerConfig::default()
    };
    let session = smtp_server(listener, config, None);
    let (_, client_tls) = tls_pair();
    let started = Instant::now();
    let error = within(Duration::from_secs(5), move || {
        let machine = SmtpClient::new(ClientConfig {
            tls: TlsPolicy::Never,
            implicit_tls: true,
            ..ClientConfig::default()
        });
        let connection = Connection::connect(address, machine, quick).unwrap();
        connection.connect_tls(client_tls).unwrap_err()
    });
    assert!(
        matches!(error, Error::Tls(_) | Error::HandshakeTimeout(_)),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let _ = within(Duration::from_secs(10), move || session.join().unwrap());

    // Plaintext to an implicit TLS server: the handshake fails at once.
    let (listener, address) = bind();
    let (server_tls, _) = tls_pair();
    let session = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let config = ServerConfig {
            implicit_tls: true,
            starttls: false,
            ..ServerConfig::default()
        };
        Connection::new(SmtpServer::new(config), stream)
            .with_config(quick)
            .accept_tls(server_tls)
            .map(|_| ())
    });
    let mut stream = TcpStream::connect(address).unwrap();
    stream.write_all(b"EHLO plain.example\r\n").unwrap();
    let started = Instant::now();
    let outcome = within(Duration::from_secs(3), move || session.join().unwrap());
    assert!(matches!(outcome, Err(Error::Tls(_))), "{outcome:?}");
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[test]
fn a_server_that_says_421_and_hangs_up_mid_body_is_reported_as_such() {
    let (listener, address) = bind();
    let server = thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut read = BufReader::new(stream.try_clone().unwrap());
        let mut write = stream;
        write.write_all(b"220 x ESMTP\r\n").unwrap();
        let mut line = String::new();
        read.read_line(&mut line).unwrap();
        write.write_all(b"250 x\r\n").unwrap();
        for reply in ["250 ok\r\n", "250 ok\r\n", "354 go\r\n"] {
            line.clear();
            read.read_line(&mut line).unwrap();
            write.write_all(reply.as_bytes()).unwrap();
        }
        let mut some = vec![0; 64 * 1024];
        let _ = read.read(&mut some).unwrap();
        write.write_all(b"421 4.3.2 Shutting down\r\n").unwrap();
        // Hang up with the client's body unread: the client's writes fail.
    });
    let outcome = within(Duration::from_secs(20), move || {
        let mut client = smtp::Client::connect(address.to_string())
            .plaintext()
            .connect()
            .unwrap();
        // 64 MiB, made as it is read (other tests measure this process's memory).
        client.send(envelope(), Generated::new(64 << 20))
    });
    match outcome {
        Err(smtp::ClientError::Session(smtp_proto::client::Error::ServiceClosing(reply))) => {
            assert_eq!(reply.code().get(), 421);
        }
        other => panic!("{other:?}"),
    }
    server.join().unwrap();
}

#[test]
fn an_unanswered_decision_without_a_machine_timeout_does_not_hang() {
    let (listener, address) = bind();
    let client = thread::spawn(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        // Far more than the machine and the driver hold while the login waits for its answer.
        let mut commands = b"USER alice\r\nPASS secret\r\n".to_vec();
        commands.extend_from_slice(&b"NOOP\r\n".repeat(50_000));
        let _ = stream.write_all(&commands);
        // Stay connected (the server must not wait for the end of the stream).
        let mut rest = Vec::new();
        let _ = stream.read_to_end(&mut rest);
    });
    let outcome = within(Duration::from_secs(10), move || {
        let (stream, _) = listener.accept().unwrap();
        let mut connection = Connection::new(pop3::Server::new(pop3_config()), stream);
        loop {
            match connection.next_event() {
                // The login is left unanswered; the machine has no timer then.
                Ok(Some(pop3_proto::server::Event::Login(_))) => {}
                Ok(Some(event)) if event.is_decision() => connection
                    .machine_mut()
                    .answer(pop3_proto::server::Answer::Accept)
                    .unwrap(),
                Ok(Some(_)) => {}
                other => return (other.map(|_| ()), connection.is_closed()),
            }
        }
    });
    let (result, closed) = outcome;
    assert!(matches!(result, Err(Error::Api(_))), "{result:?}");
    assert!(closed);
    client.join().unwrap();
}

/// Logs in only alice by a verified mechanism (EXTERNAL); an empty maildrop.
#[cfg(feature = "rustls")]
#[derive(Clone)]
struct CertificateOnly;

#[cfg(feature = "rustls")]
impl Maildrop for CertificateOnly {
    type Message = io::Cursor<Vec<u8>>;

    fn login(&mut self, login: &Login) -> Result<Vec<MessageInfo>, Refusal> {
        let verified =
            matches!(login, Login::Sasl { credentials, .. } if credentials.is_verified());
        if login.username() != Some("alice") || !verified {
            return Err(Refusal::auth());
        }
        Ok(Vec::new())
    }

    fn retrieve(&mut self, _request: &Retrieve) -> Result<Self::Message, Refusal> {
        Err(Refusal::auth())
    }
}

/// RFC 4422 appendix A and RFC 2595 4, with the blocking driver: after STLS the machine
/// knows the client certificate's identity before it reads the CAPA and AUTH that follow,
/// so EXTERNAL logs in (the blocking twin of the review's
/// `review2_pop3_stls_external_and_plus`).
#[cfg(feature = "rustls")]
#[test]
fn rfc4422_appendix_a_blocking_pop3_external_right_after_stls() {
    let pki = pki::pki("alice", None);
    let (server_tls, client_tls) = pki::mutual_tls(&pki, true);
    let (listener, address) = bind();
    let options = ServeOptions::new().tls(server_tls);
    let shutdown = options.shutdown.clone();
    let config = pop3::ServerConfig {
        sasl_mechanisms: pop3::ServerMechanisms::new().external(),
        ..pop3::ServerConfig::default()
    };
    let server =
        thread::spawn(move || pop3::serve(listener, config, options, move |_peer| CertificateOnly));
    let external = mail_wire::sasl::ExternalClient::new(None).unwrap();
    let client = pop3::Client::connect(address.to_string())
        .stls(client_tls)
        .sasl(Box::new(external))
        .connect()
        .unwrap();
    assert!(client.is_tls());
    assert!(client.quit().unwrap());
    shutdown.trigger();
    server.join().unwrap().unwrap();
}

#[test]
fn a_client_trickling_one_octet_every_50_ms_is_closed_at_the_command_deadline() {
    within(Duration::from_secs(20), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let mut config = ServerConfig::default();
        config.timeouts.command = Duration::from_millis(400);
        let server = smtp_server(
            listener,
            config,
            #[cfg(feature = "rustls")]
            None,
        );
        let stream = TcpStream::connect(address).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut transcript = String::new();
        reader.read_line(&mut transcript).unwrap();
        let started = Instant::now();
        // Each octet used to restart the timer; now the line must be done in 400 ms.
        let trickler = thread::spawn(move || {
            for (sent, byte) in b"NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP\r\n"
                .iter()
                .enumerate()
            {
                if writer.write_all(std::slice::from_ref(byte)).is_err() {
                    return sent;
                }
                thread::sleep(Duration::from_millis(50));
            }
            usize::MAX
        });
        reader.read_to_string(&mut transcript).unwrap();
        let held = started.elapsed();
        assert!(
            transcript.ends_with("421 4.4.2 Timeout waiting for a command, closing\r\n"),
            "{transcript:?}"
        );
        assert!(held >= Duration::from_millis(380), "{held:?}");
        assert!(held < Duration::from_secs(3), "held its slot {held:?}");
        assert!(server.join().unwrap().unwrap().is_empty());
        assert!(trickler.join().unwrap() < 57, "the whole line went through");
    });
}

#[test]
fn a_busy_blocking_session_is_ended_politely_at_the_session_timeout() {
    within(Duration::from_secs(20), || {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let server = thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let io = IoConfig::new().session_timeout(Some(Duration::from_millis(700)));
            let mut connection =
                Connection::new(SmtpServer::new(ServerConfig::default()), stream).with_config(io);
            while let Some(event) = connection.next_event()? {
                if event.is_decision() {
                    connection.machine_mut().answer(Answer::Accept).unwrap();
                }
            }
            Ok::<_, Error>(())
        });
        let stream = TcpStream::connect(address).unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let started = Instant::now();
        let mut served = 0;
        for _ in 0..100 {
            if writer.write_all(b"NOOP\r\n").is_err() {
                break;
            }
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 || line.starts_with("421 ") {
                break;
            }
            served += 1;
            thread::sleep(Duration::from_millis(50));
        }
        let held = started.elapsed();
        assert_eq!(line, "421 4.4.2 Session time limit reached, closing\r\n");
        assert!(served >= 3, "{served}");
        assert!(
            held >= Duration::from_millis(600) && held < Duration::from_secs(3),
            "{held:?}"
        );
        server.join().unwrap().unwrap();
    });
}

#[cfg(unix)]
#[test]
fn the_session_timeout_ends_a_session_that_only_sends_and_closes_a_machine_that_stays_open() {
    use std::os::unix::net::UnixStream;

    within(Duration::from_secs(10), || {
        let (ours, _theirs) = UnixStream::pair().unwrap();
        // No timer of its own (as a POP3 server streaming a message): only the session's.
        let io = IoConfig::new().session_timeout(Some(Duration::from_millis(300)));
        let mut connection = Connection::new(Toy::server(None), ours).with_config(io);
        let started = Instant::now();
        let mut turns = 0;
        while started.elapsed() < Duration::from_millis(350) {
            connection.send().unwrap();
            turns += 1;
            thread::sleep(Duration::from_millis(20));
        }
        assert!(turns > 5);
        // The machine heard of it (the toy reports it and stays open) ...
        assert_eq!(connection.next_event().unwrap(), Some("silence"));
        // ... and the driver ends the session all the same.
        assert_eq!(connection.next_event().unwrap(), None);
        assert!(connection.is_closed());
    });
}
