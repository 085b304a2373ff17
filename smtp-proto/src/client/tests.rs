use super::*;
use crate::server::{self, Answer, Server, ServerConfig, ServerMechanisms};
use crate::types::{Domain, ForwardPath, Mailbox, RcptParameters, ReversePath};
use alloc::string::ToString;
use alloc::vec;
use bytes::Bytes;
use mail_wire::Secret;
use mail_wire::sasl::{
    CramMd5Client, LoginClient, OAuthBearerClient, PlainClient, ScramSecret, ScramSha256Client,
    XOAuth2Client,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// The in-memory pair: this crate's client against this crate's server.

/// A message the pair sends: the envelope and the body in the pieces the application hands
/// over.
#[derive(Debug, Clone)]
struct Message {
    envelope: Envelope,
    body: Vec<Vec<u8>>,
}

fn message(from: &str, to: &[&str], body: &[u8]) -> Message {
    let mut envelope = Envelope::new(mailbox(from));
    for to in to {
        envelope = envelope.to(mailbox(to));
    }
    Message {
        envelope,
        body: vec![body.to_vec()],
    }
}

fn mailbox(text: &str) -> Mailbox<'static> {
    Mailbox::parse(text).unwrap().into_owned()
}

/// What happened on both sides.
#[derive(Debug, Default)]
struct PairRun {
    client_events: Vec<Event>,
    server_events: Vec<server::Event>,
    /// Everything the client sent (plaintext and "TLS" alike: TLS is simulated).
    to_server: Vec<u8>,
    /// Everything the server sent.
    to_client: Vec<u8>,
    /// The bodies the server received, one per accepted message.
    bodies: Vec<Vec<u8>>,
    /// Errors returned by `send_message`.
    refused: Vec<SendError>,
    client_closed: bool,
    server_closed: bool,
}

impl PairRun {
    fn reports(&self) -> Vec<&Report> {
        self.client_events
            .iter()
            .filter_map(|event| match event {
                Event::Sent(report) => Some(report),
                _ => None,
            })
            .collect()
    }

    fn errors(&self) -> Vec<&Error> {
        self.client_events
            .iter()
            .filter_map(|event| match event {
                Event::Error(error) => Some(error),
                _ => None,
            })
            .collect()
    }

    fn client_text(&self) -> String {
        String::from_utf8_lossy(&self.to_server).into_owned()
    }
}

/// The sizes in which bytes cross the wire: cycles through `cuts` (each 1 to 64 octets).
struct Wire<'a> {
    pending: Vec<u8>,
    cuts: &'a [usize],
    next: usize,
}

impl Wire<'_> {
    fn take(&mut self) -> Vec<u8> {
        let size = match self.cuts.get(self.next % self.cuts.len().max(1)) {
            Some(cut) => 1 + cut % 64,
            None => usize::MAX,
        };
        self.next += 1;
        let size = size.min(self.pending.len());
        self.pending.drain(..size).collect()
    }
}

/// Runs `client` against `server` until both are done: the client sends `messages` (each
/// body in its pieces) then quits; the server answers decisions with `policy`. Bytes cross in
/// pieces sized by `c2s` and `s2c`; STARTTLS is simulated by calling `tls_established` on
/// both sides once both asked for TLS.
fn pair(
    mut client: Client,
    mut server: Server,
    messages: Vec<Message>,
    c2s: &[usize],
    s2c: &[usize],
    mut policy: impl FnMut(&server::Event) -> Answer,
) -> PairRun {
    let mut run = PairRun::default();
    let mut queue: VecDeque<Message> = messages.into();
    let mut body: VecDeque<Vec<u8>> = VecDeque::new();
    let mut received = Vec::new();
    let mut tls = (false, false);
    let mut to_server = Wire {
        pending: Vec::new(),
        cuts: c2s,
        next: 0,
    };
    let mut to_client = Wire {
        pending: Vec::new(),
        cuts: s2c,
        next: 0,
    };
    for _ in 0..200_000 {
        let mut progress = false;
        while let Some(output) = client.poll_output() {
            progress = true;
            match output {
                Output::Transmit(bytes) => {
                    run.to_server.extend_from_slice(&bytes);
                    to_server.pending.extend_from_slice(&bytes);
                }
                Output::Event(event) => {
                    match &event {
                        Event::Ready => loop {
                            let Some(next) = queue.pop_front() else {
                                client.quit().unwrap();
                                break;
                            };
                            match client.send_message(next.envelope) {
                                Ok(()) => {
                                    body = next.body.into();
                                    break;
                                }
                                Err(error) => run.refused.push(error),
                            }
                        },
                        Event::SendBody => {
                            while client.wants_body() {
                                match body.pop_front() {
                                    Some(piece) => client.send_body(&piece).unwrap(),
                                    None => {
                                        client.end_body().unwrap();
                                        break;
                                    }
                                }
                            }
                        }
                        _ => {}
                    }
                    run.client_events.push(event);
                }
                Output::StartTls => tls.0 = true,
                Output::Close => run.client_closed = true,
            }
        }
        while let Some(output) = server.poll_output() {
            progress = true;
            match output {
                server::Output::Transmit(bytes) => {
                    run.to_client.extend_from_slice(&bytes);
                    to_client.pending.extend_from_slice(&bytes);
                }
                server::Output::Event(event) => {
                    match &event {
                        server::Event::Body(chunk) => received.extend_from_slice(chunk),
                        server::Event::MessageRejected(_) | server::Event::TransactionReset => {
                            received.clear();
                        }
                        _ => {}
                    }
                    if let server::Event::LookupSecret { username, .. } = &event {
                        // The SCRAM users this server knows: tim, password tanstaaf.
                        server.provide_secret(scram_secret(username)).unwrap();
                    } else if event.is_decision() {
                        let answer = policy(&event);
                        if matches!(event, server::Event::MessageEnd { .. }) {
                            let accepted = match &answer {
                                Answer::Accept => true,
                                Answer::Reply(reply) => reply.is_positive(),
                                Answer::PerRecipient(replies) => {
                                    replies.iter().any(Reply::is_positive)
                                }
                            };
                            let body = core::mem::take(&mut received);
                            if accepted {
                                run.bodies.push(body);
                            }
                        }
                        server.answer(answer).unwrap();
                    }
                    run.server_events.push(event);
                }
                server::Output::StartTls => tls.1 = true,
                server::Output::Close => run.server_closed = true,
            }
        }
        if tls == (true, true) {
            client.tls_established().unwrap();
            server.tls_established().unwrap();
            tls = (false, false);
            progress = true;
        }
        if !to_server.pending.is_empty() {
            let piece = to_server.take();
            let taken = server.receive(&piece);
            to_server
                .pending
                .splice(..0, piece[taken..].iter().copied());
            progress |= taken > 0;
        }
        if !to_client.pending.is_empty() {
            let piece = to_client.take();
            assert_eq!(client.receive(&piece), piece.len());
            progress = true;
        }
        if progress {
            continue;
        }
        match (run.client_closed, run.server_closed) {
            (true, true) => return run,
            (true, false) => server.receive_eof(),
            (false, true) => client.receive_eof(),
            (false, false) => return run,
        }
    }
    panic!("livelock");
}

