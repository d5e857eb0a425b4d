"""``rlmx batch JOBS.jsonl --out RESULTS.jsonl``: one RLM run per job, resumable."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import RlmxError
from ..ray_runner import TASK_MEMORY_MB
from .common import (
    JobProgress,
    RayAddress,
    RayCpus,
    RayMemory,
    app,
    fail,
    job_runner,
)
from .run_flags import run_config, run_flags


@app.command()
@run_flags()
def batch(
    jobs: Annotated[Path, typer.Argument(help="JSONL: one job a line (see the README).")],
    out: Annotated[
        Path, typer.Option(metavar="FILE", help="Result rows (appended; a re-run resumes).")
    ],
    parallel: Annotated[int, typer.Option(min=1, metavar="N", help="Jobs run at once.")] = 1,
    ray: RayAddress = None,
    ray_cpus: RayCpus = 1.0,
    ray_memory_mb: RayMemory = TASK_MEMORY_MB,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="Run again the jobs whose row says error; replace their rows."
        ),
    ] = False,
    *,
    flags: dict[str, Any],
) -> None:
    """Run a JSONL file of jobs; one result row per job, a failed job recorded in its row."""
    from ..batch import pending, run

    config = run_config(flags)
    try:
        total = pending(jobs, out, retry_failed)
    except RlmxError as exc:
        raise fail(str(exc)) from None
    try:
        with JobProgress("jobs", total) as progress:
            runner = job_runner(parallel, ray, ray_cpus, ray_memory_mb)
            rows = asyncio.run(run(jobs, out, config=config, runner=runner,
                                   progress=progress.tick, retry_failed=retry_failed))  # fmt: skip
    except RlmxError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(f"interrupted; finished rows are in {out} (run again to resume)", 130) from None
    statuses = Counter(row["status"] for row in rows)
    summary = ", ".join(f"{n} {status}" for status, n in statuses.most_common()) or "nothing new"
    kept = "; every job already has its row" if total == 0 else ""
    typer.echo(f"{len(rows)} new rows in {out}: {summary}{kept}")
