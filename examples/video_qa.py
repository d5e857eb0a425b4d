"""Video QA: the video is an object in the REPL; speech, on-screen text and scenes are
read on the host (offline OCR and speech-to-text) and cached.

Makes a 3-scene synthetic news video (ffmpeg, espeak-ng, sox), asks when the satellite
story starts, and prints the answer beside the scene's true start from ground_truth.json.

Usage: python examples/video_qa.py [--root SPEC]   (default: a scripted root)
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from _scripted import arguments, repl, root_spec

from rlmx import RLM
from rlmx.video.synth import synthesize

SCRIPT = [
    repl("hits = search('satellite')\nprint(hits[:3])"),
    repl("FINAL(f'The satellite story starts at about {hits[0][\"t0\"]:.0f} s.')"),
]  # fmt: skip


def main() -> None:
    args = arguments(__doc__)
    folder = Path(tempfile.mkdtemp(prefix="rlmx-video-"))
    video = synthesize(folder, scenes=3, scene_seconds=6, size=(640, 360), seed=4)
    truth = json.loads((folder / "ground_truth.json").read_text())
    scene = next(s for s in truth["scenes"] if s["topic"] == "SATELLITE")
    rlm = RLM(root_spec(args.root, SCRIPT), args.sub, max_iterations=6)
    result = rlm.completion(video, "When does the satellite story start?")
    print(f"answer: {result.answer}")
    print(f"truth: the satellite scene runs {scene['start']:g}-{scene['end']:g} s")


if __name__ == "__main__":
    main()