fn mx() -> ServerConfig {
    ServerConfig {
        hostname: Domain::new("mx.example").unwrap(),
        ..ServerConfig::default()
    }
}

fn no_tls() -> ClientConfig {
    ClientConfig {
        hostname: Host::Domain(Domain::new("client.example").unwrap()),
        tls: TlsPolicy::Never,
        ..ClientConfig::default()
    }
}

fn accept_all(_: &server::Event) -> Answer {
    Answer::Accept
}

/// Refuses recipients whose local part starts with "no".
fn refuse_no(event: &server::Event) -> Answer {
    match event {
        server::Event::RcptTo { to, .. }
            if to
                .mailbox()
                .is_some_and(|m| m.local_part().as_str().starts_with("no")) =>
        {
            Answer::Reply(
                Reply::with_status(
                    ReplyCode::MAILBOX_UNAVAILABLE,
                    EnhancedStatus::new(5, 1, 1).unwrap(),
                    "No such user",
                )
                .unwrap(),
            )
        }
        _ => Answer::Accept,
    }
}

fn simple_pair(client: ClientConfig, server: ServerConfig, messages: Vec<Message>) -> PairRun {
    pair(
        Client::new(client),
        Server::new(server),
        messages,
        &[],
        &[],
        accept_all,
    )
}

use crate::types::EnhancedStatus;

/// The body as BDAT delivers text: bare CR and LF made CR LF, nothing added.
fn canonical_text(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + 2);
    let mut i = 0;
    while let Some(&byte) = body.get(i) {
        match byte {
            b'\r' if body.get(i + 1) == Some(&b'\n') => {
                out.extend_from_slice(b"\r\n");
                i += 1;
            }
            b'\r' | b'\n' => out.extend_from_slice(b"\r\n"),
            other => out.push(other),
        }
        i += 1;
    }
    out
}

