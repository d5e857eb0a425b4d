"""Sessions over HTTP: ``POST /sessions`` opens one (context as for ``/query``, or the
context of a finished run for follow-up questions), ``POST /sessions/{id}/ask`` starts a run
in it (streamed like any run), ``GET`` shows it, ``DELETE`` closes it.

A session holds a live sandbox worker, so the operator caps how many are open
(``max_sessions``; more are refused with 429) and how long one may sit idle
(``session_idle_seconds``; a sweeper closes it). A session lives in the memory of the
replica that opened it: a server that stops closes its sessions, while the runs they made
stay in the store. The store records which replica holds each open session, so every
replica lists them all, and a request for another replica's session is told where it is
(409) instead of "no such session".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi import Path as Path_
from pydantic import BaseModel

from ..core.session import Session
from ..errors import CapacityError
from . import inputs, quotas
from .quotas import ClientQuota, Hold
from .runs import RUN_ID, Query, RunManager, RunRequest, remove_uploads

SessionId = Annotated[str, Path_(pattern=RUN_ID.pattern, max_length=64)]


class AskBody(BaseModel):
    """The body of ``POST /sessions/{id}/ask``."""

    query: Query


@dataclass
class HeldSession:
    """An open session and what its asks need to become runs."""

    session_id: str
    session: Session
    template: RunRequest  # context, options and models; each ask copies it
    folder: Path | None  # its own upload or saved context, removed when it closes
    hold: Hold  # its place in its client's share of sessions
    created: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.monotonic)
    runs: list[str] = field(default_factory=list)


class SessionManager:
    """The server's open sessions, capped in number and closed when idle."""

    def __init__(
        self, runs: RunManager, max_sessions: int, idle_seconds: float, per_client: ClientQuota
    ) -> None:
        self.runs = runs
        self.max_sessions = max_sessions
        self.per_client = per_client
        self.idle_seconds = idle_seconds
        self.held: dict[str, HeldSession] = {}
        self._sweeper: asyncio.Task[None] | None = None

    async def open(
        self, session_id: str, template: RunRequest, folder: Path | None, client: str
    ) -> None:
        """Open a session on the template's context (checked now: a bad one raises)."""
        if len(self.held) >= self.max_sessions:
            raise CapacityError(f"{self.max_sessions} sessions are open; close one first")
        hold = self.per_client.take(client)
        try:
            session = self.runs.build_rlm(template).session(template.context)
            await session.aopen()
        except BaseException:
            hold.release()
            raise
        held = HeldSession(session_id, session, template, folder, hold)
        self.held[session_id] = held
        await self.runs.store.add_session(session_id, self.runs.replica, held.created)

    async def get(self, session_id: str) -> HeldSession:
        """An open session of this replica; 409 for another replica's, else 404."""
        held = self.held.get(session_id)
        if held is not None:
            return held
        for other in await self.runs.store.open_sessions():
            if other["session_id"] == session_id:
                raise HTTPException(409, f"session {session_id} is open on replica "
                                    f"{other['replica']}; send its requests there")  # fmt: skip
        raise HTTPException(404, f"no open session {session_id!r}")

    async def listing(self) -> list[dict[str, Any]]:
        """This replica's sessions in full, then the other replicas' open ones."""
        mine = [self.describe(held) for held in self.held.values()]
        others = [other for other in await self.runs.store.open_sessions()
                  if other["session_id"] not in self.held]  # fmt: skip
        return mine + others

    async def ask(
        self, session_id: str, query: str, source: str = "api", schema: dict | None = None
    ) -> str:
        """Start one ask of the session as a run; its run id."""
        held = await self.get(session_id)
        base = held.template
        run_id = uuid.uuid4().hex[:12]
        request = RunRequest(query, base.context, base.options, root=base.root, source=source,
                             context_file=base.context_file, source_label=base.source_label,
                             session=held.session, session_id=session_id, schema=schema,
                             follows=held.runs[-1] if held.runs else base.follows)  # fmt: skip
        await self.runs.start(run_id, request)
        held.runs.append(run_id)
        held.last_used = time.monotonic()
        return run_id

    def describe(self, held: HeldSession) -> dict[str, Any]:
        session = held.session
        return {
            "session_id": held.session_id,
            "replica": self.runs.replica,
            "created": held.created,
            "idle_seconds": round(time.monotonic() - held.last_used, 3),
            "runs": held.runs,
            "history": session.history,
            "contexts": {name: meta.to_dict() for name, meta in session.contexts().items()},
        }

    def busy(self, held: HeldSession) -> bool:
        return any(run_id in self.runs.live for run_id in held.runs)

    async def close(self, session_id: str) -> bool:
        """Stop the session's running asks, its worker and remove its own files."""
        held = self.held.pop(session_id, None)
        if held is None:
            return False
        held.hold.release()
        await self.runs.store.end_session(session_id)
        for run_id in held.runs:
            await self.runs.cancel(run_id)
        await held.session.aclose()
        if held.folder is not None:
            await remove_uploads(held.folder)
        return True

    async def sweep(self) -> None:
        """Close the sessions idle past the limit (an ask running keeps one alive)."""
        now = time.monotonic()
        for held in list(self.held.values()):
            if self.busy(held):
                held.last_used = now
            elif now - held.last_used > self.idle_seconds:
                await self.close(held.session_id)

    def start_sweeper(self) -> None:
        async def loop() -> None:
            while True:
                await asyncio.sleep(min(max(self.idle_seconds / 4, 0.05), 60.0))
                await self.sweep()

        self._sweeper = asyncio.create_task(loop())

    async def shutdown(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for session_id in list(self.held):
            await self.close(session_id)


def sessions_of(request: Request) -> SessionManager:
    return request.app.state.sessions


Sessions = Annotated[SessionManager, Depends(sessions_of)]


def session_routes(settings: Any) -> APIRouter:
    router = APIRouter()

    @router.post("/sessions", openapi_extra=inputs.body_schemas(inputs.SessionBody))
    async def open_session(request: Request, sessions: Sessions) -> dict[str, str]:
        """Open a session: a context as for /query, or ``run_id`` for that run's context."""
        session_id = uuid.uuid4().hex[:12]
        body, upload = await inputs.read_body(request, inputs.SessionBody)
        folder = sessions.runs.uploads / f"session-{session_id}"

        async def start(template: RunRequest) -> dict[str, str]:
            await sessions.open(session_id, template, folder if folder.exists() else None,
                                quotas.client_of(request))  # fmt: skip
            return {"session_id": session_id}

        if body.run_id is not None:
            return await inputs.accept_run_context(body, sessions.runs.store, start)
        return await inputs.accept(body, upload, folder, settings, start)

    @router.get("/sessions")
    async def list_sessions(sessions: Sessions) -> dict[str, Any]:
        return {"sessions": await sessions.listing()}

    @router.get("/sessions/{session_id}")
    async def get_session(sessions: Sessions, session_id: SessionId) -> dict[str, Any]:
        return sessions.describe(await sessions.get(session_id))

    @router.post("/sessions/{session_id}/ask")
    async def ask(sessions: Sessions, session_id: SessionId, body: AskBody) -> dict[str, str]:
        return {"run_id": await sessions.ask(session_id, body.query), "session_id": session_id}

    @router.delete("/sessions/{session_id}")
    async def close_session(sessions: Sessions, session_id: SessionId) -> dict[str, str]:
        if not await sessions.close(session_id):
            await sessions.get(session_id)  # 409 when another replica holds it
            raise HTTPException(404, f"no open session {session_id!r}")
        return {"closed": session_id}

    return router
