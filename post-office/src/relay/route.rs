//! Where a recipient domain's mail goes (RFC 5321 5.1): a configured route (`--route`), the
//! smart host (`--relayhost`), or the domain's MX records by preference, each MX host's A and
//! AAAA addresses in turn; the domain's own addresses when it has no MX (the implicit MX);
//! nowhere for a null MX (RFC 7505). DNS through hickory-resolver, with the system's servers
//! or the one `--resolver` names.

use std::collections::HashMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use hickory_resolver::config::{
    LookupIpStrategy, NameServerConfigGroup, ResolverConfig, ResolverOpts,
};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::{Name, ResolveError, TokioResolver};
use tracing::warn;

/// RFC 5321 5.1 has the client try several addresses, and lets it cap how many: at most this
/// many per attempt, across every MX host (Postfix's `smtp_mx_address_limit` is 5; ours also
/// covers a host with both A and AAAA records).
pub const MAX_ADDRESSES: usize = 10;

/// MX records considered at most (the DNS message bounds them anyway; this bounds our work).
const MAX_MX: usize = 32;

/// How long one DNS query may take before the resolver tries again (and how many times).
const DNS_TIMEOUT: Duration = Duration::from_secs(5);
const DNS_ATTEMPTS: usize = 2;

/// A next hop as configured: `HOST:PORT` or `[ADDRESS]:PORT` (`--route`, `--relayhost`).
/// A host name is looked up for its A and AAAA records, never for MX (Postfix's `[host]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Relay {
    /// The host: a name or an address.
    pub host: RelayHost,
    /// The port.
    pub port: u16,
}

/// The host of a [`Relay`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RelayHost {
    /// A DNS name, looked up for A / AAAA.
    Name(String),
    /// An address, used as it is.
    Address(IpAddr),
}

impl FromStr for Relay {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (host, port) = text
            .rsplit_once(':')
            .ok_or_else(|| format!("expected HOST:PORT or [ADDRESS]:PORT, got {text:?}"))?;
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)
            .ok_or_else(|| format!("bad port in {text:?}"))?;
        let host =
            if let Some(inner) = host.strip_prefix('[') {
                let inner = inner
                    .strip_suffix(']')
                    .ok_or_else(|| format!("unclosed [ in {text:?}"))?;
                RelayHost::Address(literal_address(inner).ok_or_else(|| {
                    format!("{inner:?} in {text:?} is not an IPv4 or IPv6 address")
                })?)
            } else if let Ok(address) = host.parse::<IpAddr>() {
                RelayHost::Address(address)
            } else if !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_')
            {
                RelayHost::Name(host.trim_end_matches('.').to_ascii_lowercase())
            } else {
                return Err(format!("bad host in {text:?}"));
            };
        Ok(Self { host, port })
    }
}

/// `--route DOMAIN=HOST:PORT`: mail for exactly `DOMAIN` goes to that hop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteArg {
    /// The recipient domain (lower case, without a final dot).
    pub domain: String,
    /// Where its mail goes.
    pub relay: Relay,
}

impl FromStr for RouteArg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let (domain, relay) = text
            .split_once('=')
            .ok_or_else(|| format!("expected DOMAIN=HOST:PORT, got {text:?}"))?;
        let domain = normalize(domain);
        if domain.is_empty() {
            return Err(format!("empty domain in {text:?}"));
        }
        Ok(Self {
            domain,
            relay: relay.parse()?,
        })
    }
}

/// A domain as routes are keyed: lower case, without a final dot.
pub fn normalize(domain: &str) -> String {
    domain.trim().trim_end_matches('.').to_lowercase()
}

/// The address of an address literal's inside (`192.0.2.1`, `IPv6:2001:db8::1`, and `::1`
/// as `--route` also takes it): RFC 5321 4.1.3.
fn literal_address(inner: &str) -> Option<IpAddr> {
    let ipv6 = inner
        .get(..5)
        .filter(|tag| tag.eq_ignore_ascii_case("IPv6:"))
        .and_then(|_| inner.get(5..));
    match ipv6 {
        Some(rest) => rest.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6),
        None => inner.parse().ok(),
    }
}

