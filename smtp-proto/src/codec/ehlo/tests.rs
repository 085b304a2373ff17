use super::*;
use crate::codec::{ReplyAssembler, decode_reply, encode_reply};
use crate::types::{
    DateTime, Domain, EhloKeyword, EhloParam, Extension, Mechanism, PriorityProfile, strategies,
};
use alloc::string::String;
use alloc::vec;
use bytes::BytesMut;
use proptest::prelude::*;

fn options() -> ReplyOptions {
    ReplyOptions::default()
}

fn decode(input: &[u8]) -> EhloResponse<'_> {
    match decode_ehlo_response(input, &options()) {
        Ok(Decoded::Complete(ehlo, used)) => {
            assert_eq!(used, input.len());
            // The other road, through a reply, arrives at the same place.
            let Ok(Decoded::Complete(reply, _)) = decode_reply(input, &options()) else {
                panic!("not a reply")
            };
            assert_eq!(EhloResponse::try_from(reply).as_ref(), Ok(&ehlo));
            ehlo
        }
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
    }
}

fn error(input: &[u8]) -> DecodeError {
    match decode_ehlo_response(input, &options()) {
        Err(error) => error,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
    }
}

fn encode(ehlo: &EhloResponse<'_>) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_ehlo_response(ehlo, &mut out);
    out.to_vec()
}

fn mechanisms(names: &[&str]) -> Vec<Mechanism<'static>> {
    names
        .iter()
        .map(|n| Mechanism::new(String::from(*n)).unwrap())
        .collect()
}

fn domain(name: &str) -> Host<'static> {
    Host::Domain(Domain::new(String::from(name)).unwrap())
}

#[test]
fn rfc5321_appendix_d() {
    let ehlo = decode(
        b"250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n",
    );
    assert_eq!(ehlo.host, domain("foo.com"));
    assert_eq!(
        ehlo.greeting.as_ref().map(ReplyText::as_str),
        Some("greets bar.com")
    );
    assert_eq!(
        ehlo.capabilities,
        [
            Capability::EightBitMime,
            Capability::Size(None),
            Capability::Dsn,
            Capability::Help,
        ]
    );
    assert_eq!(ehlo.size(), None);
    assert!(ehlo.supports(Extension::Size));
    assert_eq!(
        encode(&ehlo),
        b"250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n"
    );

    let single = decode(b"250 xyz.com is on the air\r\n");
    assert_eq!(single.host, domain("xyz.com"));
    assert_eq!(
        single.greeting.as_ref().map(ReplyText::as_str),
        Some("is on the air")
    );
    assert!(single.capabilities.is_empty());
    assert_eq!(encode(&single), b"250 xyz.com is on the air\r\n");
}

#[test]
fn rfc_examples() {
    // RFC 1870 section 8.
    let ehlo = decode(b"250-sigurd.innosoft.com\r\n250-EXPN\r\n250-HELP\r\n250 SIZE 1000000\r\n");
    assert_eq!(ehlo.greeting, None);
    assert_eq!(
        ehlo.capabilities,
        [
            Capability::Expn,
            Capability::Help,
            Capability::Size(Some(1_000_000))
        ]
    );
    assert_eq!(ehlo.size(), Some(1_000_000));
    // RFC 2034 section 6.
    let ehlo = decode(b"250-dbc.mtview.ca.us says hello\r\n250 ENHANCEDSTATUSCODES\r\n");
    assert!(ehlo.supports(Extension::EnhancedStatusCodes));
    // RFC 1985 section 5.
    let ehlo = decode(b"250-sigurd.innosoft.com\r\n250-EXPN\r\n250-HELP\r\n250 ETRN\r\n");
    assert!(ehlo.supports(Extension::Etrn));
    // RFC 4954 section 4.
    let ehlo = decode(
        b"250-smtp.example.com Hello client.example.com\r\n250-AUTH GSSAPI DIGEST-MD5\r\n\
          250-ENHANCEDSTATUSCODES\r\n250 STARTTLS\r\n",
    );
    assert_eq!(
        ehlo.auth_mechanisms(),
        mechanisms(&["GSSAPI", "DIGEST-MD5"])
    );
    assert!(ehlo.supports(Extension::StartTls));
    // RFC 6710 section 8.
    let ehlo = decode(
        b"250-example.com\r\n250-STARTTLS\r\n250-AUTH SCRAM-SHA-1 DIGEST-MD5\r\n250-DSN\r\n\
          250-DELIVERBY\r\n250-ENHANCEDSTATUSCODES\r\n250 MT-PRIORITY MIXER\r\n",
    );
    assert_eq!(
        ehlo.find(Extension::MtPriority),
        Some(&Capability::MtPriority(Some(
            PriorityProfile::new("MIXER").unwrap()
        )))
    );
    assert_eq!(
        ehlo.find(Extension::DeliverBy),
        Some(&Capability::DeliverBy(None))
    );
    // RFC 8689 section 6.
    let ehlo = decode(
        b"250-mail.example.net Hello example.org [192.0.2.1]\r\n250-SIZE 52428800\r\n\
          250-8BITMIME\r\n250-PIPELINING\r\n250-REQUIRETLS\r\n250 HELP\r\n",
    );
    assert_eq!(
        ehlo.greeting.as_ref().map(ReplyText::as_str),
        Some("Hello example.org [192.0.2.1]")
    );
    assert!(ehlo.supports(Extension::RequireTls));
    assert_eq!(ehlo.size(), Some(52_428_800));
}

