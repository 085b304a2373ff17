use super::*;
use alloc::string::ToString;
use alloc::vec;
use proptest::prelude::*;

/// The maildrop the tests serve: contents by message number.
#[derive(Debug, Clone)]
struct Mailbox {
    messages: Vec<Vec<u8>>,
    /// Unique-ids of the longest length RFC 1939 7 allows (70 octets) instead of `uid-N`.
    long_uids: bool,
}

impl Mailbox {
    fn new(messages: &[&[u8]]) -> Self {
        Self {
            messages: messages.iter().map(|m| m.to_vec()).collect(),
            long_uids: false,
        }
    }

    fn listing(&self) -> Vec<MessageInfo> {
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| MessageInfo {
                size: m.len() as u64,
                uid: UniqueId::new(if self.long_uids {
                    alloc::format!("{:~>70}", i + 1)
                } else {
                    alloc::format!("uid-{}", i + 1)
                })
                .unwrap(),
            })
            .collect()
    }
}

/// What a session produced.
#[derive(Debug, Default, PartialEq, Eq)]
struct Run {
    transcript: String,
    events: Vec<Event>,
    starttls: bool,
    closed: bool,
}

impl Run {
    fn commits(&self) -> Vec<&Vec<UidListing<'static>>> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Commit { deleted } => Some(deleted),
                _ => None,
            })
            .collect()
    }
}

/// How the application behaves.
#[derive(Clone)]
struct App {
    mailbox: Mailbox,
    password: &'static [u8],
    /// Stream messages in pieces of this size.
    piece: usize,
    commit: Answer,
}

impl App {
    fn new(mailbox: Mailbox) -> Self {
        Self {
            mailbox,
            password: b"tanstaaf",
            piece: 7,
            commit: Answer::Accept,
        }
    }

    fn handle(&self, server: &mut Server, event: &Event) {
        match event {
            Event::Login(login) => {
                let verified =
                    matches!(login, Login::Sasl { credentials, .. } if credentials.is_verified());
                let answer = if login.verify_secret(self.password) || verified {
                    Answer::Open(self.mailbox.listing())
                } else {
                    Answer::reject("[AUTH] invalid credentials").unwrap()
                };
                server.answer(answer).unwrap();
            }
            Event::Retrieve { message, .. } => {
                server.answer(Answer::Accept).unwrap();
                let content = &self.mailbox.messages[message.index()];
                for piece in content.chunks(self.piece.max(1)) {
                    server.send_body(piece).unwrap();
                }
                server.end_body().unwrap();
            }
            Event::Commit { .. } => server.answer(self.commit.clone()).unwrap(),
            Event::LookupSecret { username, .. } => {
                // SCRAM: the one user, with RFC 7677's salt and this app's password.
                let salt = [
                    0x5b, 0x6d, 0x99, 0x68, 0x9d, 0x12, 0x35, 0x8e, 0xec, 0xa0, 0x4b, 0x14, 0x12,
                    0x36, 0xfa, 0x81,
                ];
                let password = core::str::from_utf8(self.password).unwrap();
                let secret = (username == "user")
                    .then(|| ScramSecret::derive(password, &salt, 4096).unwrap());
                server.provide_secret(secret).unwrap();
            }
            event if event.is_decision() => server.answer(Answer::Accept).unwrap(),
            _ => {}
        }
    }
}

fn drain(server: &mut Server, run: &mut Run, app: &App) {
    for _ in 0..100_000 {
        let Some(output) = server.poll_output() else {
            return;
        };
        match output {
            Output::Transmit(bytes) => run
                .transcript
                .push_str(core::str::from_utf8(&bytes).unwrap()),
            Output::Event(event) => {
                app.handle(server, &event);
                run.events.push(event);
            }
            Output::StartTls => run.starttls = true,
            Output::Close => run.closed = true,
        }
    }
    panic!("livelock");
}

/// Feeds `chunks` in turn, draining after each (the invariant).
fn run_with(config: ServerConfig, app: &App, chunks: &[&[u8]]) -> (Run, Server) {
    let mut server = Server::new(config);
    let mut run = Run::default();
    drain(&mut server, &mut run, app);
    for chunk in chunks {
        let mut rest: &[u8] = chunk;
        for _ in 0..10_000 {
            let taken = server.receive(rest);
            rest = &rest[taken..];
            drain(&mut server, &mut run, app);
            if rest.is_empty() {
                break;
            }
        }
        assert!(rest.is_empty(), "input not taken");
    }
    (run, server)
}

fn plain() -> ServerConfig {
    ServerConfig {
        plaintext_login: true,
        ..ServerConfig::default()
    }
}

fn two_messages() -> Mailbox {
    Mailbox::new(&[
        b"Subject: one\r\n\r\nfirst\r\n",
        b"Subject: two\r\n\r\nsecond\r\n",
    ])
}

/// Logs in with USER/PASS, then runs `commands`.
fn session(mailbox: Mailbox, commands: &str) -> Run {
    let input = alloc::format!("USER mrose\r\nPASS tanstaaf\r\n{commands}");
    run_with(plain(), &App::new(mailbox), &[input.as_bytes()]).0
}

/// The responses after the greeting and the login.
fn after_login(run: &Run) -> String {
    let mut lines = run.transcript.split_inclusive("\r\n");
    lines.next();
    lines.next();
    lines.next();
    lines.collect()
}

// ---------------------------------------------------------------------------------------------
// RFC 1939 section 10, byte for byte.

#[test]
fn rfc1939_example_session() {
    let mut one = b"From: a\r\n\r\n".to_vec();
    one.resize(118, b'x');
    one.extend_from_slice(b"\r\n");
    let mut two = b"From: b\r\n\r\n".to_vec();
    two.resize(198, b'y');
    two.extend_from_slice(b"\r\n");
    let mut app = App::new(Mailbox::new(&[&one, &two]));
    app.commit = Answer::Reply(Response::ok(
        Text::new("dewey POP3 server signing off (maildrop empty)").unwrap(),
    ));
    let config = ServerConfig {
        apop_timestamp: Some(Timestamp::new("<1896.697170952@dbc.mtview.ca.us>").unwrap()),
        ..ServerConfig::default()
    };
    let client = "APOP mrose c4c9334bac560ecc979e58001b3e22fb\r\nSTAT\r\nLIST\r\nRETR 1\r\nDELE 1\r\nRETR 2\r\nDELE 2\r\nQUIT\r\n";
    let (run, _) = run_with(config, &app, &[client.as_bytes()]);
    let expected = [
        "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>\r\n",
        "+OK mrose's maildrop has 2 messages (320 octets)\r\n",
        "+OK 2 320\r\n",
        "+OK 2 messages (320 octets)\r\n1 120\r\n2 200\r\n.\r\n",
        "+OK 120 octets\r\n",
        core::str::from_utf8(&one).unwrap(),
        ".\r\n",
        "+OK message 1 deleted\r\n",
        "+OK 200 octets\r\n",
        core::str::from_utf8(&two).unwrap(),
        ".\r\n",
        "+OK message 2 deleted\r\n",
        "+OK dewey POP3 server signing off (maildrop empty)\r\n",
    ]
    .concat();
    assert_eq!(run.transcript, expected);
    assert!(run.closed);
    let commits = run.commits();
    assert_eq!(commits.len(), 1);
    let uids: Vec<&str> = commits[0].iter().map(|d| d.uid.as_str()).collect();
    assert_eq!(uids, ["uid-1", "uid-2"]);
    // The application checked the digest with the helper.
    let login = run.events.iter().find_map(|e| match e {
        Event::Login(login) => Some(login),
        _ => None,
    });
    assert!(login.unwrap().verify_secret(b"tanstaaf"));
    assert!(!login.unwrap().verify_secret(b"tanstaaF"));
}

