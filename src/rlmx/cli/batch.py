"""``rlmx batch JOBS.jsonl --out RESULTS.jsonl``: one RLM run per job, resumable."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Annotated

import typer

from ..errors import RlmxError
from ..ray_runner import TASK_MEMORY_MB
from ..repl.isolation import MODES
from .common import (
    JobProgress,
    RayAddress,
    RayCpus,
    RayMemory,
    app,
    check_setup,
    fail,
    job_runner,
)


@app.command()
def batch(
    jobs: Annotated[Path, typer.Argument(help="JSONL: one job a line (see the README).")],
    out: Annotated[
        Path, typer.Option(metavar="FILE", help="Result rows (appended; a re-run resumes).")
    ],
    root: Annotated[
        str | None, typer.Option(metavar="SPEC", help="Root model spec for jobs without one.")
    ] = None,
    sub: Annotated[
        str | None, typer.Option(metavar="SPEC", help="Sub-model spec for jobs without one.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, metavar="N", help="Jobs run at once.")] = 1,
    max_iterations: Annotated[
        int, typer.Option(min=1, metavar="N", help="Root turns at most per job.")
    ] = 20,
    sandbox: Annotated[
        str, typer.Option(metavar="MODE", help=f"One of {', '.join(MODES)}.")
    ] = "auto",
    ray: RayAddress = None,
    ray_cpus: RayCpus = 1.0,
    ray_memory_mb: RayMemory = TASK_MEMORY_MB,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed", help="Run again the jobs whose row says error; replace their rows."
        ),
    ] = False,
) -> None:
    """Run a JSONL file of jobs; one result row per job, a failed job recorded in its row."""
    from ..batch import pending, run

    check_setup(sandbox, root, sub)
    try:
        total = pending(jobs, out, retry_failed)
    except RlmxError as exc:
        raise fail(str(exc)) from None
    try:
        with JobProgress("jobs", total) as progress:
            runner = job_runner(concurrency, ray, ray_cpus, ray_memory_mb)
            rows = asyncio.run(run(jobs, out, root=root, sub=sub, runner=runner,
                                   sandbox=sandbox, max_iterations=max_iterations,
                                   progress=progress.tick, retry_failed=retry_failed))  # fmt: skip
    except RlmxError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(f"interrupted; finished rows are in {out} (run again to resume)", 130) from None
    statuses = Counter(row["status"] for row in rows)
    summary = ", ".join(f"{n} {status}" for status, n in statuses.most_common()) or "nothing new"
    kept = "; every job already has its row" if total == 0 else ""
    typer.echo(f"{len(rows)} new rows in {out}: {summary}{kept}")
