use super::*;
use crate::types::strategies;
use alloc::string::{String, ToString};
use alloc::vec;
use proptest::prelude::*;

#[test]
fn reply_codes() {
    for valid in [
        200, 211, 214, 220, 250, 259, 334, 354, 421, 455, 500, 530, 550, 555, 559,
    ] {
        assert_eq!(
            ReplyCode::new(valid).map(ReplyCode::get),
            Ok(valid),
            "{valid}"
        );
    }
    // RFC 5321 4.2: %x32-35 %x30-35 %x30-39.
    for (invalid, offset) in [
        (0, 0),
        (99, 0),
        (199, 0),
        (260, 1),
        (299, 1),
        (360, 1),
        (600, 0),
        (999, 0),
        (1250, 0),
    ] {
        let error = ReplyCode::new(invalid).unwrap_err();
        assert_eq!(error.offset(), offset, "{invalid}");
    }
}

#[test]
fn reply_code_digits() {
    assert_eq!(ReplyCode::from_digits(b"250 ok"), Ok(ReplyCode::OK));
    assert_eq!(
        ReplyCode::from_digits(b"554"),
        Ok(ReplyCode::TRANSACTION_FAILED)
    );
    assert_eq!(ReplyCode::from_digits(b"150"), Err(0));
    assert_eq!(ReplyCode::from_digits(b"2a0"), Err(1));
    assert_eq!(ReplyCode::from_digits(b"26"), Err(1));
    assert_eq!(ReplyCode::from_digits(b"25x"), Err(2));
    assert_eq!(ReplyCode::from_digits(b"25"), Err(2));
    assert_eq!(ReplyCode::from_digits(b""), Err(0));
    assert_eq!(ReplyCode::OK.digits(), *b"250");
    assert_eq!(ReplyCode::START_DATA.to_string(), "354");
}

#[test]
fn reply_classes() {
    assert_eq!(ReplyCode::READY.class(), ReplyClass::Positive);
    assert_eq!(ReplyCode::AUTH_CHALLENGE.class(), ReplyClass::Intermediate);
    assert_eq!(
        ReplyCode::SERVICE_UNAVAILABLE.class(),
        ReplyClass::TransientNegative
    );
    assert_eq!(
        ReplyCode::MAILBOX_UNAVAILABLE.class(),
        ReplyClass::PermanentNegative
    );
    let constants = [
        (ReplyCode::SYSTEM_STATUS, 211),
        (ReplyCode::HELP, 214),
        (ReplyCode::READY, 220),
        (ReplyCode::CLOSING, 221),
        (ReplyCode::AUTH_SUCCESS, 235),
        (ReplyCode::OK, 250),
        (ReplyCode::WILL_FORWARD, 251),
        (ReplyCode::CANNOT_VERIFY, 252),
        (ReplyCode::AUTH_CHALLENGE, 334),
        (ReplyCode::START_DATA, 354),
        (ReplyCode::SERVICE_UNAVAILABLE, 421),
        (ReplyCode::MAILBOX_BUSY, 450),
        (ReplyCode::LOCAL_ERROR, 451),
        (ReplyCode::INSUFFICIENT_STORAGE, 452),
        (ReplyCode::TEMPORARY_TLS_OR_AUTH_FAILURE, 454),
        (ReplyCode::PARAMETERS_NOT_ACCOMMODATED, 455),
        (ReplyCode::COMMAND_UNRECOGNIZED, 500),
        (ReplyCode::PARAMETER_SYNTAX_ERROR, 501),
        (ReplyCode::COMMAND_NOT_IMPLEMENTED, 502),
        (ReplyCode::BAD_SEQUENCE, 503),
        (ReplyCode::PARAMETER_NOT_IMPLEMENTED, 504),
        (ReplyCode::AUTH_REQUIRED, 530),
        (ReplyCode::AUTH_MECHANISM_TOO_WEAK, 534),
        (ReplyCode::AUTH_CREDENTIALS_INVALID, 535),
        (ReplyCode::ENCRYPTION_REQUIRED, 538),
        (ReplyCode::MAILBOX_UNAVAILABLE, 550),
        (ReplyCode::USER_NOT_LOCAL, 551),
        (ReplyCode::EXCEEDED_STORAGE, 552),
        (ReplyCode::MAILBOX_NAME_NOT_ALLOWED, 553),
        (ReplyCode::TRANSACTION_FAILED, 554),
        (ReplyCode::PARAMETERS_NOT_RECOGNIZED, 555),
    ];
    for (constant, number) in constants {
        assert_eq!(ReplyCode::new(number), Ok(constant), "{number}");
    }
}

