use super::*;
use crate::types::{Domain, strategies};
use alloc::string::ToString;
use alloc::vec;
use proptest::prelude::*;

fn mechanisms(names: &[&str]) -> Vec<Mechanism<'static>> {
    names
        .iter()
        .map(|n| Mechanism::new(String::from(*n)).unwrap())
        .collect()
}

fn other(keyword: &str, params: &[&str]) -> Capability<'static> {
    Capability::Other {
        keyword: EhloKeyword::new(String::from(keyword)).unwrap(),
        params: params
            .iter()
            .map(|p| EhloParam::new(String::from(*p)).unwrap())
            .collect(),
    }
}

#[test]
fn known_capabilities() {
    let date = DateTime::new("2026-12-01T00:00:00Z").unwrap();
    let table = [
        ("SIZE", Capability::Size(None)),
        ("SIZE 1000000", Capability::Size(Some(1_000_000))),
        ("SIZE 0", Capability::Size(Some(0))),
        ("size 52428800", Capability::Size(Some(52_428_800))),
        (
            "SIZE 18446744073709551615",
            Capability::Size(Some(u64::MAX)),
        ),
        ("8BITMIME", Capability::EightBitMime),
        ("PIPELINING", Capability::Pipelining),
        ("Pipelining", Capability::Pipelining),
        ("CHUNKING", Capability::Chunking),
        ("BINARYMIME", Capability::BinaryMime),
        ("DSN", Capability::Dsn),
        ("SMTPUTF8", Capability::SmtpUtf8),
        ("ENHANCEDSTATUSCODES", Capability::EnhancedStatusCodes),
        ("STARTTLS", Capability::StartTls),
        ("AUTH", Capability::Auth(vec![].into())),
        (
            "AUTH GSSAPI DIGEST-MD5",
            Capability::Auth(mechanisms(&["GSSAPI", "DIGEST-MD5"]).into()),
        ),
        (
            "AUTH=LOGIN PLAIN",
            Capability::Auth(mechanisms(&["LOGIN", "PLAIN"]).into()),
        ),
        (
            "auth=login",
            Capability::Auth(mechanisms(&["login"]).into()),
        ),
        (
            "AUTH SCRAM-SHA-256-PLUS XOAUTH2",
            Capability::Auth(mechanisms(&["SCRAM-SHA-256-PLUS", "XOAUTH2"]).into()),
        ),
        ("REQUIRETLS", Capability::RequireTls),
        ("MT-PRIORITY", Capability::MtPriority(None)),
        (
            "MT-PRIORITY MIXER",
            Capability::MtPriority(Some(PriorityProfile::new("MIXER").unwrap())),
        ),
        (
            "FUTURERELEASE 604800 2026-12-01T00:00:00Z",
            Capability::FutureRelease {
                max_interval: 604_800,
                max_datetime: date.clone(),
            },
        ),
        ("DELIVERBY", Capability::DeliverBy(None)),
        (
            "DELIVERBY 300",
            Capability::DeliverBy(Some(MinByTime::new(300).unwrap())),
        ),
        (
            "LIMITS MAILMAX=1000 RCPTMAX=50000",
            Capability::Limits {
                mail_max: Some(1000),
                rcpt_max: Some(50_000),
                rcpt_domain_max: None,
                others: vec![],
            },
        ),
        (
            "LIMITS rcptdomainmax=5 X_FUTURE FUTURE-VALUE=a=b RCPTMAX=7 X-RCPTMAX=many",
            Capability::Limits {
                mail_max: None,
                rcpt_max: Some(7),
                rcpt_domain_max: Some(5),
                others: vec![
                    Limit::new("X_FUTURE").unwrap(),
                    Limit::new("FUTURE-VALUE=a=b").unwrap(),
                    Limit::new("X-RCPTMAX=many").unwrap(),
                ],
            },
        ),
        ("ETRN", Capability::Etrn),
        ("VRFY", Capability::Vrfy),
        ("EXPN", Capability::Expn),
        ("HELP", Capability::Help),
        // Tolerated: runs of spaces and trailing spaces.
        ("SIZE  1000 ", Capability::Size(Some(1000))),
        ("PIPELINING ", Capability::Pipelining),
        (
            "AUTH  PLAIN   LOGIN",
            Capability::Auth(mechanisms(&["PLAIN", "LOGIN"]).into()),
        ),
    ];
    for (line, expected) in table {
        assert_eq!(Capability::parse(line), Ok(expected), "{line}");
    }
}

