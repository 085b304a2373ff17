use super::*;
use crate::types::{
    Domain, DuplicateParameter, EtrnNode, ExtensionParameters, ForwardPath, Host, InvalidValue,
    MAX_QUEUE_NAME, Mailbox, Path, QueueName, ReversePath,
};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use bytes::BytesMut;
use proptest::prelude::*;

fn parse(line: &str) -> Result<Command<'_>, DecodeError> {
    parse_command(line.as_bytes(), &CommandOptions::default())
}

fn parse_utf8(line: &str) -> Result<Command<'_>, DecodeError> {
    parse_command(line.as_bytes(), &CommandOptions::default().smtputf8(true))
}

fn encoded(command: &Command<'_>) -> String {
    let mut out = BytesMut::new();
    encode_command(command, &mut out);
    String::from_utf8(out.to_vec()).unwrap()
}

/// Decode, compare the canonical form, encode, decode again.
fn round_trip(line: &str, canonical: &str) {
    let command = parse_utf8(line).unwrap_or_else(|e| panic!("{line:?}: {e}"));
    let wire = encoded(&command);
    assert_eq!(wire, format!("{canonical}\r\n"), "{line:?}");
    let again = parse_utf8(&wire[..wire.len() - 2]).unwrap();
    assert_eq!(again, strip_routes(command));
}

