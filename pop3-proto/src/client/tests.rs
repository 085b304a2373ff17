use super::*;
use crate::server::{self, Answer, MessageInfo, Server, ServerConfig, ServerMechanisms};
use crate::types::{KnownCode, Text, Timestamp, UniqueId};
use alloc::string::ToString;
use alloc::vec;
use mail_wire::sasl::{
    CramMd5Client, LoginClient, OAuthBearerClient, PlainClient, ScramSecret, ScramSha256Client,
    XOAuth2Client,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// The in-memory pair.

/// What the application asks once ready (all at once; the client pipelines or queues).
#[derive(Debug, Clone)]
struct Script {
    requests: Vec<Request>,
}

#[derive(Debug, Default)]
struct PairRun {
    client_events: Vec<Event>,
    server_events: Vec<server::Event>,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    client_closed: bool,
    server_closed: bool,
}

impl PairRun {
    fn errors(&self) -> Vec<&Error> {
        self.client_events
            .iter()
            .filter_map(|e| match e {
                Event::Error(error) => Some(error),
                _ => None,
            })
            .collect()
    }

    /// The bodies retrieved, by message, in order.
    fn bodies(&self) -> Vec<(MessageNumber, Vec<u8>)> {
        let mut out = Vec::new();
        let mut current: Option<(MessageNumber, Vec<u8>)> = None;
        for event in &self.client_events {
            match event {
                Event::Message { message, .. } => current = Some((*message, Vec::new())),
                Event::Body(chunk) => {
                    if let Some((_, body)) = &mut current {
                        body.extend_from_slice(chunk);
                    }
                }
                Event::MessageEnd(_) => out.extend(current.take()),
                _ => {}
            }
        }
        out
    }

    fn client_text(&self) -> String {
        String::from_utf8_lossy(&self.to_server).into_owned()
    }
}

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

/// The maildrop the server side serves.
#[derive(Debug, Clone)]
struct Store {
    messages: Vec<Vec<u8>>,
    commit_ok: bool,
}

impl Store {
    fn new(messages: &[&[u8]]) -> Self {
        Self {
            messages: messages.iter().map(|m| m.to_vec()).collect(),
            commit_ok: true,
        }
    }

    fn listing(&self) -> Vec<MessageInfo> {
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| MessageInfo {
                size: m.len() as u64,
                uid: UniqueId::new(alloc::format!("uid{}", i + 1)).unwrap(),
            })
            .collect()
    }
}

fn pair(
    mut client: Client,
    mut server: Server,
    store: &Store,
    script: Script,
    c2s: &[usize],
    s2c: &[usize],
) -> PairRun {
    let mut run = PairRun::default();
    let mut script = Some(script);
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
                    if event == Event::Ready {
                        for request in script.take().map(|s| s.requests).unwrap_or_default() {
                            client.request(request).unwrap();
                        }
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
                        server::Event::Login(login) => {
                            let answer = if login.verify_secret(b"tanstaaf")
                                || matches!(login, server::Login::Sasl { credentials, .. } if credentials.verify_token(b"token-123") || credentials.is_verified())
                            {
                                Answer::Open(store.listing())
                            } else {
                                Answer::reject("[AUTH] invalid credentials").unwrap()
                            };
                            server.answer(answer).unwrap();
                        }
                        server::Event::LookupSecret { username, .. } => {
                            // The SCRAM users this server knows: mrose, password tanstaaf.
                            let secret = (username == "mrose").then(|| {
                                ScramSecret::derive("tanstaaf", b"salt of mrose", 4096).unwrap()
                            });
                            server.provide_secret(secret).unwrap();
                        }
                        server::Event::Retrieve { message, .. } => {
                            server.answer(Answer::Accept).unwrap();
                            for piece in store.messages[message.index()].chunks(5) {
                                server.send_body(piece).unwrap();
                            }
                            server.end_body().unwrap();
                        }
                        server::Event::Commit { .. } => {
                            let answer = if store.commit_ok {
                                Answer::Accept
                            } else {
                                Answer::Reply(Response::err(Text::empty()))
                            };
                            server.answer(answer).unwrap();
                        }
                        event if event.is_decision() => server.answer(Answer::Accept).unwrap(),
                        _ => {}
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
            (true, true) | (false, false) => return run,
            (true, false) => server.receive_eof(),
            (false, true) => client.receive_eof(),
        }
    }
    panic!("livelock");
}

fn n(number: u32) -> MessageNumber {
    MessageNumber::new(number).unwrap()
}

fn user() -> Credentials {
    Credentials::User {
        name: Username::new("mrose").unwrap(),
        password: Secret::new("tanstaaf".to_string()),
    }
}

fn plain_client() -> ClientConfig {
    ClientConfig {
        tls: TlsPolicy::Never,
        allow_plaintext_auth: true,
        ..ClientConfig::default()
    }
}

