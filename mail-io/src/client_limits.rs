//! Per-client limits: sessions at once and new connections per minute for each client address
//! (an IPv6 client by its /64 prefix), in a bounded table shared by the listeners of a program.

// Without a server (neither `tokio` nor `blocking`), nothing admits connections.
#![cfg_attr(not(any(feature = "tokio", feature = "blocking")), allow(dead_code))]

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Limits for each client address, in a table that several listeners share (an SMTP and a
/// POP3 listener of one program, say): give each listener's [`ServeOptions::client_limits`]
/// a clone, and they count a client's connections together, as Postfix's `anvil` does for
/// its `smtpd` processes.
///
/// - **Sessions at once** per client: 50 by default (Postfix's
///   `smtpd_client_connection_count_limit`; above Postfix's own 20 connections to one
///   destination, so a relay is never turned away at its usual concurrency). A listener never
///   lets one client take more than half its session limit, whatever is set here: the rest is
///   headroom for everybody else.
/// - **New connections per minute** per client: 60 by default, as a token bucket (the
///   generic cell rate algorithm) that holds a minute's worth: a client may open 60 at once,
///   then one a second.
/// - **Client address**: an IPv4 address, or the /64 prefix of an IPv6 one (RFC 4291 2.5.4:
///   one host, or one customer, usually has a whole /64); an IPv4-mapped IPv6 address
///   (RFC 4291 2.5.5.2) counts as its IPv4 address.
/// - **Table**: at most 16 384 clients. An entry goes when its client has no session and its
///   minute is over (nothing is forgotten then); when the table is full the client idle the
///   longest is forgotten, and if every client in it has sessions running, a new client is
///   refused until one ends.
/// - **Exempt networks**: none by default. A client in one of them ([`exempt`](Self::exempt))
///   is not counted at all, as Postfix exempts `mynetworks` from `anvil`'s limits: the session
///   limit of each listener still holds for it.
///
/// The setters make a new table: set the limits first, then hand out clones of the handle.
///
/// A refused connection is answered before it is closed (SMTP `421 4.7.0`, POP3
/// `-ERR [SYS/TEMP]`; on an implicit TLS listener, inside TLS once the client has completed
/// the handshake, as the servers' `serve` docs say). The refusals are counted
/// ([`refused`](Self::refused)) for the application to log.
///
/// ```
/// use std::time::Duration;
/// use mail_io::{ClientLimits, ServeOptions};
///
/// let limits = ClientLimits::new()
///     .max_sessions_per_client(10)
///     .connections_per_minute(30);
/// let smtp = ServeOptions::new().client_limits(limits.clone());
/// let pop3 = ServeOptions::new().client_limits(limits.clone());
/// assert_eq!(limits.clients(), 0);
/// # let _ = (smtp, pop3);
/// ```
///
/// [`ServeOptions::client_limits`]: crate::ServeOptions::client_limits
#[derive(Clone)]
pub struct ClientLimits {
    shared: Arc<Shared>,
}

/// The settings and the table.
struct Shared {
    settings: Settings,
    /// Networks whose clients are not counted.
    exempt: Vec<Network>,
    table: Mutex<Table>,
}

#[derive(Debug, Clone, Copy)]
struct Settings {
    max_sessions: usize,
    per_minute: u32,
    window: Duration,
    max_clients: usize,
}

/// The clients seen in the last window, and the counts of refusals.
struct Table {
    clients: HashMap<ClientKey, Client>,
    /// When idle entries are next swept out.
    next_sweep: Option<Instant>,
    refused: ClientRefusals,
}

/// One client's sessions running and its place in the rate.
#[derive(Debug, Clone, Copy)]
struct Client {
    sessions: usize,
    /// The generic cell rate algorithm's "theoretical arrival time": a connection is allowed
    /// while this lies at most a window ahead of now; each one moves it a window / rate on.
    due: Instant,
}

/// A client address as the limits count it: IPv4 whole, IPv6 by its /64 prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum ClientKey {
    V4(u32),
    V6(u64),
}

impl From<IpAddr> for ClientKey {
    fn from(address: IpAddr) -> Self {
        match address {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::V4(u32::from(v4)),
                // The upper 64 bits: the network prefix (RFC 4291 2.5.4).
                None => Self::V6((u128::from(v6) >> 64) as u64),
            },
        }
    }
}

