//! The authentication penalty shared by every SMTP and POP3 listener, and the log line of a
//! failed login.
//!
//! Modelled on Dovecot's auth penalty (`auth-penalty.h`: 2 s, doubling, at most 15 s): each
//! failed login from a client address makes the next attempt from that address wait longer
//! before its credentials are even checked (0, 2, 4, 8, then 15 s), so that an attacker cannot
//! learn the outcome early by hanging up, and a client that keeps failing is refused at once
//! (`454 4.7.0` in SMTP, RFC 4954 6; `-ERR [SYS/TEMP]` in POP3, RFC 3206 5) until its address
//! has been quiet for a while. Failures against one user name, from any address, add a delay
//! too, but only for addresses that have failed before: a legitimate user on a clean address
//! logs in at once however hard someone else guesses their password, and a user name can never
//! be locked out by others.
//!
//! Attempts under way count like failures, so that many connections at once from one address
//! get no more guesses than one connection would. Every table is bounded: past
//! [`MAX_ENTRIES`], expired records go first, then the least penalised. IPv6 addresses count
//! by /64 prefix (Dovecot masks to /48), so that one host cannot spread its failures over the
//! addresses of its subnet.
//!
//! No clock is read here except through the `now` arguments of the `*_at` methods (the session
//! passes `Instant::now()`); the sleeping is the session's, on its own task.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::warn;

use crate::serve::Office;

/// The delay after the first failure; each further failure doubles it (Dovecot's
/// `AUTH_PENALTY_INIT_SECS`).
pub const FIRST_DELAY: Duration = Duration::from_secs(2);

/// The longest delay (Dovecot's `AUTH_PENALTY_MAX_SECS`): well within any command deadline, so
/// that a penalised session never holds its slot for long.
pub const MAX_DELAY: Duration = Duration::from_secs(15);

/// Failures (and attempts under way) from one address after which its attempts are refused
/// without being checked.
pub const LOCKOUT_AFTER: u32 = 10;

/// A record is forgotten once this long has passed since its last failure: the delays decay,
/// and a lockout ends.
pub const QUIET: Duration = Duration::from_secs(15 * 60);

/// Records kept per table (addresses, user names).
pub const MAX_ENTRIES: usize = 10_000;

/// User names are logged and kept up to this many characters.
const MAX_NAME: usize = 64;

/// The penalty tables: one per client address (or IPv6 /64), one per user name.
#[derive(Debug)]
pub struct Penalties {
    tables: Mutex<Tables>,
    max_entries: usize,
}

#[derive(Debug, Default)]
struct Tables {
    addresses: HashMap<Client, Record>,
    users: HashMap<String, Record>,
}

/// Where attempts come from: an IPv4 address, or an IPv6 /64 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Client {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for Client {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self::V4(v4.into()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(v4.into()),
                // The upper 64 bits: the subnet.
                None => Self::V6(u64::try_from(u128::from(v6) >> 64).unwrap_or(u64::MAX)),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    /// Attempts admitted and not yet decided.
    pending: u32,
    last_failure: Instant,
}

impl Record {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            pending: 0,
            last_failure: now,
        }
    }

    fn expired(&self, now: Instant) -> bool {
        self.pending == 0 && now.saturating_duration_since(self.last_failure) >= QUIET
    }

    /// Failures that still count.
    fn failures(&self, now: Instant) -> u32 {
        if now.saturating_duration_since(self.last_failure) >= QUIET {
            0
        } else {
            self.failures
        }
    }
}

/// What the session does with a login attempt.
#[derive(Debug)]
#[must_use = "an admitted attempt must wait its delay, then be decided"]
pub enum Admission<'a> {
    /// Wait [`Attempt::delay`], then check the credentials and report the outcome.
    Check(Attempt<'a>),
    /// Too many failures from this address: refuse at once, without checking.
    Refused,
}

