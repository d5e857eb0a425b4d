"""Batch jobs: one RLM run per line of a JSONL file, one result row per job.

A job is ``{"id": ..., "query": ..., "context": TEXT}`` or ``"path": PATH`` (relative to
the jobs file) instead of ``context``, with optional ``"root"``, ``"sub"`` and
``"max_iterations"``. A row is ``{"id", "answer", "status", "usage", "cost_usd",
"seconds", "error"}``. The jobs file is the operator's, so its paths and model specs are
used as written. Runs are resumable (a job whose id has a row is skipped), a failing job is
recorded in its row, never ending the batch (``jobs.py``, shared with ``rlmx eval``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .core.config import RunConfig
from .core.rlm import RLM
from .errors import ConfigError
from .jobs import LocalRunner, Runner, plan, run_jobs


@dataclass(frozen=True)
class BatchJob:
    """One line of a jobs file; ``problem`` is why it cannot run (its row says so)."""

    id: str
    query: str = ""
    context: Any = None
    root: str | None = None
    sub: str | None = None
    max_iterations: int | None = None
    problem: str | None = None


def read_jobs(path: Path) -> list[BatchJob]:
    """The jobs of a JSONL file; a line that is not a valid job becomes one with a problem,
    named by its id or its line number."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the jobs file {path}: {exc.strerror}") from None
    jobs, seen = [], set()
    for number, line in enumerate(lines, 1):
        if line.strip():
            job = _job(line, number, path.parent)
            if job.id in seen:
                job = BatchJob(f"line-{number}", problem=f"the id {job.id!r} is used twice")
            seen.add(job.id)
            jobs.append(job)
    return jobs


def _job(line: str, number: int, base: Path) -> BatchJob:
    try:
        data = json.loads(line)
    except ValueError as exc:
        return BatchJob(f"line-{number}", problem=f"not JSON: {exc}")
    if not isinstance(data, dict):
        return BatchJob(f"line-{number}", problem="a job must be a JSON object")
    job_id = str(data.get("id", f"line-{number}"))
    query = data.get("query")
    if not isinstance(query, str) or not query.strip():
        return BatchJob(job_id, problem="the job has no query")
    if ("context" in data) == ("path" in data):
        return BatchJob(job_id, problem="give exactly one of context or path")
    context = data.get("context")
    if "path" in data:
        context = (base / str(data["path"])).expanduser()
        if not context.exists():
            return BatchJob(job_id, problem=f"no such file or directory: {context}")
    iterations = data.get("max_iterations")
    if iterations is not None and (not isinstance(iterations, int) or iterations < 1):
        return BatchJob(job_id, problem="max_iterations must be a positive integer")
    return BatchJob(job_id, query, context, data.get("root"), data.get("sub"), iterations)


async def run(
    jobs_file: Path,
    out: Path,
    *,
    config: RunConfig | None = None,
    parallel: int = 1,
    runner: Runner | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    retry_failed: bool = False,
) -> list[dict[str, Any]]:
    """Run every job of ``jobs_file`` without a row in ``out`` yet (with ``retry_failed``,
    also those whose row says error: their rows are replaced); the new rows.

    ``config`` holds the settings of every run (default: the environment's); a job may
    name its own root, sub and max_iterations. ``runner`` says where jobs run (default:
    ``parallel`` at once in this process; ``ray_runner.RayRunner`` on a Ray cluster)."""
    jobs = read_jobs(jobs_file)
    base = config or RunConfig.build()

    async def work(job: BatchJob) -> dict[str, Any]:
        if job.problem is not None:
            raise ConfigError(job.problem)
        rlm = RLM(config=_job_config(base, job))
        result = await rlm.acompletion(job.context, job.query)
        return {"id": job.id, "answer": result.answer, "status": result.status,
                "usage": result.usage.to_dict(), "cost_usd": result.cost_usd,
                "seconds": round(result.seconds, 3), "error": result.error,
                "warnings": [warning.to_dict() for warning in result.warnings]}  # fmt: skip

    def failed(job: BatchJob, exc: BaseException) -> dict[str, Any]:
        return {"id": job.id, "answer": None, "status": "error", "usage": {}, "cost_usd": None,
                "seconds": 0.0, "error": f"{type(exc).__name__}: {exc}"}  # fmt: skip

    return await run_jobs(jobs, _job_id, _row_id, work, failed, out,
                          runner or LocalRunner(parallel), progress,
                          _failed_row if retry_failed else None)  # fmt: skip


def _job_config(base: RunConfig, job: BatchJob) -> RunConfig:
    """A job's settings: the batch's, with the job's own models and turns (a root named
    alone is its own sub). The jobs file is the operator's: any model spec is taken."""
    root = job.root or base.root
    sub = job.sub or (job.root if job.root else base.sub)
    turns = job.max_iterations or base.max_iterations
    return replace(base, root=root, sub=sub, max_iterations=turns)


def pending(jobs_file: Path, out: Path, retry_failed: bool = False) -> int:
    """How many jobs of ``jobs_file`` a run would start (ConfigError for an unreadable file)."""
    retry = _failed_row if retry_failed else None
    return len(plan(read_jobs(jobs_file), _job_id, _row_id, out, retry))


def _job_id(job: BatchJob) -> str:
    return job.id


def _row_id(row: dict[str, Any]) -> Any:
    return row["id"]


def _failed_row(row: dict[str, Any]) -> bool:
    return row.get("status") == "error"
