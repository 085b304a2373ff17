use super::*;
use alloc::string::{String, ToString};
use alloc::vec;
use proptest::prelude::*;

/// A client script run against a server: the bytes sent back, the events, and how it ended.
#[derive(Debug, Default, PartialEq, Eq)]
struct Run {
    transcript: String,
    events: Vec<Event>,
    starttls: bool,
    closed: bool,
}

/// Feeds `chunks` one after the other, draining the outputs after each (the invariant) and
/// answering every decision with `policy`. Bounded: a livelock fails instead of hanging.
fn run_with(
    config: ServerConfig,
    chunks: &[&[u8]],
    mut policy: impl FnMut(&Event) -> Answer,
) -> (Run, Server) {
    let mut server = Server::new(config);
    let mut run = Run::default();
    let mut drain = |server: &mut Server, run: &mut Run| {
        for _ in 0..10_000 {
            let Some(output) = server.poll_output() else {
                return;
            };
            match output {
                Output::Transmit(bytes) => run
                    .transcript
                    .push_str(core::str::from_utf8(&bytes).unwrap()),
                Output::Event(event) => {
                    let decision = event.is_decision().then(|| policy(&event));
                    run.events.push(event);
                    if let Some(answer) = decision {
                        server.answer(answer).unwrap();
                    }
                }
                Output::StartTls => run.starttls = true,
                Output::Close => run.closed = true,
            }
        }
        panic!("livelock");
    };
    drain(&mut server, &mut run);
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        for _ in 0..10_000 {
            let taken = server.receive(rest);
            rest = &rest[taken..];
            drain(&mut server, &mut run);
            if rest.is_empty() {
                break;
            }
        }
        assert!(rest.is_empty(), "input not taken");
    }
    (run, server)
}

/// What a server had to say until it waited: bytes, events, whether it closed. Decisions are
/// accepted as they come.
struct Drained {
    text: String,
    events: Vec<Event>,
    closed: bool,
}

fn drain(server: &mut Server) -> Drained {
    let mut drained = Drained {
        text: String::new(),
        events: Vec::new(),
        closed: false,
    };
    while let Some(output) = server.poll_output() {
        match output {
            Output::Transmit(bytes) => drained.text.push_str(core::str::from_utf8(&bytes).unwrap()),
            Output::Event(event) => {
                if event.is_decision() {
                    server.answer(Answer::Accept).unwrap();
                }
                drained.events.push(event);
            }
            Output::Close => drained.closed = true,
            Output::StartTls => {}
        }
    }
    drained
}

fn run(config: ServerConfig, chunks: &[&[u8]]) -> Run {
    run_with(config, chunks, |_| Answer::Accept).0
}

fn plain() -> ServerConfig {
    ServerConfig {
        hostname: Domain::new("mx.example").unwrap(),
        ..ServerConfig::default()
    }
}

fn bodies(events: &[Event]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut body = Vec::new();
    for event in events {
        match event {
            Event::Body(chunk) => body.extend_from_slice(chunk),
            Event::MessageEnd { .. } => out.push(core::mem::take(&mut body)),
            Event::MessageRejected(_) | Event::TransactionReset => body.clear(),
            _ => {}
        }
    }
    out
}

use crate::types::Domain;

fn base64_encode(bytes: &[u8]) -> String {
    mail_wire::sasl::encode_challenge(bytes)
}

#[test]
fn rfc5321_d1_transaction_byte_for_byte() {
    let config = ServerConfig {
        pipelining: false,
        chunking: false,
        dsn: false,
        smtputf8: false,
        eight_bit_mime: false,
        enhanced_status_codes: false,
        max_message_size: None,
        ..plain()
    };
    let got = run(
        config,
        &[
            b"EHLO bar.com\r\n",
            b"MAIL FROM:<Smith@bar.com>\r\n",
            b"RCPT TO:<Jones@foo.com>\r\n",
            b"RCPT TO:<Green@foo.com>\r\n",
            b"RCPT TO:<Brown@foo.com>\r\n",
            b"DATA\r\n",
            b"Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\n",
            b"QUIT\r\n",
        ],
    );
    assert_eq!(
        got.transcript,
        "220 mx.example ESMTP\r\n\
         250-mx.example\r\n250-SIZE\r\n250 HELP\r\n\
         250 Ok\r\n250 Ok\r\n250 Ok\r\n250 Ok\r\n\
         354 Start mail input; end with <CRLF>.<CRLF>\r\n\
         250 Ok\r\n221 Bye\r\n"
    );
    assert_eq!(
        bodies(&got.events),
        [b"Blah blah blah...\r\n..etc. etc. etc.\r\n".to_vec()]
    );
    assert!(got.closed);
}

#[test]
fn decisions_shape_the_replies() {
    let (got, _) = run_with(
        plain(),
        &[b"EHLO c.example\r\n", b"MAIL FROM:<a@b.example>\r\nRCPT TO:<no@b.example>\r\nRCPT TO:<yes@b.example>\r\nDATA\r\nx\r\n.\r\n"],
        |event| match event {
            Event::RcptTo { to, .. } if to.to_string().contains("no@") => {
                Answer::Reply(Reply::with_status(ReplyCode::MAILBOX_UNAVAILABLE, EnhancedStatus::BAD_DESTINATION_MAILBOX, "No such user").unwrap())
            }
            Event::MessageEnd { .. } => Answer::Reply(Reply::new(ReplyCode::OK, "queued as 4F2A").unwrap()),
            _ => Answer::Accept,
        },
    );
    let replies: Vec<&str> = got
        .transcript
        .split("\r\n")
        .filter(|l| !l.starts_with("250-"))
        .collect();
    assert_eq!(
        replies,
        [
            "220 mx.example ESMTP",
            "250 HELP",
            "250 2.1.0 Ok",
            "550 5.1.1 No such user",
            "250 2.1.5 Ok",
            "354 Start mail input; end with <CRLF>.<CRLF>",
            // ENHANCEDSTATUSCODES is advertised: the application's reply gets one (RFC 2034).
            "250 2.0.0 queued as 4F2A",
            "",
        ]
    );
}

#[test]
fn pipelined_commands_wait_for_pending_decisions_and_replies_stay_in_order() {
    // RFC 2920's example: everything in one flight.
    let input: &[u8] = b"MAIL FROM:<mrose@dbc.mtview.ca.us>\r\nRCPT TO:<ned@innosoft.com>\r\nRCPT TO:<dan@innosoft.com>\r\nRCPT TO:<kvc@innosoft.com>\r\nDATA\r\nbody\r\n.\r\nQUIT\r\n";
    let mut asked = Vec::new();
    let (got, _) = run_with(plain(), &[b"EHLO c.example\r\n", input], |event| {
        asked.push(core::mem::discriminant(event));
        Answer::Accept
    });
    let codes: Vec<&str> = got
        .transcript
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with("250-"))
        .map(|l| &l[..3])
        .collect();
    assert_eq!(
        codes,
        [
            "220", "250", "250", "250", "250", "250", "354", "250", "221"
        ]
    );
    assert_eq!(bodies(&got.events), [b"body\r\n".to_vec()]);
    assert_eq!(asked.len(), 8); // connect, hello, mail, 3 rcpt, data, end
}

#[test]
fn sending_ahead_without_pipelining_is_a_synchronization_error() {
    let config = ServerConfig {
        pipelining: false,
        ..plain()
    };
    let got = run(
        config,
        &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
        ],
    );
    assert!(
        got.transcript
            .ends_with("554 5.5.0 Synchronization error: command sent before the reply\r\n")
    );
    assert!(got.closed);
    assert!(
        !got.events
            .iter()
            .any(|e| matches!(e, Event::MailFrom { .. }))
    );

    // With PIPELINING but before EHLO (HELO never allows it), the same.
    let got = run(
        plain(),
        &[
            b"HELO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n",
        ],
    );
    assert!(got.transcript.contains("554 5.5.0"));

    // An early talker, before the greeting, even with PIPELINING.
    let mut server = Server::new(plain());
    assert_eq!(server.receive(b"EHLO c.example\r\n"), 16);
    assert!(matches!(
        server.poll_output(),
        Some(Output::Event(Event::Connected))
    ));
    server.answer(Answer::Accept).unwrap();
    let text = drain(&mut server).text;
    assert_eq!(
        text,
        "220 mx.example ESMTP\r\n554 5.5.0 Synchronization error: command sent before the reply\r\n"
    );
    assert!(server.is_closed());
}

#[test]
fn starttls_injection_is_never_executed() {
    let config = ServerConfig {
        starttls: true,
        ..plain()
    };
    for tail in [
        &b"RSET\r\n"[..],
        b"AUTH PLAIN AHVzZXIAcGFzcw==\r\nMAIL FROM:<a@b.example>\r\n",
    ] {
        let mut input = b"STARTTLS\r\n".to_vec();
        input.extend_from_slice(tail);
        let (got, mut server) = run_with(config.clone(), &[b"EHLO c.example\r\n", &input], |_| {
            Answer::Accept
        });
        assert!(
            got.transcript.ends_with("220 2.0.0 Ready to start TLS\r\n"),
            "{}",
            got.transcript
        );
        assert!(got.starttls);
        assert!(got.events.contains(&Event::PlaintextDiscarded(tail.len())));
        assert!(
            !got.events
                .iter()
                .any(|e| matches!(e, Event::MailFrom { .. } | Event::Authenticate { .. }))
        );
        // After TLS: a fresh session that needs EHLO, and STARTTLS is no longer offered.
        server.tls_established().unwrap();
        assert_eq!(server.receive(b"MAIL FROM:<a@b.example>\r\n"), 25);
        let text = drain(&mut server).text;
        assert_eq!(text, "503 5.5.1 Send EHLO first\r\n");
    }
}

/// STARTTLS pipelined behind a pending decision with more input than `max_pending`: the
/// untaken tail stays with the caller, who might feed it once TLS is up. The machine refuses
/// that STARTTLS and closes, so the tail can never run inside TLS.
#[test]
fn starttls_with_plaintext_left_with_the_caller_is_refused() {
    let config = ServerConfig {
        starttls: true,
        max_pending: 40,
        ..plain()
    };
    let mut server = Server::new(config);
    drain(&mut server);
    assert_eq!(
        server.receive(b"EHLO c.example\r\n"),
        (b"EHLO c.example\r\n").len()
    );
    drain(&mut server);
    // MAIL is a decision: what follows it waits, up to max_pending; the rest stays with the
    // caller.
    let mut read = b"MAIL FROM:<a@b.example>\r\nRSET\r\nSTARTTLS\r\n".to_vec();
    read.extend_from_slice(b"MAIL FROM:<evil@b.example>\r\nRCPT TO:<victim@d.example>\r\n");
    let taken = server.receive(&read);
    assert!(taken < read.len(), "{taken} of {}", read.len());
    let mut events = Vec::new();
    let mut starttls = false;
    while let Some(output) = server.poll_output() {
        match output {
            Output::Event(event) => {
                if event.is_decision() {
                    server.answer(Answer::Accept).unwrap();
                }
                events.push(event);
            }
            Output::StartTls => starttls = true,
            _ => {}
        }
    }
    assert!(!starttls);
    assert!(server.is_closed());
    // Only the MAIL before STARTTLS: the one behind it never ran.
    let mails = events
        .iter()
        .filter(|e| matches!(e, Event::MailFrom { .. }))
        .count();
    assert_eq!(mails, 1);
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::PlaintextDiscarded(_)))
    );
    assert_eq!(server.tls_established(), Err(ApiError::NotStartingTls));
}

