"""Synthetic news-style videos with ground truth, for tests and benchmarks.

Each scene has its own background colour, a topic word in the middle, a headline in a
bar at the bottom, a burned-in clock (mm:ss of the whole video) and a spoken narration
that names the topic and reads the headline (espeak-ng, padded with sox). Scenes are
encoded with ffmpeg (lavfi ``color`` + ``drawtext``) and joined with the concat demuxer.
``ground_truth.json`` records scene times, topics, headlines and when each narration is
spoken. Needs the Debian packages ``ffmpeg espeak-ng sox fonts-dejavu-core``.
"""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
SPEECH_LEAD = 1.0  # seconds of silence before each narration
TOPICS = [
    ("VOLCANO", "Lava flows reach the coast"),
    ("ELECTION", "Polls close in the northern districts"),
    ("FOOTBALL", "Home side wins the cup final"),
    ("HURRICANE", "Storm turns toward the islands"),
    ("SATELLITE", "New weather satellite reaches orbit"),
    ("ORCHESTRA", "City orchestra plays a free concert"),
    ("MARATHON", "Record crowd runs the spring marathon"),
    ("GLACIER", "Glacier retreats another forty metres"),
    ("MARKETS", "Shares rise after the bank decision"),
    ("MUSEUM", "Museum opens a hall of ancient maps"),
    ("HARVEST", "Farmers report an early grape harvest"),
    ("TRAINS", "Night trains return to the mountain line"),
]
COLORS = ["0x1f3f8f", "0x8f2f1f", "0x1f7f3f", "0x6f2f8f", "0x7f7f1f", "0x3f3f3f",
          "0x1f7f8f", "0x8f1f5f", "0x9f5f0f", "0x2f2f6f", "0x5f3f1f", "0x0f5f2f"]  # fmt: skip


class SynthError(ConfigError):
    """A tool the generator needs is missing or failed."""


@dataclass
class Scene:
    index: int
    start: float
    end: float
    topic: str
    headline: str
    color: str
    speech: str
    speech_start: float
    speech_end: float


def _need(*tools: str) -> None:
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        raise SynthError(
            f"missing {', '.join(missing)}: install the Debian packages "
            "ffmpeg espeak-ng sox fonts-dejavu-core"
        )


def _run(args: list[str]) -> str:
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SynthError(f"{args[0]} failed: {proc.stderr.strip()[-500:]}")
    return proc.stdout


def _filter_text(text: str) -> str:
    """Escape a string for ffmpeg's drawtext inside a filter graph."""
    return text.replace("\\", "\\\\").replace("'", "\u2019").replace(":", "\\:")


def _scene_filter(scene: Scene, size: tuple[int, int]) -> str:
    width, height = size
    big, small, clock = height // 6, height // 13, height // 15
    bar = height // 6
    offset = int(scene.start)
    return (
        f"[0:v]drawtext=fontfile={FONT_DIR}/DejaVuSans-Bold.ttf:text='{scene.topic}':"
        f"fontsize={big}:fontcolor=white:x=(w-tw)/2:y=(h-th)/2-{bar // 3},"
        f"drawbox=x=0:y=ih-{bar}:w=iw:h={bar}:color=black@0.8:t=fill,"
        f"drawtext=fontfile={FONT_DIR}/DejaVuSans.ttf:text='{_filter_text(scene.headline)}':"
        f"fontsize={small}:fontcolor=yellow:x={width // 30}:y=h-{bar}+({bar}-th)/2,"
        f"drawtext=fontfile={FONT_DIR}/DejaVuSansMono.ttf:"
        f"text='%{{eif\\:trunc((t+{offset})/60)\\:d\\:2}}\\:"
        f"%{{eif\\:mod(trunc(t+{offset})\\,60)\\:d\\:2}}':"
        f"fontsize={clock}:fontcolor=white:x=w-tw-{width // 40}:y={height // 25}[v];"
        "[1:a]apad[a]"
    )


def synthesize(
    out_dir: str | Path,
    scenes: int = 6,
    scene_seconds: float = 10.0,
    size: tuple[int, int] = (1280, 720),
    fps: int = 25,
    seed: int = 0,
    name: str = "synthetic.mp4",
) -> Path:
    """Write ``out_dir/name`` and ``out_dir/ground_truth.json``; returns the video path."""
    _need("ffmpeg", "espeak-ng", "sox")
    if not 1 <= scenes <= len(TOPICS):
        raise SynthError(f"scenes must be between 1 and {len(TOPICS)}")
    if scene_seconds < 6:
        raise SynthError("scene_seconds must be at least 6 (the narration needs the time)")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    order = random.Random(seed).sample(range(len(TOPICS)), scenes)
    made: list[Scene] = []
    with tempfile.TemporaryDirectory(prefix="rlmx-synth-") as tmp:
        work = Path(tmp)
        for index, topic_index in enumerate(order):
            topic, headline = TOPICS[topic_index]
            start = index * scene_seconds
            speech = f"Now, the {topic.lower()}. {headline}."
            spoken = work / f"speech{index}.wav"
            padded = work / f"padded{index}.wav"
            _run(["espeak-ng", "-s", "165", "-w", str(spoken), speech])
            _run(["sox", str(spoken), "-r", "16000", "-c", "1", str(padded), "pad",
                  str(SPEECH_LEAD), "0"])  # fmt: skip
            speech_seconds = float(_run(["soxi", "-D", str(spoken)]).strip())
            if SPEECH_LEAD + speech_seconds > scene_seconds:
                raise SynthError(f"scene {index}: the narration needs {speech_seconds:.1f} s")
            scene = Scene(
                index=index,
                start=start,
                end=start + scene_seconds,
                topic=topic,
                headline=headline,
                color=COLORS[topic_index],
                speech=speech,
                speech_start=round(start + SPEECH_LEAD, 3),
                speech_end=round(start + SPEECH_LEAD + speech_seconds, 3),
            )
            made.append(scene)
            _encode_scene(scene, padded, work / f"scene{index}.mp4", size, fps, scene_seconds)
        listing = work / "scenes.txt"
        listing.write_text("".join(f"file 'scene{i}.mp4'\n" for i in range(scenes)))
        video = out / name
        _run(["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-f", "concat", "-safe",
              "0", "-i", str(listing), "-c", "copy", str(video)])  # fmt: skip
    truth = {
        "video": name,
        "duration": scenes * scene_seconds,
        "fps": fps,
        "size": list(size),
        "keyframe_interval": 5.0,
        "scenes": [asdict(scene) for scene in made],
    }
    (out / "ground_truth.json").write_text(json.dumps(truth, indent=2))
    return video


def _encode_scene(
    scene: Scene, audio: Path, target: Path, size: tuple[int, int], fps: int, seconds: float
) -> None:
    width, height = size
    _run([
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"color=c={scene.color}:s={width}x{height}:r={fps}:d={seconds}",
        "-i", str(audio),
        "-filter_complex", _scene_filter(scene, size),
        "-map", "[v]", "-map", "[a]", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "veryfast", "-g", str(5 * fps), "-pix_fmt", "yuv420p",
        "-c:a", "aac", "-ar", "16000", "-ac", "1", str(target),
    ])  # fmt: skip
