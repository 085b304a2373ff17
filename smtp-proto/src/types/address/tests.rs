use super::*;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use proptest::prelude::*;

#[test]
fn domains() {
    for good in [
        "a",
        "example.com",
        "mx-1.example.co.uk",
        "1.2.3",
        "xn--bcher-kva.example",
    ] {
        assert_eq!(Domain::new(good).unwrap().as_str(), good);
    }
    let long_label = "a".repeat(64);
    let too_long = ["a"; 129].join(".");
    for bad in [
        "",
        ".a",
        "a.",
        "a..b",
        "-a.b",
        "a-.b",
        "a_b.c",
        "a b",
        "a\r\nDATA",
        &long_label,
        &too_long,
    ] {
        assert!(Domain::new(bad).is_err(), "{bad:?}");
    }
    assert!(!Domain::new("bücher.example").unwrap().is_ascii());
    assert!(parse_domain("bücher.example", false).is_err());
    assert_eq!(
        parse_domain("b\u{fc}cher", false).unwrap_err(),
        InvalidValue::NonAscii {
            what: "domain",
            offset: 1
        }
    );
}

#[test]
fn address_literals() {
    let v4 = AddressLiteral::new("192.0.2.1").unwrap();
    assert_eq!(v4.kind(), LiteralKind::Ipv4(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(v4.to_string(), "[192.0.2.1]");
    let v6 = AddressLiteral::new("IPv6:2001:db8::1").unwrap();
    assert!(matches!(v6.kind(), LiteralKind::Ipv6(_)));
    assert!(AddressLiteral::new("IPv6:::ffff:192.0.2.1").is_ok());
    assert!(AddressLiteral::new("ipv6:1:2:3:4:5:6:7:8").is_ok());
    assert_eq!(
        AddressLiteral::new("x-tag:any%thing").unwrap().kind(),
        LiteralKind::General { tag_len: 5 }
    );
    for bad in [
        "",
        "256.0.0.1",
        "1.2.3",
        "1.2.3.4.5",
        "IPv6:1:2:3:4:5:6:7::",
        "IPv6:zz::",
        "x-:a",
        "x:",
        "a b",
        "1.2.3.4\r\n",
    ] {
        assert!(AddressLiteral::new(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        AddressLiteral::ipv4(Ipv4Addr::LOCALHOST).to_string(),
        "[127.0.0.1]"
    );
}

#[test]
fn local_parts() {
    for good in [
        "a",
        "john.smith",
        "!#$%&'*+-/=?^_`{|}~",
        "\"a b\"",
        "\"a\\\"b\"",
        "\"\"",
        "\"@\"",
    ] {
        assert_eq!(LocalPart::new(good).unwrap().as_str(), good);
    }
    for bad in [
        "",
        ".a",
        "a.",
        "a..b",
        "a b",
        "\"a",
        "\"a\"b",
        "a\"b\"",
        "\"\r\n\"",
        "a@b",
        &"a".repeat(65),
    ] {
        assert!(LocalPart::new(bad).is_err(), "{bad:?}");
    }
    assert_eq!(
        LocalPart::new("\"Joe\\,Smith\"").unwrap().unquoted(),
        "Joe,Smith"
    );
    assert_eq!(LocalPart::new("plain").unwrap().unquoted(), "plain");
    assert!(LocalPart::new("\"a b\"").unwrap().is_quoted());
    assert!(LocalPart::new(&"a".repeat(64)[..]).is_ok());
}

#[test]
fn mailboxes_and_paths() {
    let mailbox = Mailbox::parse("\"a b\"@[IPv6:::1]").unwrap();
    assert_eq!(mailbox.local_part().as_str(), "\"a b\"");
    assert_eq!(mailbox.to_string(), "\"a b\"@[IPv6:::1]");
    assert!(Mailbox::parse("a@b\r\nDATA").is_err());
    assert!(Mailbox::parse("ab").is_err());
    assert!(Mailbox::parse("a@").is_err());

    let (path, end) = parse_path("<@a.example,@b.example:user@c.example> SIZE=1", false).unwrap();
    assert_eq!(end, 38);
    assert_eq!(path.route().len(), 2);
    assert_eq!(path.to_string(), "<user@c.example>");
    assert_eq!(path.clone().without_route().route().len(), 0);

    assert_eq!(
        parse_reverse_path("<>", false).unwrap(),
        (ReversePath::Null, 2)
    );
    assert_eq!(
        parse_forward_path("<POSTMASTER>", false).unwrap(),
        (ForwardPath::Postmaster, 12)
    );
    let (to, _) = parse_forward_path("<postmaster@example.com>", false).unwrap();
    assert!(matches!(to, ForwardPath::Path(_)));
    for bad in [
        "<a@b",
        "a@b>",
        "<@a:b>",
        "<@a,b:c@d>",
        "<@a,@b c@d>",
        "<a@b >",
        "< a@b>",
    ] {
        assert!(parse_path(bad, false).is_err(), "{bad:?}");
    }
    let long = format!("<{}@{}>", "a".repeat(64), vec!["b".repeat(60); 4].join("."));
    assert!(matches!(
        parse_path(&long, false),
        Err(InvalidValue::TooLong {
            what: "mailbox",
            ..
        })
    ));
}

#[test]
fn utf8_only_with_smtputf8() {
    assert!(parse_mailbox("jösé@example.com", false).is_err());
    let (mailbox, _) = parse_mailbox("jösé@bücher.example", true).unwrap();
    assert!(!mailbox.is_ascii());
    assert!(parse_mailbox("\"jö sé\"@example.com", true).is_ok());
    assert!(parse_mailbox("\"jö sé\"@example.com", false).is_err());
}

#[test]
fn errors_point_at_the_problem() {
    let err = parse_path("<user@exa_mple.com>", false).unwrap_err();
    assert_eq!(
        err,
        InvalidValue::UnexpectedChar {
            what: "path",
            offset: 9,
            found: '_'
        }
    );
    let err = parse_path("<us er@example.com>", false).unwrap_err();
    assert_eq!(err.offset(), 3);
}

fn domain_strategy() -> impl Strategy<Value = String> {
    prop::collection::vec("[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", 1..4)
        .prop_map(|labels| labels.join("."))
}

fn local_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec("[a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,8}", 1..4)
            .prop_map(|atoms| atoms.join(".")),
        "[ -!#-\\[\\]-~]{0,10}".prop_map(|s| format!("\"{s}\"")),
        "[ -~]{0,10}".prop_map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))),
    ]
}

