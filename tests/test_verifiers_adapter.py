"""rlmx as a verifiers environment: ``vf-eval rlmx-verifiers`` runs real rlmx rollouts.

verifiers pins ``openai<3`` and ``mcp==2.0.0``, so it lives in its own virtual environment
(``make verifiers-setup``: ``.venv-verifiers`` with ``rlmx[verifiers]``). Each test runs the
real ``vf-eval`` there: its interception server stands between rlmx's root and the model,
which is a scripted chat server (exact replies, so the rewards are known) or a real
llama.cpp server with the embedded SmolLM2, both on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from rlmx.eval.items import EvalItem

from chat_server import ChatServer

VF_EVAL = Path(__file__).parent.parent / ".venv-verifiers" / "bin" / "vf-eval"


def vf_eval(tmp_path: Path, base_url: str, model: str, *args: str) -> list[dict[str, Any]]:
    """Run ``vf-eval rlmx-verifiers`` against ``base_url``; the traces it wrote."""
    if not VF_EVAL.exists():
        pytest.fail(f"{VF_EVAL} is missing: run `make verifiers-setup`")
    out = tmp_path / "vf"
    command = [
        str(VF_EVAL), "rlmx-verifiers", "-r", "1", "--max-concurrent", "1",
        "--model", model, "--client.base-url", base_url,
        "--client.api-key-var", "RLMX_TEST_KEY", "--no-push", "--output-dir", str(out),
        "--env.agent.harness.id", "rlmx-verifiers",
        "--env.agent.harness.trajectory", str(tmp_path / "runs"), *args,
    ]  # fmt: skip
    env = {**os.environ, "RLMX_TEST_KEY": "test-key", "NO_COLOR": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=600,
                          cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (traces,) = out.glob("*/traces.jsonl")
    return [trace for line in traces.read_text().splitlines()
            for trace in json.loads(line)["traces"]]  # fmt: skip


def tasks_file(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    path = tmp_path / "tasks.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def test_rollouts_rewards_and_shaping_over_a_scripted_model(tmp_path: Path) -> None:
    tasks = tasks_file(tmp_path, [
        {"id": "right", "context": "Log start. The code is 4417. Log end.",
         "question": "What is the code?", "answer": "4417"},
        {"id": "wrong", "context": "The code is 5521. The year is 1999.",
         "question": "What is the code?", "answer": "5521"},
    ])  # fmt: skip
    look = {"reply": "```repl\nprint(context)\n```"}
    script = [look, {"reply": "FINAL(4417)"},  # task 1: looks, answers right
              {"reply": "Let me think about it."}, look, {"reply": "FINAL(1999)"}]  # fmt: skip
    with ChatServer(script, default={"reply": "FINAL(none)"}) as server:
        traces = vf_eval(tmp_path, server.base_url, "scripted",
                         "--env.taskset.source", str(tasks),
                         "--env.taskset.task.correction-penalty", "0.25")  # fmt: skip
        requests = server.requests
    right, wrong = sorted(traces, key=lambda t: t["task"]["data"]["id"])
    assert [t["task"]["data"]["id"] for t in (right, wrong)] == ["tasks/right", "tasks/wrong"]
    # the run's answer is the rollout's reply; the eval scorer gives the reward
    assert right["root_reply"] == "4417" and right["rewards"]["reward"]["score"] == 1.0
    assert right["info"]["rlmx"]["status"] == "final" and right["metrics"]["turns"] == 2
    # a wrong answer scores 0; the prose reply rlmx corrected costs the penalty
    assert wrong["root_reply"] == "1999" and wrong["metrics"]["task_score"] == 0.0
    assert wrong["info"]["rlmx"]["corrections"] == 1
    assert wrong["rewards"]["reward"]["score"] == pytest.approx(-0.25)
    # every root call went through verifiers' interception into its trace
    assert len(right["calls"]) + len(wrong["calls"]) == len(requests) == 5
    assert all(r["model"] == "scripted" for r in requests)
    # the REPL really ran: the second prompt carries the context printed by the first cell
    assert "The code is 4417" in json.dumps(requests[1]["messages"][-1])
    assert len(list((tmp_path / "runs").glob("*.jsonl"))) == 2  # rlmx trajectories kept


def test_a_rollout_with_the_embedded_model_behind_llama_cpp(
    tmp_path: Path, llama_server: str
) -> None:
    row = {"context": "Notes.\nThe code is 4417.\nMore notes.", "question": "What is the code?",
           "answer": "4417"}  # fmt: skip
    (trace,) = vf_eval(tmp_path, llama_server, "smol",
                       "--env.taskset.source", str(tasks_file(tmp_path, [row])),
                       "--env.agent.harness.max-iterations", "2",
                       "--env.agent.harness.policy", "compact")  # fmt: skip
    run = trace["info"]["rlmx"]
    assert run["turns"] >= 1 and len(trace["calls"]) >= run["turns"]
    assert trace["nodes"] and trace["nodes"][0]["message"]["role"] == "system"
    item = EvalItem("tasks", "1", 0, 0, row["context"], row["question"], "4417", "exact")
    expected = item.score(run["answer"]) if run["status"] == "final" else 0.0
    assert trace["rewards"]["reward"]["score"] == expected == trace["metrics"]["task_score"]
