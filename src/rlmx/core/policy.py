"""The policy seam: everything a prompt style decides, behind one object.

A run asks its policy for the opening messages, the grammar of each root reply, how the
cells of a turn are reported back, what happens before and after a sub-call, whether a
final answer is accepted yet, and how much cell output the root sees. The loop in
``rlm.py`` names no style and no repair; a new style is one ``Policy`` subclass.

- ``Policy`` is the paper's style (arXiv 2512.24601): its system prompt, each cell shown
  with its code and output, a reminder of the query after every turn, and the repairs that
  hold for every model (a hint after the same error twice, FINAL asked for after a cell
  that repeats an earlier one).
- ``CompactPolicy`` is for small models with small windows: a short system prompt and
  worked dialogues (text or video), only the output after each cell, replies held to one
  cell or one FINAL line by a grammar where the backend takes one, and the small-model
  repairs of ``repairs.py`` (blind sub-calls noted or not sent, a guessed number pushed
  back once).

``choose_policy("auto", lm)`` picks the compact policy for an LM that declares
``prefers_compact`` (the embedded models do), the paper's otherwise. See
docs/ARCHITECTURE.md, "The policy seam".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ..lm.base import LM, Message
from . import prompts
from .answer_warnings import (
    SUM_QUESTION,
    AnswerWarning,
    borrowed_value,
    computed_question,
    unseen_number,
)
from .repairs import Repairs

POLICY_NAMES = ("paper", "compact")


@dataclass(frozen=True)
class Task:
    """What the opening messages are made from."""

    query: str
    context_description: str
    sub_window: int | None  # the sub-model's window in tokens, when known
    sub_calls: bool  # False: the paper's "RLM without sub-calls" ablation
    environment: str | None = None  # "video" for a video context
    earlier: tuple[tuple[str, str | None], ...] = ()  # a session's questions and answers so far
    answer_schema: str | None = None  # the JSON Schema a typed answer must match
    layout: str | None = None  # "records", "structured", "lines" ... (core/turns.py task_layout)
    profile: str | None = None  # what profile(context) printed, when the policy asked for it
    attempt: int = 0  # 1, 2: a second or third independent attempt at an answer (core/rlm.py)

    def described(self) -> str:
        """The context's description, and a session's earlier questions when there are any."""
        return self.context_description + prompts.earlier_questions(self.earlier)

    @property
    def asked(self) -> str:
        """The query, with the answer's schema when it must match one."""
        schema = self.answer_schema
        told = prompts.answer_format(schema) if schema else ""
        return self.query + told + prompts.RECHECK_NOTES[self.attempt]


@dataclass(frozen=True)
class CellOutcome:
    """One cell of a turn as the root will see it."""

    code: str
    output: str
    failed: bool


@dataclass(frozen=True)
class Report:
    """The user message after a turn's cells; ``final_only``: the next reply may only be a
    FINAL line (the turn repeated an earlier one); ``notices``: what in it rlmx itself
    says to the model, as (kind, text)."""

    text: str
    final_only: bool = False
    notices: tuple[tuple[str, str], ...] = ()


