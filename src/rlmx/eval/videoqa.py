"""Video QA items (RVAA's comparison): synthetic news videos with their ground truth, or
any local video with a questions file.

Lengths are the videos' seconds. A synthetic video of ``L`` seconds has ``min(12, L / 10)``
scenes (one topic each; ``rlmx video synth``), made once and kept in the data folder
(``--data DIR``, else ``~/.cache/rlmx/eval-videos``). Each item asks RVAA's question
"Which topics are covered in this video, and when does X first appear?" for one scene's
topic X. Every video is indexed once into the perception cache (on-screen text, speech,
offline captions), which the RLM's video tools then reuse; the item's ``context`` is that
perception as text, one line per segment, for the methods that read text (``direct``,
``summary``, ``topk``), and ``video`` is the file for the RLM methods.

A local video: ``--data QUESTIONS.json`` with ``{"video": "talk.mp4", "questions":
[{"query": ..., "answer": "text the answer must contain"}, {"query": ..., "topics": [...],
"start": s, "end": e}]}`` (the video path relative to the file).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .items import EvalItem

QUESTION = "Which topics are covered in this video, and when does {topic} first appear?"
MAX_SCENES = 12  # the synthetic generator's topics
SECONDS_PER_SCENE = 10


def video_qa_items(lengths: list[int], n: int, data: Path | None) -> list[EvalItem]:
    """``n`` questions per synthetic video length, or the questions of a local file."""
    if data is not None and data.suffix == ".json":
        return local_items(data, n)
    from ..lm.registry import cache_root

    folder = data if data is not None else cache_root() / "eval-videos"
    items = []
    for seconds in lengths:
        video, truth = synthetic_video(folder, seconds)
        context, segments = perception_text(video)
        topics = [scene["topic"] for scene in truth["scenes"]]
        for seed in range(n):
            scene = truth["scenes"][seed % len(truth["scenes"])]
            gold = {"topics": topics, "topic": scene["topic"], "start": scene["start"],
                    "end": scene["end"]}  # fmt: skip
            items.append(EvalItem(
                task="video-qa", item_id=f"video-qa-{seconds}-{seed}", length=seconds,
                seed=seed, context=context, query=QUESTION.format(topic=scene["topic"]),
                gold=gold, answer_type="video", meta={"segments": segments}, video=str(video),
            ))  # fmt: skip
    return items


def synthetic_video(folder: Path, seconds: int) -> tuple[Path, dict[str, Any]]:
    """The synthetic news video of this length (made once, then reused)."""
    from ..video.synth import synthesize

    scenes = max(1, min(MAX_SCENES, seconds // SECONDS_PER_SCENE))
    place = folder / f"news-{seconds}s"
    truth_file = place / "ground_truth.json"
    if not truth_file.exists():
        synthesize(place, scenes=scenes, scene_seconds=seconds / scenes, size=(640, 360))
    return place / "synthetic.mp4", json.loads(truth_file.read_text(encoding="utf-8"))


def perception_text(video: Path) -> tuple[str, list[str]]:
    """The video indexed into the perception cache, as one text line per segment:
    "[t0-t1 s] on-screen text ...; colours ...; speech ..." (offline captions)."""
    from ..video.tools import VideoTools

    tools = VideoTools(video)
    try:
        tools.index()
        lines = []
        for t0, t1 in tools.segments():
            caption = tools.offline_caption(t0, t1)
            lines.append(f"[{t0:g}-{t1:g} s] {caption.split('] ', 1)[-1]}")
    finally:
        tools.close()
    return "\n".join(lines), lines


def local_items(questions_file: Path, n: int) -> list[EvalItem]:
    """The first ``n`` questions of a local video's questions file."""
    try:
        spec = json.loads(questions_file.read_text(encoding="utf-8"))
        video = (questions_file.parent / spec["video"]).resolve()
        questions = spec["questions"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{questions_file} is not a video questions file: {exc}") from None
    if not video.is_file():
        raise ValueError(f"the video {video} named in {questions_file} does not exist")
    context, segments = perception_text(video)
    items = []
    gold: str | dict[str, Any]
    for seed, question in enumerate(questions[:n]):
        if "answer" in question:
            gold, kind = str(question["answer"]), "contains"
        else:
            gold = {key: question[key] for key in ("topics", "start", "end")}
            kind = "video"
        items.append(EvalItem(
            task="video-qa", item_id=f"video-qa-{video.stem}-{seed}", length=0, seed=seed,
            context=context, query=question["query"], gold=gold, answer_type=kind,
            meta={"segments": segments}, video=str(video),
        ))  # fmt: skip
    return items
