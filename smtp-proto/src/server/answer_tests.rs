//! `Answer::reject` and `Answer::accept_with`: validated replies for decisions.

use alloc::string::String;
use alloc::vec::Vec;

use super::*;

/// Runs `client` line by line (each after the replies to the one before) against a server
/// that answers each `RCPT` with `rcpt`, the end of data with `message_end` and every other
/// decision with `Accept`; gives the transcript.
fn transcript(
    client: &[u8],
    rcpt: impl Fn() -> Answer,
    message_end: impl Fn() -> Answer,
) -> String {
    let mut server = Server::new(ServerConfig::default());
    let mut sent = String::new();
    let mut lines = client.split_inclusive(|b| *b == b'\n');
    for _ in 0..1000 {
        while let Some(output) = server.poll_output() {
            match output {
                Output::Transmit(bytes) => sent.push_str(core::str::from_utf8(&bytes).unwrap()),
                Output::Event(Event::RcptTo { .. }) => server.answer(rcpt()).unwrap(),
                Output::Event(Event::MessageEnd { .. }) => server.answer(message_end()).unwrap(),
                Output::Event(event) if event.is_decision() => {
                    server.answer(Answer::Accept).unwrap();
                }
                _ => {}
            }
        }
        let Some(line) = lines.next().filter(|_| !server.is_closed()) else {
            return sent;
        };
        assert_eq!(server.receive(line), line.len());
    }
    panic!("livelock");
}

const SESSION: &[u8] =
    b"EHLO c.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.com>\r\n\
    RCPT TO:<c@example.com>\r\nDATA\r\nhi\r\n.\r\nQUIT\r\n";

// RFC 5321 4.2.1 and RFC 2034 4: a refusal goes out with its code, status and text.
#[test]
fn reject_sends_the_refusal_with_its_status_rfc5321_4_2_1() {
    let text = transcript(
        SESSION,
        || {
            Answer::reject(
                ReplyCode::MAILBOX_UNAVAILABLE,
                EnhancedStatus::BAD_DESTINATION_MAILBOX,
                "No such user here",
            )
            .unwrap()
        },
        || Answer::Accept,
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines
            .iter()
            .filter(|l| **l == "550 5.1.1 No such user here")
            .count(),
        2
    );
    // With no recipient accepted, DATA is refused (RFC 5321 3.3) and nothing is delivered.
    assert!(lines.iter().any(|l| l.starts_with("554")));
    assert!(text.ends_with("221 2.0.0 Bye\r\n"));
}

// RFC 5321 4.2.1: a transient refusal without an enhanced status code; as the server
// advertises ENHANCEDSTATUSCODES, it gives the reply the class's generic one (RFC 2034 3).
#[test]
fn reject_without_status_rfc5321_4_2_1() {
    let text = transcript(
        SESSION,
        || Answer::reject(ReplyCode::new(451).unwrap(), None, "Greylisted, try later").unwrap(),
        || Answer::Accept,
    );
    assert!(
        text.contains("\r\n451 4.0.0 Greylisted, try later\r\n"),
        "{text}"
    );
}

// RFC 5321 4.2.1: an acceptance with the application's own text, after the message.
#[test]
fn accept_with_sends_the_application_text_rfc5321_4_2_1() {
    let text = transcript(
        SESSION,
        || Answer::Accept,
        || {
            Answer::accept_with(ReplyCode::OK, EnhancedStatus::SUCCESS, "Ok: queued as 4F2A")
                .unwrap()
        },
    );
    assert!(text.contains("\r\n250 2.0.0 Ok: queued as 4F2A\r\n"));
}

// RFC 5321 4.2.1: only 4yz and 5yz refuse, only 2yz accepts.
#[test]
fn reject_takes_only_4yz_and_5yz_and_accept_with_only_2yz_rfc5321_4_2_1() {
    for code in [211, 220, 250, 354] {
        let code = ReplyCode::new(code).unwrap();
        let error = Answer::reject(code, None, "text").unwrap_err();
        assert!(matches!(
            error,
            InvalidValue::Malformed {
                what: "reply code",
                ..
            }
        ));
    }
    for code in [421, 450, 451, 452, 500, 550, 554] {
        let code = ReplyCode::new(code).unwrap();
        assert!(Answer::reject(code, None, "text").is_ok());
        assert!(Answer::accept_with(code, None, "text").is_err());
    }
    assert!(Answer::accept_with(ReplyCode::START_DATA, None, "go on").is_err());
    assert_eq!(
        Answer::accept_with(ReplyCode::OK, None, "").unwrap(),
        Answer::Reply(Reply::new(ReplyCode::OK, "").unwrap())
    );
}

