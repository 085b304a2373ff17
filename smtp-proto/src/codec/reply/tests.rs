use super::*;
use crate::types::{ReplyClass, strategies};
use alloc::string::{String, ToString};
use alloc::vec;
use bytes::BytesMut;

use proptest::prelude::*;

fn options() -> ReplyOptions {
    ReplyOptions::default()
}

/// Decodes a complete reply that takes all of `input`.
fn decode(input: &[u8]) -> Reply<'_> {
    match decode_reply(input, &options()) {
        Ok(Decoded::Complete(reply, used)) => {
            assert_eq!(used, input.len(), "{:?}", String::from_utf8_lossy(input));
            reply
        }
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
    }
}

fn error(input: &[u8], options: &ReplyOptions) -> DecodeError {
    match decode_reply(input, options) {
        Err(error) => error,
        other => panic!("{:?}: {other:?}", String::from_utf8_lossy(input)),
    }
}

fn texts<'r>(reply: &'r Reply<'_>) -> Vec<&'r str> {
    reply.lines().iter().map(ReplyText::as_str).collect()
}

fn encode(reply: &Reply<'_>) -> Vec<u8> {
    let mut out = BytesMut::new();
    encode_reply(reply, &mut out);
    out.to_vec()
}

/// Splits `data` at the cut points (modulo its length plus one).
fn chunked<'a>(data: &'a [u8], cuts: &[usize]) -> Vec<&'a [u8]> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
    points.sort_unstable();
    let mut out = Vec::new();
    let mut last = 0;
    for point in points {
        out.push(&data[last..point]);
        last = point;
    }
    out.push(&data[last..]);
    out
}

/// Everything an assembler makes of `chunks`, owned.
fn assemble_chunks(
    options: ReplyOptions,
    chunks: &[&[u8]],
) -> Vec<Result<Reply<'static>, DecodeError>> {
    let mut assembler = ReplyAssembler::new(options);
    let mut out = Vec::new();
    for chunk in chunks {
        let mut input = *chunk;
        while let Some(reply) = assembler.next_reply(&mut input) {
            out.push(reply.map(Reply::into_owned));
            assert!(assembler.buffered() <= options.max_bytes + options.max_line_length);
        }
        assert!(input.is_empty());
        assert!(assembler.buffered() <= options.max_bytes + options.max_line_length);
    }
    out
}

/// Every `S:` reply of RFC 5321 appendix D (D.1 to D.4), with what it must decode to.
const APPENDIX_D: &[(&[u8], u16, &[&str])] = &[
    (b"220 foo.com Simple Mail Transfer Service Ready\r\n", 220, &["foo.com Simple Mail Transfer Service Ready"]),
    (
        b"250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250 HELP\r\n",
        250,
        &["foo.com greets bar.com", "8BITMIME", "SIZE", "DSN", "HELP"],
    ),
    (b"250 OK\r\n", 250, &["OK"]),
    (b"550 No such user here\r\n", 550, &["No such user here"]),
    (b"354 Start mail input; end with <CRLF>.<CRLF>\r\n", 354, &["Start mail input; end with <CRLF>.<CRLF>"]),
    (b"221 foo.com Service closing transmission channel\r\n", 221, &["foo.com Service closing transmission channel"]),
    (b"220 xyz.com Simple Mail Transfer Service Ready\r\n", 220, &["xyz.com Simple Mail Transfer Service Ready"]),
    (b"250 xyz.com is on the air\r\n", 250, &["xyz.com is on the air"]),
    (
        b"250-foo.com greets bar.com\r\n250-8BITMIME\r\n250-SIZE\r\n250-DSN\r\n250-VRFY\r\n250 HELP\r\n",
        250,
        &["foo.com greets bar.com", "8BITMIME", "SIZE", "DSN", "VRFY", "HELP"],
    ),
    (b"250 Mark Crispin <Admin.MRC@foo.com>\r\n", 250, &["Mark Crispin <Admin.MRC@foo.com>"]),
];

#[test]
fn rfc5321_appendix_d() {
    for (input, code, lines) in APPENDIX_D {
        let reply = decode(input);
        assert_eq!(reply.code().get(), *code);
        assert_eq!(reply.status(), None);
        assert_eq!(texts(&reply), *lines);
        assert_eq!(encode(&reply), *input, "encode gives the same bytes back");
    }
}

