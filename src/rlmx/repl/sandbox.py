"""Host side of the sandbox: one persistent worker per RLM, driven over the wire protocol.

The host keeps a pump task reading the worker's frames. Results complete the pending
``execute``; sub-call requests (``llm_query``, ``llm_query_batched``, ``rlm_query``,
``budget``) go to the RLM's handler and are answered with ``reply`` frames. A cell's time
limit counts only the time the worker computes, not the time it waits for sub-calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import isolation, wire, worker
from .context import PreparedContext

RequestHandler = Callable[[dict[str, Any]], Awaitable[Any]]
RPC_TYPES = {"llm_query", "llm_query_batched", "rlm_query", "budget", "tool"}
STARTUP_TIMEOUT = 60.0


class SandboxError(RuntimeError):
    """The worker could not be started or spoke nonsense."""


class WorkerDied(SandboxError):
    """The worker process ended while the host was waiting for it."""


@dataclass
class CellResult:
    """What one executed cell produced."""

    output: str
    error: bool
    seconds: float
    final: dict[str, Any] | None = None
    output_chars: int = 0
    restored: list[str] = field(default_factory=list)
    timed_out: bool = False
    worker_restarted: bool = False


class _Channel:
    """Frame-level async I/O over a pair of pipe streams."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, message: dict[str, Any]) -> None:
        self.writer.write(wire.encode_frame(message))
        await self.writer.drain()

    async def recv(self) -> dict[str, Any]:
        try:
            header = await self.reader.readexactly(wire.HEADER.size)
            body = await self.reader.readexactly(wire.frame_length(header))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise WorkerDied("worker closed its pipe") from exc
        return wire.decode_body(body)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def _drain_to_eof(process: asyncio.subprocess.Process) -> None:
    """Read a dead worker's pipes to EOF so asyncio closes its transport now, while the
    event loop is still running (otherwise it is closed at garbage collection, with a warning)."""
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(stream.read(), 1.0)


