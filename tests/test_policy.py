"""The policy seam and the repairs it applies, one test per rule."""

from __future__ import annotations

import pytest

from rlmx.core import prompts
from rlmx.core.policy import CellOutcome, CompactPolicy, Policy, Task, choose_policy
from rlmx.core.repairs import Repairs, fixed_filter
from rlmx.lm.replay import ReplayLM
from rlmx.repl.data_profile import LIST_FIELD

from conftest import repl

LONG_CONTEXT = (
    ("filler sentence number one. " * 200)
    + "The gate code is 4821937."
    + (" more filler here." * 200)
)


class Small(ReplayLM):
    prefers_compact = True
    supports_grammar = True


def task(**fields: object) -> Task:
    base = {"query": "q?", "context_description": "Your context is a str.", "sub_window": 1000,
            "sub_calls": True, "environment": None}  # fmt: skip
    return Task(**{**base, **fields})  # type: ignore[arg-type]


# -- choosing ----------------------------------------------------------------------------
def test_auto_follows_what_the_lm_declares_not_its_name() -> None:
    assert choose_policy("auto", Small([], "openai:looks-hosted")).name == "compact"
    assert choose_policy("auto", ReplayLM([], "local:looks-local")).name == "paper"
    assert choose_policy("paper", Small([], "x")).name == "paper"
    mine = CompactPolicy()
    assert choose_policy(mine, ReplayLM([], "x")) is mine
    with pytest.raises(ValueError, match="unknown policy"):
        choose_policy("terse", ReplayLM([], "x"))


# -- openings -------------------------------------------------------------------------------
@pytest.mark.parametrize("policy", [Policy(), CompactPolicy()])
@pytest.mark.parametrize("environment", [None, "video"])
def test_without_sub_calls_every_opening_says_so(policy, environment) -> None:
    system = policy.opening(task(sub_calls=False, environment=environment))[0]["content"]
    assert prompts.NO_SUB_CALLS in system
    with_calls = policy.opening(task(environment=environment))[0]["content"]
    assert prompts.NO_SUB_CALLS not in with_calls


def test_the_compact_opening_has_worked_dialogues_by_kind() -> None:
    text = CompactPolicy().opening(task())
    video = CompactPolicy().opening(task(environment="video"))
    ablation = CompactPolicy().opening(task(sub_calls=False))
    assert len(text) == 2 + len(prompts.COMPACT_EXAMPLES)
    assert len(video) == 2 + len(prompts.VIDEO_EXAMPLES)
    assert len(ablation) == 2 + 6  # only the dialogue solved by code alone
    assert text[-1]["content"].endswith("The query is: q?")
    assert Policy().opening(task())[-1]["content"].endswith("Your next action:")


def test_records_get_the_records_dialogue_last_in_compact_only() -> None:
    records = CompactPolicy().opening(task(layout="records"))
    shown = [m["content"] for m in records[1:-1]]
    examples = [text for _, text in prompts.COMPACT_EXAMPLES + prompts.RECORDS_EXAMPLES]
    assert shown == examples  # the closest example just before the task
    ablation = CompactPolicy().opening(task(layout="records", sub_calls=False))
    assert [m["content"] for m in ablation[7:-1]] == [t for _, t in prompts.RECORDS_EXAMPLES]
    assert all(m["content"] not in shown[len(prompts.COMPACT_EXAMPLES):]
               for m in CompactPolicy().opening(task()))  # fmt: skip
    assert Policy().opening(task(layout="records")) == Policy().opening(task())


@pytest.mark.parametrize(
    ("query", "group"),
    [("Which city has the most employees?", True), ("What is the most common label?", True),
     ("which team has the fewest players", True), ("Who wrote about cedar most often?", True),
     ("What is the total salary in Oslo?", False),
     ("Who has the highest salary in Legal?", False), ("How many are in the most senior grade?",
                                                       False)],
)  # fmt: skip
def test_a_which_has_the_most_question_gets_the_counting_per_value_dialogue(
    query: str, group: bool
) -> None:
    shown = [m["content"] for m in CompactPolicy().opening(task(query=query, layout="records"))]
    dialogue = prompts.RECORDS_GROUP_EXAMPLES if group else prompts.RECORDS_EXAMPLES
    assert shown[-1 - len(dialogue) : -1] == [text for _, text in dialogue]
    assert ("Counter(r['customer']" in "".join(shown)) is group


def test_a_question_about_labels_of_lines_gets_the_labelling_dialogue() -> None:
    query = "How many data points should be classified as label 'entity'?"
    shown = [m["content"] for m in CompactPolicy().opening(task(query=query))]
    dialogue = [text for _, text in prompts.LABEL_EXAMPLES]
    assert shown[-1 - len(dialogue) : -1] == dialogue
    assert "choices=names" in dialogue[3]
    for other in (task(query=query, sub_calls=False), task(query=query, layout="records"),
                  task(query="How many lines mention Oslo?")):  # fmt: skip
        assert dialogue[3] not in [m["content"] for m in CompactPolicy().opening(other)]