#[test]
fn rfc2034_examples() {
    type Case = (
        &'static [u8],
        u16,
        Option<&'static str>,
        &'static [&'static str],
    );
    let table: &[Case] = &[
        (b"220 dbc.mtview.ca.us SMTP service ready\r\n", 220, None, &["dbc.mtview.ca.us SMTP service ready"]),
        (b"250-dbc.mtview.ca.us says hello\r\n250 ENHANCEDSTATUSCODES\r\n", 250, None, &["dbc.mtview.ca.us says hello", "ENHANCEDSTATUSCODES"]),
        (b"250 2.1.0 Originator <ned@ymir.claremont.edu> ok\r\n", 250, Some("2.1.0"), &["Originator <ned@ymir.claremont.edu> ok"]),
        (b"250 2.1.5 Recipient <mrose@dbc.mtview.ca.us> ok\r\n", 250, Some("2.1.5"), &["Recipient <mrose@dbc.mtview.ca.us> ok"]),
        (b"550 5.1.1 Mailbox \"nosuchuser\" does not exist\r\n", 550, Some("5.1.1"), &["Mailbox \"nosuchuser\" does not exist"]),
        (
            b"551-5.7.1 Forwarding to remote hosts disabled\r\n551 5.7.1 Select another host to act as your forwarder\r\n",
            551,
            Some("5.7.1"),
            &["Forwarding to remote hosts disabled", "Select another host to act as your forwarder"],
        ),
        (b"354 Send message, ending in CRLF.CRLF.\r\n", 354, None, &["Send message, ending in CRLF.CRLF."]),
        (b"250 2.6.0 Message accepted\r\n", 250, Some("2.6.0"), &["Message accepted"]),
        (b"221 2.0.0 Goodbye\r\n", 221, Some("2.0.0"), &["Goodbye"]),
    ];
    for (input, code, status, lines) in table {
        let reply = decode(input);
        assert_eq!(reply.code().get(), *code);
        assert_eq!(reply.status().map(|s| s.to_string()).as_deref(), *status);
        assert_eq!(texts(&reply), *lines);
        assert_eq!(encode(&reply), *input);
    }
}

#[test]
fn other_rfc_examples() {
    // RFC 1870 section 8, RFC 4954 section 4 and 6, RFC 1985 section 5.
    let table: &[(&[u8], u16, &[&str])] = &[
        (
            b"250-sigurd.innosoft.com\r\n250-EXPN\r\n250-HELP\r\n250 SIZE 1000000\r\n",
            250,
            &["sigurd.innosoft.com", "EXPN", "HELP", "SIZE 1000000"],
        ),
        (
            b"552 Channel size limit exceeded: ned@YMIR.CLAREMONT.EDU\r\n",
            552,
            &["Channel size limit exceeded: ned@YMIR.CLAREMONT.EDU"],
        ),
        (
            b"220 sigurd.innosoft.com -- Server SMTP (PMDF V4.2-6 #1992)\r\n",
            220,
            &["sigurd.innosoft.com -- Server SMTP (PMDF V4.2-6 #1992)"],
        ),
        (b"334 \r\n", 334, &[""]),
        (
            b"334 PDQxOTI5NDIzNDEuMTI4Mjg0NzJAc291cmNlZm91ci5hbmRyZXcuY211LmVkdT4=\r\n",
            334,
            &["PDQxOTI5NDIzNDEuMTI4Mjg0NzJAc291cmNlZm91ci5hbmRyZXcuY211LmVkdT4="],
        ),
        (
            b"458 Unable to queue messages for node uu.net\r\n",
            458,
            &["Unable to queue messages for node uu.net"],
        ),
    ];
    for (input, code, lines) in table {
        let reply = decode(input);
        assert_eq!(reply.code().get(), *code);
        assert_eq!(texts(&reply), *lines);
    }
    let reply = decode(b"235 2.7.0 Authentication successful\r\n");
    assert_eq!(reply.status(), Some(EnhancedStatus::AUTH_SUCCEEDED));
    let reply = decode(b"535 5.7.8  Authentication credentials invalid\r\n");
    assert_eq!(
        reply.status(),
        Some(EnhancedStatus::AUTH_CREDENTIALS_INVALID)
    );
    // "followed by one or more spaces" (RFC 2034 3): only the first is the separator.
    assert_eq!(texts(&reply), [" Authentication credentials invalid"]);
    assert_eq!(
        encode(&reply),
        b"535 5.7.8  Authentication credentials invalid\r\n"
    );
}

#[test]
fn bare_codes_and_empty_text() {
    let table: &[(&[u8], &[&str], &[u8])] = &[
        (b"250\r\n", &[""], b"250\r\n"),
        (b"250 \r\n", &[""], b"250\r\n"),
        (b"250-\r\n250 ok\r\n", &["", "ok"], b"250-\r\n250 ok\r\n"),
        (b"250-\r\n250\r\n", &["", ""], b"250-\r\n250\r\n"),
        (
            b"250-a\r\n250-\r\n250 \r\n",
            &["a", "", ""],
            b"250-a\r\n250-\r\n250\r\n",
        ),
        (
            b"220  two spaces\r\n",
            &[" two spaces"],
            b"220  two spaces\r\n",
        ),
        (b"250 \ttab\r\n", &["\ttab"], b"250 \ttab\r\n"),
    ];
    for (input, lines, canonical) in table {
        let reply = decode(input);
        assert_eq!(texts(&reply), *lines);
        assert_eq!(encode(&reply), *canonical);
    }
}

