"""``rlmx batch``: one row per job, bad jobs recorded in their rows, resumable."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from rlmx import RunConfig, batch

from conftest import repl


def jobs_file(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "jobs.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_rows_per_job_bad_jobs_recorded_and_a_rerun_resumes(tmp_path: Path, replay) -> None:
    spec = replay([repl("FINAL(len(context))")])
    (tmp_path / "doc.txt").write_text("twelve chars")
    path = jobs_file(tmp_path, [
        json.dumps({"id": "a", "query": "len?", "context": "abc"}),
        json.dumps({"id": "b", "query": "len?", "path": "doc.txt"}),
        json.dumps({"id": "c", "query": "len?"}),
        "not json",
        json.dumps({"id": "a", "query": "again", "context": "x"}),
        json.dumps({"id": "d", "query": "len?", "context": "x", "root": "replay:/nope.json"}),
    ])  # fmt: skip
    out = tmp_path / "rows.jsonl"
    rows = asyncio.run(
        batch.run(path, out, config=RunConfig.build(root=spec, sandbox="process"), parallel=2)
    )
    by_id = {row["id"]: row for row in rows}
    assert sorted(by_id) == ["a", "b", "c", "d", "line-4", "line-5"]
    assert (by_id["a"]["answer"], by_id["a"]["status"]) == ("3", "final")
    assert by_id["b"]["answer"] == "12" and by_id["a"]["usage"]["total"]["calls"] == 1
    assert by_id["c"]["error"] == "ConfigError: give exactly one of context or path"
    assert by_id["line-4"]["error"].startswith("ConfigError: not JSON")
    assert by_id["line-5"]["error"] == "ConfigError: the id 'a' is used twice"
    assert "replay file not found" in by_id["d"]["error"] and by_id["d"]["status"] == "error"
    assert (
        asyncio.run(batch.run(path, out, config=RunConfig.build(root=spec, sandbox="process")))
        == []
    )  # resumed
    assert len(out.read_text().splitlines()) == 6


def test_rlmx_batch_cli(tmp_path: Path, replay) -> None:
    spec = replay([repl("FINAL(context.upper())")])
    path = jobs_file(tmp_path, [json.dumps({"id": i, "query": "up?", "context": f"job {i}"})
                                for i in range(3)])  # fmt: skip
    out = tmp_path / "rows.jsonl"
    command = [sys.executable, "-m", "rlmx.cli", "batch", str(path), "--out", str(out),
               "--root", spec, "--sandbox", "process", "--parallel", "2"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"3 new rows in {out}: 3 final"
    answers = sorted(json.loads(line)["answer"] for line in out.read_text().splitlines())
    assert answers == ["JOB 0", "JOB 1", "JOB 2"]
    lines = [line for line in done.stderr.splitlines() if line.startswith("rlmx: jobs:")]
    assert lines and lines[-1].startswith("rlmx: jobs: 3/3 done, 0 failed")  # off a terminal
    again = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert (
        again.stdout.strip() == f"0 new rows in {out}: nothing new; every job already has its row"
    )
    missing = subprocess.run([*command[:4], str(tmp_path / "none.jsonl"), "--out", str(out)],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert missing.returncode == 2 and "cannot read the jobs file" in missing.stderr


def test_failed_rows_are_run_again_and_replaced_with_retry_failed(tmp_path: Path, replay) -> None:
    good = replay([repl("FINAL(context.upper())")])
    path = jobs_file(tmp_path, [
        json.dumps({"id": "ok", "query": "up?", "context": "fine"}),
        json.dumps({"id": "flaky", "query": "up?", "context": "later",
                    "root": "replay:/gone.json"}),
    ])  # fmt: skip
    out = tmp_path / "rows.jsonl"
    first = asyncio.run(batch.run(path, out, config=RunConfig.build(root=good, sandbox="process")))
    assert sorted(row["status"] for row in first) == ["error", "final"]
    assert batch.pending(path, out) == 0 and batch.pending(path, out, retry_failed=True) == 1
    fixed = path.read_text().replace("replay:/gone.json", good)
    path.write_text(fixed)  # what made the job fail is fixed
    again = asyncio.run(
        batch.run(
            path, out, config=RunConfig.build(root=good, sandbox="process"), retry_failed=True
        )
    )
    assert [(row["id"], row["answer"]) for row in again] == [("flaky", "LATER")]
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted((row["id"], row["status"]) for row in rows) == [("flaky", "final"),
                                                                  ("ok", "final")]  # fmt: skip
