"""VideoEnv: a long video as something code can index by time.

A video's bytes are untrusted: they are demuxed and decoded by PyAV in a confined child
(``media_server.py`` under ``confined.ConfinedServer``), one per open video, which keeps
its container open (reopening per frame costs up to 3x more). The host holds a lock so
threads can share it, a small LRU cache of decoded frames (scaled down to at most
``MAX_PIXELS``) and its own clock on every request. Times are seconds
from the start of the video; views (``env[t0:t1]``) keep absolute times and are clipped
to their range. ``exact=True`` decodes from the keyframe before ``t`` up to the frame
shown at ``t``; ``exact=False`` decodes only the nearest keyframe (much cheaper) and
reports its real timestamp.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from ..confined import ConfinedServer, ParseFailed, ParseLimits
from ..errors import ContextError
from ..repl.video_context import TimeSpan
from .options import AUDIO_RATE, MAX_AUDIO_SECONDS, MAX_PIXELS

T = TypeVar("T")
Reader = Callable[[dict[str, Any], bytes], T]  # what the host reads from one answer
FRAME_CACHE = 32
FRAME_CACHE_BYTES = 256 * 2**20  # decoded frames kept at most
MAX_KEYFRAMES = 1_000_000
MAX_AUDIO_BYTES = MAX_AUDIO_SECONDS * AUDIO_RATE * 2
# the host's clock on each request to the decoding child (seconds)
PROBE_SECONDS, FRAME_SECONDS, SCAN_SECONDS, AUDIO_SECONDS = 30.0, 60.0, 900.0, 900.0
# the decoding child lives as long as its video is open: CPU seconds over its whole life
MEDIA_LIMITS = ParseLimits(memory_mb=2048, cpu_seconds=4 * 3600, wall_seconds=0, output_mb=16)


class VideoError(ContextError):
    """The file cannot be used as a video, or a time is outside it; ``why`` is the reason
    without the file's name."""

    def __init__(self, message: str, why: str | None = None) -> None:
        super().__init__(message)
        self.why = why or message


@dataclass
class FrameData:
    """One decoded frame: RGB pixels, the real timestamp of the frame and its index."""

    image: np.ndarray  # height x width x 3, uint8 RGB
    timestamp: float
    index: int
    keyframe: bool

    def to_pil(self) -> Any:
        from PIL import Image

        return Image.fromarray(self.image)


class _Decoder:
    """The video of every view of it, decoded in a confined child (``media_server.py``):
    its bytes are untrusted, so no demuxer or decoder runs in the host's own process. The
    host keeps the file open (the child's only way to it), a small cache of decoded frames
    and the host's clock on every request."""

    def __init__(self, path: Path, limits: ParseLimits = MEDIA_LIMITS) -> None:
        self.name = path.name  # named, never located: messages reach clients and model code
        self.file = path.open("rb")
        self.server = ConfinedServer("media", limits, self.file.fileno())
        self.lock = threading.Lock()
        self.cache: OrderedDict[tuple[int, bool], FrameData] = OrderedDict()
        self._keyframes: list[float] | None = None
        self.decoded = 0  # frames decoded so far (for benchmarks)
        try:
            self.meta = self.ask({"op": "probe"}, PROBE_SECONDS, _probe)
        except VideoError as exc:
            self.close()
            raise VideoError(f"cannot read {self.name} as a video: {exc.why}") from None

    def ask(self, request: dict[str, Any], seconds: float, read: Reader[T],
            max_bytes: int = 0) -> T:  # fmt: skip
        """``read`` of the child's answer; a failure (its word, a limit, its clock, an answer
        that does not read: the child's words are untrusted) is a VideoError."""
        try:
            header, payload = self.server.ask(request, seconds, max_bytes)
            return read(header, payload)
        except ParseFailed as exc:
            raise VideoError(f"{self.name}: {exc}", why=str(exc)) from None
        except (KeyError, TypeError, ValueError) as exc:
            why = f"the decoder answered wrongly ({type(exc).__name__}: {exc})"
            raise VideoError(f"{self.name}: {why}", why=why) from None

    def close(self) -> None:
        with self.lock:
            self.server.close()
            self.file.close()

    def keyframes(self) -> list[float]:
        """Timestamps of every keyframe (one demux pass, no decoding; cached)."""
        with self.lock:
            if self._keyframes is None:
                self._keyframes = self.ask({"op": "keyframes"}, SCAN_SECONDS, _keyframes)
            return self._keyframes

    def frame_at(self, t: float, exact: bool, fps: float) -> FrameData:
        if not exact:
            keys = self.keyframes()
            position = bisect.bisect_left(keys, t)
            near = [keys[i] for i in (position - 1, position) if 0 <= i < len(keys)]
            t = min(near, key=lambda k: abs(k - t)) if near else 0.0
        key = (math.floor(t * fps + 1e-6), exact)  # the frame on screen at t
        with self.lock:
            if key in self.cache:
                self.cache.move_to_end(key)
                return self.cache[key]
            frame = self._decode(t, exact, fps)
            self.cache[key] = frame
            while len(self.cache) > 1 and (
                len(self.cache) > FRAME_CACHE
                or sum(f.image.nbytes for f in self.cache.values()) > FRAME_CACHE_BYTES
            ):
                self.cache.popitem(last=False)
            return frame

    def _decode(self, t: float, exact: bool, fps: float) -> FrameData:
        request = {"op": "frame", "t": t, "exact": exact}
        frame, decoded = self.ask(request, FRAME_SECONDS, partial(_frame, fps), MAX_PIXELS * 3)
        self.decoded += decoded
        return frame

    def audio(self) -> tuple[np.ndarray, bool]:
        """The sound as 16 kHz mono float32 samples, and whether it was cut off."""
        with self.lock:
            return self.ask({"op": "audio"}, AUDIO_SECONDS, _audio, MAX_AUDIO_BYTES)

    def scenes(self, threshold: float) -> list[dict[str, float]]:
        """Scene cuts: ``[{"start", "end"}, ...]``."""
        with self.lock:
            return self.ask({"op": "scenes", "threshold": threshold}, SCAN_SECONDS, _scenes)


