use super::*;
use crate::types::{
    ApopDigest, CapaParam, CapaTag, Capability, Command, Expire, ImplementationText, InvalidValue,
    KnownCode, LanguageListing, LanguageTag, MAX_ARGUMENT, MAX_IMPLEMENTATION, Mechanism,
    MessageNumber, OtherCapability, Response, ResponseCode, SaslMechanisms, ScanListing, Status,
    Text, Timestamp, UidListing, UniqueId, Username, Verb,
};
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use bytes::BytesMut;
use mail_wire::Secret;
use proptest::prelude::*;

const KNOWN_VERBS: [&str; 17] = [
    "USER", "PASS", "APOP", "STAT", "LIST", "RETR", "DELE", "NOOP", "RSET", "QUIT", "TOP", "UIDL",
    "CAPA", "STLS", "AUTH", "UTF8", "LANG",
];

const KNOWN_TAGS: [&str; 14] = [
    "TOP",
    "USER",
    "SASL",
    "RESP-CODES",
    "LOGIN-DELAY",
    "PIPELINING",
    "EXPIRE",
    "UIDL",
    "IMPLEMENTATION",
    "STLS",
    "AUTH-RESP-CODE",
    "UTF8",
    "LANG",
    // Not a tag of its own, but `.` ends the CAPA list.
    ".",
];

fn options() -> CommandOptions {
    CommandOptions::default()
}

fn utf8_options() -> CommandOptions {
    CommandOptions {
        utf8: true,
        ..CommandOptions::default()
    }
}

fn n(value: u32) -> MessageNumber {
    MessageNumber::new(value).unwrap()
}

fn parse(line: &str) -> Result<Command<'_>, DecodeError> {
    parse_command(line.as_bytes(), &options())
}

/// The kind of error `line` (no CRLF) decodes to, through `decode_command`.
fn error(line: &str) -> ErrorKind {
    let wire = format!("{line}\r\n");
    match decode_command(wire.as_bytes(), &options()) {
        Err(e) => e.kind,
        Ok(other) => panic!("{line:?} decoded: {other:?}"),
    }
}

fn encoded_command(command: &Command<'_>) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_command(command, &mut out);
    out.to_vec()
}

/// Encodes `command`, checks the wire form, decodes it back and encodes it again.
fn command_round_trip(command: &Command<'_>, wire: Option<&str>) {
    let bytes = encoded_command(command);
    if let Some(wire) = wire {
        assert_eq!(
            String::from_utf8_lossy(&bytes),
            format!("{wire}\r\n"),
            "{command:?}"
        );
    }
    assert!(bytes.ends_with(b"\r\n"));
    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
    match decode_command(&bytes, &utf8_options()) {
        Ok(Decoded::Complete(again, used)) => {
            assert_eq!(used, bytes.len());
            assert_eq!(&again, command);
            assert_eq!(encoded_command(&again), bytes);
        }
        other => panic!(
            "{:?} did not decode: {other:?}",
            String::from_utf8_lossy(&bytes)
        ),
    }
}

fn encoded_response(response: &Response<'_>) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_response(response, &mut out);
    out.to_vec()
}

/// Decodes `wire` as the client decodes a first line, with its default limits (RFC 2449 4: at
/// most 512 octets, CRLF included): as the greeting, `+OK` or `-ERR`.
fn decoded_by_the_client(wire: &[u8]) -> Result<Response<'static>, crate::client::Error> {
    use crate::client::{Client, ClientConfig, Credentials, Error, Event, Output};
    let mut client = Client::new(
        ClientConfig::default(),
        Credentials::user("mrose", "tanstaaf").unwrap(),
    );
    assert_eq!(client.receive(wire), wire.len());
    while let Some(output) = client.poll_output() {
        match output {
            Output::Event(Event::Greeting(response) | Event::Error(Error::Refused(response))) => {
                return Ok(response);
            }
            Output::Event(Event::Error(error)) => return Err(error),
            _ => {}
        }
    }
    panic!("nothing decoded from {wire:?}")
}

/// Encodes `response`, checks the wire form against `wire` if given, and decodes it back both
/// with `parse_response` and the way the client does (with the 512-octet line limit).
fn response_round_trip(response: &Response<'_>, wire: Option<&str>) {
    let bytes = encoded_response(response);
    if let Some(wire) = wire {
        assert_eq!(String::from_utf8_lossy(&bytes), format!("{wire}\r\n"));
    }
    assert!(bytes.len() <= MAX_RESPONSE_LINE, "{} octets", bytes.len());
    let line = bytes.strip_suffix(b"\r\n").unwrap();
    assert_eq!(parse_response(line, true).as_ref(), Ok(response));
    let owned = response.clone().into_owned();
    assert_eq!(decoded_by_the_client(&bytes), Ok(owned));
}

fn encoded_capability(capability: &Capability<'_>) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_capability(capability, &mut out);
    out.to_vec()
}

/// An unknown capability, built through the checked constructors.
fn other(tag: &str, params: &[&str]) -> Capability<'static> {
    let params = params
        .iter()
        .map(|p| CapaParam::new(*p).unwrap().into_owned());
    let tag = CapaTag::new(tag).unwrap().into_owned();
    Capability::Other(OtherCapability::new(tag, params.collect()).unwrap())
}

fn capability_round_trip(capability: &Capability<'_>, wire: Option<&str>) {
    let bytes = encoded_capability(capability);
    if let Some(wire) = wire {
        assert_eq!(String::from_utf8_lossy(&bytes), format!("{wire}\r\n"));
    }
    assert!(bytes.len() <= MAX_RESPONSE_LINE, "{} octets", bytes.len());
    let line = bytes.strip_suffix(b"\r\n").unwrap();
    assert_eq!(parse_capability(line).as_ref(), Ok(capability));
}

fn is_number_error(kind: &ErrorKind) -> bool {
    matches!(kind, ErrorKind::Invalid(InvalidValue::Number { .. }))
}

// ---------------------------------------------------------------------------------------------
// Commands

#[test]
fn every_command_round_trips() {
    let rfc_digest = ApopDigest::parse("c4c9334bac560ecc979e58001b3e22fb").unwrap();
    let commands: Vec<(Command<'_>, &str)> = vec![
        (Command::User(Username::new("mrose").unwrap()), "USER mrose"),
        (Command::pass("tanstaaf").unwrap(), "PASS tanstaaf"),
        (
            Command::pass(" my  secret pass ").unwrap(),
            "PASS  my  secret pass ",
        ),
        (
            Command::Apop {
                name: Username::new("mrose").unwrap(),
                digest: rfc_digest,
            },
            "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
        ),
        (Command::Stat, "STAT"),
        (Command::List(None), "LIST"),
        (Command::List(Some(n(2))), "LIST 2"),
        (Command::Retr(n(1)), "RETR 1"),
        (Command::Retr(n(u32::MAX)), "RETR 4294967295"),
        (Command::Dele(n(3)), "DELE 3"),
        (Command::Noop, "NOOP"),
        (Command::Rset, "RSET"),
        (Command::Quit, "QUIT"),
        (
            Command::Top {
                message: n(1),
                lines: 10,
            },
            "TOP 1 10",
        ),
        (
            Command::Top {
                message: n(7),
                lines: 0,
            },
            "TOP 7 0",
        ),
        (
            Command::Top {
                message: n(7),
                lines: u32::MAX,
            },
            "TOP 7 4294967295",
        ),
        (Command::Uidl(None), "UIDL"),
        (Command::Uidl(Some(n(2))), "UIDL 2"),
        (Command::Capa, "CAPA"),
        (Command::Stls, "STLS"),
        (Command::auth_list(), "AUTH"),
        (
            Command::auth(Mechanism::new("CRAM-MD5").unwrap(), None).unwrap(),
            "AUTH CRAM-MD5",
        ),
        (
            Command::auth(
                Mechanism::new("PLAIN").unwrap(),
                Some(String::from("AHRlc3QAdGVzdA==")),
            )
            .unwrap(),
            "AUTH PLAIN AHRlc3QAdGVzdA==",
        ),
        (
            Command::auth(Mechanism::new("EXTERNAL").unwrap(), Some(String::from("="))).unwrap(),
            "AUTH EXTERNAL =",
        ),
        (Command::Utf8, "UTF8"),
        (Command::Lang(None), "LANG"),
        (
            Command::Lang(Some(LanguageTag::new("en-US").unwrap())),
            "LANG en-US",
        ),
        (
            Command::Lang(Some(LanguageTag::new("*").unwrap())),
            "LANG *",
        ),
        (
            Command::Other {
                verb: Verb::new("XTND").unwrap(),
                arguments: None,
            },
            "XTND",
        ),
        (
            Command::Other {
                verb: Verb::new("XTND").unwrap(),
                arguments: Some(Text::new("XMIT  two spaces ").unwrap()),
            },
            "XTND XMIT  two spaces ",
        ),
        (
            Command::Other {
                verb: Verb::new("X").unwrap(),
                arguments: Some(Text::empty()),
            },
            "X ",
        ),
    ];
    for (command, wire) in &commands {
        command_round_trip(command, Some(wire));
    }
    // UTF-8 arguments after `UTF8` (RFC 6856).
    command_round_trip(&Command::User(Username::new("jörg").unwrap()), None);
    command_round_trip(&Command::pass("pässwörd mit leerzeichen").unwrap(), None);
}

#[test]
fn keywords_in_any_case_and_pass_keeps_the_rest_of_the_line() {
    assert_eq!(parse("retr 1").unwrap(), Command::Retr(n(1)));
    assert_eq!(parse("QuIt").unwrap(), Command::Quit);
    assert_eq!(parse("top 2 3").unwrap().verb(), "TOP");
    let Command::Pass(password) = parse("PASS  two  words ").unwrap() else {
        panic!()
    };
    assert_eq!(password.expose_secret(), " two  words ");
    let Command::Pass(password) = parse("pass a b c").unwrap() else {
        panic!()
    };
    assert_eq!(password.expose_secret(), "a b c");
    assert!(matches!(
        error("PASS"),
        ErrorKind::MissingArgument { verb: "PASS" }
    ));
    assert!(matches!(
        error("PASS "),
        ErrorKind::MissingArgument { verb: "PASS" }
    ));
    // Unknown verbs are kept with the rest of the line.
    assert_eq!(
        parse("XSENDER  a b").unwrap(),
        Command::Other {
            verb: Verb::new("XSENDER").unwrap(),
            arguments: Some(Text::new(" a b").unwrap()),
        }
    );
    // No verb at all.
    assert!(parse("").is_err());
    assert!(parse(" RETR 1").is_err());
}

