//! The tokio driver under faults, in process on loopback: stalled handshakes, peers that stop
//! reading, endless lines, connections closed half-way, TLS and plaintext on the wrong ports,
//! and long pipelines through a tiny read buffer.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::{Duration, Instant};

use mail_io::tls::{CertificateDer, PrivateKeyDer};
use mail_io::{Connection, Error, IoConfig, TlsClient, TlsServer};
use smtp_proto::client::{Client as SmtpClient, ClientConfig, Event as ClientEvent, TlsPolicy};
use smtp_proto::server::{Answer, Event as ServerEvent, Server as SmtpServer, ServerConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};

/// A self-signed certificate for `localhost`, as the server and the client that trusts it.
fn tls_pair(ca: bool) -> (TlsServer, TlsClient) {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".to_string()]).unwrap();
    if ca {
        // What `openssl req -x509` makes: a certificate that says it is a CA.
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let der: CertificateDer<'static> = cert.der().clone();
    let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let server = TlsServer::from_der(vec![der.clone()], key).unwrap();
    let client = TlsClient::trusting("localhost", vec![der]).unwrap();
    (server, client)
}

async fn bind() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

/// A raw client past the greeting and EHLO (talking ahead of them is refused, RFC 2920).
async fn greeted(addr: std::net::SocketAddr) -> (BufReader<OwnedReadHalf>, OwnedWriteHalf) {
    let socket = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    let mut lines = String::new();
    read.read_line(&mut lines).await.unwrap();
    write.write_all(b"EHLO c.example\r\n").await.unwrap();
    while !lines.contains("\n250 ") {
        read.read_line(&mut lines).await.unwrap();
    }
    (read, write)
}

/// Reads everything the server sends until it closes.
fn transcript(mut read: BufReader<OwnedReadHalf>) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut transcript = Vec::new();
        read.read_to_end(&mut transcript).await.unwrap();
        String::from_utf8_lossy(&transcript).into_owned()
    })
}

fn quick(handshake_ms: u64, write_ms: u64) -> IoConfig {
    IoConfig::default()
        .handshake_timeout(Duration::from_millis(handshake_ms))
        .write_timeout(Duration::from_millis(write_ms))
}

fn smtp_client(policy: TlsPolicy, implicit: bool) -> SmtpClient {
    SmtpClient::new(ClientConfig {
        tls: policy,
        implicit_tls: implicit,
        ..ClientConfig::default()
    })
}

/// Runs an SMTP server machine, accepting everything; returns the bodies received.
async fn accept_all<T: mail_io::Transport>(
    mut connection: Connection<SmtpServer, T>,
) -> Result<Vec<Vec<u8>>, Error> {
    let mut bodies = Vec::new();
    let mut body = Vec::new();
    while let Some(event) = connection.next_event().await? {
        match event {
            ServerEvent::Body(chunk) => body.extend_from_slice(&chunk),
            ServerEvent::MessageEnd { .. } => {
                bodies.push(std::mem::take(&mut body));
                connection.machine_mut().answer(Answer::Accept).unwrap();
            }
            event if event.is_decision() => {
                connection.machine_mut().answer(Answer::Accept).unwrap()
            }
            _ => {}
        }
    }
    Ok(bodies)
}

#[tokio::test]
async fn a_server_that_stalls_the_implicit_tls_handshake_times_out() {
    let (listener, addr) = bind().await;
    let stall = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        tokio::time::sleep(Duration::from_secs(5)).await;
        drop(socket);
    });
    let (_, tls) = tls_pair(false);
    let started = Instant::now();
    let client = smtp_client(TlsPolicy::Never, true);
    let connection = Connection::connect(addr, client, quick(300, 1000))
        .await
        .unwrap();
    let error = connection.connect_tls(tls).await.unwrap_err();
    assert!(matches!(error, Error::HandshakeTimeout(_)), "{error}");
    assert!(started.elapsed() < Duration::from_secs(3));
    stall.abort();
}

