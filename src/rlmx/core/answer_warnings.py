"""Warnings next to an answer whose evidence is weak: a stable ``code`` for programs and a
sentence for people (``Result.warnings``; ``--json``, the HTTP API, SSE, MCP, batch rows and
the web UI carry both; ``rlmx ask --strict`` exits 3 when there is any).

The codes (the Python API guide, docs/guide/python-api.md, lists them too):

- ``borrowed_value``: the answer's number or name comes from rlmx's worked examples, and
  no output of the run showed it;
- ``unseen_number``: the answer's number appeared in no REPL output, even after rlmx asked
  the model to check;
- ``not_in_evidence``: a name or value in the answer appears in no REPL output and not in
  the context; for an answer the model typed in prose (not a cell's FINAL), any name or
  number of it that no output showed;
- ``uncounted``: a count or sum was asked, and no cell's code counted or added up;
- ``empty_result``: a count or sum was asked and the answer is 0, or the answer to any
  question but a yes/no one names nothing (``None``, ``null``, ``[]``): a filter or a
  pattern that matched nothing;
- ``partial_class``: the question names a class of status codes ("a 5xx") and the answer's
  code tested only some codes of it, even after rlmx ran it testing the whole class;
- ``missed_condition``: the question names a text the data holds (a name, a path, an id)
  that no code or output of the run looked for, even after rlmx said so;
- ``tied_ranking``: a "which ... the most ...?" answer came from a count per value that
  found each value once (it ranks nothing), even after rlmx said so;
- ``unasked_condition``: the answer's filter keeps only records with a field's value that
  the question never names, even after rlmx ran the cell without it;
- ``uncounted_items``: the question counts the items of a field holding a list per record,
  and the answer's code counted records, even after rlmx said so;
- ``context_unread``: no cell read the context before the answer;
- ``last_cell_failed``: the answer was given in prose right after a cell that raised;
- ``sub_call_failed``: sub-calls failed during the run (their error texts may have been
  used as data);
- ``quotes_not_found``: quotes the answer cites are not in the context;
- ``schema_mismatch``: the answer does not match the schema asked for;
- ``max_iterations`` / ``budget_exhausted``: a limit ended the run; the answer is its last
  attempt;
- ``no_final``: the model gave no final answer; the text is its last reply.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class AnswerWarning:
    """Why an answer may be unreliable: a stable code and a sentence."""

    code: str
    message: str

    def __str__(self) -> str:
        return self.message

    def to_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}

    @classmethod
    def of(cls, value: Any) -> AnswerWarning:
        """From its dict (or a plain sentence, as trajectories before codes held)."""
        if isinstance(value, AnswerWarning):
            return value
        if isinstance(value, dict):
            return cls(str(value.get("code", "note")), str(value.get("message", "")))
        return cls("note", str(value))


def borrowed_value(values: str) -> AnswerWarning:
    """Next to an answer whose number or name only the instructions' examples held."""
    return AnswerWarning("borrowed_value", (
        f"no verified answer: {values} comes from rlmx's worked examples, not from the "
        "context, and no output of the run showed it"))  # fmt: skip


def unseen_number(numbers: str) -> AnswerWarning:
    """Next to an answer the repairs doubted (told to the user, not the model)."""
    return AnswerWarning("unseen_number", (
        f"no verified answer: the answer's number(s) {numbers} appeared in no REPL output, "
        "even after rlmx asked the model to check: it may be a guess"))  # fmt: skip


def quotes_not_found(missing: int, total: int) -> AnswerWarning:
    return AnswerWarning(
        "quotes_not_found", f"{missing} of the {total} quote(s) the answer cites are not in "
        "the context")  # fmt: skip


def schema_mismatch(problem: str) -> AnswerWarning:
    return AnswerWarning("schema_mismatch", f"the answer does not match the schema: {problem}")


STATUS_WARNINGS = {
    "max_iterations": AnswerWarning(
        "max_iterations", "the run hit its iteration limit: the answer is the model's last attempt"
    ),
    "budget_exhausted": AnswerWarning(
        "budget_exhausted", "the budget ran out: the answer is the model's last attempt"
    ),
}
NO_FINAL = AnswerWarning(
    "no_final", "the model gave no FINAL answer: this is the text of its last reply"
)


@dataclass(frozen=True)
class Cell:
    """What the evidence checks need of one cell that ran."""

    code: str
    output: str
    error: bool


COUNT_QUESTION = re.compile(r"\b(how many|count|number of|total|sum|average|mean)\b", re.IGNORECASE)
# "What is the total value of ...?", "How much came in from ...?": an amount added up (a
# "how many ... in total" counts)
SUM_QUESTION = re.compile(r"^(?!\s*how many\b).*\b(how much|total|sum|altogether|combined)\b",
                          re.IGNORECASE | re.DOTALL)  # fmt: skip
RANKING_QUESTION = re.compile(
    r"\b(most|least|fewest|highest|lowest|largest|smallest|biggest|top)\b", re.IGNORECASE
)


