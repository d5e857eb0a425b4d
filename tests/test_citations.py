"""Cited answers: FINAL(answer, cite=[...]) quotes located in the context (exact, then
loose) with source, page, heading, line and span; missing quotes kept and flagged; the
citations in Result, the CLI's --json, events, the OpenAI endpoint, MCP and the web UI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from test_documents import make_pdf

from rlmx import RLM
from rlmx.citations import Citation, Source, locate, loose_pieces
from rlmx.repl.frames import MAX_QUOTES, ProtocolViolation, check_result

from conftest import parse_gbnf, repl

CONTRACT = (
    "--- page 1 ---\n# Parties\nAcme Corp. sells to Beta LLC.\n\n"
    "--- page 2 ---\n## Payment\nThe  Buyer shall pay “fifty” dollars — on delivery.\n"
    "Late fees: 2 percent a month.\n"
)


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("RLMX_CACHE_DIR", str(tmp_path / "cache"))


def test_exact_then_loose_matches_say_where_they_are() -> None:
    sources = [Source("context", "notes.txt", "unrelated"), Source("context", "c.pdf", CONTRACT)]
    exact, loose, gap, missing, empty = locate(
        ["Late fees: 2 percent a month.", 'the buyer shall pay "fifty" dollars - on delivery',
         "Acme Corp. ... Beta LLC", "Gamma Inc. pays", "  "],
        sources,
    )  # fmt: skip
    assert (exact.found, exact.exact, exact.source, exact.page, exact.heading, exact.line) == (
        True, True, "c.pdf", "page 2", "Payment", 8)  # fmt: skip
    assert CONTRACT[exact.start : exact.end] == "Late fees: 2 percent a month."
    assert loose.exact is False and loose.line == 7 and loose.page == "page 2"
    assert CONTRACT[loose.start : loose.end] == "The  Buyer shall pay “fifty” dollars — on delivery"
    assert gap.found and gap.heading == "Parties" and gap.page == "page 1"
    assert CONTRACT[gap.start : gap.end] == "Acme Corp. sells to Beta LLC"
    # the excerpt is the quote's whole page, so a viewer can show it in place
    assert exact.excerpt == CONTRACT[exact.excerpt_start :]
    assert exact.excerpt.startswith("--- page 2")
    assert not missing.found and missing.start is None and missing.quote == "Gamma Inc. pays"
    assert not empty.found and loose_pieces("...") == []
    assert exact.where() == "c.pdf, page 2, line 8"
    assert missing.where() == "not found in the context"
    assert Citation("q", True, variable="context_1", line=2).where() == "context_1, line 2"
    assert Citation("q", True, line=2).where() == "context, line 2"


def test_a_quote_made_of_many_gaps_cannot_stall_the_host() -> None:
    # a regex with one lazy gap per "..." would backtrack exponentially over this text
    text = "a " * 50_000
    (cite,) = locate(["a ... a ... a ... a ... a ... b"], [Source("context", None, text)])
    assert not cite.found
    (cite,) = locate(["A ... a ... a"], [Source("context", None, text)])
    assert cite.found and (cite.start, cite.end) == (0, 5)


def test_a_heading_above_the_page_marker_is_not_the_quotes() -> None:
    text = "# Old chapter\n" + "x\n" * 10 + "--- page 9 ---\nplain words here\n"
    (cite,) = locate(["plain words"], [Source("context", None, text)])
    assert cite.page == "page 9" and cite.heading is None and cite.line == 13


def test_a_long_context_is_searched_backwards_for_its_marker() -> None:
    text = "--- slide 3 ---\n" + ("filler line\n" * 200_000) + "the needle is here\n"
    (cite,) = locate(["The needle"], [Source("context", None, text)])
    assert cite.page == "slide 3" and cite.line == 200_002 and len(cite.excerpt) < 3000


def test_a_run_over_a_folder_of_documents_cites_pages_and_headings(tmp_path: Path, replay) -> None:
    folder = tmp_path / "dataroom"
    folder.mkdir()
    make_pdf(folder / "fees.pdf", ["Cover page.", "The fee is 3 percent of the price."])
    (folder / "terms.html").write_text("<h1>Terms</h1><h2>Payment</h2><p>Net 30 days.</p>")
    made_up = "The fee is waived for members."
    spec = replay(
        [
            repl(f"FINAL('3 percent, net 30', cite=['the fee is 3 percent', {made_up!r}])"),
            "FINAL(3 percent, net 30, cite=['The fee is 3 percent', 'Net 30 days.'])",
        ]
    )
    events: list = []
    result = RLM(spec, sandbox="process", on_event=events.append).completion(
        folder, "What are the fee and the payment term?"
    )
    assert result.status == "final" and result.answer == "3 percent, net 30", result
    fee, term = result.citations
    assert (fee.source, fee.page, fee.exact) == ("fees.pdf", "page 2", True)
    assert (term.source, term.heading, term.page, term.line) == ("terms.html", "Payment", None, 5)
    assert not result.warnings
    notices = [e for e in events if e.type == "notice"]
    assert [n.kind for n in notices] == ["unfound_quotes"] and made_up in notices[0].text
    (final,) = [e for e in events if e.type == "final_answer"]
    assert [c["source"] for c in final.citations] == ["fees.pdf", "terms.html"]
    finished = events[-1]
    assert finished.type == "run_finished" and finished.citations == final.citations
    assert result.to_dict()["citations"][0]["page"] == "page 2"


def test_a_second_miss_is_kept_and_flagged_and_final_var_cites(replay) -> None:
    spec = replay(
        [
            repl("x = 'seven'\nFINAL_VAR('x', cite=['nowhere'])"),
            "FINAL_VAR(x, cite=['nowhere', 'Seven seas'])",
        ]
    )
    result = RLM(spec, sandbox="process").completion("Sail the seven seas.", "How many seas?")
    assert result.answer == "seven"
    assert [(c.quote, c.found) for c in result.citations] == [("nowhere", False),
                                                              ("Seven seas", True)]  # fmt: skip
    assert [w.message for w in result.warnings if w.code == "quotes_not_found"] == [
        "1 of the 2 quote(s) the answer cites are not in the context"
    ]


def test_made_up_quotes_of_a_computed_answer_are_dropped_by_the_compact_policy(replay) -> None:
    """A 1.5B root cited a sentence of its own for a count; sent back, it spent its turns
    writing that sentence as code. A computed answer's evidence is its code's output."""
    spec = replay([repl("n = context.count('sea')\nprint(n)"),
                   "FINAL(2, cite=['There are 2 seas.', 'Sail the seven seas'])"])  # fmt: skip
    events: list = []
    run = RLM(spec, sandbox="process", policy="compact", recheck=False, on_event=events.append)
    result = run.completion("Sail the seven seas. The sea is calm.", "How many seas are named?")
    assert result.answer == "2" and result.iterations == 2
    assert [(c.quote, c.found) for c in result.citations] == [("Sail the seven seas", True)]
    assert not [w for w in result.warnings if w.code == "quotes_not_found"]
    (notice,) = [e for e in events if e.type == "notice" and e.kind != "profile"]
    assert notice.kind == "quotes_dropped" and "'There are 2 seas.'" in notice.text
    looked_up = replay([repl("FINAL('calm', cite=['The sea is stormy.'])"), "FINAL(calm)"])
    events.clear()
    RLM(looked_up, sandbox="process", policy="compact", on_event=events.append).completion(
        "Sail the seven seas. The sea is calm.", "What is the sea like?"
    )  # a lookup's quotes are its evidence: sent back as before
    assert "unfound_quotes" in [e.kind for e in events if e.type == "notice"]


def test_bad_cite_arguments_are_the_models_to_fix(replay) -> None:
    spec = replay([repl("FINAL('x', cite=5)"), repl(f"FINAL('x', cite=['a'] * {MAX_QUOTES + 1})"),
                   repl("FINAL('a', cite='a')")])  # fmt: skip
    events: list = []
    result = RLM(spec, sandbox="process", on_event=events.append).completion("a b", "q")
    outputs = [e.output for e in events if e.type == "code_executed"]
    assert "cite must be a list of quotes" in outputs[0]
    assert f"cite at most {MAX_QUOTES} quotes" in outputs[1]
    assert result.answer == "a" and result.citations[0].found  # a lone string is one quote


def test_a_worker_cannot_send_oversized_or_mistyped_quotes() -> None:
    def frame(final: dict) -> dict:
        return {"type": "result", "id": 1, "output": "", "output_chars": 0, "error": False,
                "final": final, "restored": [], "seconds": 0.0}  # fmt: skip

    check_result(frame({"answer": "a", "via": "FINAL", "cite": ["q"]}), 1)
    for cite in (["q"] * (MAX_QUOTES + 1), [1], "q", ["x" * 2001]):
        with pytest.raises(ProtocolViolation, match="malformed final"):
            check_result(frame({"answer": "a", "via": "FINAL", "cite": cite}), 1)


def test_a_prose_final_gets_the_same_caps_as_a_cell(replay) -> None:
    quotes = ", ".join(["'a b'"] * (MAX_QUOTES + 8))
    spec = replay([repl("x = 1"), f"FINAL(a, cite=[{quotes}])"])
    result = RLM(spec, sandbox="process").completion("a b", "q")
    assert len(result.citations) == MAX_QUOTES and all(c.found for c in result.citations)


def test_session_contexts_are_cited_by_their_variable(replay) -> None:
    spec = replay([repl("FINAL('b', cite=['second text'])")])
    with RLM(spec, sandbox="process").session("first text") as session:
        session.add_context({"notes.md": "# Notes\nthe second text"})
        result = session.ask("which?")
    (cite,) = result.citations
    assert (cite.variable, cite.source, cite.heading, cite.exact) == ("context_1", "notes.md",
                                                                     "Notes", True)  # fmt: skip


def test_cli_json_openai_endpoint_and_mcp_carry_citations(tmp_path: Path, replay) -> None:
    import openai

    from rlmx import RunConfig
    from rlmx.server.app import ServerSettings, serve_in_thread

    doc = tmp_path / "doc.txt"
    doc.write_text("line one\nThe code is 4417.\n")
    spec = replay([repl("FINAL('4417', cite=['The code is 4417.'])")])
    done = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "ask", str(doc), "-q", "code?", "--root", spec,
         "--json"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    (cite,) = json.loads(done.stdout)["citations"]
    assert (cite["source"], cite["line"], cite["start"]) == (str(doc), 2, 9)
    human = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "ask", str(doc), "-q", "code?", "--root", spec],
        capture_output=True, text=True, timeout=120)  # fmt: skip
    assert f'[1] "The code is 4417." ({doc}, line 2)' in human.stdout, human.stdout
    settings = ServerSettings(data_dir=tmp_path / "data", run=RunConfig.build(root=spec))
    with serve_in_thread(settings) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        reply = client.chat.completions.create(
            model="rlmx",
            messages=[{"role": "user", "content": "The code is 4417."},
                      {"role": "user", "content": "code?"}],
        )  # fmt: skip
        (cited,) = reply.model_extra["rlmx"]["citations"]
        assert cited["found"] and cited["quote"] == "The code is 4417."

    import asyncio

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters
    from test_mcp import RLMX, tool_json

    async def ask() -> dict:
        params = StdioServerParameters(command=RLMX, args=["mcp", "--root", spec], cwd=tmp_path)
        async with Client(params) as mcp_client:
            arguments = {"question": "code?", "text": "The code is 4417."}
            return tool_json(await mcp_client.call_tool("ask", arguments))

    (via_mcp,) = asyncio.run(ask())["citations"]
    assert via_mcp["found"] and via_mcp["start"] == 0


def test_prompts_ask_for_citations_in_one_line() -> None:
    from rlmx.core import prompts

    assert "cite=[" in prompts.PAPER_SYSTEM and "cite=[" in prompts.COMPACT_SYSTEM
    assert any("cite=[" in text for _, text in prompts.COMPACT_EXAMPLES)


def test_the_grammars_allow_cited_finals() -> None:
    from rlmx.answers import AnswerSchema
    from rlmx.core.prompts import FINAL_GRAMMAR, REPLY_GRAMMAR, typed_grammar

    rules = AnswerSchema(list[int]).grammar()
    assert rules is not None
    for grammar in (REPLY_GRAMMAR, FINAL_GRAMMAR, typed_grammar(rules, final_only=True)):
        assert "final-cite" in grammar
        parse_gbnf(grammar)


def test_web_ui_citations_open_the_source_at_the_quote(tmp_path: Path, replay) -> None:
    from playwright.sync_api import expect, sync_playwright
    from test_web_ui import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS

    from rlmx.server.app import ServerSettings, serve_in_thread

    folder = tmp_path / "reports"
    folder.mkdir()
    make_pdf(folder / "annual.pdf", ["Contents.", "Revenue grew 12 percent in 2025.", "Outlook."])
    (folder / "memo.html").write_text("<h1>Memo</h1><p>Costs fell by a third.</p>")
    from docx import Document

    doc = Document()
    doc.add_heading("Parties", level=2)
    doc.add_paragraph("Acme Corp and Beta LLC.")
    doc.save(folder / "deal.docx")
    quotes = ("cite=['Revenue grew 12 percent in 2025.', 'costs fell by a third', "
              "'Acme Corp and Beta LLC.', 'Profits doubled.']")  # fmt: skip
    spec = replay([repl(f"FINAL('12 percent; costs down a third', {quotes})"),
                   f"FINAL(12 percent; costs down a third, {quotes})"])  # fmt: skip
    settings = ServerSettings(data_dir=tmp_path / "data", data_root=tmp_path, allow_replay=True)
    with serve_in_thread(settings) as url, sync_playwright() as playwright:
        body = {"query": "How did revenue and costs change?", "path": "reports", "root": spec}
        run_id = httpx.post(f"{url}/query", json=body).json()["run_id"]
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{url}/#/run/{run_id}")
        items = page.locator("#answer-citations li")
        expect(items).to_have_count(4, timeout=60_000)
        expect(items.nth(0)).to_contain_text("annual.pdf · page 2 · line 5")
        expect(items.nth(1)).to_contain_text("memo.html · “Memo” · line 3")
        expect(items.nth(2)).to_contain_text("deal.docx · “Parties” · line 2")
        expect(items.nth(3)).to_contain_text("not found in the context")
        expect(page.locator("#answer-warnings .warning-text").first).to_have_text(
            "1 of the 4 quote(s) the answer cites are not in the context"
        )
        expect(page.locator("#answer-warnings .warning-code")).to_have_text(
            ["quotes_not_found", "context_unread", "not_in_evidence"]
        )
        expect(page.locator("#answer-badge")).to_have_text("3 warnings: check this answer")
        items.nth(0).click()
        expect(page.locator("#source-box")).to_be_visible()
        expect(page.locator("#source-where")).to_have_text("[1] annual.pdf · page 2 · line 5")
        expect(page.locator("#source-text mark")).to_have_text("Revenue grew 12 percent in 2025.")
        expect(page.locator("#source-text")).to_contain_text("--- page 2 ---")
        assert "Outlook" not in page.locator("#source-text").text_content()  # that page only
        items.nth(1).click()
        expect(page.locator("#source-text mark")).to_have_text("Costs fell by a third")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-ui-citations.png"), full_page=True)
        items.nth(2).click()
        expect(page.locator("#source-text mark")).to_have_text("Acme Corp and Beta LLC.")
        items.nth(3).click()  # a missing quote opens nothing
        expect(page.locator("#source-where")).to_have_text("[3] deal.docx · “Parties” · line 2")
        page.click("#source-close")
        expect(page.locator("#source-box")).to_be_hidden()
        browser.close()
        assert not errors, errors
        stored = httpx.get(f"{url}/runs/{run_id}?events=false").json()
        assert [c["found"] for c in stored["citations"]] == [True, True, True, False]
