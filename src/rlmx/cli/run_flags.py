"""The flags of a run's settings, shared by every command that starts runs.

``@run_flags()`` adds one flag per ``RunConfig`` setting to a command (``rlmx ask``,
``chat``, ``serve``, ``mcp``, ``batch``, ``eval run``); the command receives them as
``flags`` and turns them into its ``RunConfig`` with ``run_config``, the one place flags
become settings. A setting added to ``RunConfig`` gets its flag here, once, and every
command has it (``tests/test_config.py`` checks that ``--help`` of each lists each).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from ..core.budget import Budget
from ..core.config import RunConfig
from ..errors import RlmxError
from ..lm.cache import CallCache
from ..repl.isolation import MODES, Limits
from ..video.options import VideoOptions
from .common import MODEL_HELP, fail, parse_aliases

MODELS, LIMITS, SANDBOX, OUTPUT, TOOLS = "Models", "Limits", "Sandbox", "Output", "Tools"


def _option(panel: str, metavar: str | None, text: str, **extra: Any) -> Any:
    return typer.Option(metavar=metavar, rich_help_panel=panel, help=text, **extra)


# name -> (annotation, default): the flags, in the order --help lists them
FLAGS: dict[str, tuple[Any, Any]] = {
    "root": (Annotated[str | None, _option(MODELS, "SPEC",
             "Root model spec (default: $RLMX_ROOT, else local).")], None),
    "sub": (Annotated[str | None, _option(MODELS, "SPEC",
            "Sub-model spec (default: the root model).")], None),
    "model": (Annotated[list[str] | None, typer.Option(
        "--model", metavar="NAME=SPEC", rich_help_panel=MODELS, help=MODEL_HELP)], None),
    "policy": (Annotated[str, _option(MODELS, "NAME",
               "paper | compact | auto (compact for embedded models).")], "auto"),
    "sub_calls": (Annotated[bool, typer.Option(rich_help_panel=MODELS,
                  help="Allow llm_query / rlm_query (off: the paper's ablation).")], True),
    "recheck": (Annotated[bool, typer.Option(rich_help_panel=MODELS,
                help="Work out a count, sum or ranking answer again (a third time when they "
                     "differ: the majority stands, warned).")],
                True),
    "root_max_tokens": (Annotated[int | None, _option(MODELS, "N",
                        "Tokens of one root reply at most (default: the policy's).", min=1)],
                        None),
    "sub_max_tokens": (Annotated[int | None, _option(MODELS, "N",
                       "Tokens of one sub-call reply at most.", min=1)], None),
    "vision": (Annotated[str | None, _option(MODELS, "SPEC",
               "Vision model spec for look() on a video context.")], None),
    "max_depth": (Annotated[int, _option(LIMITS, "N",
                  "2 lets rlm_query start child RLMs.", min=1)], 1),
    "max_iterations": (Annotated[int, _option(LIMITS, "N", "Root turns at most.", min=1)], 20),
    "schema_retries": (Annotated[int, _option(LIMITS, "N",
                       "Times an answer that does not match --schema is sent back.", min=0)], 3),
    "max_output_chars": (Annotated[int | None, _option(LIMITS, "N",
                         "Cell output the model reads (default: the policy's).", min=100)],
                         None),
    "compaction": (Annotated[float | None, _option(LIMITS, "FRACTION",
                   "Summarise earlier turns past this part of the root's window "
                   "(e.g. 0.7).", min=0.1, max=0.95)], None),
    "budget_usd": (Annotated[float | None, _option(LIMITS, "USD",
                   "Stop spending past this.", min=0)], None),
    "max_calls": (Annotated[int | None, _option(LIMITS, "N",
                  "Most LM calls in the run tree.", min=1)], None),
    "concurrency": (Annotated[int, _option(LIMITS, "N", "Most LM calls in flight.", min=1)], 8),
    "cell_timeout": (Annotated[float, _option(LIMITS, "S",
                     "Seconds of compute per cell.", min=0.1)], 120.0),
    "memory_mb": (Annotated[int, _option(SANDBOX, "MB",
                  "Memory of each sandbox worker, on top of its context.", min=64)], 2048),
    "sandbox": (Annotated[str, _option(SANDBOX, "MODE", f"One of {', '.join(MODES)}.")], "auto"),
    "trajectory": (Annotated[Path | None, _option(OUTPUT, "FILE",
                   "Write the JSONL trajectory here (a folder: one file per run).")], None),
    "otlp_endpoint": (Annotated[str | None, _option(OUTPUT, "URL",
                      "Export spans to this OTLP/HTTP endpoint (else "
                      "$OTEL_EXPORTER_OTLP_ENDPOINT).")], None),
    "tool": (Annotated[list[str] | None, _option(TOOLS, "MODULE:FN",
             "A Python function model code may call (repeatable).")], None),
    "mcp": (Annotated[list[str] | None, _option(TOOLS, "CMD|URL",
            "An MCP server whose tools model code may call: a command line or an "
            "http(s) URL (repeatable).")], None),
    "cache": (Annotated[Path | None, _option(OUTPUT, "DIR",
              "Answer repeated identical LM calls from a cache in DIR (no cost).")], None),
    "cache_sampled": (Annotated[bool, typer.Option("--cache-sampled", rich_help_panel=OUTPUT,
                      help="With --cache: cache sampling models too.")], False),
}  # fmt: skip

# which flags make each setting of RunConfig (the test of every surface reads it)
SETTING_FLAGS: dict[str, tuple[str, ...]] = {
    "root": ("root",), "sub": ("sub",), "models": ("model",), "policy": ("policy",),
    "sub_calls": ("sub_calls",), "root_max_tokens": ("root_max_tokens",),
    "sub_max_tokens": ("sub_max_tokens",), "max_depth": ("max_depth",),
    "max_iterations": ("max_iterations",), "schema_retries": ("schema_retries",),
    "max_output_chars": ("max_output_chars",), "sandbox": ("sandbox",),
    "compaction": ("compaction",), "recheck": ("recheck",),
    "limits": ("cell_timeout", "memory_mb"), "concurrency": ("concurrency",),
    "budget": ("budget_usd", "max_calls"), "video": ("vision",),
    "trajectory": ("trajectory",), "telemetry": ("otlp_endpoint",), "tools": ("tool",),
    "mcp": ("mcp",), "cache": ("cache", "cache_sampled"),
}  # fmt: skip


def run_flags(**defaults: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add the run flags to a command (``defaults`` changes some of their defaults); the
    command gets them as one ``flags`` dict."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        own = inspect.signature(command, eval_str=True)
        params = [p for p in own.parameters.values() if p.name != "flags"]
        for name, (annotation, default) in FLAGS.items():
            params.append(
                inspect.Parameter(
                    name,
                    inspect.Parameter.KEYWORD_ONLY,
                    default=defaults.get(name, default),
                    annotation=annotation,
                )
            )

        @functools.wraps(command)
        def wrapper(**values: Any) -> Any:
            flags = {name: values.pop(name) for name in FLAGS}
            return command(**values, flags=flags)

        wrapper.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
        return wrapper

    return decorate


def run_config(flags: dict[str, Any], **settings: Any) -> RunConfig:
    """The ``RunConfig`` of a command's run flags (``settings`` adds or replaces some);
    exit 2 with the reason for a bad one."""
    made = {
        "root": flags["root"],
        "sub": flags["sub"],
        "models": parse_aliases(flags["model"]),
        "policy": flags["policy"],
        "sub_calls": flags["sub_calls"],
        "root_max_tokens": flags["root_max_tokens"],
        "sub_max_tokens": flags["sub_max_tokens"],
        "max_depth": flags["max_depth"],
        "max_iterations": flags["max_iterations"],
        "schema_retries": flags["schema_retries"],
        "max_output_chars": flags["max_output_chars"],
        "compaction": flags["compaction"],
        "recheck": flags["recheck"],
        "sandbox": flags["sandbox"],
        "limits": Limits(cell_seconds=flags["cell_timeout"], memory_mb=flags["memory_mb"]),
        "concurrency": flags["concurrency"],
        "budget": Budget(max_usd=flags["budget_usd"], max_calls=flags["max_calls"]),
        "video": VideoOptions(vision=flags["vision"]),
        "trajectory": flags["trajectory"],
        "telemetry": flags["otlp_endpoint"],
        "tools": flags["tool"],
        "mcp": flags["mcp"],
        "cache": CallCache(flags["cache"], flags["cache_sampled"]) if flags["cache"] else None,
    }
    try:
        return RunConfig.build(**{**made, **settings})
    except (RlmxError, ValueError) as exc:  # a model, sandbox, policy or telemetry setting
        raise fail(str(exc)) from None