/// One address to try, and the name it was found under (the MX host, the route's host, the
/// domain for an implicit MX, the literal): the `Remote-MTA` of a DSN (RFC 3464 2.3.5) and
/// the name a certificate must carry when TLS is verified (RFC 8689 4.2.1 step 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hop {
    /// `mx1.example.org`, or `[192.0.2.1]` for an address.
    pub name: String,
    /// Where to connect.
    pub address: SocketAddr,
}

/// Why a domain has nowhere to go now: an RFC 3463 status and our explanation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NoRoute {
    /// `5.1.2`, `5.1.10`, `4.4.3`...
    pub status: &'static str,
    /// What went wrong, for the log and the DSN.
    pub explanation: String,
}

/// Where a domain's mail goes, found by [`Router::route`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The addresses to try, in order (at most [`MAX_ADDRESSES`]).
    Hops(Vec<Hop>),
    /// Nowhere, for good: NXDOMAIN (5.1.2), a null MX (5.1.10), MX hosts without addresses
    /// (5.4.4), an MX list that leads back here (5.4.6).
    Failed(NoRoute),
    /// Nowhere for now: the DNS failed (SERVFAIL, a timeout, a refusal: 4.4.3).
    Deferred(NoRoute),
}

/// What a failed DNS lookup means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lookup {
    /// The name does not exist (NXDOMAIN).
    NoSuchName,
    /// The name exists without records of the type asked (NOERROR, no answer).
    NoRecords,
    /// SERVFAIL, REFUSED, a timeout, no server reachable: try again later.
    Temporary,
}

fn classify(error: &ResolveError) -> Lookup {
    match error.proto().map(|proto| proto.kind()) {
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => match *response_code {
            ResponseCode::NXDomain => Lookup::NoSuchName,
            ResponseCode::NoError => Lookup::NoRecords,
            _ => Lookup::Temporary,
        },
        _ => Lookup::Temporary,
    }
}

/// The routing table and the resolver.
pub struct Router {
    /// `--route`, by domain.
    routes: HashMap<String, Relay>,
    /// `--relayhost`.
    relayhost: Option<Relay>,
    /// `--relay-port`: for MX hosts, implicit MX and address literals.
    port: u16,
    /// Our own name (lower case): an MX list that names it is cut there (RFC 5321 5.1).
    hostname: String,
    resolver: TokioResolver,
}

impl Router {
    /// A router with these routes, the DNS server `resolver` (UDP, then TCP for truncated
    /// answers) or the system's (`/etc/resolv.conf`).
    pub fn new(
        routes: &[RouteArg],
        relayhost: Option<Relay>,
        port: u16,
        hostname: &str,
        resolver: Option<SocketAddr>,
    ) -> Self {
        Self {
            routes: routes
                .iter()
                .map(|route| (route.domain.clone(), route.relay.clone()))
                .collect(),
            relayhost,
            port,
            hostname: normalize(hostname),
            resolver: build_resolver(resolver),
        }
    }

    /// Whether mail for `domain` goes to a hop the operator named (`--route`, `--relayhost`),
    /// not to one found in the DNS: RFC 8689 4.2.1 trusts such a name for REQUIRETLS, where
    /// an MX found without DNSSEC or MTA-STS is not to be trusted.
    pub fn is_configured(&self, domain: &str) -> bool {
        let domain = domain.trim();
        !domain.starts_with('[')
            && (self.routes.contains_key(&normalize(domain)) || self.relayhost.is_some())
    }

    /// Where mail for `domain` (a domain, or an address literal `[192.0.2.1]`) goes now.
    pub async fn route(&self, domain: &str) -> Route {
        if let Some(inner) = domain
            .trim()
            .strip_prefix('[')
            .and_then(|rest| rest.strip_suffix(']'))
        {
            return match literal_address(inner) {
                Some(address) => Route::Hops(vec![Hop {
                    name: format!("[{inner}]"),
                    address: SocketAddr::new(address, self.port),
                }]),
                None => Route::Failed(NoRoute {
                    status: "5.1.2",
                    explanation: format!("{domain} is not an address this server can reach"),
                }),
            };
        }
        let key = normalize(domain);
        if let Some(relay) = self.routes.get(&key).or(self.relayhost.as_ref()) {
            return self.relay(relay).await;
        }
        self.mx(&key).await
    }