#[test]
fn unknown_capabilities_are_kept() {
    let table = [
        ("X-EXPS GSSAPI NTLM", other("X-EXPS", &["GSSAPI", "NTLM"])),
        ("XEXCH50", other("XEXCH50", &[])),
        ("X-LINK2STATE", other("X-LINK2STATE", &[])),
        ("XXXXXXXA", other("XXXXXXXA", &[])),
        ("X-FOO=bar baz", other("X-FOO", &["bar", "baz"])),
    ];
    for (line, expected) in table {
        assert_eq!(Capability::parse(line), Ok(expected), "{line}");
    }
}

/// RFC 1870 4 (SIZE), RFC 4954 3 (AUTH), RFC 6710 3 (MT-PRIORITY), RFC 2852 2 (DELIVERBY),
/// RFC 9422 3 (LIMITS), RFC 4865 3 (FUTURERELEASE): a known keyword whose parameters break its
/// grammar is `Malformed`, visibly, never `Other` or absent.
#[test]
fn known_keywords_with_broken_parameters_are_malformed() {
    let table: &[(&str, Extension, &[&str], &str)] = &[
        (
            "SIZE abc",
            Extension::Size,
            &["abc"],
            "SIZE is not a number of octets",
        ),
        (
            "SIZE 1 2",
            Extension::Size,
            &["1", "2"],
            "SIZE takes at most one parameter",
        ),
        (
            "SIZE 18446744073709551616",
            Extension::Size,
            &["18446744073709551616"],
            "SIZE is not a number of octets",
        ),
        (
            "size -1",
            Extension::Size,
            &["-1"],
            "SIZE is not a number of octets",
        ),
        (
            "PIPELINING now",
            Extension::Pipelining,
            &["now"],
            "keyword takes no parameters",
        ),
        (
            "AUTH PLAIN LOG=IN",
            Extension::Auth,
            &["PLAIN", "LOG=IN"],
            "AUTH mechanism breaks its grammar",
        ),
        (
            "AUTH ABCDEFGHIJKLMNOPQRSTU",
            Extension::Auth,
            &["ABCDEFGHIJKLMNOPQRSTU"],
            "AUTH mechanism breaks its grammar",
        ),
        (
            "MT-PRIORITY A B",
            Extension::MtPriority,
            &["A", "B"],
            "MT-PRIORITY takes at most one profile",
        ),
        (
            "MT-PRIORITY a/b",
            Extension::MtPriority,
            &["a/b"],
            "MT-PRIORITY profile breaks its grammar",
        ),
        (
            "FUTURERELEASE 604800",
            Extension::FutureRelease,
            &["604800"],
            "FUTURERELEASE takes an interval and a date-time",
        ),
        (
            "FUTURERELEASE x 2026-12-01T00:00:00Z",
            Extension::FutureRelease,
            &["x", "2026-12-01T00:00:00Z"],
            "FUTURERELEASE interval is not a number",
        ),
        (
            "FUTURERELEASE 1 tomorrow",
            Extension::FutureRelease,
            &["1", "tomorrow"],
            "FUTURERELEASE date-time breaks RFC 3339",
        ),
        (
            "DELIVERBY 300,x",
            Extension::DeliverBy,
            &["300,x"],
            "DELIVERBY is not 1 to 9 digits",
        ),
        // RFC 2852 2: min-by-time = [1*9DIGIT].
        (
            "DELIVERBY 12345678901",
            Extension::DeliverBy,
            &["12345678901"],
            "DELIVERBY is not 1 to 9 digits",
        ),
        (
            "DELIVERBY 0000000300",
            Extension::DeliverBy,
            &["0000000300"],
            "DELIVERBY is not 1 to 9 digits",
        ),
        (
            "LIMITS =5",
            Extension::Limits,
            &["=5"],
            "LIMITS entry breaks its grammar",
        ),
        (
            "LIMITS RCPTMAX=5;6",
            Extension::Limits,
            &["RCPTMAX=5;6"],
            "LIMITS entry breaks its grammar",
        ),
        (
            "LIMITS RCPTMAX=",
            Extension::Limits,
            &["RCPTMAX="],
            "LIMITS entry breaks its grammar",
        ),
        // RFC 9422 4: a registered limit's value is a number.
        (
            "LIMITS RCPTMAX=abc MAILMAX=5",
            Extension::Limits,
            &["RCPTMAX=abc", "MAILMAX=5"],
            "LIMITS registered limit is not a number",
        ),
        (
            "LIMITS mailmax",
            Extension::Limits,
            &["mailmax"],
            "LIMITS registered limit is not a number",
        ),
        (
            "LIMITS RCPTDOMAINMAX=4294967296",
            Extension::Limits,
            &["RCPTDOMAINMAX=4294967296"],
            "LIMITS registered limit is not a number",
        ),
        (
            "LIMITS RCPTMAX=7 X=1 rcptmax=8",
            Extension::Limits,
            &["RCPTMAX=7", "X=1", "rcptmax=8"],
            "LIMITS names a registered limit twice",
        ),
        (
            "8BITMIME=yes",
            Extension::EightBitMime,
            &["yes"],
            "keyword takes no parameters",
        ),
    ];
    for &(line, extension, params, reason) in table {
        let capability = Capability::parse(line).unwrap();
        let Capability::Malformed(malformed) = &capability else {
            panic!("{line}: {capability:?}")
        };
        assert_eq!(malformed.extension(), extension, "{line}");
        let got: Vec<&str> = malformed.params().iter().map(EhloParam::as_str).collect();
        assert_eq!(got, params, "{line}");
        assert_eq!(malformed.reason(), reason, "{line}");
        // Not a usable extension, and not an unknown one either; the keyword as sent.
        assert_eq!(capability.extension(), None, "{line}");
        assert!(line.starts_with(capability.keyword()), "{line}");
        // Encoded as sent (but `=`), and read back the same.
        let encoded = capability.to_string();
        assert_eq!(
            Capability::parse(&encoded),
            Ok(capability.clone()),
            "{line}"
        );
        let ehlo = EhloResponse::new(Domain::new("mx.example").unwrap())
            .with(capability.clone())
            .unwrap();
        assert!(!ehlo.supports(extension), "{line}");
        assert_eq!(ehlo.malformed(extension), Some(&**malformed), "{line}");
    }
    // The size of a response with an unreadable SIZE is unknown, and says so.
    let ehlo = EhloResponse::new(Domain::new("mx.example").unwrap())
        .with(Capability::parse("SIZE lots").unwrap())
        .unwrap();
    assert_eq!(ehlo.size(), None);
    assert!(ehlo.malformed(Extension::Size).is_some());
}

