"""Sub-call replies held to a set of choices: ``llm_query(p, choices=["yes", "no"])``.

A judgement per line (a label, yes/no, a sentiment) is the RLM's most common sub-call, and
a small model asked for one word answers with a sentence, a synonym or a misspelt label
that the root's code then fails to count. With ``choices`` the reply is exactly one of
them: on a backend that takes a grammar (llama.cpp) the decoder can produce nothing else,
and stops after a few tokens; elsewhere the reply is matched to the choice it names, or
becomes an error string. The prompt is told the choices either way.
"""

from __future__ import annotations

import re

from .gbnf import control_problem, literal

MAX_CHOICES = 64
MAX_CHOICE_CHARS = 200


def check_choices(choices: list[str]) -> str | None:
    """Why ``choices`` cannot be used (empty, too many, too long, repeated), or None."""
    if not choices:
        return "choices must name at least one reply"
    if len(choices) > MAX_CHOICES:
        return f"{len(choices)} choices (at most {MAX_CHOICES})"
    cleaned = [c.strip() for c in choices]
    if not all(cleaned) or max(map(len, cleaned)) > MAX_CHOICE_CHARS:
        return f"each choice must be 1 to {MAX_CHOICE_CHARS} characters, not blank"
    if len({c.casefold() for c in cleaned}) < len(cleaned):
        return "choices must differ (ignoring case)"
    for choice in cleaned:
        problem = control_problem(choice)
        if problem:
            return f"choice {choice[:40]!r} holds a {problem}"
    return None


def with_choices(prompt: str, choices: list[str]) -> str:
    """The prompt, told which replies it may give. The choices come first: the calls of a
    batch then share their start, which a llama.cpp backend evaluates once."""
    listed = ", ".join(c.strip() for c in choices)
    return f"Reply with exactly one of: {listed}.\n\n{prompt}"


def choice_grammar(choices: list[str]) -> str:
    """A GBNF grammar whose only sentences are the choices."""
    return "root ::= " + " | ".join(literal(c.strip()) for c in choices)


def match_choice(reply: str, choices: list[str]) -> str | None:
    """The choice ``reply`` gives: itself (ignoring case, quotes and a final period), else
    the one choice named in it as a whole word; None when it names none or several."""
    wanted = {c.strip().casefold(): c.strip() for c in choices}
    said = reply.strip().strip("\"'`*.").strip().casefold()
    if said in wanted:
        return wanted[said]
    named = [c for key, c in wanted.items() if re.search(rf"(?<!\w){re.escape(key)}(?!\w)", said)]
    return named[0] if len(named) == 1 else None
