"""Turning SDK exceptions (openai and anthropic share their shape) into clear LMErrors."""

from __future__ import annotations

from types import ModuleType

from .base import ContextOverflowError, LMError

CONTEXT_OVERFLOW_MARKERS = (
    "context_length_exceeded",
    "maximum context length",
    "prompt is too long",
    "too long",
)


def translate(exc: Exception, sdk: ModuleType, name: str, where: str) -> LMError:
    """One LMError, naming the model and what went wrong, for an SDK exception."""
    if isinstance(exc, sdk.APITimeoutError):
        return LMError(f"{name}: request timed out (retries exhausted)")
    if isinstance(exc, sdk.APIConnectionError):
        return LMError(f"{name}: cannot reach {where}: {exc.__cause__ or exc}")
    if isinstance(exc, sdk.AuthenticationError):
        return LMError(f"{name}: authentication failed; check the API key")
    if isinstance(exc, sdk.APIStatusError):
        detail = _detail(exc)
        if exc.status_code in (400, 413) and any(
            m in detail.lower() for m in CONTEXT_OVERFLOW_MARKERS
        ):
            return ContextOverflowError(f"{name}: prompt too long: {detail}")
        return LMError(f"{name}: HTTP {exc.status_code}: {detail}")
    return LMError(f"{name}: bad response: {exc}")


def _detail(exc: Exception) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(getattr(exc, "message", exc))
