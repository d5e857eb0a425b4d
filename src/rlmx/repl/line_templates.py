"""Records of lines written in words: each line's template learned, its varying parts fields.

A log or a statement in words (``2026-05-01 INFO order 5000123 placed by Ada Moreno for
70.51 EUR``) has no delimiter to split on, and a small model's regex for one format
matches nothing in the next. So, the way log parsers such as Drain do, lines are grouped
by their words: lines of the same length that share most of their words share a template,
and a place where they differ (or that holds a digit) is a field. A field is named by the
template's word before it (``by`` -> 'Ada Moreno', ``for`` -> 70.51), else by what it
holds (``date``, ``time``), else by its place (``field2``). A run of capitalised words is
one value (a name of any length), and so is a bracketed or quoted part (``(Ping
timeout)``). Every record keeps its whole ``line``: a filter on the words still works.
The work is bounded: templates are learned from the first LEARN_LINES lines, a few per
line length, and every pattern runs in linear time. Runs inside the sandbox: stdlib only.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# a name of several capitalised words; a bracketed or quoted part (bounded: linear time);
# else a run of non-spaces
TOKEN = re.compile(
    r"[A-Z][a-z][\w'&.-]*(?: [A-Z][a-z][\w'&.-]*)+"
    r"|\([^()\n]{0,80}\)|\[[^\]\n]{0,80}\]|<[^<>\n]{0,80}>|\"[^\"\n]{0,80}\""
    r"|\S+"
)
DIGIT = re.compile(r"\d")
BARE_WORD = re.compile(r"[A-Za-z][A-Za-z'.-]*")  # a word that may be part of a longer value
DATE = re.compile(r"\d{4}-\d\d-\d\d|\d\d?[./]\d\d?[./]\d{2,4}")
TIME = re.compile(r"\d\d?:\d\d")
NUMBER = re.compile(r"[-+]?[$€£]?\d[\d,]*(?:\.\d+)?")
ENCLOSED = {"(": ")", "[": "]", "<": ">", '"': '"'}
SIMILAR = 0.5  # of the words either line holds, the share two lines of a template share
TEMPLATES_PER_LENGTH = 16
LEARN_LINES = 2_000
MAX_TOKENS = 40  # a longer line is prose, no record of a template
FITTING = 0.6  # of the lines, the share that must fit a template with a field
Fields = list[tuple[str, tuple[int, ...]]]  # each field's name and places


@dataclass
class Template:
    """The words of a template (None where a field is), the lines it was learned from, and
    its fields: each a name and the places it spans (a name of several words is one)."""

    words: list[str | None]
    example: list[str]  # the tokens of the first line it was learned from
    seen: int = 1
    fields: Fields = field(default_factory=list)
    _key: Callable[[list[Any]], Any] | None = field(init=False, default=None)  # its words

    def finish(self) -> None:
        """Names the fields and makes the word-for-word test (the words it holds, in place)."""
        self.fields = _named(_runs(self.words, self.example), self.words, self.example)
        places = [i for i, word in enumerate(self.words) if word is not None]
        if places:
            self._key = operator.itemgetter(*places)

    def fits(self, tokens: list[str]) -> bool:
        return self._key is None or bool(self._key(tokens) == self._key(self.words))

    def record(self, line: str, tokens: list[str]) -> dict[str, Any]:
        row: dict[str, Any] = {"line": line}
        for name, places in self.fields:
            row[name] = " ".join(_value(tokens[i]) for i in places)
        return row


def templated(lines: list[str], typed: Callable[[dict[str, Any]], Any]) -> list[Any] | None:
    """The records of ``lines`` (each ``typed``), or None when too few of them fit a
    template with a field that more than one line taught (prose, code)."""
    tokenized = [TOKEN.findall(line) for line in lines]
    templates = _learn(tokenized[:LEARN_LINES])
    rows, fitted = [], 0
    for line, tokens in zip(lines, tokenized, strict=True):
        template = _fit(templates.get(len(tokens), []), tokens)
        fitted += template is not None and template.seen > 1 and bool(template.fields)
        rows.append(typed(template.record(line, tokens) if template else {"line": line}))
    return rows if fitted >= FITTING * len(lines) else None


def _learn(tokenized: list[list[str]]) -> dict[int, list[Template]]:
    """Templates by line length: a line joins the closest of its length (its differing
    words become fields), else starts one (TEMPLATES_PER_LENGTH at most)."""
    by_length: dict[int, list[Template]] = {}
    for tokens in tokenized:
        if not 2 <= len(tokens) <= MAX_TOKENS:
            continue
        words = [None if DIGIT.search(token) else token for token in tokens]
        templates = by_length.setdefault(len(tokens), [])
        closest = _closest(templates, words)
        if closest is not None:
            pairs = zip(closest.words, words, strict=True)
            closest.words, closest.seen = (
                [a if a == b else None for a, b in pairs],
                closest.seen + 1,
            )
        elif len(templates) < TEMPLATES_PER_LENGTH:
            templates.append(Template(words, tokens))
    for templates in by_length.values():
        templates.sort(key=lambda t: -sum(word is not None for word in t.words))  # most exact first
        for template in templates:
            template.finish()
    return by_length


def _closest(templates: list[Template], words: list[str | None]) -> Template | None:
    best, best_share = None, SIMILAR
    for template in templates:
        pairs = list(zip(template.words, words, strict=True))
        either = sum(a is not None or b is not None for a, b in pairs)
        same = sum(a is not None and a == b for a, b in pairs)
        share = same / either if either else 1.0
        if share >= best_share:
            best, best_share = template, share
    return best


def _fit(templates: list[Template], tokens: list[str]) -> Template | None:
    """The most exact template the line fits word for word, else the closest one."""
    for template in templates:
        if template.fits(tokens):
            return template
    words = [None if DIGIT.search(token) else token for token in tokens]
    return _closest(templates, words) if templates else None


def _runs(words: list[str | None], example: list[str]) -> list[tuple[int, ...]]:
    """The places of each field: consecutive field places whose words (in the example)
    are plain words join into one (``Failed password``)."""
    runs: list[list[int]] = []
    for i, word in enumerate(words):
        if word is not None:
            continue
        joins = runs and runs[-1][-1] == i - 1 and BARE_WORD.fullmatch(example[i - 1])
        if joins and BARE_WORD.fullmatch(example[i]):
            runs[-1].append(i)
        else:
            runs.append([i])
    return [tuple(run) for run in runs]


def _named(runs: list[tuple[int, ...]], words: list[str | None], example: list[str]) -> Fields:
    named: Fields = []
    taken = {"line"}
    for places in runs:
        name = _name(places, words, example)
        unique, n = name, 2
        while unique in taken:
            unique, n = f"{name}{n}", n + 1
        taken.add(unique)
        named.append((unique, places))
    return named


def _name(places: tuple[int, ...], words: list[str | None], example: list[str]) -> str:
    """The template's word before the field (lower case); for a number, else the word
    after it (its unit: ``12 pages``, ``-4.50 EUR``); else what the value is (``date``,
    ``time``); else its place in the line."""
    first, last, value = places[0], places[-1], example[places[0]]
    before = _word(words[first - 1]) if first else ""
    after = _word(words[last + 1]) if last + 1 < len(words) and NUMBER.fullmatch(value) else ""
    if before or after:
        return before or after
    if DATE.search(value):
        return "time" if TIME.search(value) else "date"
    return "time" if TIME.search(value) else f"field{first + 1}"


def _word(token: str | None) -> str:
    """A template's word as a field's name ("" for a mark, a letter or a field)."""
    word = (token or "").strip(".,;:!?()[]<>\"'").lower()
    return word if word.isalpha() and len(word) > 1 else ""


def _value(token: str) -> str:
    """A token without its brackets or quotes, or the punctuation that ends a clause."""
    if len(token) > 1 and ENCLOSED.get(token[0]) == token[-1]:
        return token[1:-1].strip()
    return token.rstrip(",;:!?.") or token