#[test]
fn smuggling_sequences_never_end_a_message_early() {
    for fake in [
        &b"\n.\n"[..],
        b"\r.\r",
        b"\n.\r\n",
        b"\r\n.\n",
        b"\r.\r\n",
        b"\r\n.\r",
        b"\r\n\x00.\r\n",
    ] {
        let mut input =
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nhello".to_vec();
        input.extend_from_slice(fake);
        input.extend_from_slice(b"MAIL FROM:<evil@b.example>\r\nRCPT TO:<victim@d.example>\r\nDATA\r\nsmuggled\r\n.\r\n");
        let got = run(plain(), &[b"EHLO c.example\r\n", &input]);
        let mails = got
            .events
            .iter()
            .filter(|e| matches!(e, Event::MailFrom { .. }))
            .count();
        assert_eq!(mails, 1, "{fake:?}: a second transaction was smuggled");
        let ends = got
            .events
            .iter()
            .filter(|e| matches!(e, Event::MessageEnd { .. }))
            .count();
        let rejected = got
            .events
            .iter()
            .filter(|e| matches!(e, Event::MessageRejected(_)))
            .count();
        assert_eq!(ends + rejected, 1, "{fake:?}");
    }
}

#[test]
fn too_many_errors_end_the_session() {
    let config = ServerConfig {
        max_errors: 3,
        ..plain()
    };
    let got = run(
        config,
        &[b"EHLO c.example\r\n", b"FOO\r\nBAR\r\nBAZ\r\nNOOP\r\n"],
    );
    assert!(got.transcript.ends_with(
        "500 5.5.2 Command unrecognized: FOO\r\n500 5.5.2 Command unrecognized: BAR\r\n500 5.5.2 Command unrecognized: BAZ\r\n421 4.7.0 Too many errors, closing the connection\r\n"
    ));
    assert!(got.closed);
}

#[test]
fn sequence_rules() {
    let got = run(
        plain(),
        &[
            b"MAIL FROM:<a@b.example>\r\n",
            b"EHLO c.example\r\n",
            b"RCPT TO:<a@b.example>\r\n",
            b"DATA\r\n",
            b"MAIL FROM:<a@b.example>\r\n",
            b"DATA\r\n",
            b"MAIL FROM:<a@b.example>\r\n",
        ],
    );
    let lines: Vec<&str> = got
        .transcript
        .split("\r\n")
        .filter(|l| !l.starts_with("250-") && !l.is_empty())
        .collect();
    assert_eq!(
        lines,
        [
            "220 mx.example ESMTP",
            "503 5.5.1 Send EHLO first",
            "250 HELP",
            "503 5.5.1 Send MAIL first",
            "503 5.5.1 Send MAIL first",
            "250 2.1.0 Ok",
            "554 5.5.1 No valid recipients",
            "503 5.5.1 Nested MAIL command",
        ]
    );
}

#[test]
fn size_is_enforced_while_streaming() {
    let config = ServerConfig {
        max_message_size: Some(10),
        ..plain()
    };
    let got = run(
        config.clone(),
        &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@b.example> SIZE=11\r\n",
        ],
    );
    assert!(
        got.transcript
            .ends_with("552 5.3.4 Message size exceeds the limit\r\n")
    );
    let got = run(
        config,
        &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n",
            b"0123456789ABCDEF\r\n.\r\nNOOP\r\n",
        ],
    );
    assert!(
        got.transcript
            .ends_with("552 5.3.4 Message size exceeds the limit\r\n250 2.0.0 Ok\r\n"),
        "{}",
        got.transcript
    );
    assert!(
        got.events
            .contains(&Event::MessageRejected(BodyError::TooLarge { limit: 10 }))
    );
}

#[test]
fn bare_lf_in_a_body_rejects_the_message_after_its_end() {
    let got = run(plain(), &[b"EHLO c.example\r\n", b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nbad\nline\r\n.\r\nNOOP\r\n"]);
    assert!(
        got.transcript
            .ends_with("554 5.6.0 Bare CR or LF in the message\r\n250 2.0.0 Ok\r\n")
    );
    assert!(
        !got.events
            .iter()
            .any(|e| matches!(e, Event::MessageEnd { .. }))
    );
}

#[test]
fn lmtp_answers_once_per_recipient() {
    // RFC 2033 4.3's example, shortened.
    let config = ServerConfig {
        lmtp: true,
        ..plain()
    };
    let (got, _) = run_with(
        config,
        &[b"LHLO foo.edu\r\n", b"MAIL FROM:<chris@bar.com>\r\nRCPT TO:<pat@foo.edu>\r\nRCPT TO:<jones@foo.edu>\r\nRCPT TO:<green@foo.edu>\r\nDATA\r\nBlah\r\n.\r\n"],
        |event| match event {
            Event::RcptTo { to, .. } if to.to_string().contains("jones") => Answer::Reply(
                Reply::with_status(ReplyCode::MAILBOX_UNAVAILABLE, EnhancedStatus::BAD_DESTINATION_MAILBOX, "No such user here").unwrap(),
            ),
            Event::MessageEnd { recipients, .. } => {
                assert_eq!(*recipients, 2);
                Answer::PerRecipient(vec![
                    Reply::with_status(ReplyCode::OK, EnhancedStatus::SUCCESS, "<pat@foo.edu> Ok").unwrap(),
                    Reply::with_status(ReplyCode::LOCAL_ERROR, EnhancedStatus::new(4, 2, 1).unwrap(), "<green@foo.edu> busy").unwrap(),
                ])
            }
            _ => Answer::Accept,
        },
    );
    assert!(got.transcript.starts_with("220 mx.example LMTP\r\n"));
    assert!(
        got.transcript
            .ends_with("250 2.0.0 <pat@foo.edu> Ok\r\n451 4.2.1 <green@foo.edu> busy\r\n"),
        "{}",
        got.transcript
    );
    // EHLO is not LMTP.
    let got = run(
        ServerConfig {
            lmtp: true,
            ..plain()
        },
        &[b"EHLO foo.edu\r\n"],
    );
    assert!(
        got.transcript
            .ends_with("500 5.5.1 Wrong greeting for this protocol\r\n")
    );
}

#[test]
fn bdat_chunks_and_refusals_stay_in_step() {
    let got = run(
        plain(),
        &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 5\r\nhel",
            b"loBDAT 3 LAST\r\n\r\n.QUIT\r\n",
        ],
    );
    assert!(
        got.transcript
            .ends_with("250 2.0.0 5 octets received\r\n250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"),
        "{}",
        got.transcript
    );
    assert_eq!(bodies(&got.events), [b"hello\r\n.".to_vec()]);
    // A chunk with no transaction is read, then refused: the stream stays in step.
    let got = run(
        plain(),
        &[b"EHLO c.example\r\n", b"BDAT 6 LAST\r\nRSET\r\nNOOP\r\n"],
    );
    assert!(
        got.transcript
            .ends_with("503 5.5.1 Send MAIL first\r\n250 2.0.0 Ok\r\n"),
        "{}",
        got.transcript
    );
    // DATA after BDAT is refused (RFC 3030 3).
    let got = run(
        plain(),
        &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 1\r\nxDATA\r\n",
        ],
    );
    assert!(
        got.transcript
            .ends_with("503 5.5.1 Use BDAT for this message\r\n")
    );
}

#[test]
fn auth_plain_over_tls_only() {
    let config = ServerConfig {
        sasl_mechanisms: ServerMechanisms::new().plain().login(),
        ..plain()
    };
    // Not offered, and refused, in plaintext.
    let got = run(
        config.clone(),
        &[b"EHLO c.example\r\n", b"AUTH PLAIN AHRlc3QAMTIzNA==\r\n"],
    );
    assert!(!got.transcript.contains("AUTH PLAIN LOGIN"));
    assert!(
        got.transcript
            .ends_with("530 5.7.0 Must issue a STARTTLS command first\r\n")
    );
    // Over TLS: RFC 4954's example with an initial response, then LOGIN refused.
    let config = ServerConfig {
        implicit_tls: true,
        ..config
    };
    let (got, _) = run_with(
        config,
        &[
            b"EHLO c.example\r\n",
            b"AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=\r\n",
        ],
        |event| match event {
            Event::Authenticate { credentials, .. } => {
                assert_eq!(credentials.username(), Some("test"));
                assert!(credentials.verify_password(b"1234"));
                Answer::Accept
            }
            _ => Answer::Accept,
        },
    );
    assert!(got.transcript.contains("250-AUTH PLAIN LOGIN\r\n"));
    assert!(
        got.transcript
            .ends_with("235 2.7.0 Authentication succeeded\r\n")
    );
    let config = ServerConfig {
        implicit_tls: true,
        sasl_mechanisms: ServerMechanisms::new().login(),
        ..plain()
    };
    let (got, server) = run_with(
        config,
        &[
            b"EHLO c.example\r\n",
            b"AUTH LOGIN\r\n",
            b"dXNlcg==\r\n",
            b"cGFzcw==\r\n",
        ],
        |event| match event {
            Event::Authenticate { .. } => Answer::Reply(
                Reply::with_status(
                    ReplyCode::AUTH_CREDENTIALS_INVALID,
                    EnhancedStatus::AUTH_CREDENTIALS_INVALID,
                    "Nope",
                )
                .unwrap(),
            ),
            _ => Answer::Accept,
        },
    );
    assert!(
        got.transcript
            .ends_with("334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n535 5.7.8 Nope\r\n"),
        "{}",
        got.transcript
    );
    assert!(!server.is_authenticated());
    // An initial response longer than a command line: the AUTH line limit applies (RFC 4954 4).
    let config = ServerConfig {
        implicit_tls: true,
        sasl_mechanisms: ServerMechanisms::new().plain(),
        ..plain()
    };
    // PLAIN fields are at most 255 octets each (RFC 4616); together they pass 512 in base64.
    let long_password = "p".repeat(250);
    let message = alloc::format!("{}\0{}\0{long_password}", "a".repeat(200), "u".repeat(200));
    let line = alloc::format!("AUTH PLAIN {}\r\n", base64_encode(message.as_bytes()));
    let (got, _) = run_with(
        config.clone(),
        &[b"EHLO c.example\r\n", line.as_bytes()],
        |event| {
            if let Event::Authenticate { credentials, .. } = event {
                assert!(credentials.verify_password(long_password.as_bytes()));
            }
            Answer::Accept
        },
    );
    assert!(
        got.transcript
            .ends_with("235 2.7.0 Authentication succeeded\r\n"),
        "{}",
        got.transcript
    );
    let noop = alloc::format!("NOOP {}\r\n", "x".repeat(600));
    let got = run(config, &[b"EHLO c.example\r\n", noop.as_bytes()]);
    assert!(
        got.transcript.ends_with("500 5.5.6 Line too long\r\n"),
        "{}",
        got.transcript
    );
    // CRAM-MD5 with the application's challenge: RFC 2195's example.
    let config = ServerConfig {
        implicit_tls: true,
        sasl_mechanisms: ServerMechanisms::new()
            .cram_md5(|| "<1896.697170952@postoffice.reston.mci.net>".into()),
        ..plain()
    };
    let (got, _) = run_with(
        config,
        &[
            b"EHLO c.example\r\n",
            b"AUTH CRAM-MD5\r\n",
            b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n",
        ],
        |event| {
            if let Event::Authenticate { credentials, .. } = event {
                assert!(credentials.verify_password(b"tanstaaftanstaaf"));
            }
            Answer::Accept
        },
    );
    assert!(
        got.transcript
            .contains("334 PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n"),
        "{}",
        got.transcript
    );
    assert!(
        got.transcript
            .ends_with("235 2.7.0 Authentication succeeded\r\n")
    );
    // `*` cancels.
    let config = ServerConfig {
        implicit_tls: true,
        sasl_mechanisms: ServerMechanisms::new().login(),
        ..plain()
    };
    let got = run(config, &[b"EHLO c.example\r\n", b"AUTH LOGIN\r\n*\r\n"]);
    assert!(
        got.transcript
            .ends_with("501 5.7.0 Authentication cancelled\r\n")
    );
}

