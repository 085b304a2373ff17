#!/usr/bin/env bash
# End-to-end benchmark of post-office against real peers, on loopback, in one run:
#   POP3   post-office vs a private Dovecot, same messages (500 x 20 KiB, 20 x 5 MiB), four clients
#   SMTP   Postfix's smtp-source against `post-office serve --sink` vs smtp-sink, three loads
#   maildir durable delivery into a Maildir (fsync), smtp-source against post-office vs Postfix
#   idle   RSS of 1000 idle SMTP and 1000 idle POP3 connections (vs aiosmtpd, Dovecot)
# Prints a markdown table and writes it to bench/e2e/results.md (results-quick.md with --quick,
# results-maildir.md with --maildir-only: those are not committed).
# Not part of CI. See bench/e2e/README.md.
#
# Usage: bash bench/e2e/run.sh [--quick] [--maildir-only] [--no-install] [--no-build]
#                              [--post-office PATH] [--out FILE]
#   --quick             small loads, a smoke run (under 2 minutes)
#   --maildir-only      only the durable Maildir phase (about a minute; results-maildir.md)
#   --no-install        do not install missing peers
#   --no-build          use the existing $CARGO_TARGET_DIR/release/post-office (default target/)
#   --post-office PATH  use that binary (implies --no-build)
#   --out FILE          write the report there
# Needs root (Dovecot, smtp-sink -u nobody, chown) and Debian/Ubuntu's apt-get for the install.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

quick=0
install=1
build=1
out=""
binary=""
phases="pop3,smtp,maildir,idle"
args=("$@")
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) quick=1 ;;
        --no-install) install=0 ;;
        --no-build) build=0 ;;
        --maildir-only) phases="maildir" ;;
        --post-office) binary="$2"; build=0; shift ;;
        --post-office=*) binary="${1#--post-office=}"; build=0 ;;
        --out) out="$2"; shift ;;
        --out=*) out="${1#--out=}" ;;
        -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
    shift
done
if [ -z "$out" ]; then
    name=results
    [ "$phases" = maildir ] && name="$name-maildir"
    [ "$quick" = 1 ] && name="$name-quick"
    out="$HERE/$name.md"
fi
if [ -n "$binary" ]; then
    [ -x "$binary" ] || { echo "--post-office $binary: not an executable" >&2; exit 2; }
    binary="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
fi

step() { printf '\n==> %s\n' "$*"; }

if [ "$(id -u)" != 0 ]; then
    echo "run.sh needs root: Dovecot and smtp-sink drop privileges to nobody, Maildirs are chowned" >&2
    exit 1
fi

# ------------------------------------------------------------------ peers
missing() {
    for program in postfix smtp-source smtp-sink dovecot doveadm mpop python3; do
        command -v "$program" >/dev/null 2>&1 || return 0
    done
    [ -e /usr/lib/dovecot/pop3 ] || return 0
    return 1
}
if [ "$install" = 1 ] && missing; then
    step "installing the peers (postfix tools, dovecot-core, dovecot-pop3d, mpop, python3)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # "No configuration" keeps Postfix from becoming the system MTA; only its tools are used.
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt-get install -y -qq --no-install-recommends postfix dovecot-core dovecot-pop3d python3 >/dev/null
    apt-get install -y -qq --no-install-recommends mpop >/dev/null \
        || echo "mpop could not be installed; its rows will say so" >&2
fi
if [ "$install" = 1 ] && ! python3 -c 'import aiosmtpd' >/dev/null 2>&1; then
    step "installing aiosmtpd"
    python3 -m pip install --quiet aiosmtpd \
        || echo "aiosmtpd could not be installed; the SMTP idle peer will be missing" >&2
fi
required=(postfix smtp-source python3)
[ "$phases" = maildir ] || required+=(smtp-sink dovecot)
for program in "${required[@]}"; do
    command -v "$program" >/dev/null 2>&1 || { echo "missing: $program" >&2; exit 1; }
done

# ------------------------------------------------------------------ post-office
cd "$ROOT"
given="$binary"
if [ -z "$binary" ]; then
    # cargo puts it under CARGO_TARGET_DIR when set (a relative one is taken from here, as cargo does).
    binary="${CARGO_TARGET_DIR:-target}/release/post-office"
fi
if [ "$build" = 1 ]; then
    step "cargo build --release -p post-office"
    cargo build --release -p post-office
fi
[ -x "$binary" ] || { echo "$binary is missing" >&2; exit 1; }

revision="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no -- Cargo.toml Cargo.lock mail-wire smtp-proto \
        pop3-proto post-office 2>/dev/null)" ]; then
    revision="$revision with uncommitted changes in the working tree at build time"
else
    revision="commit $revision"
fi
if [ -n "$given" ]; then
    revision="$binary (given; this working tree is at $revision)"
fi

# ------------------------------------------------------------------ run
work="$(mktemp -d /tmp/po-e2e.XXXXXX)"
chmod 755 "$work"  # Dovecot's unprivileged processes must reach their base_dir and the Maildirs
bench_pid=""
cleanup() {
    trap - EXIT INT TERM HUP
    if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -TERM "$bench_pid" 2>/dev/null || true
        wait "$bench_pid" 2>/dev/null || true
    fi
    # Servers bench.py started and could not stop (it records each one: "PID NAME").
    if [ -f "$work/pids" ]; then
        while read -r pid name; do
            if [ -r "/proc/$pid/cmdline" ] && tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "$name"; then
                kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
            fi
        done <"$work/pids"
    fi
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP

# A copy of the binary: other builds may replace it during the run.
cp "$binary" "$work/post-office"

# 1000 idle connections per server, plus the client's side, plus Dovecot's processes.
hard="$(ulimit -Hn)"
if [ "$hard" = unlimited ] || [ "$hard" -gt 65536 ]; then hard=65536; fi
ulimit -n "$hard"
if [ "$(ulimit -n)" -lt 4096 ]; then
    echo "warning: ulimit -n is $(ulimit -n); the idle-connection rows need at least 4096" >&2
fi

mode_flag=()
[ "$quick" = 1 ] && mode_flag=(--quick)
step "benchmark (work directory $work)"
python3 "$HERE/bench.py" "${mode_flag[@]}" --phases "$phases" --post-office "$work/post-office" --work "$work" \
    --out "$out" --revision "$revision" --command "bash bench/e2e/run.sh${args[*]:+ ${args[*]}}" &
bench_pid=$!
status=0
wait "$bench_pid" || status=$?
bench_pid=""
exit "$status"