// ---------------------------------------------------------------------------------------------
// RFC 1939 sections 5 and 6.

#[test]
fn responses_longer_than_the_stack_text_are_whole() {
    // `UIDL n` with a 70-octet unique-id does not fit the 64 octets a number-and-words reply
    // is formatted in on the stack: it is formatted on the heap, whole.
    let mut mailbox = two_messages();
    mailbox.long_uids = true;
    let run = session(mailbox, "UIDL 2\r\nLIST 1\r\nSTAT\r\n");
    let uid = alloc::format!("{:~>70}", 2);
    assert_eq!(
        after_login(&run),
        alloc::format!("+OK 2 {uid}\r\n+OK 1 23\r\n+OK 2 47\r\n")
    );
    let mut short = ShortText::default();
    assert!(fmt::Write::write_str(&mut short, &"x".repeat(64)).is_ok());
    assert!(fmt::Write::write_str(&mut short, "y").is_err());
    assert_eq!(short.as_str(), "x".repeat(64));
}

#[test]
fn deleted_messages_disappear_and_numbers_stay() {
    let mailbox = Mailbox::new(&[b"a\r\n", b"bb\r\n", b"ccc\r\n"]);
    let run = session(
        mailbox,
        "DELE 2\r\nSTAT\r\nLIST\r\nUIDL\r\nLIST 2\r\nUIDL 2\r\nRETR 2\r\nTOP 2 0\r\nDELE 2\r\nLIST 3\r\nUIDL 3\r\n",
    );
    assert_eq!(
        after_login(&run),
        [
            "+OK message 2 deleted\r\n",
            "+OK 2 8\r\n",
            "+OK 2 messages (8 octets)\r\n1 3\r\n3 5\r\n.\r\n",
            "+OK\r\n1 uid-1\r\n3 uid-3\r\n.\r\n",
            "-ERR message 2 already deleted\r\n",
            "-ERR message 2 already deleted\r\n",
            "-ERR message 2 already deleted\r\n",
            "-ERR message 2 already deleted\r\n",
            "-ERR message 2 already deleted\r\n",
            "+OK 3 5\r\n",
            "+OK 3 uid-3\r\n",
        ]
        .concat()
    );
}

#[test]
fn bad_numbers_are_errors() {
    let run = session(
        two_messages(),
        "RETR 0\r\nRETR 3\r\nRETR -1\r\nRETR 4294967296\r\nTOP 1 -1\r\nLIST +1\r\nDELE 123456789012345678901\r\nRETR\r\nLIST 1 2\r\nNOOP\r\n",
    );
    let responses = after_login(&run);
    let lines: Vec<&str> = responses.split_inclusive("\r\n").collect();
    assert_eq!(lines.len(), 10, "{responses}");
    for line in &lines[..9] {
        assert!(line.starts_with("-ERR "), "{line}");
    }
    assert_eq!(lines[1], "-ERR no such message\r\n");
    assert_eq!(lines[9], "+OK\r\n");
    assert!(!run.closed);
}

#[test]
fn rset_unmarks_and_quit_commits_exactly_the_marked() {
    let mailbox = Mailbox::new(&[b"a\r\n", b"b\r\n", b"c\r\n"]);
    let run = session(
        mailbox.clone(),
        "DELE 1\r\nDELE 3\r\nRSET\r\nDELE 2\r\nQUIT\r\n",
    );
    assert!(after_login(&run).contains("+OK maildrop has 3 messages (9 octets)\r\n"));
    let commits = run.commits();
    assert_eq!(commits.len(), 1);
    assert_eq!(
        commits[0],
        &vec![UidListing {
            message: MessageNumber::new(2).unwrap(),
            uid: UniqueId::new("uid-2").unwrap(),
        }]
    );
    assert!(run.transcript.ends_with("+OK bye\r\n"));
    // A failed commit says so.
    let mut app = App::new(mailbox);
    app.commit = Answer::Reply(Response::err(Text::empty()));
    let (run, _) = run_with(
        plain(),
        &app,
        &[b"USER u\r\nPASS tanstaaf\r\nDELE 1\r\nQUIT\r\n"],
    );
    assert!(
        run.transcript
            .ends_with("-ERR some deleted messages not removed\r\n")
    );
    assert!(run.closed);
}

#[test]
fn no_commit_without_quit_in_transaction() {
    // QUIT before login, end of stream, timeout, too many errors: never a commit.
    let (run, _) = run_with(plain(), &App::new(two_messages()), &[b"QUIT\r\n"]);
    assert!(run.commits().is_empty() && run.closed);
    assert!(run.events.contains(&Event::Quit));

    let (mut run, mut server) = run_with(
        plain(),
        &App::new(two_messages()),
        &[b"USER u\r\nPASS tanstaaf\r\nDELE 1\r\n"],
    );
    server.receive_eof();
    drain(&mut server, &mut run, &App::new(two_messages()));
    assert!(run.commits().is_empty() && run.closed);

    let (mut run, mut server) = run_with(
        plain(),
        &App::new(two_messages()),
        &[b"USER u\r\nPASS tanstaaf\r\nDELE 1\r\n"],
    );
    assert_eq!(server.timeout(), Some(Duration::from_secs(600)));
    server.handle_timeout();
    drain(&mut server, &mut run, &App::new(two_messages()));
    assert!(run.commits().is_empty() && run.closed);
    assert!(
        run.transcript
            .ends_with("-ERR timeout waiting for a command, closing\r\n")
    );

    let errors = "BOGUS\r\n".repeat(10);
    let input = alloc::format!("USER u\r\nPASS tanstaaf\r\nDELE 1\r\n{errors}QUIT\r\n");
    let (run, _) = run_with(plain(), &App::new(two_messages()), &[input.as_bytes()]);
    assert!(run.commits().is_empty() && run.closed);
    assert!(
        run.transcript
            .ends_with("-ERR too many errors, closing\r\n")
    );
}

#[test]
fn commands_out_of_state() {
    let (run, _) = run_with(
        plain(),
        &App::new(two_messages()),
        &[b"STAT\r\nPASS x\r\nUSER u\r\nSTAT\r\nPASS tanstaaf\r\nUSER u\r\nPASS tanstaaf\r\nUSER u\r\nAPOP u c4c9334bac560ecc979e58001b3e22fb\r\nSTLS\r\nNOOP\r\n"],
    );
    let lines: Vec<&str> = run.transcript.split_inclusive("\r\n").skip(1).collect();
    assert_eq!(
        lines,
        [
            "-ERR not logged in\r\n",
            "-ERR USER first\r\n",
            "+OK\r\n",
            "-ERR not logged in\r\n",
            // PASS must follow USER at once.
            "-ERR USER first\r\n",
            "+OK\r\n",
            "+OK u's maildrop has 2 messages (47 octets)\r\n",
            "-ERR already logged in\r\n",
            "-ERR already logged in\r\n",
            "-ERR already logged in\r\n",
            "+OK\r\n",
        ]
    );
}

// ---------------------------------------------------------------------------------------------
// Messages.