#[test]
fn api_misuse_is_a_typed_error() {
    let mut server = Server::new(plain());
    let _ = server.poll_output();
    server.answer(Answer::Accept).unwrap();
    assert_eq!(
        server.answer(Answer::Accept),
        Err(ApiError::NoDecisionPending)
    );
    assert_eq!(server.tls_established(), Err(ApiError::NotStartingTls));
    let mut server = Server::new(plain());
    let _ = server.poll_output();
    assert_eq!(
        server.answer(Answer::PerRecipient(Vec::new())),
        Err(ApiError::UnfitAnswer)
    );
    assert!(server.is_waiting());
}

#[test]
fn timeouts_per_phase_and_expiry() {
    let mut server = Server::new(plain());
    // The connection decision is the application's move: no timer runs.
    assert_eq!(server.timeout(), None);
    let _ = server.poll_output();
    server.answer(Answer::Accept).unwrap();
    assert_eq!(server.timeout(), Some(Duration::from_secs(300)));
    server.handle_timeout();
    let Drained { text, closed, .. } = drain(&mut server);
    assert!(text.ends_with("421 4.4.2 Timeout waiting for a command, closing\r\n"));
    assert!(closed && server.timeout().is_none());
}

/// RFC 5321 4.5.3.2: each deadline's 421 names it (a command, a block of data, the end of a
/// message, the AUTH exchange, and the driver's limit on the whole session), never "idle".
#[test]
fn rfc5321_4_5_3_2_each_timeout_reply_names_the_deadline_that_expired() {
    fn last_reply(server: &mut Server) -> String {
        let Drained { text, closed, .. } = drain(server);
        assert!(closed, "{text}");
        text.rsplit_terminator("\r\n").next().unwrap().to_string()
    }
    let in_data = || {
        let mut server = Server::new(plain());
        let _ = drain(&mut server);
        let _ = drain_after(&mut server, b"EHLO c.example\r\n");
        let text = drain_after(
            &mut server,
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\npart",
        );
        assert!(text.contains("354 "), "{text}");
        server
    };
    let mut server = in_data();
    server.handle_timeout();
    assert_eq!(
        last_reply(&mut server),
        "421 4.4.2 Timeout waiting for message data, closing"
    );

    let mut server = in_data();
    let (_, events) = feed(&mut server, b"ial\r\n.\r\n");
    assert!(events.iter().any(Event::is_decision), "{events:?}");
    assert_eq!(server.timeout(), Some(Duration::from_secs(600)));
    server.handle_timeout();
    assert_eq!(
        last_reply(&mut server),
        "421 4.4.2 Timeout completing the message, closing"
    );

    let (mut server, _) = greeted(ServerMechanisms::new().login());
    let challenge = drain_after(&mut server, b"AUTH LOGIN\r\n");
    assert!(challenge.starts_with("334 "), "{challenge}");
    server.handle_timeout();
    assert_eq!(
        last_reply(&mut server),
        "421 4.4.2 Timeout in the AUTH exchange, closing"
    );

    // The session's limit, in any phase, through the drivers' trait.
    let mut server = in_data();
    mail_wire::machine::Machine::handle_session_timeout(&mut server);
    assert_eq!(
        last_reply(&mut server),
        "421 4.4.2 Session time limit reached, closing"
    );
}

#[test]
fn a_hundred_megabytes_without_a_newline_stay_within_the_line_limit() {
    let mut server = Server::new(plain());
    let _ = server.poll_output();
    server.answer(Answer::Accept).unwrap();
    while server.poll_output().is_some() {}
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..100 {
        assert_eq!(server.receive(&chunk), chunk.len());
        assert!(server.buffered() <= 512);
        while server.poll_output().is_some() {}
    }
    assert_eq!(server.receive(b"\r\nNOOP\r\n"), 8);
    let text = drain(&mut server).text;
    assert_eq!(text, "500 5.5.6 Line too long\r\n250 2.0.0 Ok\r\n");
}

/// A server that allows `limit` commands moving no mail.
fn junk_limited(limit: usize) -> ServerConfig {
    ServerConfig {
        max_junk_commands: limit,
        vrfy: true,
        ..plain()
    }
}

/// RFC 5321 3.8: past `max_junk_commands` commands that move no mail (NOOP, RSET, VRFY, EXPN,
/// HELP, ETRN) the session ends with 421, and the command over the limit is not carried out.
#[test]
fn rfc5321_3_8_over_max_junk_commands_the_session_ends_with_421() {
    let got = run(
        junk_limited(3),
        &[
            b"EHLO c.example\r\n",
            b"NOOP\r\nRSET\r\nHELP\r\nNOOP\r\nNOOP\r\n",
        ],
    );
    let lines: Vec<&str> = got.transcript.split_inclusive("\r\n").collect();
    assert_eq!(
        lines[lines.len() - 4..],
        [
            "250 2.0.0 Ok\r\n",
            "250 2.0.0 Ok\r\n",
            "214 2.0.0 See RFC 5321\r\n",
            "421 4.7.0 Too many commands, closing\r\n",
        ]
    );
    assert!(got.closed);
    // VRFY over the limit never reaches the application; ETRN counts as well.
    let got = run(
        junk_limited(1),
        &[b"EHLO c.example\r\n", b"ETRN x.example\r\nVRFY bob\r\n"],
    );
    assert!(
        got.transcript.ends_with(
            "502 5.5.1 Command not implemented\r\n421 4.7.0 Too many commands, closing\r\n"
        ),
        "{}",
        got.transcript
    );
    assert!(!got.events.iter().any(|e| matches!(e, Event::Verify(_))));
}

#[test]
fn the_junk_command_count_starts_again_after_an_accepted_message_and_defaults_to_100() {
    assert_eq!(ServerConfig::default().max_junk_commands, 100);
    let message: &[u8] = b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nhi\r\n.\r\n";
    let noops = "NOOP\r\n".repeat(3);
    let got = run(
        junk_limited(3),
        &[
            b"EHLO c.example\r\n",
            noops.as_bytes(),
            message,
            noops.as_bytes(),
        ],
    );
    assert!(!got.closed, "{}", got.transcript);
    assert!(!got.transcript.contains("421"), "{}", got.transcript);
    let got = run(
        junk_limited(3),
        &[
            b"EHLO c.example\r\n",
            noops.as_bytes(),
            message,
            noops.as_bytes(),
            b"NOOP\r\n",
        ],
    );
    assert!(
        got.transcript
            .ends_with("250 2.0.0 Ok\r\n421 4.7.0 Too many commands, closing\r\n")
    );
    assert!(got.closed);
    // The default: 100 NOOPs are answered, the 101st ends the session.
    let hundred = "NOOP\r\n".repeat(100);
    let got = run(plain(), &[b"EHLO c.example\r\n", hundred.as_bytes()]);
    assert!(!got.closed && got.transcript.ends_with("250 2.0.0 Ok\r\n"));
    let got = run(
        plain(),
        &[b"EHLO c.example\r\n", hundred.as_bytes(), b"NOOP\r\n"],
    );
    assert!(got.closed);
    assert_eq!(got.transcript.matches("250 2.0.0 Ok\r\n").count(), 100);
    assert!(
        got.transcript
            .ends_with("421 4.7.0 Too many commands, closing\r\n")
    );
}

/// `first`, then `session` cut at the points `cuts` name (each taken modulo its length + 1).
fn cut_after<'a>(first: &'a [u8], session: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (session.len() + 1)).collect();
    points.sort_unstable();
    let mut chunks = vec![first];
    let mut last = 0;
    for p in points {
        chunks.push(&session[last..p]);
        last = p;
    }
    chunks.push(&session[last..]);
    chunks
}

proptest! {
    /// Any chunking of a whole session gives the same events and the same bytes out.
    #[test]
    fn any_chunking_gives_identical_events_and_output(cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        let session: &[u8] = b"MAIL FROM:<a@b.example> SIZE=20\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@f.example>\r\nDATA\r\n..line\r\nx\r\n.\r\nBDAT 4\r\nMAIL\r\nRSET\r\nMAIL FROM:<>\r\nRCPT TO:<g@h.example>\r\nBDAT 2 LAST\r\nhiNOOP\r\nVRFY x\r\nQUIT\r\n";
        let ehlo: &[u8] = b"EHLO c.example\r\n";
        let whole = run(plain(), &[ehlo, session]);
        let chunks = cut_after(ehlo, session, &cuts);
        let pieces = run(plain(), &chunks);
        prop_assert_eq!(&whole.transcript, &pieces.transcript);
        // Body pieces may be split differently; everything else is identical.
        prop_assert_eq!(bodies(&whole.events), bodies(&pieces.events));
        let other = |events: &[Event]| events.iter().filter(|e| !matches!(e, Event::Body(_))).cloned().collect::<Vec<_>>();
        prop_assert_eq!(other(&whole.events), other(&pieces.events));
        prop_assert!(whole.closed && pieces.closed);
    }

    /// Any chunking of a session that goes over the junk command limit ends it at the same
    /// command, with the same bytes out.
    #[test]
    fn any_chunking_ends_a_junk_session_at_the_same_command(cuts in prop::collection::vec(any::<usize>(), 0..20)) {
        let session: &[u8] = b"NOOP\r\nRSET\r\nMAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nx\r\n.\r\nHELP\r\nVRFY x\r\nNOOP\r\nNOOP\r\nNOOP\r\nQUIT\r\n";
        let ehlo: &[u8] = b"EHLO c.example\r\n";
        let whole = run(junk_limited(3), &[ehlo, session]);
        prop_assert!(whole.transcript.ends_with("250 2.0.0 Ok\r\n421 4.7.0 Too many commands, closing\r\n"));
        let chunks = cut_after(ehlo, session, &cuts);
        let pieces = run(junk_limited(3), &chunks);
        prop_assert_eq!(&whole.transcript, &pieces.transcript);
        prop_assert!(whole.closed && pieces.closed);
    }

    /// Random command sequences never panic and every line out is a well-formed reply.
    #[test]
    fn random_sessions_give_well_formed_replies(
        commands in prop::collection::vec(prop_oneof![
            Just("EHLO c.example"), Just("HELO c.example"), Just("MAIL FROM:<a@b.example>"),
            Just("RCPT TO:<c@d.example>"), Just("DATA"), Just("."), Just("RSET"), Just("NOOP"),
            Just("BDAT 3"), Just("BDAT 0 LAST"), Just("QUIT"), Just("STARTTLS"), Just("AUTH PLAIN"),
            Just("VRFY x"), Just("garbage"), Just(""), Just("MAIL FROM:<bad"),
        ], 0..30),
        accept in any::<bool>(),
    ) {
        let mut wire = Vec::new();
        for command in &commands {
            wire.extend_from_slice(command.as_bytes());
            wire.extend_from_slice(b"\r\n");
        }
        let config = ServerConfig { starttls: true, ..plain() };
        let (got, _) = run_with(config, &[&wire], |_| if accept {
            Answer::Accept
        } else {
            Answer::Reply(Reply::new(ReplyCode::MAILBOX_UNAVAILABLE, "no").unwrap())
        });
        for line in got.transcript.split_terminator("\r\n") {
            let code: u16 = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
            prop_assert!((200..600).contains(&code), "{line:?}");
            prop_assert!(matches!(line.as_bytes().get(3), None | Some(b' ' | b'-')), "{line:?}");
            prop_assert!(line.len() <= 510);
        }
    }
}

