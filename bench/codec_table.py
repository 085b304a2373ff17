#!/usr/bin/env python3
"""Runs `cargo bench --bench smtp` RUNS times (default 2) and prints the codec table of the
README: criterion's median for ours and stalwart's on each input, and their ratio, per run.

    cd bench && python3 codec_table.py [--runs N]

Issue 16's goal is 1.5x stalwart on every input, in two runs."""

import argparse
import json
import os
import pathlib
import subprocess
import sys

HERE = pathlib.Path(__file__).resolve().parent
# Where criterion writes, as it decides: CRITERION_HOME, else the target directory's.
CRITERION = pathlib.Path(
    os.environ.get("CRITERION_HOME")
    or pathlib.Path(os.environ.get("CARGO_TARGET_DIR") or HERE / "target") / "criterion"
)

# (row label, criterion group, our function, stalwart's function)
ROWS = [
    ("`EHLO mail.example.com`", "command_EHLO", "smtp-proto (ours)", "stalwart smtp-proto 0.2"),
    ("MAIL with SIZE and BODY", "command_MAIL", "smtp-proto (ours)", "stalwart smtp-proto 0.2"),
    ("RCPT with NOTIFY and ORCPT", "command_RCPT", "smtp-proto (ours)", "stalwart smtp-proto 0.2"),
    ("`250 2.1.0 Ok`", "reply_250_2.1.0_Ok", "smtp-proto (ours)", "stalwart smtp-proto 0.2"),
    (
        "10-line EHLO reply, generic",
        "reply_EHLO_10_lines",
        "smtp-proto (ours), generic reply",
        "stalwart smtp-proto 0.2, generic reply",
    ),
    (
        "10-line EHLO reply, typed",
        "reply_EHLO_10_lines",
        "smtp-proto (ours), typed EHLO response",
        "stalwart smtp-proto 0.2, typed EHLO response",
    ),
]
GOAL = 1.5


def median(group: str, function: str) -> float:
    path = CRITERION / group / function / "new" / "estimates.json"
    return json.loads(path.read_text())["median"]["point_estimate"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    runs = []
    for run in range(args.runs):
        command = ["cargo", "bench", "--bench", "smtp"]
        print(f"run {run + 1} of {args.runs}: {' '.join(command)}", file=sys.stderr)
        subprocess.run(command, cwd=HERE, check=True, stdout=subprocess.DEVNULL)
        runs.append([(median(g, ours), median(g, theirs)) for _, g, ours, theirs in ROWS])
    header = " | ".join(f"run {n + 1}: ours / stalwart, ratio" for n in range(len(runs)))
    print(f"| input | {header} | goal met |")
    print("|---|" + "---|" * len(runs) + "---|")
    for index, (label, *_rest) in enumerate(ROWS):
        cells = []
        met = True
        for run in runs:
            ours, theirs = run[index]
            ratio = theirs / ours
            met = met and ratio >= GOAL
            cells.append(f"{ours:.2f} / {theirs:.2f} ns, {ratio:.2f}x")
        print(f"| {label} | {' | '.join(cells)} | {'yes' if met else 'no'} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
