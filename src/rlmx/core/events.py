"""Typed run events and the sinks that receive them (JSONL file, callback, async queue).

Every event carries the run id, the parent run id (for child RLMs), the depth, the root
iteration it belongs to and a timestamp. The trajectory file is JSON Lines, one event a
line, each with ``schema_version``; the context appears once, by length and sha256.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Annotated, Any, Literal, Protocol

from pydantic import BaseModel, Field, TypeAdapter, ValidationInfo, field_validator

from .answer_warnings import AnswerWarning

log = logging.getLogger("rlmx.core.events")

# 2: a root call's ``prompt`` (what the model was sent, as a change of the run's last prompt)
SCHEMA_VERSION = 2
PREVIEW_CHARS = 10_000  # longest text kept in one event field (head and tail)


WHOLE_FIELDS = frozenset({"answer"})  # kept whole: an answer is what the run is for


def preview(text: str, limit: int = PREVIEW_CHARS) -> str:
    """Keep the head and tail of long text so an event never carries a whole document;
    at most ``limit`` characters, so a preview of a preview is itself."""
    if len(text) <= limit:
        return text
    half = (limit - 64) // 2
    return f"{text[:half]}\n... [{len(text) - 2 * half} characters omitted] ...\n{text[-half:]}"


def preview_value(value: Any, limit: int = PREVIEW_CHARS) -> Any:
    """A JSON value as it is when its JSON text is short, else ``{"preview": ...}`` of it
    (a tool's arguments come from model code and may be megabytes)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return value if len(text) <= limit else {"preview": preview(text, limit)}


class _Event(BaseModel):
    schema_version: int = SCHEMA_VERSION
    run_id: str
    parent_run_id: str | None = None
    depth: int = 0
    iteration: int = 0
    ts: float = Field(default_factory=time.time)

    @field_validator("*", mode="after")
    @classmethod
    def _previewed(cls, value: Any, info: ValidationInfo) -> Any:
        """Every text field but an answer is previewed, whoever built the event: events
        are stored and streamed, and their texts come from model code and documents."""
        if isinstance(value, str) and info.field_name not in WHOLE_FIELDS:
            return preview(value)
        return value


class RunStarted(_Event):
    type: Literal["run_started"] = "run_started"
    query: str
    context: dict[str, Any]
    root_model: str
    sub_model: str
    max_depth: int
    max_iterations: int
    sandbox: str
    parent_cell: int | None = None  # the parent's cell whose rlm_query started this run
    policy: str = ""  # the prompt style it ran with (a replay needs it; older files lack it)


class CellStarted(_Event):
    type: Literal["cell_started"] = "cell_started"
    cell: int
    code: str


class PromptDelta(BaseModel):
    """The messages a root call sent, as a change of the same run's previous call: its
    first ``keep`` messages, then ``add`` (usually the last reply and the output it got;
    a trimmed or compacted history keeps fewer). The first call of a run keeps none.
    ``apply`` rebuilds the whole list (training data, ``rlmx export``)."""

    keep: int = Field(ge=0)
    add: list[dict[str, Any]]

    @classmethod
    def between(cls, before: list[dict[str, Any]], now: list[dict[str, Any]]) -> PromptDelta:
        keep = 0
        for old, new in zip(before, now, strict=False):
            if old != new:
                break
            keep += 1
        return cls(keep=keep, add=[dict(m) for m in now[keep:]])

    def apply(self, before: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if self.keep > len(before):
            raise ValueError(f"a prompt keeps {self.keep} messages of {len(before)} sent before")
        return before[: self.keep] + self.add


class LLMCall(_Event):
    type: Literal["llm_call"] = "llm_call"
    model: str
    response: str
    usage: dict[str, Any]
    seconds: float
    prompt_chars: int
    cached: bool = False  # answered by the call cache (``--cache``), not the model
    prompt: PromptDelta | None = None  # a root call's messages (schema 2; None before)


class CodeExecuted(_Event):
    type: Literal["code_executed"] = "code_executed"
    cell: int
    code: str
    output: str
    error: bool
    seconds: float
    timed_out: bool = False
    worker_restarted: bool = False


class SubCall(_Event):
    type: Literal["sub_call"] = "sub_call"
    call_id: str
    model: str
    prompt: str
    prompt_chars: int
    response: str
    error: str | None = None
    usage: dict[str, Any]
    seconds: float  # from the call in the cell to its reply (queue wait included)
    queued_seconds: float = 0.0  # of those, waiting for a slot of the tree's concurrency
    batch_index: int | None = None
    cell: int | None = None  # the cell that made the call
    cached: bool = False  # answered by the call cache (``--cache``), not the model
    images: list[str] = Field(default_factory=list)  # the image paths the cell named


class ToolCall(_Event):
    """A call of an environment tool (e.g. video OCR) made by a cell."""

    type: Literal["tool_call"] = "tool_call"
    name: str
    arguments: dict[str, Any]  # previewed as a whole when long (preview_value)
    result: str
    error: str | None = None
    seconds: float
    span: list[float] | None = None  # the [t0, t1] seconds of a video the call looked at
    cell: int | None = None


class ChildRun(_Event):
    type: Literal["child_run"] = "child_run"
    child_run_id: str
    prompt: str
    answer: str | None
    status: str
    usage: dict[str, Any]
    seconds: float
    cell: int | None = None
    recheck: bool = False  # rlmx's second attempt at the run's answer, not an rlm_query


class FinalAnswer(_Event):
    type: Literal["final_answer"] = "final_answer"
    answer: str
    via: str
    citations: list[dict[str, Any]] = Field(default_factory=list)  # see citations.py


class SubBatch(_Event):
    """A cell sent a batch of sub-calls (``llm_query_batched``): how many, and how many the
    run tree lets run at once; each one's ``sub_call`` follows when it is done."""

    type: Literal["sub_batch"] = "sub_batch"
    size: int
    concurrency: int
    cell: int | None = None


class Notice(_Event):
    """A message rlmx itself sent the root model (a correction, a push-back, the last-turn
    notice, a repeated-cell or repeated-error note, trimmed history), so a reader of the
    trajectory knows why the run went on."""

    type: Literal["notice"] = "notice"
    kind: str
    text: str


class ErrorEvent(_Event):
    type: Literal["error"] = "error"
    message: str


class RunFinished(_Event):
    type: Literal["run_finished"] = "run_finished"
    status: str
    answer: str | None
    iterations: int
    usage: dict[str, Any]
    cost_usd: float | None
    seconds: float
    error: str | None = None
    warnings: list[dict[str, str]] = Field(default_factory=list)  # {"code", "message"}
    citations: list[dict[str, Any]] = Field(default_factory=list)  # of the root's answer

    @field_validator("warnings", mode="before")
    @classmethod
    def _coded(cls, value: Any) -> Any:
        """Trajectories written before warnings had codes hold plain sentences."""
        if isinstance(value, list):
            return [AnswerWarning.of(item).to_dict() for item in value]
        return value


Event = Annotated[
    RunStarted
    | LLMCall
    | CellStarted
    | CodeExecuted
    | SubCall
    | ToolCall
    | ChildRun
    | FinalAnswer
    | SubBatch
    | Notice
    | ErrorEvent
    | RunFinished,
    Field(discriminator="type"),
]
_EVENT_ADAPTER: TypeAdapter[Any] = TypeAdapter(Event)


def trajectory_schema() -> dict[str, Any]:
    """The JSON Schema of one trajectory line (``docs/trajectory.schema.json`` is this,
    written out; a test keeps the two equal)."""
    schema = _EVENT_ADAPTER.json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": f"rlmx trajectory event (schema_version {SCHEMA_VERSION})",
        "description": "One line of an rlmx JSONL trajectory: a typed run event.",
        **schema,
    }


def parse_event(data: str | dict[str, Any]) -> Any:
    """Read one event back from a JSONL line or dict."""
    if isinstance(data, str):
        data = json.loads(data)
    return _EVENT_ADAPTER.validate_python(data)


def read_trajectory(path: str | Path) -> list[Any]:
    """All events of a trajectory file, in order (``rlms_log.read_events`` also takes the
    official ``rlms`` logs)."""
    with open(path, encoding="utf-8") as f:
        return [parse_event(line) for line in f if line.strip()]


class Sink(Protocol):
    """Receives every event of a run tree."""

    async def emit(self, event: Any) -> None: ...

    async def close(self) -> None: ...


class JSONLSink:
    """Appends events to a JSON Lines file, flushing each line so a crash loses nothing."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file: IO[str] | None = open(self.path, "a", encoding="utf-8")  # noqa: SIM115

    async def emit(self, event: Any) -> None:
        if self._file is not None:
            self._file.write(event.model_dump_json() + "\n")
            self._file.flush()

    async def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class CallbackSink:
    """Calls a function (plain or async) with each event."""

    def __init__(self, callback: Callable[[Any], Any]) -> None:
        self.callback = callback

    async def emit(self, event: Any) -> None:
        outcome = self.callback(event)
        if inspect.isawaitable(outcome):
            await outcome

    async def close(self) -> None:
        return None


class QueueSink:
    """Puts each event on an asyncio queue (for SSE); ``None`` marks the end."""

    def __init__(self, queue: asyncio.Queue[Any] | None = None) -> None:
        self.queue: asyncio.Queue[Any] = queue or asyncio.Queue()

    async def emit(self, event: Any) -> None:
        await self.queue.put(event)

    async def close(self) -> None:
        await self.queue.put(None)


class Emitter:
    """Fans events out to sinks; a failing sink is dropped and logged once, not fatal."""

    def __init__(self, sinks: list[Any] | None = None) -> None:
        self.sinks: list[Any] = list(sinks or [])

    async def emit(self, event: Any) -> None:
        for sink in list(self.sinks):
            try:
                await sink.emit(event)
            except Exception as exc:
                self.sinks.remove(sink)
                log.warning("event sink %s failed and was dropped: %s", type(sink).__name__, exc)

    async def close(self) -> None:
        for sink in self.sinks:
            await sink.close()
