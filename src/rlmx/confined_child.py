"""The child process of ``confined.py``: reads one untrusted file on stdin and writes its
text on stdout, under the limits it is given. Run as a script, never imported by the host:

    python -E -s -B confined_child.py convert KIND LIMITS_JSON   < input > output
    python -E -s -B confined_child.py render .pdf LIMITS_JSON PAGE   < pdf > png
    python -E -s -B confined_child.py serve media LIMITS_JSON FD  (requests on stdin)

It loads rlmx's modules without the package's ``__init__`` (which loads every LM client),
imports the libraries of its work, then sets its rlimits and drops to its own uid
(``repl/worker.apply_limits``) before it reads a byte of the input. A failure that ends it
is one JSON line on stderr, ``{"kind": ..., "message": ...}``, and exit status 3.
"""

from __future__ import annotations

import importlib
import json
import os
import resource
import signal
import sys
import types

FAILED = 3
CPU_GRACE = 2  # seconds between SIGXCPU, which says why, and the hard limit's SIGKILL


def _package() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    package = types.ModuleType("rlmx")
    package.__path__ = [here]
    sys.modules["rlmx"] = package


def _fail(kind: str, message: str) -> None:
    sys.stderr.write(json.dumps({"kind": kind, "message": message[:2000]}) + "\n")
    sys.stderr.flush()
    os._exit(FAILED)


def _confine(limits: dict[str, int], libraries: tuple[str, ...], need: str) -> None:
    """Import what the work needs (before the uid switch: it may not read them after), then
    set the rlimits and drop to the child's own uid (``repl/worker.apply_limits``)."""
    from rlmx.repl.worker import apply_limits

    try:
        for name in libraries:
            importlib.import_module(name)
    except ImportError as exc:
        _fail("missing", f"{need} ({exc})")
    apply_limits(limits)  # the CPU limit is hard at cpu_seconds + CPU_GRACE: ...
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu - CPU_GRACE, cpu))  # ... a signal first
    signal.signal(signal.SIGXCPU, lambda *_: _fail("cpu", "used its CPU seconds"))


def convert(kind: str, limits: dict[str, int]) -> None:
    """One document on stdin, its text on stdout."""
    from rlmx.document_formats import CONVERTERS, LIBRARIES
    from rlmx.errors import ContextError

    _confine(limits, LIBRARIES.get(kind, ()),
             f"reading {kind} files needs the docs extra: pip install 'rlmx[docs]'")  # fmt: skip
    data = sys.stdin.buffer.read()
    try:
        text = CONVERTERS[kind](data)
    except ContextError as exc:
        _fail("unreadable", str(exc))
    except MemoryError:
        _fail("memory", "ran out of memory")
    except RecursionError:
        _fail("unreadable", "it nests too deeply")
    except Exception as exc:  # a converter's own error: a damaged or mislabelled file
        _fail("damaged", f"{type(exc).__name__}: {exc}")
    try:
        sys.stdout.buffer.write(text.encode("utf-8", errors="replace"))
        sys.stdout.flush()
    except OSError as exc:  # past the output limit (RLIMIT_FSIZE: EFBIG)
        _fail("output", f"its text is too large ({exc.strerror})")


def render(limits: dict[str, int], page: int) -> None:
    """A PDF on stdin, one of its pages as a PNG on stdout."""
    from rlmx.document_formats import RENDER_LIBRARIES, render_pdf_page
    from rlmx.errors import ContextError

    _confine(limits, RENDER_LIBRARIES, "rendering PDF pages needs: pip install 'rlmx[docs]'")
    data = sys.stdin.buffer.read()
    try:
        image = render_pdf_page(data, page)
    except ContextError as exc:
        _fail("unreadable", str(exc))
    except MemoryError:
        _fail("memory", "ran out of memory")
    except Exception as exc:  # pdfium's own error: a damaged file
        _fail("damaged", f"{type(exc).__name__}: {exc}")
    sys.stdout.buffer.write(image)
    sys.stdout.flush()


def serve(kind: str, limits: dict[str, int], fd: int) -> None:
    """Requests about the file open at ``fd`` (``kind`` "media": a video), until stdin ends."""
    from rlmx.video import media_server

    _confine(limits, media_server.LIBRARIES, "video needs: pip install 'rlmx[video]'")
    try:
        media_server.serve(fd, sys.stdin.buffer, sys.stdout.buffer)
    except MemoryError:
        _fail("memory", "ran out of memory")


def main() -> None:
    _package()
    task, kind, limits = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    if task == "convert":
        convert(kind, limits)
    elif task == "render":
        render(limits, int(sys.argv[4]))
    else:
        serve(kind, limits, int(sys.argv[4]))


if __name__ == "__main__":
    main()
