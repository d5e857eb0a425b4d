"""The video-qa task and RVAA's baselines (direct, summary, topk, rlm) on a real synthetic
video, with scripted models; the embedded model's numbers are in benchmarks/RESULTS.md."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlmx import RunConfig
from rlmx.eval.methods import run_method
from rlmx.eval.runner import generate
from rlmx.eval.scoring import times_in, video_scores
from rlmx.lm.replay import ReplayLM

from conftest import repl


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("rlmx-cache")


@pytest.fixture(scope="module")
def items(cache: Path) -> list:
    """Two questions over a 30 s synthetic video (3 scenes), made and indexed once."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RLMX_CACHE_DIR", str(cache))
        return generate("video-qa", [30], 2)


def test_items_carry_the_video_its_perception_and_the_truth(items, cache) -> None:
    first, second = items
    truth = json.loads((cache / "eval-videos" / "news-30s" / "ground_truth.json").read_text())
    topics = [scene["topic"] for scene in truth["scenes"]]
    assert len(topics) == 3 and first.gold["topics"] == topics
    assert first.query == f"Which topics are covered in this video, and when does {topics[0]} " \
                          "first appear?"  # fmt: skip
    assert (first.gold["start"], first.gold["end"]) == (0, 10) and second.gold["start"] == 10
    assert Path(first.video).is_file() and first.length == 30
    lines = first.context.splitlines()
    assert lines[0].startswith("[0-10 s] on-screen text:") and topics[0] in lines[0]
    assert len(lines) == 3 and first.meta["segments"] == lines
    answer = f"Topics: {', '.join(topics)}. {topics[1]} first appears at 0:11."
    assert second.score(answer) == 1.0 and first.score(answer) == 0.0
    assert first.details(answer) == {"topics_named": True, "time_right": False}


def test_the_baselines_read_the_perception_text(items, cache, monkeypatch) -> None:
    monkeypatch.setenv("RLMX_CACHE_DIR", str(cache))
    item = items[1]
    for method in ("direct", "summary", "topk"):
        root = ReplayLM(["a summary", "the answer"], "replay-root")
        outcome = asyncio.run(run_method(method, item, RunConfig.build(root=root)))
        assert outcome.error is None and outcome.answer in ("a summary", "the answer")
        prompts = [p[-1]["content"] for p in root.prompts]
        assert item.gold["topic"] in prompts[0], (method, prompts[0])
        assert len(prompts) == (2 if method == "summary" else 1)


def test_the_rlm_method_gets_the_video_itself(items, cache, monkeypatch) -> None:
    monkeypatch.setenv("RLMX_CACHE_DIR", str(cache))
    item = items[0]
    root = ReplayLM(
        [repl("spans = onscreen_text()\nFINAL(f\"{context.duration:g} s: \" + "
              "'; '.join(f\"{s['text'].split(' | ')[1]} at {s['t0']:g} s\" for s in spans))")],
        "replay-root",
    )  # fmt: skip
    config = RunConfig.build(root=root, sandbox="process", max_iterations=12)
    outcome = asyncio.run(run_method("rlm", item, config))
    assert outcome.error is None and outcome.answer.startswith("30 s: ")
    assert item.score(outcome.answer) == 1.0, outcome.answer


def test_eval_run_video_qa_end_to_end(cache, tmp_path: Path) -> None:
    script = tmp_path / "root.json"
    script.write_text(json.dumps([repl("FINAL(str(round(context.duration)) + ' s')")]))
    out = tmp_path / "rows.jsonl"
    env = {"RLMX_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "eval", "run", "--task", "video-qa", "--method",
         "rlm", "--method", "topk", "--out", str(out), "--root", f"replay:{script}", "--n", "1",
         "--lengths", "30", "--sandbox", "process"],
        capture_output=True, text=True, timeout=300, env=env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(row["method"] for row in rows) == ["rlm", "topk"]
    rlm = next(row for row in rows if row["method"] == "rlm")
    assert rlm["answer"] == "30 s" and rlm["score"] == 0.0 and rlm["length"] == 30


def test_times_in_answers() -> None:
    assert times_in("at 0:24, then 41.3 s, 1:02:05 and 12 seconds") == [41.3, 12.0, 3725, 24]
    gold = {"topics": ["A", "B"], "start": 10, "end": 20}
    assert video_scores("a and b; B at 9 s", gold) == (True, True)  # a second early is fine
    assert video_scores("A only, at 15 s", gold) == (False, True)
    assert video_scores(None, gold) == (False, False)
