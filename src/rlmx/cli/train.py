"""``rlmx export`` (training data from recorded runs) and ``rlmx train`` (``sft``: LoRA
fine-tuning on an export; ``rollouts``: the RL environment played by a model)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import RlmxError
from ..lm.base import LMError
from .common import app, fail, out

train_app = typer.Typer(no_args_is_help=True, help="Train models on rlmx runs.")
app.add_typer(train_app, name="train")

FORMATS = ("sft", "hf", "rlms")


@app.command("export")
def export_command(
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Trajectories, rlms logs, eval result files or folders of them."),
    ] = None,
    to: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            metavar="PATH",
            help="sft: a .jsonl file (export.jsonl); else a folder (export-FMT).",
        ),
    ] = None,
    fmt: Annotated[str, typer.Option("--format", metavar="FMT", help="sft, hf or rlms.")] = "sft",
    store: Annotated[
        str | None,
        typer.Option(metavar="URL", help="Also the runs of a server store (sqlite:///, postgres)."),
    ] = None,
    role: Annotated[
        list[str] | None,
        typer.Option(metavar="ROLE", help="root, child, sub (repeatable; default root)."),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(metavar="STATUS", help="Run statuses kept (repeatable; default final)."),
    ] = None,
    min_score: Annotated[
        float | None, typer.Option(metavar="X", help="Keep runs scored >= X (eval rows).")
    ] = None,
    min_turns: Annotated[int, typer.Option(min=1, metavar="N", help="Root turns a run needs.")] = 2,
    max_turn_chars: Annotated[
        int | None, typer.Option(min=1, metavar="N", help="Drop longer samples.")
    ] = None,
    dedupe: Annotated[bool, typer.Option(help="Drop repeated samples.")] = True,
    keep_corrected: Annotated[bool, typer.Option(help="Keep replies rlmx had to correct.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """Turn recorded runs into training data (one sample per root turn) and report what
    was kept and dropped, and why."""
    from ..kept_runs import default_data_dir
    from ..training.export import ExportOptions, export
    from ..training.runs import from_paths, from_store

    if not paths and store is None:
        raise fail("give trajectories, eval result files or folders, or --store")
    missing = [p for p in paths or [] if not p.exists()]
    if missing:
        raise fail(f"not found: {missing[0]}")
    try:
        options = ExportOptions(
            format=fmt,  # type: ignore[arg-type]  # checked by ExportOptions
            roles=tuple(role or ("root",)), statuses=tuple(status or ("final",)),
            min_score=min_score, min_turns=min_turns, max_turn_chars=max_turn_chars,
            dedupe=dedupe, keep_corrected=keep_corrected,
        )  # fmt: skip
        runs: list[Any] = list(from_paths(paths or []))
        if store is not None:
            runs += asyncio.run(from_store(store, default_data_dir(), limit=100_000))
        target = to or Path("export.jsonl" if fmt == "sft" else f"export-{fmt}")
        report = export(runs, target, options)
    except (ValueError, OSError, RlmxError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
    else:
        for line in report.lines():
            out(line)
    if report.samples == 0:
        raise fail("no sample was kept (see the reasons above)", 1)


@train_app.command("sft")
def sft_command(
    data: Annotated[Path, typer.Argument(help="An `rlmx export --format sft` file.")],
    model: Annotated[
        str,
        typer.Option(metavar="MODEL", help="A Hugging Face folder, a GGUF, or an embedded name."),
    ] = "smollm2-135m",
    to: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", help="Where the adapter goes.")
    ] = (Path("sft-out")),
    steps: Annotated[int | None, typer.Option(min=1, help="Optimizer steps (else epochs).")] = None,
    epochs: Annotated[float, typer.Option(min=0.01)] = 1.0,
    learning_rate: Annotated[float, typer.Option("--lr", min=0.0)] = 2e-4,
    max_length: Annotated[int, typer.Option(min=16, help="Tokens per sample.")] = 2048,
    lora_r: Annotated[int, typer.Option(min=1)] = 8,
    merge: Annotated[bool, typer.Option(help="Also save the merged model.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON.")] = False,
) -> None:
    """LoRA fine-tuning (TRL + PEFT) on exported trajectories; loss on each last reply."""
    try:
        from ..training.sft import SFTSettings, train_sft
    except ImportError as exc:
        raise fail(f"training needs pip install 'rlmx[train]' ({exc})") from None
    if not data.is_file():
        raise fail(f"not found: {data}")
    settings = SFTSettings(steps=steps, epochs=epochs, learning_rate=learning_rate,
                           max_length=max_length, lora_r=lora_r, merge=merge)  # fmt: skip
    try:
        report = train_sft(data, model, to, settings)
    except (ValueError, OSError, LMError, RlmxError) as exc:
        raise fail(str(exc)) from None
    if as_json:
        typer.echo(json.dumps(report.to_dict()))
        return
    first, last = (report.losses[0], report.losses[-1]) if report.losses else (None, None)
    out(f"{report.steps} steps on {report.samples} samples in {report.seconds:.0f} s; "
        f"loss {first} -> {last}; adapter in {to / 'adapter'}")  # fmt: skip


@train_app.command("rollouts")
def rollouts_command(
    tasks: Annotated[
        str, typer.Argument(help="A JSONL of context/question/answer, or an eval task name.")
    ],
    policy: Annotated[str, typer.Option(metavar="SPEC", help="The model playing the root.")],
    sub: Annotated[str | None, typer.Option(metavar="SPEC", help="Sub-calls' model.")] = None,
    n: Annotated[int, typer.Option(min=1, help="Episodes.")] = 1,
    length: Annotated[int, typer.Option(min=1, help="Eval task items' length.")] = 2000,
    max_iterations: Annotated[int, typer.Option(min=1, max=500)] = 6,
    trajectory: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Record each rollout here.")
    ] = None,
    correction_penalty: Annotated[float, typer.Option(min=0.0)] = 0.0,
    sub_call_bonus: Annotated[float, typer.Option(min=0.0)] = 0.0,
    sandbox: Annotated[str, typer.Option(metavar="MODE")] = "auto",
) -> None:
    """Play the RL environment with a model; one JSON line per episode (reward, score)."""
    from ..training.environment import episodes

    try:
        rows = asyncio.run(episodes(tasks, policy, sub, n=n, length=length,
                                    max_iterations=max_iterations, trajectory=trajectory,
                                    correction_penalty=correction_penalty,
                                    sub_call_bonus=sub_call_bonus, sandbox=sandbox))  # fmt: skip
    except (ValueError, OSError, LMError, RlmxError) as exc:
        raise fail(str(exc)) from None
    for row in rows:
        typer.echo(json.dumps(row))