def computed_question(query: str) -> bool:
    """A count, a sum, an average or a ranking: worked out over the data, not looked up.
    Such an answer is worth a second, independent attempt (the recheck): a wrong filter or
    field gives a plausible number that no evidence check sees."""
    return bool(COUNT_QUESTION.search(query) or RANKING_QUESTION.search(query))


# code that counts or adds up (a loop alone does not: it may only print excerpts)
COUNTING_CODE = re.compile(
    r"len\(|sum\(|\.count\(|Counter|\+=|mean|statistics|\.value_counts|\.size\b"
)
# `rows`, `lines`: the context's records or lines, which rlmx's profile binds before the first turn
READS_CONTEXT = re.compile(r"\b(context(_\d+)?|history|rows|lines)\b")
PART_SPLIT = re.compile(r"[,;\n]|\band\b")
NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")
ZERO = re.compile(r"^\s*0+(\.0+)?\s*$")
NOT_FOUND = re.compile(r"^(none|no|yes|true|false|not found|unknown|n/?a|null)$", re.IGNORECASE)
# Python's and JSON's words for nothing, as code that found nothing prints them (an
# empty Counter: a 1.5B root's filter matched no line, and it answered the Counter)
NOTHING = re.compile(
    r"^\s*(none|null|nan|\[\]|\{\}|\(\)|''|\"\"|(set|list|dict|tuple|counter)\(\)"
    r"|(counter|defaultdict)\((<class '\w+'>, )?\{\}\))\s*$",
    re.IGNORECASE,
)
# an answer in words that says nothing was found: "No records found", "Not found."
NOTHING_SAID = re.compile(
    r"^\s*(?:no\b[^.\n]{0,60}?\bfound|(?:none|not|nothing) found)\b[^.\n]{0,60}\.?\s*$",
    re.IGNORECASE,
)
YES_NO_QUESTION = re.compile(r"^\s*(is|are|was|were|does|do|did|has|have|had|can|could|will)\b",
                             re.IGNORECASE)  # fmt: skip


def empty_answer(query: str, answer: str) -> bool:
    """The answer says the code found nothing: 0 for a count or sum, or for any question
    but a yes/no one, ``None`` (a 1.5B root counted ``re.search(...)`` objects, most of them
    None, and answered "which IP ...?" with the most common one) or words that say so ("No
    records found": an attempt answering so outvoted two that agreed on a name)."""
    if COUNT_QUESTION.search(query) and ZERO.match(answer):
        return True
    nothing = NOTHING.match(answer) or NOTHING_SAID.match(answer)
    return bool(nothing) and not YES_NO_QUESTION.match(query)


def evidence_warnings(
    query: str,
    answer: str,
    cells: Sequence[Cell],
    via_prose: bool,
    failed_sub_calls: int,
    in_context: Callable[[str], bool],
    reads_tools: bool = False,
    cited: bool = False,
) -> list[AnswerWarning]:
    """The warnings the run's record gives about an accepted ``answer``: what its cells
    read, counted and showed, and how the answer came (``in_context`` looks a text up in
    the context; ``reads_tools``: an environment's tools read the context for the cells,
    and their results need not pass through an output, so neither is checked; ``cited``:
    the answer cites quotes that were all found in the context, which is evidence that it
    was read and holds the answer)."""
    found: list[AnswerWarning] = []

    def add(code: str, message: str) -> None:
        found.append(AnswerWarning(code, message))

    grounded = reads_tools or cited
    if not grounded and not any(READS_CONTEXT.search(cell.code) for cell in cells):
        add("context_unread", "no cell read the context before the answer")
    if via_prose and cells and cells[-1].error:
        add("last_cell_failed", "the answer came right after a cell that raised an error")
    counted = any(COUNTING_CODE.search(cell.code) for cell in cells if not cell.error)
    if COUNT_QUESTION.search(query) and re.search(r"\d", answer) and not counted:
        add("uncounted", "a count or sum was asked, and no cell's code counted or added up")
    if empty_answer(query, answer):
        add("empty_result", f"the answer is {answer.strip()[:20]}: the code's filter or pattern "
            "matched nothing, which often means it does not match how the data writes its "
            "values")  # fmt: skip
    if failed_sub_calls:
        add("sub_call_failed", f"{failed_sub_calls} sub-call(s) failed during the run; their "
            "error texts may have been used as data")  # fmt: skip
    if grounded:
        return found
    if via_prose:  # typed by the model: what it states must have been shown by code
        missing = unsupported_parts(answer, cells, lambda _: False, numbers=True)
        where = "in no REPL output (the model typed the answer)"
    else:
        missing = unsupported_parts(answer, cells, in_context)
        where = "in no REPL output and not in the context"
    if missing:
        shown = ", ".join(repr(part) for part in missing[:3])
        add("not_in_evidence", f"{shown} appear(s) {where}")
    return found


