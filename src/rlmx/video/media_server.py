"""The confined child's side of a video: everything that decodes its untrusted bytes.

``confined_child.py serve media`` runs ``serve`` under the workers' jail with the video
open at a file descriptor (the child has no other way to it). The host's ``VideoEnv``
asks, one JSON line a request; each answer is a JSON line, ``{"ok": true, ...}`` or
``{"ok": false, "message": ...}``, followed by the raw bytes its ``"bytes"`` announces:

- ``probe``: duration, fps, frame count, size, codec, audio, the stream's start offset;
- ``keyframes``: the keyframe times (one demux pass, no decoding);
- ``frame`` (``t``, ``exact``): the frame on screen at ``t`` (or the keyframe there) as
  RGB bytes, scaled down to at most ``MAX_PIXELS``;
- ``audio``: the sound as 16 kHz mono 16-bit samples, at most ``MAX_AUDIO_SECONDS``;
- ``scenes`` (``threshold``): scene cuts (scenedetect's ContentDetector on PyAV).

Every container reads the file with positioned reads (``os.pread``), so two of them (the
frames' and the scene detector's) never move each other's offset.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable
from typing import Any, BinaryIO

import av
import numpy as np

from .options import AUDIO_RATE, MAX_AUDIO_SECONDS, MAX_PIXELS

LIBRARIES = ("av", "numpy", "scenedetect")
Answer = tuple[dict[str, Any], bytes]


class PositionedFile(io.RawIOBase):
    """A read-only view of an open file descriptor with its own position."""

    def __init__(self, fd: int) -> None:
        self.fd, self.position = fd, 0
        self.size = os.fstat(fd).st_size

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = os.pread(self.fd, len(buffer), self.position)
        buffer[: len(data)] = data
        self.position += len(data)
        return len(data)

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, base + offset)
        return self.position

    def tell(self) -> int:
        return self.position


def open_container(fd: int) -> Any:
    return av.open(io.BufferedReader(PositionedFile(fd), 1 << 16))


class Media:
    """One video, open once; the handlers of the requests above."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.container = open_container(fd)
        if not self.container.streams.video:
            raise ValueError("it has no video stream")
        self.stream = self.container.streams.video[0]
        self.stream.thread_type = "AUTO"
        start = self.stream.start_time
        # times are from the first frame on, whatever the stream's own start time is
        self.offset = float(start * self.stream.time_base) if start else 0.0

    def probe(self, _request: dict[str, Any]) -> Answer:
        stream, container = self.stream, self.container
        fps = float(stream.average_rate or stream.guessed_rate or 25)
        if stream.duration is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            raise ValueError("it does not say how long it is")
        if not (math.isfinite(duration) and duration > 0 and math.isfinite(fps) and fps > 0):
            raise ValueError(f"it claims a duration of {duration} s at {fps} fps")
        return {
            "ok": True,
            "duration": duration,
            "fps": fps,
            "total_frames": stream.frames or round(duration * fps),
            "width": stream.codec_context.width,
            "height": stream.codec_context.height,
            "codec": stream.codec_context.name,
            "audio": bool(container.streams.audio),
        }, b""

    def keyframes(self, _request: dict[str, Any]) -> Answer:
        base = self.stream.time_base
        self.container.seek(0, stream=self.stream)
        times = [
            float(packet.pts * base) - self.offset
            for packet in self.container.demux(self.stream)
            if packet.is_keyframe and packet.pts is not None
        ]
        return {"ok": True, "times": sorted(times)}, b""

    def frame(self, request: dict[str, Any]) -> Answer:
        t, exact = float(request["t"]), bool(request["exact"])
        base = self.stream.time_base
        self.container.seek(round((t + self.offset) / base), stream=self.stream,
                            backward=True, any_frame=False)  # fmt: skip
        chosen, decoded = None, 0
        for frame in self.container.decode(self.stream):
            decoded += 1
            if frame.pts is None:
                continue
            if exact and chosen is not None and float(frame.pts * base) - self.offset > t + 1e-6:
                break  # the previous frame is the one on screen at t
            chosen = frame
            if not exact:
                break
        if chosen is None:
            raise ValueError(f"no frame could be decoded at {t:.3f} s")
        width, height = _fit(chosen.width, chosen.height)
        pixels = chosen.to_ndarray(format="rgb24", width=width, height=height)
        header = {
            "ok": True,
            "timestamp": round(max(0.0, float(chosen.pts * base) - self.offset), 6),
            "keyframe": bool(chosen.key_frame),
            "width": width,
            "height": height,
            "decoded": decoded,
            "bytes": pixels.nbytes,
        }
        return header, pixels.tobytes()

    def audio(self, _request: dict[str, Any]) -> Answer:
        container = open_container(self.fd)
        try:
            if not container.streams.audio:
                return {"ok": True, "seconds": 0.0, "cut": False, "bytes": 0}, b""
            resampler = av.AudioResampler(format="s16", layout="mono", rate=AUDIO_RATE)
            chunks, samples, cut = [], 0, False
            for frame in container.decode(container.streams.audio[0]):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    samples += chunks[-1].size
                if samples >= MAX_AUDIO_SECONDS * AUDIO_RATE:
                    cut = True
                    break
        finally:
            container.close()
        sound = np.concatenate(chunks)[: MAX_AUDIO_SECONDS * AUDIO_RATE] if chunks else None
        data = sound.astype("<i2").tobytes() if sound is not None else b""
        seconds = len(data) / 2 / AUDIO_RATE
        return {"ok": True, "seconds": seconds, "cut": cut, "bytes": len(data)}, data

    def scenes(self, request: dict[str, Any]) -> Answer:
        from scenedetect import ContentDetector, SceneManager
        from scenedetect.backends.pyav import VideoStreamAv

        video = VideoStreamAv(io.BufferedReader(PositionedFile(self.fd), 1 << 16), name="video")
        manager = SceneManager()
        manager.add_detector(ContentDetector(threshold=float(request["threshold"])))
        manager.detect_scenes(video)
        cuts = [{"start": round(a.seconds, 3), "end": round(b.seconds, 3)}
                for a, b in manager.get_scene_list()]  # fmt: skip
        return {"ok": True, "scenes": cuts}, b""


