"""The REPL worker: runs model-written code in one persistent namespace.

It runs inside the sandbox (a separate process, usually under bubblewrap) or, in the
unsafe ``none`` mode, in a thread of the host. It is stdlib-only and imports nothing of
rlmx but the wire format and the video context object, so it can be copied into the
sandbox as three files.

Protocol (see wire.py): the host sends ``init`` then ``execute`` frames; the worker
answers ``ready`` and ``result``. While a cell runs, helpers such as ``llm_query`` send a
request frame and block until the host's ``reply`` arrives; their ``_async`` twins return
awaitables instead. A cell that uses ``await`` at top level runs as a coroutine on one
event loop the worker keeps (like IPython's autoawait). A reader thread demultiplexes
incoming frames so that an ``interrupt`` reaches a running cell.
"""

from __future__ import annotations

import ast
import builtins
import contextlib
import ctypes
import difflib
import inspect
import io
import json
import linecache
import mmap
import os
import queue
import signal
import sys
import threading
import time
import traceback
import weakref
from typing import Any

try:
    from . import data_profile, records, video_context, wire
except ImportError:  # run as a plain script inside the sandbox
    import data_profile  # type: ignore[no-redef]
    import records  # type: ignore[no-redef]
    import video_context  # type: ignore[no-redef]
    import wire  # type: ignore[no-redef]

FD_OUTPUT_LIMIT = 1 << 16
TOP_LEVEL_AWAIT = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
BEAT_SECONDS = 0.05  # an async cell's heartbeat (see _Heartbeat)
BEAT_PAUSE_SECONDS = 0.001  # a GIL-free pause at each beat: 2% of a spinning cell's time
SETTLE_SECONDS = 1.0  # how long cancelled tasks get to finish at the end of an async cell


LOCAL_HELPERS = (
    "FINAL",
    "FINAL_VAR",
    "SHOW_VARS",
    "parse_records",
    "numbers_in",
    "profile",
    "ToolError",
)


class ToolError(RuntimeError):
    """A host function failed; ``type_name`` is the type of the original error
    (mirrors ``rlmx.errors.ToolError``; the worker imports nothing of rlmx)."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name
        self.message = message


def _convert(function: str, param: dict[str, Any], value: Any) -> Any:
    """One argument as its kind sends it (see rlmx/repl/functions.py)."""
    kind, name = param["kind"], param["name"]
    if kind == "text":
        return str(value)
    if kind == "paths":  # one path or a list; a tool's {"path": ...} result stands for its file
        if value is None:
            return None
        value = [value] if isinstance(value, str | dict) else value
        value = [item["path"] if isinstance(item, dict) and "path" in item else item
                 for item in value]  # fmt: skip
    if kind in ("texts", "choices", "paths"):
        if value is None and kind == "choices":
            return None
        if isinstance(value, str):
            raise TypeError(f"{function} expects a list of {name}, not one string")
        items = [str(item) for item in value]
        cap = param.get("max_items")
        if cap is not None and len(items) > cap:
            raise ValueError(f"{function}: {len(items)} {name} (at most {cap})")
        return items
    if kind == "name":
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a name (str), not {type(value).__name__}")
        return value
    try:
        json.dumps(value)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{function}() arguments must be plain data (JSON): {exc}") from None
    return list(value) if kind == "varargs" else value


class _FinalSignal(BaseException):
    """Raised by FINAL/FINAL_VAR to end the cell; a BaseException so `except Exception` passes."""


class CappedText(io.TextIOBase):
    """A text sink that keeps the head and tail of what is written and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.limit = max(limit, 0)
        self.head: list[str] = []
        self.head_len = 0
        self.tail = ""
        self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        self.total += len(s)
        half = self.limit // 2
        if self.head_len < half:
            take = s[: half - self.head_len]
            self.head.append(take)
            self.head_len += len(take)
            s = s[len(take) :]
        if s:
            self.tail = (self.tail + s)[-(self.limit - half) :] if self.limit - half else ""
        return self.total

    def render(self) -> str:
        head = "".join(self.head)
        omitted = self.total - len(head) - len(self.tail)
        if omitted <= 0:
            return head + self.tail
        return f"{head}\n... [{omitted} characters omitted] ...\n{self.tail}"


