"""The operator's tools of one run tree: Python functions and MCP servers' tools.

A ``Toolbox`` is opened when a completion starts (MCP servers are started or reached then,
once for the whole tree) and closed when it ends. Every run of the tree offers its tools
as REPL helpers through the host-function table, beside the built-ins and a video's tools;
the root model reads their signatures and docstrings in its first prompt. What a tool
returns crosses back as plain data (pydantic's JSON form of models, dataclasses, dates) or,
for bytes and MCP images, as a file the worker can read (``SharedFile``).
"""

from __future__ import annotations

from contextlib import AsyncExitStack
from types import TracebackType
from typing import Any, Protocol

import pydantic_core

from ..errors import ConfigError, ToolError
from ..repl.sandbox import SharedFile
from .functions import Tool, check_tool_name
from .mcp_tools import McpTool, connect

MCP_TIMEOUT = 60.0  # seconds an MCP tool call may take
# leading bytes -> the suffix of a file a tool returns as bytes
MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8\xff", ".jpg"), (b"GIF8", ".gif"),
         (b"%PDF", ".pdf"), (b"RIFF", ".webp"))  # fmt: skip


class _Callable(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def doc(self) -> str: ...

    async def call(self, args: list[Any], kwargs: dict[str, Any]) -> Any: ...


class Toolbox:
    """The tools of a run tree, by REPL name; an async context manager (MCP connections)."""

    def __init__(self, tools: tuple[Tool, ...] = (), mcp: tuple[str, ...] = ()) -> None:
        self.functions = tools
        self.servers = mcp
        self.tools: dict[str, _Callable] = {tool.name: tool for tool in tools}
        self._stack: AsyncExitStack | None = None

    async def __aenter__(self) -> Toolbox:
        if self.servers:
            self._stack = AsyncExitStack()
            try:
                for spec in self.servers:
                    self._add(await connect(spec, self._stack, MCP_TIMEOUT), spec)
            except BaseException:
                await self.aclose()
                raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        stack, self._stack = self._stack, None
        self.tools = {tool.name: tool for tool in self.functions}
        if stack is not None:
            await stack.aclose()

    def _add(self, found: list[McpTool], spec: str) -> None:
        for tool in found:
            try:
                check_tool_name(tool.name)
            except ConfigError as exc:
                raise ConfigError(f"MCP server {spec!r}: {exc}") from None
            if tool.name in self.tools:
                raise ConfigError(f"MCP server {spec!r} offers {tool.name!r}, a name already "
                                  "taken by another tool")  # fmt: skip
            self.tools[tool.name] = tool

    def tool_specs(self) -> list[dict[str, str]]:
        """Name and help of each tool, for the REPL's functions."""
        return [{"name": name, "doc": tool.doc} for name, tool in self.tools.items()]

    def describe(self) -> str:
        """What the root model reads about the tools ('' without any)."""
        if not self.tools:
            return ""
        lines = [f"- {t.doc.splitlines()[0]}: {_summary(t.doc)}" for t in self.tools.values()]
        return ("Tools you can call in the REPL (help(name) shows one whole; a failure raises "
                "ToolError):\n" + "\n".join(lines))  # fmt: skip

    async def call(
        self, name: str, args: list[Any], kwargs: dict[str, Any]
    ) -> tuple[Any, list[float] | None]:
        """Run one tool; its value as the cell will get it (no time span)."""
        tool = self.tools.get(name)
        if tool is None:
            raise ToolError(f"unknown tool {name!r}", "NameError")
        return plain(await tool.call(args, kwargs)), None


def _summary(doc: str) -> str:
    """The first line of a docstring after its signature line."""
    rest = [line.strip() for line in doc.splitlines()[1:] if line.strip()]
    return rest[0][:200] if rest else "(no description)"


def plain(value: Any) -> Any:
    """A tool's value as JSON data, with bytes (and lists of them) as files to share."""
    if isinstance(value, bytes | bytearray):
        return SharedFile(bytes(value), _suffix(bytes(value)))
    if isinstance(value, SharedFile):
        return value
    if isinstance(value, list | tuple):
        return [plain(item) for item in value]
    try:
        return pydantic_core.to_jsonable_python(value)
    except pydantic_core.PydanticSerializationError as exc:
        raise ToolError(f"the tool returned a value that is not data: {exc}", "TypeError") from None


def _suffix(data: bytes) -> str:
    return next((suffix for magic, suffix in MAGIC if data.startswith(magic)), ".bin")