#[test]
fn retr_stuffs_dots_and_converts_bare_line_ends() {
    let mailbox = Mailbox::new(&[b".starts with a dot\n..two\r\n.\r\nend", b"\r\n.\r\n"]);
    let run = session(mailbox, "RETR 1\r\nRETR 2\r\n");
    let text = after_login(&run);
    assert_eq!(
        text,
        [
            "+OK 32 octets\r\n",
            "..starts with a dot\r\n...two\r\n..\r\nend\r\n.\r\n",
            "+OK 5 octets\r\n",
            "\r\n..\r\n.\r\n",
        ]
        .concat()
    );
}

#[test]
fn top_sends_headers_blank_line_and_n_lines() {
    let message: &[u8] =
        b"Subject: x\r\nFrom: y\r\n\r\nline 1\r\n.line 2\nline 3\rline 4\r\nline 5";
    for (lines, expected) in [
        (0, "Subject: x\r\nFrom: y\r\n\r\n"),
        (1, "Subject: x\r\nFrom: y\r\n\r\nline 1\r\n"),
        (2, "Subject: x\r\nFrom: y\r\n\r\nline 1\r\n..line 2\r\n"),
        (
            3,
            "Subject: x\r\nFrom: y\r\n\r\nline 1\r\n..line 2\r\nline 3\r\n",
        ),
        (
            4,
            "Subject: x\r\nFrom: y\r\n\r\nline 1\r\n..line 2\r\nline 3\r\nline 4\r\n",
        ),
        (
            9,
            "Subject: x\r\nFrom: y\r\n\r\nline 1\r\n..line 2\r\nline 3\r\nline 4\r\nline 5\r\n",
        ),
    ] {
        for piece in [1, 3, 100] {
            let mut app = App::new(Mailbox::new(&[message]));
            app.piece = piece;
            let input = alloc::format!("USER u\r\nPASS tanstaaf\r\nTOP 1 {lines}\r\n");
            let (run, _) = run_with(plain(), &app, &[input.as_bytes()]);
            assert_eq!(
                after_login(&run),
                alloc::format!("+OK top of message follows\r\n{expected}.\r\n"),
                "TOP 1 {lines} in pieces of {piece}"
            );
        }
    }
    // No blank line: the whole message is headers.
    let run = session(Mailbox::new(&[b"Subject: only\r\n"]), "TOP 1 0\r\n");
    assert_eq!(
        after_login(&run),
        "+OK top of message follows\r\nSubject: only\r\n.\r\n"
    );
}

#[test]
fn refused_retrieve_and_api_misuse() {
    let mut server = Server::new(plain());
    assert_eq!(server.send_body(b"x"), Err(ApiError::NotSendingBody));
    assert_eq!(server.end_body(), Err(ApiError::NotSendingBody));
    assert_eq!(server.tls_established(), Err(ApiError::NotStartingTls));
    while server.poll_output().is_some() {}
    server.answer(Answer::Accept).unwrap();
    assert_eq!(
        server.answer(Answer::Accept),
        Err(ApiError::NoDecisionPending)
    );
    assert_eq!(
        server.receive(b"USER u\r\nPASS p\r\n"),
        (b"USER u\r\nPASS p\r\n").len()
    );
    while server.poll_output().is_some() {}
    assert_eq!(server.answer(Answer::Accept), Err(ApiError::UnfitAnswer));
    assert_eq!(
        server.answer(Answer::Reply(Response::ok(Text::empty()))),
        Err(ApiError::UnfitAnswer)
    );
    server
        .answer(Answer::Open(two_messages().listing()))
        .unwrap();
    assert_eq!(
        server.receive(b"RETR 1\r\nNOOP\r\n"),
        (b"RETR 1\r\nNOOP\r\n").len()
    );
    let mut text = String::new();
    while let Some(output) = server.poll_output() {
        if let Output::Transmit(bytes) = output {
            text.push_str(core::str::from_utf8(&bytes).unwrap());
        }
    }
    assert_eq!(
        server.answer(Answer::Open(vec![])),
        Err(ApiError::UnfitAnswer)
    );
    server
        .answer(Answer::reject("[SYS/TEMP] cannot read it now").unwrap())
        .unwrap();
    while let Some(output) = server.poll_output() {
        if let Output::Transmit(bytes) = output {
            text.push_str(core::str::from_utf8(&bytes).unwrap());
        }
    }
    assert!(
        text.ends_with("-ERR [SYS/TEMP] cannot read it now\r\n+OK\r\n"),
        "{text}"
    );
}

// ---------------------------------------------------------------------------------------------
// Login.

#[test]
fn user_pass_only_over_tls_by_default() {
    let app = App::new(two_messages());
    let config = ServerConfig {
        stls: true,
        ..ServerConfig::default()
    };
    let (run, mut server) = run_with(
        config.clone(),
        &app,
        &[b"CAPA\r\nUSER u\r\nAUTH PLAIN\r\nSTLS\r\n"],
    );
    let text = &run.transcript;
    assert!(text.contains("STLS\r\n") && !text.contains("\r\nUSER\r\n") && !text.contains("SASL"));
    assert!(text.contains("-ERR [AUTH] use STLS first\r\n"));
    assert!(text.contains("-ERR [AUTH] AUTH not available\r\n"));
    assert!(text.ends_with("+OK begin TLS negotiation\r\n"));
    assert!(run.starttls);
    server.tls_established().unwrap();
    let mut run = Run::default();
    assert_eq!(
        server.receive(b"CAPA\r\nUSER u\r\nPASS tanstaaf\r\nCAPA\r\n"),
        (b"CAPA\r\nUSER u\r\nPASS tanstaaf\r\nCAPA\r\n").len()
    );
    drain(&mut server, &mut run, &app);
    let capa_before = "+OK capability list follows\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\nUSER\r\nSASL PLAIN\r\n.\r\n";
    // RFC 2449 5: what AUTHORIZATION offers is announced after login too.
    let capa_after = capa_before;
    assert_eq!(
        run.transcript,
        [
            capa_before,
            "+OK\r\n",
            "+OK u's maildrop has 2 messages (47 octets)\r\n",
            capa_after
        ]
        .concat()
    );
}

#[test]
fn stls_injection_is_discarded() {
    let app = App::new(two_messages());
    let config = ServerConfig {
        stls: true,
        ..ServerConfig::default()
    };
    for chunks in [
        vec![&b"STLS\r\nCAPA\r\n"[..]],
        vec![&b"STL"[..], b"S\r\nCA", b"PA\r\n"],
    ] {
        let (run, mut server) = run_with(config.clone(), &app, &chunks);
        assert!(run.transcript.ends_with("+OK begin TLS negotiation\r\n"));
        assert!(!run.transcript.contains("capability"));
        let discarded: usize = run
            .events
            .iter()
            .map(|e| match e {
                Event::PlaintextDiscarded(n) => *n,
                _ => 0,
            })
            .sum();
        assert_eq!(discarded, 6);
        // After TLS, nothing of it is executed and STLS is gone.
        server.tls_established().unwrap();
        let mut run = Run::default();
        assert_eq!(server.receive(b"STLS\r\n"), (b"STLS\r\n").len());
        drain(&mut server, &mut run, &app);
        assert_eq!(run.transcript, "-ERR STLS not available\r\n");
    }
}