/// Connections refused by a [`ClientLimits`] since it was made, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientRefusals {
    /// The client had as many sessions running as it may.
    pub sessions: u64,
    /// The client opened connections faster than it may.
    pub rate: u64,
    /// The table was full of clients with sessions running.
    pub table_full: u64,
    /// The client address refused last.
    pub last: Option<IpAddr>,
}

impl ClientRefusals {
    /// All the refusals, whatever the reason.
    pub fn total(&self) -> u64 {
        self.sessions
            .saturating_add(self.rate)
            .saturating_add(self.table_full)
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    Sessions,
    Rate,
    TableFull,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self::with(Settings {
            max_sessions: 50,
            per_minute: 60,
            window: Duration::from_secs(60),
            max_clients: 16_384,
        })
    }
}

impl fmt::Debug for ClientLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let settings = &self.shared.settings;
        f.debug_struct("ClientLimits")
            .field("max_sessions_per_client", &settings.max_sessions)
            .field("connections_per_minute", &settings.per_minute)
            .field("max_clients", &settings.max_clients)
            .field("clients", &self.clients())
            .finish()
    }
}

impl ClientLimits {
    /// The defaults: 50 sessions at once and 60 new connections a minute per client, 16 384
    /// clients in the table.
    pub fn new() -> Self {
        Self::default()
    }

    /// No limit per client at all, no headroom either (the table stays empty): what
    /// [`max_sessions_per_client`](Self::max_sessions_per_client) and
    /// [`connections_per_minute`](Self::connections_per_minute) both 0 give.
    pub fn unlimited() -> Self {
        Self::new()
            .max_sessions_per_client(0)
            .connections_per_minute(0)
    }

    fn with(settings: Settings) -> Self {
        Self::with_exempt(settings, Vec::new())
    }

    fn with_exempt(settings: Settings, exempt: Vec<Network>) -> Self {
        Self {
            shared: Arc::new(Shared {
                settings,
                exempt,
                table: Mutex::new(Table {
                    clients: HashMap::new(),
                    next_sweep: None,
                    refused: ClientRefusals::default(),
                }),
            }),
        }
    }

    /// A fresh table with these settings: the handle is built before it is shared.
    fn set(self, change: impl FnOnce(&mut Settings)) -> Self {
        let mut settings = self.shared.settings;
        change(&mut settings);
        Self::with_exempt(settings, self.shared.exempt.clone())
    }

    /// Clients in `network` are exempt from these limits (repeat for more networks): their
    /// connections are neither refused nor counted here (Postfix's `mynetworks`, Dovecot's
    /// `login_trusted_networks`).
    pub fn exempt(self, network: Network) -> Self {
        let mut exempt = self.shared.exempt.clone();
        exempt.push(network);
        Self::with_exempt(self.shared.settings, exempt)
    }

    /// Whether `address` lies in an exempt network.
    pub fn is_exempt(&self, address: IpAddr) -> bool {
        self.shared
            .exempt
            .iter()
            .any(|network| network.contains(address))
    }

    /// Sessions at once per client; 0: no limit (each listener still keeps half its session
    /// limit for the other clients, unless the rate is unlimited too).
    pub fn max_sessions_per_client(self, sessions: usize) -> Self {
        self.set(|settings| settings.max_sessions = sessions)
    }

    /// New connections a minute per client (the first minute's worth may come at once); 0: no
    /// limit.
    pub fn connections_per_minute(self, connections: u32) -> Self {
        self.set(|settings| settings.per_minute = connections)
    }

    /// The rate over another window than a minute (tests): `connections` per `window`.
    pub fn connections_per(self, connections: u32, window: Duration) -> Self {
        self.set(|settings| {
            settings.per_minute = connections;
            settings.window = window.max(Duration::from_millis(1));
        })
    }

    /// Clients the table holds at most (at least 1): 16 384 by default, about a megabyte.
    pub fn max_clients(self, clients: usize) -> Self {
        self.set(|settings| settings.max_clients = clients.max(1))
    }

    /// Sessions at once per client (0: no limit).
    pub fn sessions_per_client(&self) -> usize {
        self.shared.settings.max_sessions
    }

    /// New connections a minute per client (0: no limit).
    pub fn per_minute(&self) -> u32 {
        self.shared.settings.per_minute
    }

    /// Clients in the table now.
    pub fn clients(&self) -> usize {
        self.lock().clients.len()
    }

