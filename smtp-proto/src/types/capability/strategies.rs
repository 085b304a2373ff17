//! proptest strategies for replies and EHLO responses, shared by the types and codec tests.

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;

use proptest::prelude::*;

use crate::types::{
    Capability, DateTime, Domain, EhloKeyword, EhloParam, EhloResponse, EnhancedStatus, Extension,
    Host, Limit, Mechanism, MinByTime, PriorityProfile, Reply, ReplyCode, ReplyText,
    parse_status_prefix,
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
        // Without a status code, text that starts with one on every line would read as one.
        .prop_filter("text looks like a status code", |reply| {
            reply.status().is_some()
                || !reply.lines().iter().all(|line| {
                    parse_status_prefix(line.as_str().as_bytes())
                        .is_some_and(|(status, _)| status.agrees_with(reply.code()))
                })
        })
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
        prop::collection::vec(mechanism(), 0..8).prop_map(Capability::Auth),
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

/// An EHLO response that encodes and decodes back to itself: at most one `AUTH`.
pub(crate) fn ehlo_response() -> impl Strategy<Value = EhloResponse<'static>> {
    (
        host(),
        proptest::option::of("[\t -~]{1,40}".prop_map(|g| ReplyText::new(g).unwrap())),
        prop::collection::vec(capability(), 0..12),
    )
        .prop_map(|(host, greeting, capabilities)| {
            let mut seen_auth = false;
            let capabilities: Vec<_> = capabilities
                .into_iter()
                .filter(|c| {
                    let auth = matches!(c, Capability::Auth(_));
                    let keep = !(auth && seen_auth);
                    seen_auth |= auth;
                    keep
                })
                .collect();
            EhloResponse {
                host,
                greeting,
                capabilities,
            }
        })
}
