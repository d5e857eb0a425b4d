"""How a worker process is started in each sandbox mode, and with which limits.

``bwrap``: bubblewrap with new pid/net/ipc/uts namespaces; only the Python runtime, the
worker's files (WORKER_FILES), the context and the host-files folder are visible
(read-only), plus a private tmpfs.
``process``: a plain child process with rlimits only. When the host runs as root, both
switch the worker to a uid of its own once the context is loaded, so that the hard rlimits
(the process count, which the kernel does not enforce for root, counted per uid) hold for
that worker alone; ``confine.py`` adds a cgroup per worker where the host can make one.
``container`` (``container.py``) runs the worker in a podman or docker container; ``none``
runs it in a host thread. ``launchers.py`` starts a worker of each mode.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError, SandboxError

log = logging.getLogger("rlmx.sandbox")  # (used by the probe)

MODES = ("auto", "bwrap", "container", "process", "none")
WORKER_DIR_INSIDE = "/opt/rlmx"
CONTEXT_DIR_INSIDE = "/context"
HOST_FILES_INSIDE = "/host-files"  # files the host adds while the worker runs
WORKER_FILES = (
    "worker.py",
    "wire.py",
    "video_context.py",
    "records.py",
    "data_profile.py",
    "line_kinds.py",
)
PROBE_TRIES = 3


class SandboxUnavailable(SandboxError, ConfigError):
    """The requested sandbox mode cannot run on this machine."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one worker, and what the host accepts from it.

    Memory is on top of the context's own size. ``cell_seconds`` is the computation one
    cell may take before it is interrupted (time spent waiting for sub-calls does not
    count); ``cell_wall_seconds`` its wall-clock time whatever the worker does (sub-call
    waits included). The others bound the host's side: the largest frame a worker may
    send, requests in flight per worker, prompts in one batch, child runs at once per depth
    of the tree (never more than its concurrency), bytes of replies queued for a worker
    that does not read them.
    """

    memory_mb: int = 2048
    cpu_seconds: int = 3600
    file_mb: int = 256
    processes: int = 64
    tmp_mb: int = 512
    frame_mb: int = 64
    max_requests: int = 64
    max_batch: int = 20_000
    max_child_runs: int = 8
    reply_buffer_mb: int = 64
    cell_seconds: float = 120.0
    cell_wall_seconds: float = 3600.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value <= 0:
                raise ValueError(f"Limits.{name} must be positive, got {value}")

    def for_worker(self, context_bytes: int) -> dict[str, int]:
        # A text context briefly exists twice (memory map + decoded str, up to 4 bytes/char).
        return {
            "memory_bytes": self.memory_mb * 2**20 + 5 * context_bytes,
            "cpu_seconds": self.cpu_seconds,
            "file_bytes": self.file_mb * 2**20,
            "processes": self.processes,
        }


@functools.cache
def bwrap_problem() -> str | None:
    """Probe once whether bubblewrap can create the namespaces we use: None if it can,
    else why not (bwrap's own message)."""
    if shutil.which("bwrap") is None:
        return "bwrap is not installed"
    probe = [*_bwrap_prefix(), "--", *python(), "-c", "pass"]
    why = ""
    for _ in range(PROBE_TRIES):  # the answer is cached: one transient failure (a full
        try:  # process table) must not downgrade every sandbox of this process
            done = subprocess.run(probe, capture_output=True, timeout=20)
        except (OSError, subprocess.SubprocessError) as exc:
            why = str(exc)
            continue
        if done.returncode == 0:
            return None
        why = done.stderr.decode("utf-8", errors="replace").strip()
    why = f"the probe failed {PROBE_TRIES} times: {why[:300] or 'no message'}"
    log.info("bubblewrap %s", why)
    return why


def bwrap_works() -> bool:
    """Whether bubblewrap can create the namespaces we use (probed once)."""
    return bwrap_problem() is None


def python() -> list[str]:
    """The host's interpreter with the flags every worker and confined child runs it with
    (no PYTHON* variables, no user site, no bytecode written)."""
    return [_interpreter(), "-E", "-s", "-B"]


def _interpreter() -> str:
    # normalized without following links: started as ../.venv/bin/python, the `..` would
    # pass through a folder that does not exist inside the sandbox (the venv link must stay)
    return os.path.abspath(sys.executable)


def _bwrap_prefix(tmp_mb: int = 64) -> list[str]:
    # The private tmpfs comes first: binds below it (a venv under /tmp) stay visible.
    args = [
        "bwrap",
        "--perms",
        "1777",
        "--size",
        str(tmp_mb * 2**20),
        "--tmpfs",
        "/tmp",
        "--unshare-pid",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-net",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--proc",
        "/proc",
        "--dev",
        "/dev",
    ]
    for top in ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64"):
        path = Path(top)
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), top]
        elif path.exists():
            args += ["--ro-bind", top, top]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"):
        if Path(etc).exists():
            args += ["--ro-bind", etc, etc]
    for prefix in sorted({sys.base_prefix, sys.prefix}):
        # The interpreter may live under the host's home (pyenv): bind exactly that path.
        if not prefix.startswith("/usr"):
            args += _read_only_at_own_path(prefix)
    return args


def _read_only_at_own_path(path: str) -> list[str]:
    """bwrap args showing ``path`` read-only where it is, with traversable empty parents
    so that a worker with a uid of its own can still reach it."""
    args = []
    for parent in reversed(Path(path).parents[:-1]):
        args += ["--perms", "0755", "--dir", str(parent)]
    return [*args, "--ro-bind", path, path]


def worker_command(
    mode: str, context_path: Path | None, tmp_mb: int, host_files: Path | None = None
) -> tuple[list[str], Path | None]:
    """The argv that starts a worker, and the context path as the worker will see it.
    ``host_files`` holds what the host adds later (``Sandbox.define``'s variables, frames
    of a video); bwrap shows it, read-only, at HOST_FILES_INSIDE."""
    source_dir = Path(__file__).resolve().parent
    if mode == "process":
        return [*python(), str(source_dir / "worker.py")], context_path
    args = _bwrap_prefix(tmp_mb)
    for name in WORKER_FILES:
        args += ["--ro-bind", str(source_dir / name), f"{WORKER_DIR_INSIDE}/{name}"]
    inside = None
    if context_path is not None:
        inside = Path(CONTEXT_DIR_INSIDE) / context_path.name
        args += ["--ro-bind", str(context_path), str(inside)]
    if host_files is not None:
        args += ["--ro-bind", str(host_files), HOST_FILES_INSIDE]
    args += ["--chdir", "/tmp", "--", *python(), f"{WORKER_DIR_INSIDE}/worker.py"]
    return args, inside


def child_command(mode: str, script: Path, args: list[str]) -> list[str]:
    """The argv that runs one of rlmx's own scripts (``confined_child.py``) in ``mode``
    (``bwrap`` or ``process``): under bwrap with rlmx's package folder visible, read-only,
    at its own path, and nothing of the host's files but the runtime."""
    command = [*python(), str(script), *args]
    if mode == "process":
        return command
    package = _read_only_at_own_path(str(script.resolve().parent))
    return [*_bwrap_prefix(), *package, "--chdir", "/tmp", "--", *command]


def worker_env(home: str) -> dict[str, str]:
    """A minimal environment: no API keys or other host secrets reach model code."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "PYTHONIOENCODING": "utf-8",
        "PYTHONDONTWRITEBYTECODE": "1",
        "MALLOC_ARENA_MAX": "2",
    }
