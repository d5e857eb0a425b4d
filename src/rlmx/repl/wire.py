"""Wire format between the host and the sandbox worker.

Each frame is a 4-byte big-endian length followed by that many bytes of UTF-8 JSON.
Frames are dicts with a ``type`` (``execute``, ``result``, ``llm_query``,
``llm_query_batched``, ``rlm_query``, ``reply``, ``interrupt``, ``shutdown``, ``ready``)
and, where a reply is expected, an ``id``.

This module is stdlib-only: it is copied into the sandbox next to the worker.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME_BYTES = 1 << 30  # a frame above 1 GiB is a protocol error, not a payload


class WireError(RuntimeError):
    """The other side sent something that is not a frame, or closed the pipe."""


def encode_frame(message: dict[str, Any]) -> bytes:
    """Serialise one message as a length-prefixed JSON frame."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME_BYTES:
        raise WireError(f"frame of {len(body)} bytes exceeds the {MAX_FRAME_BYTES} limit")
    return HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    """Parse a frame body; anything but a JSON object is a protocol error."""
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WireError(f"malformed frame: {exc}") from exc
    if not isinstance(message, dict) or "type" not in message:
        raise WireError("frame is not a typed JSON object")
    return message


def frame_length(header: bytes, max_bytes: int = MAX_FRAME_BYTES) -> int:
    """Read the body length from a header, rejecting frames over ``max_bytes``."""
    (length,) = HEADER.unpack(header)
    if length > max_bytes:
        raise WireError(f"a frame of {length:,} bytes (at most {max_bytes:,})")
    return length


def read_exact(fd: int, n: int) -> bytes:
    """Read exactly ``n`` bytes from a blocking file descriptor."""
    chunks: list[bytes] = []
    remaining = n
    while remaining:
        chunk = os.read(fd, min(remaining, 1 << 20))
        if not chunk:
            raise WireError("pipe closed")
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> dict[str, Any]:
    """Blocking read of one frame from a file descriptor."""
    length = frame_length(read_exact(fd, HEADER.size))
    return decode_body(read_exact(fd, length))


def write_frame(fd: int, message: dict[str, Any]) -> None:
    """Blocking write of one frame to a file descriptor."""
    data = memoryview(encode_frame(message))
    while data:
        written = os.write(fd, data)
        data = data[written:]