fn strip_routes(command: Command<'_>) -> Command<'_> {
    command.without_routes()
}

#[test]
fn every_command_decodes_and_encodes() {
    for (line, canonical) in [
        ("EHLO foo.com", "EHLO foo.com"),
        ("ehlo [192.0.2.1]", "EHLO [192.0.2.1]"),
        ("EHLO [IPv6:2001:db8::1]", "EHLO [IPv6:2001:db8::1]"),
        ("HELO foo.com", "HELO foo.com"),
        ("LHLO lmtp.example", "LHLO lmtp.example"),
        ("MAIL FROM:<JQP@bar.com>", "MAIL FROM:<JQP@bar.com>"),
        ("mail from:<>", "MAIL FROM:<>"),
        (
            "MAIL FROM:<@a.example,@b.example:user@c.example>",
            "MAIL FROM:<user@c.example>",
        ),
        ("RCPT TO:<Jones@XYZ.COM>", "RCPT TO:<Jones@XYZ.COM>"),
        ("RCPT TO:<postmaster>", "RCPT TO:<Postmaster>"),
        (
            "RCPT TO:<\"john smith\"@[192.0.2.7]>",
            "RCPT TO:<\"john smith\"@[192.0.2.7]>",
        ),
        ("DATA", "DATA"),
        ("BDAT 1000", "BDAT 1000"),
        ("bdat 0 last", "BDAT 0 LAST"),
        ("RSET", "RSET"),
        ("VRFY Crispin", "VRFY Crispin"),
        ("VRFY <user@example.com>", "VRFY <user@example.com>"),
        ("EXPN Example-People", "EXPN Example-People"),
        ("HELP", "HELP"),
        ("HELP MAIL", "HELP MAIL"),
        ("NOOP", "NOOP"),
        ("NOOP anything at all", "NOOP anything at all"),
        ("QUIT", "QUIT"),
        ("StartTLS", "STARTTLS"),
        ("AUTH PLAIN", "AUTH PLAIN"),
        (
            "AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=",
            "AUTH PLAIN dGVzdAB0ZXN0ADEyMzQ=",
        ),
        ("AUTH EXTERNAL =", "AUTH EXTERNAL ="),
        ("ETRN @example.com", "ETRN @example.com"),
        ("ATRN", "ATRN"),
        ("ATRN a.example,b.example", "ATRN a.example,b.example"),
        (
            "BURL imap://x.example/INBOX;UIDVALIDITY=1/;UID=2 LAST",
            "BURL imap://x.example/INBOX;UIDVALIDITY=1/;UID=2 LAST",
        ),
        ("XCLIENT ADDR=192.0.2.1", "XCLIENT ADDR=192.0.2.1"),
        ("X-UNKNOWN", "X-UNKNOWN"),
    ] {
        round_trip(line, canonical);
    }
}

#[test]
fn decodes_mail_parameters() {
    let line = "MAIL FROM:<a@b.example> SIZE=12345 BODY=8BITMIME SMTPUTF8 RET=HDRS ENVID=QQ+2B314159 \
                AUTH=e+3Dmc2@example.com REQUIRETLS MT-PRIORITY=-3 \
                HOLDUNTIL=2026-12-01T10:00:00Z BY=120;RT X-FOO X-BAR=baz";
    let Command::Mail { parameters: p, .. } = parse(line).unwrap() else {
        panic!()
    };
    assert_eq!(p.size, Some(12345));
    assert_eq!(p.body, Some(Body::EightBitMime));
    assert!(p.smtputf8 && p.require_tls);
    assert_eq!(p.ret, Some(Ret::Headers));
    assert_eq!(p.envid.as_ref().unwrap().as_str(), "QQ+314159");
    let long = format!("MAIL FROM:<> ENVID={}", "x".repeat(101));
    assert!(matches!(
        parse(&long).unwrap_err().kind,
        ErrorKind::Invalid(InvalidValue::TooLong { what: "ENVID", .. })
    ));
    assert_eq!(
        p.auth.as_ref().unwrap().as_ref().unwrap().as_str(),
        "e=mc2@example.com"
    );
    assert_eq!(p.mt_priority.unwrap().get(), -3);
    assert_eq!(
        p.hold,
        Some(Hold::Until(DateTime::new("2026-12-01T10:00:00Z").unwrap()))
    );
    let by = p.by.unwrap();
    assert_eq!(
        (by.seconds(), by.return_on_expiry(), by.trace()),
        (120, true, true)
    );
    assert_eq!(p.other.len(), 2);
    assert_eq!(
        (p.other[1].keyword(), p.other[1].value()),
        ("X-BAR", Some("baz"))
    );
    round_trip(line, line);
    round_trip(
        "MAIL FROM:<> AUTH=<> MT-PRIORITY=4",
        "MAIL FROM:<> AUTH=<> MT-PRIORITY=4",
    );
}

#[test]
fn decodes_rcpt_parameters() {
    let line = "RCPT TO:<b@c.example> NOTIFY=SUCCESS,DELAY ORCPT=rfc822;b+2Bx@c.example RRVS=2014-04-03T23:01:00Z;C";
    let Command::Rcpt { parameters: p, .. } = parse(line).unwrap() else {
        panic!()
    };
    assert_eq!(p.notify, Some(Notify::On(Notify::SUCCESS | Notify::DELAY)));
    let orcpt = p.orcpt.as_ref().unwrap();
    assert_eq!(
        (orcpt.addr_type(), orcpt.address().as_str()),
        ("rfc822", "b+x@c.example")
    );
    assert_eq!(
        p.rrvs.as_ref().unwrap().on_unsupported,
        Some(RrvsAction::Continue)
    );
    round_trip(line, line);
    round_trip("RCPT TO:<a@b> NOTIFY=never", "RCPT TO:<a@b> NOTIFY=NEVER");
    // RFC 6533: the utf-8 address type, in both escaped and raw forms.
    let Command::Rcpt { parameters: p, .. } =
        parse("RCPT TO:<a@b> ORCPT=utf-8;j\\x{F6}rg@b").unwrap()
    else {
        panic!()
    };
    assert_eq!(p.orcpt.unwrap().address().as_str(), "jörg@b");
    let Command::Rcpt { parameters: p, .. } =
        parse_utf8("RCPT TO:<a@b> ORCPT=utf-8;jörg@b").unwrap()
    else {
        panic!()
    };
    assert_eq!(p.orcpt.as_ref().unwrap().address().as_str(), "jörg@b");
    assert_eq!(p.to_string(), " ORCPT=utf-8;j\\x{F6}rg@b");
}

#[test]
fn appendix_d_sessions_decode() {
    let lines = [
        "EHLO bar.com",
        "MAIL FROM:<Smith@bar.com>",
        "RCPT TO:<Jones@foo.com>",
        "RCPT TO:<Green@foo.com>",
        "RCPT TO:<Brown@foo.com>",
        "DATA",
        "QUIT",
        "EHLO foo.com",
        "MAIL FROM:<JQP@bar.com>",
        "RCPT TO:<Jones@XYZ.COM>",
        "VRFY Crispin",
        "RSET",
        "MAIL FROM:<EAK@bar.com>",
        "RCPT TO:<Admin.MRC@foo.com>",
    ];
    let mut stream = String::new();
    for line in lines {
        stream.push_str(line);
        stream.push_str("\r\n");
    }
    let mut rest = stream.as_bytes();
    let mut decoded = Vec::new();
    while !rest.is_empty() {
        let Decoded::Complete(command, used) =
            decode_command(rest, &CommandOptions::default()).unwrap()
        else {
            panic!("incomplete")
        };
        decoded.push(encoded(&command));
        rest = &rest[used..];
    }
    let want: Vec<String> = lines.iter().map(|l| format!("{l}\r\n")).collect();
    assert_eq!(decoded, want);
}

#[test]
fn invalid_commands_are_precise_errors() {
    use ErrorKind::*;
    let cases: &[(&str, usize, ErrorKind)] = &[
        (
            "MAIL FROM: <a@b>",
            10,
            Invalid(InvalidValue::UnexpectedChar {
                what: "path",
                offset: 0,
                found: ' ',
            }),
        ),
        (
            "MAIL FROM:<a@b> ",
            16,
            Invalid(InvalidValue::Empty { what: "keyword" }),
        ),
        (
            "MAIL FROM:<a@b>  SIZE=1",
            16,
            Invalid(InvalidValue::UnexpectedChar {
                what: "keyword",
                offset: 0,
                found: ' ',
            }),
        ),
        ("MAIL TO:<a@b>", 5, Syntax { expected: "FROM:" }),
        ("MAIL", 4, Syntax { expected: "FROM:" }),
        (
            "MAIL FROM:<a@b> SIZE=1 SIZE=2",
            23,
            DuplicateParameter {
                keyword: "SIZE".into(),
            },
        ),
        (
            "MAIL FROM:<a@b> X=1 x=2",
            20,
            DuplicateParameter {
                keyword: "x".into(),
            },
        ),
        (
            "MAIL FROM:<a@b> NOTIFY=NEVER",
            16,
            ParameterNotAllowed {
                keyword: "NOTIFY".into(),
            },
        ),
        (
            "RCPT TO:<a@b> SIZE=10",
            14,
            ParameterNotAllowed {
                keyword: "SIZE".into(),
            },
        ),
        (
            "MAIL FROM:<a@b> SIZE=123456789012345678901",
            21,
            NumberOutOfRange { what: "SIZE" },
        ),
        (
            "MAIL FROM:<a@b> SIZE=18446744073709551616",
            21,
            NumberOutOfRange { what: "SIZE" },
        ),
        ("MAIL FROM:<a@b> SIZE=-1", 21, Syntax { expected: "digits" }),
        (
            "MAIL FROM:<a@b> SIZE",
            16,
            InvalidParameterValue { keyword: "SIZE" },
        ),
        (
            "MAIL FROM:<a@b> BODY=9BIT",
            16,
            InvalidParameterValue { keyword: "BODY" },
        ),
        (
            "MAIL FROM:<a@b> SMTPUTF8=yes",
            16,
            InvalidParameterValue {
                keyword: "SMTPUTF8",
            },
        ),
        (
            "MAIL FROM:<a@b> MT-PRIORITY=10",
            16,
            InvalidParameterValue {
                keyword: "MT-PRIORITY",
            },
        ),
        (
            "MAIL FROM:<a@b> ENVID=a+0D+0ADATA",
            23,
            Invalid(InvalidValue::UnexpectedChar {
                what: "xtext",
                offset: 1,
                found: '\r',
            }),
        ),
        (
            "RCPT TO:<a@b> NOTIFY=NEVER,SUCCESS",
            14,
            InvalidParameterValue { keyword: "NOTIFY" },
        ),
        (
            "RCPT TO:<a@b> NOTIFY=SUCCESS,SUCCESS",
            14,
            InvalidParameterValue { keyword: "NOTIFY" },
        ),
        (
            "RCPT TO:<a@b> ORCPT=rfc822",
            14,
            InvalidParameterValue { keyword: "ORCPT" },
        ),
        (
            "DATA x",
            4,
            Syntax {
                expected: "end of line",
            },
        ),
        (
            "QUIT ",
            4,
            Syntax {
                expected: "end of line",
            },
        ),
        (
            "EHLO",
            4,
            Syntax {
                expected: "domain or address literal",
            },
        ),
        (
            "EHLO a_b.example",
            6,
            Invalid(InvalidValue::UnexpectedChar {
                what: "domain",
                offset: 6,
                found: '_',
            }),
        ),
        (
            "EHLO a.example junk",
            14,
            Syntax {
                expected: "end of line",
            },
        ),
        (
            "HELO [192.0.2.1]",
            5,
            Invalid(InvalidValue::UnexpectedChar {
                what: "domain",
                offset: 0,
                found: '[',
            }),
        ),
        ("BDAT x", 5, Syntax { expected: "digits" }),
        ("BDAT 10 FIRST", 8, Syntax { expected: "LAST" }),
        (
            "AUTH PL@IN",
            7,
            Invalid(InvalidValue::UnexpectedChar {
                what: "mechanism",
                offset: 2,
                found: '@',
            }),
        ),
        (
            "AUTH PLAIN ab*c",
            13,
            Invalid(InvalidValue::UnexpectedChar {
                what: "initial response",
                offset: 2,
                found: '*',
            }),
        ),
        (
            "VRFY",
            4,
            Syntax {
                expected: "argument",
            },
        ),
        (
            "NOOP  x",
            5,
            Invalid(InvalidValue::UnexpectedChar {
                what: "argument",
                offset: 0,
                found: ' ',
            }),
        ),
        (
            "NOOP a\tb",
            6,
            Invalid(InvalidValue::UnexpectedChar {
                what: "command",
                offset: 6,
                found: '\t',
            }),
        ),
        (
            "MA!L FROM:<a@b>",
            0,
            Syntax {
                expected: "command verb",
            },
        ),
        (
            "",
            0,
            Syntax {
                expected: "command verb",
            },
        ),
        ("RCPT TO:<a\0@b>", 10, Nul),
        ("RCPT TO:<jörg@b>", 10, NonAscii),
        ("RCPT TO:<a@b>\rDATA", 13, BareCr),
        ("RCPT TO:<a@b>\nDATA", 13, BareLf),
    ];
    for (line, offset, kind) in cases {
        let error = parse(line).unwrap_err();
        assert_eq!((error.offset, &error.kind), (*offset, kind), "{line:?}");
    }
}

/// RFC 6531 3.3: UTF-8 in a path is grammar once SMTPUTF8 is in effect for the session, with
/// or without the MAIL parameter (that 3.4 requires it is the server's to answer, 550 5.6.7);
/// without SMTPUTF8 on the session any non-ASCII octet is refused.
#[test]
fn rfc6531_3_3_utf8_paths_are_grammar_once_the_session_has_smtputf8() {
    assert_eq!(
        parse("MAIL FROM:<jörg@b.example> SMTPUTF8")
            .unwrap_err()
            .kind,
        ErrorKind::NonAscii
    );
    let Command::Mail { from, parameters } = parse_utf8("MAIL FROM:<jörg@b.example>").unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (from.to_string().as_str(), parameters.smtputf8),
        ("<jörg@b.example>", false)
    );
    let Command::Mail { from, .. } =
        parse_utf8("MAIL FROM:<jörg@bücher.example> SMTPUTF8").unwrap()
    else {
        panic!()
    };
    assert!(!from.is_ascii());
    assert!(parse_utf8("RCPT TO:<jörg@bücher.example>").is_ok());
    assert!(
        parse_command(
            b"RCPT TO:<j\xffrg@b>",
            &CommandOptions::default().smtputf8(true)
        )
        .is_err()
    );
}