#[tokio::test]
async fn a_server_that_stalls_after_its_starttls_reply_times_out() {
    let (listener, addr) = bind().await;
    let stall = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket
            .write_all(b"220 stall.example ESMTP\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = socket.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"EHLO "));
        socket
            .write_all(b"250-stall.example\r\n250 STARTTLS\r\n")
            .await
            .unwrap();
        let n = socket.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"STARTTLS\r\n");
        socket.write_all(b"220 go ahead\r\n").await.unwrap();
        // ...and never a ServerHello.
        tokio::time::sleep(Duration::from_secs(5)).await;
    });
    let (_, tls) = tls_pair(false);
    let started = Instant::now();
    let client = smtp_client(TlsPolicy::Required, false);
    let mut connection = Connection::connect(addr, client, quick(300, 1000))
        .await
        .unwrap()
        .with_tls_client(tls);
    let outcome = loop {
        match connection.next_event().await {
            Ok(Some(_)) => continue,
            other => break other,
        }
    };
    assert!(
        matches!(outcome, Err(Error::HandshakeTimeout(_))),
        "{outcome:?}"
    );
    assert!(connection.is_closed());
    assert!(started.elapsed() < Duration::from_secs(3));
    stall.abort();
}

#[tokio::test]
async fn starttls_reaches_a_server_whose_self_signed_certificate_says_ca() {
    for ca in [false, true] {
        let (listener, addr) = bind().await;
        let (server_tls, client_tls) = tls_pair(ca);
        let server = tokio::spawn(async move {
            let (socket, _) = listener.accept().await.unwrap();
            let config = ServerConfig {
                starttls: true,
                ..ServerConfig::default()
            };
            let connection = Connection::new(SmtpServer::new(config), socket);
            accept_all(connection.with_tls_server(server_tls)).await
        });
        let client = smtp_client(TlsPolicy::Required, false);
        let mut connection = Connection::connect(addr, client, IoConfig::default())
            .await
            .unwrap()
            .with_tls_client(client_tls);
        loop {
            match connection.next_event().await.unwrap() {
                Some(ClientEvent::Ready) => break,
                Some(ClientEvent::Error(error)) => panic!("{error}"),
                Some(_) => {}
                None => panic!("closed before ready"),
            }
        }
        assert!(connection.is_tls(), "ca = {ca}");
        connection.machine_mut().quit().unwrap();
        while connection.next_event().await.unwrap().is_some() {}
        assert_eq!(server.await.unwrap().unwrap(), Vec::<Vec<u8>>::new());
    }
}

#[tokio::test]
async fn a_certificate_for_another_name_is_refused_even_when_pinned() {
    let (listener, addr) = bind().await;
    let (server_tls, _) = tls_pair(true);
    let (_, other_client) = tls_pair(true);
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        Connection::new(SmtpServer::new(ServerConfig::default()), socket)
            .accept_tls(server_tls)
            .await
            .map(|_| ())
    });
    // Pinned, but not the certificate the server presents.
    let client = smtp_client(TlsPolicy::Never, true);
    let connection = Connection::connect(addr, client, quick(2000, 1000))
        .await
        .unwrap();
    let error = connection.connect_tls(other_client).await.unwrap_err();
    assert!(matches!(error, Error::Tls(_)), "{error}");
    assert!(server.await.unwrap().is_err());
}

#[tokio::test]
async fn a_peer_that_stops_reading_cannot_hold_a_writer() {
    use pop3_proto::server::{
        Answer as PopAnswer, Event as PopEvent, MessageInfo, Server, ServerConfig as PopConfig,
    };
    use pop3_proto::types::UniqueId;

    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let config = PopConfig {
            plaintext_login: true,
            ..PopConfig::default()
        };
        let mut connection =
            Connection::new(Server::new(config), socket).with_config(quick(1000, 500));
        let chunk = vec![b'x'; 64 * 1024];
        while let Some(event) = connection.next_event().await? {
            match event {
                PopEvent::Login(_) => {
                    let listing = vec![MessageInfo {
                        size: 1 << 30,
                        uid: UniqueId::new("big".to_string()).unwrap(),
                    }];
                    connection
                        .machine_mut()
                        .answer(PopAnswer::Open(listing))
                        .unwrap();
                }
                PopEvent::Retrieve { .. } => {
                    connection.machine_mut().answer(PopAnswer::Accept).unwrap();
                    // A gigabyte, which the client never reads.
                    for _ in 0..(1 << 14) {
                        connection.machine_mut().send_body(&chunk).unwrap();
                        connection.send().await?;
                    }
                    connection.machine_mut().end_body().unwrap();
                }
                event if event.is_decision() => {
                    connection.machine_mut().answer(PopAnswer::Accept).unwrap();
                }
                _ => {}
            }
        }
        Ok::<_, Error>(())
    });
    let mut client = TcpStream::connect(addr).await.unwrap();
    client
        .write_all(b"USER u\r\nPASS p\r\nRETR 1\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let outcome = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .unwrap()
        .unwrap();
    assert!(
        matches!(outcome, Err(Error::WriteTimeout(_))),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(client);
}

#[tokio::test]
async fn a_gigabyte_without_a_line_end_is_consumed_in_bounded_memory_and_refused() {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut connection = Connection::new(SmtpServer::new(ServerConfig::default()), socket);
        let mut most = 0;
        while let Some(event) = connection.next_event().await.unwrap() {
            most = most.max(connection.machine().buffered() + connection.buffered());
            if event.is_decision() {
                connection.machine_mut().answer(Answer::Accept).unwrap();
            }
        }
        most
    });
    let (read, mut write) = greeted(addr).await;
    let reader = transcript(read);
    let junk = vec![b'a'; 1 << 20];
    write.write_all(b"NOOP ").await.unwrap();
    for sent in 0..1024 {
        if let Err(error) = write.write_all(&junk).await {
            let transcript = reader.await.unwrap();
            panic!("cut off after {sent} MiB ({error}): {transcript}");
        }
    }
    write.write_all(b"\r\nQUIT\r\n").await.unwrap();
    let transcript = reader.await.unwrap();
    let most = server.await.unwrap();
    assert!(most <= 64 * 1024, "the server held {most} octets");
    assert!(transcript.starts_with("500 "), "{transcript}");
    assert!(transcript.ends_with("221 2.0.0 Bye\r\n"), "{transcript}");
}

