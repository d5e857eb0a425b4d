"""The one door every LM call of a run tree goes through.

It admits each call against the shared budget ledger, bounds how many calls run at once
(a semaphore held only for the duration of one LM request, so child runs never deadlock
their parents), checks the prompt against the model's window, and records what was spent.
It also owns the LM clients built from specs for the tree, and closes them at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from ..lm.base import LM, LMResponse, Message, check_fits
from ..lm.cache import CallCache, cached
from ..lm.specs import create_lm
from .budget import Ledger


class Gateway:
    """Budgeted, bounded access to LMs for one run tree."""

    def __init__(self, ledger: Ledger, concurrency: int, cache: CallCache | None = None) -> None:
        self.ledger = ledger
        self.cache = cache
        self.semaphore = asyncio.Semaphore(concurrency)
        self.in_flight = 0
        self.peak_in_flight = 0
        self._clients: dict[tuple[str, str], LM] = {}

    def lm(self, model: str | LM, role: str) -> LM:
        """The client for a spec (built once per tree and role) or the given LM object,
        behind the call cache when there is one."""
        if not isinstance(model, str):
            return cached(model, self.cache)
        key = (model, role)
        if key not in self._clients:
            self._clients[key] = cached(create_lm(model, role), self.cache)
        return self._clients[key]

    async def call(
        self,
        lm: LM,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
        force: bool = False,
    ) -> LMResponse:
        """Run one LM call; raises BudgetExhausted, ContextOverflowError or LMError."""
        check_fits(lm, messages)
        if force:
            self.ledger.force()
        else:
            self.ledger.admit()
        queued = time.perf_counter()
        async with self.semaphore:
            queued = time.perf_counter() - queued
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
            try:
                # grammar only when asked, so LMs written before it existed keep working
                extra = {"grammar": grammar} if grammar else {}
                response = await lm.complete(messages, max_tokens=max_tokens, stop=stop, **extra)
            finally:
                self.in_flight -= 1
        self.ledger.record(response.usage.total_tokens, response.usage.cost_usd)
        response.queued_seconds = queued
        return response

    async def aclose(self) -> None:
        """Close the clients this gateway built (not LM objects the caller passed in)."""
        for client in self._clients.values():
            with contextlib.suppress(Exception):
                await client.aclose()
        self._clients.clear()