def test_structured_records_and_lines_get_their_dialogues_after_a_label_question() -> None:
    def closest(query: str, layout: str | None) -> str:
        opening = CompactPolicy().opening(task(query=query, layout=layout))
        return "".join(m["content"] for m in opening)

    labels = "How many data points should be classified as label 'entity'?"
    assert "choices=names" in closest(labels, "structured")  # OOLONG: records of no label
    assert "choices=names" not in closest(labels, "records")  # a label field: counted in code
    assert "r['city'] == 'Berlin'" in closest("What is the total pay in Oslo?", "structured")
    lines = closest("How many failed logins had the user ada?", "lines")
    assert "'from Rosa Vidal ' in l and ' failed' in l" in lines
    assert "counts.most_common(1)" in closest("Which host had the most failed logins?", "lines")
    summed = "sum(numbers_in(l)[-1] for l in hits)"  # a total over lines: their numbers added
    assert summed in closest("What is the total value of the orders of Ada?", "lines")
    assert summed in closest("How much came in from Ben Okafor in total?", "lines")
    assert summed not in closest("How many jobs failed in total?", "lines")  # a count
    assert summed not in closest("What is the total pay in Oslo?", "records")  # typed fields
    assert "Rosa Vidal" not in closest("Who wrote the port number?", "lines")  # a lookup
    assert "startswith('def test_')" in closest("How many classes does src/a define?", "files")
    assert "town.get(p['customer_id'])" in closest("How many units of toys sold?", "record files")
    assert "town.get" not in closest("Which file defines main?", "record files")  # a lookup


def test_the_profile_corrects_the_hosts_layout() -> None:
    from rlmx.core.turns import task_layout

    records = "a str of 900 characters in 30 lines; it begins:\n  a,b\nit holds records: ..."
    words = "a str of 900 characters in 30 lines; it begins:\n  Apr  1 00:00:00 gate-0 ..."
    assert task_layout("records", records) == "records"
    assert task_layout(None, records) == "structured"  # XML, YAML, sections, JSON
    assert task_layout("records", words) == "lines"  # times taken for fields by the host
    assert task_layout(None, "a dict of 3 files (path -> text) ...") == "files"
    tables = "a dict of 2 files ...\n'a.csv' holds records: parse_records(context['a.csv']) ..."
    assert task_layout(None, tables) == "record files"
    assert task_layout(None, "a list of 3 items; the first: ...") is None
    assert task_layout("records", None) == "records"  # no profile: the host's look stands
    quoted = "a str of 90 characters in 3 lines; it begins:\n  it holds records: no, a log"
    assert task_layout(None, quoted) == "lines"  # the data's own words choose nothing


def test_grammar_only_for_compact_roots_that_take_one() -> None:
    assert CompactPolicy().grammar(Small([], "x"), final_only=False) == prompts.REPLY_GRAMMAR
    assert CompactPolicy().grammar(Small([], "x"), final_only=True) == prompts.FINAL_GRAMMAR
    assert CompactPolicy().grammar(ReplayLM([], "x"), final_only=True) is None
    assert Policy().grammar(Small([], "x"), final_only=True) is None


def test_reports_differ_by_style() -> None:
    cells = [CellOutcome("print(1)", "1\n", False)]
    paper = Policy().report(Repairs("q?", "c"), "q?", cells)
    compact = CompactPolicy().report(Repairs("q?", "c"), "q?", cells)
    assert paper.text.startswith("Code executed:\n```python\nprint(1)\n```") and "q?" in paper.text
    assert compact.text == "REPL output:\n1\n"
    assert CompactPolicy().cell_report("x = 1", "") == "REPL output:\n(no output)"


# -- the repairs every policy applies -------------------------------------------------------
@pytest.mark.parametrize("policy", [Policy(), CompactPolicy()])
def test_a_repeated_cell_asks_for_final_only(policy) -> None:
    notes = policy.notes("q?", "c")
    cell = [CellOutcome("print(context)", "c\n", False)]
    assert policy.report(notes, "q?", cell).final_only is False
    again = policy.report(notes, "q?", cell)
    assert again.final_only is True and prompts.repeated_cell("q?") in again.text
    other = policy.report(notes, "q?", [CellOutcome("print(context)", "changed\n", False)])
    assert other.final_only is False


@pytest.mark.parametrize("policy", [Policy(), CompactPolicy()])
def test_a_cell_that_repeats_an_earlier_one_is_seen_when_cells_alternate(policy) -> None:
    # a 1.5B root sent a comment-only cell and a failing search in turn until the end
    notes = policy.notes("q?", "c")
    comment, search = CellOutcome("# recheck", "", False), CellOutcome("re.x", "NameError", True)
    assert [policy.report(notes, "q?", [c]).final_only
            for c in (comment, search, comment)] == [False, False, True]  # fmt: skip


@pytest.mark.parametrize("policy", [Policy(), CompactPolicy()])
def test_a_repeated_failing_cell_is_seen_though_its_traceback_names_another_cell(policy) -> None:
    # a 1.5B model sent the same KeyError cell 12 times: only the cell number changed
    notes = policy.notes("q?", "c")
    failing = "Traceback (most recent call last):\n  File \"<cell {}>\", line 1\nKeyError: 'x'\n"
    first = policy.report(notes, "q?", [CellOutcome("r['x']", failing.format(2), True)])
    again = policy.report(notes, "q?", [CellOutcome("r['x']", failing.format(3), True)])
    assert not first.final_only and again.final_only