fn plain_server() -> ServerConfig {
    ServerConfig {
        plaintext_login: true,
        apop_timestamp: Some(Timestamp::new("<1896.697170952@dbc.mtview.ca.us>").unwrap()),
        sasl_mechanisms: ServerMechanisms::new()
            .plain()
            .login()
            .xoauth2()
            .oauthbearer()
            .cram_md5(|| "<1896.697170952@dbc.mtview.ca.us>".to_string())
            .scram_sha_256(
                mail_wire::sasl::ScramUnknownUsers::new(b"a server-wide secret key").unwrap(),
                || "server-nonce".to_string(),
            ),
        ..ServerConfig::default()
    }
}

fn store() -> Store {
    Store::new(&[
        b"Subject: one\r\n\r\n.starts with a dot\r\nbody\r\n",
        b".first line is a dot\r\n\r\n..\r\n.\r\n",
        b"Subject: three\r\n\r\nthree\r\n",
    ])
}

// ---------------------------------------------------------------------------------------------
// Against the server.

#[test]
fn every_request_against_the_server() {
    let store = store();
    let script = Script {
        requests: vec![
            Request::Stat,
            Request::List(None),
            Request::List(Some(n(2))),
            Request::Uidl(None),
            Request::Uidl(Some(n(3))),
            Request::Retr(n(1)),
            Request::Top(n(1), 0),
            Request::Retr(n(2)),
            Request::Dele(n(1)),
            Request::Retr(n(1)),
            Request::Noop,
            Request::Rset,
            Request::Dele(n(3)),
            Request::List(None),
            Request::Quit,
        ],
    };
    for pipelining in [true, false] {
        let config = ClientConfig {
            pipelining,
            ..plain_client()
        };
        let run = pair(
            Client::new(config, user()),
            Server::new(plain_server()),
            &store,
            script.clone(),
            &[3, 9, 1],
            &[7, 2, 40],
        );
        assert!(run.errors().is_empty(), "{:?}", run.errors());
        let events: Vec<&Event> = run
            .client_events
            .iter()
            .filter(|e| {
                !matches!(
                    e,
                    Event::Body(_) | Event::Greeting(_) | Event::Capabilities(_)
                )
            })
            .collect();
        let sizes: Vec<u64> = store.messages.iter().map(|m| m.len() as u64).collect();
        let total: u64 = sizes.iter().sum();
        assert!(matches!(events[0], Event::LoggedIn(_)));
        assert_eq!(events[1], &Event::Ready);
        assert_eq!(
            events[2],
            &Event::Stat {
                count: 3,
                size: total
            }
        );
        assert_eq!(
            events[3],
            &Event::Listing(
                (1..=3)
                    .map(|i| ScanListing {
                        message: n(i),
                        size: sizes[i as usize - 1]
                    })
                    .collect()
            )
        );
        assert_eq!(
            events[4],
            &Event::Scan(ScanListing {
                message: n(2),
                size: sizes[1]
            })
        );
        let Event::UniqueIds(uids) = events[5] else {
            panic!("{:?}", events[5])
        };
        assert_eq!(
            uids.iter().map(|u| u.uid.as_str()).collect::<Vec<_>>(),
            ["uid1", "uid2", "uid3"]
        );
        let Event::UniqueId(uid) = events[6] else {
            panic!()
        };
        assert_eq!(uid.uid.as_str(), "uid3");
        assert!(
            matches!(events[7], Event::Message { message, octets: Some(o), .. } if message.get() == 1 && *o == sizes[0])
        );
        let refused = events.iter().find_map(|e| match e {
            Event::Refused(request, response) => Some((request, response)),
            _ => None,
        });
        let (request, response) = refused.unwrap();
        assert_eq!(*request, Request::Retr(n(1)));
        assert_eq!(response.text.as_str(), "message 1 already deleted");
        let Some(Event::Listing(last)) =
            events.iter().rev().find(|e| matches!(e, Event::Listing(_)))
        else {
            panic!()
        };
        assert_eq!(last.len(), 2);
        assert!(matches!(
            events.last(),
            Some(Event::Closed {
                committed: true,
                ..
            })
        ));
        let bodies = run.bodies();
        assert_eq!(bodies[0], (n(1), store.messages[0].clone()));
        assert_eq!(bodies[1], (n(1), b"Subject: one\r\n\r\n".to_vec()));
        assert_eq!(bodies[2], (n(2), store.messages[1].clone()));
        // The commit named exactly message 3.
        let commit = run.server_events.iter().find_map(|e| match e {
            server::Event::Commit { deleted } => Some(deleted),
            _ => None,
        });
        assert_eq!(
            commit
                .unwrap()
                .iter()
                .map(|d| d.message.get())
                .collect::<Vec<_>>(),
            [3]
        );
        // With PIPELINING the requests went out in one flight, after the login.
        let text = run.client_text();
        if pipelining {
            assert!(
                text.contains("STAT\r\nLIST\r\nLIST 2\r\nUIDL\r\n"),
                "{text}"
            );
        }
        assert!(run.client_closed && run.server_closed);
    }
}