    /// Connections refused so far.
    pub fn refused(&self) -> ClientRefusals {
        self.lock().refused
    }

    /// Sessions running now for the client at `address`.
    pub fn sessions_of(&self, address: IpAddr) -> usize {
        self.lock()
            .clients
            .get(&ClientKey::from(address))
            .map_or(0, |client| client.sessions)
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        // The table stays consistent at every step: a panic elsewhere cannot break it.
        self.shared
            .table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn unlimited_here(&self) -> bool {
        let settings = &self.shared.settings;
        settings.max_sessions == 0 && settings.per_minute == 0
    }

    /// Admits a new connection from `address` on a listener running at most `listener_max`
    /// sessions, or says why not (and counts the refusal). The permit holds the client's
    /// session until it is dropped.
    pub(crate) fn admit(
        &self,
        address: IpAddr,
        listener_max: usize,
        now: Instant,
    ) -> Result<ClientPermit, Refusal> {
        let settings = self.shared.settings;
        if self.unlimited_here() || self.is_exempt(address) {
            return Ok(ClientPermit {
                key: None,
                spent: Duration::ZERO,
            });
        }
        // Headroom: one client never takes more than half of a listener's sessions.
        let headroom = (listener_max / 2).max(1);
        let max_sessions = match settings.max_sessions {
            0 => headroom,
            max => max.min(headroom),
        };
        // A listener of one session at most has no room to keep: its own limit speaks.
        let max_sessions = if max_sessions >= listener_max {
            usize::MAX
        } else {
            max_sessions
        };
        let key = ClientKey::from(address);
        let mut table = self.lock();
        let verdict = table.admit(key, &settings, max_sessions, now);
        match verdict {
            Ok(spent) => Ok(ClientPermit {
                key: Some((key, self.clone())),
                spent,
            }),
            Err(refusal) => {
                let refused = &mut table.refused;
                let count = match refusal {
                    Refusal::Sessions => &mut refused.sessions,
                    Refusal::Rate => &mut refused.rate,
                    Refusal::TableFull => &mut refused.table_full,
                };
                *count = count.saturating_add(1);
                refused.last = Some(address);
                Err(refusal)
            }
        }
    }

    /// Ends a session of the client at `key`, and gives back the `spent` part of its rate.
    fn release(&self, key: ClientKey, spent: Duration) {
        let mut table = self.lock();
        if let Some(client) = table.clients.get_mut(&key) {
            client.sessions = client.sessions.saturating_sub(1);
            if let Some(due) = client.due.checked_sub(spent) {
                client.due = due;
            }
        }
    }
}

impl Table {
    fn admit(
        &mut self,
        key: ClientKey,
        settings: &Settings,
        max_sessions: usize,
        now: Instant,
    ) -> Result<Duration, Refusal> {
        if self.next_sweep.is_none_or(|next| now >= next) {
            self.sweep(now);
            self.next_sweep = now.checked_add(settings.window);
        }
        if !self.clients.contains_key(&key) && self.clients.len() >= settings.max_clients {
            self.sweep(now);
            if self.clients.len() >= settings.max_clients && !self.forget_one() {
                return Err(Refusal::TableFull);
            }
        }
        let client = match self.clients.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => entry.insert(Client {
                sessions: 0,
                due: now,
            }),
        };
        if client.sessions >= max_sessions {
            return Err(Refusal::Sessions);
        }
        let mut spent = Duration::ZERO;
        if settings.per_minute > 0 {
            let interval = settings.window / settings.per_minute;
            let due = client.due.max(now).checked_add(interval);
            let limit = now.checked_add(settings.window);
            // Past what the clock can tell, nothing is limited.
            if let (Some(due), Some(limit)) = (due, limit) {
                if due > limit {
                    return Err(Refusal::Rate);
                }
                client.due = due;
                spent = interval;
            }
        }
        client.sessions = client.sessions.saturating_add(1);
        Ok(spent)
    }

    /// Drops the entries that hold nothing: no session, and a rate as fresh as a new client's.
    fn sweep(&mut self, now: Instant) {
        self.clients
            .retain(|_, client| client.sessions > 0 || client.due > now);
    }

    /// Forgets the client without sessions whose rate is closest to fresh; false if every
    /// client has sessions running.
    fn forget_one(&mut self) -> bool {
        let oldest = self
            .clients
            .iter()
            .filter(|(_, client)| client.sessions == 0)
            .min_by_key(|(_, client)| client.due)
            .map(|(key, _)| *key);
        oldest.is_some_and(|key| self.clients.remove(&key).is_some())
    }
}

