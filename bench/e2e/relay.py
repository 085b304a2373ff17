#!/usr/bin/env python3
"""Relay throughput, end to end: office A relays to office B, both post-office, both fsync.

A (`serve --domain a.example --route b.example=127.0.0.1:B --relay-network 127.0.0.0/8`) takes
N messages of SIZE octets over M concurrent smtplib sessions (each session sends its share on one
connection), queues each durably before its 250 and delivers it to B (`serve --domain b.example`),
which stores it in bob's Maildir (fsync'ed before its 250). The figure is messages/s from the first
submission to the last file in B's Maildir (its modification time). It also gives the submission
rate alone, and the CPU time of A and B per message (utime + stime from /proc, 10 ms ticks).

With --postfix, a private Postfix instance (its own config and queue directories, started with
`postfix -c DIR start`, stopped at the end) takes A's place, relaying to the same kind of B
through `transport_maps` (`b.example smtp:[127.0.0.1]:PORT`): the same load, the same sink.

Prints Markdown table rows. Standard library only; Linux (/proc); --postfix needs root and Postfix
(`apt-get install postfix`, "No configuration"). Not part of CI.

    cargo build --release -p post-office
    python3 bench/e2e/relay.py --post-office target/release/post-office -n 2000 -m 10 [--postfix]
"""

import argparse
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench import (  # noqa: E402
    BenchError,
    cpu_ticks,
    fmt,
    free_port,
    loadavg,
    log,
    make_message,
    postfix_cpu_ticks,
    postfix_master_cf,
)

# How long the whole relay of one run may take before the run is called failed.
DEADLINE = 600.0


