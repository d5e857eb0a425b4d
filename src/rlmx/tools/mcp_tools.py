"""Tools of MCP servers as REPL helpers (``RLM(mcp=[...])``, ``--mcp``).

The operator names each server: a command line (started as a child speaking MCP over its
stdin and stdout) or an ``http(s)://`` URL (Streamable HTTP). A run tree connects to each
once (official ``mcp`` SDK), lists its tools, and offers each as a REPL function named
after it. Model code's arguments are hostile: they are mapped onto the tool's input schema
and validated against it (no reference is ever fetched) before the call is sent. The
server's reply is the operator's server's, but its size is still capped by the toolbox.
"""

from __future__ import annotations

import asyncio
import base64
import re
import shlex
import tempfile
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, TextIO

from ..errors import ConfigError, ToolError
from ..repl.sandbox import SharedFile
from ..schema_guard import refusing_registry
from .functions import took_too_long

CONNECT_SECONDS = 30.0  # to start or reach a server and list its tools
MAX_TOOLS = 200  # of one server
MAX_PAGES = 20  # of its tool listing
IMAGE_SUFFIXES = {"image/png": ".png", "image/jpeg": ".jpg", "image/gif": ".gif",
                  "image/webp": ".webp"}  # fmt: skip


def check_server(spec: str) -> str:
    """The operator's server spec, checked: a URL or a command line."""
    if not isinstance(spec, str) or not spec.strip():
        raise ConfigError("an MCP server is a command line or an http(s):// URL")
    if "://" in spec and not spec.startswith(("http://", "https://")):
        raise ConfigError(f"MCP server URL {spec!r} must be http:// or https://")
    if "://" not in spec:
        try:
            shlex.split(spec)
        except ValueError as exc:
            raise ConfigError(f"MCP server command {spec!r}: {exc}") from None
    return spec


def _target(spec: str, errlog: TextIO) -> Any:
    """What ``mcp.Client`` connects to: the URL, or the command to start (its stderr
    goes to ``errlog``, shown when it fails to start)."""
    from mcp.client.stdio import StdioServerParameters, stdio_client

    if spec.startswith(("http://", "https://")):
        return spec
    command, *args = shlex.split(spec)
    return stdio_client(StdioServerParameters(command=command, args=args), errlog=errlog)


def python_name(name: str) -> str:
    """An MCP tool name as a Python identifier (``get-weather`` -> ``get_weather``)."""
    made = re.sub(r"\W", "_", name)
    return f"t_{made}" if not made or made[0].isdigit() or made[0] == "_" else made


@dataclass(frozen=True)
class McpTool:
    """One tool of a connected server, as the REPL calls it."""

    name: str  # the REPL's name
    remote: str  # the server's name
    schema: dict[str, Any]
    description: str
    output_schema: dict[str, Any] | None
    client: Any
    timeout: float

    @property
    def doc(self) -> str:
        params = self.parameters()
        required = set(self.schema.get("required", []))
        shown = [p if p in required else f"{p}=None" for p in params]
        return f"{self.name}({', '.join(shown)})\n\n{self.description}".strip()

    def parameters(self) -> list[str]:
        """Property names, required ones first (the order positional arguments take)."""
        properties = list((self.schema.get("properties") or {}).keys())
        required = [p for p in properties if p in set(self.schema.get("required", []))]
        return required + [p for p in properties if p not in required]

    async def call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        arguments = self._arguments(args, kwargs)
        self._validate(arguments)
        try:
            async with asyncio.timeout(self.timeout):
                result = await self.client.call_tool(self.remote, arguments)
        except TimeoutError:
            raise took_too_long(self.name, self.timeout) from None
        except Exception as exc:  # the server or its connection failed
            raise ToolError(f"{self.name}(): {_innermost(exc)}", "RuntimeError") from None
        return _result_value(self.name, result, self.output_schema)

    def _arguments(self, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        params = self.parameters()
        if len(args) > len(params):
            raise ToolError(f"{self.name}() takes at most {len(params)} positional arguments "
                            f"({len(args)} given)", "TypeError")  # fmt: skip
        arguments = dict(zip(params, args, strict=False))
        doubled = set(arguments) & set(kwargs)
        if doubled:
            raise ToolError(f"{self.name}() got {sorted(doubled)[0]!r} twice", "TypeError")
        return {**arguments, **kwargs}

    def _validate(self, arguments: dict[str, Any]) -> None:
        import jsonschema

        validator_class = jsonschema.validators.validator_for(self.schema)
        validator = validator_class(self.schema, registry=refusing_registry())
        errors = sorted(validator.iter_errors(arguments), key=lambda e: list(e.path))[:5]
        if errors:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e.path) or 'arguments'}: {e.message}" for e in errors
            )
            raise ToolError(f"{self.name}(): {problems}", "ValueError")