#[test]
fn invalid_lines() {
    for (line, offset) in [
        ("", 0),
        ("-FOO", 0),
        (" SIZE", 0),
        ("FO_O", 2),
        ("SIZE\t1", 4),
        ("SIZE 1\x01", 6),
        ("X-FOO bär", 7),
        ("HELP\0", 4),
        ("AUTH PLAIN\r\nDATA", 10),
    ] {
        let error = Capability::parse(line).unwrap_err();
        assert_eq!(error.offset(), offset, "{line:?}: {error}");
    }
}

#[test]
fn tokens() {
    for valid in ["SIZES", "8BIT", "X-A-B", "x1"] {
        assert!(EhloKeyword::new(valid).is_ok(), "{valid}");
    }
    for invalid in ["", "-X", "X_Y", "X Y", "X=Y", "É", "SIZE", "8bitmime"] {
        assert!(EhloKeyword::new(invalid).is_err(), "{invalid}");
    }
    for valid in ["a", "=", "~!\"#", "LOGIN"] {
        assert!(EhloParam::new(valid).is_ok(), "{valid}");
    }
    for invalid in ["", "a b", "a\r\n", "\x7f", "é"] {
        assert!(EhloParam::new(invalid).is_err(), "{invalid:?}");
    }
    for valid in [
        "MIXER",
        "STANAG4406",
        "NSEP",
        "a.b_c-d",
        "12345678901234567890",
    ] {
        assert!(PriorityProfile::new(valid).is_ok(), "{valid}");
    }
    for invalid in ["", "a b", "a/b", "123456789012345678901"] {
        assert!(PriorityProfile::new(invalid).is_err(), "{invalid}");
    }
    for valid in [
        "X-MAX=5",
        "X_Y",
        "A-B=c=d",
        "N=!\"#$%&'()*+,-./:<=>?@[\\]^_`{|}~",
    ] {
        assert!(Limit::new(valid).is_ok(), "{valid}");
    }
    for invalid in ["", "=5", "A=", "A=b;c", "A B", "A.B=1", "A=é"] {
        assert!(Limit::new(invalid).is_err(), "{invalid}");
    }
    let limit = Limit::new("X-MAX=5").unwrap();
    assert_eq!((limit.name(), limit.value()), ("X-MAX", Some("5")));
    let flag = Limit::new("FLAG").unwrap();
    assert_eq!((flag.name(), flag.value()), ("FLAG", None));
    assert!(EhloKeyword::new("x-size").unwrap().eq_ignore_case("X-SIZE"));
    assert_eq!(
        EhloParam::try_from(String::from("x")).unwrap().as_ref(),
        "x"
    );
}

