//! Edge cases found in review: each pins a rule the server once got wrong, and probes of the
//! paths around them (TOP and RETR against a reference, API calls in any order).

use super::*;
use alloc::vec;
use proptest::prelude::*;

struct App {
    messages: Vec<Vec<u8>>,
    piece: usize,
    login: Option<Answer>,
}

impl App {
    fn new(messages: &[&[u8]]) -> Self {
        Self {
            messages: messages.iter().map(|m| m.to_vec()).collect(),
            piece: 7,
            login: None,
        }
    }
    fn listing(&self) -> Vec<MessageInfo> {
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| MessageInfo {
                size: m.len() as u64,
                uid: UniqueId::new(alloc::format!("uid-{}", i + 1)).unwrap(),
            })
            .collect()
    }
}

#[derive(Default, Debug)]
struct Run {
    out: Vec<u8>,
    events: Vec<Event>,
}

impl Run {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.out).into_owned()
    }
}

fn drain(server: &mut Server, run: &mut Run, app: &App) {
    while let Some(output) = server.poll_output() {
        match output {
            Output::Transmit(b) => run.out.extend_from_slice(&b),
            Output::Event(event) => {
                match &event {
                    Event::Login(_) => {
                        let answer = app
                            .login
                            .clone()
                            .unwrap_or_else(|| Answer::Open(app.listing()));
                        server.answer(answer).unwrap();
                    }
                    Event::Retrieve { message, .. } => {
                        server.answer(Answer::Accept).unwrap();
                        for p in app.messages[message.index()].chunks(app.piece.max(1)) {
                            server.send_body(p).unwrap();
                        }
                        server.end_body().unwrap();
                    }
                    e if e.is_decision() => server.answer(Answer::Accept).unwrap(),
                    _ => {}
                }
                run.events.push(event);
            }
            Output::StartTls | Output::Close => {}
        }
    }
}

fn run(config: ServerConfig, app: &App, chunks: &[&[u8]]) -> (Run, Server) {
    let mut server = Server::new(config);
    let mut r = Run::default();
    drain(&mut server, &mut r, app);
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        while !rest.is_empty() {
            let n = server.receive(rest);
            rest = &rest[n..];
            drain(&mut server, &mut r, app);
            if n == 0 && server.is_closed() {
                break;
            }
        }
    }
    (r, server)
}

fn plain() -> ServerConfig {
    ServerConfig {
        plaintext_login: true,
        ..ServerConfig::default()
    }
}

/// RFC 2449 5: "Capabilities available in the AUTHORIZATION state MUST be announced in both
/// states" (USER and SASL are "both / no").
#[test]
fn capa_in_transaction_keeps_user_and_sasl() {
    let app = App::new(&[b"a\r\n"]);
    let (r, _) = run(plain(), &app, &[b"CAPA\r\nUSER a\r\nPASS b\r\nCAPA\r\n"]);
    let text = r.text();
    let parts: Vec<&str> = text.split("+OK capability list follows\r\n").collect();
    assert_eq!(parts.len(), 3, "{text}");
    let before = parts[1].split(".\r\n").next().unwrap();
    let after = parts[2].split(".\r\n").next().unwrap();
    assert!(before.contains("USER\r\n") && before.contains("SASL PLAIN\r\n"));
    assert!(
        after.contains("USER\r\n"),
        "USER missing after login:\n{after}"
    );
    assert!(
        after.contains("SASL PLAIN\r\n"),
        "SASL missing after login:\n{after}"
    );
}

/// RFC 6856 2.1: UTF-8 mode, once enabled in AUTHORIZATION, governs the whole session (messages
/// may then be sent as UTF-8); the application learns it from `Server::is_utf8`.
#[test]
fn utf8_mode_survives_login() {
    let app = App::new(&[b"a\r\n"]);
    let config = ServerConfig {
        utf8: true,
        ..plain()
    };
    let (r, server) = run(config, &app, &[b"UTF8\r\nUSER a\r\nPASS b\r\n"]);
    assert!(r.text().contains("+OK UTF8 enabled\r\n"));
    assert!(server.is_logged_in());
    assert!(server.utf8, "UTF-8 mode was dropped at login");
}

