"""How fast `rlmx ask` stops on Ctrl-C, and how fast it refuses an empty input.

Ctrl-C: `rlmx ask` with the embedded default over a ~30,000-token text (a long first
prompt for the 1.5B model), SIGINT sent at a fixed delay after the root model's call began
(the kept trajectory shows `run_started`; the model is then evaluating its prompt or
generating) and,
separately, while a cell sleeps. Reported: seconds from SIGINT to the process's exit
(target: <= 2 s) and its exit status (130). Empty input: `printf '' | rlmx ask - -q ...`
and an empty file, seconds to exit 2 (target: under a second).

Usage: python benchmarks/interrupt_latency.py [--repeats 3] [--delay 3]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_section

HERE = Path(__file__).resolve().parent
RLMX = [sys.executable, "-m", "rlmx.cli", "ask"]


def kept_runs(data: Path) -> set[Path]:
    return set((data / "runs").glob("*.jsonl")) if (data / "runs").exists() else set()


def interrupt(doc: Path, data: Path, extra: list[str], marker: str, delay: float) -> tuple:
    """(seconds from SIGINT to exit, exit status) of one `rlmx ask`."""
    before = kept_runs(data)
    env = {**os.environ, "RLMX_DATA_DIR": str(data)}
    quiet = subprocess.DEVNULL
    argv = [*RLMX, str(doc), "-q", "What is the magic number?", *extra]
    proc = subprocess.Popen(argv, stdout=quiet, stderr=quiet, env=env)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:  # until the run reached the step to interrupt
        new = kept_runs(data) - before
        if new and marker in next(iter(new)).read_text():
            break
        time.sleep(0.05)
    time.sleep(delay)
    sent = time.perf_counter()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=120)
    return time.perf_counter() - sent, proc.returncode


def empty_input(args: list[str], stdin: str | None) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run([*RLMX, *args, "-q", "q"], input=stdin, capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    return time.perf_counter() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--delay", type=float, default=3.0)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rlmx-interrupt-"))
    doc = folder / "haystack.txt"
    subprocess.run([sys.executable, str(HERE.parent / "examples" / "make_haystack.py"),
                    str(doc), "--tokens", "30000", "--seed", "5"], check=True)  # fmt: skip
    script = folder / "sleepy.json"
    script.write_text(json.dumps(["```repl\nimport time\ntime.sleep(120)\n```"]))
    cases = {
        "embedded model, during its first root call": ([], '"run_started"'),
        "a cell running (time.sleep)": (["--root", f"replay:{script}"], '"cell_started"'),
    }
    lines = ["| moment of Ctrl-C | median s to exit | max s | exit statuses |", "|---|---|---|---|"]
    for name, (extra, marker) in cases.items():
        runs = [interrupt(doc, folder / f"data-{i}", extra, marker, args.delay)
                for i in range(args.repeats)]  # fmt: skip
        seconds = [s for s, _ in runs]
        codes = sorted({code for _, code in runs})
        lines.append(f"| {name} | {statistics.median(seconds):.2f} | {max(seconds):.2f} | "
                     f"{', '.join(map(str, codes))} |")  # fmt: skip
    empty = folder / "empty.txt"
    empty.write_text("")
    for name, (argv, stdin) in {"empty stdin (`printf '' | rlmx ask -`)": (["-"], ""),
                                "an empty file": ([str(empty)], None)}.items():  # fmt: skip
        runs = [empty_input(argv, stdin) for _ in range(args.repeats)]
        seconds = [s for s, _ in runs]
        lines.append(f"| {name}: refused | {statistics.median(seconds):.2f} | "
                     f"{max(seconds):.2f} | {sorted({c for _, c in runs})} |")  # fmt: skip
    write_section(
        "Ctrl-C and empty input",
        f"{args.repeats} runs each; Ctrl-C {args.delay:g} s after the step began, over a "
        "~30,000-token haystack. Targets: exit 130 within 2 s of Ctrl-C; an empty input "
        "refused (exit 2) in under a second (a Python start-up included).\n\n" + "\n".join(lines),
    )


if __name__ == "__main__":
    main()
