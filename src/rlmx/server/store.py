"""Where the server keeps its runs and their events: SQLite by default, PostgreSQL for
several replicas (``store_postgres.py``), behind one async interface (``RunStore``).

Events are stored as the same JSON lines as a trajectory file, numbered per run from 0;
the run row holds the summary the run list needs (status, answer, usage, cost) and the
replica that runs it. A store that replicas share (``shared``) also carries what crosses
between them: wake-ups when a run gets events, cancel requests, and each replica's
heartbeat, by which the others find the runs of a replica that died.

The SQLite store is one file under the data dir, written by one server: a run it did not
start itself is one that a stopped server left behind. WAL mode keeps a commit per event
cheap.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..rlms_log import read_events

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
    citations TEXT,
    replica TEXT
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    type TEXT NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    replica TEXT NOT NULL,
    created REAL NOT NULL,
    closed REAL
);
"""
# columns newer than a database made before them
ADDED_COLUMNS = {"warnings": "TEXT", "citations": "TEXT", "replica": "TEXT"}
LIVE_STATUSES = ("queued", "running")
SUMMARY_COLUMNS = (
    "id, status, source, query, root, sub, created, finished, answer, iterations, usage, "
    "cost_usd, error, context_file, settings, warnings, citations"
)
StoredEvent = tuple[int, str, str]  # (seq, type, JSON)
NEW_RUN_COLUMNS = ("id", "status", "source", "query", "root", "sub", "created", "context_file",
                   "settings", "replica")  # fmt: skip


@dataclass(frozen=True)
class NewRun:
    """A run as it is first stored; ``created`` defaults to now (an imported run keeps its
    own start)."""

    id: str
    query: str
    source: str
    root: str | None
    sub: str | None
    settings: dict[str, Any]
    context_file: str | None = None
    status: str = "queued"
    created: float | None = None
    replica: str | None = None

    def values(self) -> tuple[Any, ...]:
        """The values of ``NEW_RUN_COLUMNS``, in order."""
        return (self.id, self.status, self.source, self.query, self.root, self.sub,
                self.created or time.time(), self.context_file, json.dumps(self.settings),
                self.replica)  # fmt: skip


