"""In a video run ``context`` is the video (RVAA's VideoEnv API), with real workers: the
seed's segment loop runs verbatim, frames cross as JPEG files, views are (t0, t1) pairs."""

from __future__ import annotations

import pytest

from rlmx import RLM
from rlmx.lm.replay import ReplayLM
from rlmx.video import VideoOptions

from conftest import ISOLATED_MODES, repl

# The RLM_REPL seed's example loop, verbatim.
SEED_LOOP = """\
for segment in context.iter_segments(duration=60):
    captions = get_segment_captions(segment)
    print(segment, captions["caption"][:35])
"""

FRAMES = """\
frame = context.get_frame(3.0)
data = frame.read()
print(frame.timestamp, frame.width, frame.height, data[:2] == b"\\xff\\xd8", len(data) > 1000)
view = context[8:16]
print(view.t0, view.t1, view.duration, view.total_frames)
print([round(f.timestamp, 1) for f in view.sample_frames_uniform(n=2)])
parts = list(context.iter_segments(duration=20))
print(len(parts), parts[-1], [round(get_segment_captions(p)["t1"]) for p in parts])
print(context.duration, context.fps, context.total_frames, context.metadata["width"])
print(context.video["duration"] == context.duration, context["note"][:4], context.width)
try:
    context.get_frame(99.0)
except ValueError as exc:
    print("refused:", exc)
"""


@pytest.mark.parametrize("mode", ISOLATED_MODES)
def test_the_seed_loop_and_frames_over_a_synthetic_video(mode, synthetic_video, tmp_path) -> None:
    video, truth = synthetic_video
    root = ReplayLM([repl(SEED_LOOP), repl(FRAMES), "FINAL(done)"], "video-root")
    events: list = []
    rlm = RLM(root, sandbox=mode, on_event=events.append,
              video=VideoOptions(cache_path=tmp_path / "cache.sqlite3"))  # fmt: skip
    result = rlm.completion(video, "What is in the video?")
    assert result.status == "final", result.error
    cells = [e for e in events if e.type == "code_executed"]
    assert not cells[0].error and not cells[1].error, (cells[0].output, cells[1].output)
    assert cells[0].output.startswith("<VideoView 0.00-48.00 s> [offline caption: no vision")
    lines = cells[1].output.splitlines()
    assert lines[0].split()[1:] == ["512", "288", "True", "True"]  # max_image_side
    assert 2.9 <= float(lines[0].split()[0]) <= 3.0
    assert lines[1] == "8.0 16.0 8.0 200"
    assert lines[2] == "[10.0, 14.0]"
    assert lines[3] == "3 <VideoView 40.00-48.00 s> [20, 40, 48]"
    assert lines[4] == "48.0 25.0 1200 640"
    assert lines[5] == "True call 640"  # the old dict keys, as items and attributes
    assert lines[6].startswith("refused: time 99.000 s is outside 0.000-48.000 s")
    frames = [e for e in events if e.type == "tool_call" and e.name == "get_frame"]
    assert frames[0].span == [3.0, 3.0] and '"path"' in frames[0].result
    task = root.prompts[0][-1]["content"]
    assert "context.iter_segments(duration=60)" in task  # the prompt names the object's API
    assert truth["duration"] == 48
