"""S-NIAH quality on this machine: base model vs RLM without sub-calls vs RLM.

All three use the embedded local:qwen2.5-coder-1.5b (32K window) on this CPU. The base
model answers directly with RULER's prompt; past its window the haystack is truncated
to fit, as the paper's baseline does. Results are appended to
benchmarks/results/quality_sniah.jsonl (a re-run skips finished items) and summarised
in RESULTS.md.

Usage: python benchmarks/quality_sniah.py [--lengths 8192,32768,131072,1048576] [--n 5]
           [--methods rlm,rlm_nosub,base] [--threads 2] [--report-only]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path
from typing import Any

from rlmx import RLM, Limits
from rlmx.eval.sniah import NeedleTask, essays, make_task
from rlmx.lm.local import LocalLM

from common import write_section

OUT = Path(__file__).with_name("results") / "quality_sniah.jsonl"
MODEL = "qwen2.5-coder-1.5b"
BASE_MAX_TOKENS = 24
METHOD_NAMES = {"base": "base model", "rlm_nosub": "RLM (no sub-calls)", "rlm": "RLM"}


def chars_per_token(lm: LocalLM) -> float:
    """The haystack's characters per token under the model's own tokenizer."""
    sample = "\n\n".join(essays())[:200_000]
    return len(sample) / lm.count_tokens([{"role": "user", "content": sample}])


def run_base(lm: LocalLM, task: NeedleTask) -> dict[str, Any]:
    """Direct prompting; the haystack is cut to fit the window (and we say so)."""
    llama = lm._llama()
    budget = lm.context_window - lm.count_tokens(
        [{"role": "user", "content": task.base_prompt("")}]
    )
    budget -= BASE_MAX_TOKENS + 64  # room for the chat template and the whole answer
    tokens = llama.tokenize(task.context.encode(), add_bos=False)
    truncated = len(tokens) > budget
    context = task.context
    if truncated:
        context = llama.detokenize(tokens[:budget]).decode("utf-8", errors="ignore")
    started = time.perf_counter()
    response = asyncio.run(
        lm.complete(
            [{"role": "user", "content": task.base_prompt(context)}],
            max_tokens=BASE_MAX_TOKENS,
        )
    )
    return {
        "answer": response.text,
        "seconds": time.perf_counter() - started,
        "tokens": response.usage.total_tokens,
        "iterations": 1,
        "truncated": truncated,
        "needle_kept": task.answer in context,
    }


def run_rlm(lm: LocalLM, task: NeedleTask, sub_calls: bool) -> dict[str, Any]:
    rlm = RLM(lm, lm, max_iterations=8, sub_calls=sub_calls, limits=Limits(cell_seconds=60),
              trajectory=OUT.parent / "trajectories")  # fmt: skip
    started = time.perf_counter()
    result = rlm.completion(task.context, task.query)
    return {
        "answer": result.answer,
        "seconds": time.perf_counter() - started,
        "tokens": result.usage.total.total_tokens,
        "iterations": result.iterations,
        "status": result.status,
        "sub_calls": result.usage.sub.calls,
        "run_id": result.run_id,
    }


def done_keys() -> set[tuple[str, int, int]]:
    if not OUT.exists():
        return set()
    rows = [json.loads(line) for line in OUT.read_text().splitlines() if line.strip()]
    return {(r["method"], r["length"], r["seed"]) for r in rows}


def run(lengths: list[int], n: int, methods: list[str], threads: int) -> None:
    lm = LocalLM(MODEL, threads=threads, threads_batch=threads)
    ratio = chars_per_token(lm)
    print(f"chars per token: {ratio:.2f}")
    finished = done_keys()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    # RLM methods first at every length: they are quick; the base model at 32K is slow.
    plan = [(m, length) for m in methods if m != "base" for length in lengths]
    plan += [(m, length) for m in methods if m == "base" for length in lengths]
    for method, length in plan:
        for seed in range(n):
            if (method, length, seed) in finished:
                continue
            task = make_task(length, seed, ratio)
            if method == "base":
                row = run_base(lm, task)
            else:
                row = run_rlm(lm, task, sub_calls=method == "rlm")
            row.update(method=method, length=length, seed=seed, gold=task.answer,
                       depth=task.depth, score=task.score(row["answer"]),
                       context_chars=len(task.context), threads=threads)  # fmt: skip
            with OUT.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{method:9} {length:>8} seed {seed}: score {row['score']:.0f} "
                  f"{row['seconds']:.1f}s {row['tokens']} tokens", flush=True)  # fmt: skip
        report()


def label(length: int) -> str:
    return f"{length // 1024}K" if length < 2**20 else f"{length // 2**20}M"


def report() -> None:
    rows = [json.loads(line) for line in OUT.read_text().splitlines() if line.strip()]
    lengths = sorted({r["length"] for r in rows})
    lines = [
        "| method | " + " | ".join(label(x) for x in lengths) + " |",
        "|---|" + "---|" * len(lengths),
    ]
    for method in METHOD_NAMES:
        cells = []
        for length in lengths:
            mine = [r for r in rows if r["method"] == method and r["length"] == length]
            if not mine:
                cells.append("-")
                continue
            acc = 100 * statistics.mean(r["score"] for r in mine)
            tok = statistics.mean(r["tokens"] for r in mine)
            sec = statistics.mean(r["seconds"] for r in mine)
            note = ""
            if any(r.get("truncated") for r in mine):
                kept = sum(bool(r.get("needle_kept")) for r in mine)
                note = f" (cut to the window; needle kept in {kept}/{len(mine)})"
            cells.append(f"{acc:.0f}% (n={len(mine)}), {tok:,.0f} tok, {sec:.0f} s{note}")
        lines.append(f"| {METHOD_NAMES[method]} | " + " | ".join(cells) + " |")
    threads = "/".join(str(t) for t in sorted({r.get("threads", 1) for r in rows}))
    body = "\n".join(lines) + (
        f"\n\nEach cell: accuracy (RULER: gold 7-digit value contained in the answer), mean "
        f"tokens per task (all LM calls), mean seconds per task. Model "
        f"local:{MODEL} (Q4_K_M, 32K window) for root and sub-calls, {threads} llama.cpp "
        "thread(s), temperature 0. Haystack: Paul Graham essays (RULER), needle at one of "
        "40 depths; lengths in Qwen tokens. Base model past 32K: haystack truncated to the "
        "window, so it only sees needles in the first ~30K tokens. Raw rows: "
        "benchmarks/results/quality_sniah.jsonl."
    )
    write_section("S-NIAH quality (embedded model)", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lengths", default="8192,32768,131072,1048576")
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--methods", default="rlm,rlm_nosub,base")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--report-only", action="store_true")
    args = parser.parse_args()
    if args.report_only:
        report()
        return
    lengths = [int(x) for x in args.lengths.split(",")]
    run(lengths, args.n, args.methods.split(","), args.threads)


if __name__ == "__main__":
    main()
