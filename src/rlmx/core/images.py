"""Images in sub-calls: ``llm_query(prompt, images=[path, ...])``.

Model code names an image by the path it sees: a file the host shared with the worker (a
tool's image, a video frame, a rendered PDF page) or a file of the run's folder context
(relative to the folder, as ``profile(context)`` and the skipped files list them). Those
names are hostile input, so the host opens nothing else: a shared file is looked up among
the files this sandbox was given, and a folder's file must resolve (links followed) inside
that folder. Each image is checked to be PNG, JPEG, GIF or WebP by its leading bytes and
capped in size and count, then sent as an image part (a data URL) to the sub-model.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from ..errors import ToolError
from ..repl.sandbox import Sandbox

MAX_IMAGES = 8  # of one sub-call
MAX_IMAGE_BYTES = 5 * 1024 * 1024  # of one image
IMAGE_TYPES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
               (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))  # fmt: skip


def image_parts(paths: list[str], sandbox: Sandbox | None, source: Path | None) -> list[Any]:
    """The image parts of a sub-call's message (``source``: the run's context file or
    folder); ToolError (ValueError) for a path the host will not open, a file that is no
    image, or one too large."""
    if len(paths) > MAX_IMAGES:
        raise ToolError(f"at most {MAX_IMAGES} images a sub-call, not {len(paths)}", "ValueError")
    return [_part(_located(path, sandbox, source), path) for path in paths]


def with_images(prompt: str, parts: list[Any]) -> Any:
    """A user message's content: the prompt, then its images."""
    return [{"type": "text", "text": prompt}, *parts] if parts else prompt


def _located(path: str, sandbox: Sandbox | None, source: Path | None) -> Path:
    shared = sandbox.shared_file(path) if sandbox is not None else None
    if shared is not None:
        return shared
    found = in_context(path, source)
    if found is None:
        raise ToolError(
            f"no image {path!r}: name a file a tool or video gave you, or a file of the "
            "context folder by its path in the folder",
            "ValueError",
        )
    return found


def in_context(path: str | None, source: Path | None) -> Path | None:
    """The file ``path`` names in a folder context (relative to it; links may not lead out
    of it), or the context file itself for ``None``; None when there is no such file."""
    if source is None:
        return None
    if path is None:
        return source if source.is_file() else None
    if not source.is_dir() or Path(path).is_absolute():
        return None
    root = source.resolve()
    found = (root / path).resolve()
    return found if found.is_relative_to(root) and found.is_file() else None


def _part(file: Path, name: str) -> dict[str, Any]:
    with open(file, "rb") as f:
        data = f.read(MAX_IMAGE_BYTES + 1)
    if len(data) > MAX_IMAGE_BYTES:
        raise ToolError(f"image {name!r} is larger than {MAX_IMAGE_BYTES // 2**20} MB",
                        "ValueError")  # fmt: skip
    mime = _mime(data)
    if mime is None:
        raise ToolError(f"{name!r} is not a PNG, JPEG, GIF or WebP image", "ValueError")
    url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}


def _mime(data: bytes) -> str | None:
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((mime for magic, mime in IMAGE_TYPES if data.startswith(magic)), None)
