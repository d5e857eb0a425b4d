"""``rlmx ask PATH... -q QUESTION``: one RLM run with live progress."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import kept_runs
from ..core.rlm import RLM
from ..display import progress_for
from ..documents import read_document
from ..errors import RlmxError
from ..lm.base import LMError
from ..repl.context import ContextError, collect_files, holds_text
from .common import EXIT_USAGE, app, check_setup, fail, out
from .run_flags import OUTPUT, run_config, run_flags

EXIT_DOUBTFUL = 3  # --strict: the answer carries a warning


def load_context(paths: list[str]) -> Any:
    """One path: that file or directory; ``-``: stdin; several: a dict of path -> text."""
    if paths == ["-"]:
        data = sys.stdin.buffer.read()
        if not holds_text(data):
            raise ContextError("stdin is empty: there is nothing to ask about")
        return data
    if "-" in paths:
        raise ContextError("'-' (stdin) cannot be combined with other paths")
    resolved = [Path(p) for p in paths]
    for path in resolved:
        if not path.exists():
            raise ContextError(f"no such file or directory: {path}")
    if len(resolved) == 1:
        return resolved[0]
    files, _skipped = collect_files(resolved, reader=read_document)
    return files


# The options of every command that runs an RLM over paths (ask, chat); the run's own
# settings are the run flags (``run_flags.py``).
Paths = Annotated[
    list[str], typer.Argument(help="Files or directories to use as context; '-' for stdin.")
]
Record = Annotated[
    bool,
    typer.Option(
        rich_help_panel=OUTPUT, help="Keep the run for rlmx runs / view (RLMX_NO_RECORD=1: never)."
    ),
]


def build_rlm(paths: list[str], flags: dict[str, Any], record: bool) -> tuple[Any, RLM]:
    """The context of a command's paths and an RLM of its run flags; exit 2 on bad input."""
    check_setup(flags["sandbox"])
    trajectory = flags["trajectory"]
    if trajectory is None and kept_runs.recording(record):
        trajectory = kept_runs.folder()  # <run_id>.jsonl, for rlmx runs / view
    try:
        context = load_context(paths)
    except RlmxError as exc:  # no such file, an empty stdin
        raise fail(str(exc)) from None
    return context, RLM(config=run_config(flags, trajectory=trajectory))


def run_with_progress(rlm: RLM, answer: Any) -> Any:
    """Call ``answer()`` under the live panel; skipped files are noted after it."""
    progress = progress_for(sys.stderr)
    skipped: list[str] = []

    def on_event(event: Any) -> None:
        if event.type == "run_started" and event.depth == 0:
            skipped.extend(event.context.get("skipped_files") or [])
        progress(event)

    rlm.on_event = on_event
    with progress:
        result = answer()
    if skipped:
        shown = ", ".join(skipped[:10]) + (
            f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        )
        typer.echo(f"rlmx: note: {len(skipped)} file(s) not included: {shown}", err=True)
    return result


@app.command()
@run_flags()
def ask(
    paths: Paths,
    query: Annotated[str, typer.Option("-q", "--query", help="The question to answer.")],
    record: Record = True,
    as_json: Annotated[
        bool, typer.Option("--json", rich_help_panel=OUTPUT, help="Print one JSON object.")
    ] = False,
    schema: Annotated[
        Path | None,
        typer.Option(help="A JSON Schema file the answer must match (--json shows `value`)."),
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", rich_help_panel=OUTPUT, help="Exit 3 when the answer carries a warning."
        ),
    ] = False,
    *,
    flags: dict[str, Any],
) -> None:
    """Answer a question about files, a directory or stdin with an RLM (exit 0 answered,
    1 failed, 2 bad input, 3 with --strict a doubtful answer, 130 interrupted)."""
    if not query.strip():
        raise fail("the question (-q) is empty")
    answer_schema = load_schema(schema) if schema is not None else None
    context, rlm = build_rlm(paths, flags, record)
    try:
        result = run_with_progress(rlm, lambda: rlm.completion(context, query, answer_schema))
    except (ContextError, LMError) as exc:  # e.g. a model file that fails to load
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print_result(result)
    if result.status == "error":
        # Failing before the root model ever answered means the set-up cannot work
        # (unreachable server, bad key, prompt too long for the window): a usage error.
        raise typer.Exit(EXIT_USAGE if result.usage.root.calls == 0 else 1)
    if strict and result.warnings:
        raise typer.Exit(EXIT_DOUBTFUL)


def load_schema(path: Path) -> dict[str, Any]:
    """A JSON Schema file, checked now (exit 2 when it cannot be used)."""
    from ..answers import AnswerSchema

    try:
        schema = json.loads(path.read_text(encoding="utf-8"))
        AnswerSchema(schema)
    except OSError as exc:
        raise fail(f"cannot read the schema {path}: {exc.strerror}") from None
    except (ValueError, RlmxError) as exc:
        raise fail(f"{path} is not a usable JSON Schema: {exc}") from None
    if not isinstance(schema, dict):
        raise fail(f"{path} is not a usable JSON Schema: it must be a JSON object")
    return schema


def print_result(result: Any) -> None:
    """The answer and the quotes it cites on stdout, the status line (and any error) on
    stderr; control characters shown as escapes on a terminal (``terminal.py``)."""
    total = result.usage.total
    cost = f"${result.cost_usd:.4f}" if result.cost_usd is not None else "n/a"
    out(result.answer if result.answer is not None else "(no answer)")
    for number, cite in enumerate(result.citations, 1):
        quote = cite.quote if len(cite.quote) <= 120 else cite.quote[:119] + "…"
        out(f'[{number}] "{quote}" ({cite.where()})')
    out(
        f"-- status {result.status} | iterations {result.iterations} | "
        f"tokens {total.total_tokens:,} ({total.calls} calls) | cost {cost} | "
        f"{result.seconds:.1f} s | run {result.run_id}",
        err=True,
    )
    for warning in result.warnings:
        out(f"rlmx: warning [{warning.code}]: {warning.message}", err=True)
    if result.error:
        out(f"rlmx: error: {result.error}", err=True)
    if result.trajectory:
        out(f"-- trajectory: {result.trajectory} (rlmx view {result.run_id})", err=True)
