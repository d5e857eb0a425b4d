"""Video QA with the embedded model: "Which topics are covered, and when does X first appear?"

A 6-scene synthetic news video (10 s per scene, 640x360) is indexed once (the perception
cache is what a second question reuses); then the RLM with ``local:qwen2.5-coder-1.5b``
as root and sub-model answers the question for each topic X. An answer is right when it
names every topic and gives a time for X within its scene (start to end).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rlmx import RLM
from rlmx.eval.scoring import video_scores
from rlmx.video import VideoOptions
from rlmx.video.synth import synthesize
from rlmx.video.tools import VideoTools

from common import write_section

MODEL = "local:qwen2.5-coder-1.5b"
TRAJECTORIES = Path(__file__).parent / "results" / "trajectories" / "video_qa"


def score(answer: str | None, truth: dict, topic: str) -> tuple[bool, bool]:
    """(every topic named, a time inside X's scene given): the video-qa task's scoring."""
    scene = next(s for s in truth["scenes"] if s["topic"] == topic)
    gold = {"topics": [s["topic"] for s in truth["scenes"]], "start": scene["start"],
            "end": scene["end"]}  # fmt: skip
    return video_scores(answer, gold)


def main() -> None:
    rows, outcomes = [], []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        video = synthesize(folder, scenes=6, scene_seconds=10, size=(640, 360))
        truth = json.loads((folder / "ground_truth.json").read_text())
        options = VideoOptions(cache_path=folder / "cache.sqlite3")
        started = time.perf_counter()
        tools = VideoTools(video, options)
        tools.index()
        tools.close()
        index_seconds = time.perf_counter() - started
        for scene in truth["scenes"]:
            topic = scene["topic"]
            query = f"Which topics are covered in this video, and when does {topic} first appear?"
            rlm = RLM(MODEL, video=options, max_iterations=8, trajectory=TRAJECTORIES)
            result = rlm.completion(video, query)
            named, timed = score(result.answer, truth, topic)
            outcomes.append((named and timed, result.seconds, result.usage.total.total_tokens,
                             named, timed))  # fmt: skip
            print(f"{topic}: {result.trajectory}", file=sys.stderr)
            answer = (result.answer or "(none)").replace("\n", " ").replace("|", "/")[:160]
            marks = " | ".join("yes" if v else "no" for v in (named, timed, named and timed))
            rows.append(f"| {topic} | {marks} | {result.seconds:.0f} s | {result.iterations} | "
                        f"{answer} |")  # fmt: skip
            print(rows[-1], file=sys.stderr, flush=True)
    correct = sum(o[0] for o in outcomes)
    write_section(
        "Video QA with the embedded model",
        f"`{MODEL}` as root and sub-model, 2 threads, a 6-scene 60 s synthetic video indexed "
        f"once beforehand ({index_seconds:.0f} s). Right = every topic named and a time inside "
        f"X's scene.\n\n**{correct}/{len(outcomes)} right** (every topic named: "
        f"{sum(o[3] for o in outcomes)}/{len(outcomes)}; X's time right: "
        f"{sum(o[4] for o in outcomes)}/{len(outcomes)}), median "
        f"{statistics.median(o[1] for o in outcomes):.0f} s and "
        f"{statistics.median(o[2] for o in outcomes):,.0f} tokens per question.\n\n"
        "| X | all topics | X's time | right | time | iterations | answer |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
