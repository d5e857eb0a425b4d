"""The video environment of an RLM: perception tools the REPL calls, run on the host.

When the context is a video, the sandbox's ``context`` is the video as an object
(``repl/video_context.py``: duration, fps, views ``context[t0:t1]``, frames, segments) and
these functions appear in the REPL; each call goes to the host, which decodes frames and
runs OCR, speech-to-text or scene detection there (never in the sandbox) and caches every
result in the perception cache. A frame crosses to the worker as a small JPEG file, never
as pixels in a frame. ``look`` sends frames to a vision model when one is set; without
one, captions are built from what runs offline and say so.
"""

from __future__ import annotations

import asyncio
import base64
import inspect
import io
import math
import re
import threading
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from ..bm25 import bm25_top, respell
from ..errors import ToolError
from ..repl.sandbox import SharedFile
from .cache import PerceptionCache
from .env import VideoEnv
from .options import VideoOptions
from .perception import SCENE_THRESHOLD, dominant_colors, ocr_engine, speech_engine

VisionCall = Callable[[list[dict[str, Any]]], Awaitable[str]]
MAX_FRAMES = 32  # frames one sample_frames_uniform call may return
MIN_STEP = 0.1  # seconds: the finest grid (segments, on-screen text) a call may ask for
MAX_POINTS = 5_000  # times or segments one call may ask for (a hostile step or a file
# that claims a huge duration would otherwise make the host loop and allocate without end)
# set when the call that runs in this thread is cancelled (its cell or run ended): a
# thread cannot be killed, so its loops look at this before each frame they read
_STOP: ContextVar[threading.Event | None] = ContextVar("rlmx_video_stop", default=None)
CAPTION_PROMPT = (
    "Describe what these video frames show in at most three sentences: the scene, people "
    "and objects, actions, and any text on screen."
)


