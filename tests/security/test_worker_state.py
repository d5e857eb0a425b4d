"""Reserved names, builtins and directory contexts (attacks 10 and 11)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from rlmx import Limits, RunConfig
from rlmx.core.host_functions import CORE
from rlmx.repl.context import prepare_context
from rlmx.repl.sandbox import Sandbox
from rlmx.server.app import ServerSettings, serve_in_thread

from conftest import ISOLATED_MODES, repl

# every form of every host function (aliases, async twins), the local helpers, the context
RESERVED = [*(name for spec in CORE for name in spec.names), "FINAL", "FINAL_VAR", "SHOW_VARS",
            "parse_records", "ToolError", "context"]  # fmt: skip


async def answer(name: str, args: dict) -> object:
    if name == "llm_query":
        return "sub:" + args["prompt"]
    if name == "llm_query_batched":
        return ["sub:" + p for p in args["prompts"]]
    if name == "rlm_query":
        return "child:" + args["prompt"]
    return {"calls": 3}


@pytest.fixture(params=ISOLATED_MODES)
async def box(request, tmp_path: Path) -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(request.param, Limits(memory_mb=512))
    await sandbox.start(prepare_context("the context", tmp_path / "ctx"), answer, CORE)
    yield sandbox
    await sandbox.close()


async def out(box: Sandbox, code: str) -> str:
    return (await box.execute(code, 10.0, 5000)).output.strip()


CHECK = (
    "print(llm_query('a'), llm_query_batched(['b']), rlm_query('c'), budget(), context)\n"
    "print(callable(FINAL), callable(FINAL_VAR), callable(SHOW_VARS), ToolError.__name__)\n"
    "print(await llm_query_async('d'), llm_query_batch(['e']))"
)
EXPECTED = (
    "sub:a ['sub:b'] child:c {'calls': 3} the context\nTrue True True ToolError\nsub:d ['sub:e']"
)


@pytest.mark.parametrize("how", ["assign", "delete"])
async def test_every_reserved_name_comes_back(box, how) -> None:
    code = "\n".join(f"{name} = None" if how == "assign" else f"del {name}" for name in RESERVED)
    result = await box.execute(code, 10.0, 5000)
    for name in RESERVED:
        assert name in result.restored
    assert await out(box, CHECK) == EXPECTED


async def test_the_master_copy_is_out_of_the_helpers_reach(box) -> None:
    """Every object the helpers close over is edited in place; the restore still holds."""
    attack = """
evil = lambda *a, **k: 'evil'
for helper in (budget, llm_query, FINAL_VAR, SHOW_VARS, rlm_query):
    for cell in helper.__closure__ or ():
        value = cell.cell_contents
        table = value if isinstance(value, dict) else getattr(value, 'helpers', None)
        if isinstance(table, dict):
            for key in ('llm_query', 'budget', 'context'):
                if key in table:
                    table[key] = evil
llm_query = evil
"""
    await box.execute(attack, 10.0, 5000)
    assert await out(box, CHECK) == EXPECTED


async def test_builtins_deleted_or_replaced_are_restored(box) -> None:
    code = (
        "import builtins\ndel builtins.len\nbuiltins.print = None\nbuiltins.range = 'x'\n"
        "__builtins__ = {}"
    )
    result = await box.execute(code, 10.0, 5000)
    assert {"builtins.len", "builtins.print", "builtins.range", "__builtins__"} <= set(
        result.restored
    )
    assert await out(box, "print(len(list(range(3))), sorted([2, 1]))") == "3 [1, 2]"


# -- directory contexts ----------------------------------------------------------------------
def _tree_with_links(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("THE HOST SECRET")
    folder = tmp_path / "served" / "docs"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("inside a")
    (folder / "sub" / "b.txt").write_text("inside b")
    os.symlink(outside / "secret.txt", folder / "leak.txt")
    os.symlink(outside, folder / "leakdir")
    os.symlink("/etc/passwd", folder / "sub" / "passwd")
    os.symlink(folder / "a.txt", folder / "alias.txt")  # a link that stays inside is fine
    return folder


def test_links_out_of_a_directory_context_are_not_followed(tmp_path) -> None:
    folder = _tree_with_links(tmp_path)
    prepared = prepare_context(folder, tmp_path / "work")
    text = prepared.path.read_text()
    assert "THE HOST SECRET" not in text and "root:" not in text
    assert "inside a" in text and "inside b" in text and '"alias.txt"' in text
    skipped = prepared.meta.skipped_files
    assert any(s.startswith("leak.txt") for s in skipped)
    assert any(s.startswith("sub/passwd") for s in skipped)
    assert "links out of the folder" in prepared.meta.describe()


def test_the_server_does_not_follow_links_out_of_its_data_root(tmp_path, replay) -> None:
    folder = _tree_with_links(tmp_path)
    root = replay([repl("print(sorted(context))\nFINAL(str(sorted(context)))")])
    settings = ServerSettings(
        data_dir=tmp_path / "data", data_root=folder.parent, run=RunConfig.build(root=root)
    )
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        for escape in ("docs/leak.txt", "docs/leakdir/secret.txt", "docs/sub/passwd", "../"):
            response = client.post("/query", json={"query": "q", "path": escape})
            assert response.status_code == 400, escape
        run_id = client.post("/query", json={"query": "q", "path": "docs"}).json()["run_id"]
        with client.stream("GET", f"/stream/{run_id}") as response:
            list(response.iter_lines())
        run = client.get(f"/runs/{run_id}").json()
        assert run["answer"] == str(["a.txt", "alias.txt", "sub/b.txt"])
        assert "THE HOST SECRET" not in client.get(f"/runs/{run_id}").text
