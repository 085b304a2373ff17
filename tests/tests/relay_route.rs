//! The outbound side of post-office as a process: where mail for a domain goes (RFC 5321 5.1
//! against a DNS server of our own on loopback: `post-office route`), and one delivery
//! attempt (`post-office relay`) to SMTP servers on loopback addresses built on mail-io's
//! server, each offering what the test needs (DSN or not, 8BITMIME or not, STARTTLS with a
//! self-signed certificate, REQUIRETLS).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
#[path = "common/dns.rs"]
mod dns;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{binary, free_port, scratch};
use dns::{DnsServer, Zone};
use mail_io::smtp::{
    Answer, Bytes, EnhancedStatus, ForwardPath, Handler, MailParameters, RcptParameters, ReplyCode,
    ReversePath, ServerConfig, reply,
};
use mail_io::tls::{CertificateDer, PrivateKeyDer};
use mail_io::{ServeOptions, TlsServer};
use serde_json::Value;

/// How long one `post-office` command may run.
const COMMAND: Duration = Duration::from_secs(60);

/// Runs `post-office ARGS` and returns its standard output; fails the test after
/// [`COMMAND`] (the process is killed) or if it exits with an error.
fn po(dir: &Path, args: &[&str]) -> String {
    let log = dir.join(format!("po-{}.log", free_port()));
    let mut child = Command::new(binary())
        .args(args)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + COMMAND;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "post-office {args:?} took longer than {COMMAND:?}:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(
        status.success(),
        "post-office {args:?} failed:\n{out}\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    out
}

/// `post-office route DOMAIN --resolver DNS --relay-port 2525`: its lines.
fn route(dns: &DnsServer, domain: &str) -> Vec<String> {
    let dir = scratch("route");
    let out = po(
        &dir,
        &[
            "route",
            domain,
            "--resolver",
            &dns.address(),
            "--relay-port",
            "2525",
            "--hostname",
            "relay.test",
        ],
    );
    let _ = std::fs::remove_dir_all(&dir);
    out.lines().map(str::to_string).collect()
}

/// The zone of the routing tests.
fn zone() -> Zone {
    Zone::new()
        // Listed out of order: the route must sort them.
        .mx("b.example", 20, "mx2.b.example")
        .mx("b.example", 10, "mx1.b.example")
        .mx("b.example", 30, "mx3.b.example")
        .a("mx1.b.example", "127.0.0.11")
        .a("mx2.b.example", "127.0.0.12")
        .aaaa("mx2.b.example", "::1")
        .a("mx3.b.example", "127.0.0.13")
        .a("implicit.example", "127.0.0.21")
        .null_mx("null.example")
        .servfail("broken.example")
        .mx("nowhere.example", 10, "gone.nowhere.example")
        .mx("loop.example", 10, "relay.test")
        .mx("loop.example", 20, "backup.loop.example")
        .a("backup.loop.example", "127.0.0.31")
        .mx("better.example", 5, "first.better.example")
        .mx("better.example", 10, "relay.test")
        .a("first.better.example", "127.0.0.32")
}

#[test]
fn mx_hosts_are_tried_by_preference_each_with_all_its_addresses() {
    let dns = DnsServer::start(zone());
    assert_eq!(
        route(&dns, "b.example"),
        [
            "hop mx1.b.example 127.0.0.11:2525",
            "hop mx2.b.example 127.0.0.12:2525",
            "hop mx2.b.example [::1]:2525",
            "hop mx3.b.example 127.0.0.13:2525",
        ]
    );
    // Case and a final dot do not matter.
    assert_eq!(route(&dns, "B.Example.").len(), 4);
}

#[test]
fn a_domain_without_mx_is_its_own_host() {
    let dns = DnsServer::start(zone());
    assert_eq!(
        route(&dns, "implicit.example"),
        ["hop implicit.example 127.0.0.21:2525"]
    );
}

#[test]
fn nxdomain_fails_with_5_1_2() {
    let dns = DnsServer::start(zone());
    let lines = route(&dns, "no-such-domain.example");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("failed 5.1.2 "), "{lines:?}");
}

#[test]
fn servfail_defers_with_4_4_3() {
    let dns = DnsServer::start(zone());
    let lines = route(&dns, "broken.example");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("deferred 4.4.3 "), "{lines:?}");
}

