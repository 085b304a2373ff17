//! The `serde` feature: value -> JSON -> value is the identity for what the constructors allow,
//! deserializing refuses what they refuse, and credentials are never serialized.

use super::*;
use crate::types::{
    AddressLiteral, Capability, EhloResponse, EnhancedStatus, Extension, LocalPart, Reply,
    ReplyClass, ReplyCode, ReplyText, strategies,
};
use core::hash::{BuildHasher, Hash};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::hash_map::RandomState;
use std::string::ToString;

/// JSON of `value`, checked to read back as an equal value.
fn json_round_trip<T>(value: &T) -> String
where
    T: Serialize + DeserializeOwned + PartialEq + core::fmt::Debug,
{
    let json = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{json}: {e}"));
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

/// RFC 5321 4.1.2, 4.1.3: addresses serialize as the text they are written in.
#[test]
fn rfc5321_4_1_2_addresses_serialize_as_their_text() {
    assert_eq!(
        json_round_trip(&Domain::new("mx.example.com").unwrap()),
        r#""mx.example.com""#
    );
    assert_eq!(
        json_round_trip(&Domain::new("bücher.example").unwrap()),
        r#""bücher.example""#
    );
    assert_eq!(
        json_round_trip(&Host::new("[192.0.2.1]").unwrap()),
        r#""[192.0.2.1]""#
    );
    assert_eq!(
        json_round_trip(&Host::new("[IPv6:2001:db8::1]").unwrap()),
        r#""[IPv6:2001:db8::1]""#
    );
    assert_eq!(
        json_round_trip(&AddressLiteral::new("192.0.2.1").unwrap()),
        r#""[192.0.2.1]""#
    );
    assert_eq!(
        json_round_trip(&LocalPart::new("\"a b\"").unwrap()),
        r#""\"a b\"""#
    );
    let mailbox = Mailbox::parse("alice@example.org").unwrap().into_owned();
    assert_eq!(json_round_trip(&mailbox), r#""alice@example.org""#);
    assert_eq!(
        json_round_trip(&Path::new(mailbox.clone())),
        r#""<alice@example.org>""#
    );
    assert_eq!(json_round_trip(&ReversePath::Null), r#""<>""#);
    assert_eq!(
        json_round_trip(&ReversePath::from(mailbox.clone())),
        r#""<alice@example.org>""#
    );
    assert_eq!(
        json_round_trip(&ForwardPath::Postmaster),
        r#""<Postmaster>""#
    );
    assert_eq!(
        json_round_trip(&ForwardPath::from(mailbox)),
        r#""<alice@example.org>""#
    );
    // A source route is accepted and ignored (RFC 5321 4.1.2): dropped, as the encoder drops it.
    let routed: Path<'static> =
        serde_json::from_str(r#""<@a.example,@b.example:joe@c.example>""#).unwrap();
    assert!(routed.route().is_empty());
    assert_eq!(json_round_trip(&routed), r#""<joe@c.example>""#);
}

/// Deserializing goes through the constructors: a bad domain, CR or LF, an over-long value is
/// a serde error, never an invalid value (RFC 5321 4.1.2, 4.5.3.1).
#[test]
fn rfc5321_4_1_2_deserializing_refuses_what_the_constructors_refuse() {
    let error = refused::<Domain<'_>>(r#""-bad.example""#);
    assert!(error.contains("domain"), "{error}");
    refused::<Domain<'_>>(r#""a..example""#);
    refused::<Domain<'_>>(r#""example.com\r\nRSET""#);
    refused::<Domain<'_>>(&format!("\"{}.example\"", "a".repeat(64)));
    refused::<Domain<'_>>(r#""""#);
    refused::<Domain<'_>>("42");
    refused::<Host<'_>>(r#""[300.0.0.1]""#);
    refused::<AddressLiteral<'_>>(r#""192.0.2.1""#);
    refused::<AddressLiteral<'_>>(r#""example.com""#);
    refused::<LocalPart<'_>>(r#""a b""#);
    refused::<LocalPart<'_>>(&format!("\"{}\"", "a".repeat(65)));
    refused::<Mailbox<'_>>(r#""alice""#);
    refused::<Mailbox<'_>>(r#""alice@example.com>\r\nDATA""#);
    refused::<Path<'_>>(r#""<alice@example.com""#);
    refused::<ReversePath<'_>>(r#""<alice@>""#);
    refused::<ForwardPath<'_>>(r#""<>""#);
}

/// RFC 5321 4.2, RFC 3463 2: reply codes are numbers 2yz to 5yz, statuses `class.subject.detail`,
/// the text one line without controls; a status must agree with the code (RFC 2034 4).
#[test]
fn rfc5321_4_2_replies_round_trip_and_bad_ones_are_refused() {
    let reply = Reply::with_status(ReplyCode::OK, EnhancedStatus::SENDER_OK, "Ok").unwrap();
    assert_eq!(
        json_round_trip(&reply),
        r#"{"code":250,"status":"2.1.0","lines":["Ok"]}"#
    );
    let help = Reply::from_lines(ReplyCode::HELP, ["Commands:", "HELO EHLO"]).unwrap();
    assert_eq!(
        json_round_trip(&help),
        r#"{"code":214,"status":null,"lines":["Commands:","HELO EHLO"]}"#
    );
    assert_eq!(json_round_trip(&ReplyCode::MAILBOX_UNAVAILABLE), "550");
    assert_eq!(
        json_round_trip(&EnhancedStatus::BAD_DESTINATION_MAILBOX),
        r#""5.1.1""#
    );
    assert_eq!(
        json_round_trip(&ReplyText::new("über").unwrap()),
        r#""über""#
    );
    // Out-of-range codes (RFC 5321 4.2: %x32-35 %x30-35 %x30-39).
    for code in ["199", "600", "260", "-250", "65786", "\"250\""] {
        refused::<ReplyCode>(code);
        refused::<Reply<'_>>(&format!(r#"{{"code":{code},"lines":["x"]}}"#));
    }
    refused::<EnhancedStatus>(r#""3.1.1""#);
    refused::<EnhancedStatus>(r#""5.01.1""#);
    refused::<ReplyText<'_>>(r#""ok\r\n250 more""#);
    refused::<Reply<'_>>(r#"{"code":250,"lines":["ok\nDATA"]}"#);
    let error = refused::<Reply<'_>>(r#"{"code":250,"status":"5.1.1","lines":["Ok"]}"#);
    assert!(error.contains("class differs"), "{error}");
    // No lines is one empty line, as `Reply::from_lines` makes it.
    let bare: Reply<'_> = serde_json::from_str(r#"{"code":354,"lines":[]}"#).unwrap();
    assert_eq!(bare, Reply::new(ReplyCode::START_DATA, "").unwrap());
}

/// RFC 5321 4.1.2 esmtp-param and the extensions' grammars: parameter lists serialize as they
/// follow the path, and deserialize through the decoder's grammar.
#[test]
fn rfc5321_4_1_2_parameters_serialize_as_their_text() {
    let mail = MailParameters::new()
        .with_size(1000)
        .with_body(Body::EightBitMime)
        .with_envid(EnvelopeId::new("QQ314159+1").unwrap())
        .with_parameter(Parameter::parse("X-TAG=blue").unwrap())
        .unwrap();
    assert_eq!(
        json_round_trip(&mail),
        r#""SIZE=1000 BODY=8BITMIME ENVID=QQ314159+2B1 X-TAG=blue""#
    );
    assert_eq!(json_round_trip(&MailParameters::new()), r#""""#);
    let rcpt = RcptParameters::new()
        .with_notify(Notify::FAILURE | Notify::DELAY)
        .with_orcpt(OriginalRecipient::rfc822("a+b@example.com").unwrap());
    assert_eq!(
        json_round_trip(&rcpt),
        r#""NOTIFY=FAILURE,DELAY ORCPT=rfc822;a+2Bb@example.com""#
    );
    assert_eq!(
        json_round_trip(&Parameter::parse("XVERP").unwrap()),
        r#""XVERP""#
    );
    assert_eq!(
        json_round_trip(&OriginalRecipient::rfc822("a+b@example.com").unwrap()),
        r#""rfc822;a+2Bb@example.com""#
    );
    assert_eq!(
        json_round_trip(&AuthMailbox::new("e=mc2@example.com").unwrap()),
        r#""e=mc2@example.com""#
    );
    let list = ExtensionParameters::new()
        .with(Parameter::parse("X-A=1").unwrap())
        .unwrap();
    assert_eq!(json_round_trip(&list), r#"["X-A=1"]"#);

    refused::<MailParameters<'_>>(r#""SIZE=1 SIZE=2""#);
    refused::<MailParameters<'_>>(r#""SIZE=ten""#);
    refused::<MailParameters<'_>>(r#""BY=0;R""#); // RFC 2852 4
    refused::<MailParameters<'_>>(r#""X-A=1\r\nRSET""#);
    refused::<RcptParameters<'_>>(r#""NOTIFY=NEVER,SUCCESS""#); // RFC 3461 4.1
    refused::<Parameter<'_>>(r#""SIZE=1""#); // a keyword with a typed field
    refused::<Parameter<'_>>(r#""X-A=b c""#);
    refused::<ExtensionParameters<'_>>(r#"["X-A=1","x-a=2"]"#);
    refused::<EnvelopeId<'_>>(&format!("\"{}\"", "e".repeat(101)));
    refused::<AuthMailbox<'_>>(r#""<>""#);
    refused::<OriginalRecipient<'_>>(r#""rfc822""#);
}

/// RFC 5321 4.1.1 and the extensions: commands as structures, every field through its checks.
#[test]
fn rfc5321_4_1_1_commands_round_trip_through_json() {
    let table: Vec<(Command<'static>, &str)> = vec![
        (
            Command::Ehlo(Host::new("client.example").unwrap()),
            r#"{"Ehlo":"client.example"}"#,
        ),
        (
            Command::Mail {
                from: ReversePath::Null,
                parameters: MailParameters::new().with_size(10),
            },
            r#"{"Mail":{"from":"<>","parameters":"SIZE=10"}}"#,
        ),
        (
            Command::Rcpt {
                to: ForwardPath::parse("<bob@example.com>")
                    .unwrap()
                    .into_owned(),
                parameters: RcptParameters::new(),
            },
            r#"{"Rcpt":{"to":"<bob@example.com>","parameters":""}}"#,
        ),
        (Command::Data, r#""Data""#),
        (
            Command::Bdat {
                size: 100,
                last: true,
            },
            r#"{"Bdat":{"size":100,"last":true}}"#,
        ),
        (
            Command::Vrfy(Lookup::new("Jörg Smith").unwrap().with_smtputf8(true)),
            r#"{"Vrfy":"Jörg Smith SMTPUTF8"}"#,
        ),
        (
            Command::Expn(Lookup::new("SMTPUTF8").unwrap()),
            r#"{"Expn":"SMTPUTF8"}"#,
        ),
        (Command::Help(None), r#"{"Help":null}"#),
        (
            Command::Auth {
                mechanism: Mechanism::new("GSSAPI").unwrap(),
                initial_response: None,
            },
            r#"{"Auth":{"mechanism":"GSSAPI"}}"#,
        ),
        (
            Command::Etrn(EtrnNode::parse("@example.com").unwrap().into_owned()),
            r#"{"Etrn":"@example.com"}"#,
        ),
        (
            Command::Etrn(EtrnNode::parse("#uucp").unwrap().into_owned()),
            r##"{"Etrn":"#uucp"}"##,
        ),
        (
            Command::Atrn(vec![Domain::new("a.example").unwrap()]),
            r#"{"Atrn":["a.example"]}"#,
        ),
        (
            Command::Burl {
                url: Url::new("imap://joe@example.com/outbox;UID=2").unwrap(),
                last: false,
            },
            r#"{"Burl":{"url":"imap://joe@example.com/outbox;UID=2","last":false}}"#,
        ),
        (
            Command::Other {
                verb: Verb::new("XCLIENT").unwrap(),
                argument: Some(Argument::new("NAME=x").unwrap()),
            },
            r#"{"Other":{"verb":"XCLIENT","argument":"NAME=x"}}"#,
        ),
    ];
    for (command, json) in table {
        assert_eq!(json_round_trip(&command), json);
    }
    refused::<Command<'_>>(r#"{"Helo":"[192.0.2.1]"}"#);
    refused::<Command<'_>>(r#"{"Mail":{"from":"<a@b.example>\r\nRSET","parameters":""}}"#);
    refused::<Command<'_>>(r#"{"Vrfy":"list SMTPUTF8 SMTPUTF8"}"#);
    refused::<Command<'_>>(r#"{"Etrn":"example.com; rm -rf"}"#);
    refused::<Command<'_>>(r#"{"Burl":{"url":"outbox;UID=2","last":false}}"#);
    refused::<Command<'_>>(r#"{"Other":{"verb":"DATA","argument":null}}"#);
    refused::<Command<'_>>(r#"{"Noop":" padded "}"#);
}

/// RFC 4954 4: an initial response is a credential (PLAIN carries the password): it is never
/// serialized, nor read from serialized data.
#[test]
fn rfc4954_4_initial_responses_are_not_serialized() {
    let auth = Command::Auth {
        mechanism: Mechanism::new("PLAIN").unwrap(),
        initial_response: Some(InitialResponse::new("AGFsaWNlAHNlY3JldA==").unwrap()),
    };
    let error = serde_json::to_string(&auth).unwrap_err().to_string();
    assert!(
        error.contains("not serialized") && !error.contains("AGFsaWNl"),
        "{error}"
    );
    let error = refused::<Command<'_>>(
        r#"{"Auth":{"mechanism":"PLAIN","initial_response":"AGFsaWNlAHNlY3JldA=="}}"#,
    );
    assert!(error.contains("not deserialized"), "{error}");
}

/// RFC 5321 4.1.1.1: EHLO capabilities as structures; a malformed one as its line, read back
/// by the decoder with the same reason.
#[test]
fn rfc5321_4_1_1_1_capabilities_round_trip_through_json() {
    let mut ehlo = EhloResponse::new(Domain::new("mx.example").unwrap());
    ehlo.greeting = Some(ReplyText::new("at your service").unwrap());
    ehlo.capabilities = vec![
        Capability::Size(Some(35882577)),
        Capability::Pipelining,
        Capability::Auth(vec![Mechanism::new("PLAIN").unwrap()].into()),
        Capability::parse("SIZE ten-megabytes")
            .unwrap()
            .into_owned(),
        Capability::parse("X-EXPS GSSAPI NTLM")
            .unwrap()
            .into_owned(),
    ];
    assert_eq!(
        json_round_trip(&ehlo),
        concat!(
            r#"{"host":"mx.example","greeting":"at your service","capabilities":["#,
            r#"{"Size":35882577},"Pipelining",{"Auth":["PLAIN"]},{"Malformed":"SIZE ten-megabytes"},"#,
            r#"{"Other":{"keyword":"X-EXPS","params":["GSSAPI","NTLM"]}}]}"#
        )
    );
    assert_eq!(json_round_trip(&Extension::Pipelining), r#""PIPELINING""#);
    refused::<Extension>(r#""X-NOPE""#);
    refused::<Capability<'_>>(r#"{"Malformed":"SIZE 1000"}"#);
    refused::<Capability<'_>>(r#"{"Other":{"keyword":"X EXPS","params":[]}}"#);
    refused::<Capability<'_>>(r#"{"Auth":["PL@IN"]}"#);
    refused::<Capability<'_>>(r#"{"FutureRelease":{"max_interval":1,"max_datetime":"tomorrow"}}"#);
    refused::<EhloResponse<'_>>(r#"{"host":"mx..example","greeting":null,"capabilities":[]}"#);
}

/// RFC 2852 2 (`min-by-time = [1*9DIGIT]`) and RFC 9422 4 (registered limits have their
/// fields): JSON is held to what the constructors allow, so it cannot build an EHLO line that
/// decodes as something else.
#[test]
fn rfc2852_2_and_rfc9422_4_capability_json_is_held_to_the_grammar() {
    let by = Capability::DeliverBy(Some(crate::types::MinByTime::new(999_999_999).unwrap()));
    assert_eq!(json_round_trip(&by), r#"{"DeliverBy":999999999}"#);
    refused::<Capability<'_>>(r#"{"DeliverBy":1000000000}"#);
    refused::<Capability<'_>>(
        r#"{"Limits":{"mail_max":null,"rcpt_max":null,"rcpt_domain_max":null,"others":["mailmax=7"]}}"#,
    );
}

/// RFC 5321 4.2.1 and RFC 3463 2: reply codes, classes and statuses order as their digits, and
/// equal values hash equal; domains compare as written (case-insensitive comparison is
/// `eq_ignore_case`), so Eq and Hash agree.
#[test]
fn rfc5321_4_2_1_reply_codes_order_and_equal_values_hash_equal() {
    assert!(ReplyCode::OK < ReplyCode::START_DATA);
    assert!(ReplyCode::START_DATA < ReplyCode::SERVICE_UNAVAILABLE);
    assert!(ReplyClass::Positive < ReplyClass::Intermediate);
    assert!(ReplyClass::TransientNegative < ReplyClass::PermanentNegative);
    assert!(EnhancedStatus::SUCCESS < EnhancedStatus::BAD_DESTINATION_MAILBOX);
    let reply = Reply::new(ReplyCode::OK, "Ok").unwrap();
    assert_eq!(hash_of(&reply), hash_of(&reply.clone().into_owned()));
    let lower = Domain::new("example.com").unwrap();
    let upper = Domain::new("EXAMPLE.com").unwrap();
    assert!(lower.eq_ignore_case(&upper));
    assert_ne!(lower, upper);
    assert_eq!(
        hash_of(&lower),
        hash_of(&Domain::new(String::from("example.com")).unwrap())
    );
}

proptest! {
    /// value -> JSON -> value is the identity for every command the public constructors allow,
    /// but an AUTH initial response, which is refused, never written.
    #[test]
    fn commands_round_trip_through_json_for_every_value(command in command()) {
        let credential = matches!(command, Command::Auth { initial_response: Some(_), .. });
        match serde_json::to_string(&command) {
            Ok(json) => {
                prop_assert!(!credential, "{}", json);
                prop_assert_eq!(serde_json::from_str::<Command<'_>>(&json).unwrap(), command);
            }
            Err(_) => prop_assert!(credential),
        }
    }

    #[test]
    fn addresses_and_parameters_round_trip_through_json_for_every_value(
        mailbox in mailbox(),
        mail in mail_parameters(),
        rcpt in rcpt_parameters(),
        domain in domain(),
        host in host(),
    ) {
        let json = serde_json::to_string(&mailbox).unwrap();
        prop_assert_eq!(serde_json::from_str::<Mailbox<'_>>(&json).unwrap(), mailbox.clone());
        let path = ForwardPath::from(mailbox);
        let json = serde_json::to_string(&path).unwrap();
        prop_assert_eq!(serde_json::from_str::<ForwardPath<'_>>(&json).unwrap(), path);
        let json = serde_json::to_string(&mail).unwrap();
        prop_assert_eq!(serde_json::from_str::<MailParameters<'_>>(&json).unwrap(), mail);
        let json = serde_json::to_string(&rcpt).unwrap();
        prop_assert_eq!(serde_json::from_str::<RcptParameters<'_>>(&json).unwrap(), rcpt);
        let json = serde_json::to_string(&domain).unwrap();
        prop_assert_eq!(serde_json::from_str::<Domain<'_>>(&json).unwrap(), domain);
        let json = serde_json::to_string(&host).unwrap();
        prop_assert_eq!(serde_json::from_str::<Host<'_>>(&json).unwrap(), host);
    }

    #[test]
    fn replies_and_ehlo_responses_round_trip_through_json_for_every_value(
        reply in strategies::reply(true),
        ehlo in strategies::ehlo_response(),
    ) {
        let json = serde_json::to_string(&reply).unwrap();
        prop_assert_eq!(serde_json::from_str::<Reply<'_>>(&json).unwrap(), reply);
        let json = serde_json::to_string(&ehlo).unwrap();
        prop_assert_eq!(serde_json::from_str::<EhloResponse<'_>>(&json).unwrap(), ehlo);
    }

    /// Any JSON string either deserializes into a domain whose text it is, or is refused, as
    /// `Domain::new` decides (RFC 5321 4.1.2).
    #[test]
    fn deserialized_domains_are_always_valid(text in "[a-zA-Z0-9.\\-\r\n ]{0,20}") {
        let json = serde_json::to_string(&text).unwrap();
        match serde_json::from_str::<Domain<'_>>(&json) {
            Ok(domain) => {
                prop_assert_eq!(domain.as_str(), text.as_str());
                prop_assert!(Domain::new(text.as_str()).is_ok());
            }
            Err(_) => prop_assert!(Domain::new(text.as_str()).is_err()),
        }
    }
}
