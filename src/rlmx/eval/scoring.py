"""Official scoring of the benchmark tasks.

- S-NIAH (RULER ``string_match``): 1 when the reference appears in the answer, ignoring case.
- OOLONG-synth (Bertsch et al. 2025, ``eval_helpers.py`` in the OOLONG repository): the
  answer after the last ``:`` is the candidate (``*``, ``[`` and ``]`` removed; a reply
  without ``:`` counts whole when it is short, else by its last word); exact string match
  with the gold scores 1; "more common" / "less common" / "same frequency" match as
  substrings; numeric answers get ``0.75 ** |gold - answer|``; date answers are parsed and
  compared as dates.
- OOLONG-Pairs (RLM paper): F1 between the predicted and gold sets of user-ID pairs.
- Multi-hop QA (HotpotQA / SQuAD): exact match and token F1 after SQuAD's normalisation.
- LongBench-v2: the choice letter after "The correct answer is", compared with the gold.
- OOLONG-real (``dnd_process_response`` in the OOLONG repository): the answer inside
  ``\\boxed{...}`` (``\\boxed{\\text{...}}`` too); the gold and the answer parse as an
  integer, else a comma-separated list, else a string; integers score
  ``0.75 ** |gold - answer|``, strings exact match ignoring case, lists the share of the
  gold items named. An answer without a box is parsed whole (an RLM's FINAL is the answer
  itself; the official script would score the unparsed reply).
- Video QA (RVAA's question "which topics are covered, and when does X first appear?"):
  right when every topic is named and a time given lies in X's scene (from a second
  before it starts to its end).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from datetime import date
from typing import Any

from dateutil import parser as date_parser

COMPARISONS = ("more common", "less common", "same frequency")


def contains_score(prediction: str | None, reference: str) -> float:
    """RULER's string match: the reference inside the answer, case-insensitive."""
    return float(prediction is not None and reference.lower() in prediction.lower())


def oolong_parse(answer: str) -> tuple[str, str]:
    """The candidate answer and how confident the parse is (low, med, high, vhigh)."""
    if ":" not in answer:
        return (answer, "low") if len(answer) < 20 else (answer.split()[-1], "low")
    candidate = answer.split(":")[-1].strip()
    for mark in ("*", "[", "]"):
        candidate = candidate.replace(mark, "")
    confidence = "med"
    if any(tag in answer for tag in ("User:", "Answer:", "Date:", "Label")):
        confidence = "high"
    if len(candidate) < 20:
        confidence = "vhigh"
    else:
        candidate = next((c for c in COMPARISONS if c in candidate), candidate)
    return candidate, confidence


def oolong_score(prediction: str | None, gold: Any, answer_type: str) -> float:
    """OOLONG-synth's score of one answer; ``answer_type``: numeric, label, user, date,
    comparison."""
    if not prediction:
        return 0.0
    candidate, _ = oolong_parse(prediction.strip())
    if str(candidate) == str(gold):
        return 1.0
    if candidate in COMPARISONS:
        return float(candidate in str(gold))
    if answer_type == "numeric":
        try:
            return 0.75 ** abs(int(gold) - int(candidate))
        except ValueError:
            return 0.0
    if answer_type == "date":
        try:
            parsed = date_parser.parse(candidate).date()
        except (ValueError, OverflowError):
            return 0.0
        return float(parsed == (gold if isinstance(gold, date) else date.fromisoformat(gold)))
    return 0.0


PAIR = re.compile(r"\(\s*(\d+)\s*,\s*(\d+)\s*\)")


def parse_pairs(answer: str | None) -> set[tuple[int, int]]:
    """Every ``(id, id)`` in an answer, as ordered pairs (lower first), duplicates merged."""
    pairs = set()
    for a, b in PAIR.findall(answer or ""):
        x, y = int(a), int(b)
        if x != y:
            pairs.add((min(x, y), max(x, y)))
    return pairs


