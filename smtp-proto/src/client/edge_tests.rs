//! Edge cases found in review: each one pins a rule the client once got wrong, and probes of
//! the paths around them.

use super::*;
use crate::types::{Domain, Mailbox};
use alloc::string::ToString;
use alloc::vec;
use mail_wire::Secret;
use mail_wire::sasl::LoginClient;

fn config() -> ClientConfig {
    ClientConfig {
        hostname: Host::Domain(Domain::new("client.example").unwrap()),
        tls: TlsPolicy::Never,
        ..ClientConfig::default()
    }
}

fn mailbox(text: &str) -> Mailbox<'static> {
    Mailbox::parse(text).unwrap().into_owned()
}

fn envelope(to: &[&str]) -> Envelope {
    let mut e = Envelope::new(mailbox("a@example.org"));
    for to in to {
        e = e.to(mailbox(to));
    }
    e
}

/// A scripted application: feeds server bytes, drains outputs, records everything.
struct Drive {
    client: Client,
    sent: String,
    events: Vec<Event>,
    closed: bool,
    start_tls: bool,
}

impl Drive {
    fn new(client: Client) -> Self {
        let mut d = Self {
            client,
            sent: String::new(),
            events: Vec::new(),
            closed: false,
            start_tls: false,
        };
        d.drain();
        d
    }

    fn drain(&mut self) {
        while let Some(output) = self.client.poll_output() {
            match output {
                Output::Transmit(bytes) => self.sent.push_str(&String::from_utf8_lossy(&bytes)),
                Output::Event(event) => self.events.push(event),
                Output::StartTls => self.start_tls = true,
                Output::Close => self.closed = true,
            }
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        assert_eq!(self.client.receive(bytes), bytes.len());
        self.drain();
    }

    /// The server's 221 to a QUIT: the session closes, ended by QUIT, with no event since
    /// the first `events` (no `Ready`, no error).
    fn quit_answered(&mut self, events: usize) {
        self.feed(b"221 2.0.0 bye\r\n");
        assert!(self.closed);
        assert_eq!(self.client.outcome(), Some(&Outcome::Quit));
        assert!(
            self.events.get(events..).unwrap_or_default().is_empty(),
            "no Ready, no error: {:?}",
            self.events
        );
    }

    fn take_sent(&mut self) -> String {
        core::mem::take(&mut self.sent)
    }

    fn errors(&self) -> Vec<&Error> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Error(error) => Some(error),
                _ => None,
            })
            .collect()
    }

    fn reports(&self) -> Vec<&Report> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Sent(r) => Some(r),
                _ => None,
            })
            .collect()
    }

    fn count(&self, f: impl Fn(&Event) -> bool) -> usize {
        self.events.iter().filter(|e| f(e)).count()
    }
}

/// A session up to Ready with the given EHLO keywords.
fn ready(config: ClientConfig, keywords: &[&str]) -> Drive {
    let mut d = Drive::new(Client::new(config));
    d.feed(b"220 mx.example ESMTP\r\n");
    let mut ehlo = String::from("250");
    if keywords.is_empty() {
        ehlo.push_str(" mx.example\r\n");
    } else {
        ehlo.push_str("-mx.example\r\n");
        for (i, k) in keywords.iter().enumerate() {
            let sep = if i + 1 == keywords.len() { ' ' } else { '-' };
            ehlo.push_str(&alloc::format!("250{sep}{k}\r\n"));
        }
    }
    d.feed(ehlo.as_bytes());
    assert!(d.client.is_ready(), "{:?}", d.events);
    d.take_sent();
    d
}

// ---------------------------------------------------------------------------------------------
// AUTH

/// RFC 4954 4: clients handle challenges as long as their mechanisms produce, whatever the
/// usual line limit (12288 octets suggested): a 334 line longer than 512 octets is answered.
#[test]
fn auth_long_challenge_is_accepted() {
    let config = ClientConfig {
        allow_plaintext_auth: true,
        ..config()
    };
    let login: Box<dyn ClientMechanism + Send> =
        Box::new(LoginClient::new("tim", Secret::new("pw".to_string())));
    let mut d = Drive::new(Client::with_auth(config, vec![login]));
    d.feed(b"220 mx\r\n");
    d.feed(b"250-mx\r\n250 AUTH LOGIN\r\n");
    assert!(d.take_sent().ends_with("AUTH LOGIN\r\n"));
    // A 600-octet (base64) challenge: within what SASL mechanisms produce.
    let challenge = "QUFB".repeat(150);
    d.feed(alloc::format!("334 {challenge}\r\n").as_bytes());
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    assert_eq!(d.take_sent(), "dGlt\r\n");
}

// ---------------------------------------------------------------------------------------------
// 8BITMIME

/// RFC 6152 3: a body not declared 8BITMIME holding 8-bit octets is never sent: the session
/// ends without the end of data, so nothing is delivered.
#[test]
fn eight_bit_body_without_8bitmime_is_refused() {
    let mut d = ready(config(), &["PIPELINING"]);
    d.client.send_message(envelope(&["b@example.com"])).unwrap();
    d.drain();
    d.feed(b"250 ok\r\n250 ok\r\n354 go\r\n");
    assert_eq!(d.count(|e| matches!(e, Event::SendBody)), 1);
    let result = d
        .client
        .send_body("Subject: caf\u{e9}\r\n\r\nd\u{e9}j\u{e0} vu\r\n".as_bytes());
    d.drain();
    assert_eq!(result, Ok(()));
    assert!(
        matches!(
            d.errors().as_slice(),
            [Error::BodyRefused(BodyFault::EightBit { offset: 12 })]
        ),
        "{:?}",
        d.errors()
    );
    assert!(!d.sent.contains("caf"), "{:?}", d.sent);
    assert!(d.closed);
}

// ---------------------------------------------------------------------------------------------
// Probes (BDAT, LMTP, pipelining).

