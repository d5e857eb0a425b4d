"""``RunConfig``: every setting of a run, in one frozen object built in one place.

What the operator decides (Python arguments, CLI flags, server settings, the environment)
becomes one ``RunConfig`` through ``RunConfig.build``, which fills defaults from the
environment (``$RLMX_ROOT``, ``$OTEL_EXPORTER_OTLP_ENDPOINT``), resolves the sandbox mode
and checks every value. ``RLM`` holds one; the CLI, the server, the MCP server, ``rlmx
batch`` and the evaluation harness build theirs with ``build`` too, so a setting added
here reaches each of them (``tests/test_config.py`` checks each surface names each one).
Settings that belong together sit together: a worker's limits and its cell time limits in
``Limits``; the budget of a run tree in ``Budget``; how a video is explored in
``VideoOptions``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from ..lm.base import LM
from ..lm.cache import CallCache
from ..lm.choice import ModelTable
from ..lm.specs import default_root_spec, validate_spec
from ..repl.isolation import Limits
from ..repl.modes import resolve_mode
from ..telemetry import Telemetry
from ..tools.functions import Tool, tools_from
from ..tools.mcp_tools import check_server
from ..video.options import VideoOptions
from .budget import Budget
from .policy import Policy, check_policy

Model = str | LM

# the most depth and turns an untrusted client (an HTTP request, an MCP call) may ask for
CLIENT_MAX_DEPTH = 5
CLIENT_MAX_ITERATIONS = 500


@dataclass(frozen=True)
class RunConfig:
    """The settings of a run and of every run of its tree.

    Models: ``root`` (a spec such as ``"openai:gpt-5-mini"`` or an LM; default
    ``$RLMX_ROOT``, else the embedded ``local:qwen2.5-coder-1.5b``), ``sub`` (for
    ``llm_query`` and child roots; default the root), ``models`` (names model code may pick,
    ``{"fast": "openai:gpt-5-nano"}``; any other name is refused), ``policy`` (``"paper"``,
    ``"compact"``, ``"auto"`` or a ``Policy``), ``sub_calls`` (False: the paper's ablation
    without sub-calls), ``root_max_tokens`` / ``sub_max_tokens`` (reply caps; None: the
    policy's).

    The loop: ``max_depth`` (1: sub-calls are plain LM calls; 2: ``rlm_query`` starts child
    RLMs), ``max_iterations`` (root turns before a last answer is asked for),
    ``schema_retries`` (how often a typed answer that does not validate is sent back),
    ``max_output_chars`` (cell output the model reads; None: the policy's),
    ``compaction`` (a fraction of the root's window: past it, earlier turns are summarised
    by the sub-model; None: they are only dropped when the window is full), ``recheck``
    (a count, sum or ranking answer is worked out again by a second, independent attempt,
    and by a third when the two disagree: among the attempts no check doubted, two that
    agree decide; else the second's answer stands if no check doubted it, else the
    first's; warned ``recheck_differs`` whenever the attempts disagreed).

    Resources: ``sandbox`` (``auto``, ``bwrap``, ``container``, ``process``, ``none``),
    ``limits`` (each worker's memory, processes, files, frames, and each cell's compute
    and wall seconds), ``concurrency`` (LM calls in flight across the tree), ``budget``
    (calls, tokens, USD, seconds of the tree).

    Contexts and output: ``video`` (how a video context is explored), ``trajectory`` (a
    JSONL file, or a folder for ``<run_id>.jsonl``), ``telemetry`` (OpenTelemetry export;
    None: off unless ``$OTEL_EXPORTER_OTLP_ENDPOINT`` is set).

    Tools: ``tools`` (the operator's Python functions as REPL helpers: a list of
    callables, ``Tool``s or ``"module:function"`` texts, or a mapping of name -> callable),
    ``mcp`` (MCP servers whose tools become REPL helpers: command lines or URLs).

    ``cache``: a ``CallCache`` (or a folder) that answers repeated identical LM calls
    from disk at no cost (``lm/cache.py``); None: off.
    """

    root: Model
    sub: Model
    models: Mapping[str, Model] = field(default_factory=dict)
    policy: str | Policy = "auto"
    sub_calls: bool = True
    root_max_tokens: int | None = None
    sub_max_tokens: int | None = None
    max_depth: int = 1
    max_iterations: int = 20
    schema_retries: int = 3
    max_output_chars: int | None = None
    compaction: float | None = None
    recheck: bool = True
    sandbox: str = "auto"
    limits: Limits = field(default_factory=Limits)
    concurrency: int = 8
    budget: Budget = field(default_factory=Budget)
    video: VideoOptions = field(default_factory=VideoOptions)
    trajectory: Path | None = None
    telemetry: Telemetry | None = None
    tools: tuple[Tool, ...] = ()
    mcp: tuple[str, ...] = ()
    cache: CallCache | None = None

    def __post_init__(self) -> None:
        for name in ("max_depth", "max_iterations", "concurrency"):
            _positive(name, getattr(self, name))
        for name in ("root_max_tokens", "sub_max_tokens"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        if self.max_output_chars is not None and self.max_output_chars < 100:
            raise ValueError("max_output_chars must be at least 100")
        if self.compaction is not None and not 0.1 <= self.compaction <= 0.95:
            raise ValueError(f"compaction must be between 0.1 and 0.95, got {self.compaction}")
        if self.schema_retries < 0:
            raise ValueError(f"schema_retries must be >= 0, got {self.schema_retries}")
        for model in (self.root, self.sub, self.video.vision, *self.models.values()):
            if isinstance(model, str):
                validate_spec(model)
        check_policy(self.policy)
        object.__setattr__(self, "tools", tools_from(self.tools))
        servers = (self.mcp,) if isinstance(self.mcp, str) else self.mcp
        object.__setattr__(self, "mcp", tuple(check_server(spec) for spec in servers))

    @classmethod
    def build(cls, **settings: Any) -> RunConfig:
        """A config from the operator's ``settings`` (any field; None or absent: the
        default): the root from ``$RLMX_ROOT`` when not given, the sub from the root, the
        sandbox mode resolved (``auto`` becomes what works here), telemetry from its
        setting or the environment. ValueError or a ConfigError for a bad value."""
        unknown = set(settings) - set(SETTINGS)
        if unknown:
            raise TypeError(f"unknown settings: {', '.join(sorted(unknown))}")
        given = {name: value for name, value in settings.items() if value is not None}
        root = given.pop("root", None) or default_root_spec()
        given.setdefault("sub", root)
        given["models"] = dict(given.get("models", {}))
        given["sandbox"] = resolve_mode(given.get("sandbox", "auto"))
        given["telemetry"] = Telemetry.resolve(settings.get("telemetry"))
        if isinstance(given.get("cache"), str | Path):
            given["cache"] = CallCache(Path(given["cache"]))
        if "trajectory" in given:
            given["trajectory"] = Path(given["trajectory"])
        return cls(root=root, **given)

    def model_table(self, *more: Model, allow_prefixes: tuple[str, ...] = ()) -> ModelTable:
        """The models a client or model code may name: the aliases, the root and the sub
        by their spec text, and ``more``."""
        return ModelTable(
            self.models, allowed=[self.root, self.sub, *more], allow_prefixes=allow_prefixes
        )

    def for_client(
        self,
        table: ModelTable,
        root: str | None = None,
        sub: str | None = None,
        max_depth: int | None = None,
        max_iterations: int | None = None,
        max_usd: float | None = None,
        max_seconds: float | None = None,
    ) -> RunConfig:
        """This config with what an untrusted client (an HTTP request, an MCP tool call)
        may choose: models only from ``table`` (ModelNotAllowed for any other; a root
        named alone is its own sub), depth and turns up to CLIENT_MAX_DEPTH and
        CLIENT_MAX_ITERATIONS (ValueError past them), and budget limits that can only be
        lowered."""
        _within("max_depth", max_depth, CLIENT_MAX_DEPTH)
        _within("max_iterations", max_iterations, CLIENT_MAX_ITERATIONS)
        picked_root = table.pick(root, "root model") if root else self.root
        default_sub = picked_root if root else self.sub
        picked_sub = table.pick(sub, "sub model") if sub else default_sub
        budget = replace(
            self.budget,
            max_usd=_least(max_usd, self.budget.max_usd),
            max_seconds=_least(max_seconds, self.budget.max_seconds),
        )
        return replace(
            self,
            root=picked_root,
            sub=picked_sub,
            max_depth=max_depth or self.max_depth,
            max_iterations=max_iterations or self.max_iterations,
            budget=budget,
        )


SETTINGS: tuple[str, ...] = tuple(f.name for f in fields(RunConfig))


def _least(*limits: float | None) -> float | None:
    """The lowest of the limits given (None: no limit)."""
    given = [limit for limit in limits if limit is not None]
    return min(given) if given else None


def _within(name: str, value: int | None, most: int) -> None:
    if value is not None and not 1 <= value <= most:
        raise ValueError(f"{name} must be between 1 and {most}, got {value}")


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