/// An admitted attempt. Dropped without an outcome (the session ended while it waited), it
/// counts for nothing.
#[derive(Debug)]
pub struct Attempt<'a> {
    penalties: &'a Penalties,
    client: Client,
    user: String,
    delay: Duration,
    decided: bool,
}

impl Penalties {
    /// Empty tables of at most [`MAX_ENTRIES`] records each.
    pub fn new() -> Self {
        Self::with_capacity(MAX_ENTRIES)
    }

    /// Empty tables of at most `max_entries` records each (at least one).
    pub fn with_capacity(max_entries: usize) -> Self {
        Self {
            tables: Mutex::new(Tables::default()),
            max_entries: max_entries.max(1),
        }
    }

    /// A login attempt from `address` for `user` (as the client named it) begins now.
    pub fn admit(&self, address: IpAddr, user: &str) -> Admission<'_> {
        self.admit_at(Instant::now(), address, user)
    }

    /// [`admit`](Self::admit) at `now`.
    pub fn admit_at(&self, now: Instant, address: IpAddr, user: &str) -> Admission<'_> {
        let client = Client::from(address);
        let user = user_key(user);
        let Ok(mut tables) = self.tables.lock() else {
            // A session panicked holding the lock (it cannot, but): refuse rather than let
            // guesses through unpenalised.
            return Admission::Refused;
        };
        let (address_level, lockout) = match tables.addresses.get(&client) {
            Some(record) => {
                let level = record.failures(now).saturating_add(record.pending);
                (level, level >= LOCKOUT_AFTER)
            }
            None => (0, false),
        };
        if lockout {
            return Admission::Refused;
        }
        let user_level = tables
            .users
            .get(&user)
            .map_or(0, |record| record.failures(now));
        // The user's penalty reaches only addresses that have failed (or are trying) already.
        let level = if address_level == 0 {
            0
        } else {
            address_level.max(user_level)
        };
        let max_entries = self.max_entries;
        let record = entry(&mut tables.addresses, client, now, max_entries);
        if record.failures(now) == 0 {
            record.failures = 0;
        }
        record.pending = record.pending.saturating_add(1);
        Admission::Check(Attempt {
            penalties: self,
            client,
            user,
            delay: delay_for(level),
            decided: false,
        })
    }
}

impl Default for Penalties {
    fn default() -> Self {
        Self::new()
    }
}

impl Attempt<'_> {
    /// How long to wait before checking the credentials.
    pub fn delay(&self) -> Duration {
        self.delay
    }

    /// The credentials were right: the user's own record is cleared (the address keeps its
    /// record, so that an attacker holding one account cannot wash its failures away).
    pub fn succeeded(mut self) {
        self.decided = true;
        if let Ok(mut tables) = self.penalties.tables.lock() {
            if let Some(record) = tables.addresses.get_mut(&self.client) {
                record.pending = record.pending.saturating_sub(1);
            }
            tables.users.remove(&self.user);
        }
    }

    /// The credentials were wrong (or the user unknown): one more failure for the address
    /// and for the user name, at `now`. True when this failure locks the address out.
    pub fn failed_at(mut self, now: Instant) -> bool {
        self.decided = true;
        let max_entries = self.penalties.max_entries;
        let Ok(mut tables) = self.penalties.tables.lock() else {
            return false;
        };
        let address = entry(&mut tables.addresses, self.client, now, max_entries);
        address.pending = address.pending.saturating_sub(1);
        address.failures = address.failures(now).saturating_add(1);
        address.last_failure = now;
        let locked = address.failures == LOCKOUT_AFTER;
        let user = entry(&mut tables.users, self.user.clone(), now, max_entries);
        user.failures = user.failures(now).saturating_add(1);
        user.last_failure = now;
        locked
    }

    /// [`failed_at`](Self::failed_at) now.
    pub fn failed(self) -> bool {
        self.failed_at(Instant::now())
    }
}

