"""The error tree: every error rlmx raises on purpose is an RlmxError of a documented kind."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest

import rlmx
from rlmx import errors
from rlmx.server.statuses import http_status

# Internal signals that never leave the module that raises them (documented there).
INTERNAL = {"_FinalSignal", "WireError", "BodyTooLarge"}
KINDS = (errors.ConfigError, errors.ContextError, errors.ModelError, errors.BudgetError,
         errors.SandboxError, errors.ToolError, errors.CapacityError)  # fmt: skip


def rlmx_exceptions() -> list[type[BaseException]]:
    found = {}
    for info in pkgutil.walk_packages(rlmx.__path__, "rlmx."):
        if info.name.endswith("__main__"):
            continue
        try:
            module = importlib.import_module(info.name)
        except ImportError:  # an optional extra that is not installed
            continue
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("rlmx"):
                found[value.__qualname__] = value
    return [v for k, v in found.items() if k not in INTERNAL]


def test_every_error_class_has_its_place_in_the_tree() -> None:
    classes = rlmx_exceptions()
    assert len(classes) >= 15
    for cls in classes:
        assert issubclass(cls, errors.RlmxError), cls
        assert cls is errors.RlmxError or issubclass(cls, KINDS), cls
        assert cls.__doc__, f"{cls.__name__} has no docstring"


@pytest.mark.parametrize(
    ("exc", "status"),
    [
        ("rlmx.lm.choice:ModelNotAllowed", 404),
        ("rlmx.lm.base:LMConfigError", 400),
        ("rlmx.repl.context:ContextError", 400),
        ("rlmx.core.budget:BudgetExhausted", 402),
        ("rlmx.lm.base:LMError", 500),
        ("rlmx.errors:SandboxError", 500),
        ("rlmx.errors:CapacityError", 429),
        ("rlmx.core.session:SessionClosed", 400),
    ],
)
def test_the_server_maps_the_tree_in_one_place(exc: str, status: int) -> None:
    module, _, name = exc.partition(":")
    cls = getattr(importlib.import_module(module), name)
    assert http_status(cls("x")) == status
    assert http_status(ValueError("x")) == 400


def test_a_tool_error_keeps_the_original_type() -> None:
    error = errors.ToolError("list index out of range", "IndexError")
    assert error.type_name == "IndexError" and str(error) == "list index out of range"