#[test]
fn enhanced_status_codes() {
    // RFC 3463 2, and its example 2.1.23.
    for (text, parts) in [
        ("2.0.0", (2, 0, 0)),
        ("2.1.23", (2, 1, 23)),
        ("4.7.12", (4, 7, 12)),
        ("5.1.1", (5, 1, 1)),
        ("5.7.30", (5, 7, 30)),
        ("5.999.999", (5, 999, 999)),
        ("5.100.0", (5, 100, 0)),
    ] {
        let status: EnhancedStatus = text.parse().unwrap();
        assert_eq!((status.class(), status.subject(), status.detail()), parts);
        assert_eq!(status.to_string(), text);
    }
    for text in [
        "", "3.0.0", "1.0.0", "6.0.0", "5.01.1", "5.1.01", "5.00.0", "5.1000.1", "5.1.1000",
        "5..1", "5.1", "5.1.", "5.1.1.", " 5.1.1", "5.1.1 ", "5.1.1x", "x.1.1", "55.1.1", "5-1-1",
    ] {
        assert!(text.parse::<EnhancedStatus>().is_err(), "{text:?}");
    }
    assert!(EnhancedStatus::new(3, 0, 0).is_err());
    assert!(EnhancedStatus::new(5, 1000, 0).is_err());
    assert!(EnhancedStatus::new(5, 0, 1000).is_err());
    assert_eq!(
        EnhancedStatus::new(5, 1, 1),
        Ok(EnhancedStatus::BAD_DESTINATION_MAILBOX)
    );
    assert!(EnhancedStatus::SENDER_OK.agrees_with(ReplyCode::OK));
    assert!(!EnhancedStatus::SENDER_OK.agrees_with(ReplyCode::MAILBOX_UNAVAILABLE));
}

#[test]
fn status_prefixes() {
    assert_eq!(
        parse_status_prefix(b"2.1.0 Ok"),
        Some((EnhancedStatus::SENDER_OK, 5))
    );
    assert_eq!(
        parse_status_prefix(b"2.1.0"),
        Some((EnhancedStatus::SENDER_OK, 5))
    );
    assert_eq!(
        parse_status_prefix(b"5.7.30 REQUIRETLS"),
        Some((EnhancedStatus::REQUIRETLS_REQUIRED, 6))
    );
    for text in [
        &b"2.1.0Ok"[..],
        b"2.1.0\tOk",
        b"2.1",
        b"2.01.0 x",
        b"Ok",
        b"",
        b"250",
    ] {
        assert_eq!(parse_status_prefix(text), None, "{text:?}");
    }
}

/// RFC 3463 2 (`class "." subject "." detail`, each `1*3digit` without a leading zero): the
/// one-digit shortcut gives what the digit-by-digit reading gives, whatever follows the
/// fifth octet.
#[test]
fn rfc3463_2_one_digit_status_codes_and_what_follows_them() {
    for class in [b'1', b'2', b'3', b'4', b'5', b'6', b'x'] {
        for subject in [b'0', b'1', b'7', b'9', b'a', b'.'] {
            for (detail, next) in [
                (b'0', None),
                (b'0', Some(b' ')),
                (b'5', Some(b'0')),
                (b'0', Some(b'5')),
                (b'1', Some(b'5')),
                (b'1', Some(b'x')),
                (b'1', Some(b'\t')),
                (b'9', Some(b'.')),
                (b':', None),
            ] {
                let mut text = vec![class, b'.', subject, b'.', detail];
                text.extend(next);
                text.extend_from_slice(b" rest");
                let digit = |b: u8| b.is_ascii_digit();
                let expected = match (class, next) {
                    (b'2' | b'4' | b'5', None | Some(b' ')) if digit(subject) && digit(detail) => {
                        Some((
                            EnhancedStatus::new(
                                class - b'0',
                                u16::from(subject - b'0'),
                                u16::from(detail - b'0'),
                            )
                            .unwrap(),
                            5,
                        ))
                    }
                    // `x.y.15`, `x.y.50`: two digits of detail, the first not a zero.
                    (b'2' | b'4' | b'5', Some(next))
                        if digit(subject) && digit(next) && (b'1'..=b'9').contains(&detail) =>
                    {
                        let detail = u16::from(detail - b'0') * 10 + u16::from(next - b'0');
                        Some((
                            EnhancedStatus::new(class - b'0', u16::from(subject - b'0'), detail)
                                .unwrap(),
                            6,
                        ))
                    }
                    // A leading zero, another octet than a digit or a space: none.
                    _ => None,
                };
                assert_eq!(
                    parse_status_prefix(&text),
                    expected,
                    "{:?}",
                    String::from_utf8_lossy(&text)
                );
            }
        }
    }
}

