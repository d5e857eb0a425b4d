"""Sessions: several questions over one REPL, as RLM_REPL keeps its state until ``reset()``.

``RLM.session(context)`` returns a ``Session``. Each ``ask`` is a run of its own (run id,
events, trajectory, ``Result``) in the same workspace: the variables of earlier asks are
still in the REPL, the root model reads a short summary of the earlier questions and
answers, and the REPL variable ``history`` lists them all. ``add_context`` adds
``context_1``, ``context_2`` ...; ``reset`` starts a fresh worker on the same contexts.

Budgets: each ask is limited by the RLM's ``budget`` (or the one passed to ``ask``), and the
session as a whole by the budget given to ``RLM.session``; every call is charged to both.

Use a session either synchronously (``with``, ``ask``, ``close``) or inside asyncio
(``async with``, ``aask``, ``aclose``), not both: its worker belongs to one event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ConfigError
from ..repl.context import ContextMeta
from .budget import Budget, Ledger
from .result import Result
from .workspace import Workspace

if TYPE_CHECKING:
    from .rlm import RLM


T = TypeVar("T")


class SessionClosed(ConfigError):
    """The session was closed; open a new one to ask again."""


class Session:
    """Several questions over one persistent REPL (see the module docstring)."""

    def __init__(self, rlm: RLM, context: Any, budget: Budget | None = None) -> None:
        self.rlm = rlm
        self.context = context
        self.ledger = Ledger(budget, label="session budget")
        self.history: list[dict[str, Any]] = []
        self.workspace: Workspace | None = None
        self.closed = False
        self.added = 0
        self._lock: asyncio.Lock | None = None
        self._runner: asyncio.Runner | None = None
        self._style: str | None = None  # "sync" or "async", fixed by the first use

    # -- async ---------------------------------------------------------------------------
    async def aopen(self) -> Session:
        """Prepare the context (and its environment) once; the worker starts at the first ask."""
        self._use("async")
        await self._open()
        return self

    async def aask(
        self,
        query: str,
        budget: Budget | None = None,
        sinks: list[Any] | None = None,
        run_id: str | None = None,
        schema: Any = None,
    ) -> Result:
        """Answer one more question; asks of one session run one at a time. ``schema``
        types the answer as in ``RLM.completion``."""
        self._use("async")
        return await self._ask(query, budget, sinks, run_id, schema)

    async def aadd_context(self, data: Any) -> str:
        """Add ``data`` as ``context_1``, ``context_2`` ...; returns the REPL name."""
        self._use("async")
        return await self._add_context(data)

    async def areset(self) -> None:
        """A fresh worker with the same contexts: variables and history are gone."""
        self._use("async")
        await self._reset()

    async def aclose(self) -> None:
        """Stop the worker and remove the session's files; safe to call more than once."""
        self._use("async")
        await self._close()

    async def __aenter__(self) -> Session:
        return await self.aopen()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- sync ----------------------------------------------------------------------------
    def open(self) -> Session:
        """Blocking ``aopen``."""
        self._sync(self._open())
        return self

    def ask(self, query: str, budget: Budget | None = None, schema: Any = None) -> Result:
        """Blocking ``aask``."""
        return self._sync(self._ask(query, budget, None, None, schema))

    def add_context(self, data: Any) -> str:
        """Blocking ``aadd_context``."""
        return self._sync(self._add_context(data))

    def reset(self) -> None:
        """Blocking ``areset``."""
        self._sync(self._reset())

    def close(self) -> None:
        """Blocking ``aclose``."""
        if self._runner is None:  # never used (or used asynchronously: _use says so)
            self._use("sync")
            self.closed = True
            return
        self._sync(self._close())
        self._runner.close()
        self._runner = None

    def __enter__(self) -> Session:
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the work --------------------------------------------------------------------------
    def _use(self, style: str) -> None:
        if self._style is None:
            self._style = style
        elif self._style != style:
            raise RuntimeError(
                f"this session is used {self._style}hronously; its worker belongs to one event "
                "loop, so do not mix ask() and aask()"
            )

    def _sync(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            self._use("sync")
        except RuntimeError:
            coroutine.close()
            raise
        if self._runner is None:
            self._runner = asyncio.Runner()
        return self._runner.run(coroutine)

    async def _open(self) -> Workspace:
        if self.closed:
            raise SessionClosed("the session is closed")
        if self.workspace is None:
            workspace = Workspace(self.rlm.config)
            try:
                await workspace.prepare(self.context, with_environment=True)
                await workspace.define("history", [])
            except BaseException:
                await workspace.close()
                raise
            self.workspace = workspace
            self._lock = asyncio.Lock()
        return self.workspace

    async def _ask(
        self,
        query: str,
        budget: Budget | None,
        sinks: list[Any] | None,
        run_id: str | None,
        schema: Any = None,
    ) -> Result:
        workspace = await self._open()
        assert self._lock is not None
        async with self._lock:
            if self.closed:
                raise SessionClosed("the session is closed")
            earlier = tuple((item["query"], item["answer"]) for item in self.history)
            ledger = Ledger(budget or self.rlm.config.budget, parent=self.ledger)
            result = await self.rlm.answer(
                self.context,
                query,
                sinks=sinks,
                run_id=run_id,
                workspace=workspace,
                ledger=ledger,
                earlier=earlier,
                schema=schema,
            )
            self.history.append(
                {
                    "query": query,
                    "answer": result.answer,
                    "status": result.status,
                    "run_id": result.run_id,
                }
            )
            await workspace.define("history", self.history)
        return result

    async def _add_context(self, data: Any) -> str:
        workspace = await self._open()
        assert self._lock is not None
        async with self._lock:
            name = f"context_{self.added + 1}"
            await workspace.add_context(name, data)
            self.added += 1
        return name

    def contexts(self) -> dict[str, ContextMeta]:
        """The contexts added so far, by REPL name."""
        return dict(self.workspace.added) if self.workspace else {}

    async def _reset(self) -> None:
        workspace = await self._open()
        assert self._lock is not None
        async with self._lock:
            self.history.clear()
            await workspace.define("history", [])
            if workspace.sandbox.context is not None:
                await workspace.sandbox.restart()

    async def _close(self) -> None:
        self.closed = True
        if self.workspace is not None:
            workspace, self.workspace = self.workspace, None
            await workspace.close()