    /// A configured hop: its address, or its name's addresses. A name that does not resolve
    /// is a configuration problem, never the recipient's: deferred.
    async fn relay(&self, relay: &Relay) -> Route {
        match &relay.host {
            RelayHost::Address(address) => Route::Hops(vec![Hop {
                name: format!("[{address}]"),
                address: SocketAddr::new(*address, relay.port),
            }]),
            RelayHost::Name(name) => {
                let mut hops = Vec::new();
                match self.addresses(name, relay.port, &mut hops).await {
                    Ok(()) if !hops.is_empty() => Route::Hops(hops),
                    Ok(()) => Route::Deferred(NoRoute {
                        status: "4.4.3",
                        explanation: format!("relay host {name} has no address"),
                    }),
                    Err(lookup) => Route::Deferred(NoRoute {
                        status: "4.4.3",
                        explanation: format!("relay host {name}: {}", describe(lookup)),
                    }),
                }
            }
        }
    }

    /// RFC 5321 5.1: the MX records by preference (random among equals), each host's
    /// addresses in turn; the domain's own when it has no MX; RFC 7505's null MX.
    async fn mx(&self, domain: &str) -> Route {
        let Ok(mut name) = Name::from_utf8(domain) else {
            return Route::Failed(NoRoute {
                status: "5.1.2",
                explanation: format!("{domain} is not a domain name"),
            });
        };
        name.set_fqdn(true);
        let records = match self.resolver.mx_lookup(name).await {
            Ok(lookup) => lookup
                .iter()
                .take(MAX_MX)
                .map(|mx| (mx.preference(), mx.exchange().clone()))
                .collect::<Vec<_>>(),
            Err(error) => match classify(&error) {
                Lookup::NoRecords => Vec::new(),
                Lookup::NoSuchName => {
                    return Route::Failed(NoRoute {
                        status: "5.1.2",
                        explanation: format!("{domain}: no such domain (NXDOMAIN)"),
                    });
                }
                Lookup::Temporary => {
                    return Route::Deferred(NoRoute {
                        status: "4.4.3",
                        explanation: format!("{domain}: MX lookup failed: {error}"),
                    });
                }
            },
        };
        if records.is_empty() {
            return self.implicit_mx(domain).await;
        }
        // RFC 7505 3: a null MX (preference 0, exchange ".") says the domain takes no mail;
        // only alongside other MX records is it ignored.
        let mut hosts: Vec<(u16, String)> = records
            .iter()
            .filter(|(_, exchange)| !exchange.is_root())
            .map(|(preference, exchange)| (*preference, normalize(&exchange.to_ascii())))
            .collect();
        if hosts.is_empty() {
            return Route::Failed(NoRoute {
                status: "5.1.10",
                explanation: format!("{domain} accepts no mail (null MX, RFC 7505)"),
            });
        }
        order_by_preference(&mut hosts);
        // RFC 5321 5.1: if we are one of the MX hosts, only those more preferred than us may
        // be tried; none left is a loop.
        if let Some(ours) = hosts
            .iter()
            .find(|(_, host)| *host == self.hostname)
            .map(|(preference, _)| *preference)
        {
            hosts.retain(|(preference, _)| *preference < ours);
            if hosts.is_empty() {
                return Route::Failed(NoRoute {
                    status: "5.4.6",
                    explanation: format!("mail for {domain} loops back to this server (MX)"),
                });
            }
        }
        let mut hops = Vec::new();
        let mut temporary = None;
        for (_, host) in &hosts {
            if hops.len() >= MAX_ADDRESSES {
                break;
            }
            if let Err(lookup) = self.addresses(host, self.port, &mut hops).await {
                if lookup == Lookup::Temporary {
                    temporary = Some(host.clone());
                }
            }
        }
        match (hops.is_empty(), temporary) {
            (false, _) => Route::Hops(hops),
            (true, Some(host)) => Route::Deferred(NoRoute {
                status: "4.4.3",
                explanation: format!("{domain}: address lookup of MX host {host} failed"),
            }),
            (true, None) => Route::Failed(NoRoute {
                status: "5.4.4",
                explanation: format!("{domain}: no MX host has an address"),
            }),
        }
    }

