"""Per-client caps on what a request holds open: sessions and event streams.

The server-wide caps (runs, queue, sessions) stop the server from falling over, but one
client could still take every slot. So each client address may hold at most a few of each
at once; more are refused with 429 (``CapacityError``) while the others go on.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any, TypeVar

from fastapi import Request
from sse_starlette import EventSourceResponse
from starlette.background import BackgroundTask

from ..errors import CapacityError

T = TypeVar("T")


def client_of(request: Request) -> str:
    """The address a request came from (the unit every per-client cap counts)."""
    return request.client.host if request.client is not None else "unknown"


class ClientQuota:
    """How many of one resource each client holds; ``take`` refuses past ``per_client``."""

    def __init__(self, what: str, per_client: int) -> None:
        self.what = what
        self.per_client = per_client
        self.held: Counter[str] = Counter()

    def take(self, client: str) -> Hold:
        """One more for ``client``; CapacityError if it holds its share already."""
        if self.held[client] >= self.per_client:
            raise CapacityError(
                f"this client holds {self.held[client]} {self.what} (at most "
                f"{self.per_client} at once); close one first"
            )
        self.held[client] += 1
        return Hold(self, client)

    def give_back(self, client: str) -> None:
        self.held[client] -= 1
        if self.held[client] <= 0:
            del self.held[client]


class Hold:
    """One taken unit; ``release`` is idempotent, so every path that ends the use may call it."""

    def __init__(self, quota: ClientQuota, client: str) -> None:
        self.quota, self.client = quota, client
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.quota.give_back(self.client)

    def stream(self, items: AsyncGenerator[Any, None], **options: Any) -> EventSourceResponse:
        """An SSE response of ``items`` that gives this unit back when it ends, however
        it ends (a client that leaves before the first event included)."""
        return EventSourceResponse(self.guard(items), background=BackgroundTask(self.release),
                                   **options)  # fmt: skip

    async def guard(self, items: AsyncGenerator[T, None]) -> AsyncIterator[T]:
        """``items``, released when they end, fail or are closed (closing them too, so
        their own clean-up runs now)."""
        try:
            async for item in items:
                yield item
        finally:
            self.release()
            await items.aclose()


def streams_of(request: Request) -> ClientQuota:
    quota: Any = request.app.state.streams
    return quota
