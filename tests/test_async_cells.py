"""Async cells: top-level ``await``, the ``_async`` helpers and ``rlm_query_batched``.

Concurrency is proved inside the cell: the host delays each sub-call, and the cell measures
how long awaiting many of them together takes compared to the delay times their number
(a ratio, not a wall-clock threshold).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rlmx import RLM, Limits
from rlmx.core.host_functions import CORE
from rlmx.repl.context import prepare_context
from rlmx.repl.sandbox import Sandbox

from conftest import ISOLATED_MODES, repl

DELAY = 0.4
MODES = [*ISOLATED_MODES, "none"]


async def slow_answer(name: str, args: dict) -> object:
    """The host: every LM call takes DELAY seconds."""
    await asyncio.sleep(DELAY)
    if name == "llm_query":
        return "sub:" + args["prompt"]
    if name in ("llm_query_batched", "rlm_query_batched"):
        return [f"{name}:{p}" for p in args["prompts"]]
    if name == "rlm_query":
        return "child:" + args["prompt"]
    return None


@pytest.fixture(params=MODES)
async def box(request, tmp_path: Path) -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(request.param, Limits(memory_mb=512, processes=32), interrupt_grace=3.0)
    await sandbox.start(prepare_context("ctx", tmp_path / "ctx"), slow_answer, CORE)
    yield sandbox
    await sandbox.close()


async def test_gathered_async_sub_calls_run_concurrently(box: Sandbox) -> None:
    code = (
        "import asyncio, time\n"
        "t = time.perf_counter()\n"
        "replies = await asyncio.gather(*(llm_query_async(f'q{i}') for i in range(8)))\n"
        f"ratio = (time.perf_counter() - t) / (8 * {DELAY})\n"
        "print(replies[0], replies[-1], len(replies), 'concurrent' if ratio < 0.5 else ratio)"
    )
    result = await box.execute(code, 30, 4000)
    assert not result.error, result.output
    assert result.output.split() == ["sub:q0", "sub:q7", "8", "concurrent"], result.output


async def test_every_async_form_and_the_seed_names(box: Sandbox) -> None:
    code = (
        "a = await llm_query_batch_async(['x', 'y'])\n"
        "b = await llm_query_batched_async(['z'])\n"
        "c = await rlm_query_async('sub-problem')\n"
        "d = await rlm_query_batched_async(['p'])\n"
        "e = llm_query_batch(['w'])\n"
        "print(a, b, c, d, e)"
    )
    result = await box.execute(code, 30, 4000)
    assert not result.error, result.output
    assert result.output.strip() == (
        "['llm_query_batched:x', 'llm_query_batched:y'] ['llm_query_batched:z'] "
        "child:sub-problem ['rlm_query_batched:p'] ['llm_query_batched:w']"
    )


async def test_trailing_await_is_echoed_and_state_persists(box: Sandbox) -> None:
    first = await box.execute("import asyncio\nx = await llm_query_async('one')\nawait "
                              "asyncio.sleep(0, result=41)", 30, 4000)  # fmt: skip
    assert first.output.strip() == "41", first.output
    second = await box.execute("print(x); y = [await llm_query_async(str(i)) for i in range(2)]; y",
                               30, 4000)  # fmt: skip
    assert second.output.split("\n")[:2] == ["sub:one", "['sub:0', 'sub:1']"], second.output


async def test_async_for_and_with_at_top_level(box: Sandbox) -> None:
    code = (
        "import contextlib\n"
        "async def gen():\n"
        "    for p in ['a', 'b']:\n"
        "        yield await llm_query_async(p)\n"
        "@contextlib.asynccontextmanager\n"
        "async def opened():\n"
        "    yield 'open'\n"
        "async with opened() as state:\n"
        "    got = [r async for r in gen()]\n"
        "print(state, got)"
    )
    result = await box.execute(code, 30, 4000)
    assert result.output.strip() == "open ['sub:a', 'sub:b']", result.output


async def test_final_and_errors_inside_async_cells(box: Sandbox) -> None:
    final = await box.execute("r = await llm_query_async('q')\nFINAL(r.upper())", 30, 4000)
    assert final.final == {"answer": "SUB:Q", "via": "FINAL"} and not final.error
    failed = await box.execute("await llm_query_async('q')\nraise ValueError('boom')", 30, 4000)
    assert failed.error and "ValueError: boom" in failed.output
    assert "<cell" in failed.output  # the traceback points at the cell
    wrong = await box.execute("llm_query_async(['not', 'text'], 3)", 30, 4000)
    assert wrong.error and "model must be a name" in wrong.output, wrong.output


async def test_a_task_left_pending_is_cancelled_and_reported(box: Sandbox) -> None:
    code = (
        "import asyncio\n"
        "async def forever():\n"
        "    await asyncio.sleep(3600)\n"
        "left = asyncio.create_task(forever())\n"
        "await asyncio.sleep(0)\n"
        "print('done')"
    )
    result = await box.execute(code, 30, 4000)
    assert result.output.startswith("done"), result.output
    assert "1 task(s) still pending" in result.output and "forever" in result.output
    after = await box.execute("print(left.cancelled())", 30, 4000)
    assert after.output.strip() == "True", after.output


async def test_an_async_cell_past_its_time_limit_is_interrupted(box: Sandbox) -> None:
    code = "import asyncio\nasync def spin():\n    while True:\n        sum(range(10000))\n" \
           "        await asyncio.sleep(0)\nkept = 1\nawait spin()"  # fmt: skip
    result = await box.execute(code, 1.0, 4000)
    assert result.timed_out and not result.worker_restarted, result.output
    assert "KeyboardInterrupt" in result.output
    after = await box.execute("print(kept, await llm_query_async('again'))", 30, 4000)
    assert after.output.strip() == "1 sub:again", after.output


async def test_sync_cells_can_still_run_their_own_loop(box: Sandbox) -> None:
    code = "import asyncio\nasync def main():\n    return await llm_query_async('own')\n" \
           "print(asyncio.run(main()))"  # fmt: skip
    result = await box.execute(code, 30, 4000)
    assert result.output.strip() == "sub:own", result.output


async def test_many_async_calls_stay_under_the_hosts_cap(tmp_path: Path) -> None:
    """200 gathered calls against a cap of 8 in flight: the worker queues them (at most
    half the cap in flight), so the host never sees a protocol violation."""
    in_flight, peak = 0, 0

    async def counting(name: str, args: dict) -> object:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return args["prompt"]

    async with Sandbox("process", Limits(max_requests=8)) as sandbox:
        await sandbox.start(prepare_context("c", tmp_path / "c"), counting, CORE)
        code = "import asyncio\nr = await asyncio.gather(*(llm_query_async(str(i)) " \
               "for i in range(200)))\nprint(len(r), r[199])"  # fmt: skip
        result = await sandbox.execute(code, 60, 4000)
    assert result.output.strip() == "200 199" and not result.worker_restarted, result.output
    assert peak == 4


def test_rlm_query_batched_runs_child_rlms_in_a_real_run(replay) -> None:
    spec = replay(
        {
            "root": [
                repl(
                    "answers = await rlm_query_batched_async(['shout'] * 3, "
                    "contexts=['a', 'b', 'c'])\nFINAL(' '.join(answers))"
                )
            ],
            "child": [repl("FINAL(context.upper())")] * 3,
        }
    )
    result = RLM(spec, max_depth=2, sandbox="process").completion("ctx", "q")
    assert result.answer == "A B C" and result.status == "final", result
    assert result.usage.children.calls == 3


def test_rlm_query_batched_refuses_mismatched_contexts(replay) -> None:
    root = replay(
        [
            repl(
                "try:\n    rlm_query_batched(['a', 'b'], contexts=['x'])\n"
                "except ToolError as e:\n    FINAL(e.type_name + ' ' + e.message)"
            )
        ]
    )
    result = RLM(root, max_depth=2, sandbox="process").completion("ctx", "q")
    assert result.answer == "TypeError contexts must be a list with one context per prompt"