/// One session of a client, counted until it is dropped.
pub(crate) struct ClientPermit {
    key: Option<(ClientKey, ClientLimits)>,
    /// The part of the client's rate this connection took, given back by
    /// [`refund`](Self::refund).
    spent: Duration,
}

impl ClientPermit {
    /// The connection was not served after all (the listener was full): the client gets back
    /// its session and the connection it spent of its rate, as if it had never come.
    pub(crate) fn refund(mut self) {
        if let Some((key, limits)) = self.key.take() {
            limits.release(key, self.spent);
        }
    }
}

impl Drop for ClientPermit {
    fn drop(&mut self) {
        if let Some((key, limits)) = self.key.take() {
            limits.release(key, Duration::ZERO);
        }
    }
}

/// An IP network, `ADDRESS/PREFIX` (RFC 4632 3.1 for IPv4, RFC 4291 2.3 for IPv6), or one
/// address alone (`/32`, `/128`): the form of [`ClientLimits::exempt`] and of post-office's
/// `--trusted-network`. An IPv4-mapped IPv6 address (RFC 4291 2.5.5.2) is taken as its IPv4
/// address, whether it is the network's or a client's.
///
/// ```
/// use mail_io::Network;
///
/// let network: Network = "192.0.2.0/24".parse().unwrap();
/// assert!(network.contains("192.0.2.77".parse().unwrap()));
/// assert!(network.contains("::ffff:192.0.2.77".parse().unwrap()));
/// assert!(!network.contains("198.51.100.1".parse().unwrap()));
/// assert_eq!(network.to_string(), "192.0.2.0/24");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Network {
    /// The address with its host bits cleared.
    address: IpAddr,
    prefix: u8,
}

/// Why a network did not parse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NetworkError {
    /// The part before `/` is not an IPv4 or IPv6 address.
    #[error("not an IP address")]
    Address,
    /// The part after `/` is not a number up to 32 (IPv4) or 128 (IPv6).
    #[error("not a prefix length up to 32 (IPv4) or 128 (IPv6)")]
    Prefix,
}

impl Network {
    /// The network of `address` with a `prefix`-bit mask; `None` past 32 (IPv4) or 128 (IPv6)
    /// bits. The host bits of `address` are cleared.
    pub fn new(address: IpAddr, prefix: u8) -> Option<Self> {
        let (address, prefix) = match address {
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                // ::ffff:0:0/96 and longer: the IPv4 network inside.
                Some(v4) if prefix >= 96 => (IpAddr::V4(v4), prefix - 96),
                _ => (IpAddr::V6(v6), prefix),
            },
            v4 => (v4, prefix),
        };
        let address = match address {
            IpAddr::V4(v4) => {
                if prefix > 32 {
                    return None;
                }
                let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask))
            }
            IpAddr::V6(v6) => {
                if prefix > 128 {
                    return None;
                }
                let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask))
            }
        };
        Some(Self { address, prefix })
    }

    /// Whether `address` lies in the network.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.address, address.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(v4)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(v4) & mask == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(v6)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(v6) & mask == u128::from(net)
            }
            _ => false,
        }
    }
}

impl FromStr for Network {
    type Err = NetworkError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (address, prefix) = match text.split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text, None),
        };
        let address: IpAddr = address.parse().map_err(|_| NetworkError::Address)?;
        let prefix = match prefix {
            // Digits only: `u8::from_str` would take a sign.
            Some(prefix) if !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_digit()) => {
                prefix.parse().map_err(|_| NetworkError::Prefix)?
            }
            Some(_) => return Err(NetworkError::Prefix),
            None if address.is_ipv4() => 32,
            None => 128,
        };
        Self::new(address, prefix).ok_or(NetworkError::Prefix)
    }
}