#[test]
fn rfc3030_pipelined_binarymime_transcript() {
    let config = ServerConfig {
        hostname: Domain::new("cnri.reston.va.us").unwrap(),
        binary_mime: true,
        enhanced_status_codes: false,
        ..ServerConfig::default()
    };
    // Binary data that contains everything a text parser would trip over.
    let mut first = Vec::new();
    while first.len() < 100_000 {
        first.extend_from_slice(b"\r\n.\r\n\0\xff\n.\r");
    }
    first.truncate(100_000);
    let second = vec![b'.'; 324];
    let mut client = b"MAIL FROM:<ned@ymir.claremont.edu> BODY=BINARYMIME\r\nRCPT TO:<gvaudre@cnri.reston.va.us>\r\nRCPT TO:<jstewart@cnri.reston.va.us>\r\n".to_vec();
    client.extend_from_slice(b"BDAT 100000\r\n");
    client.extend_from_slice(&first);
    client.extend_from_slice(b"BDAT 324\r\n");
    client.extend_from_slice(&second);
    client.extend_from_slice(b"BDAT 0 LAST\r\nQUIT\r\n");
    let reply = |code, text: &str| {
        Answer::Reply(Reply::new(code, alloc::string::String::from(text)).unwrap())
    };
    let (got, _) = run_with(
        config,
        &[b"EHLO ymir.claremont.edu\r\n", &client],
        |event| match event {
            Event::MailFrom { .. } => reply(
                ReplyCode::OK,
                "<ned@ymir.claremont.edu>... Sender and BINARYMIME ok",
            ),
            Event::RcptTo { to, .. } => {
                reply(ReplyCode::OK, &alloc::format!("{}... Recipient ok", to))
            }
            Event::MessageEnd { size, .. } => reply(
                ReplyCode::OK,
                &alloc::format!("Message OK, {size} octets received"),
            ),
            _ => Answer::Accept,
        },
    );
    let after_ehlo = got.transcript.split("250 HELP\r\n").nth(1).unwrap();
    assert_eq!(
        after_ehlo,
        "250 <ned@ymir.claremont.edu>... Sender and BINARYMIME ok\r\n\
         250 <gvaudre@cnri.reston.va.us>... Recipient ok\r\n\
         250 <jstewart@cnri.reston.va.us>... Recipient ok\r\n\
         250 100000 octets received\r\n\
         250 324 octets received\r\n\
         250 Message OK, 100324 octets received\r\n\
         221 Bye\r\n"
    );
    let mut want = first.clone();
    want.extend_from_slice(&second);
    assert_eq!(bodies(&got.events), [want]);
}

/// Runs and returns the replies only, without the EHLO capability lines.
fn replies(run: &Run) -> Vec<&str> {
    run.transcript
        .split("\r\n")
        .filter(|l| !l.is_empty() && !l.starts_with("250-"))
        .collect()
}

#[test]
fn lmtp_bdat_refusals_answer_per_recipient() {
    let lmtp = ServerConfig {
        lmtp: true,
        max_message_size: Some(3),
        ..plain()
    };
    // Grown too large: one 552 per accepted recipient.
    let got = run(lmtp.clone(), &[b"LHLO c.example\r\n", b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nRCPT TO:<e@d.example>\r\nBDAT 2\r\nheBDAT 3 LAST\r\nllo"]);
    assert_eq!(
        &replies(&got)[replies(&got).len() - 2..],
        ["552 5.3.4 Message size exceeds the limit"; 2]
    );
    // No recipient accepted: BDAT LAST gets no reply at all (RFC 2033 4.3), DATA gets 503.
    let (got, _) = run_with(
        lmtp.clone(),
        &[
            b"LHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 3 LAST\r\nabcNOOP\r\n",
        ],
        |event| match event {
            Event::RcptTo { .. } => {
                Answer::Reply(Reply::new(ReplyCode::MAILBOX_UNAVAILABLE, "no").unwrap())
            }
            _ => Answer::Accept,
        },
    );
    assert_eq!(
        &replies(&got)[replies(&got).len() - 2..],
        ["550 5.0.0 no", "250 2.0.0 Ok"]
    );
    let (got, _) = run_with(
        lmtp,
        &[
            b"LHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n",
        ],
        |event| match event {
            Event::RcptTo { .. } => {
                Answer::Reply(Reply::new(ReplyCode::MAILBOX_UNAVAILABLE, "no").unwrap())
            }
            _ => Answer::Accept,
        },
    );
    assert!(
        got.transcript
            .ends_with("503 5.5.1 No valid recipients\r\n")
    );
}

#[test]
fn a_refused_chunk_is_answered_only_after_it_was_read() {
    let mut server = Server::new(plain());
    let _ = server.poll_output();
    server.answer(Answer::Accept).unwrap();
    let _ = server.receive(b"EHLO c.example\r\n");
    drain(&mut server);
    assert_eq!(server.receive(b"BDAT 10 LAST\r\nabc"), 17);
    assert!(
        server.poll_output().is_none(),
        "answered before the chunk was read"
    );
    assert_eq!(server.receive(b"defghij"), 7);
    let Some(Output::Transmit(bytes)) = server.poll_output() else {
        panic!()
    };
    assert_eq!(&bytes[..], b"503 5.5.1 Send MAIL first\r\n");
}

#[test]
fn without_pipelining_bdat_data_is_not_sending_ahead_but_held_commands_are() {
    let config = ServerConfig {
        pipelining: false,
        ..plain()
    };
    let got = run(
        config.clone(),
        &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\n",
            b"RCPT TO:<c@d.example>\r\n",
            b"BDAT 5 LAST\r\nhello",
            b"QUIT\r\n",
        ],
    );
    assert!(
        got.transcript
            .ends_with("250 2.0.0 Ok\r\n221 2.0.0 Bye\r\n"),
        "{}",
        got.transcript
    );
    // Commands that arrive while a decision is pending were sent before its reply.
    let mut server = Server::new(config);
    let _ = server.poll_output();
    server.answer(Answer::Accept).unwrap();
    let _ = server.receive(b"EHLO c.example\r\n");
    let mut text = String::new();
    let mut decided = false;
    while let Some(output) = server.poll_output() {
        match output {
            Output::Event(event) if event.is_decision() && !decided => {
                // Before answering, the client talks.
                let _ = server.receive(b"MAIL FROM:<a@b.example>\r\n");
                decided = true;
                server.answer(Answer::Accept).unwrap();
            }
            Output::Transmit(bytes) => text.push_str(core::str::from_utf8(&bytes).unwrap()),
            _ => {}
        }
    }
    assert!(
        text.ends_with("554 5.5.0 Synchronization error: command sent before the reply\r\n"),
        "{text}"
    );
    assert!(server.is_closed());
}

#[test]
fn debug_never_shows_held_bytes() {
    let config = ServerConfig {
        implicit_tls: true,
        sasl_mechanisms: ServerMechanisms::new().plain(),
        ..plain()
    };
    let mut server = Server::new(config);
    let _ = server.poll_output();
    server.answer(Answer::Accept).unwrap();
    let _ = server.receive(b"EHLO c.example\r\n");
    drain(&mut server);
    let _ = server.receive(b"AUTH PLAIN AHVzZXIAaHVudGVyMg");
    let shown = alloc::format!("{server:?}");
    assert!(
        !shown.contains("AHVzZXIAaHVudGVyMg") && !shown.contains("hunter2"),
        "{shown}"
    );
}

#[test]
fn answers_that_do_not_fit_and_custom_ones_that_do() {
    // A 354 may word DATA's go-ahead; nothing intermediate fits elsewhere.
    let (got, _) = run_with(
        plain(),
        &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\nx\r\n.\r\n",
        ],
        |event| match event {
            Event::DataStart => {
                Answer::Reply(Reply::new(ReplyCode::START_DATA, "Go ahead, end with .").unwrap())
            }
            _ => Answer::Accept,
        },
    );
    assert!(got.transcript.contains("354 Go ahead, end with .\r\n"));
    assert_eq!(bodies(&got.events), [b"x\r\n".to_vec()]);
    let lmtp = ServerConfig {
        lmtp: true,
        ..plain()
    };
    let mut server = Server::new(lmtp);
    let _ = server.poll_output();
    assert_eq!(
        server.answer(Answer::Reply(
            Reply::new(ReplyCode::START_DATA, "no").unwrap()
        )),
        Err(ApiError::UnfitAnswer)
    );
    // LMTP AUTH before LHLO is a sequence error.
    let config = ServerConfig {
        lmtp: true,
        implicit_tls: true,
        sasl_mechanisms: ServerMechanisms::new().plain(),
        ..plain()
    };
    let got = run(config, &[b"AUTH PLAIN AHVzZXIAaHVudGVyMg==\r\n"]);
    assert!(got.transcript.ends_with("503 5.5.1 AUTH not available\r\n"));
    // After HELO, no extension parameter is accepted.
    let got = run(
        plain(),
        &[
            b"HELO c.example\r\n",
            b"MAIL FROM:<a@b.example> BODY=8BITMIME\r\n",
        ],
    );
    assert!(
        got.transcript
            .ends_with("555 5.5.4 Unsupported parameter\r\n")
    );
    // Without ENHANCEDSTATUSCODES, none goes out, not even in the synchronization error.
    let config = ServerConfig {
        pipelining: false,
        enhanced_status_codes: false,
        ..plain()
    };
    let got = run(config, &[b"HELO c.example\r\n", b"NOOP\r\nNOOP\r\n"]);
    assert!(
        got.transcript
            .ends_with("554 Synchronization error: command sent before the reply\r\n"),
        "{}",
        got.transcript
    );
}

