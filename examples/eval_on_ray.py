"""An evaluation on Ray: the paper's S-NIAH task, each item a Ray task in its own
sandbox, rows written as they finish (a rerun skips the rows already there).

Starts a private Ray instance on this machine (loopback only); on a cluster give its
address instead (`RayRunner("auto")`). Prints each row's score and the mean.

Usage: python examples/eval_on_ray.py [--root SPEC] [--n N]   (default: a scripted root
that finds any S-NIAH needle with a regular expression)
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from _scripted import arguments, repl, root_spec

from rlmx import RunConfig
from rlmx.eval.runner import generate, run_eval
from rlmx.ray_runner import RayRunner

SCRIPT = [
    repl("import re\n"
         "found = re.search(r'special magic numbers? for [\\w-]+ is:? (\\d+)', context)\n"
         "print(found.group(0))"),
    repl("FINAL(found.group(1))"),
]  # fmt: skip


def main() -> None:
    args = arguments(__doc__)
    out = Path(tempfile.mkdtemp(prefix="rlmx-ray-")) / "results.jsonl"
    items = generate("sniah", [2000], 2)
    spec = root_spec(args.root, {"root": SCRIPT * len(items)})
    config = RunConfig.build(root=spec, sub=args.sub or spec, max_iterations=6)
    # each Ray task makes its own model from the spec: a scripted root starts its script anew
    rows = asyncio.run(run_eval(items, ["rlm"], config, out, runner=RayRunner("local")))
    for row in rows:
        print(f"{row['item_id']}: score {row['score']}, answer {row['answer']!r}")
    print(f"mean score {sum(r['score'] for r in rows) / len(rows):.2f}; rows in {out}")


if __name__ == "__main__":
    main()
