"""Per-module counts of the last `make mutation` run, read from mutmut's files in mutants/.

Usage: python benchmarks/mutation_score.py [PATTERN ...]   (fnmatch patterns of mutant
names, as `make mutation` passes them; default: every mutant)
Statuses follow mutmut's exit codes: 1 or 3 killed, 0 survived, 24/-24/36 timed out,
33 or 5 no test ran the mutant, -9/-11 killed by a signal (caught), None not run yet.
"""

from __future__ import annotations

import fnmatch
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

STATUS = {1: "killed", 3: "killed", 0: "survived", 24: "timeout", -24: "timeout",
          36: "timeout", 33: "no tests", 5: "no tests", -9: "killed", -11: "killed",
          None: "not run"}  # fmt: skip
COLUMNS = ("killed", "timeout", "survived", "no tests", "not run")


def counts(root: Path, patterns: list[str]) -> dict[str, Counter]:
    """Mutant statuses by module for the mutants matching ``patterns``."""
    by_module: dict[str, Counter] = defaultdict(Counter)
    for meta in sorted(root.glob("src/**/*.py.meta")):
        codes = json.loads(meta.read_text())["exit_code_by_key"]
        module = str(meta.relative_to(root / "src")).removesuffix(".meta")
        for name, code in codes.items():
            if not patterns or any(fnmatch.fnmatch(name, p) for p in patterns):
                by_module[module][STATUS.get(code, f"exit {code}")] += 1
    return by_module


def main() -> None:
    table = counts(Path("mutants"), sys.argv[1:])
    print("| module | mutants | " + " | ".join(COLUMNS) + " | caught of run |")
    print("|" + " --- |" * (len(COLUMNS) + 3))
    for module, c in table.items():
        run = sum(c.values()) - c["not run"] - c["no tests"]
        caught = c["killed"] + c["timeout"]
        cells = " | ".join(str(c[col]) for col in COLUMNS)
        share = f"{caught / run:.1%}" if run else "-"
        print(f"| {module} | {sum(c.values())} | {cells} | {share} |")


if __name__ == "__main__":
    main()
