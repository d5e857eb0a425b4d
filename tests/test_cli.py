"""`rlmx ask` as a user runs it: paths, stdin, JSON output, progress lines, exit codes."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import repl


def rlmx(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rlmx.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def counting_spec(replay) -> str:
    return replay([repl("FINAL(len(context) if isinstance(context, str) else sorted(context))")])


def test_file_context_plain_output(counting_spec: str, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    proc = rlmx("ask", str(doc), "-q", "how long?", "--root", counting_spec)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5"
    assert "[rlmx] run" in proc.stderr and "status final" in proc.stderr


def test_stdin_context_and_json(counting_spec: str) -> None:
    proc = rlmx("ask", "-", "-q", "how long?", "--root", counting_spec, "--json", stdin="abc\n")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["answer"] == "4" and out["status"] == "final" and out["iterations"] == 1
    assert set(out) >= {"usage", "cost_usd", "run_id", "trajectory"}


def test_several_paths_become_a_dict(counting_spec: str, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.txt").write_text("b")
    proc = rlmx(
        "ask",
        str(tmp_path / "a.txt"),
        str(tmp_path / "b.txt"),
        "-q",
        "q",
        "--root",
        counting_spec,
        "--json",
    )
    assert json.loads(proc.stdout)["answer"] == str(
        sorted([str(tmp_path / "a.txt"), str(tmp_path / "b.txt")])
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/file", "-q", "q", "--root", "replay:x.json"], "no such file or directory"),
        (["{doc}", "-q", "q", "--root", "bogus:thing"], "unknown model provider 'bogus'"),
        (["{doc}", "-q", "q", "--root", "replay:/missing.json"], "replay file not found"),
        (["{doc}", "-q", "q", "--root", "{spec}", "--sandbox", "jail"], "unknown sandbox mode"),
        (["{doc}", "-q", "q", "--root", "{spec}", "--max-iterations", "0"], "max-iterations"),
        (["{doc}", "-", "-q", "q", "--root", "{spec}"], "cannot be combined"),
    ],
)
def test_bad_arguments_exit_2(
    args: list[str],
    message: str,
    counting_spec: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    doc = tmp_path / "doc.txt"
    doc.write_text("x")
    filled = [a.format(doc=doc, spec=counting_spec) for a in args]
    proc = rlmx("ask", *filled)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_missing_api_key_exit_2(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("x")
    env_free = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "ask", str(doc), "-q", "q", "--root", "openai:gpt-5"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert env_free.returncode == 2 and "OPENAI_API_KEY is not set" in env_free.stderr


def test_failed_run_exits_1_and_keeps_trajectory(replay, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("x")
    traj = tmp_path / "t.jsonl"
    proc = rlmx(
        "ask", str(doc), "-q", "q", "--root", replay([repl("print(1)")]), "--trajectory", str(traj)
    )
    assert proc.returncode == 1
    assert "ran out after 1 replies" in proc.stderr
    assert [json.loads(line)["type"] for line in traj.read_text().splitlines()][
        -1
    ] == "run_finished"


def test_unreachable_server_exit_2(tmp_path: Path, dead_url: str) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("x")
    proc = rlmx("ask", str(doc), "-q", "q", "--root", f"vllm:m@{dead_url}", "--json")
    assert proc.returncode == 2
    assert f"cannot reach {dead_url}" in proc.stderr and "Traceback" not in proc.stderr
    assert json.loads(proc.stdout)["status"] == "error"


def test_corrupt_model_file_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.gguf"
    bad.write_bytes(b"GGUF" + b"\0" * 1000)
    doc = tmp_path / "doc.txt"
    doc.write_text("x")
    proc = rlmx("ask", str(doc), "-q", "q", "--root", f"local:{bad}")
    assert proc.returncode == 2 and "cannot load GGUF model" in proc.stderr
    assert "Traceback" not in proc.stderr


def wait_for_health(url: str, proc: subprocess.Popen) -> None:
    import httpx

    for _ in range(300):
        if proc.poll() is not None:
            raise AssertionError(f"the server exited: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError("the server did not answer /health")


def served_url(proc: subprocess.Popen[str]) -> str:
    """The URL a `rlmx serve --port 0` prints (the port it really listens on)."""
    assert proc.stderr is not None
    for _ in range(50):
        line = proc.stderr.readline()
        found = re.search(r"serving on (http://\S+)/ ", line)
        if found:
            return found.group(1)
        if not line and proc.poll() is not None:
            break
    raise AssertionError("the server did not say where it listens")


def test_serve_runs_a_query_and_stops_cleanly(counting_spec: str, tmp_path: Path) -> None:
    import httpx

    proc = subprocess.Popen(
        [sys.executable, "-m", "rlmx.cli", "serve", "--port", "0", "--data-dir",
         str(tmp_path / "data"), "--root", counting_spec, "--token", "t0k"],
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = served_url(proc)
    port = int(url.rsplit(":", 1)[1])
    try:
        wait_for_health(url, proc)
        auth = {"Authorization": "Bearer t0k"}
        run = httpx.post(f"{url}/query", json={"query": "q", "context": "abcd"}, headers=auth)
        run_id = run.json()["run_id"]
        with httpx.stream("GET", f"{url}/stream/{run_id}", headers=auth, timeout=60) as stream:
            lines = list(stream.iter_lines())
        assert "event: run_finished" in lines
        assert httpx.get(f"{url}/runs/{run_id}", headers=auth).json()["answer"] == "4"
        taken = rlmx("serve", "--port", str(port), "--data-dir", str(tmp_path / "other"))
        assert taken.returncode == 2 and "cannot listen" in taken.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    assert (tmp_path / "data" / "runs.sqlite3").exists()


def test_view_opens_a_saved_trajectory(counting_spec: str, tmp_path: Path) -> None:
    import httpx

    traj = tmp_path / "run.jsonl"
    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    assert rlmx("ask", str(doc), "-q", "q", "--root", counting_spec, "--trajectory",
                str(traj)).returncode == 0  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlmx.cli", "view", str(traj), "--port", "0",
         "--no-browser"], stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = served_url(proc)
    try:
        wait_for_health(url, proc)
        runs = httpx.get(f"{url}/runs").json()["runs"]
        assert [(r["source"], r["status"], r["answer"]) for r in runs] == [("import", "final", "5")]
        assert len(httpx.get(f"{url}/runs/{runs[0]['id']}").json()["events"]) == len(
            traj.read_text().splitlines()
        )
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)


def test_server_commands_refuse_bad_input(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"type": "nonsense"}\n')
    for args, words in [
        (["view", str(tmp_path / "missing.jsonl")], "cannot read trajectory"),
        (["view", str(tmp_path / "bad.jsonl")], "cannot read trajectory"),
        (["serve", "--sandbox", "nope"], "unknown sandbox mode"),
        (["serve", "--root", "nosuch:model"], "provider"),
        (["serve", "--data-root", str(tmp_path / "missing")], "not a directory"),
        (["mcp", "--root", "nosuch:model"], "provider"),
    ]:
        proc = rlmx(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


def test_model_aliases_reach_the_cells_and_bad_ones_are_usage_errors(replay, tmp_path) -> None:
    fast = replay({"sub": {"": "from fast"}})
    root = replay([repl("FINAL(llm_query('x', model='fast'))")])
    proc = rlmx("ask", "-", "-q", "q", "--root", root, "--model", f"fast={fast}", stdin="c")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "from fast"
    for bad in ("fast", "=x", f"fast={tmp_path}/missing.json"):
        proc = rlmx("ask", "-", "-q", "q", "--root", root, "--model", bad, stdin="c")
        assert proc.returncode == 2 and proc.stderr.startswith("rlmx: error:"), bad


def test_health_says_what_holds_the_limits() -> None:
    from rlmx.repl.confine import detect
    from rlmx.repl.container import container_works

    proc = rlmx("health", "--json")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["containment"] == detect().to_dict()
    assert report["sandbox"] in ("bwrap", "process")
    assert report["container"] is container_works()
    assert (report["container_problem"] is None) is container_works()


@pytest.mark.parametrize("question", ["", "   "])
def test_an_empty_question_is_a_usage_error(question: str, counting_spec: str) -> None:
    proc = rlmx("ask", "-", "-q", question, "--root", counting_spec, stdin="abc")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "rlmx: error: the question (-q) is empty"


def test_a_port_left_in_time_wait_can_be_served_again() -> None:
    from rlmx.cli.serve import _listen

    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        client = socket.create_connection(("127.0.0.1", port))
        served, _ = listener.accept()
        served.close()  # the server side closes first: its port goes to TIME_WAIT
        client.close()
    with _listen("127.0.0.1", port) as again:
        assert again.getsockname()[1] == port


def test_binary_empty_and_textless_contexts_are_refused(counting_spec: str, tmp_path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" * 50)
    (tmp_path / "empty.txt").write_text("")
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "a.bin").write_bytes(b"\x00\x01")
    for path, words in [
        ("blob.bin", "looks binary"),
        ("empty.txt", "is empty"),
        ("images", "has no text files (1 skipped"),
    ]:
        proc = rlmx("ask", str(tmp_path / path), "-q", "q", "--root", counting_spec)
        assert proc.returncode == 2 and words in proc.stderr, (path, proc.stderr)
        assert "Traceback" not in proc.stderr
    for stdin in ("", " \n\t\n"):  # no run starts over nothing
        proc = rlmx("ask", "-", "-q", "q", "--root", counting_spec, stdin=stdin)
        assert proc.returncode == 2 and "stdin is empty" in proc.stderr, proc.stderr
    from rlmx import RLM
    from rlmx.errors import ContextError

    with pytest.raises(ContextError, match="the context is empty"):
        RLM(counting_spec).completion("   \n", "q")


def test_files_left_out_of_a_folder_are_named(counting_spec: str, tmp_path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.txt").write_text("text")
    (tmp_path / "docs" / "logo.png").write_bytes(b"\x89PNG\x00\x00")
    proc = rlmx("ask", str(tmp_path / "docs"), "-q", "q", "--root", counting_spec)
    assert proc.returncode == 0, proc.stderr
    assert "rlmx: note: 1 file(s) not included: logo.png" in proc.stderr


def test_chat_keeps_variables_between_questions_until_reset(replay, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    spec = replay([repl("n = globals().get('n', 0) + 1\nFINAL(f'{n} {len(history)}')")])
    lines = "first?\n\nsecond?\n/history\n/reset\nthird?\n/nope\n/exit\nnever asked\n"
    proc = rlmx("chat", str(doc), "--root", spec, "--sandbox", "process", stdin=lines)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "1 0", "2 1", "1. first?", "   -> 1 0 (final)", "2. second?", "   -> 2 1 (final)", "1 0"
    ]  # fmt: skip
    assert "the REPL was reset" in proc.stderr and "unknown command /nope" in proc.stderr
    assert proc.stderr.count("status final") == 3


def test_chat_refuses_stdin_as_context() -> None:
    proc = rlmx("chat", "-", stdin="q\n")
    assert proc.returncode == 2 and "reads its questions from stdin" in proc.stderr


def test_chat_on_a_terminal_prompts_and_shows_the_live_panel(replay, tmp_path: Path) -> None:
    import os
    import pty

    doc = tmp_path / "doc.txt"
    doc.write_text("hello")
    spec = replay([repl("n = globals().get('n', 0) + 1\nFINAL(f'answer {n}')")])
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "rlmx.cli", "chat", str(doc), "--root", spec, "--sandbox",
         "process"],
        stdin=follower, stdout=follower, stderr=follower, close_fds=True,
    )  # fmt: skip
    os.close(follower)
    seen = b""

    def read_until(marker: bytes) -> None:
        nonlocal seen
        deadline = time.monotonic() + 60
        while marker not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(leader, 4096)
            except OSError:
                break
        assert marker in seen, seen[-500:]

    try:
        read_until(b"? ")
        os.write(leader, b"first?\n")
        read_until(b"answer 1")
        os.write(leader, b"again?\n")
        read_until(b"answer 2")
        os.write(leader, b"/exit\n")
        assert proc.wait(timeout=30) == 0
    finally:
        proc.kill()
        os.close(leader)
    assert b"/reset" in seen and b"status final" in seen


@pytest.mark.parametrize("command", ["ask", "chat", "batch", "serve", "eval", "view", "replay",
                                     "mcp", "health", "models pull", "video index"])  # fmt: skip
def test_help_fits_80_columns_without_cutting_anything(command: str) -> None:
    shown = subprocess.run([sys.executable, "-m", "rlmx.cli", *command.split(), "--help"],
                           capture_output=True, text=True, timeout=60,
                           env={**os.environ, "COLUMNS": "80"})  # fmt: skip
    assert shown.returncode == 0 and "…" not in shown.stdout, shown.stdout
    assert max(len(line) for line in shown.stdout.splitlines()) <= 80
    if command == "ask":
        for panel in ("Models", "Limits", "Sandbox", "Output"):
            assert f"─ {panel} ─" in shown.stdout


def test_every_run_is_kept_listed_and_found_by_id(replay, tmp_path: Path) -> None:
    from rlmx import kept_runs

    doc = tmp_path / "doc.txt"
    doc.write_text("the answer is 42")
    spec = replay([repl("print(context)"), "FINAL(42)"])
    asked = rlmx("ask", str(doc), "-q", "what is the answer?", "--root", spec, "--json")
    run_id = json.loads(asked.stdout)["run_id"]
    assert (kept_runs.runs_dir() / f"{run_id}.jsonl").is_file()
    listed = [json.loads(line) for line in rlmx("runs", "--json").stdout.splitlines()]
    mine = next(run for run in listed if run["run_id"] == run_id)
    assert (mine["status"], mine["answer"], mine["query"]) == ("final", "42", "what is the answer?")
    assert run_id in rlmx("runs").stdout
    assert kept_runs.find(run_id).name == f"{run_id}.jsonl"
    assert kept_runs.find(None).name == f"{run_id}.jsonl"  # --last
    with pytest.raises(ValueError, match="not a run id"):
        kept_runs.find("../../etc/passwd")
    missing = rlmx("view", "nosuchrun", "--no-browser")
    assert missing.returncode == 2 and "no kept run" in missing.stderr
    before = set(kept_runs.runs_dir().glob("*.jsonl"))
    rlmx("ask", str(doc), "-q", "q", "--root", replay([repl("1"), "FINAL(1)"]), "--no-record")
    quiet = subprocess.run(
        [
            sys.executable,
            "-m",
            "rlmx.cli",
            "ask",
            str(doc),
            "-q",
            "q",
            "--root",
            replay([repl("1"), "FINAL(1)"]),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "RLMX_NO_RECORD": "1"},
    )
    assert quiet.returncode == 0
    assert set(kept_runs.runs_dir().glob("*.jsonl")) == before  # neither kept anything


def test_ctrl_c_ends_a_run_with_130_and_keeps_it_as_cancelled(replay, tmp_path: Path) -> None:
    from rlmx import kept_runs

    doc = tmp_path / "doc.txt"
    doc.write_text("some text")
    spec = replay([repl("import time\ntime.sleep(60)"), "FINAL(1)"])
    kept_runs.folder()  # made now: the run is found as the one file that is new
    before = set(kept_runs.runs_dir().glob("*.jsonl"))
    proc = subprocess.Popen([sys.executable, "-m", "rlmx.cli", "ask", str(doc), "-q", "q",
                             "--root", spec, "--sandbox", "process"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # until its cell is running
        kept = set(kept_runs.runs_dir().glob("*.jsonl")) - before
        if kept and "cell_started" in next(iter(kept)).read_text():
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)  # a hang guard, not a speed bound
    assert proc.returncode == 130 and "interrupted" in err
    (trajectory,) = set(kept_runs.runs_dir().glob("*.jsonl")) - before
    last = json.loads(trajectory.read_text().splitlines()[-1])
    assert (last["type"], last["status"]) == ("run_finished", "cancelled")
