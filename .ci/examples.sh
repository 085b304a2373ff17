#!/usr/bin/env bash
# Builds and runs every example of the crates on loopback, against post-office, Python's
# smtplib/poplib and each other. Called by .ci/run; runnable alone from the repository root.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() {
    for _ in $(seq 1 100); do
        python3 -c "import socket; socket.create_connection(('127.0.0.1', $1), 1).close()" 2>/dev/null && return 0
        sleep 0.1
    done
    echo "nothing listens on port $1" >&2
    return 1
}

cargo build -q -p post-office
cargo build -q -p smtp-proto --examples
cargo build -q -p mail-io --examples --features blocking
bin=target/debug
ex=target/debug/examples

echo "--- smtp-proto codec"
"$ex/codec" > "$work/codec.out"
grep -q "pipelining: true" "$work/codec.out"

echo "--- mail-io smtp_sink, fed by Python's smtplib"
port=$(free_port)
"$ex/smtp_sink" "$port" > "$work/sink.out" &
pids+=($!)
wait_port "$port"
python3 - "$port" <<'PY'
import smtplib, sys
with smtplib.SMTP("127.0.0.1", int(sys.argv[1])) as s:
    s.sendmail("a@example.org", ["b@example.com", "c@example.com"], b"Subject: x\r\n\r\nhello\r\n")
PY
sleep 0.2
grep -q "for 2 recipient(s)" "$work/sink.out"

echo "--- mail-io smtp_send (STARTTLS, AUTH PLAIN, a self-signed CA:TRUE certificate) into post-office"
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
smtp=$(free_port)
pop3=$(free_port)
"$bin/post-office" serve --smtp "127.0.0.1:$smtp" --pop3 "127.0.0.1:$pop3" --data "$work/data" \
    --user alice:secret --tls-cert "$work/cert.pem" --tls-key "$work/key.pem" 2> "$work/po.log" &
pids+=($!)
wait_port "$smtp"
printf 'Subject: from the example\r\n\r\nhello\r\n' |
    "$ex/smtp_send" "localhost:$smtp" alice secret me@example.org alice@example.com "$work/cert.pem" \
    > "$work/send.out"
grep -q "<alice@example.com>: accepted" "$work/send.out"
grep -rq "from the example" "$work/data/alice/new"

for example in pop3_memory pop3_blocking_memory; do
    echo "--- mail-io $example, read by Python's poplib"
    port=$(free_port)
    "$ex/$example" "$port" &
    pids+=($!)
    wait_port "$port"
    python3 - "$port" <<'PY'
import poplib, sys
p = poplib.POP3("127.0.0.1", int(sys.argv[1]))
p.user("alice"); p.pass_("secret")
count, _ = p.stat()
assert count >= 1, count
lines = p.retr(1)[1]
assert any(b"Subject" in line for line in lines), lines
p.quit()
PY
done
echo "examples: all ran"