#[test]
fn quit_reports_a_failed_commit_and_empty_listings() {
    let mut store = Store::new(&[]);
    store.commit_ok = false;
    let run = pair(
        Client::new(plain_client(), user()),
        Server::new(plain_server()),
        &store,
        Script {
            requests: vec![
                Request::List(None),
                Request::Uidl(None),
                Request::Stat,
                Request::Quit,
            ],
        },
        &[],
        &[],
    );
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert!(run.client_events.contains(&Event::Listing(vec![])));
    assert!(run.client_events.contains(&Event::UniqueIds(vec![])));
    assert!(
        run.client_events
            .contains(&Event::Stat { count: 0, size: 0 })
    );
    assert!(run.client_events.iter().any(|e| matches!(
        e,
        Event::Closed {
            committed: false,
            ..
        }
    )));
}

#[test]
fn every_login_method() {
    let methods: Vec<(&str, Credentials)> = vec![
        ("USER", user()),
        (
            "APOP",
            Credentials::Apop {
                name: Username::new("mrose").unwrap(),
                secret: Secret::new("tanstaaf".to_string()),
            },
        ),
        (
            "PLAIN",
            Credentials::Sasl(vec![Box::new(
                PlainClient::new(None, "mrose", Secret::new("tanstaaf".to_string())).unwrap(),
            )]),
        ),
        (
            "LOGIN",
            Credentials::Sasl(vec![Box::new(LoginClient::new(
                "mrose",
                Secret::new("tanstaaf".to_string()),
            ))]),
        ),
        (
            "XOAUTH2",
            Credentials::Sasl(vec![Box::new(
                XOAuth2Client::new("mrose", Secret::new("token-123".to_string())).unwrap(),
            )]),
        ),
        (
            "OAUTHBEARER",
            Credentials::Sasl(vec![Box::new(
                OAuthBearerClient::new(Some("mrose"), Secret::new("token-123".to_string()))
                    .unwrap(),
            )]),
        ),
        // RFC 2195 through the server's registry (feature cram-md5).
        (
            "CRAM-MD5",
            Credentials::Sasl(vec![Box::new(
                CramMd5Client::new("mrose", Secret::new("tanstaaf".to_string())).unwrap(),
            )]),
        ),
        // RFC 5802 / RFC 7677, the secret looked up through Event::LookupSecret.
        (
            "SCRAM-SHA-256",
            Credentials::Sasl(vec![Box::new(
                ScramSha256Client::new(None, "mrose", "tanstaaf", "client-nonce").unwrap(),
            )]),
        ),
    ];
    for (name, credentials) in methods {
        let run = pair(
            Client::new(plain_client(), credentials),
            Server::new(plain_server()),
            &store(),
            Script {
                requests: vec![Request::Stat, Request::Quit],
            },
            &[5],
            &[3],
        );
        assert!(run.errors().is_empty(), "{name}: {:?}", run.errors());
        assert!(
            run.client_events
                .iter()
                .any(|e| matches!(e, Event::Stat { count: 3, .. })),
            "{name}"
        );
        if name != "USER" && name != "APOP" {
            assert!(
                run.client_text().contains(&alloc::format!("AUTH {name}")),
                "{name}"
            );
        }
    }
    // XOAUTH2 in two steps: without the initial response in the command.
    let config = ClientConfig {
        initial_response: false,
        ..plain_client()
    };
    let credentials = Credentials::Sasl(vec![Box::new(
        XOAuth2Client::new("mrose", Secret::new("token-123".to_string())).unwrap(),
    )]);
    let run = pair(
        Client::new(config, credentials),
        Server::new(plain_server()),
        &store(),
        Script {
            requests: vec![Request::Quit],
        },
        &[],
        &[],
    );
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert!(run.client_text().contains("AUTH XOAUTH2\r\n"));
}

#[test]
fn login_failure_carries_the_code() {
    let credentials = Credentials::User {
        name: Username::new("mrose").unwrap(),
        password: Secret::new("wrong".to_string()),
    };
    let run = pair(
        Client::new(plain_client(), credentials),
        Server::new(plain_server()),
        &store(),
        Script { requests: vec![] },
        &[],
        &[],
    );
    let errors = run.errors();
    let [
        Error::LoginFailed {
            response,
            cause: None,
        },
    ] = errors.as_slice()
    else {
        panic!("{errors:?}")
    };
    assert!(
        response
            .code
            .as_ref()
            .is_some_and(|c| c.is(KnownCode::Auth))
    );
    assert!(run.client_text().ends_with("QUIT\r\n"));
}

