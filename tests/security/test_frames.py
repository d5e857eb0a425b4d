"""The host owns frames and time: a cell that forges, floods or hijacks the wire (attacks 5, 6).

Every test runs a real worker, lets model code attack the channel it shares with the host,
and then checks that the attack was contained AND that the REPL answers the next cell.
Model code reaches the worker's wire through ``gc`` (it is the worker's own process).
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

LINK = "import gc\nlink = next(o for o in gc.get_objects() if type(o).__name__ == '_Link')\n"
WORKER = "import gc, os\nw = next(o for o in gc.get_objects() if type(o).__name__ == 'Worker')\n"
GOOD_RESULT = ('{"type": "result", "id": %s, "output": "forged", "output_chars": 6, '
               '"error": False, "final": %s, "restored": [], "seconds": 0.0}')  # fmt: skip


async def slow_answer(name: str, args: dict) -> object:
    if name == "llm_query":
        await asyncio.sleep(float(args["prompt"] or 0))
        return "sub:" + args["prompt"]
    if name == "budget":
        return {"calls": 1}
    return None


@pytest.fixture(params=ISOLATED_MODES)
async def box(request, tmp_path: Path) -> AsyncIterator[Sandbox]:
    sandbox = Sandbox(
        request.param,
        Limits(memory_mb=512, processes=32, max_requests=8, frame_mb=1, max_batch=1000),
        interrupt_grace=1.0,
    )
    await sandbox.start(prepare_context("the context", tmp_path / "ctx"), slow_answer, CORE)
    yield sandbox
    await sandbox.close()


async def assert_goes_on(box: Sandbox) -> None:
    result = await box.execute("print(context, llm_query('0'))", 10.0, 5000)
    assert result.output.strip() == "the context sub:0", result.output


FORGERIES = {
    "result without output": LINK + "link.send({'type': 'result', 'id': 1})",
    "result for another cell": LINK + "link.send(" + GOOD_RESULT % ("999", "None") + ")",
    "malformed final": LINK
    + "link.send("
    + GOOD_RESULT % ("1", "{'answer': 7, 'via': 'FINAL'}")
    + ")\nimport time; time.sleep(5)",
    "a frame type of its own": LINK + "link.send({'type': 'final', 'answer': 'PWNED'})",
    "unknown request field": LINK
    + "link.send({'type': 'call', 'id': 5, 'name': 'rlm_query', "
    + "'arguments': {'prompt': 'p', 'model': 'openai:x@http://x'}})",
    "a function not offered": LINK
    + "link.send({'type': 'call', 'id': 5, 'name': 'os_system', 'arguments': {}})",
    "a call without arguments": LINK + "link.send({'type': 'call', 'id': 5, 'name': 'budget'})",
    "mistyped field": LINK
    + "link.send({'type': 'call', 'id': 5, 'name': 'llm_query', 'arguments': {'prompt': ['a']}})",
    "bool as id": LINK
    + "link.send({'type': 'call', 'id': True, 'name': 'budget', 'arguments': {}})",
    "an old-style frame": LINK + "link.send({'type': 'llm_query', 'id': 5, 'prompt': 'a'})",
    "duplicate request id": LINK
    + "frame = {'type': 'call', 'id': 77, 'name': 'llm_query', 'arguments': {'prompt': '2'}}\n"
    + "link.send(frame)\nlink.send(frame)\nimport time; time.sleep(5)",
    "a second ready": LINK + "link.send({'type': 'ready', 'load_seconds': 0})",
    "not JSON": LINK + "import os, struct\nos.write(link.write_fd, struct.pack('>I', 3) + b'{{{')",
    "a 2 GiB frame announced": LINK
    + "import os, struct\nos.write(link.write_fd, struct.pack('>I', 2**31))\n"
    + "import time; time.sleep(5)",
    "a frame over the cap": "llm_query('x' * 2_000_000)",
    "too many requests in flight": LINK
    + "for i in range(20):\n"
    + "    link.send({'type': 'call', 'id': 1000 + i, 'name': 'llm_query', "
    + "'arguments': {'prompt': '3'}})\n"
    + "import time; time.sleep(5)",
    "too large a batch": LINK
    + "link.send({'type': 'call', 'id': 9, 'name': 'llm_query_batched', "
    + "'arguments': {'prompts': ['a'] * 5000}})\n"
    + "import time; time.sleep(5)",
}


@pytest.mark.parametrize("attack", list(FORGERIES))
async def test_a_broken_frame_kills_the_worker_and_the_repl_goes_on(box, attack) -> None:
    await box.execute("kept = 1", 10.0, 5000)
    result = await box.execute(FORGERIES[attack], 30.0, 5000)
    assert result.worker_restarted, result.output
    assert "broke the protocol" in result.output
    assert result.final is None
    lost = await box.execute("print('kept' in globals())", 10.0, 5000)
    assert lost.output.strip() == "False"  # a fresh worker
    await assert_goes_on(box)


async def test_a_valid_forged_result_is_no_more_than_the_cell_itself(box) -> None:
    """A frame that follows the protocol for the running cell is that cell's own result."""
    code = LINK + "link.send(" + GOOD_RESULT % ("box_id", "None") + ")\nimport time; time.sleep(5)"
    code = code.replace("box_id", str(box._next_id + 1))
    result = await box.execute(code, 30.0, 5000)
    assert result.output == "forged" and not result.worker_restarted
    second = await box.execute("print(2)", 30.0, 5000)  # the cell's real result comes too
    assert second.worker_restarted and "a result for cell id" in second.output
    await assert_goes_on(box)


