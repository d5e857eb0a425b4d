"""The evaluation harness: official scoring, generators, methods and an end-to-end run."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from rlmx import RunConfig
from rlmx.bm25 import bm25_top, respell
from rlmx.eval.items import estimate_tokens
from rlmx.eval.oolong import (
    FAMILIES,
    LABELS,
    PAIR_RULES,
    Record,
    gold_pairs,
    load_labeled,
    oolong_item,
    pairs_item,
)
from rlmx.eval.retrieval import RetrievalEnvironment, split_chunks
from rlmx.eval.runner import generate, run_eval
from rlmx.eval.scoring import oolong_parse, oolong_score, pairs_f1, parse_pairs
from rlmx.eval.sniah import sniah_item

from conftest import repl

# A fixture in OOLONG's format (tests/data/make_oolong_fixture.py), passed in explicitly:
# no test reads outside the repository; the benchmarks use ../shared/data/oolong.
OOLONG_DATA = Path(__file__).resolve().parent / "data" / "oolong"
DATA = load_labeled(OOLONG_DATA / "trec_coarse_validated.jsonl")
QUERIES = json.loads((OOLONG_DATA / "oolong_pairs_queries.json").read_text())
LINE = re.compile(r"Date: (.+?) \|\| User: (\d+) \|\| Instance: (.*)")


# -- scoring ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("answer", "candidate", "confidence"),
    [
        ("Answer: 12", "12", "vhigh"),
        ("Answer: [location]", "location", "vhigh"),
        ("**Answer:** location", " location", "vhigh"),  # as official: strip before the *
        ("42", "42", "low"),  # no colon, short: the whole answer
        ("I think the final count is probably 17", "17", "low"),  # long: the last word
        (
            "Note: the label description and abstract concept is the one",
            "the label description and abstract concept is the one",
            "med",
        ),
        ("Answer: entity is more common than location, as counted", "more common", "high"),
    ],
)
def test_oolong_answer_parsing(answer: str, candidate: str, confidence: str) -> None:
    assert oolong_parse(answer) == (candidate, confidence)


def test_oolong_scores() -> None:
    assert oolong_score("Answer: 12", 12, "numeric") == 1
    assert oolong_score("Answer: 10", 12, "numeric") == pytest.approx(0.75**2)
    assert oolong_score("Answer: twelve", 12, "numeric") == 0
    assert oolong_score("Label: location", "location", "label") == 1
    assert oolong_score("Label: Location", "location", "label") == 0  # exact match, as official
    assert oolong_score("User: 48213", 48213, "user") == 1
    assert oolong_score("Date: Jan 05, 2023", "2023-01-05", "date") == 1
    assert oolong_score("Date: 2023-01-06", "2023-01-05", "date") == 0
    assert oolong_score("Date: sometime", "2023-01-05", "date") == 0
    gold = "entity is less common than location"
    long_answer = "Answer: Counting every line, entity is less common than location"
    assert oolong_score(long_answer, gold, "comparison") == 1
    assert oolong_score("Answer: entity is more common than location overall", gold,
                        "comparison") == 0  # fmt: skip
    assert oolong_score(None, 3, "numeric") == 0 and oolong_score("", 3, "numeric") == 0


def test_pairs_parsing_and_f1() -> None:
    assert parse_pairs("(3, 1)\n(1,3) (2, 2) and (10, 20)") == {(1, 3), (10, 20)}
    gold = {(1, 2), (1, 3), (2, 3), (4, 5)}
    assert pairs_f1("(1, 2)\n(1, 3)\n(2, 3)\n(4, 5)", gold) == 1
    assert pairs_f1("(1, 2) (1, 3) (7, 8) (8, 9)", gold) == pytest.approx(0.5)
    assert pairs_f1("no pairs", gold) == 0
    assert pairs_f1("none", set()) == 1


# -- generators ---------------------------------------------------------------------------------
def parse_context(context: str) -> list[tuple[datetime, int, str]]:
    rows = [LINE.match(line) for line in context.splitlines()]
    return [(datetime.strptime(m[1], "%b %d, %Y"), int(m[2]), m[3]) for m in rows if m]


@pytest.mark.parametrize("length", [2048, 8192])
def test_oolong_items_are_deterministic_sized_and_derivable(length: int) -> None:
    labels = dict(DATA)
    for seed in range(len(FAMILIES)):
        item = oolong_item(DATA, length, seed)
        assert item == oolong_item(DATA, length, seed)
        assert abs(estimate_tokens(item.context) - length) <= 0.02 * length
        rows = parse_context(item.context)
        assert len(rows) == item.meta["lines"]
        records = [Record(d.date(), u, q, labels[q]) for d, u, q in rows]  # labels by code
        family = item.meta["family"]
        if family == "counting":
            label = re.search(r"label '(.+?)'", item.query)[1]
            assert item.gold == sum(r.label == label for r in records)
        elif family == "earliest":
            label = re.search(r"label '(.+?)'", item.query)[1]
            assert item.gold == min(r.day for r in records if r.label == label).isoformat()
        assert item.score(f"Answer: {item.gold}") == 1 or family in ("comparison", "earliest")


def test_pairs_gold_follows_each_rule_and_is_derivable() -> None:
    assert sorted(PAIR_RULES) == list(range(1, 21)) and sorted(map(int, QUERIES)) == sorted(
        PAIR_RULES
    )
    labels = dict(DATA)
    for seed in range(20):
        item = pairs_item(DATA, QUERIES, 4096, seed)
        records = [Record(d.date(), u, q, labels[q]) for d, u, q in parse_context(item.context)]
        assert [tuple(p) for p in item.gold] == sorted(gold_pairs(records, seed + 1))
        assert item.query == QUERIES[str(seed + 1)]
        assert item.score("\n".join(f"({a}, {b})" for a, b in item.gold)) == 1
    day = lambda m, d: datetime(2023, m, d).date()  # noqa: E731
    toy = [
        Record(day(1, 1), 1, "a", LABELS[3]), Record(day(1, 2), 2, "b", LABELS[4]),
        Record(day(1, 3), 3, "c", LABELS[1]), Record(day(9, 9), 4, "d", LABELS[2]),
        Record(day(1, 1), 5, "e", LABELS[2]), Record(day(1, 9), 5, "f", LABELS[4]),
    ]  # fmt: skip
    assert gold_pairs(toy, 1) == {(1, 2), (1, 5), (2, 5)}  # numeric value or location
    # 4: human being or location, every human-being instance after Jan 6, 2023
    assert gold_pairs(toy, 4) == {(2, 4)}
    # 11: one user has entity and abbreviation, the other exactly one entity: nobody here
    assert gold_pairs(toy, 11) == set()


def test_sniah_items_are_deterministic_sized_and_hold_the_needle() -> None:
    for variant in (("essay", "number"), ("noise", "uuid")):
        for length in (4096, 16384):
            item = sniah_item(length, 3, estimate_tokens, *variant)
            assert item == sniah_item(length, 3, estimate_tokens, *variant)
            assert abs(estimate_tokens(item.context) - length) <= 0.02 * length
            needle = f"One of the special magic numbers for {item.meta['key']} is: {item.gold}."
            assert item.context.count(needle) == 1 and item.meta["key"] in item.query
            assert item.score(f"It is {str(item.gold).upper()}.") == 1


def test_retrieval_environment_finds_passages() -> None:
    text = "\n".join(f"line {i} about nothing much" for i in range(400)) + "\nthe vault code is 991"
    env = RetrievalEnvironment(text)
    assert "".join(split_chunks(text)) == text
    assert all(len(c) <= 1000 for c in env.chunks)
    hit = env.search("vault code")[0]
    assert "991" in hit["text"] and env.get_chunk(hit["chunk"]) == hit["text"]
    with pytest.raises(IndexError):
        env.get_chunk(10_000)


# -- methods and the runner -------------------------------------------------------------------
def test_small_end_to_end_eval_and_report(replay, tmp_path: Path) -> None:
    find = repl("import re\nm = re.search(r'magic numbers for [a-z-]+ is: (\\d+)', context)\n"
                "FINAL(m.group(1))")  # fmt: skip
    count = repl("FINAL('Answer: ' + str(len(context.splitlines())))")
    codeact = repl("hits = search('special magic numbers', k=3)\nimport re\n"
                   "m = re.search(r'is: (\\d+)', ' '.join(h['text'] for h in hits))\n"
                   "FINAL(m.group(1) if m else 'none')")  # fmt: skip
    out = tmp_path / "results.jsonl"
    sniah = generate("sniah", [2048], 2)
    oolong = generate("oolong", [2048], 2, data_dir=OOLONG_DATA)

    async def main() -> None:
        for items, script in ((sniah, find), (oolong, count)):
            spec = replay([script] * 4)
            config = RunConfig.build(root=spec, max_iterations=12, trajectory=tmp_path / "traj")
            await run_eval(items, ["rlm", "rlm_nosub"], config, out, parallel=2)
        await run_eval(sniah, ["codeact_bm25"], RunConfig.build(root=replay([codeact] * 2)), out)
        base = replay(["the number is 1234567", "the number is 1234567"])
        await run_eval(sniah, ["base", "summary"], RunConfig.build(root=base), out)

    asyncio.run(main())
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 2 * 2 * 2 + 2 + 2 * 2
    by = {(r["task"], r["method"]): [] for r in rows}
    for r in rows:
        by[(r["task"], r["method"])].append(r)
    assert all(r["score"] == 1 for r in by[("sniah", "rlm")] + by[("sniah", "codeact_bm25")])
    assert all(r["trajectory"] and Path(r["trajectory"]).exists() for r in by[("sniah", "rlm")])
    assert all(0 <= r["score"] <= 1 for r in by[("oolong", "rlm")])
    assert {r["seed"] for r in rows} == {0, 1}
    # resumable: a second run adds nothing
    again = asyncio.run(run_eval(sniah, ["rlm"], RunConfig.build(root=rows[0]["root"]), out))
    assert again == []
    report_dir = tmp_path / "report"
    proc = subprocess.run([sys.executable, "-m", "rlmx.cli", "eval", "report", str(out),
                           "--out", str(report_dir)], capture_output=True, text=True)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    report = (report_dir / "report.md").read_text()
    assert "| rlm |" in report and "sniah by context length" in report
    for name in ("scaling-sniah.png", "cost-oolong.png"):
        assert (report_dir / name).read_bytes()[:4] == b"\x89PNG"


def test_eval_cli_refuses_bad_input(tmp_path: Path) -> None:
    def rlmx(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "rlmx.cli", *args], capture_output=True,
                              text=True, timeout=120)  # fmt: skip

    out = str(tmp_path / "r.jsonl")
    (tmp_path / "x.json").write_text('["FINAL(1)"]')
    spec = f"replay:{tmp_path / 'x.json'}"
    for args, words in [
        (["eval", "run", "--task", "nope", "--method", "rlm", "--out", out, "--root",
          spec], "unknown task"),
        (["eval", "run", "--task", "sniah", "--method", "magic", "--out", out, "--root",
          spec, "--lengths", "512"], "unknown method"),
        (["eval", "run", "--task", "sniah", "--method", "rlm", "--out", out, "--lengths",
          "8k"], "comma-separated integers"),
        (["eval", "run", "--task", "sniah", "--method", "rlm", "--out", out, "--root", spec,
          "--lengths", "100"], "lengths are tokens for this task"),
        (["eval", "run", "--task", "video-qa", "--method", "rlm", "--out", out, "--root",
          spec, "--lengths", "5"], "lengths are seconds of video"),
        (["eval", "run", "--task", "oolong", "--method", "rlm", "--out", out, "--root",
          spec, "--data", str(tmp_path)], "OOLONG data not found"),
        (["eval", "run", "--task", "oolong", "--method", "rlm", "--out", out, "--root",
          spec], "pass --data DIR"),
        (["eval", "report", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path)],
         "no such results file"),
    ]:  # fmt: skip
        proc = rlmx(*args)
        assert proc.returncode == 2, (args, proc.stderr)
        assert words in proc.stderr and "Traceback" not in proc.stderr, proc.stderr


# -- multi-hop QA and LongBench-v2 -------------------------------------------------------------
def test_qa_scoring_and_choice_extraction() -> None:
    from rlmx.eval.scoring import extract_choice, qa_scores

    assert qa_scores("The Big Bang Theory.", "The Big Bang Theory") == (1.0, 1.0)
    assert qa_scores("an American film", "American") == (0.0, pytest.approx(2 / 3))
    assert qa_scores(None, "yes") == (0.0, 0.0)
    assert extract_choice("Reasoning... The correct answer is (C).") == "C"
    assert extract_choice("**The correct answer is B**") == "B"
    assert extract_choice("I think (A)") is None


def test_multihop_items_hold_gold_paragraphs_and_fit_the_length() -> None:
    from rlmx.eval.qa import hotpot_questions, multihop_item

    questions = hotpot_questions()
    for length in (4096, 16384):
        item = multihop_item(length, 2, estimate_tokens, questions)
        assert item == multihop_item(length, 2, estimate_tokens, questions)
        assert abs(estimate_tokens(item.context) - length) <= 0.02 * length
        source = next(q for q in questions if q["_id"] == item.meta["hotpot_id"])
        for title in item.meta["gold_titles"]:  # the evidence is really there
            sentences = dict((t, s) for t, s in source["context"])[title]
            assert f"(title: {title}):\n{''.join(sentences).strip()}" in item.context
        assert source["question"] in item.query and item.gold == source["answer"]


def test_codeqa_loader_and_a_judged_multihop_run(replay, tmp_path: Path) -> None:
    from rlmx.eval.qa import codeqa_items, multihop_item

    domains = ["Code Repository Understanding", "Single-Document QA"]
    rows = [{"_id": f"id{i}", "domain": domain, "sub_domain": "x", "difficulty": "hard",
             "length": "short", "question": "What does f do?", "choice_A": "adds",
             "choice_B": "subtracts", "choice_C": "sorts", "choice_D": "nothing",
             "answer": "C", "context": "def f(x): return sorted(x)"}
            for i, domain in enumerate(domains)]  # fmt: skip
    data = tmp_path / "data.json"
    data.write_text(json.dumps(rows))
    items = codeqa_items(data)
    assert [i.item_id for i in items] == ["longbench-id0"] and "(C) sorts" in items[0].query
    assert items[0].score("The correct answer is (C)") == 1 and items[0].score("(C)") == 0
    with pytest.raises(ValueError, match="LongBench-v2 data not found"):
        codeqa_items(tmp_path / "missing.json")
    item = multihop_item(2048, 0)
    answer = repl(f"FINAL({item.gold!r})")
    out = tmp_path / "qa.jsonl"
    judge = replay(["yes"])
    asyncio.run(run_eval([item], ["rlm"], RunConfig.build(root=replay([answer])), out, judge=judge))
    row = json.loads(out.read_text())
    assert (row["score"], row["exact_match"], row["judge_score"]) == (1.0, 1.0, 1.0)


def test_official_oolong_rows_load_and_score(tmp_path: Path) -> None:
    from rlmx.eval.oolong import official_items

    rows = [
        {"id": 1, "context_window_id": 7, "dataset": "trec_coarse", "context_len": 1024,
         "context_window_text": "Date: ... || User: 1 || Instance: Who?", "question": "How many?",
         "answer": "[3]", "answer_type": "ANSWER_TYPE.NUMERIC"},
        {"id": 2, "context_window_id": 7, "dataset": "trec_coarse", "context_len": 1024,
         "context_window_text": "...", "question": "Earliest?",
         "answer": "[datetime.date(2023, 1, 5)]", "answer_type": "ANSWER_TYPE.DATE"},
        {"id": 3, "context_window_id": 7, "dataset": "trec_coarse", "context_len": 1024,
         "context_window_text": "...", "question": "Which label?",
         "answer": "['location']", "answer_type": "ANSWER_TYPE.LABEL"},
        {"id": 4, "context_window_id": 8, "dataset": "agnews", "context_len": 1024,
         "context_window_text": "...", "question": "?", "answer": "[1]",
         "answer_type": "ANSWER_TYPE.NUMERIC"},
    ]  # fmt: skip
    source = tmp_path / "oolong-synth.jsonl"
    source.write_text("\n".join(json.dumps(r) for r in rows))
    items = official_items(source, [1024], 5)
    assert [i.gold for i in items] == [3, "2023-01-05", "location"]
    assert [i.answer_type for i in items] == ["numeric", "date", "label"]
    assert items[0].score("Answer: 2") == 0.75
    assert items[1].score("Date: January 5, 2023") == 1
    assert items[2].score("Label: location") == 1
    with pytest.raises(ValueError, match="no official OOLONG-synth rows"):
        official_items(source, [4096], 5)


def test_browsecomp_plus_loader_mixes_own_and_other_documents(tmp_path: Path) -> None:
    from rlmx.eval.qa import browsecomp_items

    def docs(prefix: str, count: int) -> list[dict[str, str]]:
        return [{"docid": f"{prefix}{i}", "text": f"text of {prefix}{i}"} for i in range(count)]

    rows = [{"query_id": str(q), "query": f"question {q}?", "answer": f"answer {q}",
             "gold_docs": docs(f"g{q}-", 2), "evidence_docs": docs(f"e{q}-", 3),
             "negative_docs": docs(f"n{q}-", 5)} for q in range(4)]  # fmt: skip
    data = tmp_path / "browsecomp_plus_decrypted.jsonl"
    data.write_text("\n".join(json.dumps(r) for r in rows))
    items = browsecomp_items(data, n=2, documents=25)
    assert len(items) == 2 and items == browsecomp_items(data, n=2, documents=25)
    for item in items:
        query_id = item.item_id.removeprefix("browsecomp-")
        assert item.meta["documents"] == 25 and f"question {query_id}?" in item.query
        for doc_id in [f"g{query_id}-0", f"g{query_id}-1", f"e{query_id}-2"]:
            assert f"(docid {doc_id})" in item.context  # its own documents are all there
        assert item.score(f"answer {query_id}") == 1
    with pytest.raises(ValueError, match="BrowseComp-Plus data not found"):
        browsecomp_items(tmp_path / "missing.jsonl", 1)
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text(json.dumps({"question": "q?"}))
    with pytest.raises(ValueError, match="row 1 lacks query_id, query, answer"):
        browsecomp_items(wrong, 1)


def test_bm25_search_tolerates_misspelled_words_only_when_nothing_matches() -> None:
    texts = ["The satellite reached orbit.", "Night trains return.", "A satellite dish."]
    assert respell("Sattelite ORBIT xyzzy", texts) == "satellite orbit xyzzy"
    assert {i for i, _ in bm25_top(texts, "sattelite", 3)} == {0, 2}
    assert [i for i, _ in bm25_top(texts, "sattelite orbit", 3)] == [0]  # orbit matched
    assert bm25_top(texts, "trains", 3)[0][0] == 1 and bm25_top(texts, "xyzzy", 3) == []