@pytest.mark.parametrize("policy", [Policy(), CompactPolicy()])
def test_the_same_error_twice_earns_a_hint(policy) -> None:
    notes = policy.notes("q?", "c")
    error = "Traceback...\nNameError: name 'x' is not defined\n"
    first = policy.report(notes, "q?", [CellOutcome("x", error, True)])
    second = policy.report(notes, "q?", [CellOutcome("x + 1", error, True)])
    other = policy.report(notes, "q?", [CellOutcome("y", "KeyError: 'a'\n", True)])
    assert "Do not repeat" not in first.text
    assert "the last 2 cells failed with the same error" in second.text
    assert "Do not repeat" not in other.text


# -- the compact policy's small-model repairs -------------------------------------------------
def test_a_blind_sub_call_gets_a_note_only_in_compact() -> None:
    notes = Repairs("What is the gate code?", LONG_CONTEXT)
    assert CompactPolicy().sub_call_note(notes, "What is the code in the report?") == (
        "\n" + prompts.BLIND_SUB_CALL
    )
    with_text = "Find the code: filler sentence number one. filler sentence number one. "
    assert CompactPolicy().sub_call_note(notes, with_text) == ""
    assert CompactPolicy().sub_call_note(Repairs("q", "short context"), "anything") == ""
    assert CompactPolicy().sub_call_note(notes, "x" * 3000) == ""  # long prompts carry text
    assert Policy().sub_call_note(notes, "What is the code in the report?") == ""


def test_a_sub_call_that_only_repeats_the_question_is_not_sent() -> None:
    notes = Repairs("What is the gate code?", LONG_CONTEXT)
    assert CompactPolicy().refuse_sub_call(notes, "what is the gate code") == prompts.QUESTION_ECHO
    assert CompactPolicy().refuse_sub_call(notes, "Summarise the weather and sports") is None
    assert Policy().refuse_sub_call(notes, "what is the gate code") is None


def test_a_final_with_numbers_no_output_showed_is_pushed_back_once() -> None:
    policy, notes = CompactPolicy(), Repairs("What was the score in 2023?", "c")
    assert "41" in (policy.doubt_final(notes, "41") or "")
    assert policy.doubt_final(notes, "41") is None  # the same FINAL again is accepted
    seen = Repairs("What was the score?", "c")
    seen.saw("print(n)", "41.3\n")
    assert policy.doubt_final(seen, "about 41") is None  # rounded from what was printed
    assert policy.doubt_final(Repairs("Is 2023 a prime?", "c"), "2023 is not") is None
    assert Policy().doubt_final(Repairs("q", "c"), "99") is None


def test_a_count_answered_0_is_pushed_back_once_towards_the_values() -> None:
    policy, notes = CompactPolicy(), Repairs("How many requests under /api/ failed?", "c")
    code = "hits = [r for r in rows if r['path'] == '/api/']\nFINAL(len(hits))"
    told = policy.doubt_cell_final(notes, code, "0") or ""
    assert told.startswith("Your answer is 0: no record matched") and "rlmx ran your cell" in told
    fixed = "hits = [r for r in rows if '/api/' in str(r['path']).lower()]\nprint(len(hits))"
    assert fixed in told  # its FINAL prints: the model decides what is final
    assert policy.repair_cell(notes) == fixed and policy.repair_cell(notes) is None  # once
    assert notes.doubted_result("0", code) is None and notes.take_repair() is None  # no stale
    assert policy.doubt_cell_final(notes, code, "0") is None  # then 0 stands (and is warned)
    assert notes.doubted_result("0") is None  # once only
    assert Repairs("What is the error code?", "c").doubted_result("0") is None


def test_the_zero_push_back_shows_the_last_filter_widened() -> None:
    widened = fixed_filter("x = [r for r in rows if r['a'] == 'U' and 'v' == r.b and n == 'w']")
    assert widened == (
        "x = [r for r in rows if 'u' in str(r['a']).lower() and 'v' in "
        "str(r.b).lower() and (n == 'w')]",
        ["widened"],
    )  # a bare name is no field: left as it is
    # a text looked for with `in` is made blind to case ('failed' in 'Failed password'), not
    # a literal collection's member nor a test already lowered
    cased = "hits = [l for l in lines if 'lena' in l and 'failed' not in l.lower() and x in 'ab']"
    assert fixed_filter(cased) == (
        "hits = [l for l in lines if 'lena' in str(l).lower() and 'failed' not in l.lower() and "
        "(x in 'ab')]",
        ["casefolded"],
    )
    assert fixed_filter("ok = 'Oslo' in ('Oslo', 'Lima') or 'x' in s.lower()") is None
    assert fixed_filter("n = len(rows) == 3\nif (:") is None  # does not parse
    assert fixed_filter("n = len([r for r in rows if r['k'] == 3])") is None  # no text
    notes = Repairs("How many orders are open?", "c")
    notes.saw("hits = [r for r in rows if r['state'] == 'Open']\nprint(len(hits))", "0\n")
    notes.saw("print('checked')", "checked\n")  # a cell with no comparison keeps the last
    # a cell that raised matched nothing (a 1.5B root's KeyError cell was "fixed" and run)
    notes.saw("print(len([r for r in rows if r['genre'] == 'crime']))", "KeyError", True)
    told = notes.doubted_result("0") or ""
    assert "if 'open' in str(r['state']).lower()]" in told and "compares whole values" in told
    told = Repairs("How many?", "c").doubted_result("0")
    assert told == "Your answer is 0: " + prompts.EMPTY_RESULT