#[test]
fn shutting_down_mid_message_abandons_it() {
    let mut server = Server::new(plain());
    let mut events = Vec::new();
    let feed = |server: &mut Server, bytes: &[u8], events: &mut Vec<Event>| {
        let _ = server.receive(bytes);
        events.extend(drain(server).events);
    };
    feed(&mut server, b"", &mut events);
    feed(&mut server, b"EHLO c.example\r\n", &mut events);
    feed(
        &mut server,
        b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n",
        &mut events,
    );
    feed(&mut server, b"half a body\r\n", &mut events);
    server.shut_down();
    events.extend(drain(&mut server).events);
    assert_eq!(events.last(), Some(&Event::TransactionReset));
}

/// A configuration that advertises as little as possible, so that whole RFC transcripts can be
/// compared byte for byte.
fn minimal(hostname: &str) -> ServerConfig {
    ServerConfig {
        hostname: Domain::new(String::from(hostname)).unwrap(),
        pipelining: false,
        eight_bit_mime: false,
        smtputf8: false,
        chunking: false,
        dsn: false,
        enhanced_status_codes: false,
        max_message_size: None,
        ..ServerConfig::default()
    }
}

fn text(code: ReplyCode, text: &str) -> Answer {
    Answer::Reply(Reply::new(code, String::from(text)).unwrap())
}

#[test]
fn rfc2033_lmtp_example_byte_for_byte() {
    let config = ServerConfig {
        lmtp: true,
        pipelining: true,
        ..minimal("foo.edu")
    };
    let (got, _) = run_with(
        config,
        &[
            b"LHLO foo.edu\r\n",
            b"MAIL FROM:<chris@bar.com>\r\n",
            b"RCPT TO:<pat@foo.edu>\r\n",
            b"RCPT TO:<jones@foo.edu>\r\n",
            b"RCPT TO:<green@foo.edu>\r\n",
            b"DATA\r\n",
            b"Blah blah blah...\r\n..etc. etc. etc.\r\n.\r\n",
            b"QUIT\r\n",
        ],
        |event| match event {
            Event::Connected => text(ReplyCode::READY, "foo.edu LMTP server ready"),
            Event::RcptTo { to, .. } if to.to_string().contains("jones") => {
                text(ReplyCode::MAILBOX_UNAVAILABLE, "No such user here")
            }
            Event::MessageEnd { .. } => Answer::PerRecipient(vec![
                Reply::new(ReplyCode::OK, "OK").unwrap(),
                Reply::new(
                    ReplyCode::INSUFFICIENT_STORAGE,
                    "<green@foo.edu> is temporarily over quota",
                )
                .unwrap(),
            ]),
            Event::Hello { .. } => Answer::Accept,
            _ => text(ReplyCode::OK, "OK"),
        },
    );
    assert_eq!(
        got.transcript,
        "220 foo.edu LMTP server ready\r\n\
         250-foo.edu\r\n250-PIPELINING\r\n250-SIZE\r\n250 HELP\r\n\
         250 OK\r\n250 OK\r\n550 No such user here\r\n250 OK\r\n\
         354 Start mail input; end with <CRLF>.<CRLF>\r\n\
         250 OK\r\n452 <green@foo.edu> is temporarily over quota\r\n\
         221 Bye\r\n"
    );
}

#[test]
fn rfc2920_pipelined_example_byte_for_byte() {
    let config = ServerConfig {
        pipelining: true,
        ..minimal("innosoft.com")
    };
    let (got, _) = run_with(
        config,
        &[
            b"EHLO dbc.mtview.ca.us\r\n",
            b"MAIL FROM:<mrose@dbc.mtview.ca.us>\r\nRCPT TO:<ned@innosoft.com>\r\nRCPT TO:<dan@innosoft.com>\r\nRCPT TO:<kvc@innosoft.com>\r\nDATA\r\n",
            b"Hi\r\n.\r\nQUIT\r\n",
        ],
        |event| match event {
            Event::Connected => text(ReplyCode::READY, "innosoft.com SMTP service ready"),
            Event::MailFrom { from, .. } => text(ReplyCode::OK, &alloc::format!("sender {from} OK")),
            Event::RcptTo { to, .. } => text(ReplyCode::OK, &alloc::format!("recipient {to} OK")),
            Event::DataStart => text(ReplyCode::START_DATA, "enter mail, end with line containing only \".\""),
            Event::MessageEnd { .. } => text(ReplyCode::OK, "message sent"),
            _ => Answer::Accept,
        },
    );
    assert_eq!(
        got.transcript,
        "220 innosoft.com SMTP service ready\r\n\
         250-innosoft.com\r\n250-PIPELINING\r\n250-SIZE\r\n250 HELP\r\n\
         250 sender <mrose@dbc.mtview.ca.us> OK\r\n\
         250 recipient <ned@innosoft.com> OK\r\n\
         250 recipient <dan@innosoft.com> OK\r\n\
         250 recipient <kvc@innosoft.com> OK\r\n\
         354 enter mail, end with line containing only \".\"\r\n\
         250 message sent\r\n\
         221 Bye\r\n"
    );
}

#[test]
fn rfc5321_d4_verify_and_send_byte_for_byte() {
    let config = ServerConfig {
        vrfy: true,
        eight_bit_mime: true,
        dsn: true,
        ..minimal("foo.com")
    };
    let (got, _) = run_with(
        config,
        &[
            b"EHLO bar.com\r\n",
            b"VRFY Crispin\r\n",
            b"MAIL FROM:<EAK@bar.com>\r\n",
            b"RCPT TO:<Admin.MRC@foo.com>\r\n",
            b"DATA\r\n",
            b"Blah blah blah...\r\n...etc. etc. etc.\r\n.\r\n",
            b"QUIT\r\n",
        ],
        |event| match event {
            Event::Connected => text(
                ReplyCode::READY,
                "foo.com Simple Mail Transfer Service Ready",
            ),
            Event::Verify(who) => {
                assert_eq!(who.as_str(), "Crispin");
                text(ReplyCode::OK, "Mark Crispin <Admin.MRC@foo.com>")
            }
            Event::Hello { .. } | Event::DataStart => Answer::Accept,
            _ => text(ReplyCode::OK, "OK"),
        },
    );
    assert_eq!(
        got.transcript,
        "220 foo.com Simple Mail Transfer Service Ready\r\n\
         250-foo.com\r\n250-SIZE\r\n250-8BITMIME\r\n250-DSN\r\n250-VRFY\r\n250 HELP\r\n\
         250 Mark Crispin <Admin.MRC@foo.com>\r\n\
         250 OK\r\n250 OK\r\n\
         354 Start mail input; end with <CRLF>.<CRLF>\r\n\
         250 OK\r\n\
         221 Bye\r\n"
    );
    assert_eq!(
        bodies(&got.events),
        [b"Blah blah blah...\r\n..etc. etc. etc.\r\n".to_vec()]
    );
}

#[test]
fn rfc6531_3_7_4_2_vrfy_smtputf8_reaches_the_application_only_where_offered() {
    let config = ServerConfig {
        vrfy: true,
        expn: true,
        smtputf8: true,
        ..minimal("mx.example")
    };
    let (got, _) = run_with(
        config.clone(),
        &[
            b"EHLO c.example\r\n",
            b"VRFY J\xc3\xb6rg SMTPUTF8\r\n",
            b"EXPN staff\r\n",
        ],
        |event| match event {
            Event::Verify(lookup) => {
                assert_eq!((lookup.as_str(), lookup.smtputf8()), ("Jörg", true));
                text(ReplyCode::OK, "Jörg <jörg@mx.example>")
            }
            Event::Expand(lookup) => {
                assert_eq!((lookup.as_str(), lookup.smtputf8()), ("staff", false));
                text(ReplyCode::OK, "staff <staff@mx.example>")
            }
            _ => Answer::Accept,
        },
    );
    assert!(
        got.transcript.ends_with("250 staff <staff@mx.example>\r\n"),
        "{}",
        got.transcript
    );
    // After HELO (no extension in effect), or where SMTPUTF8 is not offered: 555.
    let helo = run(
        config.clone(),
        &[b"HELO c.example\r\n", b"VRFY staff SMTPUTF8\r\n"],
    );
    assert!(
        helo.transcript.ends_with("555 Unsupported parameter\r\n"),
        "{}",
        helo.transcript
    );
    let ascii = run(
        ServerConfig {
            smtputf8: false,
            ..config
        },
        &[b"EHLO c.example\r\n", b"EXPN staff SMTPUTF8\r\n"],
    );
    assert!(
        ascii.transcript.ends_with("555 Unsupported parameter\r\n"),
        "{}",
        ascii.transcript
    );
    assert!(!ascii.events.iter().any(|e| matches!(e, Event::Expand(_))));
}

/// RFC 6531 3.7.4.2: without the SMTPUTF8 parameter on VRFY / EXPN the server must not send
/// UTF-8 in the reply; where the application's answer holds some, the machine sends 252 (in
/// place of an acceptance) or 550 (in place of a refusal) with X.6.8 instead. ASCII answers,
/// and UTF-8 ones to a lookup that carried the parameter, go out as they are.
#[test]
fn rfc6531_3_7_4_2_utf8_lookup_reply_without_the_parameter_becomes_252_or_550_x_6_8() {
    let config = ServerConfig {
        vrfy: true,
        expn: true,
        smtputf8: true,
        enhanced_status_codes: true,
        ..minimal("mx.example")
    };
    let answer = |event: &Event| match event {
        Event::Verify(lookup) if lookup.as_str() == "nobody" => {
            text(ReplyCode::MAILBOX_UNAVAILABLE, "Jörg? No such user")
        }
        Event::Verify(lookup) if lookup.as_str() == "ascii" => {
            text(ReplyCode::OK, "Ascii <ascii@mx.example>")
        }
        Event::Verify(_) | Event::Expand(_) => text(ReplyCode::OK, "Jörg <jörg@mx.example>"),
        _ => Answer::Accept,
    };
    let (got, _) = run_with(
        config.clone(),
        &[
            b"EHLO c.example\r\n",
            b"VRFY jorg\r\n",
            b"EXPN staff\r\n",
            b"VRFY nobody\r\n",
            b"VRFY ascii\r\n",
            b"VRFY jorg SMTPUTF8\r\n",
        ],
        answer,
    );
    let replies: Vec<&str> = got
        .transcript
        .lines()
        .filter(|l| !l.starts_with("250-") && !l.starts_with("220 "))
        .skip(1)
        .collect();
    assert_eq!(
        replies,
        [
            "252 2.6.8 UTF-8 reply required, but not permitted by the client",
            "252 2.6.8 UTF-8 reply required, but not permitted by the client",
            "550 5.6.8 UTF-8 reply required, but not permitted by the client",
            "250 2.0.0 Ascii <ascii@mx.example>",
            "250 2.0.0 Jörg <jörg@mx.example>",
        ],
        "{}",
        got.transcript
    );
    assert!(!got.closed);
    // Without ENHANCEDSTATUSCODES: the same reply codes, without the enhanced one.
    let (got, _) = run_with(
        ServerConfig {
            enhanced_status_codes: false,
            ..config
        },
        &[b"EHLO c.example\r\n", b"VRFY jorg\r\n"],
        answer,
    );
    assert!(
        got.transcript
            .ends_with("\r\n252 UTF-8 reply required, but not permitted by the client\r\n"),
        "{}",
        got.transcript
    );
}

