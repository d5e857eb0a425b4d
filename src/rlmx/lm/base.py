"""The async LM protocol every backend implements, and the usage record it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..errors import ConfigError, ModelError

# {"role": "system" | "user" | "assistant", "content": str}; a sub-call with images has a
# list of parts as its content (a text part, then image_url parts: ``core/images.py``)
Message = dict[str, Any]

CHARS_PER_TOKEN = 4  # rough English average, used only when no tokenizer is at hand
TEMPLATE_TOKENS_PER_MESSAGE = 8  # role markers of a chat template, e.g. <|im_start|>user


class LMError(ModelError):
    """A model call failed for good (after retries); the message is meant for people."""


class LMConfigError(LMError, ConfigError):
    """A model spec cannot be used: unknown provider, missing API key, bad file."""


class ContextOverflowError(LMError):
    """A prompt does not fit the model's context window."""


@dataclass
class Usage:
    """Tokens, calls and cost of one or more LM calls. ``cost_usd`` is None when unknown."""

    input_tokens: int = 0
    output_tokens: int = 0
    calls: int = 0
    cost_usd: float | None = None
    cached_input_tokens: int = 0  # of input_tokens, those a cache served (not evaluated again)
    cached_calls: int = 0  # of calls, those rlmx's call cache answered (no tokens, no cost)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def add(self, other: Usage) -> None:
        """Accumulate another usage record into this one (unknown costs stay unknown)."""
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.calls += other.calls
        self.cached_input_tokens += other.cached_input_tokens
        self.cached_calls += other.cached_calls
        if other.cost_usd is not None:
            self.cost_usd = (self.cost_usd or 0.0) + other.cost_usd

    def to_dict(self) -> dict[str, Any]:
        return {
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "total_tokens": self.total_tokens,
            "calls": self.calls,
            "cost_usd": self.cost_usd,
            "cached_input_tokens": self.cached_input_tokens,
            "cached_calls": self.cached_calls,
        }


@dataclass
class LMResponse:
    """One completion: its text, the usage it cost, and why it stopped."""

    text: str
    usage: Usage
    model: str
    finish_reason: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    queued_seconds: float = 0.0  # time it waited for a slot of the tree's concurrency
    cached: bool = False  # answered by rlmx's call cache (``lm/cache.py``), not the model


class Tokenizer(Protocol):
    """Exact token counts of a model (the embedded models have their tokenizer at hand)."""

    def count_tokens(self, messages: list[Message]) -> int:
        """Tokens of the message contents (chat-template tokens not included)."""
        ...

    def truncate(self, text: str, max_tokens: int) -> str:
        """The first ``max_tokens`` tokens of ``text``."""
        ...


@runtime_checkable
class LM(Protocol):
    """What rlmx needs from a language model backend."""

    name: str  # the spec it was made from, used as the key in per-model usage
    context_window: int | None  # tokens, when known
    supports_grammar: bool  # honours ``grammar`` in complete()
    supports_images: bool  # takes image parts in a user message (vision)
    prefers_compact: bool  # a small model: the "auto" policy gives it the compact prompts

    @property
    def tokenizer(self) -> Tokenizer | None:
        """Exact token counts, when the backend has them at hand."""
        ...

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> LMResponse:
        """Answer a chat; raise LMError when it cannot. Backends without grammar support
        ignore ``grammar`` (a GBNF text constraining the reply)."""
        ...

    async def aclose(self) -> None:
        """Release connections or model memory."""
        ...


class LMBase:
    """Defaults of the capabilities an LM declares; backends (and your own LMs) may subclass
    it and override what they support."""

    context_window: int | None = None
    supports_grammar = False
    supports_images = False
    prefers_compact = False
    tokenizer: Tokenizer | None = None

    async def aclose(self) -> None:
        return None


def estimate_tokens(messages: list[Message]) -> int:
    """A cheap upper-bound-ish token estimate for window checks before a call."""
    return sum(len(m.get("content", "")) for m in messages) // CHARS_PER_TOKEN + 4 * len(messages)


def prompt_tokens(lm: LM, messages: list[Message]) -> int:
    """Tokens of a prompt: exact where the LM can count (plus chat-template overhead per
    message), else the characters / 4 estimate."""
    if lm.tokenizer is None:
        return estimate_tokens(messages)
    return lm.tokenizer.count_tokens(messages) + TEMPLATE_TOKENS_PER_MESSAGE * len(messages)


def check_fits(lm: LM, messages: list[Message]) -> None:
    """Raise ContextOverflowError when the prompt exceeds the model's window.

    Backends with a tokenizer at hand (``lm.tokenizer``) are asked for the exact count;
    others get a characters / 4 estimate.
    """
    if lm.context_window is None:
        return
    tokens = prompt_tokens(lm, messages)
    if tokens > lm.context_window:
        chars = sum(len(m.get("content", "")) for m in messages)
        raise ContextOverflowError(
            f"prompt of {chars:,} characters (~{tokens:,} tokens) exceeds the "
            f"{lm.context_window:,}-token window of {lm.name}; split it into smaller pieces"
        )