/// The body as DATA delivers it: canonical, and a final CR LF added.
fn normalized(body: &[u8]) -> Vec<u8> {
    let mut out = canonical_text(body);
    if !out.is_empty() && !out.ends_with(b"\r\n") {
        out.extend_from_slice(b"\r\n");
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Against the server.

#[test]
fn one_message_pipelined() {
    let run = simple_pair(
        no_tls(),
        mx(),
        vec![message(
            "alice@example.org",
            &["bob@example.com", "carol@example.com"],
            b"Subject: x\r\n\r\n.dot\r\n",
        )],
    );
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    let reports = run.reports();
    assert_eq!(reports.len(), 1);
    assert!(reports[0].is_delivered_to_all());
    assert_eq!(reports[0].delivered(), 2);
    assert_eq!(run.bodies, [b"Subject: x\r\n\r\n.dot\r\n".to_vec()]);
    // MAIL, both RCPTs and DATA went out in one flight.
    assert!(run.client_text().contains(
        "MAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@example.com>\r\nRCPT TO:<carol@example.com>\r\nDATA\r\n"
    ));
    assert!(run.client_text().contains("\r\n..dot\r\n.\r\nQUIT\r\n"));
    assert!(run.client_closed && run.server_closed);
    // The server never saw anyone talk out of turn.
    assert!(!String::from_utf8_lossy(&run.to_client).contains("554"));
}

#[test]
fn lock_step_without_pipelining() {
    let server = ServerConfig {
        pipelining: false,
        ..mx()
    };
    let run = simple_pair(
        no_tls(),
        server,
        vec![message(
            "a@example.org",
            &["b@example.com", "c@example.com"],
            b"hi\r\n",
        )],
    );
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert!(run.reports()[0].is_delivered_to_all());
    assert_eq!(run.bodies, [b"hi\r\n".to_vec()]);
    // Any sending ahead would have been met with 554 and a closed connection.
    assert!(!String::from_utf8_lossy(&run.to_client).contains("554"));
    let client = ClientConfig {
        pipelining: false,
        ..no_tls()
    };
    let run = simple_pair(
        client,
        mx(),
        vec![message("a@example.org", &["b@example.com"], b"x")],
    );
    assert!(run.reports()[0].is_delivered_to_all());
    assert_eq!(run.bodies, [b"x\r\n".to_vec()]);
}

#[test]
fn per_recipient_results_and_no_body_without_recipients() {
    let messages = vec![
        message(
            "a@example.org",
            &["no-one@example.com", "bob@example.com"],
            b"one\r\n",
        ),
        message(
            "a@example.org",
            &["nobody@example.com", "none@example.com"],
            b"two\r\n",
        ),
        message("a@example.org", &["bob@example.com"], b"three\r\n"),
    ];
    for pipelining in [true, false] {
        for chunking in [true, false] {
            let client = ClientConfig {
                pipelining,
                chunking,
                ..no_tls()
            };
            let run = pair(
                Client::new(client),
                Server::new(mx()),
                messages.clone(),
                &[],
                &[],
                refuse_no,
            );
            assert!(run.errors().is_empty(), "{:?}", run.errors());
            let reports = run.reports();
            assert_eq!(reports.len(), 3);
            let first = reports[0];
            assert!(!first.recipients[0].is_delivered());
            assert_eq!(
                first.recipients[0].result.as_ref().map(Reply::code),
                Some(ReplyCode::MAILBOX_UNAVAILABLE)
            );
            assert_eq!(
                first.recipients[0].result.as_ref().and_then(Reply::status),
                EnhancedStatus::new(5, 1, 1).ok()
            );
            assert!(first.recipients[1].is_delivered());
            assert_eq!(first.delivered(), 1);
            // No recipient: no body, RSET, and the session goes on.
            assert_eq!(reports[1].delivered(), 0);
            assert!(reports[2].is_delivered_to_all());
            assert_eq!(run.bodies, [b"one\r\n".to_vec(), b"three\r\n".to_vec()]);
            let text = run.client_text();
            assert!(!text.contains("two"), "{text}");
            assert!(text.contains("RSET\r\n"));
        }
    }
}

#[test]
fn refused_sender_and_refused_message() {
    let policy = |event: &server::Event| match event {
        server::Event::MailFrom { from, .. }
            if from
                .mailbox()
                .is_some_and(|m| m.local_part().as_str() == "spammer") =>
        {
            Answer::Reply(Reply::new(ReplyCode::MAILBOX_UNAVAILABLE, "Go away").unwrap())
        }
        server::Event::MessageEnd { .. } => {
            Answer::Reply(Reply::new(ReplyCode::LOCAL_ERROR, "Disk full").unwrap())
        }
        _ => Answer::Accept,
    };
    for pipelining in [true, false] {
        let run = pair(
            Client::new(ClientConfig {
                pipelining,
                ..no_tls()
            }),
            Server::new(mx()),
            vec![
                message(
                    "spammer@example.org",
                    &["b@example.com", "c@example.com"],
                    b"x\r\n",
                ),
                message("a@example.org", &["b@example.com"], b"y\r\n"),
            ],
            &[],
            &[],
            policy,
        );
        assert!(run.errors().is_empty(), "{:?}", run.errors());
        let reports = run.reports();
        assert_eq!(
            reports.len(),
            2,
            "{}",
            String::from_utf8_lossy(&run.to_client)
        );
        // The refused MAIL decides for every recipient.
        for recipient in &reports[0].recipients {
            assert_eq!(
                recipient.result.as_ref().map(Reply::code),
                Some(ReplyCode::MAILBOX_UNAVAILABLE)
            );
        }
        assert!(reports[1].recipients[0].is_transient_failure());
        assert_eq!(
            reports[1].recipients[0].result.as_ref().map(Reply::code),
            Some(ReplyCode::LOCAL_ERROR)
        );
        assert!(!run.client_text().contains("x\r\n.\r\n"));
    }
}

#[test]
fn bdat_pipelined_lock_step_and_binarymime() {
    let body: Vec<Vec<u8>> = vec![
        b"Subject: chunks\r\n".to_vec(),
        b"\r\n.not stuffed\n".to_vec(),
        b"\x00\xffbinary\r".to_vec(),
    ];
    let whole: Vec<u8> = body.concat();
    for (pipelining, binary) in [(true, false), (false, false), (true, true), (false, true)] {
        let mut envelope = Envelope::new(mailbox("a@example.org")).to(mailbox("b@example.com"));
        envelope.parameters.body = Some(if binary {
            Body::BinaryMime
        } else {
            Body::EightBitMime
        });
        let server = ServerConfig {
            pipelining,
            binary_mime: true,
            bare_endings: mail_wire::dot::DecodeBareEndings::PassThrough,
            ..mx()
        };
        let client = ClientConfig {
            chunking: !binary,
            ..no_tls()
        };
        let run = pair(
            Client::new(client),
            Server::new(server),
            vec![Message {
                envelope,
                body: body.clone(),
            }],
            &[],
            &[],
            accept_all,
        );
        assert!(run.errors().is_empty(), "{:?}", run.errors());
        assert!(run.reports()[0].is_delivered_to_all());
        // BINARYMIME goes as given; text has its bare line ends made CRLF (no final CRLF
        // added: BDAT needs no terminator).
        let expected = if binary {
            whole.clone()
        } else {
            b"Subject: chunks\r\n\r\n.not stuffed\r\n\x00\xffbinary\r\n".to_vec()
        };
        assert_eq!(run.bodies, [expected]);
        let text = run.client_text();
        assert!(text.contains("BDAT 17\r\nSubject: chunks\r\n"), "{text}");
        let last = if binary {
            "BDAT 0 LAST\r\n"
        } else {
            "BDAT 2 LAST\r\n\r\n"
        };
        assert!(text.ends_with(&alloc::format!("{last}QUIT\r\n")), "{text}");
        assert!(!text.contains("DATA\r\n"));
        let sendbody = run
            .client_events
            .iter()
            .filter(|e| **e == Event::SendBody)
            .count();
        // Lock-step: the application is asked again after each acknowledged chunk.
        assert_eq!(sendbody, if pipelining { 1 } else { 4 });
    }
}

#[test]
fn bdat_many_chunks_through_a_small_window() {
    // 300 pieces, at most 3 chunks awaiting replies: the application is asked again each
    // time a reply makes room, and the body arrives whole, in order.
    let pieces: Vec<Vec<u8>> = (0..300)
        .map(|i| alloc::format!("line {i}\r\n").into_bytes())
        .collect();
    for lmtp in [false, true] {
        let client = ClientConfig {
            chunking: true,
            max_chunks_in_flight: 3,
            lmtp,
            ..no_tls()
        };
        let mut m = message("a@example.org", &["b@example.com", "c@example.com"], b"");
        m.body = pieces.clone();
        let run = pair(
            Client::new(client),
            Server::new(ServerConfig { lmtp, ..mx() }),
            vec![m.clone(), m],
            &[7, 50, 3],
            &[5, 64],
            accept_all,
        );
        assert!(run.errors().is_empty(), "{:?}", run.errors());
        let reports = run.reports();
        assert_eq!(reports.len(), 2);
        assert!(reports.iter().all(|r| r.is_delivered_to_all()));
        assert_eq!(run.bodies, [pieces.concat(), pieces.concat()]);
        let asked = run
            .client_events
            .iter()
            .filter(|e| **e == Event::SendBody)
            .count();
        assert!(asked >= 2 * 300 / 3, "asked for the body {asked} times");
        assert_eq!(run.client_text().matches("BDAT ").count(), 2 * 301);
    }
}

#[test]
fn bdat_chunk_refused_stops_the_message() {
    let server = ServerConfig {
        max_message_size: Some(10),
        ..mx()
    };
    let client = ClientConfig {
        chunking: true,
        ..no_tls()
    };
    let mut big = message("a@example.org", &["b@example.com"], b"");
    big.body = vec![b"0123456789".to_vec(), b"abcdef".to_vec(), b"ghij".to_vec()];
    let run = pair(
        Client::new(client),
        Server::new(server),
        vec![big, message("a@example.org", &["b@example.com"], b"ok\r\n")],
        &[],
        &[],
        accept_all,
    );
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    let reports = run.reports();
    assert_eq!(
        reports[0].recipients[0].result.as_ref().map(Reply::code),
        Some(ReplyCode::EXCEEDED_STORAGE)
    );
    assert!(reports[1].is_delivered_to_all());
    assert_eq!(run.bodies, [b"ok\r\n".to_vec()]);
}

#[test]
fn several_messages_and_bare_line_ends() {
    let messages: Vec<Message> = (0..5)
        .map(|i| {
            let body = alloc::format!("Subject: {i}\n\n.line\r\nlast without newline {i}");
            message("a@example.org", &["b@example.com"], body.as_bytes())
        })
        .collect();
    let run = simple_pair(no_tls(), mx(), messages.clone());
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert_eq!(run.reports().len(), 5);
    let expected: Vec<Vec<u8>> = messages.iter().map(|m| normalized(&m.body[0])).collect();
    assert_eq!(run.bodies, expected);
    assert_eq!(run.client_text().matches("QUIT").count(), 1);
}

#[test]
fn lmtp_per_recipient_results() {
    let server = ServerConfig { lmtp: true, ..mx() };
    let client = ClientConfig {
        lmtp: true,
        ..no_tls()
    };
    let policy = |event: &server::Event| match event {
        server::Event::MessageEnd { recipients, .. } if *recipients == 3 => {
            Answer::PerRecipient(vec![
                Reply::new(ReplyCode::OK, "delivered").unwrap(),
                Reply::new(ReplyCode::LOCAL_ERROR, "over quota").unwrap(),
                Reply::new(ReplyCode::OK, "delivered").unwrap(),
            ])
        }
        other => refuse_no(other),
    };
    for chunking in [false, true] {
        let run = pair(
            Client::new(ClientConfig {
                chunking,
                ..client.clone()
            }),
            Server::new(server.clone()),
            vec![
                message(
                    "a@example.org",
                    &[
                        "x@example.com",
                        "nope@example.com",
                        "y@example.com",
                        "z@example.com",
                    ],
                    b"lmtp\r\n",
                ),
                message("a@example.org", &["x@example.com"], b"second\r\n"),
            ],
            &[],
            &[],
            policy,
        );
        assert!(run.errors().is_empty(), "{:?}", run.errors());
        assert!(run.client_text().starts_with("LHLO client.example\r\n"));
        let reports = run.reports();
        let texts: Vec<_> = reports[0]
            .recipients
            .iter()
            .map(|r| r.result.as_ref().map(|reply| reply.code().get()))
            .collect();
        assert_eq!(texts, [Some(250), Some(550), Some(451), Some(250)]);
        assert_eq!(reports[0].delivered(), 2);
        assert!(reports[1].is_delivered_to_all() || reports[1].recipients[0].result.is_some());
    }
}

#[test]
fn starttls_required_then_capabilities_forgotten() {
    let server = ServerConfig {
        starttls: true,
        sasl_mechanisms: ServerMechanisms::new().plain(),
        ..mx()
    };
    let client = ClientConfig {
        tls: TlsPolicy::Required,
        ..no_tls()
    };
    let run = simple_pair(
        client.clone(),
        server.clone(),
        vec![message("a@example.org", &["b@example.com"], b"secret\r\n")],
    );
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    let text = run.client_text();
    assert!(text.starts_with("EHLO client.example\r\nSTARTTLS\r\nEHLO client.example\r\nMAIL"));
    let hellos: Vec<&Hello> = run
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::Hello(hello) => Some(hello),
            _ => None,
        })
        .collect();
    let [Hello::Extended(before), Hello::Extended(after)] = hellos.as_slice() else {
        panic!("{hellos:?}")
    };
    assert!(before.supports(Extension::StartTls) && !before.supports(Extension::Auth));
    assert!(!after.supports(Extension::StartTls) && after.supports(Extension::Auth));
    assert_eq!(run.bodies.len(), 1);

    // A server without STARTTLS: nothing but EHLO and QUIT goes out.
    let run = simple_pair(
        client,
        mx(),
        vec![message("a@example.org", &["b@example.com"], b"secret\r\n")],
    );
    assert_eq!(run.errors(), [&Error::TlsUnavailable]);
    assert_eq!(run.client_text(), "EHLO client.example\r\nQUIT\r\n");
    assert!(run.bodies.is_empty());

    // Opportunistic: plaintext then.
    let run = simple_pair(
        ClientConfig {
            tls: TlsPolicy::Opportunistic,
            ..no_tls()
        },
        mx(),
        vec![message("a@example.org", &["b@example.com"], b"plain\r\n")],
    );
    assert!(run.errors().is_empty());
    assert_eq!(run.bodies.len(), 1);
}

