//! Outbound SMTP: where a recipient domain's mail goes (routes, smart host, MX then A/AAAA,
//! RFC 5321 5.1: [`route`]) and one delivery attempt there with the smtp-proto client through
//! mail-io ([`deliver`]).
//!
//! TLS: STARTTLS whenever the next hop offers it, without checking its certificate
//! (opportunistic, RFC 3207 4.1 and RFC 7435: most MX hosts have certificates no public
//! authority signed); plaintext only when it is not offered. Verified TLS (the Web PKI roots,
//! or `--relay-ca`, and the certificate must name the host) is required for a message sent
//! with `REQUIRETLS` (RFC 8689 4.2.1: failing that on every host, it bounces with 5.7.10, or
//! 5.7.30 when no host offers REQUIRETLS) and for a domain named by `--route-tls` (failing
//! that, the message waits: 4.7.5).
//!
//! Sessions are reused: after its transactions a session waits a short while for the next
//! message to the same hop, with the same TLS ([`cache`]; `--relay-cache-time`,
//! `--relay-reuse-limit`, `--relay-reuse-time`).

mod cache;
pub mod cli;
mod deliver;
pub mod route;

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use mail_io::Shutdown;
use mail_io::tls::CertificateDer;

use crate::envelope::{Outcome, QueuedEnvelope};
pub use cache::CacheLimits;
pub use route::{Relay, Route, RouteArg, Router};

/// `serve`'s outbound options (and the hidden `route` and `relay` test commands').
#[derive(clap::Args, Clone, Debug, Default)]
pub struct OutboundArgs {
    /// Mail for exactly DOMAIN goes to HOST:PORT (or `[ADDRESS]:PORT`), whatever its MX
    /// records say; repeatable. HOST is looked up for A / AAAA records, never MX.
    #[arg(long = "route", value_name = "DOMAIN=HOST:PORT")]
    pub routes: Vec<RouteArg>,
    /// Mail for DOMAIN needs verified TLS (the Web PKI roots, or `--relay-ca`), whichever
    /// way it goes; without it the message waits (4.7.5). Repeatable.
    #[arg(long = "route-tls", value_name = "DOMAIN")]
    pub route_tls: Vec<String>,
    /// Every non-local domain without a `--route` goes to this smart host, `HOST:PORT` or
    /// `[ADDRESS]:PORT`, instead of its MX hosts.
    #[arg(long, value_name = "HOST:PORT")]
    pub relayhost: Option<Relay>,
    /// The port of MX hosts (and of implicit MX and address literal hosts).
    #[arg(long, default_value_t = 25)]
    pub relay_port: u16,
    /// The DNS server for MX and address lookups, `IP` or `IP:PORT` (UDP, then TCP for
    /// truncated answers); the system's (`/etc/resolv.conf`) without it.
    #[arg(long, value_name = "IP[:PORT]", value_parser = parse_resolver)]
    pub resolver: Option<SocketAddr>,
    /// Trust the certificates in this PEM file (instead of the Web PKI roots) where TLS must
    /// be verified (REQUIRETLS, `--route-tls`).
    #[arg(long, value_name = "FILE")]
    pub relay_ca: Option<PathBuf>,
    /// Seconds one delivery attempt may take in all (every host tried, every reply waited
    /// for); each reply also has its own RFC 5321 4.5.3.2 limit.
    #[arg(long, default_value_t = 900, value_parser = clap::value_parser!(u64).range(1..))]
    pub relay_timeout: u64,
    /// Seconds a TCP connection (and a TLS handshake) to a next hop may take.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    pub relay_connect_timeout: u64,
    /// Seconds a session to a next hop stays open after its last message, for the next one
    /// to the same hop with the same TLS (checked with RSET before use); 0: a new connection
    /// for every attempt. Idle sessions kept: at most `--relay-per-domain` per hop and TLS
    /// requirement, and `--relay-workers` in all (as Postfix's
    /// `smtp_connection_cache_time_limit`).
    #[arg(long, value_name = "SECONDS", default_value_t = 2, value_parser = clap::value_parser!(u64).range(0..=3600))]
    pub relay_cache_time: u64,
    /// Messages (transactions) one session to a next hop carries at most, counted as it goes
    /// back to the cache (a message of more than 100 recipients, several transactions, ends
    /// on the session it began on).
    #[arg(long, value_name = "N", default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    pub relay_reuse_limit: u32,
    /// Seconds after its connection after which a session to a next hop is not used again
    /// (as Postfix's `smtp_connection_reuse_time_limit`).
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=86400))]
    pub relay_reuse_time: u64,
}