async def test_a_flood_of_budget_requests_counts_as_compute(box) -> None:
    result = await box.execute("while True:\n    budget()", 1.0, 5000)
    assert result.timed_out
    await assert_goes_on(box)


async def test_threads_flooding_waits_hit_the_request_cap(box) -> None:
    code = (
        "import threading\n"
        "ts = [threading.Thread(target=llm_query, args=('5',)) for _ in range(30)]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]"
    )
    result = await box.execute(code, 30.0, 5000)
    assert result.worker_restarted and "requests in flight" in result.output
    await assert_goes_on(box)


@pytest.mark.parametrize(
    "hijack",
    [
        "os.dup2(os.open('/dev/null', os.O_RDONLY), w.read_fd)\nwhile True: pass",
        "os.close(w.read_fd)\nimport signal; signal.signal(signal.SIGINT, signal.SIG_IGN)\n"
        "while True: pass",
        "os.dup2(os.open('/dev/null', os.O_WRONLY), w.link.write_fd)\nimport time; time.sleep(600)",
        "import signal; signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGINT])\n"
        "import time; time.sleep(600)",
    ],
    ids=["deaf-reader", "closed-reader", "silent-writer", "blocked-signal"],
)
async def test_a_hijacked_channel_cannot_outlive_the_deadline(box, hijack) -> None:
    result = await box.execute(WORKER + hijack, 1.0, 5000)
    assert result.worker_restarted, result.output
    await assert_goes_on(box)


async def test_the_wall_clock_cap_holds_while_sub_calls_wait(tmp_path) -> None:
    sandbox = Sandbox("process", Limits(cell_wall_seconds=1.0), interrupt_grace=1.0)
    await sandbox.start(prepare_context("the context", tmp_path / "ctx"), slow_answer, CORE)
    try:
        result = await sandbox.execute("while True:\n    llm_query('0.2')", 600.0, 5000)
        assert result.timed_out  # the waits do not count as compute, the wall cap still holds
        await assert_goes_on(sandbox)
    finally:
        await sandbox.close()


async def test_a_worker_killed_between_cells_is_replaced(box) -> None:
    code = (
        "import threading, os, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.5), os._exit(3))).start()"
    )
    await box.execute(code, 10.0, 5000)
    await asyncio.sleep(1.5)
    result = await box.execute("print(1)", 10.0, 5000)
    assert result.worker_restarted and "stopped before this cell" in result.output
    await assert_goes_on(box)


def test_forged_child_runs_are_capped_per_depth(replay) -> None:
    """Threads in a cell ask for 12 child runs at once; at most 2 sandboxes live at a time."""
    code = (
        "import threading\nout = []\n"
        "ts = [threading.Thread(target=lambda: out.append(rlm_query('p', context='c'))) "
        "for _ in range(12)]\n[t.start() for t in ts]; [t.join() for t in ts]\nprint(sorted(out))"
    )
    child = [{"sleep": 0.2, "reply": repl("FINAL('c')")}] * 12
    spec = replay({"root": [repl(code), repl("FINAL('done')")], "child": child})
    live, peak, events = 0, 0, []

    def watch(event) -> None:
        nonlocal live, peak
        events.append(event)
        if event.depth == 1 and event.type in ("run_started", "run_finished"):
            live += 1 if event.type == "run_started" else -1
            peak = max(peak, live)

    rlm = RLM(spec, max_depth=2, sandbox="process", limits=Limits(max_child_runs=2),
              on_event=watch)  # fmt: skip
    result = rlm.completion("ctx", "q")
    assert result.answer == "done"
    output = next(e for e in events if e.type == "code_executed" and e.depth == 0).output
    assert output.strip() == str(["c"] * 12)
    assert peak == 2


async def test_replies_to_a_worker_that_stops_reading_are_capped(tmp_path) -> None:
    """The cell asks for 12 large replies, then makes its own reader deaf: the host stops
    queueing replies past ``reply_buffer_mb`` and replaces the worker."""
    sandbox = Sandbox("process", Limits(reply_buffer_mb=1), interrupt_grace=1.0)
    await sandbox.start(prepare_context("the context", tmp_path / "ctx"), slow_answer, CORE)
    code = (
        WORKER
        + "import time\nkeep = os.dup(w.read_fd)  # the pipe stays open, nobody reads it\n"
        + "os.dup2(os.open('/dev/null', os.O_RDONLY), w.read_fd)\ntime.sleep(0.2)\n"
        + "for i in range(12):\n"
        + "    w.link.send({'type': 'call', 'id': 500 + i, 'name': 'llm_query', "
        + "'arguments': {'prompt': '0' * 300_000}})\n"
        + "time.sleep(60)"
    )
    try:
        result = await sandbox.execute(code, 30.0, 5000)
        assert result.worker_restarted and "does not read the host's replies" in result.output
        await assert_goes_on(sandbox)
    finally:
        await sandbox.close()