proptest! {
    #[test]
    fn mailbox_display_parses_back(local in local_strategy(), domain in domain_strategy()) {
        let text = format!("{local}@{domain}");
        let mailbox = Mailbox::parse(&text).unwrap();
        prop_assert_eq!(mailbox.to_string(), text.clone());
        let path = format!("<{text}>");
        let (parsed, end) = parse_path(&path, false).unwrap();
        prop_assert_eq!(end, path.len());
        prop_assert_eq!(parsed.to_string(), path);
    }

    #[test]
    fn parsers_never_panic(text in "\\PC{0,40}", utf8 in any::<bool>()) {
        let _ = parse_path(&text, utf8);
        let _ = parse_reverse_path(&text, utf8);
        let _ = parse_forward_path(&text, utf8);
        let _ = parse_host(&text, utf8);
        let _ = LocalPart::new(text.as_str());
        let _ = AddressLiteral::new(text.as_str());
    }

    #[test]
    fn no_value_holds_a_control_character(text in "[a-z@.<>\"\\[\\]:\r\n\0 ]{0,20}") {
        if let Ok(mailbox) = Mailbox::parse(&text) {
            prop_assert!(!mailbox.to_string().contains(['\r', '\n', '\0']));
        }
        if let Ok(domain) = Domain::new(text.as_str()) {
            prop_assert!(!domain.as_str().contains(['\r', '\n', '\0', ' ']));
        }
    }
}