#[test]
fn stls_then_capabilities_again() {
    let config = ClientConfig {
        tls: TlsPolicy::Required,
        ..ClientConfig::default()
    };
    let server = ServerConfig {
        stls: true,
        plaintext_login: false,
        ..plain_server()
    };
    let run = pair(
        Client::new(config.clone(), user()),
        Server::new(server),
        &store(),
        Script {
            requests: vec![Request::Quit],
        },
        &[2],
        &[11],
    );
    assert!(run.errors().is_empty(), "{:?}", run.errors());
    assert!(
        run.client_text()
            .starts_with("CAPA\r\nSTLS\r\nCAPA\r\nUSER mrose\r\n")
    );
    let capabilities: Vec<&Option<Vec<Capability<'static>>>> = run
        .client_events
        .iter()
        .filter_map(|e| match e {
            Event::Capabilities(c) => Some(c),
            _ => None,
        })
        .collect();
    let [Some(before), Some(after)] = capabilities.as_slice() else {
        panic!()
    };
    assert!(before.contains(&Capability::Stls) && !before.contains(&Capability::User));
    assert!(!after.contains(&Capability::Stls) && after.contains(&Capability::User));

    // Required and not offered: nothing but CAPA and QUIT.
    let run = pair(
        Client::new(config, user()),
        Server::new(plain_server()),
        &store(),
        Script { requests: vec![] },
        &[],
        &[],
    );
    assert_eq!(run.errors(), [&Error::TlsUnavailable]);
    assert_eq!(run.client_text(), "CAPA\r\nQUIT\r\n");

    // No credentials over plaintext unless allowed.
    let config = ClientConfig {
        tls: TlsPolicy::Opportunistic,
        ..ClientConfig::default()
    };
    let run = pair(
        Client::new(config, user()),
        Server::new(plain_server()),
        &store(),
        Script { requests: vec![] },
        &[],
        &[],
    );
    assert_eq!(run.errors(), [&Error::AuthNeedsTls]);
    assert!(!run.client_text().contains("USER"));
}

// ---------------------------------------------------------------------------------------------
// Scripted servers that misbehave.

/// Feeds the pieces in turn to a client that logs in with USER/PASS in plaintext and, once
/// ready, sends `requests`.
fn scripted(
    config: ClientConfig,
    requests: &[Request],
    server: &[&[u8]],
) -> (Vec<Event>, String, bool) {
    scripted_requests(Client::new(config, user()), requests, server)
}

/// As `scripted`, logging in with `credentials`, no requests.
fn scripted_with(
    config: ClientConfig,
    credentials: Credentials,
    server: &[&[u8]],
) -> (Vec<Event>, String, bool) {
    scripted_requests(Client::new(config, credentials), &[], server)
}

fn scripted_requests(
    mut client: Client,
    requests: &[Request],
    server: &[&[u8]],
) -> (Vec<Event>, String, bool) {
    let mut events = Vec::new();
    let mut sent = String::new();
    let mut closed = false;
    let mut requests = Some(requests.to_vec());
    for piece in server {
        assert_eq!(client.receive(piece), (piece).len());
        while let Some(output) = client.poll_output() {
            match output {
                Output::Transmit(bytes) => sent.push_str(&String::from_utf8_lossy(&bytes)),
                Output::Event(event) => {
                    if event == Event::Ready {
                        for request in requests.take().unwrap_or_default() {
                            let _ = client.request(request);
                        }
                    }
                    events.push(event);
                }
                Output::StartTls => {}
                Output::Close => closed = true,
            }
        }
    }
    (events, sent, closed)
}

fn errors(events: &[Event]) -> Vec<&Error> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Error(error) => Some(error),
            _ => None,
        })
        .collect()
}

const LOGIN: [&[u8]; 4] = [
    b"+OK ready\r\n",
    b"+OK\r\nUSER\r\n.\r\n",
    b"+OK\r\n",
    b"+OK logged in\r\n",
];

