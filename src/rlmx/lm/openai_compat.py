"""Any OpenAI-compatible chat-completions server, on the official ``openai`` SDK.

Retries with exponential backoff on 429, 5xx, connection errors and timeouts are the
SDK's own (it honours ``Retry-After``); this module maps what is left into clear LMErrors
and reads usage (and OpenRouter's reported ``usage.cost``) from each response.
"""

from __future__ import annotations

import logging
from types import SimpleNamespace
from typing import Any

import openai

from . import pricing
from .base import LMBase, LMError, LMResponse, Message, Usage, estimate_tokens
from .errors import translate

log = logging.getLogger("rlmx.lm")


class OpenAICompatLM(LMBase):
    """A chat model behind an OpenAI-compatible HTTP API."""

    def __init__(
        self,
        model: str,
        *,
        name: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        context_window: int | None = None,
        timeout: float = 600.0,
        max_retries: int = 4,
        temperature: float | None = None,
        extra_body: dict[str, Any] | None = None,
        supports_grammar: bool = False,
        price_model: str | None = None,
        stream: bool = False,
    ) -> None:
        self.model = model
        self.name = name or model
        self.base_url = base_url
        self.context_window = context_window
        self.temperature = temperature
        self.extra_body = extra_body or {}
        self.supports_grammar = supports_grammar  # llama.cpp servers take a GBNF grammar
        self.supports_images = True  # image_url parts; a text-only model's API says no
        self.price_model = price_model  # key into the pricing table; None: self-hosted
        self.stream = stream  # stream tokens (long generations survive idle-timeout proxies)
        self._warned_estimate = False
        self.client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=max_retries
        )

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> LMResponse:
        kwargs: dict[str, Any] = {"model": self.model, "messages": messages}
        extra_body = dict(self.extra_body)
        if grammar and self.supports_grammar:
            extra_body["grammar"] = grammar
        if max_tokens is not None:
            kwargs["max_tokens"] = max_tokens
        if stop:
            kwargs["stop"] = stop
        if self.temperature is not None:
            kwargs["temperature"] = self.temperature
        if extra_body:
            kwargs["extra_body"] = extra_body
        try:
            if self.stream:
                response = await self._streamed(kwargs)
            else:
                response = await self.client.chat.completions.create(**kwargs)
        except openai.OpenAIError as exc:
            raise translate(exc, openai, self.name, self.base_url or "the OpenAI API") from None
        except ValueError as exc:  # undecodable body the SDK could not turn into an error
            raise LMError(f"{self.name}: malformed response: {exc}") from None
        return self._to_response(response)

    async def _streamed(self, kwargs: dict[str, Any]) -> Any:
        """Collect a streamed completion into the shape of a non-streamed one."""
        kwargs = {**kwargs, "stream": True, "stream_options": {"include_usage": True}}
        parts: list[str] = []
        finish_reason, usage, model = None, None, self.model
        stream = await self.client.chat.completions.create(**kwargs)
        async for chunk in stream:
            model = chunk.model or model
            usage = chunk.usage or usage
            for choice in chunk.choices:
                if choice.delta.content:
                    parts.append(choice.delta.content)
                finish_reason = choice.finish_reason or finish_reason
        if usage is None:  # e.g. llama_cpp.server ignores stream_options.include_usage
            usage = self._estimated_usage(kwargs["messages"], len(parts))
        message = SimpleNamespace(content="".join(parts))
        choice = SimpleNamespace(message=message, finish_reason=finish_reason)
        return SimpleNamespace(choices=[choice], usage=usage, model=model)

    def _estimated_usage(self, messages: list[Message], chunks: int) -> Any:
        """Usage when a stream reports none: one token per chunk out, chars / 4 in."""
        if not self._warned_estimate:
            self._warned_estimate = True
            log.warning("%s: the server sent no usage with the stream; tokens are estimated",
                        self.name)  # fmt: skip
        return SimpleNamespace(prompt_tokens=estimate_tokens(messages), completion_tokens=chunks)

    def _to_response(self, response: Any) -> LMResponse:
        if not getattr(response, "choices", None):
            raise LMError(f"{self.name}: response has no choices")
        choice = response.choices[0]
        text = choice.message.content or "" if choice.message is not None else ""
        usage = Usage(calls=1)
        if response.usage is not None:
            usage.input_tokens = response.usage.prompt_tokens or 0
            usage.output_tokens = response.usage.completion_tokens or 0
            details = getattr(response.usage, "prompt_tokens_details", None)
            usage.cached_input_tokens = getattr(details, "cached_tokens", None) or 0
            reported = getattr(response.usage, "cost", None)  # OpenRouter reports USD here
            if isinstance(reported, int | float):
                usage.cost_usd = float(reported)
            elif self.price_model is not None:
                usage.cost_usd = pricing.cost_usd(
                    self.price_model, usage.input_tokens, usage.output_tokens
                )
        if not text:
            raise LMError(f"{self.name}: the model returned an empty reply")
        return LMResponse(
            text=text,
            usage=usage,
            model=getattr(response, "model", None) or self.model,
            finish_reason=choice.finish_reason,
        )

    async def aclose(self) -> None:
        await self.client.close()