#[test]
fn framing_limits_and_prefixes() {
    let options = CommandOptions::default();
    assert_eq!(
        decode_command(b"NOOP", &options).unwrap(),
        Decoded::Incomplete
    );
    assert_eq!(
        decode_command(b"NOOP\r", &options).unwrap(),
        Decoded::Incomplete
    );
    assert_eq!(
        decode_command(b"NOOP\r\nQUIT", &options).unwrap(),
        Decoded::Complete(Command::Noop(None), 6)
    );
    let long = format!("NOOP {}\r\n", "x".repeat(505));
    assert!(matches!(
        decode_command(long.as_bytes(), &options).unwrap(),
        Decoded::Complete(..)
    ));
    let too_long = format!("NOOP {}\r\n", "x".repeat(506));
    assert_eq!(
        decode_command(too_long.as_bytes(), &options)
            .unwrap_err()
            .kind,
        ErrorKind::LineTooLong { limit: 512 }
    );
    // Without a line end: an error as soon as the limit is reached, not before.
    assert_eq!(
        decode_command(&too_long.as_bytes()[..511], &options).unwrap(),
        Decoded::Incomplete
    );
    assert!(decode_command(&too_long.as_bytes()[..512], &options).is_err());
    let bigger = options.max_line_length(1000);
    assert!(matches!(
        decode_command(too_long.as_bytes(), &bigger).unwrap(),
        Decoded::Complete(..)
    ));
}

/// Short input is framed a word at a time, longer input by `find_line`: both give the same
/// command, `Incomplete` or error, at every limit (RFC 5321 4.5.3.1.4 counts the CRLF).
#[test]
fn short_and_long_input_frame_alike() {
    let inputs: [&[u8]; 10] = [
        b"QUIT\r\n",
        b"EHLO mail.example.com\r\n",
        b"EHLO mail.example.com\r\nMAIL FROM:<a@b.example>\r\n",
        b"EHLO a\n",
        b"EHLO a\r\r\n",
        b"EHLO a\rb\r\n",
        b"NOOP\0\r\n",
        b"RSET\r",
        b"HELP xxxxxxxxxxxxxxxxxxxxxxxxx\r\n",
        b"\r\n",
    ];
    for input in inputs {
        for limit in [2, 4, 6, 7, 8, 9, 23, 24, 31, 32, 33, 512] {
            let options = CommandOptions::default().max_line_length(limit);
            for end in 0..=input.len() {
                let input = &input[..end];
                let expected = match find_line::<ErrorKind>(input, limit) {
                    Err(error) => Err(error),
                    Ok(None) => Ok(Decoded::Incomplete),
                    Ok(Some((line, used))) => {
                        parse_command(line, &options).map(|c| Decoded::Complete(c, used))
                    }
                };
                assert_eq!(
                    decode_command(input, &options),
                    expected,
                    "{:?} {limit}",
                    String::from_utf8_lossy(input)
                );
            }
        }
    }
}

#[test]
fn injection_through_values_is_impossible() {
    assert!(Domain::new("a.example\r\nDATA").is_err());
    assert!(Mailbox::parse("a@b\r\nRSET").is_err());
    assert!(Argument::new("x\r\nDATA").is_err());
    assert!(Argument::new("x\nDATA").is_err());
    assert!(Parameter::new("X-A", Some("1\r\nDATA".into())).is_err());
    assert!(Parameter::new("SIZE", Some("1".into())).is_err());
    assert!(XText::new("x\r\nDATA").is_err());
    assert!(Mechanism::new("PLAIN\r\nDATA").is_err());
    assert!(InitialResponse::new("AAA\r\nDATA").is_err());
    assert!(Verb::new("X\r\nDATA").is_err());
    // And every command that can be built encodes to exactly one line.
    let command = Command::Mail {
        from: ReversePath::Path(Path::new(Mailbox::parse("a@b.example").unwrap())),
        parameters: MailParameters {
            envid: Some(EnvelopeId::new("id with spaces+and=signs").unwrap()),
            ..MailParameters::default()
        },
    };
    let wire = encoded(&command);
    assert_eq!(
        wire,
        "MAIL FROM:<a@b.example> ENVID=id+20with+20spaces+2Band+3Dsigns\r\n"
    );
}

// ---------------------------------------------------------------------------------------------
// Property tests: every command that can be built encodes, then decodes to itself; every prefix
// of an encoded command is incomplete.

/// Domains of LDH labels and U-labels (RFC 6531 3.3 extends sub-domain).
fn domain() -> impl Strategy<Value = Domain<'static>> {
    prop::collection::vec(
        prop_oneof![
            3 => "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?",
            1 => "[a-z0-9éüßж中😀]([a-z0-9éüßж中😀-]{0,6}[a-z0-9éüßж中😀])?",
        ],
        1..4,
    )
    .prop_map(|labels| Domain::new(labels.join(".")).unwrap())
}

fn host() -> impl Strategy<Value = Host<'static>> {
    prop_oneof![
        4 => domain().prop_map(Host::Domain),
        1 => any::<[u8; 4]>().prop_map(|o| Host::from(crate::types::AddressLiteral::ipv4(o.into()))),
        1 => any::<[u8; 16]>().prop_map(|o| Host::from(crate::types::AddressLiteral::ipv6(o.into()))),
        1 => "[a-zA-Z0-9]([a-zA-Z0-9-]{0,6}[a-zA-Z0-9])?:[!-Z^-~]{1,60}".prop_filter_map(
            "a tag that reads as IPv6",
            |text| crate::types::AddressLiteral::new(text).ok().map(Host::from),
        ),
    ]
}

/// Mailboxes with UTF-8 in the local part (atext and qtextSMTP) and the domain, as RFC 6531
/// 3.3 extends Mailbox, and plain ASCII ones.
fn mailbox() -> impl Strategy<Value = Mailbox<'static>> {
    let local = prop_oneof![
        prop::collection::vec("[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,6}", 1..3)
            .prop_map(|a| a.join(".")),
        prop::collection::vec("[a-zA-Z0-9!#$%&'*+/=?^_`{|}~éüжß中😀-]{1,6}", 1..3)
            .prop_map(|a| a.join(".")),
        "[ -~éж😀]{0,8}"
            .prop_map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))),
    ];
    (local, host()).prop_map(|(local, host)| {
        Mailbox::new(crate::types::LocalPart::new(local).unwrap(), host).unwrap()
    })
}

fn argument() -> impl Strategy<Value = Argument<'static>> {
    "[!-~]([ -~]{0,10}[!-~])?".prop_map(|s| Argument::new(s).unwrap())
}

/// A VRFY / EXPN string from the public constructor (which refuses a final `SMTPUTF8`).
fn lookup() -> impl Strategy<Value = Lookup<'static>> {
    (
        prop_oneof![
            "[!-~]([ -~]{0,10}[!-~])?",
            Just(String::from("x SMTPUTF8")),
            Just(String::from("SMTPUTF8")),
            Just(String::from("Jörg Smith")),
        ],
        any::<bool>(),
    )
        .prop_filter_map("ends in SMTPUTF8", |(text, smtputf8)| {
            Some(Lookup::new(text).ok()?.with_smtputf8(smtputf8))
        })
}

