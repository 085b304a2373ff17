//! post-office against the smaller attacks of issue 14: a login that would read every message,
//! a new login right after QUIT, a TLS client on a plaintext port, a BDAT of a 20-digit size, a
//! full disk, debris in Maildir `tmp/`. Every wait is bounded by a socket timeout.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use common::{Client, Office, binary, free_port, peer, scratch, smtp_deliver, wait_for};

/// Delivery names each file `<unique>,S=<size>,W=<wire size>`; POP3 lists the wire size from
/// the name, and it is exactly what RETR sends (RFC 1939 5); the UIDL is the name up to the
/// flags, as it was before names carried sizes: a Dovecot-named file keeps its old UIDL.
#[test]
fn delivered_messages_carry_their_sizes_in_the_name_and_list_them_exactly() {
    let office = Office::start("hd-sizes", &["--plaintext-login"]);
    smtp_deliver(
        office.smtp,
        "bob@example.com",
        "Subject: s\r\n\r\nline one\r\nline two\r\n",
    );
    let new = office.dir.join("data/bob/new");
    let names: Vec<String> = std::fs::read_dir(&new)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    let file_size = std::fs::metadata(new.join(&names[0])).unwrap().len();
    assert!(
        names[0].ends_with(&format!(",S={file_size},W={file_size}")),
        "{names:?}"
    );
    // Delivered by Dovecot, seen and flagged: its UIDL was the name up to `:` and stays so.
    let dovecot = "1600000000.M20P30.mx,S=12,W=14:2,S";
    std::fs::write(
        office.dir.join("data/bob/cur").join(dovecot),
        b"Subject: d\n\n",
    )
    .unwrap();
    let (mut pop, answer) = Client::pop_login(office.pop3, "bob", "hunter2");
    assert!(answer.starts_with("+OK"), "{answer}");
    let uidl_dovecot = pop.cmd("UIDL 1");
    let list = pop.cmd("LIST 2");
    let uidl = pop.cmd("UIDL 2");
    let (_, octets) = pop.multi("RETR 2");
    pop.cmd("QUIT");
    assert_eq!(uidl_dovecot, "+OK 1 1600000000.M20P30.mx,S=12,W=14\r\n");
    assert_eq!(list, format!("+OK 2 {}\r\n", octets.len()));
    assert_eq!(uidl, format!("+OK 2 {}\r\n", names[0]));
}

/// A login opens no message named with its wire size (`W=`; a name that says 7 is listed 7,
/// whatever the file holds). A file another program named without it is read once, at the
/// first login, and listed at its exact wire size (RFC 1939 5: a sparse 1 GiB file ending in a
/// bare LF is 1 GiB + 1 octets as sent); later logins find the size remembered in the
/// Maildir's `post-office-sizes` and read nothing. Login time figures, first and second.
#[test]
fn a_file_without_a_wire_size_is_counted_at_the_first_login_only() {
    let office = Office::start("hd-login", &["--plaintext-login"]);
    let bob = office.dir.join("data/bob");
    let new = bob.join("new");
    std::fs::write(
        new.join("1700000000.a.host,S=5,W=7"),
        b"not what the name says",
    )
    .unwrap();
    let big_name = "1700000001.b.host";
    let big = std::fs::File::create(new.join(big_name)).unwrap();
    let gib = 1u64 << 30;
    big.set_len(gib - 1).unwrap();
    (&big).write_all_at_end(b"\n");
    let mut logins = Vec::new();
    for round in 0..2 {
        let mut pop = Client::connect(office.pop3);
        // The first login reads 1 GiB: 0.7 s on an idle box, seconds on a busy debug build.
        pop.stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        pop.line();
        pop.cmd("USER bob");
        let start = Instant::now();
        let answer = pop.cmd("PASS hunter2");
        let login = start.elapsed();
        let stat = pop.cmd("STAT");
        let list = pop.multi("LIST").1;
        let uidl = pop.cmd("UIDL 2");
        pop.cmd("QUIT");
        assert!(answer.starts_with("+OK"), "round {round}: {answer}");
        assert_eq!(stat, format!("+OK 2 {}\r\n", 7 + gib + 1), "round {round}");
        assert_eq!(
            String::from_utf8(list).unwrap(),
            format!("1 7\r\n2 {}\r\n", gib + 1),
            "round {round}"
        );
        assert_eq!(uidl, format!("+OK 2 {big_name}\r\n"), "round {round}");
        logins.push(login);
    }
    eprintln!(
        "login with a 1 GiB message named without W=: first {:?} (counted), second {:?} \
         (remembered)",
        logins[0], logins[1]
    );
    let remembered = std::fs::read_to_string(bob.join("post-office-sizes")).unwrap();
    assert_eq!(remembered, format!("{big_name} {gib} {}\n", gib + 1));
    // Never renamed: the other program may still know it by that name.
    assert!(new.join(big_name).exists());
    // Generous for a slow box: the second login reads no message.
    assert!(logins[1] < Duration::from_secs(2), "{logins:?}");
}

