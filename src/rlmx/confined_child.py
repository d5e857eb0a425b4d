"""The child process of ``confined.py``: reads one untrusted file on stdin and writes its
text on stdout, under the limits it is given. Run as a script, never imported by the host:

    python -E -s -B confined_child.py KIND LIMITS_JSON   < input > output

It loads rlmx's modules without the package's ``__init__`` (which loads every LM client),
imports the converter's libraries, then sets its rlimits and drops to its own uid
(``repl/worker.apply_limits``) before it reads a byte of the input. A failure is one JSON
line on stderr, ``{"kind": ..., "message": ...}``, and exit status 3.
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


def main() -> None:
    kind, limits = sys.argv[1], json.loads(sys.argv[2])
    _package()
    from rlmx.document_formats import CONVERTERS, LIBRARIES
    from rlmx.errors import ContextError
    from rlmx.repl.worker import apply_limits

    try:
        for name in LIBRARIES.get(kind, ()):  # before the uid switch: it may not read them
            importlib.import_module(name)
    except ImportError as exc:
        _fail("missing", f"reading {kind} files needs the docs extra: pip install 'rlmx[docs]'"
              f" ({exc})")  # fmt: skip
    apply_limits(limits)  # the CPU limit is hard at cpu_seconds + CPU_GRACE: ...
    cpu = limits["cpu_seconds"]
    resource.setrlimit(resource.RLIMIT_CPU, (cpu - CPU_GRACE, cpu))  # ... a signal first
    signal.signal(signal.SIGXCPU, lambda *_: _fail("cpu", "used its CPU seconds"))
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


if __name__ == "__main__":
    main()
