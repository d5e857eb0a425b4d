"""The perception cache: every caption, OCR line and transcript, stored once per video.

Keyed by the video's content hash (sha256 of the file, itself remembered per path, size
and mtime so a video is hashed once), the tool, its parameters and the model that did the
work. A second question about the same video reuses everything; ``misses`` counts the
perception work actually done.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

from ..lm.registry import cache_root

SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    video TEXT NOT NULL, tool TEXT NOT NULL, params TEXT NOT NULL, model TEXT NOT NULL,
    value TEXT NOT NULL, PRIMARY KEY (video, tool, params, model)
);
CREATE TABLE IF NOT EXISTS hashes (
    path TEXT NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, sha256 TEXT NOT NULL,
    PRIMARY KEY (path, size, mtime_ns)
);
"""


def default_cache_path() -> Path:
    """``perception.sqlite3`` in rlmx's cache folder (``lm.registry.cache_root``)."""
    return cache_root() / "perception.sqlite3"


class PerceptionCache:
    """Thread-safe SQLite store of perception results."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(SCHEMA)
        self.hits = 0
        self.misses = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def video_hash(self, path: Path) -> str:
        """sha256 of the file's content, computed once per (path, size, mtime)."""
        stat = path.stat()
        key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        with self._lock:
            row = self._db.execute(
                "SELECT sha256 FROM hashes WHERE path = ? AND size = ? AND mtime_ns = ?", key
            ).fetchone()
        if row is not None:
            return row[0]
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            while chunk := f.read(1 << 22):
                digest.update(chunk)
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO hashes VALUES (?, ?, ?, ?)",
                             (*key, digest.hexdigest()))  # fmt: skip
        return digest.hexdigest()

    def get(self, video: str, tool: str, params: dict[str, Any], model: str) -> Any | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM results WHERE video = ? AND tool = ? AND params = ? "
                "AND model = ?",
                (video, tool, _params(params), model),
            ).fetchone()
        if row is None:
            return None
        self.hits += 1
        return json.loads(row[0])

    def put(self, video: str, tool: str, params: dict[str, Any], model: str, value: Any) -> None:
        self.misses += 1
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO results VALUES (?, ?, ?, ?, ?)",
                (video, tool, _params(params), model, json.dumps(value)),
            )


def _params(params: dict[str, Any]) -> str:
    return json.dumps(params, sort_keys=True)