#[test]
fn auth_plain_and_failures() {
    let app = App::new(two_messages());
    let plain_response = mail_wire::sasl::encode_challenge(b"\0mrose\0tanstaaf");
    let wrong = mail_wire::sasl::encode_challenge(b"\0mrose\0nope");
    let input = alloc::format!(
        "AUTH\r\nAUTH PLAIN {wrong}\r\nAUTH PLAIN\r\n*\r\nAUTH PLAIN\r\n{plain_response}\r\nSTAT\r\n"
    );
    let (run, _) = run_with(plain(), &app, &[input.as_bytes()]);
    let lines: Vec<&str> = run.transcript.split_inclusive("\r\n").skip(1).collect();
    assert_eq!(
        lines,
        [
            "+OK\r\n",
            "PLAIN\r\n",
            ".\r\n",
            "-ERR [AUTH] invalid credentials\r\n",
            "+ \r\n",
            "-ERR authentication cancelled\r\n",
            "+ \r\n",
            "+OK mrose's maildrop has 2 messages (47 octets)\r\n",
            "+OK 2 47\r\n",
        ]
    );
    // Codes are left out without RESP-CODES.
    let config = ServerConfig {
        resp_codes: false,
        ..plain()
    };
    let (run, _) = run_with(config, &app, &[b"USER u\r\nPASS wrong\r\n"]);
    assert!(
        run.transcript
            .ends_with("+OK\r\n-ERR invalid credentials\r\n")
    );
}

// ---------------------------------------------------------------------------------------------
// Limits and chunking.

#[test]
fn long_lines_and_back_pressure() {
    let app = App::new(two_messages());
    let long = alloc::format!("USER {}\r\nNOOP\r\n", "x".repeat(300));
    let (run, _) = run_with(plain(), &app, &[long.as_bytes()]);
    assert!(
        run.transcript
            .ends_with("-ERR line too long\r\n-ERR not logged in\r\n")
    );
    // While a decision is pending the server holds at most max_pending octets.
    let config = ServerConfig {
        max_pending: 16,
        ..plain()
    };
    let mut server = Server::new(config);
    let taken = server.receive(b"NOOP\r\nNOOP\r\nNOOP\r\nNOOP\r\n");
    assert_eq!(taken, 16);
    assert!(server.buffered() <= 16);
}

/// RFC 2449 4: a server with CAPA takes command lines up to 255 octets, CRLF included; a user
/// name that fills the line logs in, one octet more is `-ERR` and the session goes on. With and
/// without SASL (whose response lines may be longer, so the framing limit differs).
#[test]
fn rfc2449_4_a_255_octet_user_line_logs_in() {
    let app = App::new(two_messages());
    let name = "u".repeat(crate::types::MAX_ARGUMENT);
    let fits = alloc::format!("USER {name}\r\n");
    assert_eq!(fits.len(), crate::codec::MAX_COMMAND_LINE);
    let over = alloc::format!("USER {name}x\r\n");
    for sasl in [true, false] {
        let config = ServerConfig {
            sasl_mechanisms: if sasl {
                plain().sasl_mechanisms
            } else {
                ServerMechanisms::new()
            },
            ..plain()
        };
        let input = alloc::format!("{over}NOOP\r\n{fits}PASS tanstaaf\r\nNOOP\r\n");
        let (run, server) = run_with(config, &app, &[input.as_bytes()]);
        assert_eq!(
            run.transcript,
            "+OK POP3 server ready\r\n-ERR line too long\r\n-ERR not logged in\r\n+OK\r\n"
                .to_string()
                + &alloc::format!("+OK {name}'s maildrop has 2 messages (47 octets)\r\n+OK\r\n"),
            "sasl: {sasl}"
        );
        let logins: Vec<_> = run
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Login(login) => login.username(),
                _ => None,
            })
            .collect();
        assert_eq!(logins, [name.as_str()]);
        assert!(server.is_logged_in() && !server.is_closed());
    }
}

fn full_session() -> (ServerConfig, App, String) {
    let config = ServerConfig {
        apop_timestamp: Some(Timestamp::new("<1.2@mx>").unwrap()),
        ..plain()
    };
    let app = App::new(Mailbox::new(&[
        b".dot\r\nbody\n",
        b"Subject: x\r\n\r\n1\r\n2\r\n",
        b"x",
    ]));
    let digest = ApopDigest::compute(&Timestamp::new("<1.2@mx>").unwrap(), b"tanstaaf").to_hex();
    let input = alloc::format!(
        "CAPA\r\nUSER u\r\nPASS wrong\r\nAPOP u {digest}\r\nSTAT\r\nLIST\r\nUIDL\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\nBOGUS\r\nRETR 1\r\nRSET\r\nDELE 3\r\nNOOP\r\nQUIT\r\n"
    );
    (config, app, input)
}

proptest! {
    /// Any chunking of a whole session, and any piece size of the streamed messages, gives the
    /// same output and events.
    #[test]
    fn any_chunking_same_session(
        cuts in proptest::collection::vec(any::<usize>(), 0..40),
        piece in 1usize..40,
    ) {
        let (config, app, input) = full_session();
        let (whole, _) = run_with(config.clone(), &app, &[input.as_bytes()]);
        prop_assert!(whole.closed);
        prop_assert_eq!(whole.commits().len(), 1);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for point in points {
            chunks.push(&input.as_bytes()[last..point]);
            last = point;
        }
        chunks.push(&input.as_bytes()[last..]);
        let app = App { piece, ..app };
        let (split, _) = run_with(config, &app, &chunks);
        prop_assert_eq!(&split.transcript, &whole.transcript);
        prop_assert_eq!(&split.events, &whole.events);
    }
}

/// Feeds `input` in chunks of `sizes` (cycled), and answers each decision only after `delay`
/// more calls of `receive` (the application is slow): meanwhile the server holds what the
/// client pipelined, within its bound.
fn run_deferred(
    config: ServerConfig,
    app: &App,
    input: &[u8],
    sizes: &[usize],
    delay: usize,
) -> Run {
    let bound = config.max_pending + config.max_command_line + 2;
    let mut server = Server::new(config);
    let mut run = Run::default();
    // Decisions not answered yet, with the calls of `receive` left before they are.
    let mut waiting: Vec<(usize, Event)> = Vec::new();
    let mut rest = input;
    let mut turn = 0;
    for _ in 0..1_000_000 {
        for _ in 0..100_000 {
            let Some(output) = server.poll_output() else {
                break;
            };
            match output {
                Output::Transmit(bytes) => run
                    .transcript
                    .push_str(core::str::from_utf8(&bytes).unwrap()),
                Output::Event(event) if event.is_decision() => {
                    waiting.push((delay, event.clone()));
                    run.events.push(event);
                }
                Output::Event(event) => run.events.push(event),
                Output::StartTls => run.starttls = true,
                Output::Close => run.closed = true,
            }
        }
        if let Some(index) = waiting.iter().position(|(left, _)| *left == 0) {
            let (_, event) = waiting.remove(index);
            app.handle(&mut server, &event);
            continue;
        }
        if rest.is_empty() && waiting.is_empty() {
            return run;
        }
        let size = sizes[turn % sizes.len()].max(1).min(rest.len());
        turn += 1;
        let taken = server.receive(&rest[..size]);
        rest = &rest[taken..];
        assert!(server.buffered() <= bound, "{} buffered", server.buffered());
        for (left, _) in &mut waiting {
            *left = left.saturating_sub(1);
        }
    }
    panic!("livelock");
}