#[test]
fn reply_texts() {
    for valid in [
        "",
        "OK",
        "Hello\there",
        "a b  c ",
        "~!@#$%^&*()",
        "grüße, 你好",
        "\u{2028}",
    ] {
        assert_eq!(
            ReplyText::new(valid).map(|t| t.to_string()),
            Ok(valid.to_string())
        );
    }
    for (invalid, offset) in [
        ("\r", 0),
        ("\n", 0),
        ("ok\r\nDATA", 2),
        ("ok\nDATA", 2),
        ("\0", 0),
        ("a\x7f", 1),
        ("a\x1b[31m", 1),
        ("\x0b", 0),
    ] {
        let error = ReplyText::new(invalid).unwrap_err();
        assert_eq!(error.offset(), offset, "{invalid:?}");
    }
    assert!(check_reply_text("grüße", false).is_err());
    assert!(check_reply_text("grüße", true).is_ok());
    let mut text = ReplyText::new("2.1.0 Ok").unwrap();
    text.drop_front(6);
    assert_eq!(text.as_str(), "Ok");
    let mut owned = ReplyText::new(String::from("2.1.0 Ok")).unwrap();
    owned.drop_front(6);
    assert_eq!(owned.as_str(), "Ok");
}

#[test]
fn replies() {
    let reply = Reply::new(ReplyCode::OK, "OK").unwrap();
    assert_eq!(reply.code(), ReplyCode::OK);
    assert_eq!(reply.status(), None);
    assert_eq!(reply.lines().len(), 1);
    assert!(reply.is_positive());
    assert!(!reply.is_intermediate() && !reply.is_transient_negative());
    assert!(!reply.is_permanent_negative());
    assert_eq!(reply.to_string(), "250 OK");

    assert!(Reply::new(ReplyCode::OK, "OK\r\nDATA").is_err());
    assert!(
        Reply::with_status(ReplyCode::OK, EnhancedStatus::BAD_DESTINATION_MAILBOX, "x").is_err()
    );
    assert!(
        Reply::with_status(ReplyCode::START_DATA, EnhancedStatus::SUCCESS, "go ahead").is_err()
    );
    let status = Reply::with_status(
        ReplyCode::MAILBOX_UNAVAILABLE,
        EnhancedStatus::BAD_DESTINATION_MAILBOX,
        "",
    )
    .unwrap();
    assert_eq!(status.to_string(), "550 5.1.1");
    assert!(status.is_permanent_negative());

    let empty = Reply::from_lines(ReplyCode::OK, Vec::<&str>::new()).unwrap();
    assert_eq!(empty.lines(), [ReplyText::empty()]);
    assert_eq!(empty.to_string(), "250");

    let mut multi = Reply::from_lines(ReplyCode::OK, ["mx.example", "PIPELINING"]).unwrap();
    multi.push_line(ReplyText::new("8BITMIME").unwrap());
    assert_eq!(
        multi.to_string(),
        "250-mx.example\n250-PIPELINING\n250 8BITMIME"
    );
    let multi = multi.set_status(EnhancedStatus::SUCCESS).unwrap();
    assert_eq!(
        multi.to_string(),
        "250-2.0.0 mx.example\n250-2.0.0 PIPELINING\n250 2.0.0 8BITMIME"
    );
    assert!(Reply::from_lines(ReplyCode::OK, ["ok", "bad\n"]).is_err());

    let owned = Reply::new(ReplyCode::HELP, String::from("help"))
        .unwrap()
        .into_owned();
    assert_eq!(owned.into_lines(), [ReplyText::new("help").unwrap()]);
}