impl Drop for Attempt<'_> {
    fn drop(&mut self) {
        if self.decided {
            return;
        }
        if let Ok(mut tables) = self.penalties.tables.lock() {
            if let Some(record) = tables.addresses.get_mut(&self.client) {
                record.pending = record.pending.saturating_sub(1);
            }
        }
    }
}

/// The record of `key`, made if missing; a full table first drops its expired records, then
/// its least penalised one (the oldest among equals), so that flooding the table with new
/// names or addresses cannot wash away an attacker's record.
fn entry<K: Hash + Eq + Clone>(
    table: &mut HashMap<K, Record>,
    key: K,
    now: Instant,
    max_entries: usize,
) -> &mut Record {
    if !table.contains_key(&key) && table.len() >= max_entries {
        table.retain(|_, record| !record.expired(now));
        if table.len() >= max_entries {
            let victim = table
                .iter()
                .filter(|(_, record)| record.pending == 0)
                .min_by_key(|(_, record)| (record.failures(now), record.last_failure))
                .or_else(|| table.iter().min_by_key(|(_, record)| record.last_failure))
                .map(|(key, _)| key.clone());
            if let Some(victim) = victim {
                table.remove(&victim);
            }
        }
    }
    table.entry(key).or_insert_with(|| Record::new(now))
}

/// The delay before checking an attempt with `level` failures (and attempts under way) on
/// record: none, then [`FIRST_DELAY`] doubling up to [`MAX_DELAY`].
fn delay_for(level: u32) -> Duration {
    match level {
        0 => Duration::ZERO,
        n => {
            let doublings = (n - 1).min(8);
            FIRST_DELAY.saturating_mul(1 << doublings).min(MAX_DELAY)
        }
    }
}

/// The user name as a table key: lower case (as `Office` keeps users), cut to [`MAX_NAME`].
fn user_key(user: &str) -> String {
    user.chars()
        .take(MAX_NAME)
        .collect::<String>()
        .to_lowercase()
}

/// The protocol a login came in by, for the log line.
#[derive(Debug, Clone, Copy)]
pub enum Protocol {
    /// SMTP, submission, SMTPS (AUTH, RFC 4954).
    Smtp,
    /// POP3, POP3S (USER/PASS, APOP, AUTH; RFC 1939, RFC 5034).
    Pop3,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Self::Smtp => "smtp",
            Self::Pop3 => "pop3",
        }
    }
}

/// Logs a failed login in one stable line for log watchers (fail2ban and the like):
///
/// `auth failed: protocol=smtp client=192.0.2.1 user="bob" mechanism=PLAIN`
///
/// The user name is the client's and is [escaped](escape_user) so that it cannot end the line
/// or forge another; the mechanism is one of ours (a validated SASL name, `USER` or `APOP`).
pub fn log_failure(protocol: Protocol, client: IpAddr, user: &str, mechanism: &str) {
    warn!(
        "auth failed: protocol={} client={client} user=\"{}\" mechanism={}",
        protocol.as_str(),
        escape_user(user),
        escape_user(mechanism),
    );
}

/// Logs that `client` is now refused for a while, once, as it crosses [`LOCKOUT_AFTER`].
pub fn log_lockout(protocol: Protocol, client: IpAddr) {
    warn!(
        "auth lockout: protocol={} client={client} failures={LOCKOUT_AFTER} seconds={}",
        protocol.as_str(),
        QUIET.as_secs(),
    );
}

