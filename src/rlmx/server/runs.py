"""Background runs: start, stream, cancel and persist RLM runs for the HTTP server.

Each run is an asyncio task of the replica that started it. Its events are written to
the store first and then appended to an in-memory list that this replica's subscribers
follow, so a subscriber that comes late replays from the store or the list and misses
nothing. A run of another replica (a shared store) is followed from the store, woken by
its notifications, and cancelled by asking its replica through the store. Every root run
ends with exactly one ``run_finished`` event, also when it is cancelled, fails to start,
or its server stops or dies (then another replica, or the next start, closes it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import secrets
import shutil
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, Field

from ..core.config import CLIENT_MAX_DEPTH, CLIENT_MAX_ITERATIONS
from ..core.events import RunFinished
from ..core.rlm import RLM
from ..core.session import Session
from ..documents import forget_documents
from ..errors import CapacityError
from ..kept_runs import RUN_ID  # never a path: no dots, no slashes
from ..lm.choice import model_name
from .store import LIVE_STATUSES, NewRun, RunStore, StoredEvent

log = logging.getLogger("rlmx.server")
HEARTBEAT_S = 2.0  # how often a replica on a shared store says it is alive and sweeps
FOLLOW_POLL_S = 1.0  # a run followed from the store is read again at least this often
CANCEL_WAIT_S = 30.0  # how long a cancel waits for another replica to end the run
STOPPED_ERROR = "the server stopped before the run finished"
MAX_QUERY_CHARS = 100_000  # a question; the context is where long text goes
Query = Annotated[str, Field(min_length=1, max_length=MAX_QUERY_CHARS)]
QUEUED_CONTEXT = "queued-context.json"  # a waiting run's context, in its uploads folder


def new_replica_id() -> str:
    """A name for this server process: host, pid and a random part."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def public_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run summary for clients: the context file by its name only, never a host path."""
    shown = dict(run)
    if shown.get("context_file"):
        shown["context_file"] = Path(shown["context_file"]).name
    return shown


class RunOptions(BaseModel):
    """Per-run settings a client may choose (shared by /query and /v1/chat/completions)."""

    sub: str | None = None
    max_depth: int = Field(default=1, ge=1, le=CLIENT_MAX_DEPTH)
    max_iterations: int = Field(default=20, ge=1, le=CLIENT_MAX_ITERATIONS)
    budget_usd: float | None = Field(default=None, ge=0)
    max_seconds: float | None = Field(default=None, gt=0)  # at most the server's own cap

    def options(self) -> RunOptions:
        """Only the run options of a request body that extends this model."""
        return RunOptions(**{name: getattr(self, name) for name in RunOptions.model_fields})


@dataclass
class RunRequest:
    """What one run needs: the question, its context, the client's options and models."""

    query: str
    context: Any
    options: RunOptions = field(default_factory=RunOptions)
    root: str | None = None  # a name from the server's model table, or its default
    source: str = "api"  # "api", "openai", "mcp" or "import"
    context_file: str | None = None  # an uploaded, named or saved file (served by /video)
    source_label: str | None = None  # how events name that file (never a host path)
    session: Session | None = None  # an ask of this session (its RLM and its REPL)
    session_id: str | None = None
    follows: str | None = None  # the run this one is a follow-up question to
    schema: dict[str, Any] | None = None  # the JSON Schema a typed answer must match
    spilled: Path | None = None  # where its context waits on disk while the run is queued

    def settings(self) -> dict[str, Any]:
        """What is stored with the run: the client's options, its session, what it follows."""
        settings = self.options.model_dump(exclude={"sub"})
        linked = {"session_id": self.session_id, "follows": self.follows}
        return {**settings, **{key: value for key, value in linked.items() if value}}


@dataclass
class _LiveRun:
    run_id: str
    events: list[StoredEvent] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False  # the root's run_finished is stored
    task: asyncio.Task[None] | None = None
    writing: asyncio.Lock = field(default_factory=asyncio.Lock)  # one event at a time: seq

    def notify(self) -> None:
        self.wake.set()
        self.wake = asyncio.Event()


