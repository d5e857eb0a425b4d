"""Aggregation over structured records: the information-dense questions an RLM is for.

A context is a list of employee records written in one of five formats (pipe-separated
lines, CSV, JSON lines, log lines, ``key: value`` blocks), as long as the item's length.
A question needs every record: a count with a filter, a sum, an average, the maximum with
its record, the most common value (group-by, top 1), or a count of distinct values. The
gold answer is computed from the records, so it is exact; ties are avoided when the items
are made. Scoring is exact (``scoring.exact_score``): a numeric answer must be the one
number in the answer, a name or city must appear in it.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass

from .items import EvalItem, TokenCounter, estimate_tokens

DEPARTMENTS = ("Sales", "Finance", "Legal", "Marketing", "Engineering", "Support")
CITIES = ("Oslo", "Lima", "Porto", "Kyoto", "Austin", "Nairobi", "Dublin", "Hanoi")
FIRST = ("Ada Ben Cleo Dara Eli Fay Gus Hana Ivo Jun Kai Lena Milo Nia Omar Pia Rui Sven "
         "Tara Uma Vic Wren Yusuf Zoe").split()  # fmt: skip
LAST = ("Moreno Okafor Lind Tanaka Silva Novak Haddad Kowal Ferreira Brandt Ito Quinn "
        "Duarte Weiss Osei Marin").split()  # fmt: skip
FORMATS = ("pipe", "csv", "jsonl", "log", "kv")
KINDS = ("count", "sum", "average", "max", "top", "distinct")


@dataclass(frozen=True)
class Employee:
    """One record."""

    id: int
    name: str
    dept: str
    city: str
    salary: int


def employees(count: int, rng: random.Random) -> list[Employee]:
    """``count`` records with unique ids (names may repeat, as in real data)."""
    return [Employee(1001 + i, f"{rng.choice(FIRST)} {rng.choice(LAST)}",
                     rng.choice(DEPARTMENTS), rng.choice(CITIES),
                     rng.randrange(30_000, 120_001, 500)) for i in range(count)]  # fmt: skip


def _pipe(e: Employee) -> str:
    return f"ID {e.id} | {e.name} | dept: {e.dept} | city: {e.city} | salary: {e.salary}"


def _csv(e: Employee) -> str:
    return f"{e.id},{e.name},{e.dept},{e.city},{e.salary}"


def _jsonl(e: Employee) -> str:
    return json.dumps(asdict(e))


def _log(e: Employee) -> str:
    day = 1 + e.id % 28
    return (f"2024-03-{day:02d}T09:{e.id % 60:02d}:00 INFO hr.record id={e.id} "
            f'name="{e.name}" dept={e.dept} city={e.city} salary={e.salary}')  # fmt: skip


def _kv(e: Employee) -> str:
    return f"id: {e.id}\nname: {e.name}\ndept: {e.dept}\ncity: {e.city}\nsalary: {e.salary}"


WRITERS: dict[str, tuple[str, Callable[[Employee], str]]] = {
    "pipe": ("", _pipe),
    "csv": ("id,name,dept,city,salary", _csv),
    "jsonl": ("", _jsonl),
    "log": ("", _log),
    "kv": ("", _kv),
}


def render(records: list[Employee], fmt: str) -> str:
    """The records as one text in format ``fmt``."""
    header, write = WRITERS[fmt]
    lines = ([header] if header else []) + [write(e) for e in records]
    return ("\n\n" if fmt == "kv" else "\n").join(lines) + "\n"  # kv: blocks, a blank line apart


@dataclass(frozen=True)
class Question:
    """A question about the records and its exact answer."""

    kind: str
    text: str
    gold: int | str


def _questions(records: list[Employee], rng: random.Random) -> dict[str, Question]:
    """One question of each kind whose answer is unique (no ties)."""
    dept, city = rng.choice(DEPARTMENTS), rng.choice(CITIES)
    in_dept = [e for e in records if e.dept == dept]
    in_city = [e for e in records if e.city == city]
    questions = {
        "count": Question("count", f"How many employees are in the {dept} department?",
                          len(in_dept)),
        "sum": Question("sum", f"What is the total salary of all employees in {city}?",
                        sum(e.salary for e in in_city)),
        "average": Question("average", f"What is the average salary in the {dept} "
                            "department, rounded to the nearest integer?",
                            round(sum(e.salary for e in in_dept) / max(1, len(in_dept)))),
        "distinct": Question("distinct", f"In how many different cities do employees of "
                             f"the {dept} department live?", len({e.city for e in in_dept})),
    }  # fmt: skip
    # Past a few thousand records a department's top salary is shared (salaries step by
    # 500): then the question narrows to the department's employees in one city.
    groups = (
        (in_dept, f"in the {dept} department"),
        ([e for e in in_dept if e.city == city], f"among the {dept} employees in {city}"),
    )
    for group, where in groups:
        best = _only_top_earner(group)
        if best is not None:
            questions["max"] = Question("max", f"Who has the highest salary {where}? Give "
                                        "the name.", best.name)  # fmt: skip
            break
    ranked = Counter(e.city for e in records).most_common(2)
    if len(ranked) > 1 and ranked[0][1] > ranked[1][1]:
        questions["top"] = Question("top", "Which city has the most employees?", ranked[0][0])
    return questions


def _only_top_earner(group: list[Employee]) -> Employee | None:
    """The one employee with the highest salary, or None when it is shared (or no one)."""
    top = max((e.salary for e in group), default=None)
    best = [e for e in group if e.salary == top]
    return best[0] if top is not None and len(best) == 1 else None


def aggregate_item(length: int, seed: int, count: TokenCounter = estimate_tokens) -> EvalItem:
    """Item ``seed`` at ``length`` tokens: the seed picks the question kind (``seed % 6``)
    and the format (``seed % 5``), so seeds 0-5 ask every kind and 0-29 every pair once."""
    fmt = FORMATS[seed % len(FORMATS)]
    kind = KINDS[seed % len(KINDS)]
    rng = random.Random(f"aggregate-{length}-{seed}")
    per_record = count(render(employees(40, random.Random(0)), fmt)) / 40
    size = max(8, int(length / per_record))
    for _ in range(100):  # redraw until this kind's answer is unique
        records = employees(size, rng)
        questions = _questions(records, rng)
        if kind in questions:
            break
    else:
        raise RuntimeError(f"no tie-free {kind} question at {length} tokens")
    question = questions[kind]
    return EvalItem(
        task="aggregate", item_id=f"aggregate-{length}-{seed}", length=length, seed=seed,
        context=render(records, fmt), query=question.text, gold=question.gold,
        answer_type="exact", meta={"format": fmt, "kind": kind, "records": size},
    )  # fmt: skip
