"""Writes oolong/: a labeled-question file in the format of OOLONG's trec_coarse file and 20
stand-in pair queries, so the OOLONG tests need nothing outside the repository. The
questions are made from templates here (not TREC data); the real data is in
../shared/data/oolong for the benchmarks. Run: python tests/data/make_oolong_fixture.py
"""

from __future__ import annotations

import itertools
import json
import random
from pathlib import Path

OUT = Path(__file__).parent / "oolong"
THINGS = [
    "telephone",
    "radio",
    "bicycle",
    "printing press",
    "light bulb",
    "camera",
    "compass",
    "steam engine",
    "microscope",
    "telescope",
    "zipper",
    "parachute",
]
PLACES = [
    "Lake Titicaca",
    "the Eiffel Tower",
    "Timbuktu",
    "Mount Kilimanjaro",
    "the Alamo",
    "Machu Picchu",
    "the Great Barrier Reef",
    "Angkor Wat",
    "Petra",
    "the Suez Canal",
]
ACRONYMS = ["NASA", "UNESCO", "CPU", "DNA", "FIFA", "RADAR", "LASER", "SCUBA", "NATO", "WHO"]
CONCEPTS = [
    "democracy",
    "entropy",
    "irony",
    "photosynthesis",
    "inflation",
    "gravity",
    "nostalgia",
    "a sonnet",
    "a haiku",
    "osmosis",
    "justice",
    "a metaphor",
]
ANIMALS = [
    "the largest cat",
    "the fastest bird",
    "a baby kangaroo",
    "the national bird of India",
    "the smallest mammal",
    "a group of crows",
    "a male duck",
    "a young goat",
]
COUNTS = [
    ("bones", "the human body"),
    ("keys", "a piano"),
    ("moons", "Mars"),
    ("players", "a rugby team"),
    ("stripes", "the US flag"),
    ("days", "a leap year"),
    ("strings", "a violin"),
    ("sides", "a hexagon"),
]
TEMPLATES = {
    "human being": [f"Who invented the {t} ?" for t in THINGS]
    + [f"Who first photographed {p} ?" for p in PLACES],
    "location": [f"Where is {p} ?" for p in PLACES]
    + [f"In which country was the {t} first made ?" for t in THINGS],
    "abbreviation": [f"What does {a} stand for ?" for a in ACRONYMS]
    + [f"What is the abbreviation of {a.lower()} in full ?" for a in ACRONYMS],
    "description and abstract concept": [f"What is {c} ?" for c in CONCEPTS]
    + [f"Why do people study {c} ?" for c in CONCEPTS],
    "entity": [f"What is {a} called ?" for a in ANIMALS]
    + [f"What instrument uses the {t} design ?" for t in THINGS],
    "numeric value": [f"How many {n} are there in {w} ?" for n, w in COUNTS]
    + [f"How many {n} did {w} have in 1900 ?" for n, w in COUNTS],
}


def main() -> None:
    OUT.mkdir(exist_ok=True)
    rows = []
    for (label, questions), suffix in itertools.product(TEMPLATES.items(), range(8)):
        for question in questions:
            rows.append({"input": f"{question[:-2]} (variant {suffix}) ?", "label": label})
    random.Random(0).shuffle(rows)
    with open(OUT / "trec_coarse_validated.jsonl", "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps({**row, "model_output": row["label"], "best_guess_score": 1}) + "\n")
    queries = {str(i): f"Stand-in pair query {i}: list all pairs of user IDs ... "
               "In your answer, list all pairs in the format (user_id_1, user_id_2)."
               for i in range(1, 21)}  # fmt: skip
    (OUT / "oolong_pairs_queries.json").write_text(json.dumps(queries, indent=1))


if __name__ == "__main__":
    main()
