//! proptest strategies for replies and EHLO responses, shared by the types and codec tests.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use crate::types::{
    Capability, DateTime, Domain, EhloKeyword, EhloParam, EhloResponse, EnhancedStatus, Extension,
    Host, Limit, Mechanism, MinByTime, PriorityProfile, Reply, ReplyCode, ReplyText,
};

/// Any valid reply code.
pub(crate) fn reply_code() -> impl Strategy<Value = ReplyCode> {
    (2u16..=5, 0u16..=5, 0u16..=9)
        .prop_map(|(a, b, c)| ReplyCode::new(a * 100 + b * 10 + c).expect("valid by construction"))
}

/// Any valid enhanced status code.
pub(crate) fn enhanced_status() -> impl Strategy<Value = EnhancedStatus> {
    (
        prop::sample::select(&[2u8, 4, 5][..]),
        0u16..=999,
        0u16..=999,
    )
        .prop_map(|(class, subject, detail)| EnhancedStatus::new(class, subject, detail).unwrap())
}

/// Reply text that fits on one line with room to spare: printable ASCII and HT, or, with
/// `utf8`, some non-ASCII too.
pub(crate) fn reply_text(utf8: bool) -> BoxedStrategy<ReplyText<'static>> {
    let pattern = if utf8 {
        "[\t -~éßж€😀]{0,60}"
    } else {
        "[\t -~]{0,60}"
    };
    pattern
        .prop_map(|text| ReplyText::new(text).unwrap())
        .boxed()
}

/// A reply whose lines fit on the wire unsplit, so that encoding then decoding gives it back.
pub(crate) fn reply(utf8: bool) -> impl Strategy<Value = Reply<'static>> {
    (
        reply_code(),
        enhanced_status(),
        any::<bool>(),
        prop::collection::vec(reply_text(utf8), 1..5),
    )
        .prop_map(|(code, status, with_status, lines)| {
            let mut lines = lines.into_iter();
            let mut reply = Reply::from_text(code, lines.next().unwrap());
            for line in lines {
                reply.push_line(line);
            }
            let agreeing =
                EnhancedStatus::new(code.first_digit(), status.subject(), status.detail());
            match agreeing {
                Ok(status) if with_status => reply.set_status(status).unwrap(),
                _ => reply,
            }
        })
}

/// Reply text the public constructors take: short or long (past one line), with or without
/// an enhanced status code at its start (agreeing with the code or not), ASCII or UTF-8.
fn any_text(utf8: bool) -> BoxedStrategy<String> {
    let chars = if utf8 {
        "[\t -~éß€😀]"
    } else {
        "[\t -~]"
    };
    let words = if utf8 { "[a-zé😀 ]" } else { "[a-z ]" };
    (
        prop_oneof![
            Just(String::new()),
            enhanced_status().prop_map(|s| format!("{s}")),
            enhanced_status().prop_map(|s| format!("{s} ")),
        ],
        prop_oneof![
            4 => proptest::string::string_regex(&format!("{chars}{{0,60}}")).unwrap(),
            1 => proptest::string::string_regex(&format!("{chars}{{400,1200}}")).unwrap(),
            1 => proptest::string::string_regex(&format!("{words}{{400,1200}}")).unwrap(),
        ],
    )
        .prop_map(|(status, text)| format!("{status}{text}"))
        .boxed()
}

/// Any reply the public constructors allow: `new`, `with_status`, `from_lines`, then
/// `push_line` and `set_status`.
pub(crate) fn any_reply(utf8: bool) -> impl Strategy<Value = Reply<'static>> {
    (
        reply_code(),
        prop_oneof![Just(None), enhanced_status().prop_map(Some)],
        prop::collection::vec(any_text(utf8), 1..4),
        prop::collection::vec(any_text(utf8), 0..3),
        0..3u8,
        prop_oneof![Just(None), enhanced_status().prop_map(Some)],
    )
        .prop_filter_map(
            "a status that disagrees with the code",
            |(code, status, first, more, how, later)| {
                let mut reply = match (how, status) {
                    (0, Some(status)) => Reply::with_status(code, status, first[0].clone()).ok()?,
                    (0 | 1, _) => Reply::new(code, first[0].clone()).unwrap(),
                    _ => Reply::from_lines(code, first).unwrap(),
                };
                for line in more {
                    reply.push_line(ReplyText::new(line).unwrap());
                }
                match later {
                    Some(status) => reply.set_status(status).ok(),
                    None => Some(reply),
                }
            },
        )
}

fn is_known(keyword: &str) -> bool {
    Extension::from_keyword(keyword).is_some()
}

fn mechanism() -> impl Strategy<Value = Mechanism<'static>> {
    "[A-Za-z0-9_-]{1,20}".prop_map(|m| Mechanism::new(m).unwrap())
}

