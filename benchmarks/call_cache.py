"""What the LM call cache saves: the same `rlmx eval run` twice with `--cache`.

The RLM method over S-NIAH items with the embedded default, run as a new process twice
against one cache folder (and a fresh folder per repeat). Reported: wall seconds and tokens
evaluated of the first and the second run, and the calls the second answered from the
cache.

Usage: python benchmarks/call_cache.py [--n 3] [--length 16000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import write_section


def eval_run(out: Path, cache: Path, n: int, length: int) -> tuple[float, list[dict]]:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "rlmx.cli", "eval", "run", "--task", "sniah",
                    "--method", "rlm", "--lengths", str(length), "--n", str(n), "--out",
                    str(out), "--cache", str(cache)], check=True, capture_output=True)  # fmt: skip
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    return time.perf_counter() - started, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=3)
    parser.add_argument("--length", type=int, default=16_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="rlmx-cache-bench-"))
    lines = ["| run | wall s | tokens evaluated | LM calls | from the cache | right |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for name in ("first", "second (same command)"):
        seconds, rows = eval_run(folder / f"{len(lines)}.jsonl", folder / "cache", args.n,
                                 args.length)  # fmt: skip
        usage = [row["usage"] for row in rows]
        lines.append(f"| {name} | {seconds:.1f} | {sum(u['total_tokens'] for u in usage):,} | "
                     f"{sum(u['calls'] for u in usage)} | "
                     f"{sum(u['cached_calls'] for u in usage)} | "
                     f"{sum(row['score'] for row in rows):g}/{len(rows)} |")  # fmt: skip
    write_section(
        "LM call cache",
        f"`rlmx eval run --task sniah --method rlm --lengths {args.length} --n {args.n} "
        "--cache DIR` twice, the embedded default as root and sub-model, each a new process "
        "(model loading included).\n\n" + "\n".join(lines),
    )


if __name__ == "__main__":
    main()