def same_answer(answer: str, other: str) -> bool:
    """Two answers that say the same: case, quotes, order and number formatting (``1,200``
    and ``1200.0``) do not count."""
    return _normal(answer) == _normal(other)


def settle_attempts(
    attempts: Sequence[tuple[str, Sequence[AnswerWarning]]],
) -> tuple[int, list[AnswerWarning]]:
    """Which of independent attempts at an answer stands (its index), and its warnings.
    ``attempts[0]`` is the run's own; then a recheck, and a third attempt, made only when
    the first two differ. Agreeing with the first, the recheck changes nothing. Otherwise
    an answer that a check doubted never outweighs one that none doubted: among the
    undoubted attempts (all of them, when each was doubted), two that agree decide; a
    single undoubted one stands; with no such majority the second's answer stands if no
    check doubted it (it was told to go over all the data), else the first's. Warned
    ``recheck_differs`` with the other answers. (Where the first two differed in the runs
    read for this, calibration r3 and tune-half runs, the first was never the right one;
    the second replaced a right first answer three times in two rounds, which the third
    attempt is for; and two rechecks that both counted 0 with the same case-sensitive
    filter outvoted a right first answer, which is why a doubted answer does not count.)"""
    (first, warnings), *others = attempts
    if not others or same_answer(first, others[0][0]):
        return 0, list(warnings)
    trusted = [i for i, (_, doubts) in enumerate(attempts) if not doubts] or list(
        range(len(attempts))
    )
    agreeing = [i for i in trusted if any(
        j != i and same_answer(attempts[i][0], attempts[j][0]) for j in trusted)]  # fmt: skip
    if agreeing:
        winner = agreeing[0]
    elif len(trusted) == 1:
        winner = trusted[0]
    else:
        winner = 0 if others[0][1] else 1
    told = [f"{answer[:80]!r}" + (f" (doubted: {', '.join(w.code for w in doubts)})"
                                  if doubts else "")
            for answer, doubts in attempts
            if not same_answer(answer, attempts[winner][0])]  # fmt: skip
    agree = sum(same_answer(answer, attempts[winner][0]) for answer, _ in attempts)
    return winner, [*attempts[winner][1], AnswerWarning("recheck_differs", (
        f"independent attempts disagreed: {agree} of {len(attempts)} gave this answer "
        f"(attempt {winner + 1}); the rest answered {', '.join(told)}"))]  # fmt: skip


def _normal(answer: str) -> list[str]:
    """An answer's parts, compared loosely: case, quotes, order and number formatting
    (``1,200`` and ``1200.0``) do not count."""
    parts = []
    one_number = re.fullmatch(r"[$€£+-]?\d[\d,]*(\.\d+)?%?", answer.strip())
    for part in [answer] if one_number else _parts(answer):
        part = part.strip(" \t'\"`.:()[]{}").casefold()
        number = re.sub(r"[,$€£% ]", "", part)
        if re.fullmatch(r"[+-]?\d+(\.\d+)?", number):
            part = repr(float(number))
        if part:
            parts.append(part)
    return sorted(parts)


def _parts(answer: str) -> list[str]:
    try:
        value = json.loads(answer)
    except ValueError:
        return PART_SPLIT.split(answer.strip())
    return list(_strings(value)) if isinstance(value, dict | list) else [str(value)]


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict | list):
        for item in value.values() if isinstance(value, dict) else value:
            yield from _strings(item)


def number_shown(number: str, seen: set[str]) -> bool:
    """``number`` was seen as written or rounded (41 s for a printed 41.3 counts; so does
    7510.77 for a printed 7510.770000000001, as rlmx cleans a final answer)."""
    places = len(number.partition(".")[2])
    value = float(number)
    return any(round(float(s), places) == value for s in seen)


def unsupported_parts(
    answer: str,
    cells: Sequence[Cell],
    in_context: Callable[[str], bool],
    numbers: bool = False,
) -> list[str]:
    """The short names or values in ``answer`` (one to three words) that no cell's output
    showed and the context does not hold; of a JSON answer (a typed one), its string
    values. Numbers only with ``numbers`` (a cell's FINAL computed them; a typed answer's
    must have been shown), of two digits or more. Longer prose is not checked."""
    outputs = "\n".join(cell.output for cell in cells).casefold()
    missing = []
    for part in _parts(answer):
        part = part.strip(" \t'\"`.:()[]{}")
        if len(part.split()) > 3 or NOT_FOUND.match(part):
            continue
        if re.fullmatch(r"[\d.,%$€£ +-]+", part):
            shown = {n.replace(",", "") for n in NUMBER.findall(outputs)}
            wanted = [n.replace(",", "") for n in NUMBER.findall(part)]
            if numbers and any(len(n) >= 2 and not number_shown(n, shown) for n in wanted):
                missing.append(part)
            continue
        if len(part) >= 3 and part.casefold() not in outputs and not in_context(part):
            missing.append(part)
    return missing