class VideoTools:
    """Perception tools over one video, cached; the RLM's environment for a video context."""

    kind = "video"
    context_kind = "video"  # the worker shows `context` as a VideoContext object
    TOOLS = (
        "video_info",
        "segments",
        "get_segment_captions",
        "get_frame",
        "sample_frames_uniform",
        "ocr",
        "onscreen_text",
        "transcript",
        "search_transcript",
        "scenes",
        "search",
        "look",
    )

    def __init__(
        self,
        path: Path,
        options: VideoOptions | None = None,
        vision_call: VisionCall | None = None,
        cache: PerceptionCache | None = None,
    ) -> None:
        self.options = options or VideoOptions()
        self.env = VideoEnv(path)
        self.cache = cache or PerceptionCache(self.options.cache_path)
        self.video_id = self.cache.video_hash(self.env.path)
        self.vision_call = vision_call
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()  # calls still running in threads stop at their next frame
        self.env.close()
        self.cache.close()

    def _going_on(self) -> None:
        """Raise ToolError once this call was cancelled or the tools closed."""
        stop = _STOP.get()
        if self.closed.is_set() or (stop is not None and stop.is_set()):
            raise ToolError("the call was stopped: its cell or its run ended")

    # -- the environment protocol ----------------------------------------------------------
    def sandbox_context(self) -> dict[str, Any]:
        """What ``context`` is in the REPL: the metadata (the pixels stay on the host)."""
        meta = dict(self.env.metadata)
        meta["path"] = self.env.path.name
        return {"video": meta, "note": "call the video functions to see or hear the video"}

    def describe(self) -> str:
        m = self.env.metadata
        sound = "with an audio track" if m["audio"] else "without audio"
        lines = [
            f"The context is a video ({self.env.path.name}): {m['duration']:.1f} s, "
            f"{m['fps']:g} fps, {m['total_frames']:,} frames, {m['width']}x{m['height']}, "
            f"{sound}. `context` is the video: context.duration, context.fps, "
            "context.metadata, context[t0:t1] (a view with the same methods), "
            "context.get_frame(t), context.sample_frames_uniform(t0, t1, n) (frames with "
            ".path to a JPEG), context.iter_segments(duration=60) (views, which the "
            "functions taking a segment accept). These functions run on the host and return "
            "plain Python data (times in seconds from the start):"
        ]
        for name in self.TOOLS:
            lines.append(f"- {_call_form(getattr(self, name))}: {_doc_line(name, self)}")
        if self.options.vision is None:
            lines.append(
                "No vision model is configured: look() is unavailable and captions "
                "are built from on-screen text, colours and speech."
            )
        return "\n".join(lines)

    def tool_specs(self) -> list[dict[str, str]]:
        """Name and help of each tool, for the REPL's stubs."""
        return [{"name": n, "doc": inspect.getdoc(getattr(self, n)) or ""} for n in self.TOOLS]

    async def call(
        self, name: str, args: list[Any], kwargs: dict[str, Any]
    ) -> tuple[Any, list[float] | None]:
        """Run one tool (blocking ones in a thread); its value and the time span it covers."""
        if name not in self.TOOLS:
            raise ValueError(f"unknown video tool {name!r}")
        method = getattr(self, name)
        try:
            bound = inspect.signature(method).bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{name}(): {exc}") from None
        stop = threading.Event()
        token = _STOP.set(stop)  # to_thread copies the context: the thread sees this event
        try:
            if inspect.iscoroutinefunction(method):
                value = await method(*bound.args, **bound.kwargs)
            else:
                value = await asyncio.to_thread(method, *bound.args, **bound.kwargs)
        except asyncio.CancelledError:
            stop.set()
            raise
        finally:
            _STOP.reset(token)
        return value, self._span(bound.arguments)

    def _span(self, arguments: dict[str, Any]) -> list[float] | None:
        if "t" in arguments:
            return [float(arguments["t"])] * 2
        if "segment" in arguments:
            return list(self._segment(arguments["segment"]))
        if "t0" in arguments or "t1" in arguments:
            t0, t1 = self._range(arguments.get("t0"), arguments.get("t1"))
            return [t0, t1]
        return None

    # -- helpers -------------------------------------------------------------------------------
    def _cached(self, tool: str, params: dict[str, Any], model: str, compute: Callable[[], Any]):
        value = self.cache.get(self.video_id, tool, params, model)
        if value is None:
            value = compute()
            self.cache.put(self.video_id, tool, params, model, value)
        return value

    def _range(self, t0: float | None, t1: float | None) -> tuple[float, float]:
        view = self.env[t0:t1]
        return round(view.t0, 3), round(view.t1, 3)

    def _segment(self, segment: Any) -> tuple[float, float]:
        if isinstance(segment, int) and not isinstance(segment, bool):
            spans = self.segments()
            if not 0 <= segment < len(spans):
                raise IndexError(f"segment {segment} out of range: the video has {len(spans)}")
            return spans[segment][0], spans[segment][1]
        if isinstance(segment, list | tuple) and len(segment) == 2:
            return self._range(float(segment[0]), float(segment[1]))
        raise TypeError("segment is an index into segments() or a (t0, t1) pair")

    def _step(self, value: Any, default: float, t0: float, t1: float) -> float:
        """A step of seconds a tool was given (or its default), checked: finite, at least
        MIN_STEP, and at most MAX_POINTS steps over t0-t1."""
        step = float(default if value is None else value)
        if not math.isfinite(step) or step < MIN_STEP:
            raise ValueError(f"a step of {value!r} s: give at least {MIN_STEP} s")
        if (t1 - t0) / step > MAX_POINTS:
            raise ValueError(
                f"a step of {step:g} s over {t1 - t0:g} s makes over {MAX_POINTS} points: "
                "give a longer step or a shorter span"
            )
        return step

    def _grid(self, t0: float, t1: float, every: Any) -> list[float]:
        every = self._step(every, self.options.ocr_every, t0, t1)
        first = every * -(-t0 // every)  # the shared grid, so OCR results are reused
        times, t = [], first
        while t < t1 - 1e-6:
            times.append(round(t, 3))
            t += every
        return times or [round((t0 + t1) / 2, 3)]

    # -- tools -----------------------------------------------------------------------------------
    def video_info(self) -> dict[str, Any]:
        """Duration, fps, frame count, resolution, codec and whether there is audio."""
        return self.sandbox_context()["video"]

    def segments(self, seconds: float | None = None) -> list[list[float]]:
        """Consecutive [t0, t1] spans of `seconds` (default: the configured segment length)."""
        length = self._step(seconds, self.options.segment_seconds, 0.0, self.env.duration)
        return [[round(v.t0, 3), round(v.t1, 3)] for v in self.env.iter_segments(length)]

    def get_frame(self, t: float, exact: bool = True) -> SharedFile:
        """The frame shown at t as a JPEG file: {"path", "t", "index", "keyframe", "width",
        "height"} (exact=False: the nearest keyframe, much cheaper)."""
        return self._frame_file(self.env.get_frame(_time(t), exact=bool(exact)))

    def sample_frames_uniform(
        self, t0: float | None = None, t1: float | None = None, n: int = 4, exact: bool = True
    ) -> list[SharedFile]:
        """n frames (at most 32) at the centres of n equal parts of t0-t1, as get_frame."""
        if not 1 <= int(n) <= MAX_FRAMES:
            raise ValueError(f"n must be between 1 and {MAX_FRAMES}")
        frames = self.env.sample_frames_uniform(t0, t1, int(n), exact=bool(exact))
        return [self._frame_file(frame) for frame in frames]

    def _frame_file(self, frame: Any) -> SharedFile:
        data, (width, height) = self._jpeg_bytes(frame)
        info = {"t": frame.timestamp, "index": frame.index, "keyframe": frame.keyframe,
                "width": width, "height": height}  # fmt: skip
        return SharedFile(data, ".jpg", info)

    def ocr(self, t: float) -> dict[str, Any]:
        """Text on screen at time t: {"t": the frame's real time, "lines": [text, ...]}."""
        self._going_on()  # every loop over frames reads them through here
        frame = self.env.get_frame(_time(t))
        engine = ocr_engine()
        lines = self._cached(
            "ocr",
            {"t": frame.timestamp},
            engine.name,
            lambda: [line["text"] for line in engine.read(frame.image)],
        )
        return {"t": frame.timestamp, "lines": lines}

    def onscreen_text(
        self, t0: float | None = None, t1: float | None = None, every: float | None = None
    ) -> list[dict[str, Any]]:
        """On-screen text read every `every` s (default 5) in t0-t1, merged into spans
        [{"t0", "t1", "text"}] where the text stays the same (a running clock on screen is
        not a change)."""
        start, end = self._range(t0, t1)
        spans: list[dict[str, Any]] = []
        for t in self._grid(start, end, every):
            text = " | ".join(self.ocr(t)["lines"])
            if spans and _steady(spans[-1]["text"]) == _steady(text):
                spans[-1]["t1"] = t
            else:
                spans.append({"t0": t, "t1": t, "text": text})
        return spans

    def _full_transcript(self) -> list[dict[str, Any]]:
        if not self.env.metadata["audio"]:
            return []
        engine = speech_engine()
        return self._cached("transcript", {}, engine.name,
                            lambda: engine.transcribe(self.env.audio()[0]))  # fmt: skip

    def transcript(self, t0: float | None = None, t1: float | None = None) -> list[dict[str, Any]]:
        """What is said in t0-t1: [{"start", "end", "text"}] (speech-to-text, English)."""
        start, end = self._range(t0, t1)
        return [
            {"start": s["start"], "end": s["end"], "text": s["text"]}
            for s in self._full_transcript()
            if s["end"] > start and s["start"] < end
        ]

    def search_transcript(self, query: str, k: int = 5) -> list[dict[str, Any]]:
        """Transcript segments that best match `query` (BM25), each with the times at which
        the query's words are spoken: [{"start", "end", "text", "score", "word_times"}]."""
        segments = self._full_transcript()
        texts = [s["text"] for s in segments]
        ranked = bm25_top(texts, query, k)
        wanted = {w.lower().strip(".,!?") for w in f"{query} {respell(query, texts)}".split()}
        return [
            {
                "start": segments[i]["start"],
                "end": segments[i]["end"],
                "text": segments[i]["text"],
                "score": score,
                "word_times": [
                    [w, s] for w, s, _ in segments[i]["words"] if w.lower().strip(".,!?") in wanted
                ],
            }
            for i, score in ranked
        ]

    def scenes(self) -> list[dict[str, float]]:
        """Shots between scene cuts: [{"start", "end"}]."""
        return self._cached(
            "scenes", {}, "scenedetect-content", lambda: self.env.scenes(SCENE_THRESHOLD)
        )

    async def get_segment_captions(self, segment: Any) -> dict[str, Any]:
        """A caption of one segment (an index into segments() or a (t0, t1) pair):
        {"t0", "t1", "caption", "source"} (source: the vision model, or "offline")."""
        t0, t1 = self._segment(segment)
        if self.options.vision is None or self.vision_call is None:
            caption = await asyncio.to_thread(self.offline_caption, t0, t1)
            return {"t0": t0, "t1": t1, "caption": caption, "source": "offline"}
        frames = 1 if t1 - t0 <= 5 else 2 if t1 - t0 <= 20 else 3
        caption = await self.look(CAPTION_PROMPT, t0, t1, frames)
        return {"t0": t0, "t1": t1, "caption": caption, "source": self.options.vision}

    def offline_caption(self, t0: float, t1: float) -> str:
        """The offline caption of t0-t1 (on-screen text, colours, speech), cached."""
        return self._cached(
            "caption",
            {"t0": t0, "t1": t1},
            "offline",
            lambda: self._compose_offline_caption(t0, t1),
        )

    def _compose_offline_caption(self, t0: float, t1: float) -> str:
        times = self._grid(t0, t1, self.options.ocr_every)
        if len(times) > 3:  # at most three frames: first, middle, last
            times = [times[round(i * (len(times) - 1) / 2)] for i in range(3)]
        texts, colours = [], []
        for t in dict.fromkeys(times):
            for line in self.ocr(t)["lines"]:
                if line not in texts:
                    texts.append(line)
            for colour in dominant_colors(self.env.get_frame(t).image):
                if colour not in colours:
                    colours.append(colour)
        speech = " ".join(s["text"] for s in self.transcript(t0, t1))
        parts = ["[offline caption: no vision model]"]
        parts.append("on-screen text: " + ("; ".join(f'"{t}"' for t in texts) or "none"))
        parts.append("colours: " + (", ".join(colours) or "mixed"))
        parts.append(f'speech: "{speech}"' if speech else "speech: none")
        return " ".join(f"{p}." if i else p for i, p in enumerate(parts))

    def search(self, query: str, k: int = 8) -> list[dict[str, Any]]:
        """Moments matching `query` (BM25 over speech, on-screen text and cached captions):
        [{"t0", "t1", "source", "text", "score"}], best first."""
        docs = [
            {"t0": s["start"], "t1": s["end"], "source": "speech", "text": s["text"]}
            for s in self._full_transcript()
        ]
        docs += [
            {"t0": s["t0"], "t1": s["t1"], "source": "screen", "text": s["text"]}
            for s in self.onscreen_text()
            if s["text"]
        ]
        for t0, t1 in self.segments():
            cached = self.cache.get(self.video_id, "caption", {"t0": t0, "t1": t1}, "offline")
            if cached is not None:
                docs.append({"t0": t0, "t1": t1, "source": "caption", "text": cached})
        ranked = bm25_top([d["text"] for d in docs], query, k)
        return [{**docs[i], "score": score} for i, score in ranked]

    async def look(
        self, question: str, t0: float | None = None, t1: float | None = None, n: int | None = None
    ) -> str:
        """Ask the vision model `question` about n frames (default 3) sampled from t0-t1."""
        if self.options.vision is None or self.vision_call is None:
            raise RuntimeError(
                "look() needs a vision model (RLM(video=VideoOptions(vision=SPEC)) or "
                "--vision); offline you can use ocr(), onscreen_text(), transcript() and "
                "get_segment_captions()"
            )
        start, end = self._range(t0, t1)
        count = n or self.options.frames_per_look
        params = {"question": question, "t0": start, "t1": end, "n": count}
        cached = self.cache.get(self.video_id, "look", params, self.options.vision)
        if cached is not None:
            return cached
        frames = await asyncio.to_thread(self.env.sample_frames_uniform, start, end, count)
        times = ", ".join(f"{f.timestamp:.1f}" for f in frames)
        content: list[dict[str, Any]] = [
            {"type": "text", "text": f"{question}\n(Frames of a video at {times} s.)"}
        ]
        for frame in frames:
            content.append({"type": "image_url", "image_url": {"url": self._jpeg(frame)}})
        answer = await self.vision_call([{"role": "user", "content": content}])
        self.cache.put(self.video_id, "look", params, self.options.vision, answer)
        return answer

    def _jpeg(self, frame: Any) -> str:
        data, _size = self._jpeg_bytes(frame)
        return "data:image/jpeg;base64," + base64.b64encode(data).decode()

    def _jpeg_bytes(self, frame: Any) -> tuple[bytes, tuple[int, int]]:
        """The frame as a JPEG, its longer side at most ``max_image_side``; and its size."""
        image = frame.to_pil()
        image.thumbnail((self.options.max_image_side, self.options.max_image_side))
        data = io.BytesIO()
        image.save(data, format="JPEG", quality=85)
        return data.getvalue(), image.size

    # -- indexing --------------------------------------------------------------------------------
    def index(
        self, every: float | None = None, progress: Callable[[str, int, int], None] | None = None
    ) -> dict[str, int]:
        """Precompute on-screen text every `every` s, the transcript, scenes and offline
        captions; returns how much perception work was done (0 when already indexed)."""
        misses = self.cache.misses
        times = self._grid(0.0, self.env.duration, every)
        for i, t in enumerate(times):
            self.ocr(t)
            if progress:
                progress("on-screen text", i + 1, len(times))
        for stage, work in (("speech", self._full_transcript), ("scenes", self.scenes)):
            work()
            if progress:
                progress(stage, 1, 1)
        spans = self.segments()
        for i, (t0, t1) in enumerate(spans):
            self._going_on()
            self.offline_caption(t0, t1)
            if progress:
                progress("captions", i + 1, len(spans))
        return {
            "frames_read": len(times),
            "segments": len(spans),
            "new_results": self.cache.misses - misses,
        }


def _time(t: Any) -> float:
    """A time in seconds a tool was given: a finite number."""
    value = float(t)
    if not math.isfinite(value):
        raise ValueError(f"t must be a finite number of seconds, not {t!r}")
    return value


CLOCK = re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b")


def _steady(text: str) -> str:
    """Screen text without clock readings (a broadcast's clock ticks on every frame)."""
    return CLOCK.sub("", text)


def _call_form(method: Any) -> str:
    """``name(a, b=None)``: the parameters without annotations (short for small models)."""
    params = [
        p.name if p.default is inspect.Parameter.empty else f"{p.name}={p.default!r}"
        for p in inspect.signature(method).parameters.values()
    ]
    return f"{method.__name__}({', '.join(params)})"


def _doc_line(name: str, tools: VideoTools) -> str:
    """A tool's help on one line."""
    return " ".join((inspect.getdoc(getattr(tools, name)) or "").split())