def test_an_answer_that_names_nothing_is_pushed_back_once() -> None:
    """A 1.5B root counted ``re.search(...)`` objects, most of them None, and answered
    "which IP ...?" with the most common one: None. A yes/no question may answer so."""
    notes = Repairs("Which IP address had the most failed password attempts?", "c")
    told = notes.doubted_result("None") or ""
    assert told == "Your answer is None: " + prompts.EMPTY_RESULT
    assert notes.doubted_result("null") is None  # once
    for nothing in ("null", "[]", "NaN", "''"):
        assert Repairs("Who wrote it?", "c").doubted_result(nothing), nothing
    assert Repairs("Is the port open?", "c").doubted_result("None") is None
    assert Repairs("Who wrote it?", "c").doubted_result("Nonet") is None
    assert Repairs("Which city?", "c").doubted_result("0") is None  # a name, not a count


def test_a_key_tested_against_whole_records_is_fixed_to_their_keys() -> None:
    """A 1.5B root joined sales to products with ``s['sku'] in garden``, ``garden`` a list
    of product records: always False, so its sum was 0."""
    code = (
        "garden = [p for p in products if p['category'] in ('garden', 'toys')]\n"
        "print(sum(s['quantity'] for s in sales if s['sku'] in garden))\n"
        "print(len([e for e in returns if e['sku'] not in garden]))"
    )
    fixed, fixes = fixed_filter(code) or ("", [])
    assert fixes == ["membership"]
    assert fixed.splitlines() == [
        "garden = [p for p in products if p['category'] in ('garden', 'toys')]",
        "garden_sku = {p['sku'] for p in garden}",
        "print(sum((s['quantity'] for s in sales if s['sku'] in garden_sku)))",
        "print(len([e for e in returns if e['sku'] not in garden_sku]))",
    ]
    namespace = {
        "products": [{"sku": "K-1", "category": "garden"}, {"sku": "K-2", "category": "office"}],
        "sales": [{"sku": "K-1", "quantity": 3}, {"sku": "K-2", "quantity": 5}],
        "returns": [],
    }
    exec(compile(fixed.replace("print(", "found = (", 1), "<fixed>", "exec"), namespace)
    assert namespace["found"] == 3  # the fixed cell joins as the question meant
    # a list of keys, or a name the cell did not build from whole records, is left alone
    keys = "skus = [p['sku'] for p in products]\nx = [s for s in sales if s['sku'] in skus]"
    assert fixed_filter(keys) is None
    assert fixed_filter("x = [s for s in sales if s['sku'] in garden]") is None
    told = Repairs("How many units of garden products were sold?", "c")
    told.saw(code, "0\n0\n")
    assert "a list of whole records" in (told.doubted_result("0") or "")


def test_a_count_of_records_for_the_items_of_a_list_field_is_pushed_back_once() -> None:
    """A 1.5B root answered "which owner has the most open tasks?" with Counter(owner),
    projects per owner, where each project holds its open tasks as a list."""
    policy = CompactPolicy()
    task = "a str of ...; their fields:\n  'Owner': values 'Ada'\n  'Open tasks': " \
           f"{LIST_FIELD}, e.g. ['[ ] a']\n  'notes': {LIST_FIELD}, e.g. []"  # fmt: skip
    notes = Repairs("Which owner has the most open tasks across their projects?", "c")
    notes.learn_prompt([], task)
    assert notes.list_fields == ["Open tasks", "notes"]
    counted = "c = Counter(r['Owner'] for r in rows)\nprint(c.most_common(1))"
    notes.saw(counted, "[('Ada', 3)]\n")
    told = policy.doubt_final(notes, "Ada") or ""
    assert told.startswith("Not accepted yet: the question counts Open tasks")
    assert "len(r['Open tasks'])" in told
    assert policy.doubt_final(notes, "Ada") is None  # once only
    assert [w.code for w in policy.final_warnings(notes, "Ada", None)] == ["uncounted_items"]
    summed = Repairs("Which owner has the most open tasks?", "c")
    summed.learn_prompt([], task)
    code = (
        "for r in rows:\n    c[r['Owner']] += len(r['Open tasks'])\nFINAL(c.most_common(1)[0][0])"
    )
    assert policy.doubt_cell_final(summed, code, "Ada") is None  # the items were counted
    other = Repairs("Which owner has the most projects?", "c")  # names no list field
    other.learn_prompt([], task)
    assert policy.doubt_cell_final(other, counted, "Ada") is None