#[test]
fn extensions_and_keywords() {
    for (extension, keyword) in Extension::ALL {
        assert_eq!(extension.keyword(), keyword);
        assert_eq!(Extension::from_keyword(keyword), Some(extension));
        assert_eq!(
            Extension::from_keyword(&keyword.to_ascii_lowercase()),
            Some(extension)
        );
        assert_eq!(extension.to_string(), keyword);
    }
    assert_eq!(Extension::from_keyword("X-SIZE"), None);
    assert_eq!(Extension::from_keyword(""), None);
    assert_eq!(Capability::Pipelining.keyword(), "PIPELINING");
    assert_eq!(other("x-foo", &[]).keyword(), "x-foo");
    assert_eq!(other("x-foo", &[]).extension(), None);
    assert_eq!(Capability::parse("size 5").unwrap().keyword(), "SIZE");
}

#[test]
fn display() {
    let date = DateTime::new("2026-12-01T00:00:00Z").unwrap();
    let table = [
        (Capability::Size(None), "SIZE"),
        (Capability::Size(Some(10)), "SIZE 10"),
        (
            Capability::Auth(mechanisms(&["PLAIN", "LOGIN"]).into()),
            "AUTH PLAIN LOGIN",
        ),
        (Capability::Auth(vec![].into()), "AUTH"),
        (Capability::MtPriority(None), "MT-PRIORITY"),
        (
            Capability::FutureRelease {
                max_interval: 604_800,
                max_datetime: date,
            },
            "FUTURERELEASE 604800 2026-12-01T00:00:00Z",
        ),
        (
            Capability::DeliverBy(Some(MinByTime::new(60).unwrap())),
            "DELIVERBY 60",
        ),
        (
            Capability::Limits {
                mail_max: Some(1),
                rcpt_max: Some(2),
                rcpt_domain_max: Some(3),
                others: vec![Limit::new("X=y").unwrap()],
            },
            "LIMITS MAILMAX=1 RCPTMAX=2 RCPTDOMAINMAX=3 X=y",
        ),
        (other("X-EXPS", &["GSSAPI", "NTLM"]), "X-EXPS GSSAPI NTLM"),
    ];
    for (capability, text) in table {
        assert_eq!(capability.to_string(), text);
    }
}

#[test]
fn auth_lines_merge() {
    let mut capabilities = Vec::new();
    push_capability(&mut capabilities, Capability::Pipelining);
    push_capability(
        &mut capabilities,
        Capability::parse("AUTH=LOGIN PLAIN").unwrap(),
    );
    push_capability(&mut capabilities, Capability::Size(None));
    push_capability(
        &mut capabilities,
        Capability::parse("AUTH login PLAIN CRAM-MD5").unwrap(),
    );
    assert_eq!(
        capabilities,
        [
            Capability::Pipelining,
            Capability::Auth(mechanisms(&["LOGIN", "PLAIN", "CRAM-MD5"]).into()),
            Capability::Size(None),
        ]
    );
    let (capability, taken) = parse_capability_prefix("AUTH XOAUTH2 plain\r\n").unwrap();
    assert_eq!(taken, 18);
    assert_eq!(
        capability,
        Capability::Auth(mechanisms(&["XOAUTH2", "plain"]).into())
    );
}

