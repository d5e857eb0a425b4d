"""Jobs as Ray tasks: ``rlmx eval run --ray`` and ``rlmx batch --ray``.

Each job is one Ray task that runs the same ``jobs.run_one`` as the local runner, with its
resources declared (CPUs, and memory for the sandbox and the host side of one RLM), so
Ray places as many at once as the cluster holds. Rows come back to the driver as tasks
finish and are written there, to the same resumable JSONL as a local run. A task whose
worker process or node dies is retried by Ray (``RETRIES`` times); a job's own failure is
its row and is not retried. Cancelling the run cancels the tasks still pending.

Worker nodes need rlmx installed, the model files and replay scripts at the same paths,
and the keys of remote models in their own environment: nothing is shipped with a task
but the job itself.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from .errors import ConfigError
from .jobs import Failed, Row, Work, run_one
from .repl.isolation import Limits

RETRIES = 3  # a task lost with its worker or node is run again up to this many times
HOST_SIDE_MB = 512  # the RLM's host process beside its sandbox
TASK_MEMORY_MB = Limits().memory_mb + HOST_SIDE_MB
LOCAL = "local"  # start a private single-machine Ray instead of joining a cluster
CONNECT_TIMEOUT_S = 10
LOOPBACK_ENV = "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"  # "0": Ray binds 127.0.0.1 only


def _run_job(functions: tuple[Work, Failed], job: Any) -> Row:
    """The Ray task: one job's row (the task's name, ``ray::_run_job``, is its process
    title while it runs)."""
    work, failed = functions
    return asyncio.run(run_one(work, failed, job))


@dataclass(frozen=True)
class RayRunner:
    """Jobs as Ray tasks on the cluster at ``address`` (``auto``: the one this machine
    belongs to; ``host:port``; ``local``: a private one on this machine, on loopback).

    ``memory_mb`` defaults to the sandbox's memory limit plus the host side."""

    address: str = "auto"
    num_cpus: float = 1.0
    memory_mb: int = TASK_MEMORY_MB
    remote: bool = True

    def _connect(self) -> Any:
        if self.address == LOCAL:
            os.environ.setdefault(LOOPBACK_ENV, "0")  # read when Ray is imported
        try:
            import ray
        except ImportError:
            raise ConfigError("--ray needs Ray: pip install 'rlmx[ray]'") from None
        if not ray.is_initialized():
            _check_reachable(self.address)
            try:
                ray.init(address=None if self.address == LOCAL else self.address,
                         log_to_driver=False, include_dashboard=False)  # fmt: skip
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise ConfigError(
                    f"cannot reach the Ray cluster at {self.address}: {exc}"
                ) from None
        return ray

    async def rows(self, plan: list[Any], work: Work, failed: Failed) -> AsyncIterator[Row]:
        if not plan:
            return
        ray = self._connect()
        task = ray.remote(_run_job).options(
            num_cpus=self.num_cpus, memory=self.memory_mb * 2**20,
            max_retries=RETRIES, retry_exceptions=False,
        )  # fmt: skip
        functions = ray.put((work, failed))  # sent once, not with every task
        pending = {}
        for job in plan:
            ref = task.remote(functions, job)
            pending[asyncio.wrap_future(ref.future())] = (ref, job)
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for finished in done:
                    _, job = pending.pop(finished)
                    try:
                        row = finished.result()
                    except Exception as exc:  # lost past its retries, or cancelled
                        row = failed(job, exc)
                    yield row
        finally:  # cancelled or closed early: the tasks still pending are cancelled
            for ref, _ in pending.values():
                ray.cancel(ref)


def _check_reachable(address: str) -> None:
    """Fail at once on a HOST:PORT where nothing listens: Ray itself retries forever."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit() or "://" in address:
        return  # auto, local, or a ray:// client address: Ray reports those itself
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as exc:
        raise ConfigError(f"cannot reach the Ray cluster at {address}: {exc}") from None
