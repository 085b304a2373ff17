//! The SMTP client against the crate's own server on loopback: large BDAT bodies through small
//! socket buffers, bodies pushed in pieces (`Client::start` / `MessageWriter`), and what a
//! cancelled or abandoned message does to the session.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use mail_io::smtp::TlsPolicy;
use mail_io::smtp::{
    Answer, Bytes, Client, ClientConfig, ClientError, EnhancedStatus, Envelope, ForwardPath,
    Handler, Mailbox, RcptParameters, ReplyCode, ServerConfig, reply, serve,
};
use mail_io::{IoConfig, ServeOptions};
use smtp_proto::client::Error as SessionError;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWriteExt, BufReader, ReadBuf};
use tokio::net::{TcpListener, TcpSocket};
use tokio::time::timeout;

/// Every test ends well within this, or fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(120);

/// Each message accepted: its body (when kept) and its size.
type Messages = Arc<Mutex<Vec<(Vec<u8>, u64)>>>;

/// What the server saw, shared with the test.
#[derive(Clone, Default)]
struct Seen {
    messages: Messages,
    /// DATA / first BDAT chunks the handler was asked about.
    data_starts: Arc<AtomicUsize>,
    /// Transactions reset or messages refused.
    resets: Arc<AtomicUsize>,
}

/// Takes everything except recipients whose local part starts with "no"; keeps bodies if
/// asked, and waits `delay` before accepting a message.
struct Recorder {
    seen: Seen,
    keep: bool,
    delay: Duration,
    rcpt_delay: Duration,
    body: Vec<u8>,
}

impl Handler for Recorder {
    async fn rcpt_to(&mut self, to: ForwardPath<'static>, _: RcptParameters<'static>) -> Answer {
        tokio::time::sleep(self.rcpt_delay).await;
        match to.mailbox() {
            Some(mailbox) if mailbox.to_string().starts_with("no") => Answer::Reply(reply(
                ReplyCode::MAILBOX_UNAVAILABLE,
                EnhancedStatus::BAD_DESTINATION_MAILBOX,
                "No such user here",
            )),
            _ => Answer::Accept,
        }
    }

    async fn data_start(&mut self) -> Answer {
        self.seen.data_starts.fetch_add(1, Ordering::SeqCst);
        Answer::Accept
    }

    async fn body(&mut self, chunk: Bytes) {
        if self.keep {
            self.body.extend_from_slice(&chunk);
        }
    }

    async fn message_end(&mut self, size: u64, _recipients: usize) -> Answer {
        tokio::time::sleep(self.delay).await;
        let body = std::mem::take(&mut self.body);
        self.seen.messages.lock().unwrap().push((body, size));
        Answer::Accept
    }

    fn transaction_reset(&mut self) {
        self.body.clear();
        self.seen.resets.fetch_add(1, Ordering::SeqCst);
    }
}

#[derive(Clone, Copy)]
struct Server {
    /// 4 KiB socket buffers instead of the system's.
    small_buffers: bool,
    keep: bool,
    delay: Duration,
    rcpt_delay: Duration,
}

impl Default for Server {
    fn default() -> Self {
        Self {
            small_buffers: false,
            keep: true,
            delay: Duration::ZERO,
            rcpt_delay: Duration::ZERO,
        }
    }
}

/// Socket buffers this small make a deadlock show within a few megabytes.
const SMALL_BUFFER: u32 = 4096;

fn socket(small_buffers: bool) -> TcpSocket {
    let socket = TcpSocket::new_v4().unwrap();
    if small_buffers {
        socket.set_send_buffer_size(SMALL_BUFFER).unwrap();
        socket.set_recv_buffer_size(SMALL_BUFFER).unwrap();
    }
    socket
}

