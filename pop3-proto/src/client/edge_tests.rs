//! Edge cases found in review: each `review_*` test pins a rule the client once got wrong
//! (timeouts and end of stream while a body or listing streams, long SASL challenges, raised
//! line limits, listings of another message, listing lines checked on arrival, non-UTF-8 text,
//! CAPA lines with trailing spaces, no QUIT after a refusing greeting); `control_*` tests probe
//! the paths around them.

use super::*;
use alloc::string::ToString;
use alloc::vec;
use mail_wire::sasl::{PlainClient, XOAuth2Client};

fn n(number: u32) -> MessageNumber {
    MessageNumber::new(number).unwrap()
}

fn user() -> Credentials {
    Credentials::User {
        name: Username::new("mrose").unwrap(),
        password: Secret::new("tanstaaf".to_string()),
    }
}

fn plain() -> ClientConfig {
    ClientConfig {
        tls: TlsPolicy::Never,
        allow_plaintext_auth: true,
        ..ClientConfig::default()
    }
}

#[derive(Default)]
struct Log {
    events: Vec<Event>,
    sent: String,
    closed: bool,
    start_tls: bool,
}

impl Log {
    fn errors(&self) -> Vec<&Error> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Error(error) => Some(error),
                _ => None,
            })
            .collect()
    }
}

fn drain(client: &mut Client, log: &mut Log) {
    while let Some(output) = client.poll_output() {
        match output {
            Output::Transmit(bytes) => log.sent.push_str(&String::from_utf8_lossy(&bytes)),
            Output::Event(event) => log.events.push(event),
            Output::StartTls => log.start_tls = true,
            Output::Close => log.closed = true,
        }
    }
}

fn feed(client: &mut Client, log: &mut Log, pieces: &[&[u8]]) {
    for piece in pieces {
        assert_eq!(client.receive(piece), (piece).len());
        drain(client, log);
    }
}

/// Logged in by USER/PASS, without PIPELINING (lock-step).
fn ready_lockstep() -> (Client, Log) {
    let mut client = Client::new(plain(), user());
    let mut log = Log::default();
    feed(
        &mut client,
        &mut log,
        &[
            b"+OK ready\r\n",
            b"+OK\r\nUSER\r\n.\r\n",
            b"+OK\r\n",
            b"+OK in\r\n",
        ],
    );
    assert!(client.is_ready(), "{:?}", log.events);
    (client, log)
}

/// Logged in by USER/PASS, with PIPELINING.
fn ready_pipelining() -> (Client, Log) {
    let mut client = Client::new(plain(), user());
    let mut log = Log::default();
    feed(
        &mut client,
        &mut log,
        &[
            b"+OK ready\r\n",
            b"+OK\r\nUSER\r\nPIPELINING\r\n.\r\n",
            b"+OK\r\n",
            b"+OK in\r\n",
        ],
    );
    assert!(client.is_ready(), "{:?}", log.events);
    (client, log)
}

// ---------------------------------------------------------------------------------------------
// 1. Timeouts while a multi-line response streams.

#[test]
fn review_timeout_stated_while_body_streams_lockstep() {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::Retr(n(1))).unwrap();
    drain(&mut client, &mut log);
    assert!(client.timeout().is_some());
    // The first line arrives, then the server stalls in the middle of the body.
    feed(&mut client, &mut log, &[b"+OK 100 octets\r\nhalf a mess"]);
    assert!(!client.is_closed());
    assert!(
        client.timeout().is_some(),
        "the rest of the body is owed, but no timeout is stated: a stalled server hangs the caller"
    );
}

#[test]
fn review_timeout_stated_while_listing_streams_lockstep() {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::Uidl(None)).unwrap();
    feed(&mut client, &mut log, &[b"+OK\r\n1 abc\r\n"]);
    assert!(
        client.timeout().is_some(),
        "the end of the listing is owed, but no timeout is stated"
    );
}

// ---------------------------------------------------------------------------------------------
// 2. EOF in the middle of a message with QUIT queued (lock-step) is taken as a clean close.

