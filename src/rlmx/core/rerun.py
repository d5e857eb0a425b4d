"""Exact replay of a recorded run (``rlmx replay``): the run is executed again in a fresh
sandbox, with every LM reply taken from its trajectory instead of a model, and each cell's
output is compared with the recorded one. The first cell whose output differs is reported
(a changed helper, library, tool or context shows up there); none means the run is
reproduced.

What is replayed: the root's turns in order; each child run's turns (a child is known by
the question its ``rlm_query`` asked); plain sub-calls by their prompt, in recorded order
(a recorded failure fails again). Tools are called for real, so give the run the same
``--tool`` / ``--mcp``. One completion per trajectory; a session's later questions and
video runs (their vision calls are not recorded) are not replayed.
"""

from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..lm.base import CHARS_PER_TOKEN, LMBase, LMError, LMResponse, Message, Usage
from ..repl.context import ContextError
from .events import read_trajectory
from .rlm import RLM


@dataclass
class _RecordedRun:
    depth: int
    query: str
    replies: list[str] = field(default_factory=list)
    cells: list[tuple[str, str]] = field(default_factory=list)  # (code, output)


@dataclass
class Record:
    """What a trajectory holds that a replay needs."""

    started: Any  # the root's run_started event
    runs: dict[str, _RecordedRun]  # by run id, in the order they started
    subs: dict[str, deque[tuple[str, str | None]]]  # prompt -> (reply, error), in order
    answer: str | None
    status: str
    cells: list[tuple[str, int]] = field(default_factory=list)  # (run id, index) as they ran

    @classmethod
    def read(cls, path: Path) -> Record:
        events = read_trajectory(path)
        starts = [e for e in events if e.type == "run_started"]
        if not starts or starts[0].depth != 0:
            raise ValueError(f"{path} holds no run (no run_started event of a root)")
        runs = {e.run_id: _RecordedRun(e.depth, e.query) for e in starts}
        subs: dict[str, deque[tuple[str, str | None]]] = defaultdict(deque)
        root_id, answer, status = starts[0].run_id, None, "unfinished"
        cells: list[tuple[str, int]] = []
        for event in events:
            run = runs.get(event.run_id)
            if run is None:
                continue
            if event.type == "llm_call":
                run.replies.append(event.response)
            elif event.type == "code_executed":
                cells.append((event.run_id, len(run.cells)))
                run.cells.append((event.code, event.output))
            elif event.type == "sub_call":
                subs[event.prompt].append((event.response, event.error))
            elif event.type == "run_finished" and event.run_id == root_id:
                answer, status = event.answer, event.status
        return cls(starts[0], runs, subs, answer, status, cells)