#[test]
fn a_null_mx_fails_with_5_1_10() {
    let dns = DnsServer::start(zone());
    let lines = route(&dns, "null.example");
    assert_eq!(lines.len(), 1);
    assert!(lines[0].starts_with("failed 5.1.10 "), "{lines:?}");
}

#[test]
fn mx_hosts_without_addresses_fail_and_a_dead_dns_server_defers() {
    let dns = DnsServer::start(zone());
    let lines = route(&dns, "nowhere.example");
    assert!(lines[0].starts_with("failed 5.4.4 "), "{lines:?}");
    // Nobody answers on this port: a timeout, never a bounce.
    let dir = scratch("route-dead-dns");
    let dead = format!("127.0.0.1:{}", free_port());
    let out = po(&dir, &["route", "b.example", "--resolver", &dead]);
    assert!(out.starts_with("deferred 4.4.3 "), "{out}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn mx_hosts_from_ourselves_on_are_cut_off() {
    let dns = DnsServer::start(zone());
    // We are the best MX: a loop.
    let lines = route(&dns, "loop.example");
    assert!(lines[0].starts_with("failed 5.4.6 "), "{lines:?}");
    // A better MX than us is still tried; we and those after us are not.
    assert_eq!(
        route(&dns, "better.example"),
        ["hop first.better.example 127.0.0.32:2525"]
    );
}

#[test]
fn routes_relay_hosts_and_literals_need_no_mx() {
    let dns = DnsServer::start(zone());
    let dir = scratch("route-config");
    let out = po(
        &dir,
        &[
            "route",
            "b.example",
            "--resolver",
            &dns.address(),
            "--route",
            "b.example=mx3.b.example:2600",
            "--relayhost",
            "[127.0.0.99]:2700",
        ],
    );
    assert_eq!(out.trim(), "hop mx3.b.example 127.0.0.13:2600");
    let out = po(
        &dir,
        &[
            "route",
            "implicit.example",
            "--resolver",
            &dns.address(),
            "--relayhost",
            "[127.0.0.99]:2700",
        ],
    );
    assert_eq!(out.trim(), "hop [127.0.0.99] 127.0.0.99:2700");
    let out = po(&dir, &["route", "[127.0.0.5]", "--relay-port", "2800"]);
    assert_eq!(out.trim(), "hop [127.0.0.5] 127.0.0.5:2800");
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- Delivery to SMTP servers on loopback ----

/// A message as a sink received it.
#[derive(Clone, Debug, Default)]
struct Received {
    from: String,
    parameters: String,
    /// Accepted recipients and their parameters.
    recipients: Vec<(String, String)>,
    body: Vec<u8>,
    tls: bool,
}

/// An SMTP server's handler that keeps what it receives: recipients whose local part is
/// `fail` are refused (550 5.1.1), `later` deferred (451 4.2.1), the others taken.
struct Sink {
    seen: Arc<Mutex<Vec<Received>>>,
    current: Received,
    tls: bool,
}

impl Handler for Sink {
    async fn mail_from(
        &mut self,
        from: ReversePath<'static>,
        parameters: MailParameters<'static>,
    ) -> Answer {
        self.current = Received {
            from: from.to_string(),
            parameters: parameters.to_string(),
            tls: self.tls,
            ..Received::default()
        };
        Answer::Accept
    }

    async fn rcpt_to(
        &mut self,
        to: ForwardPath<'static>,
        parameters: RcptParameters<'static>,
    ) -> Answer {
        let local = to
            .mailbox()
            .map(|m| m.local_part().unquoted().to_string())
            .unwrap_or_default();
        match local.as_str() {
            "fail" => Answer::Reply(reply(
                ReplyCode::MAILBOX_UNAVAILABLE,
                EnhancedStatus::BAD_DESTINATION_MAILBOX,
                "No such user here",
            )),
            "later" => Answer::Reply(reply(
                ReplyCode::new(451).unwrap(),
                EnhancedStatus::new(4, 2, 1).unwrap(),
                "Mailbox busy, try later",
            )),
            _ => {
                self.current
                    .recipients
                    .push((to.to_string(), parameters.to_string()));
                Answer::Accept
            }
        }
    }

    async fn body(&mut self, chunk: Bytes) {
        self.current.body.extend_from_slice(&chunk);
    }

    async fn message_end(&mut self, _size: u64, _recipients: usize) -> Answer {
        self.seen
            .lock()
            .unwrap()
            .push(std::mem::take(&mut self.current));
        Answer::Accept
    }

    fn transaction_reset(&mut self) {
        self.current = Received::default();
    }

    fn tls_established(&mut self) {
        self.tls = true;
    }
}

/// SMTP servers on loopback, run by a runtime of the test's own.
struct Sinks {
    runtime: tokio::runtime::Runtime,
    dir: PathBuf,
    /// The port every sink listens on (MX hosts share `--relay-port`), on its own address.
    port: u16,
}

impl Drop for Sinks {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A self-signed certificate for `mx.tls.example`, `localhost` and 127.0.0.1, and where its
/// PEM is (for `--relay-ca`).
fn certificate(dir: &Path) -> (TlsServer, PathBuf) {
    let names = vec![
        "mx.tls.example".to_string(),
        "localhost".to_string(),
        "127.0.0.1".to_string(),
    ];
    let certified = rcgen::generate_simple_self_signed(names).unwrap();
    let pem = dir.join("sink-cert.pem");
    std::fs::write(&pem, certified.cert.pem()).unwrap();
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::try_from(certified.key_pair.serialize_der()).unwrap();
    (TlsServer::from_der(vec![cert], key).unwrap(), pem)
}

impl Sinks {
    fn new(name: &str) -> Self {
        Self {
            runtime: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap(),
            dir: scratch(name),
            port: free_port(),
        }
    }

    /// A server on `ip`:[`port`](Self::port) with `config` (and STARTTLS when `tls`).
    fn start(
        &self,
        ip: &str,
        config: ServerConfig,
        tls: Option<TlsServer>,
    ) -> Arc<Mutex<Vec<Received>>> {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let listener = self
            .runtime
            .block_on(tokio::net::TcpListener::bind((ip, self.port)))
            .unwrap();
        let mut options = ServeOptions::new();
        if let Some(tls) = tls {
            options = options.tls(tls);
        }
        let handlers = seen.clone();
        self.runtime.spawn(mail_io::smtp::serve(
            listener,
            config,
            options,
            move |_: &mail_io::smtp::SessionInfo| Sink {
                seen: handlers.clone(),
                current: Received::default(),
                tls: false,
            },
        ));
        seen
    }

    /// `post-office relay` of `message` from `from` to `recipients` (each `<addr>` with
    /// optional parameters), `extra` options added: the outcomes, one JSON value each.
    fn relay(
        &self,
        dns: &DnsServer,
        message: &[u8],
        mail_parameters: &str,
        recipients: &[&str],
        extra: &[&str],
    ) -> Vec<Value> {
        let file = self.dir.join(format!("message-{}.eml", free_port()));
        std::fs::write(&file, message).unwrap();
        let port = self.port.to_string();
        let resolver = dns.address();
        let mut args = vec![
            "relay",
            "--message",
            file.to_str().unwrap(),
            "--from",
            "<alice@a.example>",
            "--mail-parameters",
            mail_parameters,
            "--resolver",
            &resolver,
            "--relay-port",
            &port,
            "--relay-connect-timeout",
            "5",
            "--hostname",
            "relay.test",
        ];
        for recipient in recipients {
            args.push("--to");
            args.push(recipient);
        }
        if !extra.contains(&"--relay-timeout") {
            args.extend_from_slice(&["--relay-timeout", "30"]);
        }
        args.extend_from_slice(extra);
        po(&self.dir, &args)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect()
    }
}

/// The zone of the delivery tests: MX hosts on loopback addresses.
fn mail_zone() -> Zone {
    Zone::new()
        // mx1 listens nowhere (connections refused), mx2 takes the mail.
        .mx("d.example", 10, "mx1.d.example")
        .mx("d.example", 20, "mx2.d.example")
        .a("mx1.d.example", "127.0.0.2")
        .a("mx2.d.example", "127.0.0.3")
        .mx("tls.example", 10, "mx.tls.example")
        .a("mx.tls.example", "127.0.0.4")
        .mx("old.example", 10, "mx.old.example")
        .a("mx.old.example", "127.0.0.5")
        .mx("broken-tls.example", 10, "mx.broken-tls.example")
        .a("mx.broken-tls.example", "127.0.0.6")
}

/// `Delivered(true)`, `Failed`, `Deferred`: an outcome's kind.
fn kind(outcome: &Value) -> String {
    match &outcome["kind"] {
        Value::String(kind) => kind.clone(),
        Value::Object(map) => match map.get("Delivered") {
            Some(delivered) => format!("Delivered({})", delivered["dsn_passed_on"]),
            None => format!("{map:?}"),
        },
        other => format!("{other}"),
    }
}

const MESSAGE: &[u8] =
    b"From: alice@a.example\r\nTo: bob@d.example\r\nSubject: relay\r\n\r\nHello.\r\n";

#[test]
fn the_next_mx_is_tried_when_the_first_refuses_connections() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-fallback");
    let seen = sinks.start("127.0.0.3", ServerConfig::default(), None);
    let outcomes = sinks.relay(&dns, MESSAGE, "", &["<bob@d.example>"], &[]);
    assert_eq!(outcomes.len(), 1);
    assert_eq!(kind(&outcomes[0]), "Delivered(true)", "{outcomes:?}");
    assert_eq!(outcomes[0]["remote_mta"], "dns; mx2.d.example");
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].body, MESSAGE,
        "the body arrives as it is in the file"
    );
    assert_eq!(seen[0].from, "<alice@a.example>");
    assert!(
        seen[0]
            .parameters
            .contains(&format!("SIZE={}", MESSAGE.len())),
        "{}",
        seen[0].parameters
    );
}

