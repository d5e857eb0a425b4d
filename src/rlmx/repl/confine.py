"""Limits that hold for a worker's whole process tree, and its complete removal.

rlimits are per process (a forked child gets the full memory limit again) or per uid (the
process count), so on their own they do not bound one sandbox. Per worker, the host uses:

- a **cgroup** of its own when it can create one (v2 ``memory.max``/``pids.max``, or the v1
  memory and pids hierarchies): memory and process count hold for the worker's whole tree;
- a **uid of its own** when the host runs as root: the process limit counts that worker's
  processes alone, and no worker can signal another run's worker.

At the end every process of the worker is killed (the cgroup's members, then every process
of its uid, ``setsid`` grandchildren included) and the files its uid left in the shared
temp folders are removed. ``detect()`` says which of these this host has.
"""

from __future__ import annotations

import contextlib
import functools
import os
import random
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")
UID_BASE = 1_500_000_000  # far above any real account; no /etc/passwd entry is needed
UID_SPAN = 1 << 20
SHARED_TMP = ("/tmp", "/var/tmp", "/dev/shm")
_uids_in_use: set[int] = set()
_serial = 0


@dataclass(frozen=True)
class Containment:
    """What this host can do to hold a worker's process tree: ``cgroup`` is ``"v2"``,
    ``"v1"`` or None; ``separate_uids`` is True when each worker gets its own uid."""

    cgroup: str | None
    separate_uids: bool

    def describe(self) -> str:
        parts = []
        if self.cgroup:
            parts.append(f"cgroup {self.cgroup} per worker (memory and process count per tree)")
        if self.separate_uids:
            parts.append("a uid per worker (process count per worker, no cross-run signals)")
        return "; ".join(parts) or "rlimits per process only (not root, no cgroup)"

    def to_dict(self) -> dict[str, object]:
        return {
            "cgroup": self.cgroup,
            "separate_uids": self.separate_uids,
            "summary": self.describe(),
        }


@functools.cache
def detect() -> Containment:
    """Probe once: can this host make cgroups with memory and pids limits, and switch uids?"""
    version = None
    for candidate, parents in (("v2", _v2_parents()), ("v1", _v1_parents())):
        if parents and _probe(parents, candidate):
            version = candidate
            break
    return Containment(version, os.geteuid() == 0)


class Jail:
    """One worker's cgroup and uid; ``launch_prefix`` puts the process in before it starts."""

    def __init__(self, memory_bytes: int, processes: int) -> None:
        self.containment = detect()
        self.uid = _allocate_uid() if self.containment.separate_uids else None
        self.cgroups: list[Path] = []
        if self.containment.cgroup:
            self.cgroups = _make_cgroups(self.containment.cgroup, memory_bytes, processes)

    def launch_prefix(self) -> list[str]:
        """argv that moves the process into the cgroup(s), then execs the rest."""
        if not self.cgroups:
            return []
        procs = " ".join(shlex.quote(str(d / "cgroup.procs")) for d in self.cgroups)
        return ["/bin/sh", "-c", f'echo $$ | tee {procs} >/dev/null && exec "$@"', "rlmx-jail"]

    def kill_all(self) -> None:
        """SIGKILL every process of the worker, wherever it moved (setsid, double fork)."""
        for folder in self.cgroups:
            _kill_cgroup(folder)
        if self.uid is not None:
            _kill_uid(self.uid)

    def release(self) -> None:
        """Kill what is left, remove the cgroups and the files the uid left in /tmp."""
        self.kill_all()
        for folder in self.cgroups:
            _rmdir_cgroup(folder)
        self.cgroups = []
        if self.uid is not None:
            _remove_files_of(self.uid)
            _uids_in_use.discard(self.uid)
            self.uid = None


# -- uids -----------------------------------------------------------------------------------
def _allocate_uid() -> int:
    """A uid that no live process and no other worker of this host uses."""
    live = {_owner(p) for p in Path("/proc").iterdir() if p.name.isdigit()}
    for _ in range(1000):
        uid = UID_BASE + random.randrange(UID_SPAN)
        if uid not in live and uid not in _uids_in_use:
            _uids_in_use.add(uid)
            return uid
    raise RuntimeError("no free worker uid")  # pragma: no cover - 2^20 candidates


