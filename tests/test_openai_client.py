"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from rlmx import RLM, LMError
from rlmx.lm.openai_compat import OpenAICompatLM
from rlmx.lm.specs import create_lm

from chat_server import ChatServer
from conftest import repl

MESSAGES = [{"role": "user", "content": "hello"}]


def client(server: ChatServer, **kwargs: object) -> OpenAICompatLM:
    return OpenAICompatLM("test-model", base_url=server.base_url, api_key="k", **kwargs)


async def test_chat_and_usage() -> None:
    with ChatServer([{"reply": "hi there"}]) as server:
        lm = client(server)
        response = await lm.complete(MESSAGES, max_tokens=5, stop=["\n"])
        await lm.aclose()
    assert response.text == "hi there"
    assert (response.usage.input_tokens, response.usage.output_tokens) == (11, 7)
    assert response.usage.cost_usd is None  # unknown price is None, never a guess
    sent = server.requests[0]
    assert sent["max_tokens"] == 5 and sent["stop"] == ["\n"] and sent["messages"] == MESSAGES


async def test_reported_cost_is_used() -> None:
    with ChatServer([{"reply": "x", "cost": 0.0123}]) as server:
        lm = client(server)
        response = await lm.complete(MESSAGES)
        await lm.aclose()
    assert response.usage.cost_usd == pytest.approx(0.0123)


async def test_429_with_retry_after_then_success() -> None:
    with ChatServer([{"status": 429, "retry_after": 1}, {"reply": "after wait"}]) as server:
        lm = client(server)
        started = time.monotonic()
        response = await lm.complete(MESSAGES)
        waited = time.monotonic() - started
        await lm.aclose()
    assert response.text == "after wait" and len(server.requests) == 2
    assert waited >= 0.9  # Retry-After was honoured (a lower bound, not a speed target)


async def test_500_then_success() -> None:
    with ChatServer([{"status": 500}, {"status": 503}, {"reply": "recovered"}]) as server:
        lm = client(server)
        response = await lm.complete(MESSAGES)
        await lm.aclose()
    assert response.text == "recovered" and len(server.requests) == 3


async def test_timeout_then_success() -> None:
    with ChatServer([{"sleep": 2.0, "reply": "slow"}, {"reply": "fast"}]) as server:
        lm = client(server, timeout=0.5)
        response = await lm.complete(MESSAGES)
        await lm.aclose()
    assert response.text == "fast" and len(server.requests) == 2


async def test_persistent_failure_is_a_clear_error() -> None:
    with ChatServer(default={"status": 500}) as server:
        lm = client(server, max_retries=1)
        with pytest.raises(LMError, match=r"HTTP 500: scripted 500"):
            await lm.complete(MESSAGES)
        await lm.aclose()
    assert len(server.requests) == 2


async def test_truncated_json_is_a_clear_error() -> None:
    with ChatServer(default={"truncated": True}) as server:
        lm = client(server, max_retries=0)
        with pytest.raises(LMError, match="test-model"):
            await lm.complete(MESSAGES)
        await lm.aclose()


async def test_unreachable_server(dead_url: str) -> None:
    lm = OpenAICompatLM("m", base_url=dead_url, api_key="k", max_retries=0)
    with pytest.raises(LMError, match=f"cannot reach {dead_url}"):
        await lm.complete(MESSAGES)
    await lm.aclose()


async def test_spec_with_base_url_builds_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_KEY", "from-env")
    lm = create_lm("vllm:Qwen/Qwen3-8B@http://127.0.0.1:1234/v1")
    assert isinstance(lm, OpenAICompatLM)
    assert lm.model == "Qwen/Qwen3-8B" and lm.client.api_key == "from-env"
    assert str(lm.client.base_url).startswith("http://127.0.0.1:1234/v1")
    await lm.aclose()