#[test]
fn each_recipient_gets_the_outcome_of_its_own_reply() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-replies");
    let seen = sinks.start("127.0.0.3", ServerConfig::default(), None);
    let outcomes = sinks.relay(
        &dns,
        MESSAGE,
        "",
        &["<bob@d.example>", "<fail@d.example>", "<later@d.example>"],
        &[],
    );
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(kind(&outcomes[0]), "Delivered(true)");
    assert_eq!(outcomes[0]["status"], "2.0.0");
    assert_eq!(kind(&outcomes[1]), "Failed");
    assert_eq!(outcomes[1]["status"], "5.1.1");
    assert_eq!(
        outcomes[1]["diagnostic"],
        "smtp; 550 5.1.1 No such user here"
    );
    assert_eq!(outcomes[1]["remote_mta"], "dns; mx2.d.example");
    assert_eq!(kind(&outcomes[2]), "Deferred");
    assert_eq!(outcomes[2]["status"], "4.2.1");
    // One transaction for all three; the refused ones are not in it.
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0]
            .recipients
            .iter()
            .map(|(to, _)| to.as_str())
            .collect::<Vec<_>>(),
        ["<bob@d.example>"]
    );
}

#[test]
fn dsn_parameters_pass_on_only_to_a_server_that_offers_dsn() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-dsn");
    let with_dsn = sinks.start("127.0.0.3", ServerConfig::default(), None);
    let without_dsn = sinks.start(
        "127.0.0.5",
        ServerConfig {
            dsn: false,
            ..ServerConfig::default()
        },
        None,
    );
    let rcpt = "NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;bob@d.example";
    let outcomes = sinks.relay(
        &dns,
        MESSAGE,
        "RET=HDRS ENVID=QQ314159",
        &[&format!("<bob@d.example> {rcpt}")],
        &[],
    );
    assert_eq!(kind(&outcomes[0]), "Delivered(true)", "{outcomes:?}");
    let seen = with_dsn.lock().unwrap().clone();
    assert!(seen[0].parameters.contains("RET=HDRS"), "{:?}", seen[0]);
    assert!(seen[0].parameters.contains("ENVID=QQ314159"));
    assert!(seen[0].recipients[0].1.contains("NOTIFY=SUCCESS,FAILURE"));
    assert!(
        seen[0].recipients[0]
            .1
            .contains("ORCPT=rfc822;bob@d.example")
    );

    let outcomes = sinks.relay(
        &dns,
        MESSAGE,
        "RET=HDRS ENVID=QQ314159",
        &[&format!("<bob@old.example> {rcpt}")],
        &[],
    );
    assert_eq!(kind(&outcomes[0]), "Delivered(false)", "{outcomes:?}");
    let seen = without_dsn.lock().unwrap().clone();
    assert!(!seen[0].parameters.contains("RET="), "{:?}", seen[0]);
    assert!(!seen[0].recipients[0].1.contains("NOTIFY"));
}