/// RETR and TOP take the length from the open file, not from the name: a file named `S=5`
/// that holds 1 GiB is streamed, not read whole into memory. Figure: the server's peak
/// resident memory before and after.
#[test]
fn a_file_larger_than_its_name_says_is_streamed_not_read_whole() {
    let office = Office::start("hd-liar", &["--plaintext-login"]);
    let new = office.dir.join("data/bob/new");
    let liar = std::fs::File::create(new.join("1700000000.c.host,S=5,W=7")).unwrap();
    liar.set_len(1 << 30).unwrap();
    {
        use std::os::unix::fs::FileExt;
        liar.write_all_at(b"Subject: big\r\n\r\n", 0).unwrap();
    }
    let peak = || {
        let status = std::fs::read_to_string(format!("/proc/{}/status", office.pid())).ok()?;
        let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    };
    let before = peak();
    let (mut pop, answer) = Client::pop_login(office.pop3, "bob", "hunter2");
    assert!(answer.starts_with("+OK"), "{answer}");
    let (top, headers) = pop.multi("TOP 1 0");
    assert!(top.starts_with("+OK"), "{top}");
    assert_eq!(headers, b"Subject: big\r\n\r\n");
    let retr = pop.cmd("RETR 1");
    assert!(retr.starts_with("+OK"), "{retr}");
    // The first 64 KiB of the message arrive; then the connection is dropped.
    let mut first = vec![0; 64 * 1024];
    pop.read_exact(&mut first);
    assert!(first.starts_with(b"Subject: big\r\n"));
    drop(pop);
    let after = peak();
    eprintln!(
        "server peak RSS around TOP and RETR of a 1 GiB file named S=5: {before:?} kB -> {after:?} kB"
    );
    if let (Some(before), Some(after)) = (before, after) {
        // Reading it whole would add 1 GiB.
        assert!(after < before + 256 * 1024, "{before} kB -> {after} kB");
    }
}

trait AppendAtEnd {
    fn write_all_at_end(self, bytes: &[u8]);
}

impl AppendAtEnd for &std::fs::File {
    fn write_all_at_end(mut self, bytes: &[u8]) {
        use std::io::{Seek, SeekFrom};
        self.seek(SeekFrom::End(0)).unwrap();
        self.write_all(bytes).unwrap();
    }
}

/// The maildrop is released before QUIT's `+OK` goes out (RFC 1939 6): a login right after
/// never meets `[IN-USE]`, 100 times in a row.
#[test]
fn login_right_after_quit_never_finds_the_maildrop_in_use() {
    // 100 sessions in a second or two from 127.0.0.1: over the per-client rate (60 a minute).
    let office = Office::start(
        "hd-relogin",
        &["--plaintext-login", "--rate-per-client", "0"],
    );
    smtp_deliver(office.smtp, "bob@example.com", "Subject: k\r\n\r\nkeep\r\n");
    let start = Instant::now();
    for round in 0..100 {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "too slow at {round}"
        );
        let (mut pop, answer) = Client::pop_login(office.pop3, "bob", "hunter2");
        assert!(answer.starts_with("+OK"), "round {round}: {answer}");
        let bye = pop.cmd("QUIT");
        assert!(bye.starts_with("+OK"), "round {round}: {bye}");
        // The connection is not waited for: the next login starts at once.
    }
}