fn auth_server() -> ServerConfig {
    ServerConfig {
        starttls: true,
        sasl_mechanisms: ServerMechanisms::new()
            .plain()
            .login()
            .xoauth2()
            .oauthbearer()
            .cram_md5(|| "<1896.697170952@mx.example>".to_string())
            .scram_sha_256(
                mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
                || "server-nonce".to_string(),
            ),
        ..mx()
    }
}

/// The stored SCRAM secret of the users [`auth_server`] knows.
fn scram_secret(username: &str) -> Option<ScramSecret> {
    (username == "tim").then(|| ScramSecret::derive("tanstaaf", b"salt of tim", 4096).unwrap())
}

fn check_credentials(event: &server::Event) -> Answer {
    match event {
        server::Event::Authenticate { credentials, .. } => {
            let good = credentials.username().or(credentials.authzid()) == Some("tim")
                && (credentials.verify_password(b"tanstaaf")
                    || credentials.verify_token(b"token-123")
                    || credentials.is_verified());
            if good {
                Answer::Accept
            } else {
                Answer::Reply(Reply::new(ReplyCode::AUTH_CREDENTIALS_INVALID, "No").unwrap())
            }
        }
        _ => Answer::Accept,
    }
}

fn mechanism(name: &str, password: &str) -> Box<dyn ClientMechanism + Send> {
    match name {
        "PLAIN" => {
            Box::new(PlainClient::new(None, "tim", Secret::new(password.to_string())).unwrap())
        }
        "LOGIN" => Box::new(LoginClient::new("tim", Secret::new(password.to_string()))),
        "XOAUTH2" => {
            Box::new(XOAuth2Client::new("tim", Secret::new(password.to_string())).unwrap())
        }
        "OAUTHBEARER" => Box::new(
            OAuthBearerClient::new(Some("tim"), Secret::new(password.to_string())).unwrap(),
        ),
        "CRAM-MD5" => {
            Box::new(CramMd5Client::new("tim", Secret::new(password.to_string())).unwrap())
        }
        "SCRAM-SHA-256" => Box::new(
            ScramSha256Client::new(
                None,
                "tim",
                Secret::new(password.to_string()),
                "client-nonce",
            )
            .unwrap(),
        ),
        other => panic!("{other}"),
    }
}

#[test]
fn auth_every_mechanism_after_starttls() {
    for (name, secret) in [
        ("PLAIN", "tanstaaf"),
        ("LOGIN", "tanstaaf"),
        ("XOAUTH2", "token-123"),
        ("OAUTHBEARER", "token-123"),
        ("CRAM-MD5", "tanstaaf"),
        // RFC 5802 / RFC 7677: the proof checked by the server mechanism, its signature by
        // the client's, the stored secret looked up through Event::LookupSecret.
        ("SCRAM-SHA-256", "tanstaaf"),
    ] {
        let client = Client::with_auth(no_tls_required(), vec![mechanism(name, secret)]);
        let run = pair(
            client,
            Server::new(auth_server()),
            vec![message("a@example.org", &["b@example.com"], b"hi\r\n")],
            &[3, 7],
            &[5, 1, 30],
            check_credentials,
        );
        assert!(run.errors().is_empty(), "{name}: {:?}", run.errors());
        assert!(
            run.client_events
                .iter()
                .any(|e| matches!(e, Event::Authenticated(m) if m.is(name))),
            "{name}"
        );
        assert_eq!(run.bodies.len(), 1, "{name}");
        let text = run.client_text();
        let tls_at = text.find("STARTTLS").unwrap();
        assert!(
            text.find("AUTH ").unwrap() > tls_at,
            "{name}: credentials only after TLS"
        );
    }
}

