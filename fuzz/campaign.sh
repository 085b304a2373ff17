#!/usr/bin/env bash
# A fuzzing campaign: every target (or the ones named) for N minutes, its corpus kept in
# fuzz/corpus/<target> between runs and minimised after each, the executions, coverage and
# features per target written to a table. Not part of CI (CI runs each target for 20 seconds).
#
#   bash fuzz/campaign.sh                      # every target, 10 minutes each
#   bash fuzz/campaign.sh --minutes 1 smtp_server pop3_server
#   bash fuzz/campaign.sh --out results.md     # the table goes here (default: stdout only)
#
# A crash stops nothing: the campaign goes on with the next target, the crashing input stays in
# fuzz/artifacts/<target>/, and the script exits non-zero at the end. Turn each crash into a
# regression test beside the code it breaks.
set -uo pipefail
cd "$(dirname "$0")"

minutes=10
seconds_only=""
out=""
targets=()
while [ $# -gt 0 ]; do
    case "$1" in
        --minutes) minutes="$2"; shift 2 ;;
        --seconds) seconds_only="$2"; shift 2 ;;
        --out) out="$2"; shift 2 ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) targets+=("$1"); shift ;;
    esac
done

if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    fuzz() { cargo +nightly fuzz "$@"; }
else
    fuzz() { RUSTC_BOOTSTRAP=1 cargo fuzz "$@"; }
fi
if [ ${#targets[@]} -eq 0 ]; then
    mapfile -t targets < <(fuzz list)
fi
fuzz build -O >/dev/null 2>&1 || { fuzz build -O; exit 1; }

seconds=${seconds_only:-$((minutes * 60))}
if [ -n "$seconds_only" ]; then minutes=$(awk "BEGIN { printf \"%.1f\", $seconds_only / 60 }"); fi
table="| target | minutes | executions | exec/s | coverage (edges) | features | corpus before -> after cmin | result |
|---|---|---|---|---|---|---|---|"
failed=0
for target in "${targets[@]}"; do
    dict=()
    case "$target" in smtp_*) dict=(-dict=dict/smtp.dict) ;; pop3_*) dict=(-dict=dict/pop3.dict) ;; esac
    mkdir -p "corpus/$target"
    log=$(mktemp)
    echo "--- $target: $minutes min" >&2
    if fuzz run -O "$target" "corpus/$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 \
        -print_final_stats=1 "${dict[@]}" >"$log" 2>&1; then
        result="no crash"
    else
        result="CRASH: see fuzz/artifacts/$target"
        failed=1
        tail -n 30 "$log" >&2
    fi
    executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    # The last status line: "#N  DONE  cov: C ft: F corp: ..." (or REDUCE/NEW/pulse).
    status=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
    coverage=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$status")
    features=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$status")
    before=$(find "corpus/$target" -type f | wc -l)
    fuzz cmin -O "$target" "corpus/$target" >/dev/null 2>&1 || true
    after=$(find "corpus/$target" -type f | wc -l)
    rm -f "$log"
    row="| $target | $minutes | ${executions:-?} | ${rate:-?} | ${coverage:-?} | ${features:-?} | $before -> $after | $result |"
    echo "$row" >&2
    table+=$'\n'"$row"
done

echo "$table"
if [ -n "$out" ]; then
    { echo "Fuzzing campaign, $(date -u +%Y-%m-%d), $minutes minutes per target:"; echo; echo "$table"; } >"$out"
fi
exit "$failed"
