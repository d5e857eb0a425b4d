"""The operator's own Python functions as REPL helpers (``RLM(tools=[...])``, ``--tool``).

A ``Tool`` wraps a plain callable (sync or async). Model code calls it like any helper; the
call crosses to the host, where its arguments, which model code wrote and which are
therefore hostile, are validated against the function's annotations with pydantic before
the function runs. A sync function runs in a thread, an async one on the host's loop; both
within the tool's timeout. What it returns crosses back through ``toolbox.py`` (plain data
or a file).
"""

from __future__ import annotations

import asyncio
import builtins
import importlib
import inspect
import keyword
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pydantic

from ..core.host_functions import reserved_names
from ..errors import ConfigError, ToolError

DEFAULT_TIMEOUT = 60.0
MAX_DOC_CHARS = 2_000  # of a docstring the model reads


@dataclass(frozen=True)
class Tool:
    """One operator-given function the REPL can call, by ``name``, within ``timeout``
    seconds (the host stops waiting then; a sync function's thread cannot be killed and
    finishes on its own)."""

    function: Callable[..., Any]
    name: str = ""
    timeout: float = DEFAULT_TIMEOUT
    doc: str = field(default="", compare=False)
    checked: Callable[..., Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not callable(self.function):
            raise ConfigError(f"a tool must be callable, got {type(self.function).__name__}")
        if not self.name:
            object.__setattr__(self, "name", getattr(self.function, "__name__", ""))
        check_tool_name(self.name)
        if self.timeout <= 0:
            raise ConfigError(f"tool {self.name!r}: timeout must be positive")
        if not self.doc:
            object.__setattr__(self, "doc", describe_function(self.name, self.function))
        config = pydantic.ConfigDict(arbitrary_types_allowed=True)
        try:
            checked = pydantic.validate_call(config=config)(self.function)
        except pydantic.PydanticUserError as exc:
            raise ConfigError(f"tool {self.name!r} cannot have its arguments checked ({exc}); "
                              "wrap it in a plain function") from None  # fmt: skip
        object.__setattr__(self, "checked", checked)

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickled as what makes it (a run's config goes to Ray workers); the validating
        wrapper is built again there."""
        return (Tool, (self.function, self.name, self.timeout, self.doc))

    async def call(self, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Validate the arguments, then run the function; ToolError for bad arguments,
        a timeout, or whatever the function raised (with its type)."""
        try:
            if inspect.iscoroutinefunction(self.function):
                running = self.checked(*args, **kwargs)
            else:
                running = asyncio.to_thread(self.checked, *args, **kwargs)
            return await asyncio.wait_for(running, self.timeout)
        except pydantic.ValidationError as exc:
            problems = _validation_message(exc, self.function)
            raise ToolError(f"{self.name}(): {problems}", "ValueError") from None
        except TimeoutError:
            raise took_too_long(self.name, self.timeout) from None


def took_too_long(name: str, timeout: float) -> ToolError:
    """The error of a tool call that the host stopped waiting for."""
    return ToolError(f"{name}() took longer than {timeout:g} s", "TimeoutError")


def describe_function(name: str, function: Callable[..., Any]) -> str:
    """``name(signature)`` and the docstring: what ``help()`` and the prompt show."""
    try:
        signature = str(inspect.signature(function, eval_str=True))
    except NameError:  # an annotation names something not importable here: shown as text
        signature = str(inspect.signature(function))
    except (TypeError, ValueError):
        signature = "(*args, **kwargs)"
    doc = (inspect.getdoc(function) or "").strip()[:MAX_DOC_CHARS]
    return f"{name}{signature}" + (f"\n\n{doc}" if doc else "")


def _validation_message(exc: pydantic.ValidationError, function: Callable[..., Any]) -> str:
    """Up to five problems, each named by its parameter (positions turned into names)."""
    names = list(inspect.signature(function).parameters)
    problems = []
    for error in exc.errors()[:5]:
        where = [str(part) for part in error["loc"]]
        if error["loc"] and isinstance(error["loc"][0], int):
            index = error["loc"][0]
            where[0] = names[index] if index < len(names) else f"argument {index + 1}"
        problems.append(f"{'.'.join(where) or 'arguments'}: {error['msg']}")
    return "; ".join(problems)


def tools_from(given: Any) -> tuple[Tool, ...]:
    """The tools of ``RLM(tools=...)``: a list of callables, ``Tool``s or ``"module:function"``
    texts, or a mapping of name -> callable. ConfigError for a bad one or a repeated name."""
    if given is None:
        return ()
    if isinstance(given, Mapping):
        made = [_as_tool(value, str(name)) for name, value in given.items()]
    elif isinstance(given, list | tuple):
        made = [_as_tool(value) for value in given]
    else:
        raise ConfigError("tools must be a list of functions or a mapping of name -> function")
    names = [tool.name for tool in made]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"two tools are named {name!r}")
    return tuple(made)


def _as_tool(value: Any, name: str = "") -> Tool:
    if isinstance(value, Tool):
        return Tool(value.function, name or value.name, value.timeout, value.doc)
    if isinstance(value, str):
        return Tool(load_function(value), name)
    return Tool(value, name)


def load_function(target: str) -> Callable[..., Any]:
    """The function ``module:function`` names (the operator's ``--tool``)."""
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"--tool takes module:function, got {target!r}")
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"cannot load tool {target!r}: {exc}") from None
    if not callable(found):
        raise ConfigError(f"tool {target!r} is not callable")
    return found


def check_tool_name(name: str) -> None:
    """ConfigError unless ``name`` can be a REPL helper of its own: an identifier that is no
    keyword, Python builtin, rlmx helper or pre-imported module."""
    if not name.isidentifier() or keyword.iskeyword(name):
        raise ConfigError(f"tool name {name!r} is not a Python identifier")
    if name in reserved_names() or hasattr(builtins, name) or name.startswith("_"):
        raise ConfigError(f"tool name {name!r} is taken by a REPL name; give it another")
