//! The authentication penalty shared by every SMTP and POP3 listener, and the log line of a
//! failed login.
//!
//! Modelled on Dovecot's auth penalty (`auth-penalty.h`: 2 s, doubling, at most 15 s): each
//! failed login from a client address makes the next attempt from that address wait longer
//! before its credentials are even checked (0, 2, 4, 8, then 15 s), so that an attacker cannot
//! learn the outcome early by hanging up. A client that keeps failing for one user name is
//! refused at once for that name (`454 4.7.0` in SMTP, RFC 4954 6; `-ERR [SYS/TEMP]` in POP3,
//! RFC 3206 5) until it has been quiet for a while: the lockout is per (address, user name), so
//! that a guesser behind a shared address (a NAT, a campus) slows its neighbours down but never
//! locks them out of their own accounts. Failures against one user name, from any address, add
//! a delay too, but only for addresses that have failed before: a legitimate user on a clean
//! address logs in at once however hard someone else guesses their password, and a user name
//! can never be locked out by others.
//!
//! Once an address has failed, its attempts under way count like failures, so that many
//! connections at once from it get no more guesses than one connection would; before its first
//! failure they do not, so that the overlapping logins of a busy NAT never wait. Addresses in
//! the trusted networks (`--trusted-network`, Dovecot's `login_trusted_networks`) are never
//! locked out, but wait the delays like anyone. Every table is bounded: past [`MAX_ENTRIES`],
//! expired records go first, then the least penalised. IPv6 addresses count by /64 prefix
//! (Dovecot masks to /48), so that one host cannot spread its failures over the addresses of
//! its subnet.
//!
//! No clock is read here except through the `now` arguments of the `*_at` methods (the session
//! passes `Instant::now()`); the sleeping is the session's, on its own task.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use mail_io::Network;
use tracing::warn;

use crate::serve::Office;

/// The delay after the first failure; each further failure doubles it (Dovecot's
/// `AUTH_PENALTY_INIT_SECS`).
pub const FIRST_DELAY: Duration = Duration::from_secs(2);

/// The longest delay (Dovecot's `AUTH_PENALTY_MAX_SECS`): well within any command deadline, so
/// that a penalised session never holds its slot for long.
pub const MAX_DELAY: Duration = Duration::from_secs(15);

/// Failures (and attempts under way, once the address has failed) for one user name from one
/// address after which its attempts for that name are refused without being checked.
pub const LOCKOUT_AFTER: u32 = 10;

/// A record is forgotten once this long has passed since its last failure: the delays decay,
/// and a lockout ends.
pub const QUIET: Duration = Duration::from_secs(15 * 60);

/// Records kept per table (addresses, user names, addresses with user names).
pub const MAX_ENTRIES: usize = 10_000;

/// User names are logged and kept up to this many characters.
const MAX_NAME: usize = 64;

/// The penalty tables: one per client address (or IPv6 /64) for the delays, one per user
/// name, one per address and user name for the lockouts.
#[derive(Debug)]
pub struct Penalties {
    tables: Mutex<Tables>,
    max_entries: usize,
    /// Networks never locked out.
    trusted: Vec<Network>,
}

#[derive(Debug, Default)]
struct Tables {
    addresses: HashMap<Client, Record>,
    users: HashMap<String, Record>,
    pairs: HashMap<(Client, String), Record>,
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
    /// The lockout this record reached has been reported (logged).
    lockout_reported: bool,
}

