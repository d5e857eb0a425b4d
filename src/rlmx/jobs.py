"""Resumable runs of many jobs into one JSONL file: what ``rlmx eval run`` and ``rlmx batch``
share.

Each job has a key; a row whose key is already in the output is not run again, so a re-run
after a crash or Ctrl-C resumes where it stopped. Rows are appended as their jobs finish.
A job that raises becomes a row with its ``error``, never the end of the others; cancelling
the whole run cancels the jobs in flight and keeps every row already written.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, TypeVar

Job = TypeVar("Job")
Row = dict[str, Any]


def finished_rows(out: Path) -> list[Row]:
    """The rows already in ``out`` (a line cut short by a crash is left out)."""
    if not out.exists():
        return []
    rows = []
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:
            continue  # the last line of a run killed mid-write
    return rows


async def run_jobs(
    jobs: Iterable[Job],
    key: Callable[[Job], Hashable],
    row_key: Callable[[Row], Hashable],
    work: Callable[[Job], Awaitable[Row]],
    failed: Callable[[Job, BaseException], Row],
    out: Path,
    concurrency: int = 1,
    progress: Callable[[Row], None] | None = None,
) -> list[Row]:
    """Run the jobs whose key has no row in ``out`` yet, at most ``concurrency`` at once;
    the new rows, in the order they finished."""
    done = {row_key(row) for row in finished_rows(out)}
    plan = [job for job in jobs if key(job) not in done]
    out.parent.mkdir(parents=True, exist_ok=True)
    gate = asyncio.Semaphore(concurrency)
    rows: list[Row] = []

    async def one(job: Job) -> None:
        async with gate:
            try:
                row = await work(job)
            except Exception as exc:  # this job's failure is its row, not the run's end
                row = failed(job, exc)
        with out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, default=str) + "\n")
        rows.append(row)
        if progress is not None:
            progress(row)

    await asyncio.gather(*(one(job) for job in plan))
    return rows
