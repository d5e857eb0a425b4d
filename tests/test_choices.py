"""Sub-call replies held to choices: the grammar where the backend takes one, the matching
where it does not, and bad choices refused as the cell's error (the run goes on)."""

from __future__ import annotations

import ast

import pytest

from rlmx import RLM
from rlmx.choices import MAX_CHOICES, check_choices, choice_grammar, match_choice, with_choices
from rlmx.core.host_calls import SUBCALL_ERROR
from rlmx.core.host_functions import BUILTINS
from rlmx.repl.frames import ProtocolViolation

from conftest import repl

LABELS = ["human being", "location", "numeric value"]


def run(spec: str, **kwargs: object) -> tuple[object, list]:
    events: list = []
    result = RLM(spec, sandbox="process", on_event=events.append, **kwargs).completion("c", "q")
    return result, events


def test_bad_choices_are_named() -> None:
    assert check_choices(LABELS) is None
    assert "at least one" in str(check_choices([]))
    assert "at most 64" in str(check_choices([f"c{i}" for i in range(MAX_CHOICES + 1)]))
    assert "not blank" in str(check_choices(["yes", "  "]))
    assert "not blank" in str(check_choices(["x" * 201]))
    assert "differ" in str(check_choices(["Yes", "yes "]))


def test_a_reply_is_matched_to_the_one_choice_it_names() -> None:
    assert match_choice("Human being.", LABELS) == "human being"
    assert match_choice(" 'location' ", LABELS) == "location"
    assert match_choice("I would say numeric value here", LABELS) == "numeric value"
    assert match_choice("location or human being", LABELS) is None  # two named
    assert match_choice("dislocation", LABELS) is None  # not as a whole word
    assert match_choice("banana", LABELS) is None


def test_the_prompt_starts_with_the_choices_and_the_grammar_allows_only_them() -> None:
    prompt = with_choices("Label this: Who wrote Hamlet?", LABELS)
    assert prompt == (
        "Reply with exactly one of: human being, location, numeric value.\n\n"
        "Label this: Who wrote Hamlet?"
    )
    assert choice_grammar(['say "hi"', "a\\b"]) == 'root ::= "say \\"hi\\"" | "a\\\\b"'


def test_a_call_with_bad_choices_breaks_no_protocol() -> None:
    batched = next(e.spec for e in BUILTINS if e.spec.name == "llm_query_batched")
    batched.check({"prompts": ["a"], "choices": ["x", "y"]}, max_batch=10)
    batched.check({"prompts": ["a"], "choices": None}, max_batch=10)
    for bad in ("xy", [1, 2], ["c"] * (MAX_CHOICES + 1)):
        with pytest.raises(ProtocolViolation):
            batched.check({"prompts": ["a"], "choices": bad}, max_batch=10)


def test_replies_without_a_grammar_are_matched_or_become_errors(replay) -> None:
    code = (
        "print(llm_query_batched(['Label: Who wrote Hamlet?', 'Label: Where is Paris?', "
        f"'Label: a mess'], choices={LABELS!r}))\n"
        f"FINAL(llm_query('Label: Where is Rome?', choices={LABELS!r}))"
    )
    # the prompt sent starts with the choices (a replay sub matches a part of the prompt)
    sub = {"one of: human being, location, numeric value.\n\nLabel: Who": "Human being.",
           "Paris": "I would say location", "mess": "banana", "Rome": "location"}  # fmt: skip
    spec = replay({"root": [repl(code)], "sub": sub})
    result, events = run(spec)
    assert result.answer == "location"
    shown = next(e for e in events if e.type == "code_executed").output
    error = f"{SUBCALL_ERROR}the reply 'banana' is not one of the choices"
    assert shown.strip() == str(["human being", "location", error])
    prompts = [e.prompt for e in events if e.type == "sub_call"]
    assert prompts[0] == "Label: Who wrote Hamlet?"  # the trajectory shows the cell's prompt


def test_bad_choices_are_the_cells_error_and_the_run_goes_on(replay) -> None:
    code = (
        "for bad in ('yes', [], ['a', 'A'], ['c%d' % i for i in range(65)]):\n"
        "    try:\n"
        "        llm_query('x', choices=bad)\n"
        "    except Exception as e:\n"
        "        print(type(e).__name__, getattr(e, 'type_name', '-'), getattr(e, 'message', e))"
    )
    spec = replay({"root": [repl(code), repl("FINAL(llm_query('p'))")], "sub": {"p": "fine"}})
    result, events = run(spec)
    assert result.status == "final" and result.answer == "fine"
    lines = next(e for e in events if e.type == "code_executed").output.splitlines()
    assert lines == [
        "TypeError - llm_query expects a list of choices, not one string",
        "ToolError ValueError choices must name at least one reply",
        "ToolError ValueError choices must differ (ignoring case)",
        "ValueError - llm_query: 65 choices (at most 64)",
    ]
    assert not [e for e in events if e.type == "sub_call" and e.prompt == "x"]


def test_the_embedded_model_replies_only_with_a_choice(replay) -> None:
    code = (
        "labels = llm_query_batched(['Label this question: Who wrote Hamlet?', 'Label this "
        f"question: How far is the Moon?'], choices={LABELS!r})\nFINAL(repr(labels))"
    )
    result, events = run(replay([repl(code)]), sub="local:smollm2-135m")
    labels = ast.literal_eval(result.answer)
    assert len(labels) == 2 and all(label in LABELS for label in labels)
    calls = [e for e in events if e.type == "sub_call"]
    assert len(calls) == 2 and all(c.error is None for c in calls)
    # the grammar ends the reply with the label: a few tokens, not the 1,024 allowed
    assert all(c.usage["output_tokens"] <= len("numeric value") + 8 for c in calls)