#[test]
fn a_built_mailbox_always_fits_a_path() {
    let local = LocalPart::new("a".repeat(64)).unwrap();
    let domain = Domain::new(vec!["b".repeat(63); 4].join(".")).unwrap();
    assert!(matches!(
        Mailbox::new(local.clone(), domain),
        Err(InvalidValue::TooLong {
            what: "mailbox",
            ..
        })
    ));
    let domain = Domain::new(vec!["b".repeat(60); 3].join(".")).unwrap();
    let mailbox = Mailbox::new(local, domain).unwrap();
    let path = Path::new(mailbox).to_string();
    assert!(path.len() <= MAX_PATH);
    assert_eq!(parse_path(&path, false).unwrap().1, path.len());
}

#[test]
fn unicode_controls_and_separators_are_refused() {
    for bad in ["a\u{85}b.example", "a\u{2028}b.example", "a\u{9f}.example"] {
        assert!(Domain::new(bad).is_err(), "{bad:?}");
        assert!(parse_domain(bad, true).is_err(), "{bad:?}");
    }
    assert!(LocalPart::new("j\u{2029}rg").is_err());
    assert!(LocalPart::new("\"j\u{85}rg\"").is_err());
    assert!(Domain::new("bücher.example").is_ok());
}

// RFC 5321 4.1.2: `Domain` and `Host` take the same text, borrowed or owned, through `new`,
// `TryFrom<&str>`, `TryFrom<String>` and `FromStr`, with the same verdicts.
#[test]
fn domain_and_host_build_from_borrowed_and_owned_text_rfc5321_4_1_2() {
    for text in ["example.com", "mx-1.example.co.uk", "bücher.example"] {
        let borrowed = Domain::new(text).unwrap();
        assert!(matches!(borrowed.0, Cow::Borrowed(_)));
        let owned = Domain::new(String::from(text)).unwrap();
        assert!(matches!(owned.0, Cow::Owned(_)));
        assert_eq!(owned, borrowed);
        assert_eq!(Domain::try_from(text).unwrap(), borrowed);
        assert_eq!(Domain::try_from(String::from(text)).unwrap(), borrowed);
        assert_eq!(text.parse::<Domain>().unwrap(), borrowed);

        let host = Host::new(text).unwrap();
        assert_eq!(host, Host::Domain(borrowed.clone()));
        assert_eq!(Host::new(String::from(text)).unwrap(), host);
        assert_eq!(Host::new(Cow::Borrowed(text)).unwrap(), host);
        assert_eq!(Host::try_from(text).unwrap(), host);
        assert_eq!(Host::try_from(String::from(text)).unwrap(), host);
        assert_eq!(text.parse::<Host>().unwrap(), host);
    }
    // An owned domain keeps the String it was given rather than copying it.
    let Host::Domain(domain) = Host::new(String::from("example.org")).unwrap() else {
        panic!("a domain")
    };
    assert!(matches!(domain.0, Cow::Owned(_)));
    // RFC 5321 4.1.3: address literals, from either kind of text.
    for text in ["[192.0.2.1]", "[IPv6:2001:db8::1]", "[x-tag:value]"] {
        let borrowed = Host::new(text).unwrap();
        assert!(matches!(borrowed, Host::Literal(_)));
        assert_eq!(Host::new(String::from(text)).unwrap(), borrowed);
        assert_eq!(text.parse::<Host>().unwrap(), borrowed);
        assert_eq!(borrowed.to_string(), text);
    }
    for bad in [
        "",
        "a..b",
        "-a.b",
        "[192.0.2.1",
        "[300.0.0.1]",
        "a b",
        "a\r\nDATA",
    ] {
        let error = Host::new(bad).unwrap_err();
        assert_eq!(Host::new(String::from(bad)).unwrap_err(), error);
        assert_eq!(bad.parse::<Host>().unwrap_err(), error);
        assert_eq!(Host::try_from(String::from(bad)).unwrap_err(), error);
        if !bad.starts_with('[') {
            assert_eq!(
                bad.parse::<Domain>().unwrap_err(),
                Domain::new(bad).unwrap_err()
            );
        }
    }
}

