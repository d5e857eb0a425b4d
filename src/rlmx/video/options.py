"""How a video context is explored: the options a run passes to the video tools.

Kept free of the video extra's dependencies, so settings and the CLI can name them
without importing av, OCR or speech models.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

VIDEO_SUFFIXES = {".mp4", ".webm", ".mkv", ".mov", ".m4v", ".avi"}
# what the confined decoder (media_server.py) gives the host at most
MAX_PIXELS = 1920 * 1080  # a frame is decoded scaled down to at most this many pixels
AUDIO_RATE = 16_000  # samples a second, what speech-to-text takes
MAX_AUDIO_SECONDS = 2 * 3600  # more sound is cut off (and said to be)


@dataclass
class VideoOptions:
    """How a video context is explored.

    Args:
        vision: spec of a vision-capable model (OpenAI-compatible image input) for
            ``look`` and captions; None = offline captions (OCR, colours, speech).
        segment_seconds: length of the spans ``segments()`` and captions use.
        ocr_every: seconds between frames read by ``onscreen_text`` and ``search``.
        frames_per_look: frames ``look`` sends when ``n`` is not given.
        max_image_side: frames sent to the vision model are resized to fit this.
        cache_path: the perception cache (default ``~/.cache/rlmx/perception.sqlite3``).
    """

    vision: str | None = None
    segment_seconds: float = 10.0
    ocr_every: float = 5.0
    frames_per_look: int = 3
    max_image_side: int = 512
    cache_path: Path | None = None


def is_video(context: Any) -> bool:
    """A Path with a video suffix (the CLI and server pass files as Paths)."""
    return isinstance(context, Path) and context.suffix.lower() in VIDEO_SUFFIXES
