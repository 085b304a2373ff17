//! Inputs shared by the benchmarks: realistic, deterministic, and the same for every
//! implementation measured.

/// A realistic message of about `size` octets: a header block, then 76-column body lines
/// (as base64 and quoted-printable bodies have), one line in 40 starting with a '.'.
pub fn message(size: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(size + 128);
    out.extend_from_slice(
        b"Received: from client.example (client.example [192.0.2.1])\r\n\
          \tby mx.example with ESMTPS id 4aB3cD; Thu, 26 Nov 2026 07:00:00 +0000\r\n\
          From: Alice <alice@client.example>\r\n\
          To: Bob <bob@mx.example>\r\n\
          Subject: quarterly figures\r\n\
          Message-ID: <20261126070000.4aB3cD@client.example>\r\n\
          MIME-Version: 1.0\r\n\
          Content-Type: text/plain; charset=utf-8\r\n\r\n",
    );
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/ ,.-";
    let mut seed: u32 = 0x2545_f491;
    let mut line = 0usize;
    while out.len() < size {
        for column in 0..76 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let byte = alphabet[seed as usize % alphabet.len()];
            out.push(if column == 0 && line % 40 == 7 {
                b'.'
            } else {
                byte
            });
        }
        out.extend_from_slice(b"\r\n");
        line += 1;
    }
    out
}

