"""``rlmx mcp``: an MCP server (stdio) that lets MCP clients ask an RLM about long contexts.

Tools: ``load_context`` (a file, a directory or text; returns an id and what was loaded),
``ask`` (a question about a loaded context, a path or text; returns the answer with usage,
cost and run id) and ``list_contexts``. Loaded contexts live as long as the server process.
Paths are the user's own (the server runs as them on stdio) and resolve against its cwd.
``root_model``/``sub_model`` pick among the models the operator started it with (its
root and sub, ``--model`` aliases): an MCP client's text may come from a prompt injection.
Bad input is a ToolError: the client gets an error result with the reason.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from .. import __version__
from ..answers import client_schema
from ..core.config import RunConfig
from ..core.rlm import RLM
from ..documents import read_document
from ..errors import RlmxError
from ..repl import scratch
from ..repl.context import ContextError, prepare_context

INSTRUCTIONS = (
    "rlmx answers questions about contexts far larger than a model's window (long documents, "
    "code trees, logs) with a Recursive Language Model: the context lives in a sandboxed "
    "Python REPL that a model explores with code and sub-calls. Load a context once with "
    "load_context, then ask about it as often as needed."
)


def _describe(context: Any) -> dict[str, Any]:
    """Type and size of a context, read the way a run reads it (documents converted), and
    the files of a folder that were not loaded, with the reason."""
    with tempfile.TemporaryDirectory(prefix=scratch.prefix("mcp")) as workdir:
        meta = prepare_context(context, Path(workdir), read_document).meta
    return {"type": meta.type_name, "chars": meta.total_chars, "items": meta.item_count,
            "skipped": meta.skipped_files}  # fmt: skip


def _context_from(path: str | None, text: str | None) -> Any:
    if (path is None) == (text is None):
        raise ToolError("give exactly one of path or text")
    if text is not None:
        return text
    resolved = Path(path or "").expanduser().resolve()
    if not resolved.exists():
        raise ToolError(f"no such file or directory: {resolved}")
    return resolved


def build_server(config: RunConfig | None = None) -> MCPServer:
    """The MCP server; ``config`` holds the settings of every ask (default: the
    environment's): its root, sub and model aliases are the only models an ask may name."""
    server = MCPServer("rlmx", instructions=INSTRUCTIONS, version=__version__)
    contexts: dict[str, dict[str, Any]] = {}
    base = config or RunConfig.build()
    table = base.model_table()

    @server.tool()
    def load_context(path: str | None = None, text: str | None = None) -> dict[str, Any]:
        """Load a file, a directory (its text files and documents) or a text; returns its id,
        its size and the files of a directory that were not loaded, with the reason."""
        context = _context_from(path, text)
        context_id = uuid.uuid4().hex[:8]
        try:
            info = {"context_id": context_id, "source": path or "text", **_describe(context)}
        except ContextError as exc:
            raise ToolError(str(exc)) from None
        contexts[context_id] = {"context": context, "info": info}
        return info

    @server.tool()
    def list_contexts() -> list[dict[str, Any]]:
        """The contexts loaded so far."""
        return [entry["info"] for entry in contexts.values()]

    @server.tool()
    async def ask(
        question: str,
        context_id: str | None = None,
        path: str | None = None,
        text: str | None = None,
        root_model: str | None = None,
        sub_model: str | None = None,
        max_iterations: int | None = None,
        max_depth: int | None = None,
        budget_usd: float | None = None,
        schema: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Answer a question about a loaded context (context_id), a path or a text with an RLM.

        With ``schema`` (a JSON Schema) the answer must match it and ``value`` holds it.
        ``citations``: where the quotes the answer cites are in the context.
        Returns the answer, how the run ended, its usage (tokens, calls), cost in USD (None
        when a model's price is unknown) and the run id.
        """
        if not question.strip():
            raise ToolError("the question is empty")
        if sum(x is not None for x in (context_id, path, text)) != 1:
            raise ToolError("give exactly one of context_id, path or text")
        if context_id is not None:
            if context_id not in contexts:
                raise ToolError(f"unknown context_id {context_id!r}; call load_context first")
            context = contexts[context_id]["context"]
        else:
            context = _context_from(path, text)
        try:
            rlm = RLM(config=base.for_client(
                table, root_model, sub_model, max_depth, max_iterations, budget_usd
            ))  # fmt: skip
            typed = client_schema(schema) if schema is not None else None
            result = await rlm.acompletion(context, question, schema=typed)
        except (RlmxError, ValueError) as exc:  # settings, context, model: the client's to fix
            raise ToolError(str(exc)) from None
        summary = result.to_dict()
        return {key: summary[key] for key in
                ("answer", "status", "iterations", "usage", "cost_usd", "seconds", "run_id",
                 "error", "warnings", "value", "citations")}  # fmt: skip

    return server


def serve_stdio(config: RunConfig) -> None:
    """Run the MCP server on stdin/stdout until the client closes it."""
    build_server(config).run("stdio")