/// RFC 2852 4: a by-time of zero or less with by-mode R is a syntax error: 501, and the
/// application never sees the command; a well-formed BY the server does not offer is 555.
#[test]
fn rfc2852_4_by_time_the_mode_forbids_is_answered_501() {
    let got = run(
        minimal("mx.example"),
        &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@c.example> BY=0;R\r\n",
            b"MAIL FROM:<a@c.example> BY=-30;RT\r\n",
            b"MAIL FROM:<a@c.example> BY=0;N\r\n",
        ],
    );
    let replies: Vec<&str> = got
        .transcript
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with("250"))
        .collect();
    assert!(replies[0].starts_with("501 "), "{replies:?}");
    assert!(
        replies[0].contains("by-time of zero or less with by-mode R"),
        "{replies:?}"
    );
    assert!(replies[1].starts_with("501 "), "{replies:?}");
    assert_eq!(replies[2], "555 Unsupported parameter");
    assert!(
        !got.events
            .iter()
            .any(|e| matches!(e, Event::MailFrom { .. }))
    );
}

/// Feeds `bytes` and collects what the server says, answering nothing.
fn feed(server: &mut Server, bytes: &[u8]) -> (String, Vec<Event>) {
    assert_eq!(server.receive(bytes), bytes.len());
    let mut text = String::new();
    let mut events = Vec::new();
    while let Some(output) = server.poll_output() {
        match output {
            Output::Transmit(bytes) => text.push_str(core::str::from_utf8(&bytes).unwrap()),
            Output::Event(event) => events.push(event),
            Output::StartTls | Output::Close => {}
        }
    }
    (text, events)
}

/// A server over TLS offering `mechanisms`, greeted and past EHLO.
fn greeted(mechanisms: ServerMechanisms) -> (Server, String) {
    let mut server = Server::new(ServerConfig {
        implicit_tls: true,
        sasl_mechanisms: mechanisms,
        ..plain()
    });
    let _ = drain(&mut server);
    let ehlo = drain_after(&mut server, b"EHLO c.example\r\n");
    (server, ehlo)
}

/// Feeds `bytes`, accepting decisions as they come; the text sent back.
fn drain_after(server: &mut Server, bytes: &[u8]) -> String {
    assert_eq!(server.receive(bytes), bytes.len());
    drain(server).text
}