#[test]
fn review_eof_mid_body_with_quit_queued_reports_error() {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::Retr(n(1))).unwrap();
    client.request(Request::Quit).unwrap();
    drain(&mut client, &mut log);
    feed(&mut client, &mut log, &[b"+OK 100 octets\r\nhalf a mess"]);
    client.receive_eof();
    drain(&mut client, &mut log);
    assert!(log.closed);
    assert!(
        log.errors().contains(&&Error::ConnectionClosed),
        "a truncated message must not end silently: {:?}",
        log.events
    );
}

#[test]
fn review_eof_mid_listing_with_quit_queued_reports_error() {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::List(None)).unwrap();
    client.request(Request::Quit).unwrap();
    feed(&mut client, &mut log, &[b"+OK\r\n1 100\r\n"]);
    client.receive_eof();
    drain(&mut client, &mut log);
    assert!(
        log.errors().contains(&&Error::ConnectionClosed),
        "a truncated listing must not end silently: {:?}",
        log.events
    );
}

// ---------------------------------------------------------------------------------------------
// 3. SASL challenges longer than the 512-octet response line (RFC 5034 4: challenges as long as
//    the mechanism makes them, independent of other line limits).

struct Echo;

impl mail_wire::sasl::ClientMechanism for Echo {
    fn name(&self) -> &str {
        "X-ECHO"
    }
    fn initial_response(&mut self) -> Option<Secret<Vec<u8>>> {
        None
    }
    fn respond(&mut self, _challenge: &[u8]) -> Result<Secret<Vec<u8>>, SaslError> {
        Ok(Secret::new(b"ok".to_vec()))
    }
}

#[test]
fn review_long_sasl_challenge_accepted() {
    let mut client = Client::new(plain(), Credentials::Sasl(vec![Box::new(Echo)]));
    let mut log = Log::default();
    // 600 octets of challenge: 800 base64 characters (e.g. a Kerberos/GSSAPI token).
    let challenge = alloc::format!("+ {}\r\n", "QUFB".repeat(200));
    feed(
        &mut client,
        &mut log,
        &[
            b"+OK ready\r\n",
            b"+OK\r\nSASL X-ECHO\r\n.\r\n",
            challenge.as_bytes(),
            b"+OK in\r\n",
        ],
    );
    assert!(log.errors().is_empty(), "{:?}", log.errors());
    assert!(client.is_ready());
}

// ---------------------------------------------------------------------------------------------
// 4. Raising max_response_line does not help: Text caps the text at 506 octets.

#[test]
fn review_raised_response_line_limit_is_honoured() {
    let config = ClientConfig {
        max_response_line: 2048,
        ..plain()
    };
    let mut client = Client::new(config, user());
    let mut log = Log::default();
    let greeting = alloc::format!("+OK {} <1.2@host>\r\n", "x".repeat(600));
    feed(
        &mut client,
        &mut log,
        &[
            greeting.as_bytes(),
            b"+OK\r\nUSER\r\n.\r\n",
            b"+OK\r\n",
            b"+OK\r\n",
        ],
    );
    assert!(log.errors().is_empty(), "{:?}", log.errors());
    assert!(client.is_ready());
}

// ---------------------------------------------------------------------------------------------
// 5. LIST n / UIDL n: the answer for another message is accepted as the answer.

#[test]
fn review_scan_for_other_message_rejected() {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::List(Some(n(1)))).unwrap();
    feed(&mut client, &mut log, &[b"+OK 2 120\r\n"]);
    assert!(
        !log.events
            .iter()
            .any(|e| matches!(e, Event::Scan(s) if s.message == n(2))),
        "LIST 1 answered with message 2: {:?}",
        log.events
    );
}

#[test]
fn review_uid_for_other_message_rejected() {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::Uidl(Some(n(1)))).unwrap();
    feed(&mut client, &mut log, &[b"+OK 7 abc\r\n"]);
    assert!(
        !log.events
            .iter()
            .any(|e| matches!(e, Event::UniqueId(u) if u.message == n(7))),
        "UIDL 1 answered with message 7: {:?}",
        log.events
    );
}