proptest! {
    /// An application that answers late, whatever the chunking and the pending bound: the
    /// input held meanwhile is processed in order, every response and event as when the
    /// application answers at once.
    #[test]
    fn late_answers_keep_pipelined_input_in_order(
        sizes in proptest::collection::vec(1usize..300, 1..8),
        max_pending in 8usize..200,
        delay in 0usize..4,
    ) {
        let (config, app, input) = full_session();
        let pipelined = "LIST\r\nSTAT\r\nRETR 2\r\nNOOP\r\nLIST 3\r\n".repeat(40);
        let input = input.replace("QUIT\r\n", &(pipelined + "QUIT\r\n"));
        let (whole, _) = run_with(config.clone(), &app, &[input.as_bytes()]);
        prop_assert!(whole.closed);
        let config = ServerConfig { max_pending, ..config };
        let late = run_deferred(config, &app, input.as_bytes(), &sizes, delay);
        prop_assert_eq!(&late.transcript, &whole.transcript);
        prop_assert_eq!(&late.events, &whole.events);
        prop_assert!(late.closed);
    }
}

// ---------------------------------------------------------------------------------------------
// The model: random command sequences with random disconnects.

#[derive(Debug, Clone)]
enum Step {
    Dele(u32),
    Rset,
    Retr(u32),
    Noop,
    List(Option<u32>),
    Bogus,
    Quit,
    Disconnect,
    Timeout,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0u32..6).prop_map(Step::Dele),
        Just(Step::Rset),
        (0u32..6).prop_map(Step::Retr),
        Just(Step::Noop),
        proptest::option::of(0u32..6).prop_map(Step::List),
        Just(Step::Bogus),
        Just(Step::Quit),
        Just(Step::Disconnect),
        Just(Step::Timeout),
    ]
}