#[test]
fn an_8bit_message_to_a_server_without_8bitmime_fails_with_5_6_3() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-8bit");
    let seen = sinks.start(
        "127.0.0.5",
        ServerConfig {
            eight_bit_mime: false,
            ..ServerConfig::default()
        },
        None,
    );
    let message = "Subject: caf\u{e9}\r\n\r\nD\u{e9}j\u{e0} vu.\r\n".as_bytes();
    let outcomes = sinks.relay(&dns, message, "BODY=8BITMIME", &["<bob@old.example>"], &[]);
    assert_eq!(kind(&outcomes[0]), "Failed", "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], "5.6.3");
    let diagnostic = outcomes[0]["diagnostic"].as_str().unwrap();
    assert!(diagnostic.contains("8BITMIME"), "{diagnostic}");
    assert_eq!(outcomes[0]["remote_mta"], "dns; mx.old.example");
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent");
}

#[test]
fn utf8_addresses_to_a_server_without_smtputf8_fail_with_5_6_7() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-utf8");
    let _seen = sinks.start(
        "127.0.0.5",
        ServerConfig {
            smtputf8: false,
            ..ServerConfig::default()
        },
        None,
    );
    let outcomes = sinks.relay(&dns, MESSAGE, "", &["<j\u{f6}rg@old.example>"], &[]);
    assert_eq!(kind(&outcomes[0]), "Failed", "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], "5.6.7");
}

