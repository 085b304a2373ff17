#!/usr/bin/env python3
"""bench/e2e orchestrator: starts every server itself, runs the loads, prints the table.

Called by run.sh (which installs the peers and builds post-office); see README.md.
Standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "bench"
KIB = 1024
MIB = 1024 * 1024

FULL = {
    "a": (500, 20 * KIB),
    "b": (20, 5 * MIB),
    "pop_min_seconds": 2.0,
    "pop_reps": 3,
    "pop_max_rounds": 1000,
    "smtp_loads": [
        ("i", "20 sessions x 5000 msgs of 10 KiB, one per connection", 20, 5000, 10240, False),
        ("ii", "the same, connections reused (-d)", 20, 5000, 10240, True),
        ("iii", "4 sessions x 200 msgs of 1 MiB", 4, 200, 1048576, False),
    ],
    "smtp_reps": 3,
    "maildir_load": (20, 5000, 10240),
    "maildir_reps": 5,
    "idle": 1000,
}
QUICK = {
    "a": (100, 20 * KIB),
    "b": (5, 5 * MIB),
    "pop_min_seconds": 0.5,
    "pop_reps": 1,
    "pop_max_rounds": 1000,
    "smtp_loads": [
        ("i", "20 sessions x 1000 msgs of 10 KiB, one per connection", 20, 1000, 10240, False),
        ("ii", "the same, connections reused (-d)", 20, 1000, 10240, True),
        ("iii", "4 sessions x 40 msgs of 1 MiB", 4, 40, 1048576, False),
    ],
    "smtp_reps": 1,
    "maildir_load": (20, 1000, 10240),
    "maildir_reps": 1,
    "idle": 1000,
}

# The durable Maildir phase: the domain both servers accept, its one user, and the messages sent
# to each server (and cleared) before the measured runs, so that neither starts cold.
MAILDIR_DOMAIN = "maildir.example"
MAILDIR_USER = "bob"
MAILDIR_WARMUP = None  # a warm-up as large as a measured run (its load's message count)
# How long one durable run may take before it is called failed.
MAILDIR_DEADLINE = 600.0
MAILDIR_QUIET = 35.0  # s: ext4 without a journal skips inodes freed in the last 30 s (maildir_clear)

POP3_MODES = [
    ("retr", "one command in flight, `RETR n`"),
    ("top", "one command in flight, `TOP n 0`"),
    ("poplib", "Python poplib, `retr(n)` each"),
    ("mpop", "mpop (pipelining), all messages, keep"),
]


class BenchError(Exception):
    pass


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def vm_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def children_of(root):
    """root and all its descendants (by /proc/*/stat ppid)."""
    parent = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        parent[int(d)] = int(fields[1])
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, ppid in parent.items():
            if ppid in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sorted(tree)


def tree_rss_kib(root):
    total = 0
    for pid in children_of(root):
        try:
            total += vm_rss_kib(pid)
        except OSError:
            pass
    return total


def stat_fields(pid):
    """/proc/PID/stat's fields after the command name: [0] is the state, [1] the parent, [11]
    to [14] utime, stime, cutime, cstime (in clock ticks)."""
    with open(f"/proc/{pid}/stat") as f:
        stat = f.read()
    return stat[stat.rfind(")") + 2 :].split()


def cpu_ticks(pid):
    fields = stat_fields(pid)
    return int(fields[11]) + int(fields[12])  # utime + stime


def postfix_cpu_ticks(master_pid):
    """CPU ticks of a Postfix instance: utime + stime + cutime + cstime of its master and of each
    of master's children (smtpd, cleanup, qmgr, trivial-rewrite, virtual, smtp, postlogd, ...).

    The daemons come and go: one that exits is reaped by master, and its ticks move into master's
    cutime/cstime; one still alive is read directly. A difference of two readings therefore counts
    every daemon that ran in between, whether it was born, died or both, without sampling (a zombie
    not yet reaped is read directly as well)."""
    total = sum(int(x) for x in stat_fields(master_pid)[11:15])
    for child in os.listdir("/proc"):
        if not child.isdigit():
            continue
        try:
            fields = stat_fields(child)
        except OSError:
            continue
        if int(fields[1]) == master_pid:
            total += sum(int(x) for x in fields[11:15])
    return total


def postfix_master_cf(port):
    """The system's master.cf for a private instance: smtpd on 127.0.0.1:`port` instead of 25,
    and no chroot anywhere (a private queue directory has no chroot environment)."""
    with open("/etc/postfix/master.cf") as f:
        master = f.read()
    master = master.replace("smtp      inet  n       -       y       -       -       smtpd",
                            f"127.0.0.1:{port} inet  n       -       n       -       -       smtpd", 1)
    if f"127.0.0.1:{port}" not in master:
        raise BenchError("/etc/postfix/master.cf has no smtpd line to move to another port")
    lines = []
    for line in master.splitlines():
        fields = line.split()
        if len(fields) >= 8 and not line.startswith((" ", "\t", "#")) and fields[4] == "y":
            fields[4] = "n"
            line = "  ".join(fields)
        lines.append(line)
    return "\n".join(lines) + "\n"


def fmt(x, digits=None):
    if x is None:
        return "n/a"
    if digits is None:
        digits = 0 if abs(x) >= 100 else (1 if abs(x) >= 10 else 2)
    return f"{x:,.{digits}f}"


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[0]
    except OSError:
        return "?"


def make_message(index, size, box):
    """A message of exactly `size` octets, CRLF line ends, some lines starting with a dot."""
    head = (
        f"From: Sender <sender@example.org>\r\n"
        f"To: {box}@example.com\r\n"
        f"Subject: bench message {index} of mailbox {box}\r\n"
        f"Date: Sat, 06 Dec 2025 12:00:00 +0000\r\n"
        f"Message-ID: <{box}.{index}@bench.example>\r\n"
        f"\r\n"
    ).encode()
    lines = []
    left = size - len(head)
    n = 0
    alphabet = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    while left > 0:
        if left <= 80:
            line = ("." * (left - 2) + "\r\n") if left >= 2 else "\n"
            line = line[:left]
        else:
            start = "." if n % 40 == 0 else alphabet[n % len(alphabet)]
            line = start + (alphabet * 2)[n % 26 : n % 26 + 75] + "\r\n"
        lines.append(line)
        left -= len(line)
        n += 1
    data = head + "".join(lines).encode()
    assert len(data) == size, (len(data), size)
    return data


def maildir_clear(maildir, trash):
    """Empties a Maildir for the next run by moving its new/, cur/ and tmp/ into `trash` (removed
    at the end of the phase) and making them again: nothing is deleted between runs. ext4
    without a journal (this machine's root file system) skips every inode freed in the last 30 s
    when it allocates one, reading each: deleting the last run's 5000 files would make the next
    run pay for them, whichever server it is."""
    os.makedirs(trash, exist_ok=True)
    for sub in ("new", "cur", "tmp"):
        d = os.path.join(maildir, sub)
        if os.listdir(d):
            os.rename(d, tempfile.mkdtemp(dir=trash))
            os.mkdir(d)
            shutil.chown(d, *owner_of(maildir))


def owner_of(path):
    st = os.stat(path)
    return st.st_uid, st.st_gid


def queue_files(queue):
    """Files in a Postfix queue's message queues: read from the disk, not with postqueue, whose
    showq daemon would add to the instance's CPU time."""
    n = 0
    for sub in ("maildrop", "incoming", "active", "deferred", "hold"):
        for _, _, files in os.walk(os.path.join(queue, sub)):
            n += len(files)
    return n


class PostfixMaildir:
    """A private Postfix instance (its own config and queue directories under `root`, smtpd on a
    free loopback port) that accepts mail for `domain` and delivers `user@domain` with virtual(8)
    into `root`/mail/`user`/Maildir/; no local delivery, no DNS, no client restrictions."""

    def __init__(self, root, domain, user):
        self.root = root
        self.conf = os.path.join(root, "etc")
        self.queue = os.path.join(root, "queue")
        data = os.path.join(root, "data")
        base = os.path.join(root, "mail")
        self.maildir = os.path.join(base, user, "Maildir")
        for d in (self.conf, self.queue, data):
            os.makedirs(d)
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(self.maildir, sub))
        shutil.chown(data, "postfix")
        subprocess.run(["chown", "-R", "nobody:nogroup", base], check=True)
        owner = os.stat(base)
        uid, gid = owner.st_uid, owner.st_gid
        with open(os.path.join(self.conf, "vmailbox"), "w") as f:
            f.write(f"{user}@{domain} {user}/Maildir/\n")  # trailing slash: Maildir delivery
        self.port = free_port()
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(f"""# private Postfix instance for bench/e2e: durable delivery into a Maildir
compatibility_level = 3.6
queue_directory = {self.queue}
data_directory = {data}
meta_directory = /etc/postfix
myhostname = postfix-bench.example
mydomain = postfix-bench.example
myorigin = $myhostname
mydestination =
local_transport = error:local delivery is disabled
alias_maps =
alias_database =
local_recipient_maps =
relay_domains =
biff = no
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
virtual_mailbox_domains = {domain}
virtual_mailbox_base = {base}
virtual_mailbox_maps = texthash:{self.conf}/vmailbox
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
smtpd_client_restrictions =
smtpd_helo_restrictions =
smtpd_sender_restrictions =
smtpd_recipient_restrictions =
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_peername_lookup = no
smtpd_client_connection_rate_limit = 0
smtpd_client_connection_count_limit = 0
smtp_dns_support_level = disabled
smtp_host_lookup = native
default_process_limit = 100
maillog_file = {root}/maillog
maillog_file_prefixes = {root}
syslog_name = postfix-maildir-bench
""")
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(postfix_master_cf(self.port))
        self.postfix(["check"])
        self.postfix(["start"])
        self.wait_ready()

    def postfix(self, args):
        p = subprocess.run(["postfix", "-c", self.conf] + args, capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise BenchError(f"postfix {' '.join(args)}: {p.stdout}{p.stderr}")

    def wait_ready(self, timeout=30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    s.settimeout(5)
                    last = s.recv(1024)
                    if last.startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise BenchError(f"Postfix not ready on port {self.port} within {timeout} s (last: {last!r})\n"
                         f"{self.log_tail()}")

    def master_pid(self):
        with open(os.path.join(self.queue, "pid", "master.pid")) as f:
            return int(f.read().split()[0])

    def alive(self):
        try:
            return stat_fields(self.master_pid())[0] != "Z"
        except (OSError, ValueError, IndexError):
            return False

    def cpu(self):
        return postfix_cpu_ticks(self.master_pid())

    def log_tail(self, n=15):
        try:
            with open(os.path.join(self.root, "maillog"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def stop(self):
        try:
            self.postfix(["stop"])
        except (BenchError, subprocess.SubprocessError) as e:
            log(f"stopping Postfix: {e}")


class Bench:
    def __init__(self, args):
        self.args = args
        self.cfg = QUICK if args.quick else FULL
        self.work = args.work
        self.po = args.post_office
        self.procs = []  # (name, Popen)
        self.postfixes = []  # PostfixMaildir instances running
        self.rows = []  # table rows
        self.notes = []
        self.details = []
        self.pidfile = os.path.join(self.work, "pids")
        self.load_start = loadavg()

    # ---------------------------------------------------------------- processes

    def spawn(self, name, argv, **kw):
        logf = open(os.path.join(self.work, f"{name}.log"), "ab")
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                             start_new_session=True, **kw)
        logf.close()
        self.procs.append((name, p))
        with open(self.pidfile, "a") as f:
            f.write(f"{p.pid} {os.path.basename(argv[0])}\n")
        return p

    def stop(self, p):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()
        self.procs = [(n, q) for n, q in self.procs if q is not p]

    def stop_all(self):
        for _, p in reversed(list(self.procs)):
            try:
                self.stop(p)
            except Exception as e:  # noqa: BLE001 - best effort at exit
                print(f"stopping {p.pid}: {e}", file=sys.stderr)
        for pf in list(self.postfixes):
            pf.stop()
            self.postfixes.remove(pf)

    def log_tail(self, name, n=15):
        try:
            with open(os.path.join(self.work, f"{name}.log"), errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return ""

    def wait_ready(self, name, proc, port, prefix, timeout=30.0):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BenchError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                    s.settimeout(5)
                    data = b""
                    while b"\r\n" not in data:
                        chunk = s.recv(1024)
                        if not chunk:
                            break
                        data += chunk
                    if data.startswith(prefix.encode()):
                        s.sendall(b"QUIT\r\n")
                        try:
                            s.recv(1024)
                        except OSError:
                            pass
                        return
                    last = data
            except OSError as e:
                last = e
            time.sleep(0.05)
        raise BenchError(f"{name} not ready on port {port} within {timeout} s (last: {last!r})\n"
                         f"{self.log_tail(name)}")

    def start(self, name, make_argv, prefix, ports=1, **kw):
        """Starts a server on fresh free ports (retried if a port was taken meanwhile).
        make_argv(ports) -> argv; the first port is checked for readiness."""
        for attempt in range(3):
            chosen = [free_port() for _ in range(ports)]
            argv = make_argv(chosen)
            p = self.spawn(name, argv, **kw)
            try:
                self.wait_ready(name, p, chosen[0], prefix)
                return p, chosen
            except BenchError:
                self.stop(p)
                if attempt == 2:
                    raise
                log(f"{name} did not start (attempt {attempt + 1}), trying other ports")
        raise AssertionError("unreachable")

    # ---------------------------------------------------------------- servers

    def start_post_office(self, name, data, extra):
        os.makedirs(data, exist_ok=True)

        def argv(ports):
            # Every load comes from 127.0.0.1: the per-client limits (50 at once, 60 a minute) would
            # refuse it, as Postfix's anvil would; the peers here have no such limit either.
            return [self.po, "serve", "--smtp", f"127.0.0.1:{ports[0]}", "--pop3",
                    f"127.0.0.1:{ports[1]}", "--data", data, "--plaintext-login",
                    "--max-per-client", "0", "--rate-per-client", "0"] + extra

        return argv

    def dovecot_conf(self, name, port, home_root, users, client_limit):
        d = os.path.join(self.work, name)
        os.makedirs(os.path.join(d, "run"), exist_ok=True)
        os.makedirs(os.path.join(d, "state"), exist_ok=True)
        passwd = os.path.join(d, "passwd")
        with open(passwd, "w") as f:
            for u in users:
                f.write(f"{u}:{{PLAIN}}{PASSWORD}\n")
        conf = os.path.join(d, "dovecot.conf")
        with open(conf, "w") as f:
            f.write(f"""# private Dovecot instance for bench/e2e
instance_name = pobench-{name}-{os.getpid()}
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain
mail_location = maildir:~
pop3_uidl_format = %08Xu%08Xv
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {passwd}
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={home_root}/%u
}}
# high-performance login mode: a few long-lived pop3-login processes serve every
# client before login (the default mode forks one process per connection)
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {port}
  }}
  service_count = 0
  process_min_avail = {os.cpu_count() or 2}
  client_limit = {client_limit}
}}
""")
        return conf

    def start_dovecot(self, name, home_root, users, client_limit=200):
        def argv(ports):
            conf = self.dovecot_conf(name, ports[0], home_root, users, client_limit)
            return ["dovecot", "-c", conf, "-F"]

        return self.start(name, argv, "+OK")

    # ---------------------------------------------------------------- mailboxes

    def make_mailboxes(self):
        src = os.path.join(self.work, "messages")
        boxes = {"boxa": self.cfg["a"], "boxb": self.cfg["b"]}
        for box, (count, size) in boxes.items():
            d = os.path.join(src, box)
            os.makedirs(d)
            for i in range(1, count + 1):
                name = f"{1700000000 + i}.M{i:06d}P1.bench"
                with open(os.path.join(d, name), "wb") as f:
                    f.write(make_message(i, size, box))
        for root in ("po-pop3", "dovecot-mail"):
            for box in boxes:
                for sub in ("new", "cur", "tmp"):
                    os.makedirs(os.path.join(self.work, root, box, sub))
                for name in sorted(os.listdir(os.path.join(src, box))):
                    # hard links: both servers read the very same files (same inodes)
                    os.link(os.path.join(src, box, name), os.path.join(self.work, root, box, "new", name))
        subprocess.run(["chown", "-R", "nobody:nogroup", os.path.join(self.work, "dovecot-mail")], check=True)

    # ---------------------------------------------------------------- POP3

    def pop3_client(self, mode, port, user, count=0):
        argv = [sys.executable, os.path.join(HERE, "pop3_client.py"), mode, "--port", str(port),
                "--user", user, "--password", PASSWORD,
                "--min-seconds", str(self.cfg["pop_min_seconds"]),
                "--max-rounds", str(self.cfg["pop_max_rounds"])]
        if count:
            argv += ["--count", str(count)]
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
        except subprocess.TimeoutExpired:
            return {"error": "client timed out after 900 s"}
        try:
            r = json.loads(proc.stdout.strip().splitlines()[-1])
        except (IndexError, json.JSONDecodeError):
            r = {"error": f"client failed: {proc.stdout[-300:]} {proc.stderr[-500:]}"}
        return r

    def phase_pop3(self):
        log("POP3: writing the mailboxes")
        self.make_mailboxes()
        po, po_ports = self.start("po-pop3", self.start_post_office(
            "po-pop3", os.path.join(self.work, "po-pop3"),
            ["--user", f"boxa:{PASSWORD}", "--user", f"boxb:{PASSWORD}"]), "220", ports=2)
        po_port = po_ports[1]
        self.wait_ready("po-pop3", po, po_port, "+OK")
        dv, dv_ports = self.start_dovecot("dovecot-pop3", os.path.join(self.work, "dovecot-mail"),
                                          ["boxa", "boxb"])
        dv_port = dv_ports[0]
        servers = [("post-office", po, po_port), ("Dovecot", dv, dv_port)]
        for box in ("boxa", "boxb"):
            for sname, _, port in servers:
                r = self.pop3_client("list", port, box)
                if "error" in r:
                    raise BenchError(f"POP3 warm-up of {sname} ({box}) failed: {r['error']}")
        boxes = [("boxa", "A", self.cfg["a"]), ("boxb", "B", self.cfg["b"])]
        for box, label, (count, size) in boxes:
            size_txt = f"{size // KIB} KiB" if size < MIB else f"{size // MIB} MiB"
            for mode, desc in POP3_MODES:
                # Three runs per server, alternating which goes first; the median counts (on a
                # shared 2-core machine one run of either server can be off by 2x).
                rates = {"post-office": [], "Dovecot": []}
                for rep in range(self.cfg["pop_reps"]):
                    order = servers if (len(self.rows) + rep) % 2 == 0 else servers[::-1]
                    for sname, proc, port in order:
                        log(f"POP3 {label} {mode} run {rep + 1}: {sname}")
                        r = self.pop3_client(mode, port, box)
                        if proc.poll() is not None:
                            r = {"error": f"{sname} exited ({proc.returncode}) during the run"}
                            self.notes.append(f"{sname} died during POP3 {label} {mode}:\n"
                                              f"```\n{self.log_tail('po-pop3' if sname == 'post-office' else 'dovecot-pop3')}```")
                        self.details.append(f"POP3 {label} {mode} run {rep + 1} {sname}: {json.dumps(r)}")
                        if "error" in r:
                            self.notes.append(f"POP3 mailbox {label}, {mode}, {sname}: {r['error']}")
                        elif r.get("rate") is not None:
                            rates[sname].append(r["rate"])
                po_r = statistics.median(rates["post-office"]) if rates["post-office"] else None
                dv_r = statistics.median(rates["Dovecot"]) if rates["Dovecot"] else None
                goal = "≥ 1.00x" if mode in ("retr", "top") else ""
                self.add_row(f"POP3 {label} ({count} x {size_txt}): {desc}", "msg/s", po_r, "Dovecot", dv_r,
                             higher_better=True, goal=goal)
                if po.poll() is not None or dv.poll() is not None:
                    raise BenchError("a POP3 server exited; see the notes")
        self.stop(po)
        self.stop(dv)

    # ---------------------------------------------------------------- SMTP

    def phase_smtp(self):
        po, po_ports = self.start("po-sink", self.start_post_office(
            "po-sink", os.path.join(self.work, "po-sink"), ["--sink"]), "220", ports=2)
        ss, ss_ports = self.start("smtp-sink", lambda p: ["smtp-sink", "-u", "nobody", f"127.0.0.1:{p[0]}", "256"],
                                  "220")
        servers = [("post-office", po, po_ports[0]), ("smtp-sink", ss, ss_ports[0])]
        tck = os.sysconf("SC_CLK_TCK")
        for key, desc, sessions, msgs, size, reuse in self.cfg["smtp_loads"]:
            runs = {s[0]: [] for s in servers}
            for rep in range(self.cfg["smtp_reps"]):
                order = servers if rep % 2 == 0 else servers[::-1]
                for sname, proc, port in order:
                    argv = ["smtp-source", "-s", str(sessions), "-m", str(msgs), "-l", str(size)]
                    if reuse:
                        argv.append("-d")
                    argv += ["-f", "a@example.com", "-t", "b@example.com", "-M", "client.example",
                             f"127.0.0.1:{port}"]
                    log(f"SMTP ({key}) run {rep + 1}: {sname}: {' '.join(argv)}")
                    c0 = cpu_ticks(proc.pid)
                    t0 = time.perf_counter()
                    try:
                        r = subprocess.run(argv, capture_output=True, text=True, timeout=600)
                        err = r.stderr.strip() if (r.returncode != 0 or r.stderr.strip()) else ""
                        if r.returncode != 0:
                            err = f"exit {r.returncode}: {err}"
                    except subprocess.TimeoutExpired:
                        err = "smtp-source timed out after 600 s"
                    wall = time.perf_counter() - t0
                    time.sleep(0.3)  # let the server finish the last sessions' QUIT
                    if proc.poll() is not None:
                        err = f"{sname} exited ({proc.returncode}) during the run"
                        self.notes.append(f"{sname} died during SMTP ({key}):\n```\n"
                                          f"{self.log_tail('po-sink' if sname == 'post-office' else 'smtp-sink')}```")
                        cpu = None
                    else:
                        cpu = (cpu_ticks(proc.pid) - c0) / tck
                    run = {"wall": wall, "cpu": cpu, "msgs": msgs, "error": err[:400]}
                    self.details.append(f"SMTP ({key}) run {rep + 1} {sname}: {json.dumps(run)}")
                    if err:
                        self.notes.append(f"SMTP ({key}) run {rep + 1}, {sname}: {err[:400]}")
                    else:
                        runs[sname].append(run)
                    if proc.poll() is not None:
                        break

            def rate(sname):
                rs = runs[sname]
                return statistics.median(r["msgs"] / r["wall"] for r in rs) if rs else None

            def cpu_per_msg(sname):
                rs = runs[sname]
                if not rs:
                    return None
                return sum(r["cpu"] for r in rs) / sum(r["msgs"] for r in rs) * 1e6

            self.add_row(f"SMTP ({key}) {desc}: throughput (median of {self.cfg['smtp_reps']})", "msg/s",
                         rate("post-office"), "smtp-sink", rate("smtp-sink"), higher_better=True, goal="≥ 1.00x")
            self.add_row(f"SMTP ({key}) server CPU per message", "µs/msg", cpu_per_msg("post-office"),
                         "smtp-sink", cpu_per_msg("smtp-sink"), higher_better=False, goal="< 1.00x")
            if po.poll() is not None:
                break
        self.stop(po)
        self.stop(ss)

    # ---------------------------------------------------------------- durable delivery into a Maildir

    def start_postfix_maildir(self):
        pf = PostfixMaildir(os.path.join(self.work, "postfix-maildir"), MAILDIR_DOMAIN, MAILDIR_USER)
        self.postfixes.append(pf)
        with open(self.pidfile, "a") as f:
            f.write(f"{pf.master_pid()} master\n")  # run.sh stops its process group if we cannot
        return pf

    def durable_run(self, label, server, sessions, msgs, size):
        """One smtp-source load into `server` (a dict: maildir, cpu, alive, settled, port): the
        time from the start of smtp-source until the last message is in the Maildir's new/ (polled
        every 10 ms), smtp-source's own wall time, and the server's CPU time. Raises BenchError if
        smtp-source fails, or if the Maildir then holds other than `msgs` files of >= `size` octets."""
        maildir_clear(server["maildir"], self.trash)
        # Nothing left for the disk to write from earlier work (the other phases' mailboxes, the
        # last run's directories): each run's syncs wait for its own writes only, whichever
        # server it is. Without it, the first measured run of a full invocation cost each server
        # up to 3x the CPU and time of the later ones.
        os.sync()
        # Until the inodes the last Postfix run freed are 35 s old (maildir_clear's docstring):
        # each run starts on a quiet file system; Postfix pays for its own queue files within
        # its run, as it would in service.
        quiet = self.freed_at + MAILDIR_QUIET - time.monotonic()
        if quiet > 0:
            log(f"{label}: {quiet:.0f} s for the freed inodes to age (ext4 without a journal)")
            time.sleep(quiet)
        new = os.path.join(server["maildir"], "new")
        argv = ["smtp-source", "-s", str(sessions), "-m", str(msgs), "-l", str(size), "-f", "a@example.com",
                "-t", f"{MAILDIR_USER}@{MAILDIR_DOMAIN}", "-M", "client.example", f"127.0.0.1:{server['port']}"]
        log(f"{label}: {' '.join(argv)}")
        out = open(os.path.join(self.work, "smtp-source.out"), "w+")
        c0 = server["cpu"]()
        t0_clock = time.time()  # the files' ctimes are on this clock
        t0 = time.perf_counter()
        source = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        source_wall = None
        delivered = None
        count = 0
        next_count = t0
        try:
            while delivered is None or source_wall is None:
                now = time.perf_counter()
                if source_wall is None and source.poll() is not None:
                    source_wall = now - t0
                    if source.returncode != 0:
                        break
                # new/ is listed only once smtp-source is done: listing thousands of names holds
                # the directory's lock that every delivery's rename needs, and a server spinning
                # on it would be charged for the ruler. The time comes from the files' ctimes
                # below; the listing only tells when the last one is there.
                if delivered is None and source_wall is not None and now >= next_count:
                    count = len(os.listdir(new))
                    if count >= msgs:
                        delivered = now - t0
                    else:
                        next_count = now + 0.05
                if now - t0 > MAILDIR_DEADLINE or not server["alive"]():
                    break
                time.sleep(0.01)
        finally:
            if source.poll() is None:
                source.kill()
            source.wait()
            out.seek(0)
            source_out = out.read().strip()
            out.close()
        if source.returncode != 0 or source_out:
            raise BenchError(f"{label}: smtp-source exit {source.returncode}: {source_out[-400:]}")
        if not server["alive"]():
            raise BenchError(f"{label}: the server exited during the run")
        if delivered is None:
            raise BenchError(f"{label}: {count} of {msgs} messages in the Maildir after "
                             f"{time.perf_counter() - t0:.0f} s")
        server["settled"]()
        cpu = (server["cpu"]() - c0) / os.sysconf("SC_CLK_TCK")
        if server.get("frees"):
            self.freed_at = time.monotonic()
        names = os.listdir(new)
        stats = [os.stat(os.path.join(new, n)) for n in names]
        short = [st for st in stats if st.st_size < size]
        elsewhere = len(os.listdir(os.path.join(server["maildir"], "cur")))
        if len(names) != msgs or short or elsewhere:
            raise BenchError(f"{label}: {len(names)} files in new/ for {msgs} messages sent, "
                             f"{len(short)} shorter than {size} octets, {elsewhere} in cur/")
        # A file's ctime is set when it is linked or renamed into new/: the newest one is when the
        # last message arrived, to the kernel's clock tick, whenever the polling saw it.
        last = max(st.st_ctime for st in stats) - t0_clock
        return {"deliver": last, "polled": delivered, "wall": source_wall, "cpu": cpu, "msgs": msgs}

    def phase_maildir(self):
        sessions, msgs, size = self.cfg["maildir_load"]
        reps = self.cfg["maildir_reps"]
        # Each server's tree in a block group of its own, as if at the top of the file system
        # (ext4's Orlov allocator honours the T attribute): not among the inodes other work
        # under /tmp frees all the time.
        subprocess.run(["chattr", "+T", self.work], capture_output=True)
        self.trash = os.path.join(self.work, "maildir-trash")
        self.freed_at = -MAILDIR_QUIET
        data = os.path.join(self.work, "po-maildir")
        os.makedirs(data)

        def po_argv(ports):
            # A POP3 port of its own too: without --pop3 it would take the default, 1110.
            return [self.po, "serve", "--smtp", f"127.0.0.1:{ports[0]}", "--pop3", f"127.0.0.1:{ports[1]}",
                    "--data", data, "--domain",
                    MAILDIR_DOMAIN, "--user", f"{MAILDIR_USER}:{PASSWORD}",
                    "--max-per-client", "0", "--rate-per-client", "0"]

        po, po_ports = self.start("po-maildir", po_argv, "220", ports=2)
        # The Maildir exists once the first message is delivered: made here, as post-office does.
        for sub in ("new", "cur", "tmp"):
            os.makedirs(os.path.join(data, MAILDIR_USER, sub), exist_ok=True)
        pf = self.start_postfix_maildir()

        def po_settled():
            time.sleep(0.3)  # the last sessions' QUIT

        def pf_settled():
            # Postfix answers 250 once its queue file is fsync'ed and delivers afterwards: wait
            # until qmgr has removed every queue file, then for the daemons to go idle.
            deadline = time.monotonic() + 60
            while queue_files(pf.queue) and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.5)

        servers = [
            {"name": "post-office", "port": po_ports[0], "maildir": os.path.join(data, MAILDIR_USER),
             "cpu": lambda: cpu_ticks(po.pid), "alive": lambda: po.poll() is None, "settled": po_settled},
            {"name": "Postfix", "port": pf.port, "maildir": pf.maildir, "cpu": pf.cpu, "alive": pf.alive,
             "settled": pf_settled, "frees": True},
        ]
        for server in servers:
            self.durable_run(f"Maildir warm-up: {server['name']}", server, sessions, MAILDIR_WARMUP or msgs, size)
        runs = {s["name"]: [] for s in servers}
        for rep in range(reps):
            order = servers if rep % 2 == 0 else servers[::-1]
            for server in order:
                label = f"Maildir run {rep + 1}: {server['name']}"
                try:
                    run = self.durable_run(label, server, sessions, msgs, size)
                except BenchError as e:
                    self.notes.append(str(e))
                    self.details.append(f"{label}: failed")
                    if not server["alive"]():
                        raise
                    continue
                log(f"{label}: {fmt(msgs / run['deliver'])} msg/s stored, "
                    f"{fmt(run['cpu'] / msgs * 1e6)} µs/msg")
                self.details.append(f"{label}: {json.dumps(run)}")
                runs[server["name"]].append(run)
        shutil.rmtree(self.trash, ignore_errors=True)

        def rate(name):
            rs = runs[name]
            return statistics.median(r["msgs"] / r["deliver"] for r in rs) if rs else None

        def cpu_per_msg(name):
            # The median run's, as for the throughput: one run disturbed by other work on the
            # machine (inodes freed elsewhere in its block group, say) does not move it.
            rs = runs[name]
            return statistics.median(r["cpu"] / r["msgs"] for r in rs) * 1e6 if rs else None

        self.add_row(f"Durable delivery into a Maildir (fsync), {sessions} sessions x {msgs} msgs of "
                     f"{size // KIB} KiB: throughput (median of {reps})", "msg/s", rate("post-office"),
                     "Postfix (virtual)", rate("Postfix"), higher_better=True, goal="≥ 4.00x", ratio_goal=4.0)
        self.add_row("Durable delivery: server CPU per stored message", "µs/msg", cpu_per_msg("post-office"),
                     "Postfix (all processes)", cpu_per_msg("Postfix"), higher_better=False, goal="≤ 300 µs",
                     absolute_goal=300.0)
        self.stop(po)
        pf.stop()
        self.postfixes.remove(pf)

    # ---------------------------------------------------------------- idle connections

    def idle_measure(self, label, name, proc, port, greeting, rss):
        n = self.cfg["idle"]
        time.sleep(0.5)
        before = rss()
        idle = subprocess.Popen([sys.executable, os.path.join(HERE, "idle.py"), "--port", str(port),
                                 "--count", str(n), "--greeting", greeting],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            line = idle.stdout.readline().strip()
            if not line.startswith("ready"):
                self.notes.append(f"idle {label} {name}: {line or 'idle.py failed'}")
                self.details.append(f"idle {label} {name}: {line}")
                return None
            time.sleep(2.0)
            after = rss()
            alive = proc.poll() is None
            idle.stdin.close()
            tail = idle.stdout.read().strip()
        finally:
            if idle.poll() is None:
                try:
                    idle.wait(30)
                except subprocess.TimeoutExpired:
                    idle.kill()
                    idle.wait()
        per = (after - before) / n
        self.details.append(f"idle {label} {name}: RSS {before} KiB -> {after} KiB with {n} connections "
                            f"= {per:.2f} KiB each; {tail}")
        if not alive:
            self.notes.append(f"idle {label}: {name} exited")
        m = re.search(r"closed-by-server (\d+)", tail)
        if m and int(m.group(1)):
            self.notes.append(f"idle {label} {name}: the server closed {m.group(1)} of the {n} idle connections "
                              f"before the measurement ended")
        return per

    def phase_idle(self):
        n = self.cfg["idle"]
        # post-office SMTP
        po, ports = self.start("po-idle-smtp", self.start_post_office(
            "po-idle-smtp", os.path.join(self.work, "po-idle-smtp"), []), "220", ports=2)
        log(f"idle: {n} SMTP connections to post-office")
        po_smtp = self.idle_measure("SMTP", "post-office", po, ports[0], "220", lambda: vm_rss_kib(po.pid))
        self.stop(po)
        # aiosmtpd
        ai_smtp = None
        if subprocess.run([sys.executable, "-c", "import aiosmtpd"], capture_output=True).returncode == 0:
            try:
                ai, aports = self.start("aiosmtpd", lambda p: [sys.executable, "-m", "aiosmtpd", "-n", "-l",
                                                                f"127.0.0.1:{p[0]}", "-c", "aiosmtpd.handlers.Sink"],
                                        "220")
                log(f"idle: {n} SMTP connections to aiosmtpd")
                ai_smtp = self.idle_measure("SMTP", "aiosmtpd", ai, aports[0], "220", lambda: vm_rss_kib(ai.pid))
                self.stop(ai)
            except BenchError as e:
                self.notes.append(f"aiosmtpd did not start: {e}")
        else:
            self.notes.append("aiosmtpd is not installed (`python3 -m pip install aiosmtpd`): no SMTP idle peer")
        self.add_row(f"Idle SMTP: {n} connections after the greeting, server RSS growth", "KiB/conn", po_smtp,
                     "aiosmtpd", ai_smtp, higher_better=False, goal="≤ 8 KiB", absolute_goal=8.0)
        # post-office POP3
        po, ports = self.start("po-idle-pop3", self.start_post_office(
            "po-idle-pop3", os.path.join(self.work, "po-idle-pop3"), ["--user", f"boxa:{PASSWORD}"]),
            "220", ports=2)
        self.wait_ready("po-idle-pop3", po, ports[1], "+OK")
        log(f"idle: {n} POP3 connections to post-office")
        po_pop3 = self.idle_measure("POP3", "post-office", po, ports[1], "+OK", lambda: vm_rss_kib(po.pid))
        self.stop(po)
        # Dovecot POP3 (high-performance login mode), RSS summed over all its processes
        home = os.path.join(self.work, "dovecot-idle-mail")
        os.makedirs(home, exist_ok=True)
        dv, dports = self.start_dovecot("dovecot-idle", home, ["boxa"], client_limit=n + 200)
        log(f"idle: {n} POP3 connections to Dovecot")
        dv_pop3 = self.idle_measure("POP3", "Dovecot", dv, dports[0], "+OK", lambda: tree_rss_kib(dv.pid))
        self.stop(dv)
        self.add_row(f"Idle POP3: {n} connections after the greeting, server RSS growth", "KiB/conn", po_pop3,
                     "Dovecot (all processes)", dv_pop3, higher_better=False, goal="≤ 8 KiB", absolute_goal=8.0)

    # ---------------------------------------------------------------- table

    def add_row(self, what, unit, po, peer, peer_value, higher_better, goal="", absolute_goal=None, ratio_goal=1.0):
        ratio = po / peer_value if (po is not None and peer_value) else None
        met = ""
        if absolute_goal is not None:
            met = "n/a" if po is None else ("yes" if po <= absolute_goal else "no")
        elif goal and ratio is not None:
            met = "yes" if (ratio >= ratio_goal if higher_better else ratio < ratio_goal) else "no"
        elif goal:
            met = "n/a"
        self.rows.append({
            "what": what, "unit": unit, "po": po, "peer": peer, "peer_value": peer_value,
            "ratio": ratio, "goal": goal, "met": met,
        })

    def table(self):
        out = ["| # | measure | unit | post-office | peer | peer's figure | post-office / peer | goal | met |",
               "|---|---|---|---:|---|---:|---:|---|---|"]
        for i, r in enumerate(self.rows, 1):
            if r["ratio"] is None:
                ratio = "n/a"
            elif r["ratio"] >= 0.095:
                ratio = f"{r['ratio']:.2f}x"
            else:
                ratio = f"{r['ratio']:.2g}x"
            out.append(f"| {i} | {r['what']} | {r['unit']} | {fmt(r['po'])} | {r['peer']} | "
                       f"{fmt(r['peer_value'])} | {ratio} | {r['goal']} | {r['met']} |")
        return "\n".join(out)

    def versions(self):
        def first_line(argv):
            try:
                r = subprocess.run(argv, capture_output=True, text=True, timeout=20)
                return (r.stdout or r.stderr).strip().splitlines()[0]
            except (OSError, IndexError, subprocess.SubprocessError):
                return "?"

        cpu = "?"
        try:
            with open("/proc/cpuinfo") as f:
                for line in f:
                    if line.startswith("model name"):
                        cpu = line.split(":", 1)[1].strip()
                        break
        except OSError:
            pass
        postfix = first_line(["dpkg-query", "-W", "-f=${Version}", "postfix"])
        aiosmtpd = first_line([sys.executable, "-c", "import aiosmtpd; print(aiosmtpd.__version__)"])
        return (f"{os.cpu_count()} cores ({cpu}), Linux {platform.release()}; "
                f"Dovecot {first_line(['dovecot', '--version'])}, "
                f"Postfix {postfix} (smtp-source, smtp-sink, the durable Maildir peer), "
                f"{first_line(['mpop', '--version'])}, Python {platform.python_version()}, aiosmtpd {aiosmtpd}")

    def report(self, started, phases_done):
        cfg = self.cfg
        a, b = cfg["a"], cfg["b"]
        sessions, msgs, size = cfg["maildir_load"]
        described = [
            ("pop3", f"Mailbox A: {a[0]} messages of {a[1] // KIB} KiB; mailbox B: {b[0]} messages of "
                     f"{b[1] // MIB} MiB (the same files, hard-linked, for both servers). POP3 rates: messages "
                     f"retrieved / seconds, each client repeating its walk over the mailbox until "
                     f"{cfg['pop_min_seconds']} s have passed, {cfg['pop_reps']} runs per server alternating, "
                     f"the median counting (at most {cfg['pop_max_rounds']} walks, at least one)."),
            ("smtp", f"SMTP: wall time of smtp-source, median of {cfg['smtp_reps']} runs per server "
                     f"(alternating order); CPU: utime+stime of the server process over all those runs / "
                     f"messages."),
            ("maildir", f"Durable delivery: smtp-source ({sessions} sessions, {msgs} messages of {size} "
                        f"octets, one per connection) into `post-office serve --domain` and into a private "
                        f"Postfix delivering with virtual(8) into a Maildir, both on the work directory's file "
                        f"system; msg/s = messages / time from the start of smtp-source until the last one is "
                        f"in the Maildir's new/ (the newest ctime there; Postfix acknowledges on its queue file "
                        f"and delivers afterwards), median of {cfg['maildir_reps']} runs per server "
                        f"(alternating); CPU: post-office's utime+stime, Postfix's summed over master and its "
                        f"daemons (utime+stime+cutime+cstime of master and of each child: the exited ones "
                        f"count through master's cutime/cstime)."),
            ("idle", f"Idle: VmRSS growth of the server (Dovecot: summed over all its processes) with "
                     f"{cfg['idle']} connections open."),
        ]
        lines = [
            "# bench/e2e results",
            "",
            f"Command: `{self.args.command}` ({'quick' if self.args.quick else 'full'} run), "
            f"{started:%Y-%m-%d %H:%M} UTC, {time.time() - started.timestamp():.0f} s in all.",
            f"post-office: {self.args.revision}.",
            f"Machine and peers: {self.versions()}.",
            f"Load average (1 min) at the start {self.load_start}, at the end {loadavg()}: other work on the "
            f"machine during the run shows here and disturbs the figures.",
            "",
            " ".join(text for phase, text in described if phase in self.args.phases.split(","))
            + " Ratios are post-office / peer, from this run; for µs/msg and KiB/conn lower is better.",
            "",
            self.table(),
            "",
        ]
        if phases_done != self.args.phases.split(","):
            lines += [f"Incomplete: only these phases finished: {', '.join(phases_done) or 'none'}.", ""]
        if self.notes:
            lines += ["## Notes", ""] + [f"- {n}" for n in self.notes] + [""]
        lines += ["## Every run", "", "```"] + self.details + ["```", ""]
        return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--post-office", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--revision", default="?")
    ap.add_argument("--command", default="bash bench/e2e/run.sh")
    ap.add_argument("--phases", default="pop3,smtp,maildir,idle",
                    help="comma-separated, in order: pop3, smtp, maildir, idle")
    args = ap.parse_args()

    def on_signal(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")

    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)

    bench = Bench(args)
    started = datetime.datetime.now(datetime.timezone.utc)
    done = []
    status = 0
    try:
        for phase in args.phases.split(","):
            log(f"phase {phase}")
            try:
                getattr(bench, f"phase_{phase}")()
                done.append(phase)
            except BenchError as e:
                bench.notes.append(f"phase {phase} failed: {e}")
                log(f"phase {phase} failed: {e}")
                status = 1
            finally:
                bench.stop_all()
    except KeyboardInterrupt:
        log("interrupted")
        status = 130
    finally:
        bench.stop_all()
    text = bench.report(started, done)
    print()
    print(bench.table())
    if bench.notes:
        print("\nNotes:")
        for n in bench.notes:
            print(f"- {n}")
    with open(args.out, "w") as f:
        f.write(text)
    log(f"written to {args.out}")
    return status


if __name__ == "__main__":
    sys.exit(main())
