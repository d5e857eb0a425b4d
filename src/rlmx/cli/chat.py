"""``rlmx chat PATH...``: several questions over one REPL (a session), in the terminal or
one question a line from a pipe."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import typer

from ..core.session import Session
from ..lm.base import LMError
from ..repl.context import ContextError
from .ask import Paths, Record, build_rlm, print_result, run_with_progress
from .common import app, fail, out
from .run_flags import run_flags

HELP = "Commands: /reset (a fresh REPL, same context), /history, /exit. Ctrl-D ends."


def questions(interactive: bool) -> Iterator[str]:
    """Questions from the terminal (with line editing and history) or one a line."""
    if not interactive:
        yield from (line.strip() for line in sys.stdin if line.strip())
        return
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 (arrow keys and history for input())
    while True:
        try:
            line = input("? ").strip()
        except (EOFError, KeyboardInterrupt):
            typer.echo("", err=True)
            return
        if line:
            yield line


def command(session: Session, line: str) -> bool:
    """Carry out a /command; False when the chat should end."""
    name = line.split()[0].lower()
    if name in ("/exit", "/quit"):
        return False
    if name == "/reset":
        session.reset()
        typer.echo("-- the REPL was reset: variables and history are gone", err=True)
    elif name == "/history":
        for number, item in enumerate(session.history, 1):
            out(f"{number}. {item['query']}\n   -> {item['answer']} ({item['status']})")
    else:
        typer.echo(f"rlmx: unknown command {name}. {HELP}", err=True)
    return True


@app.command()
@run_flags()
def chat(
    paths: Paths,
    record: Record = True,
    session_usd: Annotated[
        float | None, typer.Option(min=0, help="Stop the whole session past this.")
    ] = None,
    *,
    flags: dict[str, Any],
) -> None:
    """Ask several questions about files or a directory over one REPL (variables stay)."""
    from ..core.budget import Budget

    if "-" in paths:
        raise fail("chat reads its questions from stdin; give the context as paths")
    context, rlm = build_rlm(paths, flags, record)
    interactive = sys.stdin.isatty()
    if interactive:
        typer.echo(f"rlmx chat over {', '.join(paths)}. {HELP}", err=True)
    session = rlm.session(context, budget=Budget(max_usd=session_usd))
    try:
        session.open()
        for line in questions(interactive):
            if line.startswith("/"):
                if not command(session, line):
                    break
                continue
            try:
                result = run_with_progress(rlm, lambda q=line: session.ask(q))
            except KeyboardInterrupt:
                session.reset()  # the cell may still run in the worker: start a clean one
                typer.echo("-- interrupted; the REPL was reset", err=True)
                continue
            print_result(result)
    except (ContextError, LMError) as exc:
        raise fail(str(exc)) from None
    finally:
        session.close()