#[test]
fn enhanced_status_detection() {
    let table: &[(&[u8], Option<&str>, &[&str])] = &[
        (b"250 2.1.0 Ok\r\n", Some("2.1.0"), &["Ok"]),
        (b"250 2.1.0\r\n", Some("2.1.0"), &[""]),
        (b"250 2.1.0 \r\n", Some("2.1.0"), &[""]),
        (b"250-2.0.0 a\r\n250 2.0.0\r\n", Some("2.0.0"), &["a", ""]),
        // Lines that disagree keep their text.
        (
            b"550-5.7.1 a\r\n550 5.7.2 b\r\n",
            None,
            &["5.7.1 a", "5.7.2 b"],
        ),
        (b"550-5.7.1 a\r\n550 b\r\n", None, &["5.7.1 a", "b"]),
        (b"550-a\r\n550 5.7.1 b\r\n", None, &["a", "5.7.1 b"]),
        // The class must be the code's first digit; 3yz has none.
        (b"250 5.1.1 odd\r\n", None, &["5.1.1 odd"]),
        (b"354 2.0.0 go ahead\r\n", None, &["2.0.0 go ahead"]),
        // Not a status code: leading zeros, four digits, no space after.
        (b"550 5.01.1 x\r\n", None, &["5.01.1 x"]),
        (b"550 5.1.1000 x\r\n", None, &["5.1.1000 x"]),
        (b"550 5.1.1: x\r\n", None, &["5.1.1: x"]),
        (b"250 2.1.0\tOk\r\n", None, &["2.1.0\tOk"]),
        (b"250 1.2.3.4 is me\r\n", None, &["1.2.3.4 is me"]),
    ];
    for (input, status, lines) in table {
        let reply = decode(input);
        assert_eq!(
            reply.status().map(|s| s.to_string()).as_deref(),
            *status,
            "{input:?}"
        );
        assert_eq!(texts(&reply), *lines, "{input:?}");
    }
}

#[test]
fn invalid_replies() {
    let table: &[(&[u8], usize, ErrorKind)] = &[
        (b"199 nope\r\n", 0, ErrorKind::InvalidReplyCode),
        (b"600 nope\r\n", 0, ErrorKind::InvalidReplyCode),
        (b"260 nope\r\n", 1, ErrorKind::InvalidReplyCode),
        (b"25x nope\r\n", 2, ErrorKind::InvalidReplyCode),
        (b"25\r\n", 2, ErrorKind::InvalidReplyCode),
        (b"\r\n", 0, ErrorKind::InvalidReplyCode),
        (b" 250 ok\r\n", 0, ErrorKind::InvalidReplyCode),
        (b"HTTP/1.1 400\r\n", 0, ErrorKind::InvalidReplyCode),
        (
            b"250x\r\n",
            3,
            ErrorKind::Syntax {
                expected: "SP or \"-\" after the reply code",
            },
        ),
        (
            b"2500 ok\r\n",
            3,
            ErrorKind::Syntax {
                expected: "SP or \"-\" after the reply code",
            },
        ),
        (
            b"250-a\r\n251 b\r\n",
            7,
            ErrorKind::ReplyCodeMismatch {
                expected: 250,
                found: 251,
            },
        ),
        (
            b"250-a\r\n251",
            7,
            ErrorKind::ReplyCodeMismatch {
                expected: 250,
                found: 251,
            },
        ),
        (b"250 ok\n", 6, ErrorKind::BareLf),
        (b"250 o\rk\r\n", 5, ErrorKind::BareCr),
        (b"250-a\r\n250 o\rk", 12, ErrorKind::BareCr),
        (b"250 o\0k\r\n", 5, ErrorKind::Nul),
        (b"250 gr\xc3\xbc\xc3\x9fe\r\n", 6, ErrorKind::NonAscii),
        (b"250 \xff\r\n", 4, ErrorKind::NonAscii),
        (
            b"250-ok\r\n250 a\x1b[0m\r\n",
            13,
            ErrorKind::Invalid(InvalidValue::UnexpectedChar {
                what: "reply text",
                offset: 1,
                found: '\x1b',
            }),
        ),
        (
            b"250 \x7f\r\n",
            4,
            ErrorKind::Invalid(InvalidValue::UnexpectedChar {
                what: "reply text",
                offset: 0,
                found: '\x7f',
            }),
        ),
    ];
    for (input, offset, kind) in table {
        let error = error(input, &options());
        assert_eq!((error.offset, &error.kind), (*offset, kind), "{input:?}");
    }
    // UTF-8 needs the option, and then must be valid.
    let utf8 = ReplyOptions {
        utf8: true,
        ..options()
    };
    assert!(matches!(
        decode_reply("250 grüße\r\n".as_bytes(), &utf8),
        Ok(Decoded::Complete(reply, 13)) if reply.lines()[0].as_str() == "grüße"
    ));
    assert_eq!(error(b"250 a\xff\r\n", &utf8).kind, ErrorKind::InvalidUtf8);
}

#[test]
fn limits() {
    let mut long = b"250 ".to_vec();
    long.resize(510, b'a');
    long.extend_from_slice(b"\r\n");
    assert!(matches!(
        decode_reply(&long, &options()),
        Ok(Decoded::Complete(_, 512))
    ));
    let mut longer = long.clone();
    longer.insert(5, b'a');
    assert_eq!(
        error(&longer, &options()).kind,
        ErrorKind::LineTooLong { limit: 512 }
    );
    // Known before the end of the line.
    assert_eq!(
        error(&longer[..512], &options()).kind,
        ErrorKind::LineTooLong { limit: 512 }
    );

    let small = ReplyOptions {
        max_lines: 3,
        max_bytes: 30,
        ..options()
    };
    assert!(matches!(
        decode_reply(b"250-a\r\n250-b\r\n250 c\r\n", &small),
        Ok(Decoded::Complete(_, 21))
    ));
    let error_at = |input: &[u8]| error(input, &small);
    let too_many = error_at(b"250-a\r\n250-b\r\n250-c\r\n");
    assert_eq!(
        (too_many.offset, too_many.kind),
        (21, ErrorKind::TooManyLines { limit: 3 })
    );
    let too_large = error_at(b"250-aaaaaaaaaa\r\n250 bbbbbbbbbbbbbbbb\r\n");
    assert_eq!(
        (too_large.offset, too_large.kind),
        (16, ErrorKind::ReplyTooLarge { limit: 30 })
    );
    // Known before the end of the line.
    let early = error_at(b"250-aaaaaaaaaa\r\n250 bbbbbbbbbbbbbbbb");
    assert_eq!(early.kind, ErrorKind::ReplyTooLarge { limit: 30 });
}

