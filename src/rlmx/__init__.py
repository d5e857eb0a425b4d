"""rlmx: Recursive Language Models — long contexts as variables in a sandboxed Python REPL."""

from .core.budget import Budget, BudgetExhausted
from .core.config import RunConfig
from .core.result import Result, UsageReport
from .core.rlm import RLM
from .core.session import Session
from .lm.base import LM, LMError, LMResponse, Usage
from .lm.cache import CallCache
from .repl.isolation import Limits
from .tools import Tool

__version__ = "0.2.0"  # the one place; pyproject.toml reads it (CHANGELOG.md)

__all__ = [
    "LM",
    "RLM",
    "Budget",
    "BudgetExhausted",
    "CallCache",
    "LMError",
    "LMResponse",
    "Limits",
    "Result",
    "RunConfig",
    "Session",
    "Tool",
    "Usage",
    "UsageReport",
    "__version__",
]