#[test]
fn lookups() {
    let ehlo = EhloResponse::new(Domain::new("mx.example").unwrap())
        .with_greeting(ReplyText::new("hi").unwrap())
        .with(Capability::Size(Some(0)))
        .and_then(|e| e.with(Capability::Auth(mechanisms(&["PLAIN"]).into())))
        .and_then(|e| e.with(other("X-FOO", &["1"])))
        .unwrap();
    assert_eq!(ehlo.size(), None);
    assert!(ehlo.supports(Extension::Size));
    assert!(ehlo.supports(Extension::Auth));
    assert!(!ehlo.supports(Extension::Pipelining));
    assert_eq!(ehlo.auth_mechanisms()[0].as_str(), "PLAIN");
    assert_eq!(ehlo.find(Extension::Size), Some(&Capability::Size(Some(0))));
    assert_eq!(ehlo.find_keyword("x-foo"), Some(&other("X-FOO", &["1"])));
    assert_eq!(ehlo.find_keyword("size"), Some(&Capability::Size(Some(0))));
    assert_eq!(ehlo.find_keyword("X-BAR"), None);
    let owned = ehlo.clone().into_owned();
    assert_eq!(owned, ehlo);

    let bare = EhloResponse::new(Domain::new("mx.example").unwrap())
        .with(Capability::Size(Some(1000)))
        .and_then(|e| e.with(Capability::Size(Some(2000))))
        .unwrap();
    assert_eq!(bare.size(), Some(1000));
    assert!(bare.auth_mechanisms().is_empty());
}

proptest! {
    #[test]
    fn display_parses_back(capability in strategies::capability()) {
        let text = capability.to_string();
        prop_assert_eq!(Capability::parse(&text), Ok(capability.clone()));
        prop_assert_eq!(Capability::parse(&text).map(Capability::into_owned), Ok(capability));
    }

    #[test]
    fn parse_never_panics(text in "\\PC{0,40}") {
        let _ = Capability::parse(&text);
    }

    #[test]
    fn parse_keeps_every_line(keyword in "[A-Za-z0-9][A-Za-z0-9-]{0,12}",
                              params in prop::collection::vec("[!-~]{1,10}", 0..5)) {
        // Whatever the keyword and parameters, the line is read, typed or as Other, and
        // writes back to something that reads the same.
        let line = alloc::format!("{keyword} {}", params.join(" "));
        let capability = Capability::parse(&line).unwrap();
        prop_assert!(capability.keyword().eq_ignore_ascii_case(&keyword));
        let again = capability.to_string();
        prop_assert_eq!(Capability::parse(&again), Ok(capability));
    }
}

/// Item of issue 13: `Capability::Other` cannot be built with a keyword that decodes as a
/// typed capability (RFC 5321 4.1.1.1 keywords compare without regard to case), and a `LIMITS`
/// entry cannot hold a registered limit whose number has a field (RFC 9422 4): what can be
/// built is what decoding gives back.
#[test]
fn other_and_limit_entries_refuse_what_decodes_as_typed() {
    for (extension, keyword) in Extension::ALL {
        for spelled in [String::from(keyword), keyword.to_ascii_lowercase()] {
            let error = EhloKeyword::new(spelled.clone()).unwrap_err();
            assert_eq!(
                error,
                InvalidValue::Malformed {
                    what: "EHLO keyword",
                    offset: 0,
                    reason: "a known extension: use its own variant",
                },
                "{extension:?} {spelled}"
            );
        }
    }
    assert!(EhloKeyword::new("SIZE-X").is_ok());
    for refused in [
        "MAILMAX=5",
        "rcptmax=0",
        "RcptDomainMax=4294967295",
        "RCPTMAX=x",
    ] {
        assert!(Limit::new(refused).is_err(), "{refused}");
    }
}