#[test]
fn a_modern_response() {
    let input: &[u8] = b"250-mx.example.com at your service, [192.0.2.7]\r\n\
        250-SIZE 35882577\r\n250-8BITMIME\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n\
        250-PIPELINING\r\n250-CHUNKING\r\n250-SMTPUTF8\r\n250-BINARYMIME\r\n\
        250-LIMITS RCPTMAX=100 MAILMAX=10\r\n\
        250-FUTURERELEASE 604800 2026-12-01T00:00:00Z\r\n250-DSN\r\n250 REQUIRETLS\r\n";
    let ehlo = decode(input);
    assert_eq!(ehlo.capabilities.len(), 12);
    assert_eq!(
        ehlo.find(Extension::Limits),
        Some(&Capability::Limits {
            mail_max: Some(10),
            rcpt_max: Some(100),
            rcpt_domain_max: None,
            others: vec![],
        })
    );
    assert_eq!(
        ehlo.find(Extension::FutureRelease),
        Some(&Capability::FutureRelease {
            max_interval: 604_800,
            max_datetime: DateTime::new("2026-12-01T00:00:00Z").unwrap(),
        })
    );
    for extension in [
        Extension::Size,
        Extension::EightBitMime,
        Extension::StartTls,
        Extension::EnhancedStatusCodes,
        Extension::Pipelining,
        Extension::Chunking,
        Extension::SmtpUtf8,
        Extension::BinaryMime,
        Extension::Dsn,
        Extension::RequireTls,
    ] {
        assert!(ehlo.supports(extension), "{extension}");
    }
    assert!(!ehlo.supports(Extension::Auth));
    let again = encode(&ehlo);
    assert_eq!(decode(&again), ehlo);
}

#[test]
fn legacy_auth_and_unknown_keywords() {
    // Postfix with broken_sasl_auth_clients, Exchange, a Cisco PIX that masks commands.
    let ehlo = decode(
        b"250-mail.example.org\r\n250-AUTH PLAIN LOGIN\r\n250-AUTH=PLAIN LOGIN CRAM-MD5\r\n\
          250-X-EXPS GSSAPI NTLM\r\n250-XEXCH50\r\n250-XXXXXXXA\r\n250 auth=XOAUTH2\r\n",
    );
    assert_eq!(
        ehlo.auth_mechanisms(),
        mechanisms(&["PLAIN", "LOGIN", "CRAM-MD5", "XOAUTH2"])
    );
    assert_eq!(ehlo.capabilities.len(), 4);
    assert_eq!(
        ehlo.find_keyword("X-EXPS"),
        Some(&Capability::Other {
            keyword: EhloKeyword::new("X-EXPS").unwrap(),
            params: vec![
                EhloParam::new("GSSAPI").unwrap(),
                EhloParam::new("NTLM").unwrap()
            ],
        })
    );
    assert!(ehlo.find_keyword("xexch50").is_some());
    assert_eq!(
        encode(&ehlo),
        b"250-mail.example.org\r\n250-AUTH PLAIN LOGIN CRAM-MD5 XOAUTH2\r\n\
          250-X-EXPS GSSAPI NTLM\r\n250-XEXCH50\r\n250 XXXXXXXA\r\n"
    );
    // Only AUTH= lines: still AUTH.
    let ehlo = decode(b"250-old.example\r\n250 AUTH=LOGIN\r\n");
    assert_eq!(ehlo.auth_mechanisms(), mechanisms(&["LOGIN"]));
}

