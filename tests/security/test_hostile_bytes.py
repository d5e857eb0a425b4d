"""The host never does unbounded work on hostile bytes (issue 27): control characters never
reach a grammar, client schemas fetch nothing and stay small, documents are parsed in a
confined child with limits, events keep previews, the queue sheds load, the API docs sit
behind the token and text printed on a terminal cannot drive it. Each attack is tried for
real, and the server (or the run) goes on."""

from __future__ import annotations

import contextlib
import io
import json
import os
import pty
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rlmx import RunConfig
from rlmx.answers import AnswerSchema, client_schema
from rlmx.choices import check_choices, choice_grammar
from rlmx.citations import Source, locate
from rlmx.confined import ParseLimits
from rlmx.core.events import PREVIEW_CHARS, CodeExecuted, FinalAnswer, ToolCall, preview_value
from rlmx.documents import read_document
from rlmx.errors import ConfigError, ContextError
from rlmx.gbnf import literal
from rlmx.lm.registry import prune_cache
from rlmx.server.app import ServerSettings, serve_in_thread

from conftest import repl

CONTROLS = ["\x00", "\x01", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\ud800", "\uffff"]


# -- 1. control characters never reach a grammar ----------------------------------------------
@pytest.mark.parametrize("char", CONTROLS)
def test_control_characters_are_refused_before_any_grammar(char: str) -> None:
    assert "control character" in (check_choices(["yes", f"n{char}o"]) or "")
    with pytest.raises(ValueError, match="control character"):
        choice_grammar(["yes", f"n{char}o"])
    for schema in (
        {"enum": ["a", f"b{char}"]},
        {"const": f"x{char}"},
        {"type": "object", "properties": {f"k{char}": {"type": "string"}}},
        {"type": "array", "items": {"enum": [{"nested": f"{char}"}]}},
    ):
        with pytest.raises(ConfigError, match="control character"):
            client_schema(schema)
        with pytest.raises(ConfigError, match="control character"):
            AnswerSchema(schema)  # an operator's --schema too


def test_the_escaper_keeps_every_other_character_and_llama_compiles_it() -> None:
    hard = [
        'say "hi"',
        "back\\slash",
        "two\nlines",
        "tab\there",
        "[x]|y",
        "é ü 中文",
        "🙂 ok",
        "\r",
    ]
    for text in hard:
        assert literal(text).startswith('"') and literal(text).endswith('"')
    import asyncio

    from rlmx.lm.local import LocalLM

    lm = LocalLM("smollm2-135m", n_ctx=1024)  # llama.cpp parses it when it samples
    reply = asyncio.run(lm.complete([{"role": "user", "content": "Pick."}], max_tokens=24,
                                    grammar=choice_grammar(hard)))  # fmt: skip
    assert reply.text in hard


def test_a_local_model_holds_replies_to_choices_with_quotes_and_emoji() -> None:
    """The real llama.cpp decoder under the escaped grammar: the reply is one of them."""
    import asyncio

    from rlmx.lm.local import LocalLM

    choices = ['"quoted"', "🙂 smile", "back\\slash"]
    lm = LocalLM("smollm2-135m", n_ctx=2048)
    reply = asyncio.run(
        lm.complete(
            [{"role": "user", "content": "Pick one."}],
            max_tokens=24,
            grammar=choice_grammar(choices),
        )
    )
    assert reply.text in choices
    from rlmx.lm.base import LMError

    for broken in ("root ::= (", "root ::= undefined-rule", 'root ::= "open'):
        with pytest.raises(LMError, match="does not parse"):  # the call's error, not a crash
            asyncio.run(lm.complete([{"role": "user", "content": "x"}], grammar=broken))
    assert asyncio.run(lm.complete([{"role": "user", "content": "Hi"}], max_tokens=4)).text


# -- 2, 3. client schemas: no fetch, bounded -------------------------------------------------
def remote_schemas(url: str) -> list[dict]:
    return [
        {"$ref": f"{url}/a.json"},
        {"if": {"$dynamicRef": f"{url}/b.json#meta"}, "then": {"type": "string"}},
        {"properties": {"x": {"$recursiveRef": f"{url}/c.json"}}},
        {"$defs": {"a": {"$ref": "file:///dev/zero"}}, "$ref": "#/$defs/a"},
        {"$id": f"{url}/d.json", "type": "string"},
        {"$schema": f"{url}/meta.json", "type": "string"},
        {"anyOf": [{"$ref": f"{url}/e.json"}, {"type": "null"}]},
    ]


def test_client_schemas_fetch_nothing(recorder) -> None:
    for schema in remote_schemas(recorder.url):
        with pytest.raises(ConfigError):
            client_schema(schema)
    with pytest.raises(ConfigError, match="local references"):
        AnswerSchema({"$ref": f"{recorder.url}/f.json"})  # an operator's schema neither
    assert recorder.requests == []


def exponential_schema(levels: int) -> dict:
    defs = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}] * 2} for i in range(levels)}
    defs[f"d{levels}"] = {"type": "integer"}
    return {"$defs": defs, "$ref": "#/$defs/d0"}