proptest! {
    #[test]
    fn reply_code_accepts_exactly_the_grammar(code in 0u16..1200) {
        let digits = alloc::format!("{code:03}");
        let valid = digits.len() == 3 && reply_code_error(digits.as_bytes()).is_none();
        prop_assert_eq!(ReplyCode::new(code).is_ok(), valid);
        prop_assert_eq!(ReplyCode::from_digits(digits.as_bytes()).is_ok(), valid);
    }

    #[test]
    fn enhanced_status_display_parses_back(status in strategies::enhanced_status()) {
        prop_assert_eq!(status.to_string().parse::<EnhancedStatus>(), Ok(status));
    }

    #[test]
    fn reply_text_refuses_controls(
        text in "\\PC{0,20}",
        // Every C0 control but HT, which reply text allows.
        control in (0u8..0x1f).prop_map(|c| if c >= b'\t' { c + 1 } else { c }),
        at in 0usize..20,
    ) {
        let mut text: String = text;
        let at = (0..=at.min(text.len())).rev().find(|i| text.is_char_boundary(*i)).unwrap();
        text.insert(at, char::from(control));
        prop_assert!(ReplyText::new(text).is_err());
    }
}

/// The digit-by-digit sub-code reader agrees with counting the digits first, on every text of
/// up to five octets over digits, a leading-zero digit and the octets that end a sub-code.
#[test]
fn sub_code_agrees_with_counting_digits() {
    fn reference(text: &[u8]) -> Option<(u16, usize)> {
        let len = text
            .iter()
            .take(4)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if len == 0 || len > 3 || (len > 1 && text.first() == Some(&b'0')) {
            return None;
        }
        let value = text
            .get(..len)?
            .iter()
            .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
        Some((value, len))
    }
    let alphabet = b"0159. a";
    let mut texts: Vec<Vec<u8>> = vec![Vec::new()];
    for _ in 0..5 {
        let longer: Vec<Vec<u8>> = texts
            .iter()
            .filter(|text| text.len() == texts.last().map_or(0, Vec::len))
            .flat_map(|text| {
                alphabet.iter().map(move |&b| {
                    let mut next = text.clone();
                    next.push(b);
                    next
                })
            })
            .collect();
        texts.extend(longer);
    }
    assert!(texts.len() > 19_000);
    for text in &texts {
        assert_eq!(super::sub_code(text), reference(text), "{text:?}");
    }
}

/// `class "." digit "." digit SP`, octet by octet: what [`super::short_status`] reads as a word.
fn short_status_reference(head: &[u8]) -> Option<EnhancedStatus> {
    match *head {
        [
            class @ (b'2' | b'4' | b'5'),
            b'.',
            subject @ b'0'..=b'9',
            b'.',
            detail @ b'0'..=b'9',
            b' ',
        ] => Some(EnhancedStatus::known(
            class - b'0',
            u16::from(subject - b'0'),
            u16::from(detail - b'0'),
        )),
        _ => None,
    }
}

/// The word reading of a short status code agrees with the octet-by-octet one with any two of
/// its six octets set to every pair of values, around codes that match and one that does not.
#[test]
fn short_status_agrees_octet_by_octet() {
    for template in [b"2.1.0 ", b"5.9.9 ", b"3.0.0 "] {
        for first in 0..6 {
            for second in first + 1..6 {
                for a in 0..=255u8 {
                    for b in 0..=255u8 {
                        let mut head = *template;
                        head[first] = a;
                        head[second] = b;
                        assert_eq!(
                            super::short_status(&head),
                            short_status_reference(&head),
                            "{head:?}"
                        );
                    }
                }
            }
        }
    }
}

proptest! {
    /// Any octets, mostly those of status codes, at any alignment: the same as octet by octet.
    #[test]
    fn status_prefix_agrees_octet_by_octet(
        text in prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(b"0124559. ".to_vec()),
                1 => any::<u8>(),
            ],
            0..40,
        ),
        shift in 0usize..8,
    ) {
        let mut buffer = vec![b'x'; shift];
        buffer.extend_from_slice(&text);
        let text = &buffer[shift..];
        prop_assert_eq!(parse_status_prefix(text), super::parse_status_prefix_apart(text));
    }
}
