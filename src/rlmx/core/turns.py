"""The root turns of one run: the model replies, its cells run, the policy reports back.

Rules of the loop: a final answer is taken only from a cell that ran or from a prose FINAL
in a reply with no code, never before the first cell ran; a reply with neither gets a
corrective turn; at the iteration or budget limit the root gets one last turn (children
past the budget get none). Everything a prompt style decides comes from the run's policy.
The quotes a final answer cites are looked up in the workspace's contexts (``citations.py``).
"""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, replace
from typing import Any

from ..citations import Citation, locate
from ..lm.base import LM, LMError, Message, prompt_tokens
from ..repl import frames
from ..repl.data_profile import FILE_RECORDS, FOLDER_PROFILE, HOLDS_RECORDS, TEXT_PROFILE
from ..repl.sandbox import CellResult
from . import compaction, prompts
from .answer_warnings import (
    NO_FINAL,
    STATUS_WARNINGS,
    AnswerWarning,
    Cell,
    evidence_warnings,
    quotes_not_found,
    schema_mismatch,
)
from .budget import BudgetExhausted
from .events import CellStarted, CodeExecuted, FinalAnswer, LLMCall, Notice, PromptDelta
from .policy import CellOutcome, Task
from .protocol import ProseFinal, parse_reply
from .result import Status
from .run_view import RunView
from .workspace import Workspace

SCHEMA_CHECK_SECONDS = 10.0  # to check a final answer against its schema


# a bare number as binary floating point printed it: 7510.770000000001, 2.9999999999999996
FLOAT_NOISE = re.compile(r"-?\d+\.(\d*?)(?:0{4,}|9{4,})\d{0,3}")
NOISE_DIGITS = 15  # a double's repr has 15-17 significant digits; fewer are on purpose
NOISE_CHARS = 40  # a float's repr is shorter; a longer answer is not matched (the regex backtracks)


def without_float_noise(answer: str) -> str:
    """A bare number as it was meant, not as binary floating point printed it: a 1.5B
    root's sum of prices came out as 7510.770000000001, which an exact scorer (and a
    reader) takes for another number."""
    text = answer.strip()
    if len(text) > NOISE_CHARS:
        return answer
    match = FLOAT_NOISE.fullmatch(text)
    if match is None or len(re.sub(r"\D", "", text).lstrip("0")) < NOISE_DIGITS:
        return answer  # by significant digits: 42946405.520000055 has only 9 decimals
    places = len(match.group(1))
    return f"{round(float(text), places):.{places}f}"


def task_layout(host: str | None, profile: str | None) -> str | None:
    """The layout the policy chooses its worked dialogue by: the host's look at the first
    bytes (``"records"``: one a line or block), corrected by rlmx's profile where there is
    one, since it is what ``parse_records`` reads in the REPL: ``"structured"`` for records
    the first bytes did not show (XML, YAML, JSON, sections under headings), ``"lines"`` for
    a text that holds no records (a log in words: the host took its times for fields);
    a folder is ``"record files"`` when files of it hold records, else ``"files"``."""
    if profile is None:
        return host
    lines = profile.splitlines()  # the profile's own lines: the data's are indented
    if profile.startswith(FOLDER_PROFILE):
        tables = any(line.startswith("'") and FILE_RECORDS in line for line in lines)
        return "record files" if tables else "files"
    if any(line.startswith(HOLDS_RECORDS) for line in lines):
        return host if host == "records" else "structured"
    return "lines" if profile.startswith(TEXT_PROFILE) else None


@dataclass(frozen=True)
class _Final:
    answer: str
    via: str
    cite: tuple[str, ...] = ()  # quotes of the context the answer rests on
    code: str | None = None  # the cell that gave it (None: a FINAL line in prose)

    @classmethod
    def of_cell(cls, result: CellResult, code: str) -> _Final | None:
        """The final answer a cell gave (its frame was checked by ``frames.py``)."""
        final = result.final
        if not final:
            return None
        return cls(final["answer"], final["via"], tuple(final.get("cite", ())), code)


PROFILE_CODE = "print(profile(context, into=globals(), asked={!r}))"  # binds `rows`
ASKED_CHARS = 2_000  # of the question, given to the profile (its words pick a join's field)
PROFILE_SECONDS, PROFILE_CHARS = 30.0, 3_000
HISTORY_TRIMMED = "[Earlier turns were removed to fit the model's context window.]"