class RunStore(Protocol):
    """What the server needs from a store of runs and events."""

    shared: bool  # other replicas write to it too

    async def connect(self) -> None:
        """Open the store (create its tables if needed)."""
        ...

    async def create_run(self, run: NewRun) -> None:
        """Add a run."""
        ...

    async def set_status(self, run_id: str, status: str) -> None: ...

    async def finish_run(self, run_id: str, final: dict[str, Any]) -> None:
        """Record the summary of a root ``run_finished`` event."""
        ...

    async def close_orphan(self, run_id: str, final: dict[str, Any], data: str) -> bool:
        """End a run nobody runs any more with the ``run_finished`` event ``final`` (its
        JSON is ``data``) as its last event, unless it ended meanwhile; True when this call
        ended it."""
        ...

    async def get_run(self, run_id: str) -> dict[str, Any] | None: ...

    async def list_runs(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]: ...

    async def delete_run(self, run_id: str) -> bool: ...

    async def orphaned_runs(self, replica: str) -> list[str]:
        """Live runs that no running replica but (maybe) ``replica`` itself owns."""
        ...

    async def add_event(self, run_id: str, seq: int, event_type: str, data: str) -> None: ...

    async def add_session(self, session_id: str, replica: str, created: float) -> None:
        """Record that ``replica`` holds the open session ``session_id``."""
        ...

    async def end_session(self, session_id: str) -> None: ...

    async def open_sessions(self) -> list[dict[str, Any]]:
        """``{"session_id", "replica", "created"}`` of every open session."""
        ...

    async def close_orphan_sessions(self, replica: str) -> None:
        """Mark closed the open sessions of replicas that are gone (their REPLs went with
        them)."""
        ...

    async def events(self, run_id: str, after: int = -1) -> list[StoredEvent]:
        """(seq, type, JSON) of a run's events with seq > ``after``, in order."""
        ...

    async def changed(self, run_id: str, timeout: float) -> None:
        """Return when ``run_id`` may have new events or a new status, or after
        ``timeout`` seconds (a shared store is told; an unshared one just waits)."""
        ...

    async def heartbeat(self, replica: str) -> None:
        """Say that ``replica`` is alive."""
        ...

    async def request_cancel(self, run_id: str) -> None:
        """Ask the replica that runs ``run_id`` to cancel it."""
        ...

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(run_id)`` when any replica asks for a cancel."""
        ...

    async def close(self, replica: str | None = None) -> None:
        """Close the store; ``replica`` leaves the set of running replicas."""
        ...


class SQLiteStore:
    """The embedded store: one SQLite connection behind a lock (calls take microseconds,
    so they run on the event loop)."""

    shared = False

    def __init__(self, path: Path) -> None:
        self.path = path

    async def connect(self) -> None:
        """Open (and create or migrate) the database file."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
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

    async def close(self, replica: str | None = None) -> None:
        with self._lock:
            self._db.close()

    def _run(self, sql: str, params: Iterable[Any] = ()) -> sqlite3.Cursor:
        with self._lock:
            return self._db.execute(sql, tuple(params))

    # -- runs -------------------------------------------------------------------------------
    async def create_run(self, run: NewRun) -> None:
        marks = ", ".join("?" * len(NEW_RUN_COLUMNS))
        self._run(f"INSERT INTO runs ({', '.join(NEW_RUN_COLUMNS)}) VALUES ({marks})",
                  run.values())  # fmt: skip

    async def set_status(self, run_id: str, status: str) -> None:
        self._run("UPDATE runs SET status = ? WHERE id = ?", (status, run_id))

    async def finish_run(self, run_id: str, final: dict[str, Any]) -> None:
        self._run(f"UPDATE runs SET {FINISH_SET} WHERE id = ?", (*finish_values(final), run_id))

    async def close_orphan(self, run_id: str, final: dict[str, Any], data: str) -> bool:
        marks = ",".join("?" * len(LIVE_STATUSES))
        with self._lock:  # one transaction: the check, the last event and the summary
            self._db.execute("BEGIN IMMEDIATE")
            try:
                ended = self._db.execute(
                    f"UPDATE runs SET {FINISH_SET} WHERE id = ? AND status IN ({marks})",
                    (*finish_values(final), run_id, *LIVE_STATUSES),
                ).rowcount
                if ended:
                    self._db.execute(
                        "INSERT INTO events (run_id, seq, type, data) SELECT ?, "
                        "COALESCE(MAX(seq) + 1, 0), ?, ? FROM events WHERE run_id = ?",
                        (run_id, "run_finished", data, run_id),
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return bool(ended)

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = self._run(f"SELECT {SUMMARY_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return summary(dict(row)) if row is not None else None

    async def list_runs(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        rows = self._run(
            f"SELECT {SUMMARY_COLUMNS} FROM runs ORDER BY created DESC LIMIT ? OFFSET ?",
            (limit, offset),
        ).fetchall()
        return [summary(dict(row)) for row in rows]

    async def delete_run(self, run_id: str) -> bool:
        return self._run("DELETE FROM runs WHERE id = ?", (run_id,)).rowcount > 0

    async def orphaned_runs(self, replica: str) -> list[str]:
        # one writer: a live run of any other replica was left by a server that stopped
        marks = ",".join("?" * len(LIVE_STATUSES))
        rows = self._run(
            f"SELECT id FROM runs WHERE status IN ({marks}) AND replica IS NOT ?",
            (*LIVE_STATUSES, replica),
        )
        return [row["id"] for row in rows.fetchall()]

    # -- events -----------------------------------------------------------------------------
    async def add_event(self, run_id: str, seq: int, event_type: str, data: str) -> None:
        self._run(
            "INSERT INTO events (run_id, seq, type, data) VALUES (?, ?, ?, ?)",
            (run_id, seq, event_type, data),
        )

    async def events(self, run_id: str, after: int = -1) -> list[StoredEvent]:
        rows = self._run(
            "SELECT seq, type, data FROM events WHERE run_id = ? AND seq > ? ORDER BY seq",
            (run_id, after),
        ).fetchall()
        return [(row["seq"], row["type"], row["data"]) for row in rows]

    # -- sessions ---------------------------------------------------------------------------
    async def add_session(self, session_id: str, replica: str, created: float) -> None:
        self._run("INSERT INTO sessions (id, replica, created) VALUES (?, ?, ?)",
                  (session_id, replica, created))  # fmt: skip

    async def end_session(self, session_id: str) -> None:
        self._run("UPDATE sessions SET closed = ? WHERE id = ?", (time.time(), session_id))

    async def open_sessions(self) -> list[dict[str, Any]]:
        rows = self._run("SELECT id AS session_id, replica, created FROM sessions "
                         "WHERE closed IS NULL ORDER BY created")  # fmt: skip
        return [dict(row) for row in rows.fetchall()]

    async def close_orphan_sessions(self, replica: str) -> None:
        self._run("UPDATE sessions SET closed = ? WHERE closed IS NULL AND replica IS NOT ?",
                  (time.time(), replica))  # fmt: skip

    # -- replicas: one, so nothing crosses ---------------------------------------------------
    async def changed(self, run_id: str, timeout: float) -> None:
        await asyncio.sleep(timeout)

    async def heartbeat(self, replica: str) -> None:
        return None

    async def request_cancel(self, run_id: str) -> None:
        return None

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        return None


FINISH_COLUMNS = ("status", "finished", "answer", "iterations", "usage", "cost_usd", "error",
                  "warnings", "citations")  # fmt: skip
FINISH_SET = ", ".join(f"{column} = ?" for column in FINISH_COLUMNS)


def finish_values(final: dict[str, Any]) -> tuple[Any, ...]:
    """The values of ``FINISH_COLUMNS`` from a ``run_finished`` event, in order."""
    return (
        final["status"], final.get("ts", time.time()), final.get("answer"),
        final.get("iterations"), json.dumps(final.get("usage") or {}), final.get("cost_usd"),
        final.get("error"), json.dumps(final.get("warnings") or []),
        json.dumps(final.get("citations") or []),
    )  # fmt: skip


async def import_trajectory(store: RunStore, path: Path) -> str:
    """Store a saved JSONL trajectory as a run (source ``import``); its root run id.

    A trajectory without its root's ``run_finished`` stays marked running, so the server's
    start-up closes it as interrupted like any run that never finished.
    """
    events = read_events(path)  # validates every line; an rlms log is converted
    started = next((e for e in events if e.type == "run_started" and e.depth == 0), None)
    if started is None:
        raise ValueError(f"{path} has no root run_started event; is it an rlmx trajectory?")
    run_id = started.run_id
    if await store.get_run(run_id) is not None:
        return run_id
    settings = {"max_depth": started.max_depth, "max_iterations": started.max_iterations}
    await store.create_run(NewRun(run_id, started.query, "import", started.root_model,
                                  started.sub_model, settings, status="running",
                                  created=started.ts))  # fmt: skip
    for seq, event in enumerate(events):
        await store.add_event(run_id, seq, event.type, event.model_dump_json())
        if event.type == "run_finished" and event.run_id == run_id:
            await store.finish_run(run_id, event.model_dump())
    return run_id


def summary(row: dict[str, Any]) -> dict[str, Any]:
    """A run row with its JSON columns decoded."""
    row["usage"] = json.loads(row["usage"]) if row["usage"] else None
    row["settings"] = json.loads(row["settings"]) if row["settings"] else {}
    for listed in ("warnings", "citations"):
        row[listed] = json.loads(row[listed]) if row[listed] else []
    return row