/// `IP` or `IP:PORT` (`[IPv6]:PORT`), port 53 by default.
fn parse_resolver(text: &str) -> Result<SocketAddr, String> {
    text.parse::<SocketAddr>()
        .or_else(|_| text.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| format!("expected IP or IP:PORT, got {text:?}"))
}

impl OutboundArgs {
    /// The configuration these options give, with `hostname` for EHLO.
    pub fn config(&self, hostname: &str) -> OutboundConfig {
        OutboundConfig {
            hostname: hostname.to_string(),
            routes: self.routes.clone(),
            route_tls: self.route_tls.iter().map(|d| route::normalize(d)).collect(),
            relayhost: self.relayhost.clone(),
            port: self.relay_port,
            resolver: self.resolver,
            ca: self.relay_ca.clone(),
            attempt_timeout: Duration::from_secs(self.relay_timeout),
            connect_timeout: Duration::from_secs(self.relay_connect_timeout),
            cache: CacheLimits {
                idle: Duration::from_secs(self.relay_cache_time),
                transactions: self.relay_reuse_limit,
                age: Duration::from_secs(self.relay_reuse_time),
                ..CacheLimits::default()
            },
        }
    }
}

/// The outbound side's settings (from `serve`'s arguments: [`OutboundArgs::config`]).
#[derive(Clone, Debug)]
pub struct OutboundConfig {
    /// Our name in EHLO.
    pub hostname: String,
    /// `--route`: per-domain next hops.
    pub routes: Vec<RouteArg>,
    /// `--route-tls`: domains whose mail needs verified TLS (lower case).
    pub route_tls: Vec<String>,
    /// `--relayhost`: the smart host for every other domain.
    pub relayhost: Option<Relay>,
    /// `--relay-port`: the MX hosts' port (25).
    pub port: u16,
    /// `--resolver`: the DNS server; the system's when `None`.
    pub resolver: Option<SocketAddr>,
    /// `--relay-ca`: trust anchors for verified TLS instead of the Web PKI roots.
    pub ca: Option<PathBuf>,
    /// One attempt's bound, all hosts included.
    pub attempt_timeout: Duration,
    /// One connection's (and TLS handshake's) bound.
    pub connect_timeout: Duration,
    /// The connection cache's bounds.
    pub cache: CacheLimits,
}

impl Default for OutboundConfig {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            routes: Vec::new(),
            route_tls: Vec::new(),
            relayhost: None,
            port: 25,
            resolver: None,
            ca: None,
            attempt_timeout: Duration::from_secs(900),
            connect_timeout: Duration::from_secs(30),
            cache: CacheLimits::default(),
        }
    }
}

/// Delivers to other servers.
pub struct Outbound {
    config: OutboundConfig,
    router: Router,
    /// `--relay-ca`'s certificates, read once.
    ca: Option<Vec<CertificateDer<'static>>>,
    /// Idle sessions to next hops.
    cache: cache::Cache,
}

impl Outbound {
    /// The outbound side with `config`: fails if `--relay-ca` cannot be read.
    pub fn new(config: OutboundConfig) -> anyhow::Result<Self> {
        let ca = match &config.ca {
            Some(path) => Some(mail_io::tls::load_certificates(path)?),
            None => None,
        };
        let router = Router::new(
            &config.routes,
            config.relayhost.clone(),
            config.port,
            &config.hostname,
            config.resolver,
        );
        let cache = cache::Cache::new(config.cache);
        Ok(Self {
            config,
            router,
            ca,
            cache,
        })
    }

    /// Closes the idle sessions (QUIT) at `shutdown`, and keeps none after it.
    pub fn close_at(mut self, shutdown: Shutdown) -> Self {
        self.cache.close_at(shutdown);
        self
    }

    /// Closes the idle sessions now (QUIT, a short wait for each reply), and keeps none
    /// from now on.
    pub async fn close(&self) {
        self.cache.close_all().await;
    }

    /// Where mail for `domain` goes now (RFC 5321 5.1).
    pub async fn route(&self, domain: &str) -> Route {
        self.router.route(domain).await
    }

    /// One attempt to deliver `message` (the file as queued, trace fields included) for the
    /// recipients of `envelope` at the indices `recipients`, all of domain `domain`. One
    /// outcome per index, in order: RFC 3464's `Status`, `Remote-MTA` and `Diagnostic-Code`
    /// of each. Never fails as a whole: what went wrong is in the outcomes.
    pub async fn deliver(
        &self,
        domain: &str,
        envelope: &QueuedEnvelope,
        recipients: &[usize],
        message: &Path,
    ) -> Vec<Outcome> {
        deliver::deliver(self, domain, envelope, recipients, message).await
    }
}

#[cfg(test)]
mod tests;