class _ThreadRoutedStream(io.TextIOBase):
    """In `none` mode several workers share sys.stdout; route writes by thread."""

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback
        self.sinks: dict[int, CappedText] = {}

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        sink = self.sinks.get(threading.get_ident())
        return sink.write(s) if sink is not None else self.fallback.write(s)

    def flush(self) -> None:
        if threading.get_ident() not in self.sinks:
            self.fallback.flush()


def _thread_routers() -> list[_ThreadRoutedStream]:
    """Install (once, or again if someone replaced them) thread-routing stdout/stderr."""
    routers = []
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if not isinstance(stream, _ThreadRoutedStream):
            stream = _ThreadRoutedStream(stream)
            setattr(sys, name, stream)
        routers.append(stream)
    return routers


class Folder(dict[str, str]):
    """A folder context (path -> text) whose missing path is a KeyError naming the paths
    it may have meant, and which reads the one file whose path differs only in its
    extension: a 1.5B root asked for 'tickets.jsonl' in a folder holding 'tickets.json',
    then searched the dict as if it were text, until its turns ran out."""

    def __missing__(self, key: Any) -> str:
        if isinstance(key, str):
            same = [path for path in self if _unextended(path) == _unextended(key)]
            if len(same) == 1:
                return self[same[0]]
        close = difflib.get_close_matches(str(key), list(self), n=3, cutoff=0.6)
        hint = f"did you mean {' or '.join(map(repr, close))}?" if close else "see list(context)"
        raise KeyError(f"no file {key!r} in context (a dict of {len(self):,} files: path -> "
                       f"text); {hint}")  # fmt: skip


def _unextended(path: str) -> str:
    """``path`` without its extension (a dotfile's leading dot is no extension's)."""
    head, _, name = path.rpartition("/")
    return f"{head}/{name[:1]}{name[1:].split('.', 1)[0]}"


def load_context(path: str | None, kind: str) -> Any:
    """Load the context once: text is decoded straight from a memory map; ``json`` and
    ``video`` (a video's metadata) are JSON, a folder's (path -> text) a Folder."""
    if path is None or kind == "none":
        return None
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return "" if kind == "text" else None
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if kind == "text":
                return str(mapped, "utf-8", errors="replace")
            value = json.loads(mapped[:])
    if isinstance(value, dict) and value and all(isinstance(v, str) for v in value.values()):
        return Folder(value)
    return value


def apply_limits(limits: dict[str, int]) -> None:
    """Set rlimits, then drop root so that the hard limits cannot be raised again."""
    import resource

    names = {
        "memory_bytes": resource.RLIMIT_AS,
        "cpu_seconds": resource.RLIMIT_CPU,
        "file_bytes": resource.RLIMIT_FSIZE,
        "processes": resource.RLIMIT_NPROC,
    }
    for key, which in names.items():
        value = limits.get(key)
        if value:
            resource.setrlimit(which, (value, value))
    # A write past the file-size limit should fail with an error, not kill the worker.
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    uid = limits.get("uid")
    if uid is not None and os.geteuid() == 0:
        if not _world_readable(os.path.dirname(os.__file__)):
            _preload_stdlib()  # the new uid could not read it (an interpreter under /root)
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)


# What model code commonly imports; loaded before the uid switch when the new uid could
# not read the standard library itself (process mode with a pyenv under /root).
PRELOAD = ("subprocess", "collections", "statistics", "math", "datetime", "textwrap",
           "difflib", "csv", "random", "heapq", "bisect", "itertools", "functools", "string",
           "hashlib", "base64", "concurrent.futures", "dataclasses", "fractions", "decimal",
           "unicodedata", "operator", "copy", "pprint", "glob", "shutil", "tempfile",
           "asyncio")  # fmt: skip


