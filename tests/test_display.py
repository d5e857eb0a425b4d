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
