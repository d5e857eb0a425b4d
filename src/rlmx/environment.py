"""Environments: contexts that come with tools instead of text (a video file, or the
retrieval-only document of the CodeAct + BM25 baseline). ``Environment`` is the protocol
such a context follows; ``open_environment`` makes one for a context that needs it.

An environment gives the sandbox a small ``context`` (the video's metadata), a text the
root model reads about it, and tools whose calls run on the host. Opening one is the only
place the optional video dependencies are imported.
"""

from __future__ import annotations

from typing import Any, Protocol

from .repl.context import ContextError
from .video.options import VideoOptions, is_video


class Environment(Protocol):
    """What a run needs from an environment. It may also name how the worker shows its
    ``sandbox_context`` (``context_kind``, e.g. ``"video"``: as a VideoContext object)."""

    kind: str  # "video": picks the prompt's worked examples for small models

    def sandbox_context(self) -> Any: ...

    def describe(self) -> str: ...

    def tool_specs(self) -> list[dict[str, str]]: ...

    async def call(
        self, name: str, args: list[Any], kwargs: dict[str, Any]
    ) -> tuple[Any, list[float] | None]: ...

    def close(self) -> None: ...


def open_environment(context: Any, video: VideoOptions, vision_call: Any) -> Environment | None:
    """The environment for a context, or None for ordinary (text / data) contexts.

    A context that already is an environment (it has ``tool_specs``) is used as it is.
    """
    if hasattr(context, "tool_specs"):
        return context
    if not is_video(context):
        return None
    try:
        from .video.env import VideoError
        from .video.tools import VideoTools
    except ImportError as exc:
        raise ContextError(
            f"video contexts need the video extra: pip install 'rlmx[video]' ({exc})"
        ) from None
    try:
        return VideoTools(context, video, vision_call)
    except VideoError as exc:
        raise ContextError(str(exc)) from None
