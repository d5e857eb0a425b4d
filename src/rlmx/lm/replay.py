"""``replay:<file.json>``: scripted replies for deterministic runs and tests.

The file holds either a JSON list of reply strings for the root model, or an object with
up to three scripts: ``root`` (the top-level RLM), ``child`` (roots of child RLMs made by
``rlm_query``) and ``sub`` (plain sub-calls). A script is a list consumed in call order,
or, for ``sub``, an object mapping a substring of the prompt to the reply (first match
wins, so concurrent sub-calls stay deterministic). An item ``{"error": "..."}`` makes that
call fail. Usage counts characters / 4 as tokens; replay calls cost nothing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from .base import CHARS_PER_TOKEN, LMBase, LMConfigError, LMError, LMResponse, Message, Usage

ROLES = ("root", "child", "sub")


def load_script(path: Path, role: str) -> list[Any] | dict[str, Any]:
    """Read the replies for one role from a replay file."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise LMConfigError(f"replay file not found: {path}") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise LMConfigError(f"replay file {path} is not valid JSON: {exc}") from None
    if isinstance(data, list):
        data = {"root": data}
    if not isinstance(data, dict) or not set(data) <= set(ROLES):
        raise LMConfigError(
            f"replay file {path} must be a list of replies or an object with keys {ROLES}"
        )
    script = data.get(role, [])
    if not isinstance(script, list | dict):
        raise LMConfigError(f"replay script {role!r} in {path} must be a list or an object")
    return script


class ReplayLM(LMBase):
    """An LM that answers from a script instead of a model."""

    def __init__(self, script: list[Any] | dict[str, Any], name: str) -> None:
        self.script = script
        self.name = name
        self.context_window: int | None = None
        self.position = 0
        self.prompts: list[list[Message]] = []
        self._lock = asyncio.Lock()

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> LMResponse:
        async with self._lock:
            self.prompts.append(list(messages))
            item = self._next(messages)
        if isinstance(item, dict) and "error" in item:
            raise LMError(str(item["error"]))
        if isinstance(item, dict) and "sleep" in item:
            await asyncio.sleep(float(item["sleep"]))
            item = item.get("reply", "")
        text = str(item)
        prompt_chars = sum(len(m.get("content", "")) for m in messages)
        usage = Usage(
            input_tokens=prompt_chars // CHARS_PER_TOKEN,
            output_tokens=len(text) // CHARS_PER_TOKEN,
            calls=1,
            cost_usd=0.0,
        )
        return LMResponse(text=text, usage=usage, model=self.name, finish_reason="stop")

    def _next(self, messages: list[Message]) -> Any:
        if isinstance(self.script, dict):
            prompt = messages[-1].get("content", "") if messages else ""
            for needle, reply in self.script.items():
                if needle in prompt:
                    return reply
            raise LMError(f"{self.name}: no scripted reply matches the prompt {prompt[:80]!r}")
        if self.position >= len(self.script):
            raise LMError(f"{self.name}: the replay script ran out after {self.position} replies")
        item = self.script[self.position]
        self.position += 1
        return item
