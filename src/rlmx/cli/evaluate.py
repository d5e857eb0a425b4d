"""``rlmx eval run | report``: the paper's benchmarks and baselines."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import RlmxError
from ..lm.base import LMError
from ..lm.choice import model_name
from ..ray_runner import TASK_MEMORY_MB
from .common import (
    JobProgress,
    RayAddress,
    RayCpus,
    RayMemory,
    app,
    check_specs,
    fail,
    job_runner,
)
from .run_flags import run_config, run_flags

eval_app = typer.Typer(no_args_is_help=True, help="Benchmarks and baselines of the RLM paper.")
app.add_typer(eval_app, name="eval")


@eval_app.command("run")
@run_flags(max_iterations=12)
def eval_run(
    task: Annotated[str, typer.Option(help="A task (rlmx eval list shows them).")],
    method: Annotated[
        list[str], typer.Option(help="A method (rlmx eval list shows them); repeatable.")
    ],
    out: Annotated[Path, typer.Option(help="Results JSONL (appended; a re-run resumes).")],
    n: Annotated[int, typer.Option(min=1, help="Items (seeds) per length.")] = 5,
    lengths: Annotated[
        str | None,
        typer.Option(
            help="Lengths, comma-separated: tokens of context (video-qa: seconds of video); "
            "default: the task's."
        ),
    ] = None,
    parallel: Annotated[int, typer.Option(min=1, help="Items run at once.")] = 1,
    data: Annotated[
        Path | None,
        typer.Option(
            envvar="RLMX_EVAL_DATA",
            help="OOLONG data folder, or the data file of oolong-official, browsecomp-plus "
            "or longbench-codeqa (env RLMX_EVAL_DATA).",
        ),
    ] = None,
    judge: Annotated[
        str | None, typer.Option(help="Model spec of an LLM judge for QA answers.")
    ] = None,
    ray: RayAddress = None,
    ray_cpus: RayCpus = 1.0,
    ray_memory_mb: RayMemory = TASK_MEMORY_MB,
    *,
    flags: dict[str, Any],
) -> None:
    """Run methods on a task's items; rows go to --out as they finish."""
    import asyncio

    from ..eval.methods import METHODS
    from ..eval.runner import generate, run_eval, token_counter
    from ..eval.tasks import TASKS

    check_specs(judge)
    trajectories = out.with_suffix("").parent / f"{out.stem}-trajectories"
    config = run_config(flags, trajectory=flags["trajectory"] or trajectories)
    unknown = [m for m in method if m not in METHODS]
    if unknown:
        raise fail(f"unknown method {unknown[0]!r}; choose from {', '.join(METHODS)}")
    if task not in TASKS:
        raise fail(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    try:
        sizes = [int(x) for x in lengths.split(",") if x.strip()] if lengths else []
    except ValueError:
        raise fail(f"--lengths must be comma-separated integers, not {lengths!r}") from None
    sizes = sizes if lengths else list(TASKS[task].default_lengths)
    try:
        items = generate(task, sizes, n, token_counter(model_name(config.root)), data)
    except (ValueError, LMError) as exc:
        raise fail(str(exc)) from None
    total = len(items) * len(method)
    try:
        with JobProgress(f"{task} ({', '.join(method)})", total) as progress:
            rows = asyncio.run(
                run_eval(items, method, config, out,
                         runner=job_runner(parallel, ray, ray_cpus, ray_memory_mb),
                         progress=progress.tick, judge=judge)
            )  # fmt: skip
    except (ValueError, RlmxError) as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail(f"interrupted; finished rows are in {out}", 130) from None
    skipped = f" ({total - len(rows)} already there)" if total > len(rows) else ""
    typer.echo(f"{len(rows)} new rows in {out}{skipped}")


@eval_app.command("list")
def eval_list() -> None:
    """The tasks and methods, from the harness's tables."""
    from ..eval.methods import METHODS
    from ..eval.tasks import TASKS

    typer.echo("tasks:")
    for name, task in TASKS.items():
        typer.echo(f"  {name:<18} {task.description}")
    typer.echo("methods:")
    for name, method in METHODS.items():
        typer.echo(f"  {name:<18} {method.description}")


@eval_app.command("report")
def eval_report(
    results: Annotated[list[Path], typer.Argument(help="Results JSONL files.")],
    out: Annotated[Path, typer.Option(help="Folder for report.md and the PNGs.")],
) -> None:
    """Tables (score and cost, mean ± std) and plots (scaling, cost quartiles)."""
    from ..eval.report import write_report

    missing = [str(p) for p in results if not p.is_file()]
    if missing:
        raise fail(f"no such results file: {', '.join(missing)}")
    try:
        report = write_report(results, out)
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        raise fail(f"cannot read the results: {exc}") from None
    typer.echo(report)