#[test]
fn auth_forms() {
    assert_eq!(
        parse("AUTH").unwrap(),
        Command::Auth {
            mechanism: None,
            initial_response: None
        }
    );
    assert_eq!(parse("auth").unwrap(), Command::auth_list());
    assert!(parse("AUTH").unwrap().is_multi_line());
    let Command::Auth {
        mechanism: Some(mechanism),
        initial_response: Some(response),
    } = parse("AUTH plain dGVzdA==").unwrap()
    else {
        panic!()
    };
    assert!(mechanism.is("PLAIN"));
    assert_eq!(response.expose_secret(), "dGVzdA==");
    assert!(!parse("AUTH PLAIN dGVzdA==").unwrap().is_multi_line());
    // Not base64, a mechanism name too long or with a bad character, three arguments.
    assert!(matches!(
        error("AUTH PLAIN not*base64"),
        ErrorKind::Invalid(InvalidValue::Malformed { .. })
    ));
    assert!(matches!(
        error("AUTH PLAIN abc"),
        ErrorKind::Invalid(InvalidValue::Malformed { .. })
    ));
    assert!(matches!(
        error(&format!("AUTH {}", "A".repeat(21))),
        ErrorKind::Invalid(InvalidValue::TooLong { .. })
    ));
    assert!(matches!(
        error("AUTH PL@IN"),
        ErrorKind::Invalid(InvalidValue::UnexpectedChar { .. })
    ));
    assert!(matches!(
        error("AUTH PLAIN dGVzdA== x"),
        ErrorKind::TooManyArguments { verb: "AUTH" }
    ));
    assert!(matches!(error("AUTH  PLAIN"), ErrorKind::Syntax { .. }));
}

#[test]
fn every_prefix_is_incomplete_and_used_counts_the_line() {
    let long_password = format!("PASS {}", "p ".repeat(100));
    let lines = [
        "USER mrose",
        "PASS secret with spaces",
        "APOP mrose c4c9334bac560ecc979e58001b3e22fb",
        "STAT",
        "LIST",
        "LIST 1",
        "RETR 4294967295",
        "TOP 1 10",
        "UIDL",
        "AUTH PLAIN AHRlc3QAdGVzdA==",
        "AUTH",
        "LANG fr",
        "XTND XMIT",
        long_password.as_str(),
    ];
    for line in lines {
        let wire = format!("{line}\r\n");
        let bytes = wire.as_bytes();
        for end in 0..bytes.len() {
            assert_eq!(
                decode_command(&bytes[..end], &options()),
                Ok(Decoded::Incomplete),
                "{:?}",
                &wire[..end]
            );
        }
        let expected = parse(line).unwrap();
        for trailer in ["", "QUIT\r\n", "garbage \0 \r \n", "\r\n"] {
            let mut input = bytes.to_vec();
            input.extend_from_slice(trailer.as_bytes());
            assert_eq!(
                decode_command(&input, &options()),
                Ok(Decoded::Complete(expected.clone(), bytes.len())),
                "{line:?} + {trailer:?}"
            );
        }
    }
}

#[test]
fn pipelined_commands_decode_one_after_another() {
    let input = b"STAT\r\nLIST\r\nRETR 1\r\nQUIT\r\n";
    let mut rest = &input[..];
    let mut got = Vec::new();
    while let Ok(Decoded::Complete(command, used)) = decode_command(rest, &options()) {
        got.push(command);
        rest = &rest[used..];
    }
    assert!(rest.is_empty());
    assert_eq!(
        got,
        vec![
            Command::Stat,
            Command::List(None),
            Command::Retr(n(1)),
            Command::Quit
        ]
    );
}

#[test]
fn numeric_edge_cases_are_typed_errors() {
    let twenty_one = "1".repeat(21);
    let cases: Vec<(String, &str)> = vec![
        ("RETR 0".into(), "message numbers start at 1"),
        ("RETR 00".into(), "message numbers start at 1"),
        ("DELE 0".into(), "message numbers start at 1"),
        ("LIST 0".into(), "message numbers start at 1"),
        ("UIDL 0".into(), "message numbers start at 1"),
        ("TOP 0 1".into(), "message numbers start at 1"),
        ("RETR -1".into(), "not a number (ASCII digits only)"),
        ("RETR +1".into(), "not a number (ASCII digits only)"),
        ("LIST +1".into(), "not a number (ASCII digits only)"),
        ("LIST -0".into(), "not a number (ASCII digits only)"),
        ("UIDL +1".into(), "not a number (ASCII digits only)"),
        ("RETR 1x".into(), "not a number (ASCII digits only)"),
        ("RETR 0x10".into(), "not a number (ASCII digits only)"),
        ("RETR 1.0".into(), "not a number (ASCII digits only)"),
        ("RETR 4294967296".into(), "too large"),
        ("DELE 99999999999".into(), "too large"),
        ("TOP 1 -1".into(), "not a number (ASCII digits only)"),
        ("TOP 1 +1".into(), "not a number (ASCII digits only)"),
        ("TOP 1 4294967296".into(), "too large"),
        ("TOP -1 1".into(), "not a number (ASCII digits only)"),
        (format!("RETR {twenty_one}"), "too large"),
        (format!("LIST {twenty_one}"), "too large"),
        (format!("TOP 1 {twenty_one}"), "too large"),
        (format!("TOP {twenty_one} 1"), "too large"),
    ];
    for (line, reason) in &cases {
        match error(line) {
            ErrorKind::Invalid(InvalidValue::Number { reason: got, .. }) => {
                assert_eq!(got, *reason, "{line:?}");
            }
            other => panic!("{line:?}: {other:?}"),
        }
    }
    // Where the error points: at the argument.
    let e = parse("RETR -1").unwrap_err();
    assert_eq!(e.offset, 5);
    let e = parse("TOP 1 -1").unwrap_err();
    assert_eq!(e.offset, 6);
    // Non-ASCII digits are not digits, even in UTF8 mode.
    for line in ["RETR １", "RETR ٣"] {
        let e = parse_command(line.as_bytes(), &utf8_options()).unwrap_err();
        assert!(is_number_error(&e.kind), "{line:?}: {e:?}");
        assert!(matches!(parse(line).unwrap_err().kind, ErrorKind::NotText));
    }

    // Argument counts and spacing.
    assert!(matches!(
        error("RETR 1 2"),
        ErrorKind::TooManyArguments { verb: "RETR" }
    ));
    assert!(matches!(
        error("LIST 1 2"),
        ErrorKind::TooManyArguments { verb: "LIST" }
    ));
    assert!(matches!(
        error("TOP 1 2 3"),
        ErrorKind::TooManyArguments { verb: "TOP" }
    ));
    assert!(matches!(
        error("STAT 1"),
        ErrorKind::TooManyArguments { verb: "STAT" }
    ));
    assert!(matches!(
        error("QUIT now"),
        ErrorKind::TooManyArguments { verb: "QUIT" }
    ));
    assert!(matches!(
        error("RETR"),
        ErrorKind::MissingArgument { verb: "RETR" }
    ));
    assert!(matches!(
        error("DELE"),
        ErrorKind::MissingArgument { verb: "DELE" }
    ));
    assert!(matches!(
        error("TOP 1"),
        ErrorKind::MissingArgument { verb: "TOP" }
    ));
    assert!(matches!(
        error("APOP mrose"),
        ErrorKind::MissingArgument { verb: "APOP" }
    ));
    assert!(matches!(
        error("USER"),
        ErrorKind::MissingArgument { verb: "USER" }
    ));
    for line in [
        "RETR  1", "TOP 1  2", "LIST  1", "RETR 1 ", "RETR ", "TOP  1 2",
    ] {
        assert!(
            matches!(error(line), ErrorKind::Syntax { .. }),
            "{line:?}: {:?}",
            error(line)
        );
    }

    // The largest message number is accepted, and so are leading zeros (1*DIGIT).
    assert_eq!(
        parse("RETR 4294967295").unwrap(),
        Command::Retr(n(u32::MAX))
    );
    assert_eq!(parse("RETR 0001").unwrap(), Command::Retr(n(1)));
    assert_eq!(
        parse("TOP 1 0").unwrap(),
        Command::Top {
            message: n(1),
            lines: 0
        }
    );
    assert_eq!(
        parse("TOP 4294967295 4294967295").unwrap(),
        Command::Top {
            message: n(u32::MAX),
            lines: u32::MAX
        }
    );
}

#[test]
fn message_number_parse() {
    assert_eq!(MessageNumber::parse("1"), Ok(MessageNumber::FIRST));
    assert_eq!(MessageNumber::parse("4294967295"), Ok(n(u32::MAX)));
    assert_eq!(n(3).index(), 2);
    for bad in [
        "",
        "0",
        "-1",
        "+1",
        " 1",
        "1 ",
        "4294967296",
        "18446744073709551616",
    ] {
        assert!(
            matches!(MessageNumber::parse(bad), Err(InvalidValue::Number { .. })),
            "{bad:?}"
        );
    }
    assert_eq!(MessageNumber::new(0), None);
}

#[test]
fn apop_digest() {
    // RFC 1939 7.
    let timestamp = Timestamp::new("<1896.697170952@dbc.mtview.ca.us>").unwrap();
    let digest = ApopDigest::compute(&timestamp, b"tanstaaf");
    assert_eq!(digest.to_hex(), "c4c9334bac560ecc979e58001b3e22fb");
    assert_eq!(
        ApopDigest::parse("c4c9334bac560ecc979e58001b3e22fb"),
        Ok(digest)
    );
    assert!(digest.verify(&timestamp, b"tanstaaf"));
    assert!(!digest.verify(&timestamp, b"tanstaaF"));
    assert!(!digest.verify(&timestamp, b""));
    let other = Timestamp::new("<1896.697170953@dbc.mtview.ca.us>").unwrap();
    assert!(!digest.verify(&other, b"tanstaaf"));
    assert!(!format!("{digest:?}").is_empty());

    assert_eq!(
        parse("APOP mrose c4c9334bac560ecc979e58001b3e22fb").unwrap(),
        Command::Apop {
            name: Username::new("mrose").unwrap(),
            digest,
        }
    );
    // Upper case, wrong lengths, non-hex.
    assert!(matches!(
        ApopDigest::parse("C4C9334BAC560ECC979E58001B3E22FB"),
        Err(InvalidValue::UnexpectedChar {
            offset: 0,
            found: 'C',
            ..
        })
    ));
    assert!(matches!(
        ApopDigest::parse("c4c9334bac560ecc979e58001b3e22fB"),
        Err(InvalidValue::UnexpectedChar { offset: 31, .. })
    ));
    for bad in [
        "",
        "c4c9334bac560ecc979e58001b3e22f",
        "c4c9334bac560ecc979e58001b3e22fb0",
        "g4c9334bac560ecc979e58001b3e22fb",
        "+4c9334bac560ecc979e58001b3e22fb",
        " c4c9334bac560ecc979e58001b3e22f",
        "ä4c9334bac560ecc979e58001b3e22f",
    ] {
        assert!(ApopDigest::parse(bad).is_err(), "{bad:?}");
    }
    let e = error("APOP mrose C4C9334BAC560ECC979E58001B3E22FB");
    assert!(matches!(
        e,
        ErrorKind::Invalid(InvalidValue::UnexpectedChar { .. })
    ));
    let e = parse("APOP mrose c4c9334bac560ecc979e58001b3e22fB").unwrap_err();
    assert_eq!(e.offset, 11 + 31);
    assert!(matches!(
        error("APOP mrose c4c9334bac560ecc979e58001b3e22fb extra"),
        ErrorKind::TooManyArguments { verb: "APOP" }
    ));
}

