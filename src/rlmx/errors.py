"""The error tree: every error rlmx raises is an ``RlmxError`` of one of a few kinds.

Callers catch the kind they can act on. Each kind says below whether it ends what raised
it (terminal) or whether the run goes on (recoverable: the model is told and tries again).
Foreign exceptions are mapped once, where they enter (SDK errors in ``lm/errors.py``, a
worker's frames in ``repl/frames.py``, a tool's exceptions in the run's tool call); the
server maps the tree to HTTP statuses in one place (``server/statuses.py``).
This module imports nothing of rlmx, so every room may import it. See
docs/ARCHITECTURE.md, "Errors".
"""

from __future__ import annotations


class RlmxError(Exception):
    """The root of every error rlmx raises on purpose."""


class ConfigError(RlmxError, ValueError):
    """A setting that cannot work: an unknown model spec or provider, a missing key, a bad
    option, a sandbox mode this machine lacks. Terminal: fix the setting (CLI exit 2)."""


class ContextError(RlmxError, ValueError):
    """A context that cannot be used: wrong type, unreadable path, not JSON-serialisable,
    an unreadable video. Terminal for the run it was given to; an ``rlm_query`` child with
    a bad context only returns an error string to its parent's cell."""


class ModelError(RlmxError):
    """A model call failed for good (after the client's retries). Recoverable inside a run:
    a sub-call returns it as an ``[rlmx error]`` string; terminal when the root's call fails."""


class BudgetError(RlmxError):
    """The run tree's budget (calls, tokens, USD, seconds) is spent. Recoverable: the root
    gets one last turn to answer and the run ends as ``budget_exhausted``."""


class SandboxError(RlmxError):
    """The sandbox worker could not start, died or broke the protocol. Recoverable during a
    run (the worker is replaced and the model told); terminal when it cannot start."""


class ToolError(RlmxError):
    """A host tool called from a cell (video OCR, transcript, search ...) failed. Recoverable:
    the cell sees it as ``ToolError`` with the original type name in ``type_name``."""

    def __init__(self, message: str, type_name: str | None = None) -> None:
        super().__init__(message)
        self.type_name = type_name or type(self).__name__


class CapacityError(RlmxError):
    """As many of something are open as the operator allows (a server's sessions).
    Terminal for the request; retry once one is closed (HTTP 429)."""
