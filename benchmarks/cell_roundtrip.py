"""Cell round trip with trivial code, and worker startup, per sandbox mode.

Targets (issue 2): median round trip <= 2 ms in `process` mode, <= 5 ms in `bwrap`.
``container`` is measured where podman runs (issue 29).
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from rlmx.core.host_functions import CORE
from rlmx.repl.container import container_works
from rlmx.repl.context import prepare_context
from rlmx.repl.isolation import bwrap_works
from rlmx.repl.sandbox import Sandbox

from common import median_ms, write_section

CELLS = 500
STARTS = 7


async def handler(name: str, args: dict) -> object:
    return None


async def measure(mode: str) -> tuple[list[float], list[float]]:
    starts, trips = [], []
    with tempfile.TemporaryDirectory() as tmp:
        context = prepare_context("x" * 1000, Path(tmp))
        for _ in range(STARTS):
            box = Sandbox(mode)
            began = time.perf_counter()
            await box.start(context, handler, CORE)
            starts.append(time.perf_counter() - began)
            await box.close()
        box = Sandbox(mode)
        await box.start(context, handler, CORE)
        for _ in range(20):  # warm up
            await box.execute("x = 1", 10, 1000)
        for _ in range(CELLS):
            began = time.perf_counter()
            await box.execute("x = 1", 10, 1000)
            trips.append(time.perf_counter() - began)
        await box.close()
    return starts, trips


def main() -> None:
    modes = ["none", "process"] + (["bwrap"] if bwrap_works() else [])
    modes += ["container"] if container_works() else []
    rows = [
        "| mode | cell round trip, median ms | p90 ms | worker start, median ms |",
        "|---|---|---|---|",
    ]
    for mode in modes:
        starts, trips = asyncio.run(measure(mode))
        trips.sort()
        p90 = trips[int(len(trips) * 0.9)] * 1000
        rows.append(f"| {mode} | {median_ms(trips)} | {p90:.2f} | {median_ms(starts)} |")
    body = "\n".join(rows) + (
        f"\n\n{CELLS} cells of `x = 1` after 20 warm-up cells; {STARTS} worker starts "
        "(spawn + context load + ready). Targets: <= 2 ms (process), <= 5 ms (bwrap)."
    )
    write_section("Cell round trip", body)


if __name__ == "__main__":
    main()