/// RFC 2449 4: an unknown command (`Command::Other`) can be built with more arguments than a
/// 255-octet line holds (its `Text` takes up to 504 octets). `encoded_len` says so before
/// anything is sent (the client never sends one: it has no request for it), and a server's
/// decoder refuses the line as too long, whatever its content.
#[test]
fn rfc2449_4_an_unknown_command_over_255_octets_is_refused_as_too_long() {
    let command = Command::Other {
        verb: Verb::new("XTND").unwrap(),
        arguments: Some(Text::new("x".repeat(crate::types::MAX_TEXT)).unwrap()),
    };
    let wire = encoded_command(&command);
    assert_eq!(command.encoded_len(), wire.len());
    assert_eq!(wire.len(), "XTND ".len() + crate::types::MAX_TEXT + 2);
    assert!(command.encoded_len() > MAX_COMMAND_LINE);
    assert_eq!(
        decode_command(&wire, &options()).unwrap_err().kind,
        ErrorKind::LineTooLong {
            limit: MAX_COMMAND_LINE
        }
    );
    // With a raised limit it is the same command.
    let roomy = CommandOptions {
        max_line_length: wire.len(),
        ..CommandOptions::default()
    };
    assert_eq!(
        decode_command(&wire, &roomy),
        Ok(Decoded::Complete(command, wire.len()))
    );
}

#[test]
fn line_length_limit() {
    // 255 octets with the CRLF: accepted; 256: refused, even before the LF arrives.
    let fits = format!("XTND {}\r\n", "x".repeat(MAX_COMMAND_LINE - 7));
    assert_eq!(fits.len(), MAX_COMMAND_LINE);
    assert!(matches!(
        decode_command(fits.as_bytes(), &options()),
        Ok(Decoded::Complete(Command::Other { .. }, MAX_COMMAND_LINE))
    ));
    let over = format!("XTND {}\r\n", "x".repeat(MAX_COMMAND_LINE - 6));
    assert_eq!(over.len(), MAX_COMMAND_LINE + 1);
    for input in [over.as_bytes(), &over.as_bytes()[..MAX_COMMAND_LINE]] {
        let e = decode_command(input, &options()).unwrap_err();
        assert_eq!(
            e.kind,
            ErrorKind::LineTooLong {
                limit: MAX_COMMAND_LINE
            }
        );
    }
    // One octet short of the limit is still incomplete.
    assert_eq!(
        decode_command(&over.as_bytes()[..MAX_COMMAND_LINE - 1], &options()),
        Ok(Decoded::Incomplete)
    );
    let endless = vec![b'A'; 10_000];
    assert!(matches!(
        decode_command(&endless, &options()).unwrap_err().kind,
        ErrorKind::LineTooLong { .. }
    ));
    // A configured limit.
    let small = CommandOptions {
        max_line_length: 8,
        ..CommandOptions::default()
    };
    assert!(matches!(
        decode_command(b"RETR 1\r\n", &small),
        Ok(Decoded::Complete(_, 8))
    ));
    assert!(decode_command(b"RETR 10\r\n", &small).is_err());
    // A password longer than a 255-octet line holds, within a longer configured line.
    let roomy = CommandOptions {
        max_line_length: 1000,
        ..CommandOptions::default()
    };
    let long = format!("PASS {}\r\n", "x".repeat(MAX_ARGUMENT + 1));
    assert!(matches!(
        decode_command(long.as_bytes(), &roomy).unwrap_err().kind,
        ErrorKind::Invalid(InvalidValue::TooLong { .. })
    ));
}

/// RFC 2449 4: command lines up to 255 octets, CRLF included, and no smaller cap of ours on any
/// argument: each single-argument command fills the line, and one octet more is refused.
#[test]
fn rfc2449_4_arguments_fill_the_255_octet_line() {
    let fill = |verb: &str| "x".repeat(MAX_COMMAND_LINE - verb.len() - 3);
    let name = fill("USER");
    let password = "p w".repeat(MAX_ARGUMENT / 3) + &"p".repeat(MAX_ARGUMENT % 3);
    let verb = "X".repeat(MAX_COMMAND_LINE - 2);
    let tag = "a".repeat(8) + &"-abcdefgh".repeat(26) + "-abcde";
    let cases = [
        (
            format!("USER {name}"),
            Command::User(Username::new(name.as_str()).unwrap()),
        ),
        (
            format!("PASS {password}"),
            Command::pass(password.as_str()).unwrap(),
        ),
        (
            format!("XTND {}", fill("XTND")),
            Command::Other {
                verb: Verb::new("XTND").unwrap(),
                arguments: Some(Text::new(fill("XTND")).unwrap()),
            },
        ),
        (
            verb.clone(),
            Command::Other {
                verb: Verb::new(verb.as_str()).unwrap(),
                arguments: None,
            },
        ),
        (
            format!("LANG {tag}"),
            Command::Lang(Some(LanguageTag::new(tag.as_str()).unwrap())),
        ),
        (
            format!("APOP {} c4c9334bac560ecc979e58001b3e22fb", "n".repeat(215)),
            Command::Apop {
                name: Username::new("n".repeat(215)).unwrap(),
                digest: ApopDigest::parse("c4c9334bac560ecc979e58001b3e22fb").unwrap(),
            },
        ),
    ];
    for (line, command) in cases {
        assert_eq!(line.len() + 2, MAX_COMMAND_LINE, "{line}");
        command_round_trip(&command, Some(&line));
        assert_eq!(command.encoded_len(), MAX_COMMAND_LINE);
        // One octet more is a line too long, before any argument is looked at.
        let over = format!("{line}x\r\n");
        assert_eq!(
            decode_command(over.as_bytes(), &options())
                .unwrap_err()
                .kind,
            ErrorKind::LineTooLong {
                limit: MAX_COMMAND_LINE
            },
            "{line}"
        );
    }
    // The values themselves stop at what a line holds.
    assert!(Username::new("x".repeat(MAX_ARGUMENT + 1)).is_err());
    assert!(Verb::new("X".repeat(MAX_COMMAND_LINE - 1)).is_err());
    // An APOP name that fills a USER line makes an APOP line too long to send: `encoded_len`
    // says so before it goes out.
    let long_apop = Command::Apop {
        name: Username::new(name.as_str()).unwrap(),
        digest: ApopDigest::parse("c4c9334bac560ecc979e58001b3e22fb").unwrap(),
    };
    assert!(long_apop.encoded_len() > MAX_COMMAND_LINE);
    assert_eq!(encoded_command(&long_apop).len(), long_apop.encoded_len());
}

#[test]
fn bare_cr_lf_and_nul_are_errors() {
    let cases: [(&[u8], ErrorKind, usize); 9] = [
        (b"RETR 1\n", ErrorKind::BareLf, 6),
        (b"\n", ErrorKind::BareLf, 0),
        (b"RETR\r1\r\n", ErrorKind::BareCr, 4),
        (b"RETR\r1", ErrorKind::BareCr, 4),
        (b"RETR 1\r\r\n", ErrorKind::BareCr, 6),
        (b"RETR\x001\r\n", ErrorKind::Nul, 4),
        (b"PASS a\x00b\r\n", ErrorKind::Nul, 6),
        (b"PASS a\x00", ErrorKind::Nul, 6),
        (b"\x00", ErrorKind::Nul, 0),
    ];
    for (input, kind, offset) in cases {
        assert_eq!(
            decode_command(input, &options()),
            Err(DecodeError::new(offset, kind)),
            "{input:?}"
        );
    }
    // A final CR is the start of a CRLF.
    assert_eq!(
        decode_command(b"RETR 1\r", &options()),
        Ok(Decoded::Incomplete)
    );
    // parse_command checks the line too.
    assert!(parse_command(b"PASS a\rb", &options()).is_err());
    assert!(parse_command(b"PASS a\nb", &options()).is_err());
    assert!(parse_command(b"PASS a\0b", &options()).is_err());
    assert!(parse_response(b"+OK a\rb", false).is_err());
    assert!(parse_response(b"+OK a\0b", false).is_err());
    assert!(parse_response(b"+OK a\nb", false).is_err());
    assert!(parse_capability(b"TOP\r").is_err());
    assert!(parse_scan_listing(b"1 2\0").is_err());
    assert!(parse_uid_listing(b"1 a\rb").is_err());
}

#[test]
fn non_ascii_needs_utf8_mode() {
    let line = "USER jörg\r\n".as_bytes();
    assert!(matches!(
        decode_command(line, &options()).unwrap_err().kind,
        ErrorKind::NotText
    ));
    assert!(matches!(
        decode_command(line, &utf8_options()),
        Ok(Decoded::Complete(Command::User(_), 12))
    ));
    // Not UTF-8 at all.
    assert!(matches!(
        decode_command(b"USER \xff\xfe\r\n", &utf8_options())
            .unwrap_err()
            .kind,
        ErrorKind::NotText
    ));
    assert!(parse_response("+OK grüezi".as_bytes(), false).is_err());
    assert_eq!(
        parse_response("+OK grüezi".as_bytes(), true)
            .unwrap()
            .text
            .as_str(),
        "grüezi"
    );
}

#[test]
fn constructors_refuse_cr_lf_and_nul() {
    for bad in ["a\rb", "a\nb", "a\0b", "\r\nQUIT", "x\r\n", "\0"] {
        assert!(Text::new(bad).is_err(), "Text {bad:?}");
        assert!(Username::new(bad).is_err(), "Username {bad:?}");
        assert!(Verb::new(bad).is_err(), "Verb {bad:?}");
        assert!(LanguageTag::new(bad).is_err(), "LanguageTag {bad:?}");
        assert!(Mechanism::new(bad).is_err(), "Mechanism {bad:?}");
        assert!(Timestamp::new(bad).is_err(), "Timestamp {bad:?}");
        assert!(
            Timestamp::new(format!("<{bad}>")).is_err(),
            "Timestamp {bad:?}"
        );
        assert!(ResponseCode::new(bad).is_err(), "ResponseCode {bad:?}");
        assert!(UniqueId::new(bad).is_err(), "UniqueId {bad:?}");
        assert!(CapaTag::new(bad).is_err(), "CapaTag {bad:?}");
        assert!(CapaParam::new(bad).is_err(), "CapaParam {bad:?}");
        assert!(Command::pass(bad).is_err(), "pass {bad:?}");
        assert!(
            Command::auth(Mechanism::new("PLAIN").unwrap(), Some(bad.into())).is_err(),
            "auth {bad:?}"
        );
        assert!(ApopDigest::parse(bad).is_err());
        assert!(MessageNumber::parse(bad).is_err());
    }
    assert!(matches!(
        Text::new("ok\r\nDELE 1"),
        Err(InvalidValue::UnexpectedChar {
            offset: 2,
            found: '\r',
            ..
        })
    ));
    // The limits of the other values.
    assert!(Text::new("x".repeat(crate::types::MAX_TEXT)).is_ok());
    assert!(Text::new("x".repeat(crate::types::MAX_TEXT + 1)).is_err());
    assert!(Command::pass("").is_err());
    assert!(Command::pass("x".repeat(MAX_ARGUMENT)).is_ok());
    assert!(Command::pass("x".repeat(MAX_ARGUMENT + 1)).is_err());
    assert!(Username::new("two words").is_err());
    assert!(Username::new("").is_err());
    assert!(Username::new("x".repeat(MAX_ARGUMENT)).is_ok());
    assert!(Username::new("x".repeat(MAX_ARGUMENT + 1)).is_err());
    assert!(Verb::new("").is_err() && Verb::new("A B").is_err());
    assert!(LanguageTag::new("en US").is_err());
    assert!(Mechanism::new("x".repeat(21)).is_err());
    assert!(Mechanism::new("SCRAM-SHA-256").is_ok());
}

