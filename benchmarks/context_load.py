"""Loading a context into the worker: 1 MB, 100 MB and 1 GB strings.

Targets (issue 2): a 100 MB context ready in <= 1 s; worker memory <= context + 150 MB.
"Write" is the host writing the context file once; "load" is the worker mapping and
decoding it (reported by the worker); "ready" is spawn + load as the host sees it.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from rlmx.core.host_functions import CORE
from rlmx.repl.context import prepare_context
from rlmx.repl.isolation import bwrap_works
from rlmx.repl.sandbox import Sandbox

from common import write_section

SIZES = [("1 MB", 10**6), ("100 MB", 10**8), ("1 GB", 10**9)]
REPEATS = 3
MEMORY_PROBE = """
fields = dict(line.split(':', 1) for line in open('/proc/self/status'))
print(int(fields['VmRSS'].split()[0]) // 1024, int(fields['VmHWM'].split()[0]) // 1024)
"""


async def handler(name: str, args: dict) -> object:
    return None


async def once(mode: str, text: str) -> tuple[float, float, float, int, int]:
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        context = prepare_context(text, Path(tmp))
        write = time.perf_counter() - began
        box = Sandbox(mode)
        began = time.perf_counter()
        await box.start(context, handler, CORE)
        ready = time.perf_counter() - began
        result = await box.execute(MEMORY_PROBE, 60, 1000)
        await box.close()
    rss, peak = (int(v) for v in result.output.split())
    return write, box.load_seconds, ready, rss, peak


def main() -> None:
    mode = "bwrap" if bwrap_works() else "process"
    rows = [
        "| context | host write s | worker load s | ready s | worker RSS MB | peak RSS MB |",
        "|---|---|---|---|---|---|",
    ]
    for label, size in SIZES:
        text = "a" * size
        runs = [asyncio.run(once(mode, text)) for _ in range(REPEATS)]
        med = [statistics.median(col) for col in zip(*runs, strict=True)]
        cells = [f"{v:.3f}" for v in med[:3]] + [f"{v:.0f}" for v in med[3:]]
        rows.append(f"| {label} | {' | '.join(cells)} |")
        del text
    body = "\n".join(rows) + (
        f"\n\nMode `{mode}`, median of {REPEATS} runs, ASCII text. RSS is read by the worker "
        "from /proc/self/status after loading (VmRSS) and its high-water mark (VmHWM); the "
        "peak includes the file's mapped pages while the string is decoded from them."
    )
    write_section("Context load", body)


if __name__ == "__main__":
    main()
