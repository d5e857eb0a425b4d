"""OOLONG-style counting over TREC-coarse questions: every line must be classified.

Each context line is ``Date: ... || User: ... || Instance: <question>`` as in
OOLONG-synth; the labels are not in the context, so answering "how many questions are
about X" needs a judgement per line (sub-calls), not a search. Scoring is OOLONG's
numeric score, 0.75 ** |gold - predicted|. (The full OOLONG generator with all question
families is the evaluation harness's job; this is the small counting slice.)
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

LABELS = (
    "abbreviation",
    "entity",
    "description and abstract concept",
    "human being",
    "location",
    "numeric value",
)
QUESTION = (
    "Each line of the context holds one question (after 'Instance:'). Every question belongs "
    "to exactly one of these categories: {labels}. How many of the questions are in the "
    "category '{label}'? Answer with a single number."
)


@dataclass(frozen=True)
class CountTask:
    task_id: str
    context: str
    query: str
    answer: int
    label: str
    lines: int

    def score(self, prediction: str | None) -> float:
        """OOLONG's numeric score on the first integer in the answer (0 when none)."""
        found = re.search(r"-?\d+", prediction or "")
        return 0.75 ** abs(self.answer - int(found.group())) if found else 0.0


def load_labeled(path: Path) -> list[tuple[str, str]]:
    """(question, label) pairs from OOLONG's trec_coarse_validated.jsonl."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(r["input"], r["label"]) for r in rows]


def make_task(data: list[tuple[str, str]], lines: int, seed: int) -> CountTask:
    rng = random.Random(f"oolong-count-{lines}-{seed}")
    picked = rng.sample(data, lines)
    start = date(2022, 1, 1)
    rows = [
        f"Date: {(start + timedelta(days=rng.randrange(1000))).strftime('%b %d, %Y')} || "
        f"User: {rng.randrange(10000, 99999)} || Instance: {question}"
        for question, _ in picked
    ]
    label = rng.choice([lab for lab in LABELS if lab != "abbreviation"])
    return CountTask(
        task_id=f"oolong-count-{lines}-{seed}",
        context="\n".join(rows),
        query=QUESTION.format(labels=", ".join(LABELS), label=label),
        answer=sum(1 for _, lab in picked if lab == label),
        label=label,
        lines=lines,
    )
