"""What the progress display says while a run waits (a long root turn must not look frozen)."""

from __future__ import annotations

import io

from rich.console import Console

from rlmx import RLM
from rlmx.display import LiveProgress, PlainProgress, _Tally

from conftest import repl


def test_the_status_line_says_what_the_run_waits_for(replay) -> None:
    events: list = []
    RLM(replay([repl("print(1)"), "FINAL(1)"]), on_event=events.append).completion("c", "q")
    tally, seen = _Tally(), []
    for event in events:
        tally.take(event)
        if tally.waiting is not None:
            _what, since = tally.waiting
            seen.append((event.type, tally.line(now=since + 150.4).rsplit(" | ", 1)[1]))
    assert seen == [
        ("run_started", "waiting for the root model, 150 s"),
        ("cell_started", "running cell 1, 150 s"),
        ("code_executed", "waiting for the root model, 150 s"),
    ]
    assert tally.waiting is None and "waiting" not in tally.line()


def test_the_live_panel_keeps_counting_between_events(replay) -> None:
    out = io.StringIO()
    live = LiveProgress(Console(file=out, force_terminal=True, width=120))
    spec = replay([{"sleep": 1.5, "reply": repl("print(1)")}, "FINAL(1)"])
    with live:
        RLM(spec, on_event=live).completion("c", "q")
    assert "waiting for the root model, 1 s" in out.getvalue()  # refreshed, not only on events
    assert "waiting for the root model, 0 s" in out.getvalue()


def test_piped_lines_say_when_the_root_is_awaited(replay) -> None:
    out = io.StringIO()
    RLM(replay([repl("print(1)"), "FINAL(1)"]), on_event=PlainProgress(out)).completion("c", "q")
    lines = out.getvalue().splitlines()
    assert lines[0].endswith("chars of context); waiting for the root model")
    assert any(line.endswith("s); waiting for the root model") for line in lines)


def test_a_batch_in_flight_shows_done_running_and_queued(replay) -> None:
    subs = {f"item {i}": {"sleep": 0.05, "reply": str(i)} for i in range(6)}
    spec = replay({"root": [repl("r = llm_query_batched([f'item {i}' for i in range(6)])"),
                            "FINAL(1)"], "sub": subs})  # fmt: skip
    events: list = []
    RLM(spec, on_event=events.append, concurrency=2).completion("c", "q")
    tally, lines = _Tally(), []
    for event in events:
        tally.take(event)
        if event.type in ("sub_batch", "sub_call"):
            lines.append(tally.line().split(" | batch ")[1].split(" | ")[0] if tally.batch else "-")
    expected = [f"{done}/6 done, {min(2, 6 - done)} running, {max(4 - done, 0)} queued"
                for done in range(6)]  # fmt: skip
    assert lines == [*expected, "-"]
    out = io.StringIO()
    RLM(spec, on_event=PlainProgress(out), concurrency=2).completion("c", "q")
    assert "batch of 6 sub-calls sent (at most 2 at once)" in out.getvalue()