class Policy:
    """The paper's style; subclasses change what they must."""

    name = "paper"
    max_output_chars = 20_000
    profiles_data = False  # rlmx runs profile(context) and shows it before the first turn
    root_max_tokens: int | None = None  # a root reply's length, unless the RLM sets one

    def notes(self, query: str, context: Any) -> Repairs:
        """The per-run record the repairs need (what the root has seen so far)."""
        return Repairs(query, context)

    def opening(self, task: Task) -> list[Message]:
        system = prompts.with_window(prompts.PAPER_SYSTEM, task.sub_window)
        first = prompts.FIRST_TURN.format(query=task.asked, context_description=task.described())
        return [
            {"role": "system", "content": system + _sub_call_notice(task)},
            {"role": "user", "content": first},
        ]

    def grammar(self, lm: LM, final_only: bool, answer_rules: str | None = None) -> str | None:
        """A GBNF grammar for the next root reply, or None; ``answer_rules`` hold a typed
        answer's FINAL to its schema (see ``answers.py``)."""
        return None

    def cell_report(self, code: str, output: str) -> str:
        return f"Code executed:\n```python\n{code}\n```\n\nREPL output:\n{_shown(output)}"

    def next_turn(self, query: str) -> str:
        return prompts.NEXT_TURN.format(query=query)

    def report(self, notes: Repairs, query: str, cells: list[CellOutcome]) -> Report:
        """What the root reads after a turn's cells, and whether only FINAL may follow."""
        repeated = False
        parts = []
        for cell in cells:
            repeated = notes.saw(cell.code, cell.output, cell.failed)
            parts.append(self.cell_report(cell.code, cell.output))
        last = cells[-1]
        hint = notes.error_hint(last.output, last.failed)
        notices = [("error_hint", hint)] if hint else []
        if repeated:
            notices.append(("repeated_cell", prompts.repeated_cell(query)))
        parts += [text for _, text in notices]
        parts.append(self.next_turn(query))
        text = "\n\n".join(p for p in parts if p)
        return Report(text, final_only=repeated, notices=tuple(notices))

    def refuse_sub_call(self, notes: Repairs, prompt: str) -> str | None:
        """Why a sub-call is not sent (its cell gets the reason as an error string)."""
        return None

    def sub_call_note(self, notes: Repairs, prompt: str) -> str:
        """Text appended to a sub-call's reply."""
        return ""

    def doubt_final(self, notes: Repairs, answer: str) -> str | None:
        """A reason to ask again before a prose FINAL is accepted, or None to accept it."""
        return notes.borrowed(answer)

    def doubt_cell_final(self, notes: Repairs, code: str, answer: str) -> str | None:
        """A reason to ask again before the FINAL a cell called is accepted."""
        return notes.borrowed(answer, code)

    def repair_cell(self, notes: Repairs) -> str | None:
        """Code the loop runs after a doubted final, showing the root its output with the
        doubt (the root's own cell, fixed); None: nothing to run."""
        return None

    def checks_quotes(self, query: str) -> bool:
        """Whether the quotes an answer cites that are not in the context are sent back
        once, then warned (True), or dropped with a notice (False)."""
        return True

    def final_warnings(self, notes: Repairs, answer: str, code: str | None) -> list[AnswerWarning]:
        """What the user should know about an accepted answer (a likely guess ...);
        ``code`` is the cell that gave it (None for a prose FINAL)."""
        borrowed = notes.borrowed_values(answer, code)
        return [borrowed_value(", ".join(borrowed))] if borrowed else []


# "Which city has the most employees?", "Who wrote about X most often?": the answer is the
# most common value of a field (a 1.5B root given the filtering dialogue for a "who"
# question counted the lines and answered the count)
MOST_COMMON = re.compile(r"\b(which|what|who)\b.*\b(most|fewest|least)\b", re.IGNORECASE)


# "How many lines should be classified as label X?": a judgement per line
LABEL_QUESTION = re.compile(r"\b(classif\w*|label(?:l?ed)?)\b", re.IGNORECASE)


# the worked dialogues by layout (core/turns.py task_layout): for "which ... the most",
# and for the other questions
Dialogue = list[tuple[str, str]]
LAYOUT_DIALOGUES: dict[str, tuple[Dialogue, Dialogue]] = {
    "records": (prompts.RECORDS_GROUP_EXAMPLES, prompts.RECORDS_EXAMPLES),
    "structured": (prompts.RECORDS_GROUP_EXAMPLES, prompts.RECORDS_EXAMPLES),
    "lines": (prompts.LINES_GROUP_EXAMPLES, prompts.LINES_EXAMPLES),
    "files": (prompts.FILES_EXAMPLES, prompts.FILES_EXAMPLES),
    "record files": (prompts.JOIN_EXAMPLES, prompts.JOIN_EXAMPLES),
}
SEARCHED_LAYOUTS = ("lines", "files", "record files")  # a lookup in them is a plain search
# a total over lines in words: their numbers read with numbers_in (records hold typed
# fields, and the records dialogue already adds one up)
SUM_DIALOGUES: dict[str, Dialogue] = {"lines": prompts.LINES_SUM_EXAMPLES}


def _closest_dialogue(task: Task) -> Dialogue:
    """The worked dialogue for this kind of question and context, shown last (the closest
    example last: it is the one a small model follows); none for a plain search. Records
    a line hold their fields (a label among them is counted in code); other records and
    lines of text do not, so a question about labels gets the labelling dialogue first.
    Of the records dialogues, counting per value is for "which ... the most" (the small
    model otherwise asks each record for a field named after the count); of the lines
    ones, adding up their numbers is for a total."""
    group, other = LAYOUT_DIALOGUES.get(task.layout or "", ([], []))
    if task.layout != "records" and task.sub_calls and LABEL_QUESTION.search(task.query):
        return prompts.LABEL_EXAMPLES
    if task.layout in SEARCHED_LAYOUTS and not computed_question(task.query):
        return []
    if MOST_COMMON.search(task.query):
        return group
    summed = SUM_DIALOGUES.get(task.layout or "")
    return summed if summed and SUM_QUESTION.search(task.query) else other


