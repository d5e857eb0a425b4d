"""``profile(context)``: what the data looks like, shown to a small root before its first
turn: files of a folder, lines of a text, fields of records with a few values."""

from __future__ import annotations

import json
import re
from collections import Counter

from rlmx import RLM
from rlmx.core import prompts
from rlmx.lm.replay import ReplayLM
from rlmx.repl.data_profile import PRELOAD_CHARS, SAMPLE_CHARS, profile
from rlmx.repl.records import numbers_in, parse_records

from conftest import repl


def test_records_show_their_fields_and_values_but_no_counts_or_ranges() -> None:
    rows = [f"{7000 + i},{['Oslo', 'Lima'][i % 2]},{['paid', 'open', 'void'][i % 3]},{i * 3.5}"
            for i in range(200)]  # fmt: skip
    shown = profile("id,city,status,amount\n" + "\n".join(rows))
    assert "in 201 lines" in shown and "rows = parse_records(context)" in shown
    assert "'city': values 'Oslo', 'Lima'" in shown and "'status': values" in shown
    assert "'id': int, e.g." in shown and "'amount': float, e.g." in shown
    assert "7199" not in shown and "200 distinct" not in shown  # no max, no count


def test_rlmx_own_profile_reads_the_records_into_rows_up_to_a_size() -> None:
    text = "id,city\n" + "\n".join(f"{i},{'Oslo' if i % 2 else 'Lima'}" for i in range(30))
    namespace: dict = {}
    shown = profile(text, into=namespace)
    assert "the variable rows already holds them" in shown and len(namespace["rows"]) == 30
    assert namespace["rows"][1]["city"] == "Oslo"
    prose: dict = {}
    profile("It was a bright cold day.\n" * 40, into=prose)
    assert prose == {}  # no records, no rows
    huge: dict = {}
    line = "id=1 city=Oslo amount=12\n"
    big = profile(line * (PRELOAD_CHARS // len(line) + 1), into=huge)
    assert huge == {} and "rows = parse_records(context) gives" in big  # left to the model


def test_a_json_list_a_folder_and_prose() -> None:
    items = [{"sku": f"S{i}", "kind": "a" if i % 2 else "b", "qty": i} for i in range(50)]
    assert "'kind': values 'b', 'a'" in profile(json.dumps(items, indent=1))
    files = {"src/a.py": "def f():\n    pass\n", "src/b.py": "x = 1\n", "README.md": "# hi\n"}
    folder = profile(files)
    assert "a dict of 3 files" in folder and ".py 2" in folder
    assert "for path, text in context.items()" in folder and "src/a.py" in folder
    prose = profile("It was a bright cold day in April.\nThe clocks were striking.\n" * 40)
    assert "it begins:" in prose and "records" not in prose
    sections = "".join(f"## Project {i}\n\nOwner: {'Ada' if i % 2 else 'Ben'}\n\n### Open tasks\n"
                       f"\n- [ ] task {i}\n- [ ] review\n\n" for i in range(30))  # fmt: skip
    notes = profile("# Notes\n\n" + sections)  # sections of fields and lists are records
    assert "'section': many values, e.g. 'Project 0'" in notes and "'Owner': values" in notes
    assert (
        "'Open tasks': a list of items per record (len() of it counts them), e.g. "
        "['[ ] task 0', '[ ] review']" in notes
    )
    essay = profile("# Essay\n\n## One\n\nSome prose here.\n\n## Two\n\nMore prose.\n" * 3)
    assert "parse_records" not in essay  # headings over prose hold no fields


def _kinds(shown: str) -> list[str]:
    """The regexes a profile gives for the kinds of line."""
    return re.findall(
        r"^    \[m\.groupdict\(\) .* \[re\.match\(r'(.*)', l\)\] if m\]$", shown, re.MULTILINE
    )


def _parts(regex: str, line: str) -> dict[str, str] | None:
    found = re.match(regex, line)
    return found.groupdict() if found else None


def test_lines_in_words_show_their_kinds_each_with_the_code_that_reads_it() -> None:
    chat = [f"[{i % 24:02d}:{i % 60:02d}] <{['dara42', 'kai_'][i % 2]}> rolling back cedar"
            if i % 5 else f"[{i % 24:02d}:{i % 60:02d}] * ivo has joined #ops"
            for i in range(60)]  # fmt: skip
    namespace: dict = {}
    shown = profile("\n".join(chat), into=namespace)
    assert "records" not in shown and "its lines begin in these ways" in shown
    assert "the variable lines already holds" in shown and namespace["lines"] == chat
    assert (
        "gives dicts like {'time': '01:01', 'name': 'kai_', 'text': 'rolling back cedar'}" in shown
    )
    message, join = _kinds(shown)  # the most common kind first
    assert _parts(message, "[09:14] <dara42> rolling back") == {
        "time": "09:14", "name": "dara42", "text": "rolling back"}  # fmt: skip
    assert _parts(join, "[09:15] * ivo has joined #ops") == {
        "time": "09:15", "text": "ivo has joined #ops"}  # fmt: skip
    assert re.findall(r"\b(12|48)\b", shown) == []  # no count of a kind: it could become an answer
    assert "lines = context.splitlines() gives them" in profile("\n".join(chat))  # not bound


def test_the_kind_of_line_a_question_names_a_part_of_is_shown_how_to_keep() -> None:
    chat = [f"[10:{i % 60:02d}] <{['dara42', 'kai_'][i % 2]}> dara42 fixed it" if i % 5
            else f"[10:{i % 60:02d}] * {['dara42', 'kai_'][i % 2]} has joined #ops"
            for i in range(60)]  # fmt: skip
    shown = profile("\n".join(chat), asked="How many messages did dara42 send?")
    (kept,) = re.findall(r"the question names its 'name', 'dara42': (.*)$", shown, re.MULTILINE)
    assert len(eval(kept, {"re": re, "lines": chat})) == 24  # its lines, not its mentions
    (read, _) = re.findall(r"^    (\[m\.groupdict\(\) .*)$", shown, re.MULTILINE)
    nested = f"Counter(d['name'] for d in {read} if 'fixed' in d['text'])"  # no `:=` to refuse
    assert eval(nested, {"re": re, "lines": chat, "Counter": Counter}) == {"dara42": 24, "kai_": 24}
    joined = profile("\n".join(chat), asked="How many times did dara42 join the channel?")
    assert "the question names" not in joined  # its join lines say so, not the messages
    assert "e.g. [10:00] * dara42 has joined #ops" in joined


def test_a_question_about_amounts_is_shown_the_numbers_of_a_line_it_names() -> None:
    """Lines in words with no records (a bank statement): for a sum, the profile shows what
    ``numbers_in`` reads in a line holding the question's words; for a count it does not,
    nor for lines holding no number but dates and codes."""
    what = ["Card payment to Cafe Nord", "Transfer from Ben Okafor"]
    statement = [f"{i % 28 + 1:02d}.01.2026 {what[i % 2]} ref TX-{100000 + i} "
                 f"{'-+'[i % 2]}{(i + 1) * 97.5:,.2f} EUR" for i in range(40)]  # fmt: skip
    namespace: dict = {}
    shown = profile("\n".join(statement), into=namespace, asked="How much came in from Ben Okafor?")
    shown_numbers = r"^  e\.g\. (.*)\n    numbers_in\(l\) gives (.*)$"
    ((example, gives),) = re.findall(shown_numbers, shown, re.MULTILINE)
    assert "Transfer from Ben Okafor" in example and example in statement
    assert eval(gives) == numbers_in(example) and len(eval(gives)) == 1  # the amount alone
    assert namespace["lines"] == statement  # lines, bound for the code shown
    (total,) = re.findall(r"^    (sum\(.*\)) adds up", shown, re.MULTILINE)
    assert "if 'Ben Okafor' in l)" in total  # the question's words in the example line
    assert eval(total, {"lines": statement, "numbers_in": numbers_in}) == sum(
        (i + 1) * 97.5 for i in range(1, 40, 2))  # fmt: skip
    largest = profile("\n".join(statement), asked="Which is the largest card payment?")
    (code,) = re.findall(r"^    (max\(.*\)) gives the largest", largest, re.MULTILINE)
    assert eval(code, {"lines": statement, "numbers_in": numbers_in}) == (
        39 * 97.5,
        statement[38],
    )  # by its size: a payment is written with a minus sign
    assert "numbers_in" not in profile("\n".join(statement), asked="How many card payments?")
    codes = [f"2026-01-{i % 28 + 1:02d} ticket TX-{i} closed by Ada" for i in range(40)]
    assert "numbers_in" not in profile("\n".join(codes), asked="What is the total for Ada?")


def test_the_parts_a_line_of_words_begins_with() -> None:
    speakers = [f"10:{i % 60:02d} {['Nia Weiss', 'Bo'][i % 2]}: hi {i}" for i in range(40)]
    (regex,) = _kinds(profile("\n".join(speakers)))
    assert _parts(regex, "10:02 Nia Weiss: so: yes") == {
        "time": "10:02", "speaker": "Nia Weiss", "text": "so: yes"}  # fmt: skip
    levels = [f"2026-05-01 12:00:{i % 60:02d} ERROR [db-{i % 3}] slow query" for i in range(40)]
    (regex,) = _kinds(profile("\n".join(levels)))
    assert _parts(regex, "2026-05-01 12:00:01 WARN [db-2] slow") == {"date": "2026-05-01",
        "time": "12:00:01", "level": "WARN", "source": "db-2", "text": "slow"}  # fmt: skip
    dated = [f"{i % 28 + 1:02d}.01.2026 Card payment to Cafe Nord -{i}.50 EUR" for i in range(40)]
    assert _kinds(profile("\n".join(dated))) == []  # only a date before its words
    prose = profile("It was a bright cold day in April.\nThe clocks were striking.\n" * 40)
    assert _kinds(prose) == [] and "line by line" not in prose
    assert _kinds(profile("\n".join(speakers[:10]))) == []  # too few
    noted = [f"[db-{i % 3}] (retry {i % 2}) query slow" for i in range(40)]
    (regex,) = _kinds(profile("\n".join(noted)))
    assert _parts(regex, "[db-1] (retry 0) slow") == {"source": "db-1", "note": "retry 0",
                                                      "text": "slow"}  # fmt: skip
    quoted = [f"> '{i}' said Ada" if i % 2 else f"' {i} quoted" for i in range(40)]
    shown = profile("\n".join(quoted))
    for read in re.findall(r"^    (\[m\.groupdict\(\) .*)$", shown, re.MULTILINE):
        assert eval(read, {"re": re, "lines": quoted})  # a quote mark ends no string


def test_a_folders_files_of_records_show_their_fields() -> None:
    files = {"users.csv": "id,town\n" + "\n".join(f"{i},{'Oslo' if i % 2 else 'Lima'}"
                                                    for i in range(20)),
             "notes.txt": "Some prose.\nMore prose.\n"}  # fmt: skip
    shown = profile(files)
    assert "'users.csv' holds records: parse_records(context['users.csv'])" in shown
    assert "'town': values 'Lima', 'Oslo'" in shown and "'notes.txt' holds" not in shown


def test_two_record_files_sharing_a_key_are_shown_how_to_join() -> None:
    """Keyed by the file where the key names each record once (the lookup table); the
    example it gives runs as written."""
    products = json.dumps([{"sku": f"K-{i}", "category": "toys" if i % 2 else "garden"}
                           for i in range(10)])  # fmt: skip
    sales = "sku,quantity\n" + "\n".join(f"K-{i % 10},{i}" for i in range(30))
    shown = profile({"sales.csv": sales, "products.json": products}).splitlines()[-1]
    assert shown.startswith(
        "the 'sku' of a record of 'sales.csv' names one record of 'products.json' by its 'sku'"
    )
    example = shown.split("first: ")[1].split("; then ")
    assert example[1] == (
        "category.get(x['sku']) is the 'category' of a record x of "
        "parse_records(context['sales.csv'])"
    )
    namespace = {"context": {"products.json": products}, "parse_records": parse_records}
    exec(example[0], namespace)
    assert namespace["category"]["K-3"] == "toys"
    apart = {"a.csv": "id,n\n" + "\n".join(f"{i},{i}" for i in range(9)),
             "b.csv": "code,m\n" + "\n".join(f"{i},{i}" for i in range(9))}  # fmt: skip
    assert "names one record" not in profile(apart)  # plain numbers of other names: no join
    twice = {"a.csv": "sku,n\n" + "\n".join(f"K-{i % 3},{i}" for i in range(9)), "b.csv": sales}
    assert "names one record" not in profile(twice)  # no file names each key once


def test_numbered_records_are_joined_by_a_field_named_for_their_key() -> None:
    """The commonest join of all: ``users.id`` and ``events.user_id``, both plain numbers
    (which join only by name: any two lists of small numbers overlap)."""
    users = "id,team\n" + "\n".join(f"{i},{'red' if i % 2 else 'blue'}" for i in range(1, 30))
    for field in ("user_id", "userId", "USER-ID"):
        events = "\n".join(json.dumps({field: 1 + i % 29, "n": i}) for i in range(80))
        shown = profile({"users.csv": users, "events.jsonl": events}).splitlines()[-1]
        assert shown.startswith(f"the {field!r} of a record of 'events.jsonl' names one "
                                "record of 'users.csv' by its 'id'")  # fmt: skip
    paid = "\n".join(json.dumps({"paid": 1 + i % 29, "n": i}) for i in range(80))
    assert "names one record" not in profile({"users.csv": users, "events.jsonl": paid})


def test_a_joins_example_maps_the_field_the_question_names() -> None:
    """A 1.5B root copies the example's map: of agents' names (the first field), it
    compared each name with the team asked about and counted 0."""
    agents = "id\tname\tteam\n" + "\n".join(
        f"{i}\tAgent {i}\t{'billing' if i % 2 else 'network'}" for i in range(1, 13)
    )
    tickets = json.dumps([{"agent_id": 1 + i % 12, "minutes": i} for i in range(40)])
    files = {"agents.tsv": agents, "tickets.json": tickets}
    for asked in ("How many tickets did the Billing team handle?", "Which team worked most?"):
        assert "team = {r['id']: r['team']" in profile(files, asked=asked)
    assert "name = {r['id']: r['name']" in profile(files)  # no question: the first field


def test_files_joined_by_a_field_of_another_name_or_type_are_shown_how_to_join() -> None:
    """Only the values tell: the loans' ``book`` is the catalog's ``id``; and a key that
    JSON writes as text ("100") and a CSV as a number is compared as text, in an example
    that runs as written."""
    books = [{"id": f"B{100 + i}", "genre": "crime" if i % 2 else "poetry"} for i in range(10)]
    loans = "when,book\n" + "\n".join(f"d{i},B{100 + i % 10}" for i in range(30))
    shown = profile({"books.json": json.dumps(books), "loans.csv": loans}).splitlines()[-1]
    assert shown.startswith("the 'book' of a record of 'loans.csv' names one record of "
                            "'books.json' by its 'id'")  # fmt: skip
    assert "genre.get(x['book'])" in shown
    texts = json.dumps([{"book": b["id"][1:], "genre": b["genre"]} for b in books])
    numbers = loans.replace(",B", ",")
    shown = profile({"books.json": texts, "loans.csv": numbers}).splitlines()[-1]
    example = shown.split("first: ")[1].split("; then ")
    assert example[1].startswith("genre.get(str(x['book'])) is the 'genre'")
    namespace = {"context": {"books.json": texts}, "parse_records": parse_records}
    exec(example[0], namespace)
    rows = parse_records(numbers)
    assert [namespace["genre"].get(str(x["book"])) for x in rows[:2]] == ["poetry", "crime"]


def test_a_long_text_is_profiled_from_a_sample() -> None:
    line = "id=1 city=Oslo amount=12\n"
    shown = profile(line * (2 * SAMPLE_CHARS // len(line)))
    assert "from a sample" in shown and "'city': values 'Oslo'" in shown
    items = [{"sku": f"S{i}", "kind": "a" if i % 2 else "b", "qty": i} for i in range(40_000)]
    big = json.dumps(items, indent=1)  # past the sample: a cut list is no JSON
    assert len(big) > SAMPLE_CHARS and "'kind': values 'b', 'a'" in profile(big)
    wrapped = json.dumps({"meta": {"page": 1}, "data": items})  # an API's dump
    assert len(wrapped) > SAMPLE_CHARS and "'kind': values 'b', 'a'" in profile(wrapped)
    lines = "\n".join(json.dumps({"sku": i, "parts": [{"n": 1}]}) for i in range(40_000))
    assert len(lines) > SAMPLE_CHARS and "'parts': a list" in profile(lines)  # JSON lines


class Recording(ReplayLM):
    """A replay root that keeps the messages of each call."""

    def __init__(self, script: list) -> None:
        super().__init__(script, "root")
        self.calls: list[list[dict]] = []

    async def complete(self, messages: list, **options: object) -> object:
        self.calls.append(list(messages))
        return await super().complete(messages, **options)


def test_a_compact_run_shows_the_profile_before_the_first_turn() -> None:
    records = "\n".join(f"id={i} city={'Oslo' if i % 3 else 'Lima'} amount={i}" for i in range(60))
    root = Recording([repl("print(1)"), "FINAL(Lima)"])
    events: list = []
    result = RLM(root, policy="compact", on_event=events.append).completion(
        records, "Which city is listed?")  # fmt: skip
    assert result.answer == "Lima"
    (notice,) = [e for e in events if e.type == "notice" and e.kind == "profile"]
    assert "'city': values 'Oslo', 'Lima'" in notice.text
    first = root.calls[0][-1]["content"]  # the task message the root read first
    assert "rlmx ran profile(context) for you" in first and "'city'" in first
    cells = [e for e in events if e.type == "code_executed"]
    assert [c.code for c in cells] == ["print(1)"]  # rlmx's profile is no cell of the model's
    plain = Recording([repl("print(1)"), "FINAL(x)"])
    RLM(plain, policy="paper").completion(records, "q")  # the paper's prompt, as it was
    assert "profile(context)" not in json.dumps(plain.calls[0])


def test_a_runs_profile_reads_the_question_in_the_sandbox_as_text() -> None:
    """The question picks the join's field; quoted, it is a string in the profile's cell,
    never code (a question written as Python runs nothing)."""
    agents = "id,name,team\n" + "\n".join(f"{i},A{i},{'red' if i % 2 else 'blue'}"
                                           for i in range(1, 9))  # fmt: skip
    tickets = json.dumps([{"agent_id": 1 + i % 8, "n": i} for i in range(30)])
    files = {"agents.csv": agents, "tickets.json": tickets}
    for query in ("Which team is red?", "red team')); import os; os._exit(3)  # ''' \\"):
        root = Recording([repl("print('red')"), "FINAL(red)"])
        result = RLM(root, policy="compact", recheck=False).completion(files, query)
        assert result.answer == "red"
        assert "team = {r['id']: r['team']" in root.calls[0][-1]["content"]


def test_a_compact_runs_first_cell_can_use_rows() -> None:
    records = "\n".join(f"id={i} city={'Oslo' if i % 3 else 'Lima'} amount={i}" for i in range(60))
    code = "print(sum(r['amount'] for r in rows if r['city'] == 'Lima'))"
    root = Recording([repl(code), "FINAL(570)"])
    events: list = []
    result = RLM(root, policy="compact", recheck=False, on_event=events.append).completion(
        records, "What is the total amount for Lima?")  # fmt: skip
    (cell,) = [e for e in events if e.type == "code_executed"]
    assert cell.output.strip() == "570" and result.answer == "570"


def test_the_profiles_numbers_are_not_evidence_for_an_answer() -> None:
    """A 1.5B root answered a count with the context's length from the profile: that
    answer is still pushed back as a guess (no output of the model's code showed it)."""
    records = "\n".join(f"id={i} city=Oslo amount={i}" for i in range(60))
    length = f"{len(records):,}"
    root = Recording([repl("x = 1"), f"FINAL({length})", "FINAL(7)", "FINAL(7)"])
    events: list = []
    RLM(root, policy="compact", recheck=False, on_event=events.append).completion(
        records, "How many?"
    )
    profile_notice = next(e for e in events if e.type == "notice" and e.kind == "profile")
    assert length in profile_notice.text
    doubts = [e for e in events if e.type == "notice"][1:]
    assert [e.kind for e in doubts] == ["doubted_final", "doubted_final"]
    assert length.replace(",", "") in doubts[0].text  # the guess, pushed back
    assert doubts[1].text == prompts.UNCOUNTED  # then 7, which no code counted