fn date_time() -> impl Strategy<Value = DateTime<'static>> {
    (
        0u32..=9999,
        1u32..=12,
        1u32..=31,
        0u32..=23,
        0u32..=59,
        0u32..=60,
        any::<bool>(),
    )
        .prop_map(|(y, mo, d, h, mi, s, zulu)| {
            let zone = if zulu {
                String::from("Z")
            } else {
                String::from("+02:00")
            };
            DateTime::new(format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{zone}")).unwrap()
        })
}

fn unregistered_limit() -> impl Strategy<Value = Limit<'static>> {
    ("[A-Za-z0-9_-]{1,10}", proptest::option::of("[!-:<-~]{1,8}"))
        .prop_filter("registered limit", |(name, _)| {
            !["MAILMAX", "RCPTMAX", "RCPTDOMAINMAX"]
                .iter()
                .any(|known| known.eq_ignore_ascii_case(name))
        })
        .prop_map(|(name, value)| {
            let text = match value {
                Some(value) => format!("{name}={value}"),
                None => name,
            };
            Limit::new(text).unwrap()
        })
}

/// Any capability that an encoder writes and a decoder reads back the same.
pub(crate) fn capability() -> impl Strategy<Value = Capability<'static>> {
    let other = (
        "[A-Za-z0-9][A-Za-z0-9-]{0,15}".prop_filter("known keyword", |k| !is_known(k)),
        prop::collection::vec("[!-~]{1,12}", 0..4),
    )
        .prop_map(|(keyword, params)| Capability::Other {
            keyword: EhloKeyword::new(keyword).unwrap(),
            params: params
                .into_iter()
                .map(|p| EhloParam::new(p).unwrap())
                .collect(),
        });
    // A known keyword with parameters that break its grammar: only the decoder makes these.
    let malformed =
        (
            "SIZE|DELIVERBY|MT-PRIORITY|AUTH|LIMITS|FUTURERELEASE|PIPELINING",
            prop::collection::vec("[!-~]{1,12}", 1..4),
        )
            .prop_filter_map("well-formed after all", |(keyword, params)| {
                match Capability::parse(&format!("{keyword} {}", params.join(" "))) {
                    Ok(capability @ Capability::Malformed(_)) => Some(capability.into_owned()),
                    _ => None,
                }
            });
    prop_oneof![
        malformed,
        proptest::option::of(any::<u64>()).prop_map(Capability::Size),
        Just(Capability::EightBitMime),
        Just(Capability::Pipelining),
        Just(Capability::Chunking),
        Just(Capability::BinaryMime),
        Just(Capability::Dsn),
        Just(Capability::SmtpUtf8),
        Just(Capability::EnhancedStatusCodes),
        Just(Capability::StartTls),
        prop::collection::vec(mechanism(), 0..8).prop_map(|mechanisms| {
            // Each once, as decoding keeps them.
            let mut unique: Vec<Mechanism<'static>> = Vec::new();
            for mechanism in mechanisms {
                if !unique.iter().any(|m| m.is(mechanism.as_str())) {
                    unique.push(mechanism);
                }
            }
            Capability::Auth(unique.into())
        }),
        Just(Capability::RequireTls),
        proptest::option::of("[A-Za-z0-9._-]{1,20}".prop_map(|p| PriorityProfile::new(p).unwrap()))
            .prop_map(Capability::MtPriority),
        (any::<u64>(), date_time()).prop_map(|(max_interval, max_datetime)| {
            Capability::FutureRelease {
                max_interval,
                max_datetime,
            }
        }),
        proptest::option::of((0..=MinByTime::MAX).prop_map(|s| MinByTime::new(s).unwrap()))
            .prop_map(Capability::DeliverBy),
        (
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            proptest::option::of(any::<u32>()),
            prop::collection::vec(unregistered_limit(), 0..3),
        )
            .prop_map(|(mail_max, rcpt_max, rcpt_domain_max, others)| {
                Capability::Limits {
                    mail_max,
                    rcpt_max,
                    rcpt_domain_max,
                    others,
                }
            }),
        Just(Capability::Etrn),
        Just(Capability::Vrfy),
        Just(Capability::Expn),
        Just(Capability::Help),
        other,
    ]
}

fn host() -> impl Strategy<Value = Host<'static>> {
    prop_oneof![
        "[a-z0-9]{1,12}(\\.[a-z][a-z0-9-]{0,10}[a-z0-9]){0,3}"
            .prop_map(|d| Host::Domain(Domain::new(d).unwrap())),
        any::<[u8; 4]>()
            .prop_map(|octets| { Host::from(crate::types::AddressLiteral::ipv4(octets.into())) }),
    ]
}