ROOT_SCRIPT = [
    {"reply": repl("parts = llm_query_batched([c for c in context.split('|')])\nprint(parts)")},
    {"reply": repl("FINAL(' + '.join(parts))")},
]


def test_full_rlm_run_over_http() -> None:
    with ChatServer(ROOT_SCRIPT, default={"echo": True}, script_model="root") as server:
        root, sub = f"local-test:root@{server.base_url}", f"local-test:sub@{server.base_url}"
        result = RLM(root, sub, concurrency=2).completion("a|b|c", "join the parts")
    assert (result.answer, result.status) == ("a + b + c", "final")
    usage = result.usage
    assert (usage.root.calls, usage.sub.calls) == (2, 3)
    assert usage.total.input_tokens == 5 * 11 and usage.total.output_tokens == 5 * 7
    assert (usage.by_model[root].calls, usage.by_model[sub].calls) == (2, 3)


def test_cli_ask_over_http(tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("x|y")
    with ChatServer(ROOT_SCRIPT, default={"echo": True}, script_model="root") as server:
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "rlmx.cli",
                "ask",
                str(doc),
                "-q",
                "join",
                "--json",
                "--root",
                f"t:root@{server.base_url}",
                "--sub",
                f"t:sub@{server.base_url}",
                "--trajectory",
                str(tmp_path / "t.jsonl"),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["answer"] == "x + y" and out["usage"]["total"]["calls"] == 4
    assert Path(out["trajectory"]).exists()


async def test_empty_content_is_a_clear_error() -> None:
    with ChatServer(default={"empty": True}) as server:
        lm = client(server)
        with pytest.raises(LMError, match="returned an empty reply"):
            await lm.complete(MESSAGES)
        await lm.aclose()


def test_known_prices_and_unknown_models() -> None:
    from rlmx.lm import pricing

    assert pricing.cost_usd("gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(0.75)
    assert pricing.price("openai/gpt-5") == pricing.price("gpt-5-2025-08-07")
    assert pricing.price("claude-sonnet-4-20250514") == (3.0, 15.0)
    assert pricing.price("gpt-4o-audio-preview") is None  # no guessing from a prefix
    assert pricing.price("my-finetune") is None


async def test_openai_spec_is_priced_from_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    with ChatServer([{"reply": "hi"}]) as server:
        monkeypatch.setenv("OPENAI_API_KEY", "k")
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        lm = create_lm("openai:gpt-4o-mini")
        response = await lm.complete(MESSAGES)
        await lm.aclose()
    assert response.usage.cost_usd == pytest.approx((11 * 0.15 + 7 * 0.60) / 1e6)


@pytest.mark.filterwarnings("ignore:The model .* is deprecated")
async def test_anthropic_backend_maps_text_usage_and_cost() -> None:
    from rlmx.lm.anthropic import AnthropicLM

    script = [{"reply": "the answer", "thinking": "secret chain of thought"}, {"status": 529}]
    with ChatServer(script, default={"reply": "after overload"}) as server:
        lm = AnthropicLM("claude-sonnet-4-5", api_key="k", base_url=server.base_url[:-3])
        messages = [{"role": "system", "content": "be brief"}, *MESSAGES]
        first = await lm.complete(messages, max_tokens=50, stop=["\n\n"])
        second = await lm.complete(MESSAGES)  # 529 overloaded, retried
        await lm.aclose()
    assert first.text == "the answer" and "secret" not in first.text
    assert first.usage.input_tokens == 11_100 and first.usage.output_tokens == 20
    billed = 100 + 1.25 * 1000 + 0.1 * 10000
    assert first.usage.cost_usd == pytest.approx((billed * 3 + 20 * 15) / 1e6)
    sent = server.requests[0]
    assert sent["system"] == "be brief" and sent["messages"] == MESSAGES
    assert sent["max_tokens"] == 50 and sent["stop_sequences"] == ["\n\n"]
    assert second.text == "after overload" and len(server.requests) == 3