fn no_tls_required() -> ClientConfig {
    ClientConfig {
        tls: TlsPolicy::Required,
        ..no_tls()
    }
}

#[test]
fn rfc5802_section9_scram_wrong_password_and_unknown_user_fail_alike() {
    let failed_transcript = |client: Box<dyn ClientMechanism + Send>| {
        let client = Client::with_auth(no_tls_required(), vec![client]);
        let run = pair(
            client,
            Server::new(auth_server()),
            vec![message("a@example.org", &["b@example.com"], b"hi\r\n")],
            &[],
            &[],
            check_credentials,
        );
        assert!(
            matches!(run.errors().as_slice(), [Error::AuthFailed { reply, .. }] if reply.code() == ReplyCode::AUTH_CREDENTIALS_INVALID),
            "{:?}",
            run.errors()
        );
        assert!(run.bodies.is_empty());
        // The server never signed (no `v=`), and never asked the application to judge.
        assert!(
            !run.server_events
                .iter()
                .any(|e| matches!(e, server::Event::Authenticate { .. }))
        );
        let lookups = run
            .server_events
            .iter()
            .filter(|e| matches!(e, server::Event::LookupSecret { .. }))
            .count();
        assert_eq!(lookups, 1);
        String::from_utf8(run.to_client).unwrap()
    };
    let wrong = failed_transcript(mechanism("SCRAM-SHA-256", "wrong"));
    let unknown = failed_transcript(Box::new(
        ScramSha256Client::new(None, "nobody", "tanstaaf", "client-nonce").unwrap(),
    ));
    // Both see a 334 server-first-message and then 535: nothing tells them apart.
    for transcript in [&wrong, &unknown] {
        let after_auth = &transcript[transcript.rfind("334 ").unwrap()..];
        assert!(after_auth.contains("\r\n535 "), "{transcript}");
    }
}

#[test]
fn auth_picks_the_best_common_mechanism_and_reports_failure() {
    let client = Client::with_auth(
        no_tls_required(),
        vec![
            mechanism("LOGIN", "tanstaaf"),
            mechanism("PLAIN", "tanstaaf"),
        ],
    );
    let run = pair(
        client,
        Server::new(auth_server()),
        vec![],
        &[],
        &[],
        check_credentials,
    );
    assert!(run.client_text().contains("AUTH PLAIN "));
    assert!(!run.client_text().contains("AUTH LOGIN"));

    let client = Client::with_auth(no_tls_required(), vec![mechanism("PLAIN", "wrong")]);
    let run = pair(
        client,
        Server::new(auth_server()),
        vec![message("a@example.org", &["b@example.com"], b"hi\r\n")],
        &[],
        &[],
        check_credentials,
    );
    let errors = run.errors();
    assert!(
        matches!(errors.as_slice(), [Error::AuthFailed { reply, cause: None }] if reply.code() == ReplyCode::AUTH_CREDENTIALS_INVALID),
        "{errors:?}"
    );
    assert!(!run.client_text().contains("MAIL"));
    assert!(run.client_text().ends_with("QUIT\r\n"));

    // XOAUTH2's failure comes inside the exchange (RFC 7628 3.2.3): the client answers the
    // error challenge, then the 535 arrives.
    let client = Client::with_auth(no_tls_required(), vec![mechanism("XOAUTH2", "bad")]);
    let run = pair(
        client,
        Server::new(auth_server()),
        vec![],
        &[],
        &[],
        check_credentials,
    );
    assert!(matches!(
        run.errors().as_slice(),
        [Error::AuthFailed { .. }]
    ));

    // No mechanism in common; no AUTH at all.
    let server = ServerConfig {
        sasl_mechanisms: ServerMechanisms::new().login(),
        ..auth_server()
    };
    let client = Client::with_auth(no_tls_required(), vec![mechanism("PLAIN", "tanstaaf")]);
    let run = pair(
        client,
        Server::new(server),
        vec![],
        &[],
        &[],
        check_credentials,
    );
    assert_eq!(run.errors(), [&Error::AuthUnavailable]);
    assert!(!run.client_text().contains("AUTH"));
}

#[test]
fn no_credentials_over_plaintext() {
    let server = ServerConfig {
        auth_without_tls: true,
        ..auth_server()
    };
    let client = Client::with_auth(no_tls(), vec![mechanism("PLAIN", "tanstaaf")]);
    let run = pair(
        client,
        Server::new(server.clone()),
        vec![],
        &[],
        &[],
        check_credentials,
    );
    assert_eq!(run.errors(), [&Error::AuthNeedsTls]);
    assert!(!run.client_text().contains("AUTH"));
    // Unless the application says so.
    let client = Client::with_auth(
        ClientConfig {
            allow_plaintext_auth: true,
            ..no_tls()
        },
        vec![mechanism("PLAIN", "tanstaaf")],
    );
    let run = pair(
        client,
        Server::new(server),
        vec![],
        &[],
        &[],
        check_credentials,
    );
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert!(
        run.client_events
            .iter()
            .any(|e| matches!(e, Event::Authenticated(_)))
    );
}

#[test]
fn extensions_checked_before_sending() {
    let server = ServerConfig {
        smtputf8: false,
        eight_bit_mime: false,
        dsn: false,
        max_message_size: Some(1000),
        ..mx()
    };
    let utf8 = message("a@example.org", &["jösé@example.com"], b"x");
    let mut eight = message("a@example.org", &["b@example.com"], b"x");
    eight.envelope.parameters.body = Some(Body::EightBitMime);
    let mut large = message("a@example.org", &["b@example.com"], b"x");
    large.envelope = large.envelope.size(1001);
    let mut require_tls = message("a@example.org", &["b@example.com"], b"x");
    require_tls.envelope.parameters.require_tls = true;
    let empty = Message {
        envelope: Envelope::new(ReversePath::Null),
        body: vec![],
    };
    let mut dsn = message("a@example.org", &["b@example.com"], b"dsn\r\n");
    dsn.envelope.parameters.ret = Some(crate::types::Ret::Headers);
    dsn.envelope.recipients[0].parameters.notify =
        Some((crate::types::Notify::SUCCESS | crate::types::Notify::FAILURE).into());
    let mut sized = message("a@example.org", &["b@example.com"], b"sized\r\n");
    sized.envelope = sized.envelope.size(7);
    let run = simple_pair(
        no_tls(),
        server,
        vec![utf8, eight, large, require_tls, empty, dsn, sized],
    );
    assert_eq!(
        run.refused,
        [
            SendError::Unsupported(Extension::SmtpUtf8),
            SendError::Unsupported(Extension::EightBitMime),
            SendError::TooLarge {
                size: 1001,
                limit: 1000
            },
            SendError::RequireTlsWithoutTls,
            SendError::NoRecipients,
        ]
    );
    let reports = run.reports();
    assert_eq!(reports.len(), 2);
    assert!(reports[0].dsn_dropped && reports[0].is_delivered_to_all());
    let text = run.client_text();
    assert!(text.contains("MAIL FROM:<a@example.org>\r\n"), "{text}");
    assert!(
        text.contains("MAIL FROM:<a@example.org> SIZE=7\r\n"),
        "{text}"
    );
    assert!(!text.contains("NOTIFY") && !text.contains("RET="));
}