#[tokio::test]
async fn a_server_closing_mid_reply_and_a_client_closing_mid_body_end_cleanly() {
    // The client's side: the server hangs up in the middle of a multi-line EHLO reply.
    let (listener, addr) = bind().await;
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        socket.write_all(b"220 x ESMTP\r\n").await.unwrap();
        let mut buf = [0u8; 256];
        let _ = socket.read(&mut buf).await.unwrap();
        socket.write_all(b"250-x\r\n250-PIPELI").await.unwrap();
    });
    let mut connection = Connection::connect(
        addr,
        smtp_client(TlsPolicy::Never, false),
        IoConfig::default(),
    )
    .await
    .unwrap();
    let mut failure = None;
    while let Some(event) = tokio::time::timeout(Duration::from_secs(5), connection.next_event())
        .await
        .expect("no hang")
        .unwrap()
    {
        if let ClientEvent::Error(error) = event {
            failure = Some(error);
        }
    }
    assert_eq!(failure, Some(smtp_proto::client::Error::ConnectionClosed));

    // The server's side: the client hangs up in the middle of a body; nothing is delivered.
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        accept_all(Connection::new(
            SmtpServer::new(ServerConfig::default()),
            socket,
        ))
        .await
    });
    let mut socket = TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 1024];
    let _ = socket.read(&mut buf).await.unwrap();
    socket.write_all(b"EHLO c\r\n").await.unwrap();
    let _ = socket.read(&mut buf).await.unwrap();
    socket
        .write_all(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nSubject: half\r\n\r\nhalf a bo")
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(50)).await;
    drop(socket);
    let bodies = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert!(bodies.is_empty());
}

#[tokio::test]
async fn tls_on_a_plaintext_port_and_plaintext_on_a_tls_port_end_promptly() {
    // A TLS ClientHello to a plaintext SMTP server: the handshake fails, the session ends.
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let config = ServerConfig {
            max_errors: 3,
            ..ServerConfig::default()
        };
        accept_all(Connection::new(SmtpServer::new(config), socket)).await
    });
    let (_, tls) = tls_pair(false);
    let connection =
        Connection::connect(addr, smtp_client(TlsPolicy::Never, true), quick(2000, 1000))
            .await
            .unwrap();
    let started = Instant::now();
    let error = connection.connect_tls(tls).await.unwrap_err();
    assert!(
        matches!(error, Error::Tls(_) | Error::HandshakeTimeout(_)),
        "{error}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let _ = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the server session ended");

    // Plaintext to an implicit-TLS server: the handshake fails at once.
    let (listener, addr) = bind().await;
    let (server_tls, _) = tls_pair(false);
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let config = ServerConfig {
            implicit_tls: true,
            starttls: false,
            ..ServerConfig::default()
        };
        Connection::new(SmtpServer::new(config), socket)
            .with_config(quick(2000, 1000))
            .accept_tls(server_tls)
            .await
            .map(|_| ())
    });
    let mut socket = TcpStream::connect(addr).await.unwrap();
    socket.write_all(b"EHLO plain.example\r\n").await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(outcome, Err(Error::Tls(_))), "{outcome:?}");
}