fn after_login(pieces: &[&'static [u8]]) -> Vec<&'static [u8]> {
    let mut all = LOGIN.to_vec();
    all.extend_from_slice(pieces);
    all
}

#[test]
fn stls_response_injection() {
    let config = ClientConfig {
        tls: TlsPolicy::Required,
        ..ClientConfig::default()
    };
    let (events, sent, closed) = scripted(
        config.clone(),
        &[],
        &[
            b"+OK ready\r\n",
            b"+OK\r\nSTLS\r\n.\r\n",
            b"+OK begin TLS\r\n+OK\r\n",
        ],
    );
    assert_eq!(errors(&events), [&Error::ResponseInjection { octets: 5 }]);
    assert!(closed);
    assert_eq!(sent, "CAPA\r\nSTLS\r\n");
    // And a response that answers STLS before it was even sent.
    let (events, _, _) = scripted(
        config,
        &[],
        &[b"+OK ready\r\n", b"+OK\r\nSTLS\r\n.\r\n+OK begin TLS\r\n"],
    );
    assert_eq!(errors(&events), [&Error::Unsolicited]);
}

#[test]
fn capa_refused_falls_back() {
    let (events, sent, _) = scripted(
        plain_client(),
        &[Request::Stat],
        &[
            b"+OK ready\r\n",
            b"-ERR unknown command\r\n",
            b"+OK\r\n",
            b"+OK\r\n",
            b"+OK 2 320\r\n",
        ],
    );
    assert!(errors(&events).is_empty(), "{events:?}");
    assert!(events.contains(&Event::Capabilities(None)));
    assert!(events.contains(&Event::Stat {
        count: 2,
        size: 320
    }));
    assert_eq!(sent, "CAPA\r\nUSER mrose\r\nPASS tanstaaf\r\nSTAT\r\n");
}

#[test]
fn tolerant_where_nothing_is_lost() {
    let (events, _, _) = scripted(
        plain_client(),
        &[
            Request::Stat,
            Request::List(None),
            Request::List(Some(n(1))),
        ],
        &after_login(&[
            b"+OK 2 320 messages in maildrop\r\n",
            b"+OK scan listing follows\r\n1 120 extra info\r\n2 200\r\n.\r\n",
            b"+OK 1 120 octets\r\n",
        ]),
    );
    assert!(errors(&events).is_empty(), "{events:?}");
    assert!(events.contains(&Event::Stat {
        count: 2,
        size: 320
    }));
    assert!(events.contains(&Event::Scan(ScanListing {
        message: n(1),
        size: 120
    })));
    // Unknown CAPA tags with arguments, response codes.
    let (events, _, _) = scripted(
        plain_client(),
        &[Request::Retr(n(1))],
        &[
            b"+OK ready\r\n",
            b"+OK\r\nX-FANCY a b c\r\nEXPIRE 31 USER\r\nUSER\r\n.\r\n",
            b"+OK\r\n",
            b"+OK\r\n",
            b"-ERR [SYS/TEMP/DISK] try later\r\n",
        ],
    );
    assert!(errors(&events).is_empty(), "{events:?}");
    let refused = events.iter().find_map(|e| match e {
        Event::Refused(_, response) => Some(response),
        _ => None,
    });
    let code = refused.unwrap().code.as_ref().unwrap();
    assert!(code.is(KnownCode::SysTemp));
    assert_eq!(code.as_str(), "SYS/TEMP/DISK");
}

#[test]
fn strict_where_tolerance_would_be_wrong() {
    let cases: &[(&[Request], &[u8])] = &[
        (&[Request::Stat], b"+OK -1 5\r\n"),
        (&[Request::Stat], b"+OK 99999999999999999999999 5\r\n"),
        (&[Request::List(None)], b"+OK\r\n0 120\r\n.\r\n"),
        (&[Request::List(None)], b"+OK\r\n1 -120\r\n.\r\n"),
        (&[Request::Uidl(None)], b"+OK\r\n1 aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n.\r\n"),
        (&[Request::Uidl(None)], b"+OK\r\n1 has space\r\n.\r\n"),
        (&[Request::Noop], b"+ maybe\r\n"),
        (&[Request::Noop], b"OK\r\n"),
    ];
    for (requests, response) in cases {
        let (events, _, closed) = scripted(plain_client(), requests, &after_login(&[response]));
        let errors = errors(&events);
        assert!(
            matches!(errors.as_slice(), [Error::MalformedResponse(_)]),
            "{:?}: {errors:?}",
            String::from_utf8_lossy(response)
        );
        assert!(closed);
    }
    // A 71-character unique id by itself, too.
    let uid71 = alloc::format!("+OK 1 {}\r\n", "x".repeat(71));
    let mut pieces = LOGIN.to_vec();
    pieces.push(uid71.as_bytes());
    let (events, _, _) = scripted(plain_client(), &[Request::Uidl(Some(n(1)))], &pieces);
    assert!(matches!(
        errors(&events).as_slice(),
        [Error::MalformedResponse(_)]
    ));
    // Unsolicited.
    let (events, _, _) = scripted(plain_client(), &[], &after_login(&[b"+OK surprise\r\n"]));
    assert_eq!(errors(&events), [&Error::Unsolicited]);
    // An over-long first line.
    let long = alloc::format!("+OK {}\r\n", "x".repeat(600));
    let mut pieces = LOGIN.to_vec();
    pieces.push(long.as_bytes());
    let (events, _, _) = scripted(plain_client(), &[Request::Noop], &pieces);
    assert!(matches!(
        errors(&events).as_slice(),
        [Error::MalformedResponse(_)]
    ));
}

#[test]
fn unterminated_and_interrupted_messages() {
    // A message that never ends: bounded by the size limit.
    let config = ClientConfig {
        max_message_size: 1000,
        ..plain_client()
    };
    let mut client = Client::new(config, user());
    for piece in LOGIN {
        assert_eq!(client.receive(piece), (piece).len());
        while client.poll_output().is_some() {}
    }
    client.request(Request::Retr(n(1))).unwrap();
    assert_eq!(client.receive(b"+OK\r\n"), (b"+OK\r\n").len());
    let mut outputs = Vec::new();
    for _ in 0..100 {
        assert_eq!(client.receive(b"0123456789\r\n"), (b"0123456789\r\n").len());
        outputs.extend(core::iter::from_fn(|| client.poll_output()));
        if client.is_closed() {
            break;
        }
    }
    assert!(client.is_closed());
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::Event(Event::Error(Error::TooLarge {
            what: "message",
            ..
        }))
    )));
    // A line that never ends.
    let config = ClientConfig {
        max_body_line: 100,
        ..plain_client()
    };
    let (events, _, closed) = scripted(
        config,
        &[Request::Retr(n(1))],
        &after_login(&[b"+OK\r\n", &[b'x'; 60], &[b'y'; 60]]),
    );
    assert!(matches!(
        errors(&events).as_slice(),
        [Error::TooLarge {
            what: "message line",
            ..
        }]
    ));
    assert!(closed);
    // Long lines well past 2048 are fine by default.
    let long = [b"+OK\r\n".as_slice(), &[b'z'; 5000], b"\r\n.\r\n"].concat();
    let mut pieces = LOGIN.to_vec();
    pieces.push(&long);
    let (events, _, _) = scripted(plain_client(), &[Request::Retr(n(1))], &pieces);
    assert!(errors(&events).is_empty());
    assert!(events.contains(&Event::MessageEnd(n(1))));
    // The server closes in the middle of a message.
    let mut client = Client::new(plain_client(), user());
    for piece in LOGIN {
        assert_eq!(client.receive(piece), (piece).len());
        while client.poll_output().is_some() {}
    }
    client.request(Request::Retr(n(1))).unwrap();
    assert_eq!(
        client.receive(b"+OK 100 octets\r\nhalf a mess"),
        (b"+OK 100 octets\r\nhalf a mess").len()
    );
    client.receive_eof();
    let outputs: Vec<Output> = core::iter::from_fn(|| client.poll_output()).collect();
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Event(Event::Error(Error::ConnectionClosed))))
    );
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::Event(Event::MessageEnd(_))))
    );
    assert!(matches!(outputs.last(), Some(Output::Close)));
}