/// The application's refusal of an OAuth login (say `[SYS/TEMP]` or `[IN-USE]`) ends the
/// exchange after the mechanism's error challenge (RFC 2449 8 / RFC 3206: the code tells the
/// client whether to retry with the same credentials).
#[test]
fn oauth_refusal_keeps_the_applications_response() {
    let mut app = App::new(&[b"a\r\n"]);
    app.login = Some(Answer::reject("[SYS/TEMP] try again later").unwrap());
    let config = ServerConfig {
        sasl_mechanisms: ServerMechanisms::new().xoauth2(),
        ..plain()
    };
    // user=a^Aauth=Bearer tok^A^A
    let ir = "dXNlcj1hAWF1dGg9QmVhcmVyIHRvawEB";
    let cmd = alloc::format!("AUTH XOAUTH2 {ir}\r\n");
    let (r, _) = run(config, &app, &[cmd.as_bytes(), b"\r\n"]);
    let text = r.text();
    assert!(
        text.contains("-ERR [SYS/TEMP] try again later\r\n"),
        "application's response lost:\n{text}"
    );
}

/// A greeting of the allowed length (Text is at most 506) plus the APOP timestamp: the text
/// gives way, the timestamp stays (APOP depends on it).
#[test]
fn long_greeting_never_loses_the_apop_timestamp() {
    let app = App::new(&[b"a\r\n"]);
    let config = ServerConfig {
        greeting: Text::new("x".repeat(490)).unwrap(),
        apop_timestamp: Some(Timestamp::new("<1896.697170952@dbc.mtview.ca.us>").unwrap()),
        ..plain()
    };
    let (r, _) = run(config, &app, &[]);
    assert!(
        r.text().contains("<1896.697170952@dbc.mtview.ca.us>"),
        "greeting: {:?}",
        r.text()
    );
}

/// Pipelined LIST/UIDL commands against a large maildrop: the output queued at any time stays
/// bounded (input waits while more than 256 KiB of output is not taken), and every response
/// still comes out once the caller drains.
#[test]
fn pipelined_listings_do_not_amplify_without_bound() {
    let messages: Vec<Vec<u8>> = (0..500).map(|_| b"x\r\n".to_vec()).collect();
    let refs: Vec<&[u8]> = messages.iter().map(|m| &m[..]).collect();
    let app = App::new(&refs);
    let mut server = Server::new(plain());
    let mut r = Run::default();
    drain(&mut server, &mut r, &app);
    assert_eq!(
        server.receive(b"USER a\r\nPASS b\r\n"),
        (b"USER a\r\nPASS b\r\n").len()
    );
    drain(&mut server, &mut r, &app);
    let before = r.out.len();
    let flood = b"UIDL\r\n".repeat(64 * 1024 / 6);
    let taken = server.receive(&flood);
    assert_eq!(taken, flood.len());
    let queued = server.pending_output();
    // One listing is about 18 KiB here.
    assert!(
        queued <= 256 * 1024 + 32 * 1024,
        "{queued} octets queued by one receive"
    );
    drain(&mut server, &mut r, &app);
    let produced = r.out.len() - before;
    let one = produced / (flood.len() / 6);
    assert_eq!(produced, one * (flood.len() / 6), "every UIDL answered");
}

// ---------------------------------------------------------------------------------------------
// TOP against a reference, any chunking.