class CompactPolicy(Policy):
    """Few-shot prompting, a reply grammar and the small-model repairs."""

    name = "compact"
    max_output_chars = 4_000
    profiles_data = True  # a small model otherwise spends turns finding out what it has
    # its worked replies are under 200 tokens; a 1.5B root stuck repeating itself wrote
    # 1,024-token cells at ~10 tokens a second
    root_max_tokens = 600

    def opening(self, task: Task) -> list[Message]:
        if task.environment == "video":
            system, examples = prompts.VIDEO_COMPACT_SYSTEM, prompts.VIDEO_EXAMPLES
        else:
            system = prompts.with_window(prompts.COMPACT_SYSTEM, task.sub_window)
            examples = prompts.COMPACT_EXAMPLES if task.sub_calls else prompts.COMPACT_EXAMPLES[:6]
            examples = [*examples, *_closest_dialogue(task)]
        profiled = prompts.profiled(task.profile) if task.profile else ""
        task_text = f"{task.described()}{profiled}\n\nThe query is: {task.asked}"
        return [
            {"role": "system", "content": system + _sub_call_notice(task)},
            *({"role": role, "content": text} for role, text in examples),
            {"role": "user", "content": task_text},
        ]

    def grammar(self, lm: LM, final_only: bool, answer_rules: str | None = None) -> str | None:
        if not lm.supports_grammar:
            return None
        if answer_rules is not None:
            return prompts.typed_grammar(answer_rules, final_only)
        return prompts.FINAL_GRAMMAR if final_only else prompts.REPLY_GRAMMAR

    def cell_report(self, code: str, output: str) -> str:
        return f"REPL output:\n{_shown(output)}"

    def next_turn(self, query: str) -> str:
        return ""  # small windows: keep turns short

    def refuse_sub_call(self, notes: Repairs, prompt: str) -> str | None:
        return notes.refusal(prompt)

    def sub_call_note(self, notes: Repairs, prompt: str) -> str:
        return notes.reply_note(prompt)

    def doubt_final(self, notes: Repairs, answer: str) -> str | None:
        return (
            super().doubt_final(notes, answer)
            or notes.unseen_answer(answer)
            or notes.doubted_result(answer)
            or notes.several_numbers(answer)
            or notes.missed_condition()
            or notes.tied_ranking(answer)
            or notes.unasked_condition()
            or notes.uncounted_items()
            or notes.partial_class()
            or notes.foreign_value(answer)
            or notes.number_for_a_name(answer)
        )

    def doubt_cell_final(self, notes: Repairs, code: str, answer: str) -> str | None:
        return (
            super().doubt_cell_final(notes, code, answer)
            or notes.doubted_result(answer, code)
            or notes.several_numbers(answer)
            or notes.missed_condition(code)
            or notes.tied_ranking(answer)
            or notes.unasked_condition(code)
            or notes.uncounted_items(code)
            or notes.partial_class(code)
            or notes.foreign_value(answer)
        )

    def repair_cell(self, notes: Repairs) -> str | None:
        return notes.take_repair()

    def checks_quotes(self, query: str) -> bool:
        # a computed answer's evidence is its code's output, and a 1.5B root cites a
        # sentence of its own for it ("The genre borrowed most often is crime."): sent
        # back, it spent its turns writing that sentence as code, and its right answer
        # then stood warned quotes_not_found
        return not computed_question(query)

    def final_warnings(self, notes: Repairs, answer: str, code: str | None) -> list[AnswerWarning]:
        warnings = super().final_warnings(notes, answer, code)
        unseen = notes.unseen_numbers(answer) if notes.pushed_back and code is None else []
        warnings = warnings or ([unseen_number(", ".join(unseen))] if unseen else [])
        return warnings + [AnswerWarning(kind, why) for kind, why in notes.unresolved(answer, code)]


POLICIES: dict[str, type[Policy]] = {"paper": Policy, "compact": CompactPolicy}


def check_policy(policy: str | Policy) -> None:
    """ValueError for a policy name that does not exist."""
    if isinstance(policy, str) and policy != "auto" and policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}; choose auto or one of {', '.join(POLICIES)}")


def choose_policy(policy: str | Policy, lm: LM) -> Policy:
    """The policy of a run whose root is ``lm``: the one given, or for ``auto`` the compact
    one when the LM declares ``prefers_compact``."""
    if isinstance(policy, Policy):
        return policy
    check_policy(policy)
    if policy == "auto":
        policy = "compact" if lm.prefers_compact else "paper"
    return POLICIES[policy]()


def _shown(output: str) -> str:
    return output if output.strip() else "(no output)"


def _sub_call_notice(task: Task) -> str:
    return "" if task.sub_calls else prompts.NO_SUB_CALLS