    /// RFC 5321 5.1: no MX records, the domain itself is the host.
    async fn implicit_mx(&self, domain: &str) -> Route {
        let mut hops = Vec::new();
        match self.addresses(domain, self.port, &mut hops).await {
            Ok(()) if !hops.is_empty() => Route::Hops(hops),
            Err(Lookup::Temporary) => Route::Deferred(NoRoute {
                status: "4.4.3",
                explanation: format!("{domain}: address lookup failed"),
            }),
            _ => Route::Failed(NoRoute {
                status: "5.4.4",
                explanation: format!("{domain} has no MX and no address record"),
            }),
        }
    }

    /// Appends `host`'s A and then AAAA addresses to `hops`, up to [`MAX_ADDRESSES`] in all.
    async fn addresses(&self, host: &str, port: u16, hops: &mut Vec<Hop>) -> Result<(), Lookup> {
        let Ok(mut name) = Name::from_utf8(host) else {
            return Err(Lookup::NoSuchName);
        };
        name.set_fqdn(true);
        let found = self
            .resolver
            .lookup_ip(name)
            .await
            .map_err(|error| classify(&error))?;
        // A before AAAA, each in the order the answer gave: the two queries run at once, and
        // whichever answered first must not decide the order of the hops.
        let mut addresses: Vec<_> = found.iter().collect();
        addresses.sort_by_key(std::net::IpAddr::is_ipv6);
        for address in addresses {
            if hops.len() >= MAX_ADDRESSES {
                break;
            }
            let address = SocketAddr::new(address, port);
            if !hops.iter().any(|hop| hop.address == address) {
                hops.push(Hop {
                    name: host.to_string(),
                    address,
                });
            }
        }
        Ok(())
    }
}

fn describe(lookup: Lookup) -> &'static str {
    match lookup {
        Lookup::NoSuchName => "no such name (NXDOMAIN)",
        Lookup::NoRecords => "no address record",
        Lookup::Temporary => "lookup failed (temporary DNS error)",
    }
}

/// Sorts by preference, shuffling hosts of equal preference (RFC 5321 5.1: "the client
/// SHOULD select randomly among them" to spread the load).
fn order_by_preference(hosts: &mut [(u16, String)]) {
    hosts.sort_by_key(|(preference, _)| *preference);
    let mut start = 0;
    while start < hosts.len() {
        let preference = hosts.get(start).map(|(p, _)| *p);
        let end = hosts
            .iter()
            .skip(start)
            .position(|(p, _)| Some(*p) != preference)
            .map_or(hosts.len(), |offset| start + offset);
        if let Some(group) = hosts.get_mut(start..end) {
            shuffle(group);
        }
        start = end;
    }
}

/// Fisher-Yates with the standard library's per-process random hash keys as the source: no
/// cryptographic quality needed, only a different order from run to run.
fn shuffle<T>(items: &mut [T]) {
    let state = RandomState::new();
    for i in (1..items.len()).rev() {
        let mut hasher = state.build_hasher();
        hasher.write_usize(i);
        let j = usize::try_from(hasher.finish() % (i as u64 + 1)).unwrap_or(0);
        items.swap(i, j);
    }
}