#[test]
fn incomplete_and_following_data() {
    for input in [
        &b""[..],
        b"2",
        b"25",
        b"250",
        b"250 ok",
        b"250 ok\r",
        b"250-a\r\n",
        b"250-a\r\n250",
        b"250-a\r\n250 b\r",
    ] {
        assert_eq!(
            decode_reply(input, &options()),
            Ok(Decoded::Incomplete),
            "{input:?}"
        );
    }
    // Garbage fails before its line ends.
    assert_eq!(error(b"x", &options()).kind, ErrorKind::InvalidReplyCode);
    assert_eq!(error(b"2x", &options()).offset, 1);
    assert_eq!(error(b"250x", &options()).offset, 3);
    assert_eq!(error(b"250 a\rb", &options()).kind, ErrorKind::BareCr);
    // A reply takes only its own lines.
    let Ok(Decoded::Complete(reply, used)) = decode_reply(b"250 a\r\n354 b\r\n", &options()) else {
        panic!()
    };
    assert_eq!((reply.code(), used), (ReplyCode::OK, 7));
}

#[test]
fn reply_lines() {
    let decoded = decode_reply_line(b"250-mx.example\r\n250 SIZE\r\n", &options());
    let Ok(Decoded::Complete(line, 16)) = decoded else {
        panic!("{decoded:?}")
    };
    assert_eq!(line.code, ReplyCode::OK);
    assert!(!line.is_last);
    assert_eq!(line.text.as_str(), "mx.example");
    let Ok(Decoded::Complete(line, 5)) = decode_reply_line(b"221\r\n", &options()) else {
        panic!()
    };
    assert!(line.is_last && line.text.is_empty());
    let Ok(Decoded::Complete(line, _)) = decode_reply_line(b"550 5.1.1 no\r\n", &options()) else {
        panic!()
    };
    assert_eq!(line.text.as_str(), "5.1.1 no");
    assert_eq!(
        decode_reply_line(b"250 o", &options()),
        Ok(Decoded::Incomplete)
    );
    assert_eq!(
        decode_reply_line(b"250 o\0\r\n", &options()).unwrap_err(),
        DecodeError::new(5, ErrorKind::Nul)
    );
    assert_eq!(
        decode_reply_line(b"x", &options()).unwrap_err().kind,
        ErrorKind::InvalidReplyCode
    );
}

#[test]
fn encoding() {
    let reply = Reply::with_status(ReplyCode::OK, EnhancedStatus::SENDER_OK, "Ok").unwrap();
    assert_eq!(encode(&reply), b"250 2.1.0 Ok\r\n");
    let multi = Reply::from_lines(ReplyCode::HELP, ["a", "", "c"]).unwrap();
    assert_eq!(encode(&multi), b"214-a\r\n214-\r\n214 c\r\n");
    let multi = multi.set_status(EnhancedStatus::SUCCESS).unwrap();
    assert_eq!(
        encode(&multi),
        b"214-2.0.0 a\r\n214-2.0.0\r\n214 2.0.0 c\r\n"
    );
    let status = Reply::with_status(
        ReplyCode::MAILBOX_UNAVAILABLE,
        EnhancedStatus::new(5, 100, 999).unwrap(),
        "",
    )
    .unwrap();
    assert_eq!(encode(&status), b"550 5.100.999\r\n");
    // Appends to what is there.
    let mut out = BytesMut::from(&b"xyz"[..]);
    encode_reply(&reply, &mut out);
    assert_eq!(&out[..], b"xyz250 2.1.0 Ok\r\n");
}

#[test]
fn long_text_is_split() {
    // Words: split at spaces.
    let words: String = (0..200).map(|i| alloc::format!("word{i} ")).collect();
    let reply =
        Reply::with_status(ReplyCode::OK, EnhancedStatus::SUCCESS, words.trim_end()).unwrap();
    let wire = encode(&reply);
    let lines: Vec<&[u8]> = wire.split_inclusive(|b| *b == b'\n').collect();
    assert!(lines.len() > 2);
    for (index, line) in lines.iter().enumerate() {
        assert!(line.len() <= MAX_REPLY_LINE, "{}", line.len());
        let head = if index + 1 == lines.len() {
            b"250 2.0.0 "
        } else {
            b"250-2.0.0 "
        };
        assert!(line.starts_with(head));
        assert!(!line.ends_with(b" \r\n"));
    }
    let decoded = decode(&wire);
    assert_eq!(decoded.status(), Some(EnhancedStatus::SUCCESS));
    assert_eq!(texts(&decoded).join(" "), words.trim_end());

    // No spaces, multi-byte characters: split at character boundaries.
    let text: String = core::iter::repeat_n('é', 700).collect();
    let reply = Reply::new(ReplyCode::OK, text.as_str()).unwrap();
    let wire = encode(&reply);
    for line in wire.split_inclusive(|b| *b == b'\n') {
        assert!(line.len() <= MAX_REPLY_LINE);
    }
    let utf8 = ReplyOptions {
        utf8: true,
        ..options()
    };
    let Ok(Decoded::Complete(decoded, _)) = decode_reply(&wire, &utf8) else {
        panic!()
    };
    assert_eq!(texts(&decoded).concat(), text);

    assert_eq!(split_text("abc", 3), ("abc", None));
    assert_eq!(split_text("ab cd", 3), ("ab", Some("cd")));
    assert_eq!(split_text(" abcd", 3), (" ab", Some("cd")));
    assert_eq!(split_text("abcd", 3), ("abc", Some("d")));
    assert_eq!(split_text("aé", 2), ("a", Some("é")));
}