def fit_history(lm: LM, messages: list[Message], head: int, reply_tokens: int) -> bool:
    """Drop the oldest exchanges after the first ``head`` messages (system prompt,
    examples, task) until the history fits the root's window with room for its reply.
    Small local windows fill up after a few long outputs; the last turn always stays.
    True when the model is told for the first time that turns were removed."""
    if lm.context_window is None:
        return False
    budget = lm.context_window - reply_tokens
    trimmed = False
    while prompt_tokens(lm, messages) > budget and len(messages) > head + 2:
        del messages[head : head + 2]  # one reply of the model and the output it got
        trimmed = True
    if trimmed and HISTORY_TRIMMED not in messages[head - 1]["content"]:
        messages[head - 1] = {
            **messages[head - 1],
            "content": f"{messages[head - 1]['content']}\n\n{HISTORY_TRIMMED}",
        }
        return True
    return False


class _ContextLookup:
    """Whether the contexts hold a text (case-folded), their texts read once, on the first
    question; a context past MAX_LOOKUP_CHARS is not read, and holds everything."""

    MAX_LOOKUP_CHARS = 256 * 2**20

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self.text: str | None = None

    def __call__(self, part: str) -> bool:
        if self.text is None:
            sources = self.workspace.sources()
            size = sum(len(source.text) for source in sources)
            if size > self.MAX_LOOKUP_CHARS:
                return True
            keys = "\n".join(source.key or "" for source in sources)
            self.text = (keys + "\n" + "\n".join(s.text for s in sources)).casefold()
        return part.casefold() in self.text


