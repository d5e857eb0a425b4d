"""GBNF literals built from untrusted text, and the characters no literal may hold.

Grammars (llama.cpp's GBNF) are built from text that model code or an HTTP client wrote:
``llm_query(..., choices=[...])``, a schema's ``enum`` and ``const``. llama.cpp aborts the
whole process (not the call) on some code points in a literal, NUL first of all, so such
text is refused before any grammar is built: ``control_problem`` says why, and ``literal``
is the one escaper every GBNF literal goes through.
"""

from __future__ import annotations

import re

# C0 controls but tab, newline and carriage return; DEL; C1 controls; lone surrogates
# (which UTF-8 cannot carry) and the non-characters U+FFFE / U+FFFF.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
_TO_ESCAPE = re.compile(r'["\\\n\r\t]')


def control_problem(text: str) -> str | None:
    """Why ``text`` may not reach a grammar (a control character, by its code), or None."""
    found = _FORBIDDEN.search(text)
    if found is None:
        return None
    return f"control character U+{ord(found.group()):04X} at offset {found.start()}"


def literal(text: str) -> str:
    """``text`` as a GBNF string literal (quotes included): characters as they are, UTF-8,
    with quotes, backslashes and the three whitespace controls escaped. Raises ValueError
    for text ``control_problem`` refuses."""
    problem = control_problem(text)
    if problem:
        raise ValueError(f"cannot be held by a grammar: {problem}")
    return '"' + _TO_ESCAPE.sub(lambda m: _ESCAPES[m.group()], text) + '"'
