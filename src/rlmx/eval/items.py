"""One evaluation item (context, query, gold) and how it is scored."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..documents import read_document
from . import scoring

TokenCounter = Callable[[str], int]


def estimate_tokens(text: str) -> int:
    """Characters / 4: the length unit when no tokenizer is given."""
    return max(1, len(text) // 4)


@dataclass(frozen=True)
class EvalItem:
    """A generated or loaded item; ``answer_type`` picks the official scorer."""

    task: str
    item_id: str
    length: int  # target length in tokens
    seed: int
    context: Any  # str, a dict of path -> text (a folder's files), or a document's Path
    query: str
    gold: Any
    answer_type: str  # contains numeric label user date comparison pairs qa choice dnd video exact
    meta: dict[str, Any] = field(default_factory=dict)
    video: str | None = None  # a video item: the file; ``context`` is its perception text

    def score(self, prediction: str | None) -> float:
        """The task's official score of an answer, in [0, 1]."""
        if self.answer_type == "contains":
            return scoring.contains_score(prediction, str(self.gold))
        if self.answer_type == "pairs":
            return scoring.pairs_f1(prediction, {tuple(p) for p in self.gold})
        if self.answer_type == "qa":
            return scoring.qa_scores(prediction, str(self.gold))[1]
        if self.answer_type == "choice":
            return float(scoring.extract_choice(prediction) == self.gold)
        if self.answer_type == "dnd":
            return scoring.dnd_score(prediction, str(self.gold))
        if self.answer_type == "video":
            return float(all(scoring.video_scores(prediction, self.gold)))
        if self.answer_type == "exact":
            return scoring.exact_score(prediction, self.gold)
        return scoring.oolong_score(prediction, self.gold, self.answer_type)

    def details(self, prediction: str | None) -> dict[str, Any]:
        """Secondary metrics of an answer (exact match for QA)."""
        if self.answer_type == "qa":
            return {"exact_match": scoring.qa_scores(prediction, str(self.gold))[0]}
        if self.answer_type == "video":
            named, timed = scoring.video_scores(prediction, self.gold)
            return {"topics_named": named, "time_right": timed}
        return {}

    @property
    def context_text(self) -> str:
        """The context as one text (a folder-like dict context: each file under its path; a
        document's path: the text rlmx reads from it)."""
        if isinstance(self.context, Path):
            return read_document(self.context) or ""
        if isinstance(self.context, dict):
            return "\n\n".join(f"=== {path} ===\n{text}" for path, text in self.context.items())
        return self.context

    def direct_prompt(self, context: str | None = None) -> str:
        """The base model's prompt: the (possibly truncated) context, then the query."""
        return f"{self.context_text if context is None else context}\n\n{self.query}"