// Strategies from the public constructors only: whatever they let a user build must encode to
// what the decoder reads back the same.

/// Extension parameters: keywords in any case (the known ones refused by `Parameter::new`),
/// values with UTF-8 (RFC 6531 3.3), and each keyword once (a second is refused by `push`).
fn other_parameters() -> impl Strategy<Value = ExtensionParameters<'static>> {
    prop::collection::vec(
        (
            prop_oneof![
                "[A-Za-z0-9][A-Za-z0-9-]{0,10}",
                Just(String::from("size")),
                Just(String::from("Body")),
                Just(String::from("X-A")),
                Just(String::from("x-a")),
            ],
            prop::option::of("([!-<>-~]|é|😀){1,8}"),
        ),
        0..5,
    )
    .prop_map(|pairs| {
        let mut list = ExtensionParameters::new();
        for (keyword, value) in pairs {
            let text = match value {
                Some(value) => format!("{keyword}={value}"),
                None => keyword,
            };
            if let Ok(parameter) = Parameter::parse(&text) {
                let _ = list.push(parameter);
            }
        }
        list
    })
}

fn date_time() -> impl Strategy<Value = DateTime<'static>> {
    (
        0u32..=9999,
        1u32..=12,
        1u32..=31,
        0u32..=23,
        0u32..=59,
        0u32..=60,
        prop::option::of(1u32..=999_999),
        prop_oneof![Just("Z"), Just("z"), Just("+02:00"), Just("-23:59")],
    )
        .prop_map(|(y, mo, d, h, mi, se, frac, zone)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            DateTime::new(format!(
                "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{frac}{zone}"
            ))
            .unwrap()
        })
}

fn mail_parameters() -> impl Strategy<Value = MailParameters<'static>> {
    (
        (
            prop::option::of(any::<u64>()),
            prop::option::of(prop_oneof![
                Just(Body::SevenBit),
                Just(Body::EightBitMime),
                Just(Body::BinaryMime)
            ]),
            any::<(bool, bool)>(),
            prop::option::of(prop_oneof![Just(Ret::Full), Just(Ret::Headers)]),
            prop::option::of("[ -~]{0,110}").prop_map(|s| s.and_then(|s| EnvelopeId::new(&s).ok())),
        ),
        (
            prop::option::of(prop::option::of(
                "[^\\p{Cc}]{0,12}".prop_filter_map("<>", |s| AuthMailbox::new(&s).ok()),
            )),
            prop::option::of(any::<i8>()).prop_map(|p| p.and_then(Priority::new)),
            prop::option::of(prop_oneof![
                any::<u32>().prop_filter_map("over 9 digits", |s| HoldFor::new(s).map(Hold::For)),
                date_time().prop_map(Hold::Until),
            ]),
            prop::option::of(
                (
                    any::<i32>(),
                    prop_oneof![Just(ByMode::Notify), Just(ByMode::Return)],
                    any::<bool>(),
                )
                    .prop_filter_map("by-time the mode forbids", |(s, m, t)| {
                        DeliverBy::new(s % 1_000_000_000, m, t).ok()
                    }),
            ),
            other_parameters(),
        ),
    )
        .prop_map(
            |(
                (size, body, (smtputf8, require_tls), ret, envid),
                (auth, mt_priority, hold, by, other),
            )| {
                MailParameters {
                    size,
                    body,
                    smtputf8,
                    ret,
                    envid,
                    auth,
                    require_tls,
                    mt_priority,
                    hold,
                    by,
                    other,
                }
            },
        )
}

fn notify() -> impl Strategy<Value = Notify> {
    prop_oneof![
        Just(Notify::NEVER),
        prop::sample::subsequence(vec![Notify::SUCCESS, Notify::FAILURE, Notify::DELAY], 1..=3)
            .prop_map(|events| {
                let mut set = events[0];
                for event in events {
                    set |= event;
                }
                Notify::from(set)
            }),
    ]
}

fn rcpt_parameters() -> impl Strategy<Value = RcptParameters<'static>> {
    (
        prop::option::of(notify()),
        prop::option::of(
            (
                prop_oneof![
                    Just(String::from("rfc822")),
                    Just(String::from("utf-8")),
                    Just(String::from("UTF-8")),
                    "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,10}",
                ],
                "[^\\p{Cc}]{1,12}",
            )
                .prop_filter_map("too long", |(t, a)| OriginalRecipient::new(&t, &a).ok()),
        ),
        prop::option::of((
            date_time(),
            prop::option::of(prop_oneof![
                Just(RrvsAction::Continue),
                Just(RrvsAction::Reject)
            ]),
        )),
        other_parameters(),
    )
        .prop_map(|(notify, orcpt, rrvs, other)| RcptParameters {
            notify,
            orcpt,
            rrvs: rrvs.map(|(since, on_unsupported)| Rrvs {
                since,
                on_unsupported,
            }),
            other,
        })
}

proptest! {
    /// Item of issue 13: decode(encode(x)) == x for every MAIL and RCPT parameter list the
    /// public constructors allow (RFC 5321 4.1.2 esmtp-param and the extensions' grammars),
    /// through `FromStr` and through the command decoder.
    #[test]
    fn every_buildable_parameter_list_decodes_back_the_same(
        mail in mail_parameters(),
        rcpt in rcpt_parameters(),
    ) {
        let wire = mail.to_string();
        prop_assert_eq!(wire.trim_start().parse::<MailParameters>(), Ok(mail.clone()));
        let wire = rcpt.to_string();
        prop_assert_eq!(wire.trim_start().parse::<RcptParameters>(), Ok(rcpt.clone()));
        let options = CommandOptions::default().max_line_length(8192).smtputf8(true);
        for command in [
            Command::Mail { from: ReversePath::Null, parameters: mail },
            Command::Rcpt { to: ForwardPath::Postmaster, parameters: rcpt },
        ] {
            let line = encoded(&command);
            prop_assert_eq!(
                decode_command(line.as_bytes(), &options),
                Ok(Decoded::Complete(command, line.len()))
            );
        }
    }
}

fn command() -> impl Strategy<Value = Command<'static>> {
    prop_oneof![
        host().prop_map(Command::Ehlo),
        host().prop_map(Command::Lhlo),
        domain().prop_map(Command::Helo),
        (prop::option::of(mailbox()), mail_parameters()).prop_map(|(from, parameters)| {
            Command::Mail {
                from: from.map_or(ReversePath::Null, ReversePath::from),
                parameters,
            }
        }),
        (prop::option::of(mailbox()), rcpt_parameters()).prop_map(|(to, parameters)| {
            Command::Rcpt {
                to: to.map_or(ForwardPath::Postmaster, ForwardPath::from),
                parameters,
            }
        }),
        Just(Command::Data),
        (any::<u64>(), any::<bool>()).prop_map(|(size, last)| Command::Bdat { size, last }),
        Just(Command::Rset),
        lookup().prop_map(Command::Vrfy),
        lookup().prop_map(Command::Expn),
        prop::option::of(argument()).prop_map(Command::Help),
        prop::option::of(argument()).prop_map(Command::Noop),
        Just(Command::Quit),
        Just(Command::StartTls),
        (
            "[A-Z0-9_-]{1,20}",
            prop::option::of(prop_oneof![
                Just(String::from("=")),
                prop::collection::vec(any::<u8>(), 1..30)
                    .prop_map(|b| mail_wire::sasl::encode_challenge(&b))
            ])
        )
            .prop_map(|(m, r)| Command::Auth {
                mechanism: Mechanism::new(m).unwrap(),
                initial_response: r.map(|r| InitialResponse::new(r).unwrap()),
            }),
        prop_oneof![
            domain().prop_map(EtrnNode::Domain),
            domain().prop_map(EtrnNode::Subdomains),
            "[!-~]{1,64}".prop_map(|q| EtrnNode::Queue(QueueName::new(q).unwrap())),
        ]
        .prop_map(Command::Etrn),
        prop::collection::vec(domain(), 0..3).prop_map(Command::Atrn),
        (
            "[a-zA-Z][a-zA-Z0-9+.-]{0,6}:(//[a-z0-9.:@\\[\\]]{0,12})?[a-zA-Z0-9;=/?:@!$&'()*+,~._-]{0,30}",
            any::<bool>()
        )
            .prop_map(|(url, last)| Command::Burl {
                url: Url::new(url).unwrap(),
                last
            }),
        ("X[A-Z0-9-]{0,8}", prop::option::of(argument())).prop_map(|(verb, argument)| {
            Command::Other {
                verb: Verb::new(verb).unwrap(),
                argument,
            }
        }),
    ]
}