// RFC 2034 4 and RFC 3463 2: the enhanced status code's class is the reply code's first digit.
#[test]
fn reject_checks_the_status_class_rfc2034_4() {
    let permanent = ReplyCode::new(550).unwrap();
    let transient = ReplyCode::new(450).unwrap();
    assert!(Answer::reject(permanent, EnhancedStatus::MAILBOX_FULL_TRANSIENT, "x").is_err());
    assert!(Answer::reject(transient, EnhancedStatus::MAILBOX_FULL, "x").is_err());
    assert!(Answer::reject(transient, EnhancedStatus::MAILBOX_FULL_TRANSIENT, "x").is_ok());
    assert!(Answer::accept_with(ReplyCode::OK, EnhancedStatus::NOT_AUTHORIZED, "x").is_err());
    let Answer::Reply(reply) =
        Answer::reject(permanent, EnhancedStatus::MAILBOX_FULL, "x").unwrap()
    else {
        panic!("a reply")
    };
    assert_eq!(reply.status(), Some(EnhancedStatus::MAILBOX_FULL));
}

// RFC 5321 4.2: reply text holds no CR, LF or other control character, so an answer cannot
// inject a line.
#[test]
fn reject_checks_the_text_rfc5321_4_2() {
    let code = ReplyCode::new(550).unwrap();
    for bad in ["no\r\n250 ok", "a\nb", "nul\0", "del\x7f"] {
        assert!(Answer::reject(code, None, bad).is_err(), "{bad:?}");
        assert!(
            Answer::accept_with(ReplyCode::OK, None, String::from(bad)).is_err(),
            "{bad:?}"
        );
    }
    assert!(Answer::reject(code, None, String::from("tab\tand ünïcode")).is_ok());
}

// RFC 2034 4: without a status, a status code at the start of the text is what a client
// reads, so it must have the reply code's class as well: `550 4.2.2 ...` is refused; one of
// the right class is the reply's status; an explicit status keeps the text as it is.
#[test]
fn reject_refuses_text_starting_with_a_status_of_another_class_rfc2034_4() {
    let permanent = ReplyCode::new(550).unwrap();
    for (code, text) in [
        (permanent, "4.2.2 mailbox full"),
        (permanent, "2.0.0"),
        (ReplyCode::new(451).unwrap(), "5.7.1 go away"),
    ] {
        let error = Answer::reject(code, None, text).unwrap_err();
        assert!(
            matches!(
                error,
                InvalidValue::Malformed {
                    what: "reply text",
                    ..
                }
            ),
            "{code} {text}: {error:?}"
        );
    }
    assert!(Answer::accept_with(ReplyCode::OK, None, "5.1.1 no").is_err());
    // Not a status code: text like any other.
    for text in ["4.2.2x full", "4.02.2 full", "42 is the answer"] {
        assert!(Answer::reject(permanent, None, text).is_ok(), "{text}");
    }
    // A status of the right class in the text is accepted: whatever the client reads as the
    // status has the code's class.
    let text = transcript(
        SESSION,
        || Answer::reject(permanent, None, "5.2.2 mailbox full").unwrap(),
        || Answer::Accept,
    );
    let refusals: Vec<&str> = text.lines().filter(|l| l.starts_with("550 ")).collect();
    assert_eq!(refusals.len(), 2, "{text}");
    assert!(
        refusals
            .iter()
            .all(|l| l.starts_with("550 5.") && l.ends_with(" 5.2.2 mailbox full")),
        "{text}"
    );
    // With a status given, the text is only text.
    let Answer::Reply(reply) = Answer::reject(
        permanent,
        EnhancedStatus::MAILBOX_FULL,
        "4.2.2 said the backend",
    )
    .unwrap() else {
        panic!("a reply")
    };
    assert_eq!(reply.status(), Some(EnhancedStatus::MAILBOX_FULL));
    assert_eq!(reply.lines()[0].as_str(), "4.2.2 said the backend");
}
