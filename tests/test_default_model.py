"""The real default model (`local:qwen2.5-coder-1.5b`, pulled by `make test`) answering
tasks it is known to solve, end to end: the answer and its citation are checked, not only
that the run ended. Two runs of 20-60 s each on 2 cores."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from test_documents import make_pdf

from rlmx import RLM
from rlmx.lm import registry

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
from make_haystack import NEEDLE, make_haystack

DEFAULT = "qwen2.5-coder-1.5b"


@pytest.fixture(scope="module")
def default_model() -> str:
    registry.ensure(DEFAULT)
    return f"local:{DEFAULT}"


def test_finds_and_cites_a_needle_in_a_long_text(default_model: str) -> None:
    text = make_haystack(60_000, seed=3, depth=0.4)  # 240,000 characters
    rlm = RLM(default_model, max_iterations=6)
    result = rlm.completion(text, "What is the special magic number for lively-harbor?")
    assert result.status == "final" and "7341592" in (result.answer or ""), result
    found = [c for c in result.citations if c.found]
    assert found, result.citations
    assert "7341592" in text[found[0].start : found[0].end + 20]
    assert found[0].line == text.count("\n", 0, text.index(NEEDLE)) + 1


def test_answers_from_a_folder_of_pdfs_with_the_page(default_model: str, tmp_path: Path) -> None:
    folder = tmp_path / "dataroom"
    folder.mkdir()
    make_pdf(folder / "board-minutes.pdf", ["The board met on 3 March.", "No decisions."])
    make_pdf(folder / "share-purchase.pdf", [
        "Share purchase agreement between Acme and Beta.",
        "Clause 9. The termination fee is 4.5 million euros, payable within 30 days.",
    ])  # fmt: skip
    make_pdf(folder / "lease.pdf", ["The office lease runs until 2031."])
    rlm = RLM(default_model, max_iterations=6)
    result = rlm.completion(folder, "What is the termination fee in the share purchase agreement?")
    amount = (result.answer or "").replace(",", "")
    assert result.status == "final" and ("4.5" in amount or "4500000" in amount), result
    found = [c for c in result.citations if c.found]
    assert found and found[0].source == "share-purchase.pdf", result.citations
    assert found[0].page == "page 2", found[0]
