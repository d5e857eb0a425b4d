"""Sessions: several questions over one REPL (``RLM.session``), and the sandbox's
``define`` that adds a session's ``context_1``, ``history`` ... between cells."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rlmx import RLM, Budget, Limits
from rlmx.core.host_functions import CORE
from rlmx.core.session import SessionClosed
from rlmx.lm.replay import ReplayLM
from rlmx.repl.context import prepare_context
from rlmx.repl.sandbox import Sandbox

from conftest import ISOLATED_MODES, repl


async def answer(name: str, args: dict) -> object:
    return "sub:" + args.get("prompt", "")


@pytest.fixture(params=[*ISOLATED_MODES, "none"])
async def box(request, tmp_path: Path) -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(request.param, Limits(memory_mb=512))
    await sandbox.start(prepare_context("main", tmp_path / "ctx"), answer, CORE)
    yield sandbox
    await sandbox.close()


async def out(box: Sandbox, code: str) -> str:
    return (await box.execute(code, 10.0, 5000)).output.strip()


async def test_defined_variables_are_reserved_and_survive_a_restart(box, tmp_path) -> None:
    await box.execute("kept = 1", 10.0, 5000)
    await box.define("context_1", prepare_context("second text", tmp_path / "c1"))
    await box.define("history", prepare_context([{"query": "q"}], tmp_path / "h"))
    assert await out(box, "print(context, context_1, history, kept)") == (
        "main second text [{'query': 'q'}] 1"
    )
    clobbered = await box.execute("context_1 = None\ndel history", 10.0, 5000)
    assert {"context_1", "history"} <= set(clobbered.restored)
    assert "context_1" not in await out(box, "SHOW_VARS()")
    # replaced: the old file is gone, the worker has the new value
    await box.define("history", prepare_context([1, 2], tmp_path / "h2"))
    assert await out(box, "print(history)") == "[1, 2]"
    await box.restart()  # a fresh worker (a reset): variables gone, contexts back
    assert await out(box, "print(context_1, history, 'kept' in globals())") == (
        "second text [1, 2] False"
    )


async def test_define_refuses_a_running_cell_and_a_bad_file(box, tmp_path) -> None:
    from rlmx.errors import SandboxError

    bad = prepare_context("x", tmp_path / "bad")
    bad.path.write_bytes(b"\xff not json")
    bad.kind = "json"
    with pytest.raises(SandboxError, match="could not load context_9"):
        await box.define("context_9", bad)
    assert await out(box, "print(context)") == "main"  # the worker goes on


def test_a_session_keeps_variables_across_asks_and_loses_them_after_reset() -> None:
    root = ReplayLM(
        [
            repl("total = len(context)\nFINAL(total)"),
            repl("FINAL(f'{total} {history[0][\"answer\"]} {len(history)}')"),
            repl("FINAL(context_1.upper())"),
            repl("print('total' in globals(), history, context_1)"),
            "FINAL(reset)",
        ],
        "replay-root",
    )
    with RLM(root, sandbox="process").session("hello") as session:
        first = session.ask("How long is the context?")
        second = session.ask("And again?")
        assert (first.answer, second.answer) == ("5", "5 5 1")
        assert first.run_id != second.run_id
        assert session.add_context("more text") == "context_1"
        assert session.ask("Shout the new context").answer == "MORE TEXT"
        session.reset()
        after = session.ask("Anything left?")
    assert after.answer == "reset" and after.status == "final"
    assert [item["query"] for item in session.history] == ["Anything left?"]
    openings = [prompt[-1]["content"] for prompt in root.prompts]
    assert "earlier" not in openings[0]
    # the second ask's opening names the first question and its answer
    assert "1. Q: How long is the context?\n   A: 5" in openings[1]
    assert "`context_1` is a str with 9 total characters" in openings[2]
    assert "False [] more text" in openings[4]  # a reset keeps the contexts only
    with pytest.raises(SessionClosed):
        session.ask("closed?")


def test_each_ask_and_the_whole_session_have_budgets() -> None:
    root = ReplayLM([repl("print(1)"), "FINAL(a)", repl("FINAL(2)"), repl("FINAL(3)")], "root")
    rlm = RLM(root, sandbox="process")
    with rlm.session("ctx", budget=Budget(max_calls=3)) as session:
        short = session.ask("one turn only", budget=Budget(max_calls=1))
        assert short.status == "budget_exhausted" and short.answer == "a"  # its last turn
        assert session.ask("second").answer == "2"
        third = session.ask("third")  # the session's 3 calls are spent: one last turn
    assert third.status == "budget_exhausted" and third.answer == "3"
    assert "the session budget of 3 LM calls is used up" in root.prompts[-1][-1]["content"]
    assert session.ledger.calls == 4  # the last turns are counted past the limit


async def test_async_sessions_and_mixing_styles_is_refused(tmp_path: Path) -> None:
    root = ReplayLM([repl("x = 41"), "FINAL_VAR(x)", repl("FINAL(x + 1)")], "replay-root")
    async with RLM(root, sandbox="process").session("ctx") as session:
        assert (await session.aask("first")).answer == "41"
        (tmp_path / "notes.txt").write_text("a note")
        assert await session.aadd_context(tmp_path / "notes.txt") == "context_1"
        assert (await session.aask("second")).answer == "42"
        with pytest.raises(RuntimeError, match="do not mix"):
            session.ask("sync now?")
    assert session.workspace is None and session.closed


async def test_the_worker_cannot_write_the_host_files_folder(box, tmp_path) -> None:
    """Defined variables and shared frames live in a folder the worker only reads."""
    if box.mode == "none" or (box.mode == "process" and os.geteuid() != 0):
        pytest.skip("the worker runs as the host's own user")
    await box.define("context_1", prepare_context("kept", tmp_path / "c1"))
    folder = box.launcher.host_files_inside or str(box._host_files())
    attack = (
        f"import os\nfor name in os.listdir({folder!r}):\n"
        f"    open(os.path.join({folder!r}, name), 'w').write('x')"
    )
    result = await box.execute(attack, 10.0, 5000)
    assert result.error and ("Permission" in result.output or "Read-only" in result.output)
    await box.restart()
    assert await out(box, "print(context_1)") == "kept"