def test_an_answer_that_is_no_value_of_the_field_asked_is_pushed_back_once() -> None:
    """A 1.5B root counted loans per book and answered "which genre ...?" with a book id;
    the profile lists every genre (a field whose values were cut short is never checked)."""
    from rlmx.repl.data_profile import profile

    books = "id,genre,title\n" + "\n".join(
        f"B{i},{'crime' if i % 3 else 'travel'},{'A very long title of a book ' * 2}{i % 2}"
        for i in range(30)
    )  # fmt: skip
    task = profile({"catalog.csv": books, "loans.csv": "book,days\nB1,3\nB2,4\n"})
    policy = CompactPolicy()
    notes = Repairs("Which genre of books was borrowed most often?", "c")
    notes.learn_prompt([], task)
    assert notes.field_values == {"genre": {"crime", "travel"}}  # titles: cut, not listed
    told = policy.doubt_cell_final(notes, "FINAL(top)", "B14") or ""
    assert told.startswith("Not accepted yet: the question asks which genre, and 'B14' is")
    assert "takes the values 'crime', 'travel'" in told
    assert policy.doubt_cell_final(notes, "FINAL(top)", "B14") is None  # once only
    assert [w.code for w in policy.final_warnings(notes, "B14", "FINAL(top)")] == ["foreign_value"]
    assert policy.final_warnings(notes, "Crime", "FINAL(top)") == []
    right = Repairs("Which genres were borrowed most often?", "c")
    right.learn_prompt([], task)
    assert policy.doubt_cell_final(right, "FINAL(top)", "Travel") is None  # another case
    assert policy.repair_cell(notes) is None  # no join: nothing to run for the model
    joined = profile({"catalog.csv": books, "loans.csv": "book,days\n" + "\n".join(
        f"B{i % 30},{i}" for i in range(40))})  # fmt: skip
    via = Repairs("Which genre of books was borrowed most often?", "c")
    via.learn_prompt([], joined)
    told = policy.doubt_cell_final(via, "FINAL(top)", "B14") or ""
    cell = (
        "genre = {r['id']: r['genre'] for r in parse_records(context['catalog.csv'])}\n"
        "counts = Counter(genre.get(x['book']) for x in parse_records(context['loans.csv']))\n"
        "print(counts.most_common(3))"
    )
    assert f"```repl\n{cell}\n```" in told and policy.repair_cell(via) == cell  # run for it
    titles = Repairs("Which title was borrowed most often?", "c")
    titles.learn_prompt([], task)
    assert policy.doubt_cell_final(titles, "FINAL(top)", "B14") is None  # not all listed


def test_a_status_class_tested_as_one_code_is_pushed_back_once() -> None:
    policy = CompactPolicy()
    notes = Repairs("How many requests under /api/ got a 5xx response?", "c")
    notes.saw("print(len([r for r in rows if '/api/' in r['path'] and r['status'] in [500, 503]]))",
              "7\n")  # fmt: skip
    told = policy.doubt_final(notes, "7") or ""
    assert told.startswith("Not accepted yet: 5xx means every status from 500 to 599")
    fixed = "print(len([r for r in rows if '/api/' in r['path'] and 500 <= r['status'] <= 599]))"
    assert fixed in told and policy.repair_cell(notes) == fixed  # the other condition kept
    assert policy.doubt_final(notes, "7") is None  # once only
    warned = [w.code for w in policy.final_warnings(notes, "7", None)]
    assert warned == ["partial_class"]  # the same answer again stands, warned
    notes.saw(fixed, "9\n")
    assert policy.final_warnings(notes, "9", None) == []  # answered from the whole class
    single = Repairs("How many 4xx responses?", "c")
    assert "rlmx ran" not in (single.partial_class("n = len(rows)") or "")  # nothing to fix
    for ranged in ("r['status'] >= 500", "r['status'] // 100 == 5", "str(s).startswith('5')"):
        ok = Repairs("How many 4XX errors?", "c")
        assert (
            policy.doubt_cell_final(ok, f"FINAL(len([r for r in rows if {ranged}]))", "3") is None
        )
    assert Repairs("How many errors in 2024?", "c").partial_class("x == 500") is None


def test_a_count_no_code_counted_is_pushed_back_once() -> None:
    policy, notes = CompactPolicy(), Repairs("How many classes does src/billing define?", "c")
    notes.saw("for p, t in context.items():\n    print(p, t)", "a_2.py class A:\nclass B:\n")
    assert policy.doubt_final(notes, "2") == prompts.UNCOUNTED
    assert policy.doubt_final(notes, "2") is None
    counted = Repairs("How many classes?", "c")
    counted.saw("print(sum(t.count('class ') for t in context.values()))", "2\n")
    assert policy.doubt_final(counted, "2") is None
    failed = Repairs("How many classes?", "c")  # a counting cell that raised counted nothing
    failed.saw("print(len(rows))", "Traceback (most recent call last):\nNameError: rows\n2", True)
    assert policy.doubt_final(failed, "2") == prompts.UNCOUNTED
    # the cell that calls FINAL may count itself
    assert policy.doubt_cell_final(Repairs("How many?", "c"), "FINAL(len(x))", "3") is None
    total = Repairs("What was the total revenue of Nimbus at the Oslo office?", "c")
    total.saw("for r in rows:\n    print(r['Revenue'])", "1374.25\n12248.75\n")
    told = policy.doubt_final(total, "1374.25")  # told to add up, not count
    assert told and "sum()" in told and "len()" not in told
    assert "the question's 'revenue'" in told  # what it adds up: no 'amount' to guess
    assert "numbers_in(l)" in prompts.unadded("How much came in from Ben Okafor in total?")
    assert Policy().doubt_final(Repairs("How many?", "c"), "7") is None  # the paper style