impl Record {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            pending: 0,
            last_failure: now,
            lockout_reported: false,
        }
    }

    /// Forgets the failures that no longer count (and the lockout they made).
    fn decay(&mut self, now: Instant) {
        if self.failures(now) == 0 {
            self.failures = 0;
            self.lockout_reported = false;
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
    /// Too many failures for this user name from this address: refuse at once, without
    /// checking.
    Refused {
        /// This refusal is the first of its lockout (which no failure reported yet): log it.
        first: bool,
    },
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
    /// From a trusted network: never locked out.
    trusted: bool,
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
            trusted: Vec::new(),
        }
    }

    /// Addresses in `networks` are never locked out (they still wait their delays).
    pub fn trusted(mut self, networks: impl IntoIterator<Item = Network>) -> Self {
        self.trusted.extend(networks);
        self
    }

    fn is_trusted(&self, address: IpAddr) -> bool {
        self.trusted.iter().any(|network| network.contains(address))
    }

    /// A login attempt from `address` for `user` (as the client named it) begins now.
    pub fn admit(&self, address: IpAddr, user: &str) -> Admission<'_> {
        self.admit_at(Instant::now(), address, user)
    }

    /// [`admit`](Self::admit) at `now`.
    pub fn admit_at(&self, now: Instant, address: IpAddr, user: &str) -> Admission<'_> {
        let client = Client::from(address);
        let user = user_key(user);
        let trusted = self.is_trusted(address);
        let Ok(mut tables) = self.tables.lock() else {
            // A session panicked holding the lock (it cannot, but): refuse rather than let
            // guesses through unpenalised.
            return Admission::Refused { first: false };
        };
        let max_entries = self.max_entries;
        let tables = &mut *tables;
        let address_record = entry(&mut tables.addresses, client, now, max_entries);
        address_record.decay(now);
        let failed = address_record.failures > 0;
        // Attempts under way count only once the address has failed.
        let counted = |record: &Record| {
            let pending = if failed { record.pending } else { 0 };
            record.failures.saturating_add(pending)
        };
        let address_level = counted(address_record);
        let pair = entry(&mut tables.pairs, (client, user.clone()), now, max_entries);
        pair.decay(now);
        if !trusted && counted(pair) >= LOCKOUT_AFTER {
            let first = !pair.lockout_reported;
            pair.lockout_reported = true;
            return Admission::Refused { first };
        }
        pair.pending = pair.pending.saturating_add(1);
        let user_level = tables
            .users
            .get(&user)
            .map_or(0, |record| record.failures(now));
        // The user's penalty reaches only addresses that have failed already.
        let level = if failed {
            address_level.max(user_level)
        } else {
            0
        };
        if let Some(record) = tables.addresses.get_mut(&client) {
            record.pending = record.pending.saturating_add(1);
        }
        Admission::Check(Attempt {
            penalties: self,
            client,
            user,
            delay: delay_for(level),
            decided: false,
            trusted,
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

    /// The credentials were right: the user's own record and its record at this address are
    /// cleared (the address keeps its record, so that an attacker holding one account cannot
    /// wash its failures away).
    pub fn succeeded(mut self) {
        self.decided = true;
        if let Ok(mut tables) = self.penalties.tables.lock() {
            if let Some(record) = tables.addresses.get_mut(&self.client) {
                record.pending = record.pending.saturating_sub(1);
            }
            tables.pairs.remove(&(self.client, self.user.clone()));
            tables.users.remove(&self.user);
        }
    }

    /// The credentials were wrong (or the user unknown): one more failure for the address,
    /// for the user name, and for the two together, at `now`. True when this failure locks
    /// the user name out at this address, and no refusal has reported that lockout yet (it is
    /// reported once, however it was reached); never for a trusted address.
    pub fn failed_at(mut self, now: Instant) -> bool {
        self.decided = true;
        let max_entries = self.penalties.max_entries;
        let Ok(mut tables) = self.penalties.tables.lock() else {
            return false;
        };
        let tables = &mut *tables;
        let address = entry(&mut tables.addresses, self.client, now, max_entries);
        address.pending = address.pending.saturating_sub(1);
        address.failures = address.failures(now).saturating_add(1);
        address.last_failure = now;
        let pair = entry(
            &mut tables.pairs,
            (self.client, self.user.clone()),
            now,
            max_entries,
        );
        pair.decay(now);
        pair.pending = pair.pending.saturating_sub(1);
        pair.failures = pair.failures.saturating_add(1);
        pair.last_failure = now;
        // The address has failed now: its pending attempts count.
        let level = pair.failures.saturating_add(pair.pending);
        let locked = !self.trusted && level >= LOCKOUT_AFTER && !pair.lockout_reported;
        if locked {
            pair.lockout_reported = true;
        }
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
            if let Some(record) = tables.pairs.get_mut(&(self.client, self.user.clone())) {
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
/// The client is its canonical address (an IPv4-mapped IPv6 address, RFC 4291 2.5.5.2, shows
/// as IPv4, so that one pattern matches however the listener was bound). The user name is the
/// client's and is [escaped](escape_user) so that it cannot end the line or forge another; the
/// mechanism is one of ours (a validated SASL name, `USER` or `APOP`).
pub fn log_failure(protocol: Protocol, client: IpAddr, user: &str, mechanism: &str) {
    warn!(
        "auth failed: protocol={} client={} user=\"{}\" mechanism={}",
        protocol.as_str(),
        client.to_canonical(),
        escape_user(user),
        escape_user(mechanism),
    );
}

/// Logs that `client` is now refused for `user` for a while, once per lockout, however it was
/// reached (a failure, or attempts under way, crossing [`LOCKOUT_AFTER`]):
///
/// `auth lockout: protocol=smtp client=192.0.2.1 user="bob" failures=10 seconds=900`
pub fn log_lockout(protocol: Protocol, client: IpAddr, user: &str) {
    warn!(
        "auth lockout: protocol={} client={} user=\"{}\" failures={LOCKOUT_AFTER} seconds={}",
        protocol.as_str(),
        client.to_canonical(),
        escape_user(user),
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
    /// Not checked: too many failures for this user name from this address.
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
        Admission::Refused { first } => {
            if first {
                log_lockout(protocol, client, user);
            }
            return Verdict::Refused;
        }
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
        log_lockout(protocol, client, user);
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
            Admission::Refused { .. } => panic!("refused"),
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
    fn a_user_name_is_locked_out_at_an_address_after_lockout_failures_until_quiet() {
        let penalties = Penalties::new();
        let now = Instant::now();
        let mut locked = Vec::new();
        for _ in 0..LOCKOUT_AFTER {
            locked.push(check(penalties.admit_at(now, ALICE, "bob")).failed_at(now));
        }
        assert_eq!(locked.iter().filter(|l| **l).count(), 1, "logged once");
        assert_eq!(locked.last(), Some(&true), "logged as it is reached");
        // Reported by the failure already: the refusals do not log it again.
        assert!(matches!(
            penalties.admit_at(now + QUIET / 2, ALICE, "BOB"),
            Admission::Refused { first: false }
        ));
        // Another user name at the same address is not locked out, only delayed.
        assert_eq!(
            check(penalties.admit_at(now, ALICE, "carol")).delay(),
            MAX_DELAY
        );
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
    fn overlapping_logins_from_an_address_that_never_failed_do_not_wait() {
        let penalties = Penalties::new();
        let now = Instant::now();
        // A busy NAT: fifty users log in at once from one address.
        let attempts: Vec<_> = (0..50)
            .map(|i| check(penalties.admit_at(now, ALICE, &format!("user{i}"))))
            .collect();
        assert!(attempts.iter().all(|a| a.delay() == Duration::ZERO));
        for attempt in attempts {
            attempt.succeeded();
        }
        // Even many at once for one user name are not refused.
        let same: Vec<_> = (0..LOCKOUT_AFTER + 5)
            .map(|_| check(penalties.admit_at(now, ALICE, "bob")))
            .collect();
        assert!(same.iter().all(|a| a.delay() == Duration::ZERO));
    }

    #[test]
    fn after_a_failure_attempts_under_way_count_so_parallel_connections_gain_nothing() {
        let penalties = Penalties::new();
        let now = Instant::now();
        check(penalties.admit_at(now, ALICE, "bob")).failed_at(now);
        let mut attempts = Vec::new();
        let mut delays = Vec::new();
        let mut refusals = Vec::new();
        for _ in 0..LOCKOUT_AFTER + 5 {
            match penalties.admit_at(now, ALICE, "bob") {
                Admission::Check(attempt) => {
                    delays.push(attempt.delay().as_secs());
                    attempts.push(attempt);
                }
                Admission::Refused { first } => refusals.push(first),
            }
        }
        assert_eq!(delays.get(..5), Some(&[2, 4, 8, 15, 15][..]));
        // One failure and nine under way: the tenth is refused.
        assert_eq!(attempts.len(), LOCKOUT_AFTER as usize - 1);
        assert_eq!(refusals.len(), 6);
        // The lockout reached by attempts under way is reported by its first refusal, once.
        assert_eq!(refusals.iter().filter(|first| **first).count(), 1);
        assert_eq!(refusals.first(), Some(&true));
        // Nor by the failures that follow.
        let mut reported = 0;
        for attempt in attempts {
            reported += usize::from(attempt.failed_at(now));
        }
        assert_eq!(reported, 0);
        // Attempts abandoned (the session went away while it waited) count for nothing.
        let penalties = Penalties::new();
        check(penalties.admit_at(now, OTHER, "bob")).failed_at(now);
        let abandoned: Vec<_> = (0..5)
            .map(|_| check(penalties.admit_at(now, OTHER, "bob")))
            .collect();
        drop(abandoned);
        assert_eq!(
            check(penalties.admit_at(now, OTHER, "bob")).delay(),
            FIRST_DELAY
        );
    }

    #[test]
    fn a_trusted_network_is_delayed_but_never_locked_out() {
        let penalties = Penalties::new().trusted(["192.0.2.0/24".parse().unwrap()]);
        let now = Instant::now();
        let mut delays = Vec::new();
        let mut reported = 0;
        for _ in 0..LOCKOUT_AFTER * 2 {
            let attempt = check(penalties.admit_at(now, ALICE, "bob"));
            delays.push(attempt.delay());
            reported += usize::from(attempt.failed_at(now));
        }
        assert_eq!(reported, 0);
        assert_eq!(delays.last(), Some(&MAX_DELAY));
        // Its IPv4-mapped IPv6 form is trusted too.
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(
            check(penalties.admit_at(now, mapped, "bob")).delay(),
            MAX_DELAY
        );
        // An untrusted address is locked out as usual.
        let outside = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 1));
        for _ in 0..LOCKOUT_AFTER {
            let _ = check(penalties.admit_at(now, outside, "bob")).failed_at(now);
        }
        assert!(matches!(
            penalties.admit_at(now, outside, "bob"),
            Admission::Refused { .. }
        ));
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
        assert!(tables.pairs.len() <= 100, "{}", tables.pairs.len());
        assert_eq!(
            tables
                .pairs
                .get(&(Client::from(ALICE), "bob".to_string()))
                .map(|r| r.failures),
            Some(4)
        );
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