class Turns:
    """The conversation of one run with its root model, over its sandbox."""

    def __init__(self, run: RunView, workspace: Workspace) -> None:
        self.run = run
        self.workspace = workspace
        self.sandbox = workspace.sandbox
        self.opening = 0  # messages before the first reply; never trimmed
        self.task_text = ""  # the task message as first sent (compaction adds to it)
        self.iteration = 0  # root turns taken
        self.current_cell: int | None = None  # the cell running now
        self.cells_run = 0
        self.final_only = False  # the last turn repeated an earlier one: ask for FINAL
        self.warnings: list[AnswerWarning] = []  # why the answer may be unreliable
        self.cells: list[Cell] = []  # what ran, for the evidence checks of an answer
        self.schema = run.schema  # an AnswerSchema when the answer must be typed
        # built only for a root that takes a grammar: it is work on a client's schema
        self.answer_rules: str | None = None
        if self.schema is not None and run.root_lm.supports_grammar:
            self.answer_rules = self.schema.grammar()
        self.mismatches = 0
        self.value: Any = None  # the validated typed answer
        self.citations: list[Citation] = []  # where the answer's quotes are in the context
        self.quotes_told = False  # the model was told once that quotes were not found
        self.sent: list[Message] = []  # the last prompt sent, for the next call's delta

    async def play(self, context_description: str) -> tuple[str | None, Status]:
        """Root turns until a final answer or a limit; the answer and the run's status."""
        run = self.run
        profile = await self.profile()
        task = Task(
            profile=profile,
            query=run.query,
            context_description=context_description,
            sub_window=run.tree.gateway.lm(run.cfg.sub, "sub").context_window,
            sub_calls=run.cfg.sub_calls,
            environment=run.environment.kind if run.environment is not None else None,
            earlier=run.earlier,
            answer_schema=self.schema.text() if self.schema is not None else None,
            layout=task_layout(self.workspace.layout(), profile),
            attempt=run.attempt,
        )
        messages = run.policy.opening(task)
        self.opening = len(messages)
        self.task_text = messages[-1]["content"]
        run.notes.learn_prompt([m["content"] for m in messages[:-1]], self.task_text)
        while self.iteration < run.cfg.max_iterations:
            reason = run.tree.ledger.exhausted_reason()
            if reason is not None:
                return await self.last_turn(messages, reason, "budget_exhausted")
            self.iteration += 1
            try:
                reply = await self.root_call(messages, final_only=self.final_only)
            except BudgetExhausted as exc:
                return await self.last_turn(messages, str(exc), "budget_exhausted")
            messages.append({"role": "assistant", "content": reply})
            final = await self.act(reply, messages)
            if final is not None:
                final = replace(final, answer=without_float_noise(final.answer))
                final = await self.typed(final, messages)
            if final is not None:
                final = await self.cited(final, messages)
            if final is not None:
                await run.emit(
                    FinalAnswer,
                    answer=final.answer,
                    via=final.via,
                    citations=[c.to_dict() for c in self.citations],
                )
                self.warnings += run.policy.final_warnings(run.notes, final.answer, final.code)
                self.warnings += await self.evidence(final)
                return final.answer, "final"
        reason = f"You have used all {run.cfg.max_iterations} iterations"
        return await self.last_turn(messages, reason, "max_iterations")

    async def act(self, reply: str, messages: list[Message]) -> _Final | None:
        """Carry out one root reply; a final answer ends the run."""
        run = self.run
        parsed = parse_reply(reply)
        self.final_only = False
        if parsed.code_cells:
            ran = []
            for code in parsed.code_cells:
                result = await self.run_cell(code)
                final = _Final.of_cell(result, code)
                if final is not None:
                    doubt = run.policy.doubt_cell_final(run.notes, code, final.answer)
                    if doubt is None:
                        return final
                    shown = run.policy.cell_report(code, result.output)
                    await self.doubted(messages, f"{shown}\n\n{doubt}")
                    return None
                ran.append(CellOutcome(code, result.output, result.error))
            report = run.policy.report(run.notes, run.query, ran)
            self.final_only = report.final_only
            messages.append({"role": "user", "content": report.text})
            for kind, text in report.notices:
                await run.emit(Notice, kind=kind, text=text)
            return None
        if parsed.final is None:
            await self.tell(messages, "no_code", prompts.NO_CODE_CORRECTION)
            return None
        if self.cells_run == 0:
            await self.tell(messages, "premature_final", prompts.PREMATURE_FINAL)
            return None
        prose = parsed.final
        doubt = run.policy.doubt_final(run.notes, prose.value) if prose.via == "FINAL" else None
        if doubt:
            await self.doubted(messages, doubt)
            return None
        return await self.resolve_prose_final(parsed.final, messages)

    async def doubted(self, messages: list[Message], doubt: str) -> None:
        """Say why a final answer is not accepted yet; when the policy has a fixed cell
        for it, run that first and show what it printed."""
        run = self.run
        code = run.policy.repair_cell(run.notes)
        if code is not None:
            result = await self.run_cell(code)
            cell = CellOutcome(code, result.output, result.error)
            report = run.policy.report(run.notes, run.query, [cell])
            doubt = f"{doubt}\n\n{report.text}\n\n{prompts.REPAIRED_CELL}"
        await self.tell(messages, "doubted_final", doubt)

    async def resolve_prose_final(
        self, prose: ProseFinal, messages: list[Message]
    ) -> _Final | None:
        """FINAL(text) is the answer; FINAL_VAR(name) is looked up in the REPL."""
        run = self.run
        if prose.via == "FINAL":
            return _Final(prose.value, "FINAL", prose.cite)
        code = f"FINAL_VAR({prose.value!r})"
        result = await self.run_cell(code)
        if result.final:
            return _Final(result.final["answer"], "FINAL_VAR", prose.cite)
        report = run.policy.cell_report(code, result.output)
        turn = run.policy.next_turn(run.query)
        messages.append({"role": "user", "content": f"{report}\n\n{turn}".strip()})
        return None

    async def typed(self, final: _Final, messages: list[Message]) -> _Final | None:
        """A final answer checked against the run's schema; None after sending the errors
        back (up to ``schema_retries`` times, then the answer stands with a warning)."""
        settled, problem = await self.settle(final)
        if problem is None:
            return settled
        self.mismatches += 1
        if self.mismatches <= self.run.cfg.schema_retries:
            await self.tell(messages, "schema_mismatch", prompts.schema_mismatch(problem))
            return None
        return self.unsettled(final, problem)

    async def settle(self, final: _Final) -> tuple[_Final, str | None]:
        """The final as the validated value's JSON (kept in ``value``), or as it came and
        what is wrong with it; without a schema, as it came. Checked off the event loop and
        within SCHEMA_CHECK_SECONDS: the schema may be a client's."""
        if self.schema is None:
            return final, None
        check = asyncio.to_thread(self.schema.check, final.answer)
        try:
            value, problem = await asyncio.wait_for(check, SCHEMA_CHECK_SECONDS)
        except TimeoutError:
            return final, f"the answer could not be checked within {SCHEMA_CHECK_SECONDS:g} s"
        if problem is not None:
            return final, problem
        self.value = value
        return replace(final, answer=self.schema.dump(value)), None

    def unsettled(self, final: _Final, problem: str) -> _Final:
        self.warnings.append(schema_mismatch(problem))
        return final

    async def last_answer(self, final: _Final) -> str:
        """The last turn's answer: no retry is left, so a mismatch only warns."""
        settled, problem = await self.settle(final)
        await self.cite(final)
        self.warnings += self.run.policy.final_warnings(self.run.notes, final.answer, final.code)
        self.warnings += await self.evidence(final)
        return (settled if problem is None else self.unsettled(final, problem)).answer

    async def evidence(self, final: _Final) -> list[AnswerWarning]:
        """What the run's cells, sub-calls and context say about an accepted answer
        (``answer_warnings.evidence_warnings``; the context is read off the event loop, and
        only when a part of the answer is in no output)."""
        run = self.run
        host = self.workspace.host
        failed = host.failed_sub_calls if host is not None else 0
        lookup = _ContextLookup(self.workspace)
        cited = bool(self.citations) and all(c.found for c in self.citations)
        return await asyncio.to_thread(
            evidence_warnings, run.query, final.answer, self.cells, final.code is None,
            failed, lookup, run.environment is not None, cited,
        )  # fmt: skip

    async def cited(self, final: _Final, messages: list[Message]) -> _Final | None:
        """A final answer whose quotes were looked up; None after telling the model, once
        a run, which quotes are not in the context (then a miss only warns)."""
        missing = await self.cite(final, warn=self.quotes_told)
        if missing and not self.quotes_told:
            self.quotes_told = True
            await self.tell(messages, "unfound_quotes", prompts.unfound_quotes(missing))
            return None
        return final

    async def cite(self, final: _Final, warn: bool = True) -> list[str]:
        """Find the answer's quotes in the contexts (off the event loop: they may be long);
        the quotes not found (none when the policy drops them, saying so in a notice)."""
        self.citations = []
        if final.cite:
            # a prose FINAL's quotes never went through the worker's caps: the same ones here
            quotes = [q[: frames.MAX_QUOTE_CHARS] for q in final.cite[: frames.MAX_QUOTES]]
            sources = await asyncio.to_thread(self.workspace.sources)
            self.citations = await asyncio.to_thread(locate, quotes, sources)
        missing = [c.quote for c in self.citations if not c.found]
        if missing and not self.run.policy.checks_quotes(self.run.query):
            self.citations = [c for c in self.citations if c.found]
            await self.run.emit(Notice, kind="quotes_dropped", text=prompts.dropped_quotes(missing))
            return []
        if missing and warn:
            self.warnings.append(quotes_not_found(len(missing), len(self.citations)))
        return missing

    async def tell(self, messages: list[Message], kind: str, text: str) -> None:
        """Send the model a message of rlmx's own, recorded as a ``notice`` event."""
        messages.append({"role": "user", "content": text})
        await self.run.emit(Notice, kind=kind, text=text)

    async def last_turn(
        self, messages: list[Message], reason: str, status: Status
    ) -> tuple[str | None, Status]:
        """One more root turn to answer; the run keeps the status that ended it."""
        run = self.run
        if run.depth > 0 and status == "budget_exhausted":
            return None, status  # only the root gets a turn past the budget
        self.warnings.append(STATUS_WARNINGS[status])
        await self.tell(messages, "last_turn", prompts.last_turn(reason))
        self.iteration += 1
        reply = await self.root_call(messages, force=True, final_only=True)
        parsed = parse_reply(reply)
        for code in parsed.code_cells:
            final = _Final.of_cell(await self.run_cell(code), code)
            if final is not None:
                return await self.last_answer(final), status
        if parsed.final is not None:
            final = await self.resolve_prose_final(parsed.final, messages)
            if final is not None:
                return await self.last_answer(final), status
        prose = parsed.prose.strip() or None  # no FINAL: the best text we have
        if prose is not None:
            self.warnings.append(NO_FINAL)
        return prose, status

    # -- steps ----------------------------------------------------------------------------------
    async def root_call(
        self, messages: list[Message], force: bool = False, final_only: bool = False
    ) -> str:
        """One root turn; with a grammar, ``final_only`` allows nothing but a FINAL line."""
        run = self.run
        reply_tokens = run.cfg.root_max_tokens or run.policy.root_max_tokens
        if compaction.due(run.root_lm, messages, self.opening, run.cfg.compaction):
            await self.compact(messages)
        if fit_history(run.root_lm, messages, self.opening, reply_tokens or 1024):
            await run.emit(Notice, kind="history_trimmed", text=HISTORY_TRIMMED)
        started = time.perf_counter()
        grammar = run.policy.grammar(run.root_lm, final_only, self.answer_rules)
        response = await run.tree.gateway.call(
            run.root_lm,
            messages,
            max_tokens=reply_tokens,
            grammar=grammar,
            force=force,
        )
        run.usage.count("root", run.root_lm.name, response.usage)
        await run.emit(
            LLMCall,
            model=run.root_lm.name,
            response=response.text,
            usage=response.usage.to_dict(),
            seconds=time.perf_counter() - started,
            prompt_chars=sum(len(m["content"]) for m in messages),
            cached=response.cached,
            prompt=PromptDelta.between(self.sent, messages),
        )
        self.sent = list(messages)
        return response.text

    async def compact(self, messages: list[Message]) -> None:
        """Replace the earlier turns by the sub-model's summary of them and the REPL's
        variables (``compaction.py``); when the sub-model fails, trimming does the rest."""
        run = self.run
        try:
            lm = run.tree.gateway.lm(run.cfg.sub, "sub")
            removed = messages[self.opening : -2]
            request = compaction.summary_request(run.query, removed, lm.context_window)
            response = await run.tree.gateway.call(
                lm, [{"role": "user", "content": request}], max_tokens=compaction.SUMMARY_TOKENS
            )
        except (LMError, BudgetExhausted) as exc:
            await run.emit(Notice, kind="compaction_failed", text=str(exc))
            return
        run.usage.count("sub", lm.name, response.usage)
        shown = await self.sandbox.execute(compaction.SHOW_VARIABLES, PROFILE_SECONDS, 3_000)
        variables = shown.output.strip() if not shown.error else "(not available)"
        kept, gone = compaction.compacted(
            messages, self.opening, self.task_text, response.text, variables
        )
        messages[:] = kept
        await run.emit(Notice, kind="compacted", text=f"{gone} messages summarised:\n"
                       f"{response.text.strip()}\n\nVariables:\n{variables}")  # fmt: skip

    async def profile(self) -> str | None:
        """What ``profile(context)`` prints, run by rlmx before the first turn where the
        policy asks for it (a plain context: an environment describes its own). Its numbers
        do not count as seen: a 1.5B root answered counts with the context's length."""
        run = self.run
        if not run.policy.profiles_data or run.environment is not None:
            return None
        seconds = min(run.cfg.limits.cell_seconds, PROFILE_SECONDS)
        code = PROFILE_CODE.format(run.query[:ASKED_CHARS])
        result = await self.sandbox.execute(code, seconds, PROFILE_CHARS)
        if result.error or not result.output.strip():
            return None
        await run.emit(Notice, kind="profile", text=result.output)
        return result.output.strip()

    async def run_cell(self, code: str) -> CellResult:
        run = self.run
        self.current_cell = self.cells_run + 1
        await run.emit(CellStarted, cell=self.current_cell, code=code)
        try:
            output_cap = run.cfg.max_output_chars or run.policy.max_output_chars
            result = await self.sandbox.execute(code, run.cfg.limits.cell_seconds, output_cap)
        finally:
            self.current_cell = None
        self.cells_run += 1
        self.cells.append(Cell(code, result.output, result.error))
        await run.emit(
            CodeExecuted,
            cell=self.cells_run,
            code=code,
            output=result.output,
            error=result.error,
            seconds=result.seconds,
            timed_out=result.timed_out,
            worker_restarted=result.worker_restarted,
        )
        return result
