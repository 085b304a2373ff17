#!/usr/bin/env python3
"""POP3 load clients for bench/e2e (Python standard library only).

Modes (each prints one JSON object on stdout):

  retr    raw socket, exactly one command in flight: send `RETR n`, read the whole
          dot-terminated answer, then send the next one
  top     the same with `TOP n 0`
  poplib  Python's poplib, `retr(n)` for each message
  mpop    runs mpop (pipelining) once per round: every message fetched into an mbox
          (/dev/null), kept on the server, a fresh UIDL file each time
  list    log in, STAT, LIST, UIDL, QUIT (warm-up: the server indexes the maildrop)

Rounds: every mode walks messages 1..N (N from STAT, or --count) and repeats the walk
until --min-seconds have passed or --max-rounds walks are done (at least one walk).
Only the retrieval is timed (login and QUIT excluded), except for mpop, where the whole
process run is timed (connect, login, UIDL, LIST, every RETR, QUIT).
Nothing is ever deleted.
"""

import argparse
import json
import os
import poplib
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time


class Pop3Error(Exception):
    pass


class RawClient:
    """A minimal POP3 client on a raw socket, one command in flight."""

    def __init__(self, host, port, timeout=120.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray(1 << 20)
        self.view = memoryview(self.buf)
        self.pending = b""
        line = self.line()
        if not line.startswith(b"+OK"):
            raise Pop3Error(f"greeting: {line!r}")

    def line(self):
        """Reads one CRLF-terminated line (for single-line answers)."""
        data = self.pending
        while b"\r\n" not in data:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Pop3Error("connection closed")
            data += chunk
        line, _, rest = data.partition(b"\r\n")
        self.pending = rest
        return line

    def command(self, text):
        self.sock.sendall(text.encode() + b"\r\n")
        line = self.line()
        if not line.startswith(b"+OK"):
            raise Pop3Error(f"{text.split()[0]}: {line!r}")
        return line

    def multiline(self, text):
        """Sends `text`, reads a multi-line answer to its terminating CRLF.CRLF without
        keeping it; returns the number of octets of the answer (status line included)."""
        if self.pending:
            raise Pop3Error(f"unexpected data before {text!r}: {self.pending[:60]!r}")
        self.sock.sendall(text.encode() + b"\r\n")
        total = 0
        first = True
        tail = b""
        while True:
            n = self.sock.recv_into(self.buf)
            if n == 0:
                raise Pop3Error("connection closed in a multi-line answer")
            if first:
                first = False
                if n < 3 or bytes(self.view[:3]) != b"+OK":
                    raise Pop3Error(f"{text!r}: {bytes(self.view[:min(n, 80)])!r}")
            total += n
            if n >= 5:
                tail = bytes(self.view[n - 5 : n])
            else:
                tail = (tail + bytes(self.view[:n]))[-5:]
            # A dot-stuffed body never holds CRLF.CRLF except as the terminator, and with
            # one command in flight nothing follows it.
            if tail == b"\r\n.\r\n":
                return total

    def login(self, user, password):
        self.command(f"USER {user}")
        self.command(f"PASS {password}")

    def stat(self):
        line = self.command("STAT")
        parts = line.split()
        return int(parts[1]), int(parts[2])

    def quit(self):
        try:
            self.command("QUIT")
        finally:
            self.sock.close()


def rounds(count, min_seconds, max_rounds, one):
    """Calls one(i) for i in 1..count, repeated; returns (messages, seconds, octets)."""
    msgs = 0
    octets = 0
    done = 0
    start = time.perf_counter()
    while True:
        for i in range(1, count + 1):
            octets += one(i)
            msgs += 1
        done += 1
        elapsed = time.perf_counter() - start
        if elapsed >= min_seconds or done >= max_rounds:
            return msgs, elapsed, octets, done


def run_raw(args, verb):
    c = RawClient(args.host, args.port)
    c.login(args.user, args.password)
    n, size = c.stat()
    count = min(n, args.count) if args.count else n
    if count == 0:
        raise Pop3Error("empty maildrop")
    per_msg = size // n
    cmd = "RETR {}" if verb == "retr" else "TOP {} 0"

    def one(i):
        got = c.multiline(cmd.format(i))
        if verb == "retr" and got < per_msg:
            raise Pop3Error(f"RETR {i}: {got} octets, expected at least {per_msg}")
        return got

    result = rounds(count, args.min_seconds, args.max_rounds, one)
    c.quit()
    return result


def run_poplib(args):
    p = poplib.POP3(args.host, args.port, timeout=120)
    p.user(args.user)
    p.pass_(args.password)
    n, size = p.stat()
    count = min(n, args.count) if args.count else n
    per_msg = size // n

    def one(i):
        _, lines, octets = p.retr(i)
        if octets < per_msg:
            raise Pop3Error(f"poplib RETR {i}: {octets} octets, expected at least {per_msg}")
        return octets

    result = rounds(count, args.min_seconds, args.max_rounds, one)
    p.quit()
    return result


def run_mpop(args):
    mpop = shutil.which("mpop")
    if not mpop:
        return {"error": "mpop is not installed"}
    if args.count:
        return {"error": "mpop fetches the whole maildrop; --count is not supported"}
    c = RawClient(args.host, args.port)
    c.login(args.user, args.password)
    n, size = c.stat()
    c.quit()
    work = tempfile.mkdtemp(prefix="mpop.")
    uidls = os.path.join(work, "uidls")
    cmd = [
        mpop, f"--host={args.host}", f"--port={args.port}", "--tls=off", "--auth=user",
        f"--user={args.user}", f"--passwordeval=echo {args.password}", "--pipelining=on",
        "--keep=on", "--only-new=on", f"--uidls-file={uidls}", "--delivery=mbox,/dev/null",
        "--received-header=off", "--timeout=120", "--half-quiet",
    ]
    msgs = 0
    done = 0
    elapsed = 0.0
    try:
        while True:
            if os.path.exists(uidls):
                os.unlink(uidls)  # every message is new again: all of them are fetched
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
            elapsed += time.perf_counter() - t0
            if proc.returncode != 0:
                return {"error": f"mpop exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[:300]}"}
            m = re.search(r"new: (\d+) messages?", proc.stdout)
            got = int(m.group(1)) if m else -1
            if got != n:
                return {"error": f"mpop fetched {got} of {n} messages: {proc.stdout.strip()[:300]}"}
            msgs += got
            done += 1
            if elapsed >= args.min_seconds or done >= args.max_rounds:
                break
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return msgs, elapsed, size * done, done


def run_list(args):
    c = RawClient(args.host, args.port)
    c.login(args.user, args.password)
    n, size = c.stat()
    t0 = time.perf_counter()
    c.multiline("LIST")
    c.multiline("UIDL")
    elapsed = time.perf_counter() - t0
    c.quit()
    return n, elapsed, size, 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=["retr", "top", "poplib", "mpop", "list"])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--count", type=int, default=0, help="messages 1..COUNT only (default: all)")
    ap.add_argument("--min-seconds", type=float, default=2.0)
    ap.add_argument("--max-rounds", type=int, default=20)
    args = ap.parse_args()
    try:
        if args.mode in ("retr", "top"):
            r = run_raw(args, args.mode)
        elif args.mode == "poplib":
            r = run_poplib(args)
        elif args.mode == "mpop":
            r = run_mpop(args)
        else:
            r = run_list(args)
    except (OSError, Pop3Error, poplib.error_proto, subprocess.SubprocessError) as e:
        r = {"error": f"{type(e).__name__}: {e}"}
    if isinstance(r, dict):
        print(json.dumps(r))
        return 1
    msgs, seconds, octets, done = r
    print(json.dumps({
        "msgs": msgs, "seconds": seconds, "octets": octets, "rounds": done,
        "rate": msgs / seconds if seconds > 0 else None,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