proptest! {
    /// Item of issue 13: decode(encode(x)) == x for every command the public constructors
    /// allow, UTF-8 paths (with or without the SMTPUTF8 parameter, RFC 6531 3.3) included;
    /// one that encodes as ASCII decodes the same without SMTPUTF8 in effect too.
    #[test]
    fn encode_then_decode_gives_the_command_back(command in command()) {
        let wire = encoded(&command);
        let options = CommandOptions::default().max_line_length(4096).smtputf8(true);
        let decoded = decode_command(wire.as_bytes(), &options);
        prop_assert_eq!(decoded, Ok(Decoded::Complete(command.clone(), wire.len())));
        if wire.is_ascii() {
            let ascii = CommandOptions::default().max_line_length(4096);
            prop_assert_eq!(
                decode_command(wire.as_bytes(), &ascii),
                Ok(Decoded::Complete(command.clone(), wire.len()))
            );
        }
        // Every proper prefix is incomplete, never an error.
        for end in 0..wire.len() {
            prop_assert_eq!(decode_command(&wire.as_bytes()[..end], &options), Ok(Decoded::Incomplete));
        }
    }

    #[test]
    fn decoding_arbitrary_lines_never_panics_and_round_trips(line in "[ -~]{0,80}|(MAIL FROM:|RCPT TO:)<[ -~]{0,40}") {
        if let Ok(command) = parse_utf8(&line) {
            let wire = encoded(&command);
            let again = parse_utf8(&wire[..wire.len() - 2]).unwrap();
            prop_assert_eq!(&again, &strip_routes(command));
            prop_assert_eq!(encoded(&again), wire);
        }
    }

    #[test]
    fn any_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..100), utf8 in any::<bool>()) {
        let _ = decode_command(&bytes, &CommandOptions::default().smtputf8(utf8));
    }
}

proptest! {
    /// A stream of commands arriving in arbitrary pieces decodes to the same commands as the
    /// whole: the buffer keeps what is incomplete and nothing is decoded twice or lost.
    #[test]
    fn any_chunking_gives_the_same_commands(
        commands in prop::collection::vec(command(), 1..6),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut stream = BytesMut::new();
        for command in &commands {
            encode_command(command, &mut stream);
        }
        let options = CommandOptions::default().max_line_length(4096).smtputf8(true);
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        points.sort_unstable();
        points.push(stream.len());
        let mut buffer: Vec<u8> = Vec::new();
        let mut decoded = Vec::new();
        let mut last = 0;
        for point in points {
            buffer.extend_from_slice(&stream[last..point]);
            last = point;
            while let Decoded::Complete(command, used) = decode_command(&buffer, &options).unwrap() {
                decoded.push(command.into_owned());
                buffer.drain(..used);
            }
        }
        prop_assert!(buffer.is_empty());
        prop_assert_eq!(decoded, commands);
    }
}

#[test]
fn verb_and_keyword_keys_upper_case_letters_only() {
    assert_eq!(verb_key(b"eHlO"), key(b"EHLO"));
    assert_eq!(verb_key(b"starttls"), key(b"STARTTLS"));
    assert_eq!(verb_key(b"STARTTLSX"), 0);
    assert_eq!(keyword_key("mt-priority"), kw(b"MT-PRIORITY"));
    // No octet but a letter turns into one: '`' stays distinct from '@' and from letters.
    for byte in 0..=255u8 {
        let upper = verb_key(&[byte]).to_le_bytes()[0];
        assert_eq!(
            upper.is_ascii_uppercase(),
            byte.is_ascii_alphabetic(),
            "{byte:#x}"
        );
        if byte.is_ascii_alphabetic() {
            assert_eq!(upper, byte.to_ascii_uppercase());
        }
    }
}

#[test]
fn findings_on_the_wire_are_closed() {
    // A NUL after a known verb never passes for the verb.
    for line in [
        &b"QUIT\0"[..],
        b"EHLO\0 example.com",
        b"RCPT\0\0\0 TO:<a@b>",
        b"DATA\0",
    ] {
        assert_eq!(
            parse_command(line, &CommandOptions::default())
                .unwrap_err()
                .kind,
            ErrorKind::Nul,
            "{line:?}"
        );
    }
    // ']' inside a general address literal would close it early.
    assert!(crate::types::AddressLiteral::new("x-tag:a]>").is_err());
    assert!(parse("RCPT TO:<u@[x-tag:a]>]>").is_err());
    // A BURL URL cannot hold a space (it would read as "LAST").
    assert!(Url::new("imap://x LAST").is_err());
    // Raw UTF-8 in ORCPT is checked for controls like the escaped form.
    assert!(parse_utf8("RCPT TO:<a@b> ORCPT=utf-8;a\u{85}b").is_err());
}

#[test]
fn findings_on_built_values_are_closed() {
    // ENVID: never empty, printable US-ASCII only (RFC 3461 4.4).
    assert!(EnvelopeId::new("").is_err());
    assert!(EnvelopeId::new("é").is_err());
    assert!(parse("MAIL FROM:<> ENVID=+C3+A9").is_err());
    // AUTH=: a decoded <> is the unknown identity, however it was encoded (RFC 4954 5).
    let Command::Mail { parameters, .. } = parse("MAIL FROM:<> AUTH=+3C+3E").unwrap() else {
        panic!()
    };
    assert_eq!(parameters.auth, Some(None));
    assert!(AuthMailbox::new("<>").is_err());
    assert!(AuthMailbox::new("").is_err());
    // A verb with its own variant is not an `Other`.
    assert!(Verb::new("data").is_err());
    assert!(Verb::new("XCLIENT").is_ok());
}

