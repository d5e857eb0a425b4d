"""The sandbox really tries to escape: files, network, processes, memory, time, output, exits.

Each attempt must be contained with a clear message, and the REPL must go on. Attempts
that only bubblewrap can stop (seeing world-readable files, the network) are asserted for
``bwrap`` only; ``process`` mode documents that it cannot stop them.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from rlmx import RLM, Limits
from rlmx.core.host_functions import CORE
from rlmx.repl import container, modes
from rlmx.repl.context import prepare_context
from rlmx.repl.isolation import PROBE_TRIES, SandboxUnavailable, bwrap_problem, bwrap_works
from rlmx.repl.sandbox import Sandbox

from conftest import ISOLATED_MODES, NAMESPACED_MODES, repl

PROJECT_FILE = Path(__file__).resolve().parents[1] / "pyproject.toml"
needs_bwrap = pytest.mark.skipif(not bwrap_works(), reason="bubblewrap is not usable here")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the switch to a worker uid needs root")


async def answer(name: str, args: dict) -> object:
    if name == "llm_query":
        return "sub:" + args["prompt"]
    if name == "budget":
        return {}
    return None


@pytest.fixture(params=ISOLATED_MODES)
async def box(request, tmp_path: Path) -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(
        request.param,
        Limits(memory_mb=512, file_mb=16, processes=32, tmp_mb=64),
        interrupt_grace=3.0,  # a loaded machine may take a while to unwind a cell
    )
    await sandbox.start(prepare_context("the context", tmp_path / "ctx"), answer, CORE)
    yield sandbox
    await sandbox.close()


async def run(box: Sandbox, code: str, timeout: float = 10.0, limit: int = 5000):
    return await box.execute(code, timeout, limit)


async def assert_alive(box: Sandbox) -> None:
    result = await run(box, "print(context, llm_query('x'))")
    assert result.output.strip() == "the context sub:x", result.output


@pytest.fixture
def home_secret() -> AsyncIterator[Path]:
    path = Path.home() / f".rlmx-secret-{uuid.uuid4().hex}"
    path.write_text("TOP-SECRET")
    path.chmod(0o600)
    yield path
    path.unlink()


@pytest.mark.parametrize("box", NAMESPACED_MODES, indirect=True)
async def test_namespaces_hide_home_and_project(box: Sandbox, home_secret: Path) -> None:
    for target in (home_secret, PROJECT_FILE):
        result = await run(box, f"print(open({str(target)!r}).read())")
        assert result.error and "FileNotFoundError" in result.output, result.output
    listing = await run(box, "import os; print(sorted(os.listdir('/')))")
    assert "home" not in listing.output and "farm" not in listing.output
    await assert_alive(box)


@needs_root
@pytest.mark.parametrize("box", ["process"], indirect=True)
async def test_process_mode_cannot_read_root_home(box: Sandbox, home_secret: Path) -> None:
    result = await run(box, f"print(open({str(home_secret)!r}).read())")
    assert result.error and "PermissionError" in result.output
    await assert_alive(box)


async def test_writes_outside_tmp_fail(box: Sandbox, tmp_path: Path) -> None:
    target = PROJECT_FILE.parent / f"escape-{uuid.uuid4().hex}.txt"
    result = await run(box, f"open({str(target)!r}, 'w').write('x')")
    assert result.error and ("Error" in result.output), result.output
    assert not target.exists()
    usr = await run(box, "open('/usr/rlmx-escape', 'w')")
    assert usr.error and not Path("/usr/rlmx-escape").exists()
    ok = await run(box, "open('scratch.txt', 'w').write('fine'); print(open('scratch.txt').read())")
    assert ok.output.strip() == "fine"
    await assert_alive(box)


@pytest.mark.parametrize("box", NAMESPACED_MODES, indirect=True)
async def test_namespaces_block_loopback_tcp(box: Sandbox) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    try:
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=2)"
        result = await run(box, code)
        assert result.error and (
            "ConnectionRefusedError" in result.output or "OSError" in result.output
        ), result.output
        server.settimeout(0.2)
        with pytest.raises(TimeoutError):
            server.accept()
    finally:
        server.close()
    await assert_alive(box)


@needs_root
async def test_fork_loop_is_capped(box: Sandbox) -> None:
    code = """