#[test]
fn extensions_declared_when_offered() {
    let server = ServerConfig {
        require_tls: true,
        implicit_tls: true,
        ..mx()
    };
    let client = ClientConfig {
        implicit_tls: true,
        tls: TlsPolicy::Required,
        ..no_tls()
    };
    let mut m = message("jö@example.org", &["b@example.com"], "Grüße\r\n".as_bytes());
    m.envelope.parameters.body = Some(Body::EightBitMime);
    m.envelope.parameters.require_tls = true;
    m.envelope.parameters.ret = Some(crate::types::Ret::Full);
    m.envelope.recipients[0].parameters = RcptParameters::new()
        .with_notify(crate::types::Notify::FAILURE | crate::types::Notify::DELAY);
    let run = simple_pair(client, server, vec![m]);
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert!(!run.reports()[0].dsn_dropped);
    let text = run.client_text();
    assert!(!text.contains("STARTTLS"));
    for parameter in [
        "BODY=8BITMIME",
        "SMTPUTF8",
        "REQUIRETLS",
        "RET=FULL",
        "NOTIFY=FAILURE,DELAY",
    ] {
        assert!(text.contains(parameter), "{parameter} in {text}");
    }
    assert_eq!(run.bodies, ["Grüße\r\n".as_bytes().to_vec()]);
}

#[test]
fn api_misuse_is_an_error() {
    let mut client = Client::new(no_tls());
    let envelope = Envelope::new(mailbox("a@example.org")).to(mailbox("b@example.com"));
    assert_eq!(
        client.send_message(envelope),
        Err(SendError::Api(ApiError::NotReady))
    );
    assert_eq!(client.send_body(b"x"), Err(ApiError::NotSendingBody));
    assert_eq!(client.end_body(), Err(ApiError::NotSendingBody));
    assert_eq!(client.quit(), Err(ApiError::NotReady));
    assert_eq!(client.tls_established(), Err(ApiError::NotStartingTls));
    assert!(client.poll_output().is_none());
}

#[test]
fn timeouts_follow_the_phase() {
    let t = ClientTimeouts::default();
    let mut client = Client::new(ClientConfig {
        pipelining: false,
        ..no_tls()
    });
    assert_eq!(client.timeout(), Some(t.greeting));
    let script: &[(&[u8], Option<Duration>)] =
        &[(b"220 mx\r\n", Some(t.command)), (b"250 mx\r\n", None)];
    for (input, timeout) in script {
        assert_eq!(client.receive(input), input.len());
        while client.poll_output().is_some() {}
        assert_eq!(client.timeout(), *timeout);
    }
    client
        .send_message(Envelope::new(mailbox("a@example.org")).to(mailbox("b@example.com")))
        .unwrap();
    assert_eq!(client.timeout(), Some(t.mail));
    assert_eq!(client.receive(b"250 ok\r\n"), (b"250 ok\r\n").len());
    assert_eq!(client.timeout(), Some(t.rcpt));
    assert_eq!(client.receive(b"250 ok\r\n"), (b"250 ok\r\n").len());
    assert_eq!(client.timeout(), Some(t.data_initiation));
    assert_eq!(client.receive(b"354 go\r\n"), (b"354 go\r\n").len());
    assert_eq!(client.timeout(), Some(t.data_block));
    client.send_body(b"x").unwrap();
    client.end_body().unwrap();
    assert_eq!(client.timeout(), Some(t.data_termination));
    client.handle_timeout();
    let outputs: Vec<Output> = core::iter::from_fn(|| client.poll_output()).collect();
    assert!(matches!(outputs.last(), Some(Output::Close)));
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Event(Event::Error(Error::Timeout))))
    );
    // The message in flight is reported, undecided.
    assert!(
        outputs.iter().any(
            |o| matches!(o, Output::Event(Event::Sent(r)) if r.recipients[0].result.is_none())
        )
    );
    assert_eq!(client.timeout(), None);
}

// ---------------------------------------------------------------------------------------------
// Scripted servers that misbehave.

/// Feeds the client each piece of server output in turn and collects what it did.
fn scripted(config: ClientConfig, server: &[&[u8]]) -> (Vec<Output>, String) {
    let mut client = Client::new(config);
    let mut outputs = Vec::new();
    let mut sent = String::new();
    let mut message = Some(Envelope::new(mailbox("a@example.org")).to(mailbox("b@example.com")));
    for piece in server {
        assert_eq!(client.receive(piece), piece.len());
        while let Some(output) = client.poll_output() {
            match &output {
                Output::Transmit(bytes) => sent.push_str(&String::from_utf8_lossy(bytes)),
                Output::Event(Event::Ready) => {
                    if let Some(envelope) = message.take() {
                        // Refused only if the session already failed in the same input.
                        let _ = client.send_message(envelope);
                    }
                }
                Output::Event(Event::SendBody) => {
                    client.send_body(b"body\r\n").unwrap();
                    client.end_body().unwrap();
                }
                _ => {}
            }
            outputs.push(output);
        }
    }
    (outputs, sent)
}

fn errors_of(outputs: &[Output]) -> Vec<&Error> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Event(Event::Error(error)) => Some(error),
            _ => None,
        })
        .collect()
}

#[test]
fn starttls_response_injection() {
    let config = no_tls_required();
    let (outputs, sent) = scripted(
        config.clone(),
        &[
            b"220 mx ESMTP\r\n",
            b"250-mx\r\n250 STARTTLS\r\n",
            b"220 go ahead\r\n250-fake\r\n250 AUTH PLAIN\r\n",
        ],
    );
    assert_eq!(
        errors_of(&outputs),
        [&Error::ResponseInjection { octets: 26 }]
    );
    assert!(!outputs.iter().any(|o| matches!(o, Output::StartTls)));
    assert!(matches!(outputs.last(), Some(Output::Close)));
    assert_eq!(sent, "EHLO client.example\r\nSTARTTLS\r\n");
    // Even one octet of a partial line counts.
    let (outputs, _) = scripted(
        config.clone(),
        &[b"220 mx\r\n", b"250-mx\r\n250 STARTTLS\r\n", b"220 go\r\n2"],
    );
    assert_eq!(
        errors_of(&outputs),
        [&Error::ResponseInjection { octets: 1 }]
    );
    // And plaintext arriving after the 220, before TLS is up.
    let (outputs, _) = scripted(
        config,
        &[
            b"220 mx\r\n",
            b"250-mx\r\n250 STARTTLS\r\n",
            b"220 go\r\n",
            b"250 x\r\n",
        ],
    );
    assert!(outputs.iter().any(|o| matches!(o, Output::StartTls)));
    assert_eq!(
        errors_of(&outputs),
        [&Error::ResponseInjection { octets: 7 }]
    );
}

