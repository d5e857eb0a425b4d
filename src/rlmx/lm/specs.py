"""Model specs: one string names a backend and a model.

``openai:<model>``, ``openrouter:<model>``, ``<provider>:<model>@<base_url>`` (any
OpenAI-compatible server: vLLM, SGLang, llama.cpp, Ollama) and ``replay:<file.json>``.
API keys come from the environment (``OPENAI_API_KEY``, ``OPENROUTER_API_KEY``,
``<PROVIDER>_API_KEY``) or from the caller, never from anywhere else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .base import LM, LMConfigError
from .openai_compat import OpenAICompatLM
from .replay import ReplayLM, load_script

OPENROUTER_URL = "https://openrouter.ai/api/v1"
HOSTED = {"openai": "OPENAI_API_KEY", "openrouter": "OPENROUTER_API_KEY"}
PLANNED = {
    "anthropic": "the Anthropic backend",
    "local": "the embedded llama.cpp backend",
}
SPEC_HELP = (
    "use openai:<model>, openrouter:<model>, <provider>:<model>@<base_url> or replay:<file.json>"
)


@dataclass(frozen=True)
class ModelSpec:
    """A parsed model spec."""

    provider: str
    model: str
    base_url: str | None = None

    @property
    def text(self) -> str:
        return f"{self.provider}:{self.model}" + (f"@{self.base_url}" if self.base_url else "")


def parse_spec(spec: str) -> ModelSpec:
    """Split a spec string, rejecting malformed ones with a message that shows the forms."""
    provider, sep, rest = spec.strip().partition(":")
    if not sep or not provider or not rest:
        raise LMConfigError(f"invalid model spec {spec!r}: {SPEC_HELP}")
    provider = provider.lower()
    base_url = None
    if provider != "replay" and "@" in rest:
        rest, _, base_url = rest.rpartition("@")
        if not base_url.startswith(("http://", "https://")):
            raise LMConfigError(
                f"invalid base URL {base_url!r} in {spec!r}: it must start with http"
            )
    return ModelSpec(provider, rest, base_url)


def create_lm(spec: str, role: str = "root", api_key: str | None = None) -> LM:
    """Build the LM client a spec names. ``role`` picks the script of a replay file."""
    parsed, key = _resolve(spec, api_key)
    if parsed.provider == "replay":
        return ReplayLM(load_script(Path(parsed.model), role), name=f"{spec}#{role}")
    base_url = OPENROUTER_URL if parsed.provider == "openrouter" else parsed.base_url
    return OpenAICompatLM(parsed.model, name=spec, base_url=base_url, api_key=key)


def validate_spec(spec: str, api_key: str | None = None) -> None:
    """Raise LMConfigError now for a spec that could never work (no client is built)."""
    parsed, _ = _resolve(spec, api_key)
    if parsed.provider == "replay":
        load_script(Path(parsed.model), "root")


def _resolve(spec: str, api_key: str | None) -> tuple[ModelSpec, str | None]:
    """Parse a spec and find its API key, or say clearly why it cannot be used."""
    parsed = parse_spec(spec)
    if parsed.provider == "replay":
        return parsed, None
    if parsed.provider in PLANNED and parsed.base_url is None:
        raise LMConfigError(
            f"model spec {spec!r} needs {PLANNED[parsed.provider]}, which this version lacks; "
            f"{SPEC_HELP}"
        )
    if parsed.base_url is not None:
        env_key = os.environ.get(f"{parsed.provider.upper()}_API_KEY")
        return parsed, api_key or env_key or "not-needed"
    if parsed.provider not in HOSTED:
        raise LMConfigError(f"unknown model provider {parsed.provider!r} in {spec!r}: {SPEC_HELP}")
    env = HOSTED[parsed.provider]
    key = api_key or os.environ.get(env)
    if not key:
        raise LMConfigError(f"{env} is not set; it is needed for {spec!r}")
    return parsed, key
