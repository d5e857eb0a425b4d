"""How a sandbox worker is started: one launcher per sandbox mode, each yielding a channel.

The frame session (``sandbox.py``) does not know how its worker runs. It asks the mode's
``WorkerLauncher`` for a ``Worker``: the channel it speaks frames over, the context path
as the worker sees it, the uid the worker switches to once the context is loaded, and how
to stop it completely. ``none`` runs the worker in a host thread; ``process`` and
``bwrap`` start a process in a jail (``confine.py``); ``container`` starts it in a podman
or docker container (``container.py``). Adding a backend is a launcher here, nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
from pathlib import Path
from typing import Protocol

from . import isolation, scratch, worker
from .channel import Channel
from .confine import Jail


class Worker:
    """A started worker: its channel and what stopping it takes (a thread: nothing)."""

    def __init__(self, channel: Channel, context_path: Path | None, uid: int | None = None):
        self.channel = channel
        self.context_path = context_path  # the context file as the worker sees it
        self.uid = uid  # the worker switches to it after loading the context (root hosts)

    async def startup_error(self) -> str:
        """What the worker said on its error stream before it died, if anything."""
        return ""

    def kill_now(self) -> None:
        """SIGKILL the worker at once (a protocol breaker); ``stop`` cleans up after it."""

    async def exit_status(self, wait: float) -> int | None:
        """The worker's exit status, waiting up to ``wait`` seconds for it (None: running)."""
        return None

    async def stop(self) -> None:
        """Kill every process of the worker and remove what it left; safe to repeat."""
        self.channel.close()


class WorkerLauncher(Protocol):
    """Starts workers of one sandbox mode."""

    mode: str
    host_files_inside: str | None  # where the host-files folder shows (None: its own path)

    async def launch(
        self, context_path: Path | None, limits: dict[str, int], tmp_mb: int, host_files: Path
    ) -> Worker:
        """Start a worker with ``limits`` (``Limits.for_worker``) that can read the context
        file and, read-only, the ``host_files`` folder."""
        ...


class ThreadLauncher:
    """``none``: the worker runs in a thread of the host process (unsafe; for debugging)."""

    mode: str = "none"
    host_files_inside: str | None = None

    async def launch(
        self, context_path: Path | None, limits: dict[str, int], tmp_mb: int, host_files: Path
    ) -> Worker:
        loop = asyncio.get_running_loop()
        to_worker_r, to_worker_w = os.pipe()
        from_worker_r, from_worker_w = os.pipe()
        worker.run_in_thread(to_worker_r, from_worker_w)
        reader = asyncio.StreamReader(limit=1 << 20)
        await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(from_worker_r, "rb", 0)
        )
        transport, protocol = await loop.connect_write_pipe(
            asyncio.streams.FlowControlMixin, os.fdopen(to_worker_w, "wb", 0)
        )
        writer = asyncio.StreamWriter(transport, protocol, None, loop)
        return Worker(Channel(reader, writer), context_path)


class ProcessWorker(Worker):
    """A worker process in a jail of its own, with a private working folder."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        context_path: Path | None,
        jail: Jail,
        workdir: Path,
    ) -> None:
        assert process.stdout is not None and process.stdin is not None
        super().__init__(Channel(process.stdout, process.stdin), context_path, jail.uid)
        self.process = process
        self.jail: Jail | None = jail
        self.workdir: Path | None = workdir

    async def startup_error(self) -> str:
        if self.process.stderr is None:
            return ""
        try:
            data = await asyncio.wait_for(self.process.stderr.read(4096), 2.0)
        except (TimeoutError, OSError):
            return ""
        return data.decode("utf-8", errors="replace").strip()

    def kill_now(self) -> None:
        """SIGKILL the process group (the jail then catches what left the group)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    async def exit_status(self, wait: float) -> int | None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.process.wait(), wait)
        return self.process.returncode

    async def stop(self) -> None:
        await super().stop()
        self.kill_now()  # also when the worker itself already exited: its children
        if self.jail is not None:  # every process it made, its cgroup, its files in /tmp
            await asyncio.to_thread(self.jail.release)
            self.jail = None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.process.wait(), 5.0)
        await _drain_to_eof(self.process)
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


class ProcessLauncher:
    """``process`` (rlimits, and a jail where the host can make one) or ``bwrap``
    (bubblewrap namespaces on top)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.host_files_inside: str | None = None
        if mode == "bwrap":
            self.host_files_inside = isolation.HOST_FILES_INSIDE

    def command(
        self,
        context_path: Path | None,
        limits: dict[str, int],
        tmp_mb: int,
        host_files: Path,
        name: str,
    ) -> tuple[list[str], Path | None]:
        """The argv that starts the worker (``name`` names it) and its context path as the
        worker sees it."""
        return isolation.worker_command(self.mode, context_path, tmp_mb, host_files)

    def home(self, workdir: Path) -> str:
        return "/tmp" if self.mode == "bwrap" else str(workdir)

    async def launch(
        self, context_path: Path | None, limits: dict[str, int], tmp_mb: int, host_files: Path
    ) -> Worker:
        jail = Jail(limits["memory_bytes"], limits["processes"])
        workdir = scratch.folder("worker")
        try:
            if jail.uid is not None:
                os.chown(workdir, jail.uid, jail.uid)
            argv, inside = self.command(context_path, limits, tmp_mb, host_files, workdir.name)
            process = await asyncio.create_subprocess_exec(
                *jail.launch_prefix(),
                *argv,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,  # the launcher's or Python's start-up errors
                cwd=workdir,
                env=isolation.worker_env(self.home(workdir)),
                start_new_session=True,
                limit=1 << 20,
            )
        except BaseException:
            await asyncio.to_thread(jail.release)
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        return self.worker(process, inside, jail, workdir)

    def worker(
        self, process: asyncio.subprocess.Process, inside: Path | None, jail: Jail, workdir: Path
    ) -> Worker:
        return ProcessWorker(process, inside, jail, workdir)


async def _drain_to_eof(process: asyncio.subprocess.Process) -> None:
    """Read a dead worker's pipes to EOF so asyncio closes its transport now, while the
    event loop is still running (otherwise it is closed at garbage collection, with a warning)."""
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stream.read(), 1.0)
