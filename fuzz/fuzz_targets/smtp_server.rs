//! SMTP server machine: arbitrary client bytes in arbitrary chunks, arbitrary application
//! answers, and timeouts, the client's end and shutdowns at any time. Never panics, never
//! livelocks, sends nothing after closing, every transmitted line is a well-formed reply, and
//! the bytes held stay within the configured bounds.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use smtp_proto::server::{
    Answer, Event, Output, ScramSecret, Server, ServerConfig, ServerMechanisms,
};
use smtp_proto::types::{Reply, ReplyCode};

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let config = ServerConfig {
        lmtp: u.arbitrary().unwrap_or(false),
        pipelining: u.arbitrary().unwrap_or(true),
        starttls: u.arbitrary().unwrap_or(false),
        auth_without_tls: true,
        sasl_mechanisms: ServerMechanisms::new()
            .plain()
            .login()
            .external()
            .scram_sha_256(
                mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
                || "fuzz-nonce".into(),
            ),
        max_message_size: Some(4096),
        max_pending: 2048,
        ..ServerConfig::default()
    };
    let bound = config.max_pending + config.max_auth_line.max(config.max_command_line);
    let mut server = Server::new(config);
    if u.arbitrary().unwrap_or(false) {
        server.set_external_identity(Some("CN=fuzz".into()));
    }
    // A cheap stored secret (SCRAM's iteration count is the fuzzer's enemy).
    let secret = ScramSecret::new(b"salt".to_vec(), 1, [1; 32], [2; 32]).unwrap();
    let mut transcript = Vec::new();
    let mut closed = false;
    for _ in 0..200 {
        for _ in 0..10_000 {
            let Some(output) = server.poll_output() else {
                break;
            };
            match output {
                Output::Transmit(bytes) => {
                    assert!(!closed, "output after Close");
                    transcript.extend_from_slice(&bytes);
                }
                Output::Event(Event::LookupSecret { .. }) => {
                    let known = u.arbitrary().unwrap_or(false);
                    server
                        .provide_secret(known.then(|| secret.clone()))
                        .unwrap();
                }
                Output::Event(event) if event.is_decision() => {
                    let answer = match u.arbitrary::<u8>().unwrap_or(0) % 4 {
                        0 | 1 => Answer::Accept,
                        2 => {
                            Answer::Reply(Reply::new(ReplyCode::MAILBOX_UNAVAILABLE, "no").unwrap())
                        }
                        _ => Answer::PerRecipient(Vec::new()),
                    };
                    if server.answer(answer).is_err() {
                        server.answer(Answer::Accept).unwrap();
                    }
                }
                Output::Event(_) => {}
                Output::StartTls => {
                    if u.arbitrary().unwrap_or(true) {
                        server.tls_established().unwrap();
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
        // The connection's events at any time.
        match u.arbitrary::<u8>().unwrap_or(0) % 16 {
            0 => server.handle_timeout(),
            1 => server.receive_eof(),
            2 => server.shut_down(),
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
    for line in transcript.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        assert!(line.ends_with(b"\r"), "{line:?}");
        let code = std::str::from_utf8(&line[..3])
            .unwrap()
            .parse::<u16>()
            .unwrap();
        assert!((200..600).contains(&code), "{line:?}");
        assert!(matches!(line.get(3), Some(b' ' | b'-' | b'\r')), "{line:?}");
    }
});
