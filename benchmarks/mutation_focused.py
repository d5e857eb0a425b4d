"""Run mutmut's mutants of one module against that module's own test files only.

`make mutation` lets mutmut pick, per mutant, every selected test that reaches the mutated
function. For `repl/isolation.py` that is every test that starts a sandbox (hundreds), so
each mutant no test kills, and each one that makes starts fail slowly, costs the whole
selection (~6 minutes on 2 cores): 74 of them had not run after 50 minutes. The module's
own tests (`tests/test_sandbox.py`, `tests/security/test_jail.py`: 51 tests, ~40 s) check
each mode's argv, environment and limits directly; this runs each mutant against them,
stops at the first failure, and writes the verdict into mutmut's own files, so that
`mutmut results` and `benchmarks/mutation_score.py` read it like mutmut's.

Usage (after `mutmut run` has generated mutants/; stop it once "Running stats" shows):
    python benchmarks/mutation_focused.py PATTERN... --tests tests/test_sandbox.py \
        --tests tests/security/test_jail.py [--jobs 2] [--timeout 300] [--all]
Without --all only mutants with no verdict yet are run.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "mutants"
TIMEOUT_CODE = 36  # mutmut's code for a timed-out mutant


def run_mutant(name: str, tests: list[str], timeout: float) -> tuple[str, int, float]:
    """(name, exit code, seconds) of the tests with ``name`` active."""
    env = {**os.environ, "MUTANT_UNDER_TEST": name, "PYTHONPATH": "src"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    started = time.perf_counter()
    quiet = subprocess.DEVNULL
    with subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=quiet, stderr=quiet, start_new_session=True
    ) as process:
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)  # the tests' sandboxes too
            process.wait()
            code = TIMEOUT_CODE
    return name, code, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("patterns", nargs="+", help="fnmatch patterns of mutant names")
    parser.add_argument("--tests", action="append", required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=300.0)
    parser.add_argument("--all", action="store_true", help="rerun mutants with a verdict too")
    args = parser.parse_args()
    metas = {meta: json.loads(meta.read_text()) for meta in ROOT.glob("src/**/*.py.meta")}
    todo = [(meta, name) for meta, data in metas.items() for name, code in
            data["exit_code_by_key"].items()
            if any(fnmatch.fnmatch(name, p) for p in args.patterns)
            and (args.all or code is None)]  # fmt: skip
    print(f"{len(todo)} mutants, tests: {' '.join(args.tests)}", flush=True)
    owner = dict((name, meta) for meta, name in todo)
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = pool.map(lambda item: run_mutant(item[1], args.tests, args.timeout), todo)
        for done, (name, code, seconds) in enumerate(runs, 1):
            meta = owner[name]
            metas[meta]["exit_code_by_key"][name] = code
            meta.write_text(json.dumps(metas[meta]))  # after each: a stopped run keeps them
            print(f"{done}/{len(todo)} {name} exit {code} {seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