#[test]
fn findings_on_grammar_are_closed() {
    // MT-PRIORITY: (["-"] NZDIGIT) / "0" (RFC 6710 2).
    for bad in ["+5", "+0", "-0", "+-5", "05", "10"] {
        assert!(
            parse(&format!("MAIL FROM:<> MT-PRIORITY={bad}")).is_err(),
            "{bad}"
        );
    }
    for (good, value) in [("0", 0), ("9", 9), ("-9", -9)] {
        let line = format!("MAIL FROM:<> MT-PRIORITY={good}");
        let Command::Mail { parameters, .. } = parse(&line).unwrap() else {
            panic!()
        };
        assert_eq!(parameters.mt_priority.unwrap().get(), value);
    }
    // AUTH initial responses are base64 in groups of four (RFC 4954 4).
    for bad in ["abc", "a=b=", "====", "abcde"] {
        assert!(InitialResponse::new(bad).is_err(), "{bad}");
    }
    for good in ["=", "AAAA", "AA==", "AAA="] {
        assert!(InitialResponse::new(good).is_ok(), "{good}");
    }
    // A bad digit is pointed at.
    assert_eq!(parse("MAIL FROM:<> SIZE=12x").unwrap_err().offset, 20);
    // One hold parameter only (RFC 4865 3), and HOLDFOR on its own is fine.
    assert!(parse("MAIL FROM:<> HOLDFOR=5 HOLDUNTIL=2026-12-01T00:00:00Z").is_err());
    let Command::Mail { parameters, .. } = parse("MAIL FROM:<> HOLDFOR=3600").unwrap() else {
        panic!()
    };
    assert_eq!(
        parameters.hold,
        Some(Hold::For(HoldFor::new(3600).unwrap()))
    );
    // Dates within their ranges (RFC 3339 5.6).
    for bad in [
        "2024-13-01T00:00:00Z",
        "2024-12-32T00:00:00Z",
        "2024-12-01T24:00:00Z",
        "2024-12-01T00:60:00Z",
        "2024-12-01T00:00:00+24:00",
    ] {
        assert!(DateTime::new(bad).is_err(), "{bad}");
    }
    assert!(DateTime::new("2016-12-31T23:59:60Z").is_ok());
}

#[test]
fn rfc2852_4_by_time_rules_per_by_mode() {
    let by = |value: &str| match parse(&format!("MAIL FROM:<> BY={value}")) {
        Ok(Command::Mail { parameters, .. }) => Ok(parameters.by.unwrap()),
        Ok(other) => panic!("{other:?}"),
        Err(error) => Err(error),
    };
    // Mode N takes any by-time, zero and negative included (the deadline has passed).
    for (value, seconds, trace) in [
        ("0;N", 0, false),
        ("-0;N", 0, false),
        ("-999999999;NT", -999_999_999, true),
        ("+60;n", 60, false),
    ] {
        let parsed = by(value).unwrap_or_else(|e| panic!("{value}: {e}"));
        assert_eq!(parsed.mode(), ByMode::Notify, "{value}");
        assert_eq!(
            (parsed.seconds(), parsed.trace()),
            (seconds, trace),
            "{value}"
        );
    }
    // Mode R needs a by-time above zero: zero or less is a syntax error, never a value.
    for value in ["0;R", "-0;R", "+0;RT", "-1;R", "-999999999;RT"] {
        let error = by(value).unwrap_err();
        assert_eq!(error.offset, 16, "{value}");
        assert!(
            matches!(
                error.kind,
                ErrorKind::Invalid(InvalidValue::Malformed { what: "BY", .. })
            ),
            "{value}: {error:?}"
        );
    }
    assert_eq!(by("1;R").unwrap().seconds(), 1);
    assert!(by("999999999;RT").unwrap().return_on_expiry());
    // The grammar itself: 1 to 9 digits, one mode, an optional T.
    for value in [
        "1234567890;N",
        ";N",
        "5",
        "5;",
        "5;X",
        "5;NN",
        "5;TN",
        "5;NTT",
        "++5;N",
    ] {
        assert_eq!(
            by(value).unwrap_err().kind,
            ErrorKind::InvalidParameterValue { keyword: "BY" },
            "{value}"
        );
    }
    // The constructor holds hand-built values to the same rules.
    assert!(DeliverBy::new(0, ByMode::Return, false).is_err());
    assert!(DeliverBy::new(-5, ByMode::Return, true).is_err());
    assert!(DeliverBy::new(1_000_000_000, ByMode::Notify, false).is_err());
    assert!(DeliverBy::new(0, ByMode::Notify, false).is_ok());
}

#[test]
fn rfc6531_3_7_4_2_vrfy_and_expn_take_the_smtputf8_parameter() {
    for (line, string, smtputf8) in [
        ("VRFY Crispin", "Crispin", false),
        ("VRFY Crispin SMTPUTF8", "Crispin", true),
        ("EXPN Example-People smtputf8", "Example-People", true),
        ("VRFY John Smith SMTPUTF8", "John Smith", true),
        ("VRFY John Smith", "John Smith", false),
        // Alone, the word is the string: the parameter follows a string.
        ("VRFY SMTPUTF8", "SMTPUTF8", false),
        ("VRFY SMTPUTF8 SMTPUTF8", "SMTPUTF8", true),
        ("VRFY Jörg SMTPUTF8", "Jörg", true),
    ] {
        let (Command::Vrfy(lookup) | Command::Expn(lookup)) =
            parse_utf8(line).unwrap_or_else(|e| panic!("{line}: {e}"))
        else {
            panic!("{line}")
        };
        assert_eq!(
            (lookup.as_str(), lookup.smtputf8()),
            (string, smtputf8),
            "{line}"
        );
        round_trip(line, &format!("{} {lookup}", &line[..4]));
    }
    // The string before the parameter is held to the argument's grammar.
    assert!(parse("VRFY x  SMTPUTF8").is_err());
    assert!(parse("VRFY  SMTPUTF8").is_err());
    // A built lookup cannot end in the word, which would read back as the parameter.
    assert!(Lookup::new("list SMTPUTF8").is_err());
    assert!(Lookup::new("list smtputf8").is_err());
    assert!(Lookup::new("SMTPUTF8").is_ok());
    let built = Command::Expn(Lookup::new("staff").unwrap().with_smtputf8(true));
    assert_eq!(encoded(&built), "EXPN staff SMTPUTF8\r\n");
}

#[test]
fn rfc1985_5_etrn_takes_a_domain_an_at_domain_or_a_hash_queue() {
    for (line, want) in [
        ("ETRN example.com", "example.com"),
        ("etrn @example.com", "@example.com"),
        ("ETRN #uucp", "#uucp"),
        ("ETRN #queue-1/x", "#queue-1/x"),
    ] {
        let Command::Etrn(node) = parse(line).unwrap_or_else(|e| panic!("{line}: {e}")) else {
            panic!("{line}")
        };
        assert_eq!(node.to_string(), want);
        round_trip(line, &format!("ETRN {want}"));
    }
    let Command::Etrn(node) = parse("ETRN @foo.com").unwrap() else {
        panic!()
    };
    assert_eq!(node, EtrnNode::Subdomains(Domain::new("foo.com").unwrap()));
    // Nothing else passes through: spaces, a bare prefix, a literal, a second prefix, junk.
    for (line, offset) in [
        ("ETRN example.com x", 16),
        ("ETRN @", 6),
        ("ETRN #", 6),
        ("ETRN [192.0.2.1]", 5),
        ("ETRN @@example.com", 6),
        ("ETRN #a b", 7),
        ("ETRN exa_mple.com", 8),
        ("ETRN", 4),
    ] {
        let error = parse(line).unwrap_err();
        assert_eq!(error.offset, offset, "{line}: {error}");
    }
    assert!(QueueName::new("a".repeat(MAX_QUEUE_NAME + 1)).is_err());
    assert!(EtrnNode::parse("#ok").is_ok());
}

#[test]
fn rfc4468_3_burl_takes_an_absolute_uri_and_an_optional_last() {
    let url = "imap://harry@gray.example.com/outbox;UIDVALIDITY=1078863300/;UID=25;\
               URLAUTH=submit+harry:internal:91354a473744909de610943775f92038";
    let line = format!("BURL {url} LAST");
    let Command::Burl { url: got, last } = parse(&line).unwrap() else {
        panic!()
    };
    assert!(last);
    assert_eq!((got.as_str(), got.scheme()), (url, "imap"));
    round_trip(&line, &line);
    round_trip(
        "BURL imap://[2001:db8::1]/INBOX",
        "BURL imap://[2001:db8::1]/INBOX",
    );
    round_trip("BURL imap://h/a%2Fb?x=1", "BURL imap://h/a%2Fb?x=1");
    // Not an absolute URI, or characters no URI has: refused at the offending octet.
    for (line, offset) in [
        ("BURL outbox;UID=25", 11),
        ("BURL /outbox", 5),
        ("BURL 1map://x", 5),
        ("BURL imap://x/a#fragment", 15),
        ("BURL imap://x/a%4", 15),
        ("BURL imap://x/a\"b", 15),
        ("BURL imap://x/[a]", 14),
        ("BURL imap://x/ LAST X", 15),
        ("BURL imap://x/ FIRST", 15),
    ] {
        let error = parse(line).unwrap_err();
        assert_eq!(error.offset, offset, "{line}: {error}");
    }
    assert!(Url::new("imap:").is_ok());
    assert!(Url::new("").is_err());
}

