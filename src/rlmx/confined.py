"""Untrusted bytes parsed in a child process, never in the host's own.

A document from a client or a folder is hostile input, and its parser (pypdf, openpyxl,
python-docx ...) can be made to loop, allocate or recurse without end by a small file. So
the host hands the file to ``confined_child.py`` in a child process:

- under bubblewrap where it works (no network, the system read-only, a private /tmp),
  else as a plain process;
- in a cgroup of its own and with a uid of its own where the host can make them
  (``repl/confine.Jail``, as workers);
- with rlimits on address space, CPU seconds, written bytes (its output) and processes;
- with a wall-clock limit the host keeps: past it the child and all it started are killed.

The input is the child's stdin and its text goes to a file (both opened by the host), so
nothing here waits on a pipe. A child over a limit is an error for that input only
(``ContextError``); the host and its other runs go on.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from .errors import ContextError
from .repl import isolation, modes, scratch
from .repl.confine import Jail

CHILD = Path(__file__).resolve().parent / "confined_child.py"
CPU_GRACE = 2  # as confined_child.CPU_GRACE (it is not imported: it runs as a script)
STDERR_CHARS = 4000  # of a child's stderr kept for the message
TIMED_OUT = -1000  # the status of a child the host's clock ended
Answer = tuple[dict[str, Any], bytes]  # a server child's answer line and its payload
HEADER_BYTES = 1 << 20  # the longest answer line a server child may write
EXIT_WAIT_SECONDS = 2.0  # a server child whose answer broke off: how long it may take to exit


class ParseFailed(ContextError):
    """A confined parse failed; ``said`` is True when the converter itself said why (the
    file is encrypted, empty ...), False for a damaged file or a limit it passed."""

    def __init__(self, message: str, said: bool) -> None:
        super().__init__(message)
        self.said = said


@dataclass(frozen=True)
class ParseLimits:
    """What one confined parse may use."""

    memory_mb: int = 2048
    cpu_seconds: int = 120
    wall_seconds: float = 300.0
    output_mb: int = 512
    processes: int = 64  # threads count here (OCR runs a few)

    def for_child(self, uid: int | None) -> dict[str, int]:
        limits = {
            "memory_bytes": self.memory_mb * 2**20,
            "cpu_seconds": self.cpu_seconds + CPU_GRACE,  # the child signals itself first
            "file_bytes": self.output_mb * 2**20,
            "processes": self.processes,
        }
        return limits | ({"uid": uid} if uid is not None else {})


DEFAULT_LIMITS = ParseLimits()


def parse_confined(kind: str, source: Path, limits: ParseLimits = DEFAULT_LIMITS) -> str:
    """The text of ``source`` read by the converter for ``kind`` (a suffix such as
    ``.pdf``) in a confined child. Raises ContextError saying why it could not be read,
    which limit it passed included."""
    output = _confined_output(source, limits, "convert", kind)
    return output.decode("utf-8", errors="replace")


def render_confined(source: Path, page: int, limits: ParseLimits = DEFAULT_LIMITS) -> bytes:
    """Page ``page`` (1-based) of the PDF ``source`` as a PNG, rendered in a confined child
    (pypdfium2: ``document_formats.render_pdf_page``); ContextError as for a parse."""
    return _confined_output(source, limits, "render", ".pdf", str(page))


def _confined_output(source: Path, limits: ParseLimits, task: str, kind: str, *extra: str) -> bytes:
    """What the child doing ``task`` for ``kind`` on ``source`` (its stdin) wrote."""
    jail = Jail(limits.memory_mb * 2**20, limits.processes)
    try:
        with tempfile.TemporaryDirectory(prefix=scratch.prefix("parse")) as folder:
            output, errors = Path(folder) / "text", Path(folder) / "errors"
            argv = _argv(jail, [task, kind, json.dumps(limits.for_child(jail.uid)), *extra])
            with source.open("rb") as stdin, output.open("wb") as out, errors.open("wb") as err:
                status = _run(argv, stdin, out, err, folder, limits)
            written = output.read_bytes()
            said = _tail(errors)
    finally:
        jail.release()
    status = _status(status)
    if status != 0:
        raise _failure(status, said, limits)
    return written


def _argv(jail: Jail, args: list[str]) -> list[str]:
    mode = modes.resolve_mode("auto")  # bwrap, else process: never the host's own
    return [*jail.launch_prefix(), *isolation.child_command(mode, CHILD, args)]


def _tail(errors: Path) -> str:
    return errors.read_bytes()[-STDERR_CHARS:].decode("utf-8", errors="replace")


def _status(code: int) -> int:
    return 128 - code if code > 128 else code  # bwrap passes a signal on as 128 + its number


class ConfinedServer:
    """A long-lived confined child answering requests one at a time: a JSON line in, a
    JSON line out and then the ``"bytes"`` it announces. Each request has its own wall
    clock: past it, or when the child dies, the child is killed and the request fails
    (ParseFailed); the next request starts a fresh child. ``pass_fd`` (an open file) is
    the child's only way to its input."""

    def __init__(self, kind: str, limits: ParseLimits, pass_fd: int) -> None:
        self.kind, self.limits, self.pass_fd = kind, limits, pass_fd
        self.child: subprocess.Popen[bytes] | None = None
        self.jail: Jail | None = None
        self.folder: tempfile.TemporaryDirectory[str] | None = None
        self.lock = threading.Lock()
        self.expired = False

    def ask(self, request: dict[str, Any], seconds: float, max_bytes: int) -> Answer:
        """The child's answer to ``request`` and its payload (at most ``max_bytes``)."""
        with self.lock:
            child = self.child or self._start()
            assert child.stdin is not None and child.stdout is not None
            self.expired = False
            timer = threading.Timer(seconds, self._expire)
            timer.start()
            try:
                child.stdin.write(json.dumps(request).encode() + b"\n")
                child.stdin.flush()
                header = json.loads(child.stdout.readline(HEADER_BYTES))
                if not isinstance(header, dict):  # the child's words are untrusted too
                    raise ValueError("an answer that is not an object")
                size = header.get("bytes", 0)
                if not isinstance(size, int) or not 0 <= size <= max_bytes:
                    raise ValueError(f"an answer of {size!r} bytes (at most {max_bytes:,})")
                payload = child.stdout.read(size)
                if len(payload) != size:
                    raise EOFError("its answer ended early")
            except (OSError, ValueError, EOFError) as exc:
                raise self._broken(seconds, exc) from None
            except BaseException:  # cancelled mid-answer: the child's stream is out of step
                self._end()
                raise
            finally:
                timer.cancel()
        if not header.get("ok"):
            raise ParseFailed(str(header.get("message", "it failed")), True)
        return header, payload

    def _start(self) -> subprocess.Popen[bytes]:
        limits = self.limits
        self.jail = Jail(limits.memory_mb * 2**20, limits.processes)
        self.folder = tempfile.TemporaryDirectory(prefix=scratch.prefix(self.kind))
        args = ["serve", self.kind, json.dumps(limits.for_child(self.jail.uid)), str(self.pass_fd)]
        with open(Path(self.folder.name) / "errors", "wb") as err:
            self.child = subprocess.Popen(
                _argv(self.jail, args), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                stderr=err, cwd=self.folder.name, env=isolation.worker_env("/tmp"),
                start_new_session=True, pass_fds=(self.pass_fd,),
            )  # fmt: skip
        return self.child

    def _expire(self) -> None:
        self.expired = True
        if self.child is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.child.pid, signal.SIGKILL)

    def _broken(self, seconds: float, exc: BaseException) -> ParseFailed:
        """Why the child stopped answering; it is ended, and the next request starts anew."""
        assert self.child is not None
        expired = self.expired
        try:
            exited: int | None = _status(self.child.wait(timeout=EXIT_WAIT_SECONDS))
        except subprocess.TimeoutExpired:
            exited = None  # alive, but it answered nonsense
        said = self._end()
        if expired:
            return ParseFailed(f"reading it took longer than {seconds:g} s", False)
        if exited is None:
            return ParseFailed(f"the reader answered wrongly: {exc}", False)
        return _failure(exited, said, self.limits)

    def _end(self) -> str:
        """Kill the child, release its jail and folder; its last words on stderr."""
        said = ""
        if self.child is not None:
            _kill(self.child)
            for pipe in (self.child.stdin, self.child.stdout):
                if pipe is not None:
                    with contextlib.suppress(OSError):
                        pipe.close()
        if self.folder is not None:
            said = _tail(Path(self.folder.name) / "errors")
            self.folder.cleanup()
        if self.jail is not None:
            self.jail.release()
        self.child, self.jail, self.folder = None, None, None
        return said

    def close(self) -> None:
        """End the child (if any) and release its jail."""
        with self.lock:
            self._end()


