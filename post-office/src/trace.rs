//! Trace fields (RFC 5321 4.4): the `Received:` field written above every message taken in,
//! the RFC 5322 date in it, and the count of `Received:` fields a message arrives with, which
//! detects mail loops (RFC 5321 6.3).

use std::net::IpAddr;

use mail_io::smtp::{ForwardPath, Greeting, Host};

/// RFC 5322 2.1.1: lines SHOULD be at most 78 octets (without CRLF); folded where possible.
const FOLD_AT: usize = 78;

/// RFC 5321 4.4 `Protocol`: the `with` keyword of the IANA "Mail Transmission Types" registry.
///
/// `SMTP` after HELO, `ESMTP` after EHLO, `LMTP` in LMTP (RFC 3848 1); `S` appended when the
/// session is under TLS, `A` when the client authenticated (`ESMTPSA`, `LMTPS`...). A
/// transaction that used SMTPUTF8 is `UTF8SMTP` (after EHLO; `UTF8LMTP` in LMTP) with the same
/// suffixes (RFC 6531 3.7.3).
pub fn protocol(
    lmtp: bool,
    greeting: Option<Greeting>,
    tls: bool,
    authenticated: bool,
    smtputf8: bool,
) -> String {
    let mut keyword = String::with_capacity(10);
    if smtputf8 {
        keyword.push_str("UTF8");
    }
    if lmtp || greeting == Some(Greeting::Lhlo) {
        keyword.push_str("LMTP");
    } else {
        if greeting == Some(Greeting::Ehlo) && !smtputf8 {
            keyword.push('E');
        }
        keyword.push_str("SMTP");
    }
    if tls {
        keyword.push('S');
    }
    if authenticated {
        keyword.push('A');
    }
    keyword
}

/// RFC 5321 4.1.3: the address literal of `ip`, `[192.0.2.1]` or `[IPv6:2001:db8::1]` (an
/// IPv4-mapped IPv6 address as IPv4).
pub fn address_literal(ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("[{v4}]"),
        IpAddr::V6(v6) => format!("[IPv6:{v6}]"),
    }
}

/// RFC 5322 3.3 `date-time` of `unix` (seconds since 1970-01-01 UTC), in UTC:
/// `Thu, 1 Jan 1970 00:00:00 +0000` (mail-builder's formatter, as in the DSNs).
pub fn date_time(unix: u64) -> String {
    crate::dsn::date(unix)
}

/// What our `Received:` field says of one message (RFC 5321 4.4).
#[derive(Debug, Clone)]
pub struct Received<'a> {
    /// The name the client gave in HELO / EHLO / LHLO, if it gave one.
    pub helo: Option<&'a Host<'static>>,
    /// The client's address (the `TCP-info` in parentheses).
    pub peer: IpAddr,
    /// Our host name (`by`).
    pub by: &'a str,
    /// The `with` keyword, [`protocol`].
    pub protocol: &'a str,
    /// The spool / queue id (`id`, an `Atom`).
    pub id: &'a str,
    /// The one recipient (`for`), given only when the message has exactly one (RFC 5321 7.2:
    /// a field naming one of several recipients would tell the others who got it).
    pub recipient: Option<&'a ForwardPath<'static>>,
    /// When it was received (seconds since the Unix epoch).
    pub at: u64,
}