// ---------------------------------------------------------------------------------------------
// 6. An 8-bit (Latin-1) -ERR text to a request kills the whole session.

#[test]
fn review_latin1_refusal_text_tolerated() {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::Retr(n(1))).unwrap();
    feed(&mut client, &mut log, &[b"-ERR Nachricht gel\xf6scht\r\n"]);
    assert!(
        log.errors().is_empty(),
        "the text of a refusal is not needed; nothing is lost by tolerating it: {:?}",
        log.errors()
    );
}

// ---------------------------------------------------------------------------------------------
// 7. A CAPA line with a trailing space (known tag) ends the session.

#[test]
fn review_capa_trailing_space_tolerated() {
    let mut client = Client::new(plain(), user());
    let mut log = Log::default();
    feed(
        &mut client,
        &mut log,
        &[
            b"+OK ready\r\n",
            b"+OK\r\nUSER\r\nSASL PLAIN LOGIN \r\nTOP \r\n.\r\n",
            b"+OK\r\n",
            b"+OK\r\n",
        ],
    );
    assert!(log.errors().is_empty(), "{:?}", log.errors());
}

// ---------------------------------------------------------------------------------------------
// 8. A refused greeting: the client sends QUIT to a server that refused the session.

#[test]
fn review_refused_greeting_does_not_send_quit() {
    let mut client = Client::new(plain(), user());
    let mut log = Log::default();
    feed(&mut client, &mut log, &[b"-ERR go away\r\n"]);
    assert_eq!(log.sent, "", "QUIT sent after a -ERR greeting");
    assert!(log.closed);
}

// ---------------------------------------------------------------------------------------------
// Controls (expected to pass): framing byte by byte, SASL forms, pipelining.

fn byte_by_byte(client: &mut Client, log: &mut Log, wire: &[u8]) {
    for byte in wire {
        assert_eq!(
            client.receive(core::slice::from_ref(byte)),
            (core::slice::from_ref(byte)).len()
        );
        drain(client, log);
    }
}

