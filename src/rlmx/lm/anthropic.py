"""``anthropic:<model>``: Claude models on the official ``anthropic`` SDK.

System messages go in the ``system`` field; only text blocks of the reply are kept
(thinking blocks are skipped); usage counts cache reads and writes as input tokens.
Retries with backoff on 429/5xx/timeouts are the SDK's own (it honours Retry-After).
"""

from __future__ import annotations

from typing import Any

from . import pricing
from .base import LMBase, LMConfigError, LMError, LMResponse, Message, Usage
from .errors import translate

DEFAULT_MAX_TOKENS = 8192


class AnthropicLM(LMBase):
    """A Claude model behind the Anthropic Messages API."""

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        api_key: str | None = None,
        base_url: str | None = None,
        context_window: int | None = 200_000,
        timeout: float = 600.0,
        max_retries: int = 4,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        try:
            import anthropic
        except ImportError:
            raise LMConfigError("anthropic: specs need the SDK: pip install anthropic") from None
        self._sdk = anthropic
        self.model = model
        self.name = name or f"anthropic:{model}"
        self.context_window = context_window
        self.max_tokens = max_tokens
        self.supports_images = True
        self.client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries
        )

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> LMResponse:
        system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
        kwargs: dict[str, Any] = {
            "model": self.model,
            "messages": [_anthropic_message(m) for m in messages if m["role"] != "system"],
            "max_tokens": max_tokens or self.max_tokens,
        }
        if system:
            kwargs["system"] = system
        if stop:
            kwargs["stop_sequences"] = stop
        try:
            response = await self.client.messages.create(**kwargs)
        except self._sdk.AnthropicError as exc:
            raise translate(exc, self._sdk, self.name, "the Anthropic API") from None
        text = "".join(b.text for b in response.content if getattr(b, "type", "") == "text")
        if not text:
            raise LMError(f"{self.name}: the model returned no text")
        usage = self._usage(response.usage)
        return LMResponse(text, usage, response.model, finish_reason=response.stop_reason)

    def _usage(self, raw: Any) -> Usage:
        """Cache writes cost 1.25x and cache reads 0.1x the input price (Anthropic's rates)."""
        written = getattr(raw, "cache_creation_input_tokens", 0) or 0
        read = getattr(raw, "cache_read_input_tokens", 0) or 0
        usage = Usage(raw.input_tokens + written + read, raw.output_tokens, calls=1,
                      cached_input_tokens=read)  # fmt: skip
        pair = pricing.price(self.model)
        if pair is not None:
            billed_input = raw.input_tokens + 1.25 * written + 0.1 * read
            usage.cost_usd = (billed_input * pair[0] + raw.output_tokens * pair[1]) / 1_000_000
        return usage

    async def aclose(self) -> None:
        await self.client.close()


def _anthropic_message(message: Message) -> Message:
    """A message with image parts (OpenAI's ``image_url`` data URLs) in Anthropic's form."""
    content = message["content"]
    if isinstance(content, str):
        return message
    blocks = []
    for part in content:
        if part.get("type") == "image_url":
            header, _, data = part["image_url"]["url"].partition(",")
            media_type = header.removeprefix("data:").removesuffix(";base64")
            source = {"type": "base64", "media_type": media_type, "data": data}
            blocks.append({"type": "image", "source": source})
        else:
            blocks.append(part)
    return {**message, "content": blocks}
