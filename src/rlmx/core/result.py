"""What a run returns: the answer, why it stopped, and exact usage over the run tree."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..citations import Citation
from ..lm.base import Usage
from .answer_warnings import AnswerWarning

Status = Literal["final", "max_iterations", "budget_exhausted", "error", "cancelled"]


@dataclass
class UsageReport:
    """Usage of one run: its own root turns, its plain sub-calls, its child runs, by model."""

    root: Usage = field(default_factory=Usage)
    sub: Usage = field(default_factory=Usage)
    children: Usage = field(default_factory=Usage)
    by_model: dict[str, Usage] = field(default_factory=dict)

    @property
    def total(self) -> Usage:
        total = Usage()
        for part in (self.root, self.sub, self.children):
            total.add(part)
        return total

    def count(self, bucket: str, model: str, usage: Usage) -> None:
        """Add one call's usage to a bucket (root or sub) and to its model's line."""
        getattr(self, bucket).add(usage)
        self.by_model.setdefault(model, Usage()).add(usage)

    def absorb_child(self, child: UsageReport) -> None:
        """Fold a finished child run's whole usage into this run's `children`."""
        self.children.add(child.total)
        for model, usage in child.by_model.items():
            self.by_model.setdefault(model, Usage()).add(usage)

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total.to_dict(),
            "root": self.root.to_dict(),
            "sub": self.sub.to_dict(),
            "children": self.children.to_dict(),
            "by_model": {name: u.to_dict() for name, u in self.by_model.items()},
        }


@dataclass
class Result:
    """The outcome of ``RLM.completion``."""

    answer: str | None
    status: Status
    iterations: int
    usage: UsageReport
    run_id: str
    seconds: float
    trajectory: Path | None = None
    error: str | None = None
    warnings: list[AnswerWarning] = field(default_factory=list)  # why it may be unreliable
    value: Any = None  # a typed answer's validated object (``completion(..., schema=)``)
    citations: list[Citation] = field(default_factory=list)  # FINAL(answer, cite=[...])

    @property
    def cost_usd(self) -> float | None:
        """Total USD over the run tree; None when no call had a known price."""
        return self.usage.total.cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "status": self.status,
            "iterations": self.iterations,
            "usage": self.usage.to_dict(),
            "cost_usd": self.cost_usd,
            "run_id": self.run_id,
            "seconds": round(self.seconds, 3),
            "trajectory": str(self.trajectory) if self.trajectory else None,
            "error": self.error,
            "warnings": [warning.to_dict() for warning in self.warnings],
            "value": json.loads(self.answer) if self.value is not None and self.answer else None,
            "citations": [c.to_dict() for c in self.citations],
        }
