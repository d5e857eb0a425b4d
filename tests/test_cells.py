"""What a cell prints, echoes, raises and overwrites, the same in every sandbox mode.

Mode ``none`` (the worker in a host thread) is included on purpose: it runs the very
code of ``repl/worker.py`` in the test process, which is where mutation testing
(``make mutation``) can reach the worker's restore and output capture."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from rlmx import Limits
from rlmx.core.host_functions import CORE
from rlmx.repl.context import prepare_context
from rlmx.repl.sandbox import Sandbox

from conftest import ISOLATED_MODES


async def answer(name: str, args: dict) -> object:
    return "sub:" + args["prompt"] if name == "llm_query" else {"calls": 0}


@pytest.fixture(params=[*ISOLATED_MODES, "none"])
async def box(request, tmp_path: Path) -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(request.param, Limits(memory_mb=512))
    await sandbox.start(prepare_context("ctx", tmp_path / "ctx"), answer, CORE)
    yield sandbox
    await sandbox.close()


async def test_a_trailing_expression_is_echoed_as_its_repr(box: Sandbox) -> None:
    result = await box.execute("x = 'a'\nx * 2", 10.0, 1000)
    assert result.output == "'aa'\n" and not result.error
    assert (await box.execute("x = 3\nNone", 10.0, 1000)).output == ""  # None is not echoed
    assert (await box.execute("print(x)\nx + 1", 10.0, 1000)).output == "3\n4\n"


async def test_stdout_and_stderr_are_captured_in_order(box: Sandbox) -> None:
    code = "import sys\nprint('one')\nsys.stderr.write('two\\n')\nprint('three', end='')"
    result = await box.execute(code, 10.0, 1000)
    assert result.output == "one\ntwo\nthree"
    assert result.output_chars == len("one\ntwo\nthree")
    # libraries that check before they write (logging handlers, tqdm) must see a stream
    streams = await box.execute("print(sys.stdout.writable(), sys.stderr.writable())", 10.0, 100)
    assert streams.output == "True True\n"


async def test_output_past_the_cap_keeps_head_and_tail_and_counts_the_rest(box: Sandbox) -> None:
    result = await box.execute("print('a' * 30 + 'b' * 40 + 'c' * 30, end='')", 10.0, 20)
    assert result.output == "a" * 10 + "\n... [80 characters omitted] ...\n" + "c" * 10
    assert result.output_chars == 100
    exact = await box.execute("print('x' * 20, end='')", 10.0, 20)  # at the cap: all of it
    assert exact.output == "x" * 20


async def test_output_of_many_writes_is_capped_like_one(box: Sandbox) -> None:
    code = "for i in range(10):\n    print(i, end='')\nprint('END', end='')"
    result = await box.execute(code, 10.0, 6)
    assert result.output == "012\n... [7 characters omitted] ...\nEND"
    assert result.output_chars == 13


async def test_an_error_shows_the_cells_traceback_only_and_keeps_state(box: Sandbox) -> None:
    await box.execute("kept = 41", 10.0, 1000)
    result = await box.execute("def f():\n    return 1 / 0\n\nf()", 10.0, 2000)
    assert result.error
    lines = result.output.splitlines()
    assert lines[0] == "Traceback (most recent call last):"
    assert lines[-1] == "ZeroDivisionError: division by zero"
    assert '"<cell 2>", line 4' in result.output and '"<cell 2>", line 2' in result.output
    assert "worker.py" not in result.output  # the worker's own frames are hidden
    after = await box.execute("kept + 1", 10.0, 1000)
    assert after.output == "42\n" and not after.error


async def test_common_modules_and_counter_need_no_import(box: Sandbox) -> None:
    code = "print(Counter('abca').most_common(1), len(defaultdict(list)), re.escape('.'))"
    result = await box.execute(code, 10.0, 1000)
    assert result.output == "[('a', 2)] 0 \\.\n" and not result.error
    shown = await box.execute("SHOW_VARS()", 10.0, 1000)
    assert "Counter" not in shown.output  # set up by rlmx, not the model's variables


async def test_exiting_is_refused_with_its_code_and_state_kept(box: Sandbox) -> None:
    await box.execute("kept = 1", 10.0, 1000)
    result = await box.execute("print('before')\nraise SystemExit(3)", 10.0, 1000)
    assert result.error
    assert result.output == "before\nSystemExit(3): exiting the REPL is not allowed; state kept\n"
    assert (await box.execute("kept", 10.0, 1000)).output == "1\n"


async def test_a_keyboard_interrupt_raised_by_the_cell_is_reported(box: Sandbox) -> None:
    result = await box.execute("raise KeyboardInterrupt", 10.0, 1000)
    assert result.error
    assert result.output == "KeyboardInterrupt: the cell was interrupted (time limit); state kept\n"


async def test_overwritten_reserved_names_are_restored_and_named(box: Sandbox) -> None:
    result = await box.execute("llm_query = 1\ndel FINAL\nprint('ok')", 10.0, 1000)
    assert not result.error
    assert sorted(result.restored) == ["FINAL", "llm_query"]
    assert result.output.startswith("ok\n")
    note = result.output.splitlines()[-1]
    assert note.startswith("[note: reserved name(s) ") and note.endswith(" restored]")
    assert "llm_query" in note and "FINAL" in note
    again = await box.execute("print(llm_query('q'), callable(FINAL))", 10.0, 1000)
    assert again.output == "sub:q True\n" and again.restored == []


async def test_a_replaced_builtins_mapping_is_put_back(box: Sandbox) -> None:
    result = await box.execute("__builtins__ = {}\nx = 1", 10.0, 1000)
    assert result.restored == ["__builtins__"]
    assert (await box.execute("len('abc')", 10.0, 1000)).output == "3\n"


async def test_cells_are_numbered_and_timed(box: Sandbox) -> None:
    first = await box.execute("import time\ntime.sleep(0.05)", 10.0, 1000)
    assert first.seconds >= 0.05
    result = await box.execute("x = 1\n1 / 0", 10.0, 1000)
    assert '"<cell 2>", line 2' in result.output


async def test_a_cap_of_zero_keeps_nothing_but_says_how_much(box: Sandbox) -> None:
    result = await box.execute("print('abc', end='')", 10.0, 0)
    assert result.output == "\n... [3 characters omitted] ...\n"
    one_over = await box.execute("print('x' * 21, end='')", 10.0, 20)  # one char past the cap
    assert one_over.output == "x" * 10 + "\n... [1 characters omitted] ...\n" + "x" * 10


async def test_the_head_fills_across_writes(box: Sandbox) -> None:
    result = await box.execute("print('ab', end='')\nprint('cdefghijklmnop', end='')", 10.0, 10)
    assert result.output == "abcde\n... [6 characters omitted] ...\nlmnop"


async def test_writing_bytes_to_stdout_is_a_clear_type_error(box: Sandbox) -> None:
    result = await box.execute("import sys\nsys.stdout.write(b'raw')", 10.0, 2000)
    assert result.error
    assert result.output.splitlines()[-1] == "TypeError: write() argument must be str, not bytes"


async def test_the_restore_note_names_what_was_put_back(box: Sandbox) -> None:
    result = await box.execute("llm_query = 1\nSHOW_VARS = 2", 10.0, 1000)
    assert result.output == f"\n[note: reserved name(s) {', '.join(result.restored)} restored]\n"
    assert len(result.restored) == 2


async def test_a_replaced_builtin_function_is_restored(box: Sandbox) -> None:
    # divmod, not something the host's own threads use while the cell runs (mode none)
    result = await box.execute("import builtins\nbuiltins.divmod = lambda a, b: 0", 10.0, 1000)
    assert result.restored == ["builtins.divmod"]
    assert (await box.execute("divmod(7, 2)", 10.0, 1000)).output == "(3, 1)\n"


async def test_top_level_await_runs_in_statements_and_the_echo(box: Sandbox) -> None:
    code = "first = await llm_query_async('a')\nawait llm_query_async(first)"
    result = await box.execute(code, 10.0, 1000)
    assert result.output == "'sub:sub:a'\n" and not result.error


async def test_a_syntax_error_names_the_cell(box: Sandbox) -> None:
    await box.execute("x = 1", 10.0, 1000)
    result = await box.execute("y = (", 10.0, 1000)
    assert result.error and '"<cell 2>", line 1' in result.output
    assert "SyntaxError" in result.output.splitlines()[-1]


async def test_functions_defined_in_a_cell_have_their_source(box: Sandbox) -> None:
    await box.execute("def f(a):\n    return a + 1", 10.0, 1000)
    result = await box.execute("import inspect\nprint(inspect.getsource(f), end='')", 10.0, 1000)
    assert result.output == "def f(a):\n    return a + 1"


async def test_a_cell_past_its_time_is_interrupted_and_the_next_runs(box: Sandbox) -> None:
    await box.execute("kept = 7", 10.0, 1000)
    result = await box.execute("while True:\n    pass", 1.0, 1000)
    assert result.timed_out and "KeyboardInterrupt" in result.output
    after = await box.execute("kept", 10.0, 1000)
    assert after.output == "7\n" and not after.worker_restarted


async def test_an_interrupt_that_overtakes_its_cell_still_stops_it(box: Sandbox) -> None:
    # on a loaded machine the interrupt frame can reach the worker before the cell starts
    assert box._channel is not None
    await box._channel.send({"type": "interrupt", "id": box._next_id + 1})
    result = await box.execute("kept = 1\nwhile True:\n    pass", 30.0, 1000)
    assert result.output.startswith("KeyboardInterrupt") and not result.timed_out
    assert (await box.execute("print('kept' in dir())", 10.0, 1000)).output == "False\n"


async def test_an_interrupt_for_a_cell_already_over_is_ignored(box: Sandbox) -> None:
    # the host's time limit can pass just as its cell ends: the next cell must not pay for it
    await box.execute("x = 1", 10.0, 1000)
    assert box._channel is not None
    over = box._next_id
    await box._channel.send({"type": "interrupt", "id": over})
    await asyncio.sleep(0.2)  # the worker is idle when it reads the frame: it must not die
    cell = asyncio.create_task(box.execute("import time\ntime.sleep(1)\nprint(x)", 10.0, 1000))
    await asyncio.sleep(0.3)
    await box._channel.send({"type": "interrupt", "id": over})  # read while the next cell runs
    result = await cell
    assert result.output == "1\n" and not result.error and not result.worker_restarted


async def test_a_forked_child_of_a_cell_ends_with_the_cell_and_status_0(box: Sandbox) -> None:
    # the child runs the rest of the cell, then the worker ends it before it could answer
    code = "import os\npid = os.fork()\nif pid:\n    print(os.waitstatus_to_exitcode(" \
           "os.waitpid(pid, 0)[1]))"  # fmt: skip
    result = await box.execute(code, 30.0, 1000)
    assert result.output == "0\n" and not result.error, result.output
    assert (await box.execute("print(pid > 0)", 10.0, 1000)).output == "True\n"


async def test_a_cells_seconds_are_its_own_run_time(box: Sandbox) -> None:
    started = time.perf_counter()
    result = await box.execute("import time\ntime.sleep(0.2)", 10.0, 1000)
    assert 0.2 <= result.seconds <= time.perf_counter() - started


def test_host_prints_beside_a_worker_thread_still_reach_the_host(tmp_path: Path, capsys) -> None:
    # mode none routes stdout by thread: the cell's thread to its sink, every other to the host
    async def cell_then_host() -> str:
        sandbox = Sandbox("none")
        await sandbox.start(prepare_context("ctx", tmp_path / "ctx"), answer, CORE)
        try:
            output = (await sandbox.execute("print('in the cell')", 10.0, 1000)).output
            print("from the host")
            return output
        finally:
            await sandbox.close()

    assert asyncio.run(cell_then_host()) == "in the cell\n"
    assert "from the host" in capsys.readouterr().out


async def test_common_modules_are_imported_before_the_first_cell(box: Sandbox) -> None:
    result = await box.execute("print(re.findall(r'\\d+', 'a1b22'), json.dumps([1]))", 10.0, 100)
    assert result.output == "['1', '22'] [1]\n" and not result.error
    shown = await box.execute("SHOW_VARS()", 10.0, 1000)
    assert "re:" not in shown.output  # modules are not the model's variables
