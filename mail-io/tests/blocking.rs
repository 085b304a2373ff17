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
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use mail_io::blocking::pop3::{self, Login, Maildrop, MessageInfo, Refusal, Retrieve, UidListing};
use mail_io::blocking::{Connection, ServeOptions, smtp};
use mail_io::{Error, IoConfig, Shutdown};
use pop3_proto::types::{KnownCode, MessageNumber, UniqueId};
use smtp_proto::server::{Answer, Event as SmtpEvent, Server as SmtpServer, ServerConfig};

#[cfg(feature = "rustls")]
use mail_io::{TlsClient, TlsServer};

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
        auth_mechanisms: vec![smtp_proto::types::Mechanism::new("PLAIN").unwrap()],
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
    assert!(response.code.is_some_and(|code| code.is(KnownCode::Auth)));
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
            commands.extend_from_slice(if i % 2 == 0 {
                b"RETR 1\r\n"
            } else {
                b"NOOP\r\n"
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