#[test]
fn starttls_is_used_when_offered() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-starttls");
    let (tls, _pem) = certificate(&sinks.dir);
    let seen = sinks.start("127.0.0.4", ServerConfig::default(), Some(tls));
    // Opportunistic: the self-signed certificate is not checked.
    let outcomes = sinks.relay(&dns, MESSAGE, "", &["<bob@tls.example>"], &[]);
    assert_eq!(kind(&outcomes[0]), "Delivered(true)", "{outcomes:?}");
    let seen = seen.lock().unwrap();
    assert!(seen[0].tls, "the message came over TLS");
}

/// A server that offers STARTTLS and then answers the handshake with plaintext (a broken TLS
/// set-up); the session after it is served in plaintext. Returns what that session received.
fn broken_tls_server(address: &str, port: u16) -> std::thread::JoinHandle<Vec<String>> {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind((address, port)).unwrap();
    std::thread::spawn(move || {
        let mut received = Vec::new();
        for session in 0..2 {
            let (stream, _) = listener.accept().unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut lines = BufReader::new(stream);
            writer.write_all(b"220 mx.broken-tls.example\r\n").unwrap();
            let mut in_data = false;
            loop {
                let mut line = String::new();
                if lines.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if session == 1 {
                    received.push(line.clone());
                }
                let command = line.trim_end().to_ascii_uppercase();
                let answer: &[u8] = if in_data {
                    if command == "." {
                        in_data = false;
                        b"250 2.0.0 taken\r\n"
                    } else {
                        continue;
                    }
                } else if command.starts_with("EHLO") {
                    b"250-mx.broken-tls.example\r\n250 STARTTLS\r\n"
                } else if command == "STARTTLS" {
                    // "Go ahead", then no TLS at all: the client's handshake fails.
                    writer.write_all(b"220 2.0.0 go ahead\r\n").unwrap();
                    // Once the ClientHello is in (not before: text right after the 220 would
                    // be taken for response injection).
                    let mut hello = [0u8; 64];
                    let _ = std::io::Read::read(lines.get_mut(), &mut hello);
                    writer.write_all(b"this is not a TLS record\r\n").unwrap();
                    break;
                } else if command == "DATA" {
                    in_data = true;
                    b"354 go on\r\n"
                } else if command == "QUIT" {
                    writer.write_all(b"221 bye\r\n").unwrap();
                    break;
                } else {
                    b"250 2.0.0 ok\r\n"
                };
                writer.write_all(answer).unwrap();
            }
        }
        received
    })
}

