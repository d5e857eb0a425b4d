"""rlmx: Recursive Language Models — long contexts as variables in a sandboxed Python REPL."""

from .core.budget import Budget, BudgetExhausted
from .core.config import RunConfig
from .core.result import Result, UsageReport
from .core.rlm import RLM
from .core.session import Session
from .lm.base import LM, LMError, LMResponse, Usage
from .repl.isolation import Limits

__version__ = "0.1.0"

__all__ = [
    "LM",
    "RLM",
    "Budget",
    "BudgetExhausted",
    "LMError",
    "LMResponse",
    "Limits",
    "Result",
    "RunConfig",
    "Session",
    "Usage",
    "UsageReport",
    "__version__",
]
