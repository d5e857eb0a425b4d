"""Recorded runs as training material: where they come from (trajectory files and folders,
eval result files, the server's store, ``rlms`` logs) and the turns inside them.

A *turn* is one call of a run's root model: the exact messages it was sent (rebuilt from
the ``prompt`` deltas of schema-2 trajectories), the reply it gave, and what happened next
(the cells it ran, whether rlmx had to correct it). Older trajectories carry no prompts:
their turns cannot become training samples, and the export report says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.events import parse_event, read_trajectory
from ..rlms_log import is_rlms_log

# notices that answer a reply rlmx had to correct: that reply is no example to learn from
CORRECTIONS = frozenset(
    {"no_code", "premature_final", "doubted_final", "schema_mismatch", "unfound_quotes"}
)


@dataclass
class RecordedRun:
    """One run tree (a root run and its children) with what is known of its outcome."""

    source: str  # the file, or ``store:<run id>``
    events: list[Any]
    score: float | None = None  # from an eval row, when the run came from one
    task: str | None = None

    @property
    def root(self) -> Any:
        return next(e for e in self.events if e.type == "run_started" and e.depth == 0)

    @property
    def finished(self) -> Any | None:
        root_id = self.root.run_id
        return next(
            (e for e in self.events if e.type == "run_finished" and e.run_id == root_id), None
        )

    @property
    def status(self) -> str:
        finished = self.finished
        return finished.status if finished is not None else "unfinished"

    @property
    def answer(self) -> str | None:
        finished = self.finished
        return finished.answer if finished is not None else None


@dataclass
class Turn:
    """One root-model call of a run (the root's own, or a child RLM's)."""

    run_id: str
    depth: int
    index: int  # 1-based within its run
    messages: list[dict[str, Any]] | None  # what the model was sent; None: not recorded
    reply: str
    corrected: str | None = None  # the kind of correction rlmx sent after it
    cells: list[Any] = field(default_factory=list)  # code_executed events it led to
    final: str | None = None  # the answer it gave, when it ended the run


def turns(events: list[Any]) -> list[Turn]:
    """Every root-model call in the events, in order, each with its rebuilt prompt."""
    sent: dict[str, list[dict[str, Any]] | None] = {}
    count: dict[str, int] = {}
    last: dict[str, Turn] = {}
    found: list[Turn] = []
    for event in events:
        if event.type == "llm_call":
            before = sent.get(event.run_id, [])
            messages = None
            if event.prompt is not None and before is not None:
                messages = event.prompt.apply(before)
            sent[event.run_id] = messages
            count[event.run_id] = count.get(event.run_id, 0) + 1
            turn = Turn(event.run_id, event.depth, count[event.run_id], messages, event.response)
            last[event.run_id] = turn
            found.append(turn)
            continue
        current = last.get(event.run_id)
        if current is None:
            continue
        if event.type == "notice" and event.kind in CORRECTIONS and current.corrected is None:
            current.corrected = event.kind
        elif event.type == "code_executed":
            current.cells.append(event)
        elif event.type == "final_answer":
            current.final = event.answer
    return found


# -- sources ----------------------------------------------------------------------------------
def _trees(events: list[Any], source: str) -> Iterator[RecordedRun]:
    """A file may hold several run trees (a session's questions, a batch): one each."""
    current: list[Any] = []
    for event in events:
        if event.type == "run_started" and event.depth == 0 and current:
            yield RecordedRun(source, current)
            current = []
        current.append(event)
    if any(e.type == "run_started" and e.depth == 0 for e in current):
        yield RecordedRun(source, current)


def _eval_rows(path: Path) -> list[dict[str, Any]] | None:
    """The rows of an eval result file, or None when the file is not one."""
    with open(path, encoding="utf-8") as f:
        first = f.readline()
    try:
        row = json.loads(first)
    except json.JSONDecodeError:
        return None
    if not isinstance(row, dict) or "trajectory" not in row or "score" not in row:
        return None
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def from_eval_rows(path: Path, rows: list[dict[str, Any]]) -> Iterator[RecordedRun]:
    """The runs an eval result file names, each with its row's score and task."""
    for row in rows:
        trajectory = row.get("trajectory")
        if not trajectory:
            continue
        found = Path(trajectory)
        found = found if found.is_absolute() else (path.parent / found)
        if not found.exists():
            found = Path(trajectory)
        for run in _trees(read_trajectory(found), str(found)):
            run.score, run.task = row.get("score"), row.get("task")
            yield run


def from_paths(paths: list[Path]) -> Iterator[RecordedRun]:
    """The runs in trajectory files, ``rlms`` logs, eval result files and folders of them."""
    for path in paths:
        if path.is_dir():
            yield from from_paths(sorted(p for p in path.rglob("*.jsonl") if p.is_file()))
            continue
        rows = None if is_rlms_log(path) else _eval_rows(path)
        if rows is not None:
            yield from from_eval_rows(path, rows)
        else:
            yield from _trees(read_trajectory(path), str(path))


async def from_store(url: str | None, data_dir: Path, limit: int) -> list[RecordedRun]:
    """The finished runs of the server's store (``--store`` URL, or the data dir's)."""
    from ..server.stores import open_store

    store = open_store(url, data_dir)
    await store.connect()
    try:
        found: list[RecordedRun] = []
        for row in await store.list_runs(limit=limit):
            events = [parse_event(data) for _, _, data in await store.events(row["id"])]
            found.extend(_trees(events, f"store:{row['id']}"))
        return found
    finally:
        await store.close()
