"""OOLONG-synth (trec_coarse) and OOLONG-Pairs over the same context windows.

A window is a header and one line per instance, ``Date: ... || User: ... || Instance:
<question>``, built from any labeled data (OOLONG's ``trec_coarse_validated.jsonl`` by
default). The labels are never in the context: every question about it needs a judgement
per line. Question families follow OOLONG-synth: counting, most common label, comparison,
user (a subset of user IDs) and timeline (before/after a date, earliest date); each asks
for OOLONG's answer format (``Answer:``, ``Label:``, ``User:``, ``Date:``) and is scored
by ``scoring.oolong_score``. OOLONG-Pairs asks the RLM paper's 20 pair queries; the gold
pairs are computed by code (see ``PAIR_RULES`` for the reading of each query).
``official_items`` loads the official ``oolongbench/oolong-synth`` windows instead, and
``real_items`` the official ``oolongbench/oolong-real`` ones (D&D episode transcripts,
``dnd`` config, validation split), when that data is at hand: a local copy in the official
format (JSON, JSONL or Parquet rows with ``id``, ``context_window_id``,
``context_window_text``, ``question``, ``answer``) or the hub.
"""

from __future__ import annotations

import ast
import json
import random
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import combinations
from pathlib import Path
from typing import Any

from .items import EvalItem, TokenCounter, estimate_tokens

LABELS = (
    "description and abstract concept",
    "entity",
    "human being",
    "numeric value",
    "location",
    "abbreviation",
)
FIRST_DAY, DAYS = date(2022, 10, 1), 365  # the pair queries' dates fall in this year
HEADER = (
    "The following lines contain general-knowledge questions, one per line. Each line has a "
    "date, a user ID and the question (the instance). The questions are not labelled: each "
    "can be labelled as one of {labels}.\n\n"
)
FAMILIES = ("counting", "most_common", "comparison", "user", "timeline", "earliest")


@dataclass(frozen=True)
class Record:
    day: date
    user: int
    question: str
    label: str

    def line(self) -> str:
        return f"Date: {self.day.strftime('%b %d, %Y')} || User: {self.user} || Instance: " \
               f"{self.question}"  # fmt: skip