#[test]
fn bare_plus_continuation() {
    let credentials = Credentials::Sasl(vec![Box::new(LoginClient::new(
        "mrose",
        Secret::new("tanstaaf".to_string()),
    ))]);
    let mut client = Client::new(plain_client(), credentials);
    let mut sent = String::new();
    for piece in [
        &b"+OK ready\r\n"[..],
        b"+OK\r\nSASL LOGIN\r\n.\r\n",
        b"+\r\n",
        b"+ UGFzc3dvcmQ6\r\n",
        b"+OK\r\n",
    ] {
        assert_eq!(client.receive(piece), (piece).len());
        while let Some(output) = client.poll_output() {
            if let Output::Transmit(bytes) = output {
                sent.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }
    assert_eq!(sent, "CAPA\r\nAUTH LOGIN\r\nbXJvc2U=\r\ndGFuc3RhYWY=\r\n");
    assert!(client.is_ready());
}

#[test]
fn api_misuse() {
    let mut client = Client::new(plain_client(), user());
    assert_eq!(client.request(Request::Stat), Err(ApiError::NotReady));
    assert_eq!(client.tls_established(), Err(ApiError::NotStartingTls));
    let mut client = Client::new(
        plain_client(),
        Credentials::User {
            name: Username::new("u").unwrap(),
            password: Secret::new("a\r\nDELE 1".to_string()),
        },
    );
    for piece in &LOGIN[..3] {
        assert_eq!(client.receive(piece), (piece).len());
    }
    let outputs: Vec<Output> = core::iter::from_fn(|| client.poll_output()).collect();
    assert!(
        outputs
            .iter()
            .any(|o| matches!(o, Output::Event(Event::Error(Error::BadCredentials(_)))))
    );
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::Transmit(b) if b.windows(4).any(|w| w == b"DELE")))
    );
}

// ---------------------------------------------------------------------------------------------
// Properties.