/// RFC 9422 4: the registered limits live in their fields of `Capability::Limits`, so a
/// `Limit` entry cannot name one (in any case, with any value or none): a hand-built
/// `others: [mailmax=7]` would come back from decoding as `mail_max: Some(7)`, and
/// `RCPTMAX=abc` as `Malformed`. Unregistered entries, repeated or not, come back as built.
#[test]
fn rfc9422_4_limit_entries_cannot_name_a_registered_limit() {
    for refused in [
        "mailmax=7",
        "MAILMAX",
        "RCPTMAX=abc",
        "RcptDomainMax=4294967296",
    ] {
        let error = Limit::new(refused).unwrap_err();
        assert!(
            matches!(error, InvalidValue::Malformed { what: "limit", .. }),
            "{refused}: {error:?}"
        );
    }
    for kept in ["MAILMAXX=5", "X-RCPTMAX", "RCPT_MAX=1"] {
        assert!(Limit::new(kept).is_ok(), "{kept}");
    }
    let built = Capability::Limits {
        mail_max: Some(7),
        rcpt_max: None,
        rcpt_domain_max: Some(0),
        others: vec![
            Limit::new("X=1").unwrap(),
            Limit::new("X=2").unwrap(),
            Limit::new("MAILMAXX").unwrap(),
        ],
    };
    let line = built.to_string();
    assert_eq!(line, "LIMITS MAILMAX=7 RCPTDOMAINMAX=0 X=1 X=2 MAILMAXX");
    assert_eq!(Capability::parse(&line), Ok(built));
}

/// The word-at-a-time keyword comparison agrees with comparing octet by octet without case,
/// for every keyword with every octet at every position (through `from_keyword`, also the
/// UTF-8 ones), and the known keywords hold only the octets it relies on.
#[test]
fn keyword_comparison_agrees_with_octet_by_octet() {
    for (extension, keyword) in Extension::ALL {
        assert!(
            keyword
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'),
            "{keyword}"
        );
        for position in 0..keyword.len() {
            for byte in 0..=255u8 {
                let mut bytes = keyword.as_bytes().to_vec();
                bytes[position] = byte;
                assert_eq!(
                    super::extension_of(&bytes),
                    bytes
                        .eq_ignore_ascii_case(keyword.as_bytes())
                        .then_some(extension),
                    "{bytes:?}"
                );
                if let Ok(text) = core::str::from_utf8(&bytes) {
                    let expected = text.eq_ignore_ascii_case(keyword).then_some(extension);
                    assert_eq!(Extension::from_keyword(text), expected, "{text:?}");
                }
            }
        }
    }
}

/// The line as the general reading gives it, without the quick one.
fn read_generally(text: &str) -> Option<Capability<'_>> {
    let (capability, end) = parse_capability_prefix(text).ok()?;
    (end == text.len()).then_some(capability)
}

#[test]
fn the_quick_reading_of_usual_lines_gives_what_the_general_one_gives() {
    let table = [
        ("SIZE 0", true),
        ("size=52428800", true),
        ("SIZE 18446744073709551615", true),
        ("SIZE 18446744073709551616", false),
        ("SIZE  10", false),
        ("SIZE 10 ", false),
        ("SIZE 1 2", false),
        ("SIZE ", false),
        ("SIZE x", false),
        ("SIZEX 1", false),
        ("AUTH PLAIN LOGIN", true),
        ("auth=login PLAIN plain Login", true),
        ("AUTH PLAIN PLAINX plainx PLAI plai-n LOGIN login", true),
        ("AUTH SCRAM-SHA-256-PLUS XOAUTH2", true),
        ("AUTH ABCDEFGHIJKLMNOPQRST", true),
        ("AUTH ABCDEFGHIJKLMNOPQRSTU", false),
        ("AUTH PLAIN  LOGIN", false),
        ("AUTH PLAIN ", false),
        ("AUTH ", false),
        ("AUTH=", false),
        ("AUTH PL@IN", false),
        ("AUTH A B C D E", true),
        ("PIPELINING", true),
        ("X-SIZE 1", false),
    ];
    for (line, quick) in table {
        let read = parse_usual_capability(line);
        assert_eq!(read.is_some(), quick, "{line:?}");
        if let Some(read) = read {
            assert_eq!(Some(read), read_generally(line), "{line:?}");
        }
    }
}

