"""Host side of the sandbox: one persistent worker per RLM, driven over the wire protocol.

The host keeps a pump task reading the worker's frames. Every frame is validated first
(``frames.py``, within the caps of ``Limits``); a worker that breaks the protocol is killed
and replaced, and the model is told. Results complete the pending ``execute``; ``call``
frames of the host functions the sandbox was started with (``functions.py``) are checked
against their spec, go to the handler and are answered with ``reply`` frames (an error
keeps its type name). A cell's time limit counts the time the
worker computes, not the time it waits for sub-calls, and is kept by the host's own clock;
a wall-clock cap holds whatever the worker does. See docs/ARCHITECTURE.md, "Wire protocol".
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import SandboxError
from . import frames, isolation, modes, scratch, wire
from .channel import Channel, WorkerDied
from .container import ContainerLauncher
from .context import PreparedContext
from .functions import FunctionSpec
from .launchers import ProcessLauncher, ThreadLauncher, Worker, WorkerLauncher

CallHandler = Callable[[str, dict[str, Any]], Awaitable[Any]]  # (function name, arguments)
STARTUP_TIMEOUT = 60.0
MAX_SHARED = 256  # files shared with the worker (frames) kept at once


@dataclass(frozen=True)
class SharedFile:
    """A tool result that is a file (a video frame as JPEG): the host writes it where the
    worker can read it, and the cell gets ``{"path": ..., **info}`` instead of the bytes."""

    data: bytes
    suffix: str
    info: dict[str, Any] = field(default_factory=dict)


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


def launcher(mode: str) -> WorkerLauncher:
    """The launcher of a resolved sandbox mode (``modes.resolve_mode``)."""
    if mode == "none":
        return ThreadLauncher()
    if mode == "container":
        return ContainerLauncher()
    return ProcessLauncher(mode)


class Sandbox:
    """A persistent REPL worker, started by the launcher of its mode (``launchers.py``)."""

    def __init__(
        self,
        mode: str = "auto",
        limits: isolation.Limits | None = None,
        interrupt_grace: float = 2.0,
    ) -> None:
        self.mode = modes.resolve_mode(mode)
        self.launcher = launcher(self.mode)
        self.limits = limits or isolation.Limits()
        self.interrupt_grace = interrupt_grace
        self.context: PreparedContext | None = None
        self.handler: CallHandler | None = None
        self.functions: dict[str, FunctionSpec] = {}
        self.restarts = 0
        self.load_seconds = 0.0
        self.startup_seconds = 0.0
        self._worker: Worker | None = None
        self._channel: Channel | None = None
        self._pump_task: asyncio.Task[None] | None = None
        self._rpc_tasks: dict[int, asyncio.Task[None]] = {}
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._cell_id: int | None = None  # the execute whose result is awaited
        self._violation: str | None = None  # why the worker was killed as broken
        self._wait_active = 0
        self._wait_since = 0.0
        self._wait_seconds = 0.0
        self._next_id = 0
        self._defined: dict[str, tuple[Path | None, str]] = {}  # name -> (file, kind)
        self._host_files_dir: Path | None = None
        self._staged = 0
        self._shared: list[Path] = []

    # -- lifecycle -----------------------------------------------------------------------
    async def start(
        self,
        context: PreparedContext,
        handler: CallHandler,
        functions: list[FunctionSpec],
    ) -> None:
        """Start the worker and load the context into it (once).

        Each of ``functions`` becomes a REPL function; its calls reach ``handler`` as
        ``(name, arguments)`` once checked against its spec.
        """
        self.context = context
        self.handler = handler
        self.functions = {spec.name: spec for spec in functions}
        started = time.perf_counter()
        await self._spawn()
        self.startup_seconds = time.perf_counter() - started

    async def _spawn(self) -> None:
        assert self.context is not None
        limits = self._worker_limits()
        self._worker = await self.launcher.launch(
            self.context.path, limits, self.limits.tmp_mb, self._host_files()
        )
        self._channel = self._worker.channel
        self._violation = None
        ready = self._expect("ready")
        self._pump_task = asyncio.create_task(self._pump())
        if self._worker.uid is not None:
            limits["uid"] = self._worker.uid
        context_path = self._worker.context_path
        try:
            await self._channel.send(
                {
                    "type": "init",
                    "context_path": str(context_path) if context_path else None,
                    "context_kind": self.context.kind,
                    "limits": limits,
                    "functions": [spec.to_wire() for spec in self.functions.values()],
                    "max_async": max(self.limits.max_requests // 2, 1),  # margin below the cap
                    "max_quotes": [frames.MAX_QUOTES, frames.MAX_QUOTE_CHARS],
                    "defined": [self._defined_frame(name) for name in self._defined],
                }
            )
            async with asyncio.timeout(STARTUP_TIMEOUT):
                message = await ready
        except (WorkerDied, TimeoutError) as exc:
            why = await self._worker.startup_error() or str(exc) or type(exc).__name__
            await self._kill()
            raise SandboxError(f"the {self.mode} sandbox worker failed to start: {why}") from exc
        if message.get("error"):
            await self._kill()
            raise SandboxError(f"the sandbox worker failed to load the context: {message['error']}")
        self.load_seconds = float(message.get("load_seconds", 0.0))

    def _worker_limits(self) -> dict[str, int]:
        assert self.context is not None
        size = self.context.path.stat().st_size if self.context.path else 0
        return self.limits.for_worker(size)

    async def close(self) -> None:
        """Shut the worker down; safe to call more than once."""
        if self._channel is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel.send({"type": "shutdown"}), 1.0)
        await self._kill()
        if self._host_files_dir is not None:
            shutil.rmtree(self._host_files_dir, ignore_errors=True)
            self._host_files_dir = None
        self._defined.clear()
        self._shared.clear()

    # -- variables the host adds between cells ------------------------------------------
    async def define(self, name: str, value: PreparedContext) -> None:
        """Add or replace a reserved REPL variable between cells (a session's ``context_1``
        or ``history``). Its file is staged in a folder the worker can read, so it is
        there again after a restart; defined before ``start``, it is loaded with the context."""
        if self._cell_id is not None:
            raise SandboxError("variables can be defined only between cells")
        old = self._defined.get(name)
        self._defined[name] = new = (self._stage(value), value.kind)
        try:
            if self._channel is not None and self._pump_task and not self._pump_task.done():
                await self._load_defined(name)
        except SandboxError:
            self._defined.pop(name)  # a restart must not trip over it
            if old is not None:
                self._defined[name] = old
            old = new
            raise
        finally:
            if old is not None and old[0] is not None:
                old[0].unlink(missing_ok=True)

    def defined_file(self, name: str) -> tuple[Path | None, str] | None:
        """The staged file and kind of a variable ``define`` added (None: not defined)."""
        return self._defined.get(name)

    async def _load_defined(self, name: str) -> None:
        assert self._channel is not None
        ready = self._expect("ready")
        try:
            await self._channel.send({"type": "define", **self._defined_frame(name)})
            async with asyncio.timeout(STARTUP_TIMEOUT):
                message = await ready
        except (WorkerDied, TimeoutError) as exc:  # the next cell restarts the worker
            raise SandboxError(f"the worker could not load {name}: {exc}") from exc
        if message.get("error"):
            raise SandboxError(f"the worker could not load {name}: {message['error']}")

    def _host_files(self) -> Path:
        if self._host_files_dir is None:
            self._host_files_dir = scratch.folder("host-files")
            self._host_files_dir.chmod(0o755)  # a worker with a uid of its own reads it
        return self._host_files_dir

    def _stage(self, value: PreparedContext) -> Path | None:
        if value.path is None:
            return None
        self._staged += 1
        target = self._host_files() / f"{self._staged}{value.path.suffix}"
        if value.path.stat().st_mode & 0o004:  # readable by the worker's uid as it is
            with contextlib.suppress(OSError):  # (a link fails across file systems)
                os.link(value.path, target)
                return target
        shutil.copyfile(value.path, target)
        target.chmod(0o644)
        return target

    def share(self, data: bytes, suffix: str) -> str:
        """Write a file the worker may read (a video frame a tool returns); its path as the
        worker sees it. The last MAX_SHARED files are kept."""
        self._staged += 1
        target = self._host_files() / f"shared-{self._staged}{suffix}"
        target.write_bytes(data)
        target.chmod(0o644)
        self._shared.append(target)
        while len(self._shared) > MAX_SHARED:
            self._shared.pop(0).unlink(missing_ok=True)
        return str(self._inside(target))

    def shared_file(self, inside: str) -> Path | None:
        """The host's file behind a path ``share`` gave the worker (one still kept), or
        None: a path model code names is looked up, never opened as it is."""
        return next((path for path in self._shared if str(self._inside(path)) == inside), None)

    def _inside(self, path: Path) -> Path:
        """A file of the host-files folder as the worker sees it."""
        inside = self.launcher.host_files_inside
        return Path(inside) / path.name if inside is not None else path

    def _defined_frame(self, name: str) -> dict[str, Any]:
        path, kind = self._defined[name]
        if path is not None:
            path = self._inside(path)
        return {"name": name, "path": str(path) if path else None, "kind": kind}

    def _cancel_calls(self) -> None:
        """Cancel every host call still running (a tool in a thread stops at its next check)."""
        for task in list(self._rpc_tasks.values()):
            task.cancel()

    async def _kill(self) -> None:
        self._cancel_calls()
        if self._pump_task is not None:
            self._pump_task.cancel()
            with contextlib.suppress(BaseException):
                await self._pump_task
            self._pump_task = None
        self._channel = None
        if self._worker is not None:
            await self._worker.stop()
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
                future.exception()  # retrieved: a cell may not be waiting on it
        self._pending.clear()

    async def _pump(self) -> None:
        assert self._channel is not None
        try:
            while True:
                self._accept(await self._channel.recv(self.limits.frame_mb * 2**20))
        except (frames.ProtocolViolation, wire.WireError) as exc:
            self._broken(str(exc))
        except WorkerDied as exc:
            self._fail_pending(WorkerDied(str(exc)))

    def _accept(self, message: dict[str, Any]) -> None:
        """Route one validated frame; ProtocolViolation for anything the protocol forbids."""
        kind = message["type"]
        if kind == "call":
            frames.check_call(message)
            spec = self.functions.get(message["name"])
            if spec is None:
                raise frames.ProtocolViolation(f"a call of {message['name'][:40]!r}, not offered")
            spec.check(message["arguments"], self.limits.max_batch)
            request_id = message["id"]
            if request_id in self._rpc_tasks:
                raise frames.ProtocolViolation(f"request id {request_id} is already in flight")
            if len(self._rpc_tasks) >= self.limits.max_requests:
                raise frames.ProtocolViolation(
                    f"more than {self.limits.max_requests} requests in flight"
                )
            task = asyncio.create_task(self._serve_rpc(message))
            self._rpc_tasks[request_id] = task
            task.add_done_callback(lambda _t: self._rpc_tasks.pop(request_id, None))
        elif kind == "result":
            frames.check_result(message, self._cell_id)
            self._cell_id = None
            self._resolve("result", message)
        elif kind == "ready" and "ready" in self._pending:
            frames.check_ready(message)
            self._resolve("ready", message)
        else:
            raise frames.ProtocolViolation(f"an unexpected {str(kind)[:40]!r} frame")

    def _resolve(self, key: str, message: dict[str, Any]) -> None:
        future = self._pending.pop(key, None)
        if future is not None and not future.done():
            future.set_result(message)

    def _broken(self, why: str) -> None:
        """The worker broke the protocol: kill it now; the cell (if any) restarts it."""
        self._violation = why
        if self._worker is not None:
            self._worker.kill_now()
            self._worker.channel.close()
        self._fail_pending(WorkerDied(f"the worker broke the protocol: {why}"))

    async def _serve_rpc(self, message: dict[str, Any]) -> None:
        assert self.handler is not None
        waits = self.functions[message["name"]].waits
        if waits:
            self._wait_started()
        reply: dict[str, Any] = {"type": "reply", "id": message["id"]}
        try:
            reply["value"] = await self.handler(message["name"], message["arguments"])
        except Exception as exc:  # crosses to the cell as ToolError, keeping its type's name
            reply["error"] = {"type": getattr(exc, "type_name", type(exc).__name__),
                              "message": str(exc)}  # fmt: skip
        finally:
            if waits:
                self._wait_finished()
        channel = self._channel
        if channel is None:
            return
        data = wire.encode_frame(reply)
        if channel.buffered() + len(data) > self.limits.reply_buffer_mb * 2**20:
            self._broken("it does not read the host's replies")
            return
        with contextlib.suppress(WorkerDied):
            await channel.send(data)

    def _wait_started(self) -> None:
        if self._wait_active == 0:
            self._wait_since = time.perf_counter()
        self._wait_active += 1

    def _wait_finished(self) -> None:
        self._wait_active -= 1
        if self._wait_active == 0:
            self._wait_seconds += time.perf_counter() - self._wait_since

    def _waiting_seconds(self) -> float:
        busy = time.perf_counter() - self._wait_since if self._wait_active else 0.0
        return self._wait_seconds + busy

    # -- execution ---------------------------------------------------------------------------
    async def execute(self, code: str, timeout: float, max_output_chars: int) -> CellResult:
        """Run one cell. Past ``timeout`` seconds of compute (or the wall-clock cap) it is
        interrupted (state kept); if it ignores the interrupt, or the worker breaks the
        protocol or dies, the worker is restarted and its variables are lost."""
        if self.context is None:
            raise SandboxError("sandbox is not running")
        started = time.perf_counter()
        if self._channel is None or self._pump_task is None or self._pump_task.done():
            why = f" ({self._violation})" if self._violation else ""
            return await self._restart_after(
                f"The REPL worker had stopped before this cell{why}", started
            )
        self._next_id += 1
        self._cell_id = self._next_id
        result = self._expect("result")
        waited_before = self._waiting_seconds()
        wall_deadline = started + self.limits.cell_wall_seconds

        def compute() -> float:
            return time.perf_counter() - started - (self._waiting_seconds() - waited_before)

        interrupted_at: float | None = None
        try:
            await self._channel.send(
                {
                    "type": "execute",
                    "id": self._cell_id,
                    "code": code,
                    "max_output_chars": max_output_chars,
                }
            )
            while True:
                if interrupted_at is None:
                    wait = min(timeout - compute(), wall_deadline - time.perf_counter())
                else:
                    wait = interrupted_at + self.interrupt_grace - time.perf_counter()
                try:
                    async with asyncio.timeout(max(wait, 0.0)):
                        message = await asyncio.shield(result)
                    break
                except TimeoutError:
                    over = compute() >= timeout or time.perf_counter() >= wall_deadline
                    if interrupted_at is None and over:
                        interrupted_at = time.perf_counter()
                        await self._channel.send({"type": "interrupt", "id": self._cell_id})
                    elif interrupted_at is not None:
                        return await self._restart_after(
                            f"The cell ignored the interrupt after its {timeout:g} s time limit",
                            started,
                            timed_out=True,
                        )
        except WorkerDied:
            if self._violation is not None:
                why = f"The REPL worker broke the protocol ({self._violation}) and was killed"
                return await self._restart_after(why, started)
            return await self._restart_after("The REPL worker process died", started)
        finally:
            self._cell_id = None
            self._cancel_calls()  # what the cell left running (its worker stopped waiting)
        return CellResult(
            output=_cap(message["output"], max_output_chars),
            error=message["error"],
            seconds=float(message["seconds"]),
            final=message["final"],
            output_chars=message["output_chars"],
            restored=message["restored"],
            timed_out=interrupted_at is not None,
        )

    async def _restart_after(self, why: str, started: float, timed_out: bool = False) -> CellResult:
        code = None
        if self._worker is not None:  # a dead process is reaped so its status is known
            code = await self._worker.exit_status(0.0 if timed_out else 1.0)
        detail = f" (exit status {code})" if code not in (None, 0, -signal.SIGKILL) else ""
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


def _cap(output: str, limit: int) -> str:
    """The worker caps its output; a forged result may not, so the host caps it again."""
    if len(output) <= limit + 200:  # room for the worker's own "[... omitted]" marker
        return output
    half = limit // 2
    omitted = len(output) - 2 * half
    return f"{output[:half]}\n... [{omitted} characters omitted by the host] ...\n{output[-half:]}"
