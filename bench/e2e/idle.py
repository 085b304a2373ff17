#!/usr/bin/env python3
"""Opens COUNT connections to HOST:PORT, reads each greeting, then stays silent.

Prints `ready N` on stdout once all N greetings have arrived, then holds the connections
until its standard input reaches end of file (or it is terminated), and closes them.
Connections are opened in batches so that no listen backlog overflows.
Exits 1 (after printing `error ...`) if a connection is refused or a greeting does not come.
"""

import argparse
import selectors
import socket
import sys
import time


def open_batch(host, port, n, prefix, timeout):
    socks = []
    for _ in range(n):
        s = socket.create_connection((host, port), timeout=timeout)
        s.setblocking(False)
        socks.append(s)
    sel = selectors.DefaultSelector()
    got = {}
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
        got[s] = b""
    waiting = len(socks)
    deadline = time.monotonic() + timeout
    while waiting:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"{waiting} greetings did not arrive within {timeout} s")
        for key, _ in sel.select(left):
            s = key.fileobj
            data = s.recv(4096)
            if not data:
                raise ConnectionError(f"closed before its greeting (after {got[s]!r})")
            got[s] += data
            if b"\r\n" in got[s]:
                if not got[s].startswith(prefix):
                    raise ConnectionError(f"unexpected greeting {got[s][:80]!r}")
                sel.unregister(s)
                waiting -= 1
    sel.close()
    return socks


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--greeting", default="", help="expected greeting prefix, e.g. 220 or +OK")
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()
    held = []
    try:
        while len(held) < args.count:
            n = min(args.batch, args.count - len(held))
            held += open_batch(args.host, args.port, n, args.greeting.encode(), args.timeout)
    except (OSError, TimeoutError, ConnectionError) as e:
        print(f"error after {len(held)} connections: {type(e).__name__}: {e}", flush=True)
        return 1
    print(f"ready {len(held)}", flush=True)
    try:
        sys.stdin.read()
    except KeyboardInterrupt:
        pass
    # Connections still open? Check none was closed by the server while idle.
    closed = 0
    for s in held:
        try:
            if s.recv(1, socket.MSG_PEEK) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    for s in held:
        s.close()
    print(f"closed-by-server {closed}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