def wait_greeting(port, proc, name, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise BenchError(f"{name} exited with {proc.returncode}")
        try:
            s = smtplib.SMTP("127.0.0.1", port, timeout=5)
            s.quit()
            return
        except (OSError, smtplib.SMTPException):
            time.sleep(0.05)
    raise BenchError(f"{name} does not answer on port {port} within {timeout} s")


class Server:
    """A `post-office serve` on fresh loopback ports, its log in the work directory."""

    def __init__(self, binary, work, name, extra):
        self.name = name
        self.data = os.path.join(work, name)
        os.makedirs(self.data)
        for attempt in range(3):
            self.smtp, pop3 = free_port(), free_port()
            argv = [binary, "serve", "--smtp", f"127.0.0.1:{self.smtp}", "--pop3",
                    f"127.0.0.1:{pop3}", "--data", self.data, "--rate-per-client", "0",
                    "--max-per-client", "0"] + extra
            with open(os.path.join(work, f"{name}.log"), "ab") as logf:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf,
                                             stderr=subprocess.STDOUT, start_new_session=True)
            try:
                wait_greeting(self.smtp, self.proc, name)
                return
            except BenchError:
                self.stop()
                if attempt == 2:
                    raise

    def cpu(self):
        return cpu_ticks(self.proc.pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Postfix:
    """A private Postfix instance relaying b.example to 127.0.0.1:`to_port`."""

    def __init__(self, work, to_port):
        self.root = os.path.join(work, "postfix")
        self.conf = os.path.join(self.root, "etc")
        os.makedirs(self.conf)
        self.smtp = free_port()
        queue = os.path.join(self.root, "queue")
        data = os.path.join(self.root, "data")
        for d in (queue, data):
            os.makedirs(d)
        shutil.chown(data, "postfix")
        with open(os.path.join(self.conf, "transport"), "w") as f:
            f.write(f"b.example smtp:[127.0.0.1]:{to_port}\n")
        with open(os.path.join(self.conf, "main.cf"), "w") as f:
            f.write(f"""compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
meta_directory = /etc/postfix
myhostname = relay-bench.example
mydomain = a.example
mydestination =
alias_maps =
alias_database =
local_recipient_maps =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
relay_domains = b.example
transport_maps = texthash:{self.conf}/transport
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtp_tls_security_level = may
smtpd_client_connection_rate_limit = 0
smtpd_client_connection_count_limit = 0
smtp_dns_support_level = disabled
smtp_host_lookup = native
maillog_file = {self.root}/maillog
maillog_file_prefixes = {self.root}
syslog_name = postfix-relay-bench
default_process_limit = 100
""")
        with open(os.path.join(self.conf, "master.cf"), "w") as f:
            f.write(postfix_master_cf(self.smtp))
        self.postfix(["check"])
        self.postfix(["start"])
        wait_greeting(self.smtp, None, "postfix")

    def postfix(self, args):
        p = subprocess.run(["postfix", "-c", self.conf] + args, capture_output=True, text=True,
                           timeout=60)
        if p.returncode != 0:
            raise BenchError(f"postfix {' '.join(args)}: {p.stdout}{p.stderr}")

    def master_pid(self):
        with open(os.path.join(self.root, "queue", "pid", "master.pid")) as f:
            return int(f.read().split()[0])

    def cpu(self):
        return postfix_cpu_ticks(self.master_pid())

    def queue_empty(self):
        p = subprocess.run(["postqueue", "-c", self.conf, "-p"], capture_output=True, text=True,
                           timeout=60)
        return "Mail queue is empty" in p.stdout

    def stop(self):
        try:
            self.postfix(["stop"])
        except (BenchError, subprocess.TimeoutExpired) as e:
            log(f"stopping Postfix: {e}")


def maildir_files(data, user):
    paths = []
    for sub in ("new", "cur"):
        d = os.path.join(data, user, sub)
        if os.path.isdir(d):
            paths += [os.path.join(d, name) for name in os.listdir(d)]
    return paths


def submit(port, count, sessions, size):
    """count messages over `sessions` smtplib sessions at once; (start, end, acked, errors)."""
    messages = [make_message(n, size, "bob") for n in range(count)]
    acked = [0] * sessions
    errors = []
    barrier = threading.Barrier(sessions + 1)

    def session(k):
        try:
            s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.example", timeout=60)
            barrier.wait(30)
            for n in range(k, count, sessions):
                s.sendmail("alice@a.example", ["bob@b.example"], messages[n])
                acked[k] += 1
            s.quit()
        except Exception as e:  # noqa: BLE001 - counted and reported
            errors.append(f"session {k}: {e!r}")
            try:
                barrier.abort()
            except threading.BrokenBarrierError:
                pass

    threads = [threading.Thread(target=session, args=(k,), daemon=True) for k in range(sessions)]
    for t in threads:
        t.start()
    try:
        barrier.wait(30)
    except threading.BrokenBarrierError:
        errors.append("the sessions did not all connect")
    start = time.time()
    for t in threads:
        t.join(DEADLINE)
    return start, time.time(), sum(acked), errors


def run(relay, a, b, args):
    """One load through relay `a` into `b`: a dict of figures."""
    cpu_a, cpu_b = a.cpu(), b.cpu()
    start, submitted, acked, errors = submit(a.smtp, args.n, args.m, args.size)
    if errors or acked != args.n:
        raise BenchError(f"{relay}: {acked} of {args.n} acknowledged; {errors[:3]}")
    deadline = time.monotonic() + DEADLINE
    while len(maildir_files(b.data, "bob")) < args.n:
        if time.monotonic() > deadline:
            raise BenchError(f"{relay}: only {len(maildir_files(b.data, 'bob'))} of {args.n} "
                             f"messages reached B in {DEADLINE} s")
        time.sleep(0.01)
    files = maildir_files(b.data, "bob")
    last = max(os.stat(p).st_mtime for p in files)
    # Let the relay finish its bookkeeping (removing queue files) before reading its CPU time.
    time.sleep(1.0)
    if len(maildir_files(b.data, "bob")) != args.n:
        raise BenchError(f"{relay}: {len(maildir_files(b.data, 'bob'))} messages in B for "
                         f"{args.n} sent (duplicates)")
    return {
        "relay": relay,
        "rate": args.n / (last - start),
        "submit_rate": args.n / (submitted - start),
        "seconds": last - start,
        "cpu_a_us": (a.cpu() - cpu_a) * 10_000 / args.n,
        "cpu_b_us": (b.cpu() - cpu_b) * 10_000 / args.n,
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--post-office", required=True, help="the post-office binary (a release build)")
    ap.add_argument("-n", type=int, default=2000, help="messages (default 2000)")
    ap.add_argument("-m", type=int, default=10, help="concurrent submission sessions (default 10)")
    ap.add_argument("--size", type=int, default=10240, help="octets per message (default 10240)")
    ap.add_argument("--relay-workers", type=int, help="A's --relay-workers (post-office's default)")
    ap.add_argument("--relay-per-domain", type=int,
                    help="A's --relay-per-domain (post-office's default)")
    ap.add_argument("--postfix", action="store_true", help="also Postfix as A (needs root)")
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="po-relay.")
    os.chmod(work, 0o755)  # Postfix's daemons (user postfix) reach their queue under it
    servers = []
    rows = []
    status = 0
    load = loadavg()
    try:
        relays = ["post-office"] + (["Postfix"] if args.postfix else [])
        for relay in relays:
            log(f"{relay} as A: {args.n} messages of {args.size} octets over {args.m} sessions")
            b = Server(args.post_office, work, f"b-{relay}",
                       ["--domain", "b.example", "--user", "bob:bench"])
            servers.append(b)
            if relay == "post-office":
                extra = ["--domain", "a.example", "--user", "alice:bench",
                         "--route", f"b.example=127.0.0.1:{b.smtp}",
                         "--relay-network", "127.0.0.0/8"]
                if args.relay_workers:
                    extra += ["--relay-workers", str(args.relay_workers)]
                if args.relay_per_domain:
                    extra += ["--relay-per-domain", str(args.relay_per_domain)]
                a = Server(args.post_office, work, "a", extra)
            else:
                a = Postfix(work, b.smtp)
            servers.append(a)
            r = run(relay, a, b, args)
            if relay == "post-office":
                listing = subprocess.run([args.post_office, "queue", "--data", a.data],
                                         capture_output=True, text=True, timeout=60).stdout
                if not listing.startswith("0 messages queued"):
                    raise BenchError(f"A's queue is not empty: {listing[-300:]}")
            elif not a.queue_empty():
                raise BenchError("Postfix's queue is not empty")
            rows.append(r)
            log(f"{relay}: {fmt(r['rate'])} msg/s end to end in {r['seconds']:.1f} s")
            for server in reversed(servers):
                server.stop()
            servers = []
    except BenchError as e:
        log(f"failed: {e}")
        status = 1
    except KeyboardInterrupt:
        status = 130
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"load average {load} at the start, {loadavg()} at the end; {os.cpu_count()} cores")
    print()
    print("| relay A (to post-office B) | workload | msg/s end to end | submission msg/s | "
          "A CPU µs/msg | B CPU µs/msg |")
    print("|---|---|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['relay']} | {args.n} msgs of {fmt(args.size / 1024)} KiB, {args.m} sessions | "
              f"{fmt(r['rate'])} | {fmt(r['submit_rate'])} | {fmt(r['cpu_a_us'])} | "
              f"{fmt(r['cpu_b_us'])} |")
    return status


if __name__ == "__main__":
    sys.exit(main())