@pytest.mark.parametrize(
    ("schema", "why"),
    [
        ({"type": "string", "minLength": 10**8, "maxLength": 10**8}, "minLength"),
        ({"type": "array", "maxItems": 10**9}, "maxItems"),
        ({"type": "object", "maxProperties": -1}, "maxProperties"),
        ({"enum": list(range(5000))}, "enum"),
        (exponential_schema(12), "too large"),
        ({"$defs": {"a": {"items": {"$ref": "#/$defs/a"}}}, "$ref": "#/$defs/a"}, "cycles"),
        ({"$ref": "#/$defs/missing"}, "names nothing"),
        ({"type": "string", "pattern": "(a+)+$"}, "regular expressions"),
    ],
)
def test_client_schemas_are_capped(schema: dict, why: str) -> None:
    with pytest.raises(ConfigError, match=why):
        client_schema(schema)


def test_deep_nesting_is_refused_without_exhausting_the_stack() -> None:
    schema: dict = {"type": "string"}
    for _ in range(500):
        schema = {"type": "array", "items": schema}
    with pytest.raises(ConfigError, match="nests deeper"):
        client_schema(schema)


def test_an_operators_huge_bounds_give_a_small_grammar_or_none() -> None:
    wide = AnswerSchema({"type": "string", "maxLength": 10**8})
    rules = wide.grammar()
    assert rules is not None and len(rules) < 5000
    assert AnswerSchema({"type": "string", "minLength": 10**8}).grammar() is None
    items = AnswerSchema({"type": "array", "items": {"type": "integer"}, "minItems": 10**7})
    assert items.grammar() is None
    assert wide.check(json.dumps("x" * 20))[1] is None  # the value is still checked


def test_grammars_are_built_only_for_roots_that_take_them(replay, monkeypatch) -> None:
    from rlmx import RLM

    def fail(*_args: object) -> None:
        raise AssertionError("a grammar was built for a root that takes none")

    monkeypatch.setattr(AnswerSchema, "grammar", fail)
    root = replay([repl("FINAL({'a': 1})")])
    result = RLM(root=root, sandbox="process").completion(
        "ctx", "q", schema={"type": "object", "properties": {"a": {"type": "integer"}}}
    )
    assert result.status == "final" and result.value == {"a": 1}