# Imported before the first cell: small models use ``re`` or ``json`` without importing
# them and spend a turn on the NameError (the names are the model's to rebind).
IMPORTED = ("re", "json", "math", "collections", "itertools", "statistics", "datetime", "csv")
# names small models use without importing them: a 1.5B root wrote Counter(...) in three
# cells in a row, each a NameError, while rlmx's own advice showed Counter
IMPORTED_NAMES = (("collections", "Counter"), ("collections", "defaultdict"))


def _imported(names: tuple[str, ...]) -> dict[str, Any]:
    """The modules of ``names`` and the names of IMPORTED_NAMES, as after their imports."""
    import importlib

    modules = {name: importlib.import_module(name) for name in names}
    return modules | {name: getattr(importlib.import_module(module), name)
                      for module, name in IMPORTED_NAMES}  # fmt: skip


def _world_readable(path: str) -> bool:
    """Whether any uid can read files under ``path`` (every parent traversable by others)."""
    while True:
        if os.stat(path).st_mode & 0o005 != 0o005:
            return False
        parent = os.path.dirname(path)
        if parent == path:
            return True
        path = parent


def _preload_stdlib() -> None:
    import importlib

    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)


class _Link:
    """The worker's line to the host: what the helpers close over (never the Worker, so the
    master copy of the helpers is not one attribute away from model code)."""

    def __init__(self, write_fd: int, in_thread: bool) -> None:
        self.write_fd = write_fd
        self.in_thread = in_thread
        self.write_lock = threading.Lock()
        self.waiting: dict[int, queue.Queue[dict[str, Any] | None]] = {}
        self.closed = False
        self.next_id = 0
        self.final: dict[str, Any] | None = None
        self.max_async = 32
        self.max_quotes = (32, 2000)  # quotes a final answer may cite, characters of each
        self.gates: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()

    def send(self, message: dict[str, Any]) -> None:
        with self.write_lock:
            wire.write_frame(self.write_fd, message)

    def deliver(self, reply: dict[str, Any] | None) -> None:
        """Hand a reply to the call waiting for it (None: the host is gone, wake them all)."""
        with self.write_lock:
            if reply is None:
                self.closed = True
                slots = list(self.waiting.values())
            else:
                slot = self.waiting.get(reply.get("id"))  # type: ignore[arg-type]
                slots = [slot] if slot is not None else []
        for slot in slots:
            with contextlib.suppress(queue.Full):  # its reply came already; keep that one
                slot.put_nowait(reply)

    def _register(self, slot: Any) -> int:
        with self.write_lock:
            if self.closed:
                raise RuntimeError("the host closed the connection")
            self.next_id += 1
            self.waiting[self.next_id] = slot
            return self.next_id

    def _unregister(self, request_id: int) -> None:
        with self.write_lock:
            self.waiting.pop(request_id, None)

    def _frame(self, request_id: int, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {"type": "call", "id": request_id, "name": name, "arguments": arguments}

    def call(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call a host function and block this cell (or thread) until its reply."""
        slot: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=1)
        request_id = self._register(slot)
        try:
            self.send(self._frame(request_id, name, arguments))
            while True:
                try:
                    reply = slot.get(timeout=0.05 if self.in_thread else None)
                    break
                except queue.Empty:
                    continue  # in a thread, poll so an async KeyboardInterrupt can land
        finally:
            self._unregister(request_id)
        return _reply_value(reply)

    async def call_async(self, name: str, arguments: dict[str, Any]) -> Any:
        """Call a host function without blocking the event loop; at most ``max_async``
        calls of one loop are in flight (the host refuses more than its ``max_requests``)."""
        import asyncio

        loop = asyncio.get_running_loop()
        gate = self.gates.get(loop)
        if gate is None:
            gate = self.gates[loop] = asyncio.Semaphore(self.max_async)
        async with gate:
            future = loop.create_future()
            request_id = self._register(_AsyncSlot(loop, future))
            try:
                self.send(self._frame(request_id, name, arguments))
                reply = await future
            finally:
                self._unregister(request_id)
        return _reply_value(reply)


class _AsyncSlot:
    """Where the reader thread puts the reply of an async call: its loop's future."""

    def __init__(self, loop: Any, future: Any) -> None:
        self.loop = loop
        self.future = future

    def put_nowait(self, reply: dict[str, Any] | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
            self.loop.call_soon_threadsafe(self._settle, reply)

    def _settle(self, reply: dict[str, Any] | None) -> None:
        if not self.future.done():
            self.future.set_result(reply)


def _reply_value(reply: dict[str, Any] | None) -> Any:
    if reply is None:
        raise RuntimeError("the host closed the connection")
    error = reply.get("error")
    if isinstance(error, dict):
        raise ToolError(str(error.get("type")), str(error.get("message")))
    return reply.get("value")


class Worker:
    """One persistent REPL namespace speaking the wire protocol over two file descriptors."""

    def __init__(self, read_fd: int, write_fd: int, in_thread: bool = False) -> None:
        self.read_fd = read_fd
        self.in_thread = in_thread
        self.link = _Link(write_fd, in_thread)
        self.requests: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.running_cell: int | None = None  # the id of the cell now running
        self.interrupt_for: int | None = None  # the cell an interrupt came for, not yet raised
        self.cell_lock = threading.Lock()  # between the reader thread and the cell's start and end
        self.main_pid = os.getpid()
        self.main_thread_id = threading.get_ident()
        self.fd_capture: int | None = None
        self.namespace: dict[str, Any] = {"__name__": "__main__", "__builtins__": builtins,
                                          **_imported(IMPORTED)}  # fmt: skip
        self.helpers: dict[str, Any] = {}  # the master copy, restored after every cell
        # what SHOW_VARS leaves out
        self.reserved: set[str] = {"context", *(name for _, name in IMPORTED_NAMES)}
        self.builtins = dict(builtins.__dict__)  # restored after every cell
        self.cell_count = 0
        self.loop: Any = None  # the event loop of async cells, made at the first one
        self.cell_notes: list[str] = []

    # -- transport -------------------------------------------------------------------
    def send(self, message: dict[str, Any]) -> None:
        self.link.send(message)

    def _reader(self) -> None:
        try:
            while True:
                message = wire.read_frame(self.read_fd)
                kind = message["type"]
                if kind == "reply":
                    self.link.deliver(message)
                elif kind == "interrupt":
                    self._interrupt(message.get("id"))
                else:
                    self.requests.put(message)
                    if kind == "shutdown":
                        return
        except (wire.WireError, OSError):
            self.requests.put(None)
            self.link.deliver(None)

    def _interrupt(self, cell_id: Any) -> None:
        """Interrupt cell ``cell_id`` (from the reader thread). The frame can overtake the
        cell's own start, so it is kept until that cell runs, and raised exactly once."""
        with self.cell_lock:
            self.interrupt_for = cell_id
            if not self.in_thread:
                os.kill(os.getpid(), signal.SIGINT)  # _on_sigint, on the main thread, decides
            elif self._take_interrupt(self.running_cell):
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self.main_thread_id), ctypes.py_object(KeyboardInterrupt)
                )

    def _on_sigint(self, signum: int, frame: Any) -> None:
        """The worker process's SIGINT handler: an interrupt for a cell that has not started
        or has already ended must not land in the worker's own code."""
        if self._take_interrupt(self.running_cell):
            raise KeyboardInterrupt

    def _take_interrupt(self, cell_id: int | None) -> bool:
        """True once for an interrupt of ``cell_id``, the cell now running."""
        if cell_id is None or cell_id != self.interrupt_for:
            return False
        self.interrupt_for = None
        return True

    # -- helpers visible to model code --------------------------------------------------
    def _make_helpers(self, functions: list[dict[str, Any]]) -> dict[str, Any]:
        """FINAL, FINAL_VAR, SHOW_VARS, parse_records, numbers_in, profile and ToolError, and
        one function per host function."""
        link, namespace = self.link, self.namespace
        reserved = self.reserved  # a set of names only (never the master copy itself)

        def FINAL(answer: Any, cite: Any = None) -> None:
            """Finish the run with this answer; ``cite``: the quotes from the context it
            rests on (a list of strings copied exactly)."""
            link.final = {"answer": str(answer), "via": "FINAL", **quotes(cite)}
            raise _FinalSignal

        def quotes(cite: Any) -> dict[str, list[str]]:
            if cite is None:
                return {}
            cite = [cite] if isinstance(cite, str) else cite
            if not isinstance(cite, list | tuple) or not all(isinstance(q, str) for q in cite):
                raise TypeError("cite must be a list of quotes (strings) copied from the context")
            most, chars = link.max_quotes
            if len(cite) > most:
                raise ValueError(f"cite at most {most} quotes, not {len(cite)}")
            return {"cite": [q[:chars] for q in cite]}

        def FINAL_VAR(name_or_value: Any, cite: Any = None) -> None:
            """Finish the run with a variable (by name) or a value; ``cite`` as for FINAL."""
            value = name_or_value
            if isinstance(name_or_value, str) and name_or_value.isidentifier():
                if name_or_value not in namespace:
                    raise NameError(
                        f"FINAL_VAR: no variable named {name_or_value!r}; assign it first or "
                        "call FINAL(value)"
                    )
                value = namespace[name_or_value]
            link.final = {"answer": str(value), "via": "FINAL_VAR", **quotes(cite)}
            raise _FinalSignal

        def SHOW_VARS() -> str:
            """List the variables defined so far, with their types and sizes."""
            lines = []
            for name, value in namespace.items():
                hidden = name.startswith("_") or name in reserved
                if hidden or type(value).__name__ == "module":
                    continue
                size = f", len={len(value)}" if hasattr(value, "__len__") else ""
                lines.append(f"{name}: {type(value).__name__}{size}")
            text = "\n".join(lines) or "(no variables yet)"
            print(text)
            return text

        local = {"FINAL": FINAL, "FINAL_VAR": FINAL_VAR, "SHOW_VARS": SHOW_VARS,
                 "parse_records": records.parse_records, "numbers_in": records.numbers_in,
                 "profile": data_profile.profile}  # fmt: skip
        hosted: dict[str, Any] = {}
        for spec in functions:
            forms = [(False, "")] + ([(True, "_async")] if spec.get("async") else [])
            for asynchronous, suffix in forms:
                function = self._host_function(spec, asynchronous)
                for name in (spec["name"], *spec.get("aliases", ())):
                    hosted[name + suffix] = function
        helpers = {**local, "ToolError": ToolError, **hosted}
        reserved.update(helpers)
        return helpers

    def _host_function(self, spec: dict[str, Any], asynchronous: bool = False) -> Any:
        """A REPL function with the spec's signature whose body runs on the host; the async
        form checks its arguments at once and returns an awaitable of the reply."""
        link, name, params = self.link, spec["name"], spec["params"]
        signature = inspect.Signature([_parameter(p) for p in params])
        call = link.call_async if asynchronous else link.call

        def host_function(*args: Any, **kwargs: Any) -> Any:
            try:
                bound = signature.bind(*args, **kwargs)
            except TypeError as exc:
                raise TypeError(f"{name}(): {exc}") from None
            arguments = {
                p["name"]: _convert(name, p, bound.arguments[p["name"]])
                for p in params
                if p["name"] in bound.arguments
            }
            return call(name, arguments)

        suffix = "_async" if asynchronous else ""
        host_function.__name__ = host_function.__qualname__ = name + suffix
        doc = spec.get("doc", "")
        host_function.__doc__ = f"Awaitable form of {name}: {doc}" if asynchronous else doc
        host_function.__signature__ = signature  # type: ignore[attr-defined]
        return host_function

    def _restore_reserved(self) -> list[str]:
        """Put back reserved names and builtins that the cell overwrote or deleted."""
        restored = []
        for name, value in self.helpers.items():
            if self.namespace.get(name) is not value:
                self.namespace[name] = value
                restored.append(name)
        if self.namespace.get("__builtins__") is not builtins:
            self.namespace["__builtins__"] = builtins
            restored.append("__builtins__")
        live = builtins.__dict__
        for name, value in self.builtins.items():
            if live.get(name) is not value:
                live[name] = value
                restored.append(f"builtins.{name}")
        return restored

    # -- execution ---------------------------------------------------------------------
    def execute(self, cell_id: int, code: str, max_output_chars: int) -> dict[str, Any]:
        """Run one cell; a trailing expression is echoed like an interactive REPL."""
        self.cell_count += 1
        filename = f"<cell {self.cell_count}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        sink = CappedText(max_output_chars)
        self.link.final = None
        self.cell_notes = []
        error = False
        started = time.perf_counter()
        self._begin_capture(sink)
        try:
            try:
                self._start_cell(cell_id)
                self._run_code(code, filename)
            finally:  # an interrupt that lands in here is still caught below
                if os.getpid() != self.main_pid:  # a forked child of the cell must never return
                    os._exit(0)
                self._end_cell()
        except _FinalSignal:
            pass
        except BaseException as exc:
            error = True
            self._report(exc, sink)
        finally:
            self._end_capture(sink)
        if self.link.final is None and not error:
            self.link.final = self._ready_answer()
        restored = self._restore_reserved()
        if restored:
            self.cell_notes.append(f"reserved name(s) {', '.join(restored)} restored")
        for note in self.cell_notes:
            sink.write(f"\n[note: {note}]\n")
        return {
            "output": sink.render(),
            "output_chars": sink.total,
            "error": error,
            "final": self.link.final,
            "restored": restored,
            "seconds": time.perf_counter() - started,
        }

    def _ready_answer(self) -> dict[str, Any] | None:
        """The official ``rlms`` protocol: a cell that leaves ``answer = {"content": ...,
        "ready": True}`` ends the run. The flag is cleared, so that a session's next
        question does not end at its first cell."""
        answer = self.namespace.get("answer")
        if not isinstance(answer, dict) or answer.get("ready") is not True:
            return None
        answer["ready"] = False
        return {"answer": str(answer.get("content", "")), "via": "answer"}

    def _start_cell(self, cell_id: int) -> None:
        with self.cell_lock:
            self.running_cell = cell_id
            overtaken = self._take_interrupt(cell_id)  # its interrupt came before the cell
        if overtaken:
            raise KeyboardInterrupt

    def _end_cell(self) -> None:
        """From here no interrupt may land: the worker's own code must not be cut short."""
        with self.cell_lock:
            self.running_cell = None
            if self.in_thread:  # drop an async exception the reader set that has not landed
                ctypes.pythonapi.PyThreadState_SetAsyncExc(
                    ctypes.c_ulong(self.main_thread_id), None
                )

    def _run_code(self, code: str, filename: str) -> None:
        tree = ast.parse(code, filename, "exec")
        last = tree.body[-1] if tree.body else None
        if isinstance(last, ast.Expr):
            tree.body.pop()
        else:
            last = None
        self._evaluate(compile(tree, filename, "exec", flags=TOP_LEVEL_AWAIT))
        if last is not None:
            expression = ast.Expression(last.value)
            value = self._evaluate(compile(expression, filename, "eval", flags=TOP_LEVEL_AWAIT))
            if value is not None:
                print(repr(value))

    def _evaluate(self, code: Any) -> Any:
        """Run compiled cell code; code with top-level ``await`` runs on the worker's loop."""
        value = eval(code, self.namespace)
        if code.co_flags & inspect.CO_COROUTINE:
            return self._await(value)
        return value

    def _await(self, coroutine: Any) -> Any:
        """Run a cell's coroutine to the end; then cancel what it left pending, and say so."""
        import asyncio

        if self.loop is None:
            self.loop = asyncio.new_event_loop()
        loop = self.loop
        main = loop.create_task(coroutine)
        beat = _Heartbeat(loop)  # so the wire reader, and with it an interrupt, gets through
        try:
            return loop.run_until_complete(main)
        finally:
            beat.stop()
            self._cancel_pending(loop, main)

    def _cancel_pending(self, loop: Any, main: Any) -> None:
        import asyncio

        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        if not pending:
            return
        for task in pending:
            task.cancel()
        with contextlib.suppress(BaseException):  # a second interrupt: the host restarts us
            loop.run_until_complete(asyncio.wait(pending, timeout=SETTLE_SECONDS))
        left = [task for task in pending if task is not main]
        if left:
            names = ", ".join(sorted({_task_name(task) for task in left}))
            self.cell_notes.append(
                f"{len(left)} task(s) still pending when the cell ended were cancelled ({names}); "
                "await every task you start"
            )

    @staticmethod
    def _report(exc: BaseException, sink: CappedText) -> None:
        if isinstance(exc, SystemExit):
            sink.write(f"SystemExit({exc.code!r}): exiting the REPL is not allowed; state kept\n")
            return
        if isinstance(exc, KeyboardInterrupt):
            sink.write("KeyboardInterrupt: the cell was interrupted (time limit); state kept\n")
            return
        tb = exc.__traceback__
        while tb is not None and not tb.tb_frame.f_code.co_filename.startswith("<cell"):
            tb = tb.tb_next  # hide the worker's own frames
        sink.write("".join(traceback.format_exception(type(exc), exc, tb)))

    def _begin_capture(self, sink: CappedText) -> None:
        if self.in_thread:
            for stream in _thread_routers():
                stream.sinks[threading.get_ident()] = sink
        else:
            self._redirect_process_output(sink)

    def _end_capture(self, sink: CappedText) -> None:
        if self.in_thread:
            for stream in _thread_routers():
                stream.sinks.pop(threading.get_ident(), None)
        else:
            self._collect_process_output(sink)

    # The worker process owns its stdout and stderr: Python writes go to the sink, and what
    # C code or os.write sends to fd 1/2 lands in the capture file (see isolate_stdio).
    def _redirect_process_output(self, sink: CappedText) -> None:
        sys.stdout = sys.stderr = sink
        if self.fd_capture is not None:
            os.ftruncate(self.fd_capture, 0)
            os.lseek(self.fd_capture, 0, os.SEEK_SET)

    def _collect_process_output(self, sink: CappedText) -> None:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        if self.fd_capture is not None:
            size = os.lseek(self.fd_capture, 0, os.SEEK_END)
            if size:
                os.lseek(self.fd_capture, 0, os.SEEK_SET)
                raw = os.read(self.fd_capture, FD_OUTPUT_LIMIT)
                sink.write(raw.decode("utf-8", errors="replace"))
                if size > FD_OUTPUT_LIMIT:
                    sink.write(f"\n[{size - FD_OUTPUT_LIMIT} more bytes of low-level output]\n")

    # -- main loop -----------------------------------------------------------------------
    def setup(self, init: dict[str, Any]) -> None:
        started = time.perf_counter()
        # Contexts are loaded before privileges are dropped: the host chose the files.
        context = load_context(init.get("context_path"), init["context_kind"])
        defined = {d["name"]: load_context(d["path"], d["kind"]) for d in init.get("defined", [])}
        if not self.in_thread:
            apply_limits(init.get("limits") or {})
        self.link.max_async = max(int(init.get("max_async") or 1), 1)
        self.link.max_quotes = tuple(init.get("max_quotes") or self.link.max_quotes)
        helpers = self._make_helpers(init.get("functions") or [])
        if init["context_kind"] == "video":  # the video as an object; frames via its tools
            context = video_context.VideoContext(context, helpers)
        self.helpers = {"context": context, **defined, **helpers}
        self.reserved.update(defined)
        self.namespace.update(self.helpers)
        self.namespace["answer"] = {"content": "", "ready": False}  # the rlms protocol's
        self.send({"type": "ready", "load_seconds": time.perf_counter() - started})

    def define(self, message: dict[str, Any]) -> None:
        """A variable the host adds between cells (a session's ``context_1``, ``history``):
        reserved like ``context``, so a cell cannot lose it."""
        started = time.perf_counter()
        name = message["name"]
        self.helpers[name] = self.namespace[name] = load_context(message["path"], message["kind"])
        self.reserved.add(name)
        self.send({"type": "ready", "load_seconds": time.perf_counter() - started})

    def serve(self) -> None:
        if not self.in_thread:
            signal.signal(signal.SIGINT, self._on_sigint)
        threading.Thread(target=self._reader, name="rlmx-wire-reader", daemon=True).start()
        while True:
            message = self.requests.get()
            if message is None or message["type"] == "shutdown":
                return
            if message["type"] in ("init", "define"):
                try:
                    (self.setup if message["type"] == "init" else self.define)(message)
                except BaseException as exc:
                    self.send({"type": "ready", "error": f"{type(exc).__name__}: {exc}"})
                    if message["type"] == "init":
                        return
            elif message["type"] == "execute":
                limit = int(message.get("max_output_chars", 20000))
                result = self.execute(message["id"], message["code"], limit)
                self.send({"type": "result", "id": message["id"], **result})


def isolate_stdio() -> tuple[int, int, int]:
    """Move the protocol off fds 0/1 so stray writes to stdout cannot corrupt it.

    Low-level output of cells (os.write(1, ...), subprocesses) goes to a file in the
    working directory that the worker reads back after each cell.
    """
    read_fd, write_fd = os.dup(0), os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    capture = os.open(".rlmx-fd-output", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(capture, 1)
    os.dup2(capture, 2)
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(os.fdopen(1, "wb", closefd=False))  # type: ignore[misc]
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(os.fdopen(2, "wb", closefd=False))  # type: ignore[misc]
    return read_fd, write_fd, capture


class _Heartbeat:
    """A timer on a cell's event loop, every 50 ms.

    It wakes a loop that waits: in ``none`` mode the interrupt is an async exception, which
    lands only while the cell's thread runs Python code. And it pauses a loop that spins
    (``await asyncio.sleep(0)`` in a loop): such a loop lets go of the GIL at every select
    and takes it straight back, and CPython 3.11 then never hands it to a thread that waits,
    so the wire reader, with the cell's interrupt, was starved for seconds."""

    def __init__(self, loop: Any) -> None:
        self.loop = loop
        self.handle = loop.call_later(BEAT_SECONDS, self._beat)

    def _beat(self) -> None:
        time.sleep(BEAT_PAUSE_SECONDS)
        self.handle = self.loop.call_later(BEAT_SECONDS, self._beat)

    def stop(self) -> None:
        self.handle.cancel()


def _task_name(task: Any) -> str:
    coroutine = task.get_coro()
    return getattr(coroutine, "__qualname__", None) or task.get_name()


def _parameter(param: dict[str, Any]) -> inspect.Parameter:
    """The Python parameter for one spec parameter (tools take *args and **kwargs)."""
    kinds = {"varargs": inspect.Parameter.VAR_POSITIONAL, "varkw": inspect.Parameter.VAR_KEYWORD}
    kind = kinds.get(param["kind"], inspect.Parameter.POSITIONAL_OR_KEYWORD)
    if param["required"] or kind is not inspect.Parameter.POSITIONAL_OR_KEYWORD:
        return inspect.Parameter(param["name"], kind)
    return inspect.Parameter(param["name"], kind, default=param["default"])


def run_in_thread(read_fd: int, write_fd: int) -> threading.Thread:
    """Start a worker in a daemon thread of this process (the unsafe `none` mode)."""

    def target() -> None:
        worker = Worker(read_fd, write_fd, in_thread=True)
        worker.main_thread_id = threading.get_ident()
        try:
            worker.serve()
        finally:
            for fd in (read_fd, write_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)

    thread = threading.Thread(target=target, name="rlmx-worker", daemon=True)
    thread.start()
    return thread


def main() -> None:
    read_fd, write_fd, capture = isolate_stdio()
    worker = Worker(read_fd, write_fd)
    worker.fd_capture = capture
    worker.serve()
    os._exit(0)  # do not wait for threads a cell may have started


if __name__ == "__main__":
    main()