#[test]
fn assembler() {
    let input: &[u8] =
        b"220 mx.example ESMTP\r\n250-mx.example\r\n250-PIPELINING\r\n250 SIZE 10\r\n\
                         250 2.1.0 Ok\r\n550-5.1.1 no\r\n550 5.1.1 such user\r\n";
    let whole = assemble_chunks(options(), &[input]);
    let codes: Vec<u16> = whole
        .iter()
        .map(|r| r.as_ref().unwrap().code().get())
        .collect();
    assert_eq!(codes, [220, 250, 250, 550]);
    assert_eq!(
        whole[3].as_ref().unwrap().status(),
        Some(EnhancedStatus::BAD_DESTINATION_MAILBOX)
    );
    let bytewise: Vec<&[u8]> = input.chunks(1).collect();
    assert_eq!(assemble_chunks(options(), &bytewise), whole);

    // Zero-copy with Bytes input.
    let mut assembler = ReplyAssembler::new(options());
    let mut bytes = Bytes::from_static(b"250 ok\r\n221 bye\r\n");
    assert_eq!(
        assembler.next_reply(&mut bytes).unwrap().unwrap().code(),
        ReplyCode::OK
    );
    assert_eq!(&bytes[..], b"221 bye\r\n");
    assert!(!assembler.is_mid_reply());
    let mut partial = &b"221 by"[..];
    assert!(assembler.next_reply(&mut partial).is_none());
    assert!(assembler.is_mid_reply());
    assembler.reset();
    assert!(!assembler.is_mid_reply());
    assert_eq!(assembler.buffered(), 0);
    assert_eq!(assembler.options(), &options());
}

#[test]
fn assembler_limits_and_errors() {
    let small = ReplyOptions {
        max_line_length: 20,
        max_lines: 3,
        max_bytes: 40,
        utf8: false,
    };
    let input: &[u8] = b"250-1\r\n250-2\r\n250-3\r\n250-4\r\n250 5\r\n\
                         250-aaaaaaaaaaaaaa\r\n250-bbbbbbbbbbbbbb\r\n250 c\r\n250 ccccccccccccccccccccccccc\r\n\
                         250-a\r\n251 b\r\n250 d\0\r\n252 ok\r\n";
    let results = assemble_chunks(small, &[input]);
    let kinds: Vec<Result<u16, ErrorKind>> = results
        .iter()
        .map(|r| {
            r.as_ref()
                .map(|reply| reply.code().get())
                .map_err(|e| e.kind.clone())
        })
        .collect();
    assert_eq!(
        kinds,
        [
            Err(ErrorKind::TooManyLines { limit: 3 }),
            Err(ErrorKind::ReplyTooLarge { limit: 40 }),
            Err(ErrorKind::LineTooLong { limit: 20 }),
            Err(ErrorKind::ReplyCodeMismatch {
                expected: 250,
                found: 251
            }),
            Err(ErrorKind::Nul),
            Ok(252),
        ]
    );
    assert_eq!(results[0].as_ref().unwrap_err().offset, 21);
    assert_eq!(results[1].as_ref().unwrap_err().offset, 40);
    assert_eq!(results[2].as_ref().unwrap_err().offset, 20);
    assert_eq!(results[3].as_ref().unwrap_err().offset, 7);
    assert_eq!(results[4].as_ref().unwrap_err().offset, 5);
    for cut in 1..input.len() {
        assert_eq!(
            assemble_chunks(small, &[&input[..cut], &input[cut..]]),
            results,
            "{cut}"
        );
    }

    let mut assembler = ReplyAssembler::new(small);
    let mut bare = &b"250 a\nb\r\n"[..];
    assert_eq!(
        assembler.next_reply(&mut bare).unwrap().unwrap_err().kind,
        ErrorKind::BareLf
    );
}

#[test]
fn class_helpers() {
    let reply = decode(b"421 4.3.0 closing\r\n");
    assert_eq!(reply.class(), ReplyClass::TransientNegative);
    assert!(reply.is_transient_negative());
}

/// Bytes that look like replies often enough to reach past the code.
fn replyish() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![
            4 => prop::sample::select(&b"0123456789 -\r\n.25"[..]),
            1 => any::<u8>(),
        ],
        0..200,
    )
}