#[test]
fn malformed_and_oversized_replies() {
    let cases: &[&[u8]] = &[
        b"250-mx\r\n251 PIPELINING\r\n",
        b"250 mx\nmore\r\n",
        b"2x0 mx\r\n",
    ];
    for case in cases {
        let (outputs, _) = scripted(no_tls(), &[b"220 mx\r\n", case]);
        let errors = errors_of(&outputs);
        assert!(
            matches!(errors.as_slice(), [Error::MalformedReply(_)]),
            "{case:?} {errors:?}"
        );
        assert!(matches!(outputs.last(), Some(Output::Close)));
    }
    let long = [b"250 ".as_slice(), &[b'x'; 600], b"\r\n"].concat();
    let (outputs, _) = scripted(no_tls(), &[b"220 mx\r\n", &long]);
    assert!(matches!(
        errors_of(&outputs).as_slice(),
        [Error::MalformedReply(e)] if matches!(e.kind, crate::codec::ErrorKind::LineTooLong { limit: 512 })
    ));
    // A reply that never ends holds no more than the limits.
    let mut client = Client::new(no_tls());
    assert_eq!(client.receive(b"220 mx\r\n"), (b"220 mx\r\n").len());
    for _ in 0..10_000 {
        assert_eq!(client.receive(b"250-more\r\n"), (b"250-more\r\n").len());
        if client.is_closed() {
            break;
        }
        assert!(client.buffered() <= 64 * 1024 + 512);
    }
    assert!(client.is_closed());
}

#[test]
fn unsolicited_unexpected_and_closing_replies() {
    // A reply before anything was asked (after the greeting, the EHLO reply, and one more).
    let (outputs, _) = scripted(no_tls(), &[b"220 mx\r\n250 mx\r\n250 surprise\r\n"]);
    let errors = errors_of(&outputs);
    assert!(matches!(errors.as_slice(), [Error::Unsolicited(r)] if r.code() == ReplyCode::OK));
    // 354 to MAIL.
    let (outputs, _) = scripted(no_tls(), &[b"220 mx\r\n", b"250 mx\r\n", b"354 what\r\n"]);
    assert!(matches!(
        errors_of(&outputs).as_slice(),
        [Error::UnexpectedReply {
            command: "MAIL",
            ..
        }]
    ));
    // 421 at any point ends the session; the message is reported with it.
    let (outputs, sent) = scripted(
        no_tls(),
        &[
            b"220 mx\r\n",
            b"250-mx\r\n250 PIPELINING\r\n",
            b"250 ok\r\n421 4.3.2 shutting down\r\n",
        ],
    );
    assert!(matches!(
        errors_of(&outputs).as_slice(),
        [Error::ServiceClosing(_)]
    ));
    let report = outputs.iter().find_map(|o| match o {
        Output::Event(Event::Sent(report)) => Some(report),
        _ => None,
    });
    assert_eq!(
        report.unwrap().recipients[0]
            .result
            .as_ref()
            .map(Reply::code),
        Some(ReplyCode::SERVICE_UNAVAILABLE)
    );
    assert!(!sent.contains("QUIT"));
    // A refusing greeting: QUIT, then close after its reply.
    let (outputs, sent) = scripted(no_tls(), &[b"554 no service here\r\n", b"221 bye\r\n"]);
    assert!(matches!(
        errors_of(&outputs).as_slice(),
        [Error::Refused(_)]
    ));
    assert_eq!(sent, "QUIT\r\n");
    assert!(matches!(outputs.last(), Some(Output::Close)));
}

#[test]
fn server_closes_in_the_middle_of_data() {
    let mut client = Client::new(no_tls());
    for input in [&b"220 mx\r\n"[..], b"250-mx\r\n250 PIPELINING\r\n"] {
        assert_eq!(client.receive(input), input.len());
        while client.poll_output().is_some() {}
    }
    client
        .send_message(Envelope::new(mailbox("a@example.org")).to(mailbox("b@example.com")))
        .unwrap();
    assert_eq!(
        client.receive(b"250 ok\r\n250 ok\r\n354 go\r\n"),
        (b"250 ok\r\n250 ok\r\n354 go\r\n").len()
    );
    while client.poll_output().is_some() {}
    assert!(client.wants_body());
    client.send_body(b"part of it").unwrap();
    client.receive_eof();
    let outputs: Vec<Output> = core::iter::from_fn(|| client.poll_output()).collect();
    assert!(matches!(outputs.last(), Some(Output::Close)));
    assert_eq!(errors_of(&outputs), [&Error::ConnectionClosed]);
    let Some(Output::Event(Event::Sent(report))) = outputs
        .iter()
        .find(|o| matches!(o, Output::Event(Event::Sent(_))))
    else {
        panic!("{outputs:?}")
    };
    assert!(!report.recipients[0].is_delivered());
    assert_eq!(client.send_body(b"more"), Err(ApiError::NotSendingBody));
}

#[test]
fn helo_fallback() {
    let (outputs, sent) = scripted(
        no_tls(),
        &[
            b"220 old\r\n",
            b"502 what?\r\n",
            b"250 old.example\r\n",
            b"250 ok\r\n",
            b"250 ok\r\n",
            b"354 go\r\n",
            b"250 queued\r\n",
        ],
    );
    assert!(errors_of(&outputs).is_empty());
    assert!(sent.starts_with(
        "EHLO client.example\r\nHELO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT"
    ));
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Event(Event::Hello(Hello::Basic(_)))))
    );
    // No fallback under a required TLS: HELO has no STARTTLS.
    let (outputs, _) = scripted(
        no_tls_required(),
        &[b"220 old\r\n", b"502 what?\r\n", b"250 old.example\r\n"],
    );
    assert_eq!(errors_of(&outputs), [&Error::TlsUnavailable]);
    // LMTP has no HELO.
    let (outputs, _) = scripted(
        ClientConfig {
            lmtp: true,
            ..no_tls()
        },
        &[b"220 lmtp\r\n", b"500 what?\r\n"],
    );
    assert!(matches!(
        errors_of(&outputs).as_slice(),
        [Error::Refused(_)]
    ));
}

#[test]
fn data_accepted_without_recipients_sends_an_empty_message() {
    // RFC 2920 3.1: a server that says 354 although every RCPT failed gets a lone dot.
    let (outputs, sent) = scripted(
        no_tls(),
        &[
            b"220 mx\r\n",
            b"250-mx\r\n250 PIPELINING\r\n",
            b"250 ok\r\n550 no\r\n354 go\r\n",
            b"554 no valid recipients\r\n",
            b"250 reset\r\n",
        ],
    );
    assert!(errors_of(&outputs).is_empty());
    assert!(sent.ends_with("DATA\r\n.\r\nRSET\r\n"), "{sent}");
    assert!(
        outputs
            .iter()
            .filter(|o| matches!(o, Output::Event(Event::Ready)))
            .count()
            == 2
    );
}