/// The crate's SMTP server on loopback (PIPELINING, CHUNKING, no size limit), with a
/// [`Recorder`] per session.
async fn start_server(server: Server) -> (SocketAddr, Seen) {
    let socket = socket(server.small_buffers);
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    // Accepted sockets inherit the listener's buffer sizes.
    let listener: TcpListener = socket.listen(16).unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Seen::default();
    let shared = seen.clone();
    let config = ServerConfig {
        max_message_size: None,
        ..ServerConfig::default()
    };
    let options = ServeOptions::new().io(IoConfig::new().write_timeout(Duration::from_secs(10)));
    tokio::spawn(serve(listener, config, options, move |_| Recorder {
        seen: shared.clone(),
        keep: server.keep,
        delay: server.delay,
        rcpt_delay: server.rcpt_delay,
        body: Vec::new(),
    }));
    (address, seen)
}

/// A client over plaintext, with `chunking` and a write timeout that turns a deadlock into
/// an error.
async fn connect(address: SocketAddr, chunking: bool, small_buffers: bool) -> Client {
    let stream = socket(small_buffers).connect(address).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let config = ClientConfig {
        chunking,
        tls: TlsPolicy::Never,
        ..ClientConfig::default()
    };
    Client::connect("unused")
        .config(config)
        .io(IoConfig::new().write_timeout(Duration::from_secs(10)))
        .over(stream)
        .await
        .unwrap()
}

fn envelope(to: &[&str]) -> Envelope {
    let mut envelope = Envelope::new(Mailbox::parse("alice@example.org").unwrap());
    for to in to {
        envelope = envelope.to(Mailbox::parse(to).unwrap().into_owned());
    }
    envelope
}

/// A body of `size` octets of CRLF-ended lines, made as it is read (never held whole).
struct Lines {
    block: Vec<u8>,
    at: usize,
    left: u64,
}

impl Lines {
    fn new(size: u64) -> Self {
        let mut block = Vec::new();
        let mut n = 0;
        while block.len() < 60 * 1024 {
            block.extend_from_slice(
                format!("{n:06} the quick brown fox jumps over the lazy dog\r\n").as_bytes(),
            );
            n += 1;
        }
        Self {
            block,
            at: 0,
            left: size,
        }
    }
}

impl AsyncRead for Lines {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while buf.remaining() > 0 && this.left > 0 {
            let rest = &this.block[this.at..];
            let n = rest
                .len()
                .min(buf.remaining())
                .min(usize::try_from(this.left).unwrap_or(usize::MAX));
            buf.put_slice(&rest[..n]);
            this.at = (this.at + n) % this.block.len();
            this.left -= n as u64;
        }
        Poll::Ready(Ok(()))
    }
}

// ---------------------------------------------------------------------------------------------
// BDAT through small socket buffers (RFC 2920 3.1, RFC 3030).

/// With PIPELINING and CHUNKING the client used to send every chunk without reading a reply:
/// the server's replies filled the small socket buffers, the server stopped reading, and both
/// sides waited until the write timeout. With the chunks in flight capped, it completes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bdat_large_body_through_small_socket_buffers() {
    timeout(LIMIT, async {
        let (address, seen) = start_server(Server {
            small_buffers: true,
            keep: false,
            ..Server::default()
        })
        .await;
        let mut client = connect(address, true, true).await;
        assert!(
            client
                .capabilities()
                .unwrap()
                .supports(smtp_proto::types::Extension::Chunking)
        );
        const SIZE: u64 = 64 * 1024 * 1024;
        let started = Instant::now();
        let report = client
            .send(envelope(&["bob@example.com"]), Lines::new(SIZE))
            .await
            .unwrap();
        assert!(report.is_delivered_to_all(), "{report:?}");

        // The same through the writer, in pieces of 64 KiB.
        let mut message = client.start(envelope(&["bob@example.com"])).await.unwrap();
        let mut lines = Lines::new(SIZE);
        let mut piece = vec![0; 64 * 1024];
        loop {
            let n = tokio::io::AsyncReadExt::read(&mut lines, &mut piece)
                .await
                .unwrap();
            if n == 0 {
                break;
            }
            message.write(&piece[..n]).await.unwrap();
        }
        let report = message.finish().await.unwrap();
        assert!(report.is_delivered_to_all(), "{report:?}");
        client.quit().await.unwrap();

        let sizes: Vec<u64> = seen.messages.lock().unwrap().iter().map(|m| m.1).collect();
        assert_eq!(sizes, [SIZE, SIZE]);
        eprintln!("2 x {SIZE} octets over BDAT in {:?}", started.elapsed());
    })
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// The body pushed in pieces.

