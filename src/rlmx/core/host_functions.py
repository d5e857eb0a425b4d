"""The one table of host functions: every REPL helper whose body runs on the host.

An entry pairs a ``FunctionSpec`` (name, typed parameters, docstring, whether the cell
waits for the host; see ``repl/functions.py``) with its handler, an async function of the
run's ``HostCalls`` (``host_calls.py``) and the call's arguments. The worker builds its
helpers from the specs the host sends, and the host checks every call against the same
spec before the handler runs. The environment's tools (video OCR, search ...) become
entries too, one per tool.

Adding a helper is one entry in ``BUILTINS``, for example one that counts tokens with
the root model's tokenizer (characters / 4 where it has none)::

    async def count_tokens(host, text):
        tokenizer = host.run.root_lm.tokenizer
        message = [{"role": "user", "content": text}]
        return tokenizer.count_tokens(message) if tokenizer else len(text) // 4

    HostFunction(
        FunctionSpec("count_tokens", (Param("text", "text"),), "Tokens of text for the root.",
                     waits=False),
        count_tokens,
    )

See docs/ARCHITECTURE.md, "Host functions: one table".
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ..choices import MAX_CHOICES
from ..errors import ConfigError, ToolError
from ..repl.functions import FunctionSpec, Param
from ..repl.worker import IMPORTED, IMPORTED_NAMES, LOCAL_HELPERS
from .images import MAX_IMAGES

Handler = Callable[..., Awaitable[Any]]
SUB_CALLS_OFF = "sub-calls are disabled in this run; use Python code alone"
CHOICES = Param("choices", "choices", None, max_items=MAX_CHOICES)  # see choices.py
IMAGES = Param("images", "paths", None, max_items=MAX_IMAGES)  # see images.py


@dataclass(frozen=True)
class HostFunction:
    """A REPL helper: what the sandbox sees (``spec``) and what the host does (``handler``).
    ``sub_call`` entries are refused in runs without sub-calls (the paper's ablation)."""

    spec: FunctionSpec
    handler: Handler
    sub_call: bool = False


BUILTINS = (
    HostFunction(
        FunctionSpec(
            "llm_query",
            (Param("prompt", "text"), Param("model", "name", None), CHOICES, IMAGES),
            "Ask the sub-model one question; returns its reply (or an error string). With "
            "choices=[...] the reply is exactly one of them; images=[path, ...] shows it "
            "image files (ones a tool gave you, or of a context folder).",
            async_twin=True,
        ),
        lambda host, prompt, model, choices, images: host.sub_query(
            prompt, model, choices=choices, images=images
        ),
        sub_call=True,
    ),
    HostFunction(
        FunctionSpec(
            "llm_query_batched",
            (
                Param("prompts", "texts"),
                Param("model", "name", None),
                CHOICES,
                Param("images", "json", None),
            ),
            "Ask many questions concurrently; replies come back in input order. With "
            "choices=[...] each reply is exactly one of them; images=[[path, ...], ...] "
            "gives each prompt its own images (None: none).",
            aliases=("llm_query_batch",),  # the RLM_REPL seed's name
            async_twin=True,
        ),
        lambda host, prompts, model, choices, images: host.sub_batch(
            prompts, model, choices, images
        ),
        sub_call=True,
    ),
    HostFunction(
        FunctionSpec(
            "rlm_query",
            (Param("prompt", "text"), Param("context", "json", None)),
            "Delegate a sub-problem to a child RLM (a plain sub-call at maximum depth).",
            async_twin=True,
        ),
        lambda host, prompt, context: host.child_query(prompt, context),
        sub_call=True,
    ),
    HostFunction(
        FunctionSpec(
            "rlm_query_batched",
            (Param("prompts", "texts"), Param("contexts", "json", None)),
            "Child RLMs concurrently, one per prompt (with contexts[i] when given); answers "
            "in input order.",
            async_twin=True,
        ),
        lambda host, prompts, contexts: host.child_batch(prompts, contexts),
        sub_call=True,
    ),
    HostFunction(
        FunctionSpec(
            "pdf_page",
            (Param("document", "name", None), Param("page", "json", 1)),
            "A page of a PDF of the context as a PNG image file, for llm_query(..., "
            "images=[...]): document is its path in the context folder (None: the context "
            "is that PDF); returns {'path', 'document', 'page'}.",
        ),
        lambda host, document, page: host.pdf_page(document, page),
    ),
    HostFunction(
        FunctionSpec(
            "budget",
            (),
            "What is left of the run's budget (calls, tokens, USD, seconds).",
            waits=False,
        ),
        lambda host: host.budget_left(),
    ),
)

CORE = [entry.spec for entry in BUILTINS]  # the built-ins' specs (a sandbox without a run)


def reserved_names() -> set[str]:
    """Names a tool may not take: every built-in's names, the worker's own helpers and
    pre-imported modules, and the REPL's variables."""
    names = {name for entry in BUILTINS for name in entry.spec.names}
    imported = set(IMPORTED) | {name for _, name in IMPORTED_NAMES}
    return names | set(LOCAL_HELPERS) | imported | {"context", "history", "answer"}


class ToolProvider(Protocol):
    """What offers tools to a run: a video environment, the operator's toolbox."""

    def tool_specs(self) -> list[dict[str, str]]: ...

    async def call(
        self, name: str, args: list[Any], kwargs: dict[str, Any]
    ) -> tuple[Any, list[float] | None]: ...


def tool_function(name: str, doc: str, provider: ToolProvider) -> HostFunction:
    """An entry for one tool of ``provider``: any plain-data arguments, run on the host."""

    async def handler(host: Any, args: list[Any], kwargs: dict[str, Any]) -> Any:
        return await host.tool_call(provider, name, args, kwargs)

    spec = FunctionSpec(name, (Param("args", "varargs", []), Param("kwargs", "varkw", {})), doc)
    return HostFunction(spec, handler)


class HostFunctions:
    """The entries of one run: the built-ins and the tools of its providers."""

    def __init__(self, entries: Iterable[HostFunction]) -> None:
        self.entries: dict[str, HostFunction] = {}
        for entry in entries:
            if entry.spec.name in self.entries:
                raise ConfigError(f"two REPL functions are named {entry.spec.name!r}")
            self.entries[entry.spec.name] = entry

    @classmethod
    def for_run(cls, providers: Sequence[ToolProvider] = ()) -> HostFunctions:
        tools = [tool_function(spec["name"], spec.get("doc", ""), provider)
                 for provider in providers for spec in provider.tool_specs()]  # fmt: skip
        return cls([*BUILTINS, *tools])

    def specs(self) -> list[FunctionSpec]:
        return [entry.spec for entry in self.entries.values()]

    async def call(self, host: Any, name: str, arguments: dict[str, Any]) -> Any:
        """Run a checked call (the sandbox validated ``arguments`` against the spec)."""
        entry = self.entries[name]
        if entry.sub_call and not host.cfg.sub_calls:
            raise ToolError(SUB_CALLS_OFF, "RuntimeError")
        return await entry.handler(host, **entry.spec.bind(arguments))