/// The word-at-a-time scanners, against a loop over the octets: every length up to a few
/// words, the octet sought (or a fault) at every place, the last partial word included.
#[test]
fn word_scanners_agree_with_octet_loops() {
    for len in 0..=40usize {
        for at in 0..=len {
            let mut haystack = vec![b'a'; len];
            if let Some(byte) = haystack.get_mut(at) {
                *byte = b'\n';
            }
            // A second LF after the first changes nothing.
            if at + 3 < len {
                haystack[at + 3] = b'\n';
            }
            let expected = haystack.iter().position(|b| *b == b'\n');
            assert_eq!(find_lf(&haystack), expected, "{len} {at}");
            assert_eq!(find_lf_short(&haystack), expected, "{len} {at}");
        }
    }
    let plain = |text: &[u8], utf8: bool| {
        text.iter()
            .all(|&b| (b >= 0x20 && b != 0x7f && (utf8 || b < 0x80)) || b == b'\t')
    };
    for len in 0..=24usize {
        for at in 0..len {
            for odd in [0u8, b'\t', b'\r', 0x1f, b' ', b'~', 0x7f, 0x80, 0xc3, 0xff] {
                let mut text = vec![b'x'; len];
                text[at] = odd;
                for utf8 in [false, true] {
                    assert_eq!(
                        is_plain(&text, utf8),
                        plain(&text, utf8),
                        "{len} {at} {odd:#x} {utf8}"
                    );
                    let unplain = usize::from(!plain(&[odd], utf8) || odd == b'\t');
                    assert_eq!(
                        unplain_octets(&text, utf8),
                        unplain,
                        "{len} {at} {odd:#x} {utf8}"
                    );
                }
            }
        }
    }
}

proptest! {
    /// The count read a word at a time is the count octet by octet.
    #[test]
    fn unplain_octets_counts_each_octet(text in prop::collection::vec(any::<u8>(), 0..40), utf8 in any::<bool>()) {
        let expected = text
            .iter()
            .filter(|&&b| b < 0x20 || b == 0x7f || (!utf8 && b >= 0x80))
            .count();
        prop_assert_eq!(unplain_octets(&text, utf8), expected);
    }

    /// Item of issue 13: decode(encode(x)) == x for every reply the public constructors allow
    /// (RFC 5321 4.2; a status code at the start of the text is the reply's, RFC 2034 4; long
    /// text in lines of at most 512 octets, RFC 5321 4.5.3.1.5), ASCII without SMTPUTF8 and
    /// UTF-8 with it (RFC 6531 3.7.4.2); and the encoder splits none of its lines.
    #[test]
    fn every_buildable_reply_decodes_back_the_same(reply in strategies::any_reply(true)) {
        let wire = encode(&reply);
        let lines = wire.split_inclusive(|b| *b == b'\n').count();
        prop_assert_eq!(lines, reply.lines().len());
        for line in wire.split_inclusive(|b| *b == b'\n') {
            prop_assert!(line.len() <= MAX_REPLY_LINE);
        }
        let utf8 = ReplyOptions { utf8: true, ..options() };
        prop_assert_eq!(decode_reply(&wire, &utf8), Ok(Decoded::Complete(reply.clone(), wire.len())));
        if wire.is_ascii() {
            prop_assert_eq!(decode_reply(&wire, &options()), Ok(Decoded::Complete(reply.clone(), wire.len())));
        }
        let mut input = &wire[..];
        let mut assembler = ReplyAssembler::new(utf8);
        prop_assert_eq!(assembler.next_reply(&mut input).map(|r| r.map(Reply::into_owned)), Some(Ok(reply)));
    }

    #[test]
    fn encode_then_decode_gives_the_reply(reply in strategies::reply(false)) {
        let wire = encode(&reply);
        prop_assert_eq!(decode_reply(&wire, &options()), Ok(Decoded::Complete(reply.clone(), wire.len())));
        let utf8 = ReplyOptions { utf8: true, ..options() };
        prop_assert_eq!(decode_reply(&wire, &utf8), Ok(Decoded::Complete(reply, wire.len())));
    }

    #[test]
    fn utf8_replies_round_trip(reply in strategies::reply(true)) {
        let wire = encode(&reply);
        let utf8 = ReplyOptions { utf8: true, ..options() };
        prop_assert_eq!(decode_reply(&wire, &utf8), Ok(Decoded::Complete(reply, wire.len())));
    }

    #[test]
    fn every_prefix_is_incomplete(reply in strategies::reply(true)) {
        let wire = encode(&reply);
        let utf8 = ReplyOptions { utf8: true, ..options() };
        for end in 0..wire.len() {
            prop_assert_eq!(decode_reply(&wire[..end], &utf8), Ok(Decoded::Incomplete), "{}", end);
        }
    }

    #[test]
    fn any_chunking_gives_the_same_replies(
        replies in prop::collection::vec(strategies::reply(false), 1..5),
        cuts in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut wire = Vec::new();
        for reply in &replies {
            wire.extend_from_slice(&encode(reply));
        }
        let expected: Vec<Result<Reply<'static>, DecodeError>> = replies.into_iter().map(Ok).collect();
        prop_assert_eq!(&assemble_chunks(options(), &chunked(&wire, &cuts)), &expected);
        // And the buffer decoder, reply after reply, agrees.
        let mut at = 0;
        let mut decoded = Vec::new();
        while at < wire.len() {
            let Ok(Decoded::Complete(reply, used)) = decode_reply(&wire[at..], &options()) else {
                panic!("not complete at {at}");
            };
            decoded.push(Ok(reply.into_owned()));
            at += used;
        }
        prop_assert_eq!(decoded, expected);
    }

    #[test]
    fn encoded_lines_are_bounded(code in strategies::reply_code(), text in "[ -~é]{0,2000}") {
        let reply = Reply::new(code, text.as_str()).unwrap();
        let wire = encode(&reply);
        for line in wire.split_inclusive(|b| *b == b'\n') {
            prop_assert!(line.len() <= MAX_REPLY_LINE);
            prop_assert!(line.ends_with(b"\r\n"));
            prop_assert!(!line[..line.len() - 2].contains(&b'\r'));
        }
        let utf8 = ReplyOptions { utf8: true, ..options() };
        let decoded = decode_reply(&wire, &utf8);
        prop_assert!(matches!(decoded, Ok(Decoded::Complete(_, used)) if used == wire.len()));
    }

    #[test]
    fn decoding_never_panics(input in prop_oneof![replyish(), prop::collection::vec(any::<u8>(), 0..600)]) {
        let _ = decode_reply(&input, &options());
        let _ = decode_reply_line(&input, &options());
        let utf8 = ReplyOptions { utf8: true, max_lines: 3, max_bytes: 64, max_line_length: 20 };
        let _ = decode_reply(&input, &utf8);
        let _ = assemble_chunks(utf8, &[&input]);
    }

    #[test]
    fn fast_paths_agree_with_the_general_path(
        replies in prop::collection::vec(strategies::reply(true), 1..3),
        junk in replyish(),
        utf8 in any::<bool>(),
        small in any::<bool>(),
    ) {
        let mut wire = Vec::new();
        for reply in &replies {
            wire.extend_from_slice(&encode(reply));
        }
        wire.extend_from_slice(&junk);
        let options = if small {
            ReplyOptions { max_line_length: 40, max_lines: 3, max_bytes: 100, utf8 }
        } else {
            ReplyOptions { utf8, ..options() }
        };
        prop_assert_eq!(decode_reply(&wire, &options), decode_reply_general(&wire, &options));
        prop_assert_eq!(decode_reply(&junk, &options), decode_reply_general(&junk, &options));
    }

    #[test]
    fn assembler_agrees_with_the_buffer_decoder(input in replyish(), cuts in prop::collection::vec(any::<usize>(), 0..6)) {
        // The assembler never holds more than its limits (checked inside assemble_chunks), and
        // however the input is cut it reports the same.
        let small = ReplyOptions { max_line_length: 24, max_lines: 4, max_bytes: 60, utf8: false };
        let whole = assemble_chunks(small, &[&input]);
        prop_assert_eq!(assemble_chunks(small, &chunked(&input, &cuts)), whole.clone());
        // The first result agrees with decode_reply on the same bytes.
        if let Some(Ok(first)) = whole.first() {
            let decoded = decode_reply(&input, &small);
            prop_assert!(matches!(decoded, Ok(Decoded::Complete(ref reply, _)) if reply == first));
        }
    }
}