// ---------------------------------------------------------------------------------------------
// Properties.

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r".to_vec()),
        Just(b".".to_vec()),
        Just(b"\r\n.\r\n".to_vec()),
        Just(b"..".to_vec()),
        proptest::collection::vec(any::<u8>(), 0..20),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|pieces| pieces.concat())
}

proptest! {
    /// Any body, any line endings, lines of dots: it arrives byte-exact (normalized line ends
    /// for DATA, untouched for BDAT), whatever the chunking in both directions; the stuffed
    /// stream holds CRLF.CRLF only at its end.
    #[test]
    fn bodies_arrive_exactly(
        body in body_strategy(),
        cuts in proptest::collection::vec(any::<usize>(), 0..12),
        c2s in proptest::collection::vec(any::<usize>(), 1..8),
        s2c in proptest::collection::vec(any::<usize>(), 1..8),
        mode in 0..3u8,
        pipelining in any::<bool>(),
    ) {
        // DATA; BDAT with BINARYMIME; BDAT with 8BITMIME text.
        let chunking = mode > 0;
        let pieces: Vec<Vec<u8>> = mail_wire_chunks(&body, &cuts);
        let client = ClientConfig { chunking, pipelining, ..no_tls() };
        let server = ServerConfig {
            bare_endings: mail_wire::dot::DecodeBareEndings::PassThrough,
            smtputf8: false,
            ..mx()
        };
        let mut envelope = Envelope::new(mailbox("a@example.org")).to(mailbox("b@example.com"));
        envelope.parameters.body = Some(if mode == 1 { Body::BinaryMime } else { Body::EightBitMime });
        let run = pair(
            Client::new(client),
            Server::new(ServerConfig { binary_mime: true, ..server }),
            vec![Message { envelope, body: pieces }],
            &c2s,
            &s2c,
            accept_all,
        );
        prop_assert!(run.errors().is_empty(), "{:?}", run.errors());
        let expected = match mode {
            0 => normalized(&body),
            1 => body.clone(),
            _ => canonical_text(&body),
        };
        prop_assert_eq!(&run.bodies, &vec![expected.clone()]);
        if !chunking {
            let sent = &run.to_server;
            let start = find(sent, b"DATA\r\n").unwrap() + 4;
            let end = find(&sent[start..], b"\r\n.\r\n").unwrap() + start;
            // The first CRLF.CRLF after the DATA line ends the stuffed body: only QUIT follows.
            prop_assert_eq!(&sent[end + 5..], b"QUIT\r\n");
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn mail_wire_chunks(body: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (body.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut last = 0;
    for point in points {
        out.push(body[last..point].to_vec());
        last = point;
    }
    out.push(body[last..].to_vec());
    out
}

#[test]
fn recipients_keep_their_paths() {
    let envelope = Envelope::new(ReversePath::Null)
        .to(ForwardPath::Postmaster)
        .to(mailbox("x@example.com"));
    let run = simple_pair(
        no_tls(),
        mx(),
        vec![Message {
            envelope,
            body: vec![b"bounce\r\n".to_vec()],
        }],
    );
    let reports = run.reports();
    assert_eq!(reports[0].recipients[0].to, ForwardPath::Postmaster);
    assert!(
        run.client_text()
            .contains("MAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\n")
    );
}

proptest! {
    /// A whole session (STARTTLS, AUTH, several messages, refused recipients, SMTP or LMTP,
    /// DATA or BDAT, pipelined or not) gives the same events, bytes and bodies on both sides
    /// whatever the chunking in either direction.
    #[test]
    fn any_chunking_same_session(
        c2s in proptest::collection::vec(any::<usize>(), 1..8),
        s2c in proptest::collection::vec(any::<usize>(), 1..8),
        lmtp in any::<bool>(),
        chunking in any::<bool>(),
        pipelining in any::<bool>(),
    ) {
        let messages = vec![
            message("a@example.org", &["b@example.com", "nobody@example.com"], b"one\r\n.\r\n"),
            message("a@example.org", &["nope@example.com"], b"two"),
            message("a@example.org", &["c@example.com"], b"\n.three\n"),
        ];
        let client = || {
            Client::with_auth(
                ClientConfig { lmtp, chunking, pipelining, ..no_tls_required() },
                vec![mechanism("PLAIN", "tanstaaf")],
            )
        };
        let server = || Server::new(ServerConfig { lmtp, pipelining, ..auth_server() });
        let policy = |event: &server::Event| match event {
            server::Event::Authenticate { .. } => check_credentials(event),
            other => refuse_no(other),
        };
        let whole = pair(client(), server(), messages.clone(), &[], &[], policy);
        prop_assert!(whole.errors().is_empty(), "{:?}", whole.errors());
        prop_assert_eq!(whole.reports().len(), 3);
        let split = pair(client(), server(), messages, &c2s, &s2c, policy);
        prop_assert_eq!(&split.client_events, &whole.client_events);
        prop_assert_eq!(merged(&split.server_events), merged(&whole.server_events));
        prop_assert_eq!(&split.to_server, &whole.to_server);
        prop_assert_eq!(&split.to_client, &whole.to_client);
        prop_assert_eq!(&split.bodies, &whole.bodies);
        prop_assert!(split.client_closed && split.server_closed);
    }
}

/// The server's events with adjacent body pieces joined (their split follows the wire's).
fn merged(events: &[server::Event]) -> Vec<server::Event> {
    let mut out: Vec<server::Event> = Vec::new();
    for event in events {
        if let (server::Event::Body(more), Some(server::Event::Body(body))) =
            (event, out.last_mut())
        {
            let mut joined = body.to_vec();
            joined.extend_from_slice(more);
            *body = Bytes::from(joined);
            continue;
        }
        out.push(event.clone());
    }
    out
}

#[test]
fn the_epoch_stays_while_a_reply_trickles_in_and_moves_at_its_end_and_at_each_command() {
    let mut client = Client::new(no_tls());
    let start = client.timer_epoch();
    let mut epochs = Vec::new();
    for byte in b"220 mx.example ESMTP\r\n" {
        assert_eq!(client.receive(core::slice::from_ref(byte)), 1);
        epochs.push(client.timer_epoch());
    }
    let last = epochs.len() - 1;
    assert!(epochs[..last].iter().all(|&e| e == start), "{epochs:?}");
    assert_ne!(epochs[last], start, "a complete reply ends its deadline");
    // The EHLO goes out: its reply gets a deadline of its own.
    let before = client.timer_epoch();
    let mut sent = false;
    while let Some(output) = client.poll_output() {
        sent |= matches!(output, Output::Transmit(_));
    }
    assert!(sent);
    assert_ne!(client.timer_epoch(), before);
}