impl fmt::Display for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn v4(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    #[test]
    fn a_client_gets_its_sessions_at_once_and_one_more_is_refused_until_one_ends() {
        let limits = ClientLimits::new()
            .max_sessions_per_client(3)
            .connections_per_minute(0);
        let now = Instant::now();
        let held: Vec<_> = (0..3)
            .map(|_| limits.admit(v4(1), 1024, now).unwrap())
            .collect();
        assert_eq!(
            limits.admit(v4(1), 1024, now).err(),
            Some(Refusal::Sessions)
        );
        // Another client is not affected.
        assert!(limits.admit(v4(2), 1024, now).is_ok());
        drop(held);
        assert_eq!(limits.sessions_of(v4(1)), 0);
        assert!(limits.admit(v4(1), 1024, now).is_ok());
        assert_eq!(limits.refused().sessions, 1);
        assert_eq!(limits.refused().last, Some(v4(1)));
    }

    #[test]
    fn one_client_never_takes_more_than_half_of_a_listeners_sessions() {
        let limits = ClientLimits::new().max_sessions_per_client(0);
        let now = Instant::now();
        let held: Vec<_> = (0..5)
            .map(|_| limits.admit(v4(1), 10, now).unwrap())
            .collect();
        assert_eq!(limits.admit(v4(1), 10, now).err(), Some(Refusal::Sessions));
        assert!(limits.admit(v4(2), 10, now).is_ok());
        drop(held);
        // Unlimited: nothing counted, no headroom kept.
        let unlimited = ClientLimits::unlimited();
        let held: Vec<_> = (0..10)
            .map(|_| unlimited.admit(v4(1), 10, now).unwrap())
            .collect();
        assert_eq!(unlimited.clients(), 0);
        drop(held);
    }

    #[test]
    fn the_rate_allows_a_windows_worth_at_once_then_one_per_interval() {
        let limits = ClientLimits::new()
            .max_sessions_per_client(0)
            .connections_per_minute(60);
        let start = Instant::now();
        for _ in 0..60 {
            drop(limits.admit(v4(1), 1024, start).unwrap());
        }
        assert_eq!(limits.admit(v4(1), 1024, start).err(), Some(Refusal::Rate));
        // Half a second later: still none; a second later: one.
        let half = start + Duration::from_millis(500);
        assert_eq!(limits.admit(v4(1), 1024, half).err(), Some(Refusal::Rate));
        let second = start + Duration::from_secs(1);
        assert!(limits.admit(v4(1), 1024, second).is_ok());
        assert_eq!(limits.admit(v4(1), 1024, second).err(), Some(Refusal::Rate));
        // A minute of quiet: a whole minute's worth again.
        let later = second + Duration::from_secs(60);
        for _ in 0..60 {
            drop(limits.admit(v4(1), 1024, later).unwrap());
        }
        assert_eq!(limits.refused().rate, 3);
    }

    #[test]
    fn ipv6_clients_count_by_their_64_prefix_and_mapped_ipv4_as_ipv4() {
        let limits = ClientLimits::new()
            .max_sessions_per_client(1)
            .connections_per_minute(0);
        let now = Instant::now();
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        let _a = limits.admit(a, 1024, now).unwrap();
        assert_eq!(limits.admit(b, 1024, now).err(), Some(Refusal::Sessions));
        let _other = limits.admit(other, 1024, now).unwrap();
        let _v4 = limits.admit(v4(7), 1024, now).unwrap();
        let mapped = IpAddr::V6(Ipv4Addr::new(192, 0, 2, 7).to_ipv6_mapped());
        assert_eq!(
            limits.admit(mapped, 1024, now).err(),
            Some(Refusal::Sessions)
        );
        assert_eq!(ClientKey::from(IpAddr::V6(Ipv6Addr::LOCALHOST)), {
            ClientKey::V6(0)
        });
    }

    #[test]
    fn the_table_stays_bounded_forgetting_idle_clients_first() {
        let limits = ClientLimits::new()
            .max_sessions_per_client(5)
            .connections_per_minute(10)
            .max_clients(4);
        let now = Instant::now();
        // Two clients hold sessions; many others come and go.
        let _one = limits.admit(v4(1), 1024, now).unwrap();
        let _two = limits.admit(v4(2), 1024, now).unwrap();
        for last in 3..=200 {
            drop(limits.admit(v4(last), 1024, now).unwrap());
            assert!(limits.clients() <= 4);
        }
        // The clients with sessions were kept.
        assert_eq!(limits.sessions_of(v4(1)), 1);
        assert_eq!(limits.sessions_of(v4(2)), 1);
        // Once the minute is over, the idle ones are swept out.
        let later = now + Duration::from_secs(61);
        drop(limits.admit(v4(1), 1024, later).unwrap());
        assert_eq!(limits.clients(), 2);
    }

    #[test]
    fn a_table_full_of_clients_with_sessions_refuses_a_new_client() {
        let limits = ClientLimits::new().max_clients(2);
        let now = Instant::now();
        let _one = limits.admit(v4(1), 1024, now).unwrap();
        let two = limits.admit(v4(2), 1024, now).unwrap();
        assert_eq!(
            limits.admit(v4(3), 1024, now).err(),
            Some(Refusal::TableFull)
        );
        // A known client still gets in.
        assert!(limits.admit(v4(1), 1024, now).is_ok());
        drop(two);
        assert!(limits.admit(v4(3), 1024, now).is_ok());
        assert_eq!(limits.refused().table_full, 1);
    }

    #[test]
    fn shared_handles_count_together() {
        let limits = ClientLimits::new().max_sessions_per_client(1);
        let other = limits.clone();
        let now = Instant::now();
        let _held = limits.admit(v4(1), 1024, now).unwrap();
        assert_eq!(other.admit(v4(1), 1024, now).err(), Some(Refusal::Sessions));
        assert_eq!(other.refused().total(), 1);
    }

    #[test]
    fn a_client_in_an_exempt_network_is_neither_refused_nor_counted() {
        let limits = ClientLimits::new()
            .exempt("192.0.2.0/28".parse().unwrap())
            .max_sessions_per_client(1)
            .connections_per_minute(1);
        let now = Instant::now();
        let held: Vec<_> = (0..100)
            .map(|_| limits.admit(v4(1), 1024, now).unwrap())
            .collect();
        // IPv4-mapped IPv6 counts as its IPv4 address.
        let mapped: IpAddr = "::ffff:192.0.2.15".parse().unwrap();
        assert!(limits.admit(mapped, 1024, now).is_ok());
        assert_eq!(limits.sessions_of(v4(1)), 0);
        assert_eq!(limits.clients(), 0);
        // Outside the network (192.0.2.16 is past the /28) the limits hold.
        let _outside = limits.admit(v4(16), 1024, now).unwrap();
        assert_eq!(
            limits.admit(v4(16), 1024, now).err(),
            Some(Refusal::Sessions)
        );
        drop(held);
    }

    #[test]
    fn a_refunded_permit_gives_back_the_session_and_the_rate() {
        let limits = ClientLimits::new().connections_per_minute(2);
        let now = Instant::now();
        for _ in 0..10 {
            limits.admit(v4(1), 1024, now).unwrap().refund();
        }
        assert_eq!(limits.sessions_of(v4(1)), 0);
        // The whole minute's worth is still there; a dropped (served) permit spends it.
        drop(limits.admit(v4(1), 1024, now).unwrap());
        drop(limits.admit(v4(1), 1024, now).unwrap());
        assert_eq!(limits.admit(v4(1), 1024, now).err(), Some(Refusal::Rate));
    }

    #[test]
    fn networks_parse_mask_and_match_by_family() {
        let network: Network = "10.1.2.3/8".parse().unwrap();
        assert_eq!(network.to_string(), "10.0.0.0/8");
        assert!(network.contains("10.255.0.1".parse().unwrap()));
        assert!(!network.contains("11.0.0.1".parse().unwrap()));
        assert!(!network.contains("::a01:203".parse().unwrap()));
        let host: Network = "192.0.2.1".parse().unwrap();
        assert_eq!(host.to_string(), "192.0.2.1/32");
        let any: Network = "0.0.0.0/0".parse().unwrap();
        assert!(any.contains(v4(9)));
        let v6: Network = "2001:db8:1::/48".parse().unwrap();
        assert!(v6.contains("2001:db8:1:ffff::1".parse().unwrap()));
        assert!(!v6.contains("2001:db8:2::1".parse().unwrap()));
        let mapped: Network = "::ffff:192.0.2.0/120".parse().unwrap();
        assert_eq!(mapped.to_string(), "192.0.2.0/24");
        assert!("::/128".parse::<Network>().is_ok());
        for (bad, error) in [
            ("192.0.2.0/33", NetworkError::Prefix),
            ("2001:db8::/129", NetworkError::Prefix),
            ("192.0.2.0/", NetworkError::Prefix),
            ("192.0.2.0/+8", NetworkError::Prefix),
            ("192.0.2.0/999", NetworkError::Prefix),
            ("example.org/24", NetworkError::Address),
            ("", NetworkError::Address),
        ] {
            assert_eq!(bad.parse::<Network>(), Err(error), "{bad}");
        }
    }
}