fn body_strategy() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b"\r\n".to_vec()),
        Just(b".".to_vec()),
        Just(b"\r\n.\r\n".to_vec()),
        Just(b"..".to_vec()),
        proptest::collection::vec(
            any::<u8>().prop_filter("no CR/LF", |b| *b != b'\r' && *b != b'\n'),
            0..20
        ),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|pieces| {
        let mut body = pieces.concat();
        if !body.is_empty() && !body.ends_with(b"\r\n") {
            body.extend_from_slice(b"\r\n");
        }
        body
    })
}

proptest! {
    /// Any message (any octets, lines of dots, a dot first) arrives byte for byte, under any
    /// chunking in both directions, pipelined or not.
    #[test]
    fn messages_arrive_exactly(
        bodies in proptest::collection::vec(body_strategy(), 1..4),
        c2s in proptest::collection::vec(any::<usize>(), 1..8),
        s2c in proptest::collection::vec(any::<usize>(), 1..8),
        pipelining in any::<bool>(),
    ) {
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        let store = Store::new(&refs);
        let mut requests: Vec<Request> = (1..=bodies.len() as u32)
            .flat_map(|i| [Request::Retr(n(i)), Request::Dele(n(i))])
            .collect();
        requests.push(Request::Quit);
        let config = ClientConfig { pipelining, ..plain_client() };
        let run = pair(
            Client::new(config, user()),
            Server::new(plain_server()),
            &store,
            Script { requests },
            &c2s,
            &s2c,
        );
        prop_assert!(run.errors().is_empty(), "{:?}", run.errors());
        let got: Vec<Vec<u8>> = run.bodies().into_iter().map(|(_, body)| body).collect();
        prop_assert_eq!(got, bodies);
        let committed = run.client_events.iter().any(|e| matches!(e, Event::Closed { committed: true, .. }));
        prop_assert!(committed);
    }
}

/// RFC 6856 3.2 against this crate's server: the language listing (UTF-8 names), a selection
/// (the exact tag from the `+OK`), a refused range (the session goes on), pipelined or not.
#[test]
fn rfc6856_3_2_lang_requests_against_the_server() {
    use crate::types::{LanguageListing, LanguageTag};
    let listing = |tag: &str, name: Option<&str>| {
        LanguageListing::new(
            LanguageTag::new(tag).unwrap(),
            name.map(|n| Text::new(n).unwrap()),
        )
        .unwrap()
        .into_owned()
    };
    let offered = vec![
        listing("es", Some("Español")),
        listing("en", Some("English")),
        listing("sv", None),
    ];
    for pipelining in [true, false] {
        let config = ServerConfig {
            languages: offered.clone(),
            pipelining,
            ..plain_server()
        };
        let script = Script {
            requests: vec![
                Request::Languages,
                Request::Lang(LanguageTag::new("EN").unwrap()),
                Request::Lang(LanguageTag::new("uga").unwrap()),
                Request::Lang(LanguageTag::any()),
                Request::Quit,
            ],
        };
        let run = pair(
            Client::new(plain_client(), user()),
            Server::new(config),
            &store(),
            script,
            &[],
            &[],
        );
        assert!(run.errors().is_empty(), "{:?}", run.client_events);
        let capabilities = run.client_events.iter().find_map(|e| match e {
            Event::Capabilities(Some(c)) => Some(c),
            _ => None,
        });
        assert!(capabilities.unwrap().contains(&Capability::Lang));
        let lang: Vec<&Event> = run
            .client_events
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    Event::Languages(_) | Event::Language { .. } | Event::Refused(..)
                )
            })
            .collect();
        assert_eq!(lang.len(), 4, "{lang:?}");
        assert_eq!(lang[0], &Event::Languages(offered.clone()));
        assert!(
            matches!(lang[1], Event::Language { tag, response } if tag.as_ref().is_some_and(|t| t.as_str() == "en") && response.text.as_str() == "en English")
        );
        assert!(
            matches!(lang[2], Event::Refused(Request::Lang(range), _) if range.as_str() == "uga")
        );
        assert!(
            matches!(lang[3], Event::Language { tag, response } if tag.as_ref().is_some_and(|t| t.as_str() == "es") && response.text.as_str() == "es Español")
        );
        assert!(
            run.client_text()
                .contains("LANG\r\nLANG EN\r\nLANG uga\r\nLANG *\r\nQUIT\r\n")
        );
    }
}

/// RFC 6856 3.2: a `+OK` to `LANG range` should start with the language tag selected; one
/// that does not (`*` is no tag) names no language, and the session goes on.
#[test]
fn rfc6856_3_2_lang_response_without_a_tag_names_no_language() {
    use crate::types::LanguageTag;
    let (events, _, closed) = scripted(
        plain_client(),
        &[
            Request::Lang(LanguageTag::new("de").unwrap()),
            Request::Noop,
        ],
        &after_login(&[b"+OK * changed\r\n", b"+OK\r\n"]),
    );
    assert!(!closed);
    assert!(errors(&events).is_empty(), "{events:?}");
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Language { tag: None, response } if response.text.as_str() == "* changed")),
        "{events:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| matches!(e, Event::Done(Request::Noop, _)))
    );
}