#[test]
fn a_failed_opportunistic_handshake_falls_back_to_plaintext_on_the_same_hop() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-broken-tls");
    let server = broken_tls_server("127.0.0.6", sinks.port);
    let outcomes = sinks.relay(&dns, MESSAGE, "", &["<bob@broken-tls.example>"], &[]);
    assert_eq!(kind(&outcomes[0]), "Delivered(false)", "{outcomes:?}");
    let received = server.join().unwrap();
    // The second session: no STARTTLS, the whole transaction in plaintext.
    assert!(
        !received.iter().any(|line| line.starts_with("STARTTLS")),
        "{received:?}"
    );
    assert!(
        received
            .iter()
            .any(|line| line.starts_with("MAIL FROM:<alice@a.example>"))
    );
    assert!(
        received.iter().any(|line| line == "Subject: relay\r\n"),
        "{received:?}"
    );
}

#[test]
fn verified_tls_needs_a_trusted_certificate() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-route-tls");
    let (tls, pem) = certificate(&sinks.dir);
    let seen = sinks.start("127.0.0.4", ServerConfig::default(), Some(tls));
    // Required and verified against the Web PKI: a self-signed certificate waits.
    let outcomes = sinks.relay(
        &dns,
        MESSAGE,
        "",
        &["<bob@tls.example>"],
        &["--route-tls", "tls.example"],
    );
    assert_eq!(kind(&outcomes[0]), "Deferred", "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], "4.7.5");
    assert!(seen.lock().unwrap().is_empty());
    // Trusted with --relay-ca: through, over TLS.
    let outcomes = sinks.relay(
        &dns,
        MESSAGE,
        "",
        &["<bob@tls.example>"],
        &[
            "--route-tls",
            "tls.example",
            "--relay-ca",
            pem.to_str().unwrap(),
        ],
    );
    assert_eq!(kind(&outcomes[0]), "Delivered(true)", "{outcomes:?}");
    assert!(seen.lock().unwrap()[0].tls);
}