impl Received<'_> {
    /// The field, CRLF-terminated:
    ///
    /// ```text
    /// Received: from client.example ([127.0.0.1]) by mail.example with ESMTPS id 17650M1P2Q3
    ///         for <bob@mail.example>; Mon, 7 Dec 2026 02:33:12 +0000
    /// ```
    ///
    /// (`from <helo> ([ip])`, the TCP-info form of RFC 5321 4.4 `Extended-Domain`; `from [ip]`
    /// alone when the client gave no name.) Folded with CRLF TAB between clauses so that each
    /// line is at most 78 octets where a clause allows it (RFC 5322 2.1.1); a clause is never
    /// cut, and none can pass 998 octets (a domain is at most 255 octets, a mailbox 254).
    pub fn field(&self) -> Vec<u8> {
        let peer = address_literal(self.peer);
        let mut clauses = Vec::with_capacity(7);
        match self.helo {
            Some(helo) => {
                clauses.push(format!("from {helo}"));
                clauses.push(format!("({peer})"));
            }
            None => clauses.push(format!("from {peer}")),
        }
        clauses.push(format!("by {}", self.by));
        clauses.push(format!("with {}", self.protocol));
        clauses.push(format!("id {}", self.id));
        if let Some(recipient) = self.recipient {
            clauses.push(format!("for {recipient}"));
        }
        if let Some(last) = clauses.last_mut() {
            last.push(';');
        }
        clauses.push(date_time(self.at));
        fold("Received:", &clauses)
    }
}

/// `name` and `clauses` as one header field: clauses separated by a space, or by CRLF TAB
/// where the line would pass [`FOLD_AT`] octets.
fn fold(name: &str, clauses: &[String]) -> Vec<u8> {
    let mut field = Vec::with_capacity(128);
    field.extend_from_slice(name.as_bytes());
    let mut line = name.len();
    for clause in clauses {
        if line + 1 + clause.len() > FOLD_AT && line > name.len() {
            field.extend_from_slice(b"\r\n\t");
            line = 1;
        } else {
            field.push(b' ');
            line += 1;
        }
        field.extend_from_slice(clause.as_bytes());
        line += clause.len();
    }
    field.extend_from_slice(b"\r\n");
    field
}

/// Counts the `Received:` fields in a message's header section as it streams by, however the
/// message is cut into pieces (RFC 5321 6.3: a message that has passed through too many hops
/// is in a loop). A field counts when its line starts with `Received` (any case), then
/// optional white space (RFC 5322 4.5.3's obsolete syntax) and `:`. The header section ends
/// at the first empty line (CRLF, or a bare LF); nothing after it counts.
#[derive(Debug, Clone, Default)]
pub struct HopCounter {
    count: u32,
    state: HopState,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum HopState {
    /// At the start of a line.
    #[default]
    LineStart,
    /// A CR at the start of a line: an empty line if LF follows.
    LineStartCr,
    /// This many octets of `received` matched at the start of a line.
    Name(usize),
    /// `received` and white space: a `:` makes it a field.
    Colon,
    /// In a line that is not (or no longer could be) the start of a `Received:` field.
    Rest,
    /// Past the header section.
    Body,
}

const RECEIVED: &[u8] = b"received";

impl HopCounter {
    /// A counter at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// The `Received:` fields counted so far.
    pub fn count(&self) -> u32 {
        self.count
    }

    /// Counts what `chunk`, the next piece of the message, holds.
    pub fn feed(&mut self, chunk: &[u8]) {
        let mut at = 0;
        while let Some(&byte) = chunk.get(at) {
            self.state = match self.state {
                HopState::Body => return,
                HopState::Rest => {
                    // Only line ends matter: skip to the next.
                    match memchr::memchr(b'\n', chunk.get(at..).unwrap_or_default()) {
                        Some(offset) => {
                            at += offset + 1;
                            self.state = HopState::LineStart;
                            continue;
                        }
                        None => return,
                    }
                }
                HopState::LineStart => match byte {
                    b'\n' => HopState::Body,
                    b'\r' => HopState::LineStartCr,
                    _ => self.name(0, byte),
                },
                HopState::LineStartCr => match byte {
                    b'\n' => HopState::Body,
                    _ => HopState::Rest,
                },
                HopState::Name(matched) => self.name(matched, byte),
                HopState::Colon => match byte {
                    b':' => {
                        self.count = self.count.saturating_add(1);
                        HopState::Rest
                    }
                    b' ' | b'\t' => HopState::Colon,
                    b'\n' => HopState::LineStart,
                    _ => HopState::Rest,
                },
            };
            at += 1;
        }
    }