/// Credentials from plain strings, checked as the commands they become (RFC 1939 7,
/// RFC 2449 4: a password fills at most a 255-octet PASS line).
#[test]
fn credentials_from_strings() {
    let credentials = Credentials::user("mrose", "tanstaaf").unwrap();
    assert!(matches!(&credentials, Credentials::User { name, .. } if name.as_str() == "mrose"));
    assert!(Credentials::user("two words", "x").is_err());
    assert!(Credentials::user("mrose", "a\r\nDELE 1").is_err());
    assert!(Credentials::user("mrose", "p".repeat(crate::types::MAX_ARGUMENT)).is_ok());
    assert!(Credentials::user("mrose", "p".repeat(crate::types::MAX_ARGUMENT + 1)).is_err());
    assert!(Credentials::apop("mrose", "tanstaaf").is_ok());
    assert!(Credentials::apop("", "tanstaaf").is_err());
    // A name that fills a USER line leaves no room for APOP's digest: refused before sending.
    let long = Credentials::apop("n".repeat(crate::types::MAX_ARGUMENT), "tanstaaf").unwrap();
    let (events, sent, closed) = scripted_with(
        plain_client(),
        long,
        &[b"+OK <1.2@host>\r\n", b"+OK\r\n.\r\n", b"+OK bye\r\n"],
    );
    assert!(
        matches!(
            errors(&events)[..],
            [Error::BadCredentials(InvalidValue::TooLong { .. })]
        ),
        "{events:?}"
    );
    assert_eq!(sent, "CAPA\r\nQUIT\r\n");
    assert!(closed);
}

/// RFC 2449 4: a command line is at most 255 octets, CRLF included. The client sends only
/// commands it builds itself (no `Command::Other`), and each, with its longest arguments,
/// fits: USER, PASS and LANG fill the line exactly, TOP with the largest numbers is short,
/// and an APOP that would not fit is refused before anything is sent
/// (`credentials_from_strings`).
#[test]
fn rfc2449_4_the_client_never_sends_a_line_over_255_octets() {
    let name = "n".repeat(crate::types::MAX_ARGUMENT);
    let password = "p".repeat(crate::types::MAX_ARGUMENT);
    let tag = "a".repeat(8) + &"-abcdefgh".repeat(26) + "-abcde";
    let credentials = Credentials::user(name.as_str(), password.as_str()).unwrap();
    let mut client = Client::new(plain_client(), credentials);
    let lang = LanguageTag::new(tag.as_str()).unwrap().into_owned();
    client.request(Request::Lang(lang)).unwrap();
    let requests = [Request::Top(n(u32::MAX), u32::MAX), Request::Quit];
    let (events, sent, _) = scripted_requests(
        client,
        &requests,
        &[
            b"+OK ready\r\n",
            b"+OK\r\nUSER\r\nLANG\r\n.\r\n",
            b"-ERR no such language\r\n",
            b"+OK\r\n",
            b"+OK logged in\r\n",
            b"+OK\r\nbody\r\n.\r\n",
            b"+OK bye\r\n",
        ],
    );
    assert!(errors(&events).is_empty(), "{events:?}");
    let lines: Vec<&str> = sent.split_inclusive("\r\n").collect();
    for line in &lines {
        assert!(
            line.len() <= crate::codec::MAX_COMMAND_LINE,
            "{} octets: {line:?}",
            line.len()
        );
    }
    assert_eq!(
        lines,
        [
            "CAPA\r\n",
            &alloc::format!("LANG {tag}\r\n"),
            &alloc::format!("USER {name}\r\n"),
            &alloc::format!("PASS {password}\r\n"),
            "TOP 4294967295 4294967295\r\n",
            "QUIT\r\n",
        ]
    );
    for filled in &lines[1..4] {
        assert_eq!(filled.len(), crate::codec::MAX_COMMAND_LINE);
    }
}

#[test]
fn the_epoch_stays_while_a_response_trickles_in_and_moves_at_its_end() {
    let mut client = Client::new(plain_client(), user());
    let start = client.timer_epoch();
    let mut epochs = Vec::new();
    for byte in b"+OK POP3 server ready\r\n" {
        assert_eq!(client.receive(core::slice::from_ref(byte)), 1);
        epochs.push(client.timer_epoch());
    }
    let last = epochs.len() - 1;
    assert!(epochs[..last].iter().all(|&e| e == start), "{epochs:?}");
    assert_ne!(epochs[last], start, "a complete response ends its deadline");
}
