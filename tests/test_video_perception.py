"""Offline perception on a synthetic video with ground truth: OCR, speech, scenes, cache."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from rlmx.video import VideoOptions
from rlmx.video.perception import _tesseract
from rlmx.video.tools import VideoTools

STEP = 2.0  # seconds between OCR samples in these tests


@pytest.fixture(scope="module")
def tools(synthetic_video, tmp_path_factory):
    video, truth = synthetic_video
    cache = tmp_path_factory.mktemp("perception") / "cache.sqlite3"
    tools = VideoTools(video, VideoOptions(cache_path=cache, ocr_every=STEP))
    yield tools, truth
    tools.close()


def test_every_topic_is_read_on_screen_at_the_right_time(tools) -> None:
    video_tools, truth = tools
    spans = video_tools.onscreen_text()
    for scene in truth["scenes"]:
        seen = [s for s in spans if scene["topic"] in s["text"].split(" | ")]
        assert seen, scene["topic"]
        first = seen[0]["t0"]
        assert scene["start"] - 1e-6 <= first <= scene["start"] + STEP, (scene, first)
        assert seen[-1]["t1"] < scene["end"], scene
        assert any(scene["headline"].lower() in s["text"].lower() for s in seen), scene


def test_a_running_clock_does_not_split_a_span(tools) -> None:
    """The burned-in clock changes on every frame; the span of a scene stays one span."""
    video_tools, truth = tools
    spans = video_tools.onscreen_text()
    assert len(spans) == len(truth["scenes"]), [s["text"] for s in spans]
    assert all(s["t1"] > s["t0"] for s in spans)


def test_ocr_reads_the_burned_in_clock(tools) -> None:
    video_tools, _ = tools
    result = video_tools.ocr(33.5)
    assert abs(result["t"] - 33.5) < 0.05
    assert "00:33" in result["lines"]


def test_narration_is_transcribed_with_timestamps_within_two_seconds(tools) -> None:
    video_tools, truth = tools
    segments = video_tools.transcript()
    for scene in truth["scenes"]:
        word = scene["topic"].lower()
        said = [s for s in segments if word in s["text"].lower()]
        assert said, (word, segments)
        assert abs(said[0]["start"] - scene["speech_start"]) <= 2.0, (scene, said[0])
    volcano = next(s for s in truth["scenes"] if s["topic"] == "VOLCANO")
    hit = video_tools.search_transcript("volcano")[0]
    spoken_at = hit["word_times"][0][1]
    assert volcano["speech_start"] - 2 <= spoken_at <= volcano["speech_end"]
    misspelled = video_tools.search_transcript("vulcano")[0]  # found by its closest word
    assert misspelled["start"] == hit["start"] and misspelled["word_times"] == hit["word_times"]
    inside = video_tools.transcript(volcano["start"], volcano["end"])
    assert any("volcano" in s["text"].lower() for s in inside)


def test_scene_cuts_match_the_ground_truth(tools) -> None:
    video_tools, truth = tools
    cuts = [s["start"] for s in video_tools.scenes()]
    assert cuts == pytest.approx([s["start"] for s in truth["scenes"]], abs=0.1)


def test_search_and_offline_captions(tools) -> None:
    video_tools, truth = tools
    glacier = next(s for s in truth["scenes"] if s["topic"] == "GLACIER")
    best = video_tools.search("glacier retreats")[0]
    assert glacier["start"] - STEP <= best["t0"] <= glacier["end"]
    caption = asyncio.run(video_tools.get_segment_captions([glacier["start"], glacier["end"]]))
    assert caption["source"] == "offline"
    assert "no vision model" in caption["caption"] and "GLACIER" in caption["caption"]
    assert "glacier" in caption["caption"].lower().split("speech:")[1]


def test_a_second_session_on_the_same_video_does_no_perception_work(tools) -> None:
    video_tools, _ = tools
    first = video_tools.index(every=STEP)
    again = VideoTools(video_tools.env.path, video_tools.options)
    try:
        assert again.video_id == video_tools.video_id
        stats = again.index(every=STEP)
        assert stats["new_results"] == 0 and stats["frames_read"] == first["frames_read"]
        again.onscreen_text()
        again.search("volcano")
        asyncio.run(again.get_segment_captions(0))
        assert again.cache.misses == 0 and again.cache.hits > 0
    finally:
        again.close()


def test_look_needs_a_vision_model(tools) -> None:
    video_tools, _ = tools
    with pytest.raises(RuntimeError, match="needs a vision model"):
        asyncio.run(video_tools.look("what is shown?", 0, 8))


def test_tesseract_fallback_reads_the_topic(tools) -> None:
    video_tools, truth = tools
    frame = video_tools.env.get_frame(truth["scenes"][0]["start"] + 4)
    words = " ".join(line["text"] for line in _tesseract(frame.image))
    assert truth["scenes"][0]["topic"] in words


def test_bad_tool_calls_are_clear(tools) -> None:
    video_tools, _ = tools
    for name, args, kwargs, error in [
        ("ocr", [500], {}, "outside"),
        ("ocr", [], {}, "missing a required argument"),
        ("get_segment_captions", [99], {}, "out of range"),
        ("nope", [], {}, "unknown video tool"),
    ]:
        with pytest.raises((ValueError, TypeError, IndexError), match=error):
            asyncio.run(video_tools.call(name, args, kwargs))


def test_an_unreadable_video_is_a_context_error(tmp_path: Path) -> None:
    from rlmx.environment import open_environment
    from rlmx.repl.context import ContextError

    fake = tmp_path / "broken.mp4"
    fake.write_bytes(b"not really a video")
    with pytest.raises(ContextError, match="cannot read"):
        open_environment(fake, VideoOptions(cache_path=tmp_path / "c.sqlite3"), None)


def test_transcript_words_are_split_into_sentences_and_at_pauses() -> None:
    from rlmx.video.perception import split_sentences

    words = [
        ["Now,", 0.5, 0.8], ["the", 0.9, 1.0], ["storm.", 1.0, 1.4], ["Rain", 1.5, 1.7],
        ["falls", 1.8, 2.0], ["later", 4.0, 4.3], ["on", 4.4, 4.5], ["Sunday", 4.5, 5.0],
    ]  # fmt: skip
    sentences = split_sentences(words)
    assert [(s["start"], s["end"], s["text"]) for s in sentences] == [
        (0.5, 1.4, "Now, the storm."),
        (1.5, 2.0, "Rain falls"),
        (4.0, 5.0, "later on Sunday"),
    ]
    assert split_sentences([]) == []