/// A body with dotted lines, bare line ends and a last line without its end, in awkward
/// pieces: the server gets it as `send` would have sent it, over DATA and over BDAT, several
/// messages on one connection.
#[tokio::test]
async fn message_writer_streams_a_body_in_pieces() {
    timeout(LIMIT, async {
        let pieces: Vec<&[u8]> = vec![
            b"Subject: pieces\r\n\r\n",
            b".leading dot\r\n",
            b"..two dots\r",
            b"\n.",
            b"\r\n",
            b"",
            b"bare lf\nmiddle",
            b" of a line\r\nlast line without an end",
        ];
        let canonical: &[u8] = b"Subject: pieces\r\n\r\n.leading dot\r\n..two dots\r\n.\r\nbare lf\r\nmiddle of a line\r\nlast line without an end";
        let (address, seen) = start_server(Server::default()).await;
        for chunking in [false, true] {
            let mut client = connect(address, chunking, false).await;
            for _ in 0..2 {
                let mut message = client.start(envelope(&["bob@example.com"])).await.unwrap();
                assert!(message.report().is_none());
                for piece in &pieces {
                    message.write(piece).await.unwrap();
                }
                let report = message.finish().await.unwrap();
                assert!(report.is_delivered_to_all(), "{report:?}");
            }
            // `send` over the same session, for comparison.
            let report = client
                .send(envelope(&["bob@example.com"]), &pieces.concat()[..])
                .await
                .unwrap();
            assert!(report.is_delivered_to_all());
            assert!(client.is_ready());
            client.quit().await.unwrap();

            let messages = std::mem::take(&mut *seen.messages.lock().unwrap());
            assert_eq!(messages.len(), 3);
            for (body, _) in &messages {
                // DATA ends the last line; BDAT needs no terminator.
                let mut expected = canonical.to_vec();
                if !chunking {
                    expected.extend_from_slice(b"\r\n");
                }
                assert_eq!(String::from_utf8_lossy(body), String::from_utf8_lossy(&expected));
            }
        }
    })
    .await
    .unwrap();
}

/// Every recipient refused: `start` comes back with the report, writes send nothing, `finish`
/// returns the report; no body reached the server, and the session goes on.
#[tokio::test]
async fn message_writer_all_recipients_refused() {
    timeout(LIMIT, async {
        let (address, seen) = start_server(Server::default()).await;
        for chunking in [false, true] {
            let mut client = connect(address, chunking, false).await;
            let mut message = client
                .start(envelope(&["nobody@example.com", "noone@example.com"]))
                .await
                .unwrap();
            let early = message
                .report()
                .cloned()
                .expect("the report before the body");
            assert_eq!(early.delivered(), 0);
            message
                .write(b"Subject: lost\r\n\r\nnever sent\r\n")
                .await
                .unwrap();
            let report = message.finish().await.unwrap();
            assert_eq!(report, early);
            for recipient in &report.recipients {
                assert_eq!(
                    recipient.result.as_ref().unwrap().code(),
                    ReplyCode::MAILBOX_UNAVAILABLE
                );
            }
            assert_eq!(seen.data_starts.load(Ordering::SeqCst), 0);
            assert!(seen.messages.lock().unwrap().is_empty());

            // `send` does not even read the body.
            struct Unreadable;
            impl AsyncRead for Unreadable {
                fn poll_read(
                    self: Pin<&mut Self>,
                    _: &mut Context<'_>,
                    _: &mut ReadBuf<'_>,
                ) -> Poll<io::Result<()>> {
                    panic!("the body of a refused message was read");
                }
            }
            let report = client
                .send(envelope(&["nobody@example.com"]), Unreadable)
                .await
                .unwrap();
            assert_eq!(report.delivered(), 0);

            // One refused, one accepted: the body goes, the report says who.
            let mut message = client
                .start(envelope(&["nobody@example.com", "bob@example.com"]))
                .await
                .unwrap();
            assert!(message.report().is_none());
            message.write(b"Subject: half\r\n\r\nhi\r\n").await.unwrap();
            let report = message.finish().await.unwrap();
            assert_eq!(report.delivered(), 1);
            assert!(!report.recipients[0].is_delivered());
            assert!(report.recipients[1].is_delivered());
            client.quit().await.unwrap();
            assert_eq!(seen.data_starts.swap(0, Ordering::SeqCst), 1);
            assert_eq!(seen.messages.lock().unwrap().len(), 1);
            seen.messages.lock().unwrap().clear();
        }
    })
    .await
    .unwrap();
}

