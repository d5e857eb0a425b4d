"""Warnings with stable codes next to answers whose evidence is weak: each signal on its own,
what does not warn, and the codes reaching the CLI (``--strict``), JSON and the trajectory."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from rlmx import RLM
from rlmx.core.answer_warnings import (
    AnswerWarning,
    Cell,
    computed_question,
    evidence_warnings,
    settle_attempts,
    unsupported_parts,
)
from rlmx.core.events import RunFinished

from conftest import repl

READ = Cell("rows = context.splitlines()\nprint(len(rows))", "12\n", False)


def codes(*args, **kwargs) -> list[str]:  # type: ignore[no-untyped-def]
    return [w.code for w in evidence_warnings(*args, **kwargs)]


def nowhere(_: str) -> bool:
    return False


def test_each_signal_alone() -> None:
    assert codes("Who?", "Ada", [READ], False, 0, lambda t: t == "Ada") == []
    assert codes("Who?", "Ada", [Cell("x = 1", "", False)], False, 0,
                 lambda t: True) == ["context_unread"]  # fmt: skip
    noisy = [READ, Cell("print(sum(prices))", "7510.770000000001\n", False)]
    assert codes("What is the total?", "7510.77", noisy, True, 0, nowhere) == []  # cleaned
    on_rows = [Cell("print(len([r for r in rows if r['x'] == 1]))", "4\n", False)]
    assert codes("Who?", "4", on_rows, False, 0, lambda t: True) == []  # rlmx bound rows
    failed = [Cell("print(context[:9])", "Ada wrote", False), Cell("1 / 0", "Zero...", True)]
    assert codes("Who?", "Ada", failed, True, 0, lambda t: True) == ["last_cell_failed"]
    assert codes("Who?", "Ada", failed, False, 0, lambda t: True) == []  # FINAL in a cell
    plain = Cell("print(context[:100])", "...", False)
    assert codes("How many rows?", "12", [plain], False, 0, nowhere) == ["uncounted"]
    assert codes("How many rows?", "12", [READ], False, 0, nowhere) == []  # len() counted
    excerpts = Cell("for m in re.finditer('ERROR', context):\n    print(m)", "...", False)
    assert codes("How many ERROR lines?", "11", [excerpts], False, 0, nowhere) == ["uncounted"]
    assert codes("How many rows?", "0", [READ], False, 0, nowhere) == ["empty_result"]
    assert codes("Which IP?", "None", [READ], False, 0, nowhere) == ["empty_result"]
    for nothing in ("Counter()", "Counter({})", "defaultdict(<class 'int'>, {})", "set()"):
        assert codes("Which IP?", nothing, [READ], False, 0, lambda t: True) == ["empty_result"]
    for said in ("No records found", "No name found in the text.", "None found", "Not found."):
        assert codes("Which city?", said, [READ], False, 0, lambda t: True) == ["empty_result"]
    assert codes("Which city?", "Norway", [READ], False, 0, lambda t: True) == []
    assert codes("Which IP?", "Counter({'10.0.0.7': 4})", [READ], False, 0, lambda t: True) == []
    assert codes("Was it sent?", "None", [READ], False, 0, nowhere) == []  # yes/no: may be
    assert codes("Who?", "Ada", [READ], False, 2, lambda t: True) == ["sub_call_failed"]
    assert codes("Who?", "Grace Hopper", [READ], False, 0, nowhere) == ["not_in_evidence"]
    assert codes("Who?", "Ada", [READ], False, 0, nowhere, cited=True) == []
    # an answer the model typed (prose) must have been shown by code, numbers included
    shown = Cell("print(context[40:80])", "... the magic number is 4349090 ...", False)
    assert codes("What is the magic number?", "4349090", [shown], True, 0, nowhere) == []
    assert codes("Which id?", "4349091", [shown], True, 0, lambda t: True) == ["not_in_evidence"]
    assert codes("Who?", "Ada", [READ], True, 0, lambda t: True) == ["not_in_evidence"]
    video = [Cell("FINAL(look('colour?', 0, 8))", "", False)]
    assert codes("What colour?", "teal", video, False, 0, nowhere, reads_tools=True) == []


def test_what_the_evidence_check_reads_of_an_answer() -> None:
    shown = [Cell("print(top)", "Top: Ada Lind (Hanoi)\n", False)]
    assert unsupported_parts("Ada Lind, Hanoi", shown, nowhere) == []
    assert unsupported_parts("ada lind and HANOI", shown, nowhere) == []  # case-folded
    assert unsupported_parts("Ada Lind, Paris", shown, nowhere) == ["Paris"]
    assert unsupported_parts("Paris", shown, lambda t: t == "Paris") == []  # the context has it
    prose = "The most frequent visitor was a woman named Ada from the capital"
    assert unsupported_parts(prose, shown, nowhere) == []  # long prose is not checked
    assert unsupported_parts("42, 3.5%, $1,200", shown, nowhere) == []  # numbers: other checks
    assert unsupported_parts("Not found", shown, nowhere) == []
    typed = json.dumps({"name": "Ada Lind", "city": "Rome", "age": 36})
    assert unsupported_parts(typed, shown, nowhere) == ["Rome"]  # a typed answer's strings


def test_warnings_have_a_code_and_a_sentence_everywhere(replay, tmp_path: Path) -> None:
    trajectory = tmp_path / "run.jsonl"
    spec = replay([repl("x = 1"), repl("FINAL('Grace Hopper')")])
    result = RLM(spec, trajectory=trajectory).completion("Ada Lovelace wrote notes.", "Who?")
    assert [w.code for w in result.warnings] == ["context_unread", "not_in_evidence"]
    assert str(result.warnings[1]) == result.warnings[1].message
    shown = result.to_dict()["warnings"]
    assert shown[1] == {"code": "not_in_evidence", "message": "'Grace Hopper' appear(s) in no "
                        "REPL output and not in the context"}  # fmt: skip
    finished = [json.loads(line) for line in trajectory.read_text().splitlines()][-1]
    assert finished["warnings"] == shown
    # a trajectory written before codes existed still reads
    old = RunFinished(
        run_id="r",
        depth=0,
        iteration=1,
        status="final",
        answer="a",
        iterations=1,
        usage={},
        cost_usd=None,
        seconds=1.0,
        warnings=["the model gave no FINAL answer"],
    )  # type: ignore[list-item]
    assert old.warnings == [{"code": "note", "message": "the model gave no FINAL answer"}]
    assert AnswerWarning.of(shown[0]) == result.warnings[0]


def test_strict_exits_3_on_a_doubtful_answer(replay, tmp_path: Path) -> None:
    doc = tmp_path / "doc.txt"
    doc.write_text("Ada Lovelace wrote the notes.")

    def ask(spec: str, *more: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "rlmx.cli", "ask", str(doc), "-q", "Who wrote the notes?",
             "--root", spec, *more], capture_output=True, text=True, timeout=120,
        )  # fmt: skip

    guessed = replay([repl("x = 1"), repl("FINAL('Grace Hopper')")])
    loose = ask(guessed)
    assert loose.returncode == 0 and loose.stdout.strip() == "Grace Hopper"
    assert "rlmx: warning [not_in_evidence]: 'Grace Hopper' appear(s)" in loose.stderr
    assert ask(guessed, "--strict").returncode == 3
    found = replay([repl("print(context)"), repl("FINAL('Ada Lovelace')")])
    assert ask(found, "--strict").returncode == 0
    as_json = json.loads(ask(guessed, "--json").stdout)
    assert [w["code"] for w in as_json["warnings"]] == ["context_unread", "not_in_evidence"]


def test_what_a_recheck_compares_and_when_it_runs() -> None:
    assert computed_question("How many orders were returned?")
    assert computed_question("Which region sold the most units?")
    assert not computed_question("Who wrote the notes?")  # a lookup: nothing computed
    same = [("58", "58.0"), ("1,200", "1200"), ("$1,200.50", "1200.5"), ("Support", "support"),
            ("['a', 'b']", "b, a")]  # fmt: skip
    doubt = [AnswerWarning("empty_result", "...")]
    for first, second in same:
        assert settle_attempts([(first, doubt), (second, [])]) == (0, doubt)  # nothing learned
    assert settle_attempts([("Ada", doubt)]) == (0, doubt)  # no recheck answered


def test_which_answer_stands_when_the_attempts_differ() -> None:
    doubt = [AnswerWarning("empty_result", "...")]
    uncounted = [AnswerWarning("uncounted", "")]

    def settled(*attempts: tuple[str, list[AnswerWarning]]) -> tuple[int, list[str], str]:
        winner, warnings = settle_attempts(list(attempts))
        return winner, [w.code for w in warnings], warnings[-1].message

    # two attempts: the second stands unless a check doubted it
    assert settled(("0", doubt), ("126", [])) == (1, ["recheck_differs"], (
        "independent attempts disagreed: 1 of 2 gave this answer (attempt 2); the rest "
        "answered '0' (doubted: empty_result)"))  # fmt: skip
    assert settled(("153", []), ("Hanoi", []))[:2] == (1, ["recheck_differs"])
    assert settled(("153", doubt), ("126", uncounted))[:2] == (
        0, ["empty_result", "recheck_differs"])  # fmt: skip
    # a third attempt: two of three undoubted answers agreeing decide
    winner, codes, message = settled(("153", []), ("126", []), ("153.0", []))
    assert (winner, codes) == (0, ["recheck_differs"]) and "2 of 3 gave this answer" in message
    assert message.endswith("the rest answered '126'")
    assert settled(("153", doubt), ("126", []), ("126", []))[:2] == (1, ["recheck_differs"])
    assert settled(("153", []), ("126", []), ("7", []))[0] == 1  # no majority: the second
    # doubted answers never outvote an undoubted one: two rechecks counted 0 with the same
    # case-sensitive filter, the first had counted 570
    winner, codes, message = settled(("570", []), ("0", doubt), ("0", doubt))
    assert (winner, codes) == (0, ["recheck_differs"]) and "1 of 3 gave this answer" in message
    assert settled(("5", doubt), ("0", doubt), ("5", uncounted))[:2] == (
        0,
        ["empty_result", "recheck_differs"],
    )  # all doubted: the majority


def test_a_computed_answer_is_worked_out_again(replay, tmp_path: Path) -> None:
    context = "\n".join(f"order {i} status={'returned' if i % 3 == 0 else 'shipped'}"
                        for i in range(1, 13))  # fmt: skip
    count = repl("rows = [r for r in context.splitlines() if 'returned' in r]\nprint(len(rows))")
    count5 = repl("rows = [r for r in context.splitlines() if 'returned' in r or 'r 1 ' in r]\n"
                  "print(len(rows))")  # fmt: skip
    query = "How many orders were returned?"

    def run(script: list[str], **settings: object) -> tuple[Any, list[dict[str, Any]]]:
        trajectory = tmp_path / f"run-{len(list(tmp_path.glob('run-*')))}.jsonl"
        result = RLM(replay(script), trajectory=trajectory, **settings).completion(context, query)
        return result, [json.loads(line) for line in trajectory.read_text().splitlines()]

    final = repl("FINAL(len(rows))")
    # the second attempt differs and nothing doubts it; the third gives no answer (the
    # script has no more replies): the second's answer stands, warned
    result, events = run([count, final, count5, final])
    assert result.answer == "5" and [w.code for w in result.warnings] == ["recheck_differs"]
    assert "(attempt 2); the rest answered '4'" in result.warnings[0].message
    check, third = [e for e in events if e["type"] == "child_run"]
    assert check["recheck"] and check["answer"] == "5" and check["status"] == "final"
    assert third["recheck"] and third["answer"] is None and third["status"] == "error"
    assert events[-1]["type"] == "run_finished" and events[-1]["answer"] == "5"
    # the second attempt is a run of its own, from a fresh prompt that says what it is
    first_call = next(e for e in events if e["type"] == "llm_call"
                      and e["run_id"] == check["child_run_id"])  # fmt: skip
    assert "second, independent attempt" in first_call["prompt"]["add"][-1]["content"]
    assert result.usage.to_dict()["root"]["calls"] == 2 and result.iterations == 2

    # a third attempt, from a prompt of its own, sides with the first: a majority decides
    voted, events = run([count, final, count5, final, count, final])
    assert voted.answer == "4" and [w.code for w in voted.warnings] == ["recheck_differs"]
    assert "2 of 3 gave this answer" in voted.warnings[0].message
    assert voted.warnings[0].message.endswith("the rest answered '5'")
    third = [e for e in events if e["type"] == "child_run"][1]
    third_call = next(e for e in events if e["type"] == "llm_call"
                      and e["run_id"] == third["child_run_id"])  # fmt: skip
    assert "third attempt at this question" in third_call["prompt"]["add"][-1]["content"]

    agreed, events = run([count, final, count, final])
    assert agreed.answer == "4" and agreed.warnings == []
    assert [e["answer"] for e in events if e["type"] == "child_run"] == ["4"]

    off, events = run([count, repl("FINAL(len(rows))")], recheck=False)
    assert off.warnings == [] and not [e for e in events if e["type"] == "child_run"]
