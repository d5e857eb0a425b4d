"""OOLONG-synth (trec_coarse) with the embedded default model, trajectories kept.

Target (issue 16): the RLM's mean official score above the base model's at 4K, 16K and
64K tokens (Qwen tokens, as ``rlmx eval`` counts them) and >= 0.3, n >= 6 per length;
the RLM without sub-calls beside them. Seed s asks question family s % 6 (counting, most
common label, comparison, user subset, timeline, earliest date), so n = 6 covers each
family once. Every line's label is a judgement: the RLM has the sub-model label each line
(``llm_query_batched(..., choices=labels)``) and counts in code.

Usage: python benchmarks/quality_oolong.py [--n 6] [--lengths 4096,16384,65536]
       [--methods rlm,rlm_nosub,base] [--seeds 0,3]
Raw rows: benchmarks/results/quality_oolong.jsonl (a re-run resumes); trajectories in
benchmarks/results/quality_oolong-trajectories/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from pathlib import Path

from rlmx import RunConfig
from rlmx.eval.oolong import FAMILIES
from rlmx.eval.runner import generate, run_eval, token_counter
from rlmx.lm.specs import DEFAULT_SPEC

from common import kind_table, write_section

RESULTS = Path(__file__).with_name("results")
OUT = RESULTS / "quality_oolong.jsonl"
DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "oolong"


def table(rows: list[dict], methods: list[str], lengths: list[int]) -> str:
    """Mean score per method and length, each family's mean, median seconds."""
    return kind_table(rows, methods, lengths, FAMILIES, lambda row: row["meta"]["family"],
                      lambda scores: f"{statistics.mean(scores):.2f} (n={len(scores)})",
                      total="mean")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=6)
    parser.add_argument("--lengths", default="4096,16384,65536")
    parser.add_argument("--methods", default="rlm,rlm_nosub,base")
    parser.add_argument("--seeds", default="", help="only these seeds (comma-separated)")
    parser.add_argument("--root", default=DEFAULT_SPEC)
    args = parser.parse_args()
    lengths = [int(x) for x in args.lengths.split(",")]
    items = generate("oolong", lengths, args.n, token_counter(args.root), DATA)
    if args.seeds:
        items = [i for i in items if i.seed in {int(s) for s in args.seeds.split(",")}]
    trajectories = RESULTS / "quality_oolong-trajectories"
    methods = args.methods.split(",")
    config = RunConfig.build(root=args.root, max_iterations=12, trajectory=trajectories)
    asyncio.run(run_eval(items, methods, config, OUT))
    rows = [json.loads(line) for line in OUT.read_text().splitlines()]
    rows = [r for r in rows if r["root"] == args.root]
    methods = list(dict.fromkeys(r["method"] for r in rows))  # every method run so far
    write_section(
        "OOLONG-synth with labels per line",
        f"`{args.root}` as root and sub-model; OOLONG-synth (trec_coarse) via `rlmx eval`'s "
        "items, scored by the official rules (numeric: 0.75^|error|); seed s asks family "
        "s % 6. Raw rows and trajectories: `benchmarks/results/quality_oolong*`.\n\n"
        + table(rows, methods, sorted({r["length"] for r in rows})),
    )


if __name__ == "__main__":
    main()