def test_a_number_answering_which_port_or_year_is_not_pushed_back() -> None:
    for query in ("Which port does the section [db] set?", "Which year was it founded?"):
        notes = Repairs(query, "c")
        notes.saw("print(x)", "46867 1999\n")
        assert notes.number_for_a_name("46867") is None


def test_a_number_answering_which_or_who_is_pushed_back_once() -> None:
    policy, notes = CompactPolicy(), Repairs("Which city has the most employees?", "c")
    notes.saw("print(best, n)", "Hanoi 969\n")
    told = policy.doubt_final(notes, "969")
    assert told is not None and "asks for a name" in told and "Which city" in told
    assert policy.doubt_final(notes, "969") is None  # the same FINAL again is accepted
    assert policy.doubt_final(notes, "Hanoi") is None
    for query, answer in (("How many cities?", "8"), ("Who has the top salary?", "Ada Silva"),
                          ("Which year was it?", "the year 2021")):  # fmt: skip
        named = Repairs(query, "c")
        named.saw("print(len(x))", f"{answer}\n")
        assert policy.doubt_final(named, answer) is None
    assert Policy().doubt_final(Repairs("Who won?", "c"), "3") is None


def test_an_answer_only_the_worked_examples_hold_is_refused_twice_then_flagged() -> None:
    from rlmx.core.answer_warnings import borrowed_value

    notes = Repairs("What is the total of paid invoices?", "c")
    notes.learn_prompt(["... the counts were 21405 and 3,117 in the example ...", "ok 7"])
    for policy in (Policy(), CompactPolicy()):
        notes.borrowed_pushbacks = 0
        told = policy.doubt_final(notes, "21405")
        assert told is not None and "worked examples" in told and "21405" in told
        assert "3117" in (policy.doubt_cell_final(notes, "FINAL(3117)", "3117") or "")
        after = policy.doubt_final(notes, "21405")  # twice, then it stands (compact: after
        assert after is None or "no REPL output" in after  # its own one-time guess check)
        assert policy.final_warnings(notes, "21405", None) == [borrowed_value("21405")]
    computed = "total = sum(v for v in values)\nFINAL(total)"
    assert Policy().doubt_cell_final(Repairs("q", "c"), computed, "21405") is None
    fresh = Repairs("How many?", "c")
    fresh.learn_prompt(["the example's answer is 21405"])
    assert fresh.borrowed_values("21405", computed) == []  # computed by code: not borrowed
    fresh.saw("print(n)", "21405\n")
    assert fresh.borrowed_values("21405") == []  # an output showed it: the data holds it
    short = Repairs("How many?", "c")
    short.learn_prompt(["give 3 lines, 10 at most"])
    assert short.borrowed_values("10") == []  # short numbers are everywhere


def test_a_name_only_the_worked_examples_hold_is_borrowed_unless_the_data_showed_it() -> None:
    from rlmx.core.answer_warnings import borrowed_value

    examples = [text for _, text in prompts.RECORDS_GROUP_EXAMPLES]
    notes = Repairs("Which customer has the most cancelled orders?", "c")
    notes.learn_prompt(examples, "profile: 'customer': many values, e.g. 'Omar Osei'")
    notes.saw("print(Counter(r['status'] for r in rows))", "[('cancelled', 76)]\n")
    told = CompactPolicy().doubt_final(notes, "Lea Brandt")
    assert told is not None and "Lea Brandt" in told and "worked examples" in told
    assert Policy().final_warnings(notes, "'Lea Brandt'", None) == [borrowed_value("Lea Brandt")]
    assert notes.borrowed_values("Omar Osei") == []  # the task's profile showed it
    assert notes.borrowed_values("Lea") == []  # a part of a name is no copy of it
    assert notes.borrowed_values("Lea Brandt", "best = counts.most_common(1)[0][0]") == []
    assert notes.borrowed_values("Lea Brandt", "FINAL('Lea Brandt')") == ["Lea Brandt"]
    assert notes.borrowed_values("the") == []  # short words are everywhere
    notes.saw("print(counts.most_common(1))", "[('Lea Brandt', 14)]\n")
    assert notes.borrowed_values("Lea Brandt") == []  # an output showed it: the data holds it


