"""Cited answers: the quotes of ``FINAL(answer, cite=[...])``, found in the context.

Each quote is looked for in the run's context texts: exactly first, then loosely (case,
runs of whitespace, typographic quotes and dashes, and punctuation at its ends do not
matter; a ``...`` in a quote skips text between its pieces). A quote that is found becomes
a ``Citation`` saying where: the REPL variable, the source (a file of a folder context, the
file of a ``Path`` context, an item of a list), the page, slide or sheet marker and the
heading above it (``documents.py``), the line, and the character span in the text the REPL
holds for that source (``context[start:end]``, or ``context[source][start:end]``), with an
excerpt around it for viewers. A quote that is not found is kept, with ``found=False``.
"""

from __future__ import annotations

import bisect
import json
import re
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .document_formats import HEADING, SECTION_MARKER

EXCERPT_CHARS = 1200  # of the source on either side of a quote, for viewers ...
SECTION_EXCERPT_CHARS = 8000  # ... or its whole page (slide, sheet) when it is this short
MAX_GAP_CHARS = 2000  # that one "..." in a quote may stand for
MAX_STARTS = 1000  # places of a quote's first piece tried when it has several pieces
_ELLIPSIS = re.compile(r"\s*(?:\.{3,}|…)\s*")
_EDGE_PUNCTUATION = " \t\n.,;:!?\"'“”‘’«»()[]"
_EQUIVALENT = {  # a character of a quote -> the characters it may stand for in the source
    "'": "'‘’`", "‘": "'‘’`", "’": "'‘’`",
    '"': '"“”«»', "“": '"“”«»', "”": '"“”«»',
    "-": "-‐‑–—", "–": "-‐‑–—", "—": "-‐‑–—",
}  # fmt: skip


@dataclass(frozen=True)
class Source:
    """One text a quote may come from."""

    variable: str  # the REPL variable: "context", "context_1" ...
    key: str | None  # a folder context's file, a list item "[3]", a Path context's file
    text: str


@dataclass
class Citation:
    """Where a quote of the answer is in the context (``found=False``: nowhere)."""

    quote: str
    found: bool
    variable: str | None = None
    source: str | None = None
    page: str | None = None  # "page 3", "slide 2", "sheet Q3" (the marker above the quote)
    heading: str | None = None  # the nearest markdown heading above it
    line: int | None = None  # 1-based, in the source's text
    start: int | None = None  # character span in the source's text
    end: int | None = None
    exact: bool | None = None  # False: found loosely (case, spacing, quote marks)
    excerpt: str | None = None  # the source around the quote ...
    excerpt_start: int | None = None  # ... from this character on

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def where(self) -> str:
        """``reports/q3.pdf, page 4, line 112``: for people."""
        if not self.found:
            return "not found in the context"
        parts = [self.source or self.variable or "context", self.page, f"line {self.line}"]
        return ", ".join(p for p in parts if p)


def locate(quotes: Sequence[str], sources: Sequence[Source]) -> list[Citation]:
    """A citation per quote, in order: exact matches first, then loose ones. Linear in the
    texts: each source is folded once for all quotes, then searched with ``str.find``."""
    folded: dict[int, Folded] = {}
    return [_locate(quote, sources, folded) for quote in quotes]


def _locate(quote: str, sources: Sequence[Source], folded: dict[int, Folded]) -> Citation:
    needle = quote.strip()
    if not needle:
        return Citation(quote, found=False)
    for source in sources:
        start = source.text.find(needle)
        if start >= 0:
            return _cite(quote, source, start, start + len(needle), exact=True)
    pieces = loose_pieces(needle)
    if pieces:
        for index, source in enumerate(sources):
            if index not in folded:
                folded[index] = Folded(source.text)
            span = folded[index].find_pieces(pieces)
            if span is not None:
                return _cite(quote, source, *span, exact=False)
    return Citation(quote, found=False)


