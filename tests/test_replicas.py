"""Two ``rlmx serve`` processes on one PostgreSQL database serve the same runs.

A run started on replica A is listed by B, streamed live from B (events fan out by
LISTEN/NOTIFY), cancelled from B; when A is killed mid-run, B marks the run interrupted.
Each replica is a real server process on its own loopback port with its own data dir.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_server import parse_sse

from conftest import announced_url, repl

SLOW_SUB = {"root": [repl("x = llm_query('slow: ' + context)"), repl("FINAL(x)")],
            "sub": {"slow": {"sleep": 3, "reply": "late"}}}  # fmt: skip
STUCK_SUB = {"root": [repl("x = llm_query('stuck: ' + context)"), repl("FINAL(x)")],
             "sub": {"stuck": {"sleep": 300, "reply": "never"}}}  # fmt: skip


class Replica:
    """One ``rlmx serve`` process in its own process group."""

    def __init__(self, url: str, tmp: Path, name: str, models: dict[str, str]) -> None:
        (tmp / name).mkdir()
        aliases = [arg for alias, spec in models.items() for arg in ("--model", f"{alias}={spec}")]
        log = tmp / name / "stderr.log"  # a file: a full pipe would stall the server
        self.process = subprocess.Popen(
            [sys.executable, "-m", "rlmx.cli", "serve", "--port", "0", "--store", url,
             "--data-dir", str(tmp / name), "--data-root", str(tmp / name),
             "--sandbox", "process", "--root", models["slow"], *aliases],
            stdout=subprocess.DEVNULL, stderr=log.open("wb"), start_new_session=True,
        )  # fmt: skip
        origin = announced_url(self.process, log, r"serving on (http://\S+?)/ ", 60)
        self.client = httpx.Client(base_url=origin, timeout=60)
        assert self.client.get("/health").status_code == 200

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def replicas(postgres_url: str, replay, tmp_path: Path) -> Iterator[tuple[Replica, Replica]]:
    models = {"slow": replay(SLOW_SUB), "stuck": replay(STUCK_SUB)}
    a = Replica(postgres_url, tmp_path, "a", models)
    try:
        b = Replica(postgres_url, tmp_path, "b", models)
        try:
            yield a, b
        finally:
            b.stop()
    finally:
        a.stop()


def start(replica: Replica, root: str) -> str:
    response = replica.client.post("/query", json={"query": "q", "context": "c", "root": root})
    assert response.status_code == 200, response.text
    return response.json()["run_id"]


def wait_until(check: Callable[[], Any], seconds: float = 60) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"not true within {seconds} s")


def status(replica: Replica, run_id: str) -> str:
    return replica.client.get(f"/runs/{run_id}", params={"events": False}).json()["status"]


def stream(replica: Replica, run_id: str) -> list[dict[str, Any]]:
    with replica.client.stream("GET", f"/stream/{run_id}", timeout=120) as response:
        assert response.status_code == 200
        return [json.loads(e["data"]) for e in parse_sse(list(response.iter_lines()))]


def test_a_run_on_one_replica_is_listed_and_streamed_live_by_the_other(replicas) -> None:
    a, b = replicas
    run_id = start(a, "slow")
    assert run_id in [run["id"] for run in b.client.get("/runs").json()["runs"]]
    wait_until(lambda: status(b, run_id) == "running")
    seen_on_b = stream(b, run_id)  # live: the sub-call still sleeps when this starts
    assert seen_on_b[-1]["type"] == "run_finished" and seen_on_b[-1]["answer"] == "late"
    assert seen_on_b == a.client.get(f"/runs/{run_id}").json()["events"]
    assert status(b, run_id) == "final"


def test_a_run_is_cancelled_from_the_other_replica(replicas) -> None:
    a, b = replicas
    run_id = start(a, "stuck")
    wait_until(lambda: status(b, run_id) == "running")
    response = b.client.post(f"/runs/{run_id}/cancel")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    events = stream(a, run_id)
    assert events[-1]["type"] == "run_finished" and events[-1]["status"] == "cancelled"
    assert b.client.post(f"/runs/{run_id}/cancel").status_code == 409  # no longer running


def test_a_killed_replica_leaves_its_run_interrupted_never_lost(replicas) -> None:
    a, b = replicas
    opened = a.client.post("/sessions", json={"context": "shared text"})
    assert opened.status_code == 200, opened.text
    session_id = opened.json()["session_id"]
    listed = {s["session_id"]: s for s in b.client.get("/sessions").json()["sessions"]}
    held_by = a.client.get(f"/sessions/{session_id}").json()["replica"]
    assert listed[session_id]["replica"] == held_by  # B lists A's session, naming A
    asked = b.client.post(f"/sessions/{session_id}/ask", json={"query": "q"})
    assert asked.status_code == 409 and "open on replica" in asked.json()["detail"]
    run_id = start(a, "stuck")
    wait_until(lambda: status(b, run_id) == "running")
    following = subprocess.Popen(  # a subscriber on B, following the run when A dies
        [sys.executable, "-c", "import httpx, sys\nwith httpx.stream('GET', sys.argv[1], "
         "timeout=120) as r:\n    print(''.join(r.iter_text()))",
         f"{b.client.base_url}/stream/{run_id}"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    time.sleep(1)
    a.kill()
    wait_until(lambda: status(b, run_id) == "interrupted", seconds=45)
    run = b.client.get(f"/runs/{run_id}").json()
    assert run["events"][0]["type"] == "run_started"
    assert run["events"][-1]["status"] == "interrupted" and run["answer"] is None
    body, _ = following.communicate(timeout=30)
    assert "event: run_finished" in body and '"status":"interrupted"' in body
    sessions = b.client.get("/sessions").json()["sessions"]
    assert session_id not in [s["session_id"] for s in sessions]  # its REPL died with A
    assert b.client.post(f"/sessions/{session_id}/ask", json={"query": "q"}).status_code == 404
