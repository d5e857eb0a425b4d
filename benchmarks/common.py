"""Helpers shared by the benchmarks: timing statistics and RESULTS.md sections."""

from __future__ import annotations

import os
import platform
import re
import statistics
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

RESULTS = Path(__file__).with_name("RESULTS.md")
HEADER = "# Benchmark results\n\nEach section is rewritten by the script named in it.\n"


def machine() -> str:
    """A one-line description of this machine."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    py = platform.python_version()
    return f"{os.cpu_count()} cores ({cpu}), {mem:.0f} GiB RAM, Python {py}, {platform.system()}"


def median_ms(samples: list[float]) -> str:
    return f"{statistics.median(samples) * 1000:.2f}"


def write_section(name: str, body: str) -> None:
    """Replace (or append) the section `name` of RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else HEADER
    command = f"python benchmarks/{Path(sys.argv[0]).name}"
    section = (
        f"<!-- {name} -->\n## {name}\n\n`{command}` on {machine()}.\n\n"
        f"{body.strip()}\n<!-- /{name} -->"
    )
    pattern = re.compile(rf"<!-- {re.escape(name)} -->.*?<!-- /{re.escape(name)} -->", re.S)
    text = pattern.sub(lambda _: section, text) if pattern.search(text) else f"{text}\n{section}\n"
    RESULTS.write_text(text)
    print(section)


def kind_table(
    rows: list[dict],
    methods: list[str],
    lengths: list[int],
    kinds: tuple[str, ...],
    kind_of: Callable[[dict], str],
    show: Callable[[list[float]], str],
    total: str = "all",
) -> str:
    """A row per method and length: ``show`` of the scores of each kind of item (by
    ``kind_of``), of all of them (column ``total``), and the median seconds."""
    cells: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        cells[(row["method"], row["length"])].append(row)
    lines = [f"| method | tokens | {' | '.join(kinds)} | {total} | median s |",
             "|" + " --- |" * (len(kinds) + 4)]  # fmt: skip
    for method in methods:
        for length in lengths:
            done = cells.get((method, length), [])
            if not done:
                continue
            by_kind = defaultdict(list)
            for row in done:
                by_kind[kind_of(row)].append(row["score"])
            shown = [show(by_kind[k]) if by_kind[k] else "-" for k in kinds]
            seconds = statistics.median(row.get("seconds", 0) for row in done)
            lines.append(f"| {method} | {length:,} | " + " | ".join(shown) +
                         f" | {show([r['score'] for r in done])} | {seconds:.0f} |")  # fmt: skip
    return "\n".join(lines)
