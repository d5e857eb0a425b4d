"""Video QA as an RLM: a replay root explores a synthetic video through the REPL's tools."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from rlmx import RLM
from rlmx.lm.replay import ReplayLM
from rlmx.video import VideoOptions

from chat_server import ChatServer
from conftest import repl

EXPLORE = [
    repl("print(video_info()['duration'])"),
    repl(
        "topics = []\n"
        "for t0, t1 in segments(8):\n"
        "    lines = ocr(t0 + 4)['lines']\n"
        "    topics.append((t0, next(l for l in lines if l.isalpha() and l.isupper())))\n"
        "print(topics)"
    ),
    repl(
        "first = min(t0 for t0, topic in topics if topic == 'VOLCANO')\n"
        "FINAL('topics: ' + ', '.join(t for _, t in topics) + f'; VOLCANO first at {first:.0f} s')"
    ),
]


def test_which_topics_and_when_does_one_first_appear(replay, synthetic_video, tmp_path) -> None:
    video, truth = synthetic_video
    events: list = []
    root = ReplayLM(list(EXPLORE), "video-root")  # an object, so its prompts can be read
    rlm = RLM(
        root,
        on_event=events.append,
        video=VideoOptions(cache_path=tmp_path / "cache.sqlite3"),
    )
    result = rlm.completion(video, "Which topics are covered and when does VOLCANO first appear?")
    topics = [s["topic"] for s in truth["scenes"]]
    volcano = next(s["start"] for s in truth["scenes"] if s["topic"] == "VOLCANO")
    assert result.status == "final", result.error
    assert result.answer == f"topics: {', '.join(topics)}; VOLCANO first at {volcano:.0f} s"
    started = next(e for e in events if e.type == "run_started")
    assert started.context["type"] == "dict"
    calls = [e for e in events if e.type == "tool_call"]
    assert [c.name for c in calls] == ["video_info", "segments"] + ["ocr"] * len(topics)
    ocr_spans = [c.span for c in calls if c.name == "ocr"]
    assert ocr_spans == [[s["start"] + 4] * 2 for s in truth["scenes"]]
    assert all(c.cell is not None and c.error is None for c in calls)
    task = root.prompts[0][-1]["content"]  # the root was told about the video and its tools
    assert "video" in task.lower() and "ocr(" in task and "segments(" in task


def test_tool_errors_reach_the_cell_and_the_run_goes_on(replay, synthetic_video, tmp_path):
    video, _ = synthetic_video
    spec = replay(
        [
            repl("try:\n    ocr(999)\nexcept RuntimeError as e:\n    print('caught', e)"),
            repl("FINAL('done')"),
        ]
    )
    events: list = []
    rlm = RLM(spec, on_event=events.append, video=VideoOptions(cache_path=tmp_path / "c.db"))
    result = rlm.completion(video, "q")
    output = next(e.output for e in events if e.type == "code_executed")
    assert "caught VideoError" in output and "outside" in output
    assert result.answer == "done"
    failed = next(e for e in events if e.type == "tool_call")
    assert failed.error.startswith("VideoError")


def test_look_sends_resized_frames_to_the_vision_model(replay, synthetic_video, tmp_path):
    video, _ = synthetic_video
    spec = replay([repl("FINAL(look('What colour is the background?', 0, 8, n=2))")])
    with ChatServer(default={"reply": "dark teal"}) as server:
        vision = f"vision:eyes@{server.base_url}"
        rlm = RLM(spec, video=VideoOptions(vision=vision, cache_path=tmp_path / "c.db"))
        result = rlm.completion(video, "q")
        assert result.answer == "dark teal"
        assert result.usage.sub.calls == 1
        content = server.requests[0]["messages"][0]["content"]
        images = [part for part in content if part["type"] == "image_url"]
        assert len(images) == 2 and images[0]["image_url"]["url"].startswith("data:image/jpeg")
        assert "2.0, 6.0 s" in content[0]["text"]
        again = RLM(spec, video=VideoOptions(vision=vision, cache_path=tmp_path / "c.db"))
        assert again.completion(video, "q").answer == "dark teal"
        assert len(server.requests) == 1  # the second look came from the perception cache


def test_cli_asks_about_a_video_and_indexes_it(replay, synthetic_video, tmp_path) -> None:
    video, truth = synthetic_video
    env = {"RLMX_CACHE_DIR": str(tmp_path / "cache"), "PATH": "/usr/bin:/bin"}

    def rlmx(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rlmx.cli", *args], capture_output=True,
                              text=True, timeout=300, env=env)  # fmt: skip

    indexed = rlmx("video", "index", str(video), "--every", "4")
    assert indexed.returncode == 0, indexed.stderr
    first = json.loads(indexed.stdout)
    assert first["new_results"] > 0 and first["frames_read"] == 12
    again = json.loads(rlmx("video", "index", str(video), "--every", "4").stdout)
    assert again["new_results"] == 0
    spec = replay(EXPLORE)
    asked = rlmx("ask", str(video), "-q", "Which topics?", "--root", spec, "--json")
    assert asked.returncode == 0, asked.stderr
    assert truth["scenes"][0]["topic"] in json.loads(asked.stdout)["answer"]
    made = rlmx("video", "synth", str(tmp_path / "synth"), "--scenes", "2", "--scene-seconds",
                "6", "--size", "320x180")  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads((tmp_path / "synth" / "ground_truth.json").read_text())["duration"] == 12
    for args, words in [
        (["video", "index", str(tmp_path / "missing.mp4")], "no such video"),
        (["video", "synth", str(tmp_path / "s2"), "--scenes", "99"], "scenes must be"),
        (["video", "synth", str(tmp_path / "s3"), "--size", "big"], "WIDTHxHEIGHT"),
    ]:
        failed = rlmx(*args)
        assert failed.returncode == 2 and words in failed.stderr, failed.stderr
        assert "Traceback" not in failed.stderr
    assert Path(tmp_path / "cache" / "perception.sqlite3").exists()
