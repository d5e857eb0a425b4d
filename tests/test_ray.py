"""Evaluations and batch jobs on a real Ray cluster: a head started here on 127.0.0.1.

The head has 2 CPUs, no dashboard and token authentication; Ray binds loopback only. The
same items run on the local runner and on Ray give the same rows; a Ray worker killed
mid-task is retried; Ctrl-C on ``rlmx batch --ray`` cancels the tasks in flight.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

# Before Ray is imported: loopback only, and a token of this test run's own (the head, this
# driver and the CLI runs inherit it), whatever ~/.ray/auth_token a private Ray left there.
os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
os.environ["RAY_AUTH_MODE"] = "token"
os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
import ray

from rlmx import RunConfig, batch
from rlmx.eval.runner import generate, run_eval
from rlmx.jobs import LocalRunner
from rlmx.lm.replay import ReplayLM
from rlmx.ray_runner import RayRunner

from conftest import free_port, repl

TASK_TITLE = b"ray::_run_job"  # a Ray worker's process title while it runs a job


@pytest.fixture(scope="module")
def ray_address() -> Iterator[str]:
    """``ray start --head --block`` on a free loopback port; stopped with its group."""
    port = free_port()
    temp = tempfile.mkdtemp(prefix="rlmx-ray-", dir="/tmp")  # short: Ray's socket paths
    ray_cli = Path(sys.executable).parent / "ray"
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=2",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        _wait_for_head(ray_cli, address, head)
        yield address
    finally:
        ray.shutdown()
        os.killpg(head.pid, signal.SIGTERM)
        try:
            head.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(head.pid, signal.SIGKILL)
            head.wait()


def _wait_for_head(ray_cli: Path, address: str, head: subprocess.Popen[bytes]) -> None:
    for _ in range(60):
        if head.poll() is not None:
            raise RuntimeError(f"ray start exited with {head.returncode}")
        status = subprocess.run([str(ray_cli), "status", f"--address={address}"],
                                capture_output=True, timeout=30)  # fmt: skip
        if status.returncode == 0:
            return
        time.sleep(1)
    raise RuntimeError("the Ray head did not come up in 60 s")


def running_tasks() -> list[int]:
    """Pids of Ray workers running a job now."""
    pids = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(TASK_TITLE):
                pids.append(int(entry.name))
        except OSError:
            continue  # the process ended while we looked
    return pids


def wait_for_tasks(count: int, timeout: float = 90) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(pids := running_tasks()) >= count:
            return pids
        time.sleep(0.2)
    raise AssertionError(f"fewer than {count} Ray tasks started in {timeout} s")


def jobs_file(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "jobs.jsonl"
    lines = [json.dumps({"id": f"j{i}", "query": "ask", "context": f"job {i}"})
             for i in range(count)]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    return path


def slow_sub_model(replay, seconds: float) -> str:
    """A root that asks one sub-call, which takes ``seconds``, and answers with it."""
    return replay({"root": [repl("FINAL(llm_query('slow: ' + context))")],
                   "sub": {"slow": {"sleep": seconds, "reply": "done"}}})  # fmt: skip


def test_eval_on_ray_gives_the_local_runner_rows(ray_address: str, replay, tmp_path) -> None:
    find = repl("import re\nm = re.search(r'magic numbers for [a-z-]+ is: (\\d+)', context)\n"
                "FINAL(m.group(1))")  # fmt: skip
    spec = replay([find])
    items = generate("sniah", [2048], 3)

    def run(runner, out: Path) -> list[dict]:
        config = RunConfig.build(root=spec, sandbox="process", max_iterations=12)
        return asyncio.run(run_eval(items, ["rlm", "rlm_nosub"], config, out, runner=runner))

    local = run(LocalRunner(2), tmp_path / "local.jsonl")
    on_ray = run(RayRunner(ray_address), tmp_path / "ray.jsonl")

    def essence(rows: list[dict]) -> set[tuple]:
        return {(r["method"], r["item_id"], r["answer"], r["score"], r["error"]) for r in rows}

    assert len(on_ray) == 6 and essence(on_ray) == essence(local)
    assert all(row["score"] == 1.0 for row in on_ray)
    assert run(RayRunner(ray_address), tmp_path / "ray.jsonl") == []  # resumed: nothing new


def test_eval_on_ray_refuses_models_that_cannot_travel(tmp_path: Path) -> None:
    items = generate("sniah", [2048], 1)
    lm = ReplayLM(["FINAL(1)"], "replay:inline")
    with pytest.raises(ValueError, match="spec strings"):
        asyncio.run(run_eval(items, ["rlm"], RunConfig.build(root=lm), tmp_path / "o.jsonl",
                             runner=RayRunner("auto")))  # fmt: skip


def test_a_killed_ray_worker_is_retried(ray_address: str, replay, tmp_path: Path) -> None:
    spec = slow_sub_model(replay, 4)
    out = tmp_path / "rows.jsonl"

    async def kill_one_then_finish() -> list[dict]:
        running = asyncio.ensure_future(batch.run(
            jobs_file(tmp_path, 2), out, config=RunConfig.build(root=spec, sandbox="process"),
            runner=RayRunner(ray_address),
        ))  # fmt: skip
        victim = (await asyncio.to_thread(wait_for_tasks, 1))[0]
        await asyncio.sleep(1)  # inside the job's RLM: its sub-call is waiting
        os.kill(victim, signal.SIGKILL)
        return await running

    rows = asyncio.run(kill_one_then_finish())
    assert sorted(row["id"] for row in rows) == ["j0", "j1"]
    assert all((row["status"], row["answer"], row["error"]) == ("final", "done", None)
               for row in rows), rows  # fmt: skip
    assert len(out.read_text().splitlines()) == 2  # one row per job, none for the lost try


def test_rlmx_batch_on_ray_and_ctrl_c_cancels(ray_address: str, replay, tmp_path) -> None:
    quick = replay([repl("FINAL(context.upper())")])
    out = tmp_path / "rows.jsonl"
    command = [sys.executable, "-m", "rlmx.cli", "batch", str(jobs_file(tmp_path, 3)),
               "--out", str(out), "--root", quick, "--sandbox", "process",
               "--ray", ray_address]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"3 new rows in {out}: 3 final"
    answers = sorted(json.loads(line)["answer"] for line in out.read_text().splitlines())
    assert answers == ["JOB 0", "JOB 1", "JOB 2"]

    slow_out = tmp_path / "slow.jsonl"
    command[command.index(str(out))] = str(slow_out)
    command[command.index(quick)] = slow_sub_model(replay, 120)
    interrupted = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)  # fmt: skip
    wait_for_tasks(2)
    interrupted.send_signal(signal.SIGINT)
    _, stderr = interrupted.communicate(timeout=60)
    assert interrupted.returncode == 130 and "interrupted" in stderr
    deadline = time.monotonic() + 30
    while running_tasks() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert running_tasks() == []  # cancelled, not left running for 120 s
    assert not slow_out.exists() or slow_out.read_text() == ""


def test_an_unreachable_ray_address_is_a_clear_error(replay, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "rlmx.cli", "batch", str(jobs_file(tmp_path, 1)),
               "--out", str(tmp_path / "rows.jsonl"), "--root", replay([repl("FINAL(1)")]),
               "--ray", f"127.0.0.1:{free_port()}"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "cannot reach the Ray cluster" in done.stderr
    assert not (tmp_path / "rows.jsonl").exists()
