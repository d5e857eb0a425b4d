"""The web UI in headless Chromium (Debian's chromium driven by Playwright), on a live server."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from rlmx.server.app import ServerSettings, serve_in_thread

from conftest import repl

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking"]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (make setup does)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser) -> Iterator[Page]:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    page.close()
    assert not errors, errors


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    return ServerSettings(data_dir=tmp_path / "data", data_root=tmp_path, allow_replay=True)


def test_start_a_run_and_watch_the_tree_fill_in(page: Page, settings, replay) -> None:
    spec = replay(
        {
            "root": [
                repl("import time\ntime.sleep(1.5)\nr = llm_query_batched("
                     "['classify a', 'classify b', 'classify c'])\nprint(r)"),
                repl("FINAL('labels: ' + ','.join(r))"),
            ],
            "sub": {"classify a": "A", "classify b": "B", "classify c": "C"},
        }
    )  # fmt: skip
    with serve_in_thread(settings) as url:
        page.goto(url)
        expect(page.locator("#server-info")).to_contain_text("sandbox")
        page.select_option("#sample", "server-log")  # a sample suggests its question
        expect(page.locator("#query")).to_have_value("How many ERROR lines mention disk?")
        page.select_option("#sample", "")
        page.fill("#context-text", "one line\nanother line")
        page.fill("#query", "Label every line")
        page.fill("#root", spec)
        page.click("#start")
        expect(page).to_have_url(re.compile(r"#/run/[0-9a-f]{12}$"))
        first_cell = page.locator(".cell").first
        expect(first_cell).to_be_visible()
        assert page.locator("#answer-box").is_hidden()  # the cell shows while the run goes on
        expect(first_cell.locator(".hljs-keyword").first).to_have_text("import")
        expect(page.locator(".subcall")).to_have_count(3)
        expect(first_cell.locator(".subcalls > summary")).to_have_text("3 sub-calls")
        page.locator(".subcall > summary").first.click()
        expect(page.locator(".subcall .prompt").first).to_have_text("classify a")
        expect(page.locator("#final-answer")).to_have_text("labels: A,B,C")
        expect(page.locator("#run-status")).to_have_text("final")
        expect(page.locator("#counters")).to_contain_text("3 sub-calls")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-ui-run.png"), full_page=True)
        page.click("text=Runs")
        expect(page.locator("#runs-table tbody tr")).to_have_count(1)
        expect(page.locator("#runs-table .status")).to_have_text("final")


def test_child_runs_nest_under_the_cell_that_started_them(page: Page, settings, replay) -> None:
    spec = replay(
        {
            "root": [repl("a = rlm_query('find X', context='X is 5')\nprint(a)"), "FINAL_VAR(a)"],
            "child": [repl("v = llm_query('extract ' + context)"), repl("FINAL(v)")],
            "sub": {"extract": "5"},
        }
    )
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        body = {"query": "q", "context": "c", "root": spec, "max_depth": 2}
        run_id = client.post("/query", json=body).json()["run_id"]
        page.goto(f"{url}/#/run/{run_id}")
        expect(page.locator("#final-answer")).to_have_text("5")
        child = page.locator(".cell .children .run.child")
        expect(child).to_have_count(1)
        expect(child.locator(".subcall")).to_have_count(1)
        expect(child.locator(".run-title")).to_contain_text("final")
        expect(child.locator(".run-title")).to_contain_text("tokens")


def test_a_run_with_1500_sub_calls_renders_and_stays_usable(page: Page, settings, replay):
    spec = replay(
        {
            "root": [
                repl("r = llm_query_batched([f'item {i}' for i in range(1500)])\nprint(len(r))"),
                repl("FINAL(len(r))"),
            ],
            "sub": {"item": "ok"},
        }
    )
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=120) as client:
        run_id = client.post("/query", json={"query": "q", "context": "c", "root": spec}).json()
        run_id = run_id["run_id"]
        with client.stream("GET", f"/stream/{run_id}") as response:
            for _ in response.iter_lines():
                pass  # wait for the run to end
        page.goto(f"{url}/#/run/{run_id}")
        expect(page.locator("#final-answer")).to_have_text("1500", timeout=60_000)
        expect(page.locator(".subcall")).to_have_count(1500)
        last = page.locator(".subcall").last
        last.locator("summary").click()
        expect(last.locator(".prompt")).to_have_text("item 1499")
        expect(page.locator("#counters")).to_contain_text("1500 sub-calls")


def test_a_video_run_marks_what_it_looked_at_and_markers_seek(
    page: Page, settings, replay, synthetic_video
) -> None:
    video, _ = synthetic_video
    spec = replay([repl("a = ocr(12)\nb = onscreen_text(30, 40)\nprint(a, b)"), repl("FINAL(1)")])
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=120) as client:
        with video.open("rb") as data:
            response = client.post("/query", data={"query": "q", "root": spec},
                                   files={"file": ("news.mp4", data, "video/mp4")})  # fmt: skip
        run_id = response.json()["run_id"]
        page.goto(f"{url}/#/run/{run_id}")
        expect(page.locator("#final-answer")).to_have_text("1", timeout=60_000)
        expect(page.locator("#video-box")).to_be_visible()
        marks = page.locator("#timeline .mark")
        expect(marks).to_have_count(2, timeout=30_000)
        expect(page.locator(".toolcall")).to_have_count(2)
        marks.nth(1).click()
        page.wait_for_function("Math.abs(document.querySelector('#video').currentTime - 30) < 0.5")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "web-ui-video.png"), full_page=True)


def test_follow_up_questions_reuse_the_runs_context_in_one_session(
    page: Page, settings, replay
) -> None:
    counter = repl("n = globals().get('n', 0) + 1\nFINAL(f'answer {n} over {len(context)}')")
    spec = replay([counter])
    with serve_in_thread(settings) as url:
        page.goto(url)
        page.fill("#context-text", "seventeen letters")
        page.fill("#query", "first question")
        page.fill("#root", spec)
        page.click("#start")
        expect(page.locator("#final-answer")).to_have_text("answer 1 over 17")
        shown = page.url
        asked = [shown.rsplit("/", 1)[1]]
        for expected in ("answer 1 over 17", "answer 2 over 17"):  # a new session, then it again
            expect(page.locator("#follow-up")).to_be_visible()
            page.fill("#follow-query", "and then?")
            page.click("#follow-up button")
            expect(page).not_to_have_url(shown)
            shown = page.url
            expect(page.locator("#run-id")).to_have_text(shown.rsplit("/", 1)[1])
            expect(page.locator("#answer-box")).to_be_visible()
            expect(page.locator("#final-answer")).to_have_text(expected)
            expect(page.locator("#run-query")).to_have_text("and then?")
            asked.append(shown.rsplit("/", 1)[1])
        sessions = httpx.get(f"{url}/sessions").json()["sessions"]
        assert len(sessions) == 1 and len(sessions[0]["runs"]) == 2
        # each follow-up links to the run it follows, and back
        expect(page.locator("#run-links")).to_have_text(f"Follows {asked[1]}")
        page.goto(f"{url}/#/run/{asked[1]}")
        expect(page.locator("#run-links")).to_have_text(
            f"Follows {asked[0]} · Followed by {asked[2]}"
        )
        page.goto(f"{url}/#/run/{asked[0]}")
        expect(page.locator("#run-links")).to_have_text(f"Followed by {asked[1]}")
        page.goto(f"{url}/#/run/000000000000")  # not found: nothing to follow up
        expect(page.locator("#run-status")).to_have_text("not found")
        assert page.locator("#follow-up").is_hidden() and page.locator("#run-links").is_hidden()


def test_a_live_run_says_what_it_waits_for_and_the_waterfall_reads(
    page: Page, settings, replay
) -> None:
    cell = "import time\ntime.sleep(4)\nr = llm_query_batched(['a', 'b', 'c', 'd'])\nprint(r)"
    spec = replay({"root": [repl(cell), repl("FINAL(len(r))")], "sub": {"": "x"}})
    with serve_in_thread(settings) as url:
        body = {"query": "q", "context": "c", "root": spec}
        run_id = httpx.post(f"{url}/query", json=body).json()["run_id"]
        page.goto(f"{url}/#/run/{run_id}")
        waiting = page.locator("#waiting")
        expect(waiting).to_contain_text("Running cell 1", timeout=10_000)
        expect(waiting).to_contain_text("s since the last event")
        expect(page.locator("#final-answer")).to_have_text("4", timeout=30_000)
        expect(waiting).to_be_hidden()
        canvas = page.locator("#waterfall")
        # root turns, a cell, sub-calls: rows one can read (redrawn at most 5 times a second)
        page.wait_for_function(
            "document.querySelector('#waterfall').getBoundingClientRect().height >= 3 * 14",
            timeout=5_000,
        )
        box = canvas.bounding_box()
        page.click("#zoom-in")
        assert canvas.bounding_box()["width"] >= 1.9 * box["width"]
        page.click("#zoom-out")
        assert abs(canvas.bounding_box()["width"] - box["width"]) < 2
        ARTIFACTS.mkdir(exist_ok=True)  # docs/screenshots/run-view.png is one of these
        page.locator("#page-run").screenshot(path=str(ARTIFACTS / "run-view.png"))


def test_a_recheck_that_disagrees_is_shown_as_such(page: Page, settings, replay) -> None:
    count = repl("n = len([r for r in context.splitlines() if 'x' in r])\nprint(n)")
    said_7 = [count, repl("FINAL(7)")]
    spec = replay([count, repl("FINAL(n)"), *said_7, *said_7])  # both rechecks say 7
    with serve_in_thread(settings) as url:
        body = {"query": "How many lines have an x?", "context": "x\ny\nx", "root": spec}
        run_id = httpx.post(f"{url}/query", json=body).json()["run_id"]
        page.goto(f"{url}/#/run/{run_id}")
        # two of three attempts say 7: it is the answer, warned with the first attempt's 2
        expect(page.locator("#final-answer")).to_have_text("7")
        expect(page.locator("#answer-warnings .warning-code")).to_have_text(["recheck_differs"])
        expect(page.locator("#answer-warnings")).to_contain_text("the rest answered '2'")
        checks = page.locator(".run.child")
        expect(checks.locator(".badge-recheck")).to_have_text(["recheck", "recheck"])
        expect(checks.locator(".run-title").first).to_contain_text('answered "7"')
        expect(checks.locator(".run-title").nth(1)).to_contain_text('answered "7"')


def test_warnings_notices_and_a_long_answer_collapsed(page: Page, settings, replay) -> None:
    long_answer = "\\n".join(f"line {i}" for i in range(40))
    spec = replay(["FINAL(too early)", repl("x = 1"), repl(f"FINAL('''{long_answer}''')")])
    with serve_in_thread(settings) as url:
        body = {"query": "q", "context": "c", "root": spec, "max_iterations": 2}
        run_id = httpx.post(f"{url}/query", json=body).json()["run_id"]
        page.goto(f"{url}/#/run/{run_id}")
        expect(page.locator("#answer-box")).to_be_visible()
        expect(page.locator("#answer-warnings .warning-code")).to_have_text(
            ["max_iterations", "context_unread", "not_in_evidence"]
        )
        expect(page.locator("#answer-warnings .warning-text").first).to_have_text(
            "the run hit its iteration limit: the answer is the model's last attempt"
        )
        expect(page.locator("#answer-badge")).to_have_text("3 warnings: check this answer")
        notices = page.locator(".notice > summary")
        expect(notices).to_have_text(["rlmx told the model (premature final)",
                                      "rlmx told the model (last turn)"])  # fmt: skip
        answer = page.locator("#final-answer")
        assert page.locator("#final-answer.clipped").count() == 1
        clipped = answer.bounding_box()["height"]
        page.click("#answer-more")
        expect(page.locator("#answer-more")).to_be_hidden()
        assert answer.bounding_box()["height"] > 2 * clipped
        assert "line 39" in answer.text_content()
        run = httpx.get(f"{url}/runs/{run_id}?events=false").json()
        assert run["warnings"][0] == {
            "code": "max_iterations",
            "message": "the run hit its iteration limit: the answer is the model's last attempt",
        }


@pytest.mark.parametrize("width", [1200, 390])
def test_the_form_and_the_run_list_fit_desktop_and_phone_widths(
    browser, settings, replay, width
) -> None:
    spec = replay([repl("FINAL('a fairly long answer to show in the run list, cut to fit')")])
    page = browser.new_page(viewport={"width": width, "height": 800})
    try:
        with serve_in_thread(settings) as url:
            for _ in range(2):
                body = {"query": "What does the long question ask about?", "context": "c",
                        "root": spec}  # fmt: skip
                run_id = httpx.post(f"{url}/query", json=body).json()["run_id"]
                # the run list is read once when it opens: let the run end first
                with httpx.stream("GET", f"{url}/stream/{run_id}", timeout=120) as events:
                    for _ in events.iter_lines():
                        pass
            page.goto(url)
            expect(page.locator("#start")).to_be_visible()
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"web-ui-new-run-{width}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            page.click("text=Runs")
            expect(page.locator("#runs-table tbody tr")).to_have_count(2)
            expect(page.locator("#runs-table .status").first).to_have_text("final")
            page.screenshot(path=str(ARTIFACTS / f"web-ui-runs-{width}.png"), full_page=True)
            assert page.evaluate("document.documentElement.scrollWidth") <= width
            answers = page.locator("#runs-table td.wide.q")
            assert answers.first.is_visible() == (width > 640)
            page.goto(f"{url}/#/run/nosuchrun")
            expect(page.locator("#run-error")).to_contain_text("no run 'nosuchrun'")
            expect(page.locator("#run-status")).to_have_text("not found")
    finally:
        page.close()


def test_waterfall_filter_and_collapse(page: Page, settings, replay) -> None:
    spec = replay(
        {
            "root": [
                repl("r = llm_query_batched(['alpha one', 'beta two', 'alpha three'])\nprint(r)"),
                repl("1 / 0"),
                repl("FINAL(r[0])"),
            ],
            "sub": {"alpha one": "A1", "beta two": {"error": "the sub-model failed"},
                    "alpha three": "A3"},
        }
    )  # fmt: skip
    with serve_in_thread(settings) as url:
        run_id = httpx.post(
            f"{url}/query", json={"query": "q", "context": "c", "root": spec}
        ).json()["run_id"]
        page.goto(f"{url}/#/run/{run_id}")
        expect(page.locator("#final-answer")).to_have_text("A1")
        expect(page.locator("#waterfall-box")).to_be_visible()
        expect(page.locator("#waterfall-legend")).to_contain_text("root turn: 3")
        expect(page.locator("#waterfall-legend")).to_contain_text("sub-call: 3")
        assert page.locator("#waterfall").bounding_box()["height"] > 10
        expect(page.locator(".subcall > summary").first).to_contain_text("✓ alpha one")
        page.fill("#filter-text", "beta")
        expect(page.locator(".subcall:visible")).to_have_count(1)
        expect(page.locator(".cell:visible")).to_have_count(1)  # the cell that holds it
        page.fill("#filter-text", "")
        page.check("#filter-errors")
        expect(page.locator(".subcall:visible")).to_have_count(1)  # the failed one
        expect(page.locator(".cell.error:visible")).to_have_count(1)  # 1 / 0
        page.uncheck("#filter-errors")
        expect(page.locator(".subcall:visible")).to_have_count(3)
        page.click("#collapse-all")
        assert page.evaluate("[...document.querySelectorAll('#tree details')].every(d => !d.open)")
        page.click("#expand-all")
        assert page.evaluate("[...document.querySelectorAll('#tree details.iteration')]"
                             ".every(d => d.open)")  # fmt: skip
        assert not page.evaluate("[...document.querySelectorAll('#tree details.subcall')]"
                                 ".some(d => d.open)")  # fmt: skip


def test_the_root_answer_is_shown_once(page: Page, settings, replay) -> None:
    spec = replay([repl("FINAL('the one answer ' * 3)")])
    with serve_in_thread(settings) as url:
        run_id = httpx.post(
            f"{url}/query", json={"query": "q", "context": "c", "root": spec}
        ).json()["run_id"]
        page.goto(f"{url}/#/run/{run_id}")
        expect(page.locator("#final-answer")).to_contain_text("the one answer")
        expect(page.locator(".run-final")).to_have_text("Final answer (FINAL): shown above")
        text = page.locator("body").inner_text()
        assert text.count("the one answer") == 4  # the answer (three times), the cell code
