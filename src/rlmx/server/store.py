"""Runs and their events in SQLite, so a restarted server still shows every finished run.

One database file under the server's data dir. Events are stored as the same JSON lines
as a trajectory file, numbered per run from 0; the run row holds the summary the run list
needs (status, answer, usage, cost). WAL mode keeps a commit per event cheap.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..events import read_trajectory

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    source TEXT NOT NULL,
    query TEXT NOT NULL,
    root TEXT,
    sub TEXT,
    created REAL NOT NULL,
    finished REAL,
    answer TEXT,
    iterations INTEGER,
    usage TEXT,
    cost_usd REAL,
    error TEXT,
    context_file TEXT,
    settings TEXT,
    warnings TEXT,
    citations TEXT
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
"""
# columns newer than a database made before them
ADDED_COLUMNS = {"warnings": "TEXT", "citations": "TEXT"}
LIVE_STATUSES = ("queued", "running")
SUMMARY_COLUMNS = (
    "id, status, source, query, root, sub, created, finished, answer, iterations, usage, "
    "cost_usd, error, context_file, settings, warnings, citations"
)


class RunStore:
    """Thread-safe access to the runs database (one connection, one lock)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.executescript(SCHEMA)
            have = {row["name"] for row in self._db.execute("PRAGMA table_info(runs)")}
            for column, kind in ADDED_COLUMNS.items():
                if column not in have:
                    self._db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(params))

    # -- runs -------------------------------------------------------------------------------
    def create_run(
        self,
        run_id: str,
        *,
        query: str,
        source: str,
        root: str | None,
        sub: str | None,
        settings: dict[str, Any],
        context_file: str | None = None,
        status: str = "queued",
        created: float | None = None,
    ) -> None:
        """Add a run; ``created`` defaults to now (an imported run keeps its own start)."""
        self._run(
            "INSERT INTO runs (id, status, source, query, root, sub, created, context_file, "
            "settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, status, source, query, root, sub, created or time.time(), context_file,
             json.dumps(settings)),
        )  # fmt: skip

    def set_status(self, run_id: str, status: str) -> None:
        self._run("UPDATE runs SET status = ? WHERE id = ?", (status, run_id))

    def finish_run(self, run_id: str, final: dict[str, Any]) -> None:
        """Record the summary of a root ``run_finished`` event."""
        self._run(
            "UPDATE runs SET status = ?, finished = ?, answer = ?, iterations = ?, usage = ?, "
            "cost_usd = ?, error = ?, warnings = ?, citations = ? WHERE id = ?",
            (final["status"], final.get("ts", time.time()), final.get("answer"),
             final.get("iterations"), json.dumps(final.get("usage") or {}),
             final.get("cost_usd"), final.get("error"), json.dumps(final.get("warnings") or []),
             json.dumps(final.get("citations") or []), run_id),
        )  # fmt: skip

    def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self._run(f"SELECT {SUMMARY_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return _summary(row) if row is not None else None

    def list_runs(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        rows = self._run(
            f"SELECT {SUMMARY_COLUMNS} FROM runs ORDER BY created DESC LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        return [_summary(row) for row in rows]

    def delete_run(self, run_id: str) -> bool:
        return self._run("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount > 0

    def live_run_ids(self) -> list[str]:
        marks = ",".join("?" * len(LIVE_STATUSES))
        rows = self._run(f"SELECT id FROM runs WHERE status IN ({marks})", LIVE_STATUSES)
        return [row["id"] for row in rows.fetchall()]

    # -- events -----------------------------------------------------------------------------
    def add_event(self, run_id: str, seq: int, event_type: str, data: str) -> None:
        self._run(
            "INSERT INTO events (run_id, seq, type, data) VALUES (?, ?, ?, ?)",
            (run_id, seq, event_type, data),
        )

    def events(self, run_id: str, after: int = -1) -> list[tuple[int, str, str]]:
        """(seq, type, JSON) of a run's events with seq > ``after``, in order."""
        rows = self._run(
            "SELECT seq, type, data FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
            (run_id, after),
        ).fetchall()
        return [(row["seq"], row["type"], row["data"]) for row in rows]

    def event_count(self, run_id: str) -> int:
        row = self._run("SELECT COUNT(*) AS n FROM events WHERE run_id = ?", (run_id,))
        return int(row.fetchone()["n"])


def import_trajectory(store: RunStore, path: Path) -> str:
    """Store a saved JSONL trajectory as a run (source ``import``); its root run id.

    A trajectory without its root's ``run_finished`` stays marked running, so the server's
    start-up closes it as interrupted like any run that never finished.
    """
    events = read_trajectory(path)  # validates every line
    started = next((e for e in events if e.type == "run_started" and e.depth == 0), None)
    if started is None:
        raise ValueError(f"{path} has no root run_started event; is it an rlmx trajectory?")
    run_id = started.run_id
    if store.get_run(run_id) is not None:
        return run_id
    store.create_run(run_id, query=started.query, source="import", root=started.root_model,
                     sub=started.sub_model, settings={"max_depth": started.max_depth,
                     "max_iterations": started.max_iterations}, status="running",
                     created=started.ts)  # fmt: skip
    for seq, event in enumerate(events):
        store.add_event(run_id, seq, event.type, event.model_dump_json())
        if event.type == "run_finished" and event.run_id == run_id:
            store.finish_run(run_id, event.model_dump())
    return run_id


def _summary(row: sqlite3.Row) -> dict[str, Any]:
    summary = dict(row)
    summary["usage"] = json.loads(summary["usage"]) if summary["usage"] else None
    summary["settings"] = json.loads(summary["settings"]) if summary["settings"] else {}
    for listed in ("warnings", "citations"):
        summary[listed] = json.loads(summary[listed]) if summary[listed] else []
    return summary
