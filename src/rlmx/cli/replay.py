"""``rlmx replay``: execute a recorded run again with the recorded LM replies and report the
first cell whose output differs (``core/rerun.py``)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from ..core.rerun import ReplayReport, replay_run
from ..errors import RlmxError
from ..repl.isolation import MODES
from .common import app, fail, out
from .serve import KeptRun, LastRun, trajectory_of

EXIT_DIFFERS = 1


@app.command()
def replay(
    target: KeptRun = None,
    last: LastRun = False,
    context: Annotated[
        Path | None,
        typer.Option(metavar="PATH", help="The run's context (default: the recorded path)."),
    ] = None,
    sandbox: Annotated[
        str, typer.Option(metavar="MODE", help=f"One of {', '.join(MODES)}.")
    ] = "auto",
    tool: Annotated[
        list[str] | None,
        typer.Option(metavar="MODULE:FN", help="The run's Python tools again (repeatable)."),
    ] = None,
    mcp: Annotated[
        list[str] | None,
        typer.Option(metavar="CMD|URL", help="The run's MCP servers again (repeatable)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Run a recorded run again with its recorded LM replies; exit 1 at the first cell whose
    output differs from the record (0: reproduced)."""
    trajectory = trajectory_of(target, last)
    try:
        report = asyncio.run(replay_run(trajectory, context, sandbox=sandbox, tools=tool or None,
                                        mcp=mcp or None))  # fmt: skip
    except (RlmxError, ValueError, OSError) as exc:
        raise fail(str(exc)) from None
    found = report.divergence
    if as_json:
        typer.echo(json.dumps({"cells_compared": report.cells, "reproduced": found is None,
                               "context_matches": report.context_matches,
                               "divergence": found.__dict__ if found else None,
                               "recorded_answer": report.recorded_answer,
                               "replayed_answer": report.replayed_answer}))  # fmt: skip
    else:
        _describe(report)
    if found is not None:
        raise typer.Exit(EXIT_DIFFERS)


def _describe(report: ReplayReport) -> None:
    if not report.context_matches:
        out("note: the context is not the recorded one (its sha256 differs)", err=True)
    found = report.divergence
    if found is None:
        out(f"reproduced: {report.cells} cells gave the recorded output; answer "
            f"{report.replayed_answer!r} ({report.replayed_status})")  # fmt: skip
        return
    where = "the root" if found.depth == 0 else f"the child run asked {found.query[:60]!r}"
    out(f"differs at cell {found.cell} of {where} ({report.cells} cells matched before it)")
    out(f"code:\n{found.code}")
    out(f"recorded output:\n{found.recorded}")
    out("replayed output:\n" + (found.replayed if found.replayed is not None
                                else "(the replay ran no such cell)"))  # fmt: skip