def _unwrapped(value: Any, schema: dict[str, Any] | None) -> Any:
    """A plain return value that the server wrapped as ``{"result": value}`` (the SDK does
    so for a tool whose output is not an object), unwrapped."""
    wrapped = (schema or {}).get("required") == ["result"] and isinstance(value, dict)
    return value["result"] if wrapped and list(value) == ["result"] else value


def _result_value(name: str, result: Any, schema: dict[str, Any] | None) -> Any:
    """A ``CallToolResult`` as the cell gets it: its structured content, else its text
    (one text part) or a list of texts and image files; ToolError when the tool failed."""
    parts = [_part(item) for item in result.content]
    if result.is_error:
        text = " ".join(p for p in parts if isinstance(p, str)) or "the tool reported an error"
        raise ToolError(f"{name}(): {text}", "RuntimeError")
    if result.structured_content is not None:
        return _unwrapped(result.structured_content, schema)
    if len(parts) == 1:
        return parts[0]
    return parts


def _part(item: Any) -> Any:
    kind = getattr(item, "type", "")
    if kind == "text":
        return item.text
    if kind == "image":
        suffix = IMAGE_SUFFIXES.get(item.mime_type, ".bin")
        return SharedFile(base64.b64decode(item.data), suffix, {"mime_type": item.mime_type})
    return {"type": kind or "unknown"}  # audio, resources: named, not passed on


async def connect(spec: str, stack: AsyncExitStack, timeout: float) -> list[McpTool]:
    """Connect to one server (closed with ``stack``) and list its tools."""
    from mcp import Client

    errlog = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8"))  # noqa: SIM115
    client = Client(_target(spec, errlog), read_timeout_seconds=timeout)
    try:
        async with asyncio.timeout(CONNECT_SECONDS):
            await stack.enter_async_context(client)
            listed = await _list_tools(client)
    except TimeoutError:
        why = f"did not answer in {CONNECT_SECONDS:g} s"
        raise ConfigError(f"MCP server {spec!r} {why}{_tail(errlog)}") from None
    except Exception as exc:  # it could not start, or spoke no MCP
        why = _innermost(exc)
        raise ConfigError(f"MCP server {spec!r} could not be used: {why}{_tail(errlog)}") from None
    schema = {"type": "object"}
    return [
        McpTool(python_name(t.name), t.name, t.input_schema or schema, t.description or "",
                t.output_schema, client, timeout)
        for t in listed
    ]  # fmt: skip


def _innermost(exc: BaseException) -> str:
    """The first real error of a task group's, as a line."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}"


def _tail(errlog: TextIO) -> str:
    """The end of what a server wrote to stderr, for the error that says it failed."""
    errlog.seek(0)
    text = errlog.read()[-1000:].strip()
    return f"; it wrote: {text}" if text else ""


async def _list_tools(client: Any) -> list[Any]:
    tools: list[Any] = []
    cursor = None
    for _ in range(MAX_PAGES):
        page = await client.list_tools(cursor=cursor)
        tools += page.tools
        cursor = page.next_cursor
        if cursor is None or len(tools) >= MAX_TOOLS:
            break
    return tools[:MAX_TOOLS]
