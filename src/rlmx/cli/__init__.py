"""Command line: ``rlmx ask``, ``chat``, ``batch``, ``models``, ``serve``, ``runs``, ``view``,
``mcp``, ``video``, ``eval``, ``health``, ``version``.

Each command group lives in its own module and registers itself on ``app`` when imported.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from .. import __version__
from . import ask, batch, chat, evaluate, models, replay, serve, train, video  # noqa: F401
from .common import app


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"rlmx {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """rlmx: Recursive Language Models over long text, documents, code trees and videos."""


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
    from ..repl.container import container_problem
    from ..repl.isolation import bwrap_problem
    from ..repl.modes import resolve_mode

    container = container_problem()
    report = {
        "version": __version__,
        "sandbox": resolve_mode("auto"),
        "bwrap": bwrap_problem() is None,
        "container": container is None,
        "container_problem": container,
        "containment": detect().to_dict(),
    }
    if as_json:
        typer.echo(json.dumps(report))
        return
    typer.echo(f"rlmx {__version__}")
    typer.echo(f"sandbox: {report['sandbox']} (bubblewrap {'works' if report['bwrap'] else 'no'})")
    typer.echo(f"container (--sandbox container): {'works' if container is None else container}")
    typer.echo(f"limits per worker: {detect().describe()}")


def main() -> None:
    app()
