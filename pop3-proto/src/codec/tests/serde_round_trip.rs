//! The `serde` feature: value -> JSON -> value is the identity for what the constructors allow,
//! deserializing refuses what they refuse, and credentials are never serialized.

use super::*;
use core::hash::{BuildHasher, Hash};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::hash_map::RandomState;
use std::string::ToString;

/// JSON of `value`, checked to read back as an equal value.
fn round_trip<T>(value: &T) -> String
where
    T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug,
{
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap();
    assert_eq!(&back, value, "{json}");
    json
}

/// The error deserializing `json` as a `T` gives; panics if it deserializes.
fn refused<T: DeserializeOwned + core::fmt::Debug>(json: &str) -> String {
    match serde_json::from_str::<T>(json) {
        Ok(value) => panic!("{json} deserialized as {value:?}"),
        Err(error) => error.to_string(),
    }
}

fn hash_of<T: Hash>(value: &T) -> u64 {
    static STATE: std::sync::OnceLock<RandomState> = std::sync::OnceLock::new();
    STATE.get_or_init(RandomState::new).hash_one(value)
}

#[test]
fn validated_text_serializes_as_its_text() {
    assert_eq!(
        round_trip(&Text::new("hello there").unwrap()),
        r#""hello there""#
    );
    assert_eq!(round_trip(&Text::empty()), r#""""#);
    assert_eq!(round_trip(&Username::new("alice").unwrap()), r#""alice""#);
    assert_eq!(round_trip(&Mechanism::new("PLAIN").unwrap()), r#""PLAIN""#);
    assert_eq!(
        round_trip(&Timestamp::new("<1896.697170952@dbc.mtview.ca.us>").unwrap()),
        r#""<1896.697170952@dbc.mtview.ca.us>""#
    );
    assert_eq!(round_trip(&Verb::new("XTND").unwrap()), r#""XTND""#);
    assert_eq!(
        round_trip(&UniqueId::new("QhdPYR:00WBw1Ph7x7").unwrap()),
        r#""QhdPYR:00WBw1Ph7x7""#
    );
    assert_eq!(
        round_trip(&ResponseCode::new("SYS/TEMP").unwrap()),
        r#""SYS/TEMP""#
    );
    assert_eq!(round_trip(&CapaTag::new("X-FOO").unwrap()), r#""X-FOO""#);
    assert_eq!(round_trip(&CapaParam::new("bar").unwrap()), r#""bar""#);
    assert_eq!(
        round_trip(&LanguageTag::new("de-CH").unwrap()),
        r#""de-CH""#
    );
    assert_eq!(round_trip(&MessageNumber::new(7).unwrap()), "7");
    let digest = ApopDigest::parse("c4c9334bac560ecc979e58001b3e22fb").unwrap();
    assert_eq!(round_trip(&digest), r#""c4c9334bac560ecc979e58001b3e22fb""#);
}

/// Deserializing goes through the constructors: CR, LF and NUL (RFC 1939 3) and every other
/// breach of a grammar is a serde error, never an invalid value.
#[test]
fn rfc1939_3_deserializing_refuses_what_the_constructors_refuse() {
    let error = refused::<Text<'_>>(r#""fine\r\nDELE 1""#);
    assert!(error.contains("unexpected '\\r' at offset 4"), "{error}");
    refused::<Text<'_>>(r#""nul\u0000""#);
    refused::<Text<'_>>(&format!("\"{}\"", "x".repeat(crate::types::MAX_TEXT + 1)));
    refused::<Username<'_>>(r#""two words""#);
    refused::<Username<'_>>(r#""""#);
    refused::<Mechanism<'_>>(r#""PLAIN!""#);
    refused::<Timestamp<'_>>(r#""no brackets""#);
    // RFC 2449 3: a known verb or tag has its own variant.
    refused::<Verb<'_>>(r#""RETR""#);
    refused::<CapaTag<'_>>(r#""top""#);
    refused::<CapaTag<'_>>(r#""A.B""#);
    refused::<CapaParam<'_>>(r#""a b""#);
    refused::<UniqueId<'_>>(&format!("\"{}\"", "u".repeat(71)));
    refused::<ResponseCode<'_>>(r#""SYS//TEMP""#);
    refused::<ResponseCode<'_>>(r#""IN]USE""#);
    refused::<LanguageTag<'_>>(r#""toolongtag""#);
    refused::<LanguageTag<'_>>(r#""e*""#);
    // RFC 1939 5: message numbers start at 1 and fit in 32 bits here.
    let error = refused::<MessageNumber>("0");
    assert!(error.contains("message numbers start at 1"), "{error}");
    refused::<MessageNumber>("-1");
    refused::<MessageNumber>("4294967296");
    refused::<MessageNumber>(r#""1""#);
    // RFC 1939 7: 32 lower-case hex digits.
    refused::<ApopDigest>(r#""C4C9334BAC560ECC979E58001B3E22FB""#);
    refused::<ApopDigest>(r#""c4c9""#);
    // The wrong JSON type is refused too.
    refused::<Text<'_>>("12");
}

/// RFC 1939 5-7, RFC 2449 5, RFC 5034 4, RFC 6856 3: every command but the credentials.
#[test]
fn commands_round_trip_through_json() {
    let name = Username::new("mrose").unwrap();
    let table: Vec<(Command<'static>, &str)> = vec![
        (Command::User(name.clone()), r#"{"User":"mrose"}"#),
        (
            Command::Apop {
                name,
                digest: ApopDigest::parse("c4c9334bac560ecc979e58001b3e22fb").unwrap(),
            },
            r#"{"Apop":{"name":"mrose","digest":"c4c9334bac560ecc979e58001b3e22fb"}}"#,
        ),
        (Command::Stat, r#""Stat""#),
        (Command::List(None), r#"{"List":null}"#),
        (Command::List(Some(n(2))), r#"{"List":2}"#),
        (Command::Retr(n(1)), r#"{"Retr":1}"#),
        (Command::Dele(n(u32::MAX)), r#"{"Dele":4294967295}"#),
        (Command::Noop, r#""Noop""#),
        (Command::Rset, r#""Rset""#),
        (Command::Quit, r#""Quit""#),
        (
            Command::Top {
                message: n(1),
                lines: 10,
            },
            r#"{"Top":{"message":1,"lines":10}}"#,
        ),
        (Command::Uidl(Some(n(3))), r#"{"Uidl":3}"#),
        (Command::Capa, r#""Capa""#),
        (Command::Stls, r#""Stls""#),
        (Command::auth_list(), r#"{"Auth":{"mechanism":null}}"#),
        (
            Command::auth(Mechanism::new("GSSAPI").unwrap(), None).unwrap(),
            r#"{"Auth":{"mechanism":"GSSAPI"}}"#,
        ),
        (Command::Utf8, r#""Utf8""#),
        (Command::Lang(None), r#"{"Lang":null}"#),
        (Command::Lang(Some(LanguageTag::any())), r#"{"Lang":"*"}"#),
        (
            Command::Other {
                verb: Verb::new("XTND").unwrap(),
                arguments: Some(Text::new("XMIT now").unwrap()),
            },
            r#"{"Other":{"verb":"XTND","arguments":"XMIT now"}}"#,
        ),
    ];
    for (command, json) in table {
        assert_eq!(round_trip(&command), json);
    }
    // Every field goes through its checks.
    refused::<Command<'_>>(r#"{"User":"mr ose"}"#);
    refused::<Command<'_>>(r#"{"Retr":0}"#);
    refused::<Command<'_>>(r#"{"Top":{"message":0,"lines":1}}"#);
    refused::<Command<'_>>(r#"{"Other":{"verb":"QUIT","arguments":null}}"#);
    refused::<Command<'_>>(r#"{"Other":{"verb":"XTND","arguments":"a\nQUIT"}}"#);
    refused::<Command<'_>>(r#"{"Lang":"-"}"#);
}

/// Credentials never reach serialized data: `PASS` and an `AUTH` initial response are errors
/// both ways (RFC 1939 7, RFC 5034 4).
#[test]
fn credentials_are_not_serialized() {
    let pass = Command::pass("tanstaaf").unwrap();
    let error = serde_json::to_string(&pass).unwrap_err().to_string();
    assert!(!error.contains("tanstaaf"), "{error}");
    let auth = Command::auth(Mechanism::new("PLAIN").unwrap(), Some("AGEAYg==".into())).unwrap();
    let error = serde_json::to_string(&auth).unwrap_err().to_string();
    assert!(
        error.contains("not serialized") && !error.contains("AGEAYg"),
        "{error}"
    );
    refused::<Command<'_>>(r#"{"Pass":"tanstaaf"}"#);
    let error =
        refused::<Command<'_>>(r#"{"Auth":{"mechanism":"PLAIN","initial_response":"AGEAYg=="}}"#);
    assert!(error.contains("not deserialized"), "{error}");
    // An explicit null is no credential.
    let bare: Command<'_> =
        serde_json::from_str(r#"{"Auth":{"mechanism":"PLAIN","initial_response":null}}"#).unwrap();
    assert_eq!(
        bare,
        Command::auth(Mechanism::new("PLAIN").unwrap(), None).unwrap()
    );
}

/// RFC 1939 3, RFC 2449 8: status, code and text; listings (RFC 1939 5, 7; RFC 6856 3.2).
#[test]
fn responses_and_listings_round_trip_through_json() {
    let busy = Response::err(Text::new("maildrop already locked").unwrap())
        .with_code(ResponseCode::known(KnownCode::InUse))
        .unwrap();
    assert_eq!(
        round_trip(&busy),
        r#"{"status":"Err","code":"IN-USE","text":"maildrop already locked"}"#
    );
    assert_eq!(
        round_trip(&Response::ok(Text::empty())),
        r#"{"status":"Ok","code":null,"text":""}"#
    );
    refused::<Response<'_>>(r#"{"status":"Ok","code":null,"text":"x\r\n+OK"}"#);
    refused::<Response<'_>>(r#"{"status":"Maybe","code":null,"text":""}"#);
    refused::<Response<'_>>(r#"{"status":"Ok","code":"A]B","text":""}"#);
    // RFC 2449 4: code and text that would not fit in one 512-octet line together.
    let long = format!(
        r#"{{"status":"Err","code":"{}","text":"{}"}}"#,
        "C".repeat(300),
        "t".repeat(300)
    );
    refused::<Response<'_>>(&long);

    let scan = ScanListing {
        message: n(2),
        size: 200,
    };
    assert_eq!(round_trip(&scan), r#"{"message":2,"size":200}"#);
    refused::<ScanListing>(r#"{"message":0,"size":200}"#);
    let uid = UidListing {
        message: n(1),
        uid: UniqueId::new("whqtswO00WBw418f9t5JxYwZ").unwrap(),
    };
    assert_eq!(
        round_trip(&uid),
        r#"{"message":1,"uid":"whqtswO00WBw418f9t5JxYwZ"}"#
    );
    refused::<UidListing<'_>>(r#"{"message":1,"uid":"has space"}"#);

    let german = LanguageListing::new(
        LanguageTag::new("de").unwrap(),
        Some(Text::new("Deutsch").unwrap()),
    )
    .unwrap();
    assert_eq!(
        round_trip(&german),
        r#"{"tag":"de","description":"Deutsch"}"#
    );
    let bare: LanguageListing<'_> = serde_json::from_str(r#"{"tag":"en"}"#).unwrap();
    assert_eq!(
        bare,
        LanguageListing::new(LanguageTag::new("en").unwrap(), None).unwrap()
    );
    // RFC 6856 3.2: `*` is no language; through LanguageListing::new, as built.
    let error = refused::<LanguageListing<'_>>(r#"{"tag":"*","description":null}"#);
    assert!(error.contains("`*` is not a language"), "{error}");
    refused::<LanguageListing<'_>>(r#"{"tag":"de","description":"a\rb"}"#);
}

/// RFC 2449 6, RFC 2595 4, RFC 3206 6, RFC 6856 2-3: every capability.
#[test]
fn capabilities_round_trip_through_json() {
    let table: Vec<(Capability<'static>, &str)> = vec![
        (Capability::Top, r#""Top""#),
        (
            Capability::Sasl(SaslMechanisms::new(vec![Mechanism::new("PLAIN").unwrap()]).unwrap()),
            r#"{"Sasl":["PLAIN"]}"#,
        ),
        (
            Capability::LoginDelay {
                seconds: 900,
                per_user: true,
            },
            r#"{"LoginDelay":{"seconds":900,"per_user":true}}"#,
        ),
        (
            Capability::Expire {
                expire: Expire::Never,
                per_user: false,
            },
            r#"{"Expire":{"expire":"Never","per_user":false}}"#,
        ),
        (
            Capability::Expire {
                expire: Expire::Days(0),
                per_user: false,
            },
            r#"{"Expire":{"expire":{"Days":0},"per_user":false}}"#,
        ),
        (
            Capability::Implementation(ImplementationText::new("Shlemazle-Plotz-v302").unwrap()),
            r#"{"Implementation":"Shlemazle-Plotz-v302"}"#,
        ),
        (Capability::Utf8 { user: true }, r#"{"Utf8":{"user":true}}"#),
        (
            other("X-FOO", &["a", "b"]),
            r#"{"Other":{"tag":"X-FOO","params":["a","b"]}}"#,
        ),
    ];
    for (capability, json) in table {
        assert_eq!(round_trip(&capability), json);
    }
    refused::<Capability<'_>>(r#"{"Other":{"tag":"SASL","params":[]}}"#);
    refused::<Capability<'_>>(r#"{"Other":{"tag":"X-FOO","params":["a b"]}}"#);
    refused::<Capability<'_>>(r#"{"Sasl":["PL AIN"]}"#);
    refused::<Capability<'_>>(r#"{"Implementation":"v1\r\nUSER"}"#);
}

/// RFC 5646 2.1.1: language tags are equal without regard to case, and equal tags hash equal.
#[test]
fn rfc5646_2_1_1_equal_language_tags_hash_equal() {
    let lower = LanguageTag::new("de-ch").unwrap();
    let upper = LanguageTag::new("DE-CH").unwrap();
    assert_eq!(lower, upper);
    assert_eq!(hash_of(&lower), hash_of(&upper));
    assert_ne!(lower, LanguageTag::new("de").unwrap());
}

proptest! {
    /// value -> JSON -> value is the identity for every command the public constructors allow
    /// (but `PASS` and an `AUTH` initial response, which are refused, never written).
    #[test]
    fn commands_round_trip_through_json_for_every_value(command in command()) {
        let credential = matches!(command, Command::Pass(_))
            || matches!(command, Command::Auth { initial_response: Some(_), .. });
        match serde_json::to_string(&command) {
            Ok(json) => {
                prop_assert!(!credential, "{json}");
                prop_assert_eq!(serde_json::from_str::<Command<'_>>(&json).unwrap(), command);
            }
            Err(_) => prop_assert!(credential),
        }
    }

    #[test]
    fn responses_round_trip_through_json_for_every_value(response in response()) {
        let json = serde_json::to_string(&response).unwrap();
        prop_assert_eq!(serde_json::from_str::<Response<'_>>(&json).unwrap(), response);
    }

    #[test]
    fn capabilities_round_trip_through_json_for_every_value(capability in capability()) {
        let json = serde_json::to_string(&capability).unwrap();
        prop_assert_eq!(serde_json::from_str::<Capability<'_>>(&json).unwrap(), capability);
    }

    #[test]
    fn uid_listings_round_trip_through_json_for_every_value(message in message_number(), uid in uid()) {
        let listing = UidListing { message, uid };
        let json = serde_json::to_string(&listing).unwrap();
        prop_assert_eq!(serde_json::from_str::<UidListing<'_>>(&json).unwrap(), listing);
    }

    /// Any JSON string either deserializes into a value whose text is that string, or is
    /// refused: never a text with CR, LF or NUL (RFC 1939 3).
    #[test]
    fn deserialized_text_is_always_valid(text in "\\PC{0,20}|[a-z\\r\\n\\x00 ]{0,20}") {
        let json = serde_json::to_string(&text).unwrap();
        match serde_json::from_str::<Text<'_>>(&json) {
            Ok(value) => {
                prop_assert_eq!(value.as_str(), text.as_str());
                prop_assert!(Text::new(text.as_str()).is_ok());
            }
            Err(_) => prop_assert!(Text::new(text.as_str()).is_err()),
        }
    }
}
