"""OOLONG-style counting (every line must be classified) at small scale, embedded model.

Base model (whole context in the prompt) vs RLM without sub-calls vs RLM, all with
local:qwen2.5-coder-1.5b. Rows go to benchmarks/results/quality_oolong.jsonl (resumable).

Usage: python benchmarks/quality_oolong.py [--lines 150] [--n 5] [--threads 2]
           [--data ../shared/data/oolong/trec_coarse_validated.jsonl]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from pathlib import Path

from rlmx import RLM
from rlmx.eval.oolong import CountTask, load_labeled, make_task
from rlmx.lm.local import LocalLM

from common import write_section

OUT = Path(__file__).with_name("results") / "quality_oolong.jsonl"
DATA = Path(__file__).resolve().parents[2] / "shared/data/oolong/trec_coarse_validated.jsonl"
METHODS = {"base": "base model", "rlm_nosub": "RLM (no sub-calls)", "rlm": "RLM"}


def run_one(lm: LocalLM, task: CountTask, method: str) -> dict:
    started = time.perf_counter()
    if method == "base":
        prompt = f"{task.context}\n\n{task.query}"
        response = asyncio.run(lm.complete([{"role": "user", "content": prompt}], max_tokens=32))
        answer, tokens, iterations = response.text, response.usage.total_tokens, 1
    else:
        rlm = RLM(lm, lm, max_iterations=8, sub_calls=method == "rlm", cell_timeout=60,
                  trajectory=OUT.parent / "trajectories")  # fmt: skip
        result = rlm.completion(task.context, task.query)
        answer, tokens, iterations = (
            result.answer,
            result.usage.total.total_tokens,
            result.iterations,
        )
    return {"answer": answer, "tokens": tokens, "iterations": iterations,
            "seconds": time.perf_counter() - started}  # fmt: skip


def report(lines: int) -> None:
    rows = [json.loads(x) for x in OUT.read_text().splitlines() if x.strip()]
    table = ["| method | score (mean) | exact | mean tokens | mean seconds | n |",
             "|---|---|---|---|---|---|"]  # fmt: skip
    for method, name in METHODS.items():
        mine = [r for r in rows if r["method"] == method]
        if mine:
            table.append(
                f"| {name} | {statistics.mean(r['score'] for r in mine):.2f} | "
                f"{sum(r['score'] == 1 for r in mine)}/{len(mine)} | "
                f"{statistics.mean(r['tokens'] for r in mine):,.0f} | "
                f"{statistics.mean(r['seconds'] for r in mine):.0f} | {len(mine)} |"
            )
    tokens = statistics.mean(r["context_tokens"] for r in rows)
    body = "\n".join(table) + (
        f"\n\n{lines} TREC-coarse questions per context (~{tokens:,.0f} Qwen tokens), one "
        "OOLONG-synth line each; the question asks how many belong to one category, which "
        "the context never names, so every line needs a judgement. Score: OOLONG's "
        "0.75^|gold - answer|. Model local:qwen2.5-coder-1.5b for root and sub-calls. "
        "Raw rows: benchmarks/results/quality_oolong.jsonl."
    )
    write_section("OOLONG-style counting (embedded model)", body)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=150)
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    data = load_labeled(args.data)
    lm = LocalLM("qwen2.5-coder-1.5b", threads=args.threads, threads_batch=args.threads)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    done = set()
    if OUT.exists():
        done = {
            (json.loads(x)["method"], json.loads(x)["seed"])
            for x in OUT.read_text().split("\n")
            if x
        }
    for method in METHODS:
        for seed in range(args.n):
            if (method, seed) in done:
                continue
            task = make_task(data, args.lines, seed)
            row = run_one(lm, task, method)
            context_tokens = lm.count_tokens([{"role": "user", "content": task.context}])
            row.update(method=method, seed=seed, gold=task.answer, label=task.label,
                       score=task.score(row["answer"]), lines=args.lines,
                       context_tokens=context_tokens)  # fmt: skip
            with OUT.open("a") as f:
                f.write(json.dumps(row) + "\n")
            print(f"{method:9} seed {seed}: gold {task.answer} answer {row['answer']!r:.40} "
                  f"score {row['score']:.2f} {row['seconds']:.0f}s", flush=True)  # fmt: skip
    report(args.lines)


if __name__ == "__main__":
    main()