def pairs_f1(answer: str | None, gold: set[tuple[int, int]]) -> float:
    """F1 of the predicted pairs against the gold pairs (1 when both are empty)."""
    predicted = parse_pairs(answer)
    if not predicted and not gold:
        return 1.0
    hits = len(predicted & gold)
    if hits == 0:
        return 0.0
    precision, recall = hits / len(predicted), hits / len(gold)
    return 2 * precision * recall / (precision + recall)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def qa_scores(prediction: str | None, gold: str) -> tuple[float, float]:
    """(exact match, token F1) of an answer against the gold answer, SQuAD-style."""
    predicted = normalize_answer(prediction or "").split()
    expected = normalize_answer(gold).split()
    exact = float(predicted == expected)
    common = Counter(predicted) & Counter(expected)
    overlap = sum(common.values())
    if overlap == 0:
        return exact, 0.0
    precision, recall = overlap / len(predicted), overlap / len(expected)
    return exact, 2 * precision * recall / (precision + recall)


def extract_choice(response: str | None) -> str | None:
    """LongBench-v2's extraction: "The correct answer is (X)", then without parentheses."""
    text = (response or "").replace("*", "")
    found = re.search(r"The correct answer is \(([A-D])\)", text) or re.search(
        r"The correct answer is ([A-D])", text
    )
    return found.group(1) if found else None


def dnd_parse(answer: str) -> int | str | list[str]:
    """OOLONG-real's reading of an answer: an integer, else a comma list, else a string."""
    try:
        return int(answer)
    except ValueError:
        pass
    if "," in answer:
        return [item.strip() for item in answer.split(",") if item.strip()]
    return answer


def dnd_score(prediction: str | None, gold: str) -> float:
    """OOLONG-real's official score of one answer (see the module docstring)."""
    if not prediction:
        return 0.0
    boxed = re.search(r"\\boxed\{\\text\{([^}]*)\}\}", prediction) or re.search(
        r"\\boxed[\{]+([^}]*)[\}]+", prediction
    )
    answer = dnd_parse((boxed.group(1) if boxed else prediction).strip())
    expected = dnd_parse(str(gold).strip())
    if isinstance(expected, int) and isinstance(answer, int):
        return 0.75 ** abs(expected - answer)
    if isinstance(expected, str) and isinstance(answer, str):
        return float(expected.strip().lower() == answer.strip().lower())
    if isinstance(expected, list) and isinstance(answer, list):
        return len(set(expected) & set(answer)) / len(expected) if expected else 0.0
    return 0.0


def times_in(answer: str) -> list[float]:
    """Seconds an answer mentions: "24 s", "24.0 seconds", "00:24", "0:24", "1:02:05"."""
    found = [float(m) for m in re.findall(r"(\d+(?:\.\d+)?)\s*(?:s\b|sec|second)", answer)]
    found += [int(h) * 3600 + int(m) * 60 + int(s)
              for h, m, s in re.findall(r"\b(\d{1,2}):(\d{2}):(\d{2})\b", answer)]  # fmt: skip
    clock = re.sub(r"\b\d{1,2}:\d{2}:\d{2}\b", " ", answer)
    found += [int(m) * 60 + int(s) for m, s in re.findall(r"\b(\d{1,3}):(\d{2})\b", clock)]
    return found


def video_scores(prediction: str | None, gold: dict[str, Any]) -> tuple[bool, bool]:
    """(every topic named, a time inside the asked topic's scene given)."""
    if not prediction:
        return False, False
    text = prediction.lower()
    named = all(topic.lower() in text for topic in gold["topics"])
    timed = any(gold["start"] - 1 <= t <= gold["end"] for t in times_in(prediction))
    return named, timed


EXACT_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")
THOUSANDS = re.compile(r"(?<=\d)[, ](?=\d{3}\b)")


def exact_score(prediction: str | None, gold: int | str) -> float:
    """1.0 when the answer is right: for a number, the only number in the answer (commas,
    spaces and a currency sign allowed); for a name, the name in the answer."""
    if not prediction:
        return 0.0
    if isinstance(gold, str):
        return float(re.search(rf"\b{re.escape(gold)}\b", prediction, re.IGNORECASE) is not None)
    joined = THOUSANDS.sub("", prediction)  # 1,234,000 and 1 234 000 are one number
    numbers = {float(n) for n in EXACT_NUMBER.findall(joined)}
    return float(numbers == {float(gold)})