/// Lines as the encoder sees them (CRLF, bare LF, bare CR end a line).
fn reference_lines(message: &[u8]) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    let mut cur = Vec::new();
    let mut i = 0;
    while i < message.len() {
        match message[i] {
            b'\r' if message.get(i + 1) == Some(&b'\n') => {
                lines.push(core::mem::take(&mut cur));
                i += 2;
                continue;
            }
            b'\r' | b'\n' => lines.push(core::mem::take(&mut cur)),
            b => cur.push(b),
        }
        i += 1;
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

fn reference(message: &[u8], top: Option<u32>) -> Vec<u8> {
    let lines = reference_lines(message);
    let mut keep = lines.len();
    if let Some(m) = top {
        if let Some(blank) = lines.iter().position(|l| l.is_empty()) {
            keep = keep.min(blank + 1 + m as usize);
        }
    }
    let mut out = Vec::new();
    for line in &lines[..keep] {
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

fn body_of(run: &Run, command: &str) -> Vec<u8> {
    let text = &run.out;
    // Skip greeting, +OK USER, +OK PASS and the first line of the response.
    let mut at = 0;
    for _ in 0..4 {
        let pos = text[at..].windows(2).position(|w| w == b"\r\n").unwrap();
        at += pos + 2;
    }
    let _ = command;
    text[at..].to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]
    #[test]
    fn top_and_retr_match_reference(
        message in proptest::collection::vec(prop_oneof![
            Just(b'a'), Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b' ')
        ], 0..40),
        m in 0u32..5,
        piece in 1usize..9,
        top in any::<bool>(),
    ) {
        let mut app = App::new(&[&message]);
        app.piece = piece;
        let cmd = if top { alloc::format!("TOP 1 {m}\r\n") } else { "RETR 1\r\n".into() };
        let input = alloc::format!("USER a\r\nPASS b\r\n{cmd}");
        let (r, _) = run(plain(), &app, &[input.as_bytes()]);
        let got = body_of(&r, &cmd);
        let want = reference(&message, top.then_some(m));
        prop_assert_eq!(
            String::from_utf8_lossy(&got).into_owned(),
            String::from_utf8_lossy(&want).into_owned()
        );
    }
}

/// Refused logins count towards max_errors (USER/PASS, APOP and SASL PLAIN alike), so one
/// connection cannot guess passwords without end.
#[test]
fn failed_logins_count_towards_max_errors() {
    let mut app = App::new(&[b"a\r\n"]);
    app.login = Some(Answer::reject("[AUTH] wrong").unwrap());
    let config = ServerConfig {
        max_errors: 3,
        ..plain()
    };
    let input = "USER a\r\nPASS guess\r\n".repeat(50);
    let (r, server) = run(config, &app, &[input.as_bytes()]);
    let failures = r.text().matches("-ERR [AUTH] wrong").count();
    assert!(
        server.is_closed() && failures <= 3,
        "{failures} guesses allowed, closed: {}",
        server.is_closed()
    );
}

#[derive(Debug, Clone)]
enum Op {
    Recv(Vec<u8>),
    Answer(u8),
    Body(Vec<u8>),
    End,
    Tls,
    Timeout,
    Eof,
}

fn op() -> impl Strategy<Value = Op> {
    let cmds = prop_oneof![
        Just(&b"USER a\r\n"[..]),
        Just(&b"PASS b\r\n"[..]),
        Just(&b"STAT\r\n"[..]),
        Just(&b"LIST\r\n"[..]),
        Just(&b"RETR 1\r\n"[..]),
        Just(&b"TOP 2 1\r\n"[..]),
        Just(&b"DELE 1\r\n"[..]),
        Just(&b"RSET\r\n"[..]),
        Just(&b"QUIT\r\n"[..]),
        Just(&b"STLS\r\n"[..]),
        Just(&b"CAPA\r\n"[..]),
        Just(&b"AUTH PLAIN\r\n"[..]),
        Just(&b"AUTH\r\n"[..]),
        Just(&b"*\r\n"[..]),
        Just(&b"AGIA\r\n"[..]),
        Just(&b"UIDL 2\r\n"[..]),
        Just(&b"garbage\n"[..]),
        Just(&b"\r"[..]),
        Just(&b"AUTH XOAUTH2 =\r\n"[..]),
        Just(&b"UTF8\r\n"[..]),
    ];
    prop_oneof![
        4 => proptest::collection::vec(cmds, 1..4).prop_map(|v| Op::Recv(v.concat())),
        2 => any::<u8>().prop_map(Op::Answer),
        1 => proptest::collection::vec(prop_oneof![Just(b'.'), Just(b'\r'), Just(b'\n'), Just(b'x')], 0..6).prop_map(Op::Body),
        1 => Just(Op::End),
        1 => Just(Op::Tls),
        1 => Just(Op::Timeout),
        1 => Just(Op::Eof),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 3000, ..ProptestConfig::default() })]
    #[test]
    fn api_in_any_order_never_panics(ops in proptest::collection::vec(op(), 0..30), pending in 0usize..20) {
        let config = ServerConfig { stls: true, max_pending: pending, utf8: true,
            sasl_mechanisms: ServerMechanisms::new().plain().xoauth2(),
            ..plain() };
        let mut server = Server::new(config);
        let mut commits = 0;
        let mut last: Option<Event> = None;
        for op in ops {
            match op {
                Op::Recv(b) => { let _ = server.receive(&b); }
                Op::Answer(k) => {
                    let a = match k % 5 {
                        0 => Answer::Accept,
                        1 => Answer::Open(vec![MessageInfo { size: 3, uid: UniqueId::new("u1").unwrap() },
                                               MessageInfo { size: 3, uid: UniqueId::new("u2").unwrap() }]),
                        2 => Answer::reject("[IN-USE] no").unwrap(),
                        3 => Answer::Reply(Response::ok(Text::checked("fine"))),
                        _ => Answer::reject("").unwrap(),
                    };
                    let _ = server.answer(a);
                }
                Op::Body(b) => { let _ = server.send_body(&b); }
                Op::End => { let _ = server.end_body(); }
                Op::Tls => { let _ = server.tls_established(); }
                Op::Timeout => server.handle_timeout(),
                Op::Eof => server.receive_eof(),
            }
            while let Some(o) = server.poll_output() {
                if let Output::Event(e) = o {
                    if matches!(e, Event::Commit { .. }) { commits += 1; }
                    last = Some(e);
                }
            }
        }
        let _ = last;
        prop_assert!(commits <= 1);
    }
}