// RFC 5321 4.2: a decoded reply line outlives its input once owned.
#[test]
fn reply_line_into_owned_outlives_the_input() {
    let owned: ReplyLine<'static> = {
        let input = alloc::vec::Vec::from(&b"250-mail.example greets you\r\n"[..]);
        let Decoded::Complete(line, _) =
            decode_reply_line(&input, &ReplyOptions::default()).unwrap()
        else {
            panic!("complete")
        };
        line.into_owned()
    };
    assert_eq!(owned.code, ReplyCode::OK);
    assert!(!owned.is_last);
    assert_eq!(owned.text.as_str(), "mail.example greets you");
}

proptest! {
    /// A one-line reply's text, any octets at any alignment (the fast path reads one or two
    /// words of it in place): the same reply or error as the general path.
    #[test]
    fn one_line_fast_path_agrees_octet_by_octet(
        code in prop::sample::select(vec![&b"250"[..], b"550", b"451"]),
        text in prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(b"0124559. Ok\t".to_vec()),
                1 => any::<u8>(),
            ],
            0..40,
        ),
        shift in 0usize..8,
        utf8 in any::<bool>(),
    ) {
        let mut wire = vec![b'x'; shift];
        wire.extend_from_slice(code);
        wire.push(b' ');
        wire.extend_from_slice(&text);
        wire.extend_from_slice(b"\r\n");
        let wire = &wire[shift..];
        let options = ReplyOptions { utf8, ..options() };
        prop_assert_eq!(decode_reply(wire, &options), decode_reply_general(wire, &options));
    }
}

/// [`plain_lines`] written line by line and octet by octet: its definition.
fn plain_lines_reference(
    bytes: &[u8],
    options: &ReplyOptions,
    ranges: &mut [(u16, u16)],
) -> Option<(usize, usize)> {
    let digits = bytes.get(..3)?;
    let mut lines = 0;
    let mut at = 0;
    loop {
        let rest = bytes.get(at..)?;
        let line = rest.get(..options.max_line_length).unwrap_or(rest);
        let lf = line.iter().position(|b| *b == b'\n')?;
        if lf < 4 || line.get(lf - 1) != Some(&b'\r') || line.get(..3) != Some(digits) {
            return None;
        }
        let cr = lf - 1;
        let is_last = match line.get(3) {
            Some(b'-') => false,
            Some(b' ') => true,
            Some(b'\r') if cr == 3 => true,
            _ => return None,
        };
        *ranges.get_mut(lines)? = (
            u16::try_from(at + 4.min(cr)).ok()?,
            u16::try_from(at + cr).ok()?,
        );
        lines += 1;
        at += lf + 1;
        if is_last {
            break;
        }
    }
    (lines <= options.max_lines && at <= options.max_bytes).then_some((lines, at))
}

