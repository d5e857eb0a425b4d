"""``context`` in a video run: the video as an object (RVAA's ``VideoEnv`` API), in the worker.

Runs inside the sandbox, stdlib only. The pixels stay on the host: ``get_frame`` and
``sample_frames_uniform`` call the host's video tools, which write each frame as a small
JPEG into a folder the worker may read and answer with its path, never with the pixels in
a frame. Everything else (``duration``, ``fps``, views ``context[t0:t1]``,
``iter_segments``) is computed here from the metadata.

A view is also the pair ``(t0, t1)`` (a tuple), so it can be passed to the video tools
that take a segment, as RVAA's loop does::

    for segment in context.iter_segments(duration=60):
        captions = get_segment_captions(segment)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Self

EPSILON = 1e-6


class Frame:
    """A decoded frame on the host, saved as a JPEG the worker can read."""

    def __init__(self, info: dict[str, Any]) -> None:
        self.path: str = info["path"]
        self.timestamp: float = float(info["t"])
        self.index: int = int(info["index"])
        self.keyframe: bool = bool(info["keyframe"])
        self.width: int = int(info["width"])
        self.height: int = int(info["height"])

    def read(self) -> bytes:
        """The JPEG's bytes."""
        with open(self.path, "rb") as f:
            return f.read()

    def to_pil(self) -> Any:
        """The frame as a PIL image (where Pillow is importable in the sandbox)."""
        from PIL import Image

        return Image.open(self.path)

    def __repr__(self) -> str:
        return f"<Frame t={self.timestamp:.3f} s {self.width}x{self.height} {self.path}>"


class TimeSpan:
    """What a video and its views share, on the host (``video/env.py``) and here: a time
    range ``t0``-``t1`` at ``fps``, views of it by slicing, consecutive segments. A subclass
    says how it makes a view (``_span``) and which error a bad time raises."""

    t0: float
    t1: float
    fps: float
    error: type[Exception] = ValueError

    def _span(self, t0: float, t1: float) -> Any:
        raise NotImplementedError

    @property
    def duration(self) -> float:
        return self.t1 - self.t0

    @property
    def total_frames(self) -> int:
        return max(1, round(self.duration * self.fps))

    def _slice(self, span: slice) -> Any:
        if span.step is not None:
            raise TypeError("index a video by time: video[t0:t1] (seconds, no step)")
        t0 = self.t0 if span.start is None else float(span.start)
        t1 = self.t1 if span.stop is None else float(span.stop)
        self._check(t0)
        self._check(t1)
        if t1 <= t0:
            raise self.error(f"empty range {t0:.3f}-{t1:.3f} s")
        return self._span(t0, t1)

    def _check(self, t: float) -> None:
        if not self.t0 - EPSILON <= t <= self.t1 + EPSILON:
            raise self.error(f"time {t:.3f} s is outside {self.t0:.3f}-{self.t1:.3f} s")

    def iter_segments(self, duration: float = 60.0) -> Iterator[Any]:
        """Consecutive views of ``duration`` seconds (the last may be shorter)."""
        if duration <= 0:
            raise self.error("segment duration must be positive")
        start = self.t0
        while start < self.t1 - EPSILON:
            yield self._span(start, min(start + duration, self.t1))
            start += duration

    def __repr__(self) -> str:
        return f"<VideoView {self.t0:.2f}-{self.t1:.2f} s>"


class VideoView(TimeSpan, tuple):
    """A time range ``[t0, t1]`` of the video with the whole video's API (absolute times)."""

    _host: dict[str, Callable[..., Any]]

    def __new__(cls, t0: float, t1: float, fps: float, host: dict[str, Callable[..., Any]]) -> Self:
        view = tuple.__new__(cls, (round(float(t0), 6), round(float(t1), 6)))
        view.fps = fps
        view._host = host
        return view

    @property
    def t0(self) -> float:  # type: ignore[override]
        return tuple.__getitem__(self, 0)

    @property
    def t1(self) -> float:  # type: ignore[override]
        return tuple.__getitem__(self, 1)

    def _span(self, t0: float, t1: float) -> VideoView:
        return VideoView(t0, t1, self.fps, self._host)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return self._slice(key)
        return tuple.__getitem__(self, key)  # view[0] is t0, as for any pair

    def get_frame(self, t: float, exact: bool = True) -> Frame:
        """The frame shown at ``t`` (exact), or the keyframe nearest ``t`` (cheap)."""
        self._check(float(t))
        return Frame(self._host["get_frame"](float(t), exact))

    def sample_frames_uniform(
        self, t0: float | None = None, t1: float | None = None, n: int = 4, exact: bool = True
    ) -> list[Frame]:
        """``n`` frames at the centres of ``n`` equal parts of ``t0``-``t1``."""
        view = self[t0:t1]
        found = self._host["sample_frames_uniform"](view.t0, view.t1, int(n), exact)
        return [Frame(info) for info in found]


class VideoContext(VideoView):
    """The whole video: a view from 0 to its duration, with its metadata. The keys of the
    metadata dict the REPL used to get (``context["video"]``, ``context.video``, ...) stay
    readable, as items and as attributes."""

    metadata: dict[str, Any]
    _fields: dict[str, Any]

    def __new__(cls, data: dict[str, Any], host: dict[str, Callable[..., Any]]) -> Self:
        meta = dict(data["video"])
        view = super().__new__(cls, 0.0, float(meta["duration"]), float(meta["fps"]), host)
        view.metadata = meta
        view._fields = dict(data)
        return view

    @property
    def total_frames(self) -> int:
        return int(self.metadata.get("total_frames") or super().total_frames)

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return self._fields[key]
        return super().__getitem__(key)

    def __getattr__(self, name: str) -> Any:
        for table in (self.__dict__.get("_fields", {}), self.__dict__.get("metadata", {})):
            if name in table:
                return table[name]
        raise AttributeError(f"the video context has no attribute {name!r}")

    def keys(self) -> list[str]:
        return list(self._fields)

    def __repr__(self) -> str:
        m = self.metadata
        return f"<VideoContext {m.get('path')}: {m['duration']} s, {m['width']}x{m['height']}>"
