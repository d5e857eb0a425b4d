"""One table of host functions: the worker's helpers are built from the specs the host
sends, calls are checked against the same specs, and errors keep their type."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlmx.core.host_functions import BUILTINS, CORE, HostFunction, HostFunctions, tool_function
from rlmx.repl.context import prepare_context
from rlmx.repl.functions import FunctionSpec, Param
from rlmx.repl.sandbox import Sandbox
from rlmx.repl.worker import IMPORTED, IMPORTED_NAMES

from conftest import ISOLATED_MODES

SHOUT = FunctionSpec("shout", (Param("text", "text"), Param("times", "json", 1)), "Say it loud.")


async def handler(name: str, args: dict) -> object:
    if name == "shout":
        return str(args["text"]).upper() * int(args.get("times", 1))
    if name == "fail":
        raise IndexError("list index out of range")
    return None


@pytest.mark.parametrize("mode", ISOLATED_MODES)
async def test_a_new_helper_is_one_spec(mode, tmp_path: Path) -> None:
    fail = FunctionSpec("fail", (), "Always fails.")
    box = Sandbox(mode)
    await box.start(prepare_context("c", tmp_path / "ctx"), handler, [*CORE, SHOUT, fail])
    try:
        code = (
            "import inspect\n"
            "print(shout('hey', times=2), inspect.signature(shout), shout.__doc__)\n"
            "try:\n    fail()\nexcept ToolError as e:\n"
            "    print(e.type_name, '|', e.message, '|', isinstance(e, RuntimeError))\n"
            "try:\n    shout()\nexcept TypeError as e:\n    print(e)"
        )
        lines = (await box.execute(code, 10, 5000)).output.splitlines()
        assert lines[0] == "HEYHEY (text, times=1) Say it loud."
        assert lines[1] == "IndexError | list index out of range | True"
        assert lines[2] == "shout(): missing a required argument: 'text'"
        names = "print(sorted(n for n in globals() if not n.startswith('_')))"
        shown = (await box.execute(names, 10, 5000)).output.strip()
        local = ["context", "answer", "FINAL", "FINAL_VAR", "SHOW_VARS", "ToolError", "inspect",
                 "parse_records", "numbers_in", "profile", *IMPORTED]  # fmt: skip
        local += [name for _, name in IMPORTED_NAMES]
        expected = sorted([*local, *(n for spec in CORE for n in spec.names), "shout", "fail"])
        assert shown == str(expected)
    finally:
        await box.close()


def test_the_builtins_and_their_kinds() -> None:
    specs = {entry.spec.name: entry.spec for entry in BUILTINS}
    lm_calls = ["llm_query", "llm_query_batched", "rlm_query", "rlm_query_batched"]
    assert list(specs) == [*lm_calls, "pdf_page", "budget"]
    batched = specs["llm_query_batched"].params
    assert [p.kind for p in batched] == ["texts", "name", "choices", "json"]
    assert [p.kind for p in specs["pdf_page"].params] == ["name", "json"]
    assert [p.kind for p in specs["llm_query"].params] == ["text", "name", "choices", "paths"]
    assert [p.kind for p in specs["rlm_query_batched"].params] == ["texts", "json"]
    assert specs["budget"].waits is False and all(specs[n].waits for n in lm_calls)
    assert all(entry.sub_call for entry in BUILTINS[:4])
    assert not any(entry.sub_call for entry in BUILTINS[4:])
    # every LM call has an awaitable twin; the seed's llm_query_batch names the batch
    assert all(specs[n].async_twin for n in lm_calls) and not specs["budget"].async_twin
    assert specs["llm_query_batched"].names == [
        "llm_query_batched", "llm_query_batch", "llm_query_batched_async", "llm_query_batch_async"
    ]  # fmt: skip


def test_calls_are_checked_against_the_spec() -> None:
    from rlmx.repl.frames import ProtocolViolation

    batched = next(e.spec for e in BUILTINS if e.spec.name == "llm_query_batched")
    batched.check({"prompts": ["a", "b"], "model": None}, max_batch=10)
    for bad in ({"prompts": "ab"}, {"prompts": [1]}, {"prompts": ["a"] * 11}, {},
                {"prompts": ["a"], "extra": 1}, {"prompts": ["a"], "model": 3}):  # fmt: skip
        with pytest.raises(ProtocolViolation):
            batched.check(bad, max_batch=10)
    tool = tool_function("ocr", "Read text.", None).spec  # type: ignore[arg-type]
    tool.check({"args": [1.5], "kwargs": {"lang": "en"}}, max_batch=10)
    with pytest.raises(ProtocolViolation):
        tool.check({"args": [], "kwargs": {1: 2}}, max_batch=10)


async def test_the_table_runs_handlers_and_refuses_sub_calls_when_off() -> None:
    class Run:
        class cfg:
            sub_calls = False

        async def shout(self, text: str) -> str:
            return text.upper()

    table = HostFunctions(
        [*BUILTINS, HostFunction(SHOUT, lambda host, text, times: host.shout(text))]
    )
    assert await table.call(Run(), "shout", {"text": "a"}) == "A"
    with pytest.raises(Exception, match="sub-calls are disabled"):
        await table.call(Run(), "llm_query", {"prompt": "p"})


def test_one_entry_adds_a_helper_to_every_run(monkeypatch, replay) -> None:
    """The example of docs/ARCHITECTURE.md, appended to the table, as a run sees it."""
    import rlmx.core.host_functions as table
    from rlmx import RLM

    from conftest import repl

    async def count_tokens(host, text):  # type: ignore[no-untyped-def]
        tokenizer = host.run.root_lm.tokenizer
        message = [{"role": "user", "content": text}]
        return tokenizer.count_tokens(message) if tokenizer else len(text) // 4

    entry = HostFunction(
        FunctionSpec("count_tokens", (Param("text", "text"),), "Tokens of text for the root.",
                     waits=False),
        count_tokens,
    )  # fmt: skip
    monkeypatch.setattr(table, "BUILTINS", (*table.BUILTINS, entry))
    spec = replay([repl("FINAL(count_tokens('x' * 40))")])
    assert RLM(spec, sandbox="process").completion("c", "q").answer == "10"
