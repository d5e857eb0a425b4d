"""``rlmx ask PATH... -q QUESTION``: one RLM run with live progress."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import kept_runs
from ..budget import Budget
from ..display import progress_for
from ..documents import read_document
from ..errors import RlmxError
from ..lm.base import LMError
from ..repl.context import ContextError, collect_files, holds_text
from ..repl.isolation import MODES
from ..rlm import RLM
from ..video.options import VideoOptions
from .common import EXIT_USAGE, MODEL_HELP, app, check_setup, fail, out, parse_aliases


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


# The options of every command that runs an RLM over paths (ask, chat).
Paths = Annotated[
    list[str], typer.Argument(help="Files or directories to use as context; '-' for stdin.")
]
MODELS, LIMITS, SANDBOX, OUTPUT = "Models", "Limits", "Sandbox", "Output"  # help panels
Root = Annotated[str | None, typer.Option(
    metavar="SPEC", rich_help_panel=MODELS,
    help="Root model spec (default: $RLMX_ROOT, else local).")]  # fmt: skip
Sub = Annotated[str | None, typer.Option(
    metavar="SPEC", rich_help_panel=MODELS,
    help="Sub-model spec (default: the root model).")]  # fmt: skip
MaxDepth = Annotated[
    int,
    typer.Option(
        min=1, metavar="N", rich_help_panel=LIMITS, help="2 lets rlm_query start child RLMs."
    ),
]
SandboxMode = Annotated[
    str, typer.Option(metavar="MODE", rich_help_panel=SANDBOX, help=f"One of {', '.join(MODES)}.")
]
MaxIterations = Annotated[
    int, typer.Option(min=1, metavar="N", rich_help_panel=LIMITS, help="Root turns at most.")
]
BudgetUsd = Annotated[
    float | None,
    typer.Option(min=0, metavar="USD", rich_help_panel=LIMITS, help="Stop spending past this."),
]
MaxCalls = Annotated[
    int | None,
    typer.Option(min=1, metavar="N", rich_help_panel=LIMITS, help="Most LM calls in the run tree."),
]
Concurrency = Annotated[
    int, typer.Option(min=1, metavar="N", rich_help_panel=LIMITS, help="Most LM calls in flight.")
]
CellTimeout = Annotated[
    float,
    typer.Option(min=0.1, metavar="S", rich_help_panel=LIMITS, help="Seconds of compute per cell."),
]
Trajectory = Annotated[
    Path | None,
    typer.Option(metavar="FILE", rich_help_panel=OUTPUT, help="Write the JSONL trajectory here."),
]
Record = Annotated[
    bool,
    typer.Option(
        rich_help_panel=OUTPUT, help="Keep the run for rlmx runs / view (RLMX_NO_RECORD=1: never)."
    ),
]
PolicyName = Annotated[str, typer.Option(
    metavar="NAME", rich_help_panel=MODELS,
    help="paper | compact | auto (compact for embedded models).")]  # fmt: skip
SubCalls = Annotated[
    bool,
    typer.Option(
        rich_help_panel=MODELS, help="Allow llm_query / rlm_query (off: the paper's ablation)."
    ),
]
Vision = Annotated[str | None, typer.Option(
    metavar="SPEC", rich_help_panel=MODELS,
    help="Vision model spec for look() on a video context.")]  # fmt: skip
Models = Annotated[
    list[str] | None,
    typer.Option("--model", metavar="NAME=SPEC", rich_help_panel=MODELS, help=MODEL_HELP),
]
OtlpEndpoint = Annotated[
    str | None,
    typer.Option(
        metavar="URL",
        rich_help_panel=OUTPUT,
        help="Export spans to this OTLP/HTTP endpoint (else $OTEL_EXPORTER_OTLP_ENDPOINT).",
    ),
]


# The parameters above as RLM(...) takes them; a command passes its locals() (typer needs
# each command's parameters spelled out, build_rlm does not).
RLM_OPTIONS = ("root", "sub", "max_depth", "max_iterations", "concurrency", "cell_timeout",
               "trajectory", "policy", "sub_calls")  # fmt: skip


def build_rlm(values: dict[str, Any]) -> tuple[Any, RLM]:
    """The context of a command's paths and an RLM from its shared options (``values``:
    the command's parameters); exit 2 on bad input."""
    sandbox, paths = values["sandbox"], values["paths"]
    check_setup(sandbox)
    aliases = parse_aliases(values["model"])
    budget = Budget(max_usd=values["budget_usd"], max_calls=values["max_calls"])
    options = {name: values[name] for name in RLM_OPTIONS}
    if options["trajectory"] is None and kept_runs.recording(values["record"]):
        options["trajectory"] = kept_runs.folder()  # <run_id>.jsonl, for rlmx runs / view
    try:
        context = load_context(paths)
        rlm = RLM(sandbox=sandbox, budget=budget, video=VideoOptions(vision=values["vision"]),
                  models=aliases, telemetry=values["otlp_endpoint"], **options)  # fmt: skip
    except (RlmxError, ValueError) as exc:  # a context, model, sandbox or telemetry setting
        raise fail(str(exc)) from None
    return context, rlm


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
def ask(
    paths: Paths,
    query: Annotated[str, typer.Option("-q", "--query", help="The question to answer.")],
    root: Root = None,
    sub: Sub = None,
    max_depth: MaxDepth = 1,
    sandbox: SandboxMode = "auto",
    max_iterations: MaxIterations = 20,
    budget_usd: BudgetUsd = None,
    max_calls: MaxCalls = None,
    concurrency: Concurrency = 8,
    cell_timeout: CellTimeout = 120.0,
    trajectory: Trajectory = None,
    record: Record = True,
    as_json: Annotated[
        bool, typer.Option("--json", rich_help_panel=OUTPUT, help="Print one JSON object.")
    ] = False,
    policy: PolicyName = "auto",
    sub_calls: SubCalls = True,
    vision: Vision = None,
    model: Models = None,
    otlp_endpoint: OtlpEndpoint = None,
    schema: Annotated[
        Path | None,
        typer.Option(help="A JSON Schema file the answer must match (--json shows `value`)."),
    ] = None,
) -> None:
    """Answer a question about files, a directory or stdin with an RLM."""
    if not query.strip():
        raise fail("the question (-q) is empty")
    answer_schema = load_schema(schema) if schema is not None else None
    context, rlm = build_rlm(locals())
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
        out(f"rlmx: warning: {warning}", err=True)
    if result.error:
        out(f"rlmx: error: {result.error}", err=True)
    if result.trajectory:
        out(f"-- trajectory: {result.trajectory} (rlmx view {result.run_id})", err=True)
