"""How long the `make demo` question takes with the embedded default model, per process.

Each repeat runs `rlmx ask HAYSTACK -q "What is the special magic number for
lively-harbor?" --json` as a new process twice, on two haystacks of ~1M tokens (other
seeds and depths), with a fresh rlmx cache folder (the models linked in): the first run
evaluates the whole root prompt; the second finds the root's first prompt kept on disk by
the first. Reported: median wall seconds of each, whether the answer was right, and the
share of the root turns' prompt tokens served from a cache (`usage.cached_input_tokens`).

Usage: python benchmarks/embedded_speed.py [--repeats 3] [--label NAME] [--src DIR]
(``--src`` runs another checkout's rlmx, e.g. the commit before a change, for a baseline.)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rlmx.lm.registry import cache_dir

from common import write_section

HERE = Path(__file__).resolve().parent
QUESTION = "What is the special magic number for lively-harbor?"
ANSWER = "7341592"


def haystack(folder: Path, seed: int, depth: float) -> Path:
    out = folder / f"haystack-{seed}.txt"
    subprocess.run([sys.executable, str(HERE.parent / "examples" / "make_haystack.py"),
                    str(out), "--tokens", "1000000", "--seed", str(seed), "--depth",
                    str(depth)], check=True)  # fmt: skip
    return out


def ask(context: Path, cache: Path, src: Path | None) -> dict[str, Any]:
    """One `rlmx ask` process: its wall seconds, answer and usage."""
    env = {**os.environ, "RLMX_CACHE_DIR": str(cache)}
    if src is not None:
        env["PYTHONPATH"] = str(src)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "rlmx.cli", "ask", str(context), "-q",
                           QUESTION, "--json"], env=env, capture_output=True, text=True,
                          timeout=1800)  # fmt: skip
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        return {"seconds": seconds, "right": False, "cached_share": 0.0,
                "error": done.stderr[-500:]}  # fmt: skip
    result = json.loads(done.stdout)
    root = result["usage"]["root"]  # the root's turns: where the long prompt is
    return {
        "seconds": seconds,
        "right": ANSWER in str(result.get("answer")),
        "cached_share": root.get("cached_input_tokens", 0) / max(1, root["input_tokens"]),
        "calls": result["usage"]["total"]["calls"],
        "iterations": result.get("iterations"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="this checkout")
    parser.add_argument("--src", type=Path, default=None)
    args = parser.parse_args()
    runs: list[tuple[dict[str, Any], dict[str, Any]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for repeat in range(args.repeats):
            cache = folder / f"cache-{repeat}"
            cache.mkdir()
            (cache / "models").symlink_to(cache_dir())
            first = ask(haystack(folder, 10 + repeat, 0.3), cache, args.src)
            second = ask(haystack(folder, 20 + repeat, 0.7), cache, args.src)
            print(json.dumps({"first": first, "second": second}), flush=True)
            runs.append((first, second))
    rows = []
    for name, index in (("first run (cold)", 0), ("second run, another haystack", 1)):
        picked = [run[index] for run in runs]
        seconds = statistics.median(r["seconds"] for r in picked)
        right = sum(r["right"] for r in picked)
        share = statistics.median(r["cached_share"] for r in picked)
        rows.append(f"| {args.label} | {name} | {seconds:.1f} s | {right}/{len(picked)} | "
                    f"{share:.0%} |")  # fmt: skip
    print("\n".join(rows))
    write_section(
        f"Embedded default speed ({args.label})",
        f"`python benchmarks/embedded_speed.py --label '{args.label}'`: the `make demo` "
        f"question over two ~1M-token haystacks per repeat, each `rlmx ask` a new process "
        f"with the default model and threads; median of {args.repeats} repeats.\n\n"
        "| code | run | wall | right | root prompt tokens from a cache |\n|---|---|---|---|---|\n"
        + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