/// RFC 6856 2.2: with `UTF8 USER` advertised, the client may use UTF-8 with USER, PASS or
/// APOP before the UTF8 command.
#[test]
fn utf8_user_before_utf8_command_when_advertised() {
    let app = App::new(&[b"a\r\n"]);
    let config = ServerConfig {
        utf8: true,
        ..plain()
    };
    let (r, server) = run(
        config,
        &app,
        &["CAPA\r\nUSER j\u{f6}rg\r\nPASS p\u{e4}ss\r\n".as_bytes()],
    );
    assert!(r.text().contains("UTF8 USER\r\n"));
    assert!(server.is_logged_in(), "{}", r.text());
}

/// RFC 1939 3: the autologout timer is at least 10 minutes, whatever the configuration says.
#[test]
fn idle_timeout_is_at_least_ten_minutes() {
    let config = ServerConfig {
        idle_timeout: Duration::from_secs(5),
        ..plain()
    };
    let mut server = Server::new(config);
    while let Some(o) = server.poll_output() {
        if let Output::Event(e) = o {
            if e.is_decision() {
                server.answer(Answer::Accept).unwrap();
            }
        }
    }
    assert!(
        server.timeout().unwrap() >= Duration::from_secs(600),
        "{:?}",
        server.timeout()
    );
}