/// RFC 3030 3: text sent with BDAT is canonical (CRLF), so `bare_endings` holds for BDAT as
/// for DATA: under `EncodeBareEndings::Reject` a bare LF ends the session unsent.
#[test]
fn bdat_body_ignores_bare_endings_policy() {
    let cfg = ClientConfig {
        chunking: true,
        bare_endings: mail_wire::dot::EncodeBareEndings::Reject,
        ..config()
    };
    let mut d = ready(cfg, &["PIPELINING", "CHUNKING"]);
    d.client.send_message(envelope(&["b@example.com"])).unwrap();
    d.drain();
    d.feed(b"250 ok\r\n250 ok\r\n");
    assert_eq!(d.count(|e| matches!(e, Event::SendBody)), 1);
    d.take_sent();
    let result = d.client.send_body(b"Subject: x\n\nbare lf\n");
    d.drain();
    assert_eq!(result, Ok(()));
    assert!(
        matches!(
            d.errors().as_slice(),
            [Error::BodyRefused(BodyFault::LineEnding(
                BodyError::BareLf { offset: 10 }
            ))]
        ),
        "{:?}",
        d.errors()
    );
    assert!(!d.sent.contains("BDAT"), "{:?}", d.sent);
}

#[test]
fn probe_bdat_pipelined_failure_after_last() {
    let cfg = ClientConfig {
        chunking: true,
        ..config()
    };
    let mut d = ready(cfg, &["PIPELINING", "CHUNKING"]);
    d.client
        .send_message(envelope(&["b@example.com", "c@example.com"]))
        .unwrap();
    d.drain();
    d.feed(b"250 ok\r\n250 ok\r\n250 ok\r\n");
    d.client.send_body(b"one\r\n").unwrap();
    d.client.send_body(b"two\r\n").unwrap();
    d.client.end_body().unwrap();
    d.drain();
    d.take_sent();
    d.feed(b"552 too big\r\n");
    // RSET must go out; chunks in flight answered and discarded.
    d.feed(b"503 discard\r\n503 discard\r\n");
    assert!(d.sent.contains("RSET\r\n"), "{}", d.sent);
    d.feed(b"250 reset\r\n");
    assert!(d.client.is_ready(), "{:?}", d.events);
    let r = d.reports();
    assert_eq!(r.len(), 1);
    assert!(
        r[0].recipients
            .iter()
            .all(|x| x.result.as_ref().unwrap().code().get() == 552)
    );
}

#[test]
fn probe_lmtp_bdat_pipelined_failure_after_last() {
    let cfg = ClientConfig {
        chunking: true,
        lmtp: true,
        ..config()
    };
    let mut d = ready(cfg, &["PIPELINING", "CHUNKING"]);
    d.client
        .send_message(envelope(&[
            "b@example.com",
            "c@example.com",
            "x@example.com",
        ]))
        .unwrap();
    d.drain();
    d.feed(b"250 ok\r\n250 ok\r\n550 no\r\n250 ok\r\n");
    d.client.send_body(b"one\r\n").unwrap();
    d.client.end_body().unwrap();
    d.drain();
    d.feed(b"552 too big\r\n");
    // BDAT LAST: one reply per accepted RCPT (RFC 2033 4.3), then RSET.
    d.feed(b"552 a\r\n552 b\r\n250 reset\r\n");
    assert!(d.client.is_ready(), "{:?}", d.events);
    let r = d.reports();
    assert_eq!(
        r[0].recipients[1].result.as_ref().unwrap().code().get(),
        550
    );
    assert_eq!(
        r[0].recipients[2].result.as_ref().unwrap().code().get(),
        552
    );
    assert_eq!(
        r[0].recipients[0].result.as_ref().unwrap().code().get(),
        552
    );
}

/// A reply that arrives before the command it would answer has even been handed out is
/// unsolicited: here the EHLO "reply" comes in the same read as the greeting.
#[test]
fn reply_before_command_is_unsolicited() {
    let mut d = Drive::new(Client::new(config()));
    d.feed(b"220 mx\r\n250 mx\r\n");
    assert!(
        !d.errors().is_empty(),
        "EHLO answered before it was sent: {:?}",
        d.events
    );
}

/// The 220 "to STARTTLS" arrives in the same read as the EHLO reply, before STARTTLS was
/// even sent: a response injected ahead of the command, refused.
#[test]
fn starttls_answered_before_sent() {
    let cfg = ClientConfig {
        tls: TlsPolicy::Required,
        ..config()
    };
    let mut d = Drive::new(Client::new(cfg));
    d.feed(b"220 mx\r\n");
    d.feed(b"250-mx\r\n250 STARTTLS\r\n220 go ahead\r\n");
    assert!(
        !d.start_tls && !d.errors().is_empty(),
        "TLS started on a 220 received before STARTTLS was sent"
    );
}

/// EOF and timeout at each stage: exactly one error, one Close, and a report for a message.
#[test]
fn probe_eof_and_timeout_everywhere() {
    type Step = fn(&mut Drive);
    let stages: &[(&str, Step)] = &[
        ("greeting", |_| {}),
        ("ehlo", |d| d.feed(b"220 mx\r\n")),
        ("ready", |d| {
            d.feed(b"220 mx\r\n");
            d.feed(b"250-mx\r\n250 PIPELINING\r\n");
        }),
        ("mail", |d| {
            d.feed(b"220 mx\r\n");
            d.feed(b"250-mx\r\n250 PIPELINING\r\n");
            d.client.send_message(envelope(&["b@example.com"])).unwrap();
            d.drain();
        }),
        ("body", |d| {
            d.feed(b"220 mx\r\n");
            d.feed(b"250-mx\r\n250 PIPELINING\r\n");
            d.client.send_message(envelope(&["b@example.com"])).unwrap();
            d.drain();
            d.feed(b"250 ok\r\n250 ok\r\n354 go\r\n");
            d.client.send_body(b"x\r\n").unwrap();
            d.drain();
        }),
        ("end", |d| {
            d.feed(b"220 mx\r\n");
            d.feed(b"250-mx\r\n250 PIPELINING\r\n");
            d.client.send_message(envelope(&["b@example.com"])).unwrap();
            d.drain();
            d.feed(b"250 ok\r\n250 ok\r\n354 go\r\n");
            d.client.send_body(b"x\r\n").unwrap();
            d.client.end_body().unwrap();
            d.drain();
        }),
        ("rset", |d| {
            d.feed(b"220 mx\r\n");
            d.feed(b"250-mx\r\n250 PIPELINING\r\n");
            d.client.send_message(envelope(&["b@example.com"])).unwrap();
            d.drain();
            d.feed(b"250 ok\r\n550 no\r\n554 no\r\n");
        }),
    ];
    for (name, step) in stages {
        for timeout in [false, true] {
            let mut d = Drive::new(Client::new(config()));
            step(&mut d);
            let reports_before = d.reports().len();
            let busy = d.client.transaction.is_some();
            if timeout {
                d.client.handle_timeout();
            } else {
                d.client.receive_eof();
            }
            d.drain();
            assert_eq!(d.errors().len(), 1, "{name} {timeout}: {:?}", d.events);
            assert!(d.closed, "{name} {timeout}");
            assert!(d.client.is_closed());
            assert_eq!(
                d.reports().len(),
                reports_before + usize::from(busy),
                "{name}"
            );
            assert!(d.client.timeout().is_none());
        }
    }
}

