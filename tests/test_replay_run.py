"""``rlmx replay``: a recorded run executed again with its recorded LM replies reproduces
every cell's output, and the first cell that no longer does is reported."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlmx import RLM
from rlmx.core.rerun import replay_run

from conftest import repl

ROOT = [
    repl("n = len(context)\nprint(n)"),
    repl("picked = llm_query_batched(['colour of sky', 'colour of grass'])\n"
         "kind = llm_query('one word?', choices=['short', 'long'])\nprint(picked, kind)"),
    repl("child = rlm_query('count the words', context='a b c')\nprint(child)"),
    repl("FINAL(f'{n} {picked[0]} {kind} {child}')"),
]  # fmt: skip
CHILD = [repl("w = len(context.split())\nprint(w)"), repl("FINAL(w)")]
SUBS = {"colour of sky": "blue", "colour of grass": "green", "one word?": "short"}


@pytest.fixture
def recorded(tmp_path: Path) -> tuple[Path, Path]:
    """A depth-2 run with plain, batched, choice-constrained and child calls, recorded."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"root": ROOT, "child": CHILD, "sub": SUBS}))
    doc = tmp_path / "doc.txt"
    doc.write_text("twelve chars")
    trajectory = tmp_path / "run.jsonl"
    result = RLM(f"replay:{script}", max_depth=2, trajectory=trajectory).completion(doc, "q")
    assert result.answer == "12 blue short 3"
    script.unlink()  # the replay must not need the models
    return trajectory, doc


async def test_a_recorded_run_is_reproduced(recorded: tuple[Path, Path]) -> None:
    trajectory, _ = recorded
    report = await replay_run(trajectory)
    assert report.divergence is None and report.context_matches
    assert report.cells == 6  # 4 of the root, 2 of the child
    assert (report.replayed_answer, report.replayed_status) == ("12 blue short 3", "final")


async def test_the_first_differing_cell_is_reported(recorded: tuple[Path, Path]) -> None:
    trajectory, doc = recorded
    doc.write_text("now it is longer")  # what the first cell prints changes
    report = await replay_run(trajectory)
    found = report.divergence
    assert found is not None and not report.context_matches
    assert (found.depth, found.cell, found.recorded, found.replayed) == (0, 1, "12\n", "16\n")


async def test_a_changed_child_cell_is_found_in_the_child(recorded, tmp_path: Path) -> None:
    trajectory, _ = recorded
    lines = trajectory.read_text().splitlines()
    edited = []
    for line in lines:
        event = json.loads(line)
        if event["type"] == "code_executed" and event["depth"] == 1 and event["cell"] == 1:
            event["output"] = "4\n"  # as if the child once counted differently
        edited.append(json.dumps(event))
    trajectory.write_text("\n".join(edited) + "\n")
    report = await replay_run(trajectory)
    found = report.divergence
    assert found is not None and report.cells == 2  # root cells 1-2 ran before the child
    assert (found.depth, found.query, found.cell, found.replayed) == (
        1, "count the words", 1, "3\n")  # fmt: skip


def test_the_cli_exit_codes(recorded: tuple[Path, Path], tmp_path: Path) -> None:
    trajectory, _doc = recorded

    def replay(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rlmx.cli", "replay", *args],
                              capture_output=True, text=True, timeout=120)  # fmt: skip

    same = replay(str(trajectory))
    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith("reproduced: 6 cells gave the recorded output")
    other = tmp_path / "other.txt"
    other.write_text("a different text")
    differs = replay(str(trajectory), "--context", str(other), "--json")
    assert differs.returncode == 1, differs.stderr
    shown = json.loads(differs.stdout)
    assert shown["divergence"]["cell"] == 1 and not shown["context_matches"]
    missing = replay(str(tmp_path / "nothing.jsonl"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert replay(str(empty)).returncode == 2