/// The resolver: `server` (UDP, TCP when an answer is truncated), or the system's. A system
/// configuration that cannot be read is logged, and every lookup then fails for now (mail is
/// deferred, never bounced).
fn build_resolver(server: Option<SocketAddr>) -> TokioResolver {
    let provider = TokioConnectionProvider::default();
    let mut builder = match server {
        Some(server) => {
            let servers =
                NameServerConfigGroup::from_ips_clear(&[server.ip()], server.port(), true);
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, Vec::new(), servers),
                provider,
            )
        }
        None => match TokioResolver::builder_tokio() {
            Ok(builder) => builder,
            Err(error) => {
                warn!(%error, "reading the system's DNS configuration: relaying will be deferred");
                TokioResolver::builder_with_config(ResolverConfig::new(), provider)
            }
        },
    };
    let options: &mut ResolverOpts = builder.options_mut();
    options.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    options.timeout = DNS_TIMEOUT;
    options.attempts = DNS_ATTEMPTS;
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs a future on a runtime of its own (the crate's tokio has no `macros` feature).
    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
            .block_on(future)
    }

    #[test]
    fn relays_parse_names_addresses_and_literals() {
        let relay: Relay = "Smart.Example.:2525".parse().expect("a relay");
        assert_eq!(relay.host, RelayHost::Name("smart.example".into()));
        assert_eq!(relay.port, 2525);
        let relay: Relay = "[::1]:25".parse().expect("a relay");
        assert_eq!(relay.host, RelayHost::Address("::1".parse().expect("ip")));
        let relay: Relay = "[IPv6:2001:db8::1]:25".parse().expect("a relay");
        assert_eq!(
            relay.host,
            RelayHost::Address("2001:db8::1".parse().expect("ip"))
        );
        let relay: Relay = "192.0.2.1:587".parse().expect("a relay");
        assert_eq!(
            relay.host,
            RelayHost::Address("192.0.2.1".parse().expect("ip"))
        );
        for bad in [
            "host",
            "host:0",
            "host:x",
            ":25",
            "[nope]:25",
            "[::1:25",
            "a b:25",
        ] {
            assert!(bad.parse::<Relay>().is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn routes_are_keyed_by_lower_case_domain() {
        let route: RouteArg = "B.Example.=[127.0.0.1]:2525".parse().expect("a route");
        assert_eq!(route.domain, "b.example");
        assert!("=[127.0.0.1]:25".parse::<RouteArg>().is_err());
        assert!("b.example".parse::<RouteArg>().is_err());
    }

    #[test]
    fn equal_preferences_are_shuffled_within_their_rank_only() {
        let mut seen_first = std::collections::HashSet::new();
        for _ in 0..200 {
            let mut hosts = vec![
                (20, "c".to_string()),
                (10, "a".to_string()),
                (10, "b".to_string()),
                (30, "d".to_string()),
            ];
            order_by_preference(&mut hosts);
            let preferences: Vec<u16> = hosts.iter().map(|(p, _)| *p).collect();
            assert_eq!(preferences, [10, 10, 20, 30]);
            assert_eq!(hosts.get(2).map(|(_, h)| h.as_str()), Some("c"));
            seen_first.insert(hosts.first().map(|(_, h)| h.clone()));
            if seen_first.len() == 2 {
                return;
            }
        }
        panic!("200 shuffles never put b first");
    }

    #[test]
    fn address_literals_go_to_their_address() {
        block_on(address_literals())
    }

    async fn address_literals() {
        let router = Router::new(&[], None, 2525, "localhost", None);
        assert_eq!(
            router.route("[127.0.0.1]").await,
            Route::Hops(vec![Hop {
                name: "[127.0.0.1]".into(),
                address: "127.0.0.1:2525".parse().expect("address"),
            }])
        );
        assert_eq!(
            router.route("[IPv6:::1]").await,
            Route::Hops(vec![Hop {
                name: "[IPv6:::1]".into(),
                address: "[::1]:2525".parse().expect("address"),
            }])
        );
        assert!(matches!(
            router.route("[x-tag:value]").await,
            Route::Failed(NoRoute {
                status: "5.1.2",
                ..
            })
        ));
    }

    #[test]
    fn a_route_beats_the_relayhost_and_the_relayhost_beats_mx() {
        block_on(precedence())
    }

    async fn precedence() {
        let routes = ["b.example=[127.0.0.2]:2600".parse().expect("a route")];
        let relayhost = Some("[127.0.0.3]:2700".parse().expect("a relay"));
        let router = Router::new(&routes, relayhost, 25, "localhost", None);
        let first = |route: Route| match route {
            Route::Hops(hops) => hops.first().map(|hop| hop.address),
            _ => None,
        };
        assert_eq!(
            first(router.route("B.example").await),
            Some("127.0.0.2:2600".parse().expect("address"))
        );
        assert_eq!(
            first(router.route("c.example").await),
            Some("127.0.0.3:2700".parse().expect("address"))
        );
    }
}
