"""Reading a root-model reply: code cells and a prose final answer.

Code cells are fenced with ```repl (```python and ```py are accepted too); a fence left
open at the very end of a reply (a stop sequence cut it) still counts. A prose
``FINAL(...)`` / ``FINAL_VAR(...)`` counts only at the start of a line outside every
fence, and only in a reply with no code cell: when a reply has code, the code decides.
Either may end with ``cite=[quote, ...]``: the quotes the answer rests on (``citations.py``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field

CODE_LANGS = ("repl", "python", "py", "python3")
_FENCE_OPEN = re.compile(r"^[ \t]*```[ \t]*([A-Za-z0-9_+-]*)[ \t]*$")
_FENCE_CLOSE = re.compile(r"^[ \t]*```[ \t]*$")
_FINAL_START = re.compile(r"^[ \t]*(FINAL_VAR|FINAL)\(")
_CITE = re.compile(r",\s*cite\s*=\s*(?=[\[(\"'])")


@dataclass(frozen=True)
class ProseFinal:
    """A final answer written in prose: FINAL(text) or FINAL_VAR(variable_name)."""

    via: str  # "FINAL" or "FINAL_VAR"
    value: str
    cite: tuple[str, ...] = ()  # quotes from the context the answer rests on


@dataclass
class ParsedReply:
    """What a reply asks for: cells to run, or a final answer."""

    code_cells: list[str] = field(default_factory=list)
    final: ProseFinal | None = None
    prose: str = ""


def parse_reply(text: str) -> ParsedReply:
    """Split a reply into code cells and the prose outside fences."""
    cells: list[str] = []
    prose_lines: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        opened = _FENCE_OPEN.match(lines[i])
        if opened is None:
            prose_lines.append(lines[i])
            i += 1
            continue
        lang = opened.group(1).lower()
        end = i + 1
        while end < len(lines) and not _FENCE_CLOSE.match(lines[end]):
            end += 1
        body = "\n".join(lines[i + 1 : end])
        if lang in CODE_LANGS and body.strip():
            cells.append(body)
        i = end + 1
    prose = "\n".join(prose_lines)
    final = None if cells else find_prose_final(prose)
    return ParsedReply(code_cells=cells, final=final, prose=prose)


def find_prose_final(prose: str) -> ProseFinal | None:
    """The first FINAL(...) / FINAL_VAR(...) that starts a line of prose."""
    for via, start in _iter_finals(prose):
        inner = _balanced(prose, start)
        if inner is None:
            continue
        inner, cite = _split_cite(inner)
        value = _unquote(inner.strip())
        if via == "FINAL_VAR":
            value = value.strip()
            if not value.isidentifier():
                continue
        return ProseFinal(via=via, value=value, cite=cite)
    return None


def _iter_finals(prose: str) -> list[tuple[str, int]]:
    found = []
    offset = 0
    for line in prose.splitlines(keepends=True):
        match = _FINAL_START.match(line)
        if match:
            found.append((match.group(1), offset + match.end()))
        offset += len(line)
    return found


def _balanced(text: str, start: int) -> str | None:
    """Text from ``start`` up to the parenthesis that closes the one before it.

    Quotes are respected, so FINAL("a (b") works. Without a matching parenthesis the
    answer runs to the last ')' in the text, as models often leave one unbalanced.
    """
    depth = 1
    quote: str | None = None
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
            if depth == 0:
                return text[start:i]
        i += 1
    last = text.rfind(")")
    return text[start:last] if last >= start else None


def _split_cite(inner: str) -> tuple[str, tuple[str, ...]]:
    """``answer, cite=["q1", "q2"]`` -> the answer and the quotes (a lone string is one
    quote); text that only looks like a cite argument stays part of the answer."""
    for match in reversed(list(_CITE.finditer(inner))):
        try:
            quotes = ast.literal_eval(inner[match.end() :].strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if isinstance(quotes, str):
            quotes = (quotes,)
        if isinstance(quotes, list | tuple) and all(isinstance(q, str) for q in quotes):
            return inner[: match.start()], tuple(quotes)
    return inner, ()


def _unquote(value: str) -> str:
    """FINAL("text") means the string, not the quotes around it."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        try:
            literal = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value[1:-1]
        if isinstance(literal, str):
            return literal
    return value
