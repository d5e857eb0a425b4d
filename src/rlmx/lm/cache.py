"""A cache of LM calls on disk (``RLM(cache=...)``, ``--cache DIR``): an identical call
(same model, messages, reply cap, stop strings, grammar and sampling settings) is answered
from a SQLite file instead of the model, at no cost.

``CachedLM`` wraps a model with it: the gateway wraps every model of a run tree (root
turns, sub-calls, child runs, vision) and the evaluation's baselines wrap theirs, so
re-running an evaluation or a session with the same models replays what was answered and
pays only for what changed. A hit is marked: ``Usage.cached_calls`` counts it, its tokens
and cost are zero, and its ``llm_call`` / ``sub_call`` event says ``cached: true``. A model
that samples (temperature above 0) is not cached unless ``sampled=True``: its replies are
meant to differ. Errors are never cached. Several processes may share one folder (SQLite's
own locking); past ``max_mb`` the oldest quarter of the entries is dropped.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .base import LM, LMResponse, Message, Tokenizer, Usage

FILE_NAME = "calls.sqlite3"
FORMAT = 1  # bump when what a key covers changes: old entries are never matched again


@dataclass(frozen=True)
class CallCache:
    """Where the cache lives (a folder) and what it may hold."""

    folder: Path
    sampled: bool = False  # cache models that sample (temperature > 0) too
    max_mb: int = 1024  # each operation opens its own connection: threads, processes and
    # Ray workers (a config is pickled to them) share the file through SQLite's locking

    def __post_init__(self) -> None:
        object.__setattr__(self, "folder", Path(self.folder).expanduser())

    def key(self, lm: LM, messages: list[Message], options: dict[str, Any]) -> str | None:
        """The key of a call, or None when it must not be cached (a sampling model)."""
        temperature = getattr(lm, "temperature", None)
        if temperature and not self.sampled:
            return None
        model = f"{type(lm).__qualname__}:{lm.name}"
        identity = {"format": FORMAT, "model": model, "temperature": temperature,
                    "messages": messages, "options": options}  # fmt: skip
        encoded = json.dumps(identity, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(encoded.encode()).hexdigest()

    def get(self, key: str) -> LMResponse | None:
        """The stored reply (zero cost, marked cached), or None."""
        with self._connect() as db:
            found = db.execute("SELECT model, text, finish FROM calls WHERE key = ?", (key,))
            row = found.fetchone()
            if row is not None:
                db.execute("UPDATE calls SET used = ? WHERE key = ?", (time.time(), key))
        if row is None:
            return None
        usage = Usage(calls=1, cost_usd=0.0, cached_calls=1)
        return LMResponse(text=row[1], usage=usage, model=row[0], finish_reason=row[2], cached=True)

    def put(self, key: str, response: LMResponse) -> None:
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO calls VALUES (?, ?, ?, ?, ?)",
                (key, response.model, response.text, response.finish_reason, time.time()),
            )
        self._prune()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The database, committed and closed after the block."""
        self.folder.mkdir(parents=True, exist_ok=True)
        db = sqlite3.connect(self.folder / FILE_NAME, timeout=30)
        try:
            with db:
                db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, "
                           "model TEXT, text TEXT, finish TEXT, used REAL)")  # fmt: skip
                yield db
        finally:
            db.close()

    def _prune(self) -> None:
        """Drop the least recently used quarter once the file passes ``max_mb``."""
        path = self.folder / FILE_NAME
        if path.stat().st_size <= self.max_mb * 1024 * 1024:
            return
        with self._connect() as db:
            (count,) = db.execute("SELECT COUNT(*) FROM calls").fetchone()
            db.execute("DELETE FROM calls WHERE key IN (SELECT key FROM calls ORDER BY used "
                       "LIMIT ?)", (count // 4,))  # fmt: skip
        db = sqlite3.connect(path, timeout=30)
        try:
            db.execute("VACUUM")  # gives the space back (outside a transaction)
        finally:
            db.close()


class CachedLM:
    """A model whose identical calls are answered from a ``CallCache``; everything else
    about it (name, window, tokenizer, grammar support) is the model's own."""

    def __init__(self, lm: LM, cache: CallCache) -> None:
        self.lm = lm
        self.cache = cache
        self.name = lm.name
        self.context_window = lm.context_window
        self.supports_grammar = lm.supports_grammar
        self.supports_images = lm.supports_images
        self.prefers_compact = lm.prefers_compact

    @property
    def tokenizer(self) -> Tokenizer | None:
        return self.lm.tokenizer

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> LMResponse:
        options = {"max_tokens": max_tokens, "stop": stop, "grammar": grammar}
        key = self.cache.key(self.lm, messages, options)
        if key is not None:
            hit = await asyncio.to_thread(self.cache.get, key)
            if hit is not None:
                return hit
        extra = {"grammar": grammar} if grammar else {}  # LMs without grammar keep working
        response = await self.lm.complete(messages, max_tokens=max_tokens, stop=stop, **extra)
        if key is not None:
            await asyncio.to_thread(self.cache.put, key, response)
        return response

    async def aclose(self) -> None:
        await self.lm.aclose()


def cached(lm: LM, cache: CallCache | None) -> LM:
    """``lm`` behind ``cache`` (itself without one)."""
    return CachedLM(lm, cache) if cache is not None else lm
