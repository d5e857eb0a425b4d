"""How well the embedded default model labels one line, as an RLM's sub-call does.

OOLONG-synth's questions need a label per line (TREC coarse: the kind of answer a question
asks for); an RLM can only count what its sub-model labels right. This sends each of N
TREC questions (a fixed random sample of OOLONG's trec_coarse file) as one sub-call held
to the six labels by ``choices`` (the prompt ``rlmx.choices.with_choices`` builds, the
grammar of ``choice_grammar``), in several wordings, and reports the share labelled right,
the confusions and the seconds per line.

Usage: python benchmarks/label_accuracy.py [--n 40] [--prompts plain,kind,defined,examples]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path

from rlmx.choices import choice_grammar, with_choices
from rlmx.eval.oolong import LABELS
from rlmx.lm.specs import create_lm

from common import write_section

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "oolong"
SPEC = "local:qwen2.5-coder-1.5b?threads=2&threads_batch=2"
PROMPTS = {
    "plain": "Label this instance: {q}",
    "kind": "What kind of answer does this question ask for? {q}",
    "defined": "What does the answer to this question name: a person (human being), a place "
    "(location), a number or date (numeric value), a definition, reason or manner "
    "(description and abstract concept), another thing (entity), or the meaning of an "
    "abbreviation (abbreviation)?\nQuestion: {q}",
    "examples": "Examples: 'Who invented the telephone ?' -> human being. 'Where is Kyoto ?' "
    "-> location. 'When did WWII end ?' -> numeric value. 'Why is the sky blue ?' -> "
    "description and abstract concept. 'What animal barks ?' -> entity. 'What does NASA "
    "stand for ?' -> abbreviation.\nLabel this question: {q}",
}


async def measure(lm: object, wording: str, sample: list[dict]) -> tuple[int, float, Counter]:
    """(right, seconds per line, confusions) of one wording over the sample."""
    right, confusions = 0, Counter()
    grammar = choice_grammar(list(LABELS))
    started = time.perf_counter()
    for row in sample:
        prompt = with_choices(PROMPTS[wording].format(q=row["input"]), list(LABELS))
        reply = await lm.complete([{"role": "user", "content": prompt}], max_tokens=48,
                                  grammar=grammar)  # type: ignore[attr-defined]  # fmt: skip
        got = reply.text.strip()
        right += got == row["label"]
        if got != row["label"]:
            confusions[f"{row['label']} -> {got}"] += 1
    return right, (time.perf_counter() - started) / len(sample), confusions


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=40)
    parser.add_argument("--prompts", default=",".join(PROMPTS))
    args = parser.parse_args()
    rows = [json.loads(line) for line in (DATA / "trec_coarse_validated.jsonl").open()]
    sample = random.Random(1).sample(rows, args.n)
    lm = create_lm(SPEC, "sub")
    await lm.complete([{"role": "user", "content": "hi"}], max_tokens=1)  # load it first
    lines = ["| wording | right | seconds / line | most common confusions |", "|---|---|---|---|"]
    for wording in args.prompts.split(","):
        right, seconds, confusions = await measure(lm, wording, sample)
        worst = "; ".join(f"{k} ({v})" for k, v in confusions.most_common(3))
        lines.append(f"| {wording} | {right}/{len(sample)} | {seconds:.2f} | {worst} |")
        print(lines[-1], flush=True)
    write_section(
        "Labels per line with the embedded model",
        f"`{SPEC}` as a sub-model, one call per TREC question (a fixed sample of "
        f"{len(sample)} from OOLONG's trec_coarse file, seed 1), held to the six labels by "
        "`choices` (grammar); the wordings are in the script.\n\n" + "\n".join(lines),
    )


if __name__ == "__main__":
    asyncio.run(main())
