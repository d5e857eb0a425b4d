"""The runs store, the same tests on SQLite and on a real PostgreSQL (tests/postgres_server.py)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from rlmx.errors import ConfigError
from rlmx.server.store import NewRun, RunStore, SQLiteStore
from rlmx.server.stores import open_store

Opener = Callable[[], Any]


@pytest.fixture(params=["sqlite", "postgres"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    """Opens a store on one database (each call: a new connection to the same one)."""
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None

    @asynccontextmanager
    async def opened(replica: str | None = None) -> AsyncIterator[RunStore]:
        store = open_store(url, tmp_path)
        await store.connect()
        try:
            yield store
        finally:
            await store.close(replica)

    return opened


async def add(store: RunStore, run_id: str, replica: str = "r1", **kw: Any) -> None:
    await store.create_run(NewRun(run_id, f"q {run_id}", "api", "replay:x", None,
                                  {"max_depth": 1}, replica=replica, **kw))  # fmt: skip


def final(run_id: str, status: str = "final", **kw: Any) -> dict[str, Any]:
    return {"type": "run_finished", "run_id": run_id, "status": status, "ts": 1234.5,
            "answer": "42", "iterations": 3, "usage": {"total": {"calls": 2}},
            "cost_usd": 0.25, "error": None, "warnings": ["w"],
            "citations": [{"quote": "q"}], **kw}  # fmt: skip


def test_runs_and_events_round_trip(opener: Opener) -> None:
    async def main() -> None:
        async with opener() as store:
            await add(store, "a", created=100.0)
            await add(store, "b", created=200.0, context_file="/data/up/b/f.txt")
            for seq, kind in enumerate(["run_started", "cell_started", "run_finished"]):
                await store.add_event("a", seq, kind, json.dumps({"seq": seq}))
            await store.set_status("a", "running")
            await store.finish_run("a", final("a"))
            run = await store.get_run("a")
            assert run is not None
            assert (run["status"], run["answer"], run["iterations"], run["finished"]) == (
                "final", "42", 3, 1234.5)  # fmt: skip
            assert run["usage"] == {"total": {"calls": 2}} and run["cost_usd"] == 0.25
            assert run["warnings"] == ["w"] and run["citations"] == [{"quote": "q"}]
            assert run["settings"] == {"max_depth": 1} and run["created"] == 100.0
            assert [r["id"] for r in await store.list_runs()] == ["b", "a"]  # newest first
            assert [r["id"] for r in await store.list_runs(limit=1, offset=1)] == ["a"]
            assert (await store.get_run("b"))["context_file"] == "/data/up/b/f.txt"
            assert [seq for seq, _, _ in await store.events("a", after=0)] == [1, 2]
            assert await store.delete_run("a") and not await store.delete_run("a")
            assert await store.get_run("a") is None and await store.events("a") == []

    asyncio.run(main())


def test_an_event_number_is_never_taken_twice(opener: Opener) -> None:
    async def main() -> None:
        async with opener() as store:
            await add(store, "a")
            await store.add_event("a", 0, "run_started", "{}")
            with pytest.raises(Exception, match=r"(?i)unique|duplicate"):
                await store.add_event("a", 0, "run_started", "{}")

    asyncio.run(main())


def test_an_orphan_is_closed_once_even_by_two_at_once(opener: Opener) -> None:
    async def main() -> None:
        async with opener() as first, opener() as second:
            await add(first, "a", status="running")
            await first.add_event("a", 0, "run_started", "{}")
            data = json.dumps(final("a", "interrupted"))
            ended = await asyncio.gather(
                first.close_orphan("a", final("a", "interrupted"), data),
                second.close_orphan("a", final("a", "interrupted"), data),
            )
            assert sorted(ended) == [False, True]
            assert [(seq, kind) for seq, kind, _ in await first.events("a")] == [
                (0, "run_started"), (1, "run_finished")]  # fmt: skip
            assert (await second.get_run("a"))["status"] == "interrupted"
            assert not await first.close_orphan("a", final("a", "interrupted"), data)

    asyncio.run(main())


def test_orphans_are_live_runs_of_replicas_that_are_gone(opener: Opener) -> None:
    async def main() -> None:
        async with opener() as store:
            await store.heartbeat("alive")
            await add(store, "mine", replica="me", status="running")
            await add(store, "theirs", replica="alive", status="running")
            await add(store, "lost", replica="dead", status="queued")
            await add(store, "old", replica=None, status="running")
            await add(store, "done", replica="dead", status="final")
            orphans = set(await store.orphaned_runs("me"))
            if store.shared:  # a replica with a fresh heartbeat still runs its runs
                assert orphans == {"lost", "old"}
            else:  # one writer: every other replica's live run was left by a stopped one
                assert orphans == {"theirs", "lost", "old"}

    asyncio.run(main())


def test_a_shared_store_wakes_followers_and_passes_cancels(opener: Opener) -> None:
    async def main() -> None:
        async with opener() as owner, opener() as other:
            await add(owner, "a", status="running")
            asked: list[str] = []
            owner.on_cancel(asked.append)
            started = time.monotonic()
            waiting = asyncio.ensure_future(other.changed("a", timeout=5))
            await asyncio.sleep(0.2)
            await owner.add_event("a", 0, "run_started", "{}")
            await waiting
            woke_after = time.monotonic() - started
            await other.request_cancel("a")
            for _ in range(50):
                if asked:
                    break
                await asyncio.sleep(0.1)
            if owner.shared:
                assert woke_after < 4 and asked == ["a"]
            else:  # nothing crosses: the wait runs out, no replica is told
                assert woke_after >= 5 and asked == []

    asyncio.run(main())


def test_sessions_are_listed_until_closed_or_their_replica_is_gone(opener: Opener) -> None:
    async def main() -> None:
        async with opener() as store:
            await store.heartbeat("alive")
            await store.add_session("s1", "me", 10.0)
            await store.add_session("s2", "alive", 20.0)
            await store.add_session("s3", "dead", 30.0)
            listed = await store.open_sessions()
            assert listed[0] == {"session_id": "s1", "replica": "me", "created": 10.0}
            assert [s["session_id"] for s in listed] == ["s1", "s2", "s3"]
            await store.end_session("s1")
            await store.close_orphan_sessions("me")
            left = [s["session_id"] for s in await store.open_sessions()]
            assert left == (["s2"] if store.shared else [])  # one writer: others are gone

    asyncio.run(main())


def test_reopening_keeps_the_data_and_migrates_once(opener: Opener) -> None:
    async def main() -> None:
        async with opener() as store:
            await add(store, "a")
        async with opener() as store:
            assert (await store.get_run("a"))["query"] == "q a"
            if store.shared:
                async with store._pool.acquire() as db:  # the migration table
                    versions = await db.fetch("SELECT version FROM schema_migrations")
                assert [row["version"] for row in versions] == [1, 2]

    asyncio.run(main())


def test_an_old_sqlite_database_gets_the_new_columns(tmp_path: Path) -> None:
    path = tmp_path / "runs.sqlite3"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, status TEXT NOT NULL, source TEXT "
                "NOT NULL, query TEXT NOT NULL, root TEXT, sub TEXT, created REAL NOT NULL, "
                "finished REAL, answer TEXT, iterations INTEGER, usage TEXT, cost_usd REAL, "
                "error TEXT, context_file TEXT, settings TEXT)")  # fmt: skip
    old.execute("INSERT INTO runs (id, status, source, query, created) "
                "VALUES ('x', 'running', 'api', 'q', 1)")  # fmt: skip
    old.commit()
    old.close()

    async def main() -> None:
        store = SQLiteStore(path)
        await store.connect()
        try:
            assert await store.orphaned_runs("me") == ["x"]
            assert (await store.get_run("x"))["citations"] == []
        finally:
            await store.close()

    asyncio.run(main())


def test_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_store(f"sqlite:///{tmp_path}/x.db", tmp_path), SQLiteStore)
    assert open_store(None, tmp_path).path == tmp_path / "runs.sqlite3"
    with pytest.raises(ConfigError, match="--store must be"):
        open_store("mysql://x", tmp_path)


def test_rlmx_serve_refuses_a_store_it_cannot_open(tmp_path: Path) -> None:
    from conftest import free_port

    for url, message in (
        ("mysql://x", "--store must be"),
        (f"postgresql://rlmx@127.0.0.1:{free_port()}/x", "cannot connect"),
    ):
        done = subprocess.run([sys.executable, "-m", "rlmx.cli", "serve", "--port", "0",
                               "--data-dir", str(tmp_path), "--store", url],
                              capture_output=True, text=True, timeout=60)  # fmt: skip
        assert done.returncode == 2 and message in done.stderr, done.stderr
