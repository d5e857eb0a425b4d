"""Generality: questions over data of shapes no worked dialogue was written for.

Items are `rlmx eval`'s `shapes-tune` and `shapes-held-out` tasks (``eval/shapes.py``):
twenty-five shapes rlmx may be tuned on and six it must never be tuned on, one question an item
(the seed picks its kind), exact truth. Target (issue 28): >= 80% exact on the held-out
half at ~30K and ~1M characters (7,500 and 250,000 tokens at chars/4) with the embedded
default; the base model beside it. Both halves are reported, each in its own table.

Usage: python benchmarks/quality_shapes.py [--n 1] [--lengths 7500,250000]
       [--halves tune,held-out] [--methods rlm,base] [--root SPEC] [--baseline LABEL]
Raw rows: benchmarks/results/quality_shapes.jsonl (a re-run resumes; trajectories of
every run beside it, failing ones included: they are what the tune half is read for).
``--baseline LABEL`` writes to quality_shapes-baseline.jsonl instead: the same items run by
an earlier commit (run it with PYTHONPATH at that commit's src), shown beside the others.
"""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from rlmx import RunConfig
from rlmx.eval.runner import generate, run_eval
from rlmx.eval.shapes import HELD_OUT, TUNE
from rlmx.lm.specs import DEFAULT_SPEC

from common import kind_table, write_section

OUT = Path(__file__).with_name("results") / "quality_shapes.jsonl"
BASELINE = OUT.with_name("quality_shapes-baseline.jsonl")
LABEL = OUT.with_name("quality_shapes-baseline.label")
HALVES = {"tune": tuple(TUNE), "held-out": tuple(HELD_OUT)}


def table(rows: list[dict], half: str) -> str:
    mine = [r for r in rows if r["meta"]["half"] == half]
    methods = list(dict.fromkeys(r["method"] for r in mine))
    lengths = sorted({r["length"] for r in mine})
    return kind_table(mine, methods, lengths, HALVES[half], lambda row: row["meta"]["shape"],
                      lambda scores: f"{int(sum(scores))}/{len(scores)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=1)
    parser.add_argument("--lengths", default="7500,250000")
    parser.add_argument("--halves", default="tune,held-out")
    parser.add_argument("--methods", default="rlm,base")
    parser.add_argument("--root", default=DEFAULT_SPEC)
    parser.add_argument("--baseline", default=None, help="label of an earlier commit's run")
    args = parser.parse_args()
    out = BASELINE if args.baseline else OUT
    lengths = [int(x) for x in args.lengths.split(",")]
    items = [item for half in args.halves.split(",")
             for item in generate(f"shapes-{half}", lengths, args.n)]  # fmt: skip
    trajectories = out.with_name(out.stem + "-trajectories")
    config = RunConfig.build(root=args.root, max_iterations=12, trajectory=trajectories)
    asyncio.run(run_eval(items, args.methods.split(","), config, out))
    if args.baseline:
        LABEL.write_text(args.baseline)
    rows = _rows(OUT, args.root)
    before = _rows(BASELINE, args.root)
    baseline = ""
    if before:
        label = LABEL.read_text() if LABEL.exists() else "an earlier commit"
        baseline = (
            f"\n\n**The same items run by {label}**\n\nHeld-out:\n\n"
            + table(before, "held-out")
            + "\n\nTune:\n\n"
            + table(before, "tune")
        )
    write_section(
        "Generality over data shapes",
        f"`python benchmarks/quality_shapes.py` with `{args.root}` as root and sub-model; "
        "exact answers per shape (one question an item, its kind by seed). The **held-out** "
        "half was never read to tune prompts; the tune half may be. Raw rows and every "
        "trajectory: `benchmarks/results/quality_shapes*`.\n\n**Held-out half**\n\n"
        + table(rows, "held-out")
        + "\n\n**Tune half**\n\n"
        + table(rows, "tune")
        + baseline,
    )


def _rows(path: Path, root: str) -> list[dict]:
    if not path.exists():
        return []
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    return [row for row in rows if row["root"] == root]


if __name__ == "__main__":
    main()