// RFC 5321 4.1.2: local parts and mailboxes from borrowed or owned text.
#[test]
fn local_parts_and_mailboxes_build_from_borrowed_and_owned_text_rfc5321_4_1_2() {
    for text in ["john.smith", "\"john smith\"", "a+tag"] {
        let local = LocalPart::new(text).unwrap();
        assert_eq!(LocalPart::try_from(text).unwrap(), local);
        assert_eq!(LocalPart::try_from(String::from(text)).unwrap(), local);
        assert_eq!(text.parse::<LocalPart>().unwrap(), local);
    }
    assert!("a..b".parse::<LocalPart>().is_err());
    assert!(LocalPart::try_from(String::from("a@b")).is_err());
    for text in ["alice@example.org", "\"a b\"@example.org", "x@[192.0.2.1]"] {
        let mailbox = Mailbox::parse(text).unwrap();
        assert_eq!(Mailbox::try_from(String::from(text)).unwrap(), mailbox);
        assert_eq!(text.parse::<Mailbox>().unwrap(), mailbox);
        assert_eq!(mailbox.to_string(), text);
    }
    for bad in [
        "",
        "alice",
        "alice@",
        "@example.org",
        "a@b@c",
        "x@example.org>\r\nRCPT",
    ] {
        let error = Mailbox::parse(bad).unwrap_err();
        assert_eq!(Mailbox::try_from(String::from(bad)).unwrap_err(), error);
        assert_eq!(bad.parse::<Mailbox>().unwrap_err(), error);
    }
}

// RFC 5321 4.1.2 and 4.1.1.3: paths as written (`<...>`, `<>`, `<Postmaster>`) or as a bare
// mailbox, from borrowed or owned text.
#[test]
fn paths_parse_as_written_or_bare_rfc5321_4_1_2() {
    let mailbox = Mailbox::parse("alice@example.org").unwrap();
    for text in ["<alice@example.org>", "alice@example.org"] {
        assert_eq!(Path::parse(text).unwrap(), Path::new(mailbox.clone()));
        assert_eq!(text.parse::<Path>().unwrap(), Path::new(mailbox.clone()));
        assert_eq!(
            ReversePath::try_from(String::from(text)).unwrap(),
            ReversePath::from(mailbox.clone())
        );
        assert_eq!(
            ForwardPath::try_from(text).unwrap(),
            ForwardPath::from(mailbox.clone())
        );
    }
    assert_eq!("<>".parse::<ReversePath>().unwrap(), ReversePath::Null);
    assert_eq!(
        "<postmaster>".parse::<ForwardPath>().unwrap(),
        ForwardPath::Postmaster
    );
    // RFC 5321 4.1.2: a source route is accepted and ignored: a path built from text is the
    // path its encoding decodes to (only the command decoder keeps the route, for a server).
    let routed = Path::try_from(String::from("<@a.example,@b.example:c@d.example>")).unwrap();
    assert_eq!(routed.route().len(), 0);
    assert_eq!(routed, Path::parse("<c@d.example>").unwrap());
    for text in ["<@a.example:c@d.example>", "c@d.example"] {
        assert_eq!(
            ReversePath::parse(text).unwrap().to_string(),
            "<c@d.example>"
        );
        assert_eq!(
            ForwardPath::parse(text).unwrap().to_string(),
            "<c@d.example>"
        );
        assert!(
            matches!(ReversePath::parse(text).unwrap(), ReversePath::Path(p) if p.route().is_empty())
        );
        assert!(
            matches!(ForwardPath::parse(text).unwrap(), ForwardPath::Path(p) if p.route().is_empty())
        );
    }
    // RFC 5321 4.5.3.1.2: an address literal is no longer than a domain, brackets included.
    let general = alloc::format!("x:{}", "a".repeat(251));
    assert!(AddressLiteral::new(general.as_str()).is_ok());
    assert_eq!(
        AddressLiteral::new(alloc::format!("{general}a")),
        Err(InvalidValue::TooLong {
            what: "address literal",
            length: 256,
            limit: MAX_DOMAIN
        })
    );
    for bad in [
        "",
        "<>",
        "<alice@example.org",
        "<alice@example.org> ",
        "Postmaster",
    ] {
        assert!(bad.parse::<Path>().is_err(), "{bad:?}");
        assert!(bad.parse::<ForwardPath>().is_err(), "{bad:?}");
    }
    assert!("<Postmaster>".parse::<ReversePath>().is_err());
    assert!("<>".parse::<ForwardPath>().is_err());
    assert!("<>x".parse::<ReversePath>().is_err());
}