def _fit(width: int, height: int) -> tuple[int, int]:
    """The largest size of the same shape within MAX_PIXELS (even sides: what scalers like)."""
    if width * height <= MAX_PIXELS:
        return width, height
    scale = math.sqrt(MAX_PIXELS / (width * height))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def serve(fd: int, requests: BinaryIO, answers: BinaryIO) -> None:
    """Answer requests until ``requests`` ends. A file that cannot be opened answers every
    request with why; a request that fails answers with why, and the next goes on."""
    media: Media | None = None
    opened: str | None = None
    try:
        media = Media(fd)
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        opened = _why(exc)
    for line in requests:
        request = json.loads(line)
        try:
            if media is None:
                raise ValueError(opened)
            header, payload = _handler(media, request["op"])(request)
        except (av.error.FFmpegError, ValueError, OSError, KeyError, TypeError) as exc:
            header, payload = {"ok": False, "message": _why(exc)}, b""
        answers.write(json.dumps(header).encode() + b"\n" + payload)
        answers.flush()


def _handler(media: Media, op: str) -> Callable[[dict[str, Any]], Answer]:
    handlers = {"probe": media.probe, "keyframes": media.keyframes, "frame": media.frame,
                "audio": media.audio, "scenes": media.scenes}  # fmt: skip
    if op not in handlers:
        raise ValueError(f"no such request {op!r}")
    return handlers[op]


def _why(exc: BaseException) -> str:
    if isinstance(exc, av.error.FFmpegError | OSError):
        return getattr(exc, "strerror", None) or type(exc).__name__
    return str(exc)