/// A scripted server: accepts the envelope and DATA, reads `before_close` octets of the body,
/// then closes the connection (or, if `stall`, keeps it open without reading).
async fn closes_mid_body(before_close: usize, stall: bool) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut stream = BufReader::new(stream);
        stream.write_all(b"220 mx ready\r\n").await.unwrap();
        let mut line = String::new();
        loop {
            line.clear();
            if stream.read_line(&mut line).await.unwrap() == 0 {
                return;
            }
            let reply: &[u8] = match line.get(..4).unwrap_or("") {
                "EHLO" => b"250-mx\r\n250 PIPELINING\r\n",
                "DATA" => b"354 go on\r\n",
                _ => b"250 ok\r\n",
            };
            stream.write_all(reply).await.unwrap();
            if line.starts_with("DATA") {
                let mut read = 0;
                while read < before_close {
                    line.clear();
                    let n = stream.read_line(&mut line).await.unwrap();
                    if n == 0 {
                        break;
                    }
                    read += n;
                }
                if stall {
                    tokio::time::sleep(LIMIT).await;
                }
                return;
            }
        }
    });
    address
}

/// A write that fails ends the session: the error, then `Closed`; a 7-bit body with an
/// octet above 127 is refused before anything of it is sent.
#[tokio::test]
async fn message_writer_write_errors() {
    timeout(LIMIT, async {
        // The server goes away in the middle of the body.
        let address = closes_mid_body(10_000, false).await;
        let mut client = Client::connect(address.to_string())
            .plaintext()
            .await
            .unwrap();
        let mut message = client.start(envelope(&["bob@example.com"])).await.unwrap();
        let line = [b"x".repeat(78), b"\r\n".to_vec()].concat();
        let piece = line.repeat(800);
        let error = loop {
            if let Err(error) = message.write(&piece).await {
                break error;
            }
        };
        assert!(
            matches!(
                error,
                ClientError::Io(_) | ClientError::Session(SessionError::ConnectionClosed)
            ),
            "{error:?}"
        );
        assert!(matches!(
            message.write(b"more").await,
            Err(ClientError::Closed)
        ));
        assert!(matches!(message.finish().await, Err(ClientError::Closed)));
        assert!(!client.is_ready());
        assert!(matches!(
            client.send(envelope(&["bob@example.com"]), &b"x"[..]).await,
            Err(ClientError::Closed)
        ));

        // An octet above 127 in a body declared 7-bit: refused by the client itself, the
        // session ends without ending the message.
        let (address, seen) = start_server(Server::default()).await;
        for chunking in [false, true] {
            let mut client = connect(address, chunking, false).await;
            let mut message = client.start(envelope(&["bob@example.com"])).await.unwrap();
            message.write(b"Subject: x\r\n\r\n").await.unwrap();
            let error = message.write("Grüße\r\n".as_bytes()).await.unwrap_err();
            assert!(
                matches!(error, ClientError::Session(SessionError::BodyRefused(_))),
                "{error:?}"
            );
            assert!(matches!(message.finish().await, Err(ClientError::Closed)));
            assert!(matches!(client.quit().await, Ok(())));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(seen.messages.lock().unwrap().is_empty());
    })
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// Cancel safety.

/// A `send` cancelled while the server decides on the message: the session cannot go on,
/// every later call says so at once instead of taking the message's replies as its own, and
/// `quit` closes without waiting.
#[tokio::test]
async fn a_cancelled_send_interrupts_the_session() {
    timeout(LIMIT, async {
        for chunking in [false, true] {
            let (address, seen) = start_server(Server {
                delay: Duration::from_millis(500),
                ..Server::default()
            })
            .await;
            let mut client = connect(address, chunking, false).await;
            let cancelled = timeout(
                Duration::from_millis(100),
                client.send(
                    envelope(&["bob@example.com"]),
                    &b"Subject: slow\r\n\r\nhi\r\n"[..],
                ),
            )
            .await;
            assert!(cancelled.is_err(), "the send was not cut off");
            assert!(!client.is_ready());
            let next = client
                .send(
                    envelope(&["bob@example.com"]),
                    &b"Subject: next\r\n\r\nhi\r\n"[..],
                )
                .await;
            assert!(matches!(next, Err(ClientError::Interrupted)), "{next:?}");
            assert!(matches!(
                client.start(envelope(&["bob@example.com"])).await,
                Err(ClientError::Interrupted)
            ));
            // No QUIT, no waiting for the message's reply: the connection just closes.
            let quit = timeout(Duration::from_millis(200), client.quit()).await;
            assert!(
                matches!(quit, Ok(Err(ClientError::Interrupted))),
                "{quit:?}"
            );
            // The cut came after the end of the body: the server had the message whole.
            tokio::time::sleep(Duration::from_millis(700)).await;
            assert_eq!(seen.messages.lock().unwrap().len(), 1);
        }
    })
    .await
    .unwrap();
}

/// A `start` cancelled while the server decides on a recipient, a writer dropped half-way,
/// and a `finish` cancelled: each leaves the session interrupted, and a message cut off
/// before its end is not delivered.
#[tokio::test]
async fn an_abandoned_message_interrupts_the_session() {
    timeout(LIMIT, async {
        for chunking in [false, true] {
            // `start` cut off during the envelope.
            let (address, seen) = start_server(Server {
                rcpt_delay: Duration::from_millis(500),
                ..Server::default()
            })
            .await;
            let mut client = connect(address, chunking, false).await;
            let cancelled = timeout(
                Duration::from_millis(100),
                client.start(envelope(&["bob@example.com"])),
            )
            .await;
            assert!(cancelled.is_err());
            assert!(matches!(
                client
                    .send(envelope(&["bob@example.com"]), &b"x\r\n"[..])
                    .await,
                Err(ClientError::Interrupted)
            ));
            drop(client);

            // The writer dropped before `finish`.
            let (address, seen_dropped) = start_server(Server::default()).await;
            let mut client = connect(address, chunking, false).await;
            let mut message = client.start(envelope(&["bob@example.com"])).await.unwrap();
            message
                .write(b"Subject: dropped\r\n\r\nhalf a message\r\n")
                .await
                .unwrap();
            drop(message);
            assert!(!client.is_ready());
            assert!(matches!(
                client
                    .send(envelope(&["bob@example.com"]), &b"x\r\n"[..])
                    .await,
                Err(ClientError::Interrupted)
            ));
            assert!(matches!(client.quit().await, Err(ClientError::Interrupted)));

            // `finish` cut off while the server decides: a later call on a new writer is not
            // possible (the writer is gone), the client says Interrupted.
            let (address, seen_finish) = start_server(Server {
                delay: Duration::from_millis(500),
                ..Server::default()
            })
            .await;
            let mut client = connect(address, chunking, false).await;
            let mut message = client.start(envelope(&["bob@example.com"])).await.unwrap();
            message.write(b"Subject: slow\r\n\r\nhi\r\n").await.unwrap();
            let cancelled = timeout(Duration::from_millis(100), message.finish()).await;
            assert!(cancelled.is_err());
            assert!(matches!(
                client.start(envelope(&["bob@example.com"])).await,
                Err(ClientError::Interrupted)
            ));
            drop(client);

            // A `write` cut off while the server does not read: the writer refuses to go on.
            let address = closes_mid_body(0, true).await;
            let mut client = Client::connect(address.to_string())
                .plaintext()
                .await
                .unwrap();
            let mut message = client.start(envelope(&["bob@example.com"])).await.unwrap();
            let big = [b"y".repeat(998), b"\r\n".to_vec()]
                .concat()
                .repeat(8 * 1024);
            let cancelled = timeout(Duration::from_millis(200), message.write(&big)).await;
            assert!(
                cancelled.is_err(),
                "8 MiB went into a peer that does not read"
            );
            assert!(matches!(
                message.write(b"more").await,
                Err(ClientError::Interrupted)
            ));
            assert!(matches!(
                message.finish().await,
                Err(ClientError::Interrupted)
            ));
            assert!(matches!(client.quit().await, Err(ClientError::Interrupted)));

            tokio::time::sleep(Duration::from_millis(700)).await;
            assert!(seen.messages.lock().unwrap().is_empty());
            assert!(seen_dropped.messages.lock().unwrap().is_empty());
            assert_eq!(seen_finish.messages.lock().unwrap().len(), 1);
        }
    })
    .await
    .unwrap();
}

// ---------------------------------------------------------------------------------------------
// A session kept between messages (a connection cache).

/// `reset` answers whether an idle session still works: RSET and its 250 on a live one, which
/// then takes the next message; an error, and a session that is over, where the server closed
/// the connection meanwhile.
#[tokio::test]
async fn reset_tells_a_live_session_from_one_the_server_closed() {
    timeout(LIMIT, async {
        let (address, seen) = start_server(Server::default()).await;
        let mut client = connect(address, false, false).await;
        let body = &b"Subject: one\r\n\r\nhi\r\n"[..];
        client
            .send(envelope(&["bob@example.com"]), body)
            .await
            .unwrap();
        client.reset().await.unwrap();
        assert!(client.is_ready());
        client
            .send(envelope(&["bob@example.com"]), body)
            .await
            .unwrap();
        assert_eq!(seen.messages.lock().unwrap().len(), 2);
        client.quit().await.unwrap();

        // A server that greets, answers EHLO, then hangs up.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let (read, mut write) = stream.into_split();
            let mut lines = BufReader::new(read).lines();
            write.write_all(b"220 gone.example\r\n").await.unwrap();
            let _ehlo = lines.next_line().await.unwrap();
            write.write_all(b"250 gone.example\r\n").await.unwrap();
        });
        let mut client = connect(address, false, false).await;
        let reset = client.reset().await;
        assert!(
            matches!(
                reset,
                Err(ClientError::Session(SessionError::ConnectionClosed) | ClientError::Io(_))
            ),
            "{reset:?}"
        );
        assert!(!client.is_ready());
        assert!(matches!(
            client.send(envelope(&["bob@example.com"]), body).await,
            Err(ClientError::Closed)
        ));
    })
    .await
    .unwrap();
}