#[test]
fn rfc4422_appendix_a_external_with_the_tls_identity() {
    let (mut server, ehlo) = greeted(ServerMechanisms::new().external().plain());
    assert!(ehlo.contains("250-AUTH EXTERNAL PLAIN\r\n"), "{ehlo}");
    server.set_external_identity(Some("alice@example.org".into()));
    assert_eq!(server.external_identity(), Some("alice@example.org"));
    // RFC 4954 4: the empty initial response is `=`.
    let (text, events) = feed(&mut server, b"AUTH EXTERNAL =\r\n");
    assert_eq!(text, "");
    assert_eq!(
        events,
        [Event::Authenticate {
            mechanism: Mechanism::new("EXTERNAL").unwrap(),
            credentials: Credentials::External {
                identity: "alice@example.org".into(),
                authzid: None,
            },
        }]
    );
    server.answer(Answer::Accept).unwrap();
    assert_eq!(
        drain(&mut server).text,
        "235 2.7.0 Authentication succeeded\r\n"
    );
    assert!(server.is_authenticated());

    // An authzid after an empty challenge.
    let (mut server, _) = greeted(ServerMechanisms::new().external());
    server.set_external_identity(Some("CN=alice".into()));
    let (text, _) = feed(&mut server, b"AUTH EXTERNAL\r\n");
    assert_eq!(text.trim_end(), "334", "an empty challenge");
    let (_, events) = feed(&mut server, b"Ym9i\r\n");
    let [Event::Authenticate { credentials, .. }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(credentials.username(), Some("CN=alice"));
    assert_eq!(credentials.authzid(), Some("bob"));
}

#[test]
fn rfc4422_appendix_a_external_without_an_identity_fails() {
    let (mut server, _) = greeted(ServerMechanisms::new().external());
    let (text, events) = feed(&mut server, b"AUTH EXTERNAL =\r\n");
    assert_eq!(text, "535 5.7.8 Authentication credentials invalid\r\n");
    // The mechanism failed on its own: news for the application, and counted.
    assert_eq!(
        events,
        [Event::AuthFailed {
            mechanism: Mechanism::new("EXTERNAL").unwrap(),
            username: None
        }]
    );
    assert!(!server.is_authenticated());
    // Cleared again: fails too.
    server.set_external_identity(Some("CN=alice".into()));
    server.set_external_identity(None);
    let (text, _) = feed(&mut server, b"AUTH EXTERNAL =\r\n");
    assert_eq!(text, "535 5.7.8 Authentication credentials invalid\r\n");
}

#[test]
fn rfc7677_section3_scram_through_the_server_machine() {
    let nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let (mut server, ehlo) = greeted(ServerMechanisms::new().scram_sha_256(
        mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
        move || nonce.into(),
    ));
    assert!(ehlo.contains("250-AUTH SCRAM-SHA-256\r\n"), "{ehlo}");
    let first = base64_encode(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let (text, events) = feed(
        &mut server,
        alloc::format!("AUTH SCRAM-SHA-256 {first}\r\n").as_bytes(),
    );
    // Nothing goes out until the application has looked the user up.
    assert_eq!(text, "");
    assert_eq!(
        events,
        [Event::LookupSecret {
            mechanism: Mechanism::new("SCRAM-SHA-256").unwrap(),
            username: "user".into()
        }]
    );
    assert!(server.is_waiting());
    // Only provide_secret (or a refusal) answers a lookup.
    assert_eq!(server.answer(Answer::Accept), Err(ApiError::UnfitAnswer));
    let salt = [
        0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12, 0x36, 0xfa,
        0x81,
    ];
    let secret = ScramSecret::derive("pencil", &salt, 4096).unwrap();
    server.provide_secret(Some(secret)).unwrap();
    let (text, _) = feed(&mut server, b"");
    let server_first =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    assert_eq!(
        text,
        alloc::format!("334 {}\r\n", base64_encode(server_first))
    );
    let last = base64_encode(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    let (text, _) = feed(&mut server, alloc::format!("{last}\r\n").as_bytes());
    let server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
    assert_eq!(
        text,
        alloc::format!("334 {}\r\n", base64_encode(server_final))
    );
    let (_, events) = feed(&mut server, b"\r\n");
    let [Event::Authenticate { credentials, .. }] = events.as_slice() else {
        panic!("{events:?}")
    };
    assert_eq!(
        credentials,
        &Credentials::Scram {
            authcid: "user".into(),
            authzid: None
        }
    );
    server.answer(Answer::Accept).unwrap();
    assert_eq!(
        drain(&mut server).text,
        "235 2.7.0 Authentication succeeded\r\n"
    );
    assert_eq!(server.provide_secret(None), Err(ApiError::NoLookupPending));
}

#[test]
fn scram_lookup_refused_by_the_application() {
    let (mut server, _) = greeted(ServerMechanisms::new().scram_sha_256(
        mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
        || "sn".into(),
    ));
    let first = base64_encode(b"n,,n=locked,r=cn");
    let (_, events) = feed(
        &mut server,
        alloc::format!("AUTH SCRAM-SHA-256 {first}\r\n").as_bytes(),
    );
    assert!(matches!(events.as_slice(), [Event::LookupSecret { .. }]));
    // A positive reply does not fit; a refusal ends the exchange with it.
    let ok = Reply::new(ReplyCode::OK, "fine").unwrap();
    assert_eq!(server.answer(Answer::Reply(ok)), Err(ApiError::UnfitAnswer));
    let refusal = Reply::new(ReplyCode::TEMPORARY_TLS_OR_AUTH_FAILURE, "Try later").unwrap();
    server.answer(Answer::Reply(refusal)).unwrap();
    assert_eq!(drain(&mut server).text, "454 4.0.0 Try later\r\n");
    // The session goes on with commands.
    assert_eq!(drain_after(&mut server, b"NOOP\r\n"), "250 2.0.0 Ok\r\n");
}

#[test]
fn rfc4954_custom_mechanism_plugged_in_with() {
    /// X-TOKEN: one message, a token; "Verified" when it is "let-me-in".
    struct Token(bool);
    impl ServerMechanism for Token {
        fn name(&self) -> &str {
            "X-TOKEN"
        }
        fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, sasl::SaslError> {
            match initial {
                None => Ok(ServerStep::Challenge(b"token?".to_vec())),
                Some(token) => self.step(token),
            }
        }
        fn step(&mut self, response: &[u8]) -> Result<ServerStep, sasl::SaslError> {
            if response != b"let-me-in" || !self.0 {
                return Ok(ServerStep::Failed);
            }
            Ok(ServerStep::Done(Credentials::Verified {
                mechanism: "X-TOKEN".into(),
                identity: "robot".into(),
                authzid: None,
            }))
        }
        fn reject(&mut self, _: &[u8]) -> Result<ServerStep, sasl::SaslError> {
            Ok(ServerStep::Failed)
        }
    }
    let mechanisms = ServerMechanisms::new()
        .plain()
        .with("x-token", |context: &sasl::Context<'_>| {
            Some(Box::new(Token(context.tls)) as sasl::BoxedServerMechanism)
        })
        .unwrap();
    let (mut server, ehlo) = greeted(mechanisms);
    assert!(ehlo.contains("250-AUTH PLAIN X-TOKEN\r\n"), "{ehlo}");
    let (text, _) = feed(&mut server, b"AUTH X-TOKEN\r\n");
    assert_eq!(text, alloc::format!("334 {}\r\n", base64_encode(b"token?")));
    let (_, events) = feed(
        &mut server,
        alloc::format!("{}\r\n", base64_encode(b"let-me-in")).as_bytes(),
    );
    let [
        Event::Authenticate {
            mechanism,
            credentials,
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}")
    };
    assert!(mechanism.is("X-TOKEN"));
    assert_eq!(credentials.username(), Some("robot"));
    assert!(credentials.is_verified());

    // A factory that declines: 454 (RFC 4954 6), not "unrecognized".
    let declining = ServerMechanisms::new()
        .with("X-NEVER", |_: &sasl::Context<'_>| None)
        .unwrap();
    let (mut server, _) = greeted(declining);
    let (text, _) = feed(&mut server, b"AUTH X-NEVER\r\n");
    assert_eq!(text, "454 4.7.0 Temporary authentication failure\r\n");
    let (text, _) = feed(&mut server, b"AUTH X-OTHER\r\n");
    assert_eq!(text, "504 5.5.4 Unrecognized authentication type\r\n");
}

#[test]
fn rfc4954_4_scram_cancelled_after_the_lookup() {
    let (mut server, _) = greeted(ServerMechanisms::new().scram_sha_256(
        mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
        || "sn".into(),
    ));
    let first = base64_encode(b"n,,n=user,r=cn");
    let line = alloc::format!("AUTH SCRAM-SHA-256 {first}\r\n");
    let (_, events) = feed(&mut server, line.as_bytes());
    assert!(matches!(events.as_slice(), [Event::LookupSecret { .. }]));
    // The client's `*` waits behind the lookup, and cancels once the challenge is out.
    let (text, _) = feed(&mut server, b"*\r\n");
    assert_eq!(text, "");
    server.provide_secret(None).unwrap();
    let text = drain(&mut server).text;
    assert!(text.starts_with("334 "), "{text}");
    assert!(
        text.ends_with("\r\n501 5.7.0 Authentication cancelled\r\n"),
        "{text}"
    );
    // A new exchange starts afresh.
    let (_, events) = feed(&mut server, line.as_bytes());
    assert!(matches!(events.as_slice(), [Event::LookupSecret { .. }]));
}

#[test]
fn rfc5802_section6_scram_plus_through_the_server_machine() {
    use mail_wire::sasl::{ChannelBinding, ClientMechanism, ScramSha256Client};
    let mechanisms = ServerMechanisms::new()
        .scram_sha_256_plus(
            mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
            || "sn".into(),
        )
        .scram_sha_256(
            mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
            || "sn".into(),
        );
    let (mut server, ehlo) = greeted(mechanisms);
    // No binding data yet: -PLUS is neither advertised nor accepted.
    assert!(ehlo.contains("250-AUTH SCRAM-SHA-256\r\n"), "{ehlo}");
    let (text, _) = feed(&mut server, b"AUTH SCRAM-SHA-256-PLUS\r\n");
    assert_eq!(text, "504 5.5.4 Unrecognized authentication type\r\n");

    let binding = ChannelBinding::tls_exporter([9; 32]);
    server.set_channel_binding(Some(binding.clone()));
    assert_eq!(server.channel_binding(), Some(&binding));
    let ehlo = drain_after(&mut server, b"EHLO c.example\r\n");
    assert!(
        ehlo.contains("250-AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256\r\n"),
        "{ehlo}"
    );
    let mut client = ScramSha256Client::new(None, "user", "pencil", "cn")
        .unwrap()
        .with_channel_binding(binding);
    let first = client.initial_response().unwrap();
    let line = alloc::format!(
        "AUTH SCRAM-SHA-256-PLUS {}\r\n",
        base64_encode(first.expose_secret())
    );
    let (_, events) = feed(&mut server, line.as_bytes());
    assert!(
        matches!(events.as_slice(), [Event::LookupSecret { mechanism, .. }] if mechanism.is("SCRAM-SHA-256-PLUS"))
    );
    let secret = ScramSecret::derive("pencil", b"salt", 4096).unwrap();
    server.provide_secret(Some(secret)).unwrap();
    let mut text = drain(&mut server).text;
    let mut authenticated = None;
    for _ in 0..3 {
        let Some(challenge) = text.strip_prefix("334 ") else {
            break;
        };
        let challenge =
            sasl::decode_challenge(challenge.trim_end().as_bytes(), sasl::MAX_DECODED_LEN).unwrap();
        let response = client.respond(&challenge).unwrap();
        let line = alloc::format!("{}\r\n", base64_encode(response.expose_secret()));
        let (reply, events) = feed(&mut server, line.as_bytes());
        text = reply;
        authenticated = events.into_iter().next();
    }
    assert!(client.is_server_verified());
    let Some(Event::Authenticate { credentials, .. }) = authenticated else {
        panic!("{text}")
    };
    assert!(credentials.is_verified());
}

/// RFC 6531 3.3 / 3.4 / 3.5: a UTF-8 path is grammar where SMTPUTF8 is offered, but the
/// transaction needs the parameter: a MAIL without it is 550 5.6.7 and a RCPT in a transaction
/// without it 553 5.6.7, neither reaching the application, and neither counted as a protocol
/// error; with the parameter both are asked about.
#[test]
fn rfc6531_3_5_utf8_paths_without_the_smtputf8_parameter_are_550_and_553_5_6_7() {
    let config = ServerConfig {
        smtputf8: true,
        enhanced_status_codes: true,
        max_errors: 1,
        ..minimal("mx.example")
    };
    let got = run(
        config,
        &[
            b"EHLO c.example\r\n",
            "MAIL FROM:<jörg@bücher.example>\r\n".as_bytes(),
            b"MAIL FROM:<a@c.example>\r\n",
            "RCPT TO:<jörg@bücher.example>\r\n".as_bytes(),
            b"RSET\r\n",
            "MAIL FROM:<jörg@bücher.example> SMTPUTF8\r\n".as_bytes(),
            "RCPT TO:<jörg@bücher.example>\r\n".as_bytes(),
        ],
    );
    let replies: Vec<&str> = got.transcript.lines().skip(2).collect();
    assert_eq!(
        replies
            .iter()
            .filter(|l| !l.starts_with("250-"))
            .copied()
            .collect::<Vec<_>>(),
        [
            "250 HELP",
            "550 5.6.7 Non-ASCII sender needs the SMTPUTF8 parameter",
            "250 2.1.0 Ok",
            "553 5.6.7 Non-ASCII recipient needs SMTPUTF8",
            "250 2.0.0 Ok",
            "250 2.1.0 Ok",
            "250 2.1.5 Ok",
        ],
        "{}",
        got.transcript
    );
    assert!(!got.closed);
    let senders: Vec<String> = got
        .events
        .iter()
        .filter_map(|e| match e {
            Event::MailFrom { from, parameters } => {
                Some(alloc::format!("{from} {}", parameters.smtputf8))
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        senders,
        ["<a@c.example> false", "<jörg@bücher.example> true"]
    );
    let recipients = got
        .events
        .iter()
        .filter(|e| matches!(e, Event::RcptTo { .. }))
        .count();
    assert_eq!(recipients, 1);
}

/// RFC 4954 9 (the server's policy against guessing; issue 14 makes it count) and RFC 5802
/// section 9: a SCRAM proof that does not verify gets 535, an [`Event::AuthFailed`] naming
/// the user, and counts toward `max_errors`, so guessing ends with 421 (the review's
/// `review2_scram_wrong_password_is_silent_and_uncounted`).
#[test]
fn rfc4954_9_failed_scram_proofs_are_reported_and_counted() {
    use mail_wire::sasl::{ClientMechanism, ScramSha256Client};
    let (mut server, _) = greeted(ServerMechanisms::new().scram_sha_256(
        mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
        || "srvnonce".into(),
    ));
    let max = server.config().max_errors;
    for i in 0..max {
        // A wrong password for a real user, then a guess at an unknown one, in turn.
        let (user, known) = if i % 2 == 0 {
            ("user", true)
        } else {
            ("nobody", false)
        };
        let mut client =
            ScramSha256Client::new(None, user, alloc::format!("guess{i}"), "cnonce").unwrap();
        let first = client.initial_response().unwrap();
        let line = alloc::format!(
            "AUTH SCRAM-SHA-256 {}\r\n",
            base64_encode(first.expose_secret())
        );
        let (_, events) = feed(&mut server, line.as_bytes());
        assert!(matches!(events.as_slice(), [Event::LookupSecret { .. }]));
        let secret =
            known.then(|| ScramSecret::derive("pencil", b"salt-of-user-16b", 4096).unwrap());
        server.provide_secret(secret).unwrap();
        let (text, _) = feed(&mut server, b"");
        let server_first = sasl::decode_challenge(&text.trim_end().as_bytes()[4..], 4096).unwrap();
        let last = client.respond(&server_first).unwrap();
        let (text, events) = feed(
            &mut server,
            alloc::format!("{}\r\n", base64_encode(last.expose_secret())).as_bytes(),
        );
        assert_eq!(
            events,
            [Event::AuthFailed {
                mechanism: Mechanism::new("SCRAM-SHA-256").unwrap(),
                username: Some(user.into()),
            }],
            "attempt {i}"
        );
        if i + 1 < max {
            assert_eq!(
                text, "535 5.7.8 Authentication credentials invalid\r\n",
                "attempt {i}"
            );
            assert!(!server.is_closed());
        } else {
            assert_eq!(
                text,
                "535 5.7.8 Authentication credentials invalid\r\n\
                 421 4.7.0 Too many errors, closing the connection\r\n"
            );
            assert!(server.is_closed());
        }
    }
}

/// RFC 4954 9 / issue 14: credentials the application refuses (535 to PLAIN) count toward
/// `max_errors` too; the application decided, so no [`Event::AuthFailed`] (the review's
/// `review2_refused_plain_is_uncounted`).
#[test]
fn rfc4954_9_refused_plain_logins_are_counted() {
    let (mut server, _) = greeted(ServerMechanisms::new().plain());
    let max = server.config().max_errors;
    for i in 0..max {
        let (_, events) = feed(&mut server, b"AUTH PLAIN AHRpbQB3cm9uZw==\r\n");
        assert!(matches!(events.as_slice(), [Event::Authenticate { .. }]));
        server
            .answer(Answer::Reply(
                Reply::new(ReplyCode::AUTH_CREDENTIALS_INVALID, "No").unwrap(),
            ))
            .unwrap();
        let (text, events) = feed(&mut server, b"");
        assert!(events.is_empty(), "{events:?}");
        assert!(text.starts_with("535 5.0.0 No\r\n"), "{text}");
        assert_eq!(server.is_closed(), i + 1 == max, "attempt {i}");
    }
}

/// RFC 4954 4 and 9: a malformed exchange is reported (no user named yet) and counted.
#[test]
fn rfc4954_4_malformed_exchange_reports_auth_failed() {
    let (mut server, _) = greeted(ServerMechanisms::new().plain());
    // PLAIN with no NUL separators.
    let line = alloc::format!("AUTH PLAIN {}\r\n", base64_encode(b"just-a-name"));
    let (text, events) = feed(&mut server, line.as_bytes());
    assert!(text.starts_with("501 5.5.2 "), "{text}");
    assert_eq!(
        events,
        [Event::AuthFailed {
            mechanism: Mechanism::new("PLAIN").unwrap(),
            username: None,
        }]
    );
}

/// Hands `bytes` over one octet at a time, draining after each; returns the epochs seen after
/// each octet.
fn trickle(server: &mut Server, bytes: &[u8]) -> Vec<u64> {
    let mut epochs = Vec::new();
    for byte in bytes {
        assert_eq!(server.receive(core::slice::from_ref(byte)), 1);
        drain(server);
        epochs.push(server.timer_epoch());
    }
    epochs
}

/// A server past its greeting and EHLO.
fn after_ehlo(config: ServerConfig) -> Server {
    let mut server = Server::new(config);
    drain(&mut server);
    assert_eq!(server.receive(b"EHLO c.example\r\n"), 16);
    drain(&mut server);
    server
}

#[test]
fn the_epoch_stays_while_a_command_line_trickles_in_and_moves_at_its_reply_rfc5321_4_5_3_2() {
    let mut server = after_ehlo(plain());
    let start = server.timer_epoch();
    let epochs = trickle(&mut server, b"NOOP\r\n");
    assert!(
        epochs[..5].iter().all(|&epoch| epoch == start),
        "{epochs:?}: a trickled line restarted the deadline"
    );
    assert_ne!(
        epochs[5], start,
        "the reply starts the next command's deadline"
    );
    assert_eq!(server.timeout(), Some(Duration::from_secs(300)));
}

#[test]
fn an_auth_exchange_is_one_deadline_from_its_command_to_its_final_reply() {
    let config = ServerConfig {
        implicit_tls: true,
        sasl_mechanisms: ServerMechanisms::new().login(),
        ..plain()
    };
    let mut server = after_ehlo(config);
    let start = server.timer_epoch();
    assert_eq!(server.receive(b"AUTH LOGIN\r\n"), 12);
    let text = drain(&mut server).text;
    assert!(text.starts_with("334 "), "{text}");
    assert_eq!(server.receive(b"dXNlcg==\r\n"), 10);
    assert!(drain(&mut server).text.starts_with("334 "));
    assert_eq!(
        server.timer_epoch(),
        start,
        "a challenge does not restart the deadline"
    );
    // The password line: the application's decision, then the final reply.
    assert_eq!(server.receive(b"cGFzcw==\r\n"), 10);
    let Drained { text, .. } = drain(&mut server);
    assert!(text.starts_with("235 "), "{text}");
    assert_ne!(server.timer_epoch(), start);
}

#[test]
fn message_data_restarts_the_deadline_once_per_data_block_not_per_octet_rfc5321_4_5_3_2_5() {
    let config = ServerConfig {
        timeouts: Timeouts {
            data_block_size: 100,
            ..Timeouts::default()
        },
        ..plain()
    };
    let mut server = after_ehlo(config);
    assert_eq!(
        server.receive(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nDATA\r\n"),
        54
    );
    assert!(
        drain(&mut server)
            .text
            .ends_with("354 Start mail input; end with <CRLF>.<CRLF>\r\n")
    );
    assert_eq!(server.timeout(), Some(Duration::from_secs(180)));
    let start = server.timer_epoch();
    // 99 octets trickled: one block, not yet complete.
    let epochs = trickle(&mut server, &[b'x'; 99]);
    assert!(epochs.iter().all(|&epoch| epoch == start), "{epochs:?}");
    let epochs = trickle(&mut server, b"x");
    assert_ne!(epochs[0], start, "a full block starts the next one");
    // In one piece: a 1000-octet read moves the epoch once, as one block of time.
    let before = server.timer_epoch();
    assert_eq!(server.receive(&[b'y'; 1000]), 1000);
    drain(&mut server);
    assert_eq!(server.timer_epoch(), before.wrapping_add(1));
}

#[test]
fn a_bdat_chunk_trickled_is_timed_per_block_and_its_reply_starts_the_next_deadline() {
    let config = ServerConfig {
        timeouts: Timeouts {
            data_block_size: 1000,
            ..Timeouts::default()
        },
        ..plain()
    };
    let mut server = after_ehlo(config);
    assert_eq!(
        server.receive(b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\n"),
        48
    );
    drain(&mut server);
    let start = server.timer_epoch();
    let epochs = trickle(&mut server, b"BDAT 10\r\n0123456789");
    // The command line trickles under one deadline; the decision to take the message (the
    // application's time) restarts it, then the chunk trickles under one deadline until its
    // reply.
    let changes = epochs.windows(2).filter(|pair| pair[0] != pair[1]).count();
    assert!(
        epochs[..8].iter().all(|&epoch| epoch == start),
        "{epochs:?}"
    );
    assert_ne!(epochs[8], start);
    assert!(
        epochs[9..18].iter().all(|&epoch| epoch == epochs[8]),
        "{epochs:?}"
    );
    assert_ne!(
        epochs[18], epochs[17],
        "the chunk's reply starts the next deadline"
    );
    assert_eq!(changes, 2, "{epochs:?}");
}

#[test]
fn the_epoch_moves_when_tls_is_up() {
    let config = ServerConfig {
        starttls: true,
        ..plain()
    };
    let mut server = after_ehlo(config);
    assert_eq!(server.receive(b"STARTTLS\r\n"), 10);
    drain(&mut server);
    let before = server.timer_epoch();
    server.tls_established().unwrap();
    assert_ne!(server.timer_epoch(), before);
}

/// Feeds `bytes` and takes the outputs up to the first decision, which stays unanswered.
fn until_decision(server: &mut Server, bytes: &[u8]) -> Event {
    assert_eq!(server.receive(bytes), bytes.len());
    for _ in 0..100 {
        match server.poll_output() {
            Some(Output::Event(event)) if event.is_decision() => return event,
            Some(_) => {}
            None => break,
        }
    }
    panic!("no decision came up");
}

#[test]
fn a_slow_decision_never_times_the_client_out_but_the_end_of_data_is_bounded_rfc5321_4_5_3_2_6() {
    let timeouts = Timeouts::default();
    let mut server = after_ehlo(plain());
    assert_eq!(server.timeout(), Some(timeouts.command));
    // MAIL FROM, RCPT TO, DATA: each decision (a slow spam check, say) is the application's
    // move, and the client is not timed while it is made.
    for (command, answered) in [
        (&b"MAIL FROM:<a@b.example>\r\n"[..], Some(timeouts.command)),
        (b"RCPT TO:<c@d.example>\r\n", Some(timeouts.command)),
        (b"DATA\r\n", Some(timeouts.data_block)),
    ] {
        let _ = until_decision(&mut server, command);
        assert!(server.is_waiting());
        assert_eq!(server.timeout(), None, "{command:?}");
        server.answer(Answer::Accept).unwrap();
        let _ = drain(&mut server);
        assert_eq!(server.timeout(), answered, "{command:?}");
    }
    // The end of the message: the application's answer is bounded by data_termination, the
    // time the client waits for it (4.5.3.2.6).
    let event = until_decision(&mut server, b"x\r\n.\r\n");
    assert!(matches!(event, Event::MessageEnd { .. }));
    assert_eq!(server.timeout(), Some(timeouts.data_termination));
    server.answer(Answer::Accept).unwrap();
    let _ = drain(&mut server);
    assert_eq!(server.timeout(), Some(timeouts.command));
}

#[test]
fn a_slow_authentication_decision_does_not_time_the_client_out_rfc4954_4() {
    let (mut server, _) = greeted(ServerMechanisms::new().plain());
    // AUTH PLAIN with an initial response: the application decides (a penalty may delay it
    // for seconds).
    let (_, events) = feed(&mut server, b"AUTH PLAIN AHRpbQB3cm9uZw==\r\n");
    assert!(matches!(events.as_slice(), [Event::Authenticate { .. }]));
    assert_eq!(server.timeout(), None);
    server
        .answer(Answer::Reply(
            Reply::new(ReplyCode::AUTH_CREDENTIALS_INVALID, "No").unwrap(),
        ))
        .unwrap();
    assert_eq!(server.timeout(), Some(Timeouts::default().command));
}

#[test]
fn rfc2033_4_3_an_lmtp_bdat_last_refused_unread_gets_exactly_one_reply_before_the_close() {
    let lmtp = ServerConfig {
        lmtp: true,
        max_message_size: Some(10),
        ..plain()
    };
    // No transaction: a chunk beyond the size limit is refused unread and the session closes;
    // the client hears why once (not zero times, though LAST has no recipient to answer for).
    let got = run(lmtp.clone(), &[b"LHLO c.example\r\n", b"BDAT 20 LAST\r\n"]);
    assert_eq!(
        replies(&got),
        [
            "220 mx.example LMTP",
            "250 HELP",
            "503 5.5.1 Send MAIL first"
        ]
    );
    assert!(got.closed);
    // A transaction with no recipient accepted: one reply too.
    let (got, _) = run_with(
        lmtp,
        &[
            b"LHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 11 LAST\r\n",
        ],
        |event| match event {
            Event::RcptTo { .. } => {
                Answer::Reply(Reply::new(ReplyCode::MAILBOX_UNAVAILABLE, "no").unwrap())
            }
            _ => Answer::Accept,
        },
    );
    assert_eq!(
        &replies(&got)[2..],
        [
            "250 2.1.0 Ok",
            "550 5.0.0 no",
            "554 5.5.1 No valid recipients"
        ]
    );
    assert!(got.closed);
}

#[test]
fn rfc3030_2_chunks_after_a_transient_refusal_stay_transient() {
    // The first chunk is refused 452 4.3.1; the chunks the client pipelined after it are read,
    // discarded and refused with the same reply, not a permanent 554.
    let (got, _) = run_with(
        plain(),
        &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 3\r\nabcBDAT 3\r\ndefBDAT 2 LAST\r\ngh",
        ],
        |event| match event {
            Event::DataStart => Answer::Reply(
                Reply::with_status(
                    ReplyCode::INSUFFICIENT_STORAGE,
                    EnhancedStatus::SYSTEM_FULL,
                    "Insufficient system storage",
                )
                .unwrap(),
            ),
            _ => Answer::Accept,
        },
    );
    let answers = replies(&got);
    assert_eq!(
        &answers[answers.len() - 3..],
        ["452 4.3.1 Insufficient system storage"; 3],
        "{answers:?}"
    );
    // A permanent first refusal stays permanent.
    let (got, _) = run_with(
        plain(),
        &[
            b"EHLO c.example\r\n",
            b"MAIL FROM:<a@b.example>\r\nRCPT TO:<c@d.example>\r\nBDAT 3\r\nabcBDAT 2 LAST\r\ngh",
        ],
        |event| match event {
            Event::DataStart => {
                Answer::Reply(Reply::new(ReplyCode::TRANSACTION_FAILED, "No thanks").unwrap())
            }
            _ => Answer::Accept,
        },
    );
    let answers = replies(&got);
    assert_eq!(
        &answers[answers.len() - 2..],
        ["554 5.0.0 No thanks"; 2],
        "{answers:?}"
    );
}

#[test]
fn the_machines_own_replies_borrow_their_fixed_texts_and_keep_only_an_agreeing_status() {
    let ok = reply(ReplyCode::OK, Some((2, 1, 0)), "Ok");
    assert!(matches!(
        ok.lines()[0].clone().into_inner(),
        Cow::Borrowed("Ok")
    ));
    assert_eq!(ok.status(), EnhancedStatus::new(2, 1, 0).ok());
    // RFC 2034 4: a 5.x.x status on a 250 is dropped, the reply kept.
    let odd = reply(ReplyCode::OK, Some((5, 1, 0)), String::from("made"));
    assert_eq!(odd.status(), None);
    assert_eq!(odd.lines()[0].as_str(), "made");
}