#[tokio::test]
async fn twenty_thousand_pipelined_commands_through_a_seven_octet_buffer_are_all_answered() {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        // The junk-command limit set aside: this test is about the buffer.
        let config = ServerConfig {
            max_junk_commands: usize::MAX,
            ..ServerConfig::default()
        };
        let connection = Connection::new(SmtpServer::new(config), socket)
            .with_config(IoConfig::default().read_buffer(7));
        accept_all(connection).await.unwrap()
    });
    let (read, mut write) = greeted(addr).await;
    let reader = transcript(read);
    let mut commands = b"NOOP\r\n".repeat(20_000);
    commands.extend_from_slice(b"QUIT\r\n");
    write.write_all(&commands).await.unwrap();
    let text = reader.await.unwrap();
    server.await.unwrap();
    assert_eq!(text.matches("250 2.0.0 Ok\r\n").count(), 20_000);
    assert!(text.ends_with("221 2.0.0 Bye\r\n"));
}

#[tokio::test]
async fn an_idle_tcp_connection_holds_no_driver_buffer() {
    let (listener, addr) = bind().await;
    let (read, mut write) = {
        let client = tokio::spawn(greeted(addr));
        let (socket, _) = listener.accept().await.unwrap();
        let mut connection = Connection::new(SmtpServer::new(ServerConfig::default()), socket);
        // Serve the greeting and the EHLO, then let the connection sit idle.
        let idle = loop {
            match tokio::time::timeout(Duration::from_millis(300), connection.next_event()).await {
                Ok(event) => {
                    if event.unwrap().is_some_and(|event| event.is_decision()) {
                        connection.machine_mut().answer(Answer::Accept).unwrap();
                    }
                }
                Err(_) => break connection,
            }
        };
        assert_eq!(idle.buffer_capacity(), 0);
        assert_eq!(idle.buffered(), 0);
        client.await.unwrap()
    };
    write.write_all(b"QUIT\r\n").await.unwrap();
    drop((read, write));
}

#[tokio::test]
async fn a_cancelled_next_event_neither_loses_nor_repeats_bytes() {
    let (ours, mut theirs) = tokio::io::duplex(8);
    let mut connection = Connection::new(SmtpServer::new(ServerConfig::default()), ours);
    // The greeting does not fit the 8-octet pipe: the write stops part-way, and the call is
    // dropped there, again and again.
    {
        let cancelled = tokio::time::timeout(Duration::from_millis(20), async {
            loop {
                if let Some(event) = connection.next_event().await.unwrap() {
                    if event.is_decision() {
                        connection.machine_mut().answer(Answer::Accept).unwrap();
                    }
                }
            }
        })
        .await;
        assert!(cancelled.is_err());
        let mut some = [0u8; 4];
        let n = theirs.read(&mut some).await.unwrap();
        assert!(n > 0);
        let mut seen = some[..n].to_vec();
        // Read the rest of what was written so far, then let the driver go on.
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(10), theirs.read(&mut some)).await
        {
            seen.extend_from_slice(&some[..n]);
        }
        if seen.ends_with(b"\r\n") {
            let mut all = seen;
            theirs.write_all(b"QUIT\r\n").await.unwrap();
            let driver =
                tokio::spawn(
                    async move { while connection.next_event().await.unwrap().is_some() {} },
                );
            theirs.read_to_end(&mut all).await.unwrap();
            driver.await.unwrap();
            assert_eq!(
                String::from_utf8(all).unwrap(),
                "220 localhost ESMTP\r\n221 2.0.0 Bye\r\n"
            );
            return;
        }
        // Part of the greeting: the driver must go on from there, not start over.
        assert!(b"220 localhost ESMTP\r\n".starts_with(&seen), "{seen:?}");
        let mut rest = vec![0u8; 21 - seen.len()];
        let driver = async {
            let _ = tokio::time::timeout(Duration::from_millis(20), connection.next_event()).await;
        };
        let (_, read) = tokio::join!(driver, theirs.read_exact(&mut rest));
        read.unwrap();
        seen.extend_from_slice(&rest);
        assert_eq!(seen, b"220 localhost ESMTP\r\n");
        theirs.write_all(b"QUIT\r\n").await.unwrap();
        let driver =
            tokio::spawn(async move { while connection.next_event().await.unwrap().is_some() {} });
        let mut tail = Vec::new();
        theirs.read_to_end(&mut tail).await.unwrap();
        driver.await.unwrap();
        assert_eq!(tail, b"221 2.0.0 Bye\r\n");
    }
}