/// What a session's user name and password can become on the wire: never two lines.
#[test]
fn no_argument_injects_a_command() {
    for bad in ["x\r\nDELE 1", "x\nDELE 1", "x\rDELE 1", "x\0"] {
        assert!(Command::pass(bad).is_err());
        assert!(Username::new(bad).is_err());
        assert!(Text::new(bad).is_err());
    }
    // Whatever the client was given, a command it can build encodes to one line.
    for command in [
        Command::pass("a b c").unwrap(),
        Command::User(Username::new("a").unwrap()),
        Command::Other {
            verb: Verb::new("X").unwrap(),
            arguments: Some(Text::new("a b").unwrap()),
        },
    ] {
        let bytes = encoded_command(&command);
        assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 1);
        assert_eq!(bytes.iter().filter(|&&b| b == b'\r').count(), 1);
    }
}

// ---------------------------------------------------------------------------------------------
// Responses

#[test]
fn responses_round_trip() {
    let code = |c: &'static str| ResponseCode::new(c).unwrap();
    let text = |t: &'static str| Text::new(t).unwrap();
    let cases = [
        (Response::ok(Text::empty()), "+OK"),
        (Response::err(Text::empty()), "-ERR"),
        (Response::ok(text("2 320")), "+OK 2 320"),
        (
            Response::ok(text("POP3 server ready <1896.697170952@dbc.mtview.ca.us>")),
            "+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
        ),
        (
            Response::err(text("Do you have another POP session running?"))
                .with_code(ResponseCode::known(KnownCode::InUse))
                .unwrap(),
            "-ERR [IN-USE] Do you have another POP session running?",
        ),
        (
            Response::err(Text::empty())
                .with_code(code("SYS/TEMP"))
                .unwrap(),
            "-ERR [SYS/TEMP]",
        ),
        (
            Response::err(text("disk full"))
                .with_code(code("SYS/TEMP/DISK"))
                .unwrap(),
            "-ERR [SYS/TEMP/DISK] disk full",
        ),
        (
            Response::ok(text("[bracketed] text")),
            "+OK  [bracketed] text",
        ),
        (Response::ok(text("[IN-USE] x")), "+OK  [IN-USE] x"),
        (Response::ok(text("[")), "+OK  ["),
        (
            Response::err(text("[x] y"))
                .with_code(code("AUTH"))
                .unwrap(),
            "-ERR [AUTH] [x] y",
        ),
        (
            Response::err(text(" [x] y"))
                .with_code(code("AUTH"))
                .unwrap(),
            "-ERR [AUTH]  [x] y",
        ),
        (Response::ok(text(" leading space")), "+OK  leading space"),
        (Response::ok(text("trailing ")), "+OK trailing "),
        (Response::ok(text(" ")), "+OK  "),
        (Response::ok(text("a]")), "+OK a]"),
        (Response::ok(text("grüße")), "+OK grüße"),
    ];
    for (response, wire) in &cases {
        response_round_trip(response, Some(wire));
    }
}

/// Text that starts with spaces and then `[` must come back as it was (the escape space is
/// not confused with the text's own).
#[test]
fn escaped_text_with_leading_spaces_round_trips() {
    for t in [" [x", "  [x", " [IN-USE] y", "   [", " ["] {
        response_round_trip(&Response::ok(Text::new(t).unwrap()), None);
        response_round_trip(&Response::err(Text::new(t).unwrap()), None);
    }
}

#[test]
fn parse_response_forms() {
    let r = parse_response(b"+ok hello", false).unwrap();
    assert_eq!((r.status, r.text.as_str()), (Status::Ok, "hello"));
    assert!(r.is_ok());
    let r = parse_response(b"-err", false).unwrap();
    assert_eq!((r.status, r.text.as_str()), (Status::Err, ""));
    assert!(!r.is_ok());
    for bad in [
        &b"OK"[..],
        b"",
        b"+",
        b"+OKx",
        b"-ERRx",
        b"+ OK",
        b"* OK",
        b"+OK\tx",
    ] {
        assert!(parse_response(bad, true).is_err(), "{bad:?}");
    }
    // Things that look like codes but are not: kept as text.
    for (line, text) in [
        ("+OK [unterminated", "[unterminated"),
        ("+OK [x]y", "[x]y"),
        ("+OK []", "[]"),
        ("+OK [a//b] t", "[a//b] t"),
        ("+OK [a b] t", "[a b] t"),
        ("+OK [/a] t", "[/a] t"),
    ] {
        let r = parse_response(line.as_bytes(), false).unwrap();
        assert_eq!((r.code, r.text.as_str()), (None, text), "{line:?}");
    }
    // A code with no text, and with empty text after its space.
    for line in ["-ERR [AUTH]", "-ERR [AUTH] "] {
        let r = parse_response(line.as_bytes(), false).unwrap();
        assert!(r.code.unwrap().is(KnownCode::Auth));
        assert!(r.text.is_empty());
    }
}

#[test]
fn response_codes_are_typed() {
    for (line, kind) in [
        ("-ERR [IN-USE] locked", KnownCode::InUse),
        ("-ERR [LOGIN-DELAY] wait", KnownCode::LoginDelay),
        ("-ERR [SYS/TEMP] try later", KnownCode::SysTemp),
        ("-ERR [SYS/PERM] gone", KnownCode::SysPerm),
        ("-ERR [AUTH] bad password", KnownCode::Auth),
        ("-ERR [UTF8] needs UTF8", KnownCode::Utf8),
        ("-ERR [in-use] lower case", KnownCode::InUse),
        ("-ERR [Sys/Temp] mixed case", KnownCode::SysTemp),
        ("-ERR [SYS/TEMP/DISK] disk", KnownCode::SysTemp),
        ("-ERR [SYS/PERM/QUOTA/X] quota", KnownCode::SysPerm),
        ("-ERR [IN-USE/DETAIL] more", KnownCode::InUse),
    ] {
        let r = parse_response(line.as_bytes(), false).unwrap();
        let code = r.code.clone().unwrap();
        assert_eq!(code.kind(), Some(kind), "{line:?}");
        assert!(code.is(kind));
        // The code is kept as sent, every level of it.
        let sent = &line[line.find('[').unwrap() + 1..line.find(']').unwrap()];
        assert_eq!(code.as_str(), sent);
        assert_eq!(code.levels().collect::<Vec<_>>().join("/"), sent);
        // And the text after it.
        assert_eq!(r.text.as_str(), &line[line.find(']').unwrap() + 2..]);
    }
    let r = parse_response(b"-ERR [SYS/TEMP/DISK] disk full", false).unwrap();
    let code = r.code.unwrap();
    assert_eq!(
        code.levels().collect::<Vec<_>>(),
        vec!["SYS", "TEMP", "DISK"]
    );
    assert_eq!(r.text.as_str(), "disk full");
    // Unknown codes and unknown hierarchies are kept, but typed as nothing.
    for unknown in [
        "X-FOO",
        "SYS",
        "SYS/OTHER",
        "XSYS/TEMP",
        "IN-USED",
        "FOO/BAR/BAZ",
    ] {
        let line = format!("-ERR [{unknown}] text");
        let r = parse_response(line.as_bytes(), false).unwrap();
        let code = r.code.unwrap();
        assert_eq!(code.as_str(), unknown);
        assert_eq!(code.kind(), None, "{unknown}");
        assert_eq!(r.text.as_str(), "text");
    }
    for kind in [
        KnownCode::InUse,
        KnownCode::LoginDelay,
        KnownCode::SysTemp,
        KnownCode::SysPerm,
        KnownCode::Auth,
        KnownCode::Utf8,
    ] {
        assert_eq!(ResponseCode::known(kind).kind(), Some(kind));
        assert_eq!(ResponseCode::new(kind.as_str()).unwrap().kind(), Some(kind));
    }
    for bad in ["", "/", "A/", "/A", "A//B", "A]B", "A B", "A\u{7f}"] {
        assert!(ResponseCode::new(bad).is_err(), "{bad:?}");
    }
    // RFC 2449 4: as long as `-ERR [code]` fits in a 512-octet line.
    assert!(ResponseCode::new("x".repeat(503)).is_ok());
    assert!(ResponseCode::new("x".repeat(504)).is_err());
}

#[test]
fn greeting_timestamp() {
    let stamp = "<1896.697170952@dbc.mtview.ca.us>";
    for greeting in [
        format!("+OK POP3 server ready {stamp}"),
        format!("+OK {stamp} POP3 server ready"),
        format!("+OK POP3 {stamp} server ready"),
        format!("+OK [X-CODE] ready {stamp}"),
        format!("+OK a < b, c > d, <not a stamp> {stamp}"),
        format!("+OK <<{stamp}"),
        format!("+OK ready{stamp}."),
        format!("+OK <a{stamp}"),
    ] {
        let r = parse_response(greeting.as_bytes(), false).unwrap();
        assert_eq!(
            r.timestamp().map(|t| String::from(t.as_str())),
            Some(String::from(stamp)),
            "{greeting:?}"
        );
    }
    for greeting in [
        "+OK POP3 server ready",
        "+OK <>",
        "+OK < a@b >",
        "+OK <a@b",
        "+OK a@b>",
        "+OK <a b>",
    ] {
        let r = parse_response(greeting.as_bytes(), false).unwrap();
        assert_eq!(r.timestamp(), None, "{greeting:?}");
    }
    // The greeting the digest is computed over is the one that was parsed.
    let r = parse_response(
        b"+OK POP3 server ready <1896.697170952@dbc.mtview.ca.us>",
        false,
    )
    .unwrap();
    let digest = ApopDigest::compute(&r.timestamp().unwrap(), b"tanstaaf");
    assert_eq!(digest.to_hex(), "c4c9334bac560ecc979e58001b3e22fb");
}

// ---------------------------------------------------------------------------------------------
// Listings, STAT, continuations

