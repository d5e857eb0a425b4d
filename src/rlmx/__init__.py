"""rlmx: Recursive Language Models — long contexts as variables in a sandboxed Python REPL."""

from .budget import Budget, BudgetExhausted
from .config import RunConfig
from .lm.base import LM, LMError, LMResponse, Usage
from .repl.isolation import Limits
from .result import Result, UsageReport
from .rlm import RLM
from .session import Session

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
