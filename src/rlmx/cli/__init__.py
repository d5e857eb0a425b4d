"""Command line: ``rlmx ask``, ``chat``, ``batch``, ``models``, ``serve``, ``runs``, ``view``,
``mcp``, ``video``, ``eval``, ``health``, ``version``.

Each command group lives in its own module and registers itself on ``app`` when imported.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .. import __version__
from . import ask, batch, chat, evaluate, models, serve, video  # noqa: F401 (register them)
from .common import app


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


@app.command()
def health(
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """What this machine gives a sandbox: the mode 'auto' picks and what holds its limits."""
    from ..repl.confine import detect
    from ..repl.isolation import bwrap_works, resolve_mode

    report = {
        "version": __version__,
        "sandbox": resolve_mode("auto"),
        "bwrap": bwrap_works(),
        "containment": detect().to_dict(),
    }
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(f"rlmx {__version__}")
    typer.echo(f"sandbox: {report['sandbox']} (bubblewrap {'works' if report['bwrap'] else 'no'})")
    typer.echo(f"limits per worker: {detect().describe()}")


def main() -> None:
    app()
