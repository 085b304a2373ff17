//! `Client::outcome`: how the session ended, in one place, with whether the deletions were
//! committed.

use alloc::string::String;

use super::*;
use crate::types::Username;

fn client() -> Client {
    let config = ClientConfig {
        tls: TlsPolicy::Never,
        allow_plaintext_auth: true,
        ..ClientConfig::default()
    };
    let credentials = Credentials::User {
        name: Username::new("alice").unwrap(),
        password: Secret::new(String::from("secret")),
    };
    Client::new(config, credentials)
}

/// Hands `server` to the client and drains it; gives what the client sent.
fn feed(client: &mut Client, server: &str) -> String {
    if !server.is_empty() {
        assert_eq!(client.receive(server.as_bytes()), server.len());
    }
    drain(client)
}

fn drain(client: &mut Client) -> String {
    let mut sent = String::new();
    for _ in 0..1000 {
        match client.poll_output() {
            Some(Output::Transmit(bytes)) => sent.push_str(core::str::from_utf8(&bytes).unwrap()),
            Some(_) => {}
            None => return sent,
        }
    }
    panic!("livelock");
}

/// A client logged in (RFC 1939 7, USER and PASS): in the TRANSACTION state.
fn logged_in() -> Client {
    let mut client = client();
    assert_eq!(feed(&mut client, "+OK POP3 ready\r\n"), "CAPA\r\n");
    assert_eq!(feed(&mut client, "+OK\r\nUSER\r\n.\r\n"), "USER alice\r\n");
    assert_eq!(feed(&mut client, "+OK\r\n"), "PASS secret\r\n");
    feed(&mut client, "+OK logged in\r\n");
    assert!(client.is_ready());
    client
}

// RFC 1939 6: `+OK` to QUIT in the TRANSACTION state commits the deletions.
#[test]
fn quit_with_ok_commits_rfc1939_6() {
    let mut client = logged_in();
    client.request(Request::Dele(MessageNumber::FIRST)).unwrap();
    client.request(Request::Quit).unwrap();
    assert_eq!(drain(&mut client), "DELE 1\r\n");
    assert_eq!(feed(&mut client, "+OK marked\r\n"), "QUIT\r\n");
    assert_eq!(client.outcome(), None, "open until the response");
    feed(&mut client, "+OK bye\r\n");
    assert!(client.is_closed());
    assert_eq!(client.outcome(), Some(&Outcome::Quit { committed: true }));
    assert!(client.outcome().is_some_and(Outcome::committed));
}

// RFC 1939 6: `-ERR` to QUIT: some deleted messages were not removed.
#[test]
fn quit_with_err_is_not_committed_rfc1939_6() {
    let mut client = logged_in();
    client.shut_down();
    assert_eq!(drain(&mut client), "QUIT\r\n");
    feed(&mut client, "-ERR some messages not removed\r\n");
    let outcome = client.outcome().unwrap();
    assert_eq!(outcome, &Outcome::Quit { committed: false });
    assert!(outcome.is_quit() && !outcome.committed());
}

// RFC 1939 6: a session that ends without QUIT never enters UPDATE: nothing is committed.
#[test]
fn connection_closed_is_a_failure_never_committed_rfc1939_6() {
    let mut client = logged_in();
    client.request(Request::Dele(MessageNumber::FIRST)).unwrap();
    drain(&mut client);
    feed(&mut client, "+OK marked\r\n");
    client.receive_eof();
    drain(&mut client);
    let outcome = client.outcome().unwrap();
    assert_eq!(outcome, &Outcome::Failed(Error::ConnectionClosed));
    assert!(!outcome.committed());
}

// `shut_down` before the login closes without QUIT.
#[test]
fn shut_down_before_login_is_shut_down() {
    let mut client = client();
    feed(&mut client, "+OK POP3 ready\r\n");
    client.shut_down();
    drain(&mut client);
    assert_eq!(client.outcome(), Some(&Outcome::ShutDown));
    assert_eq!(client.outcome().and_then(Outcome::error), None);
}

// RFC 1939 3: a server that does not answer in time.
#[test]
fn timeout_is_a_failure_rfc1939_3() {
    let mut client = logged_in();
    client.request(Request::Stat).unwrap();
    drain(&mut client);
    client.handle_timeout();
    drain(&mut client);
    assert_eq!(client.outcome(), Some(&Outcome::Failed(Error::Timeout)));
}

// RFC 1939 3: a response that is neither `+OK` nor `-ERR` is a protocol violation.
#[test]
fn malformed_response_is_a_protocol_violation_rfc1939_3() {
    let mut client = client();
    feed(&mut client, "HELLO\r\n");
    let error = client.outcome().and_then(Outcome::error).unwrap();
    assert!(matches!(error, Error::MalformedResponse(_)));
    assert!(error.is_protocol_violation());
}

// RFC 1939 7 and RFC 2449 8.1.2: a refused login is the outcome even though QUIT goes out
// after it; the outcome is there only once the session closed.
#[test]
fn refused_login_stays_the_outcome_after_quit_rfc1939_7() {
    let mut client = client();
    feed(&mut client, "+OK POP3 ready\r\n");
    feed(&mut client, "+OK\r\nUSER\r\n.\r\n");
    feed(&mut client, "+OK\r\n");
    assert_eq!(
        feed(&mut client, "-ERR [AUTH] invalid password\r\n"),
        "QUIT\r\n"
    );
    assert_eq!(client.outcome(), None);
    feed(&mut client, "+OK bye\r\n");
    let Some(Outcome::Failed(Error::LoginFailed { response, .. })) = client.outcome() else {
        panic!("{:?}", client.outcome())
    };
    assert!(response.code.is_some());
    assert!(!client.outcome().unwrap().committed());
}