class RunManager:
    """Owns this replica's runs: at most ``max_runs`` execute at once, at most
    ``max_queued`` wait for a slot, and more are refused (CapacityError: HTTP 429)."""

    def __init__(
        self,
        store: RunStore,
        build_rlm: Callable[[RunRequest], RLM],
        uploads: Path,
        max_runs: int = 4,
        replica: str | None = None,
        max_queued: int = 16,
    ) -> None:
        self.store = store
        self.build_rlm = build_rlm
        self.uploads = uploads
        self.slots = asyncio.Semaphore(max_runs)
        self.max_queued = max_queued
        self.queued = 0  # runs started here that wait for a slot
        self.live: dict[str, _LiveRun] = {}
        self.stopping = False
        self.replica = replica or new_replica_id()
        self._background: set[asyncio.Task[Any]] = set()

    async def open(self) -> None:
        """Join the store's replicas and close the runs that nobody runs any more."""
        await self.store.heartbeat(self.replica)
        await self.close_interrupted()
        self.store.on_cancel(self._cancel_requested)
        if self.store.shared:
            self._in_background(self._keep_alive())

    async def close_interrupted(self) -> None:
        """Runs left queued or running by a server that stopped or died are marked
        interrupted (once, whichever replica gets there first); its sessions closed."""
        for run_id in await self.store.orphaned_runs(self.replica):
            final = _finished_event(run_id, "interrupted", STOPPED_ERROR)
            await self.store.close_orphan(run_id, final.model_dump(), final.model_dump_json())
        await self.store.close_orphan_sessions(self.replica)

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            try:
                await self.store.heartbeat(self.replica)
                await self.close_interrupted()
            except Exception as exc:  # a database hiccup; the next beat tries again
                log.warning("store heartbeat failed: %s", exc)

    def _in_background(self, work: Any) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)  # held until done: a bare task may be collected
        task.add_done_callback(self._background.discard)

    # -- starting ---------------------------------------------------------------------------
    async def start(self, run_id: str, request: RunRequest) -> None:
        """Check the request (raises ValueError / LMError, CapacityError when the queue is
        full) and start the run in the background."""
        if self.queued >= self.max_queued:
            raise CapacityError(
                f"{self.queued} runs are waiting for a slot (at most {self.max_queued}); "
                "try again later"
            )
        rlm = request.session.rlm if request.session is not None else self.build_rlm(request)
        await self.store.create_run(NewRun(
            run_id, request.query, request.source,
            model_name(rlm.config.root), model_name(rlm.config.sub),
            request.settings(), context_file=request.context_file, replica=self.replica,
        ))  # fmt: skip
        if (
            self.slots.locked()
            and request.session is None
            and isinstance(request.context, str | list | dict)
        ):
            await asyncio.to_thread(_spill, request, self.uploads / run_id)
        live = _LiveRun(run_id)
        self.live[run_id] = live
        self.queued += 1
        live.task = asyncio.create_task(self._execute(live, rlm, request))

    async def _execute(self, live: _LiveRun, rlm: RLM, request: RunRequest) -> None:
        started = time.time()
        status, error = "error", "the run ended without a result"
        waiting = True
        try:
            async with self.slots:
                self.queued, waiting = self.queued - 1, False
                if request.spilled is not None:
                    request.context = await asyncio.to_thread(_unspill, request)
                await self.store.set_status(live.run_id, "running")
                sink = _StoreSink(self, live, request.source_label)
                if request.session is not None:
                    await request.session.aask(request.query, sinks=[sink], run_id=live.run_id,
                                               schema=request.schema)  # fmt: skip
                else:
                    await rlm.acompletion(request.context, request.query, [sink], live.run_id,
                                          schema=request.schema)  # fmt: skip
        except asyncio.CancelledError:
            status, error = "cancelled", "the run was cancelled"
            if self.stopping:
                status, error = "interrupted", STOPPED_ERROR
        except Exception as exc:  # a context or setup error: report it as the run's end
            error = f"{type(exc).__name__}: {exc}"
        finally:
            self.queued -= waiting
            if not live.finished:
                final = _finished_event(live.run_id, status, error, time.time() - started)
                await _StoreSink(self, live).emit(final)
            self.live.pop(live.run_id, None)
            live.notify()

    # -- following ----------------------------------------------------------------------------
    async def follow(self, run_id: str, after: int = -1) -> AsyncIterator[StoredEvent]:
        """Every event with seq > ``after``, then new ones as they come, until the run ends."""
        live = self.live.get(run_id)
        if live is None:
            async for item in self._follow_stored(run_id, after):
                yield item
            return
        while True:
            wake = live.wake
            while after + 1 < len(live.events):
                after += 1
                yield live.events[after]
            if live.finished:
                return
            await wake.wait()

    async def _follow_stored(self, run_id: str, after: int) -> AsyncIterator[StoredEvent]:
        """A run this replica does not run: from the store, until it has ended there."""
        while True:
            for item in await self.store.events(run_id, after):
                after = item[0]
                yield item
            if not await self._live_elsewhere(run_id):
                for item in await self.store.events(run_id, after):
                    yield item  # the last ones, stored before the run was marked ended
                return
            await self.store.changed(run_id, FOLLOW_POLL_S)

    async def _live_elsewhere(self, run_id: str) -> bool:
        """The run is live in a shared store and not here."""
        if not self.store.shared or run_id in self.live:
            return False
        run = await self.store.get_run(run_id)
        return run is not None and run["status"] in LIVE_STATUSES

    async def wait(self, run_id: str) -> dict[str, Any] | None:
        """Wait for a run to end; its summary."""
        live = self.live.get(run_id)
        if live is not None and live.task is not None:
            await asyncio.shield(live.task)
        while await self._live_elsewhere(run_id):
            await self.store.changed(run_id, FOLLOW_POLL_S)
        return await self.store.get_run(run_id)

    # -- stopping -----------------------------------------------------------------------------
    async def cancel(self, run_id: str) -> bool:
        """Stop a live run and wait until it has closed its sandboxes (another replica's:
        until it is marked ended, at most ``CANCEL_WAIT_S``); False if not live."""
        live = self.live.get(run_id)
        if live is None or live.task is None:
            return await self._cancel_elsewhere(run_id)
        if not live.task.cancelling():  # a second cancel would cut short its final write
            live.task.cancel()
        await asyncio.gather(live.task, return_exceptions=True)
        return True

    async def _cancel_elsewhere(self, run_id: str) -> bool:
        if not await self._live_elsewhere(run_id):
            return False
        await self.store.request_cancel(run_id)
        deadline = time.monotonic() + CANCEL_WAIT_S
        while await self._live_elsewhere(run_id) and time.monotonic() < deadline:
            await self.store.changed(run_id, FOLLOW_POLL_S)
        return True

    def _cancel_requested(self, run_id: str) -> None:
        if run_id in self.live:
            self._in_background(self.cancel(run_id))

    async def delete(self, run_id: str) -> bool:
        """Delete a run and its upload folder (only ``uploads/<valid id>`` is ever removed)."""
        if not RUN_ID.match(run_id):
            return False
        await self.cancel(run_id)
        folder = self.uploads / run_id
        if folder.resolve().parent == self.uploads.resolve():
            await remove_uploads(folder)
        return await self.store.delete_run(run_id)

    async def shutdown(self) -> None:
        """Cancel every live run; each is stored as interrupted. Then leave the replicas."""
        self.stopping = True
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        for run_id in list(self.live):
            await self.cancel(run_id)


