"""Runs the CLI keeps: every `rlmx ask` and `rlmx chat` run's trajectory, by default.

A newcomer who wants to look again at the run they just did should find it: each run is
written to ``<data dir>/runs/<run_id>.jsonl`` (the data dir is the server's too:
``$RLMX_DATA_DIR``, else ``$XDG_DATA_HOME/rlmx``, else ``~/.local/share/rlmx``), the oldest
pruned past ``KEPT_MAX_BYTES`` or ``KEPT_MAX_DAYS``. ``--no-record`` or ``RLMX_NO_RECORD=1``
keeps nothing. ``rlmx runs`` lists them; ``rlmx view RUN_ID`` / ``--last`` opens one.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .lm.registry import prune_cache

KEPT_MAX_BYTES = 1 << 30
KEPT_MAX_DAYS = 90
TAIL_BYTES = 1 << 16  # the end of a trajectory read for its run_finished event
RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
OFF = ("1", "true", "yes", "on")


def default_data_dir() -> Path:
    """``$RLMX_DATA_DIR``, else ``$XDG_DATA_HOME/rlmx``, else ``~/.local/share/rlmx``."""
    if os.environ.get("RLMX_DATA_DIR"):
        return Path(os.environ["RLMX_DATA_DIR"])
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "rlmx"


def runs_dir() -> Path:
    return default_data_dir() / "runs"


def recording(flag: bool) -> bool:
    """Whether runs are kept: the flag, unless ``RLMX_NO_RECORD`` turns it off."""
    return flag and os.environ.get("RLMX_NO_RECORD", "").lower() not in OFF


def folder() -> Path:
    """The folder runs are kept in (made now), pruned of the oldest past the caps."""
    kept = runs_dir()
    kept.mkdir(parents=True, exist_ok=True)
    prune_cache(kept, "*.jsonl", KEPT_MAX_BYTES, KEPT_MAX_DAYS)
    return kept


@dataclass
class KeptRun:
    """One kept run as ``rlmx runs`` lists it."""

    run_id: str
    started: float
    query: str
    status: str
    seconds: float | None
    answer: str | None
    path: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def listing(limit: int = 20) -> list[KeptRun]:
    """The most recent kept runs, newest first (a file that cannot be read is left out)."""
    kept = runs_dir()
    if not kept.is_dir():
        return []
    files = sorted(kept.glob("*.jsonl"), key=_mtime, reverse=True)
    runs = (_summary(path) for path in files)
    return [run for run in runs if run is not None][:limit]


def find(run_id: str | None) -> Path:
    """The trajectory of ``run_id``, or of the last run (None); ValueError if there is none."""
    if run_id is None:
        latest = listing(1)
        if not latest:
            raise ValueError(f"no kept runs in {runs_dir()} (rlmx ask keeps each run there)")
        return Path(latest[0].path)
    if not RUN_ID.match(run_id):
        raise ValueError(f"{run_id!r} is not a run id (rlmx runs lists them)")
    path = runs_dir() / f"{run_id}.jsonl"
    if not path.is_file():
        raise ValueError(f"no kept run {run_id!r} in {runs_dir()} (rlmx runs lists them)")
    return path


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _summary(path: Path) -> KeptRun | None:
    try:
        with path.open("rb") as file:
            first = json.loads(file.readline())
            size = path.stat().st_size
            file.seek(max(0, size - TAIL_BYTES))
            tail = file.read().decode("utf-8", errors="replace").splitlines()
    except (OSError, ValueError):
        return None
    if first.get("type") != "run_started":
        return None
    finished = _finished(tail, first.get("run_id"))
    return KeptRun(
        run_id=str(first.get("run_id")),
        started=float(first.get("ts", 0.0)),
        query=str(first.get("query", "")),
        status=finished.get("status", "unfinished") if finished else "unfinished",
        seconds=finished.get("seconds") if finished else None,
        answer=finished.get("answer") if finished else None,
        path=str(path),
    )


def _finished(lines: list[str], run_id: Any) -> dict[str, Any] | None:
    for line in reversed(lines):
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("type") == "run_finished" and event.get("run_id") == run_id:
            return event
    return None