/// The first octets of a TLS ClientHello record.
const CLIENT_HELLO: &[u8] = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03";

/// A TLS client on the plaintext SMTP and POP3 ports is answered and closed at once, not
/// held for the idle timeout (300 s / 600 s).
#[test]
fn client_hello_on_plaintext_ports_is_answered_and_closed_at_once() {
    let office = Office::start("hd-hello", &[]);
    let start = Instant::now();
    let mut smtp = Client::connect(office.smtp);
    assert!(smtp.reply().starts_with("220"));
    smtp.send(CLIENT_HELLO);
    let answer = smtp.line();
    assert!(
        answer.starts_with("421 4.7.0 TLS handshake on a plaintext port"),
        "{answer}"
    );
    assert!(smtp.closed());
    let mut pop = Client::connect(office.pop3);
    assert!(pop.line().starts_with("+OK"));
    pop.send(CLIENT_HELLO);
    let answer = pop.line();
    assert!(
        answer.starts_with("-ERR TLS handshake on a plaintext port"),
        "{answer}"
    );
    assert!(pop.closed());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
}

/// The same with a real TLS client: `openssl s_client` to the plaintext ports fails at once.
#[test]
fn openssl_s_client_to_plaintext_ports_fails_at_once() {
    if !peer("openssl", "apt-get install openssl") {
        return;
    }
    let office = Office::start("hd-openssl", &[]);
    for port in [office.smtp, office.pop3] {
        let start = Instant::now();
        let mut child = Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // stdin stays open: only the server can end the handshake.
        let stdin = child.stdin.take();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if start.elapsed() > Duration::from_secs(20) {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        drop(stdin);
        let elapsed = start.elapsed();
        let status = status.unwrap_or_else(|| panic!("port {port}: still held after 20 s"));
        assert!(!status.success(), "port {port}: the handshake succeeded?");
        eprintln!("openssl s_client to plaintext port {port}: closed in {elapsed:?}");
    }
}

/// A BDAT of a 20-digit size is answered at once and the connection closed, inside a
/// transaction (552 5.3.4) and outside one (503): nothing is read octet by octet.
#[test]
fn bdat_with_a_20_digit_size_is_refused_and_closed_at_once() {
    let office = Office::start("hd-bdat", &[]);
    let start = Instant::now();
    let mut smtp = Client::connect(office.smtp);
    smtp.reply();
    smtp.smtp("EHLO c.example");
    assert!(smtp.smtp("MAIL FROM:<a@example.org>").starts_with("250"));
    assert!(smtp.smtp("RCPT TO:<bob@example.com>").starts_with("250"));
    let answer = smtp.smtp("BDAT 18446744073709551615 LAST");
    assert!(answer.starts_with("552 5.3.4"), "{answer}");
    assert!(smtp.closed());
    let mut smtp = Client::connect(office.smtp);
    smtp.reply();
    smtp.smtp("EHLO c.example");
    let answer = smtp.smtp("BDAT 18446744073709551615 LAST");
    assert!(answer.starts_with("503 5.5.1"), "{answer}");
    assert!(smtp.closed());
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "{:?}",
        start.elapsed()
    );
    // The store is untouched and the server goes on.
    smtp_deliver(
        office.smtp,
        "bob@example.com",
        "Subject: after\r\n\r\nok\r\n",
    );
    assert_eq!(office.messages("bob").len(), 1);
}