/// A hop that answers RSET only after `delay`, and records each line it reads, with whether
/// its RSET reply had been written by then.
async fn slow_rset_hop(pipelining: bool, delay: Duration) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let lines_seen = Arc::clone(&seen);
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let (read, write) = stream.into_split();
        let write = Arc::new(tokio::sync::Mutex::new(write));
        let mut lines = BufReader::new(read).lines();
        write
            .lock()
            .await
            .write_all(b"220 slow.example\r\n")
            .await
            .unwrap();
        let answered = Arc::new(std::sync::atomic::AtomicBool::new(false));
        while let Ok(Some(line)) = lines.next_line().await {
            let after = if answered.load(Ordering::SeqCst) {
                " (after 250)"
            } else {
                ""
            };
            lines_seen.lock().unwrap().push(format!("{line}{after}"));
            let reply: &[u8] = match line.as_str() {
                l if l.starts_with("EHLO") && pipelining => {
                    b"250-slow.example\r\n250 PIPELINING\r\n"
                }
                l if l.starts_with("EHLO") => b"250 slow.example\r\n",
                "RSET" => {
                    let (write, answered) = (Arc::clone(&write), Arc::clone(&answered));
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        write
                            .lock()
                            .await
                            .write_all(b"250 2.0.0 ok\r\n")
                            .await
                            .unwrap();
                        answered.store(true, Ordering::SeqCst);
                    });
                    continue;
                }
                "QUIT" => {
                    // After the RSET's reply, as the order of replies wants.
                    while !answered.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                    let _ = write.lock().await.write_all(b"221 2.0.0 bye\r\n").await;
                    break;
                }
                _ => b"500 5.5.1 what\r\n",
            };
            write.lock().await.write_all(reply).await.unwrap();
        }
    });
    (address, seen)
}

