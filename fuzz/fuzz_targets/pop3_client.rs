//! POP3 client machine: arbitrary server bytes in arbitrary chunks and arbitrary requests at
//! arbitrary times. Never panics, never livelocks, holds no more than the limits, sends nothing
//! after closing, and never sends credentials before TLS.
#![no_main]

use arbitrary::Unstructured;
use libfuzzer_sys::fuzz_target;
use mail_wire::sasl::PlainClient;
use pop3_proto::client::{Client, ClientConfig, Credentials, Output, Request, TlsPolicy};
use pop3_proto::types::{LanguageTag, MessageNumber, Username};

fuzz_target!(|input: &[u8]| {
    let mut u = Unstructured::new(input);
    let tls = match u.arbitrary::<u8>().unwrap_or(0) % 3 {
        0 => TlsPolicy::Required,
        1 => TlsPolicy::Opportunistic,
        _ => TlsPolicy::Never,
    };
    let config = ClientConfig {
        tls,
        pipelining: u.arbitrary().unwrap_or(true),
        initial_response: u.arbitrary().unwrap_or(true),
        max_listing_entries: 1000,
        max_message_size: 1 << 20,
        max_body_line: 4096,
        ..ClientConfig::default()
    };
    let limit = config.max_response_line.max(config.max_listing_line) * 1001;
    let credentials = match u.arbitrary::<u8>().unwrap_or(0) % 3 {
        0 => Credentials::User {
            name: Username::new("user").unwrap(),
            password: "password".into(),
        },
        1 => Credentials::Apop {
            name: Username::new("user").unwrap(),
            secret: "password".into(),
        },
        _ => Credentials::Sasl(vec![Box::new(
            PlainClient::new(None, "user", "password".to_string()).unwrap(),
        )]),
    };
    let mut client = Client::new(config, credentials);
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
                Output::StartTls => {
                    if u.arbitrary().unwrap_or(true) {
                        client.tls_established().unwrap();
                        tls_up = true;
                    }
                }
                Output::Close => closed = true,
                Output::Event(_) => {}
            }
        }
        assert!(client.poll_output().is_none(), "livelock");
        if u.is_empty() {
            break;
        }
        // Requests at any time: refused unless ready.
        let number = MessageNumber::new(u32::from(u.arbitrary::<u8>().unwrap_or(1)) + 1).unwrap();
        let request = match u.arbitrary::<u8>().unwrap_or(0) % 14 {
            0 => Some(Request::Stat),
            1 => Some(Request::List(None)),
            2 => Some(Request::Uidl(Some(number))),
            3 => Some(Request::Retr(number)),
            4 => Some(Request::Top(number, 3)),
            5 => Some(Request::Dele(number)),
            6 => Some(Request::Quit),
            7 => {
                client.handle_timeout();
                None
            }
            8 => {
                client.receive_eof();
                None
            }
            9 => Some(Request::Languages),
            10 => Some(Request::Lang(LanguageTag::any())),
            11 => {
                client.shut_down();
                None
            }
            _ => None,
        };
        if let Some(request) = request {
            let _ = client.request(request);
        }
        let len = usize::from(u.arbitrary::<u8>().unwrap_or(0));
        let chunk = u.bytes(len.min(u.len())).unwrap_or_default();
        assert_eq!(client.receive(chunk), chunk.len());
        assert!(client.buffered() <= limit);
    }
    // Credentials never travel in plaintext: this configuration does not allow it.
    let secret_in_plaintext = plaintext.split(|&b| b == b'\n').any(|line| {
        line.starts_with(b"PASS") || line.starts_with(b"APOP") || line.starts_with(b"AUTH")
    });
    assert!(!secret_in_plaintext);
});
