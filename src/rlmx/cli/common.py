"""What every command shares: the app, usage errors (exit 2), set-up checks, progress."""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from ..lm.base import LMError
from ..lm.specs import validate_spec
from ..repl.isolation import MODES
from ..terminal import for_stream

if TYPE_CHECKING:
    from ..jobs import Runner

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="rlmx: Recursive Language Models over long text, documents, code trees and videos.",
)

EXIT_USAGE = 2


def out(text: str, err: bool = False) -> None:
    """Print a line whose text may come from a model or a document: on a terminal its
    control characters are shown as escapes (``terminal.py``)."""
    typer.echo(for_stream(text, sys.stderr if err else sys.stdout), err=err)


def fail(message: str, code: int = EXIT_USAGE) -> typer.Exit:
    out(f"rlmx: error: {message}", err=True)
    return typer.Exit(code)


def check_setup(sandbox: str, *specs: str | None) -> None:
    """A known sandbox mode and usable model specs, else a usage error (exit 2)."""
    if sandbox not in MODES:
        raise fail(f"unknown sandbox mode {sandbox!r}; choose one of {', '.join(MODES)}")
    check_specs(*specs)


def check_specs(*specs: str | None) -> None:
    """Usable model specs, else a usage error (exit 2)."""
    try:
        for spec in specs:
            if spec is not None:
                validate_spec(spec)
    except LMError as exc:
        raise fail(str(exc)) from None


MODEL_HELP = "A model that model code may pick by name, NAME=SPEC (repeatable)."
OTLP_HELP = "Export spans to this OTLP/HTTP endpoint (default: $OTEL_EXPORTER_OTLP_ENDPOINT)."


def parse_aliases(pairs: list[str] | None) -> dict[str, str]:
    """``--model NAME=SPEC`` options as a dict; each spec is checked now (exit 2 if bad)."""
    aliases: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, spec = pair.partition("=")
        if not sep or not name.strip() or not spec.strip():
            raise fail(f"--model expects NAME=SPEC, got {pair!r}")
        aliases[name.strip()] = spec.strip()
    check_specs(*aliases.values())
    return aliases


def progress_bar(counts: bool = False) -> Any:
    """A progress bar on stderr and its update(stage, done, total) function; bytes by
    default, plain counts with ``counts``."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        MofNCompleteColumn,
        Progress,
        TransferSpeedColumn,
    )

    columns = (MofNCompleteColumn(),) if counts else (DownloadColumn(), TransferSpeedColumn())
    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        *columns,
        console=Console(stderr=True),
        transient=True,
    )
    tasks: dict[str, Any] = {}

    def update(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = bar.add_task(stage, total=total)
        bar.update(tasks[stage], completed=done)

    return bar, update


LINE_EVERY_SECONDS = 1.0  # progress lines off a terminal: at most one a second


class JobProgress:
    """Progress of ``rlmx batch`` and ``rlmx eval run``: a bar on a terminal; elsewhere
    (CI, nohup, a pipe) a line per finished job, at most one a second, and the last one:
    done/total, failures, elapsed, ETA."""

    def __init__(self, label: str, total: int, stream: Any = None) -> None:
        self.label, self.total = label, total
        self.stream = stream or sys.stderr
        self.done = self.failed = 0
        self.started = self.last_line = time.monotonic()
        self.bar: Any = None
        self.update: Any = None
        if self.stream.isatty():
            self.bar, self.update = progress_bar(counts=True)

    def __enter__(self) -> JobProgress:
        if self.bar is not None:
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)

    def tick(self, row: dict[str, Any]) -> None:
        """One job finished (its row)."""
        self.done += 1
        self.failed += row.get("status") == "error" or bool(row.get("error"))
        if self.update is not None:
            self.update(self.label, self.done, self.total)
            return
        now = time.monotonic()
        if now - self.last_line >= LINE_EVERY_SECONDS or self.done == self.total:
            self.last_line = now
            print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float) -> str:
        elapsed = now - self.started
        left = self.total - self.done
        eta = f", ETA {elapsed / self.done * left:.0f} s" if self.done and left else ""
        return (f"rlmx: {self.label}: {self.done}/{self.total} done, {self.failed} failed, "
                f"{elapsed:.0f} s elapsed{eta}")  # fmt: skip


# Where ``rlmx eval run`` and ``rlmx batch`` run their jobs.
RayAddress = Annotated[
    str | None,
    typer.Option(
        "--ray",
        metavar="ADDRESS",
        help="Run the jobs as Ray tasks: auto (the cluster this machine is in), HOST:PORT, "
        "or local (a private Ray on this machine). --parallel is then the cluster's.",
    ),
]
RayCpus = Annotated[float, typer.Option(min=0.1, help="CPUs each Ray task reserves.")]
RayMemory = Annotated[
    int, typer.Option(min=256, help="MiB each Ray task reserves (its sandbox and host side).")
]


def job_runner(concurrency: int, ray: str | None, cpus: float, memory_mb: int) -> Runner:
    """The local runner, or the Ray runner when --ray is given."""
    from ..jobs import LocalRunner
    from ..ray_runner import RayRunner

    if ray is None:
        return LocalRunner(concurrency)
    return RayRunner(ray, cpus, memory_mb)
