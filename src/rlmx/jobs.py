"""Resumable runs of many jobs into one JSONL file: what ``rlmx eval run`` and ``rlmx batch``
share.

Each job has a key; a row whose key is already in the output is not run again, so a re-run
after a crash or Ctrl-C resumes where it stopped. Rows are appended as their jobs finish.
A job that raises becomes a row with its ``error``, never the end of the others; cancelling
the whole run cancels the jobs in flight and keeps every row already written.

Where the jobs run is a ``Runner``: ``LocalRunner`` runs them as asyncio tasks in this
process, ``ray_runner.RayRunner`` as Ray tasks on a cluster. Both run one job through the
same ``run_one``, so a row is the same wherever it was made.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

Job = TypeVar("Job")
Row = dict[str, Any]
Work = Callable[[Any], Awaitable[Row]]
Failed = Callable[[Any, BaseException], Row]


class Runner(Protocol):
    """Runs jobs and yields their rows as they finish."""

    @property
    def remote(self) -> bool:
        """Jobs leave this process (they and their work must pickle)."""
        ...

    def rows(self, plan: list[Any], work: Work, failed: Failed) -> AsyncIterator[Row]:
        """One row per job of ``plan``, in the order they finish."""
        ...


async def run_one(work: Work, failed: Failed, job: Any) -> Row:
    """One job's row: what ``work`` returns, or its failure as a row."""
    try:
        return await work(job)
    except Exception as exc:  # this job's failure is its row, not the run's end
        return failed(job, exc)


@dataclass(frozen=True)
class LocalRunner:
    """Jobs as asyncio tasks in this process, at most ``concurrency`` at once."""

    concurrency: int = 1
    remote: bool = False

    async def rows(self, plan: list[Any], work: Work, failed: Failed) -> AsyncIterator[Row]:
        gate = asyncio.Semaphore(self.concurrency)

        async def one(job: Any) -> Row:
            async with gate:
                return await run_one(work, failed, job)

        tasks = [asyncio.ensure_future(one(job)) for job in plan]
        try:
            for finished in asyncio.as_completed(tasks):
                yield await finished
        finally:  # cancelled or closed early: stop the jobs still in flight
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


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


def plan(
    jobs: Iterable[Job],
    key: Callable[[Job], Hashable],
    row_key: Callable[[Row], Hashable],
    out: Path,
    retry: Callable[[Row], bool] | None = None,
) -> list[Job]:
    """The jobs with no row in ``out`` yet, and those whose row ``retry`` picks."""
    done = {row_key(row) for row in finished_rows(out) if retry is None or not retry(row)}
    return [job for job in jobs if key(job) not in done]


def drop_rows(out: Path, retry: Callable[[Row], bool]) -> None:
    """Rewrite ``out`` without the rows ``retry`` picks (their jobs run again), atomically:
    a crash leaves the old file or the new one."""
    kept = [row for row in finished_rows(out) if not retry(row)]
    partial = out.with_name(out.name + ".partial")
    partial.write_text("".join(json.dumps(row, default=str) + "\n" for row in kept),
                       encoding="utf-8")  # fmt: skip
    partial.replace(out)


async def run_jobs(
    jobs: Iterable[Job],
    key: Callable[[Job], Hashable],
    row_key: Callable[[Row], Hashable],
    work: Callable[[Job], Awaitable[Row]],
    failed: Callable[[Job, BaseException], Row],
    out: Path,
    runner: Runner | None = None,
    progress: Callable[[Row], None] | None = None,
    retry: Callable[[Row], bool] | None = None,
) -> list[Row]:
    """Run the jobs whose key has no row in ``out`` yet (or whose row ``retry`` picks:
    that row is replaced) on ``runner`` (default: one at a time in this process); the new
    rows, in the order they finished."""
    todo = plan(jobs, key, row_key, out, retry)
    out.parent.mkdir(parents=True, exist_ok=True)
    if retry is not None and out.exists():
        drop_rows(out, retry)
    rows: list[Row] = []
    async for row in (runner or LocalRunner()).rows(todo, work, failed):
        with out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, default=str) + "\n")
        rows.append(row)
        if progress is not None:
            progress(row)
    return rows
