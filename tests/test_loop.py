"""The RLM loop driven by replay models: finals, corrections, limits, budgets, depth, usage."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from rlmx import RLM, Budget
from rlmx.core.answer_warnings import NO_FINAL, STATUS_WARNINGS, unseen_number
from rlmx.core.events import SCHEMA_VERSION, QueueSink, read_trajectory
from rlmx.core.host_calls import SUBCALL_ERROR
from rlmx.core.prompts import FINAL_GRAMMAR, REPLY_GRAMMAR, repeated_cell
from rlmx.core.turns import without_float_noise
from rlmx.lm.base import LMBase, LMResponse, Usage
from rlmx.lm.replay import ReplayLM, load_script

from conftest import repl


def run(spec: str, context: object = "abc", query: str = "q?", **kwargs: object):
    events: list = []
    rlm = RLM(spec, on_event=events.append, **kwargs)
    return rlm.completion(context, query), events


def user_messages(events: list) -> list[str]:
    return [e.output for e in events if e.type == "code_executed"]


def test_multi_turn_state_persists_and_final_from_code(replay) -> None:
    spec = replay(
        [
            repl("def f():\n    return later * 2"),
            repl("later = 21\nprint(f())"),
            repl("FINAL(f())"),
        ]
    )
    result, events = run(spec)
    assert (result.answer, result.status, result.iterations) == ("42", "final", 3)
    assert user_messages(events)[1].strip() == "42"
    assert [e.type for e in events][-2:] == ["final_answer", "run_finished"]


def test_final_var_from_code_by_name_and_value(replay) -> None:
    result, _ = run(replay([repl("answer = [1, 2]\nFINAL_VAR('answer')")]))
    assert result.answer == "[1, 2]"
    result, _ = run(replay([repl("FINAL_VAR(len(context))")]))
    assert result.answer == "3"


def test_a_number_loses_its_binary_float_noise_and_nothing_else_does(replay) -> None:
    result, _ = run(replay([repl("FINAL(sum([7000.5, 510.27]))")]))  # 7510.770000000001
    assert result.answer == "7510.77"
    result, _ = run(replay([repl("print(0.1 + 0.2)"), "FINAL(0.30000000000000004)"]))
    assert result.answer == "0.3"
    for noisy, meant in (
        ("21012772.42999999", "21012772.43"),
        ("42946405.520000055", "42946405.52"),
    ):
        assert without_float_noise(noisy) == meant  # large sums: noise in fewer decimals
    for kept in ("3.14159265358979", "about 0.30000000000000004", "7510.77", "12.0000001"):
        assert run(replay([repl(f"FINAL({kept!r})")]))[0].answer == kept


def test_prose_final_after_a_cell(replay) -> None:
    result, _ = run(replay([repl("print(context)"), "I know it.\nFINAL(the answer is abc)"]))
    assert (result.answer, result.status) == ("the answer is abc", "final")


def test_prose_final_var_is_looked_up(replay) -> None:
    result, events = run(replay([repl("secret = context.upper()"), "FINAL_VAR(secret)"]))
    assert result.answer == "ABC"
    assert any(e.type == "code_executed" and "FINAL_VAR('secret')" in e.code for e in events)


def test_prose_final_var_of_missing_name_goes_back_to_model(replay) -> None:
    spec = replay([repl("x = 1"), "FINAL_VAR(nope)", "FINAL(1)"])
    result, events = run(spec)
    assert result.answer == "1" and result.iterations == 3
    assert "no variable named 'nope'" in user_messages(events)[1]


def replay_lm(replay, script: list) -> ReplayLM:
    spec = replay(script)
    return ReplayLM(load_script(Path(spec.removeprefix("replay:")), "root"), "r")


def test_premature_final_is_rejected(replay) -> None:
    lm = replay_lm(replay, ["FINAL(guess)", repl("print(len(context))"), "FINAL(3)"])
    result = RLM(lm).completion("abc", "q?")
    assert (result.answer, result.iterations) == ("3", 3)
    assert "not accepted before you have run code" in lm.prompts[1][-1]["content"]


def test_no_code_reply_gets_corrective_turn(replay) -> None:
    lm = replay_lm(replay, ["I am thinking about it.", repl("FINAL(1)")])
    result = RLM(lm).completion("abc", "q?")
    assert result.answer == "1"
    assert "neither a ```repl code block nor a final answer" in lm.prompts[1][-1]["content"]


def test_iteration_limit_gives_one_last_turn(replay) -> None:
    spec = replay([repl("x = 1"), repl("x += 1"), "FINAL(best guess)"])
    result, events = run(spec, max_iterations=2)
    assert (result.answer, result.status, result.iterations) == ("best guess", "max_iterations", 3)
    assert result.warnings[0] == STATUS_WARNINGS["max_iterations"]
    # a guess: no cell read the context, and "best guess" is in no output
    assert [w.code for w in result.warnings[1:]] == ["context_unread", "not_in_evidence"]
    finished = next(e for e in events if e.type == "run_finished")
    shown = [w.to_dict() for w in result.warnings]
    assert finished.warnings == shown and result.to_dict()["warnings"] == shown


def test_last_turn_code_without_final_gives_no_code_as_answer(replay) -> None:
    spec = replay([repl("x = 1"), repl("x = 2", prose="still looking")])
    result, _ = run(spec, max_iterations=1)
    assert (result.answer, result.status) == ("still looking", "max_iterations")
    assert result.warnings == [STATUS_WARNINGS["max_iterations"], NO_FINAL]


def test_every_message_rlmx_sends_the_model_is_a_notice(replay) -> None:
    script = ["FINAL(guess)", "thinking", repl("print(1)"), repl("print(1)"), repl("x = 2")]
    result, events = run(replay(script), max_iterations=4)
    notices = [(e.kind, e.iteration) for e in events if e.type == "notice"]
    assert notices == [("premature_final", 1), ("no_code", 2), ("repeated_cell", 4),
                       ("last_turn", 4)]  # fmt: skip
    texts = [e.text for e in events if e.type == "notice"]
    assert "not accepted before you have run code" in texts[0]
    assert "You have used all 4 iterations" in texts[3]
    assert result.status == "max_iterations" and result.warnings


def test_a_final_accepted_after_a_push_back_is_flagged_as_a_guess(replay) -> None:
    spec = replay([repl("print('nothing here')"), "FINAL(140)", "FINAL(140)"])
    result, events = run(spec, policy="compact")
    assert (result.answer, result.status) == ("140", "final")
    assert result.warnings[0] == unseen_number("140")
    assert [w.code for w in result.warnings] == ["unseen_number", "context_unread",
                                                 "not_in_evidence"]  # fmt: skip
    assert [e.kind for e in events if e.type == "notice"] == ["profile", "doubted_final"]
    clean, _ = run(replay([repl("print(140 if context else 0)"), "FINAL(140)"]), policy="compact")
    assert clean.warnings == []


def test_last_turn_without_final_uses_reply_text(replay) -> None:
    spec = replay([repl("x = 1"), "probably 7"])
    result, _ = run(spec, max_iterations=1)
    assert (result.answer, result.status) == ("probably 7", "max_iterations")


def test_budget_exhaustion_errors_subcalls_then_last_turn(replay) -> None:
    spec = replay(
        {
            "root": [
                repl("a = llm_query('one')\nb = llm_query('two')\nprint(a, '|', b)"),
                "FINAL(partial)",
            ],
            "sub": {"one": "1", "two": "2"},
        }
    )
    result, events = run(spec, budget=Budget(max_calls=2))
    assert result.status == "budget_exhausted"
    assert result.answer == "partial"
    output = user_messages(events)[0]
    assert output.startswith("1 | " + SUBCALL_ERROR)
    assert "budget of 2 LM calls is used up" in output


def test_budget_in_repl_reports_what_is_left(replay) -> None:
    spec = replay([repl("b = budget()\nFINAL(b['calls_left'])")])
    result, _ = run(spec, budget=Budget(max_calls=10))
    assert result.answer == "9"


def test_batched_results_keep_order_and_isolate_failures(replay) -> None:
    spec = replay(
        {
            "root": [repl("r = llm_query_batched(['p0', 'p1', 'p2', 'p3'])\nFINAL_VAR('r')")],
            "sub": {
                "p0": {"sleep": 0.2, "reply": "zero"},
                "p1": "one",
                "p2": {"error": "provider exploded"},
                "p3": {"sleep": 0.05, "reply": "three"},
            },
        }
    )
    result, events = run(spec, concurrency=4)
    answer = eval(result.answer)  # a list literal written by str(list)
    assert answer[0] == "zero" and answer[1] == "one" and answer[3] == "three"
    assert answer[2] == SUBCALL_ERROR + "provider exploded"
    subs = sorted((e for e in events if e.type == "sub_call"), key=lambda e: e.batch_index)
    assert [e.batch_index for e in subs] == [0, 1, 2, 3]
    assert subs[2].error == "provider exploded"
    assert result.usage.sub.calls == 3


def test_depth_two_child_runs_sum_usage_over_tree(replay) -> None:
    spec = replay(
        {
            "root": [
                repl("a = rlm_query('find X', context='the X is 5')\nprint(a)"),
                "FINAL_VAR(a)",
            ],
            "child": [repl("v = llm_query('extract ' + context)"), repl("FINAL(v)")],
            "sub": {"extract": "5"},
        }
    )
    result, events = run(spec, max_depth=2)
    assert result.answer == "5"
    child_events = [e for e in events if e.depth == 1]
    assert {e.type for e in child_events} >= {"run_started", "llm_call", "sub_call", "run_finished"}
    child_id = next(e.run_id for e in child_events)
    assert all(e.parent_run_id == result.run_id for e in child_events)
    child_run = next(e for e in events if e.type == "child_run")
    assert child_run.child_run_id == child_id
    # the viewer nests the child and its sub-call under the cells that made them
    assert child_run.cell == 1
    assert next(e for e in child_events if e.type == "run_started").parent_cell == 1
    assert next(e for e in child_events if e.type == "sub_call").cell == 1
    usage = result.usage
    assert usage.root.calls == 2 and usage.sub.calls == 0
    assert usage.children.calls == 3  # two child root turns + one sub-call
    assert usage.total.calls == 5
    by_model_calls = sum(u.calls for u in usage.by_model.values())
    assert by_model_calls == usage.total.calls
    assert usage.total.input_tokens == sum(u.input_tokens for u in usage.by_model.values())


def test_rlm_query_at_max_depth_is_a_plain_subcall(replay) -> None:
    spec = replay({"root": [repl("FINAL(rlm_query('hello there'))")], "sub": {"hello": "hi"}})
    result, events = run(spec, max_depth=1)
    assert result.answer == "hi"
    assert not any(e.type == "child_run" for e in events)


def test_subcall_larger_than_window_is_an_error_string(replay) -> None:
    class Tiny(LMBase):
        name = "tiny"
        context_window = 100

        async def complete(self, messages, *, max_tokens=None, stop=None):
            return LMResponse("ok", Usage(1, 1, 1, 0.0), "tiny")

    spec = replay([repl("FINAL(llm_query('x' * 5000))")])
    result = RLM(spec, sub=Tiny()).completion("abc", "q?")
    assert result.answer.startswith(SUBCALL_ERROR)
    assert "exceeds the 100-token window of tiny" in result.answer


def test_root_error_keeps_what_was_done(replay, tmp_path: Path) -> None:
    spec = replay([repl("print(1)")])  # the script runs out on turn 2
    traj = tmp_path / "t.jsonl"
    result, _ = run(spec, trajectory=traj)
    assert result.status == "error" and result.iterations == 2
    assert "ran out after 1 replies" in result.error
    kinds = [e.type for e in read_trajectory(traj)]
    assert kinds[-2:] == ["error", "run_finished"] and "code_executed" in kinds


def test_trajectory_stores_context_once_and_stays_small(replay, tmp_path: Path) -> None:
    script = [repl("print(len(context))"), repl("x = context[:10]"), repl("FINAL(len(context))")]
    sizes = {}
    for n in (1_000, 2_000_000):
        traj = tmp_path / f"{n}.jsonl"
        result, _ = run(replay(script), context="z" * n, trajectory=traj)
        assert result.answer == str(n)
        lines = traj.read_text().splitlines()
        assert all(json.loads(line)["schema_version"] == SCHEMA_VERSION for line in lines)
        started = json.loads(lines[0])
        assert started["context"]["total_chars"] == n and len(started["context"]["sha256"]) == 64
        sizes[n] = len(traj.read_bytes())
    assert abs(sizes[2_000_000] - sizes[1_000]) < 100  # only digits of the numbers differ


def test_queue_sink_gets_every_event_then_none(replay) -> None:
    spec = replay([repl("FINAL(1)")])

    async def main() -> list:
        sink = QueueSink()
        await RLM(spec).acompletion("abc", "q?", sinks=[sink])
        items = []
        while (item := sink.queue.get_nowait()) is not None:
            items.append(item.type)
        return items

    assert asyncio.run(main()) == [
        "run_started",
        "llm_call",
        "cell_started",
        "code_executed",
        "final_answer",
        "run_finished",
    ]


@pytest.mark.parametrize(
    ("context", "check"),
    [
        (b"caf\xc3\xa9 \xff!", "context == 'café \\ufffd!'"),
        (["aa", "bbb"], "context == ['aa', 'bbb']"),
        ([{"role": "user", "content": "hi"}], "context[0]['content'] == 'hi'"),
        ({"k": [1, 2]}, "context == {'k': [1, 2]}"),
    ],
)
def test_context_types(replay, context: object, check: str) -> None:
    result, _ = run(replay([repl(f"FINAL({check})")]), context=context)
    assert result.answer == "True"


def test_path_and_directory_contexts(replay, tmp_path: Path) -> None:
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "a.txt").write_text("alpha")
    (tmp_path / "d" / "sub" / "b.py").write_text("print('b')")
    (tmp_path / "d" / "img.bin").write_bytes(b"\x00\x01\x02")
    (tmp_path / "d" / ".git").mkdir()
    (tmp_path / "d" / ".git" / "HEAD").write_text("ref")
    result, events = run(replay([repl("FINAL(sorted(context.items()))")]), context=tmp_path / "d")
    assert result.answer == "[('a.txt', 'alpha'), ('sub/b.py', \"print('b')\")]"
    assert events[0].context["skipped_files"] == ["img.bin"]
    result, _ = run(replay([repl("FINAL(context)")]), context=tmp_path / "d" / "a.txt")
    assert result.answer == "alpha"


def test_bad_inputs_raise_clear_errors(replay) -> None:
    from rlmx.lm.base import LMConfigError
    from rlmx.repl.context import ContextError

    spec = replay([repl("FINAL(1)")])
    with pytest.raises(ContextError, match="unsupported context type"):
        RLM(spec).completion(object(), "q?")
    with pytest.raises(ContextError, match="does not exist"):
        RLM(spec).completion(Path("/no/such/file"), "q?")
    with pytest.raises(LMConfigError, match="unknown model provider"):
        RLM("nosuch:model")
    with pytest.raises(LMConfigError, match="replay file not found"):
        RLM("replay:/no/such.json")
    with pytest.raises(ValueError, match="max_iterations must be positive"):
        RLM(spec, max_iterations=0)
    with pytest.raises(ValueError, match="query must be a non-empty string"):
        RLM(spec).completion("abc", " ")


def test_sub_calls_can_be_disabled(replay) -> None:
    lm = replay_lm(replay, [repl("llm_query('x')"), repl("FINAL('code only')")])
    events: list = []
    result = RLM(lm, sub_calls=False, on_event=events.append).completion("abc", "q?")
    assert result.answer == "code only" and result.usage.sub.calls == 0
    assert "sub-calls are disabled" in user_messages(events)[0]
    assert "no sub-models" in lm.prompts[0][0]["content"]


def test_history_is_trimmed_to_fit_a_small_root_window(replay) -> None:
    from rlmx.core.turns import HISTORY_TRIMMED
    from rlmx.lm.base import estimate_tokens

    lm = replay_lm(replay, [repl("print('y' * 3000)")] * 6 + ["FINAL(done)"])
    lm.context_window = 3000
    result = RLM(lm, max_output_chars=4000).completion("abc", "q?")
    assert (result.answer, result.status) == ("done", "final")
    assert all(estimate_tokens(p) <= 3000 - 1024 for p in lm.prompts)
    last = lm.prompts[-1]
    assert HISTORY_TRIMMED in last[1]["content"] and last[0]["role"] == "system"
    assert last[-1]["content"].startswith("Code executed")  # the newest output is kept


def test_cancelling_a_run_closes_it_and_reports_cancelled(replay) -> None:
    spec = replay([repl("import time\nprint('working')\ntime.sleep(60)")])

    async def main() -> list:
        sink = QueueSink()
        task = asyncio.create_task(
            RLM(spec).acompletion("abc", "q?", sinks=[sink], run_id="fixedid12345")
        )
        while True:  # cancel once the cell is running
            event = await sink.queue.get()
            if event.type == "cell_started":
                break
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        rest = []
        while (item := sink.queue.get_nowait()) is not None:
            rest.append(item)
        return rest

    rest = asyncio.run(main())
    finished = rest[-1]
    assert finished.type == "run_finished" and finished.status == "cancelled"
    assert finished.run_id == "fixedid12345"


def test_compact_style_flags_sub_calls_that_carry_no_context_text(replay) -> None:
    line = "The access code for the north gate is 4821937, said the guard."
    context = ("filler sentence number one. " * 200) + line + (" more filler here." * 200)
    spec = replay(
        {
            "root": [
                repl("a = llm_query('What is the access code for the north gate?')\n"
                     f"b = llm_query('Find the code in: {line}')\nprint(a)\nprint(b)"),
                repl("FINAL('done')"),
            ],
            "sub": {"What is": "1234", "Find the code": "4821937"},
        }
    )  # fmt: skip
    _, events = run(spec, context=context, policy="compact")
    output = next(e.output for e in events if e.type == "code_executed")
    blind, seen = output.strip().splitlines()[:2], output.strip().splitlines()[2:]
    assert blind[0] == "1234" and "held no text from the context" in blind[1]
    assert seen == ["4821937"]
    _, paper_events = run(spec, context=context, policy="paper")
    paper_output = next(e.output for e in paper_events if e.type == "code_executed")
    assert "held no text" not in paper_output


def test_compact_style_does_not_send_a_sub_call_that_only_repeats_the_question(replay) -> None:
    query = "What is the special magic number for eager-meadow mentioned in the provided text?"
    context = "filler sentence number one. " * 400
    spec = replay(
        {
            "root": [
                repl("print(llm_query('What is the special magic number for eager-meadow?'))"),
                repl("FINAL('done')"),
            ],
            "sub": {"What is": "10"},
        }
    )  # fmt: skip
    result, events = run(spec, context=context, query=query, policy="compact")
    output = user_messages(events)[0]
    assert output.startswith(SUBCALL_ERROR + "not sent: this prompt only repeats the question")
    (sub,) = [e for e in events if e.type == "sub_call"]
    assert sub.error and sub.response == "" and result.usage.sub.calls == 0
    result, events = run(spec, context=context, query=query, policy="paper")
    assert user_messages(events)[0].strip() == "10" and result.usage.sub.calls == 1


def test_compact_style_pushes_back_once_on_a_final_number_no_output_showed(replay) -> None:
    guess = [repl("print('no match here')"), "FINAL(1,405)", "FINAL(1,405)"]
    root = ReplayLM(guess, "root")
    result = RLM(root, root, policy="compact").completion("abc", "What is the ticket number?")
    assert (result.answer, result.iterations) == ("1,405", 3)
    assert root.prompts[2][-1]["content"].startswith("Not accepted yet: 1405 appears in no")
    result, _ = run(replay(guess), query="What is the ticket number?", policy="paper")
    assert (result.answer, result.iterations) == ("1,405", 2)
    seen = [repl("print('total: 1405 rows')"), "FINAL(1,405)"]
    result, _ = run(replay(seen), query="What is the ticket number?", policy="compact")
    assert (result.answer, result.iterations) == ("1,405", 2)
    in_query = [repl("print('yes')"), "FINAL(7)"]
    result, _ = run(replay(in_query), query="Is 7 prime?", policy="compact")
    assert (result.answer, result.iterations) == ("7", 2)
    rounded = [repl("print('first heard at 41.3 s')"), "FINAL(at 41 s)"]
    result, _ = run(replay(rounded), query="When?", policy="compact")
    assert (result.answer, result.iterations) == ("at 41 s", 2)


class GrammarSpy(ReplayLM):
    """A replay root that, like an embedded model, takes a grammar; it records each one."""

    supports_grammar = True

    def __init__(self, script: list[str]) -> None:
        super().__init__(script, "spy")
        self.grammars: list[str | None] = []

    async def complete(self, messages, **options):  # type: ignore[no-untyped-def]
        self.grammars.append(options.get("grammar"))
        return await super().complete(messages, **options)


def test_a_cell_that_repeats_itself_is_followed_by_a_final_only_turn() -> None:
    spy = GrammarSpy([repl("print(context)"), repl("print(context)"), "FINAL(abc)"])
    result = RLM(spy, spy, policy="compact").completion("abc", "q?")
    assert result.answer == "abc"
    assert spy.grammars == [REPLY_GRAMMAR, REPLY_GRAMMAR, FINAL_GRAMMAR]
    assert spy.prompts[2][-1]["content"].endswith(repeated_cell("q?"))
    assert "same output" not in spy.prompts[1][-1]["content"]


def test_the_last_turn_may_only_answer() -> None:
    spy = GrammarSpy([repl("print(context)"), "FINAL(abc)"])
    result = RLM(spy, spy, policy="compact", max_iterations=1).completion("abc", "q?")
    assert (result.answer, result.status) == ("abc", "max_iterations")
    assert spy.grammars == [REPLY_GRAMMAR, FINAL_GRAMMAR]


def test_each_sub_call_of_a_batch_has_its_own_id(replay) -> None:
    spec = replay(
        {
            "root": [repl("r = llm_query_batched(['a', 'b', 'c', 'd'])"), repl("FINAL('ok')")],
            "sub": {"": {"sleep": 0.05, "reply": "x"}},
        }
    )
    _, events = run(spec)
    ids = [e.call_id for e in events if e.type == "sub_call"]
    assert len(ids) == 4 and len(set(ids)) == 4


def test_sub_calls_record_their_queue_wait_apart_from_their_latency(replay) -> None:
    spec = replay(
        {
            "root": [repl("r = llm_query_batched(['a', 'b', 'c'])"), repl("FINAL('ok')")],
            "sub": {"": {"sleep": 0.3, "reply": "x"}},
        }
    )
    _, events = run(spec, concurrency=1)  # one slot: the items wait for each other
    calls = [e for e in events if e.type == "sub_call"]
    service = [e.seconds - e.queued_seconds for e in calls]
    assert all(0 <= e.queued_seconds <= e.seconds for e in calls)
    assert max(e.queued_seconds for e in calls) >= min(service)  # the last one waited


def test_the_rlms_answer_protocol_ends_a_run_too(replay, tmp_path: Path) -> None:
    """Models and prompts written for the official rlms package set ``answer``: the first
    cell that finishes without an error while it is ready ends the run; a session's next
    question starts afresh."""
    trajectory = tmp_path / "run.jsonl"
    failing = "answer['content'] = 'early'\nanswer['ready'] = True\n1 / 0"
    fixed = "print(answer)\nanswer['content'] = str(len(context))"
    spec = replay([repl("x = 1"), repl(failing), repl(fixed)])
    result = RLM(spec, trajectory=trajectory).completion("abcd", "q")
    assert (result.answer, result.status, result.iterations) == ("4", "final", 3)
    events = read_trajectory(trajectory)
    outputs = [e.output for e in events if e.type == "code_executed"]
    assert outputs[2].startswith("{'content': 'early', 'ready': True}")
    assert next(e for e in events if e.type == "final_answer").via == "answer"
    done = "answer['content'] = str(len(context))\nanswer['ready'] = True"
    asked = ReplayLM([repl(done), repl("print(answer['ready'])"), repl("FINAL('second')")], "r")
    with RLM(asked).session("xyz") as session:
        assert session.ask("one").answer == "3"
        assert session.ask("two").answer == "second"


def test_compaction_summarises_earlier_turns_with_the_sub_model(tmp_path: Path) -> None:
    cells = [repl(f"v{i} = {i} * 11\nprint('row {i} ' * 300)") for i in range(6)]
    root = ReplayLM([*cells, repl("FINAL(v5)")], "root")
    root.context_window = 4_000
    sub = ReplayLM({"Summarise them": "SUMMARY: rows 0-4 printed; v4 is 44."}, "sub")
    trajectory = tmp_path / "run.jsonl"
    result = RLM(root, sub, compaction=0.5, trajectory=trajectory).completion("c", "q")
    assert (result.answer, result.status) == ("55", "final")
    notices = [e for e in read_trajectory(trajectory) if e.type == "notice"]
    compacted = [n for n in notices if n.kind == "compacted"]
    assert compacted and "SUMMARY: rows 0-4 printed" in compacted[0].text
    assert "v0: int" in compacted[0].text  # the REPL's variables are listed
    assert not any(n.kind == "history_trimmed" for n in notices)
    after = root.prompts[-1]
    task = after[1]["content"]  # after the system prompt
    assert "SUMMARY: rows 0-4 printed" in task and "Variables in the REPL now" in task
    assert after[-2]["role"] == "assistant" and after[-1]["role"] == "user"
    assert sum("row 0 row 0" in m["content"] for m in after) == 0  # old outputs are gone
    assert result.usage.sub.calls == len(compacted)
