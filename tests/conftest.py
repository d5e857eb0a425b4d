"""Shared fixtures: replay model files and the sandbox modes this machine supports."""

from __future__ import annotations

import functools
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from rlmx.repl.container import container_works
from rlmx.repl.isolation import bwrap_works


def _namespaced_modes() -> list[str]:
    """The launchers with namespaces that work here. Under ``make mutation``'s forced-fail
    check every mutated function raises, these probes too: then no such mode is listed,
    and the tests themselves fail as that check expects."""
    try:
        return (["bwrap"] if bwrap_works() else []) + (["container"] if container_works() else [])
    except Exception as exc:
        if type(exc).__name__ != "MutmutProgrammaticFailException":
            raise
        return []


# The conformance suite: every sandbox and security test that takes a mode runs against
# each launcher that works on this machine (``container`` where podman or docker runs).
NAMESPACED_MODES = _namespaced_modes()
ISOLATED_MODES = ["process", *NAMESPACED_MODES]


def announced_url(process: subprocess.Popen, log: Path, pattern: str, timeout: float) -> str:
    """The URL a server started on port 0 writes to ``log`` (the first group of
    ``pattern``): binding port 0 leaves no window for another process to take the port."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, log.read_text(errors="replace")) if log.exists() else None
        if found:
            return found.group(1)
        if process.poll() is not None:
            raise RuntimeError(f"the server exited: {log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"the server did not say where it listens within {timeout:.0f} s")


SMOL = "smollm2-135m"  # the embedded test model (135M parameters, 0.1 GB)


@pytest.fixture(scope="module")
def smol_path() -> Path:
    from rlmx.lm import registry

    return registry.ensure(SMOL)


@pytest.fixture(scope="module")
def llama_server(smol_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` with SmolLM2 on a loopback port it picks (port 0)."""
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(smol_path),
        "--model_alias", "smol", "--host", "127.0.0.1", "--port", "0",
        "--n_ctx", "4096", "--n_threads", "1", "--n_threads_batch", "1",
    ]  # fmt: skip
    log = tmp_path_factory.mktemp("llama") / "server.log"
    # A file, not a pipe: the model-loading log would fill a pipe and stall the server.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    try:
        try:
            origin = announced_url(proc, log, r"Uvicorn running on (http://127\.0\.0\.1:\d+)", 120)
        except RuntimeError as exc:
            pytest.fail(f"llama_cpp.server: {exc}")
        base_url = f"{origin}/v1"
        assert httpx.get(f"{base_url}/models", timeout=10).status_code == 200
        yield base_url
    finally:
        proc.terminate()
        proc.wait(10)


def free_port() -> int:
    """A loopback TCP port nothing listens on now, for servers that cannot bind port 0
    (Ray's head, PostgreSQL): a race with another process remains possible."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A loopback base URL where nothing listens: the test holds the port bound, unlistened,
    so no other process can take it while the test runs (connections are refused)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}/v1"


@pytest.fixture
def replay(tmp_path: Path) -> Callable[[Any], str]:
    """Write a replay script and return its model spec."""
    counter = iter(range(1000))

    def make(script: Any) -> str:
        path = tmp_path / f"replay-{next(counter)}.json"
        path.write_text(json.dumps(script), encoding="utf-8")
        return f"replay:{path}"

    return make


@pytest.fixture(scope="session", autouse=True)
def _interruptible_children() -> None:
    """A suite started as a background job (``make test &``, nohup) inherits SIGINT
    ignored, and so would every process a test starts: the Ctrl-C tests would then test
    the launcher. Python resets a handled signal to the default in the programs it starts."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session", autouse=True)
def _kept_runs_elsewhere(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Runs the CLI keeps go to a folder of the test session, not the user's data dir."""
    os.environ["RLMX_DATA_DIR"] = str(tmp_path_factory.mktemp("rlmx-data"))


@functools.cache
def _grammar_lm() -> Any:
    from rlmx.lm.local import LocalLM

    return LocalLM("smollm2-135m", n_ctx=512)


def parse_gbnf(grammar: str) -> None:
    """Parse ``grammar`` with llama.cpp's own parser (a model's vocabulary is needed: it is
    what sampling does); LMError if it does not parse. ``LlamaGrammar.from_string`` alone
    parses nothing."""
    lm = _grammar_lm()
    lm._grammar(lm._model(), grammar)


def repl(code: str, prose: str = "") -> str:
    """A root reply with one ```repl cell."""
    return f"{prose}\n```repl\n{code}\n```\n"


@pytest.fixture(scope="session")
def synthetic_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A 6-scene, 48 s synthetic news video (640x360) and its ground truth."""
    from rlmx.video.synth import synthesize

    folder = tmp_path_factory.mktemp("video")
    video = synthesize(folder, scenes=6, scene_seconds=8, size=(640, 360))
    return video, json.loads((folder / "ground_truth.json").read_text())


@pytest.fixture(scope="session")
def postgres_base() -> Iterator[str]:
    """One real PostgreSQL server for the test session (tests/postgres_server.py)."""
    from postgres_server import postgres_server

    with postgres_server(free_port()) as url:
        yield url


@pytest.fixture
def postgres_url(postgres_base: str) -> str:
    """A fresh database of that server for one test."""
    from postgres_server import create_database

    return create_database(postgres_base, f"t{next(_databases)}")


_databases = iter(range(10**6))