#[test]
fn orcpt_address_type_never_holds_what_an_esmtp_value_cannot() {
    // Found by the round-trip proptest: `=` is atext, but ORCPT's value is an esmtp-value
    // (RFC 5321 4.1.2, RFC 3461 4.2), which has no `=`.
    assert!(OriginalRecipient::new("=", "a@b").is_err());
    assert!(parse("RCPT TO:<a@b> ORCPT==;a@b").is_err());
    assert!(OriginalRecipient::new("x-type+1", "a@b").is_ok());
}

/// Hand-built lists refuse what the decoder refuses (RFC 5321 4.1.2: each parameter once;
/// RFC 4865 3: one hold parameter), with a typed error.
#[test]
fn extension_parameter_lists_refuse_duplicates() {
    let mut list = ExtensionParameters::new();
    list.push(Parameter::parse("X-TAG=a").unwrap()).unwrap();
    assert_eq!(
        list.push(Parameter::parse("x-tag").unwrap()),
        Err(DuplicateParameter {
            keyword: String::from("x-tag")
        })
    );
    // A keyword with a typed field is never an extension parameter.
    for known in ["SIZE=1", "body=7BIT", "Notify=NEVER", "BY=1;R"] {
        assert!(Parameter::parse(known).is_err(), "{known}");
    }
    assert!(
        ExtensionParameters::try_from(vec![
            Parameter::parse("A").unwrap(),
            Parameter::parse("a=1").unwrap(),
        ])
        .is_err()
    );
    assert_eq!(list.remove("X-TAG").unwrap().value(), Some("a"));
    assert!(list.is_empty());
    // HOLDFOR and HOLDUNTIL are one field: both at once cannot be built.
    let held = MailParameters {
        hold: Some(Hold::For(HoldFor::new(60).unwrap())),
        ..MailParameters::new()
    };
    assert_eq!(held.to_string(), " HOLDFOR=60");
    // Parameter text: offsets into the text.
    assert_eq!(Parameter::parse("X-A=b c").unwrap_err().offset(), 5);
    assert_eq!(Parameter::parse("X_A").unwrap_err().offset(), 1);
}

/// RFC 3461 4.1 with named flags, and parameters from text (issue 13's builders).
#[test]
fn rfc3461_4_1_notify_flags_and_parameters_from_text() {
    let all = Notify::SUCCESS | Notify::FAILURE | Notify::DELAY;
    let notify = Notify::from(all);
    assert!(notify.success() && notify.failure() && notify.delay() && !notify.is_never());
    assert_eq!(notify.to_string(), "SUCCESS,FAILURE,DELAY");
    assert!(Notify::NEVER.is_never() && !Notify::NEVER.failure());
    let rcpt: RcptParameters = "NOTIFY=DELAY,SUCCESS ORCPT=rfc822;b+2Bx@c.example X-Y=z"
        .parse()
        .unwrap();
    assert_eq!(
        rcpt,
        RcptParameters::new()
            .with_notify(Notify::SUCCESS | Notify::DELAY)
            .with_orcpt(OriginalRecipient::rfc822("b+x@c.example").unwrap())
            .with_parameter(Parameter::parse("X-Y=z").unwrap())
            .unwrap()
    );
    // The decoder's own errors, counted from the start of the text.
    for (text, offset) in [
        ("NOTIFY=NEVER,SUCCESS", 0),
        ("NOTIFY=SUCCESS NOTIFY=DELAY", 15),
        ("SIZE=1", 0),
        ("NOTIFY=DELAY  X", 13),
    ] {
        let error = text.parse::<RcptParameters>().unwrap_err();
        assert_eq!(error.offset, offset, "{text}: {error}");
    }
    let mail: MailParameters = "SIZE=1000 BODY=8BITMIME ENVID=QQ+2B1 HOLDFOR=30"
        .parse()
        .unwrap();
    assert_eq!(mail.size, Some(1000));
    assert_eq!(mail.envid, Some(EnvelopeId::new("QQ+1").unwrap()));
    assert_eq!(mail.hold, Some(Hold::For(HoldFor::new(30).unwrap())));
    assert_eq!("".parse::<MailParameters>(), Ok(MailParameters::new()));
    assert!(
        "RRVS=2014-04-03T23:01:00Z"
            .parse::<MailParameters>()
            .is_err()
    );
    // Owned values from borrowed text: no lifetime ties to the input.
    let text = String::from("someone@example.com");
    let orcpt: OriginalRecipient<'static> = OriginalRecipient::utf8(&text).unwrap();
    drop(text);
    assert!(orcpt.is_utf8_type());
    assert_eq!(
        AuthMailbox::new("e=mc2@example.com").unwrap().as_str(),
        "e=mc2@example.com"
    );
}

#[cfg(feature = "serde")]
mod serde_round_trip;

/// The one-pass NOTIFY reader agrees with reading it item by item, on lists built from the
/// events, near misses, empty items and stray commas.
#[test]
fn notify_agrees_with_a_list_split_at_commas() {
    fn reference(value: &str) -> Option<Notify> {
        if value.eq_ignore_ascii_case("NEVER") {
            return Some(Notify::Never);
        }
        let mut events: Option<NotifyEvents> = None;
        for item in value.split(',') {
            let event = match item.to_ascii_uppercase().as_str() {
                "SUCCESS" => Notify::SUCCESS,
                "FAILURE" => Notify::FAILURE,
                "DELAY" => Notify::DELAY,
                _ => return None,
            };
            events = match events {
                Some(set) if set.contains(event) => return None,
                Some(set) => Some(set | event),
                None => Some(event),
            };
        }
        events.map(Notify::On)
    }
    let words = [
        "SUCCESS",
        "success",
        "FAILURE",
        "Failure",
        "DELAY",
        "delay",
        "NEVER",
        "",
        "DELAYS",
        "SUCCES",
        "DELA",
        "FAILURES",
        "S,UCCESS",
        "DELAY,",
        ",",
        "X",
        "DELAY\u{e9}",
        "SUCC\0SS",
    ];
    for a in words {
        assert_eq!(super::notify(a), reference(a), "{a:?}");
        for b in words {
            for separator in [",", "", ",,"] {
                let value = alloc::format!("{a}{separator}{b}");
                assert_eq!(super::notify(&value), reference(&value), "{value:?}");
                for c in ["SUCCESS", "DELAY", "FAILURE", "", "NEVER"] {
                    let value = alloc::format!("{a}{separator}{b},{c}");
                    assert_eq!(super::notify(&value), reference(&value), "{value:?}");
                }
            }
        }
    }
}

/// The digits read with every check, as a reference.
fn digits_checked(at: usize, text: &str, max: usize) -> Result<u64, DecodeError> {
    if text.is_empty() {
        return Err(DecodeError::syntax(at, "digits"));
    }
    if let Some(offset) = text.bytes().position(|b| !b.is_ascii_digit()) {
        return Err(DecodeError::syntax(at + offset, "digits"));
    }
    match text.parse::<u64>() {
        Ok(value) if text.len() <= max => Ok(value),
        _ => Err(DecodeError::new(
            at,
            ErrorKind::NumberOutOfRange { what: "test" },
        )),
    }
}

