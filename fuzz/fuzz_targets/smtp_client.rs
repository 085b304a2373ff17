//! SMTP client machine: arbitrary server bytes in arbitrary chunks, and arbitrary application
//! requests at arbitrary times (RSET, QUIT and shutdown among them). Never panics, never livelocks, holds no more than the reply
//! limits, sends nothing after closing, and never sends credentials before TLS.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use mail_wire::sasl::{ClientMechanism, LoginClient, PlainClient};
use smtp_proto::client::{Client, ClientConfig, Envelope, Event, Output, TlsPolicy};
use smtp_proto::types::{Body, Mailbox};

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let tls = match u.arbitrary::<u8>().unwrap_or(0) % 3 {
        0 => TlsPolicy::Required,
        1 => TlsPolicy::Opportunistic,
        _ => TlsPolicy::Never,
    };
    let config = ClientConfig {
        lmtp: u.arbitrary().unwrap_or(false),
        pipelining: u.arbitrary().unwrap_or(true),
        chunking: u.arbitrary().unwrap_or(false),
        tls,
        ..ClientConfig::default()
    };
    let limit = config.replies.max_bytes + config.replies.max_line_length;
    let authenticating = u.arbitrary().unwrap_or(false);
    let mechanisms: Vec<Box<dyn ClientMechanism + Send>> = if authenticating {
        vec![
            Box::new(PlainClient::new(None, "user", "password".to_string()).unwrap()),
            Box::new(LoginClient::new("user", "password".to_string())),
        ]
    } else {
        Vec::new()
    };
    let mut client = Client::with_auth(config, mechanisms);
    let mut plaintext = Vec::new();
    let mut tls_up = false;
    let mut closed = false;
    for _ in 0..200 {
        for _ in 0..10_000 {
            let Some(output) = client.poll_output() else {
                break;
            };
            assert!(!closed, "output after Close");
            match output {
                Output::Transmit(bytes) => {
                    if !tls_up {
                        plaintext.extend_from_slice(&bytes);
                    }
                }
                Output::Event(Event::Ready) => match u.arbitrary::<u8>().unwrap_or(0) % 4 {
                    // A later reply in the same read may already have ended the session.
                    0 => {
                        let _ = client.quit();
                    }
                    choice => {
                        let mut envelope = Envelope::new(Mailbox::parse("a@example.org").unwrap())
                            .to(Mailbox::parse("b@example.com").unwrap());
                        if choice == 2 {
                            envelope = envelope
                                .to(Mailbox::parse("ü@example.com").unwrap())
                                .size(u.arbitrary().unwrap_or(0));
                            envelope.parameters.body = Some(Body::BinaryMime);
                        }
                        let _ = client.send_message(envelope);
                    }
                },
                Output::Event(Event::SendBody) => {
                    let len = usize::from(u.arbitrary::<u8>().unwrap_or(0));
                    let chunk = u.bytes(len.min(u.len())).unwrap_or_default();
                    let _ = client.send_body(chunk);
                    if u.arbitrary().unwrap_or(true) {
                        let _ = client.end_body();
                    }
                }
                Output::Event(_) => {}
                Output::StartTls => {
                    if u.arbitrary().unwrap_or(true) {
                        client.tls_established().unwrap();
                        tls_up = true;
                    }
                }
                Output::Close => closed = true,
            }
        }
        assert!(client.poll_output().is_none(), "livelock");
        if u.is_empty() {
            break;
        }
        // Now and then a request out of turn: refused or harmless.
        match u.arbitrary::<u8>().unwrap_or(0) % 16 {
            0 => {
                let _ = client.send_body(b"x");
            }
            1 => {
                let _ = client.end_body();
            }
            2 => client.handle_timeout(),
            3 => client.receive_eof(),
            // RSET between messages, and QUIT or a shutdown at any time (behind an RSET
            // still unanswered too).
            4 => {
                let _ = client.reset();
            }
            5 => {
                let _ = client.quit();
            }
            6 => client.shut_down(),
            _ => {}
        }
        let len = usize::from(u.arbitrary::<u8>().unwrap_or(0));
        let chunk = u.bytes(len.min(u.len())).unwrap_or_default();
        assert_eq!(client.receive(chunk), chunk.len());
        assert!(client.buffered() <= limit);
    }
    // Credentials never travel in plaintext (with credentials, no mail goes before AUTH, so
    // a line starting with AUTH cannot be a body line).
    let auth_in_plaintext = authenticating
        && plaintext
            .split(|&b| b == b'\n')
            .any(|line| line.starts_with(b"AUTH"));
    assert!(
        !auth_in_plaintext,
        "{}",
        String::from_utf8_lossy(&plaintext)
    );
});