/// A client's user name made safe for a log line inside double quotes: `"` and `\` escaped,
/// control and formatting characters (CR, LF, ESC, bidirectional overrides...) and anything
/// else but letters, digits and printable ASCII written as `\u{..}`, at most [`MAX_NAME`]
/// characters kept (`...` marks a cut).
pub fn escape_user(user: &str) -> String {
    let mut escaped = String::with_capacity(user.len().min(MAX_NAME * 2));
    for (count, c) in user.chars().enumerate() {
        if count == MAX_NAME {
            escaped.push_str("...");
            break;
        }
        match c {
            '"' => escaped.push_str("\\\""),
            '\\' => escaped.push_str("\\\\"),
            ' '..='~' => escaped.push(c),
            c if !c.is_ascii() && c.is_alphanumeric() => escaped.push(c),
            c => escaped.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    escaped
}

/// Checked in place of a password for an unknown user, so that an unknown user and a wrong
/// password take the same time (the comparison runs over the presented secret either way).
pub const DUMMY_PASSWORD: &[u8] = b"dummy password for the unknown users' comparison";

/// How a login attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The credentials are right.
    Accepted,
    /// Wrong credentials, or an unknown user (logged).
    Rejected,
    /// Not checked: too many failures from this address.
    Refused,
}

/// Decides a login: waits the address's penalty (on the session's own task, so no other
/// session waits), then checks the credentials with `verify`, given the user's password, or
/// [`DUMMY_PASSWORD`] for an unknown user so that both take the same time; records and logs
/// the outcome. `user` is the name the client gave; `mechanism` names how (`PLAIN`, `USER`).
pub async fn check_login(
    office: &Office,
    protocol: Protocol,
    client: IpAddr,
    user: &str,
    mechanism: &str,
    verify: impl FnOnce(&[u8]) -> bool,
) -> Verdict {
    let attempt = match office.penalties.admit(client, user) {
        Admission::Check(attempt) => attempt,
        Admission::Refused => return Verdict::Refused,
    };
    tokio::time::sleep(attempt.delay()).await;
    let (password, known) = match office.password(user) {
        Some(password) => (password.as_bytes(), true),
        None => (DUMMY_PASSWORD, false),
    };
    // Both sides evaluated, whatever `known` is.
    if verify(password) & known {
        attempt.succeeded();
        return Verdict::Accepted;
    }
    log_failure(protocol, client, user, mechanism);
    if attempt.failed() {
        log_lockout(protocol, client);
    }
    Verdict::Rejected
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    const ALICE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const OTHER: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    fn check(admission: Admission<'_>) -> Attempt<'_> {
        match admission {
            Admission::Check(attempt) => attempt,
            Admission::Refused => panic!("refused"),
        }
    }

    #[test]
    fn delays_grow_0_2_4_8_then_stay_at_15_seconds() {
        let penalties = Penalties::new();
        let now = Instant::now();
        let mut delays = Vec::new();
        for _ in 0..6 {
            let attempt = check(penalties.admit_at(now, ALICE, "bob"));
            delays.push(attempt.delay().as_secs());
            attempt.failed_at(now);
        }
        assert_eq!(delays, [0, 2, 4, 8, 15, 15]);
    }

    #[test]
    fn address_is_refused_after_lockout_failures_until_quiet() {
        let penalties = Penalties::new();
        let now = Instant::now();
        let mut locked = Vec::new();
        for _ in 0..LOCKOUT_AFTER {
            locked.push(check(penalties.admit_at(now, ALICE, "bob")).failed_at(now));
        }
        assert_eq!(locked.iter().filter(|l| **l).count(), 1, "logged once");
        assert!(matches!(
            penalties.admit_at(now + QUIET / 2, ALICE, "bob"),
            Admission::Refused
        ));
        // Another address, even for the same user, is not refused, and not delayed.
        assert_eq!(
            check(penalties.admit_at(now, OTHER, "bob")).delay(),
            Duration::ZERO
        );
        // After the quiet period, the address starts afresh.
        let later = check(penalties.admit_at(now + QUIET, ALICE, "bob"));
        assert_eq!(later.delay(), Duration::ZERO);
    }

    #[test]
    fn attempts_under_way_count_so_parallel_connections_gain_nothing() {
        let penalties = Penalties::new();
        let now = Instant::now();
        let mut attempts = Vec::new();
        let mut delays = Vec::new();
        let mut refused = 0;
        for _ in 0..LOCKOUT_AFTER + 5 {
            match penalties.admit_at(now, ALICE, "bob") {
                Admission::Check(attempt) => {
                    delays.push(attempt.delay().as_secs());
                    attempts.push(attempt);
                }
                Admission::Refused => refused += 1,
            }
        }
        assert_eq!(delays.get(..5), Some(&[0, 2, 4, 8, 15][..]));
        assert_eq!(attempts.len(), LOCKOUT_AFTER as usize);
        assert_eq!(refused, 5);
        // Attempts abandoned (the session went away while it waited) count for nothing.
        drop(attempts);
        assert_eq!(
            check(penalties.admit_at(now, ALICE, "bob")).delay(),
            Duration::ZERO
        );
    }

    #[test]
    fn user_penalty_delays_only_addresses_that_failed_before() {
        let penalties = Penalties::new();
        let now = Instant::now();
        // Five addresses fail once each against bob.
        for last in 1..=5u8 {
            let address = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, last));
            check(penalties.admit_at(now, address, "Bob")).failed_at(now);
        }
        // A clean address: bob logs in at once.
        assert_eq!(
            check(penalties.admit_at(now, OTHER, "bob")).delay(),
            Duration::ZERO
        );
        // One of the failing addresses tries bob again: the user's five failures count.
        let again = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
        assert_eq!(
            check(penalties.admit_at(now, again, "BOB")).delay(),
            MAX_DELAY
        );
        // Bob's own success clears the user's record.
        check(penalties.admit_at(now, OTHER, "bob")).succeeded();
        assert_eq!(
            check(penalties.admit_at(now, again, "bob")).delay(),
            FIRST_DELAY
        );
    }

    #[test]
    fn ipv6_addresses_of_one_subnet_share_a_record() {
        let penalties = Penalties::new();
        let now = Instant::now();
        let first: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let neighbour: IpAddr = "2001:db8:1:2:ffff::7".parse().unwrap();
        let elsewhere: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        check(penalties.admit_at(now, first, "x")).failed_at(now);
        assert_eq!(
            check(penalties.admit_at(now, neighbour, "y")).delay(),
            FIRST_DELAY
        );
        assert_eq!(
            check(penalties.admit_at(now, elsewhere, "y")).delay(),
            Duration::ZERO
        );
    }

    #[test]
    fn tables_stay_bounded_and_keep_the_worst_offender() {
        let penalties = Penalties::with_capacity(100);
        let now = Instant::now();
        for _ in 0..4 {
            check(penalties.admit_at(now, ALICE, "bob")).failed_at(now);
        }
        for i in 0..10_000u32 {
            let address = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + i));
            check(penalties.admit_at(now, address, &format!("user{i}"))).failed_at(now);
        }
        let tables = penalties.tables.lock().unwrap();
        assert!(tables.addresses.len() <= 100, "{}", tables.addresses.len());
        assert!(tables.users.len() <= 100, "{}", tables.users.len());
        assert_eq!(
            tables
                .addresses
                .get(&Client::from(ALICE))
                .map(|r| r.failures),
            Some(4)
        );
    }

    #[test]
    fn escaped_user_names_cannot_forge_a_log_line() {
        let forged = "x\r\nauth failed: protocol=smtp client=10.0.0.1 user=\"root\"";
        let escaped = escape_user(forged);
        assert!(!escaped.contains(['\r', '\n']), "{escaped}");
        assert_eq!(
            escaped,
            "x\\u{d}\\u{a}auth failed: protocol=smtp client=10.0.0.1 user=\\\"root\\\""
        );
        assert_eq!(escape_user("jos\u{e9}"), "jos\u{e9}");
        assert_eq!(escape_user("a\u{202e}b\u{1b}"), "a\\u{202e}b\\u{1b}");
        assert_eq!(escape_user(&"a".repeat(100)).len(), MAX_NAME + 3);
    }
}
