"""The aggregation task: every format reads back to its records, every gold is what the
records say, items are deterministic and sized, and exact scoring is exact."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from rlmx.eval.aggregate import FORMATS, KINDS, Employee, aggregate_item, render
from rlmx.eval.runner import generate
from rlmx.eval.scoring import exact_score
from rlmx.repl.context import prepare_context, text_layout


def parse(text: str, fmt: str) -> list[Employee]:
    """An independent reader of each format (what a correct cell would do)."""
    if fmt == "csv":
        rows = csv.DictReader(io.StringIO(text))
        return [Employee(int(r["id"]), r["name"], r["dept"], r["city"], int(r["salary"]))
                for r in rows]  # fmt: skip
    if fmt == "jsonl":
        return [Employee(**json.loads(line)) for line in text.splitlines()]
    if fmt == "kv":
        blocks = [dict(line.split(": ", 1) for line in block.splitlines())
                  for block in text.strip().split("\n\n")]  # fmt: skip
        return [Employee(int(b["id"]), b["name"], b["dept"], b["city"], int(b["salary"]))
                for b in blocks]  # fmt: skip
    pattern = {
        "pipe": r"ID (\d+) \| (.+?) \| dept: (\w+) \| city: (\w+) \| salary: (\d+)",
        "log": r'id=(\d+) name="(.+?)" dept=(\w+) city=(\w+) salary=(\d+)',
    }[fmt]
    return [Employee(int(i), n, d, c, int(s)) for i, n, d, c, s in re.findall(pattern, text)]


def answer(records: list[Employee], query: str) -> int | str:
    """The question answered from the records, by reading the question."""
    dept = next((d for d in ("Sales", "Finance", "Legal", "Marketing", "Engineering",
                             "Support") if d in query), None)  # fmt: skip
    city = re.search(r"employees in (\w+)\?", query)
    group = [e for e in records if e.dept == dept]
    if query.startswith("How many employees"):
        return len(group)
    if query.startswith("What is the total"):
        return sum(e.salary for e in records if city and e.city == city.group(1))
    if query.startswith("What is the average"):
        return round(sum(e.salary for e in group) / len(group))
    if query.startswith("Who has the highest"):
        group = [e for e in group if not city or e.city == city.group(1)]
        top = max(e.salary for e in group)
        (best,) = [e for e in group if e.salary == top]  # one, or the question is unfair
        return best.name
    if query.startswith("Which city"):
        return Counter(e.city for e in records).most_common(1)[0][0]
    return len({e.city for e in group})


@pytest.mark.parametrize("length", [1250, 7500])
def test_items_read_back_and_their_gold_is_right(length: int) -> None:
    items = generate("aggregate", [length], 30)
    assert {(i.meta["format"], i.meta["kind"]) for i in items} == {
        (f, k) for f in FORMATS for k in KINDS}  # fmt: skip
    for item in items:
        records = parse(item.context, item.meta["format"])
        assert len(records) == item.meta["records"] >= 8
        assert answer(records, item.query) == item.gold, item.item_id
        assert 0.8 * length * 4 < len(item.context) < 1.2 * length * 4  # chars/4 tokens
        assert item.score(str(item.gold)) == 1.0


def test_items_are_deterministic_and_seeds_differ() -> None:
    first, again = aggregate_item(1250, 3), aggregate_item(1250, 3)
    assert first == again and aggregate_item(1250, 9).context != first.context


def test_a_far_past_the_window_item_is_made_quickly_and_whole() -> None:
    item = aggregate_item(125_000, 0)
    assert 400_000 < len(item.context) < 600_000
    assert item.meta["records"] > 5000
    assert answer(parse(item.context, "pipe"), item.query) == item.gold


def test_far_past_the_window_the_highest_earner_is_still_one_person() -> None:
    # past ~3,500 records a department's top salary is shared: the question narrows to a city
    items = [aggregate_item(125_000, seed) for seed in (3, 9)]
    assert all("among the" in item.query for item in items)
    for item in items:
        assert answer(parse(item.context, item.meta["format"]), item.query) == item.gold


def test_render_writes_one_record_per_line_or_block() -> None:
    e = Employee(1001, "Ada Moreno", "Sales", "Oslo", 49000)
    assert (
        render([e], "pipe") == "ID 1001 | Ada Moreno | dept: Sales | city: Oslo | salary: 49000\n"
    )
    assert render([e, e], "kv").count("\n\n") == 1


@pytest.mark.parametrize(
    ("prediction", "gold", "right"),
    [
        ("32", 32, True), ("There are 32 employees.", 32, True), ("1,360,000", 1360000, True),
        ("$1 360 000", 1360000, True), ("32.0", 32, True), ("31", 32, False),
        ("32 of 229", 32, False), ("", 32, False), (None, 32, False), ("about 70,250", 70250, True),
        ("Wren Duarte", "Wren Duarte", True), ("It is wren duarte.", "Wren Duarte", True),
        ("Wren", "Wren Duarte", False), ("Oslo", "Oslo", True), ("Oslofjord", "Oslo", False),
    ],
)  # fmt: skip
def test_exact_score(prediction: str | None, gold: int | str, right: bool) -> None:
    assert exact_score(prediction, gold) == float(right)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_record_format_is_seen_as_records(fmt: str, tmp_path) -> None:
    item = next(i for i in generate("aggregate", [1250], 5) if i.meta["format"] == fmt)
    prepared = prepare_context(item.context, tmp_path)
    assert prepared.meta.layout == "records" and prepared.meta.to_dict()["layout"] == "records"
    path = tmp_path / "records.txt"
    path.write_text(item.context)
    assert prepare_context(path, tmp_path / "w").meta.layout == "records"


def test_prose_code_and_haystacks_are_not_records() -> None:
    root = Path(__file__).resolve().parents[1]
    for text in (
        (root / "README.md").read_text()[:4096],
        (root / "src" / "rlmx" / "core" / "rlm.py").read_text()[:4096],
        generate("sniah", [2048], 1)[0].context[:4096],
        "one line only: a=1, b=2\n",
    ):
        assert text_layout(text) is None