def load_labeled(path: Path) -> list[tuple[str, str]]:
    """(question, label) pairs from a JSONL file with ``input`` and ``label`` fields."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    return [(r["input"], r["label"]) for r in rows]


def make_window(
    data: list[tuple[str, str]],
    target_tokens: int,
    seed: int,
    count: TokenCounter = estimate_tokens,
    users: int | None = None,
) -> tuple[list[Record], str]:
    """Records and context text of about ``target_tokens`` tokens (by ``count``)."""
    rng = random.Random(f"oolong-window-{target_tokens}-{seed}")
    order = rng.sample(range(len(data)), len(data))
    header = HEADER.format(labels=", ".join(LABELS))
    per_line = max(1.0, count(Record(FIRST_DAY, 12345, data[order[0]][0], "").line()))
    lines = max(4, int((target_tokens - count(header)) / (per_line + 1)))
    pool = [rng.randrange(10_000, 99_999) for _ in range(users or max(8, lines // 8))]
    records: list[Record] = []
    for _ in range(4):  # refit the line count to the real token count (within 2%)
        while len(records) < lines:
            question, label = data[order[len(records) % len(order)]]
            day = FIRST_DAY + timedelta(days=rng.randrange(DAYS))
            records.append(Record(day, rng.choice(pool), question, label))
        del records[lines:]
        text = header + "\n".join(r.line() for r in records)
        tokens = count(text)
        if abs(tokens - target_tokens) <= 0.01 * target_tokens:
            break
        lines = max(4, round(lines * target_tokens / tokens))
    return records, text


def _format(kind: str) -> str:
    return {
        "numeric": "Give your final answer in the form 'Answer: number'.",
        "label": "Give your final answer in the form 'Label: answer'.",
        "user": "Give your final answer in the form 'User: user ID'.",
        "date": "Give your final answer in the form 'Date: Mon DD, YYYY'.",
    }[kind]


def question(records: list[Record], family: str, rng: random.Random) -> tuple[str, Any, str]:
    """(query, gold, answer type) of one OOLONG-synth question family about ``records``."""
    counts = Counter(r.label for r in records)
    label = rng.choice([lab for lab in LABELS if counts[lab]] or list(LABELS))
    if family == "counting":
        text = f"In the above data, how many data points should be classified as label '{label}'?"
        return f"{text} {_format('numeric')}", counts[label], "numeric"
    if family == "most_common":
        ranked = counts.most_common()
        text = "In the above data, which of the labels is the most common?"
        return f"{text} {_format('label')}", ranked[0][0], "label"
    if family == "comparison":
        other = rng.choice([lab for lab in LABELS if lab != label])
        a, b = counts[label], counts[other]
        relation = "more common than" if a > b else "less common than" if a < b else \
            "same frequency as"  # fmt: skip
        text = (f"In the above data, is label '{label}' more common, less common, or the same "
                f"frequency as label '{other}'? Give your final answer in the form 'Answer: "
                f"{label} is [more common than / less common than / same frequency as] "
                f"{other}'.")  # fmt: skip
        return text, f"{label} is {relation} {other}", "comparison"
    if family == "user":
        users = sorted({r.user for r in records})
        chosen = sorted(rng.sample(users, min(len(users), 3)))
        gold = sum(1 for r in records if r.user in chosen and r.label == label)
        ids = ", ".join(str(u) for u in chosen)
        text = (f"For the following question, only consider the subset of instances that are "
                f"associated with user IDs {ids}. Among instances associated with these users, "
                f"how many data points should be classified as label '{label}'?")  # fmt: skip
        return f"{text} {_format('numeric')}", gold, "numeric"
    if family == "timeline":
        cut = FIRST_DAY + timedelta(days=rng.randrange(60, DAYS - 60))
        count = sum(1 for r in records if r.label == label and r.day > cut)
        text = (f"In the above data, how many data points with label '{label}' have a date "
                f"after {cut.strftime('%B %d, %Y')}?")  # fmt: skip
        return f"{text} {_format('numeric')}", count, "numeric"
    if family == "earliest":
        first = min(r.day for r in records if r.label == label)
        text = f"In the above data, what is the date of the earliest instance with label '{label}'?"
        return f"{text} {_format('date')}", first.isoformat(), "date"
    raise ValueError(f"unknown OOLONG question family {family!r}; choose from {FAMILIES}")


def oolong_item(
    data: list[tuple[str, str]],
    target_tokens: int,
    seed: int,
    count: TokenCounter = estimate_tokens,
    family: str | None = None,
) -> EvalItem:
    """One OOLONG-synth item; the family cycles with the seed unless given."""
    records, text = make_window(data, target_tokens, seed, count)
    chosen = family or FAMILIES[seed % len(FAMILIES)]
    query, gold, kind = question(records, chosen, random.Random(f"oolong-q-{target_tokens}-{seed}"))
    return EvalItem(
        task="oolong",
        item_id=f"oolong-{target_tokens}-{seed}",
        length=target_tokens,
        seed=seed,
        context=text,
        query=query,
        gold=gold,
        answer_type=kind,
        meta={"family": chosen, "lines": len(records)},
    )


# -- OOLONG-Pairs ---------------------------------------------------------------------------
# Reading of the 20 queries (RLM paper, Appendix D.1), as data:
#  1-10: ("both", labels, constraint): both users have >= 1 instance with any of ``labels``;
#        a constraint (label, "after" | "before", date) means every instance of that label
#        of each user is strictly after / before the date (vacuously true without one).
# 11-20: ("one-other", A, B): one user meets every (label, op, n) of A and the other every
#        one of B, in either order; op "min" = at least n, "eq" = exactly n.
_D, _E, _H = "description and abstract concept", "entity", "human being"
_N, _L, _A = "numeric value", "location", "abbreviation"
PAIR_RULES: dict[int, tuple] = {
    1: ("both", {_N, _L}, None),
    2: ("both", {_E, _H}, None),
    3: ("both", {_D, _A}, None),
    4: ("both", {_H, _L}, (_H, "after", date(2023, 1, 6))),
    5: ("both", {_E, _N}, (_E, "before", date(2023, 3, 15))),
    6: ("both", {_L, _A}, None),
    7: ("both", {_D, _N}, (_N, "after", date(2023, 2, 1))),
    8: ("both", {_H, _D}, None),
    9: ("both", {_E, _L}, (_L, "after", date(2023, 4, 10))),
    10: ("both", {_N, _A}, (_A, "before", date(2023, 5, 20))),
    11: ("one-other", [(_E, "min", 1), (_A, "min", 1)], [(_E, "eq", 1)]),
    12: ("one-other", [(_N, "min", 2)], [(_L, "min", 1), (_H, "min", 1)]),
    13: ("one-other", [(_D, "eq", 1)], [(_A, "min", 1), (_E, "min", 1)]),
    14: ("one-other", [(_H, "min", 1), (_N, "min", 1)], [(_L, "eq", 2)]),
    15: ("one-other", [(_E, "min", 1), (_L, "min", 1), (_A, "min", 1)], [(_N, "eq", 1)]),
    16: ("one-other", [(_D, "min", 1), (_H, "min", 1)], [(_E, "min", 2), (_A, "eq", 1)]),
    17: ("one-other", [(_N, "eq", 1)], [(_L, "min", 1), (_D, "min", 1)]),
    18: ("one-other", [(_A, "min", 1), (_H, "eq", 1)], [(_E, "min", 1), (_N, "min", 1)]),
    19: ("one-other", [(_L, "min", 2), (_E, "min", 1)], [(_D, "eq", 1), (_A, "eq", 1)]),
    20: ("one-other", [(_N, "min", 1), (_H, "min", 1)], [(_L, "min", 1), (_E, "min", 1),
                                                        (_A, "eq", 1)]),
}  # fmt: skip


def gold_pairs(records: list[Record], query_id: int) -> set[tuple[int, int]]:
    """The pairs of user IDs (lower first) that satisfy pair query ``query_id``."""
    by_user: dict[int, list[Record]] = {}
    for record in records:
        by_user.setdefault(record.user, []).append(record)
    rule = PAIR_RULES[query_id]

    def counts(user: int) -> Counter[str]:
        return Counter(r.label for r in by_user[user])

    if rule[0] == "both":
        _, labels, constraint = rule

        def ok(user: int) -> bool:
            if not labels & set(counts(user)):
                return False
            if constraint is None:
                return True
            label, side, day = constraint
            days = [r.day for r in by_user[user] if r.label == label]
            return all(d > day for d in days) if side == "after" else all(d < day for d in days)

        good = sorted(u for u in by_user if ok(u))
        return set(combinations(good, 2))
    _, first, second = rule

    def meets(user: int, conditions: list[tuple[str, str, int]]) -> bool:
        c = counts(user)
        return all(c[lab] >= n if op == "min" else c[lab] == n for lab, op, n in conditions)

    users = sorted(by_user)
    return {
        (a, b)
        for a, b in combinations(users, 2)
        if (meets(a, first) and meets(b, second)) or (meets(b, first) and meets(a, second))
    }


def pairs_item(
    data: list[tuple[str, str]],
    queries: dict[str, str],
    target_tokens: int,
    seed: int,
    count: TokenCounter = estimate_tokens,
) -> EvalItem:
    """One OOLONG-Pairs item: a window and query ``seed % 20 + 1``, gold pairs by code."""
    records, text = make_window(data, target_tokens, seed, count)
    query_id = seed % 20 + 1
    return EvalItem(
        task="oolong-pairs",
        item_id=f"oolong-pairs-{target_tokens}-{seed}",
        length=target_tokens,
        seed=seed,
        context=text,
        query=queries[str(query_id)],
        gold=sorted(gold_pairs(records, query_id)),
        answer_type="pairs",
        meta={"query_id": query_id, "lines": len(records)},
    )


# -- the official OOLONG-synth windows --------------------------------------------------------
OFFICIAL_TYPES = {"ANSWER_TYPE.NUMERIC": "numeric", "ANSWER_TYPE.DATE": "date"}


def official_gold(answer: str) -> Any:
    """The gold value of an ``oolongbench/oolong-synth`` row (a Python list literal)."""
    if "datetime" in answer:
        return datetime.strptime(answer, "[datetime.date(%Y, %m, %d)]").date().isoformat()
    return ast.literal_eval(answer)[0]


def official_rows(
    source: Path | None, hub: str = "oolongbench/oolong-synth", config: str | None = None,
    split: str = "test",
) -> list[dict[str, Any]]:  # fmt: skip
    """Rows of an official OOLONG split from a local JSON / JSONL / Parquet file, or from
    the Hugging Face hub (``datasets`` installed and the hub reachable or cached)."""
    if source is not None:
        if not source.is_file():
            raise ValueError(f"no OOLONG data file at {source}")
        if source.suffix == ".parquet":
            import pyarrow.parquet as pq

            return pq.read_table(source).to_pylist()
        text = source.read_text(encoding="utf-8")
        if text.lstrip().startswith("["):
            return json.loads(text)
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    try:
        from datasets import load_dataset

        return list(load_dataset(hub, config, split=split))
    except Exception as exc:  # not installed, offline and not cached, ...
        raise ValueError(
            f"the official {hub} data is not available here (pip install datasets with "
            f"network access, or pass a local copy with --data): {exc}"
        ) from None


def official_items(
    source: Path | None, lengths: list[int], n: int, dataset: str = "trec_coarse"
) -> list[EvalItem]:
    """The first ``n`` official questions of ``dataset`` at each context length."""
    rows = official_rows(source)
    items = []
    for length in lengths:
        picked = [r for r in rows if r["dataset"] == dataset and int(r["context_len"]) == length]
        for seed, row in enumerate(picked[:n]):
            items.append(EvalItem(
                task="oolong-official", item_id=f"oolong-official-{row['id']}", length=length,
                seed=seed, context=row["context_window_text"], query=row["question"],
                gold=official_gold(row["answer"]),
                answer_type=OFFICIAL_TYPES.get(row["answer_type"], "label"),
                meta={"context_window_id": row.get("context_window_id"),
                      "official_type": row["answer_type"]},
            ))  # fmt: skip
    if not items:
        raise ValueError(f"no official OOLONG-synth rows for {dataset} at lengths {lengths}")
    return items


# -- the official OOLONG-real windows (D&D transcripts) ------------------------------------------
REAL_FIELDS = ("id", "context_window_id", "context_window_text", "question", "answer")


def real_items(
    source: Path | None, lengths: list[int], n: int, count: TokenCounter = estimate_tokens
) -> list[EvalItem]:
    """The first ``n`` OOLONG-real questions whose window has at most each length in
    tokens (and more than the length before it), scored by OOLONG-real's rubric."""
    rows = official_rows(source, "oolongbench/oolong-real", "dnd", "validation")
    missing = [f for f in REAL_FIELDS if rows and f not in rows[0]]
    if not rows or missing:
        raise ValueError(f"not OOLONG-real rows (the official fields {list(REAL_FIELDS)} are "
                         f"needed; missing {missing})")  # fmt: skip
    sizes: dict[Any, int] = {}
    items, floor = [], 0
    for length in sorted(lengths):
        picked = []
        for row in rows:
            window = row["context_window_id"]
            if window not in sizes:
                sizes[window] = count(row["context_window_text"])
            if floor < sizes[window] <= length:
                picked.append(row)
        for seed, row in enumerate(picked[:n]):
            items.append(EvalItem(
                task="oolong-real", item_id=f"oolong-real-{row['id']}", length=length,
                seed=seed, context=row["context_window_text"], query=row["question"],
                gold=str(row["answer"]), answer_type="dnd",
                meta={"context_window_id": row["context_window_id"],
                      "tokens": sizes[row["context_window_id"]]},
            ))  # fmt: skip
        floor = length
    if not items:
        raise ValueError(f"no OOLONG-real windows of at most {max(lengths)} tokens")
    return items
