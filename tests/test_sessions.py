"""Sessions: several questions over one REPL (``RLM.session``), and the sandbox's
``define`` that adds a session's ``context_1``, ``history`` ... between cells."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rlmx import Limits
from rlmx.host_functions import CORE
from rlmx.repl.context import prepare_context
from rlmx.repl.sandbox import Sandbox

from conftest import ISOLATED_MODES


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