proptest! {
    #[test]
    fn any_line_read_quickly_reads_the_same_generally(
        keyword in "(SIZE|size|AUTH|Auth|auth|DSN|SIZ|AUTHS)",
        separator in "[ =]?",
        params in "[0-9A-Za-z_ =@-]{0,40}",
    ) {
        let line = alloc::format!("{keyword}{separator}{params}");
        if let Some(read) = parse_usual_capability(&line) {
            prop_assert_eq!(Some(read), read_generally(&line));
        }
        prop_assert_eq!(
            parse_capability(&line).ok(),
            read_generally(&line),
            "{:?}", line
        );
    }
}

// Edge cases of the in-place readers, each against a reference or the full scan.
fn reference(bytes: &[u8]) -> Option<Extension> {
    Extension::ALL
        .iter()
        .find(|(_, k)| bytes.eq_ignore_ascii_case(k.as_bytes()))
        .map(|(e, _)| *e)
}

#[test]
fn extension_of_prefixes_suffixes_and_pairs() {
    let mut inputs: Vec<Vec<u8>> = vec![
        b"DSN".to_vec(),
        b"DSNX".to_vec(),
        b"DS".to_vec(),
        b"dsn".to_vec(),
        b"D".to_vec(),
        b"".to_vec(),
        b"DSN\0".to_vec(),
        b"\0DSN".to_vec(),
        b"dSn".to_vec(),
        b"DSn ".to_vec(),
    ];
    for (_, k) in Extension::ALL {
        let k = k.as_bytes();
        for cut in 0..=k.len() {
            inputs.push(k[..cut].to_vec());
            inputs.push(k[cut..].to_vec());
        }
        for byte in [0u8, b' ', b'=', b'X', b'x', 0x80, 0xff, b'-'] {
            let mut v = k.to_vec();
            v.push(byte);
            inputs.push(v.clone());
            v.insert(0, byte);
            inputs.push(v);
            let mut w = k.to_vec();
            w.insert(0, byte);
            inputs.push(w);
        }
        // share the first / last 4 or 8 octets with something else
        for n in [4usize, 8] {
            if k.len() > n {
                for extra in 0..10 {
                    let mut a = k[..n].to_vec();
                    a.extend(core::iter::repeat_n(b'Q', extra));
                    inputs.push(a.clone());
                    let mut b: Vec<u8> = core::iter::repeat_n(b'Q', extra).collect();
                    b.extend_from_slice(&k[k.len() - n..]);
                    inputs.push(b);
                    let mut c = k[..n].to_vec();
                    c.extend(core::iter::repeat_n(b'Q', extra));
                    c.extend_from_slice(&k[k.len() - n..]);
                    inputs.push(c);
                }
            }
        }
        // pairs of octets changed (a reduced byte set)
        for i in 0..k.len() {
            for j in i + 1..k.len() {
                for a in [b'a', 0x20, 0x60, 0xe0, 0xc1, b'0', b'_'] {
                    for b in [b'z', 0x40, 0x7f, 0xd3, b'9'] {
                        let mut v = k.to_vec();
                        v[i] = a;
                        v[j] = b;
                        inputs.push(v);
                        let mut l = k.to_ascii_lowercase();
                        l[i] = a;
                        inputs.push(l);
                    }
                }
            }
        }
        // every length 1..=24 of repeated chunks of the keyword
        for len in 1..=24 {
            inputs.push(k.iter().cycle().take(len).copied().collect());
        }
    }
    for input in &inputs {
        assert_eq!(
            super::extension_of(input),
            reference(input),
            "{:?}",
            String::from_utf8_lossy(input)
        );
    }
}

proptest! {
    #[test]
    fn extension_of_random(bytes in prop::collection::vec(
        prop_oneof![any::<u8>(), prop::sample::select(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-abcdefghijklmnopqrstuvwxyz".to_vec())],
        0..24)) {
        prop_assert_eq!(super::extension_of(&bytes), reference(&bytes));
    }
}

#[test]
fn a_boxed_malformed_capability_prints_compares_and_clones_as_before() {
    let malformed = Capability::parse("SIZE abc").unwrap();
    let debug = alloc::format!("{malformed:?}");
    assert!(
        debug.starts_with("Malformed(MalformedCapability {"),
        "{debug}"
    );
    assert_eq!(malformed.clone(), malformed);
    assert_ne!(malformed, Capability::Size(None));
    #[cfg(target_pointer_width = "64")]
    assert_eq!(core::mem::size_of::<Capability<'static>>(), 64);
}
