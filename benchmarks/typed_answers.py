"""Schema-typed answers with the embedded model: does holding the FINAL line to the schema
(llama.cpp's JSON-schema grammar) help?

Extraction tasks over a generated staff list (pipe-separated records): one record by ID as
an object, the names of a city's staff as a list, a count as an integer. Each task runs with
the typed grammar (the default) and with the plain reply grammar (the schema is still in the
prompt and checked). Reported: answers that validate, answers exactly right, schema
mismatches sent back, seconds.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
from typing import Any

from pydantic import BaseModel

from rlmx import RLM
from rlmx.core.policy import CompactPolicy

from common import write_section

MODEL = "local:qwen2.5-coder-1.5b?threads=2&threads_batch=2"
SEEDS = int(os.environ.get("SEEDS", "3"))  # staff lists; 3 tasks each
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Perth"]
NAMES = ["Ada", "Bo", "Cai", "Dee", "Eli", "Fay", "Gus", "Hal", "Ivy", "Jo", "Kim", "Lu"]


class Employee(BaseModel):
    name: str
    city: str
    salary: int


class PlainGrammar(CompactPolicy):
    """The compact policy without the typed FINAL rule (the schema is still told and checked)."""

    def grammar(self, lm: Any, final_only: bool, answer_rules: str | None = None) -> str | None:
        return super().grammar(lm, final_only, None)


def staff(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [{"id": 1001 + i, "name": f"{rng.choice(NAMES)} {chr(65 + i % 26)}.",
             "city": rng.choice(CITIES), "salary": rng.randrange(30, 90) * 1000}
            for i in range(40)]  # fmt: skip


def tasks(seed: int) -> list[tuple[str, str, Any, Any]]:
    rows = staff(seed)
    text = "\n".join(f"ID {r['id']} | {r['name']} | city: {r['city']} | salary: {r['salary']}"
                     for r in rows)  # fmt: skip
    pick = rows[seed * 7 % len(rows)]
    city = CITIES[seed % len(CITIES)]
    in_city = [r["name"] for r in rows if r["city"] == city]
    return [
        (text, f"Give the name, city and salary of employee ID {pick['id']}.", Employee,
         Employee(name=pick["name"], city=pick["city"], salary=pick["salary"])),
        (text, f"List the names of the employees in {city}, in the order they appear.",
         list[str], in_city),
        (text, f"How many employees are in {city}?", int, len(in_city)),
    ]  # fmt: skip


def main() -> None:
    rows, summary = [], {}
    for arm, policy in (("typed grammar", "compact"), ("plain grammar", PlainGrammar())):
        valid = right = mismatches = 0
        seconds = []
        for seed in range(SEEDS):
            for text, query, schema, truth in tasks(seed):
                events: list = []
                rlm = RLM(MODEL, policy=policy, max_iterations=6, on_event=events.append)
                started = time.perf_counter()
                result = rlm.completion(text, query, schema=schema)
                seconds.append(time.perf_counter() - started)
                sent_back = sum(e.type == "notice" and e.kind == "schema_mismatch" for e in events)
                valid += result.value is not None
                right += result.value == truth
                mismatches += sent_back
                rows.append(f"| {arm} | {query[:60]} | {result.value is not None} | "
                            f"{result.value == truth} | {sent_back} | {seconds[-1]:.0f} s | "
                            f"{(result.answer or '')[:70]} |")  # fmt: skip
                print(rows[-1], file=sys.stderr, flush=True)
        n = len(seconds)
        summary[arm] = (f"| {arm} | {valid}/{n} | {right}/{n} | {mismatches} | "
                        f"{statistics.median(seconds):.0f} s |")  # fmt: skip
    write_section(
        "Typed answers with the embedded model",
        f"`{MODEL}`, 3 extraction tasks (an object, a list of names, a count) over {SEEDS} "
        "generated staff lists of 40 records, with the typed FINAL grammar and without it.\n\n"
        "| grammar | answers valid | exactly right | mismatches sent back | median time |\n"
        "|---|---|---|---|---|\n" + "\n".join(summary.values()) + "\n\n"
        "| grammar | task | valid | right | sent back | time | answer |\n"
        "|---|---|---|---|---|---|---|\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