import os, time
pids = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            time.sleep(2)
            os._exit(0)
        pids.append(pid)
except OSError as exc:
    print("fork stopped:", type(exc).__name__, len(pids) < 64)
"""
    result = await run(box, code)
    assert "fork stopped: BlockingIOError True" in result.output, result.output
    await assert_alive(box)


async def test_memory_limit_raises_memory_error(box: Sandbox) -> None:
    """512 MB (the fixture's limit; the worker itself takes ~100 MB): 300 MB fit, 600 do not."""
    await run(box, "keep = 'kept'")
    fits = await run(box, "room = bytearray(300 * 2**20)\ndel room\nprint('fits')")
    assert fits.output.strip() == "fits", fits.output
    result = await run(box, "hog = bytearray(600 * 2**20)")
    assert result.error and "MemoryError" in result.output, result.output
    assert (await run(box, "print(keep)")).output.strip() == "kept"


@pytest.mark.parametrize("mode", ISOLATED_MODES)
async def test_a_folders_mistyped_path_reads_its_file_or_names_the_close_ones(
    tmp_path: Path, mode: str
) -> None:
    """A 1.5B root asked for 'tickets.jsonl' in a folder holding 'tickets.json', then
    searched the dict as text until its turns ran out."""
    files = {"tickets.json": "[1, 2]", "agents.tsv": "id\tteam", "data/users.csv": "id",
             ".env": "K=1"}  # fmt: skip
    box = Sandbox(mode)
    await box.start(prepare_context(files, tmp_path / "ctx"), answer, CORE)
    try:
        read = await run(box, "print(context['tickets.jsonl'], isinstance(context, dict))")
        assert read.output.strip() == "[1, 2] True"
        missed = await run(box, "context['users.csv']")
        assert "no file 'users.csv' in context (a dict of 4 files" in missed.output
        assert "did you mean 'data/users.csv'?" in missed.output
        dotfile = await run(box, "context['.bashrc']")  # a dot begins a name, no extension
        assert "no file '.bashrc'" in dotfile.output
        assert (await run(box, "print(sorted(context))")).output.strip() == str(sorted(files))
    finally:
        await box.close()


@pytest.mark.parametrize("mode", ISOLATED_MODES)
async def test_the_memory_limit_is_on_top_of_the_context(tmp_path: Path, mode: str) -> None:
    """A 150 MB context loads under a 256 MB limit (mapped, then decoded, it is counted on
    top of the limit), and the limit still holds for what the cells allocate."""
    text = "x" * (150 * 2**20)
    box = Sandbox(mode, Limits(memory_mb=256))
    await box.start(prepare_context(text, tmp_path / "ctx"), answer, CORE)
    try:
        assert (await run(box, "print(len(context))")).output.strip() == str(len(text))
        hog = await run(box, "hog = bytearray(2 * 2**30)")
        assert hog.error and "MemoryError" in hog.output, hog.output
    finally:
        await box.close()


@pytest.mark.parametrize("mode", ISOLATED_MODES)
async def test_a_worker_past_its_cpu_seconds_is_stopped_and_restarted(
    tmp_path: Path, mode: str
) -> None:
    """The CPU rlimit ends a worker whatever its cells do (here long before the cell's own
    20 s limit), and the next cell gets a fresh worker."""
    box = Sandbox(mode, Limits(cpu_seconds=2))
    await box.start(prepare_context("c", tmp_path / "ctx"), answer, CORE)
    try:
        spin = await run(box, "while True:\n    pass", timeout=20)
        assert spin.worker_restarted and not spin.timed_out, spin.output
        assert "worker process died" in spin.output
        assert (await run(box, "print(context)")).output.strip() == "c"
    finally:
        await box.close()


async def test_home_is_the_workers_own_folder_and_programs_run_by_name(box: Sandbox) -> None:
    """HOME is the worker's writable working folder (the host's home is never shown), and
    the standard programs are found by name on PATH."""
    code = (
        "import os, subprocess\nhome = os.path.expanduser('~')\n"
        "open(os.path.join(home, 'note'), 'w').write('x')\n"
        "print(home == os.getcwd(), subprocess.run(['true']).returncode)"
    )
    result = await run(box, code)
    assert result.output.strip() == "True 0", result.output


async def test_infinite_loop_is_interrupted_and_state_kept(box: Sandbox) -> None:
    await run(box, "kept = 41")
    result = await run(box, "while True:\n    pass", timeout=0.5)
    assert result.timed_out and not result.worker_restarted
    assert "KeyboardInterrupt" in result.output
    assert (await run(box, "print(kept + 1)")).output.strip() == "42"


async def test_cell_ignoring_interrupt_restarts_worker(box: Sandbox) -> None:
    await run(box, "lost = 1")
    code = (
        "while True:\n    try:\n        while True:\n            pass\n"
        "    except KeyboardInterrupt:\n        pass"
    )
    result = await run(box, code, timeout=0.5)
    assert result.worker_restarted and "variables defined so far are lost" in result.output
    assert "NameError" in (await run(box, "lost")).output
    await assert_alive(box)


async def test_subcall_wait_does_not_count_against_cell_time(box: Sandbox) -> None:
    async def slow(name: str, args: dict) -> object:
        await asyncio.sleep(1.5)
        return "late"

    box.handler = slow
    result = await run(box, "print(llm_query('a'), llm_query('b'))", timeout=1.0)
    assert result.output.strip() == "late late" and not result.timed_out


async def test_printing_100_mb_is_truncated(box: Sandbox) -> None:
    result = await run(box, "for _ in range(1000):\n    print('y' * 100_000)", limit=2000)
    assert len(result.output) < 2200 and result.output_chars == 100_001_000
    assert "characters omitted" in result.output
    await assert_alive(box)


async def test_file_size_limit(box: Sandbox) -> None:
    """16 MB a file (the fixture's limit, below its 64 MB of tmp): 8 MB fit, 24 MB do not."""
    fits = await run(box, "print(open('small', 'wb').write(b'x' * (8 * 2**20)))")
    assert fits.output.strip() == str(8 * 2**20), fits.output
    result = await run(box, "open('big', 'wb').write(b'x' * (24 * 2**20))")
    assert result.error and "File too large" in result.output, result.output
    await assert_alive(box)


async def test_low_level_stdout_is_captured(box: Sandbox) -> None:
    result = await run(
        box, "import os\nos.write(1, b'raw-fd-write\\n')\nos.system('echo from-shell')"
    )
    assert "raw-fd-write" in result.output and "from-shell" in result.output
    await assert_alive(box)


async def test_sys_exit_is_refused(box: Sandbox) -> None:
    await run(box, "kept = 'yes'")
    result = await run(box, "import sys; sys.exit(3)")
    assert "exiting the REPL is not allowed" in result.output
    assert (await run(box, "print(kept)")).output.strip() == "yes"


@pytest.mark.parametrize(
    "code", ["import os; os._exit(0)", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
)
async def test_worker_death_is_survived(box: Sandbox, code: str) -> None:
    result = await run(box, code)
    assert result.worker_restarted and "died" in result.output
    await assert_alive(box)


async def test_deleting_helpers_restores_them(box: Sandbox) -> None:
    result = await run(box, "del llm_query\ncontext = 'overwritten'")
    assert "restored" in result.output and "llm_query" in result.output
    await assert_alive(box)


async def test_worker_env_has_no_secrets(
    box: Sandbox, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-must-not-leak")
    fresh = Sandbox(box.mode)
    await fresh.start(prepare_context("c", tmp_path / "c2"), answer, CORE)
    try:
        result = await run(fresh, "import os; print(sorted(os.environ))")
        assert "OPENAI_API_KEY" not in result.output and "sk-must" not in result.output
    finally:
        await fresh.close()


@pytest.mark.parametrize("mode", [*ISOLATED_MODES, "none"])
async def test_concurrent_sandboxes_never_mix_output(mode: str, tmp_path: Path) -> None:
    boxes = [Sandbox(mode) for _ in range(3)]
    for i, sandbox in enumerate(boxes):
        await sandbox.start(prepare_context(f"tag{i}", tmp_path / f"c{i}"), answer, CORE)
    code = "import time\nfor _ in range(50):\n    print(context)\n    time.sleep(0.002)"
    try:
        results = await asyncio.gather(*(run(b, code) for b in boxes))
    finally:
        for sandbox in boxes:
            await sandbox.close()
    for i, result in enumerate(results):
        assert set(result.output.split()) == {f"tag{i}"}


def test_escape_attempts_do_not_end_the_run(replay) -> None:
    spec = replay(
        [
            repl("import os\nos._exit(1)"),
            repl("while True:\n    pass"),
            repl("del FINAL\nx = bytearray(8 * 2**30)"),
            repl("FINAL('still here')"),
        ]
    )
    result = RLM(spec, limits=Limits(cell_seconds=0.5, memory_mb=512)).completion("c", "q?")
    assert (result.answer, result.status, result.iterations) == ("still here", "final", 4)


@pytest.fixture
def flaky_bwrap(tmp_path: Path, monkeypatch) -> Iterator[Callable[[int], Path]]:
    """A `bwrap` first on PATH that fails its first ``failures`` runs, then is the real one."""
    real = shutil.which("bwrap")

    def install(failures: int) -> Path:
        runs = tmp_path / "runs"
        script = tmp_path / "bin" / "bwrap"
        script.parent.mkdir(exist_ok=True)
        script.write_text(
            "#!/bin/sh\necho x >> " + str(runs) + "\n"
            f'[ $(wc -l < {runs}) -gt {failures} ] || {{ echo "no more pids" >&2; exit 1; }}\n'
            f'exec {real} "$@"\n'
        )
        script.chmod(0o755)
        monkeypatch.setenv("PATH", f"{script.parent}:{os.environ['PATH']}")
        bwrap_problem.cache_clear()
        return runs

    yield install
    bwrap_problem.cache_clear()  # the next caller probes the real bwrap again


@needs_bwrap
def test_one_failed_probe_does_not_downgrade_the_sandbox(flaky_bwrap) -> None:
    runs = flaky_bwrap(1)
    assert bwrap_works()
    assert runs.read_text().count("x") == 2


@needs_bwrap
def test_bwrap_works_for_a_python_started_by_a_relative_path(tmp_path: Path) -> None:
    # `cd benchmarks && ../.venv/bin/python ...` fell back to process mode: the `..` of the
    # interpreter's path ran through a folder the sandbox does not show
    python = os.path.relpath(sys.executable, tmp_path)
    assert ".." in python
    code = "from rlmx.repl.isolation import bwrap_problem; print(bwrap_problem())"
    done = subprocess.run([python, "-c", code], cwd=tmp_path, capture_output=True, text=True)
    assert done.stdout.strip() == "None", done.stdout + done.stderr


@needs_bwrap
def test_a_probe_that_keeps_failing_says_why(flaky_bwrap, monkeypatch, caplog) -> None:
    runs = flaky_bwrap(99)
    monkeypatch.setattr(modes, "_warned_process_mode", False)
    with caplog.at_level("INFO", logger="rlmx.sandbox"):
        assert modes.resolve_mode("auto") == "process"
        with pytest.raises(SandboxUnavailable, match="no more pids") as refused:
            modes.resolve_mode("bwrap")
    # what to do about it, too
    assert str(refused.value).endswith(
        "install bubblewrap (apt-get install bubblewrap) or choose --sandbox process"
    )
    assert runs.read_text().count("x") == PROBE_TRIES
    assert f"the probe failed {PROBE_TRIES} times: no more pids" in str(bwrap_problem())
    # the user is told why 'auto' fell back, not only that it did
    assert "not usable here (the probe failed" in caplog.text and "FELL BACK" in caplog.text


def test_an_unknown_mode_is_named_with_the_choices() -> None:
    for mode in ("jail", "AUTO", ""):
        with pytest.raises(ValueError) as caught:
            modes.resolve_mode(mode)
        assert str(caught.value) == (
            f"unknown sandbox mode {mode!r}; choose one of auto, bwrap, container, process, none"
        )


@needs_bwrap
def test_auto_is_bwrap_where_bwrap_works() -> None:
    assert modes.resolve_mode("auto") == "bwrap"
    assert modes.resolve_mode("process") == "process"


@needs_bwrap
def test_process_mode_is_warned_about_once_and_only_when_used(monkeypatch, caplog) -> None:
    monkeypatch.setattr(modes, "_warned_process_mode", False)
    with caplog.at_level("WARNING", logger="rlmx.sandbox"):
        assert [modes.resolve_mode(m) for m in ("bwrap", "auto")] == ["bwrap", "bwrap"]
        assert not caplog.records
        modes.resolve_mode("process")
        modes.resolve_mode("process")
    assert [r.getMessage() for r in caplog.records] == [modes.process_mode_warning()]


@needs_bwrap
def test_process_mode_asked_for_is_not_called_a_fall_back(flaky_bwrap, monkeypatch, caplog) -> None:
    flaky_bwrap(99)  # bubblewrap fails here, but the user chose 'process' anyway
    monkeypatch.setattr(modes, "_warned_process_mode", False)
    with caplog.at_level("WARNING", logger="rlmx.sandbox"):
        modes.resolve_mode("process")
    assert "mode 'process'" in caplog.text and "FELL BACK" not in caplog.text


def test_bwrap_works_exactly_when_no_problem_is_found() -> None:
    # not skipped by needs_bwrap: that marker asks bwrap_works itself
    assert bwrap_works() is (bwrap_problem() is None)


@pytest.mark.skipif("container" not in NAMESPACED_MODES, reason="podman does not run here")
def test_a_dead_hosts_worker_containers_are_removed() -> None:
    """A host killed with SIGKILL leaves its containers running (the engine keeps them):
    the next host's first container launch removes those of dead pids, and only those."""
    dead = subprocess.Popen(["true"])
    dead.wait()
    binary = container.engine()
    assert binary is not None
    image = container.build_image(binary)
    names = [f"rlmx-{dead.pid}-worker-{uuid.uuid4().hex[:8]}",
             f"rlmx-{os.getpid()}-worker-{uuid.uuid4().hex[:8]}"]  # fmt: skip
    runtime = container.runtime()
    for name in names:
        options = container.run_options(runtime, 64 * 2**20, 8, 4)
        options = [o for o in options if o not in ("-i", "--rm")]
        subprocess.run([binary, *options, "-d", "--name", name, image,
                        "/usr/bin/sleep", "600"], check=True, capture_output=True)  # fmt: skip
    try:
        container.sweep_once.cache_clear()
        assert container.sweep_once(binary) == [names[0]]
        listed = subprocess.run([binary, "ps", "-a", "--format", "{{.Names}}"],
                                capture_output=True, text=True).stdout.split()  # fmt: skip
        assert names[0] not in listed and names[1] in listed
    finally:
        subprocess.run([binary, "rm", "-f", "-t", "0", *names], capture_output=True)
