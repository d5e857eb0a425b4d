"""One budget ledger for a whole run tree: LM calls, tokens, USD and wall seconds.

Every LM call (root turns, each item of a batch, every call of every child run) is
admitted by the ledger before it starts; the ledger is shared by all runs of a tree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from ..errors import BudgetError


class BudgetExhausted(BudgetError):
    """A call was refused because a limit of the run's budget has been reached."""


@dataclass(frozen=True)
class Budget:
    """Limits for one run tree; ``None`` means unlimited."""

    max_calls: int | None = None
    max_tokens: int | None = None
    max_usd: float | None = None
    max_seconds: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_calls", "max_tokens", "max_usd", "max_seconds"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"Budget.{name} must be >= 0, got {value}")


class Ledger:
    """What a run tree has spent, checked against its Budget. A ledger with a ``parent``
    (an ask of a session) charges the parent too and stops when either is used up."""

    def __init__(
        self, budget: Budget | None = None, parent: Ledger | None = None, label: str = "budget"
    ) -> None:
        self.budget = budget or Budget()
        self.parent = parent
        self.label = label
        self.started = time.monotonic()
        self.calls = 0
        self.tokens = 0
        self.usd = 0.0
        self.unpriced_calls = 0

    def _chain(self) -> list[Ledger]:
        return [self] + (self.parent._chain() if self.parent is not None else [])

    def exhausted_reason(self) -> str | None:
        """Why no further call may start, or None while the budget allows one."""
        for ledger in self._chain():
            reason = ledger._own_reason()
            if reason is not None:
                return reason
        return None

    def _own_reason(self) -> str | None:
        b, label = self.budget, self.label
        if b.max_calls is not None and self.calls >= b.max_calls:
            return f"the {label} of {b.max_calls} LM calls is used up"
        if b.max_tokens is not None and self.tokens >= b.max_tokens:
            return f"the {label} of {b.max_tokens:,} tokens is used up ({self.tokens:,} spent)"
        if b.max_usd is not None and self.usd >= b.max_usd:
            return f"the {label} of ${b.max_usd:.4f} is used up (${self.usd:.4f} spent)"
        if b.max_seconds is not None and self.elapsed() >= b.max_seconds:
            return f"the time {label} of {b.max_seconds:g} s is used up"
        return None

    def admit(self) -> None:
        """Reserve one call, or raise BudgetExhausted saying which limit was hit."""
        reason = self.exhausted_reason()
        if reason is not None:
            raise BudgetExhausted(reason)
        self.force()

    def force(self) -> None:
        """Count a call that is allowed past the budget (the root's one last turn)."""
        for ledger in self._chain():
            ledger.calls += 1

    def record(self, tokens: int, cost_usd: float | None) -> None:
        """Add what a finished call spent."""
        for ledger in self._chain():
            ledger.tokens += tokens
            if cost_usd is None:
                ledger.unpriced_calls += 1
            else:
                ledger.usd += cost_usd

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def remaining(self) -> dict[str, Any]:
        """What is left of each limit (None where unlimited), as the REPL's budget() shows."""
        b = self.budget

        def left(limit: float | None, used: float) -> float | None:
            return None if limit is None else max(limit - used, 0)

        return {
            "calls_left": left(b.max_calls, self.calls),
            "tokens_left": left(b.max_tokens, self.tokens),
            "usd_left": left(b.max_usd, self.usd),
            "seconds_left": left(b.max_seconds, self.elapsed()),
            "calls_used": self.calls,
            "tokens_used": self.tokens,
            "usd_used": round(self.usd, 6),
            "seconds_used": round(self.elapsed(), 3),
        }