class Sandbox:
    """A persistent REPL worker in one of the modes ``bwrap``, ``process`` or ``none``."""

    def __init__(
        self,
        mode: str = "auto",
        limits: isolation.Limits | None = None,
        interrupt_grace: float = 2.0,
    ) -> None:
        self.mode = isolation.resolve_mode(mode)
        self.limits = limits or isolation.Limits()
        self.interrupt_grace = interrupt_grace
        self.context: PreparedContext | None = None
        self.handler: RequestHandler | None = None
        self.tools: list[dict[str, str]] = []
        self.restarts = 0
        self.load_seconds = 0.0
        self.startup_seconds = 0.0
        self._process: asyncio.subprocess.Process | None = None
        self._channel: _Channel | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._rpc_tasks: set[asyncio.Task[None]] = set()
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._rpc_active = 0
        self._rpc_busy_since = 0.0
        self._rpc_seconds = 0.0
        self._next_id = 0
        self._workdir: Path | None = None

    # -- lifecycle -----------------------------------------------------------------------
    async def start(
        self,
        context: PreparedContext,
        handler: RequestHandler,
        tools: list[dict[str, str]] | None = None,
    ) -> None:
        """Start the worker and load the context into it (once).

        ``tools`` (name and help of each) become REPL functions whose calls reach
        ``handler`` as ``{"type": "tool", "name", "args", "kwargs"}`` requests.
        """
        self.context = context
        self.handler = handler
        self.tools = tools or []
        started = time.perf_counter()
        await self._spawn()
        self.startup_seconds = time.perf_counter() - started

    async def _spawn(self) -> None:
        assert self.context is not None
        context_path = self.context.path
        if self.mode == "none":
            self._channel = await self._spawn_thread()
        else:
            context_path = await self._spawn_process()
        self._pump_task = asyncio.create_task(self._pump())
        ready = self._expect("ready")
        size = self.context.path.stat().st_size if self.context.path else 0
        limits = self.limits.for_worker(size)
        uid = isolation.drop_uid()
        if uid is not None:
            limits["uid"] = uid
        await self._channel.send(
            {
                "type": "init",
                "context_path": str(context_path) if context_path else None,
                "context_kind": self.context.kind,
                "limits": limits,
                "tools": self.tools,
            }
        )
        try:
            message = await asyncio.wait_for(ready, STARTUP_TIMEOUT)
        except (WorkerDied, TimeoutError) as exc:
            why = await self._startup_stderr() or str(exc) or type(exc).__name__
            await self._kill()
            raise SandboxError(f"the {self.mode} sandbox worker failed to start: {why}") from exc
        if message.get("error"):
            await self._kill()
            raise SandboxError(f"the sandbox worker failed to load the context: {message['error']}")
        self.load_seconds = float(message.get("load_seconds", 0.0))

    async def _spawn_process(self) -> Path | None:
        assert self.context is not None
        self._workdir = Path(tempfile.mkdtemp(prefix="rlmx-worker-"))
        uid = isolation.drop_uid()
        if uid is not None:
            os.chown(self._workdir, uid, uid)
        argv, context_inside = isolation.worker_command(
            self.mode, self.context.path, self.limits.tmp_mb
        )
        home = "/tmp" if self.mode == "bwrap" else str(self._workdir)
        self._process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,  # bwrap's or Python's own start-up errors
            cwd=self._workdir,
            env=isolation.worker_env(home),
            start_new_session=True,
            limit=1 << 20,
        )
        assert self._process.stdout is not None and self._process.stdin is not None
        self._channel = _Channel(self._process.stdout, self._process.stdin)
        return context_inside

    async def _startup_stderr(self) -> str:
        """What the worker process (or bwrap) said on stderr before it died, if anything."""
        if self._process is None or self._process.stderr is None:
            return ""
        try:
            data = await asyncio.wait_for(self._process.stderr.read(4096), 2.0)
        except (TimeoutError, OSError):
            return ""
        return data.decode("utf-8", errors="replace").strip()

    async def _spawn_thread(self) -> _Channel:
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
        return _Channel(reader, writer)

    async def close(self) -> None:
        """Shut the worker down; safe to call more than once."""
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel.send({"type": "shutdown"}), 1.0)
        await self._kill()

    async def _kill(self) -> None:
        for task in list(self._rpc_tasks):
            task.cancel()
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(BaseException):
                await self._pump_task
            self._pump_task = None
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._process is not None:
            if self._process.returncode is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._process.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._process.wait(), 5.0)
            await _drain_to_eof(self._process)
            self._process = None
        if self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None
        self._fail_pending(WorkerDied("worker stopped"))

    async def restart(self) -> None:
        """Kill the worker and start a fresh one with the same context (variables are lost)."""
        await self._kill()
        self.restarts += 1
        await self._spawn()

    # -- frames ----------------------------------------------------------------------------
    def _expect(self, key: str) -> asyncio.Future[dict[str, Any]]:
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[key] = future
        return future

    def _fail_pending(self, exc: Exception) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(exc)
        self._pending.clear()

    async def _pump(self) -> None:
        assert self._channel is not None
        try:
            while True:
                message = await self._channel.recv()
                kind = message["type"]
                if kind in RPC_TYPES:
                    task = asyncio.create_task(self._serve_rpc(message))
                    self._rpc_tasks.add(task)
                    task.add_done_callback(self._rpc_tasks.discard)
                    continue
                if kind not in ("ready", "result"):
                    continue  # nothing else is expected from a worker
                key = "ready" if kind == "ready" else f"result:{message.get('id')}"
                future = self._pending.pop(key, None)
                if future is not None and not future.done():
                    future.set_result(message)
        except (WorkerDied, wire.WireError) as exc:
            self._fail_pending(WorkerDied(str(exc)))

    async def _serve_rpc(self, message: dict[str, Any]) -> None:
        assert self.handler is not None
        self._rpc_started()
        reply: dict[str, Any] = {"type": "reply", "id": message.get("id")}
        try:
            reply["value"] = await self.handler(message)
        except Exception as exc:
            reply["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            self._rpc_finished()
        channel = self._channel
        if channel is not None:
            with contextlib.suppress(Exception):
                await channel.send(reply)

    def _rpc_started(self) -> None:
        if self._rpc_active == 0:
            self._rpc_busy_since = time.perf_counter()
        self._rpc_active += 1

    def _rpc_finished(self) -> None:
        self._rpc_active -= 1
        if self._rpc_active == 0:
            self._rpc_seconds += time.perf_counter() - self._rpc_busy_since

    def _waiting_seconds(self) -> float:
        busy = time.perf_counter() - self._rpc_busy_since if self._rpc_active else 0.0
        return self._rpc_seconds + busy

    # -- execution ---------------------------------------------------------------------------
    async def execute(self, code: str, timeout: float, max_output_chars: int) -> CellResult:
        """Run one cell. Past ``timeout`` seconds of compute it is interrupted (state kept);
        if it ignores the interrupt the worker is restarted and its variables are lost."""
        if self._channel is None:
            raise SandboxError("sandbox is not running")
        self._next_id += 1
        result = self._expect(f"result:{self._next_id}")
        started = time.perf_counter()
        waited_before = self._waiting_seconds()
        await self._channel.send(
            {
                "type": "execute",
                "id": self._next_id,
                "code": code,
                "max_output_chars": max_output_chars,
            }
        )
        interrupted_at: float | None = None
        while True:
            compute = time.perf_counter() - started - (self._waiting_seconds() - waited_before)
            if interrupted_at is None:
                wait = max(timeout - compute, 0.0)
            else:
                wait = max(interrupted_at + self.interrupt_grace - time.perf_counter(), 0.0)
            try:
                message = await asyncio.wait_for(asyncio.shield(result), wait)
                break
            except TimeoutError:
                compute = time.perf_counter() - started - (self._waiting_seconds() - waited_before)
                if interrupted_at is None and compute >= timeout:
                    interrupted_at = time.perf_counter()
                    await self._channel.send({"type": "interrupt"})
                elif interrupted_at is not None:
                    return await self._restart_after(
                        f"The cell ignored the interrupt after its {timeout:g} s time limit",
                        started,
                        timed_out=True,
                    )
            except WorkerDied:
                return await self._restart_after("The REPL worker process died", started)
        return CellResult(
            output=message["output"],
            error=bool(message["error"]),
            seconds=float(message["seconds"]),
            final=message.get("final"),
            output_chars=int(message.get("output_chars", 0)),
            restored=list(message.get("restored", [])),
            timed_out=interrupted_at is not None,
        )

    async def _restart_after(self, why: str, started: float, timed_out: bool = False) -> CellResult:
        code = None
        if self._process is not None:
            if not timed_out:  # let the dead process be reaped so its status is known
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._process.wait(), 1.0)
            code = self._process.returncode
        detail = f" (exit status {code})" if code not in (None, 0) else ""
        await self.restart()
        return CellResult(
            output=(
                f"{why}{detail}. The worker was restarted: all variables defined so far are lost; "
                "`context` and the helper functions are available again."
            ),
            error=True,
            seconds=time.perf_counter() - started,
            timed_out=timed_out,
            worker_restarted=True,
        )

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
