"""The LM call cache: a repeated identical call is answered from disk at no cost, marked as
such in usage and events; sampling models and errors are not cached."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from rlmx import RLM
from rlmx.core.budget import Budget, Ledger
from rlmx.core.gateway import Gateway
from rlmx.lm import registry
from rlmx.lm.base import LMBase, LMResponse, Message, Usage
from rlmx.lm.cache import FILE_NAME, CallCache
from rlmx.lm.local import LocalLM

from conftest import repl

ROOT = [repl("v = llm_query('name a colour')\nFINAL(v.upper())")]
SUB = {"name a colour": "teal"}


def events_of(trajectory: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in trajectory.read_text().splitlines()]


def test_a_rerun_is_answered_from_the_cache_at_no_cost(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"root": ROOT, "sub": SUB}))
    spec = f"replay:{script}"
    first = RLM(spec, cache=tmp_path / "cache").completion("ctx", "q")
    assert first.answer == "TEAL" and first.usage.total.cached_calls == 0
    # the model would now fail every call: only the cache can answer
    script.write_text(json.dumps({"root": [{"error": "gone"}], "sub": {"": {"error": "gone"}}}))
    assert RLM(spec).completion("ctx", "q").status == "error"
    trajectory = tmp_path / "run.jsonl"
    again = RLM(spec, cache=tmp_path / "cache", trajectory=trajectory).completion("ctx", "q")
    assert again.answer == "TEAL"
    total = again.usage.total
    assert (total.calls, total.cached_calls, total.total_tokens, total.cost_usd) == (2, 2, 0, 0.0)
    marked = [e["cached"] for e in events_of(trajectory) if e["type"] in ("llm_call", "sub_call")]
    assert marked == [True, True]
    # another question is another call
    changed = RLM(spec, cache=tmp_path / "cache").completion("ctx", "another q")
    assert changed.status == "error"


class Sampling(LMBase):
    """A model that samples: every call is counted."""

    def __init__(self, temperature: float) -> None:
        self.name = "sampling"
        self.temperature = temperature
        self.calls = 0

    async def complete(self, messages: list[Message], **options: Any) -> LMResponse:
        self.calls += 1
        return LMResponse(f"reply {self.calls}", Usage(1, 1, 1, 0.0), self.name)


async def test_sampling_models_are_cached_only_when_asked(tmp_path: Path) -> None:
    hello: list[Message] = [{"role": "user", "content": "hi"}]
    for sampled, replies in ((False, ["reply 1", "reply 2"]), (True, ["reply 1", "reply 1"])):
        gateway = Gateway(Ledger(Budget()), 1, CallCache(tmp_path / str(sampled), sampled))
        lm = gateway.lm(Sampling(0.8), "sub")
        got = [(await gateway.call(lm, hello)).text for _ in range(2)]
        assert got == replies


class Failing(LMBase):
    name = "failing"

    def __init__(self) -> None:
        self.calls = 0

    async def complete(self, messages: list[Message], **options: Any) -> LMResponse:
        from rlmx.lm.base import LMError

        self.calls += 1
        raise LMError("overloaded")


async def test_errors_are_never_cached(tmp_path: Path) -> None:
    failing = Failing()
    gateway = Gateway(Ledger(Budget()), 1, CallCache(tmp_path))
    lm = gateway.lm(failing, "sub")
    for _ in range(2):
        try:
            await gateway.call(lm, [{"role": "user", "content": "hi"}])
        except Exception as exc:
            assert "overloaded" in str(exc)
    assert failing.calls == 2


async def test_the_embedded_model_through_the_cache(tmp_path: Path) -> None:
    registry.ensure("smollm2-135m")
    gateway = Gateway(Ledger(Budget()), 1, CallCache(tmp_path))
    lm = gateway.lm(LocalLM("smollm2-135m", max_tokens=12), "sub")
    hello: list[Message] = [{"role": "user", "content": "Say hello."}]
    first = await gateway.call(lm, hello)
    second = await gateway.call(lm, hello)
    other = await gateway.call(lm, hello, max_tokens=4)  # another reply cap: another call
    assert first.usage.output_tokens > 0 and not first.cached
    assert (second.text, second.cached, second.usage.total_tokens) == (first.text, True, 0)
    assert not other.cached


def test_old_entries_go_past_the_size_cap(tmp_path: Path) -> None:
    cache = CallCache(tmp_path, max_mb=0)  # every write prunes
    response = LMResponse("x" * 1000, Usage(), "m")
    for index in range(8):
        cache.put(f"k{index}", response)
    import sqlite3

    with sqlite3.connect(tmp_path / FILE_NAME) as db:
        (count,) = db.execute("SELECT COUNT(*) FROM calls").fetchone()
    assert count < 8 and cache.get("k7") is not None and cache.get("k0") is None


def test_eval_run_with_the_cache_costs_nothing_the_second_time(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps([repl("FINAL(context.split('is ')[-1][:8])")] * 2))
    rows = []
    for attempt in ("first", "second"):
        out = tmp_path / f"{attempt}.jsonl"
        proc = subprocess.run(
            [sys.executable, "-m", "rlmx.cli", "eval", "run", "--task", "sniah", "--method",
             "rlm", "--method", "base", "--lengths", "512", "--n", "1", "--out", str(out), "--root",
             f"replay:{script}", "--cache", str(tmp_path / "cache")],
            capture_output=True, text=True, timeout=180,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr
        rows.append({row["method"]: row for row in map(json.loads, out.read_text().splitlines())})
    for method in ("rlm", "base"):  # the REPL method and a baseline that calls the model
        first, second = rows[0][method]["usage"], rows[1][method]["usage"]
        assert first["total_tokens"] > 0 and first["cached_calls"] == 0
        assert (second["total_tokens"], second["cached_calls"]) == (0, first["calls"])
        assert rows[1][method]["answer"] == rows[0][method]["answer"]
