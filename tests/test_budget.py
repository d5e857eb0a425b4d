"""The ledger: every limit refuses the next call once reached, and says which one."""

from __future__ import annotations

import pytest

from rlmx import RLM, Budget, BudgetExhausted
from rlmx.core.budget import Ledger

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


def test_remaining_says_what_is_left_and_used_of_each_limit() -> None:
    ledger = Ledger(Budget(max_calls=5, max_tokens=100, max_usd=1.0, max_seconds=3600))
    for tokens, usd in ((30, 0.25), (90, 0.8)):
        ledger.admit()
        ledger.record(tokens, usd)
    left = ledger.remaining()
    assert {k: left[k] for k in ("calls_left", "tokens_left", "usd_left")} == {
        "calls_left": 3, "tokens_left": 0, "usd_left": 0}  # fmt: skip
    assert (left["calls_used"], left["tokens_used"], left["usd_used"]) == (2, 120, 1.05)
    assert 3590 < left["seconds_left"] <= 3600 and 0 <= left["seconds_used"] < 10
    assert left["seconds_left"] + left["seconds_used"] == pytest.approx(3600, abs=0.01)
    unlimited = Ledger().remaining()
    assert [unlimited[k] for k in ("calls_left", "tokens_left", "usd_left", "seconds_left")] == [
        None, None, None, None]  # fmt: skip
    assert (unlimited["calls_used"], unlimited["tokens_used"], unlimited["usd_used"]) == (0, 0, 0)


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


# -- one ledger and exact usage for the whole tree (pinned field by field) --------------------
def _child_tree(replay, child_turns: int = 2) -> str:
    child = [repl("x = llm_query('sub of child')\nprint(x)")] * (child_turns - 1)
    return replay(
        {
            "root": [repl("a = rlm_query('go', context='child context')\nprint(a)"), "FINAL(ok)"],
            "child": [*child, repl("FINAL('from the child with a long answer text')")],
            "sub": {"sub of child": "a sub reply that is long enough to count tokens"},
        }
    )


def test_usage_sums_every_field_over_the_tree(replay) -> None:
    events: list = []
    result = RLM(_child_tree(replay), max_depth=2, on_event=events.append).completion("c", "q")
    usage = result.usage
    child_event = next(e for e in events if e.type == "child_run")
    child = child_event.usage["total"]
    for field in ("input_tokens", "output_tokens", "calls"):
        assert getattr(usage.children, field) == child[field] > 0, field
        parts = getattr(usage.root, field) + getattr(usage.sub, field) + child[field]
        assert getattr(usage.total, field) == parts, field
        assert sum(getattr(u, field) for u in usage.by_model.values()) == parts, field
    assert usage.total.cost_usd == 0.0


def test_children_spend_the_parents_budget(replay) -> None:
    """max_calls=3: root turn, then the child's two turns and its sub-call make four."""
    events: list = []
    rlm = RLM(_child_tree(replay, child_turns=3), max_depth=2, budget=Budget(max_calls=3),
              on_event=events.append)  # fmt: skip
    result = rlm.completion("c", "q")
    assert result.status == "budget_exhausted"  # a ledger per child would end "final"
    assert result.usage.total.calls == 3 + 1  # the limit, and the root's forced last turn
    assert result.usage.children.calls == 2  # the child's first turn and its sub-call


def test_a_batch_is_admitted_item_by_item(replay) -> None:
    spec = replay(
        {
            "root": [repl("print(llm_query_batched(['p'] * 5))"), "FINAL(ok)"],
            "sub": {"p": "r"},
        }
    )
    events: list = []
    result = RLM(spec, budget=Budget(max_calls=3), on_event=events.append).completion("c", "q")
    answers = [e for e in events if e.type == "sub_call"]
    assert sum(e.error is None for e in answers) == 2  # 3 calls: one root turn + two items
    assert sum("budget" in (e.error or "") for e in answers) == 3
    assert result.status == "budget_exhausted"


def test_the_seconds_budget_holds_in_a_real_run(replay) -> None:
    spec = replay(
        {
            "root": [repl("r = [llm_query('slow') for _ in range(20)]\nprint(r)"), "FINAL(ok)"],
            "sub": {"slow": {"sleep": 0.2, "reply": "r"}},
        }
    )
    events: list = []
    result = RLM(spec, budget=Budget(max_seconds=1.0), on_event=events.append).completion("c", "q")
    done = [e for e in events if e.type == "sub_call" and e.error is None]
    assert result.status == "budget_exhausted"
    assert 1 <= len(done) < 20  # past one second no call is admitted (not 1000 s, not 0)


def test_the_usd_budget_holds_with_a_priced_model(replay) -> None:
    from chat_server import ChatServer

    root = replay([repl("r = [llm_query('priced') for _ in range(10)]\nprint(r)"), "FINAL(ok)"])
    with ChatServer(default={"cost": 0.02, "reply": "r"}) as server:
        events: list = []
        rlm = RLM(root, sub=f"openrouter:m@{server.base_url}", budget=Budget(max_usd=0.05),
                  on_event=events.append)  # fmt: skip
        result = rlm.completion("c", "q")
    paid = [e for e in events if e.type == "sub_call" and e.error is None]
    assert result.status == "budget_exhausted"
    assert len(paid) == 3  # 0.02 each: admitted while under 0.05 spent
    assert result.cost_usd == pytest.approx(0.06)
