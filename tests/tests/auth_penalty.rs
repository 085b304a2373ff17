//! Password guessing against a real post-office on loopback (issue 14): clients sending wrong
//! AUTH PLAIN passwords as fast as they can, in parallel, reconnecting whenever they are cut
//! off, over SMTP and over POP3. The server's penalty (a growing delay before each check from
//! an address that failed, refusal after too many for one user name) must hold them to a few
//! checks a second, every failure and the lockout must be logged in lines a log watcher can
//! match, a legitimate client from another address must get in at once meanwhile, and another
//! user sharing the attacker's address must still get in there.
//!
//! Before the penalty, one SMTP connection made 18 000 guesses a second.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::Office;

/// How long the attackers run.
const WINDOW: Duration = Duration::from_secs(5);

/// Attackers at once, from one address: more than the address may have checks under way, so
/// some are refused without a check.
const ATTACKERS: usize = 12;

/// Password checks a second the attackers may get, at most (the penalty gives about 0.6).
const MAX_CHECKS_PER_SECOND: f64 = 5.0;

/// How long a legitimate login from a clean address may take while the attack runs.
const PROMPT: Duration = Duration::from_secs(1);

/// How long an attacker waits after a refusal before it tries again: a tight loop of
/// reconnections would starve a small CI box without telling anything more.
const BACK_OFF: Duration = Duration::from_millis(50);

const ATTACKER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const LEGITIMATE: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
const FORGER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Protocol {
    Smtp,
    Pop3,
}

/// What the attackers got within the window.
#[derive(Default)]
struct Tally {
    /// Wrong passwords checked and refused (535 / `-ERR [AUTH]`).
    checked: AtomicUsize,
    /// Attempts refused without a check (454 / `-ERR [SYS/TEMP]`).
    refused: AtomicUsize,
    /// Connections made.
    connections: AtomicUsize,
}