#[test]
fn control_framing_byte_by_byte() {
    let (mut client, mut log) = ready_pipelining();
    for request in [
        Request::List(None),
        Request::Uidl(None),
        Request::Retr(n(1)),
        Request::Top(n(1), 0),
        Request::List(Some(n(1))),
        Request::Retr(n(2)),
        Request::Quit,
    ] {
        client.request(request).unwrap();
    }
    drain(&mut client, &mut log);
    byte_by_byte(
        &mut client,
        &mut log,
        b"+OK\r\n.\r\n+OK\r\n1 .a\r\n.\r\n+OK 5 octets\r\n..x\r\n.\r\n-ERR no\r\n+OK 1 5\r\n+OK\r\n.\r\n+OK bye\r\n",
    );
    assert!(log.errors().is_empty(), "{:?}", log.errors());
    assert!(log.events.contains(&Event::Listing(vec![])));
    let body: Vec<u8> = log
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Body(b) => Some(b.to_vec()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(body, b".x\r\n");
    assert!(log.events.iter().any(|e| matches!(
        e,
        Event::Closed {
            committed: true,
            ..
        }
    )));
}

#[test]
fn control_xoauth2_two_step_and_error() {
    let config = ClientConfig {
        initial_response: false,
        ..plain()
    };
    let mech = XOAuth2Client::new("u@example.com", "tok").unwrap();
    let mut client = Client::new(config, Credentials::Sasl(vec![Box::new(mech)]));
    let mut log = Log::default();
    feed(
        &mut client,
        &mut log,
        &[
            b"+OK ready\r\n",
            b"+OK\r\nSASL XOAUTH2\r\n.\r\n",
            b"+ \r\n",
            b"+ eyJzdGF0dXMiOiI0MDEifQ==\r\n",
            b"-ERR [AUTH] bad token\r\n",
        ],
    );
    assert!(
        log.sent.starts_with("CAPA\r\nAUTH XOAUTH2\r\ndXNlcj1"),
        "{}",
        log.sent
    );
    assert!(log.sent.ends_with("\r\n\r\nQUIT\r\n"), "{:?}", log.sent);
    assert!(matches!(
        log.errors().as_slice(),
        [Error::LoginFailed { cause: None, .. }]
    ));
}

#[test]
fn control_plain_initial_response_over_255_goes_after_plus() {
    let long = "p".repeat(300);
    let mech = PlainClient::new(None, "u", Secret::new(long)).unwrap();
    let mut client = Client::new(plain(), Credentials::Sasl(vec![Box::new(mech)]));
    let mut log = Log::default();
    feed(
        &mut client,
        &mut log,
        &[
            b"+OK ready\r\n",
            b"+OK\r\nSASL PLAIN\r\n.\r\n",
            b"+\r\n",
            b"+OK\r\n",
        ],
    );
    assert!(
        log.sent.starts_with("CAPA\r\nAUTH PLAIN\r\n"),
        "{}",
        log.sent
    );
    assert!(client.is_ready());
}

#[test]
fn control_required_tls_without_stls_sends_no_credentials() {
    let config = ClientConfig {
        tls: TlsPolicy::Required,
        allow_plaintext_auth: true,
        ..ClientConfig::default()
    };
    let mut client = Client::new(config, user());
    let mut log = Log::default();
    feed(
        &mut client,
        &mut log,
        &[b"+OK ready\r\n", b"+OK\r\nUSER\r\n.\r\n"],
    );
    assert_eq!(log.errors(), [&Error::TlsUnavailable]);
    assert!(!log.sent.contains("USER"));
}

#[test]
fn control_no_panic_on_arbitrary_bytes() {
    // A tiny deterministic fuzz: every stage with a spread of hostile inputs.
    let inputs: &[&[u8]] = &[
        b"\r\n",
        b".\r\n",
        b"+\r\n",
        b"+ \r\n",
        b"+OK\r\n",
        b"-ERR\r\n",
        b"\r",
        b"\n",
        b"\0",
        b"+OK 18446744073709551616 octets\r\n",
        b"+OK \xff\xfe\r\n",
        b"..\r\n.\r\n",
        b"+OK [\r\n",
        b"+OK [A/]\r\n",
        b"+OK <>\r\n",
        b"+OK <\r\n",
        b"1 \r\n",
        b" 1\r\n",
    ];
    for a in inputs {
        for b in inputs {
            for c in inputs {
                let (mut client, mut log) = ready_pipelining();
                for r in [
                    Request::List(None),
                    Request::Retr(n(1)),
                    Request::Uidl(Some(n(1))),
                ] {
                    let _ = client.request(r);
                }
                feed(&mut client, &mut log, &[a, b, c]);
                client.receive_eof();
                drain(&mut client, &mut log);
                let mut client = Client::new(plain(), user());
                feed(&mut client, &mut log, &[a, b, c]);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 9. Listing lines are only validated at the terminating `.`: a bogus listing is buffered (up to
//    max_listing_entries x max_listing_line, ~512 MB by default) before it is refused.

#[test]
fn review_bogus_listing_line_refused_at_once() {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::List(None)).unwrap();
    feed(&mut client, &mut log, &[b"+OK\r\n-1 5\r\n"]);
    let filler =
        b"this is not a scan listing at all, just filler to fill up memory\r\n".repeat(1000);
    feed(&mut client, &mut log, &[&filler]);
    assert!(
        !log.errors().is_empty(),
        "bad lines accepted and buffered: {} octets held",
        client.buffered()
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 1939 3: every line of a response ends in CRLF. A bare LF is refused the moment it
// arrives, never held until a CRLF that a server ending its lines in LF would never send.

/// The session ended at once with a bare LF at `offset`: no timeout is owed, nothing is sent
/// after it (a server that breaks the framing gets no QUIT).
fn assert_refused_at_once(client: &Client, log: &Log, sent_before: usize, offset: usize) {
    assert_eq!(
        log.errors(),
        [&Error::MalformedResponse(DecodeError {
            offset,
            kind: ErrorKind::BareLf
        })],
        "{:?}",
        log.events
    );
    assert!(log.closed && client.is_closed());
    assert_eq!(client.timeout(), None);
    assert_eq!(log.sent.len(), sent_before, "{}", log.sent);
}

#[test]
fn rfc1939_3_bare_lf_status_line_refused_at_once() {
    // The greeting, whole or byte by byte.
    for bytewise in [false, true] {
        let mut client = Client::new(plain(), user());
        let mut log = Log::default();
        if bytewise {
            byte_by_byte(&mut client, &mut log, b"+OK ready\n");
        } else {
            feed(&mut client, &mut log, &[b"+OK ready\n"]);
        }
        assert_refused_at_once(&client, &log, 0, 9);
    }
    // A response to a request, with the next response already behind it.
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::Stat).unwrap();
    drain(&mut client, &mut log);
    let sent = log.sent.len();
    feed(&mut client, &mut log, &[b"+OK 2 320\n+OK\r\n"]);
    assert_refused_at_once(&client, &log, sent, 9);
}

#[test]
fn rfc1939_3_bare_lf_listing_line_refused_at_once() {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::List(None)).unwrap();
    drain(&mut client, &mut log);
    let sent = log.sent.len();
    feed(
        &mut client,
        &mut log,
        &[b"+OK 2 messages\r\n1 120\r\n2 200\n"],
    );
    assert_refused_at_once(&client, &log, sent, 5);
    // The terminating `.` line too.
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::Uidl(None)).unwrap();
    drain(&mut client, &mut log);
    let sent = log.sent.len();
    feed(&mut client, &mut log, &[b"+OK\r\n1 a\r\n.\n"]);
    assert_refused_at_once(&client, &log, sent, 1);
}

#[test]
fn rfc1939_3_bare_lf_in_a_message_body_refused_at_once() {
    // A body whose lines end in LF, cut off right after the first one: the client does not
    // wait for more (the `.\n` that such a server would end it with never ends a body).
    for wire in [&b"+OK 9 octets\r\nSubject\n"[..], b"+OK\r\nSubject\nx\n.\n"] {
        let (mut client, mut log) = ready_lockstep();
        client.request(Request::Retr(n(1))).unwrap();
        drain(&mut client, &mut log);
        let sent = log.sent.len();
        feed(&mut client, &mut log, &[wire]);
        assert_refused_at_once(&client, &log, sent, 7);
        // At most what came before the bare LF was delivered, and no end of message.
        let body: Vec<u8> = log
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Body(chunk) => Some(chunk.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        assert!(b"Subject".starts_with(&body));
        assert!(!log.events.iter().any(|e| matches!(e, Event::MessageEnd(_))));
    }
    // A bare LF before the terminating dot, arriving byte by byte.
    let (mut client, mut log) = ready_pipelining();
    client.request(Request::Top(n(1), 0)).unwrap();
    drain(&mut client, &mut log);
    let sent = log.sent.len();
    byte_by_byte(&mut client, &mut log, b"+OK\r\nA: b\r\n\n.\r\n");
    assert_refused_at_once(&client, &log, sent, 6);
}

/// CRLF split across chunks is not a bare LF.
#[test]
fn rfc1939_3_crlf_split_across_chunks_is_no_bare_lf() {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::Stat).unwrap();
    drain(&mut client, &mut log);
    feed(&mut client, &mut log, &[b"+OK 2 320\r", b"\n"]);
    assert!(log.errors().is_empty(), "{:?}", log.events);
    assert!(log.events.contains(&Event::Stat {
        count: 2,
        size: 320
    }));
}

// ---------------------------------------------------------------------------------------------
// LANG (RFC 6856 3) and CAPA parameters (RFC 2449 5).

fn tag(text: &'static str) -> LanguageTag<'static> {
    LanguageTag::new(text).unwrap()
}

/// The language the client reports for `reply` to `LANG range`, logged in, lock-step.
fn selected(range: &'static str, reply: &[u8]) -> (Option<String>, Client, Log) {
    let (mut client, mut log) = ready_lockstep();
    client.request(Request::Lang(tag(range))).unwrap();
    drain(&mut client, &mut log);
    feed(&mut client, &mut log, &[reply]);
    let selected = log.events.iter().find_map(|e| match e {
        Event::Language { tag, .. } => Some(tag.as_ref().map(|t| t.as_str().to_string())),
        _ => None,
    });
    (selected.expect("a Language event"), client, log)
}

/// RFC 6856 3.2: the `+OK` to `LANG range` is `+OK`, the exact tag selected, text. A reply
/// that leaves the tag out (`+OK Idioma cambiado`) names no language: its first word is not
/// taken for one, and the session goes on.
#[test]
fn rfc6856_3_2_lang_reply_without_its_tag_names_no_language() {
    let (selected_tag, client, log) = selected("es", b"+OK Idioma cambiado\r\n");
    assert_eq!(selected_tag, None);
    assert!(
        log.errors().is_empty() && client.is_ready(),
        "{:?}",
        log.events
    );
    // The RFC's own example (3.3).
    let (selected_tag, ..) = selected("es", b"+OK es Idioma cambiado\r\n");
    assert_eq!(selected_tag.as_deref(), Some("es"));
}

/// RFC 6856 3.2: a bare `+OK` to `LANG range` is sloppy, not fatal: no language named, and
/// the next request is answered as usual.
#[test]
fn rfc6856_3_2_bare_ok_to_lang_keeps_the_session() {
    let (selected_tag, mut client, mut log) = selected("es", b"+OK\r\n");
    assert_eq!(selected_tag, None);
    assert!(
        !client.is_closed() && log.errors().is_empty(),
        "{:?}",
        log.events
    );
    client.request(Request::Noop).unwrap();
    drain(&mut client, &mut log);
    feed(&mut client, &mut log, &[b"+OK\r\n"]);
    assert!(log.sent.ends_with("LANG es\r\nNOOP\r\n"), "{}", log.sent);
    assert!(
        log.events
            .iter()
            .any(|e| matches!(e, Event::Done(Request::Noop, _)))
    );
}

/// RFC 6856 3.2 with RFC 4647 3.3.1 (basic filtering): the first word is the selected tag only
/// if the range asked for picks it; `*` picks any tag, but a word is not one (RFC 5646 2.1: a
/// primary language subtag has 2 or 3 letters, or is `i-` / `x-` with more).
#[test]
fn rfc4647_3_3_1_selected_tag_must_match_the_range() {
    for (range, reply, expected) in [
        ("de", "+OK de-CH Deutsch (Schweiz)\r\n", Some("de-CH")),
        ("DE", "+OK de Deutsch\r\n", Some("de")),
        ("de-CH", "+OK de-ch\r\n", Some("de-ch")),
        ("en", "+OK  en English\r\n", Some("en")),
        ("de", "+OK en English\r\n", None),
        ("de", "+OK dem\r\n", None),
        ("de-CH", "+OK de Deutsch\r\n", None),
        ("*", "+OK es Idioma cambiado\r\n", Some("es")),
        ("*", "+OK i-default\r\n", Some("i-default")),
        ("*", "+OK Idioma cambiado\r\n", None),
        ("*", "+OK Sprache ge\u{e4}ndert\r\n", None),
        ("*", "+OK x\r\n", None),
        ("*", "+OK * changed\r\n", None),
    ] {
        let (selected_tag, client, log) = selected(range, reply.as_bytes());
        assert_eq!(selected_tag.as_deref(), expected, "LANG {range}: {reply:?}");
        assert!(
            client.is_ready() && log.errors().is_empty(),
            "{:?}",
            log.events
        );
    }
}

/// RFC 6856 3.1: LANG is valid in the AUTHORIZATION state. Asked for before the login, it goes
/// out after CAPA (and after STLS), one at a time, before USER: the login's responses come in
/// the language chosen. Other requests still wait for `Ready`.
#[test]
fn rfc6856_3_1_lang_before_login() {
    let mut client = Client::new(plain(), user());
    let mut log = Log::default();
    client.request(Request::Languages).unwrap();
    client.request(Request::Lang(tag("de"))).unwrap();
    assert_eq!(client.request(Request::Stat), Err(ApiError::NotReady));
    feed(
        &mut client,
        &mut log,
        &[b"+OK ready\r\n", b"+OK\r\nUSER\r\nLANG\r\n.\r\n"],
    );
    assert_eq!(log.sent, "CAPA\r\nLANG\r\n");
    feed(&mut client, &mut log, &[b"+OK\r\nde Deutsch\r\n.\r\n"]);
    assert_eq!(log.sent, "CAPA\r\nLANG\r\nLANG de\r\n");
    feed(
        &mut client,
        &mut log,
        &[b"+OK de Sprache ge\xc3\xa4ndert\r\n"],
    );
    assert!(
        log.sent.ends_with("LANG de\r\nUSER mrose\r\n"),
        "{}",
        log.sent
    );
    feed(&mut client, &mut log, &[b"+OK\r\n", b"+OK angemeldet\r\n"]);
    assert!(client.is_ready(), "{:?}", log.events);
    assert!(log.errors().is_empty(), "{:?}", log.events);
    let languages = log
        .events
        .iter()
        .position(|e| matches!(e, Event::Languages(listing) if listing.len() == 1));
    let language = log
        .events
        .iter()
        .position(|e| matches!(e, Event::Language { tag: Some(t), .. } if t.as_str() == "de"));
    let logged_in = log
        .events
        .iter()
        .position(|e| matches!(e, Event::LoggedIn(_)));
    assert!(
        languages < language && language < logged_in,
        "{:?}",
        log.events
    );

    // Refused, the language stays and the login goes on.
    let mut client = Client::new(plain(), user());
    let mut log = Log::default();
    client.request(Request::Lang(tag("uga"))).unwrap();
    feed(
        &mut client,
        &mut log,
        &[
            b"+OK ready\r\n",
            b"+OK\r\nUSER\r\nLANG\r\n.\r\n",
            b"-ERR invalid language\r\n",
            b"+OK\r\n",
            b"+OK in\r\n",
        ],
    );
    assert!(client.is_ready(), "{:?}", log.events);
    assert_eq!(
        log.sent,
        "CAPA\r\nLANG uga\r\nUSER mrose\r\nPASS tanstaaf\r\n"
    );
    assert!(
        log.events.iter().any(
            |e| matches!(e, Event::Refused(Request::Lang(range), _) if range.as_str() == "uga")
        )
    );

    // With STLS: only once TLS is up (the session starts over then, RFC 2595 4).
    let config = ClientConfig {
        tls: TlsPolicy::Required,
        ..ClientConfig::default()
    };
    let mut client = Client::new(config, user());
    let mut log = Log::default();
    client.request(Request::Lang(tag("de"))).unwrap();
    feed(
        &mut client,
        &mut log,
        &[
            b"+OK ready\r\n",
            b"+OK\r\nSTLS\r\nLANG\r\n.\r\n",
            b"+OK go\r\n",
        ],
    );
    assert!(log.start_tls);
    assert_eq!(log.sent, "CAPA\r\nSTLS\r\n");
    client.tls_established().unwrap();
    drain(&mut client, &mut log);
    feed(&mut client, &mut log, &[b"+OK\r\nUSER\r\nLANG\r\n.\r\n"]);
    assert_eq!(log.sent, "CAPA\r\nSTLS\r\nCAPA\r\nLANG de\r\n");
    feed(
        &mut client,
        &mut log,
        &[b"+OK de ok\r\n", b"+OK\r\n", b"+OK in\r\n"],
    );
    assert!(client.is_ready(), "{:?}", log.events);
    assert!(
        log.sent
            .ends_with("LANG de\r\nUSER mrose\r\nPASS tanstaaf\r\n")
    );

    // Asked for once the login is under way: sent as soon as it is done.
    let mut client = Client::new(plain(), user());
    let mut log = Log::default();
    feed(
        &mut client,
        &mut log,
        &[b"+OK ready\r\n", b"+OK\r\nUSER\r\nLANG\r\n.\r\n"],
    );
    client.request(Request::Lang(tag("de"))).unwrap();
    drain(&mut client, &mut log);
    feed(&mut client, &mut log, &[b"+OK\r\n", b"+OK in\r\n"]);
    assert!(client.is_ready());
    assert_eq!(
        log.sent,
        "CAPA\r\nUSER mrose\r\nPASS tanstaaf\r\nLANG de\r\n"
    );
}

/// RFC 2449 3 and 5: a capability may carry parameters; a known one with more than it defines
/// (`LANG en de`) is kept, the extras ignored, and the session goes on.
#[test]
fn rfc2449_5_capa_lang_with_extra_arguments_is_tolerated() {
    let mut client = Client::new(plain(), user());
    let mut log = Log::default();
    feed(
        &mut client,
        &mut log,
        &[
            b"+OK ready\r\n",
            b"+OK\r\nUSER\r\nLANG en de\r\nTOP x\r\n.\r\n",
            b"+OK\r\n",
            b"+OK in\r\n",
        ],
    );
    assert!(log.errors().is_empty(), "{:?}", log.events);
    assert!(client.is_ready());
    let capabilities = client.capabilities().unwrap();
    assert!(capabilities.contains(&Capability::Lang));
    assert!(capabilities.contains(&Capability::Top));
}

/// RFC 5802 sections 3 and 5: the client must verify the SCRAM server signature; RFC 4422
/// 3.6 (RFC 5034 4 carries the server-final-message as a challenge): a `+OK` before the
/// mechanism completed is a failure. The client fails the login (cause `Incomplete`) and
/// QUITs.
#[test]
fn rfc5802_section5_rfc4422_3_6_scram_ok_without_server_signature_fails() {
    use mail_wire::sasl::ScramSha256Client;
    let run = |last: &[u8]| {
        let mech = ScramSha256Client::new(None, "user", "pencil", "rOprNGfwEbeRWgbNEkqO").unwrap();
        let mut client = Client::new(plain(), Credentials::Sasl(vec![Box::new(mech)]));
        let mut log = Log::default();
        feed(
            &mut client,
            &mut log,
            &[
                b"+OK ready\r\n",
                b"+OK\r\nSASL SCRAM-SHA-256\r\n.\r\n",
                // The server-first-message of RFC 7677 section 3, base64.
                b"+ cj1yT3ByTkdmd0ViZVJXZ2JORWtxTyVodllEcFdVYTJSYVRDQWZ1eEZJbGopaE5sRiRrMCxzPVcyMlphSjBTTlk3c29Fc1VFamI2Z1E9PSxpPTQwOTY=\r\n",
            ],
        );
        assert!(log.errors().is_empty(), "{:?}", log.errors());
        log.sent.clear();
        feed(&mut client, &mut log, &[last]);
        (client, log)
    };
    // An impostor that cannot sign just says +OK.
    let (client, log) = run(b"+OK maildrop locked\r\n");
    assert!(
        matches!(
            log.errors().as_slice(),
            [Error::LoginFailed {
                cause: Some(SaslError::Incomplete { .. }),
                ..
            }]
        ),
        "{:?}",
        log.errors()
    );
    assert!(
        !log.events
            .iter()
            .any(|e| matches!(e, Event::LoggedIn(_) | Event::Ready))
    );
    assert_eq!(log.sent, "QUIT\r\n");
    assert!(!client.is_ready());
    // The real server signs (RFC 7677 section 3's server-final-message), then says +OK.
    let (mut client, mut log) =
        run(b"+ dj02cnJpVFJCaTIzV3BSUi93dHVwK21NaFVaVW4vZEI1bkxUSlJzamw5NUc0PQ==\r\n");
    assert_eq!(log.sent, "\r\n");
    feed(&mut client, &mut log, &[b"+OK maildrop locked\r\n"]);
    assert!(log.errors().is_empty(), "{:?}", log.errors());
    assert!(client.is_ready());
}
