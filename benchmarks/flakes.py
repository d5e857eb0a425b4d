"""Flake hunt: run test files many times in a row and count the runs that did not pass.

Target (issue 20): tests/test_sandbox.py passes 20 times out of 20 (an unraisable warning,
such as an unclosed subprocess transport, fails the run: pytest turns it into an error).

Usage: python benchmarks/flakes.py [--runs 20] [TEST_FILE ...]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from common import write_section


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("files", nargs="*", default=["tests/test_sandbox.py"])
    args = parser.parse_args()
    failures, seconds = [], []
    for run in range(args.runs):
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                               *args.files], capture_output=True, text=True)  # fmt: skip
        seconds.append(time.perf_counter() - started)
        last = (proc.stdout.strip().splitlines() or ["(no output)"])[-1]
        if proc.returncode != 0:
            failures.append(f"run {run + 1}: {last}")
        print(f"run {run + 1}/{args.runs}: exit {proc.returncode}, {last}", flush=True)
    files = ", ".join(args.files)
    body = (
        f"`{files}`, {args.runs} runs in a row: **{args.runs - len(failures)}/{args.runs} "
        f"passed**, median {statistics.median(seconds):.1f} s per run "
        "(PytestUnraisableExceptionWarning is an error, so a leaked transport fails a run)."
    )
    if failures:
        body += "\n\nFailed runs:\n" + "\n".join(f"- {f}" for f in failures)
    write_section("Flake hunt", body)


if __name__ == "__main__":
    main()