def _live_owners() -> set[int | None]:
    """The uids of every process that is not a zombie (a zombie holds no files)."""
    owners: set[int | None] = set()
    for process in Path("/proc").iterdir():
        if process.name.isdigit():
            with contextlib.suppress(OSError):
                if (process / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
                    owners.add(_owner(process))
    return owners


def _owner(path: Path) -> int | None:
    try:
        return path.stat().st_uid
    except OSError:
        return None


def _kill_uid(uid: int) -> None:
    """kill(-1, SIGKILL) from a shell running as ``uid``: every process of that uid dies
    (the shell, not the interpreter: the uid may not be able to read a Python under /root)."""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        subprocess.run(
            ["/bin/sh", "-c", "kill -9 -1"],
            user=uid,
            group=uid,
            extra_groups=[],
            timeout=10,
            capture_output=True,
            cwd="/",
            env={"PATH": "/usr/bin:/bin"},
        )


def _remove_files_of(uid: int) -> None:
    _remove_files(lambda owner: owner == uid, lambda _name: False)


def remove_orphaned_uid_files(keep: Callable[[str], bool]) -> int:
    """Remove what worker uids that no live process (and no worker here) uses left in the
    shared temp folders: a crashed host's workers. ``keep`` names entries a live host still
    owns (a worker folder is chowned before its worker starts). How many entries went."""
    live = _live_owners()
    return _remove_files(lambda owner: UID_BASE <= owner < UID_BASE + UID_SPAN
                         and owner not in live and owner not in _uids_in_use, keep)  # fmt: skip


def _remove_files(owned: Callable[[int], bool], keep: Callable[[str], bool]) -> int:
    removed = 0
    for folder in SHARED_TMP:
        with contextlib.suppress(OSError):
            for entry in os.scandir(folder):
                with contextlib.suppress(OSError):
                    if keep(entry.name) or not owned(entry.stat(follow_symlinks=False).st_uid):
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
                    removed += 1
    return removed


# -- cgroups -------------------------------------------------------------------------------
def _own_cgroups() -> dict[str, str]:
    """controller (or "" for v2) -> this process's cgroup path, from /proc/self/cgroup."""
    found = {}
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/cgroup").read_text().splitlines():
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                found[name] = path
    return found


def _v2_parents() -> list[Path]:
    own = _own_cgroups().get("")
    mount = (
        CGROUP_ROOT if (CGROUP_ROOT / "cgroup.controllers").exists() else CGROUP_ROOT / "unified"
    )
    if own is None or not (mount / "cgroup.controllers").exists():
        return []
    parent = mount / own.lstrip("/")
    try:
        enabled = (parent / "cgroup.subtree_control").read_text().split()
    except OSError:
        return []
    return [parent] if {"memory", "pids"} <= set(enabled) else []


def _v1_parents() -> list[Path]:
    own = _own_cgroups()
    parents = []
    for controller in ("memory", "pids"):
        mount = CGROUP_ROOT / controller
        if controller not in own or not (mount / "cgroup.procs").exists():
            return []
        parents.append(mount / own[controller].lstrip("/"))
    return parents


def _limit_files(version: str, memory_bytes: int, processes: int) -> list[tuple[str, str]]:
    if version == "v2":
        return [
            ("memory.max", str(memory_bytes)),
            ("memory.swap.max", "0"),
            ("pids.max", str(processes)),
        ]
    return [  # v1: the memory folder first, then the pids folder (see _make_cgroups)
        ("memory.limit_in_bytes", str(memory_bytes)),
        ("memory.memsw.limit_in_bytes", str(memory_bytes)),
        ("pids.max", str(processes)),
    ]


def _make_cgroups(version: str, memory_bytes: int, processes: int) -> list[Path]:
    global _serial
    _serial += 1
    name = f"rlmx-{os.getpid()}-{_serial}"
    parents = _v2_parents() if version == "v2" else _v1_parents()
    folders = [parent / name for parent in parents]
    for folder in folders:
        folder.mkdir()
    for key, value in _limit_files(version, memory_bytes, processes):
        for folder in folders:
            target = folder / key
            if target.exists():
                with contextlib.suppress(OSError):  # memsw needs swap accounting
                    target.write_text(value)
    return folders


def _probe(parents: list[Path], version: str) -> bool:
    folders: list[Path] = []
    try:
        folders = [parent / f"rlmx-probe-{os.getpid()}" for parent in parents]
        for folder in folders:
            folder.mkdir()
        key = "memory.max" if version == "v2" else "memory.limit_in_bytes"
        (folders[0] / key).write_text(str(1 << 30))
        (folders[-1] / "pids.max").write_text("64")
        return True
    except OSError:
        return False
    finally:
        for folder in folders:
            with contextlib.suppress(OSError):
                folder.rmdir()


def rlmx_cgroups() -> list[Path]:
    """The cgroups named ``rlmx-...`` beside the ones this host makes (any host's)."""
    version = detect().cgroup
    if version is None:
        return []
    parents = _v2_parents() if version == "v2" else _v1_parents()
    found: list[Path] = []
    for parent in parents:
        with contextlib.suppress(OSError):
            found += [child for child in parent.iterdir()
                      if child.name.startswith("rlmx-") and child.is_dir()]  # fmt: skip
    return found


def remove_cgroup(folder: Path) -> bool:
    """Kill what runs in a cgroup and remove it; whether it went."""
    _kill_cgroup(folder)
    return _rmdir_cgroup(folder)


def _rmdir_cgroup(folder: Path) -> bool:
    for _ in range(50):  # an emptied cgroup can take a moment to be removable
        try:
            folder.rmdir()
            return True
        except FileNotFoundError:
            return True
        except OSError:
            time.sleep(0.02)
    return False


def _kill_cgroup(folder: Path) -> None:
    kill_file = folder / "cgroup.kill"
    if kill_file.exists():
        with contextlib.suppress(OSError):
            kill_file.write_text("1")
    for _ in range(100):  # v1 has no cgroup.kill: signal members until none is left
        try:
            pids = [int(p) for p in (folder / "cgroup.procs").read_text().split()]
        except OSError:
            return
        if not pids:
            return
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.01)
