"""What the trust boundary costs a cell: frame validation, and a cgroup per worker.

Target (issue 13): validating every frame costs the cell round trip no more than a few
percent. Measures the validation itself per frame, then the cell round trip and the worker
start with the host's containment as detected and with the cgroup turned off (uid per
worker kept), median of three runs of 500 cells each.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import timeit

import cell_roundtrip

from rlmx.core.host_functions import CORE
from rlmx.repl import confine, frames
from rlmx.repl.isolation import bwrap_works

from common import write_section

RUNS = 3
RESULT = {"type": "result", "id": 5, "output": "2\n", "output_chars": 2, "error": False,
          "final": None, "restored": [], "seconds": 0.0001}  # fmt: skip
CALL = {"type": "call", "id": 5, "name": "llm_query",
        "arguments": {"prompt": "x" * 100, "model": None}}  # fmt: skip
LLM_QUERY = next(spec for spec in CORE if spec.name == "llm_query")


def per_call_us(statement: str) -> float:
    namespace = {"frames": frames, "RESULT": RESULT, "CALL": CALL, "SPEC": LLM_QUERY}
    timer = timeit.Timer(statement, globals=namespace)
    loops, _ = timer.autorange()
    return min(timer.repeat(5, loops)) / loops * 1e6


def round_trips(mode: str) -> tuple[float, float]:
    trips, starts = [], []
    for _ in range(RUNS):
        start_samples, trip_samples = asyncio.run(cell_roundtrip.measure(mode))
        trips.append(statistics.median(trip_samples) * 1000)
        starts.append(statistics.median(start_samples) * 1000)
    return statistics.median(trips), statistics.median(starts)


def main() -> None:
    detected = confine.detect()
    result_us = per_call_us("frames.check_result(RESULT, 5)")
    request_us = per_call_us("frames.check_call(CALL); SPEC.check(CALL['arguments'], 99)")
    rows = [
        f"| validate a `result` frame | {result_us:.1f} µs |",
        f"| validate an `llm_query` call (frame and arguments) | {request_us:.1f} µs |",
    ]
    table = ["| mode | containment | cell round trip, median ms | worker start, median ms |",
             "|---|---|---|---|"]  # fmt: skip
    without_cgroup = confine.Containment(None, os.geteuid() == 0)
    for mode in ["process"] + (["bwrap"] if bwrap_works() else []):
        for label, containment in (("as detected", detected), ("no cgroup", without_cgroup)):
            confine.detect = lambda c=containment: c  # Jail asks detect() for each worker
            trip, start = round_trips(mode)
            described = f"{label}: {containment.describe()}"
            table.append(f"| {mode} | {described} | {trip:.3f} | {start:.1f} |")
    body = (
        "| what | cost |\n|---|---|\n" + "\n".join(rows) + "\n\n" + "\n".join(table) + "\n\n"
        f"{RUNS} runs of 500 cells of `x = 1` (after 20 warm-up cells) and 7 worker starts "
        "per row, median of the run medians. Validation runs once per frame on the host."
    )
    write_section("Trust boundary cost", body)


if __name__ == "__main__":
    main()