proptest! {
    // RFC 5321 4.1.2: what `Display` writes, `FromStr` reads back, borrowed or owned.
    #[test]
    fn display_parses_back_through_from_str_and_try_from_string(
        local in local_strategy(),
        domain in domain_strategy(),
    ) {
        let mailbox = Mailbox::try_from(format!("{local}@{domain}")).unwrap();
        prop_assert_eq!(mailbox.to_string().parse::<Mailbox>().unwrap(), mailbox.clone());
        let host = mailbox.host().clone();
        prop_assert_eq!(Host::try_from(host.to_string()).unwrap(), host);
        let reverse = ReversePath::from(mailbox.clone());
        prop_assert_eq!(reverse.to_string().parse::<ReversePath>().unwrap(), reverse);
        let forward = ForwardPath::from(mailbox);
        prop_assert_eq!(ForwardPath::try_from(forward.to_string()).unwrap(), forward);
    }
}

// `into_owned` gives a `'static` value equal to the borrowed one, whatever it was built from.
#[test]
fn into_owned_keeps_the_value() {
    fn owned<T: 'static>(value: T) -> T {
        value
    }
    let text = String::from("<@r.example:\"a b\"@[IPv6:2001:db8::1]>");
    let path = Path::parse(text.as_str()).unwrap();
    assert_eq!(owned(path.clone().into_owned()), path);
    let reverse = ReversePath::parse(text.as_str()).unwrap();
    assert_eq!(owned(reverse.clone().into_owned()), reverse);
    let forward = ForwardPath::parse(text.as_str()).unwrap();
    assert_eq!(owned(forward.clone().into_owned()), forward);
}

proptest! {
    // The in-place read of a valid ASCII domain gives what the full scan gives, value, end and
    // error alike, on dots, hyphens, letters, ends and non-ASCII in any order, labels of 63
    // and 64 octets and domains about 255 octets long among them.
    #[test]
    fn parse_domain_matches_the_full_scan(
        parts in prop::collection::vec(
            prop_oneof![
                Just("a".to_string()),
                Just("Z9".to_string()),
                Just("-".to_string()),
                Just(".".to_string()),
                Just(" ".to_string()),
                Just(">".to_string()),
                Just("é".to_string()),
                Just("\u{85}".to_string()),
                Just("x".repeat(62)),
                Just("y".repeat(63)),
            ],
            0..12,
        ),
        utf8 in any::<bool>(),
    ) {
        let text = parts.concat();
        prop_assert_eq!(parse_domain(&text, utf8), parse_domain_scanned(&text, utf8));
    }
}

proptest! {
    // The in-place read of a valid ASCII Dot-string gives what the full scan gives, end and
    // error alike, on dots, atext, quotes, ends and non-ASCII in any order, and local parts
    // about 64 octets long among them.
    #[test]
    fn local_part_end_matches_the_full_scan(
        parts in prop::collection::vec(
            prop_oneof![
                Just("a".to_string()),
                Just("Z9!#$%&'*+-/=?^_`{|}~".to_string()),
                Just(".".to_string()),
                Just("\"".to_string()),
                Just("\\".to_string()),
                Just("@".to_string()),
                Just(" ".to_string()),
                Just("é".to_string()),
                Just("\u{85}".to_string()),
                Just("x".repeat(31)),
            ],
            0..10,
        ),
        utf8 in any::<bool>(),
    ) {
        let text = parts.concat();
        prop_assert_eq!(local_part_end(&text, utf8), local_part_scanned(&text, utf8));
    }
}

// Edge cases of the in-place readers, each against a reference or the full scan.

/// Every string of up to `len` pieces from `alphabet`, through `check`.
fn each(alphabet: &[&str], len: usize, check: &mut impl FnMut(&str)) {
    let mut text = String::new();
    fn go(alphabet: &[&str], len: usize, text: &mut String, check: &mut impl FnMut(&str)) {
        check(text);
        if len == 0 {
            return;
        }
        for piece in alphabet {
            let keep = text.len();
            text.push_str(piece);
            go(alphabet, len - 1, text, check);
            text.truncate(keep);
        }
    }
    go(alphabet, len, &mut text, check);
}