#[test]
fn hosts_and_greetings() {
    let ehlo = decode(b"250-[192.0.2.1]\r\n250 PIPELINING\r\n");
    assert!(matches!(ehlo.host, Host::Literal(_)));
    assert_eq!(ehlo.host.to_string(), "[192.0.2.1]");
    let ehlo = decode(b"250 [IPv6:2001:db8::1] hi\r\n");
    assert_eq!(ehlo.host.to_string(), "[IPv6:2001:db8::1]");
    // An empty greeting is none.
    let ehlo = decode(b"250-mx.example \r\n250 DSN\r\n");
    assert_eq!(ehlo.greeting, None);
    let ehlo = decode(b"250 localhost\r\n");
    assert_eq!(ehlo.host, domain("localhost"));
    // UTF-8 in the greeting or the domain only with the option.
    let input = "250-mx.example Grüße\r\n250 SMTPUTF8\r\n".as_bytes();
    assert_eq!(error(input).kind, ErrorKind::NonAscii);
    let utf8 = ReplyOptions {
        utf8: true,
        ..options()
    };
    let Ok(Decoded::Complete(ehlo, _)) = decode_ehlo_response(input, &utf8) else {
        panic!()
    };
    assert_eq!(ehlo.greeting.as_ref().map(ReplyText::as_str), Some("Grüße"));
    let idn = "250 bücher.example\r\n".as_bytes();
    assert_eq!(error(idn).kind, ErrorKind::NonAscii);
    assert!(matches!(
        decode_ehlo_response(idn, &utf8),
        Ok(Decoded::Complete(_, _))
    ));
}