def _run(argv: list[str], stdin: IO[Any] | int, out: IO[Any] | int, err: IO[Any] | int,
         folder: str, limits: ParseLimits) -> int:  # fmt: skip
    child = subprocess.Popen(
        argv, stdin=stdin, stdout=out, stderr=err, cwd=folder,
        env=isolation.worker_env("/tmp"), start_new_session=True,
    )  # fmt: skip
    try:
        return child.wait(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        _kill(child)
        return TIMED_OUT
    except BaseException:
        _kill(child)
        raise


def _kill(child: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(child.pid, signal.SIGKILL)  # its session: bwrap and what it started
    child.wait()


def _failure(status: int, stderr: str, limits: ParseLimits) -> ParseFailed:
    """Why a child failed: its own word, or the limit that ended it."""
    if status == TIMED_OUT:
        return ParseFailed(f"reading it took longer than {limits.wall_seconds:g} s", False)
    for line in reversed(stderr.strip().splitlines()):
        try:
            said = json.loads(line)
        except ValueError:
            continue
        if isinstance(said, dict) and "message" in said:
            if said.get("kind") == "memory":
                return ParseFailed(f"reading it needs over {limits.memory_mb} MiB of memory", False)
            if said.get("kind") == "cpu":
                return ParseFailed(f"reading it used over {limits.cpu_seconds} s of CPU", False)
            return ParseFailed(str(said["message"]), said.get("kind") == "unreadable")
    if status == -signal.SIGKILL:  # the cgroup's memory limit, or the CPU's hard limit
        return ParseFailed(f"reading it was stopped at its limits ({limits.memory_mb} MiB, "
                           f"{limits.cpu_seconds} CPU seconds)", False)  # fmt: skip
    tail = stderr.strip().splitlines()[-1:] or ["no message"]
    return ParseFailed(f"the reader failed (status {status}): {tail[0][:300]}", False)