#[test]
fn domain_fast_path_exhaustive_short() {
    let alphabet = ["a", "0", "-", ".", " ", ">", "é", "_"];
    let mut n = 0;
    each(&alphabet, 6, &mut |text| {
        n += 1;
        for utf8 in [false, true] {
            assert_eq!(
                parse_domain(text, utf8),
                parse_domain_scanned(text, utf8),
                "{text:?} {utf8}"
            );
        }
    });
    // Every string of up to six of the alphabet's pieces.
    assert_eq!(n, (0..=6).map(|k| alphabet.len().pow(k)).sum::<usize>());
}

#[test]
fn domain_fast_path_lengths() {
    let tails = [
        "", ".", "-", " ", ">", "é", ".-", "-.", "..", ".a", "a-", "-a",
    ];
    for label in [1usize, 62, 63, 64, 65] {
        for total in [label, 253, 254, 255, 256, 257] {
            // labels of `label` octets then a last one to make `total`
            let mut text = String::new();
            while text.len() + label + 1 < total {
                text.push_str(&"b".repeat(label));
                text.push('.');
            }
            let rest = total.saturating_sub(text.len()).max(1);
            text.push_str(&"9".repeat(rest));
            for head in ["", "1", "-"] {
                for tail in tails {
                    let t = format!("{head}{text}{tail}");
                    for utf8 in [false, true] {
                        assert_eq!(
                            parse_domain(&t, utf8),
                            parse_domain_scanned(&t, utf8),
                            "{} {utf8}",
                            t.len()
                        );
                    }
                }
            }
        }
    }
    // 63 accepted, 64 refused
    assert!(parse_domain(&"a".repeat(63), false).is_ok());
    assert!(parse_domain(&"a".repeat(64), false).is_err());
    let d255 = format!(
        "{}.{}.{}.{}",
        "a".repeat(63),
        "a".repeat(63),
        "a".repeat(63),
        "a".repeat(63)
    );
    assert_eq!(d255.len(), 255);
    assert_eq!(parse_domain(&d255, false).map(|(_, e)| e), Ok(255));
    let d256 = format!("{d255}a");
    assert!(parse_domain(&d256, false).is_err());
}

#[test]
fn local_part_fast_path_exhaustive_short() {
    let alphabet = ["a", ".", "\"", "\\", "@", " ", "é", "!", "\u{85}"];
    each(&alphabet, 6, &mut |text| {
        for utf8 in [false, true] {
            assert_eq!(
                local_part_end(text, utf8),
                local_part_scanned(text, utf8),
                "{text:?} {utf8}"
            );
            // and through the mailbox reader, which ends the local part at the same place
            let mailbox = format!("{text}@x.y");
            if let Ok(end) = local_part_scanned(text, utf8) {
                if end == text.len() {
                    assert!(parse_mailbox(&mailbox, utf8).is_ok(), "{mailbox:?}");
                }
            }
        }
    });
}

#[test]
fn local_part_fast_path_lengths() {
    for len in [1usize, 63, 64, 65, 66] {
        for dots in [0usize, 1, 2] {
            let mut text: String = "a".repeat(len);
            if dots >= 1 && len > 2 {
                text.replace_range(1..2, ".");
            }
            if dots >= 2 && len > 4 {
                text.replace_range(len - 2..len - 1, ".");
            }
            for head in ["", ".", "é"] {
                for tail in ["", ".", "@", " ", "..", ".@", "é", ">"] {
                    let t = format!("{head}{text}{tail}");
                    for utf8 in [false, true] {
                        assert_eq!(
                            local_part_end(&t, utf8),
                            local_part_scanned(&t, utf8),
                            "{t:?}"
                        );
                    }
                }
            }
        }
    }
    assert_eq!(local_part_end(&"a".repeat(64), false), Ok(64));
    assert!(local_part_end(&"a".repeat(65), false).is_err());
}
