"""Helpers shared by the benchmarks: timing statistics and RESULTS.md sections."""

from __future__ import annotations

import os
import platform
import re
import statistics
import sys
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
