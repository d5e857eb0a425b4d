"""Aggregation questions over structured records with the embedded default model.

Target (issue 16): the RLM >= 90% exact at every length (~5K, ~30K and ~500K characters,
i.e. 1,250 / 7,500 / 125,000 tokens at chars/4), about a minute or less per task, the
base model beside it. Items are ``rlmx eval``'s ``aggregate`` task: seed s asks question
kind s % 6 over records in format s % 5 (n = 30 covers every pair once).

Usage: python benchmarks/quality_aggregate.py [--n 12] [--lengths 1250,7500,125000]
       [--methods rlm,base] [--root SPEC]
Raw rows: benchmarks/results/quality_aggregate.jsonl (a re-run resumes; trajectories of
every run beside it).
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from rlmx import RunConfig
from rlmx.eval.aggregate import KINDS
from rlmx.eval.runner import generate, run_eval
from rlmx.lm.specs import DEFAULT_SPEC

from common import kind_table, write_section

OUT = Path(__file__).with_name("results") / "quality_aggregate.jsonl"


def table(rows: list[dict], methods: list[str], lengths: list[int]) -> str:
    """Exact answers per method and length, by question kind, and the median seconds."""
    return kind_table(rows, methods, lengths, KINDS, lambda row: row["meta"]["kind"],
                      lambda scores: f"{int(sum(scores))}/{len(scores)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=12)
    parser.add_argument("--lengths", default="1250,7500,125000")
    parser.add_argument("--methods", default="rlm,base")
    parser.add_argument("--root", default=DEFAULT_SPEC)
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    methods = args.methods.split(",")
    items = generate("aggregate", lengths, args.n)
    trajectories = OUT.parent / "quality_aggregate-trajectories"
    config = RunConfig.build(root=args.root, max_iterations=12, trajectory=trajectories)
    asyncio.run(run_eval(items, methods, config, OUT))
    rows = [json.loads(line) for line in OUT.read_text().splitlines()]
    rows = [r for r in rows if r["root"] == args.root]
    methods = list(dict.fromkeys(r["method"] for r in rows))  # every method run so far
    lengths = sorted({r["length"] for r in rows})
    write_section(
        "Aggregation over records",
        f"`rlmx eval` task `aggregate` with `{args.root}` as root and sub-model (seed s: "
        "question kind s % 6, format s % 5; every row in the raw file); exact answers "
        "per question kind. Raw rows and trajectories: `benchmarks/results/"
        "quality_aggregate*`.\n\n" + table(rows, methods, lengths),
    )


if __name__ == "__main__":
    main()