/// Standard base64 (RFC 4648 4), for AUTH PLAIN's initial response.
fn base64(input: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in input.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// `AUTH PLAIN` with its initial response, for `user` and `password`.
fn auth_plain(user: &str, password: &str) -> String {
    format!(
        "AUTH PLAIN {}\r\n",
        base64(format!("\0{user}\0{password}").as_bytes())
    )
}

/// A connection from `from` to `port` on 127.0.0.1, or `None` once `until` has passed.
fn connect(from: IpAddr, port: u16, until: Instant) -> Option<TcpStream> {
    use socket2::{Domain, SockAddr, Socket, Type};
    while Instant::now() < until {
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        socket
            .bind(&SockAddr::from(SocketAddr::new(from, 0)))
            .unwrap();
        let to = SockAddr::from(SocketAddr::new(ATTACKER, port));
        if socket.connect_timeout(&to, Duration::from_secs(1)).is_ok() {
            let stream = TcpStream::from(socket);
            stream.set_nodelay(true).unwrap();
            return Some(stream);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    None
}

/// A line-based session: the replies' last lines (continuations skipped), each read by
/// `until` at the latest.
struct Session {
    stream: TcpStream,
    lines: BufReader<TcpStream>,
}

impl Session {
    fn new(stream: TcpStream) -> Self {
        let lines = BufReader::new(stream.try_clone().unwrap());
        Self { stream, lines }
    }

    /// The next reply (its last line for SMTP), or `None` if the connection ended or `until`
    /// passed.
    fn reply(&mut self, until: Instant) -> Option<String> {
        loop {
            let left = until.checked_duration_since(Instant::now())?;
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .unwrap();
            let mut line = String::new();
            match self.lines.read_line(&mut line) {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
            // SMTP continuation lines (`250-...`) are skipped.
            if line.as_bytes().get(3) != Some(&b'-') {
                return Some(line);
            }
        }
    }

    fn send(&mut self, command: &str) -> bool {
        self.stream.write_all(command.as_bytes()).is_ok()
    }

    /// Connected from `from`, greeted, and (SMTP) past EHLO.
    fn open(protocol: Protocol, from: IpAddr, port: u16, until: Instant) -> Option<Self> {
        let mut session = Self::new(connect(from, port, until)?);
        let greeting = session.reply(until)?;
        if !greeting.starts_with("220") && !greeting.starts_with("+OK") {
            return None;
        }
        if protocol == Protocol::Smtp {
            session.send("EHLO attacker.example\r\n");
            session.reply(until).filter(|r| r.starts_with("250"))?;
        }
        Some(session)
    }
}

/// One attacker: wrong passwords for bob, as fast as answers come, reconnecting when cut off,
/// until `until`. Counts only what is answered within the window.
fn attack(protocol: Protocol, port: u16, until: Instant, tally: &Tally) {
    let guess = auth_plain("bob", "not-the-password");
    while Instant::now() < until {
        let Some(mut session) = Session::open(protocol, ATTACKER, port, until) else {
            std::thread::sleep(BACK_OFF);
            continue;
        };
        tally.connections.fetch_add(1, Ordering::Relaxed);
        loop {
            if !session.send(&guess) {
                break;
            }
            let Some(reply) = session.reply(until) else {
                break;
            };
            let (checked, refused) = match protocol {
                Protocol::Smtp => (reply.starts_with("535"), reply.starts_with("454")),
                Protocol::Pop3 => (
                    reply.starts_with("-ERR [AUTH]"),
                    reply.starts_with("-ERR [SYS/TEMP]"),
                ),
            };
            if checked {
                tally.checked.fetch_add(1, Ordering::Relaxed);
            } else if refused {
                tally.refused.fetch_add(1, Ordering::Relaxed);
                std::thread::sleep(BACK_OFF);
            } else {
                // 421 / `-ERR` for too many errors: the server hangs up; reconnect.
                break;
            }
        }
        std::thread::sleep(BACK_OFF);
    }
}

/// Logs in as bob with the right password from `from`, and says how long it took.
fn legitimate_login(protocol: Protocol, port: u16, from: IpAddr) -> Duration {
    login(protocol, port, from, "bob", "hunter2")
}

/// Logs in as `user` with the right `password` from `from`, and says how long it took.
fn login(protocol: Protocol, port: u16, from: IpAddr, user: &str, password: &str) -> Duration {
    let until = Instant::now() + Duration::from_secs(30);
    let start = Instant::now();
    let mut session = Session::open(protocol, from, port, until).expect("connected");
    let answer = match protocol {
        Protocol::Smtp => {
            session.send(&auth_plain(user, password));
            session.reply(until).unwrap_or_default()
        }
        Protocol::Pop3 => {
            session.send(&format!("USER {user}\r\n"));
            session.reply(until);
            session.send(&format!("PASS {password}\r\n"));
            session.reply(until).unwrap_or_default()
        }
    };
    let took = start.elapsed();
    let ok = if protocol == Protocol::Smtp {
        "235"
    } else {
        "+OK"
    };
    assert!(
        answer.starts_with(ok),
        "legitimate login refused: {answer:?}"
    );
    session.send("QUIT\r\n");
    session.reply(until);
    took
}

/// The attack, the legitimate login half-way through it, and the checks of the log.
fn brute_force(protocol: Protocol) {
    // The attackers reconnect often from 127.0.0.1; the per-client connection rate (tests/limits.rs)
    // would refuse them, and the login from the attacker's own address after the attack, before
    // the auth penalty is even reached: this test is about the penalty alone.
    let office = Office::start(
        &format!("auth-{protocol:?}"),
        &["--plaintext-login", "--rate-per-client", "0"],
    );
    let port = match protocol {
        Protocol::Smtp => office.smtp,
        Protocol::Pop3 => office.pop3,
    };
    let tally = Arc::new(Tally::default());
    let start = Arc::new(Barrier::new(ATTACKERS + 1));
    let attackers: Vec<_> = (0..ATTACKERS)
        .map(|_| {
            let tally = tally.clone();
            let start = start.clone();
            std::thread::spawn(move || {
                start.wait();
                attack(protocol, port, Instant::now() + WINDOW, &tally);
            })
        })
        .collect();
    start.wait();
    let began = Instant::now();
    std::thread::sleep(WINDOW / 2);
    let login_time = legitimate_login(protocol, port, LEGITIMATE);
    for attacker in attackers {
        attacker.join().unwrap();
    }
    let elapsed = began.elapsed().as_secs_f64();
    let checked = tally.checked.load(Ordering::Relaxed);
    let refused = tally.refused.load(Ordering::Relaxed);
    let rate = checked as f64 / elapsed;
    eprintln!(
        "{protocol:?}: {ATTACKERS} attackers for {elapsed:.1} s: {checked} password checks \
         ({rate:.2}/s), {refused} refused unchecked, {} connections; a legitimate login from \
         {LEGITIMATE} took {} ms",
        tally.connections.load(Ordering::Relaxed),
        login_time.as_millis()
    );
    assert!(checked >= 1, "no attempt was checked at all");
    assert!(
        rate < MAX_CHECKS_PER_SECOND,
        "{rate:.1} password checks a second"
    );
    assert!(
        refused >= 1,
        "more attempts at once than the lockout allows, none refused"
    );
    assert!(
        login_time < PROMPT,
        "the legitimate login took {login_time:?}"
    );

    // A user name made to forge a log line of its own, from a clean address.
    let name = "x\r\nauth failed: protocol=smtp client=10.9.8.7 user=\"root\"";
    let until = Instant::now() + Duration::from_secs(30);
    let mut forger = Session::open(protocol, FORGER, port, until).expect("connected");
    forger.send(&auth_plain(name, "guess"));
    let answer = forger.reply(until).unwrap_or_default();
    assert!(
        answer.starts_with('5') || answer.starts_with("-ERR"),
        "{answer}"
    );

    // The lockout is bob's at the attacker's address only: alice, sharing that address (a
    // NAT), still logs in there, after the address's delay (at most 15 s).
    let shared = login(protocol, port, ATTACKER, "alice", "secret");
    eprintln!(
        "{protocol:?}: alice logged in from the attacker's address in {} ms",
        shared.as_millis()
    );
    assert!(shared <= Duration::from_secs(17), "{shared:?}");

    let name = if protocol == Protocol::Smtp {
        "smtp"
    } else {
        "pop3"
    };
    let wanted =
        format!("auth failed: protocol={name} client={ATTACKER} user=\"bob\" mechanism=PLAIN");
    let log = office.log();
    // The lockout is logged once, with the address and the user name.
    let lockout = format!("auth lockout: protocol={name} client={ATTACKER} user=\"bob\"");
    let lockouts = log.lines().filter(|line| line.contains(&lockout)).count();
    assert_eq!(lockouts, 1, "lines like {lockout:?}:\n{log}");
    let logged = log.lines().filter(|line| line.contains(&wanted)).count();
    assert!(
        logged >= checked,
        "{checked} failures but {logged} lines like {wanted:?}:\n{log}"
    );
    assert!(
        !log.contains(&format!("client={LEGITIMATE}")),
        "the legitimate login was logged as a failure:\n{log}"
    );
    // The forged name is logged escaped, on one line that names the real client first.
    let forged: Vec<_> = log
        .lines()
        .filter(|line| line.contains("10.9.8.7"))
        .collect();
    assert_eq!(forged.len(), 1, "{log}");
    let (_, first) = forged[0]
        .split_once("auth failed: ")
        .expect("an auth failed line");
    assert!(
        first.starts_with(&format!(
            "protocol={} client={FORGER} user=\"x\\u{{d}}\\u{{a}}auth failed:",
            if protocol == Protocol::Smtp {
                "smtp"
            } else {
                "pop3"
            }
        )),
        "{}",
        forged[0]
    );
}

/// SMTP: twelve clients guessing bob's password from one address get a few checks in five
/// seconds (not 18 000 a second), the surplus is refused with 454 at once, each failure is
/// logged with the address and the user, and bob logs in at once from another address.
#[test]
fn smtp_password_guessing_is_slowed_logged_and_spares_other_clients() {
    brute_force(Protocol::Smtp);
}

/// POP3: the same with AUTH PLAIN, refused with `-ERR [SYS/TEMP]`; bob logs in with
/// USER/PASS from another address at once.
#[test]
fn pop3_password_guessing_is_slowed_logged_and_spares_other_clients() {
    brute_force(Protocol::Pop3);
}

/// A dual-stack SMTP listener (`[::]`) sees an IPv4 client as `::ffff:127.0.0.1`: its failure
/// is logged as `client=127.0.0.1`, the address a log watcher bans (RFC 4291 2.5.5.2).
#[test]
fn an_ipv4_mapped_client_is_logged_as_ipv4() {
    let dir = common::scratch("auth-mapped");
    let (smtp, pop3) = (common::free_port(), common::free_port());
    let log_path = dir.join("serve.log");
    let mut child = std::process::Command::new(common::binary())
        .arg("serve")
        .args(["--smtp", &format!("[::]:{smtp}")])
        .args(["--pop3", &format!("127.0.0.1:{pop3}")])
        .args(["--data", dir.join("data").to_str().unwrap()])
        .args(["--user", "bob:hunter2", "--plaintext-login"])
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut log = String::new();
    while !log.contains("Pop3 on") && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            // No IPv6 here (or the port was taken): nothing to prove.
            eprintln!(
                "post-office did not start on [::]:\n{}",
                std::fs::read_to_string(&log_path).unwrap_or_default()
            );
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
        log = std::fs::read_to_string(&log_path).unwrap_or_default();
    }
    let until = Instant::now() + Duration::from_secs(20);
    let mut session = Session::open(Protocol::Smtp, ATTACKER, smtp, until).expect("connected");
    session.send(&auth_plain("bob", "wrong"));
    let answer = session.reply(until).unwrap_or_default();
    assert!(answer.starts_with("535"), "{answer}");
    let wanted = "auth failed: protocol=smtp client=127.0.0.1 user=\"bob\"";
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log.contains(wanted) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        log = std::fs::read_to_string(&log_path).unwrap_or_default();
    }
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(log.contains(wanted), "{log}");
    assert!(!log.contains("client=::ffff:"), "{log}");
}

#[test]
fn base64_matches_rfc4648_test_vectors() {
    for (plain, encoded) in [
        ("", ""),
        ("f", "Zg=="),
        ("fo", "Zm8="),
        ("foo", "Zm9v"),
        ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="),
        ("foobar", "Zm9vYmFy"),
    ] {
        assert_eq!(base64(plain.as_bytes()), encoded);
    }
}