    /// The state after `byte` with `matched` octets of `received` matched before it.
    fn name(&self, matched: usize, byte: u8) -> HopState {
        match RECEIVED.get(matched) {
            Some(expected) if byte.eq_ignore_ascii_case(expected) => {
                if matched + 1 == RECEIVED.len() {
                    HopState::Colon
                } else {
                    HopState::Name(matched + 1)
                }
            }
            _ if byte == b'\n' => HopState::LineStart,
            _ => HopState::Rest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn dates_are_rfc_5322_date_times_of_known_timestamps() {
        // Checked against `date -u -R -d @N`.
        assert_eq!(date_time(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(date_time(951_782_400), "Tue, 29 Feb 2000 00:00:00 +0000");
        assert_eq!(date_time(1_234_567_890), "Fri, 13 Feb 2009 23:31:30 +0000");
        assert_eq!(date_time(1_709_251_199), "Thu, 29 Feb 2024 23:59:59 +0000");
        assert_eq!(date_time(1_765_074_792), "Sun, 7 Dec 2025 02:33:12 +0000");
        assert_eq!(date_time(4_107_542_400), "Mon, 1 Mar 2100 00:00:00 +0000");
        assert_eq!(
            date_time(253_402_300_799),
            "Fri, 31 Dec 9999 23:59:59 +0000"
        );
    }

    #[test]
    fn the_with_keyword_follows_rfc_3848_and_rfc_6531() {
        let cases = [
            ((false, Some(Greeting::Helo), false, false, false), "SMTP"),
            ((false, Some(Greeting::Ehlo), false, false, false), "ESMTP"),
            ((false, Some(Greeting::Ehlo), true, false, false), "ESMTPS"),
            ((false, Some(Greeting::Ehlo), false, true, false), "ESMTPA"),
            ((false, Some(Greeting::Ehlo), true, true, false), "ESMTPSA"),
            ((true, Some(Greeting::Lhlo), false, false, false), "LMTP"),
            ((true, Some(Greeting::Lhlo), true, true, false), "LMTPSA"),
            ((true, Some(Greeting::Lhlo), false, true, false), "LMTPA"),
            (
                (false, Some(Greeting::Ehlo), false, false, true),
                "UTF8SMTP",
            ),
            (
                (false, Some(Greeting::Ehlo), true, false, true),
                "UTF8SMTPS",
            ),
            (
                (false, Some(Greeting::Ehlo), false, true, true),
                "UTF8SMTPA",
            ),
            (
                (false, Some(Greeting::Ehlo), true, true, true),
                "UTF8SMTPSA",
            ),
            ((true, Some(Greeting::Lhlo), true, false, true), "UTF8LMTPS"),
        ];
        for ((lmtp, greeting, tls, auth, utf8), expected) in cases {
            assert_eq!(protocol(lmtp, greeting, tls, auth, utf8), expected);
        }
    }

    fn received(recipient: Option<&ForwardPath<'static>>, helo: Option<&Host<'static>>) -> String {
        let field = Received {
            helo,
            peer: "127.0.0.1".parse().unwrap(),
            by: "mail.example",
            protocol: "ESMTPSA",
            id: "1765074792M000001P42Q000007",
            recipient,
            at: 1_765_074_792,
        }
        .field();
        String::from_utf8(field).unwrap()
    }

    #[test]
    fn the_received_field_has_from_by_with_id_for_and_date_folded() {
        let bob: ForwardPath<'static> = "<bob@mail.example>".parse().unwrap();
        let helo = Host::new("client.example").unwrap();
        assert_eq!(
            received(Some(&bob), Some(&helo)),
            "Received: from client.example ([127.0.0.1]) by mail.example with ESMTPSA\r\n\
             \tid 1765074792M000001P42Q000007 for <bob@mail.example>;\r\n\
             \tSun, 7 Dec 2025 02:33:12 +0000\r\n"
        );
        // Several recipients: no `for`; no HELO name: the address alone.
        assert_eq!(
            received(None, None),
            "Received: from [127.0.0.1] by mail.example with ESMTPSA\r\n\
             \tid 1765074792M000001P42Q000007; Sun, 7 Dec 2025 02:33:12 +0000\r\n"
        );
    }

    #[test]
    fn received_lines_stay_within_78_octets_unless_one_clause_is_longer() {
        let long_domain = format!("{}.example", vec!["a".repeat(63); 3].join("."));
        let helo = Host::new(long_domain.clone()).unwrap();
        let path: ForwardPath<'static> = format!("<{}@{long_domain}>", "u".repeat(50))
            .parse()
            .unwrap();
        let field = received(Some(&path), Some(&helo));
        let lines: Vec<&str> = field.strip_suffix("\r\n").unwrap().split("\r\n").collect();
        assert_eq!(
            lines,
            [
                format!("Received: from {long_domain}"),
                "\t([127.0.0.1]) by mail.example with ESMTPSA id 1765074792M000001P42Q000007"
                    .to_string(),
                format!("\tfor <{}@{long_domain}>;", "u".repeat(50)),
                "\tSun, 7 Dec 2025 02:33:12 +0000".to_string(),
            ]
        );
        for line in lines {
            assert!(line.len() <= 998, "{line}");
        }
    }

    #[test]
    fn ipv6_clients_get_an_ipv6_address_literal() {
        assert_eq!(
            address_literal("2001:db8::1".parse().unwrap()),
            "[IPv6:2001:db8::1]"
        );
        assert_eq!(
            address_literal("::ffff:192.0.2.1".parse().unwrap()),
            "[192.0.2.1]"
        );
    }

    fn hops(message: &[u8]) -> u32 {
        let mut counter = HopCounter::new();
        counter.feed(message);
        counter.count()
    }

    #[test]
    fn only_received_fields_of_the_header_section_count() {
        assert_eq!(hops(b""), 0);
        assert_eq!(
            hops(b"Received: a\r\nreceived: b\r\nRECEIVED : c\r\n\r\n"),
            3
        );
        assert_eq!(
            hops(b"Received: a\r\n (folded Received: x)\r\nSubject: Received: y\r\n\r\nReceived: z\r\n"),
            1
        );
        // Not a Received field: another name, or no colon.
        assert_eq!(
            hops(b"Received-SPF: pass\r\nReceivedx: a\r\nReceived\r\n\r\n"),
            0
        );
        // Bare LF line ends, and an empty line of a bare LF ends the header.
        assert_eq!(hops(b"Received: a\nReceived: b\n\nReceived: c\n"), 2);
        // No header at all.
        assert_eq!(hops(b"\r\nReceived: a\r\n"), 0);
        // A header without a body, not even the empty line.
        assert_eq!(hops(b"Received: a\r\nReceived: b"), 2);
    }

    proptest! {
        #[test]
        fn any_split_gives_the_same_count(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("Received: from x\r\n".to_string()),
                    Just("rEcEiVeD\t: y\r\n".to_string()),
                    Just("Received-SPF: z\r\n".to_string()),
                    Just(" folded\r\n".to_string()),
                    Just("\r\n".to_string()),
                    Just("\n".to_string()),
                    Just("\r".to_string()),
                    "[ -~]{0,20}\r\n",
                ],
                0..30,
            ),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let message = lines.concat().into_bytes();
            let whole = hops(&message);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c % (message.len() + 1)).collect();
            cuts.sort_unstable();
            let mut counter = HopCounter::new();
            let mut from = 0;
            for cut in cuts.into_iter().chain([message.len()]) {
                counter.feed(&message[from..cut]);
                from = cut;
            }
            prop_assert_eq!(counter.count(), whole);
        }
    }
}