#[test]
fn probe_helo_fallback_lock_step() {
    let mut d = Drive::new(Client::new(config()));
    d.feed(b"220 mx\r\n");
    d.feed(b"502 what\r\n");
    assert!(d.take_sent().ends_with("HELO client.example\r\n"));
    d.feed(b"250 mx\r\n");
    assert!(d.client.is_ready());
    d.client
        .send_message(envelope(&["b@example.com", "c@example.com"]))
        .unwrap();
    d.drain();
    assert_eq!(d.take_sent(), "MAIL FROM:<a@example.org>\r\n");
    d.feed(b"250 ok\r\n");
    assert_eq!(d.take_sent(), "RCPT TO:<b@example.com>\r\n");
    d.feed(b"250 ok\r\n");
    d.feed(b"250 ok\r\n");
    assert_eq!(d.take_sent(), "RCPT TO:<c@example.com>\r\nDATA\r\n");
}

/// Random server replies and random application calls: no panic, and no output after Close.
#[test]
fn probe_random_dialogues_never_panic() {
    let vocab: &[&[u8]] = &[
        b"220 mx\r\n",
        b"250-mx\r\n250-PIPELINING\r\n250-CHUNKING\r\n250-STARTTLS\r\n250-8BITMIME\r\n250-SIZE 100\r\n250 AUTH PLAIN LOGIN\r\n",
        b"250 ok\r\n",
        b"250-a\r\n250 b\r\n",
        b"354 go\r\n",
        b"334 \r\n",
        b"334 VXNlcm5hbWU6\r\n",
        b"334 !!\r\n",
        b"235 ok\r\n",
        b"421 bye\r\n",
        b"450 later\r\n",
        b"502 no\r\n",
        b"550 no\r\n",
        b"221 bye\r\n",
        b"220 go\r\n",
        b"25",
        b"0 x\r\n",
        b"\r\n",
        b"999 x\r\n",
    ];
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    for round in 0..20_000 {
        let lmtp = next() % 2 == 0;
        let cfg = ClientConfig {
            lmtp,
            chunking: next() % 2 == 0,
            pipelining: next() % 2 == 0,
            allow_plaintext_auth: next() % 2 == 0,
            tls: match next() % 3 {
                0 => TlsPolicy::Never,
                1 => TlsPolicy::Opportunistic,
                _ => TlsPolicy::Required,
            },
            ..config()
        };
        let mechs: Vec<Box<dyn ClientMechanism + Send>> = if next() % 2 == 0 {
            vec![Box::new(LoginClient::new(
                "tim",
                Secret::new("pw".to_string()),
            ))]
        } else {
            Vec::new()
        };
        let mut client = Client::with_auth(cfg, mechs);
        let mut closed = false;
        for _ in 0..40 {
            match next() % 10 {
                0..=4 => {
                    let piece = vocab[(next() % vocab.len() as u64) as usize];
                    assert_eq!(client.receive(piece), piece.len());
                }
                5 => {
                    let _ = client.send_message(envelope(&["b@example.com", "c@example.com"]));
                }
                6 => {
                    let _ = client.send_body(b"body\r\n.x\r\n");
                }
                7 => {
                    let _ = client.end_body();
                }
                8 => {
                    let _ = client.tls_established();
                    let _ = client.quit();
                }
                _ => match next() % 3 {
                    0 => client.receive_eof(),
                    1 => client.handle_timeout(),
                    _ => {}
                },
            }
            while let Some(o) = client.poll_output() {
                assert!(!closed, "round {round}: output after Close: {o:?}");
                if matches!(o, Output::Close) {
                    closed = true;
                }
            }
        }
    }
}

/// RFC 6152: the BODY parameter belongs to 8BITMIME; `BODY=7BIT` is left out for a server
/// without it (which would answer 555, RFC 5321 4.1.1.11).
#[test]
fn body_7bit_to_server_without_8bitmime() {
    let mut d = ready(config(), &["PIPELINING"]);
    let mut e = envelope(&["b@example.com"]);
    e.parameters.body = Some(Body::SevenBit);
    let result = d.client.send_message(e);
    d.drain();
    assert_eq!(result, Ok(()));
    assert!(
        d.sent.contains("MAIL FROM:<a@example.org>\r\n"),
        "sent: {}",
        d.sent
    );
}

/// RFC 2033 4.2: an LMTP server owes no reply to the end of a message with no accepted
/// recipient; after a (non-conforming) 354 the client sends the lone dot, then RSET at once.
#[test]
fn lmtp_empty_message_waits_for_no_reply() {
    let cfg = ClientConfig {
        lmtp: true,
        ..config()
    };
    let mut d = ready(cfg, &["PIPELINING"]);
    d.client.send_message(envelope(&["b@example.com"])).unwrap();
    d.drain();
    d.take_sent();
    d.feed(b"250 ok\r\n550 no\r\n354 go\r\n");
    assert_eq!(d.take_sent(), ".\r\nRSET\r\n");
    d.feed(b"250 reset\r\n");
    assert!(d.client.is_ready());
    assert_eq!(d.reports().len(), 1);
}

/// RFC 5321 4.1.1.5: RSET must succeed; a refused one leaves the state unknown and ends the
/// session.
#[test]
fn refused_rset_ends_the_session() {
    let mut d = ready(config(), &["PIPELINING"]);
    d.client.send_message(envelope(&["b@example.com"])).unwrap();
    d.drain();
    d.feed(b"250 ok\r\n550 no\r\n554 no recipients\r\n");
    assert!(d.sent.ends_with("RSET\r\n"));
    d.feed(b"502 no RSET here\r\n");
    assert!(matches!(
        d.errors().as_slice(),
        [Error::UnexpectedReply {
            command: "RSET",
            ..
        }]
    ));
    assert!(d.closed);
}

