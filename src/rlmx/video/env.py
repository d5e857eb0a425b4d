"""VideoEnv: a long video as something code can index by time (PyAV).

One open container per video (reopening per frame costs up to 3x more), guarded by a
lock so threads can share it, with a small LRU cache of decoded frames. Times are seconds
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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np

from ..errors import ContextError
from ..repl.video_context import TimeSpan

FRAME_CACHE = 32
FRAME_CACHE_BYTES = 256 * 2**20  # decoded frames kept at most (an 8000x8000 frame is 192 MB)


class VideoError(ContextError):
    """The file cannot be used as a video, or a time is outside it."""


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
    """The open container of one video, shared by every view of it."""

    def __init__(self, path: Path) -> None:
        try:
            self.container = av.open(str(path))
        except (av.error.FFmpegError, OSError) as exc:
            # named, never located: the message reaches clients and model code
            why = getattr(exc, "strerror", None) or type(exc).__name__
            raise VideoError(f"cannot read {path.name} as a video: {why}") from None
        if not self.container.streams.video:
            self.container.close()
            raise VideoError(f"{path.name} has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        base = self.stream.time_base
        # times are from the first frame on, whatever the stream's own start time is
        self.offset = float(self.stream.start_time * base) if self.stream.start_time else 0.0
        self.lock = threading.Lock()
        self.cache: OrderedDict[tuple[int, bool], FrameData] = OrderedDict()
        self._keyframes: list[float] | None = None
        self.decoded = 0  # frames decoded so far (for benchmarks)

    def close(self) -> None:
        with self.lock:
            self.container.close()

    def keyframes(self) -> list[float]:
        """Timestamps of every keyframe (one demux pass, no decoding; cached)."""
        with self.lock:
            if self._keyframes is None:
                base = self.stream.time_base
                self.container.seek(0, stream=self.stream)
                times = [
                    float(packet.pts * base) - self.offset
                    for packet in self.container.demux(self.stream)
                    if packet.is_keyframe and packet.pts is not None
                ]
                self._keyframes = sorted(times)
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
        base = self.stream.time_base
        target = round((t + self.offset) / base)
        self.container.seek(target, stream=self.stream, backward=True, any_frame=False)
        chosen = None
        for frame in self.container.decode(self.stream):
            self.decoded += 1
            if frame.pts is None:
                continue
            if exact and chosen is not None and float(frame.pts * base) - self.offset > t + 1e-6:
                break  # the previous frame is the one on screen at t
            chosen = frame
            if not exact:
                break
        if chosen is None:
            raise VideoError(f"no frame could be decoded at {t:.3f} s")
        timestamp = round(max(0.0, float(chosen.pts * base) - self.offset), 6)
        return FrameData(
            image=chosen.to_ndarray(format="rgb24"),
            timestamp=timestamp,
            index=round(timestamp * fps),
            keyframe=bool(chosen.key_frame),
        )


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

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if not self.path.is_file():
            raise VideoError(f"no such video file: {self.path}")
        decoder = _Decoder(self.path)
        stream, container = decoder.stream, decoder.container
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        if stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            decoder.close()
            raise VideoError(f"{self.path} does not say how long it is")
        super().__init__(decoder, 0.0, duration, fps)
        self.metadata: dict[str, Any] = {
            "path": str(self.path),
            "duration": round(duration, 3),
            "fps": round(fps, 3),
            "total_frames": stream.frames or round(duration * fps),
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "codec": stream.codec_context.name,
            "audio": bool(container.streams.audio),
            "size_bytes": self.path.stat().st_size,
        }

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
