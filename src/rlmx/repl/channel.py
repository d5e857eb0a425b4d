"""Frame-level async I/O with one worker, over a pair of pipe streams (``wire.py`` frames)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from ..errors import SandboxError
from . import wire

SEND_TIMEOUT = 10.0  # a worker that does not read its pipe for this long is broken


class WorkerDied(SandboxError):
    """The worker process ended while the host was waiting for it."""


class Channel:
    """Sends and receives the frames of one worker."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def send(self, message: dict[str, Any] | bytes) -> None:
        """Write one frame; WorkerDied when the pipe is gone or not read for SEND_TIMEOUT."""
        data = message if isinstance(message, bytes) else wire.encode_frame(message)
        try:
            self.writer.write(data)
            async with asyncio.timeout(SEND_TIMEOUT):  # (wait_for may swallow a cancel)
                await self.writer.drain()
        except (OSError, RuntimeError, TimeoutError) as exc:
            raise WorkerDied(f"cannot write to the worker ({type(exc).__name__})") from exc

    def buffered(self) -> int:
        """Bytes written but not yet taken by the worker."""
        return self.writer.transport.get_write_buffer_size()

    async def recv(self, max_bytes: int) -> dict[str, Any]:
        """One frame; WireError (a protocol violation) for one past ``max_bytes``."""
        try:
            header = await self.reader.readexactly(wire.HEADER.size)
            body = await self.reader.readexactly(wire.frame_length(header, max_bytes))
        except (asyncio.IncompleteReadError, ConnectionError) as exc:
            raise WorkerDied("worker closed its pipe") from exc
        return wire.decode_body(body)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()