# -- 4. documents: confined, capped ----------------------------------------------------------
def zip_document(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_bombs_are_refused_from_their_directory(tmp_path: Path) -> None:
    bomb = b"\0" * (300 * 2**20)
    container = b'<container><rootfiles><rootfile full-path="c.opf"/></rootfiles></container>'
    for suffix, members in {
        ".epub": {"META-INF/container.xml": container, "c.xhtml": bomb},
        ".docx": {"word/document.xml": bomb},
        ".xlsx": {"xl/worksheets/sheet1.xml": bomb},
        ".pptx": {"ppt/slides/slide1.xml": bomb},
    }.items():
        path = tmp_path / f"bomb{suffix}"
        path.write_bytes(zip_document(members))
        assert path.stat().st_size < 2 * 2**20
        with pytest.raises(ContextError, match="zip bomb"):
            read_document(path)


def test_a_sheet_that_claims_a_huge_dimension_is_read_by_its_real_cells(tmp_path: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    book.active.append(["name", "total"])
    book.active.append(["Ada", 42])
    plain = tmp_path / "plain.xlsx"
    book.save(plain)
    with zipfile.ZipFile(plain) as source:
        members = {name: source.read(name) for name in source.namelist()}
    sheet = members["xl/worksheets/sheet1.xml"].decode()
    members["xl/worksheets/sheet1.xml"] = sheet.replace(
        '<dimension ref="A1:B2"/>', '<dimension ref="A1:XFD200000"/>'
    ).encode()
    hostile = tmp_path / "hostile.xlsx"
    hostile.write_bytes(zip_document(members))
    assert hostile.stat().st_size < 20_000
    text = read_document(hostile)
    assert text.splitlines()[1:] == ["name,total", "Ada,42"]


def test_a_slow_document_is_stopped_at_its_limits(tmp_path: Path) -> None:
    slow = tmp_path / "slow.html"
    slow.write_text("<p>" + "</" * 400_000)  # quadratic in Python's HTML parser
    with pytest.raises(ContextError, match=r"slow\.html.*longer than 2 s"):
        read_document(slow, ParseLimits(wall_seconds=2))
    with pytest.raises(ContextError, match=r"slow\.html.*CPU"):
        read_document(slow, ParseLimits(cpu_seconds=1, wall_seconds=60))


def test_a_pdf_of_many_pages_sharing_one_stream_is_capped(tmp_path: Path) -> None:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(6000):
        writer.add_blank_page(10, 10)
    path = tmp_path / "pages.pdf"
    with path.open("wb") as file:
        writer.write(file)
    with pytest.raises(ContextError, match="6,000 pages"):
        read_document(path)


def test_the_document_cache_is_bounded(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    folder.mkdir()
    for index in range(5):
        entry = folder / f"{index}.txt"
        entry.write_text("x" * 1000)
        os.utime(entry, (1_000_000 + index, 1_000_000 + index))
    prune_cache(folder, "*.txt", max_bytes=2500, max_days=10**6)
    assert sorted(p.name for p in folder.iterdir()) == ["3.txt", "4.txt"]
    prune_cache(folder, "*.txt", max_bytes=10**9, max_days=1)
    assert list(folder.iterdir()) == []


@pytest.fixture
def server(tmp_path: Path, replay) -> Iterator[tuple[httpx.Client, ServerSettings]]:
    root = replay([repl("FINAL('done')")] * 4)
    settings = ServerSettings(data_dir=tmp_path / "data", data_root=tmp_path,
                              max_runs=1, max_queued=1, run=RunConfig.build(root=root))  # fmt: skip
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        yield client, settings


def health_within(client: httpx.Client, seconds: float) -> None:
    """/health answers while the attack goes on (a liveness check, not a benchmark)."""
    assert client.get("/health", timeout=seconds).json()["status"] == "ok"


def test_a_hostile_upload_never_stalls_the_server(server) -> None:
    client, _ = server
    slow = ("<p>" + "</" * 150_000).encode()
    response = client.post("/query", data={"query": "q"}, files={"file": ("x.html", slow)})
    run_id = response.json()["run_id"]
    for _ in range(3):
        health_within(client, 2.0)
        time.sleep(0.5)
    run = client.get(f"/runs/{run_id}", params={"events": False}).json()
    deadline = time.monotonic() + 120
    while run["status"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        run = client.get(f"/runs/{run_id}", params={"events": False}).json()
    assert run["status"] in ("final", "error")
    after = client.post("/query", json={"query": "q", "context": "c"}).json()["run_id"]
    assert client.get(f"/runs/{after}").status_code == 200


# -- 5, 6. events keep previews --------------------------------------------------------------
def test_event_fields_are_always_previewed() -> None:
    huge = "A" * 3_000_000
    call = ToolCall(run_id="r", name="t", arguments=preview_value({"args": [huge], "kwargs": {}}),
                    result=huge, error=huge, seconds=0.1)  # fmt: skip
    cell = CodeExecuted(run_id="r", cell=1, code=huge, output=huge, error=False, seconds=0.1)
    for event in (call, cell):
        assert len(event.model_dump_json()) < 4 * PREVIEW_CHARS
    assert FinalAnswer(run_id="r", answer=huge, via="FINAL").answer == huge  # kept whole


# -- 7. the queue sheds load -----------------------------------------------------------------
def test_a_full_queue_is_refused_with_retry_after(tmp_path: Path, replay) -> None:
    slow = replay([repl("import time; time.sleep(4)"), repl("FINAL('slow')")])
    settings = ServerSettings(data_dir=tmp_path / "data", data_root=tmp_path,
                              max_runs=1, max_queued=1, run=RunConfig.build(root=slow))  # fmt: skip
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        first = client.post("/query", json={"query": "q", "context": "c"})
        second = client.post("/query", json={"query": "q", "context": "c"})
        third = client.post("/query", json={"query": "q", "context": "c"})
        assert first.status_code == second.status_code == 200
        assert third.status_code == 429 and int(third.headers["retry-after"]) > 0
        messages = [{"role": "user", "content": "q"}]
        chat = client.post("/v1/chat/completions", json={"model": "rlmx", "messages": messages})
        assert chat.status_code == 429 and "retry-after" in chat.headers
        health_within(client, 2.0)
        for _ in range(60):  # the queue drains and takes runs again
            if client.post("/query", json={"query": "q", "context": "c"}).status_code == 200:
                break
            time.sleep(1)
        else:
            pytest.fail("the queue never took a run again")


def test_a_client_holds_only_its_share_of_streams_and_sessions(tmp_path: Path, replay) -> None:
    slow = replay([repl("import time; time.sleep(3)"), repl("FINAL('slow')")] * 3)
    settings = ServerSettings(data_dir=tmp_path / "data", data_root=tmp_path,
                              streams_per_client=2, sessions_per_client=1,
                              run=RunConfig.build(root=slow))  # fmt: skip
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        run_id = client.post("/query", json={"query": "q", "context": "c"}).json()["run_id"]
        with client.stream("GET", f"/stream/{run_id}") as one, \
                client.stream("GET", f"/stream/{run_id}") as two:  # fmt: skip
            assert one.status_code == two.status_code == 200
            third = client.get(f"/stream/{run_id}")
            assert third.status_code == 429 and "event streams" in third.json()["detail"]
            assert int(third.headers["retry-after"]) > 0
            messages = [{"role": "user", "content": "q"}]
            chat = client.post(
                "/v1/chat/completions", json={"model": "rlmx", "messages": messages, "stream": True}
            )
            assert chat.status_code == 429  # refused before a run starts
            health_within(client, 2.0)
        for _ in range(40):  # closed streams give their places back
            with client.stream("GET", f"/stream/{run_id}") as again:
                if again.status_code == 200:
                    break
            time.sleep(0.25)
        else:
            pytest.fail("a closed stream never gave its place back")
        opened = client.post("/sessions", json={"context": "c"})
        assert opened.status_code == 200
        refused = client.post("/sessions", json={"context": "c"})
        assert refused.status_code == 429 and "open sessions" in refused.json()["detail"]
        client.delete(f"/sessions/{opened.json()['session_id']}")
        assert client.post("/sessions", json={"context": "c"}).status_code == 200


def test_queued_contexts_wait_on_disk(tmp_path: Path, replay) -> None:
    root = replay([repl("import time; time.sleep(3)"), repl("FINAL(context[:12])")])
    settings = ServerSettings(data_dir=tmp_path / "data", data_root=tmp_path,
                              max_runs=1, run=RunConfig.build(root=root))  # fmt: skip
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        client.post("/query", json={"query": "q", "context": "c"})
        second = client.post("/query", json={"query": "q", "context": "queued text " * 1000})
        run_id = second.json()["run_id"]
        spilled = settings.data_dir / "uploads" / run_id / "queued-context.json"
        assert spilled.exists() and json.loads(spilled.read_text()).startswith("queued text")
        deadline = time.monotonic() + 60
        while (run := client.get(f"/runs/{run_id}", params={"events": False}).json())["status"] in (
            "queued",
            "running",
        ) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert run["answer"] == "queued text " and not spilled.exists()


def test_empty_contexts_and_huge_questions_are_refused(server) -> None:
    client, _ = server
    empty = client.post("/query", json={"query": "q", "context": " \n "})
    assert empty.status_code == 400 and "empty" in empty.json()["detail"]
    huge = client.post("/query", json={"query": "q" * 100_001, "context": "c"})
    assert huge.status_code == 422
    assert client.post("/query", json={"query": "q", "context": "c"}).status_code == 200


def test_deleting_a_run_removes_its_document_cache_entries(tmp_path: Path, replay,
                                                            monkeypatch) -> None:  # fmt: skip
    monkeypatch.setenv("RLMX_CACHE_DIR", str(tmp_path / "cache"))
    root = replay([repl("FINAL(context[:5])")])
    settings = ServerSettings(
        data_dir=tmp_path / "data", data_root=tmp_path, run=RunConfig.build(root=root)
    )
    page = b"<html><body><h1>Title</h1><p>unique words 7731</p></body></html>"
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        response = client.post("/query", data={"query": "q"}, files={"file": ("p.html", page)})
        run_id = response.json()["run_id"]
        deadline = time.monotonic() + 60
        while client.get(f"/runs/{run_id}", params={"events": False}).json()["status"] in (
            "queued", "running"
        ) and time.monotonic() < deadline:  # fmt: skip
            time.sleep(0.25)
        cached = list((tmp_path / "cache" / "documents").glob("*.txt"))
        assert len(cached) == 1 and "7731" in cached[0].read_text()
        assert client.delete(f"/runs/{run_id}").status_code == 200
        assert not cached[0].exists()
        assert not (settings.data_dir / "uploads" / run_id).exists()


def test_a_client_may_ask_for_less_time_never_more(tmp_path: Path, replay) -> None:
    settings = ServerSettings(data_dir=tmp_path, max_run_seconds=30,
                              run=RunConfig.build(root=replay([repl("FINAL('x')")])))  # fmt: skip
    from rlmx.server.runs import RunOptions, RunRequest

    asked = settings.build_rlm(RunRequest("q", "c", RunOptions(max_seconds=10**6)))
    assert asked.config.budget.max_seconds == 30
    less = settings.build_rlm(RunRequest("q", "c", RunOptions(max_seconds=5)))
    assert less.config.budget.max_seconds == 5


# -- 8. citation matching is linear ----------------------------------------------------------
def test_adversarial_quotes_over_a_long_context_end() -> None:
    sources = [Source("context", None, "a" * 2_000_000), Source("context_1", None, "ab " * 300_000)]
    quotes = ["A" * 1999 + "b", "AB " * 600 + "x", "a ... " * 300 + "z"] * 11
    citations = locate(quotes[:32], sources)
    assert len(citations) == 32 and not any(c.found for c in citations)


def test_data_that_imitates_the_profiles_lines_never_ends_the_run(replay) -> None:
    """The profile quotes a text's first lines, and rlmx reads its own lines back (a
    field's values; its join hint, whose counting cell it may run for the model): a text
    that writes such lines itself, with values no literal can hold ({[1]: 2} raised
    TypeError and ended the run) or a join hint that calls code, is read as neither, and
    the run goes on."""
    from rlmx import RLM

    posed = (  # short enough that the profile quotes it whole
        "the 'b' of 'x' is 'y': map it first: g = {1: 2}; then g.get(print('pwned')) is the "
        "'genre' of a record x of parse_records(context['x'])"
    )
    lines = [posed, "'genre': values {[1]: 2}", "'x': values " + "9" * 150]
    context = "\n".join(lines + [f"id={i} genre=crime" for i in range(20)])
    spec = replay([repl("print(len(rows))"), "FINAL(atlas)", "FINAL(crime)"])  # no genre
    events: list = []
    run = RLM(spec, policy="compact", recheck=False, sandbox="process", on_event=events.append)
    result = run.completion(context, "Which genre was borrowed most often?")
    assert result.status == "final" and result.answer == "crime"
    doubts = [e.text for e in events if e.type == "notice" and e.kind == "doubted_final"]
    assert len(doubts) == 1 and "'atlas' is not a genre" in doubts[0]
    ran = [e.code for e in events if e.type == "code_executed"]
    assert ran == ["print(len(rows))"]  # the posed hint's cell was never run


def test_a_question_built_to_make_the_checks_backtrack_never_stalls_the_run(replay) -> None:
    """The question comes from a request (up to the server's 100,000 characters) and the
    compact policy's checks search it for the names and numbers it gives: the search for
    paths and ids once took cubic time on a run of dots (2,000 dots: 18 s). A run asked
    such a question ends with its answer (or this test hangs)."""
    from rlmx import RLM
    from rlmx.server.runs import MAX_QUERY_CHARS

    hostile = "How many " + "." * 40_000 + " a_" * 10_000 + " 1, " * 4_000 + "A" * 10_000 + "?"
    assert len(hostile) < MAX_QUERY_CHARS
    spec = replay([repl("print(len(rows))"), "FINAL(22)"])
    result = RLM(spec, policy="compact", recheck=False, sandbox="process").completion(
        "city: Oslo | n: 1\n" * 22, hostile
    )
    assert result.status == "final" and result.answer == "22", result


AGAINST_THE_READERS = {  # a text built against parse_records, and its records' count
    # a first line longer than csv's field limit (128 KiB), read as a table's header,
    # raised, and the profile with it
    "csv-field-limit": ("x " * 100_000 + "\n" + "[(" * 50_000 + "\n" + "a b\n" * 1_000, 1002),
    # a line of 100,000 ",000" groups: the search for an amount's commas (1,217.78: no
    # field ends at them) began again at every digit (quadratic: minutes), so the profile
    # timed out and the model's own parse_records cell with it
    "amount-commas": ("a b\n" * 1_000 + "1" + ",000" * 100_000 + "\n", 1001),
    # lines that begin with as many parts as a kind of line reads, each as long as it
    # reads, and quotes and brackets among them: the profile's kinds of line (bounded)
    "line-kinds": (
        (
            "["
            + "a'" * 30
            + "] <"
            + "b" * 60
            + "> ("
            + '"' * 60
            + ") Ab"
            + "c" * 30
            + " Ab"
            + "c" * 30
            + ": x\n"
        )
        * 6_000,
        6_000,
    ),
    # lines in words whose numbers are runs of digits, dots and signs as long as a
    # number's pattern reads, and longer: the profile's numbers of a line, for a total;
    # a key=value pair was looked for from each character of "1.1.1..." to its end
    # (quadratic: 90 s for these 9 MB)
    "numbers-in-words": (
        (
            "paid "
            + "1." * 3_000
            + "5 to Ada +$"
            + "9" * 30
            + " and "
            + "8" * 24
            + ".5 EUR "
            + "-" * 3_000
            + "7\n"
        )
        * 1_000,
        1_000,
    ),
}


@pytest.mark.parametrize("attack", AGAINST_THE_READERS)
def test_a_text_built_against_the_readers_still_gives_a_profile(replay, attack: str) -> None:
    """The profile reads a text's records before the first turn; the run goes on to its
    answer, the model's own parse_records cell too."""
    from rlmx import RLM

    hostile, count = AGAINST_THE_READERS[attack]
    spec = replay([repl("print(len(parse_records(context)))"), f"FINAL({count})"])
    events: list = []
    run = RLM(spec, policy="compact", recheck=False, sandbox="process", on_event=events.append)
    result = run.completion(hostile, "How many lines are there in total?")  # and their numbers
    assert result.status == "final" and result.answer == str(count), result
    assert any(e.type == "notice" and e.kind == "profile" for e in events)


def test_a_question_reaches_the_sandboxs_profile_as_text_only(replay) -> None:
    """The profile's cell holds the question (its words pick a join's field): a
    request's question built to close the string and run code, as long as the server
    takes, is a string literal there (cut to its first 2,000 characters) and runs
    nothing; the run gets its profile and its answer."""
    from rlmx import RLM
    from rlmx.server.runs import MAX_QUERY_CHARS

    escape = "team'))\nimport os; os._exit(3)  # \"\"\" \\ '''\n"
    hostile = "Which team is red? " + escape * ((MAX_QUERY_CHARS - 100) // len(escape))
    agents = "id,team\n" + "\n".join(f"{i},{'red' if i % 2 else 'blue'}" for i in range(1, 9))
    tickets = json.dumps([{"agent_id": 1 + i % 8, "minutes": i} for i in range(30)])
    spec = replay([repl("print('red')"), "FINAL(red)"])
    events: list = []
    run = RLM(spec, policy="compact", recheck=False, sandbox="process", on_event=events.append)
    result = run.completion({"agents.csv": agents, "tickets.json": tickets}, hostile)
    assert result.status == "final" and result.answer == "red", result
    (shown,) = [e.text for e in events if e.type == "notice" and e.kind == "profile"]
    assert "team = {r['id']: r['team']" in shown


# -- 9. terminal escapes ---------------------------------------------------------------------
def test_answers_on_a_terminal_cannot_drive_it(tmp_path: Path, replay) -> None:
    evil = "\x1b]52;c;cm0gLXJmIH4=\x07\x1b]0;pwned\x07\x1b[2K\rall good"
    root = replay([repl(f"FINAL({evil!r})")])
    context = tmp_path / "c.txt"
    context.write_text("ctx")
    command = [sys.executable, "-m", "rlmx.cli", "ask", str(context), "-q", "q",
               "--root", root, "--sandbox", "process"]  # fmt: skip
    main, secondary = pty.openpty()
    done = subprocess.run(command, stdin=subprocess.DEVNULL, stdout=secondary, stderr=secondary,
                          timeout=120, env={**os.environ, "COLUMNS": "120"})  # fmt: skip
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    assert done.returncode == 0
    assert b"\x1b]52" not in shown and b"\x1b]0;" not in shown and b"\x1b[2K\r" not in shown
    assert b"\\x1b]52;c;" in shown
    piped = subprocess.run([*command, "--json"], capture_output=True, timeout=120)
    assert json.loads(piped.stdout)["answer"] == evil  # --json stays exact


# -- 11. the token covers the API docs -------------------------------------------------------
def test_the_token_covers_the_api_docs(tmp_path: Path, replay) -> None:
    settings = ServerSettings(
        data_dir=tmp_path, token="s3cret-token", run=RunConfig.build(root=replay([]))
    )
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        for route in ("/docs", "/redoc", "/openapi.json"):
            assert client.get(route).status_code == 401, route
            assert client.get(route, params={"token": "s3cret-token"}).status_code == 200
        page = client.get("/docs", params={"token": "s3cret-token"}).text
        assert "/openapi.json?token=s3cret-token" in page
        assert client.get("/health").status_code == 200
        assert client.get("/static/app.js").status_code == 200  # static files stay open


def test_the_server_goes_on_after_every_schema_attack(server, recorder) -> None:
    client, _ = server
    bodies = [*remote_schemas(recorder.url), {"enum": ["\x00"]}, exponential_schema(12),
              {"type": "string", "maxLength": 10**8}]  # fmt: skip
    for schema in bodies:
        response = client.post("/v1/chat/completions", json={
            "model": "rlmx", "messages": [{"role": "user", "content": "q"}],
            "response_format": {"type": "json_schema", "json_schema": {"schema": schema}},
        })  # fmt: skip
        assert response.status_code == 400, schema
    assert recorder.requests == []
    health_within(client, 2.0)


# -- 5, 10. video tools: arguments checked, no host paths -------------------------------------
@pytest.mark.parametrize(
    ("tool", "args"),
    [
        ("segments", [1e-9]),
        ("segments", [-3]),
        ("segments", [float("nan")]),
        ("onscreen_text", [0, 5, -1]),
        ("onscreen_text", [0, 5, 0.0001]),
        ("onscreen_text", [None, None, float("inf")]),
        ("get_frame", [float("nan")]),
        ("ocr", [float("inf")]),
    ],
)
def test_hostile_video_tool_arguments_are_refused(synthetic_video, tmp_path, tool, args) -> None:
    import asyncio

    from rlmx.video.options import VideoOptions
    from rlmx.video.tools import VideoTools

    video, _ = synthetic_video
    tools = VideoTools(video, VideoOptions(cache_path=tmp_path / "cache.sqlite3"))
    try:
        with pytest.raises(ValueError):
            asyncio.run(tools.call(tool, args, {}))
        value, _ = asyncio.run(tools.call("segments", [], {}))  # the tools go on
        assert value and value[0][0] == 0.0
    finally:
        tools.close()


def test_a_cancelled_video_call_stops_its_thread(synthetic_video, tmp_path: Path) -> None:
    """A thread cannot be killed: a cancelled call's loop stops at its next frame."""
    import asyncio

    from rlmx.video.options import VideoOptions
    from rlmx.video.tools import VideoTools

    video, _ = synthetic_video
    tools = VideoTools(video, VideoOptions(cache_path=tmp_path / "cache.sqlite3"))

    async def cancel_midway() -> tuple[int, int]:
        call = asyncio.create_task(tools.call("onscreen_text", [0, 48, 0.5], {}))  # 96 frames
        await asyncio.sleep(2.0)
        call.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await call
        at_cancel = tools.cache.misses
        await asyncio.sleep(3.0)
        return at_cancel, tools.cache.misses

    try:
        at_cancel, later = asyncio.run(cancel_midway())
        assert later <= at_cancel + 1 and later < 96
        value, _ = asyncio.run(tools.call("ocr", [1.0], {}))  # the next call goes on
        assert "lines" in value
    finally:
        tools.close()


async def test_host_calls_a_timed_out_cell_left_are_cancelled(tmp_path: Path) -> None:
    import asyncio

    from rlmx import Limits
    from rlmx.core.host_functions import CORE
    from rlmx.repl.context import prepare_context
    from rlmx.repl.sandbox import Sandbox

    cancelled = asyncio.Event()

    async def slow(name: str, args: dict) -> str:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "late"

    box = Sandbox("process", Limits(memory_mb=512, cell_wall_seconds=2.0))
    await box.start(prepare_context("ctx", tmp_path / "ctx"), slow, CORE)
    try:  # waiting on the host is not compute: the cell's wall clock ends it
        result = await box.execute("llm_query('x')", 30.0, 1000)
        assert result.timed_out or result.error
        await asyncio.wait_for(cancelled.wait(), 10)
        assert (await box.execute("1 + 1", 10.0, 100)).output == "2\n"
    finally:
        await box.close()


def test_video_errors_name_the_file_and_never_locate_it(tmp_path: Path) -> None:
    from rlmx.video.env import VideoEnv, VideoError

    fake = tmp_path / "secret-folder" / "x.mp4"
    fake.parent.mkdir()
    fake.write_bytes(b"not a video at all" * 100)
    with pytest.raises(VideoError) as caught:
        VideoEnv(fake)
    assert "x.mp4" in str(caught.value) and "secret-folder" not in str(caught.value)


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", *args], check=True, timeout=120)


def test_video_bytes_are_decoded_in_a_confined_child_never_in_the_host(synthetic_video) -> None:
    video, _ = synthetic_video
    script = (
        "import sys, asyncio\n"
        "from pathlib import Path\n"
        "from rlmx.video.options import VideoOptions\n"
        "from rlmx.video.tools import VideoTools\n"
        f"tools = VideoTools(Path({str(video)!r}), VideoOptions(cache_path=Path(sys.argv[1])))\n"
        "for name, args in [('get_frame', [3.0]), ('scenes', []), ('ocr', [1.0]),"
        " ('sample_frames_uniform', [0, 10, 3])]:\n"
        "    asyncio.run(tools.call(name, args, {}))\n"
        "tools.close()\n"
        "print(sorted(m for m in ('av', 'scenedetect') if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", script, str(video.parent / "p.sqlite3")],
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"  # no demuxer or decoder loaded here


def test_a_huge_frame_is_decoded_scaled_down(tmp_path: Path) -> None:
    from rlmx.video.env import VideoEnv
    from rlmx.video.options import MAX_PIXELS

    big = tmp_path / "big.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=4000x3000:rate=1:duration=2", "-c:v", "mjpeg",
            "-q:v", "20", str(big))  # fmt: skip
    with VideoEnv(big) as env:
        assert (env.metadata["width"], env.metadata["height"]) == (4000, 3000)
        frame = env.get_frame(1.0)
        height, width, _ = frame.image.shape
        assert width * height <= MAX_PIXELS and abs(width / height - 4 / 3) < 0.01


def test_a_decoder_over_its_clock_or_memory_is_stopped_and_the_next_one_works(
    synthetic_video, monkeypatch
) -> None:
    from rlmx.confined import ParseLimits
    from rlmx.video import env as video_env
    from rlmx.video.env import VideoEnv, VideoError

    video, _ = synthetic_video
    monkeypatch.setattr(video_env, "PROBE_SECONDS", 0.01)
    with pytest.raises(VideoError, match=r"longer than 0\.01 s"):
        VideoEnv(video)
    monkeypatch.setattr(video_env, "PROBE_SECONDS", 30.0)
    starved = ParseLimits(memory_mb=160, cpu_seconds=60)
    with pytest.raises(VideoError, match=r"memory|limits|MemoryError|cannot read"), \
            VideoEnv(video, starved) as env:  # fmt: skip
        env.sample_frames_uniform(0, 48, 8)
    with VideoEnv(video) as env:  # the host goes on, and so does the next video
        assert env.get_frame(2.0).image.shape == (360, 640, 3)


def test_a_killed_decoder_fails_one_request_and_the_next_starts_anew(synthetic_video) -> None:
    import signal

    from rlmx.video.env import VideoEnv, VideoError

    video, _ = synthetic_video
    with VideoEnv(video) as env:
        env.get_frame(1.0)
        child = env._decoder.server.child
        assert child is not None
        os.killpg(child.pid, signal.SIGKILL)
        child.wait()
        with pytest.raises(VideoError, match=r"stopped|killed|status|answered"):
            env.get_frame(9.0)
        assert env.get_frame(17.0).timestamp == pytest.approx(17.0, abs=0.05)


def test_a_video_claiming_a_vast_duration_stays_bounded(tmp_path: Path) -> None:
    import asyncio

    from rlmx.video.options import VideoOptions
    from rlmx.video.tools import VideoTools

    far = tmp_path / "far.mkv"  # two frames, the second a billion seconds in
    _ffmpeg("-f", "lavfi", "-i", "testsrc=size=160x120:rate=1:duration=2", "-vf",
            "setpts='if(eq(N,1),1000000000/TB,PTS)'", "-fps_mode", "passthrough",
            "-c:v", "mjpeg", str(far))  # fmt: skip
    assert far.stat().st_size < 20_000
    tools = VideoTools(far, VideoOptions(cache_path=tmp_path / "c.sqlite3"))
    try:
        assert tools.env.duration > 1e8
        for name, args in [("segments", []), ("segments", [1e-9]), ("onscreen_text", [0, 5, -1])]:
            with contextlib.suppress(ValueError):
                value, _ = asyncio.run(tools.call(name, args, {}))
                assert len(value) <= 5000
        frame, _ = asyncio.run(tools.call("get_frame", [0.5], {}))
        assert frame.data[:2] == b"\xff\xd8"  # a JPEG
        late, _ = asyncio.run(tools.call("get_frame", [999_999_999.5], {}))
        assert late.data[:2] == b"\xff\xd8"
    finally:
        tools.close()


# -- 12. what a crashed host leaves is swept at the next start --------------------------------
CRASHING_HOST = """
import asyncio, sys
from pathlib import Path
from rlmx.repl.context import prepare_context
from rlmx.repl.sandbox import Sandbox

async def handler(name, args):
    return None

async def main():
    box = Sandbox("process")
    await box.start(prepare_context("ctx", Path(sys.argv[1])), handler, [])
    await box.execute("open('/tmp/left-by-a-worker-' + str(id(0)), 'w').write('x')", 10.0, 100)
    print("ready", flush=True)
    await asyncio.sleep(600)

asyncio.run(main())
"""


def test_a_crashed_hosts_folders_cgroups_and_worker_files_are_swept(tmp_path: Path) -> None:
    from rlmx.repl import confine, scratch

    host = subprocess.Popen([sys.executable, "-c", CRASHING_HOST, str(tmp_path / "ctx")],
                            stdout=subprocess.PIPE, text=True)  # fmt: skip
    assert host.stdout is not None and host.stdout.readline().strip() == "ready"
    host.kill()  # SIGKILL: no clean-up runs
    host.wait()
    mine = f"rlmx-{host.pid}-"
    folders = [p for p in Path("/tmp").iterdir() if p.name.startswith(mine)]
    cgroups = [c for c in confine.rlmx_cgroups() if c.name.startswith(mine)]
    assert folders  # its worker folder at least
    if confine.detect().cgroup:
        assert cgroups
    worker_files = [p for p in Path("/tmp").glob("left-by-a-worker-*")
                    if p.stat().st_uid >= confine.UID_BASE]  # fmt: skip
    if confine.detect().separate_uids:
        assert worker_files
    swept = scratch.sweep()
    assert not any(p.exists() for p in folders) and not any(c.exists() for c in cgroups)
    assert not any(p.exists() for p in worker_files)
    assert set(map(str, folders)) <= set(swept.folders)
    assert scratch.sweep_once() is scratch.sweep_once()  # once a process
    live = scratch.folder("run")  # this process's own are never swept
    try:
        scratch.sweep()
        assert live.exists()
    finally:
        live.rmdir()


def test_the_host_rewrites_of_model_code_survive_hostile_code() -> None:
    """The compact policy rewrites a cell with ``ast`` on the host (the push back on a 0:
    ``field == 'text'`` widened, a key tested against whole records; on a status class:
    single codes widened to the class), and the loop runs the rewrite: nesting past the
    parser's limit, an unclosed bracket run, a flood of comparisons and a flood of lists
    tested against give an answer or None, not a crash of the run, and nothing longer than
    FIXED_CHARS is ever run."""
    from rlmx.core.repairs import FIXED_CHARS, Repairs, fixed_filter, status_range

    for rewrite in (fixed_filter, lambda code: status_range(code, 500)):
        assert rewrite("r" + "[r" * 1000 + "]" * 1000 + " == 'x'") is None
        assert rewrite("(" * 100_000) is None
    flood = " or ".join(f"r['k{i}'] == 'v{i}'" for i in range(20_000))
    assert fixed_filter(f"a = {flood}") is None  # past FIXED_CHARS: neither shown nor run
    fixed, _ = fixed_filter(" or ".join(flood.split(" or ")[:20])) or ("", [])
    assert 0 < len(fixed) <= FIXED_CHARS
    codes = " or ".join(f"s == {500 + i % 100}" for i in range(20_000))
    assert status_range(f"a = {codes}", 500) is None
    lists = "".join(f"g{i} = [p for p in rows]\n" for i in range(2_000))
    tests = " or ".join(f"r['k'] in g{i}" for i in range(2_000))
    assert fixed_filter(f"{lists}x = [r for r in rows if {tests}]") is None  # key sets flood
    notes = Repairs("How many rows match?", "c")
    notes.saw("(" * 100_000, "SyntaxError\n", True)
    assert notes.doubted_result("0") is not None  # the run goes on with the plain push back
    assert notes.take_repair() is None  # and nothing to run
    status = Repairs("How many 5xx responses?", "c")
    assert status.partial_class("(" * 100_000) is not None and status.take_repair() is None


def test_a_hostile_final_answer_is_cleaned_of_float_noise_in_bounded_time(replay) -> None:
    """The host reads a bare-number FINAL for float noise with a regex that backtracks;
    model code can answer with 200,000 digits that fail it at the very end (minutes of
    backtracking without the length bound): it is left as it is, and the run ends."""
    from rlmx import RLM
    from rlmx.core.turns import without_float_noise

    digits = "1." + "0" * 200_000 + "12345"
    assert without_float_noise(digits) == digits  # past NOISE_CHARS: not matched at all
    script = ["```repl\nFINAL('1.' + '0' * 200_000 + '12345')\n```"]
    result = RLM(replay(script)).completion("c", "q")
    assert result.answer == digits and result.status == "final"
