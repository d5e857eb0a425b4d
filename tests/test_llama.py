"""Real llama.cpp: the embedded backend in-process, and `llama_cpp.server` on 127.0.0.1.

Both use SmolLM2-135M (`make test` pulls it): it cannot follow the RLM protocol, so these
tests check plumbing (chat, streaming, usage, grammar, windows, errors), not answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rlmx import RLM
from rlmx.core.policy import choose_policy
from rlmx.core.prompts import FINAL_GRAMMAR, REPLY_GRAMMAR
from rlmx.core.protocol import parse_reply
from rlmx.lm.base import ContextOverflowError, LMConfigError
from rlmx.lm.local import LocalLM
from rlmx.lm.openai_compat import OpenAICompatLM
from rlmx.lm.specs import create_lm

from conftest import SMOL

HELLO = [{"role": "user", "content": "Say hello."}]
GRAMMAR_REPLY = re.compile(r"^([^`\n]+\n)?(```repl\n([^`\n]*\n)+```|FINAL\(.+\)|FINAL_VAR\(\w+\))$")


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
    assert choose_policy(rlm.config.policy, LocalLM(SMOL)).name == "compact"  # it prefers compact
    result = rlm.completion("The code is 4417.", "What is the code?")
    assert result.status in ("final", "max_iterations") and result.usage.root.calls >= 2
    assert result.usage.by_model[f"local:{SMOL}?max_tokens=96"].input_tokens > 0


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


def test_a_roots_evaluated_prompt_survives_the_sub_calls_between_its_turns() -> None:
    """One context lent to each role in turn: the root's second turn evaluates only what
    is new, and says exactly what a fresh evaluation of the whole prompt says."""
    root = LocalLM(SMOL, role="slots-root", n_ctx=2048, max_tokens=24)  # roles of its own:
    sub = LocalLM(SMOL, role="slots-sub", n_ctx=2048, max_tokens=24)  # nothing kept before
    turns = [{"role": "system", "content": "You are terse. " * 40},
             {"role": "user", "content": "Name three colours."}]  # fmt: skip
    first = asyncio.run(root.complete(turns))
    assert first.usage.cached_input_tokens == 0
    between = asyncio.run(sub.complete([{"role": "user", "content": "Count to five."}]))
    assert between.usage.cached_input_tokens == 0  # none of the root's tokens look like its own
    turns += [{"role": "assistant", "content": first.text},
              {"role": "user", "content": "Now three fruits."}]  # fmt: skip
    second = asyncio.run(root.complete(turns))
    assert second.usage.cached_input_tokens >= first.usage.input_tokens - 1
    fresh = LocalLM(SMOL, role="fresh", n_ctx=2048, max_tokens=24)  # the whole prompt again
    again = asyncio.run(fresh.complete(turns))
    assert again.usage.cached_input_tokens == 0 and again.text == second.text
    assert asyncio.run(sub.complete([{"role": "user", "content": "Count to five."}])).text == (
        between.text  # the sub's own state came back too
    )


def test_threads_follow_the_idle_cores() -> None:
    from rlmx.lm.local import idle_cores, usable_cores

    assert 1 <= idle_cores() <= usable_cores()
    busy = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
            for _ in range(usable_cores())]  # fmt: skip
    try:
        assert idle_cores(0.3) <= max(1, usable_cores() - 1)
    finally:
        for process in busy:
            process.kill()
            process.wait()


FIRST_CALL = """
import asyncio, json, sys
from rlmx.lm.local import LocalLM
lm = LocalLM(sys.argv[2], role="root", n_ctx=2048, max_tokens=8)  # the GGUF file
system = "You answer questions about logs. Rules: be exact; count carefully. " * 45
reply = asyncio.run(lm.complete([{"role": "system", "content": system},
                                 {"role": "user", "content": sys.argv[1]}]))
print(json.dumps({"prompt": reply.usage.input_tokens, "cached": reply.usage.cached_input_tokens}))
"""


def test_a_roots_first_prompt_is_kept_on_disk_for_the_next_process(
    tmp_path: Path, smol_path: Path
) -> None:
    env = {**os.environ, "RLMX_CACHE_DIR": str(tmp_path)}

    def first_call(question: str) -> dict[str, int]:
        command = [sys.executable, "-c", FIRST_CALL, question, str(smol_path)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        return json.loads(done.stdout.strip().splitlines()[-1])

    cold = first_call("How many ERROR lines?")
    assert cold["prompt"] >= 512 and cold["cached"] == 0
    assert list(tmp_path.glob("prompt-states/*/root.state"))
    warm = first_call("Which host logged the most warnings?")  # another process
    assert warm["cached"] >= cold["prompt"] - 20  # all but the question
    (state,) = tmp_path.glob("prompt-states/*/root.state")
    state.write_bytes(b"garbage")  # a damaged file is evaluated around, never trusted
    assert first_call("How many ERROR lines?")["cached"] == 0


def test_a_cancelled_call_stops_llama_cpp_mid_prompt() -> None:
    """Ctrl-C (or a cancelled run) cancels the awaiting task; the decode thread cannot be
    killed, so llama.cpp's abort callback ends the prompt's evaluation part way."""
    lm = LocalLM(SMOL, role="cancelled", n_ctx=8192, threads=1, threads_batch=1)
    model = lm._model()  # loaded first: the call below goes straight to evaluating
    prompt = [{"role": "user", "content": "river stone " * 3500}]

    async def cancel_midway() -> None:
        call = asyncio.create_task(lm.complete(prompt, max_tokens=4))
        await asyncio.sleep(0.5)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call

    asyncio.run(cancel_midway())  # returns once the decode thread has ended
    assert model.llama.n_tokens < 7000 and model.cancelled is None  # stopped part way
    assert asyncio.run(lm.complete(HELLO, max_tokens=8)).text  # the model goes on
