"""The store a ``--store`` URL names (kept apart from ``store.py``, which the stores import)."""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError
from .store import RunStore, SQLiteStore


def open_store(url: str | None, data_dir: Path) -> RunStore:
    """The store at ``url``: ``postgresql://...`` (or ``postgres://``), ``sqlite:///PATH``,
    or None for ``runs.sqlite3`` in the data dir. Call ``connect()`` on it before use."""
    if url is None:
        return SQLiteStore(data_dir / "runs.sqlite3")
    if url.startswith(("postgresql://", "postgres://")):
        from .store_postgres import PostgresStore

        return PostgresStore(url)
    if url.startswith("sqlite:///"):
        return SQLiteStore(Path(url.removeprefix("sqlite:///")))
    raise ConfigError("--store must be postgresql://..., postgres://... or sqlite:///PATH")
