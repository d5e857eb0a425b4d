"""OOLONG-real: the official rows' format (a small fixture, tests/data) and its official
scoring rubric, end to end through ``rlmx eval run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rlmx.eval.runner import generate
from rlmx.eval.scoring import dnd_score

from conftest import repl

FIXTURE = Path(__file__).parent / "data" / "oolong_real_fixture.jsonl"


def test_the_official_rubric() -> None:
    assert dnd_score(r"so \boxed{4}", "4") == 1.0
    assert dnd_score(r"\boxed{6}", "4") == pytest.approx(0.75**2)
    assert dnd_score(r"\boxed{\text{Grog, Vex}}", "Grog, Percy") == 0.5
    assert dnd_score("Scanlan", "scanlan") == 1.0  # a FINAL without a box is read whole
    assert dnd_score("4", "Grog, Percy") == 0.0 and dnd_score(None, "4") == 0.0
    assert dnd_score("Vax Lee, Grog", "Vax Lee, Pike") == 0.5  # names with spaces stay whole
    assert dnd_score("3", "Grog") == 0.0 and dnd_score("Grog, Vex", ",") == 0.0  # no crash


def test_items_from_a_local_copy_in_the_official_format(tmp_path: Path) -> None:
    items = generate("oolong-real", [1000], 5, data_dir=FIXTURE)
    assert [item.item_id for item in items] == [
        "oolong-real-r1",
        "oolong-real-r2",
        "oolong-real-r3",
    ]
    assert items[0].answer_type == "dnd" and items[0].gold == "4"
    assert items[0].context.startswith("Episode 12 transcript.") and items[0].length == 1000
    assert 10 < items[0].meta["tokens"] <= 1000
    with pytest.raises(ValueError, match="no OOLONG-real windows of at most 256 tokens"):
        generate("oolong-real", [256], 5, data_dir=FIXTURE, count=lambda text: 300)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": 1, "question": "q"}) + "\n")
    with pytest.raises(ValueError, match="missing"):
        generate("oolong-real", [1000], 1, data_dir=bad)


def test_eval_run_scores_oolong_real_end_to_end(tmp_path: Path, replay) -> None:
    spec = replay([repl("import re\nFINAL(len(re.findall(r'rolls', context)))")])
    out = tmp_path / "rows.jsonl"
    proc = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "eval", "run", "--task", "oolong-real", "--method",
         "rlm", "--out", str(out), "--root", spec, "--n", "1", "--lengths", "1000",
         "--data", str(FIXTURE), "--sandbox", "process"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    [row] = [json.loads(line) for line in out.read_text().splitlines()]
    assert row["answer"] == "4" and row["score"] == 1.0 and row["task"] == "oolong-real"