class RecordedLM(LMBase):
    """Answers from a record: ``root`` serves the root's turns in order; the other serves
    child runs' turns (a conversation with a system prompt, matched by its question and
    turn) and plain sub-calls (matched by prompt)."""

    def __init__(self, record: Record, role: str, prefers_compact: bool) -> None:
        self.name = f"recorded:{role}"
        self.record = record
        self.prefers_compact = prefers_compact
        self.supports_grammar = False
        self._root = deque(next(iter(record.runs.values())).replies)
        self._role = role

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> LMResponse:
        if self._role == "root":
            text = self._next(self._root, "the root")
        elif messages and messages[0]["role"] == "system":
            text = self._child_reply(messages)
        else:
            text = self._sub_reply(messages[-1]["content"])
        tokens = sum(len(m["content"]) for m in messages) // CHARS_PER_TOKEN
        usage = Usage(tokens, len(text) // CHARS_PER_TOKEN, 1, 0.0)
        return LMResponse(text, usage, self.name, "stop")

    @staticmethod
    def _next(replies: deque[str], whose: str) -> str:
        if not replies:
            raise LMError(f"the recording has no more replies for {whose}")
        return replies.popleft()

    def _child_reply(self, messages: list[Message]) -> str:
        """The turn of the child run whose question the conversation asks."""
        asked = "\n".join(m["content"] for m in messages if m["role"] == "user")
        turn = sum(1 for m in messages if m["role"] == "assistant")
        for run in list(self.record.runs.values())[1:]:
            if run.query in asked and turn < len(run.replies):
                return run.replies[turn]
        raise LMError("the recording has no child run that asked this question")

    def _sub_reply(self, prompt: str) -> str:
        """The next recorded reply to this prompt (with choices the choices came first:
        the longest recorded prompt it ends with)."""
        subs = self.record.subs
        key = prompt if subs.get(prompt) else max(
            (p for p in subs if subs[p] and prompt.endswith(p)), key=len, default=None
        )  # fmt: skip
        if key is None:
            raise LMError(f"the recording has no sub-call with the prompt {prompt[:80]!r}")
        reply, error = subs[key].popleft()
        if error is not None and not reply:
            raise LMError(error)
        return reply


@dataclass
class Divergence:
    """The first cell whose replayed output differs from the recorded one."""

    depth: int
    query: str
    cell: int
    code: str
    recorded: str
    replayed: str | None  # None: the replay ran no such cell


@dataclass
class ReplayReport:
    """How a replay went: cells compared, the first divergence, both answers."""

    cells: int
    divergence: Divergence | None
    recorded_answer: str | None
    replayed_answer: str | None
    recorded_status: str
    replayed_status: str
    context_matches: bool


async def replay_run(trajectory: Path, context: Any = None, **settings: Any) -> ReplayReport:
    """Re-execute the run of ``trajectory`` (on ``context``, else the recorded source
    path) with ``settings`` for the sandbox and tools; ValueError or ContextError when it
    cannot be replayed."""
    record = Record.read(trajectory)
    started = record.started
    if context is None:
        source = (started.context or {}).get("source")
        if not source or not Path(source).exists():
            raise ContextError("the recorded context was not a file or folder that exists here; "
                               "give it with --context")  # fmt: skip
        context = Path(source)
    compact = started.policy == "compact" if started.policy else False
    rlm = RLM(
        RecordedLM(record, "root", compact),
        RecordedLM(record, "sub", compact),
        max_depth=started.max_depth,
        max_iterations=started.max_iterations,
        policy=started.policy or "auto",
        **settings,
    )
    events: list[Any] = []
    result = await rlm.acompletion(context, started.query, sinks=[_ListSink(events)])
    replayed = _runs_of(events)
    sha = next(e.context for e in events if e.type == "run_started").get("sha256")
    divergence, compared = _first_divergence(record, replayed)
    return ReplayReport(
        cells=compared,
        divergence=divergence,
        recorded_answer=record.answer,
        replayed_answer=result.answer,
        recorded_status=record.status,
        replayed_status=result.status,
        context_matches=sha == (started.context or {}).get("sha256"),
    )


class _ListSink:
    def __init__(self, events: list[Any]) -> None:
        self.events = events

    async def emit(self, event: Any) -> None:
        self.events.append(event)

    async def close(self) -> None:
        return None


def _runs_of(events: list[Any]) -> list[_RecordedRun]:
    runs = {e.run_id: _RecordedRun(e.depth, e.query) for e in events if e.type == "run_started"}
    for event in events:
        if event.type == "code_executed" and event.run_id in runs:
            runs[event.run_id].cells.append((event.code, event.output))
    return list(runs.values())


def _first_divergence(
    record: Record, replayed: list[_RecordedRun]
) -> tuple[Divergence | None, int]:
    """Cells compared in the order they first ran; a recorded run is paired with the first
    replayed one of the same depth and question not paired yet."""
    pool, twins = list(replayed), {}
    for run_id, recorded in record.runs.items():
        twin = next((r for r in pool if (r.depth, r.query) == (recorded.depth, recorded.query)),
                    None)  # fmt: skip
        if twin is not None:
            pool.remove(twin)
        twins[run_id] = twin.cells if twin is not None else []
    for compared, (run_id, index) in enumerate(record.cells):
        recorded = record.runs[run_id]
        code, output = recorded.cells[index]
        again = twins[run_id][index][1] if index < len(twins[run_id]) else None
        if again != output:
            found = Divergence(recorded.depth, recorded.query, index + 1, code, output, again)
            return found, compared
    return None, len(record.cells)