proptest! {
    /// The commit event comes exactly when QUIT arrives in TRANSACTION, once, naming exactly
    /// the messages marked and not reset; STAT always counts the others.
    #[test]
    fn model_commit(
        login_first in any::<bool>(),
        steps in proptest::collection::vec(step(), 0..30),
    ) {
        let mailbox = Mailbox::new(&[b"a\r\n", b"bb\r\n", b"ccc\r\n", b"dddd\r\n"]);
        let app = App::new(mailbox.clone());
        let mut server = Server::new(ServerConfig { max_errors: 1000, ..plain() });
        let mut run = Run::default();
        drain(&mut server, &mut run, &app);
        let mut logged_in = false;
        if login_first {
            assert_eq!(server.receive(b"USER u\r\nPASS tanstaaf\r\n"), (b"USER u\r\nPASS tanstaaf\r\n").len());
            drain(&mut server, &mut run, &app);
            logged_in = true;
        }
        let mut marked = [false; 4];
        let mut expected_commit: Option<Vec<u32>> = None;
        for step in steps {
            if server.is_closed() {
                break;
            }
            let command = match &step {
                Step::Dele(n) => {
                    if logged_in && (1..=4).contains(n) {
                        marked[*n as usize - 1] = true;
                    }
                    alloc::format!("DELE {n}\r\n")
                }
                Step::Rset => {
                    if logged_in {
                        marked = [false; 4];
                    }
                    "RSET\r\n".to_string()
                }
                Step::Retr(n) => alloc::format!("RETR {n}\r\n"),
                Step::Noop => "NOOP\r\n".to_string(),
                Step::List(None) => "LIST\r\n".to_string(),
                Step::List(Some(n)) => alloc::format!("LIST {n}\r\n"),
                Step::Bogus => "XYZZ\r\n".to_string(),
                Step::Quit => {
                    if logged_in {
                        expected_commit = Some(
                            (1..=4u32).filter(|n| marked[*n as usize - 1]).collect(),
                        );
                    }
                    "QUIT\r\n".to_string()
                }
                Step::Disconnect => {
                    server.receive_eof();
                    drain(&mut server, &mut run, &app);
                    continue;
                }
                Step::Timeout => {
                    server.handle_timeout();
                    drain(&mut server, &mut run, &app);
                    continue;
                }
            };
            let before = run.transcript.len();
            assert_eq!(server.receive(command.as_bytes()), command.len());
            drain(&mut server, &mut run, &app);
            if logged_in && matches!(step, Step::Noop) {
                prop_assert!(run.transcript[before..].starts_with("+OK"));
            }
        }
        let commits = run.commits();
        match expected_commit {
            None => prop_assert!(commits.is_empty()),
            Some(expected) => {
                prop_assert_eq!(commits.len(), 1);
                let got: Vec<u32> = commits[0].iter().map(|d| d.message.get()).collect();
                prop_assert_eq!(got, expected);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// RFC 6856 3: LANG.

/// The languages of RFC 6856 3.3's example, Spanish first (the administrator's choice).
fn languages() -> Vec<crate::types::LanguageListing<'static>> {
    [
        ("es", Some("Español")),
        ("en", Some("English")),
        ("en-boont", Some("English Boontling dialect")),
        ("de", Some("Deutsch")),
        ("sv", None),
    ]
    .into_iter()
    .map(|(tag, name)| {
        crate::types::LanguageListing::new(
            LanguageTag::new(tag).unwrap(),
            name.map(|n| Text::new(n).unwrap()),
        )
        .unwrap()
    })
    .collect()
}

fn lang_config() -> ServerConfig {
    ServerConfig {
        languages: languages(),
        ..plain()
    }
}

fn language_events(run: &Run) -> Vec<&str> {
    run.events
        .iter()
        .filter_map(|e| match e {
            Event::LanguageChanged(tag) => Some(tag.as_str()),
            _ => None,
        })
        .collect()
}

/// RFC 6856 3.1: the LANG capability is announced in both states, only when languages are
/// configured; without them LANG is an unknown command.
#[test]
fn rfc6856_3_1_lang_capability_in_both_states() {
    let app = App::new(two_messages());
    let input = "CAPA\r\nUSER mrose\r\nPASS tanstaaf\r\nCAPA\r\n";
    let (run, _) = run_with(lang_config(), &app, &[input.as_bytes()]);
    assert_eq!(
        run.transcript.matches("\r\nLANG\r\n").count(),
        2,
        "{}",
        run.transcript
    );
    let (run, server) = run_with(plain(), &app, &[b"CAPA\r\nLANG\r\nLANG en\r\n"]);
    assert!(!run.transcript.contains("\r\nLANG\r\n"));
    assert!(
        run.transcript
            .ends_with("-ERR unknown command\r\n-ERR unknown command\r\n")
    );
    assert_eq!(server.language().as_str(), "i-default");
}

/// RFC 6856 3.2 and the examples of 3.3: the listing, a selection (the `+OK` carries the exact
/// tag), a refusal that keeps the language, `*` for the administrator's choice, and a basic
/// language range (RFC 4647 3.3.1) picking a longer tag; in AUTHORIZATION and TRANSACTION.
#[test]
fn rfc6856_3_2_lang_listing_and_selection() {
    let app = App::new(two_messages());
    let (run, server) = run_with(lang_config(), &app, &[b"LANG\r\nLANG MUL\r\nLANG sv\r\n"]);
    assert_eq!(
        run.transcript,
        "+OK POP3 server ready\r\n+OK language listing follows\r\nes Español\r\nen English\r\n\
         en-boont English Boontling dialect\r\nde Deutsch\r\nsv\r\n.\r\n\
         -ERR unsupported language\r\n+OK sv language changed\r\n"
    );
    assert_eq!(language_events(&run), ["sv"]);
    assert_eq!(server.language().as_str(), "sv");
    // After login; `*`, a range in another case, a refused one (no error counted).
    let config = ServerConfig {
        max_errors: 1,
        ..lang_config()
    };
    let input =
        "USER mrose\r\nPASS tanstaaf\r\nLANG DE\r\nLANG uga\r\nLANG *\r\nLANG en-BOONT\r\nNOOP\r\n";
    let (run, server) = run_with(config, &app, &[input.as_bytes()]);
    assert_eq!(
        after_login(&run),
        "+OK de Deutsch\r\n-ERR unsupported language\r\n+OK es Español\r\n\
         +OK en-boont English Boontling dialect\r\n+OK\r\n"
    );
    assert_eq!(language_events(&run), ["de", "es", "en-boont"]);
    assert_eq!(server.language().as_str(), "en-boont");
    assert!(!server.is_closed());
    // `en` picks the first tag it matches: `en`, not `en-boont`.
    let (run, _) = run_with(lang_config(), &app, &[b"LANG en\r\n"]);
    assert!(run.transcript.ends_with("+OK en English\r\n"));
}

/// RFC 2595 4 with RFC 6856 3: after STLS the session starts over, in `i-default`.
#[test]
fn rfc6856_3_language_starts_over_after_stls() {
    let config = ServerConfig {
        stls: true,
        ..lang_config()
    };
    let mut server = Server::new(config);
    let mut run = Run::default();
    let app = App::new(two_messages());
    drain(&mut server, &mut run, &app);
    assert_eq!(server.receive(b"LANG de\r\n"), 9);
    drain(&mut server, &mut run, &app);
    assert_eq!(server.language().as_str(), "de");
    assert_eq!(server.receive(b"STLS\r\n"), 6);
    drain(&mut server, &mut run, &app);
    server.tls_established().unwrap();
    assert_eq!(server.language(), &LanguageTag::i_default());
}

// Pluggable SASL (RFC 5034 with mail-wire's ServerMechanisms).

/// A server over TLS offering `mechanisms`, greeted; identity set for EXTERNAL.
fn tls_server(mechanisms: ServerMechanisms, identity: Option<&str>) -> (Server, Run) {
    let mut server = Server::new(ServerConfig {
        implicit_tls: true,
        sasl_mechanisms: mechanisms,
        ..ServerConfig::default()
    });
    server.set_external_identity(identity.map(String::from));
    let mut run = Run::default();
    drain(&mut server, &mut run, &App::new(two_messages()));
    (server, run)
}

/// Feeds `bytes` and returns the new transcript text.
fn feed(server: &mut Server, run: &mut Run, app: &App, bytes: &[u8]) -> String {
    let before = run.transcript.len();
    assert_eq!(server.receive(bytes), bytes.len());
    drain(server, run, app);
    run.transcript[before..].to_string()
}

#[test]
fn rfc2195_cram_md5_through_the_registry() {
    let mechanisms = ServerMechanisms::new()
        .plain()
        .cram_md5(|| "<1896.697170952@postoffice.reston.mci.net>".into());
    let (mut server, mut run) = tls_server(mechanisms, None);
    let app = App {
        password: b"tanstaaftanstaaf",
        ..App::new(two_messages())
    };
    let capa = feed(&mut server, &mut run, &app, b"CAPA\r\n");
    assert!(capa.contains("SASL PLAIN CRAM-MD5\r\n"), "{capa}");
    let listing = feed(&mut server, &mut run, &app, b"AUTH\r\n");
    assert_eq!(listing, "+OK\r\nPLAIN\r\nCRAM-MD5\r\n.\r\n");
    let challenge = feed(&mut server, &mut run, &app, b"AUTH CRAM-MD5\r\n");
    assert_eq!(
        challenge,
        "+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+\r\n"
    );
    let answer = b"dGltIGI5MTNhNjAyYzdlZGE3YTQ5NWI0ZTZlNzMzNGQzODkw\r\n";
    let text = feed(&mut server, &mut run, &app, answer);
    assert_eq!(text, "+OK tim's maildrop has 2 messages (47 octets)\r\n");
    assert!(server.is_logged_in());
    // A wrong password: RFC 2195's digest checked against another one.
    let (mut server, mut run) = tls_server(
        ServerMechanisms::new().cram_md5(|| "<1896.697170952@postoffice.reston.mci.net>".into()),
        None,
    );
    let _ = feed(&mut server, &mut run, &app, b"AUTH CRAM-MD5\r\n");
    let wrong = App::new(two_messages());
    let text = feed(&mut server, &mut run, &wrong, answer);
    assert_eq!(text, "-ERR [AUTH] invalid credentials\r\n");
}

#[test]
fn rfc4422_appendix_a_external_with_and_without_identity() {
    let app = App::new(two_messages());
    let (mut server, mut run) = tls_server(ServerMechanisms::new().external(), Some("CN=mrose"));
    assert_eq!(server.external_identity(), Some("CN=mrose"));
    let text = feed(&mut server, &mut run, &app, b"AUTH EXTERNAL =\r\n");
    assert_eq!(
        text,
        "+OK CN=mrose's maildrop has 2 messages (47 octets)\r\n"
    );
    let Some(Event::Login(Login::Sasl { credentials, .. })) = run.events.last() else {
        panic!("{:?}", run.events)
    };
    assert_eq!(
        credentials,
        &Credentials::External {
            identity: "CN=mrose".into(),
            authzid: None
        }
    );
    // No identity: the exchange fails without asking the application.
    let (mut server, mut run) = tls_server(ServerMechanisms::new().external(), None);
    let text = feed(&mut server, &mut run, &app, b"AUTH EXTERNAL =\r\n");
    assert_eq!(text, "-ERR [AUTH] authentication failed\r\n");
    assert!(!run.events.iter().any(|e| matches!(e, Event::Login(_))));
    assert!(!server.is_logged_in());
}

#[test]
fn rfc7677_section3_scram_through_the_server_machine() {
    let app = App {
        password: b"pencil",
        ..App::new(two_messages())
    };
    let nonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    let (mut server, mut run) = tls_server(
        ServerMechanisms::new().scram_sha_256(
            mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
            move || nonce.into(),
        ),
        None,
    );
    let encode = mail_wire::sasl::encode_challenge;
    let first = encode(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
    let text = feed(
        &mut server,
        &mut run,
        &app,
        alloc::format!("AUTH SCRAM-SHA-256 {first}\r\n").as_bytes(),
    );
    let server_first = encode(
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
    );
    assert_eq!(text, alloc::format!("+ {server_first}\r\n"));
    assert!(run.events.iter().any(
        |e| matches!(e, Event::LookupSecret { mechanism, username } if mechanism.is("SCRAM-SHA-256") && username == "user")
    ));
    let last = encode(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
    let text = feed(
        &mut server,
        &mut run,
        &app,
        alloc::format!("{last}\r\n").as_bytes(),
    );
    let server_final = encode(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    assert_eq!(text, alloc::format!("+ {server_final}\r\n"));
    let text = feed(&mut server, &mut run, &app, b"\r\n");
    assert_eq!(text, "+OK user's maildrop has 2 messages (47 octets)\r\n");
    assert_eq!(server.provide_secret(None), Err(ApiError::NoLookupPending));
}

#[test]
fn scram_lookup_answers() {
    let app = App::new(two_messages());
    let mechanisms = ServerMechanisms::new().scram_sha_256(
        mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
        || "sn".into(),
    );
    let (mut server, mut run) = tls_server(mechanisms.clone(), None);
    // Pause at the lookup: answer it by hand.
    let first = mail_wire::sasl::encode_challenge(b"n,,n=locked,r=cn");
    let line = alloc::format!("AUTH SCRAM-SHA-256 {first}\r\n");
    assert_eq!(server.receive(line.as_bytes()), line.len());
    let Some(Output::Event(Event::LookupSecret { username, .. })) = server.poll_output() else {
        panic!("no lookup")
    };
    assert_eq!(username, "locked");
    assert!(server.timeout().is_none(), "the application has the move");
    assert_eq!(server.answer(Answer::Accept), Err(ApiError::UnfitAnswer));
    assert_eq!(
        server.answer(Answer::Open(Vec::new())),
        Err(ApiError::UnfitAnswer)
    );
    server
        .answer(Answer::reject("[SYS/TEMP] try later").unwrap())
        .unwrap();
    let text = feed(&mut server, &mut run, &app, b"");
    assert_eq!(text, "-ERR [SYS/TEMP] try later\r\n");
    let text = feed(&mut server, &mut run, &app, b"NOOP\r\n");
    assert_eq!(text, "-ERR not logged in\r\n");
    // An unknown user: a server-first-message all the same, then failure.
    let (mut server, mut run) = tls_server(mechanisms, None);
    let text = feed(&mut server, &mut run, &app, line.as_bytes());
    assert!(text.starts_with("+ "), "{text}");
}

#[test]
fn rfc5034_custom_mechanism_plugged_in_with() {
    /// X-ECHO: the client's one message is its name, "verified".
    struct Echo;
    impl ServerMechanism for Echo {
        fn name(&self) -> &str {
            "X-ECHO"
        }
        fn start(&mut self, initial: Option<&[u8]>) -> Result<ServerStep, sasl::SaslError> {
            match initial {
                None => Ok(ServerStep::Challenge(b"who?".to_vec())),
                Some(name) => self.step(name),
            }
        }
        fn step(&mut self, response: &[u8]) -> Result<ServerStep, sasl::SaslError> {
            Ok(ServerStep::Done(Credentials::Verified {
                mechanism: "X-ECHO".into(),
                identity: String::from_utf8_lossy(response).into_owned(),
                authzid: None,
            }))
        }
        fn reject(&mut self, _: &[u8]) -> Result<ServerStep, sasl::SaslError> {
            Ok(ServerStep::Failed)
        }
    }
    let mechanisms = ServerMechanisms::new()
        .with("X-ECHO", |_: &sasl::Context<'_>| {
            Some(Box::new(Echo) as sasl::BoxedServerMechanism)
        })
        .unwrap()
        .with("X-DECLINED", |_: &sasl::Context<'_>| None)
        .unwrap();
    let app = App::new(two_messages());
    let (mut server, mut run) = tls_server(mechanisms, None);
    let capa = feed(&mut server, &mut run, &app, b"CAPA\r\n");
    assert!(capa.contains("SASL X-ECHO X-DECLINED\r\n"), "{capa}");
    let text = feed(&mut server, &mut run, &app, b"AUTH X-DECLINED\r\n");
    assert_eq!(text, "-ERR [SYS/TEMP] mechanism not available now\r\n");
    let text = feed(&mut server, &mut run, &app, b"AUTH X-ECHO\r\n");
    assert_eq!(text, "+ d2hvPw==\r\n");
    let text = feed(&mut server, &mut run, &app, b"bXJvc2U=\r\n");
    assert_eq!(text, "+OK mrose's maildrop has 2 messages (47 octets)\r\n");
}

#[test]
fn rfc5034_4_scram_cancelled_and_malformed() {
    let app = App::new(two_messages());
    let mechanisms = ServerMechanisms::new().scram_sha_256(
        mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
        || "sn".into(),
    );
    let (mut server, mut run) = tls_server(mechanisms, None);
    let first = mail_wire::sasl::encode_challenge(b"n,,n=user,r=cn");
    let line = alloc::format!("AUTH SCRAM-SHA-256 {first}\r\n");
    let text = feed(&mut server, &mut run, &app, line.as_bytes());
    assert!(text.starts_with("+ "), "{text}");
    let text = feed(&mut server, &mut run, &app, b"*\r\n");
    assert_eq!(text, "-ERR authentication cancelled\r\n");
    // A client-final-message with another nonce: the exchange fails.
    let _ = feed(&mut server, &mut run, &app, line.as_bytes());
    let last = mail_wire::sasl::encode_challenge(
        b"c=biws,r=other,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
    );
    let text = feed(
        &mut server,
        &mut run,
        &app,
        alloc::format!("{last}\r\n").as_bytes(),
    );
    assert_eq!(text, "-ERR [AUTH] authentication failed\r\n");
    // A malformed client-first-message never reaches the application.
    let bad = mail_wire::sasl::encode_challenge(b"x,,n=user,r=cn");
    let lookups = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::LookupSecret { .. }))
        .count();
    let text = feed(
        &mut server,
        &mut run,
        &app,
        alloc::format!("AUTH SCRAM-SHA-256 {bad}\r\n").as_bytes(),
    );
    assert_eq!(text, "-ERR [AUTH] authentication failed\r\n");
    let after = run
        .events
        .iter()
        .filter(|e| matches!(e, Event::LookupSecret { .. }))
        .count();
    assert_eq!(lookups, after);
}

#[test]
fn rfc5802_section6_scram_plus_advertised_only_with_a_binding() {
    let app = App::new(two_messages());
    let mechanisms = ServerMechanisms::new().plain().scram_sha_256_plus(
        mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
        || "sn".into(),
    );
    let (mut server, mut run) = tls_server(mechanisms.clone(), None);
    let capa = feed(&mut server, &mut run, &app, b"CAPA\r\n");
    assert!(capa.contains("SASL PLAIN\r\n"), "{capa}");
    let listing = feed(&mut server, &mut run, &app, b"AUTH\r\n");
    assert_eq!(listing, "+OK\r\nPLAIN\r\n.\r\n");
    let text = feed(&mut server, &mut run, &app, b"AUTH SCRAM-SHA-256-PLUS\r\n");
    assert_eq!(text, "-ERR unsupported mechanism\r\n");

    let (mut server, mut run) = tls_server(mechanisms, None);
    server.set_channel_binding(Some(mail_wire::sasl::ChannelBinding::tls_exporter([1; 32])));
    let capa = feed(&mut server, &mut run, &app, b"CAPA\r\n");
    assert!(capa.contains("SASL PLAIN SCRAM-SHA-256-PLUS\r\n"), "{capa}");
    // Bound to the connection: a client without the binding is refused.
    let first = mail_wire::sasl::encode_challenge(b"n,,n=user,r=cn");
    let line = alloc::format!("AUTH SCRAM-SHA-256-PLUS {first}\r\n");
    let text = feed(&mut server, &mut run, &app, line.as_bytes());
    assert_eq!(text, "-ERR [AUTH] authentication failed\r\n");
}

/// RFC 5034 4 and RFC 5802 section 9: a SCRAM proof that does not verify (a wrong password
/// or an unknown user) gets `-ERR [AUTH]` and an [`Event::AuthFailed`] naming the user, and
/// counts toward `max_errors` like a refused login, so guessing ends the session.
#[test]
fn rfc5802_section9_failed_scram_proofs_are_reported_and_counted() {
    use mail_wire::sasl::{ClientMechanism, ScramSha256Client};
    let app = App {
        password: b"pencil",
        ..App::new(two_messages())
    };
    let (mut server, mut run) = tls_server(
        ServerMechanisms::new().scram_sha_256(
            mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
            || "srvnonce".into(),
        ),
        None,
    );
    let encode = mail_wire::sasl::encode_challenge;
    let max = server.config().max_errors;
    for i in 0..max {
        let user = if i % 2 == 0 { "user" } else { "nobody" };
        let mut client =
            ScramSha256Client::new(None, user, alloc::format!("guess{i}"), "cnonce").unwrap();
        let first = client.initial_response().unwrap();
        let line = alloc::format!("AUTH SCRAM-SHA-256 {}\r\n", encode(first.expose_secret()));
        let text = feed(&mut server, &mut run, &app, line.as_bytes());
        let server_first =
            mail_wire::sasl::decode_challenge(&text.trim_end().as_bytes()[2..], 4096).unwrap();
        let last = client.respond(&server_first).unwrap();
        let events_before = run.events.len();
        let line = alloc::format!("{}\r\n", encode(last.expose_secret()));
        let text = feed(&mut server, &mut run, &app, line.as_bytes());
        assert_eq!(
            run.events[events_before..],
            [Event::AuthFailed {
                mechanism: Mechanism::new("SCRAM-SHA-256").unwrap(),
                username: Some(user.into()),
            }],
            "attempt {i}"
        );
        assert!(text.starts_with("-ERR [AUTH] "), "{text}");
        assert_eq!(server.is_closed(), i + 1 == max, "attempt {i}: {text}");
    }
}

#[test]
fn the_epoch_stays_while_a_command_trickles_in_and_through_an_auth_exchange_rfc1939_3() {
    let app = App::new(two_messages());
    let (mut run, mut server) = run_with(plain(), &app, &[]);
    let start = server.timer_epoch();
    let mut epochs = Vec::new();
    for byte in b"CAPA\r\n" {
        assert_eq!(server.receive(core::slice::from_ref(byte)), 1);
        drain(&mut server, &mut run, &app);
        epochs.push(server.timer_epoch());
    }
    assert!(epochs[..5].iter().all(|&e| e == start), "{epochs:?}");
    assert_ne!(
        epochs[5], start,
        "the response starts the next command's deadline"
    );
    // AUTH: the challenge (`+ `) does not restart the deadline; the outcome does.
    let before = server.timer_epoch();
    assert_eq!(server.receive(b"AUTH PLAIN\r\n"), 12);
    drain(&mut server, &mut run, &app);
    assert!(run.transcript.ends_with("+ \r\n"), "{}", run.transcript);
    assert_eq!(server.timer_epoch(), before);
    let response = alloc::format!(
        "{}\r\n",
        mail_wire::sasl::encode_challenge(b"\0mrose\0tanstaaf")
    );
    assert_eq!(server.receive(response.as_bytes()), response.len());
    drain(&mut server, &mut run, &app);
    assert!(
        run.transcript.ends_with("(47 octets)\r\n"),
        "{}",
        run.transcript
    );
    assert_ne!(server.timer_epoch(), before);
    assert_eq!(server.timeout(), Some(Duration::from_secs(600)));
}

/// RFC 1939 3 (the autologout timer) and RFC 5034 4: the `-ERR` of each deadline names it (a
/// command, the AUTH exchange, and the driver's limit on the whole session), never "idle".
#[test]
fn rfc1939_3_each_timeout_response_names_the_deadline_that_expired() {
    let app = App::new(two_messages());
    let (mut run, mut server) = run_with(plain(), &app, &[b"USER u\r\n"]);
    server.handle_timeout();
    drain(&mut server, &mut run, &app);
    assert!(
        run.transcript
            .ends_with("-ERR timeout waiting for a command, closing\r\n"),
        "{}",
        run.transcript
    );

    let (mut server, mut run) = tls_server(ServerMechanisms::new().plain(), None);
    let challenge = feed(&mut server, &mut run, &app, b"AUTH PLAIN\r\n");
    assert_eq!(challenge, "+ \r\n");
    server.handle_timeout();
    let text = feed(&mut server, &mut run, &app, b"");
    assert_eq!(text, "-ERR timeout in the AUTH exchange, closing\r\n");
    assert!(run.closed);

    // The session's limit, in any phase, through the drivers' trait.
    let (mut run, mut server) = run_with(plain(), &app, &[b"USER u\r\nPASS tanstaaf\r\n"]);
    mail_wire::machine::Machine::handle_session_timeout(&mut server);
    drain(&mut server, &mut run, &app);
    assert!(
        run.transcript
            .ends_with("-ERR session time limit reached, closing\r\n"),
        "{}",
        run.transcript
    );
    assert!(run.commits().is_empty() && run.closed);
}

/// Past `max_junk_commands` NOOPs in the TRANSACTION state the session ends with `-ERR`,
/// nothing committed (RFC 1939 6: only QUIT commits); the default allows 100.
#[test]
fn over_max_junk_commands_a_transaction_ends_with_err_and_commits_nothing() {
    assert_eq!(ServerConfig::default().max_junk_commands, 100);
    let app = App::new(two_messages());
    let limited = ServerConfig {
        max_junk_commands: 2,
        ..plain()
    };
    let input = "USER u\r\nPASS tanstaaf\r\nDELE 1\r\nNOOP\r\nNOOP\r\nNOOP\r\nQUIT\r\n";
    let (run, _) = run_with(limited, &app, &[input.as_bytes()]);
    assert!(
        run.transcript
            .ends_with("+OK\r\n+OK\r\n-ERR too many commands, closing\r\n"),
        "{}",
        run.transcript
    );
    assert!(run.closed && run.commits().is_empty());
    assert!(!run.events.contains(&Event::Quit));

    let hundred = alloc::format!("USER u\r\nPASS tanstaaf\r\n{}", "NOOP\r\n".repeat(100));
    let (run, _) = run_with(plain(), &app, &[hundred.as_bytes()]);
    assert!(!run.closed && run.transcript.ends_with("+OK\r\n"));
    let (run, _) = run_with(plain(), &app, &[hundred.as_bytes(), b"NOOP\r\n"]);
    assert!(run.closed);
    assert!(
        run.transcript
            .ends_with("-ERR too many commands, closing\r\n")
    );
}

proptest! {
    /// Any chunking of a session over the NOOP limit ends it at the same command.
    #[test]
    fn any_chunking_ends_a_noop_session_at_the_same_command(
        cuts in proptest::collection::vec(any::<usize>(), 0..20),
    ) {
        let app = App::new(two_messages());
        let config = ServerConfig { max_junk_commands: 3, ..plain() };
        let input: &[u8] = b"USER u\r\nPASS tanstaaf\r\nNOOP\r\nSTAT\r\nNOOP\r\nNOOP\r\nNOOP\r\nQUIT\r\n";
        let (whole, _) = run_with(config.clone(), &app, &[input]);
        prop_assert!(whole.closed);
        prop_assert!(whole.transcript.ends_with("+OK\r\n-ERR too many commands, closing\r\n"));
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.sort_unstable();
        let mut chunks = Vec::new();
        let mut last = 0;
        for point in points {
            chunks.push(&input[last..point]);
            last = point;
        }
        chunks.push(&input[last..]);
        let (split, _) = run_with(config, &app, &chunks);
        prop_assert_eq!(&split.transcript, &whole.transcript);
        prop_assert_eq!(&split.events, &whole.events);
    }
}