/// RFC 2595 4 / CVE-2011-0411: plaintext that followed STLS in the same read must never be
/// executed. When STLS is pipelined behind a pending decision and the read is larger than
/// max_pending, `receive` hands the tail back as "not taken"; a caller that started TLS on
/// Output::StartTls and then fed the rest of its buffer would get the injected plaintext
/// executed inside the TLS session. The machine remembers that octets are still with the
/// caller and refuses such an STLS, ending the session.
#[test]
fn untaken_plaintext_after_stls_is_never_executed() {
    let config = ServerConfig {
        stls: true,
        max_pending: 66,
        ..ServerConfig::default()
    };
    let mut server = Server::new(config);
    // The greeting decision is still pending when the (attacker-extended) read arrives.
    let mut read = b"STLS\r\n".to_vec();
    read.extend_from_slice(&b"CAPA\r\n".repeat(20));
    read.extend_from_slice(b"USER evil\r\nPASS injected\r\n");
    let mut rest: &[u8] = &read;
    let mut logins = Vec::new();
    let mut connected = false;
    for _ in 0..100 {
        let n = server.receive(rest);
        rest = &rest[n..];
        while let Some(o) = server.poll_output() {
            match o {
                Output::Event(Event::Connected) => connected = true,
                Output::Event(Event::Login(l)) => {
                    logins.push(l);
                    server.answer(Answer::reject("no").unwrap()).unwrap();
                }
                // TLS is started at once, as Output::StartTls says.
                Output::StartTls => server.tls_established().unwrap(),
                _ => {}
            }
        }
        if connected {
            connected = false;
            server.answer(Answer::Accept).unwrap();
            // The invariant: drain after every answer.
            while let Some(o) = server.poll_output() {
                match o {
                    Output::StartTls => server.tls_established().unwrap(),
                    Output::Event(Event::Login(l)) => {
                        logins.push(l);
                        server.answer(Answer::reject("no").unwrap()).unwrap();
                    }
                    _ => {}
                }
            }
        }
        if rest.is_empty() {
            break;
        }
    }
    assert!(
        logins.is_empty(),
        "plaintext injected before TLS was executed: {logins:?}"
    );
    // The machine refused the STLS that had plaintext still waiting behind it.
    assert!(server.is_closed() && !server.is_tls());
}

// ---------------------------------------------------------------------------------------------
// Response lines within 512 octets (RFC 2449 4), and the language after STLS (RFC 6856 3).

fn encoded(response: &Response<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    crate::codec::encode_response(response, &mut out);
    out
}

fn rejected(text: &str) -> Response<'static> {
    match Answer::reject(text) {
        Ok(Answer::Reply(response)) => response,
        other => panic!("{text:?}: {other:?}"),
    }
}

/// RFC 2449 4: a response line is at most 512 octets, CRLF included, and the client refuses
/// longer ones: `Answer::reject` refuses text that would make one (it once sent 607 octets for
/// 600 of text), up to the last octet that fits, with and without a code.
#[test]
fn rfc2449_4_reject_refuses_a_line_over_512_octets() {
    let long = "x".repeat(600);
    assert!(matches!(
        Answer::reject(&long),
        Err(InvalidValue::TooLong { .. })
    ));
    let longest = "x".repeat(MAX_TEXT);
    assert_eq!(encoded(&rejected(&longest)).len(), 511);
    assert!(Answer::reject(&"x".repeat(MAX_TEXT + 1)).is_err());
    // `-ERR [SYS/TEMP] ` takes 16 octets and CRLF 2: 494 are left for the text.
    let coded = rejected(&alloc::format!("[SYS/TEMP] {}", "y".repeat(494)));
    assert!(coded.code().is_some_and(|c| c.is(KnownCode::SysTemp)));
    assert_eq!(encoded(&coded).len(), 512);
    assert!(matches!(
        Answer::reject(&alloc::format!("[SYS/TEMP] {}", "y".repeat(495))),
        Err(InvalidValue::TooLong {
            what: "response line",
            length: 513,
            limit: 512
        })
    ));
    // A code of its own fills the line.
    let code = "C".repeat(503);
    assert_eq!(encoded(&rejected(&alloc::format!("[{code}]"))).len(), 512);
}

