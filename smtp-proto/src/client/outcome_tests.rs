//! `Client::outcome`: how the session ended, in one place.

use alloc::string::String;

use super::*;
use crate::types::Mailbox;

fn client() -> Client {
    Client::new(ClientConfig {
        tls: TlsPolicy::Never,
        ..ClientConfig::default()
    })
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

/// A client that was greeted and saw the EHLO response: ready.
fn ready() -> Client {
    let mut client = client();
    assert_eq!(
        feed(&mut client, "220 mx.example ESMTP\r\n"),
        "EHLO localhost\r\n"
    );
    feed(&mut client, "250-mx.example\r\n250 PIPELINING\r\n");
    assert!(client.is_ready());
    client
}

// RFC 5321 4.1.1.10: QUIT, answered with 221, ends the session as asked.
#[test]
fn quit_answered_is_the_outcome_rfc5321_4_1_1_10() {
    let mut client = ready();
    client.quit().unwrap();
    assert_eq!(drain(&mut client), "QUIT\r\n");
    assert_eq!(client.outcome(), None, "open until the reply");
    feed(&mut client, "221 2.0.0 Bye\r\n");
    assert!(client.is_closed());
    assert_eq!(client.outcome(), Some(&Outcome::Quit));
    assert!(client.outcome().is_some_and(Outcome::is_quit));
}

// RFC 5321 4.1.1.10: a server that closes after QUIT without replying still ends it as asked;
// and `shut_down` between messages is a QUIT.
#[test]
fn shut_down_when_ready_quits_rfc5321_4_1_1_10() {
    let mut client = ready();
    client.shut_down();
    assert_eq!(drain(&mut client), "QUIT\r\n");
    client.receive_eof();
    drain(&mut client);
    assert_eq!(client.outcome(), Some(&Outcome::Quit));
}

// `shut_down` during a message closes without QUIT: the message was not delivered.
#[test]
fn shut_down_during_a_message_is_shut_down() {
    let mut client = ready();
    let envelope = Envelope::new(Mailbox::parse("a@example.org").unwrap().into_owned())
        .to(Mailbox::parse("b@example.com").unwrap().into_owned());
    client.send_message(envelope).unwrap();
    drain(&mut client);
    client.shut_down();
    drain(&mut client);
    assert!(client.is_closed());
    assert_eq!(client.outcome(), Some(&Outcome::ShutDown));
    assert_eq!(client.outcome().and_then(Outcome::error), None);
}

// `shut_down` in the middle of a body (found by the smtp_client fuzz target): the message is
// reported, without results, and nothing of it goes after the close; the rest of the body and
// its end are refused.
#[test]
fn shut_down_in_the_middle_of_a_body_sends_nothing_after_the_close() {
    let mut client = ready();
    let envelope = Envelope::new(Mailbox::parse("a@example.org").unwrap().into_owned())
        .to(Mailbox::parse("b@example.com").unwrap().into_owned());
    client.send_message(envelope).unwrap();
    drain(&mut client);
    feed(&mut client, "250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go on\r\n");
    client.send_body(b"Subject: cut\r\n\r\nhal").unwrap();
    drain(&mut client);
    client.shut_down();
    let mut reports = 0;
    let mut closed = false;
    while let Some(output) = client.poll_output() {
        match output {
            Output::Event(Event::Sent(report)) => {
                assert!(!closed, "reported before the close");
                assert!(report.recipients.iter().all(|r| r.result.is_none()));
                reports += 1;
            }
            Output::Close => closed = true,
            Output::Transmit(bytes) => panic!("sent {bytes:?}"),
            Output::Event(_) | Output::StartTls => {}
        }
    }
    assert!(closed);
    assert_eq!(reports, 1);
    assert_eq!(client.send_body(b"f\r\n"), Err(ApiError::NotSendingBody));
    assert_eq!(client.end_body(), Err(ApiError::NotSendingBody));
    assert_eq!(drain(&mut client), "");
    assert_eq!(client.outcome(), Some(&Outcome::ShutDown));
}

// RFC 5321 3.8: a 421 ends the session; the outcome is the failure.
#[test]
fn service_closing_421_is_a_failure_rfc5321_3_8() {
    let mut client = ready();
    let envelope = Envelope::new(Mailbox::parse("a@example.org").unwrap().into_owned())
        .to(Mailbox::parse("b@example.com").unwrap().into_owned());
    client.send_message(envelope).unwrap();
    drain(&mut client);
    feed(&mut client, "421 4.3.2 Shutting down\r\n");
    assert!(client.is_closed());
    let Some(Outcome::Failed(Error::ServiceClosing(reply))) = client.outcome() else {
        panic!("{:?}", client.outcome())
    };
    assert_eq!(reply.code(), ReplyCode::SERVICE_UNAVAILABLE);
}

// RFC 5321 4.5.3.2: a server that does not answer in time.
#[test]
fn timeout_is_a_failure_rfc5321_4_5_3_2() {
    let mut client = client();
    client.handle_timeout();
    drain(&mut client);
    assert_eq!(client.outcome(), Some(&Outcome::Failed(Error::Timeout)));
}

// RFC 5321 4.2: a malformed reply is a protocol violation.
#[test]
fn malformed_reply_is_a_protocol_violation_rfc5321_4_2() {
    let mut client = client();
    feed(&mut client, "220-mx.example\r\n250 mismatched\r\n");
    let error = client.outcome().and_then(Outcome::error).unwrap();
    assert!(matches!(error, Error::MalformedReply(_)));
    assert!(error.is_protocol_violation());
}

// RFC 5321 3.1: a refused greeting is the outcome even though QUIT goes out after it; the
// outcome is there only once the session closed.
#[test]
fn refused_greeting_stays_the_outcome_after_quit_rfc5321_3_1() {
    let mut client = client();
    assert_eq!(feed(&mut client, "554 No service\r\n"), "QUIT\r\n");
    assert!(!client.is_closed());
    assert_eq!(client.outcome(), None);
    feed(&mut client, "221 Bye\r\n");
    let Some(Outcome::Failed(Error::Refused(reply))) = client.outcome() else {
        panic!("{:?}", client.outcome())
    };
    assert_eq!(reply.code().get(), 554);
}

// The connection closed by the server mid-session.
#[test]
fn connection_closed_is_a_failure() {
    let mut client = ready();
    client.receive_eof();
    drain(&mut client);
    assert_eq!(
        client.outcome(),
        Some(&Outcome::Failed(Error::ConnectionClosed))
    );
}