/// RFC 5321 4.1.1.10: a `reset` whose future was dropped (the caller stopped waiting for a
/// slow RSET) leaves the session unusable for messages, and `quit` still sends QUIT: right
/// behind the RSET with PIPELINING, else after its 250; then it waits for the 221.
#[tokio::test]
async fn quit_after_an_abandoned_reset_still_says_quit() {
    timeout(LIMIT, async {
        for (pipelining, expected) in [
            (true, ["RSET", "QUIT"]),
            (false, ["RSET", "QUIT (after 250)"]),
        ] {
            let (address, seen) = slow_rset_hop(pipelining, Duration::from_millis(400)).await;
            let mut client = connect(address, false, false).await;
            let abandoned = timeout(Duration::from_millis(100), client.reset()).await;
            assert!(abandoned.is_err(), "the RSET is not answered yet");
            assert!(!client.is_ready());
            assert!(matches!(
                client
                    .send(envelope(&["bob@example.com"]), &b"hi\r\n"[..])
                    .await,
                Err(ClientError::Closed)
            ));
            // Bounded here: a QUIT that never goes would wait for the end of the connection.
            timeout(Duration::from_secs(5), client.quit())
                .await
                .expect("quit ends")
                .unwrap();
            let lines = seen.lock().unwrap().clone();
            assert_eq!(
                lines.get(1..).unwrap_or_default(),
                expected,
                "{pipelining}: {lines:?}"
            );
        }
    })
    .await
    .unwrap();
}

