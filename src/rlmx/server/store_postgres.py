"""The runs store in PostgreSQL (asyncpg), shared by several server replicas.

The schema is versioned (``MIGRATIONS``, applied in order under an advisory lock, so two
replicas starting together do not race). What crosses between replicas goes through the
database: every stored event sends ``NOTIFY rlmx_events`` with its run id, so a replica
that streams a run it does not run wakes up and reads the new events; a cancel is a
``NOTIFY rlmx_cancel``; each replica writes a heartbeat, and a live run whose replica's
heartbeat is older than ``stale_seconds`` (by the database's clock, the same for every
replica) is an orphan that any replica may close as interrupted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from .store import (
    FINISH_COLUMNS,
    LIVE_STATUSES,
    NEW_RUN_COLUMNS,
    SUMMARY_COLUMNS,
    NewRun,
    StoredEvent,
    finish_values,
)
from .store import summary as decoded

MIGRATIONS = (
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        status TEXT NOT NULL,
        source TEXT NOT NULL,
        query TEXT NOT NULL,
        root TEXT,
        sub TEXT,
        created DOUBLE PRECISION NOT NULL,
        finished DOUBLE PRECISION,
        answer TEXT,
        iterations INTEGER,
        usage TEXT,
        cost_usd DOUBLE PRECISION,
        error TEXT,
        context_file TEXT,
        settings TEXT,
        warnings TEXT,
        citations TEXT,
        replica TEXT
    );
    CREATE INDEX runs_by_created ON runs (created DESC);
    CREATE INDEX live_runs ON runs (status) WHERE status IN ('queued', 'running');
    CREATE TABLE events (
        run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        type TEXT NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    );
    CREATE TABLE replicas (
        id TEXT PRIMARY KEY,
        heartbeat DOUBLE PRECISION NOT NULL
    );
    """,
    """
    CREATE TABLE sessions (
        id TEXT PRIMARY KEY,
        replica TEXT NOT NULL,
        created DOUBLE PRECISION NOT NULL,
        closed DOUBLE PRECISION
    );
    """,
)
MIGRATION_LOCK = 0x726C6D78  # pg_advisory_xact_lock key: "rlmx"
EVENTS_CHANNEL, CANCEL_CHANNEL = "rlmx_events", "rlmx_cancel"
NOW = "extract(epoch from clock_timestamp())"  # the database's clock, for heartbeats
FINISH_SET = ", ".join(f"{column} = ${n}" for n, column in enumerate(FINISH_COLUMNS, 1))
LIVE = "status IN (" + ", ".join(f"'{status}'" for status in LIVE_STATUSES) + ")"


def _gone(table: str) -> str:
    """SQL: ``table``'s row belongs to a replica other than $1 whose heartbeat is older
    than $2 seconds, or that never wrote one."""
    return (
        f"{table}.replica IS DISTINCT FROM $1 AND NOT EXISTS (SELECT 1 FROM replicas "
        f"WHERE replicas.id = {table}.replica AND replicas.heartbeat >= {NOW} - $2)"
    )


