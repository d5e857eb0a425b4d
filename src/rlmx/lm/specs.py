"""Model specs: one string names a backend and a model.

``local:<name>[?options]`` (embedded llama.cpp), ``openai:<model>``,
``openrouter:<model>``, ``anthropic:<model>``, ``<provider>:<model>@<base_url>`` (any
OpenAI-compatible server: vLLM, SGLang, llama.cpp, Ollama; the provider name
``llamacpp`` also sends GBNF grammars) and ``replay:<file.json>``.
API keys come from the environment (``OPENAI_API_KEY``, ``OPENROUTER_API_KEY``,
``<PROVIDER>_API_KEY``) or from the caller, never from anywhere else, and go only where
``key_destination`` allows: a hosted provider's key only to that provider's own URL (or
``<PROVIDER>_BASE_URL``), another provider's key only to the base URL in its spec. Specs
come from the operator only; model code and clients pick among them (``choice.py``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .base import LM, LMConfigError
from .openai_compat import OpenAICompatLM
from .replay import ReplayLM, load_script

OPENROUTER_URL = "https://openrouter.ai/api/v1"
HOSTED = {  # provider -> the environment variable holding its API key
    "openai": "OPENAI_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
}
HOSTED_URLS = {  # the only base URLs a hosted provider's key is sent to (besides $X_BASE_URL)
    "openai": "https://api.openai.com/v1",
    "openrouter": OPENROUTER_URL,
    "anthropic": "https://api.anthropic.com",
}
DEFAULT_SPEC = "local:qwen2.5-coder-1.5b"
GRAMMAR_PROVIDERS = {"llamacpp", "llama.cpp", "llama-cpp"}
SPEC_HELP = (
    "use local:<name>, openai:<model>, openrouter:<model>, anthropic:<model>, "
    "<provider>:<model>@<base_url> or replay:<file.json>"
)


def default_root_spec() -> str:
    """The root model when none is given: ``$RLMX_ROOT``, else the embedded default."""
    return os.environ.get("RLMX_ROOT") or DEFAULT_SPEC


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
    if parsed.provider == "local":
        from .local import LocalLM, parse_local_model

        model, options = parse_local_model(parsed.model)
        return LocalLM(model, name=spec, role=role, **options)
    if parsed.provider == "anthropic" and parsed.base_url is None:
        from .anthropic import AnthropicLM

        return AnthropicLM(parsed.model, name=spec, api_key=key)
    default_url = OPENROUTER_URL if parsed.provider == "openrouter" else None
    base_url = parsed.base_url or default_url
    return OpenAICompatLM(
        parsed.model,
        name=spec,
        base_url=base_url,
        api_key=key,
        supports_grammar=parsed.provider in GRAMMAR_PROVIDERS,
        price_model=parsed.model if parsed.base_url is None else None,
    )


def validate_spec(spec: str, api_key: str | None = None) -> None:
    """Raise LMConfigError now for a spec that could never work (no client is built)."""
    parsed, _ = _resolve(spec, api_key)
    if parsed.provider == "replay":
        load_script(Path(parsed.model), "root")
    if parsed.provider == "local":
        from .local import check_local_spec

        check_local_spec(parsed.model)


def _resolve(spec: str, api_key: str | None) -> tuple[ModelSpec, str | None]:
    """Parse a spec and find its API key, or say clearly why it cannot be used."""
    parsed = parse_spec(spec)
    if parsed.provider in ("replay", "local"):
        return parsed, None
    if parsed.base_url is not None:
        env_key = None
        if key_destination(parsed.provider, parsed.base_url):
            env_key = os.environ.get(f"{parsed.provider.upper()}_API_KEY")
        return parsed, api_key or env_key or "not-needed"
    if parsed.provider not in HOSTED:
        raise LMConfigError(f"unknown model provider {parsed.provider!r} in {spec!r}: {SPEC_HELP}")
    env = HOSTED[parsed.provider]
    key = api_key or os.environ.get(env)
    if not key:
        raise LMConfigError(f"{env} is not set; it is needed for {spec!r}")
    return parsed, key


def key_destination(provider: str, base_url: str) -> bool:
    """Whether ``<PROVIDER>_API_KEY`` may be sent to ``base_url``.

    A hosted provider's key goes only to its own API or to ``<PROVIDER>_BASE_URL`` (both
    the operator's); ``openai:m@http://elsewhere`` gets no key. Any other provider name's
    key goes to the base URL written in its spec, which only the operator can write.
    """
    if provider not in HOSTED:
        return True
    own = {HOSTED_URLS[provider], os.environ.get(f"{provider.upper()}_BASE_URL") or ""}
    return base_url.rstrip("/") in {url.rstrip("/") for url in own if url}
