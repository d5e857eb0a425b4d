"""Real llama.cpp: the embedded backend in-process, and `llama_cpp.server` on 127.0.0.1.

Both use SmolLM2-135M (`make test` pulls it): it cannot follow the RLM protocol, so these
tests check plumbing (chat, streaming, usage, grammar, windows, errors), not answers.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rlmx import RLM
from rlmx.lm import registry
from rlmx.lm.base import ContextOverflowError, LMConfigError
from rlmx.lm.local import LocalLM
from rlmx.lm.openai_compat import OpenAICompatLM
from rlmx.lm.specs import create_lm
from rlmx.policy import choose_policy
from rlmx.prompts import FINAL_GRAMMAR, REPLY_GRAMMAR
from rlmx.protocol import parse_reply

from conftest import announced_url

SMOL = "smollm2-135m"
HELLO = [{"role": "user", "content": "Say hello."}]
GRAMMAR_REPLY = re.compile(r"^([^`\n]+\n)?(```repl\n([^`\n]*\n)+```|FINAL\(.+\)|FINAL_VAR\(\w+\))$")


@pytest.fixture(scope="module")
def smol_path() -> Path:
    return registry.ensure(SMOL)


async def test_local_chat_usage_and_tokens(smol_path: Path) -> None:
    lm = LocalLM(SMOL, max_tokens=16)
    response = await lm.complete(HELLO)
    assert response.text and response.usage.input_tokens > 0
    assert 0 < response.usage.output_tokens <= 16 and response.usage.cost_usd == 0.0
    assert lm.count_tokens(HELLO) > 0 and lm.context_window == 8192


async def test_local_grammar_forces_protocol_shape(smol_path: Path) -> None:
    lm = LocalLM(SMOL, max_tokens=120)
    messages = [{"role": "user", "content": "Write Python that prints the length of `context`."}]
    response = await lm.complete(messages, grammar=REPLY_GRAMMAR)
    assert GRAMMAR_REPLY.match(response.text), response.text
    parsed = parse_reply(response.text)
    assert parsed.code_cells or parsed.final
    answer = await lm.complete(messages, grammar=FINAL_GRAMMAR)
    assert parse_reply(answer.text).final is not None and "```" not in answer.text, answer.text


async def test_local_models_sharing_weights_decode_one_at_a_time(smol_path: Path) -> None:
    # Root and sub-model (or two RLMs of a server) with the same spec share one loaded
    # llama.cpp context; decoding it from two threads at once crashed the process.
    root, sub = LocalLM(SMOL, max_tokens=12), LocalLM(SMOL, max_tokens=12)
    prompts = [[{"role": "user", "content": f"Count to {n}."}] for n in range(2, 6)]
    alone = [(await root.complete(p)).text for p in prompts]
    together = await asyncio.gather(*(lm.complete(p) for p in prompts for lm in (root, sub)))
    assert [r.text for r in together] == [text for text in alone for _ in (root, sub)]


async def test_local_context_overflow(smol_path: Path) -> None:
    lm = create_lm(f"local:{SMOL}?n_ctx=512")
    with pytest.raises(ContextOverflowError):
        await lm.complete([{"role": "user", "content": "word " * 2000}])


def test_local_bad_specs(tmp_path: Path) -> None:
    with pytest.raises(LMConfigError, match="unknown option 'speed'"):
        RLM(f"local:{SMOL}?speed=9")
    with pytest.raises(LMConfigError, match="unknown embedded model 'nope'"):
        RLM("local:nope")
    with pytest.raises(LMConfigError, match="GGUF file not found"):
        RLM(f"local:{tmp_path}/missing.gguf")
    corrupt = tmp_path / "corrupt.gguf"
    corrupt.write_bytes(b"GGUF" + b"\0" * 4096)
    with pytest.raises(LMConfigError, match="cannot load GGUF model"):
        LocalLM(str(corrupt))._llama()


def test_rlm_runs_on_embedded_model(smol_path: Path) -> None:
    rlm = RLM(f"local:{SMOL}?max_tokens=96", max_iterations=2)
    assert choose_policy(rlm.policy, LocalLM(SMOL)).name == "compact"  # it prefers compact
    result = rlm.completion("The code is 4417.", "What is the code?")
    assert result.status in ("final", "max_iterations") and result.usage.root.calls >= 2
    assert result.usage.by_model[f"local:{SMOL}?max_tokens=96"].input_tokens > 0


@pytest.fixture(scope="module")
def llama_server(smol_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m llama_cpp.server` with SmolLM2 on a loopback port it picks (port 0)."""
    cmd = [
        sys.executable, "-m", "llama_cpp.server", "--model", str(smol_path),
        "--model_alias", "smol", "--host", "127.0.0.1", "--port", "0",
        "--n_ctx", "4096", "--n_threads", "1", "--n_threads_batch", "1",
    ]  # fmt: skip
    log = tmp_path_factory.mktemp("llama") / "server.log"
    # A file, not a pipe: the model-loading log would fill a pipe and stall the server.
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=log.open("wb"))
    try:
        try:
            origin = announced_url(proc, log, r"Uvicorn running on (http://127\.0\.0\.1:\d+)", 120)
        except RuntimeError as exc:
            pytest.fail(f"llama_cpp.server: {exc}")
        base_url = f"{origin}/v1"
        assert httpx.get(f"{base_url}/models", timeout=10).status_code == 200
        yield base_url
    finally:
        proc.terminate()
        proc.wait(10)


async def test_server_chat_and_usage(llama_server: str) -> None:
    lm = OpenAICompatLM("smol", base_url=llama_server, api_key="x")
    response = await lm.complete(HELLO, max_tokens=12)
    await lm.aclose()
    assert response.text and response.usage.input_tokens > 0 and response.usage.output_tokens > 0
    assert response.usage.cost_usd is None  # a self-hosted server has no price


async def test_server_streaming_matches_plain(llama_server: str) -> None:
    plain = OpenAICompatLM("smol", base_url=llama_server, api_key="x", temperature=0)
    streamed = OpenAICompatLM("smol", base_url=llama_server, api_key="x", temperature=0,
                              stream=True)  # fmt: skip
    a = await plain.complete(HELLO, max_tokens=12)
    b = await streamed.complete(HELLO, max_tokens=12)
    await plain.aclose()
    await streamed.aclose()
    assert a.text == b.text
    assert b.usage.output_tokens == a.usage.output_tokens


async def test_server_grammar_path(llama_server: str) -> None:
    lm = create_lm(f"llamacpp:smol@{llama_server}")
    assert lm.supports_grammar
    messages = [{"role": "user", "content": "Print the first 10 characters of `context`."}]
    response = await lm.complete(messages, max_tokens=120, grammar=REPLY_GRAMMAR)
    await lm.aclose()
    assert GRAMMAR_REPLY.match(response.text), response.text


def test_cli_ask_through_llama_server(llama_server: str, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("The code is 4417.\n" * 20)
    proc = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "ask", str(doc), "-q", "What is the code?",
         "--root", f"llamacpp:smol@{llama_server}", "--max-iterations", "2", "--json"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["status"] in ("final", "max_iterations")
    assert out["usage"]["root"]["calls"] >= 2 and out["usage"]["total"]["input_tokens"] > 0