class PostgresStore:
    """Runs, events and replicas in one PostgreSQL database."""

    shared = True

    def __init__(self, url: str, stale_seconds: float = 10.0) -> None:
        self.url = url
        self.stale_seconds = stale_seconds
        self._waiting: dict[str, set[asyncio.Event]] = {}
        self._cancel_callbacks: list[Callable[[str], None]] = []

    async def connect(self) -> None:
        """Open a pool and the listening connection; migrate the schema."""
        import asyncpg

        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=10)
            self._listener = await asyncpg.connect(self.url)
        except (OSError, asyncpg.PostgresError) as exc:  # the URL may hold a password
            raise ConfigError(f"cannot connect to the PostgreSQL store: {exc}") from None
        await self._migrate()
        await self._listener.add_listener(EVENTS_CHANNEL, self._on_event)
        await self._listener.add_listener(CANCEL_CHANNEL, self._on_cancel)

    async def _migrate(self) -> None:
        async with self._pool.acquire() as db, db.transaction():
            await db.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
            await db.execute("CREATE TABLE IF NOT EXISTS schema_migrations "
                             "(version INTEGER PRIMARY KEY, applied DOUBLE PRECISION)")  # fmt: skip
            done = await db.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
            for version, sql in enumerate(MIGRATIONS, 1):
                if version > done:
                    await db.execute(sql)
                    await db.execute("INSERT INTO schema_migrations VALUES ($1, $2)",
                                     version, time.time())  # fmt: skip

    async def close(self, replica: str | None = None) -> None:
        if replica is not None:
            await self._pool.execute("DELETE FROM replicas WHERE id = $1", replica)
        await self._listener.close()
        await self._pool.close()

    # -- runs -------------------------------------------------------------------------------
    async def create_run(self, run: NewRun) -> None:
        marks = ", ".join(f"${n}" for n in range(1, len(NEW_RUN_COLUMNS) + 1))
        await self._pool.execute(f"INSERT INTO runs ({', '.join(NEW_RUN_COLUMNS)}) "
                                 f"VALUES ({marks})", *run.values())  # fmt: skip

    async def set_status(self, run_id: str, status: str) -> None:
        async with self._pool.acquire() as db, db.transaction():
            await db.execute("UPDATE runs SET status = $1 WHERE id = $2", status, run_id)
            await _notify(db, EVENTS_CHANNEL, run_id)

    async def finish_run(self, run_id: str, final: dict[str, Any]) -> None:
        where = len(FINISH_COLUMNS) + 1
        async with self._pool.acquire() as db, db.transaction():
            await db.execute(f"UPDATE runs SET {FINISH_SET} WHERE id = ${where}",
                             *finish_values(final), run_id)  # fmt: skip
            await _notify(db, EVENTS_CHANNEL, run_id)

    async def close_orphan(self, run_id: str, final: dict[str, Any], data: str) -> bool:
        where = len(FINISH_COLUMNS) + 1
        async with self._pool.acquire() as db, db.transaction():
            ended = await db.fetchval(
                f"UPDATE runs SET {FINISH_SET} WHERE id = ${where} AND {LIVE} RETURNING id",
                *finish_values(final), run_id,
            )  # fmt: skip
            if ended is not None:
                await db.execute(
                    "INSERT INTO events (run_id, seq, type, data) SELECT $1, "
                    "COALESCE(MAX(seq) + 1, 0), 'run_finished', $2 FROM events WHERE run_id = $1",
                    run_id, data,
                )  # fmt: skip
                await _notify(db, EVENTS_CHANNEL, run_id)
        return ended is not None

    async def get_run(self, run_id: str) -> dict[str, Any] | None:
        row = await self._pool.fetchrow(f"SELECT {SUMMARY_COLUMNS} FROM runs WHERE id = $1", run_id)
        return decoded(dict(row)) if row is not None else None

    async def list_runs(self, limit: int = 100, offset: int = 0) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {SUMMARY_COLUMNS} FROM runs ORDER BY created DESC LIMIT $1 OFFSET $2",
            limit, offset,
        )  # fmt: skip
        return [decoded(dict(row)) for row in rows]

    async def delete_run(self, run_id: str) -> bool:
        return await self._pool.fetchval("DELETE FROM runs WHERE id = $1 RETURNING id",
                                         run_id) is not None  # fmt: skip

    async def orphaned_runs(self, replica: str) -> list[str]:
        rows = await self._pool.fetch(f"SELECT id FROM runs WHERE runs.{LIVE} AND {_gone('runs')}",
                                      replica, self.stale_seconds)  # fmt: skip
        return [row["id"] for row in rows]

    # -- events -----------------------------------------------------------------------------
    async def add_event(self, run_id: str, seq: int, event_type: str, data: str) -> None:
        async with self._pool.acquire() as db, db.transaction():
            await db.execute("INSERT INTO events (run_id, seq, type, data) "
                             "VALUES ($1, $2, $3, $4)", run_id, seq, event_type, data)  # fmt: skip
            await _notify(db, EVENTS_CHANNEL, run_id)

    async def events(self, run_id: str, after: int = -1) -> list[StoredEvent]:
        rows = await self._pool.fetch(
            "SELECT seq, type, data FROM events WHERE run_id = $1 AND seq > $2 ORDER BY seq",
            run_id, after,
        )  # fmt: skip
        return [(row["seq"], row["type"], row["data"]) for row in rows]

    # -- sessions ---------------------------------------------------------------------------
    async def add_session(self, session_id: str, replica: str, created: float) -> None:
        await self._pool.execute("INSERT INTO sessions (id, replica, created) VALUES ($1, $2, $3)",
                                 session_id, replica, created)  # fmt: skip

    async def end_session(self, session_id: str) -> None:
        await self._pool.execute("UPDATE sessions SET closed = $1 WHERE id = $2",
                                 time.time(), session_id)  # fmt: skip

    async def open_sessions(self) -> list[dict[str, Any]]:
        rows = await self._pool.fetch("SELECT id AS session_id, replica, created FROM sessions "
                                      "WHERE closed IS NULL ORDER BY created")  # fmt: skip
        return [dict(row) for row in rows]

    async def close_orphan_sessions(self, replica: str) -> None:
        await self._pool.execute(
            f"UPDATE sessions SET closed = {NOW} WHERE closed IS NULL AND {_gone('sessions')}",
            replica, self.stale_seconds,
        )  # fmt: skip

    # -- replicas -------------------------------------------------------------------------------
    async def changed(self, run_id: str, timeout: float) -> None:
        wake = asyncio.Event()
        self._waiting.setdefault(run_id, set()).add(wake)
        try:
            await asyncio.wait_for(wake.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            waiting = self._waiting.get(run_id, set())
            waiting.discard(wake)
            if not waiting:
                self._waiting.pop(run_id, None)

    async def heartbeat(self, replica: str) -> None:
        await self._pool.execute(
            f"INSERT INTO replicas (id, heartbeat) VALUES ($1, {NOW}) "
            f"ON CONFLICT (id) DO UPDATE SET heartbeat = {NOW}",
            replica,
        )

    async def request_cancel(self, run_id: str) -> None:
        async with self._pool.acquire() as db:
            await _notify(db, CANCEL_CHANNEL, run_id)

    def on_cancel(self, callback: Callable[[str], None]) -> None:
        self._cancel_callbacks.append(callback)

    def _on_event(self, _connection: Any, _pid: int, _channel: str, run_id: str) -> None:
        for wake in self._waiting.get(run_id, ()):
            wake.set()

    def _on_cancel(self, _connection: Any, _pid: int, _channel: str, run_id: str) -> None:
        for callback in self._cancel_callbacks:
            callback(run_id)


async def _notify(db: Any, channel: str, run_id: str) -> None:
    await db.execute("SELECT pg_notify($1, $2)", channel, run_id)