def test_a_run_never_ends_on_a_worked_examples_number_unflagged(replay) -> None:
    from rlmx import RLM
    from rlmx.core.answer_warnings import borrowed_value

    example_number = "21405"  # the records dialogue's own sum
    assert example_number in "".join(text for _, text in prompts.RECORDS_EXAMPLES)
    total = "print(sum(r['salary'] for r in rows if r['city'] == 'Hanoi'))"
    script = [repl("print(len(context))"), repl(f"FINAL({example_number})"),
              f"FINAL({example_number})", repl(total), "FINAL(7)"]  # fmt: skip
    records = "\n".join(f"city: {'Hanoi' if i < 7 else 'Lima'} | salary: 1" for i in range(40))
    question = "What is the total salary in Hanoi?"
    result = RLM(replay(script), policy="compact").completion(records, question)
    assert result.answer == "7" and result.warnings == []
    stubborn = [repl("print(len(context))")] + [f"FINAL({example_number})"] * 5
    result = RLM(replay(stubborn), policy="compact").completion(records, question)
    assert result.answer == example_number
    assert borrowed_value(example_number) in result.warnings


def test_a_zero_from_an_exact_match_gets_its_fixed_cell_run_by_rlmx(replay) -> None:
    """The fixed cell runs in the REPL as a cell of the run, and the root reads its output
    (told to reply with it, a 1.5B root had answered 0 again)."""
    from rlmx import RLM
    from rlmx.core.events import CodeExecuted

    lines = [f"path: /api/v{i % 3}/users | status: {500 + i % 2 * 3}" for i in range(30)]
    script = [
        repl("hits = [r for r in rows if r['path'] == '/api/' and r['status'] == 503]\n"
             "print(len(hits))"),
        "FINAL(0)",
        "FINAL(15)",
    ]  # fmt: skip
    question = "How many requests under /api/ got a 503?"
    events: list = []
    run = RLM(replay(script), policy="compact", recheck=False, on_event=events.append)
    result = run.completion("\n".join(lines), question)
    assert result.answer == "15" and result.warnings == []
    cells = [e for e in events if isinstance(e, CodeExecuted)]
    assert [c.output.strip() for c in cells[-2:]] == ["0", "15"]
    assert "'/api/' in str(r['path']).lower()" in cells[-1].code


def test_the_compact_policy_bounds_a_root_reply_unless_the_rlm_says_otherwise() -> None:
    from rlmx import RLM

    class Capped(ReplayLM):
        def __init__(self) -> None:
            super().__init__([repl("print(1)"), "FINAL(1)"], "root")
            self.max_tokens: list[int | None] = []

        async def complete(self, messages: list, **options: object) -> object:
            self.max_tokens.append(options.get("max_tokens"))  # type: ignore[arg-type]
            return await super().complete(messages, **options)

    for policy, given, expected in (("compact", None, 600), ("paper", None, None),
                                    ("compact", 300, 300)):  # fmt: skip
        root = Capped()
        RLM(root, policy=policy, root_max_tokens=given).completion("some text here", "q")
        assert set(root.max_tokens) == {expected}, (policy, given)


def test_a_filter_condition_the_question_never_names_is_dropped_and_run_once() -> None:
    """A 1.5B root copied a worked dialogue's second condition: asked for the cost of "the
    shipments to Oslo", it summed those of one carrier too (a value the profile lists)."""
    from rlmx.repl.data_profile import profile

    manifest = "destination,carrier,cost\n" + "\n".join(
        f"{('Oslo', 'Lima')[i % 2]},{('BlueBird', 'Nordpost', 'FastLane')[i % 3]},{i}"
        for i in range(30)
    )  # fmt: skip
    policy, query = CompactPolicy(), "What is the total cost of the shipments to Oslo?"
    notes = Repairs(query, "c")
    notes.learn_prompt([], profile(manifest))
    code = (
        "hits = [r for r in rows if r['destination'] == 'Oslo' and r['carrier'] == 'BlueBird']\n"
        "FINAL(sum(r['cost'] for r in hits))"
    )
    told = policy.doubt_cell_final(notes, code, "75") or ""
    fixed = (
        "hits = [r for r in rows if r['destination'] == 'Oslo']\n"
        "print(sum((r['cost'] for r in hits)))"
    )
    assert told.startswith("Your filter also keeps only records with 'BlueBird', which the")
    assert fixed in told and policy.repair_cell(notes) == fixed  # run for the model
    assert policy.doubt_cell_final(notes, code, "75") is None  # once only
    warned = policy.final_warnings(notes, "75", code)
    assert [w.code for w in warned] == ["unasked_condition"]
    assert policy.final_warnings(notes, "217", fixed) == []
    for named in (
        "What is the total cost of the shipments to Oslo with BlueBird?",
        "What is the total cost of the shipments to Oslo by bluebirds?",  # its first letters
    ):
        other = Repairs(named, "c")
        other.learn_prompt([], profile(manifest))
        assert policy.doubt_cell_final(other, code, "75") is None, named
    alone = Repairs(query, "c")  # a filter of one unasked condition: nothing to keep
    alone.learn_prompt([], profile(manifest))
    assert alone.unasked_condition("x = [r for r in rows if r['carrier'] == 'BlueBird']") is None
    assert Repairs(query, "c").unasked_condition(code) is None  # no values listed: no check