/// RFC 2449 4: `Response::err` with the longest text fits in 512 octets, even with the space
/// that escapes a leading `[` (RFC 2449 6.4); a code that would push it over is refused.
#[test]
fn rfc2449_4_err_with_the_longest_text_fits_512_octets() {
    let text = Text::new("y".repeat(MAX_TEXT)).unwrap();
    assert_eq!(encoded(&Response::err(text.clone())).len(), 511);
    assert_eq!(encoded(&Response::ok(text.clone())).len(), 510);
    let bracket = Text::new(alloc::format!("[{}", "y".repeat(MAX_TEXT - 1))).unwrap();
    assert_eq!(encoded(&Response::err(bracket)).len(), 512);
    assert!(Text::new("y".repeat(MAX_TEXT + 1)).is_err());
    let with_code = Response::err(text).with_code(ResponseCode::known(KnownCode::InUse));
    assert!(matches!(
        with_code,
        Err(InvalidValue::TooLong {
            what: "response line",
            ..
        })
    ));
    // A status change never breaks a built response: it was checked as `-ERR`.
    let ok = Response::ok(Text::new("z".repeat(494)).unwrap())
        .with_code(ResponseCode::known(KnownCode::SysTemp))
        .unwrap();
    assert_eq!(encoded(&ok.clone().with_status(Status::Err)).len(), 512);
    assert_eq!(encoded(&ok).len(), 511);
}

/// RFC 1939 3 (responses end in CRLF, one line each): text with a CR, LF or NUL is refused,
/// not silently sent as a bare `-ERR` (it once was), nor sent as two responses.
#[test]
fn rfc1939_3_reject_refuses_line_breaks_instead_of_dropping_the_text() {
    assert_eq!(
        Answer::reject("no\r\n+OK fake"),
        Err(InvalidValue::UnexpectedChar {
            what: "text",
            offset: 2,
            found: '\r'
        })
    );
    assert!(Answer::reject("no\n+OK fake").is_err());
    assert!(Answer::reject("no\0").is_err());
    let plain = rejected("no such user");
    assert_eq!(encoded(&plain), b"-ERR no such user\r\n");
    assert_eq!(rejected("").text().as_str(), "");
}

/// RFC 6856 3.2 with RFC 2595 4: STLS starts the session over, so a language chosen before
/// goes back to `i-default` (RFC 2277 4.5), and the application is told with
/// `Event::LanguageChanged`, as for LANG; not when nothing changes.
#[test]
fn rfc6856_3_2_stls_reports_the_language_going_back_to_i_default() {
    let german = crate::types::LanguageListing::new(LanguageTag::new("de").unwrap(), None).unwrap();
    let config = ServerConfig {
        stls: true,
        languages: vec![german],
        ..ServerConfig::default()
    };
    let app = App::new(&[]);
    let changes = |run: &Run| -> Vec<String> {
        run.events
            .iter()
            .filter_map(|e| match e {
                Event::LanguageChanged(tag) => Some(tag.as_str().into()),
                _ => None,
            })
            .collect()
    };
    let (mut r, mut server) = run(config.clone(), &app, &[b"LANG de\r\nSTLS\r\n"]);
    assert_eq!(server.language().as_str(), "de");
    server.tls_established().unwrap();
    drain(&mut server, &mut r, &app);
    assert_eq!(server.language(), &LanguageTag::i_default());
    assert_eq!(changes(&r), ["de", "i-default"]);
    // No LANG before STLS: nothing changed, nothing to say.
    let (mut r, mut server) = run(config, &app, &[b"STLS\r\n"]);
    server.tls_established().unwrap();
    drain(&mut server, &mut r, &app);
    assert!(changes(&r).is_empty(), "{:?}", r.events);
}