class _StoreSink:
    """The event sink of one run: the store first, then the live list and its followers."""

    def __init__(self, manager: RunManager, live: _LiveRun, source: str | None = None) -> None:
        self.manager = manager
        self.live = live
        self.source = source

    async def emit(self, event: Any) -> None:
        async with self.live.writing:  # concurrent sub-calls emit too: numbered in order
            await self._write(event)

    async def _write(self, event: Any) -> None:
        if self.live.finished:
            return
        if event.type == "run_started" and event.context.get("source"):
            event = event.model_copy(update={"context": {**event.context, "source": self.source}})
        is_root_end = event.type == "run_finished" and event.run_id == self.live.run_id
        if is_root_end and event.status == "cancelled" and self.manager.stopping:
            event = event.model_copy(update={"status": "interrupted", "error": STOPPED_ERROR})
        data = event.model_dump_json()
        seq = len(self.live.events)
        await self.manager.store.add_event(self.live.run_id, seq, event.type, data)
        if is_root_end:
            await self.manager.store.finish_run(self.live.run_id, event.model_dump())
            self.live.finished = True
        self.live.events.append((seq, event.type, data))
        self.live.notify()

    async def close(self) -> None:
        return None


async def remove_uploads(folder: Path) -> None:
    """Remove a run's or session's folder and what its documents added to the cache."""
    await asyncio.to_thread(forget_documents, folder)
    await asyncio.to_thread(shutil.rmtree, folder, True)


def _spill(request: RunRequest, folder: Path) -> None:
    """A queued run's context goes to disk, so a full queue holds no contexts in memory."""
    folder.mkdir(parents=True, exist_ok=True)
    request.spilled = folder / QUEUED_CONTEXT
    with request.spilled.open("w", encoding="utf-8") as out:
        json.dump(request.context, out)
    request.context = None


def _unspill(request: RunRequest) -> Any:
    """The context back from disk when the run's turn comes (its file removed)."""
    assert request.spilled is not None
    with request.spilled.open(encoding="utf-8") as source:
        context = json.load(source)
    request.spilled.unlink()
    request.spilled = None
    return context


def _finished_event(run_id: str, status: str, error: str, seconds: float = 0.0) -> RunFinished:
    return RunFinished(
        run_id=run_id,
        status=status,
        answer=None,
        iterations=0,
        usage={},
        cost_usd=None,
        seconds=seconds,
        error=error,
    )
