"""Video indexing throughput and frame sampling cost on a 10-minute 720p synthetic video.

1. ``VideoTools.index`` with a fresh perception cache: OCR every 5 s (120 frames), the
   full transcript (faster-whisper tiny.en), scene cuts and offline captions, each stage
   timed; the target (issue 5) is OCR + transcript <= 0.25x real time.
2. A second index of the same video: must do no perception work.
3. Frame access: exact frames vs nearest keyframes at 40 random times (fresh VideoEnv each
   repeat, so the frame cache does not help), milliseconds per frame.
Medians of REPEATS; the video is made once with ``rlmx video synth`` (12 scenes x 50 s).
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

from rlmx.video import VideoOptions
from rlmx.video.env import VideoEnv
from rlmx.video.synth import synthesize
from rlmx.video.tools import VideoTools

from common import write_section

REPEATS = 3
SAMPLES = 40


def timed_index(video: Path, cache: Path) -> tuple[dict[str, float], dict[str, int]]:
    """Seconds per stage of one index run with the cache at ``cache``."""
    stages: dict[str, float] = {}
    last = [time.perf_counter()]

    def progress(stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        stages[stage] = stages.get(stage, 0.0) + now - last[0]
        last[0] = now

    tools = VideoTools(video, VideoOptions(cache_path=cache))
    try:
        last[0] = time.perf_counter()
        stats = tools.index(5.0, progress)
    finally:
        tools.close()
    return stages, stats


def frame_costs(video: Path) -> tuple[float, float]:
    times = [random.Random(seed).uniform(0, 595) for seed in range(SAMPLES)]
    costs = []
    for exact in (True, False):
        with VideoEnv(video) as env:
            env.keyframe_times()  # built once per video; not part of the per-frame cost
            started = time.perf_counter()
            for t in times:
                env.get_frame(t, exact=exact)
            costs.append((time.perf_counter() - started) / SAMPLES)
    return costs[0], costs[1]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        started = time.perf_counter()
        video = synthesize(folder, scenes=12, scene_seconds=50, size=(1280, 720))
        synth_seconds = time.perf_counter() - started
        with VideoEnv(video) as env:
            duration = env.duration
        runs = [timed_index(video, folder / f"cache{i}.sqlite3") for i in range(REPEATS)]
        _, second = timed_index(video, folder / "cache0.sqlite3")
        frames = [frame_costs(video) for _ in range(REPEATS)]

    def median(stage: str) -> float:
        return statistics.median(stages[stage] for stages, _ in runs)

    ocr, speech = median("on-screen text"), median("speech")
    scenes, captions = median("scenes"), median("captions")
    total = ocr + speech + scenes + captions
    exact = statistics.median(f[0] for f in frames) * 1000
    key = statistics.median(f[1] for f in frames) * 1000
    rows = [
        f"| OCR every 5 s ({runs[0][1]['frames_read']} frames) | {ocr:.1f} s | "
        f"{ocr / duration:.3f}x |",
        f"| full transcript (faster-whisper tiny.en, VAD, word times) | {speech:.1f} s | "
        f"{speech / duration:.3f}x |",
        f"| **OCR + transcript (target <= 0.25x)** | **{ocr + speech:.1f} s** | "
        f"**{(ocr + speech) / duration:.3f}x** |",
        f"| scene cuts (scenedetect) | {scenes:.1f} s | {scenes / duration:.3f}x |",
        f"| offline captions ({runs[0][1]['segments']} segments) | {captions:.1f} s | "
        f"{captions / duration:.3f}x |",
        f"| whole index | {total:.1f} s | {total / duration:.3f}x |",
        f"| second index of the same video | new perception results: {second['new_results']} | |",
    ]
    write_section(
        "Video indexing",
        f"A {duration:.0f} s 1280x720 H.264 synthetic video (12 scenes, made in "
        f"{synth_seconds:.0f} s by `rlmx video synth`); median of {REPEATS} index runs, each "
        "with a fresh perception cache.\n\n| stage | time | x real time |\n|---|---|---|\n"
        + "\n".join(rows)
        + f"\n\nFrame access at {SAMPLES} random times (median of {REPEATS}): exact "
        f"{exact:.0f} ms per frame, nearest keyframe {key:.0f} ms per frame "
        f"({exact / key:.1f}x cheaper).\n\n"
        "Every decode runs in the confined child (`video/media_server.py`, since issue 27): "
        "each frame crosses a pipe as RGB pixels, and scene cuts read the video with PyAV "
        "there. Against the last in-process run (exact 44 ms, keyframe 4 ms, OCR 53.8 s, scene "
        "cuts 18.1 s, the run recorded here before) that is about +3 ms a frame and +3 s of scene "
        "cuts per 10 minutes of video; OCR and speech are within noise.",
    )


if __name__ == "__main__":
    main()