/// With less free space than `--min-free` (here more than any disk has), MAIL gets 452 4.3.1
/// before any body is sent; with `--min-free 0` the check is off.
#[test]
fn mail_is_refused_with_452_when_the_disk_has_less_than_min_free() {
    let office = Office::start("hd-minfree", &["--min-free", "18446744073709551615"]);
    let mut smtp = Client::connect(office.smtp);
    smtp.reply();
    smtp.smtp("EHLO c.example");
    let answer = smtp.smtp("MAIL FROM:<a@example.org>");
    assert!(answer.starts_with("452 4.3.1"), "{answer}");
    // A declared size counts too (RFC 1870): a SIZE beyond the free space, within the
    // message size limit, with a small --min-free.
    let office = Office::start(
        "hd-minfree-size",
        &[
            "--min-free",
            "1",
            "--max-message-size",
            "18446744073709551615",
        ],
    );
    let mut smtp = Client::connect(office.smtp);
    smtp.reply();
    smtp.smtp("EHLO c.example");
    let answer = smtp.smtp("MAIL FROM:<a@example.org> SIZE=18446744073709551000");
    assert!(answer.starts_with("452 4.3.1"), "{answer}");
    let answer = smtp.smtp("MAIL FROM:<a@example.org> SIZE=100");
    assert!(answer.starts_with("250"), "{answer}");
    let office = Office::start("hd-minfree-off", &["--min-free", "0"]);
    smtp_deliver(office.smtp, "bob@example.com", "Subject: ok\r\n\r\nok\r\n");
    assert_eq!(office.messages("bob").len(), 1);
}

/// At start-up, files older than 36 hours in every user's Maildir `tmp/` are removed; newer
/// ones (a delivery under way) stay.
#[test]
fn stale_tmp_files_are_swept_at_start_up() {
    let dir = scratch("hd-sweep");
    let data = dir.join("data");
    let tmp = data.join("alice/tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let old = tmp.join("1600000000.old.host");
    std::fs::write(&old, b"debris").unwrap();
    let two_days_ago = SystemTime::now() - Duration::from_secs(48 * 3600);
    std::fs::File::options()
        .write(true)
        .open(&old)
        .unwrap()
        .set_modified(two_days_ago)
        .unwrap();
    let fresh = tmp.join("1700000000.fresh.host");
    std::fs::write(&fresh, b"under way").unwrap();
    let smtp = free_port();
    let mut child = Command::new(binary())
        .arg("serve")
        .args(["--smtp", &format!("127.0.0.1:{smtp}")])
        .args(["--pop3", &format!("127.0.0.1:{}", free_port())])
        .args(["--user", "alice:secret"])
        .arg("--data")
        .arg(&data)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(smtp);
    let (old_left, fresh_left) = (old.exists(), fresh.exists());
    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(!old_left, "the stale file is still there");
    assert!(fresh_left, "the fresh file was removed");
}

/// RFC 5321 3.8, Postfix's `smtpd_junk_command_limit`: 100 NOOPs are answered, the 101st
/// ends the session with 421 (a client cannot hold its slot by talking without mail); POP3
/// likewise past 100 NOOPs in a transaction.
#[test]
fn the_101st_noop_ends_an_smtp_or_pop3_session() {
    let office = Office::start("junk", &["--plaintext-login"]);
    let mut smtp = Client::connect(office.smtp);
    assert!(smtp.reply().starts_with("220"));
    assert!(smtp.smtp("EHLO c.example").starts_with("250"));
    for n in 1..=100 {
        assert_eq!(smtp.smtp("NOOP"), "250 2.0.0 Ok\r\n", "NOOP {n}");
    }
    assert_eq!(
        smtp.smtp("NOOP"),
        "421 4.7.0 Too many commands, closing\r\n"
    );
    assert!(smtp.closed());

    let (mut pop, answer) = Client::pop_login(office.pop3, "bob", "hunter2");
    assert!(answer.starts_with("+OK"), "{answer}");
    for n in 1..=100 {
        assert_eq!(pop.cmd("NOOP"), "+OK\r\n", "NOOP {n}");
    }
    assert_eq!(pop.cmd("NOOP"), "-ERR too many commands, closing\r\n");
    assert!(pop.closed());
}