/// Builds a response through the public constructors: `with_greeting`, then `push` for each
/// capability (which merges `AUTH` and refuses a line too long).
fn build(
    host: Host<'static>,
    greeting: Option<ReplyText<'static>>,
    capabilities: Vec<Capability<'static>>,
) -> EhloResponse<'static> {
    let mut ehlo = EhloResponse::new(host);
    if let Some(greeting) = greeting {
        ehlo = ehlo.with_greeting(greeting);
    }
    for capability in capabilities {
        let _ = ehlo.push(capability);
    }
    ehlo
}

/// An ASCII EHLO response from the public constructors.
pub(crate) fn ehlo_response() -> impl Strategy<Value = EhloResponse<'static>> {
    (
        host(),
        proptest::option::of("[\t -~]{1,40}".prop_map(|g| ReplyText::new(g).unwrap())),
        prop::collection::vec(capability(), 0..12),
    )
        .prop_map(|(host, greeting, capabilities)| build(host, greeting, capabilities))
}

/// Any host a response can name: LDH and U-label domains (RFC 6531 3.3), up to 255 octets,
/// and every kind of address literal.
fn any_host() -> impl Strategy<Value = Host<'static>> {
    prop_oneof![
        host(),
        prop::collection::vec("[a-z0-9äж😀]([a-z0-9äж😀-]{0,20}[a-z0-9äж😀])?", 1..20)
            .prop_filter_map("over 255 octets", |labels| Domain::new(labels.join("."))
                .ok())
            .prop_map(Host::Domain),
        any::<[u8; 16]>()
            .prop_map(|octets| Host::from(crate::types::AddressLiteral::ipv6(octets.into()))),
        "[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?:[!-Z^-~]{1,240}"
            .prop_filter_map("too long, or a tag that reads as IPv6", |text| {
                crate::types::AddressLiteral::new(text).ok().map(Host::from)
            }),
    ]
}

/// Any capability the public constructors make, long parameter lists and known keywords in
/// any case (refused by `EhloKeyword::new`, so they never become `Other`) included.
fn any_capability() -> impl Strategy<Value = Capability<'static>> {
    let keyword = prop_oneof![
        "[A-Za-z0-9][A-Za-z0-9-]{0,15}",
        prop::sample::select(Extension::ALL.map(|(_, k)| k).to_vec())
            .prop_map(|k| k.to_ascii_lowercase()),
    ];
    let other = (keyword, prop::collection::vec("[!-~]{1,60}", 0..12)).prop_filter_map(
        "known keyword",
        |(keyword, params)| {
            Some(Capability::Other {
                keyword: EhloKeyword::new(keyword).ok()?,
                params: params
                    .into_iter()
                    .map(|p| EhloParam::new(p).unwrap())
                    .collect(),
            })
        },
    );
    let limits = (
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        proptest::option::of(any::<u32>()),
        prop::collection::vec(
            (
                "[A-Za-z0-9_-]{1,10}|MAILMAX|rcptmax|RcptDomainMax",
                proptest::option::of("[!-:<-~]{1,30}|[0-9]{1,11}"),
            )
                .prop_filter_map(
                    "a registered limit with a number",
                    |(name, value)| {
                        let text = match value {
                            Some(value) => format!("{name}={value}"),
                            None => name,
                        };
                        Limit::new(text).ok()
                    },
                ),
            0..30,
        ),
    )
        .prop_map(
            |(mail_max, rcpt_max, rcpt_domain_max, others)| Capability::Limits {
                mail_max,
                rcpt_max,
                rcpt_domain_max,
                others,
            },
        );
    // What `Capability::parse` makes of any line, Malformed included.
    let parsed = (
        "SIZE|DELIVERBY|MT-PRIORITY|AUTH|LIMITS|FUTURERELEASE|PIPELINING|X-[A-Z]{1,5}",
        prop::collection::vec("[!-~]{1,40}", 0..15),
    )
        .prop_filter_map("unreadable", |(keyword, params)| {
            let line = format!("{keyword} {}", params.join(" "));
            Capability::parse(&line).ok().map(Capability::into_owned)
        });
    prop_oneof![
        capability(),
        other,
        limits,
        parsed,
        prop::collection::vec(mechanism(), 0..40)
            .prop_map(|mechanisms| Capability::Auth(mechanisms.into())),
    ]
}

/// Any EHLO response the public constructors allow: UTF-8 hosts and greetings (decoded with
/// SMTPUTF8 replies, RFC 6531 3.7.4.2), empty and over-long greetings, several `AUTH`
/// capabilities, parameter lists up to and past the line limit.
pub(crate) fn any_ehlo_response() -> impl Strategy<Value = EhloResponse<'static>> {
    (
        any_host(),
        proptest::option::of(
            prop_oneof!["[\t -~éß€😀]{0,40}", "[\t -~é]{400,600}",]
                .prop_map(|g| ReplyText::new(g).unwrap()),
        ),
        prop::collection::vec(any_capability(), 0..16),
    )
        .prop_map(|(host, greeting, capabilities)| build(host, greeting, capabilities))
}
