"""The OpenAI-compatible endpoint driven by the real ``openai`` client (loopback)."""

from __future__ import annotations

from pathlib import Path

import httpx
import openai
import pytest

from rlmx import RunConfig
from rlmx.server.app import ServerSettings, serve_in_thread

from conftest import repl


@pytest.fixture
def served(tmp_path: Path, replay):
    spec = replay(
        {
            "root": [
                repl("x = llm_query('shout ' + str(context)[-20:])\nprint(x)"),
                repl("FINAL(x)"),
            ],
            "sub": {"shout": "HELLO THERE"},
        }
    )
    settings = ServerSettings(data_dir=tmp_path / "data", run=RunConfig.build(root=spec))
    with serve_in_thread(settings) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        yield client, url
        client.close()


def test_models_and_a_plain_completion(served) -> None:
    client, url = served
    assert [m.id for m in client.models.list()][:1] == ["rlmx"]
    completion = client.chat.completions.create(
        model="rlmx",
        messages=[
            {"role": "user", "content": "a long document ending in hello there"},
            {"role": "user", "content": "What does it end with?"},
        ],
    )
    assert completion.choices[0].message.content == "HELLO THERE"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage.total_tokens > 0
    run_id = completion.id.removeprefix("chatcmpl-")
    run = httpx.get(f"{url}/runs/{run_id}").json()
    assert run["source"] == "openai" and run["query"] == "What does it end with?"
    assert run["events"][0]["context"]["type"] == "str"  # one earlier message: its text


def test_streaming_with_progress_and_usage(served) -> None:
    client, _ = served
    chunks = list(
        client.chat.completions.create(
            model="rlmx",
            messages=[{"role": "user", "content": "q?"}],
            stream=True,
            stream_options={"include_usage": True},
            extra_body={"context": "some text", "progress": True},
        )
    )
    reasoning = "".join(
        getattr(c.choices[0].delta, "reasoning_content", None) or "" for c in chunks if c.choices
    )
    content = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "iteration 1" in reasoning and "sub-call" in reasoning
    assert content == "HELLO THERE"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_chat_history_becomes_the_context(served) -> None:
    client, url = served
    completion = client.chat.completions.create(
        model="rlmx",
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": [{"type": "text", "text": "hello there"}]},
            {"role": "user", "content": "q?"},
        ],
        extra_body={"max_iterations": 3},
    )
    run = httpx.get(f"{url}/runs/{completion.id.removeprefix('chatcmpl-')}").json()
    assert run["events"][0]["context"]["item_count"] == 2
    assert run["settings"]["max_iterations"] == 3


def test_bad_requests_are_openai_errors(served) -> None:
    client, _ = served
    with pytest.raises(openai.NotFoundError, match="not allowed") as caught:
        client.chat.completions.create(
            model="nosuch:model", messages=[{"role": "user", "content": "q"}]
        )
    assert caught.value.code == "model_not_found"
    with pytest.raises(openai.BadRequestError, match="last message"):
        client.chat.completions.create(
            model="rlmx", messages=[{"role": "assistant", "content": "q"}]
        )
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="rlmx", messages=[])
