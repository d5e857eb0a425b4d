"""Temporary folders named for the process that made them, and the sweep of what dead
processes left behind.

A host killed with SIGKILL (or by the OOM killer) runs no clean-up: its run folders, worker
folders and cgroups stay, and its workers' files in the shared temp folders too. Every
temporary folder of rlmx is ``rlmx-<pid>-<kind>-...`` and every cgroup ``rlmx-<pid>-<n>``,
so the next host to start (``sweep_once``) can tell which belong to a process that is gone
and remove them: cgroups first (their processes are killed), then folders, then the files
of worker uids that no live process uses.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from . import confine

LEFTOVER = re.compile(r"^rlmx-(?:probe-)?(\d+)-")


def prefix(kind: str) -> str:
    """The name start of a temporary folder of this process (``tempfile``'s ``prefix``)."""
    return f"rlmx-{os.getpid()}-{kind}-"


def folder(kind: str) -> Path:
    """A new temporary folder of this process."""
    return Path(tempfile.mkdtemp(prefix=prefix(kind)))


@dataclass
class Swept:
    """What one sweep removed."""

    cgroups: list[str] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)
    uid_files: int = 0


def alive(pid: int) -> bool:
    """A process with this pid exists (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner(name: str) -> int | None:
    """The pid in the name of an rlmx folder or cgroup (None for any other name)."""
    match = LEFTOVER.match(name + "-")
    return int(match.group(1)) if match else None


def dead_owner(name: str) -> bool:
    """The name is an rlmx folder, cgroup or container of a process that is gone."""
    pid = _owner(name)
    return pid is not None and pid != os.getpid() and not alive(pid)


def _live_owner(name: str) -> bool:
    pid = _owner(name)
    return pid is not None and (pid == os.getpid() or alive(pid))


def sweep() -> Swept:
    """Remove the cgroups and temporary folders of rlmx processes that are gone, and the
    files that worker uids no live process uses left in the shared temp folders."""
    swept = Swept()
    for cgroup in confine.rlmx_cgroups():
        if dead_owner(cgroup.name) and confine.remove_cgroup(cgroup):
            swept.cgroups.append(str(cgroup))
    with contextlib.suppress(OSError):
        for entry in os.scandir(tempfile.gettempdir()):
            if entry.is_dir(follow_symlinks=False) and dead_owner(entry.name):
                shutil.rmtree(entry.path, ignore_errors=True)
                swept.folders.append(entry.path)
    swept.uid_files = confine.remove_orphaned_uid_files(keep=_live_owner)
    return swept


@functools.cache
def sweep_once() -> Swept:
    """The sweep, once per process (at its first workspace or server start)."""
    return sweep()