/// A 421 that arrives ahead of any command (the server shutting down) is a closing notice,
/// not a protocol violation.
#[test]
fn early_421_is_service_closing() {
    let mut d = ready(config(), &["PIPELINING"]);
    d.feed(b"421 4.3.2 shutting down\r\n");
    assert!(matches!(d.errors().as_slice(), [Error::ServiceClosing(_)]));
    assert!(d.closed);
}

/// Postfix's smtp-sink ends its EHLO response with an empty `250 ` line: it carries nothing,
/// so it is tolerated (the capabilities before it count).
#[test]
fn empty_capability_line_tolerated() {
    let d = ready(config(), &["PIPELINING", "8BITMIME", ""]);
    let caps = d.client.capabilities().unwrap();
    assert!(caps.supports(Extension::Pipelining) && caps.supports(Extension::EightBitMime));
}

// ---------------------------------------------------------------------------------------------
// BDAT chunks in flight (RFC 2920 3.1, RFC 3030 2): a driver that writes without reading
// deadlocks with a server whose unread replies fill the socket buffers unless the chunks
// awaiting replies are capped.

/// A pipelined BDAT message to two recipients, accepted up to its body.
fn chunking_body(max_chunks_in_flight: usize) -> Drive {
    let config = ClientConfig {
        chunking: true,
        max_chunks_in_flight,
        ..config()
    };
    let mut d = ready(config, &["PIPELINING", "CHUNKING"]);
    d.client
        .send_message(envelope(&["b@example.com", "c@example.com"]))
        .unwrap();
    d.drain();
    d.feed(b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n250 2.1.5 ok\r\n");
    assert_eq!(d.count(|e| *e == Event::SendBody), 1);
    assert!(d.client.wants_body());
    d.take_sent();
    d
}

#[test]
fn bdat_chunks_in_flight_are_capped_and_the_queue_stays_bounded() {
    for cap in [1, 4, 16] {
        let mut d = chunking_body(cap);
        let total = 200;
        let (mut sent, mut answered, mut most_expected) = (0usize, 0usize, 0usize);
        while sent < total {
            while d.client.wants_body() && sent < total {
                d.client
                    .send_body(alloc::format!("line {sent}\r\n").as_bytes())
                    .unwrap();
                d.drain();
                sent += 1;
                most_expected = most_expected.max(d.client.expected.len());
            }
            if sent == total {
                break;
            }
            // The window is full: nothing more until a reply.
            assert_eq!(sent - answered, cap);
            assert_eq!(
                d.client.send_body(b"more\r\n"),
                Err(ApiError::NotSendingBody)
            );
            assert_eq!(d.client.end_body(), Err(ApiError::NotSendingBody));
            assert_eq!(
                d.client.timeout(),
                Some(d.client.config().timeouts.data_block)
            );
            let before = d.count(|e| *e == Event::SendBody);
            d.feed(alloc::format!("250 2.0.0 chunk {answered} ok\r\n").as_bytes());
            answered += 1;
            // One reply, one more chunk allowed, asked for again.
            assert_eq!(d.count(|e| *e == Event::SendBody), before + 1);
            assert!(d.client.wants_body());
        }
        assert!(most_expected <= cap, "{most_expected} replies expected");
        // The last chunk also waits for room.
        while !d.client.wants_body() {
            d.feed(alloc::format!("250 2.0.0 chunk {answered} ok\r\n").as_bytes());
            answered += 1;
        }
        d.client.end_body().unwrap();
        d.drain();
        assert!(d.client.expected.len() <= cap + 1);
        let mut rest = String::new();
        for chunk in answered..total {
            rest.push_str(&alloc::format!("250 2.0.0 chunk {chunk} ok\r\n"));
        }
        rest.push_str("250 2.0.0 queued as LAST\r\n");
        d.feed(rest.as_bytes());
        assert!(d.errors().is_empty(), "{:?}", d.errors());
        assert!(d.client.is_ready());
        assert!(d.client.expected.is_empty());
        // Every chunk's reply was matched to its chunk: the last one decides.
        let reports = d.reports();
        assert_eq!(reports.len(), 1);
        for recipient in &reports[0].recipients {
            let result = recipient.result.as_ref().unwrap();
            assert!(result.to_string().contains("queued as LAST"), "{result}");
        }
        let bdats = d.sent.matches("BDAT ").count();
        assert_eq!(bdats, total + 1);
        assert!(d.sent.ends_with("BDAT 0 LAST\r\n"), "{}", d.sent);
    }
}

#[test]
fn bdat_window_of_zero_is_one_and_lock_step_ignores_the_window() {
    let mut d = chunking_body(0);
    d.client.send_body(b"one\r\n").unwrap();
    assert!(!d.client.wants_body());
    d.feed(b"250 ok\r\n");
    assert!(d.client.wants_body());

    // Without PIPELINING each chunk waits for its reply, whatever the window.
    let config = ClientConfig {
        chunking: true,
        max_chunks_in_flight: 8,
        ..config()
    };
    let mut d = ready(config, &["CHUNKING"]);
    d.client.send_message(envelope(&["b@example.com"])).unwrap();
    d.drain();
    d.feed(b"250 ok\r\n");
    d.feed(b"250 ok\r\n");
    assert!(d.client.wants_body());
    d.client.send_body(b"one\r\n").unwrap();
    assert!(!d.client.wants_body());
    d.feed(b"250 ok\r\n");
    assert!(d.client.wants_body());
}

#[test]
fn a_refused_chunk_among_those_in_flight_decides_and_the_rest_are_discarded() {
    let mut d = chunking_body(4);
    for i in 0..4 {
        d.client
            .send_body(alloc::format!("chunk {i}\r\n").as_bytes())
            .unwrap();
    }
    d.drain();
    assert!(!d.client.wants_body());
    // The second chunk is refused while the third and fourth are in flight.
    d.feed(b"250 2.0.0 chunk 0 ok\r\n552 5.3.4 too big\r\n");
    let reports = d.reports();
    assert_eq!(reports.len(), 1);
    for recipient in &reports[0].recipients {
        let result = recipient.result.as_ref().unwrap();
        assert_eq!(result.code(), ReplyCode::EXCEEDED_STORAGE);
    }
    assert!(!d.client.wants_body());
    assert!(d.take_sent().ends_with("RSET\r\n"));
    // The replies to the chunks in flight are read and dropped; then RSET's.
    let asked = d.count(|e| *e == Event::SendBody);
    d.feed(b"250 2.0.0 chunk 2 ok\r\n250 2.0.0 chunk 3 ok\r\n250 2.0.0 reset\r\n");
    assert_eq!(d.count(|e| *e == Event::SendBody), asked);
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    assert!(d.client.is_ready());
    assert!(d.client.expected.is_empty());
    // The next message starts afresh with a full window.
    d.client.send_message(envelope(&["b@example.com"])).unwrap();
    d.drain();
    d.feed(b"250 ok\r\n250 ok\r\n");
    for _ in 0..4 {
        d.client.send_body(b"x\r\n").unwrap();
    }
    assert!(!d.client.wants_body());
}

// ---------------------------------------------------------------------------------------------
// Capabilities that cannot be read

/// RFC 1870 4 and 6: a server whose SIZE parameter cannot be read has an unknown limit, not
/// none. The client still declares the size, so the server refuses a message too large before
/// any data is sent, and the unreadable line is visible in `Event::Hello`.
#[test]
fn rfc1870_unreadable_size_is_an_unknown_limit_not_none() {
    let mut d = ready(config(), &["SIZE ten-megabytes", "PIPELINING"]);
    let hello = d.events.iter().find_map(|e| match e {
        Event::Hello(Hello::Extended(ehlo)) => Some(ehlo),
        _ => None,
    });
    let ehlo = hello.expect("a typed EHLO response");
    assert_eq!(ehlo.size(), None);
    let malformed = ehlo.malformed(Extension::Size).expect("SIZE is malformed");
    assert_eq!(malformed.params()[0].as_str(), "ten-megabytes");
    let mut message = envelope(&["b@example.com"]);
    message.parameters.size = Some(50_000_000);
    d.client.send_message(message).unwrap();
    d.drain();
    assert!(
        d.take_sent()
            .starts_with("MAIL FROM:<a@example.org> SIZE=50000000\r\n"),
        "the size is declared to a server whose limit is unknown"
    );
    // Where SIZE is absent, the parameter is left out (RFC 1870 6: only where offered).
    let mut d = ready(config(), &["PIPELINING"]);
    let mut message = envelope(&["b@example.com"]);
    message.parameters.size = Some(50_000_000);
    d.client.send_message(message).unwrap();
    d.drain();
    assert!(d.take_sent().starts_with("MAIL FROM:<a@example.org>\r\n"));
}

/// RFC 4954 3: an AUTH line whose mechanisms cannot be read offers no mechanism the client
/// can use: with credentials, the session ends with `AuthUnavailable`, never with a guess.
#[test]
fn rfc4954_unreadable_auth_offers_nothing() {
    let client = Client::with_auth(
        ClientConfig {
            allow_plaintext_auth: true,
            ..config()
        },
        alloc::vec![
            Box::new(LoginClient::new("u", Secret::new(String::from("p"))))
                as Box<dyn mail_wire::sasl::ClientMechanism + Send>
        ],
    );
    let mut d = Drive::new(client);
    d.feed(b"220 mx.example ESMTP\r\n");
    d.feed(b"250-mx.example\r\n250 AUTH LOGIN PL@IN\r\n");
    assert_eq!(d.errors(), [&Error::AuthUnavailable]);
}

// ---------------------------------------------------------------------------------------------
// ENHANCEDSTATUSCODES (RFC 2034)

fn strict() -> ClientConfig {
    ClientConfig {
        require_enhanced_status_codes: true,
        ..config()
    }
}

/// Sends one message on `d` with the given server replies to MAIL+RCPT+DATA, then the end of
/// data.
fn send_one(d: &mut Drive, envelope_replies: &[u8], end_reply: &[u8]) {
    d.client.send_message(envelope(&["b@example.com"])).unwrap();
    d.drain();
    d.feed(envelope_replies);
    if d.count(|e| matches!(e, Event::SendBody)) == 1 {
        d.client.send_body(b"hi\r\n").unwrap();
        d.client.end_body().unwrap();
        d.drain();
        d.feed(end_reply);
    }
}

/// RFC 2034 3-4: under the option, a server that offered ENHANCEDSTATUSCODES must put a code
/// of the reply's class on every 2yz/4yz/5yz reply but the EHLO answer; 3yz are exempt.
#[test]
fn rfc2034_4_strict_client_accepts_codes_of_the_right_class() {
    let mut d = ready(strict(), &["ENHANCEDSTATUSCODES", "PIPELINING"]);
    send_one(
        &mut d,
        b"250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n",
        b"250 2.0.0 queued\r\n",
    );
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    assert!(d.reports()[0].is_delivered_to_all());
    d.client.quit().unwrap();
    d.drain();
    d.feed(b"221 2.0.0 bye\r\n");
    assert!(d.errors().is_empty() && d.closed);
}

#[test]
fn rfc2034_4_strict_client_refuses_a_missing_or_mismatched_code() {
    for (replies, command) in [
        // No code at all on the RCPT reply.
        (&b"250 2.1.0 ok\r\n250 ok\r\n354 go\r\n"[..], "RCPT"),
        // A code of another class than the reply code (RFC 2034 4: must agree).
        (b"250 5.1.0 ok\r\n", "MAIL"),
        // A malformed code.
        (b"250 2.1 ok\r\n", "MAIL"),
        // Lines of one reply that disagree (RFC 2034 4: the same code on each line).
        (b"250-2.1.0 ok\r\n250 2.1.1 ok\r\n", "MAIL"),
        // A refusal without a code.
        (b"550 no such user\r\n", "MAIL"),
    ] {
        let mut d = ready(strict(), &["ENHANCEDSTATUSCODES", "PIPELINING"]);
        send_one(&mut d, replies, b"");
        let errors = d.errors();
        assert!(
            matches!(
                errors.as_slice(),
                [Error::EnhancedStatusMissing { command: c, .. }] if *c == command
            ),
            "{replies:?}: {errors:?}"
        );
        assert!(errors[0].is_protocol_violation());
        assert!(d.closed);
    }
}

#[test]
fn rfc2034_lenient_default_and_servers_without_the_extension() {
    // Default: the reply is taken for its code; the status is simply absent.
    let mut d = ready(config(), &["ENHANCEDSTATUSCODES", "PIPELINING"]);
    send_one(
        &mut d,
        b"250 5.1.0 ok\r\n250 ok\r\n354 go\r\n",
        b"250 2.0.0 queued\r\n",
    );
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    let report = d.reports()[0];
    assert!(report.is_delivered_to_all());
    // Strict, but the server never offered the extension: nothing is required.
    let mut d = ready(strict(), &["PIPELINING"]);
    send_one(&mut d, b"250 ok\r\n250 ok\r\n354 go\r\n", b"250 queued\r\n");
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    assert!(d.reports()[0].is_delivered_to_all());
}

/// RFC 2034 4 under the strict option: a reply whose lines do not all start with the same
/// code has none, even when the first line has one.
#[test]
fn rfc2034_4_strict_client_wants_the_code_on_every_line() {
    let mut d = ready(strict(), &["ENHANCEDSTATUSCODES", "PIPELINING"]);
    send_one(&mut d, b"250-2.1.0 ok\r\n250 more\r\n", b"");
    let errors = d.errors();
    assert!(
        matches!(
            errors.as_slice(),
            [Error::EnhancedStatusMissing {
                command: "MAIL",
                ..
            }]
        ),
        "{errors:?}"
    );
}

/// RFC 5321 3.8 over RFC 2034 4: a 421 without an enhanced status code, to a strict client,
/// is still the server closing (ServiceClosing), not a missing code; after QUIT as well.
#[test]
fn rfc5321_3_8_a_421_without_a_code_is_service_closing_even_when_strict() {
    let mut d = ready(strict(), &["ENHANCEDSTATUSCODES", "PIPELINING"]);
    send_one(&mut d, b"421 shutting down\r\n", b"");
    let errors = d.errors();
    assert!(
        matches!(errors.as_slice(), [Error::ServiceClosing(reply)] if reply.code().get() == 421),
        "{errors:?}"
    );
    assert!(d.closed);

    let mut d = ready(strict(), &["ENHANCEDSTATUSCODES"]);
    d.client.quit().unwrap();
    d.drain();
    d.feed(b"421 bye\r\n");
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    assert!(d.closed);
}

/// RFC 3207 3 (the `STARTTLS` keyword takes no parameters): a line `STARTTLS x` is
/// malformed, but it still offers STARTTLS. An opportunistic client tries it rather than go on
/// in plaintext; when the server then refuses (454), it goes on in plaintext as without the
/// offer; a client that requires TLS tries it too, and a refusal ends the session.
#[test]
fn rfc3207_3_a_malformed_starttls_line_is_tried_not_taken_for_absent() {
    for policy in [TlsPolicy::Opportunistic, TlsPolicy::Required] {
        let mut d = Drive::new(Client::new(ClientConfig {
            tls: policy,
            ..config()
        }));
        d.feed(b"220 mx.example ESMTP\r\n");
        d.feed(b"250-mx.example\r\n250-STARTTLS x\r\n250 PIPELINING\r\n");
        let hello = d.events.iter().find_map(|e| match e {
            Event::Hello(Hello::Extended(ehlo)) => Some(ehlo),
            _ => None,
        });
        let ehlo = hello.expect("an EHLO response");
        assert!(!ehlo.supports(Extension::StartTls));
        assert!(ehlo.malformed(Extension::StartTls).is_some());
        assert_eq!(
            d.take_sent(),
            "EHLO client.example\r\nSTARTTLS\r\n",
            "{policy:?}"
        );
        assert!(!d.client.is_ready());

        // Accepted: TLS starts.
        let mut accepted = Drive::new(Client::new(ClientConfig {
            tls: policy,
            ..config()
        }));
        accepted.feed(b"220 mx.example ESMTP\r\n");
        accepted.feed(b"250-mx.example\r\n250 STARTTLS x\r\n");
        accepted.feed(b"220 go ahead\r\n");
        assert!(accepted.start_tls, "{policy:?}");

        // Refused: plaintext for the opportunistic client, the end for the other.
        d.feed(b"454 TLS not available\r\n");
        match policy {
            TlsPolicy::Opportunistic => {
                assert!(d.errors().is_empty(), "{:?}", d.errors());
                assert!(d.client.is_ready());
            }
            _ => {
                assert!(matches!(d.errors().as_slice(), [Error::TlsRefused(_)]));
                assert!(!d.client.is_ready());
            }
        }
    }
}

/// RFC 2852 4: a server that advertises `DELIVERBY min-by-time` refuses `BY=` with by-mode R
/// below it, so the client refuses to send that (a typed error, nothing sent); by-mode N is
/// not held to the minimum, and `DELIVERBY` without a parameter states none. An unreadable
/// `DELIVERBY 12345678901` (more than the 9 digits of RFC 2852 2) is not an offer of BY.
#[test]
fn rfc2852_4_by_time_below_the_servers_minimum_is_refused_before_sending() {
    use crate::types::{ByMode, DeliverBy, MinByTime};
    let with_by = |seconds, mode| {
        let mut e = envelope(&["b@example.com"]);
        e.parameters.by = Some(DeliverBy::new(seconds, mode, false).unwrap());
        e
    };
    let mut d = ready(config(), &["DELIVERBY 600", "PIPELINING"]);
    let refused = d.client.send_message(with_by(599, ByMode::Return));
    assert_eq!(
        refused,
        Err(SendError::ByTimeTooShort {
            by_time: 599,
            min: MinByTime::new(600).unwrap(),
        })
    );
    d.drain();
    assert_eq!(d.take_sent(), "");
    for (seconds, mode, wire) in [
        (600, ByMode::Return, "BY=600;R"),
        (-60, ByMode::Notify, "BY=-60;N"),
    ] {
        let mut d = ready(config(), &["DELIVERBY 600", "PIPELINING"]);
        d.client.send_message(with_by(seconds, mode)).unwrap();
        d.drain();
        let sent = d.take_sent();
        assert!(
            sent.starts_with(&alloc::format!("MAIL FROM:<a@example.org> {wire}\r\n")),
            "{sent}"
        );
    }

    let mut d = ready(config(), &["DELIVERBY"]);
    assert!(d.client.send_message(with_by(1, ByMode::Return)).is_ok());

    let mut d = ready(config(), &["DELIVERBY 12345678901"]);
    assert_eq!(
        d.client.send_message(with_by(3600, ByMode::Return)),
        Err(SendError::Unsupported(Extension::DeliverBy))
    );
}

/// RFC 5802 sections 3 and 5: the client must verify the SCRAM server signature; RFC 4422
/// 3.6: a success outcome (235) before the mechanism completed is a failure. The client does
/// not report `Authenticated`, fails with `AuthFailed` (cause `Incomplete`) and QUITs (the
/// review's `review2_scram_client_accepts_235_without_server_signature`).
#[test]
fn rfc5802_section5_rfc4422_3_6_scram_235_without_server_signature_fails() {
    use mail_wire::sasl::ScramSha256Client;
    let run = |last: &[u8]| {
        let config = ClientConfig {
            allow_plaintext_auth: true,
            ..config()
        };
        let scram: Box<dyn ClientMechanism + Send> = Box::new(
            ScramSha256Client::new(None, "user", "pencil", "rOprNGfwEbeRWgbNEkqO").unwrap(),
        );
        let mut d = Drive::new(Client::with_auth(config, vec![scram]));
        d.feed(b"220 mx\r\n");
        d.feed(b"250-mx\r\n250 AUTH SCRAM-SHA-256\r\n");
        assert!(d.take_sent().contains("AUTH SCRAM-SHA-256"));
        // The server-first-message of RFC 7677 section 3, base64.
        d.feed(b"334 cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY=\r\n");
        assert!(d.errors().is_empty(), "{:?}", d.errors());
        let _ = d.take_sent();
        d.feed(last);
        d
    };
    // An impostor that cannot sign just says 235.
    let mut d = run(b"235 2.7.0 ok\r\n");
    assert!(
        !d.events
            .iter()
            .any(|e| matches!(e, Event::Authenticated(_) | Event::Ready)),
        "{:?}",
        d.events
    );
    assert!(
        matches!(
            d.errors().as_slice(),
            [Error::AuthFailed {
                cause: Some(SaslError::Incomplete { .. }),
                reply,
            }] if reply.code() == ReplyCode::AUTH_SUCCESS
        ),
        "{:?}",
        d.errors()
    );
    assert_eq!(d.take_sent(), "QUIT\r\n");
    assert!(!d.client.is_authenticated());
    // The real server signs (RFC 7677 section 3's server-final-message), then says 235.
    let mut d = run(b"334 dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ==\r\n");
    assert_eq!(d.take_sent(), "\r\n");
    d.feed(b"235 2.7.0 ok\r\n");
    assert!(d.errors().is_empty(), "{:?}", d.errors());
    assert!(d.client.is_authenticated());
}

// ---------------------------------------------------------------------------------------------
// RSET between messages

/// RFC 5321 4.1.1.5: RSET on an idle session is answered 250 and leaves it ready for the next
/// message; asked while busy it is an API error and sends nothing.
#[test]
fn reset_between_messages_is_ready_again_after_250() {
    let mut d = ready(config(), &["PIPELINING"]);
    d.client.reset().unwrap();
    d.drain();
    assert_eq!(d.take_sent(), "RSET\r\n");
    assert!(!d.client.is_ready());
    assert_eq!(d.client.reset(), Err(ApiError::NotReady));
    assert!(
        d.client.timeout().is_some(),
        "the reply is awaited under a deadline"
    );
    d.feed(b"250 2.0.0 ok\r\n");
    assert!(d.client.is_ready());
    assert!(matches!(d.events.last(), Some(Event::Ready)));
    d.client.send_message(envelope(&["b@example.com"])).unwrap();
    d.drain();
    assert!(d.take_sent().starts_with("MAIL FROM:<a@example.org>"));
    assert!(d.errors().is_empty(), "{:?}", d.errors());
}

/// A session the server gave up while idle fails at the RSET, before any message: 421, a
/// refusal, the end of the connection, a timeout.
#[test]
fn reset_on_a_session_gone_fails_it() {
    type Check = fn(&Error) -> bool;
    let ends: [(&[u8], Check); 3] = [
        (b"421 4.4.2 idle too long\r\n", |e| {
            matches!(e, Error::ServiceClosing(_))
        }),
        (b"500 5.5.1 what\r\n", |e| {
            matches!(
                e,
                Error::UnexpectedReply {
                    command: "RSET",
                    ..
                }
            )
        }),
        (b"", |e| matches!(e, Error::ConnectionClosed)),
    ];
    for (reply, expected) in ends {
        let mut d = ready(config(), &[]);
        d.client.reset().unwrap();
        d.drain();
        if reply.is_empty() {
            d.client.receive_eof();
            d.drain();
        } else {
            d.feed(reply);
        }
        assert!(!d.client.is_ready());
        assert!(d.reports().is_empty());
        let errors = d.errors();
        assert!(
            matches!(errors.as_slice(), [e] if expected(e)),
            "{errors:?}"
        );
    }
    let mut d = ready(config(), &[]);
    d.client.reset().unwrap();
    d.drain();
    d.client.handle_timeout();
    d.drain();
    assert!(matches!(d.errors().as_slice(), [Error::Timeout]));
    assert!(d.closed);
}

/// RFC 5321 4.1.1.10: QUIT before closing, also when the application stops waiting for an
/// RSET's reply. With PIPELINING (RFC 2920 3.1) QUIT goes right behind the RSET; the RSET's
/// 250 then makes the session neither ready nor failed, and the 221 closes it.
#[test]
fn quit_while_an_rset_is_unanswered_goes_behind_it_with_pipelining() {
    let mut d = ready(config(), &["PIPELINING"]);
    d.client.reset().unwrap();
    d.drain();
    assert_eq!(d.take_sent(), "RSET\r\n");
    let events = d.events.len();
    d.client.quit().unwrap();
    d.drain();
    assert_eq!(d.take_sent(), "QUIT\r\n");
    d.feed(b"250 2.0.0 ok\r\n");
    assert!(!d.client.is_ready());
    assert!(!d.closed);
    d.quit_answered(events);
}

/// Without PIPELINING (offered, or allowed by the configuration) QUIT waits for the RSET's
/// 250; a refused RSET fails the session as before, and no QUIT goes.
#[test]
fn quit_while_an_rset_is_unanswered_waits_for_it_without_pipelining() {
    let no_pipelining = ClientConfig {
        pipelining: false,
        ..config()
    };
    for (config, keywords) in [(config(), &[][..]), (no_pipelining, &["PIPELINING"][..])] {
        let mut d = ready(config, keywords);
        let events = d.events.len();
        d.client.reset().unwrap();
        d.client.quit().unwrap();
        d.drain();
        assert_eq!(d.take_sent(), "RSET\r\n");
        d.feed(b"250 2.0.0 ok\r\n");
        assert_eq!(d.take_sent(), "QUIT\r\n");
        assert!(!d.client.is_ready());
        d.quit_answered(events);
    }
    let mut d = ready(config(), &[]);
    d.client.reset().unwrap();
    d.client.quit().unwrap();
    d.drain();
    d.take_sent();
    d.feed(b"421 4.4.2 idle too long\r\n");
    assert_eq!(d.take_sent(), "");
    assert!(d.closed);
    assert!(matches!(d.errors().as_slice(), [Error::ServiceClosing(_)]));
}

/// QUIT while a message is under way stays refused: the server may be reading its body.
#[test]
fn quit_during_a_transaction_is_still_not_ready() {
    let mut d = ready(config(), &["PIPELINING"]);
    d.client.send_message(envelope(&["b@example.com"])).unwrap();
    d.drain();
    d.take_sent();
    assert_eq!(d.client.quit(), Err(ApiError::NotReady));
    d.drain();
    assert_eq!(d.take_sent(), "");
}

/// A refused RSET (RFC 5321 4.1.1.5: it must succeed) fails the session as before, whether
/// a QUIT went behind it (PIPELINING) or waits for its 250: closed at once, no QUIT after.
#[test]
fn a_refused_rset_with_quit_asked_closes_the_session() {
    for pipelining in [true, false] {
        let keywords: &[&str] = if pipelining { &["PIPELINING"] } else { &[] };
        let mut d = ready(config(), keywords);
        d.client.reset().unwrap();
        d.client.quit().unwrap();
        d.drain();
        let expected = if pipelining {
            "RSET\r\nQUIT\r\n"
        } else {
            "RSET\r\n"
        };
        assert_eq!(d.take_sent(), expected);
        d.feed(b"500 5.5.1 what\r\n");
        assert!(d.closed);
        assert_eq!(d.take_sent(), "");
        assert!(matches!(
            d.client.outcome(),
            Some(Outcome::Failed(Error::UnexpectedReply {
                command: "RSET",
                ..
            }))
        ));
    }
}

/// The end of the connection or a timeout while RSET and QUIT await their replies fail the
/// session at once, and a QUIT waiting for the RSET's reply never goes.
#[test]
fn eof_or_timeout_with_an_rset_and_quit_pending_close_the_session() {
    let mut d = ready(config(), &["PIPELINING"]);
    d.client.reset().unwrap();
    d.client.quit().unwrap();
    d.drain();
    d.client.receive_eof();
    d.drain();
    assert!(d.closed);
    assert!(matches!(
        d.client.outcome(),
        Some(Outcome::Failed(Error::ConnectionClosed))
    ));
    let mut d = ready(config(), &[]);
    d.client.reset().unwrap();
    d.client.quit().unwrap();
    d.drain();
    d.take_sent();
    d.client.handle_timeout();
    d.drain();
    assert!(d.closed);
    assert_eq!(d.take_sent(), "");
    assert!(matches!(
        d.client.outcome(),
        Some(Outcome::Failed(Error::Timeout))
    ));
}

/// The RSET the client sends itself after a message that failed before its body (every
/// recipient refused) takes a QUIT behind it too: pipelined, or after its 250.
#[test]
fn quit_behind_the_rset_after_a_failed_message() {
    for pipelining in [true, false] {
        let keywords: &[&str] = if pipelining { &["PIPELINING"] } else { &[] };
        let mut d = ready(config(), keywords);
        d.client.send_message(envelope(&["b@example.com"])).unwrap();
        d.drain();
        d.take_sent();
        d.feed(b"250 2.1.0 ok\r\n");
        d.feed(b"550 5.1.1 no such user\r\n");
        if pipelining {
            d.feed(b"554 5.5.1 no valid recipients\r\n");
        }
        assert_eq!(d.reports().len(), 1);
        assert!(d.take_sent().ends_with("RSET\r\n"));
        d.client.quit().unwrap();
        d.drain();
        if pipelining {
            assert_eq!(d.take_sent(), "QUIT\r\n");
            d.feed(b"250 2.0.0 ok\r\n");
        } else {
            assert_eq!(d.take_sent(), "");
            d.feed(b"250 2.0.0 ok\r\n");
            assert_eq!(d.take_sent(), "QUIT\r\n");
        }
        d.feed(b"221 2.0.0 bye\r\n");
        assert!(d.closed);
        assert_eq!(d.client.outcome(), Some(&Outcome::Quit), "{pipelining}");
    }
}

/// `shut_down` with an RSET unanswered: QUIT behind it with PIPELINING; without, the session
/// closes at once, as before (it does not wait for the RSET's reply).
#[test]
fn shut_down_with_an_rset_unanswered() {
    let mut d = ready(config(), &["PIPELINING"]);
    d.client.reset().unwrap();
    d.drain();
    d.take_sent();
    d.client.shut_down();
    d.drain();
    assert_eq!(d.take_sent(), "QUIT\r\n");
    assert!(!d.closed);
    let mut d = ready(config(), &[]);
    d.client.reset().unwrap();
    d.drain();
    d.take_sent();
    d.client.shut_down();
    d.drain();
    assert_eq!(d.take_sent(), "");
    assert!(d.closed);
    assert_eq!(d.client.outcome(), Some(&Outcome::ShutDown));
}
