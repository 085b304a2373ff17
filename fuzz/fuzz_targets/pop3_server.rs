//! POP3 server machine: arbitrary client bytes in arbitrary chunks, arbitrary application
//! answers and message contents. Never panics, never livelocks, holds no more than the limits,
//! sends nothing after closing, and commits at most once and only after a login.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use pop3_proto::server::{
    Answer, Event, MessageInfo, Output, ScramSecret, Server, ServerConfig, ServerMechanisms,
};
use pop3_proto::types::{Response, Text, Timestamp, UniqueId};

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let config = ServerConfig {
        plaintext_login: u.arbitrary().unwrap_or(true),
        stls: u.arbitrary().unwrap_or(false),
        utf8: u.arbitrary().unwrap_or(false),
        apop_timestamp: Timestamp::new("<1.2@fuzz>").ok(),
        sasl_mechanisms: ServerMechanisms::new()
            .plain()
            .login()
            .external()
            .cram_md5(|| "<1.2@fuzz>".into())
            .scram_sha_256(
                mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
                || "fuzz-nonce".into(),
            ),
        max_pending: 2048,
        max_errors: 50,
        ..ServerConfig::default()
    };
    let bound = config.max_pending + config.max_auth_line.max(config.max_command_line);
    let mut server = Server::new(config);
    if u.arbitrary().unwrap_or(false) {
        server.set_external_identity(Some("CN=fuzz".into()));
    }
    // A cheap stored secret (SCRAM's iteration count is the fuzzer's enemy).
    let secret = ScramSecret::new(b"salt".to_vec(), 1, [1; 32], [2; 32]).unwrap();
    let mut closed = false;
    let mut commits = 0;
    let mut logged_in = false;
    for _ in 0..200 {
        for _ in 0..10_000 {
            let Some(output) = server.poll_output() else {
                break;
            };
            assert!(!closed, "output after Close");
            match output {
                Output::Transmit(_) | Output::StartTls => {}
                Output::Event(Event::Login(_)) => {
                    if u.arbitrary().unwrap_or(true) {
                        let count = usize::from(u.arbitrary::<u8>().unwrap_or(2) % 8);
                        let messages = (0..count)
                            .map(|i| MessageInfo {
                                size: 10,
                                uid: UniqueId::new(format!("id{i}")).unwrap(),
                            })
                            .collect();
                        server.answer(Answer::Open(messages)).unwrap();
                        logged_in = true;
                    } else {
                        server.answer(Answer::reject("[AUTH] no").unwrap()).unwrap();
                    }
                }
                Output::Event(Event::Retrieve { .. }) => {
                    if u.arbitrary().unwrap_or(true) {
                        server.answer(Answer::Accept).unwrap();
                        let len = usize::from(u.arbitrary::<u8>().unwrap_or(0));
                        let body = u.bytes(len.min(u.len())).unwrap_or_default();
                        for piece in body.chunks(7) {
                            server.send_body(piece).unwrap();
                        }
                        server.end_body().unwrap();
                    } else {
                        let refusal = Response::err(Text::new("busy").unwrap());
                        server.answer(Answer::Reply(refusal)).unwrap();
                    }
                }
                Output::Event(Event::LookupSecret { .. }) => {
                    let known = u.arbitrary().unwrap_or(false);
                    server
                        .provide_secret(known.then(|| secret.clone()))
                        .unwrap();
                }
                Output::Event(Event::Commit { .. }) => {
                    assert!(logged_in, "commit before login");
                    commits += 1;
                    server.answer(Answer::Accept).unwrap();
                }
                Output::Event(event) => {
                    if event.is_decision() {
                        server.answer(Answer::Accept).unwrap();
                    }
                }
                Output::Close => closed = true,
            }
        }
        assert!(
            server.poll_output().is_none() || server.is_closed(),
            "livelock"
        );
        if u.is_empty() {
            break;
        }
        match u.arbitrary::<u8>().unwrap_or(0) % 16 {
            0 => {
                let _ = server.tls_established();
            }
            1 => server.handle_timeout(),
            2 => server.receive_eof(),
            3 => server.shut_down(),
            _ => {}
        }
        let len = usize::from(u.arbitrary::<u8>().unwrap_or(0));
        let chunk = u.bytes(len.min(u.len())).unwrap_or_default();
        let mut rest = chunk;
        while !rest.is_empty() {
            let taken = server.receive(rest);
            rest = &rest[taken..];
            if taken == 0 {
                break;
            }
        }
        assert!(server.buffered() <= bound);
    }
    assert!(commits <= 1);
});