#[tokio::test]
async fn an_idle_tls_connection_holds_no_driver_buffer() {
    let (listener, addr) = bind().await;
    let (server_tls, client_tls) = tls_pair(false);
    let client = tokio::spawn(async move {
        let client = smtp_client(TlsPolicy::Never, true);
        let mut connection = Connection::connect(addr, client, IoConfig::default())
            .await
            .unwrap()
            .connect_tls(client_tls)
            .await
            .unwrap();
        loop {
            match connection.next_event().await.unwrap() {
                Some(ClientEvent::Ready) => break connection,
                Some(_) => {}
                None => panic!("closed"),
            }
        }
    });
    let (socket, _) = listener.accept().await.unwrap();
    let config = ServerConfig {
        implicit_tls: true,
        starttls: false,
        ..ServerConfig::default()
    };
    let mut connection = Connection::new(SmtpServer::new(config), socket)
        .accept_tls(server_tls)
        .await
        .unwrap();
    let idle = loop {
        match tokio::time::timeout(Duration::from_millis(300), connection.next_event()).await {
            Ok(event) => {
                if event.unwrap().is_some_and(|event| event.is_decision()) {
                    connection.machine_mut().answer(Answer::Accept).unwrap();
                }
            }
            Err(_) => break connection,
        }
    };
    assert!(idle.is_tls());
    assert_eq!(idle.buffer_capacity(), 0);
    drop(client.await.unwrap());
}

#[tokio::test]
async fn endless_timeouts_do_not_overflow() {
    let (ours, mut theirs) = tokio::io::duplex(1024);
    let mut config = ServerConfig::default();
    config.timeouts.command = Duration::MAX;
    let connection = Connection::new(SmtpServer::new(config), ours)
        .with_config(IoConfig::default().write_timeout(Duration::MAX));
    let server = tokio::spawn(accept_all(connection));
    let mut greeting = [0u8; 21];
    theirs.read_exact(&mut greeting).await.unwrap();
    theirs.write_all(b"QUIT\r\n").await.unwrap();
    let mut bye = Vec::new();
    theirs.read_to_end(&mut bye).await.unwrap();
    assert_eq!(bye, b"221 2.0.0 Bye\r\n");
    server.await.unwrap().unwrap();
}

/// A machine that never closes: it counts what it is told.
#[derive(Default)]
struct Stubborn {
    eofs: usize,
}

impl mail_io::Machine for Stubborn {
    type Event = ();
    type ApiError = std::convert::Infallible;
    fn receive(&mut self, bytes: &[u8]) -> usize {
        bytes.len()
    }
    fn receive_eof(&mut self) {
        self.eofs += 1;
    }
    fn handle_timeout(&mut self) {}
    fn shut_down(&mut self) {}
    fn timeout(&self) -> Option<Duration> {
        None
    }
    fn timer_epoch(&self) -> u64 {
        0
    }
    fn tls_established(&mut self) -> Result<(), Self::ApiError> {
        Ok(())
    }
    fn poll_output(&mut self) -> Option<mail_io::Output<()>> {
        None
    }
    fn is_closed(&self) -> bool {
        false
    }
}

#[tokio::test]
async fn the_end_of_stream_is_handed_over_once_even_to_a_machine_that_stays_open() {
    let (ours, theirs) = tokio::io::duplex(64);
    drop(theirs);
    let mut connection = Connection::new(Stubborn::default(), ours);
    let outcome = tokio::time::timeout(Duration::from_secs(2), connection.next_event())
        .await
        .expect("no spin, no hang");
    assert!(matches!(outcome, Ok(None)), "{outcome:?}");
    assert_eq!(connection.machine().eofs, 1);
    assert!(connection.is_closed());
}

#[tokio::test]
async fn a_decision_left_unanswered_is_an_error_not_a_hang() {
    use pop3_proto::server::{Event as PopEvent, Server, ServerConfig as PopConfig};
    let (ours, mut theirs) = tokio::io::duplex(1 << 20);
    // The machine holds 1 KiB while it waits for the answer, the driver 4 KiB more; then
    // nothing can move until the application answers, and no timer runs.
    let config = PopConfig {
        plaintext_login: true,
        max_pending: 1024,
        ..PopConfig::default()
    };
    let mut connection = Connection::new(Server::new(config), ours)
        .with_config(IoConfig::default().max_unread(4096));
    let mut pipeline = b"USER u\r\nPASS p\r\n".to_vec();
    pipeline.extend_from_slice(&b"NOOP\r\n".repeat(10_000));
    theirs.write_all(&pipeline).await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), async {
        loop {
            match connection.next_event().await {
                // The login is never answered.
                Ok(Some(PopEvent::Login(_))) => {}
                Ok(Some(event)) if event.is_decision() => {
                    connection
                        .machine_mut()
                        .answer(pop3_proto::server::Answer::Accept)
                        .unwrap();
                }
                Ok(Some(_)) => {}
                other => break other,
            }
        }
    })
    .await
    .expect("no hang");
    assert!(matches!(outcome, Err(Error::Api(_))), "{outcome:?}");
}

