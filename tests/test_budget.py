"""The ledger: every limit refuses the next call once reached, and says which one."""

from __future__ import annotations

import pytest

from rlmx import RLM, Budget, BudgetExhausted
from rlmx.budget import Ledger

from conftest import repl


def test_call_limit_counts_admissions() -> None:
    ledger = Ledger(Budget(max_calls=2))
    ledger.admit()
    ledger.admit()
    with pytest.raises(BudgetExhausted, match="2 LM calls"):
        ledger.admit()
    assert ledger.remaining()["calls_left"] == 0


def test_token_and_usd_limits() -> None:
    ledger = Ledger(Budget(max_tokens=100, max_usd=0.5))
    ledger.admit()
    ledger.record(60, 0.2)
    ledger.admit()
    ledger.record(50, None)
    with pytest.raises(BudgetExhausted, match="100 tokens"):
        ledger.admit()
    assert ledger.unpriced_calls == 1
    usd = Ledger(Budget(max_usd=0.5))
    usd.record(0, 0.5)
    with pytest.raises(BudgetExhausted, match=r"\$0.5000"):
        usd.admit()


def test_seconds_limit() -> None:
    ledger = Ledger(Budget(max_seconds=0))
    with pytest.raises(BudgetExhausted, match="time budget"):
        ledger.admit()


def test_forced_call_passes_the_limit_and_is_counted() -> None:
    ledger = Ledger(Budget(max_calls=0))
    ledger.force()
    assert ledger.calls == 1


def test_negative_limits_are_rejected() -> None:
    with pytest.raises(ValueError, match="max_calls must be >= 0"):
        Budget(max_calls=-1)


def test_token_budget_ends_run_with_last_turn(replay) -> None:
    spec = replay([repl("x = 1"), "FINAL(enough)", repl("x = 3")])
    result = RLM(spec, budget=Budget(max_tokens=1)).completion("abc", "q?")
    assert (result.status, result.answer) == ("budget_exhausted", "enough")
    assert result.iterations == 2  # one normal turn, then the forced last turn


def test_children_are_refused_when_budget_is_gone(replay) -> None:
    spec = replay(
        {
            "root": [repl("a = llm_query('one')\nb = rlm_query('two')\nprint(b)"), "FINAL(done)"],
            "sub": {"one": "1"},
            "child": [repl("FINAL('child ran')")],
        }
    )
    events: list = []
    rlm = RLM(spec, max_depth=2, budget=Budget(max_calls=2), on_event=events.append)
    result = rlm.completion("abc", "q?")
    assert result.status == "budget_exhausted"
    output = next(e.output for e in events if e.type == "code_executed")
    assert "budget of 2 LM calls is used up" in output
    assert not any(e.type == "child_run" for e in events)