/// The session limit counts from the connection; restarted, it counts from then: a session
/// idle past its first limit takes a message under a new one, and fails without it.
#[tokio::test]
async fn a_restarted_session_timeout_counts_from_the_restart() {
    timeout(LIMIT, async {
        let (address, seen) = start_server(Server::default()).await;
        let limited = |address| async move {
            let stream = TcpSocket::new_v4().unwrap().connect(address).await.unwrap();
            let config = ClientConfig {
                tls: TlsPolicy::Never,
                ..ClientConfig::default()
            };
            Client::connect("unused")
                .config(config)
                .io(IoConfig::new().session_timeout(Some(Duration::from_millis(300))))
                .over(stream)
                .await
                .unwrap()
        };
        let body = &b"Subject: later\r\n\r\nhi\r\n"[..];
        let mut kept = limited(address).await;
        let mut expired = limited(address).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        kept.restart_session_timeout(Some(Duration::from_secs(30)));
        kept.send(envelope(&["bob@example.com"]), body)
            .await
            .unwrap();
        let late = expired.send(envelope(&["bob@example.com"]), body).await;
        assert!(
            matches!(late, Err(ClientError::Session(SessionError::Timeout))),
            "{late:?}"
        );
        assert_eq!(seen.messages.lock().unwrap().len(), 1);
    })
    .await
    .unwrap();
}