#[test]
fn requiretls_fails_without_tls_or_without_requiretls_and_passes_with_both() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-requiretls");
    let (tls, pem) = certificate(&sinks.dir);
    let ca = pem.to_str().unwrap();
    // Through the MX found in the DNS (no DNSSEC, no MTA-STS here): RFC 8689 4.2.1 step 2
    // forbids it, 5.7.10 before any connection.
    let plain = sinks.start("127.0.0.5", ServerConfig::default(), None);
    let outcomes = sinks.relay(
        &dns,
        MESSAGE,
        "REQUIRETLS",
        &["<bob@old.example>"],
        &["--relay-ca", ca],
    );
    assert_eq!(kind(&outcomes[0]), "Failed", "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], "5.7.10");
    assert!(
        outcomes[0]["diagnostic"]
            .as_str()
            .is_some_and(|text| text.contains("RFC 8689 4.2.1")),
        "{outcomes:?}"
    );
    assert!(plain.lock().unwrap().is_empty());
    // Routes name the hosts from here on (resolved in the DNS, certificates checked against
    // the names).
    let old_route = format!("old.example=mx.old.example:{}", sinks.port);
    let tls_route = format!("tls.example=mx.tls.example:{}", sinks.port);
    let routes = [
        "--route",
        &old_route,
        "--route",
        &tls_route,
        "--relay-ca",
        ca,
    ];
    // No TLS at all: RFC 8689's 5.7.10.
    let outcomes = sinks.relay(&dns, MESSAGE, "REQUIRETLS", &["<bob@old.example>"], &routes);
    assert_eq!(kind(&outcomes[0]), "Failed", "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], "5.7.10");
    assert!(plain.lock().unwrap().is_empty());
    // TLS without REQUIRETLS: 5.7.30.
    let no_requiretls = sinks.start("127.0.0.4", ServerConfig::default(), Some(tls.clone()));
    let outcomes = sinks.relay(&dns, MESSAGE, "REQUIRETLS", &["<bob@tls.example>"], &routes);
    assert_eq!(kind(&outcomes[0]), "Failed", "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], "5.7.30");
    assert!(no_requiretls.lock().unwrap().is_empty());
    // Both, and a trusted certificate: delivered, REQUIRETLS passed on (another port: the
    // first TLS server holds mx.tls.example's).
    let secure = Sinks::new("relay-requiretls-ok");
    let both = secure.start(
        "127.0.0.4",
        ServerConfig {
            require_tls: true,
            ..ServerConfig::default()
        },
        Some(tls),
    );
    let tls_route = format!("tls.example=mx.tls.example:{}", secure.port);
    let outcomes = secure.relay(
        &dns,
        MESSAGE,
        "REQUIRETLS",
        &["<bob@tls.example>"],
        &["--route", &tls_route, "--relay-ca", ca],
    );
    assert_eq!(kind(&outcomes[0]), "Delivered(true)", "{outcomes:?}");
    let seen = both.lock().unwrap();
    assert!(seen[0].tls);
    assert!(seen[0].parameters.contains("REQUIRETLS"), "{:?}", seen[0]);
}

#[test]
fn a_domain_that_does_not_exist_bounces_and_a_broken_dns_defers() {
    let dns = DnsServer::start(zone());
    let sinks = Sinks::new("relay-dns");
    let outcomes = sinks.relay(&dns, MESSAGE, "", &["<bob@no-such.example>"], &[]);
    assert_eq!(kind(&outcomes[0]), "Failed", "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], "5.1.2");
    assert_eq!(outcomes[0]["remote_mta"], Value::Null);
    let outcomes = sinks.relay(&dns, MESSAGE, "", &["<bob@broken.example>"], &[]);
    assert_eq!(kind(&outcomes[0]), "Deferred", "{outcomes:?}");
    assert_eq!(outcomes[0]["status"], "4.4.3");
}

#[test]
fn every_host_refusing_connections_defers() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-refused");
    let outcomes = sinks.relay(
        &dns,
        MESSAGE,
        "",
        &["<bob@d.example>", "<carol@d.example>"],
        &[],
    );
    assert_eq!(outcomes.len(), 2);
    for outcome in &outcomes {
        assert_eq!(kind(outcome), "Deferred", "{outcomes:?}");
        assert_eq!(outcome["status"], "4.4.1");
    }
}

#[test]
fn more_recipients_than_a_server_must_take_go_in_several_transactions() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-many");
    // RFC 5321 4.5.3.1.8's minimum, which is also mail-io's default limit.
    let seen = sinks.start(
        "127.0.0.3",
        ServerConfig {
            max_recipients: 100,
            ..ServerConfig::default()
        },
        None,
    );
    let recipients: Vec<String> = (0..150).map(|n| format!("<user{n}@d.example>")).collect();
    let recipients: Vec<&str> = recipients.iter().map(String::as_str).collect();
    let outcomes = sinks.relay(&dns, MESSAGE, "", &recipients, &[]);
    assert_eq!(outcomes.len(), 150);
    assert!(
        outcomes.iter().all(|o| kind(o) == "Delivered(true)"),
        "{outcomes:?}"
    );
    let seen = seen.lock().unwrap();
    let sizes: Vec<usize> = seen.iter().map(|m| m.recipients.len()).collect();
    assert_eq!(sizes, [100, 50]);
}

#[test]
fn a_server_that_never_answers_is_given_up_within_the_attempt_bound() {
    let dns = DnsServer::start(mail_zone());
    let sinks = Sinks::new("relay-silent");
    // Accepts connections and says nothing (the connections are kept open).
    let silent = std::net::TcpListener::bind(("127.0.0.3", sinks.port)).unwrap();
    let held = std::thread::spawn(move || {
        silent.set_nonblocking(true).unwrap();
        let mut connections = Vec::new();
        let until = Instant::now() + Duration::from_secs(20);
        while Instant::now() < until && connections.len() < 4 {
            match silent.accept() {
                Ok((stream, _)) => connections.push(stream),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        std::thread::sleep(Duration::from_secs(5));
    });
    let started = Instant::now();
    let outcomes = sinks.relay(
        &dns,
        MESSAGE,
        "",
        &["<bob@d.example>"],
        &["--relay-timeout", "2"],
    );
    let took = started.elapsed();
    assert_eq!(kind(&outcomes[0]), "Deferred", "{outcomes:?}");
    assert!(took < Duration::from_secs(15), "took {took:?}");
    drop(held);
}