#[test]
fn scan_listings() {
    for (line, message, size) in [
        ("1 120", 1, 120),
        ("2 200", 2, 200),
        ("4294967295 18446744073709551615", u32::MAX, u64::MAX),
        ("3 0", 3, 0),
        // RFC 1939 5 allows more after the size.
        ("1 120 extra info", 1, 120),
    ] {
        let listing = parse_scan_listing(line.as_bytes()).unwrap();
        assert_eq!(
            listing,
            ScanListing {
                message: n(message),
                size
            }
        );
        let mut out = BytesMut::new();
        encode_scan_listing(&listing, &mut out);
        assert_eq!(
            parse_scan_listing(out.strip_suffix(b"\r\n").unwrap()),
            Ok(listing)
        );
    }
    let mut out = BytesMut::new();
    encode_scan_listing(
        &ScanListing {
            message: n(1),
            size: 120,
        },
        &mut out,
    );
    assert_eq!(&out[..], b"1 120\r\n");
    for bad in [
        "",
        "1",
        "1 ",
        "0 120",
        "-1 120",
        "+1 120",
        "1 -120",
        "1  120",
        " 1 120",
        "4294967296 1",
        "1 18446744073709551616",
        "a 1",
        "1 1x",
    ] {
        assert!(parse_scan_listing(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn stat_text() {
    assert_eq!(parse_stat("2 320"), Ok((2, 320)));
    assert_eq!(parse_stat("0 0"), Ok((0, 0)));
    assert_eq!(parse_stat("2 320 messages"), Ok((2, 320)));
    for bad in [
        "",
        "2",
        "2  320",
        "-2 320",
        "2 +320",
        "two 320",
        "2 18446744073709551616",
    ] {
        assert!(parse_stat(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn uid_listings() {
    let max = "!".repeat(35) + &"~".repeat(35);
    for (line, message, uid) in [
        ("1 whqtswO00WBw418f9t5JxYwZ", 1, "whqtswO00WBw418f9t5JxYwZ"),
        ("2 QhdPYR:00WBw1Ph7x7", 2, "QhdPYR:00WBw1Ph7x7"),
        ("3 x", 3, "x"),
        (&format!("4 {max}"), 4, max.as_str()),
    ] {
        let listing = parse_uid_listing(line.as_bytes()).unwrap();
        assert_eq!(listing.message, n(message));
        assert_eq!(listing.uid.as_str(), uid);
        let mut out = BytesMut::new();
        encode_uid_listing(&listing, &mut out);
        assert_eq!(&out[..], format!("{line}\r\n").as_bytes());
        assert_eq!(
            parse_uid_listing(out.strip_suffix(b"\r\n").unwrap()),
            Ok(listing.clone())
        );
        assert_eq!(listing.into_owned().uid.as_str(), uid);
    }
    // Every character of 0x21..0x7E, at every length from 1 to 70.
    let all: String = (0x21u8..=0x7e).map(char::from).collect();
    for len in 1..=70 {
        let uid = &all[..len];
        assert!(UniqueId::new(uid).is_ok(), "{uid:?}");
        assert!(parse_uid_listing(format!("1 {uid}").as_bytes()).is_ok());
    }
    let seventy_one = "a".repeat(71);
    assert!(matches!(
        UniqueId::new(seventy_one.as_str()),
        Err(InvalidValue::TooLong { length: 71, .. })
    ));
    for bad in [
        "",
        "a b",
        " a",
        "a ",
        "a\u{7f}",
        "a\u{1f}",
        "é",
        seventy_one.as_str(),
    ] {
        assert!(UniqueId::new(bad).is_err(), "{bad:?}");
    }
    for bad in [
        "1",
        "1 ",
        "0 abc",
        "-1 abc",
        "1  abc",
        "1 abc def",
        "1 abc ",
        &format!("1 {seventy_one}"),
    ] {
        assert!(parse_uid_listing(bad.as_bytes()).is_err(), "{bad:?}");
    }
}

#[test]
fn continuations() {
    assert_eq!(
        parse_continuation(b"+ PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"),
        Some(&b"PDE4OTYuNjk3MTcwOTUyQHBvc3RvZmZpY2UucmVzdG9uLm1jaS5uZXQ+"[..])
    );
    assert_eq!(parse_continuation(b"+ "), Some(&b""[..]));
    assert_eq!(parse_continuation(b"+"), Some(&b""[..]));
    assert_eq!(parse_continuation(b"+  x"), Some(&b" x"[..]));
    for other in [&b"+OK"[..], b"+x", b"-ERR", b"", b" + x"] {
        assert_eq!(parse_continuation(other), None, "{other:?}");
    }
    for payload in ["", "dGVzdA==", "="] {
        let mut out = BytesMut::new();
        encode_continuation(payload, &mut out);
        assert_eq!(&out[..], format!("+ {payload}\r\n").as_bytes());
        assert_eq!(
            parse_continuation(out.strip_suffix(b"\r\n").unwrap()),
            Some(payload.as_bytes())
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Capabilities

#[test]
fn every_capability_round_trips() {
    let mech = |m: &'static str| Mechanism::new(m).unwrap();
    let cases = [
        (Capability::Top, "TOP"),
        (Capability::User, "USER"),
        (
            Capability::Sasl(
                SaslMechanisms::new(vec![mech("CRAM-MD5"), mech("KERBEROS_V4")]).unwrap(),
            ),
            "SASL CRAM-MD5 KERBEROS_V4",
        ),
        (Capability::Sasl(SaslMechanisms::empty()), "SASL"),
        (Capability::RespCodes, "RESP-CODES"),
        (
            Capability::LoginDelay {
                seconds: 900,
                per_user: false,
            },
            "LOGIN-DELAY 900",
        ),
        (
            Capability::LoginDelay {
                seconds: u32::MAX,
                per_user: true,
            },
            "LOGIN-DELAY 4294967295 USER",
        ),
        (Capability::Pipelining, "PIPELINING"),
        (
            Capability::Expire {
                expire: Expire::Days(60),
                per_user: false,
            },
            "EXPIRE 60",
        ),
        (
            Capability::Expire {
                expire: Expire::Days(0),
                per_user: true,
            },
            "EXPIRE 0 USER",
        ),
        (
            Capability::Expire {
                expire: Expire::Never,
                per_user: false,
            },
            "EXPIRE NEVER",
        ),
        (
            Capability::Expire {
                expire: Expire::Never,
                per_user: true,
            },
            "EXPIRE NEVER USER",
        ),
        (Capability::Uidl, "UIDL"),
        (
            Capability::Implementation(ImplementationText::new("Shlemazle-Plotz-v302").unwrap()),
            "IMPLEMENTATION Shlemazle-Plotz-v302",
        ),
        (
            Capability::Implementation(ImplementationText::new("two  words ").unwrap()),
            "IMPLEMENTATION two  words ",
        ),
        (
            Capability::Implementation(ImplementationText::empty()),
            "IMPLEMENTATION",
        ),
        (Capability::Stls, "STLS"),
        (Capability::AuthRespCode, "AUTH-RESP-CODE"),
        (Capability::Utf8 { user: false }, "UTF8"),
        (Capability::Utf8 { user: true }, "UTF8 USER"),
        (Capability::Lang, "LANG"),
        (other("X-FOO", &[]), "X-FOO"),
        (other("XTND", &["XMIT", "a=b"]), "XTND XMIT a=b"),
    ];
    for (capability, wire) in &cases {
        capability_round_trip(capability, Some(wire));
        assert!(capability.same_tag(&capability.clone().into_owned()));
    }
}

/// RFC 2449 4: a CAPA line is a response line, at most 512 octets with its CRLF. A 504-octet
/// `Text` once made a 521-octet `IMPLEMENTATION` line; each capability with text or a list
/// now fills the line exactly at its limit, and one octet more is refused when built.
#[test]
fn rfc2449_4_capabilities_fill_the_512_octet_line_and_no_more() {
    let text = Text::new("x".repeat(crate::types::MAX_TEXT)).unwrap();
    assert!(matches!(
        ImplementationText::try_from(text),
        Err(InvalidValue::TooLong {
            limit: MAX_IMPLEMENTATION,
            ..
        })
    ));
    let longest = ImplementationText::new("\u{e9}".repeat(MAX_IMPLEMENTATION / 2) + "x").unwrap();
    let twenty = |c: char| Mechanism::new(String::from(c).repeat(20)).unwrap();
    // `SASL`, 24 names of 20 octets and one of 1, each after a space, and CRLF: 512.
    let mut names: Vec<_> = ('A'..='X').map(twenty).collect();
    names.push(Mechanism::new("Y").unwrap());
    let tag = CapaTag::new("X".repeat(100)).unwrap();
    let params = vec![CapaParam::new("p".repeat(204)).unwrap(); 2];
    let full = [
        Capability::Implementation(longest.clone()),
        Capability::Sasl(SaslMechanisms::new(names.clone()).unwrap()),
        Capability::Other(OtherCapability::new(tag.clone(), params.clone()).unwrap()),
    ];
    for capability in &full {
        let wire = encoded_capability(capability);
        assert_eq!(wire.len(), MAX_RESPONSE_LINE, "{capability:?}");
        capability_round_trip(capability, None);
        assert_eq!(
            capabilities_read_by_the_client(&wire),
            Ok(vec![capability.clone().into_owned()])
        );
    }
    // One octet more.
    assert!(ImplementationText::new(format!("{longest}y")).is_err());
    let mut more = names.clone();
    more.push(Mechanism::new("Z").unwrap());
    assert!(SaslMechanisms::new(more).is_err());
    let mut mechanisms = SaslMechanisms::new(names).unwrap();
    assert!(mechanisms.push(Mechanism::new("Z").unwrap()).is_err());
    assert_eq!(mechanisms.len(), 25, "unchanged by a refused push");
    let mut longer = params;
    longer.push(CapaParam::new("q").unwrap());
    assert!(matches!(
        OtherCapability::new(tag, longer),
        Err(InvalidValue::TooLong {
            length: 514,
            limit: MAX_RESPONSE_LINE,
            ..
        })
    ));
}

/// RFC 2449 4: a capability decoded from a line longer than 512 octets (a client with a
/// raised `max_listing_line`) is kept as read, and encoding cuts it to a 512-octet line.
#[test]
fn rfc2449_4_an_over_long_decoded_capability_is_cut_to_the_line() {
    let sasl = format!("SASL {}", vec!["PLAIN-MECHANISM-NAME"; 30].join(" "));
    let implementation = format!("IMPLEMENTATION {}", "\u{e9}".repeat(300));
    let other = format!("X-LONG {}", vec!["p".repeat(100); 6].join(" "));
    for line in [sasl, implementation, other] {
        let decoded = parse_capability(line.as_bytes()).unwrap();
        let wire = encoded_capability(&decoded);
        assert!(
            wire.len() <= MAX_RESPONSE_LINE && wire.len() > 400,
            "{}",
            wire.len()
        );
        assert!(
            line.as_bytes()
                .starts_with(wire.strip_suffix(b"\r\n").unwrap())
        );
        let again = parse_capability(wire.strip_suffix(b"\r\n").unwrap()).unwrap();
        assert!(again.same_tag(&decoded));
        assert_ne!(again, decoded);
        // The client with its default limit refuses the long line, and reads the cut one.
        assert!(capabilities_read_by_the_client(format!("{line}\r\n").as_bytes()).is_err());
        assert_eq!(
            capabilities_read_by_the_client(&wire),
            Ok(vec![again.into_owned()])
        );
    }
}

/// A CAPA line the client reads keeps trailing spaces where they belong to the value (an
/// `IMPLEMENTATION` text, RFC 2449 6.9) and tolerates them after a list.
#[test]
fn capa_trailing_spaces_in_the_client() {
    let read = capabilities_read_by_the_client(b"IMPLEMENTATION v1 \r\nSASL PLAIN \r\nTOP \r\n");
    assert_eq!(
        read,
        Ok(vec![
            Capability::Implementation(ImplementationText::new("v1 ").unwrap()),
            Capability::Sasl(SaslMechanisms::new(vec![Mechanism::new("PLAIN").unwrap()]).unwrap()),
            Capability::Top,
        ])
    );
}

#[test]
fn parse_capability_forms() {
    // RFC 2449 5, the example.
    let lines = [
        "TOP",
        "USER",
        "SASL CRAM-MD5 KERBEROS_V4",
        "RESP-CODES",
        "LOGIN-DELAY 900",
        "PIPELINING",
        "EXPIRE 60",
        "UIDL",
        "IMPLEMENTATION Shlemazle-Plotz-v302",
    ];
    let parsed: Vec<_> = lines
        .iter()
        .map(|l| parse_capability(l.as_bytes()).unwrap())
        .collect();
    assert_eq!(parsed[0], Capability::Top);
    assert_eq!(
        parsed[4],
        Capability::LoginDelay {
            seconds: 900,
            per_user: false
        }
    );
    assert_eq!(
        parsed[6],
        Capability::Expire {
            expire: Expire::Days(60),
            per_user: false
        }
    );
    // Tags in any case.
    assert_eq!(parse_capability(b"top"), Ok(Capability::Top));
    assert_eq!(
        parse_capability(b"expire never user"),
        Ok(Capability::Expire {
            expire: Expire::Never,
            per_user: true
        })
    );
    assert_eq!(
        parse_capability(b"utf8 user"),
        Ok(Capability::Utf8 { user: true })
    );
    // Errors: missing or bad numbers, bad mechanisms, bad spacing where parameters count.
    for bad in [
        "LOGIN-DELAY",
        "LOGIN-DELAY x",
        "LOGIN-DELAY -1",
        "LOGIN-DELAY 4294967296",
        "EXPIRE",
        "EXPIRE +1",
        "SASL PL@IN",
        "SASL  PLAIN",
        "X-FOO  a",
        "",
        ".",
        " TOP",
    ] {
        assert!(parse_capability(bad.as_bytes()).is_err(), "{bad:?}");
    }
    // Unknown tags keep their parameters.
    assert_eq!(
        parse_capability(b"X-EXT a b=c"),
        Ok(other("X-EXT", &["a", "b=c"]))
    );
}

/// RFC 2449 3 and 5: any capability may carry parameters, and a later revision of an extension
/// may add some: a known tag with parameters beyond the ones it defines is kept, the extras
/// ignored (`LANG en de` once ended the client's session with TooManyArguments).
#[test]
fn rfc2449_5_known_capabilities_ignore_extra_parameters() {
    let cases = [
        ("LANG en de", Capability::Lang),
        ("LANG  en", Capability::Lang),
        ("TOP x", Capability::Top),
        ("USER x", Capability::User),
        ("STLS x", Capability::Stls),
        ("PIPELINING 1", Capability::Pipelining),
        ("UIDL x y", Capability::Uidl),
        ("RESP-CODES x", Capability::RespCodes),
        ("AUTH-RESP-CODE x", Capability::AuthRespCode),
        ("UTF8 FOO", Capability::Utf8 { user: false }),
        ("UTF8 USER X", Capability::Utf8 { user: true }),
        (
            "LOGIN-DELAY 10 OTHER",
            Capability::LoginDelay {
                seconds: 10,
                per_user: false,
            },
        ),
        (
            "LOGIN-DELAY 10 USER USER",
            Capability::LoginDelay {
                seconds: 10,
                per_user: true,
            },
        ),
        (
            "EXPIRE 5 FOO",
            Capability::Expire {
                expire: Expire::Days(5),
                per_user: false,
            },
        ),
    ];
    for (line, capability) in cases {
        assert_eq!(
            parse_capability(line.as_bytes()),
            Ok(capability),
            "{line:?}"
        );
    }
    // The value a known tag defines still has to be right.
    assert!(parse_capability(b"LOGIN-DELAY soon USER").is_err());
}

// ---------------------------------------------------------------------------------------------
// Properties

fn known_verb(verb: &str) -> bool {
    KNOWN_VERBS.iter().any(|k| k.eq_ignore_ascii_case(verb))
}

fn known_tag(tag: &str) -> bool {
    KNOWN_TAGS.iter().any(|k| k.eq_ignore_ascii_case(tag))
}

fn message_number() -> impl Strategy<Value = MessageNumber> {
    prop_oneof![1u32..100, any::<u32>().prop_filter("not 0", |v| *v != 0)]
        .prop_map(|v| MessageNumber::new(v).unwrap())
}

/// RFC 4647 2.1: a basic language range, `*` included.
fn language_range() -> impl Strategy<Value = LanguageTag<'static>> {
    prop_oneof![
        1 => Just(LanguageTag::any()),
        8 => "[A-Za-z]{1,8}(-[A-Za-z0-9]{1,8}){0,4}".prop_map(|t| LanguageTag::new(t).unwrap()),
    ]
}

/// Up to `max` octets of the characters `class` allows (a regex class), cut at a character
/// boundary: values that reach the limits of the public constructors.
fn up_to(class: &'static str, max: usize) -> BoxedStrategy<String> {
    let short = format!("{class}{{1,12}}");
    let long = format!("{class}{{1,{max}}}");
    prop_oneof![
        proptest::string::string_regex(&short).unwrap(),
        proptest::string::string_regex(&long).unwrap(),
    ]
    .prop_map(move |mut text| {
        while text.len() > max {
            text.pop();
        }
        text
    })
    .prop_filter("not empty", |text| !text.is_empty())
    .boxed()
}

fn command() -> impl Strategy<Value = Command<'static>> {
    // User names: VCHARs and UTF-8 (RFC 6856 2), up to the 248 octets of a USER line.
    let name = up_to("[!-~é中]", MAX_ARGUMENT).prop_map(|s| Username::new(s).unwrap());
    prop_oneof![
        name.clone().prop_map(Command::User),
        // Passwords: anything but CR, LF and NUL, spaces included, up to 248 octets.
        up_to("[^\\r\\n\\x00]", MAX_ARGUMENT).prop_map(|p| Command::pass(p).unwrap()),
        (name, any::<[u8; 16]>()).prop_map(|(name, bytes)| {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            Command::Apop {
                name,
                digest: ApopDigest::parse(&hex).unwrap(),
            }
        }),
        Just(Command::Stat),
        proptest::option::of(message_number()).prop_map(Command::List),
        message_number().prop_map(Command::Retr),
        message_number().prop_map(Command::Dele),
        Just(Command::Noop),
        Just(Command::Rset),
        Just(Command::Quit),
        (message_number(), any::<u32>())
            .prop_map(|(message, lines)| Command::Top { message, lines }),
        proptest::option::of(message_number()).prop_map(Command::Uidl),
        Just(Command::Capa),
        Just(Command::Stls),
        Just(Command::auth_list()),
        (
            "[A-Za-z0-9_-]{1,20}",
            proptest::option::of(prop_oneof![
                Just(String::from("=")),
                "([A-Za-z0-9+/]{4}){1,30}",
                "([A-Za-z0-9+/]{4}){0,30}[A-Za-z0-9+/]{2}==",
                "([A-Za-z0-9+/]{4}){0,30}[A-Za-z0-9+/]{3}=",
            ])
        )
            .prop_map(|(m, r)| Command::auth(Mechanism::new(m).unwrap(), r).unwrap()),
        Just(Command::Utf8),
        proptest::option::of(language_range()).prop_map(Command::Lang),
        (
            up_to("[!-~]", MAX_COMMAND_LINE - 2).prop_filter("unknown verb", |v| !known_verb(v)),
            proptest::option::of(prop_oneof![
                Just(String::new()),
                up_to("[^\\r\\n\\x00]", crate::types::MAX_TEXT),
            ])
        )
            .prop_map(|(verb, arguments)| Command::Other {
                verb: Verb::new(verb).unwrap(),
                arguments: arguments.map(|a| Text::new(a).unwrap()),
            }),
    ]
}

fn response_code() -> impl Strategy<Value = ResponseCode<'static>> {
    prop_oneof![
        prop::sample::select(vec![
            "IN-USE",
            "LOGIN-DELAY",
            "SYS/TEMP",
            "SYS/PERM",
            "AUTH",
            "UTF8",
            "SYS/TEMP/DISK",
        ])
        .prop_map(|c| ResponseCode::new(c).unwrap()),
        prop::collection::vec("[!-.0-\\\\^-~]{1,8}", 1..4)
            .prop_map(|levels| ResponseCode::new(levels.join("/")).unwrap()),
        // Up to the 503 octets of `-ERR [code]` in a 512-octet line.
        up_to("[!-.0-\\\\^-~]", 503).prop_map(|code| ResponseCode::new(code).unwrap()),
    ]
}

/// Text of at most `room` octets (cut at a character boundary), possibly empty.
fn response_text(room: usize) -> impl Strategy<Value = Text<'static>> {
    prop_oneof![
        ("[ \\[\\]]{0,3}", "\\PC{0,60}").prop_map(|(head, tail)| head + &tail),
        // Anything but CR, LF and NUL, controls and UTF-8 included, up to what is left.
        up_to("[^\\r\\n\\x00]", room.clamp(1, crate::types::MAX_TEXT)),
    ]
    .prop_map(move |mut text| {
        while text.len() > room {
            text.pop();
        }
        Text::new(text).unwrap()
    })
}

fn status() -> impl Strategy<Value = Status> {
    prop_oneof![Just(Status::Ok), Just(Status::Err)]
}

/// Every response the public constructors build: a code, then text up to what the code leaves
/// of the 512-octet line (RFC 2449 4), up to its very last octet.
fn response() -> impl Strategy<Value = Response<'static>> {
    (status(), proptest::option::of(response_code()))
        .prop_flat_map(|(status, code)| {
            let used = crate::types::line_length(Status::Err, code.as_ref(), "");
            // One space before the text; without a code, maybe one more to escape a `[`.
            let room = MAX_RESPONSE_LINE.saturating_sub(used + 1 + usize::from(code.is_none()));
            (Just(status), Just(code), response_text(room))
        })
        .prop_map(|(status, code, text)| Response::new(status, code, text).unwrap())
}

/// Every capability the public constructors allow, up to the 512-octet line (RFC 2449 4).
fn capability() -> impl Strategy<Value = Capability<'static>> {
    prop_oneof![
        Just(Capability::Top),
        Just(Capability::User),
        Just(Capability::RespCodes),
        (any::<u32>(), any::<bool>())
            .prop_map(|(seconds, per_user)| Capability::LoginDelay { seconds, per_user }),
        Just(Capability::Pipelining),
        (proptest::option::of(any::<u32>()), any::<bool>()).prop_map(|(days, per_user)| {
            Capability::Expire {
                expire: days.map_or(Expire::Never, Expire::Days),
                per_user,
            }
        }),
        Just(Capability::Uidl),
        Just(Capability::Stls),
        Just(Capability::AuthRespCode),
        any::<bool>().prop_map(|user| Capability::Utf8 { user }),
        Just(Capability::Lang),
        capability_parts()
            .prop_filter_map("fits a CAPA line", |parts| build_capability(&parts).ok()),
    ]
}

/// What a user hands the checked constructors of the capabilities with text or lists: often
/// more than a 512-octet CAPA line holds (RFC 2449 4).
#[derive(Debug, Clone)]
enum CapaParts {
    Sasl(Vec<String>),
    Implementation(String),
    Other(String, Vec<String>),
}

fn capability_parts() -> impl Strategy<Value = CapaParts> {
    prop_oneof![
        prop::collection::vec("[A-Za-z0-9_-]{1,20}", 0..40).prop_map(CapaParts::Sasl),
        prop_oneof![
            Just(String::new()),
            up_to("[^\\r\\n\\x00]", crate::types::MAX_TEXT),
            up_to(" ?[a-z ]", crate::types::MAX_TEXT),
        ]
        .prop_map(CapaParts::Implementation),
        (
            up_to("[!-\\-/-~]", 300).prop_filter("unknown tag", |t| !known_tag(t)),
            prop::collection::vec(up_to("[!-~]", 150), 0..6)
        )
            .prop_map(|(tag, params)| CapaParts::Other(tag, params)),
    ]
}

/// The capability the parts make, through the public constructors.
fn build_capability(parts: &CapaParts) -> Result<Capability<'static>, InvalidValue> {
    Ok(match parts {
        CapaParts::Sasl(names) => {
            let names = names
                .iter()
                .map(|n| Mechanism::new(n.clone()).unwrap())
                .collect();
            Capability::Sasl(SaslMechanisms::new(names)?)
        }
        CapaParts::Implementation(text) => {
            Capability::Implementation(ImplementationText::new(text.clone())?)
        }
        CapaParts::Other(tag, params) => {
            let params = params
                .iter()
                .map(|p| CapaParam::new(p.clone()).unwrap())
                .collect();
            Capability::Other(OtherCapability::new(
                CapaTag::new(tag.clone()).unwrap(),
                params,
            )?)
        }
    })
}

/// The octets of the CAPA line the parts ask for, CRLF included.
fn capa_line_length(parts: &CapaParts) -> usize {
    let words = |tag: &str, words: &[String]| {
        tag.len() + words.iter().map(|w| 1 + w.len()).sum::<usize>() + 2
    };
    match parts {
        CapaParts::Sasl(names) => words("SASL", names),
        CapaParts::Implementation(text) if text.is_empty() => "IMPLEMENTATION\r\n".len(),
        CapaParts::Implementation(text) => words("IMPLEMENTATION", core::slice::from_ref(text)),
        CapaParts::Other(tag, params) => words(tag, params),
    }
}

/// The capabilities a client reads from `+OK`, `lines` and `.`: the CAPA path of the client,
/// with its 512-octet line limit (RFC 2449 4).
fn capabilities_read_by_the_client(
    lines: &[u8],
) -> Result<Vec<Capability<'static>>, crate::client::Error> {
    use crate::client::{Client, ClientConfig, Credentials, Event, Output};
    let mut client = Client::new(
        ClientConfig::default(),
        Credentials::user("mrose", "tanstaaf").unwrap(),
    );
    // The greeting, then (once CAPA is sent) its response.
    let mut capa = b"+OK\r\n".to_vec();
    capa.extend_from_slice(lines);
    capa.extend_from_slice(b".\r\n");
    for input in [&b"+OK ready\r\n"[..], &capa] {
        assert_eq!(client.receive(input), input.len());
        while let Some(output) = client.poll_output() {
            match output {
                Output::Event(Event::Capabilities(Some(capabilities))) => return Ok(capabilities),
                Output::Event(Event::Error(error)) => return Err(error),
                _ => {}
            }
        }
    }
    panic!("no capabilities from {lines:?}")
}

fn uid() -> impl Strategy<Value = UniqueId<'static>> {
    "[!-~]{1,70}".prop_map(|u| UniqueId::new(u).unwrap())
}

proptest! {
    /// decode(encode(x)) == x for every command the public constructors allow, at their
    /// limits: lines within 255 octets decode with the default options (RFC 2449 4); longer
    /// ones (several arguments near their limits) are refused as too long, which
    /// `encoded_len` says beforehand, and decode with a raised limit.
    #[test]
    fn commands_round_trip(command in command()) {
        let wire = encoded_command(&command);
        prop_assert_eq!(wire.len(), command.encoded_len());
        if wire.len() <= MAX_COMMAND_LINE {
            command_round_trip(&command, None);
        } else {
            prop_assert_eq!(
                decode_command(&wire, &utf8_options()).unwrap_err().kind,
                ErrorKind::LineTooLong { limit: MAX_COMMAND_LINE }
            );
            let roomy = CommandOptions { max_line_length: wire.len(), utf8: true };
            prop_assert_eq!(
                decode_command(&wire, &roomy),
                Ok(Decoded::Complete(command.clone(), wire.len()))
            );
        }
        prop_assert_eq!(command.clone().into_owned(), command);
    }

    #[test]
    fn language_listings_round_trip(
        tag in language_range().prop_filter("a language", |t| !t.is_any()),
        description in proptest::option::of(up_to("[^\\r\\n\\x00]", crate::types::MAX_TEXT)),
    ) {
        let listing = LanguageListing::new(tag, description.map(|d| Text::new(d).unwrap())).unwrap();
        let mut out = BytesMut::new();
        encode_language_listing(&listing, &mut out);
        let parsed = parse_language_listing(out.strip_suffix(b"\r\n").unwrap());
        prop_assert_eq!(parsed.as_ref(), Ok(&listing));
        prop_assert_eq!(listing.clone().into_owned(), listing);
    }

    #[test]
    fn every_prefix_of_a_command_is_incomplete(command in command(), trailer in "[ -~\r\n]{0,20}") {
        let wire = encoded_command(&command);
        prop_assume!(wire.len() <= MAX_COMMAND_LINE);
        for end in 0..wire.len() {
            prop_assert_eq!(decode_command(&wire[..end], &utf8_options()), Ok(Decoded::Incomplete));
        }
        let mut input = wire.clone();
        input.extend_from_slice(trailer.as_bytes());
        prop_assert_eq!(
            decode_command(&input, &utf8_options()),
            Ok(Decoded::Complete(command, wire.len()))
        );
    }

    #[test]
    fn decode_command_never_panics(input in prop::collection::vec(any::<u8>(), 0..300), utf8 in any::<bool>()) {
        let options = CommandOptions { utf8, ..CommandOptions::default() };
        if let Ok(Decoded::Complete(command, used)) = decode_command(&input, &options) {
            prop_assert!(used <= input.len() && input[..used].ends_with(b"\r\n"));
            let wire = encoded_command(&command);
            let roomy = CommandOptions { utf8, max_line_length: 4096 };
            prop_assert_eq!(decode_command(&wire, &roomy), Ok(Decoded::Complete(command, wire.len())));
        }
    }

    #[test]
    fn grammar_like_commands_round_trip(
        verb in prop::sample::select(KNOWN_VERBS.to_vec()),
        args in prop::collection::vec("[0-9a-f+-]{0,12}", 0..4),
    ) {
        let line = format!("{verb} {}\r\n", args.join(" "));
        if let Ok(Decoded::Complete(command, used)) = decode_command(line.as_bytes(), &options()) {
            prop_assert_eq!(used, line.len());
            command_round_trip(&command, None);
        }
    }

    #[test]
    fn message_numbers(value in 1u32..) {
        let retr = format!("RETR {value}");
        prop_assert_eq!(parse(&retr), Ok(Command::Retr(n(value))));
        let list = format!("LIST {value}");
        prop_assert_eq!(parse(&list), Ok(Command::List(Some(n(value)))));
        let signed = format!("RETR +{value}");
        prop_assert!(is_number_error(&parse(&signed).unwrap_err().kind));
        let negative = format!("DELE -{value}");
        prop_assert!(is_number_error(&parse(&negative).unwrap_err().kind));
    }

    #[test]
    fn numbers_past_u32_are_refused(value in (u64::from(u32::MAX) + 1)..) {
        for line in [format!("RETR {value}"), format!("TOP 1 {value}"), format!("UIDL {value}")] {
            let e = parse(&line).unwrap_err();
            prop_assert_eq!(
                e.kind,
                ErrorKind::Invalid(InvalidValue::Number { what: if line.starts_with("TOP") { "line count" } else { "message number" }, reason: "too large" })
            );
        }
    }

    #[test]
    fn responses_round_trip_prop(response in response()) {
        response_round_trip(&response, None);
        prop_assert_eq!(response.clone().into_owned(), response);
    }

    /// RFC 2449 4: `Response::new` takes a code and a text exactly when the line they make,
    /// as `-ERR` (the longer status), fits in 512 octets with its CRLF; then both statuses
    /// round-trip through the client's length-checked decoding.
    #[test]
    fn rfc2449_4_response_new_takes_exactly_what_fits_prop(
        status in status(),
        code in proptest::option::of(response_code()),
        text in response_text(crate::types::MAX_TEXT),
    ) {
        let fits = crate::types::line_length(Status::Err, code.as_ref(), text.as_str())
            <= MAX_RESPONSE_LINE;
        match Response::new(status, code, text) {
            Ok(response) => {
                prop_assert!(fits);
                for status in [Status::Ok, Status::Err] {
                    response_round_trip(&response.clone().with_status(status), None);
                }
            }
            Err(error) => {
                prop_assert!(!fits);
                let too_long = matches!(error, InvalidValue::TooLong { limit: MAX_RESPONSE_LINE, .. });
                prop_assert!(too_long);
            }
        }
    }

    /// RFC 2449 4: whatever was decoded (here with no limit at all), the encoder never writes
    /// a line over 512 octets: what fits goes out as it came, a longer text is cut.
    #[test]
    fn rfc2449_4_decoded_responses_encode_within_512_octets_prop(
        line in "(\\+OK|-ERR)( \\[[A-Z/]{0,8}\\]?)?( {1,3}\\[?\\PC{0,700})?",
    ) {
        let response = parse_response(line.as_bytes(), true).unwrap();
        let wire = encoded_response(&response);
        prop_assert!(wire.len() <= MAX_RESPONSE_LINE, "{} octets", wire.len());
        let again = parse_response(wire.strip_suffix(b"\r\n").unwrap(), true).unwrap();
        prop_assert_eq!(again.status(), response.status());
        prop_assert_eq!(again.code(), response.code());
        prop_assert!(response.text().as_str().starts_with(again.text().as_str()));
        if line.len() + 2 < MAX_RESPONSE_LINE {
            prop_assert_eq!(again, response);
        }
    }

    #[test]
    fn parse_response_re_encodes(line in "[+-]?(OK|ERR|ok)?[ \\[\\]A-Z/-]{0,20}\\PC{0,10}", utf8 in any::<bool>()) {
        if let Ok(response) = parse_response(line.as_bytes(), utf8) {
            let wire = encoded_response(&response);
            prop_assert_eq!(parse_response(wire.strip_suffix(b"\r\n").unwrap(), utf8), Ok(response));
        }
    }

    #[test]
    fn response_parsers_never_panic(line in prop::collection::vec(any::<u8>(), 0..100)) {
        let _ = parse_response(&line, true);
        let _ = parse_response(&line, false);
        let _ = parse_capability(&line);
        let _ = parse_scan_listing(&line);
        let _ = parse_uid_listing(&line);
        let _ = parse_continuation(&line);
        if let Ok(text) = core::str::from_utf8(&line) {
            let _ = parse_stat(text);
        }
    }

    #[test]
    fn timestamp_found_anywhere(
        before in "[ -;=?-~]{0,30}",
        stamp in "<[!-;=?-~]{1,40}>",
        after in "\\PC{0,30}",
    ) {
        let line = format!("+OK {before}{stamp}{after}");
        let response = parse_response(line.as_bytes(), true).unwrap();
        prop_assert_eq!(response.timestamp().map(|t| String::from(t.as_str())), Some(stamp));
    }

    #[test]
    fn scan_listings_round_trip(message in message_number(), size in any::<u64>()) {
        let listing = ScanListing { message, size };
        let mut out = BytesMut::new();
        encode_scan_listing(&listing, &mut out);
        prop_assert_eq!(parse_scan_listing(out.strip_suffix(b"\r\n").unwrap()), Ok(listing));
        prop_assert_eq!(parse_stat(&format!("{message} {size}")), Ok((u64::from(message.get()), size)));
    }

    #[test]
    fn uid_listings_round_trip(message in message_number(), uid in uid()) {
        let listing = UidListing { message, uid };
        let mut out = BytesMut::new();
        encode_uid_listing(&listing, &mut out);
        prop_assert_eq!(parse_uid_listing(out.strip_suffix(b"\r\n").unwrap()), Ok(listing));
    }

    #[test]
    fn unique_ids(uid in "[!-~]{71,100}", with_space in "[!-~]{0,30} [!-~]{0,30}") {
        prop_assert!(UniqueId::new(uid).is_err());
        prop_assert!(UniqueId::new(with_space).is_err());
    }

    #[test]
    fn capabilities_round_trip(capability in capability()) {
        capability_round_trip(&capability, None);
        prop_assert_eq!(capability.clone().into_owned(), capability);
    }

    /// RFC 2449 4 (response lines, CAPA lines included, are at most 512 octets, CRLF
    /// included): the constructors build a capability exactly when its line fits, and every
    /// one built reads back the same through the client's length-checked CAPA path.
    #[test]
    fn rfc2449_4_every_buildable_capability_fits_and_the_client_reads_it_back(
        parts in capability_parts(),
    ) {
        let length = capa_line_length(&parts);
        match build_capability(&parts) {
            Ok(capability) => {
                let wire = encoded_capability(&capability);
                prop_assert_eq!(wire.len(), length);
                prop_assert!(wire.len() <= MAX_RESPONSE_LINE);
                let line = wire.strip_suffix(b"\r\n").unwrap();
                prop_assert_eq!(parse_capability(line), Ok(capability.clone()));
                prop_assert_eq!(capabilities_read_by_the_client(&wire), Ok(vec![capability]));
            }
            Err(error) => {
                prop_assert!(length > MAX_RESPONSE_LINE, "{length}: {error}");
                prop_assert!(matches!(error, InvalidValue::TooLong { .. }), "{error}");
            }
        }
    }

    #[test]
    fn continuations_round_trip(payload in "[ -~]{0,100}") {
        let mut out = BytesMut::new();
        encode_continuation(&payload, &mut out);
        prop_assert_eq!(parse_continuation(out.strip_suffix(b"\r\n").unwrap()), Some(payload.as_bytes()));
    }

    #[test]
    fn no_constructor_takes_cr_lf_or_nul(
        head in "[ -~]{0,10}",
        bad in prop::sample::select(vec!['\r', '\n', '\0']),
        tail in "[ -~]{0,10}",
    ) {
        let value = format!("{head}{bad}{tail}");
        prop_assert!(Text::new(value.as_str()).is_err());
        prop_assert!(Username::new(value.as_str()).is_err());
        prop_assert!(Verb::new(value.as_str()).is_err());
        prop_assert!(LanguageTag::new(value.as_str()).is_err());
        prop_assert!(Mechanism::new(value.as_str()).is_err());
        prop_assert!(Timestamp::new(value.as_str()).is_err());
        prop_assert!(ResponseCode::new(value.as_str()).is_err());
        prop_assert!(UniqueId::new(value.as_str()).is_err());
        prop_assert!(CapaTag::new(value.as_str()).is_err());
        prop_assert!(CapaParam::new(value.as_str()).is_err());
        prop_assert!(Command::pass(value.as_str()).is_err());
        prop_assert!(Command::auth(Mechanism::new("X").unwrap(), Some(value.clone())).is_err());
    }
}

/// `Secret` is compared in constant time; make sure equality of commands still sees passwords.
#[test]
fn commands_with_different_passwords_differ() {
    assert_ne!(Command::pass("a").unwrap(), Command::pass("b").unwrap());
    assert_eq!(
        Command::Pass(Secret::new(String::from("a"))),
        Command::pass("a").unwrap()
    );
}

// ---------------------------------------------------------------------------------------------
// RFC 6856 3: LANG.

/// RFC 6856 3.2 and RFC 4647 2.1: `LANG` with and without a basic language range, `*`
/// included; anything else is refused with a typed error.
#[test]
fn rfc6856_3_2_lang_command_forms() {
    command_round_trip(&Command::Lang(None), Some("LANG"));
    for range in [
        "es",
        "en-boont",
        "MUL",
        "*",
        "i-default",
        "zh-Hant-CN",
        "de-1996",
    ] {
        let command = Command::Lang(Some(LanguageTag::new(range).unwrap()));
        command_round_trip(&command, Some(&format!("LANG {range}")));
        assert!(!command.is_multi_line());
    }
    assert!(Command::Lang(None).is_multi_line());
    for bad in [
        "en_US",
        "1en",
        "en-",
        "-en",
        "en--us",
        "*-x",
        "e*",
        "abcdefghi",
        "en-abcdefghi",
    ] {
        assert!(LanguageTag::new(bad).is_err(), "{bad}");
        assert!(
            matches!(
                error(&format!("LANG {bad}")),
                ErrorKind::Invalid(
                    InvalidValue::Malformed { .. } | InvalidValue::UnexpectedChar { .. }
                )
            ),
            "{bad}"
        );
    }
    assert!(matches!(
        error("LANG en de"),
        ErrorKind::TooManyArguments { verb: "LANG" }
    ));
}

/// RFC 4647 3.3.1 basic filtering, as `LANG` picks a language; tags compare without regard
/// to case (RFC 5646 2.1.1).
#[test]
fn rfc4647_3_3_1_language_ranges_match() {
    let tag = |t: &'static str| LanguageTag::new(t).unwrap();
    assert!(tag("de").matches(&tag("de-CH")));
    assert!(tag("DE").matches(&tag("de")));
    assert!(tag("en-boont").matches(&tag("EN-Boont")));
    assert!(!tag("de").matches(&tag("dem")));
    assert!(!tag("de-CH").matches(&tag("de")));
    assert!(LanguageTag::any().matches(&tag("sv")));
    assert_eq!(tag("EN"), tag("en"));
    assert!(LanguageTag::any().is_any() && !LanguageTag::i_default().is_any());
}

/// RFC 6856 3.2 and 3.3: the language listing (tag, optional name in UTF-8) and the tag that
/// starts the `+OK` to `LANG range`.
#[test]
fn rfc6856_3_3_language_listings_and_selection() {
    let listings = [
        ("en English", "en", Some("English")),
        (
            "en-boont English Boontling dialect",
            "en-boont",
            Some("English Boontling dialect"),
        ),
        ("de Deutsch", "de", Some("Deutsch")),
        ("es Español", "es", Some("Español")),
        ("sv", "sv", None),
    ];
    for (line, tag, description) in listings {
        let listing = parse_language_listing(line.as_bytes()).unwrap();
        assert_eq!(listing.tag().as_str(), tag);
        assert_eq!(listing.description().map(Text::as_str), description);
        let mut out = BytesMut::new();
        encode_language_listing(&listing, &mut out);
        assert_eq!(&out[..], format!("{line}\r\n").as_bytes());
        assert_eq!(listing.clone().into_owned(), listing);
    }
    // A trailing space is no description; `*` is no language; a bad tag is typed.
    assert_eq!(parse_language_listing(b"sv ").unwrap().description(), None);
    assert!(parse_language_listing(b"* any").is_err());
    assert_eq!(
        parse_language_listing(b"en_US English").unwrap_err().offset,
        2
    );
    assert!(parse_language_listing(b"en a\0b").is_err());
    assert!(LanguageListing::new(LanguageTag::any(), None).is_err());
    // The `+OK` to `LANG es` (RFC 6856 3.3): "+OK es Idioma cambiado".
    let response = parse_response(b"+OK es Idioma cambiado", true).unwrap();
    assert_eq!(
        parse_selected_language(response.text.as_str())
            .unwrap()
            .as_str(),
        "es"
    );
    assert_eq!(parse_selected_language("sv").unwrap().as_str(), "sv");
    assert!(parse_selected_language("* x").is_err());
    assert!(parse_selected_language("Idioma_cambiado").is_err());
    assert!(parse_selected_language("").is_err());
}

// ---------------------------------------------------------------------------------------------
// Construction from what users have.

/// `FromStr` and `TryFrom<String>` give `'static` values, `TryFrom<&str>` borrowed ones, with
/// the same checks as `new`; `into_owned` turns any borrowed value `'static`.
#[test]
fn validated_types_from_strings() {
    fn owned<T: core::str::FromStr + TryFrom<String>>(text: &str) -> Option<T> {
        let parsed = text.parse::<T>().ok();
        let converted = T::try_from(String::from(text)).ok();
        assert_eq!(parsed.is_some(), converted.is_some(), "{text}");
        parsed
    }
    let name: Username<'static> = owned("mrose").unwrap();
    assert_eq!(name, Username::new("mrose").unwrap());
    assert!(owned::<Username<'static>>("two words").is_none());
    assert_eq!(
        owned::<Text<'static>>("any text").unwrap().as_str(),
        "any text"
    );
    assert!(owned::<Text<'static>>("a\r\nb").is_none());
    assert!(owned::<Timestamp<'static>>("<1.2@host>").is_some());
    assert!(owned::<Timestamp<'static>>("1.2@host").is_none());
    assert!(owned::<Mechanism<'static>>("SCRAM-SHA-256").is_some());
    assert!(owned::<ResponseCode<'static>>("SYS/TEMP").is_some());
    assert!(owned::<UniqueId<'static>>("QhdPYR:00WBw1Ph7x7").is_some());
    assert!(owned::<LanguageTag<'static>>("en-boont").is_some());
    assert!(owned::<LanguageTag<'static>>("en_US").is_none());
    assert!(owned::<CapaTag<'static>>("X-EXTENSION").is_some());
    assert!(owned::<CapaParam<'static>>("param").is_some());
    assert!(owned::<Verb<'static>>("XTND").is_some());
    assert_eq!("7".parse::<MessageNumber>(), Ok(n(7)));
    assert!("0".parse::<MessageNumber>().is_err());
    assert_eq!(MessageNumber::try_from(7), Ok(n(7)));
    assert!(MessageNumber::try_from(0).is_err());
    let digest: ApopDigest = "c4c9334bac560ecc979e58001b3e22fb".parse().unwrap();
    assert_eq!(digest.to_hex(), "c4c9334bac560ecc979e58001b3e22fb");
    // Borrowed, then owned.
    let text = String::from("USER mrose");
    let borrowed = Username::try_from(&text[5..]).unwrap();
    let command: Command<'static> = Command::User(borrowed).into_owned();
    drop(text);
    assert_eq!(command, Command::User(name));
}

/// Encoding never gives what decoding reads as another value: a known verb or capability tag
/// cannot be built as `Other` (it has its own variant, which decoding gives).
#[test]
fn known_names_cannot_be_other() {
    for verb in KNOWN_VERBS {
        assert!(Verb::new(verb).is_err(), "{verb}");
        assert!(Verb::new(verb.to_ascii_lowercase()).is_err(), "{verb}");
    }
    for tag in KNOWN_TAGS.iter().filter(|t| **t != ".") {
        assert!(CapaTag::new(*tag).is_err(), "{tag}");
        assert!(CapaTag::new(tag.to_ascii_lowercase()).is_err(), "{tag}");
    }
    assert!(Verb::new("XTND").is_ok() && CapaTag::new("X-TOP").is_ok());
}

#[cfg(feature = "serde")]
mod serde_round_trip;