#[tokio::test]
async fn a_server_that_says_421_and_hangs_up_mid_body_is_reported_as_such() {
    use mail_io::smtp::{Client, ClientError, Envelope, Mailbox};
    let (listener, addr) = bind().await;
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut read = BufReader::new(read);
        write.write_all(b"220 x ESMTP\r\n").await.unwrap();
        let mut line = String::new();
        read.read_line(&mut line).await.unwrap();
        write.write_all(b"250 x\r\n").await.unwrap();
        for reply in ["250 ok\r\n", "250 ok\r\n", "354 go\r\n"] {
            line.clear();
            read.read_line(&mut line).await.unwrap();
            write.write_all(reply.as_bytes()).await.unwrap();
        }
        let mut some = vec![0u8; 64 * 1024];
        let _ = read.read(&mut some).await.unwrap();
        write
            .write_all(b"421 4.3.2 Shutting down\r\n")
            .await
            .unwrap();
        // Hang up with the client's body unread: the client's writes fail.
        drop((read, write));
    });
    let mut client = Client::connect(addr.to_string()).plaintext().await.unwrap();
    let envelope = Envelope::new(Mailbox::parse("a@example.org").unwrap())
        .to(Mailbox::parse("b@example.com").unwrap());
    let body = vec![b'x'; 64 << 20];
    let outcome = client.send(envelope, body.as_slice()).await;
    match outcome {
        Err(ClientError::Session(smtp_proto::client::Error::ServiceClosing(reply))) => {
            assert_eq!(reply.code().get(), 421);
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn after_the_grace_period_a_stuck_session_is_ended_with_serve() {
    use mail_io::smtp::{Handler, serve};
    use mail_io::{ServeOptions, Shutdown};

    /// A handler that never answers the greeting.
    struct Stuck;
    impl Handler for Stuck {
        async fn hello(
            &mut self,
            _: smtp_proto::server::Greeting,
            _: smtp_proto::types::Host<'static>,
        ) -> Answer {
            std::future::pending().await
        }
    }

    let (listener, addr) = bind().await;
    let shutdown = Shutdown::new();
    let options = ServeOptions::new()
        .shutdown(shutdown.clone())
        .grace(Duration::from_millis(200));
    let server = tokio::spawn(serve(listener, ServerConfig::default(), options, |_| Stuck));
    let socket = TcpStream::connect(addr).await.unwrap();
    let (read, mut write) = socket.into_split();
    let mut read = BufReader::new(read);
    let mut greeting = String::new();
    read.read_line(&mut greeting).await.unwrap();
    write.write_all(b"EHLO stuck.example\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    shutdown.trigger();
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns after the grace period")
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    // The session is gone with its connection.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), read.read_to_end(&mut rest))
        .await
        .expect("the connection closed");
}

#[tokio::test]
async fn the_end_of_stream_comes_after_the_input_held_back_before_it() {
    let (ours, mut theirs) = tokio::io::duplex(1 << 16);
    // The machine holds 16 octets while a decision waits: the rest waits in the driver.
    let config = ServerConfig {
        max_pending: 16,
        ..ServerConfig::default()
    };
    // No timer runs while a decision is pending (the machine's timeout is `None` then): the
    // shutdown signal is what a wait with nothing to read can end on, so the call cut short
    // below waits instead of reporting a decision left unanswered.
    let mut connection =
        Connection::new(SmtpServer::new(config), ours).with_shutdown(mail_io::Shutdown::new());
    let client = tokio::spawn(async move {
        let mut greeting = [0u8; 21];
        theirs.read_exact(&mut greeting).await.unwrap();
        theirs.write_all(b"EHLO c.example\r\n").await.unwrap();
        let mut ehlo = vec![0u8; 512];
        let n = theirs.read(&mut ehlo).await.unwrap();
        assert!(ehlo[..n].ends_with(b"\r\n"));
        // A pipelined transaction, then the client closes its side at once.
        theirs
            .write_all(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n")
            .await
            .unwrap();
        theirs.shutdown().await.unwrap();
        let mut rest = String::new();
        theirs.read_to_string(&mut rest).await.unwrap();
        rest
    });
    let mut body = Vec::new();
    let mut delayed = false;
    while let Some(event) = connection.next_event().await.unwrap() {
        match event {
            ServerEvent::Body(chunk) => body.extend_from_slice(&chunk),
            ServerEvent::MailFrom { .. } if !delayed => {
                // The application takes its time: the driver reads on meanwhile (the rest of
                // the pipeline and the end of the stream) while the machine holds back.
                delayed = true;
                let _ =
                    tokio::time::timeout(Duration::from_millis(100), connection.next_event()).await;
                connection.machine_mut().answer(Answer::Accept).unwrap();
            }
            event if event.is_decision() => {
                connection.machine_mut().answer(Answer::Accept).unwrap();
            }
            _ => {}
        }
    }
    assert_eq!(body, b"hi\r\n");
    let rest = client.await.unwrap();
    assert!(rest.ends_with("221 2.0.0 Bye\r\n"), "{rest}");
}

/// A server with a short command deadline, over loopback; the raw client is past EHLO.
async fn short_deadlines(
    command: Duration,
    io: IoConfig,
) -> (
    BufReader<OwnedReadHalf>,
    OwnedWriteHalf,
    tokio::task::JoinHandle<Result<Vec<Vec<u8>>, Error>>,
) {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut config = ServerConfig::default();
        config.timeouts.command = command;
        accept_all(Connection::new(SmtpServer::new(config), socket).with_config(io)).await
    });
    let (read, write) = greeted(addr).await;
    (read, write, server)
}

/// Writes `bytes` one octet at a time, `every` apart, until the peer is gone or all are sent;
/// returns how many went out.
async fn trickle(mut write: OwnedWriteHalf, bytes: &'static [u8], every: Duration) -> usize {
    for (sent, byte) in bytes.iter().enumerate() {
        if write.write_all(std::slice::from_ref(byte)).await.is_err() {
            return sent;
        }
        tokio::time::sleep(every).await;
    }
    bytes.len()
}

#[tokio::test]
async fn a_client_trickling_one_octet_every_50_ms_is_closed_at_the_command_deadline() {
    // Before deadlines, each octet restarted the timer: this client held its session for as
    // long as it had octets to send (here 10 s), and for ever with an endless line.
    let (read, write, server) = short_deadlines(Duration::from_millis(400), IoConfig::new()).await;
    let started = Instant::now();
    let sender = tokio::spawn(trickle(
        write,
        b"NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP \
          NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP \
          NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP\r\n",
        Duration::from_millis(50),
    ));
    let transcript = tokio::time::timeout(Duration::from_secs(10), transcript(read))
        .await
        .expect("the trickler is closed")
        .unwrap();
    let held = started.elapsed();
    assert!(
        transcript.ends_with("421 4.4.2 Timeout waiting for a command, closing\r\n"),
        "{transcript:?}"
    );
    // Not cut early: half the deadline is a lower bound no slow CI box breaks (the deadline
    // started at the EHLO reply, a little before `started`).
    assert!(held >= Duration::from_millis(200), "{held:?}");
    assert!(held < Duration::from_secs(3), "held its slot {held:?}");
    server.await.unwrap().unwrap();
    let sent = sender.await.unwrap();
    assert!(sent < 240, "{sent} octets trickled in");
    eprintln!("trickler (1 octet / 50 ms, 400 ms command deadline) held its slot {held:?}");
}

#[tokio::test]
async fn whole_commands_each_within_the_deadline_keep_the_session_alive() {
    // The deadline is per command: a client that completes each in time is served on.
    let (mut read, mut write, server) =
        short_deadlines(Duration::from_millis(400), IoConfig::new()).await;
    let started = Instant::now();
    let mut line = String::new();
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        write.write_all(b"NOOP\r\n").await.unwrap();
        line.clear();
        read.read_line(&mut line).await.unwrap();
        assert_eq!(line, "250 2.0.0 Ok\r\n");
    }
    assert!(started.elapsed() > Duration::from_millis(1000));
    write.write_all(b"QUIT\r\n").await.unwrap();
    let rest = transcript(read).await.unwrap();
    assert_eq!(rest, "221 2.0.0 Bye\r\n");
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn message_data_trickled_is_closed_at_the_data_block_deadline() {
    let (listener, addr) = bind().await;
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let mut config = ServerConfig::default();
        config.timeouts.data_block = Duration::from_millis(400);
        accept_all(Connection::new(SmtpServer::new(config), socket)).await
    });
    let (mut read, mut write) = greeted(addr).await;
    write
        .write_all(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        .await
        .unwrap();
    let mut lines = String::new();
    while !lines.contains("354 ") {
        read.read_line(&mut lines).await.unwrap();
    }
    let started = Instant::now();
    let sender = tokio::spawn(trickle(write, &[b'x'; 200], Duration::from_millis(20)));
    let transcript = tokio::time::timeout(Duration::from_secs(10), transcript(read))
        .await
        .expect("the trickler is closed")
        .unwrap();
    let held = started.elapsed();
    assert!(
        transcript.ends_with("421 4.4.2 Timeout waiting for message data, closing\r\n"),
        "{transcript:?}"
    );
    assert!(held < Duration::from_secs(3), "held {held:?}");
    assert!(
        server.await.unwrap().unwrap().is_empty(),
        "nothing delivered"
    );
    assert!(sender.await.unwrap() < 200);
}

#[tokio::test]
async fn a_busy_session_is_ended_politely_at_the_session_timeout() {
    let io = IoConfig::new().session_timeout(Some(Duration::from_millis(700)));
    let (mut read, mut write, server) = short_deadlines(Duration::from_secs(60), io).await;
    let started = Instant::now();
    let mut line = String::new();
    let mut served = 0;
    for _ in 0..100 {
        if write.write_all(b"NOOP\r\n").await.is_err() {
            break;
        }
        line.clear();
        if read.read_line(&mut line).await.unwrap() == 0 {
            break;
        }
        if line.starts_with("421 ") {
            assert_eq!(line, "421 4.4.2 Session time limit reached, closing\r\n");
            break;
        }
        assert_eq!(line, "250 2.0.0 Ok\r\n");
        served += 1;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let held = started.elapsed();
    assert!(served >= 3, "{served} commands served before the limit");
    // Half the session limit at least (a generous margin for a slow CI box).
    assert!(held >= Duration::from_millis(350), "{held:?}");
    assert!(held < Duration::from_secs(3), "{held:?}");
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn the_session_timeout_ends_a_session_that_only_sends() {
    let (ours, theirs) = tokio::io::duplex(4096);
    let io = IoConfig::new().session_timeout(Some(Duration::from_millis(300)));
    let mut connection =
        Connection::new(SmtpServer::new(ServerConfig::default()), ours).with_config(io);
    // The greeting goes out; then the application only sends (as a POP3 server streaming a
    // message does), never waiting to read.
    assert!(matches!(
        connection.next_event().await.unwrap(),
        Some(ServerEvent::Connected)
    ));
    connection.machine_mut().answer(Answer::Accept).unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(350) {
        connection.send().await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    connection.send().await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(2), connection.next_event())
        .await
        .expect("no hang");
    assert!(matches!(outcome, Ok(None)), "{outcome:?}");
    let mut said = String::new();
    let mut theirs = theirs;
    theirs.read_to_string(&mut said).await.unwrap();
    assert!(
        said.ends_with("421 4.4.2 Session time limit reached, closing\r\n"),
        "{said:?}"
    );
}

#[tokio::test]
async fn a_client_trickling_its_tls_handshake_is_cut_at_the_handshake_deadline_from_its_start() {
    let (listener, addr) = bind().await;
    let (tls, _) = tls_pair(false);
    let server = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let started = Instant::now();
        let outcome = Connection::new(SmtpServer::new(ServerConfig::default()), socket)
            .with_config(quick(400, 1000))
            .accept_tls(tls)
            .await;
        (outcome.map(|_| ()), started.elapsed())
    });
    let socket = TcpStream::connect(addr).await.unwrap();
    let (_read, write) = socket.into_split();
    // The start of a ClientHello record announcing 512 octets, then one octet every 50 ms.
    let mut hello = vec![0x16, 0x03, 0x01, 0x02, 0x00, 0x01];
    hello.resize(100, 0);
    let hello: &'static [u8] = hello.leak();
    let sender = tokio::spawn(trickle(write, hello, Duration::from_millis(50)));
    let (outcome, took) = tokio::time::timeout(Duration::from_secs(10), server)
        .await
        .expect("the handshake is cut")
        .unwrap();
    assert!(
        matches!(outcome, Err(Error::HandshakeTimeout(_))),
        "{outcome:?}"
    );
    // Half the handshake deadline at least (a generous margin for a slow CI box).
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    sender.abort();
}