def test_several_numbers_answering_one_count_or_sum_are_pushed_back_once() -> None:
    """A 1.5B root printed ``len(hits), total`` and answered "748, 908487.56"."""
    notes = Repairs("What is the total cost in EUR of the shipments to Oslo?", "c")
    notes.saw("print(len(hits), sum(r['cost'] for r in hits))", "748 908487.5599999991\n")
    told = CompactPolicy().doubt_final(notes, "748, 908487.56") or ""
    assert told.startswith("Not accepted yet: your answer, 748, 908487.56, gives several")
    assert "asks for one: the total (a sum, not how many)" in told
    counted = Repairs("How many shipments went to Oslo?", "c")
    assert "asks for one: how many there are" in (counted.several_numbers("748 12.5") or "")
    assert notes.several_numbers("748 908487.56") is None  # once
    for one in ("1,204.50", "908487.56", "-3"):  # a thousands comma is one number
        assert Repairs("What is the total cost?", "c").several_numbers(one) is None, one
    two = Repairs("How many orders were there, and what was their total?", "c")
    assert two.several_numbers("12, 480.5") is None  # two asked
    assert Repairs("Which ports are open?", "c").several_numbers("22, 80") is None


def test_a_name_the_question_gives_that_no_code_looked_for_is_pushed_back_once() -> None:
    """A 1.5B root answered "how many lines did Gus Haddad insert?" with the number of
    lines of the whole log: nothing it ran looked for Gus Haddad."""
    log = (
        "commit 86a\nAuthor: Gus Haddad <gus@example.org>\n\n    Fix it\n\n"
        " src/juniper.py | 12 +++\n 1 file changed, 12 insertions(+), 0 deletions(-)\n"
    )
    policy = CompactPolicy()
    notes = Repairs("How many lines did Gus Haddad insert in src/juniper.py?", log)
    assert notes.named_in_query == ["Gus Haddad", "src/juniper.py"]  # not "How" alone
    notes.saw("print(len(context.splitlines()))", "7\n")
    told = policy.doubt_final(notes, "7") or ""
    assert told.startswith("Not accepted yet: the question names 'Gus Haddad', "
                           "'src/juniper.py', and none of your code looked for it")  # fmt: skip
    assert policy.doubt_final(notes, "7") is None  # once
    warned = policy.final_warnings(notes, "7", "FINAL(7)")
    assert [w.code for w in warned] == ["missed_condition"]
    looked = Repairs("How many lines did Gus Haddad insert in src/juniper.py?", log)
    looked.saw("n = [l for l in context.splitlines() if 'haddad' in l.lower()]", "")
    looked.saw("print(Counter(re.findall(r'(\\S+) \\| (\\d+)', context)))", "juniper.py: 12")
    assert looked.missed_condition() is None  # a word of each in code or output: enough
    elsewhere = Repairs("How many lines did Ada Moreno insert?", log)  # not in the data
    assert elsewhere.named_in_query == [] and elsewhere.missed_condition() is None
    folder = Repairs("How many lines did Gus Haddad insert?", {"git.log": log})
    assert folder.named_in_query == ["Gus Haddad"]
    web = Repairs("How many requests from 10.0.0.5 took over 2.5 s in 2026?", "10.0.0.5 2.5 2026")
    assert web.named_in_query == ["10.0.0.5"]  # an address; bounds and amounts are no names


def test_a_ranking_that_counted_each_value_once_is_pushed_back_once() -> None:
    """``Counter(r['commit'] for r in rows).most_common(1)`` counts each commit once: the
    "commit that inserted the most lines" it gives is any commit."""
    policy, query = CompactPolicy(), "Which commit inserted the most lines?"
    notes = Repairs(query, "c")
    code = "counts = Counter(r['commit'] for r in rows)\nprint(counts.most_common(1))"
    notes.saw(code, "[('6e7d565c', 1)]\n")
    told = policy.doubt_final(notes, "6e7d565c") or ""
    assert told.startswith("Not accepted yet: your count found each value once")
    assert "the number the question asks about ('lines')" in told  # no made-up field name
    assert policy.doubt_final(notes, "6e7d565c") is None  # once
    notes.saw("print(defaultdict(int))", "defaultdict(<class 'int'>, {})\n")  # then others
    assert [w.code for w in policy.final_warnings(notes, "6e7d565c", None)] == ["tied_ranking"]
    assert policy.final_warnings(notes, "faa60f61", None) == []  # not the tied one
    counted = Repairs(query, "c")
    counted.saw(code, "[('Kai Ito', 14)]\n")
    assert counted.tied_ranking("Kai Ito") is None
    assert Repairs("Which commit is the newest?", "c").tied_ranking("6e7d565c") is None
    for answer, tied in (("Hana Kowal", True), ("Hana Kowalski", False), ("Ivo", False)):
        lines = Repairs("Who mentioned quartz most often?", "c")  # whole lines counted once
        lines.saw("print(Counter(l for l in lines if 'quartz' in l).most_common(1))",
                  "[('00:00:23 Hana Kowal: Gus Haddad, quartz is blocked', 1)]\n")  # fmt: skip
        assert (lines.tied_ranking(answer) is not None) is tied  # a part of the value: tied


def test_a_word_in_capitals_is_no_name_to_look_for() -> None:
    notes = Repairs("How many accounts have no fee (NULL) in Oslo?", "(1, 'Oslo', NULL)")
    assert notes.named_in_query == ["Oslo"]