/// Lines that look like reply lines: a code (mostly the same), a separator, text, and CRLF
/// (mostly).
fn framable_lines() -> impl Strategy<Value = Vec<u8>> {
    let line = (
        prop::sample::select(vec![&b"250"[..], b"250", b"250", b"251", b"25", b"2500"]),
        prop::sample::select(vec![&b"-"[..], b"-", b" ", b"", b"\r", b"x"]),
        prop::collection::vec(
            prop_oneof![
                6 => prop::sample::select(&b"abc -250\r\n"[..]),
                1 => any::<u8>(),
            ],
            0..30,
        ),
        prop::sample::select(vec![&b"\r\n"[..], b"\r\n", b"\r\n", b"\n", b""]),
    )
        .prop_map(|(code, separator, text, end)| [code, separator, &text, end].concat());
    prop::collection::vec(line, 0..12).prop_map(|lines| lines.concat())
}

proptest! {
    /// The framing of a fast path, a word at a time, against its definition: any lines, at
    /// any alignment, with limits that cut them anywhere.
    #[test]
    fn plain_lines_agrees_with_its_definition(
        input in framable_lines(),
        shift in 0usize..8,
        max_line_length in prop::sample::select(vec![3usize, 4, 5, 8, 12, 20, 512]),
        max_lines in 0usize..14,
        max_bytes in prop::sample::select(vec![0usize, 10, 40, 100, 65536]),
    ) {
        let mut buffer = vec![b'x'; shift];
        buffer.extend_from_slice(&input);
        let bytes = &buffer[shift..];
        let options = ReplyOptions { max_line_length, max_lines, max_bytes, utf8: false };
        let mut ranges = [(0u16, 0u16); MOST_PLAIN_LINES];
        let mut expected_ranges = [(0u16, 0u16); MOST_PLAIN_LINES];
        let found = plain_lines(bytes, &options, &mut ranges);
        let expected = plain_lines_reference(bytes, &options, &mut expected_ranges);
        prop_assert_eq!(found, expected);
        if let Some((lines, _)) = found {
            prop_assert_eq!(&ranges[..lines], &expected_ranges[..lines]);
        }
    }
}

#[test]
fn one_line_fast_path_agrees_for_every_odd_octet_at_every_place() {
    for utf8 in [false, true] {
        let options = ReplyOptions { utf8, ..options() };
        for len in 0..=18usize {
            for place in 0..len {
                for byte in 0..=255u8 {
                    for fill in [b'a', b' ', b'\t'] {
                        let mut wire = b"250 ".to_vec();
                        let mut text = vec![fill; len];
                        text[place] = byte;
                        wire.extend_from_slice(&text);
                        wire.extend_from_slice(b"\r\n");
                        assert_eq!(
                            decode_reply(&wire, &options),
                            decode_reply_general(&wire, &options),
                            "{wire:?}"
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn multi_line_fast_path_agrees_on_mixed_codes_statuses_and_line_counts() {
    let mut cases: Vec<Vec<u8>> = vec![
        b"250-2.1.0 a\r\n250 5.1.0 b\r\n".to_vec(),
        b"250-2.1.0 a\r\n251 2.1.0 b\r\n".to_vec(),
        b"250-2.1.0\r\n250 2.1.0\r\n".to_vec(),
        b"250-\r\n250\r\n".to_vec(),
        b"550-5.1.1 a\r\n550-5.1.1\r\n550 5.1.1 c\r\n".to_vec(),
        b"550-5.1.1 a\r\n550-5.1.10\r\n550 5.1.1 c\r\n".to_vec(),
    ];
    // 33 lines, 32 lines
    for n in [31usize, 32, 33] {
        let mut w = Vec::new();
        for i in 0..n {
            w.extend_from_slice(if i + 1 == n {
                b"250 x\r\n"
            } else {
                b"250-x\r\n"
            });
        }
        cases.push(w);
    }
    // around the 4 KiB window
    for total in [4090usize, 4094, 4095, 4096, 4097, 4100, 70000] {
        let mut w = Vec::new();
        let line = 500;
        let mut left = total;
        while left > line {
            w.extend_from_slice(b"250-");
            w.extend(core::iter::repeat_n(b'a', line - 6));
            w.extend_from_slice(b"\r\n");
            left -= line;
        }
        w.extend_from_slice(b"250 ");
        w.extend(core::iter::repeat_n(b'b', left.saturating_sub(6)));
        w.extend_from_slice(b"\r\n");
        cases.push(w);
    }
    for w in &cases {
        for options in [
            options(),
            ReplyOptions {
                max_bytes: 1 << 20,
                max_lines: 1000,
                ..options()
            },
            ReplyOptions {
                max_bytes: 1 << 20,
                max_lines: 1000,
                max_line_length: 1 << 20,
                utf8: true,
            },
        ] {
            let a = decode_reply(w, &options);
            let b = decode_reply_general(w, &options);
            assert_eq!(a, b, "{:?}", String::from_utf8_lossy(&w[..w.len().min(60)]));
        }
    }
}