/// Reading up to nineteen digits without overflow checks gives what the checked reading gives:
/// the value, the first non-digit, or out of range past the limit or past `u64`.
#[test]
fn digits_fast_and_checked_agree() {
    let texts = [
        "",
        "0",
        "7",
        "123456",
        "00000000000000000001",
        "1234567890123456789",
        "9999999999999999999",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999",
        "12a4",
        "a",
        "1 ",
        "999999999",
        "1000000000",
        "x99999999999999999999",
        "9999999999999999999x",
    ];
    for text in texts {
        for max in [1, 3, 9, 19, 20, 25] {
            assert_eq!(
                super::digits(5, text, max, "test"),
                digits_checked(5, text, max),
                "{text:?} {max}"
            );
        }
    }
}

/// Wherever the line lies in memory (the ASCII and UTF-8 checks read words from aligned or
/// unaligned addresses), the same command or the same error.
#[test]
fn the_same_command_or_error_wherever_the_line_lies() {
    let lines: [&[u8]; 20] = [
        b"EHLO mail.example.com",
        b"MAIL FROM:<sender.name@example.com> SIZE=123456 BODY=8BITMIME",
        b"RCPT TO:<r@example.org> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;r@example.org",
        b"NOOP",
        b"DATA",
        b"EHLO",
        b"EHLO ",
        b"EHLO mail.example.com x",
        b"EHLO mail..example.com",
        b"EH\xc3\xa9LO x",
        b"EHLO \xff",
        b"\xffHLO x",
        b"XVERB\xe2\x82 arg",
        b"X\xe2\x82\xacVERB arg",
        b"MAIL FROM:<a@b.example> SIZE=x",
        b"RCPT TO:<\xc3\xa9@b.example>",
        b"VRFY  x",
        b"HELO [1.2.3.4]",
        b"X-LONGER-VERB-THAN-EIGHT some argument",
        b"AUTH PLAIN dGVzdAB0ZXN0AHRlc3Q=",
    ];
    for utf8 in [false, true] {
        let options = CommandOptions::default().smtputf8(utf8);
        for line in lines {
            let mut buffer = vec![0u8; line.len() + 16];
            let mut outcomes = Vec::new();
            for shift in 0..16 {
                let place = &mut buffer[shift..shift + line.len()];
                place.copy_from_slice(line);
                let outcome = parse_command(&buffer[shift..shift + line.len()], &options)
                    .map(Command::into_owned);
                outcomes.push(outcome);
            }
            for outcome in &outcomes {
                assert_eq!(outcome, &outcomes[0], "{line:?}, SMTPUTF8 {utf8}");
            }
        }
    }
}

proptest! {
    /// Read as two halves at once, the octets make the integer they make one by one.
    #[test]
    fn packed_octets_are_the_octets_one_by_one(octets in prop::collection::vec(any::<u8>(), 0..20)) {
        let expected = octets
            .iter()
            .take(16)
            .rev()
            .fold(0u128, |key, &byte| key << 8 | u128::from(byte));
        prop_assert_eq!(packed(&octets), expected);
    }
}

proptest! {
    /// The verb's space found in the first word at once is the first space, as octet by octet.
    #[test]
    fn first_space_is_the_first_space(octets in prop::collection::vec(
        prop_oneof![Just(b' '), Just(b'A'), Just(0xa0u8), any::<u8>()], 0..20,
    )) {
        prop_assert_eq!(first_space(&octets), octets.iter().position(|&b| b == b' '));
    }
}

/// Every length up to 22 digits, every place of a non-digit, around `u64::MAX`: the same as the
/// checked reading of [`digits_fast_and_checked_agree`].
#[test]
fn digits_match_the_checked_reading_at_every_length() {
    let mut texts: Vec<String> = vec![];
    for len in 0..=22 {
        texts.push("9".repeat(len));
        texts.push("0".repeat(len));
        texts.push(format!("{}1", "0".repeat(len)));
        texts.push("1234567890123456789012".chars().take(len).collect());
        for bad in 0..len {
            for c in ['a', '/', ':', ' ', '+', '-'] {
                let mut t: Vec<u8> = "1".repeat(len).into_bytes();
                t[bad] = c as u8;
                texts.push(String::from_utf8(t).unwrap());
            }
        }
    }
    texts.push("18446744073709551615".into());
    texts.push("18446744073709551616".into());
    texts.push("99999999999999999999".into());
    texts.push("0018446744073709551615".into());
    for t in &texts {
        for max in [1usize, 7, 8, 9, 19, 20, 21] {
            assert_eq!(
                digits(3, t, max, "test"),
                digits_checked(3, t, max),
                "{t:?} {max}"
            );
        }
    }
}

/// BODY's and RET's values in any case, and nothing near them.
#[test]
fn body_and_ret_values_in_any_case_and_no_near_miss() {
    let mail = |parameters: &str| {
        let line = format!("MAIL FROM:<a@b.example> {parameters}\r\n");
        match decode_command(line.as_bytes(), &CommandOptions::new().smtputf8(true)) {
            Ok(Decoded::Complete(Command::Mail { parameters, .. }, _)) => {
                Ok((parameters.body, parameters.ret))
            }
            Ok(other) => panic!("{other:?}"),
            Err(error) => Err(error),
        }
    };
    for (value, body) in [
        ("8BITMIME", Body::EightBitMime),
        ("8bitmime", Body::EightBitMime),
        ("8BitMime", Body::EightBitMime),
        ("7BIT", Body::SevenBit),
        ("7bit", Body::SevenBit),
        ("BINARYMIME", Body::BinaryMime),
        ("binaryMIME", Body::BinaryMime),
    ] {
        assert_eq!(
            mail(&format!("BODY={value}")).unwrap().0,
            Some(body),
            "{value}"
        );
    }
    for (value, ret) in [
        ("FULL", Ret::Full),
        ("full", Ret::Full),
        ("HdRs", Ret::Headers),
    ] {
        assert_eq!(
            mail(&format!("RET={value}")).unwrap().1,
            Some(ret),
            "{value}"
        );
    }
    for near in [
        "BODY=8BITMIM",
        "BODY=8BITMIMEE",
        "BODY=8BITMIME7",
        "BODY=7BI",
        "BODY=7BITS",
        "BODY=BINARYMIMEBINARYMIME",
        "BODY=8BITMIM\u{c9}",
        "BODY=\u{c9}BIT",
        "BODY=8{ITMIME",
        "BODY=8bitmime\u{0}",
        "RET=FUL",
        "RET=FULLY",
        "RET=HDR",
        "RET=HDRS0",
        "RET=[ULL",
    ] {
        assert!(mail(near).is_err(), "{near}");
    }
}

/// With SMTPUTF8, octets that are not UTF-8 are `InvalidUtf8` at the first of them, counted from
/// the line's start, in the verb or after it.
#[test]
fn octets_not_utf8_are_named_where_they_start() {
    let options = CommandOptions::new().smtputf8(true);
    for (line, at) in [
        (&b"EHLO a\xffb\r\n"[..], 6),
        (b"\xffHLO x\xff\r\n", 0),
        (b"EH\xc3 x\r\n", 2),
        (b"MAIL FROM:<\xc3\xa9@x.y> SIZE=\xe2\x82\r\n", 24),
        (b"NOOP caf\xc3\r\n", 8),
    ] {
        let error = decode_command(line, &options).unwrap_err();
        assert_eq!(
            (error.offset, &error.kind),
            (at, &ErrorKind::InvalidUtf8),
            "{line:?}"
        );
    }
}