# what the decoding child answered, read as values the host can trust (or an error)
def _probe(answer: dict[str, Any], _payload: bytes) -> dict[str, Any]:
    meta: dict[str, Any] = {"duration": _finite(answer["duration"]), "fps": _finite(answer["fps"]),
            "total_frames": int(answer["total_frames"]), "width": int(answer["width"]),
            "height": int(answer["height"]), "codec": str(answer["codec"])[:40],
            "audio": bool(answer["audio"])}  # fmt: skip
    if meta["duration"] <= 0 or meta["fps"] <= 0:
        raise ValueError("a duration and a frame rate above zero")
    return meta


def _keyframes(answer: dict[str, Any], _payload: bytes) -> list[float]:
    return sorted(_finite(t) for t in answer["times"][:MAX_KEYFRAMES])


def _frame(fps: float, answer: dict[str, Any], pixels: bytes) -> tuple[FrameData, int]:
    width, height, timestamp = (
        int(answer["width"]),
        int(answer["height"]),
        _finite(answer["timestamp"]),
    )
    image = np.frombuffer(pixels, np.uint8).reshape(height, width, 3)
    frame = FrameData(image=image, timestamp=timestamp, index=round(timestamp * fps),
                      keyframe=bool(answer["keyframe"]))  # fmt: skip
    return frame, int(answer["decoded"])


def _audio(answer: dict[str, Any], data: bytes) -> tuple[np.ndarray, bool]:
    return np.frombuffer(data, "<i2").astype(np.float32) / 32768.0, bool(answer["cut"])


def _scenes(answer: dict[str, Any], _payload: bytes) -> list[dict[str, float]]:
    return [{"start": _finite(c["start"]), "end": _finite(c["end"])} for c in answer["scenes"]]


def _finite(value: Any) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"a time of {value!r}")
    return number


class VideoView(TimeSpan):
    """A time range of a video with the same API as the whole video; times are absolute."""

    error = VideoError

    def __init__(self, decoder: _Decoder, t0: float, t1: float, fps: float) -> None:
        self._decoder = decoder
        self.t0, self.t1 = t0, t1
        self.fps = fps

    def _span(self, t0: float, t1: float) -> VideoView:
        return VideoView(self._decoder, t0, t1, self.fps)

    def __getitem__(self, span: slice) -> VideoView:
        if not isinstance(span, slice):
            raise TypeError("index a video by time: video[t0:t1] (seconds, no step)")
        return self._slice(span)

    def get_frame(self, t: float, exact: bool = True) -> FrameData:
        """The frame shown at ``t`` (exact), or the keyframe nearest ``t`` (cheap)."""
        self._check(t)
        last_frame = max(self.t0, self.t1 - 1.0 / self.fps)
        return self._decoder.frame_at(min(t, last_frame), exact, self.fps)

    def sample_frames_uniform(
        self, t0: float | None = None, t1: float | None = None, n: int = 4, exact: bool = True
    ) -> list[FrameData]:
        """``n`` frames at the centres of ``n`` equal parts of ``t0``-``t1``."""
        if n < 1:
            raise VideoError("n must be at least 1")
        view = self[t0:t1]
        step = view.duration / n
        return [view.get_frame(view.t0 + step * (i + 0.5), exact) for i in range(n)]


class VideoEnv(VideoView):
    """A whole video file. Use as a context manager or call ``close()``."""

    def __init__(self, path: str | Path, limits: ParseLimits = MEDIA_LIMITS) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"no such video file: {self.path.name}")
        decoder = _Decoder(self.path, limits)
        meta = decoder.meta
        super().__init__(decoder, 0.0, float(meta["duration"]), float(meta["fps"]))
        self.metadata: dict[str, Any] = {
            "path": str(self.path),
            "duration": round(self.t1, 3),
            "fps": round(self.fps, 3),
            "total_frames": int(meta["total_frames"]),
            "width": int(meta["width"]),
            "height": int(meta["height"]),
            "codec": str(meta["codec"]),
            "audio": bool(meta["audio"]),
            "size_bytes": self.path.stat().st_size,
        }

    def audio(self) -> tuple[np.ndarray, bool]:
        """The whole sound track as 16 kHz mono float32 samples (empty without one), and
        whether it was cut off at ``MAX_AUDIO_SECONDS``."""
        return self._decoder.audio()

    def scenes(self, threshold: float) -> list[dict[str, float]]:
        """Scene cuts found by scenedetect's ContentDetector at ``threshold``."""
        return self._decoder.scenes(threshold)

    @property
    def total_frames(self) -> int:
        return int(self.metadata["total_frames"])

    @property
    def frames_decoded(self) -> int:
        return self._decoder.decoded

    def keyframe_times(self) -> list[float]:
        return self._decoder.keyframes()

    def close(self) -> None:
        self._decoder.close()

    def __enter__(self) -> VideoEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        m = self.metadata
        return f"<VideoEnv {self.path.name}: {m['duration']} s, {m['width']}x{m['height']}>"