/// `body` dot-stuffed and terminated, written out plainly (not with the encoder under test).
pub fn stuffed(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + body.len() / 64 + 8);
    let mut line_start = true;
    for &byte in body {
        if line_start && byte == b'.' {
            out.push(b'.');
        }
        out.push(byte);
        line_start = byte == b'\n';
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A realistic SMTP command stream: many pipelined envelopes.
pub fn command_stream(envelopes: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(b"EHLO client.example\r\n");
    for n in 0..envelopes {
        out.extend_from_slice(
            format!(
                "MAIL FROM:<sender{n}@client.example> SIZE=12345 BODY=8BITMIME\r\n\
                 RCPT TO:<rcpt{n}@mx.example> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;rcpt{n}@mx.example\r\n\
                 RCPT TO:<other{n}@mx.example>\r\n\
                 DATA\r\nRSET\r\nNOOP\r\n"
            )
            .as_bytes(),
        );
    }
    out.extend_from_slice(b"QUIT\r\n");
    out
}

/// The inputs of the codec comparison (`benches/smtp.rs`, `examples/profile_smtp.rs`): one
/// command or reply each, as a real session sends them.
pub mod smtp_inputs {
    /// An EHLO command.
    pub const EHLO: &[u8] = b"EHLO mail.example.com\r\n";
    /// A MAIL command with SIZE and BODY.
    pub const MAIL: &[u8] = b"MAIL FROM:<sender.name@example.com> SIZE=123456 BODY=8BITMIME\r\n";
    /// A RCPT command with NOTIFY and ORCPT.
    pub const RCPT: &[u8] =
        b"RCPT TO:<recipient@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;recipient@example.org\r\n";
    /// A one-line reply with an enhanced status code.
    pub const OK_REPLY: &[u8] = b"250 2.1.0 Ok\r\n";
    /// A 10-line EHLO reply.
    pub const EHLO_REPLY: &[u8] = b"250-mx.example.com Hello client.example [192.0.2.1]\r\n\
250-SIZE 52428800\r\n\
250-8BITMIME\r\n\
250-PIPELINING\r\n\
250-CHUNKING\r\n\
250-SMTPUTF8\r\n\
250-ENHANCEDSTATUSCODES\r\n\
250-STARTTLS\r\n\
250-AUTH PLAIN LOGIN\r\n\
250 DSN\r\n";
}

/// The in-memory wiring of this workspace's client and server machines: the bytes out of
/// one go into the other's `receive`, and the server's decisions are answered `Accept`.
///
/// What the server transmits goes straight into the client (clients take every octet), so the
/// wiring itself allocates nothing per transaction once its one buffer (client to server)
/// has grown: the allocations counted are the machines'.
pub mod wiring {
    use pop3_proto::client as pop3_client;
    use pop3_proto::server as pop3_server;
    use pop3_proto::types::{MessageNumber, UniqueId};
    use smtp_proto::client::{self as smtp_client, ClientConfig, Envelope, TlsPolicy};
    use smtp_proto::server::{self as smtp_server, Server, ServerConfig};
    use smtp_proto::types::Mailbox;
    use std::sync::atomic::{AtomicU8, Ordering};

    /// Which side is running now: [`WIRING`], [`CLIENT`] or [`SERVER`], so that a counting
    /// allocator can tell whose allocations it counts (`examples/allocations.rs`).
    pub static RUNNING: AtomicU8 = AtomicU8::new(WIRING);
    /// The wiring between the machines, and the application's part (envelopes, listings).
    pub const WIRING: u8 = 0;
    /// Inside a client machine's method.
    pub const CLIENT: u8 = 1;
    /// Inside a server machine's method.
    pub const SERVER: u8 = 2;

    /// Runs `f` as `side`.
    fn on<T>(side: u8, f: impl FnOnce() -> T) -> T {
        RUNNING.store(side, Ordering::Relaxed);
        let out = f();
        RUNNING.store(WIRING, Ordering::Relaxed);
        out
    }

    /// The SMTP client's side of one session.
    struct SmtpSide<'a> {
        client: smtp_client::Client,
        to_server: Vec<u8>,
        from: Mailbox<'static>,
        to: Mailbox<'static>,
        body: &'a [u8],
        left: usize,
        sent: usize,
    }

    impl SmtpSide<'_> {
        /// Hands the client what the server sent, then drains it.
        fn receive(&mut self, bytes: &[u8]) {
            let taken = on(CLIENT, || self.client.receive(bytes));
            assert_eq!(taken, bytes.len(), "the SMTP client takes every octet");
            while let Some(output) = on(CLIENT, || self.client.poll_output()) {
                match output {
                    smtp_client::Output::Transmit(bytes) => {
                        self.to_server.extend_from_slice(&bytes)
                    }
                    smtp_client::Output::Event(smtp_client::Event::Ready) if self.left > 0 => {
                        self.left -= 1;
                        let envelope = Envelope::new(self.from.clone()).to(self.to.clone());
                        on(CLIENT, || self.client.send_message(envelope))
                            .expect("ready for a message");
                    }
                    smtp_client::Output::Event(smtp_client::Event::Ready) => {
                        on(CLIENT, || self.client.quit()).expect("ready to quit")
                    }
                    smtp_client::Output::Event(smtp_client::Event::SendBody) => {
                        on(CLIENT, || self.client.send_body(self.body)).expect("a body");
                        on(CLIENT, || self.client.end_body()).expect("the end of the body");
                    }
                    smtp_client::Output::Event(smtp_client::Event::Sent(report)) => {
                        assert!(report.is_delivered_to_all(), "{report:?}");
                        self.sent += 1;
                    }
                    smtp_client::Output::Event(smtp_client::Event::Error(error)) => {
                        panic!("{error}")
                    }
                    _ => {}
                }
            }
        }
    }

    /// One SMTP session of `transactions` transactions (EHLO, then MAIL, RCPT and DATA with
    /// `body` per transaction, then QUIT) between smtp-proto's client and server. Returns the
    /// octets of body the server handed over; panics if anything is refused.
    pub fn smtp_session(body: &[u8], transactions: usize) -> usize {
        let config = ClientConfig {
            tls: TlsPolicy::Never,
            chunking: false,
            ..ClientConfig::default()
        };
        let mut side = SmtpSide {
            client: smtp_client::Client::new(config),
            to_server: Vec::new(),
            from: Mailbox::parse("alice@client.example").expect("a mailbox"),
            to: Mailbox::parse("bob@mx.example").expect("a mailbox"),
            body,
            left: transactions,
            sent: 0,
        };
        let mut server = Server::new(ServerConfig::default());
        let mut received = 0usize;
        // Each round moves every byte there is: a bounded number of rounds per transaction.
        for _ in 0..(transactions + 10) * 20 {
            if side.client.is_closed() {
                break;
            }
            while let Some(output) = on(SERVER, || server.poll_output()) {
                match output {
                    smtp_server::Output::Transmit(bytes) => side.receive(&bytes),
                    smtp_server::Output::Event(smtp_server::Event::Body(chunk)) => {
                        received += chunk.len()
                    }
                    smtp_server::Output::Event(event) if event.is_decision() => {
                        on(SERVER, || server.answer(smtp_server::Answer::Accept))
                            .expect("a decision to answer")
                    }
                    _ => {}
                }
            }
            // A server may take less (back-pressure): the rest is offered again, first.
            let taken = on(SERVER, || server.receive(&side.to_server));
            side.to_server.drain(..taken);
        }
        assert!(side.client.is_closed(), "the SMTP session did not end");
        assert_eq!(side.sent, transactions);
        received
    }

    /// A maildrop of `count` copies of `message` as the POP3 server lists it at login.
    pub fn maildrop(message: &[u8], count: usize) -> Vec<pop3_server::MessageInfo> {
        (0..count)
            .map(|n| pop3_server::MessageInfo {
                size: message.len() as u64,
                uid: format!("m{n}")
                    .parse::<UniqueId<'static>>()
                    .expect("a unique id"),
            })
            .collect()
    }

    /// The POP3 client's side of one session.
    struct Pop3Side {
        client: pop3_client::Client,
        to_server: Vec<u8>,
        messages: usize,
        retrs: usize,
        listed: usize,
        fetched: usize,
        ends: usize,
    }

    impl Pop3Side {
        /// Hands the client what the server sent, then drains it.
        fn receive(&mut self, bytes: &[u8]) {
            let taken = on(CLIENT, || self.client.receive(bytes));
            assert_eq!(taken, bytes.len(), "the POP3 client takes every octet");
            while let Some(output) = on(CLIENT, || self.client.poll_output()) {
                match output {
                    pop3_client::Output::Transmit(bytes) => {
                        self.to_server.extend_from_slice(&bytes)
                    }
                    pop3_client::Output::Event(pop3_client::Event::Ready) => self.ask(),
                    pop3_client::Output::Event(pop3_client::Event::Listing(list)) => {
                        self.listed = list.len()
                    }
                    pop3_client::Output::Event(pop3_client::Event::Body(chunk)) => {
                        self.fetched += chunk.len()
                    }
                    pop3_client::Output::Event(pop3_client::Event::MessageEnd(_)) => self.ends += 1,
                    pop3_client::Output::Event(pop3_client::Event::Error(error)) => {
                        panic!("{error}")
                    }
                    _ => {}
                }
            }
        }

        /// LIST, the RETRs, QUIT.
        fn ask(&mut self) {
            on(CLIENT, || {
                self.client.request(pop3_client::Request::List(None))
            })
            .expect("ready");
            for n in 0..self.retrs {
                let number = u32::try_from(n % self.messages + 1)
                    .ok()
                    .and_then(MessageNumber::new)
                    .expect("a message number");
                on(CLIENT, || {
                    self.client.request(pop3_client::Request::Retr(number))
                })
                .expect("ready");
            }
            on(CLIENT, || self.client.request(pop3_client::Request::Quit)).expect("ready");
        }
    }

    /// One POP3 session between pop3-proto's client and server: USER/PASS, LIST, `retrs`
    /// RETRs (message 1, 2... of `listing`, round and round), QUIT; every message is
    /// `message`. Returns the octets of message the client received.
    pub fn pop3_session(
        message: &[u8],
        listing: &[pop3_server::MessageInfo],
        retrs: usize,
    ) -> usize {
        let credentials = pop3_client::Credentials::user("alice", "secret").expect("credentials");
        let config = pop3_client::ClientConfig {
            tls: pop3_client::TlsPolicy::Never,
            allow_plaintext_auth: true,
            ..pop3_client::ClientConfig::default()
        };
        let mut side = Pop3Side {
            client: pop3_client::Client::new(config, credentials),
            to_server: Vec::new(),
            messages: listing.len(),
            retrs,
            listed: 0,
            fetched: 0,
            ends: 0,
        };
        let mut server = pop3_server::Server::new(pop3_server::ServerConfig {
            plaintext_login: true,
            ..pop3_server::ServerConfig::default()
        });
        for _ in 0..(retrs + 10) * 20 {
            if side.client.is_closed() {
                break;
            }
            while let Some(output) = on(SERVER, || server.poll_output()) {
                match output {
                    pop3_server::Output::Transmit(bytes) => side.receive(&bytes),
                    pop3_server::Output::Event(pop3_server::Event::Login(_)) => {
                        let listing = listing.to_vec();
                        on(SERVER, || server.answer(pop3_server::Answer::Open(listing)))
                    }
                    .expect("a login to answer"),
                    pop3_server::Output::Event(pop3_server::Event::Retrieve { .. }) => {
                        on(SERVER, || server.answer(pop3_server::Answer::Accept))
                            .expect("a retrieval to answer");
                        on(SERVER, || server.send_body(message)).expect("a body");
                        on(SERVER, || server.end_body()).expect("the end of the body");
                    }
                    pop3_server::Output::Event(event) if event.is_decision() => {
                        on(SERVER, || server.answer(pop3_server::Answer::Accept))
                            .expect("a decision to answer")
                    }
                    _ => {}
                }
            }
            let taken = on(SERVER, || server.receive(&side.to_server));
            side.to_server.drain(..taken);
        }
        assert!(side.client.is_closed(), "the POP3 session did not end");
        assert_eq!((side.listed, side.ends), (listing.len(), retrs));
        side.fetched
    }
}
