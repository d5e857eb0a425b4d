"""Recorded runs as training material: where they come from (trajectory files and folders,
eval result files, the server's store, ``rlms`` logs) and the turns inside them.

Their root turns (``turns.py``) are what becomes training samples.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.events import parse_event
from ..rlms_log import is_rlms_log, read_events


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
        for run in _trees(read_events(found), str(found)):
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
            yield from _trees(read_events(path), str(path))


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
