"""Host functions as the sandbox sees them: a name, typed parameters, a docstring, and
whether the cell waits for the host while it runs.

The host sends the list (``FunctionSpec.to_wire``) in the worker's ``init`` frame; the
worker builds one REPL function per entry with that signature (``worker.py``) and calls
it as a ``call`` frame: ``{"type": "call", "id", "name", "arguments": {param: value}}``.
The host checks every call against the same spec (``check``) before its handler runs, so
the worker and the host can never disagree about what a helper takes.

Parameter kinds, converted by the worker and checked by the host:
``text`` (any value, sent as ``str``), ``texts`` (a list of strings, not one string),
``choices`` and ``paths`` (a list of strings or None; the worker turns one path or a tool's
``{"path": ...}`` into a list), ``name`` (a string or None), ``json`` (any JSON value),
``varargs`` / ``varkw`` (the ``*args`` list and ``**kwargs`` dict of an environment
tool). A list parameter may have its own ``max_items``, which the worker checks before
sending (a longer list is the cell's ValueError, not a protocol violation).

A spec may have ``aliases`` (other names of the same function, e.g. the RLM_REPL seed's
``llm_query_batch``) and an async twin: ``<name>_async`` (and ``<alias>_async``) returns an
awaitable instead of blocking, so that a cell can ``await asyncio.gather(...)`` many calls.
Every form sends the same ``call`` frame, named by ``name``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .frames import ProtocolViolation

REQUIRED = "<required>"
KINDS = {"text": (str,), "texts": (list,), "choices": (list, type(None)),
         "paths": (list, type(None)), "name": (str, type(None)), "json": None,
         "varargs": (list,), "varkw": (dict,)}  # fmt: skip
LISTS = ("texts", "choices", "paths")  # lists of strings


@dataclass(frozen=True)
class Param:
    """One parameter: its name, kind (see the module docstring) and default."""

    name: str
    kind: str
    default: Any = REQUIRED
    max_items: int | None = None  # a list's own cap (else the spec's or Limits.max_batch)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown parameter kind {self.kind!r}")


@dataclass(frozen=True)
class FunctionSpec:
    """A REPL function whose body runs on the host."""

    name: str
    params: tuple[Param, ...] = ()
    doc: str = ""
    waits: bool = True  # its time is the host's (LM calls, tools), not the cell's compute
    max_items: int | None = None  # for ``texts``: at most this many (else Limits.max_batch)
    aliases: tuple[str, ...] = ()
    async_twin: bool = False

    @property
    def names(self) -> list[str]:
        """Every name the REPL knows this function by (aliases and async twins too)."""
        names = [self.name, *self.aliases]
        return names + [f"{name}_async" for name in names] if self.async_twin else names

    def to_wire(self) -> dict[str, Any]:
        """What the worker needs to build the function."""
        params = [{"name": p.name, "kind": p.kind, "required": p.default == REQUIRED,
                   "default": None if p.default == REQUIRED else p.default,
                   "max_items": p.max_items}
                  for p in self.params]  # fmt: skip
        return {"name": self.name, "params": params, "doc": self.doc,
                "aliases": list(self.aliases), "async": self.async_twin}  # fmt: skip

    def check(self, arguments: Any, max_batch: int) -> None:
        """Raise ProtocolViolation unless ``arguments`` is exactly what the spec allows."""
        if not isinstance(arguments, dict):
            raise ProtocolViolation(f"{self.name}: arguments must be an object")
        names = {p.name for p in self.params}
        extra = set(arguments) - names
        if extra:
            raise ProtocolViolation(f"{self.name}: unexpected argument(s) {sorted(extra)[:5]}")
        for param in self.params:
            if param.name not in arguments:
                if param.default == REQUIRED:
                    raise ProtocolViolation(f"{self.name}: missing argument {param.name!r}")
                continue
            cap = param.max_items or self.max_items or max_batch
            _check_value(self.name, param, arguments[param.name], cap)

    def bind(self, arguments: dict[str, Any]) -> dict[str, Any]:
        """The arguments with the defaults of those not given."""
        return {p.name: arguments.get(p.name, p.default) for p in self.params}


def _check_value(function: str, param: Param, value: Any, max_items: int) -> None:
    types = KINDS[param.kind]
    if types is not None and not isinstance(value, types):
        raise ProtocolViolation(f"{function}: {param.name!r} has the wrong type")
    if param.kind in LISTS and value is not None:
        if len(value) > max_items:
            raise ProtocolViolation(f"{function}: {len(value)} items in {param.name!r} (at most "
                               f"{max_items})")  # fmt: skip
        if not all(isinstance(item, str) for item in value):
            raise ProtocolViolation(f"{function}: every item of {param.name!r} must be a string")
    if param.kind == "varkw" and not all(isinstance(key, str) for key in value):
        raise ProtocolViolation(f"{function}: keyword names must be strings")