#[test]
fn invalid_responses() {
    let table: &[(&[u8], usize, ErrorKind)] = &[
        (
            b"502 5.5.1 not implemented\r\n",
            0,
            ErrorKind::ReplyCodeMismatch {
                expected: 250,
                found: 502,
            },
        ),
        (
            b"250-a.example\r\n251 x\r\n",
            15,
            ErrorKind::ReplyCodeMismatch {
                expected: 250,
                found: 251,
            },
        ),
        (
            b"250 mail_server hi\r\n",
            8,
            ErrorKind::Invalid(InvalidValue::UnexpectedChar {
                what: "EHLO greeting",
                offset: 4,
                found: '_',
            }),
        ),
        (
            b"250\r\n",
            3,
            ErrorKind::Invalid(InvalidValue::Empty { what: "domain" }),
        ),
        (
            b"250-mx.example\r\n250-\r\n250 DSN\r\n",
            20,
            ErrorKind::Invalid(InvalidValue::Empty {
                what: "EHLO keyword",
            }),
        ),
        (
            b"250-mx.example\r\n250 -X\r\n",
            20,
            ErrorKind::Invalid(InvalidValue::UnexpectedChar {
                what: "EHLO keyword",
                offset: 0,
                found: '-',
            }),
        ),
        (
            b"250-mx.example\r\n250 SIZE\t1\r\n",
            24,
            ErrorKind::Invalid(InvalidValue::UnexpectedChar {
                what: "EHLO keyword",
                offset: 4,
                found: '\t',
            }),
        ),
        (
            b"250-mx.example\r\n250 X-A b\xc3\xa9\r\n",
            25,
            ErrorKind::NonAscii,
        ),
        (
            b"250-mx.example\r\n250 X-A b\xff\r\n",
            25,
            ErrorKind::NonAscii,
        ),
        (b"250-mx.example\r\n250 X-A \0\r\n", 24, ErrorKind::Nul),
        (b"250-mx.example\r\n250 SIZE\n", 24, ErrorKind::BareLf),
    ];
    for (input, offset, kind) in table {
        let error = error(input);
        assert_eq!(
            (error.offset, &error.kind),
            (*offset, kind),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
    let bad_domain = error(b"250 -bad-.example\r\n");
    assert!(matches!(
        bad_domain,
        DecodeError {
            offset: 4,
            kind: ErrorKind::Invalid(_)
        }
    ));
    // A reply that is not 250 does not convert.
    let reply = Reply::new(ReplyCode::COMMAND_NOT_IMPLEMENTED, "no").unwrap();
    assert_eq!(
        EhloResponse::try_from(reply).unwrap_err().kind,
        ErrorKind::ReplyCodeMismatch {
            expected: 250,
            found: 502
        }
    );
    let reply =
        Reply::from_lines(ReplyCode::OK, ["mx.example", "PIPELINING", "BAD_KEYWORD"]).unwrap();
    let error = EhloResponse::try_from(reply).unwrap_err();
    // "250-mx.example\r\n250-PIPELINING\r\n250 BAD_KEYWORD": the `_` is at 39.
    assert_eq!(error.offset, 39);
}

#[test]
fn incomplete() {
    let input: &[u8] = b"250-mx.example hi\r\n250-SIZE 10\r\n250 DSN\r\n";
    for end in 0..input.len() {
        assert_eq!(
            decode_ehlo_response(&input[..end], &options()),
            Ok(Decoded::Incomplete),
            "{end}"
        );
    }
    // Another code shows at once.
    assert_eq!(
        error(b"554 ").kind,
        ErrorKind::ReplyCodeMismatch {
            expected: 250,
            found: 554
        }
    );
}

#[test]
fn from_an_assembled_or_owned_reply() {
    let input: &[u8] = b"250-mx.example hi\r\n250-AUTH PLAIN\r\n250-AUTH=LOGIN\r\n250 SIZE 10\r\n";
    let direct = decode(input);
    let mut assembler = ReplyAssembler::new(options());
    let mut chunk = input;
    let reply = assembler.next_reply(&mut chunk).unwrap().unwrap();
    let assembled = EhloResponse::try_from(reply).unwrap().into_owned();
    assert_eq!(assembled, direct);
    let Ok(Decoded::Complete(reply, _)) = decode_reply(input, &options()) else {
        panic!()
    };
    let owned = EhloResponse::try_from(reply.into_owned()).unwrap();
    assert_eq!(owned, direct);
    // A status code on an EHLO response is ignored.
    let with_status = decode_reply(b"250-2.0.0 mx.example\r\n250 2.0.0 DSN\r\n", &options());
    let Ok(Decoded::Complete(reply, _)) = with_status else {
        panic!()
    };
    let ehlo = EhloResponse::try_from(reply).unwrap();
    assert_eq!(
        (ehlo.host, ehlo.capabilities),
        (domain("mx.example"), vec![Capability::Dsn])
    );
}

#[test]
fn encoding_limits() {
    // Many mechanisms: several AUTH lines, merged again on decoding.
    let names: Vec<String> = (0..60)
        .map(|i| alloc::format!("MECHANISM-{i:010}"))
        .collect();
    let many: Vec<Mechanism<'static>> = names
        .iter()
        .map(|n| Mechanism::new(n.clone()).unwrap())
        .collect();
    let ehlo = EhloResponse::new(domain("mx.example"))
        .with(Capability::Auth(many.clone().into()))
        .and_then(|e| e.with(Capability::Pipelining))
        .unwrap();
    let wire = encode(&ehlo);
    let lines: Vec<&[u8]> = wire.split_inclusive(|b| *b == b'\n').collect();
    assert!(lines.len() > 4);
    for line in &lines {
        assert!(line.len() <= MAX_REPLY_LINE);
    }
    assert_eq!(decode(&wire), ehlo);

    // A long greeting is cut to fit.
    let greeting: String = core::iter::repeat_n("hello ", 200).collect();
    let ehlo = EhloResponse::new(domain("mx.example"))
        .with_greeting(ReplyText::new(greeting.clone()).unwrap());
    let wire = encode(&ehlo);
    assert_eq!(wire.len(), MAX_REPLY_LINE);
    let decoded = decode(&wire);
    assert!(greeting.starts_with(decoded.greeting.as_ref().unwrap().as_str()));

    // to_reply gives the same bytes.
    let ehlo = decode(b"250-mx.example hi\r\n250-AUTH PLAIN\r\n250 SIZE 10\r\n");
    let mut out = BytesMut::new();
    encode_reply(&ehlo.to_reply(), &mut out);
    assert_eq!(
        &out[..],
        b"250-mx.example hi\r\n250-AUTH PLAIN\r\n250 SIZE 10\r\n"
    );
}

proptest! {
    /// Item of issue 13: decode(encode(x)) == x for every EHLO response the public
    /// constructors allow (RFC 5321 4.1.1.1; lines within 512 octets, 4.5.3.1.5; UTF-8 text
    /// as SMTPUTF8 allows in replies, RFC 6531 3.7.4.2), straight and through a reply, and
    /// every line of the encoding within the limit.
    #[test]
    fn every_buildable_response_decodes_back_the_same(ehlo in strategies::any_ehlo_response()) {
        let wire = encode(&ehlo);
        for line in wire.split_inclusive(|b| *b == b'\n') {
            prop_assert!(line.len() <= MAX_REPLY_LINE, "{}", line.len());
        }
        let utf8 = ReplyOptions { utf8: true, ..options() };
        prop_assert_eq!(
            decode_ehlo_response(&wire, &utf8),
            Ok(Decoded::Complete(ehlo.clone(), wire.len()))
        );
        if wire.is_ascii() {
            prop_assert_eq!(
                decode_ehlo_response(&wire, &options()),
                Ok(Decoded::Complete(ehlo.clone(), wire.len()))
            );
        }
        let Ok(Decoded::Complete(reply, _)) = decode_reply(&wire, &utf8) else {
            panic!("not a reply");
        };
        prop_assert_eq!(EhloResponse::try_from(reply), Ok(ehlo));
    }

    #[test]
    fn encode_then_decode_gives_the_response(ehlo in strategies::ehlo_response()) {
        let wire = encode(&ehlo);
        prop_assert_eq!(decode_ehlo_response(&wire, &options()), Ok(Decoded::Complete(ehlo.clone(), wire.len())));
        // Through a reply, both ways.
        let Ok(Decoded::Complete(reply, _)) = decode_reply(&wire, &options()) else {
            panic!("not a reply");
        };
        prop_assert_eq!(EhloResponse::try_from(reply), Ok(ehlo.clone()));
        let mut again = BytesMut::new();
        encode_reply(&ehlo.to_reply(), &mut again);
        prop_assert_eq!(&again[..], &wire[..]);
    }

    #[test]
    fn every_prefix_is_incomplete(ehlo in strategies::ehlo_response()) {
        let wire = encode(&ehlo);
        for end in 0..wire.len() {
            prop_assert_eq!(decode_ehlo_response(&wire[..end], &options()), Ok(Decoded::Incomplete));
        }
    }

    #[test]
    fn the_fast_path_agrees_with_the_general_path(
        ehlo in strategies::ehlo_response(),
        junk in prop::collection::vec(prop_oneof![
            4 => prop::sample::select(&b"250- \r\nAUTH=SIZE.example1[]:"[..]),
            1 => any::<u8>(),
        ], 0..80),
        cut in any::<usize>(),
        small in any::<bool>(),
    ) {
        let mut wire = encode(&ehlo);
        let end = cut % (wire.len() + 1);
        let mut mangled = wire[..end].to_vec();
        mangled.extend_from_slice(&junk);
        wire.extend_from_slice(&junk);
        let options = if small {
            ReplyOptions { max_line_length: 60, max_lines: 4, max_bytes: 200, utf8: false }
        } else {
            options()
        };
        for input in [&wire, &mangled] {
            prop_assert_eq!(decode_ehlo_response(input, &options), decode_general(input, &options));
        }
    }

    #[test]
    fn decoding_never_panics(input in prop::collection::vec(prop_oneof![
        4 => prop::sample::select(&b"250- \r\nAUTH=SIZE.example1[]:"[..]),
        1 => any::<u8>(),
    ], 0..200)) {
        let _ = decode_ehlo_response(&input, &options());
        if let Ok(Decoded::Complete(reply, _)) = decode_reply(&input, &options()) {
            let _ = EhloResponse::try_from(reply);
        }
    }
}

/// RFC 4954 3: mechanism names compare without regard to case; a response that names one
/// twice, on one `AUTH` line or on two, offers it once, whichever decoding path reads it.
#[test]
fn rfc4954_3_auth_mechanisms_are_kept_once_on_every_path() {
    let once = mechanisms(&["PLAIN", "LOGIN"]);
    for wire in [
        &b"250-mx.example\r\n250 AUTH PLAIN plain LOGIN\r\n"[..],
        b"250-mx.example\r\n250-AUTH PLAIN\r\n250 AUTH=plain LOGIN\r\n",
    ] {
        let ehlo = decode(wire);
        assert_eq!(ehlo.auth_mechanisms(), once, "{wire:?}");
        let Ok(Decoded::Complete(reply, _)) = decode_reply(wire, &options()) else {
            panic!()
        };
        assert_eq!(EhloResponse::try_from(reply).unwrap(), ehlo);
    }
}

/// RFC 5321 4.1.1.1 (`"250" SP Domain [SP ehlo-greet]`): a one-line EHLO response whose host
/// looks like an enhanced status code keeps that host on the road through a reply, where
/// `decode_reply` lifts the "status" off (RFC 2034 4 gives EHLO responses none).
#[test]
fn rfc5321_4_1_1_1_a_host_like_a_status_code_survives_the_reply_road() {
    for (wire, greeting) in [
        (&b"250 2.0.0\r\n"[..], None),
        (b"250 2.0.0 hello there\r\n", Some("hello there")),
        (b"250 2.1.5 mx.example\r\n", Some("mx.example")),
    ] {
        // `decode` also checks that `EhloResponse::try_from(decode_reply(wire))` agrees.
        let ehlo = decode(wire);
        assert_eq!(ehlo.greeting().map(|g| g.as_str()), greeting, "{wire:?}");
        assert!(ehlo.host().to_string().starts_with("2."), "{wire:?}");
        let Ok(Decoded::Complete(reply, _)) = decode_reply(wire, &options()) else {
            panic!("not a reply");
        };
        assert!(reply.status().is_some(), "the status is lifted: {wire:?}");
        // Owned, the same.
        assert_eq!(EhloResponse::try_from(reply.into_owned()).unwrap(), ehlo);
        // And the response encodes back to the same bytes.
        assert_eq!(encode(&ehlo), wire);
    }
    let built = EhloResponse::new(domain("2.0.0"));
    let wire = encode(&built);
    assert_eq!(wire, b"250 2.0.0\r\n");
    let Ok(Decoded::Complete(reply, _)) = decode_reply(&wire, &options()) else {
        panic!("not a reply");
    };
    assert_eq!(EhloResponse::try_from(reply), Ok(built));
}

#[test]
fn unusual_capability_lines_decode_as_the_general_path_does() {
    let lines: &[&[u8]] = &[
        b"X-FOO caf\xc3\xa9",
        b"AUTH PLAIN  LOGIN",
        b"AUTH ",
        b"AUTH",
        b"AUTH=PLAIN LOGIN",
        b"AUTH PLAIN ",
        b"AUTH ABCDEFGHIJKLMNOPQRSTU",
        b"AUTH ABCDEFGHIJKLMNOPQRST",
        b"auth plain login plain",
        b"AUTH PLAIN\tLOGIN",
        b"AUTH PL\xc3\xa9",
        b"SIZE 0",
        b"SIZE",
        b"SIZE ",
        b"SIZE=10",
        b"size 10",
        b"SIZE 18446744073709551615",
        b"SIZE 18446744073709551616",
        b"SIZE 00000000000000000000001",
        b"SIZE 1 ",
        b"SIZE +1",
        b"PIPELINING",
        b"pipelining",
        b"PIPELINING ",
        b"8BITMIME\x7f",
        b"SIZE 12345678",
        b"SIZE 1234567\xff",
        b"AUTH PLAIN\r",
    ];
    for line in lines {
        for utf8 in [false, true] {
            let mut w = b"250-mx.example greets\r\n250-".to_vec();
            w.extend_from_slice(line);
            w.extend_from_slice(b"\r\n250 HELP\r\n");
            let options = ReplyOptions { utf8, ..options() };
            assert_eq!(
                decode_ehlo_response(&w, &options),
                decode_general(&w, &options),
                "{:?} {utf8}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
