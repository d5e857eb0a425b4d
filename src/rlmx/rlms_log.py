"""The official ``rlms`` package's log format (its ``RLMLogger`` JSONL), both ways: an rlmx
run written as one, so the ``rlms`` visualizer opens it (``rlmx export --format rlms``),
and an ``rlms`` log read as rlmx events, so ``rlmx view`` and ``rlmx export`` take it.

The format: a ``{"type": "metadata", ...}`` line (``RLMMetadata``), then one
``{"type": "iteration", ...}`` line per root turn (``RLMIteration``): the messages the
model was sent (``prompt``), its ``response``, the ``code_blocks`` it ran (each with a
``REPLResult``: ``stdout``, ``stderr``, ``locals``, ``execution_time``, ``rlm_calls``, the
sub-calls made), and the ``final_answer`` when it ended the run. Only the root's turns are
iterations; a child RLM appears as an ``rlm_call`` holding its answer.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from .core.events import (
    CodeExecuted,
    FinalAnswer,
    LLMCall,
    PromptDelta,
    RunFinished,
    RunStarted,
    SubCall,
    read_trajectory,
)
from .training.turns import turns


def read_events(path: Path) -> list[Any]:
    """The events of an rlmx trajectory, or of an ``rlms`` log read as rlmx events."""
    return read_rlms_log(path) if is_rlms_log(path) else read_trajectory(path)


def is_rlms_log(path: Path) -> bool:
    """A file whose first line is an ``rlms`` metadata record."""
    try:
        with open(path, encoding="utf-8") as f:
            first = json.loads(f.readline() or "null")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return False
    return isinstance(first, dict) and first.get("type") == "metadata" and "root_model" in first


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts).isoformat()


def _usage_summary(model: str, usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "model_usage_summaries": {
            model: {
                "total_calls": usage.get("calls", 1) or 1,
                "total_input_tokens": usage.get("input_tokens", 0),
                "total_output_tokens": usage.get("output_tokens", 0),
            }
        }
    }


def _call(event: Any) -> dict[str, Any]:
    """A sub-call or a child run as an ``RLMChatCompletion``."""
    child = event.type == "child_run"
    response = (event.answer or "") if child else event.response
    model = event.child_run_id if child else event.model
    out = {
        "root_model": model,
        "prompt": event.prompt,
        "response": response,
        "usage_summary": _usage_summary(model, event.usage),
        "execution_time": event.seconds,
    }
    error = event.status if child and event.status != "final" else getattr(event, "error", None)
    if error:
        out["error"] = error
    return out


def to_rlms(run: Any) -> list[dict[str, Any]]:
    """One recorded run tree (``training.runs.RecordedRun``) as the lines of an rlms log."""
    root = run.root
    lines: list[dict[str, Any]] = [{
        "type": "metadata", "timestamp": _stamp(root.ts), "root_model": root.root_model,
        "max_depth": root.max_depth, "max_iterations": root.max_iterations,
        "backend": "rlmx", "backend_kwargs": {"model_name": root.root_model},
        "environment_type": root.sandbox, "environment_kwargs": {},
        "other_backends": [root.sub_model],
    }]  # fmt: skip
    calls_by_cell: dict[int | None, list[Any]] = {}
    for event in run.events:
        if event.type in ("sub_call", "child_run") and event.run_id == root.run_id:
            calls_by_cell.setdefault(event.cell, []).append(event)
    for turn in (t for t in turns(run.events) if t.run_id == root.run_id):
        blocks = [{
            "code": cell.code,
            "result": {
                "stdout": "" if cell.error else cell.output,
                "stderr": cell.output if cell.error else "",
                "locals": {}, "execution_time": cell.seconds,
                "rlm_calls": [_call(c) for c in calls_by_cell.get(cell.cell, [])],
                "final_answer": None,
            },
        } for cell in turn.cells]  # fmt: skip
        lines.append({
            "type": "iteration", "iteration": turn.index, "timestamp": _stamp(root.ts),
            "prompt": turn.messages or [], "response": turn.reply, "code_blocks": blocks,
            "final_answer": turn.final,
            "iteration_time": sum(cell.seconds for cell in turn.cells),
        })  # fmt: skip
    return lines


def _query(iterations: list[dict[str, Any]]) -> str:
    """The question of an rlms run: the last user message of its first prompt."""
    prompt = iterations[0].get("prompt") if iterations else None
    if isinstance(prompt, str):
        return prompt
    users = [m.get("content") for m in prompt or [] if isinstance(m, dict)
             and m.get("role") == "user"]  # fmt: skip
    return str(users[-1]) if users else "(rlms log)"


def _messages(prompt: Any) -> list[dict[str, Any]]:
    if isinstance(prompt, str):
        return [{"role": "user", "content": prompt}]
    return [m for m in prompt or [] if isinstance(m, dict)]


def read_rlms_log(path: Path) -> list[Any]:
    """An rlms log as rlmx events: a root run with its turns, cells and sub-calls."""
    with open(path, encoding="utf-8") as f:
        records = [json.loads(line) for line in f if line.strip()]
    meta = records[0]
    iterations = [r for r in records[1:] if r.get("type") == "iteration"]
    run_id = f"rlms-{path.stem}"[:64]
    model = str(meta.get("root_model", "unknown"))
    subs = meta.get("other_backends") or [model]
    base: dict[str, Any] = {"run_id": run_id}
    events: list[Any] = [RunStarted(
        **base, query=_query(iterations), context={"rlms_log": path.name}, root_model=model,
        sub_model=str(subs[0]), max_depth=int(meta.get("max_depth") or 1),
        max_iterations=int(meta.get("max_iterations") or len(iterations)),
        sandbox=str(meta.get("environment_type", "unknown")), policy="rlms",
    )]  # fmt: skip
    sent: list[dict[str, Any]] = []
    cell, calls, answer, seconds = 0, 0, None, 0.0
    for number, it in enumerate(iterations, 1):
        messages = _messages(it.get("prompt"))
        events.append(LLMCall(
            **base, iteration=number, model=model, response=str(it.get("response", "")),
            usage={}, seconds=0.0, prompt_chars=sum(len(str(m.get("content"))) for m in messages),
            prompt=PromptDelta.between(sent, messages),
        ))  # fmt: skip
        sent = messages
        seconds += float(it.get("iteration_time") or 0.0)
        for block in it.get("code_blocks") or []:
            cell += 1
            result = block.get("result") or {}
            stderr = str(result.get("stderr") or "")
            events.append(CodeExecuted(
                **base, iteration=number, cell=cell, code=str(block.get("code", "")),
                output=str(result.get("stdout") or "") + stderr, error=bool(stderr),
                seconds=float(result.get("execution_time") or 0.0),
            ))  # fmt: skip
            for sub in result.get("rlm_calls") or []:
                calls += 1
                prompt = sub.get("prompt")
                text = prompt if isinstance(prompt, str) else json.dumps(prompt)
                events.append(SubCall(
                    **base, iteration=number, call_id=f"{run_id}.{calls}",
                    model=str(sub.get("root_model", "")), prompt=text, prompt_chars=len(text),
                    response=str(sub.get("response", "")), error=sub.get("error"), usage={},
                    seconds=float(sub.get("execution_time") or 0.0), cell=cell,
                ))  # fmt: skip
        if it.get("final_answer") is not None:
            answer = str(it["final_answer"])
            events.append(FinalAnswer(**base, iteration=number, answer=answer, via="FINAL"))
    events.append(RunFinished(
        **base, iteration=len(iterations), status="final" if answer is not None
        else "max_iterations", answer=answer, iterations=len(iterations), usage={},
        cost_usd=None, seconds=seconds,
    ))  # fmt: skip
    return events
