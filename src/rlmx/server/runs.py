"""Background runs: start, stream, cancel and persist RLM runs for the HTTP server.

Each run is an asyncio task. Its events are written to the store first and then appended
to an in-memory list that subscribers follow, so a subscriber that comes late replays
from the store or the list and misses nothing. Every root run ends with exactly one
``run_finished`` event, also when it is cancelled, fails to start or the server stops.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field

from ..events import RunFinished
from ..rlm import RLM
from ..session import Session

StoredEvent = tuple[int, str, str]  # (seq, type, JSON)
STOPPED_ERROR = "the server stopped before the run finished"
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # never a path: no dots, no slashes


def public_run(run: dict[str, Any]) -> dict[str, Any]:
    """A run summary for clients: the context file by its name only, never a host path."""
    shown = dict(run)
    if shown.get("context_file"):
        shown["context_file"] = Path(shown["context_file"]).name
    return shown


class RunOptions(BaseModel):
    """Per-run settings a client may choose (shared by /query and /v1/chat/completions)."""

    sub: str | None = None
    max_depth: int = Field(default=1, ge=1, le=5)
    max_iterations: int = Field(default=20, ge=1, le=500)
    budget_usd: float | None = Field(default=None, ge=0)

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
    schema: dict[str, Any] | None = None  # the JSON Schema a typed answer must match

    def settings(self) -> dict[str, Any]:
        settings = self.options.model_dump(exclude={"sub"})
        return {**settings, "session_id": self.session_id} if self.session_id else settings


@dataclass
class _LiveRun:
    run_id: str
    events: list[StoredEvent] = field(default_factory=list)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    finished: bool = False  # the root's run_finished is stored
    task: asyncio.Task[None] | None = None

    def notify(self) -> None:
        self.wake.set()
        self.wake = asyncio.Event()


class RunManager:
    """Owns the server's runs: at most ``max_runs`` execute at once, the rest queue."""

    def __init__(
        self,
        store: Any,
        build_rlm: Callable[[RunRequest], RLM],
        uploads: Path,
        max_runs: int = 4,
    ) -> None:
        self.store = store
        self.build_rlm = build_rlm
        self.uploads = uploads
        self.slots = asyncio.Semaphore(max_runs)
        self.live: dict[str, _LiveRun] = {}
        self.stopping = False
        self.close_interrupted()

    def close_interrupted(self) -> None:
        """Runs left queued or running by a server that stopped are marked interrupted."""
        for run_id in self.store.live_run_ids():
            final = _finished_event(run_id, "interrupted", STOPPED_ERROR)
            seq = self.store.event_count(run_id)
            self.store.add_event(run_id, seq, final.type, final.model_dump_json())
            self.store.finish_run(run_id, final.model_dump())

    # -- starting ---------------------------------------------------------------------------
    def start(self, run_id: str, request: RunRequest) -> None:
        """Check the request (raises ValueError / LMError) and start the run in the background."""
        rlm = request.session.rlm if request.session is not None else self.build_rlm(request)
        self.store.create_run(
            run_id,
            query=request.query,
            source=request.source,
            root=_spec_name(rlm.root),
            sub=_spec_name(rlm.sub),
            settings=request.settings(),
            context_file=request.context_file,
        )
        live = _LiveRun(run_id)
        self.live[run_id] = live
        live.task = asyncio.create_task(self._execute(live, rlm, request))

    async def _execute(self, live: _LiveRun, rlm: RLM, request: RunRequest) -> None:
        started = time.time()
        status, error = "error", "the run ended without a result"
        try:
            async with self.slots:
                self.store.set_status(live.run_id, "running")
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
            for item in self.store.events(run_id, after):
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

    async def wait(self, run_id: str) -> dict[str, Any] | None:
        """Wait for a run to end; its summary."""
        live = self.live.get(run_id)
        if live is not None and live.task is not None:
            await asyncio.shield(live.task)
        return self.store.get_run(run_id)

    # -- stopping -----------------------------------------------------------------------------
    async def cancel(self, run_id: str) -> bool:
        """Stop a live run and wait until it has closed its sandboxes; False if not live."""
        live = self.live.get(run_id)
        if live is None or live.task is None:
            return False
        live.task.cancel()
        await asyncio.gather(live.task, return_exceptions=True)
        return True

    async def delete(self, run_id: str) -> bool:
        """Delete a run and its upload folder (only ``uploads/<valid id>`` is ever removed)."""
        if not RUN_ID.match(run_id):
            return False
        await self.cancel(run_id)
        folder = self.uploads / run_id
        if folder.resolve().parent == self.uploads.resolve():
            shutil.rmtree(folder, ignore_errors=True)
        return self.store.delete_run(run_id)

    async def shutdown(self) -> None:
        """Cancel every live run; each is stored as interrupted."""
        self.stopping = True
        for run_id in list(self.live):
            await self.cancel(run_id)


class _StoreSink:
    """The event sink of one run: the store first, then the live list and its followers."""

    def __init__(self, manager: RunManager, live: _LiveRun, source: str | None = None) -> None:
        self.manager = manager
        self.live = live
        self.source = source

    async def emit(self, event: Any) -> None:
        if self.live.finished:
            return
        if event.type == "run_started" and event.context.get("source"):
            event = event.model_copy(update={"context": {**event.context, "source": self.source}})
        is_root_end = event.type == "run_finished" and event.run_id == self.live.run_id
        if is_root_end and event.status == "cancelled" and self.manager.stopping:
            event = event.model_copy(update={"status": "interrupted", "error": STOPPED_ERROR})
        data = event.model_dump_json()
        seq = len(self.live.events)
        self.manager.store.add_event(self.live.run_id, seq, event.type, data)
        if is_root_end:
            self.manager.store.finish_run(self.live.run_id, event.model_dump())
            self.live.finished = True
        self.live.events.append((seq, event.type, data))
        self.live.notify()

    async def close(self) -> None:
        return None


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


def _spec_name(model: Any) -> str:
    return model if isinstance(model, str) else model.name