_FOLD = str.maketrans({c: same[0] for c, same in _EQUIVALENT.items()} | {"`": "'"})
_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Text as loose matching compares it: equivalent quote marks and dashes made one,
    lower case, each run of whitespace one space."""
    return _SPACES.sub(" ", _lower(text.translate(_FOLD)))


def _lower(text: str) -> str:
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    # a character whose lower case is longer (U+0130): kept as it is, so offsets hold
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def loose_pieces(quote: str) -> list[str]:
    """The ``...``-separated pieces of a quote, folded, without punctuation at their ends."""
    pieces = (fold(piece.strip(_EDGE_PUNCTUATION)).strip() for piece in _ELLIPSIS.split(quote))
    return [piece for piece in pieces if piece]


class Folded:
    """A source's text folded once (``fold``), with the way back to its own offsets."""

    def __init__(self, text: str) -> None:
        lowered = _lower(text.translate(_FOLD))
        parts: list[str] = []
        self.folded_at: list[int] = [0]  # where each stretch starts in the folded text ...
        self.source_at: list[int] = [0]  # ... and in the source
        position = length = 0
        for spaces in _SPACES.finditer(lowered):
            parts += [lowered[position : spaces.start()], " "]
            length += spaces.start() - position + 1
            position = spaces.end()
            self.folded_at.append(length)
            self.source_at.append(position)
        parts.append(lowered[position:])
        self.text = "".join(parts)

    def source_offset(self, index: int) -> int:
        """The source offset of a folded offset (a folded space: where its run starts)."""
        stretch = bisect.bisect_right(self.folded_at, index) - 1
        return self.source_at[stretch] + index - self.folded_at[stretch]

    def find_pieces(self, pieces: list[str]) -> tuple[int, int] | None:
        """The source span of the first place where the pieces follow each other, each
        within ``MAX_GAP_CHARS`` of the one before; each later piece takes its earliest
        place (no backtracking across gaps), and at most ``MAX_STARTS`` places of the
        first piece are tried: ``str.find`` calls over bounded windows, so linear."""
        start = self.text.find(pieces[0])
        for _ in range(MAX_STARTS):
            if start < 0:
                return None
            end = start + len(pieces[0])
            for piece in pieces[1:]:
                found = self.text.find(piece, end, end + MAX_GAP_CHARS + len(piece))
                if found < 0:
                    break
                end = found + len(piece)
            else:
                return self._span(start, end)
            start = self.text.find(pieces[0], start + 1)
        return None

    def _span(self, start: int, end: int) -> tuple[int, int]:
        return self.source_offset(start), self.source_offset(end - 1) + 1


def _cite(quote: str, source: Source, start: int, end: int, exact: bool) -> Citation:
    text = source.text
    marker = _last(SECTION_MARKER, text, start)
    heading = _last(HEADING, text, start, floor=marker.end() if marker else 0)
    section_start = marker.start() if marker else 0
    following = SECTION_MARKER.search(text, end)
    section_end = following.start() if following else len(text)
    if marker is not None and section_end - section_start <= SECTION_EXCERPT_CHARS:
        lo, hi = section_start, section_end
    else:
        lo, hi = max(section_start, start - EXCERPT_CHARS), min(section_end, end + EXCERPT_CHARS)
    return Citation(
        quote=quote,
        found=True,
        variable=source.variable,
        source=source.key,
        page=marker.group(1) if marker else None,
        heading=heading.group(1).strip() if heading else None,
        line=text.count("\n", 0, start) + 1,
        start=start,
        end=end,
        exact=exact,
        excerpt=text[lo:hi],
        excerpt_start=lo,
    )


def _last(pattern: re.Pattern[str], text: str, end: int, floor: int = 0) -> re.Match[str] | None:
    """The last match of a line pattern ending before ``end`` (and starting at or after
    ``floor``), searching back in growing windows rather than from the top of a long text."""
    size = 1 << 16
    while True:
        lo = max(floor, end - size)
        last = None
        for last in pattern.finditer(text, lo, end):  # noqa: B007 (the last one is wanted)
            pass
        if last is not None or lo == floor:
            return last
        size *= 8


# -- the texts of a run's contexts ----------------------------------------------------------
def context_sources(
    variable: str, path: Path | None, kind: str, origin: str | None
) -> list[Source]:
    """The texts of a prepared context file as the REPL holds them: a text context is one
    source (named for its file, ``origin``, when it came from one); a folder or a dict, one
    per string value; a list, one per string item or chat message. Videos have none."""
    if path is None or kind not in ("text", "json"):
        return []
    if kind == "text":
        return [Source(variable, origin, path.read_text("utf-8", errors="replace"))]
    return list(_json_sources(variable, json.loads(path.read_text("utf-8"))))


def _json_sources(variable: str, value: Any) -> Iterator[Source]:
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if isinstance(item, dict) and isinstance(item.get("content"), str):
            item = item["content"]  # a chat message
        if isinstance(item, str):
            yield Source(variable, str(key) if isinstance(value, dict) else f"[{key}]", item)
