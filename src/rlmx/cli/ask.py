"""``rlmx ask PATH... -q QUESTION``: one RLM run with live progress."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..budget import Budget
from ..display import progress_for
from ..lm.base import LMError
from ..repl.context import ContextError, collect_files
from ..repl.isolation import MODES, SandboxUnavailable
from ..rlm import RLM
from ..video.options import VideoOptions
from .common import EXIT_USAGE, MODEL_HELP, app, check_setup, fail, parse_aliases


def load_context(paths: list[str]) -> Any:
    """One path: that file or directory; ``-``: stdin; several: a dict of path -> text."""
    if paths == ["-"]:
        return sys.stdin.buffer.read()
    if "-" in paths:
        raise ContextError("'-' (stdin) cannot be combined with other paths")
    resolved = [Path(p) for p in paths]
    for path in resolved:
        if not path.exists():
            raise ContextError(f"no such file or directory: {path}")
    if len(resolved) == 1:
        return resolved[0]
    files, _skipped = collect_files(resolved)
    return files


@app.command()
def ask(
    paths: Annotated[
        list[str], typer.Argument(help="Files or directories to use as context; '-' for stdin.")
    ],
    query: Annotated[str, typer.Option("-q", "--query", help="The question to answer.")],
    root: Annotated[
        str | None, typer.Option(help="Root model spec (default: $RLMX_ROOT, else local).")
    ] = None,
    sub: Annotated[
        str | None, typer.Option(help="Sub-model spec (default: the root model).")
    ] = None,
    max_depth: Annotated[int, typer.Option(min=1, help="2 lets rlm_query start child RLMs.")] = 1,
    sandbox: Annotated[str, typer.Option(help=f"One of {', '.join(MODES)}.")] = "auto",
    max_iterations: Annotated[int, typer.Option(min=1)] = 20,
    budget_usd: Annotated[
        float | None, typer.Option(min=0, help="Stop spending past this.")
    ] = None,
    max_calls: Annotated[
        int | None, typer.Option(min=1, help="Most LM calls in the run tree.")
    ] = None,
    concurrency: Annotated[int, typer.Option(min=1, help="Most LM calls in flight.")] = 8,
    cell_timeout: Annotated[
        float, typer.Option(min=0.1, help="Seconds of compute per cell.")
    ] = 120.0,
    trajectory: Annotated[
        Path | None, typer.Option(help="Write the JSONL trajectory here.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    policy: Annotated[
        str, typer.Option(help="paper | compact | auto (compact for embedded models).")
    ] = "auto",
    sub_calls: Annotated[
        bool, typer.Option(help="Allow llm_query / rlm_query (off: the paper's ablation).")
    ] = True,
    vision: Annotated[
        str | None, typer.Option(help="Vision model spec for look() on a video context.")
    ] = None,
    model: Annotated[list[str] | None, typer.Option("--model", help=MODEL_HELP)] = None,
) -> None:
    """Answer a question about files, a directory or stdin with an RLM."""
    check_setup(sandbox)
    if not query.strip():
        raise fail("the question (-q) is empty")
    aliases = parse_aliases(model)
    try:
        context = load_context(paths)
        rlm = RLM(
            root=root,
            sub=sub,
            max_depth=max_depth,
            max_iterations=max_iterations,
            sandbox=sandbox,
            budget=Budget(max_usd=budget_usd, max_calls=max_calls),
            cell_timeout=cell_timeout,
            concurrency=concurrency,
            trajectory=trajectory,
            policy=policy,
            sub_calls=sub_calls,
            video=VideoOptions(vision=vision),
            models=aliases,
        )
    except (ContextError, LMError, SandboxUnavailable, ValueError) as exc:
        raise fail(str(exc)) from None
    progress = progress_for(sys.stderr)
    skipped: list[str] = []

    def on_event(event: Any) -> None:
        if event.type == "run_started" and event.depth == 0:
            skipped.extend(event.context.get("skipped_files") or [])
        progress(event)

    rlm.on_event = on_event
    try:
        with progress:
            result = rlm.completion(context, query)
    except (ContextError, LMError) as exc:  # e.g. a model file that fails to load
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted", 130) from None
    if skipped:
        shown = ", ".join(skipped[:10]) + (
            f" and {len(skipped) - 10} more" if len(skipped) > 10 else ""
        )
        typer.echo(f"rlmx: note: {len(skipped)} file(s) not included: {shown}", err=True)
    if as_json:
        typer.echo(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        _print_result(result)
    if result.status == "error":
        # Failing before the root model ever answered means the set-up cannot work
        # (unreachable server, bad key, prompt too long for the window): a usage error.
        raise typer.Exit(EXIT_USAGE if result.usage.root.calls == 0 else 1)


def _print_result(result: Any) -> None:
    total = result.usage.total
    cost = f"${result.cost_usd:.4f}" if result.cost_usd is not None else "n/a"
    typer.echo(result.answer if result.answer is not None else "(no answer)")
    typer.echo(
        f"-- status {result.status} | iterations {result.iterations} | "
        f"tokens {total.total_tokens:,} ({total.calls} calls) | cost {cost} | "
        f"{result.seconds:.1f} s | run {result.run_id}",
        err=True,
    )
    if result.error:
        typer.echo(f"rlmx: error: {result.error}", err=True)
    if result.trajectory:
        typer.echo(f"-- trajectory: {result.trajectory}", err=True)
