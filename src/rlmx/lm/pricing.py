"""Prices of hosted models, from one data file (``pricing.json``), never guessed.

A model matches an entry exactly, or as that entry plus a date or ``-latest`` suffix
(``gpt-4o-2024-08-06``, ``claude-sonnet-4-20250514``); OpenRouter slugs are matched
without their vendor prefix (``openai/gpt-5`` -> ``gpt-5``). Anything else is unknown.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

_VERSION_SUFFIX = re.compile(r"^-(\d{4}-\d{2}-\d{2}|\d{8}|latest)$")


@functools.cache
def table() -> dict[str, tuple[float, float]]:
    """Model -> (USD per 1M input tokens, USD per 1M output tokens)."""
    data = json.loads(Path(__file__).with_name("pricing.json").read_text(encoding="utf-8"))
    return {k: (float(v[0]), float(v[1])) for k, v in data.items() if not k.startswith("_")}


def price(model: str) -> tuple[float, float] | None:
    """The price pair for a model id, or None when it is not in the table."""
    name = model.rsplit("/", 1)[-1].lower()
    prices = table()
    if name in prices:
        return prices[name]
    for key in sorted(prices, key=len, reverse=True):
        if name.startswith(key) and _VERSION_SUFFIX.match(name[len(key) :]):
            return prices[key]
    return None


def cost_usd(model: str, input_tokens: int, output_tokens: int) -> float | None:
    """USD for one call, or None when the model's price is unknown."""
    pair = price(model)
    if pair is None:
        return None
    return (input_tokens * pair[0] + output_tokens * pair[1]) / 1_000_000
