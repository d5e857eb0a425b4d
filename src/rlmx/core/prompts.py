"""The texts the root model reads: system prompts, worked examples, turn notes, grammars.

Texts only: which of them a run uses is decided by its policy (``policy.py``). The paper's
texts follow the RLM paper's REPL prompt (arXiv 2512.24601, Appendix): the context lives
in a variable, the model writes ```repl cells, queries sub-models, and ends with FINAL /
FINAL_VAR; the wording is ours, the structure and rules are the paper's. The compact texts
are a short few-shot variant for small local models, used with REPLY_GRAMMAR so every
reply is one ```repl cell or one FINAL line.
"""

from __future__ import annotations

import re

# GBNF: an optional remark line (at most 200 characters: small models otherwise ramble
# until max_tokens), then exactly one ```repl cell or one FINAL line. Code lines may not
# contain backticks, so the cell cannot close early. FINAL_VAR and a typed FINAL may end
# with the quotes they cite (a plain FINAL's free text holds them already).
_CITE_RULES = r"""final-var   ::= "FINAL_VAR(" [a-zA-Z_] [a-zA-Z0-9_]* final-cite? ")"
final-cite  ::= ", cite=[" final-quote (", " final-quote)* "]"
final-quote ::= "\"" [^"\n]{1,300} "\""
"""
_FINAL_RULE = (
    r"""final ::= "FINAL(" [^\n]+ ")" | final-var
"""
    + _CITE_RULES
)
REPLY_GRAMMAR = (
    r"""root  ::= note? (cell | final)
note  ::= [^`\n]{1,200} "\n"
cell  ::= "```repl\n" line line* "```"
line  ::= [^`\n]* "\n"
"""
    + _FINAL_RULE
)
# Only a FINAL line: the last turn, and the turn after a cell that repeated itself.
FINAL_GRAMMAR = "root ::= final\n" + _FINAL_RULE


def typed_grammar(answer_rules: str, final_only: bool) -> str:
    """REPLY_GRAMMAR or FINAL_GRAMMAR whose FINAL(...) holds JSON matching a schema
    (``answer_rules``: GBNF with an ``answer`` rule, from llama.cpp's JSON-schema grammars)."""
    final = 'final ::= "FINAL(" answer final-cite? ")" | final-var\n' + _CITE_RULES + answer_rules
    head = "root ::= final" if final_only else REPLY_GRAMMAR.rsplit("final ::=", 1)[0].rstrip()
    return f"{head}\n{final}"


def answer_format(schema_text: str) -> str:
    """Told with the query when the answer must match a schema."""
    return (
        "\n\nThe answer must be a value matching this JSON Schema; give it as FINAL(value) "
        f"with a dict or a list (or JSON text): {schema_text}"
    )


# told with the query in a recheck (core/rlm.py): a fresh prompt, so the attempt is not a
# replay of the first (greedy decoding repeats a prompt's answer exactly), and a push
# toward going over all the data with exact filters (a note saying "record by record" had
# a recheck of a folder count read one file). The third attempt, made when the first two
# disagree, is worded otherwise again, so that it takes a path of its own.
_ALL_DATA = (
    "Go over all of the data the question covers, not a part of it: every record, line or "
    "file (the variable rows, when the profile says it holds the records); "
)
RECHECK_NOTES = (
    "",
    "\n\n(This is a second, independent attempt at this question. " + _ALL_DATA
    + "select on exactly what the question names, and print what you computed before "
    "answering.)",
    "\n\n(This is a third attempt at this question: two earlier ones disagreed. " + _ALL_DATA
    + "first print how many items the question's conditions keep, then what you computed "
    "from them, and answer from that.)",
)  # fmt: skip


EMPTY_RESULT = (
    "your code found nothing, which usually means its filter or pattern does not match how "
    "the data writes its values. Print the values the data holds in each field you filter "
    "on (e.g. print(Counter(r[field] for r in rows).most_common(10))), match every "
    "condition of the question to them (a word like 'under', 'in' or 'starting with' asks "
    "for a prefix or a part, not an exact match), then work the answer out again with the "
    "fixed filter."
)


FILTER_FIXES = {  # what repairs.fixed_filter fixed, said to the model
    "membership": "It tests a key for membership in a list of whole records, which no key "
    "ever is: a key must be tested against the records' own keys",
    "widened": "It compares whole values with ==, and the question may mean a part of a "
    "value (a path under a folder, a word in a name)",
    "casefolded": "It looks for a text with `in`, which tells capitals apart ('failed' is "
    "not in 'Failed password'): the data may write it capitalised",
}


def empty_result(answer: str, fixed: tuple[str, list[str]] | None) -> str:
    """The push back on an answer that says the code found nothing (0 for a count,
    ``None``); ``fixed``: the filter's cell fixed, and what was fixed
    (repairs.fixed_filter), which the loop then runs and shows with its output. A 1.5B root
    given advice alone printed the values, then answered 0 again; given the advice and the
    fixed code to reply with, it answered 0 again or replied with a made-up "REPL output"."""
    said = f"Your answer is {answer.strip()[:20]}: "
    if fixed is None:
        return said + EMPTY_RESULT
    code, fixes = fixed
    why = ". ".join(FILTER_FIXES[fix] for fix in fixes)
    return (
        f"{said}no record matched your filter. {why}. rlmx ran your cell with that fixed:\n"
        f"```repl\n{code}\n```"
    )


def tied_ranking(query: str) -> str:
    """The push back on a ranking read off a count per value that found each value once
    (repairs.tied_ranking), naming what the question ranks by: told "an amount", a 1.5B
    root looked for a field named 'amount'."""
    ranked = re.search(r"\b(?:most|least|highest|lowest|largest|smallest)\s+([\w ]{1,40})", query)
    by = f" ({ranked.group(1).strip()!r})" if ranked else ""
    return (
        "Not accepted yet: your count found each value once (the first has a count of 1), so "
        "it ranks nothing: each record has its own value. Rank the records by the number "
        f"the question asks about{by}: find that number in each record (in a field, or with "
        "re.search in its text), then print the record where it is largest or smallest."
    )


def missed_condition(names: list[str]) -> str:
    """The push back on an answer whose run never looked for what the question names
    (repairs.missed_condition)."""
    named = ", ".join(repr(name) for name in names[:3])
    return (
        f"Not accepted yet: the question names {named}, and none of your code looked for "
        "it, so your answer is not about it alone. Keep only the records or lines that "
        "the question is about, then answer."
    )


def unasked_condition(values: list[str], fixed: str) -> str:
    """The push back on a filter that tests values the question does not name
    (repairs.unasked_condition); ``fixed``: the cell without those tests, which the loop
    runs. A 1.5B root copied a worked dialogue's second condition into its own filter."""
    named = ", ".join(repr(value) for value in dict.fromkeys(values))
    return (
        f"Your filter also keeps only records with {named}, which the question does not "
        "ask for: keep only the conditions the question names. rlmx ran your cell "
        f"without it:\n```repl\n{fixed}\n```"
    )


REPAIRED_CELL = (
    "That is what your fixed cell printed. If it answers the question, reply with its "
    "FINAL line; if not, fix the code further."
)


def status_class(low: int, fixed: str | None) -> str:
    """The push back on an answer about a class of status codes (repairs.partial_class);
    ``fixed``: the answer's cell testing the whole class, which the loop runs."""
    said = (
        f"Not accepted yet: {low // 100}xx means every status from {low} to {low + 99}, and "
        "your code tests only some of them."
    )
    if fixed is None:
        return (
            f"{said} Test the range ({low} <= status <= {low + 99}) with the question's other "
            "conditions, print it, then answer."
        )
    return f"{said} rlmx ran your cell testing the range:\n```repl\n{fixed}\n```"


def list_items(field: str) -> str:
    """The push back on a count of records where the question counts the items of a
    field that holds a list per record (repairs.uncounted_items)."""
    return (
        f"Not accepted yet: the question counts {field}, and each record holds a list of "
        f"them in r[{field!r}], so counting records counts the wrong thing. Count the items: "
        f"add up len(r[{field!r}]) over the records the question covers (per group: "
        f"totals = Counter(); totals[group] += len(r[{field!r}]) for each record r), print "
        "it, then answer."
    )


def foreign_value(answer: str, field: str, values: set[str], joined: str | None) -> str:
    """The push back on an answer to "which <field> ...?" that is none of the field's
    values (repairs.foreign_value); ``joined``: a cell that counts per value of the field
    through the profile's join, when the field is another file's."""
    listed = ", ".join(repr(v) for v in sorted(values)[:12])
    how = (
        f"The records you count do not hold {field!r}: look it up through the join the "
        f"profile showed, for a count per {field}:\n```repl\n{joined}\n```\nthen"
        if joined
        else f"Work out the answer per {field}, print it, then"
    )
    return (
        f"Not accepted yet: the question asks which {field}, and {answer[:80]!r} is not a "
        f"{field}: the field {field!r} takes the values {listed}. {how} answer with one "
        "of those values."
    )


UNCOUNTED = (
    "A count or sum was asked, and none of your code counted: reading printed text is not "
    "counting. Count in code: go over the data (its records, lines or files) in a loop or "
    "a comprehension, keep the items that meet every condition of the question, and print "
    "len() or sum() of them before you answer."
)


# the same for a total: told to "print len() or sum()", a 1.5B root that had printed each
# hit's revenue printed how many hits there were, and answered that
UNADDED = (
    "A total was asked, and none of your code added it up: reading printed values is not "
    "adding. Add up in code: keep the items that meet every condition of the question, and "
    "print the sum() of the number each holds{what} before you answer."
)
TOTAL_OF = re.compile(r"\btotal\s+((?:\w+\s+){0,2}?\w+)\s+(?:of|at|for|in|by|from|on|to)\b", re.I)


def unadded(query: str) -> str:
    """The push back on a total that no code added up, naming what the question adds up:
    told "the amount each holds", a 1.5B root asked records of a 'Revenue' for 'amount'."""
    named = TOTAL_OF.search(query)
    what = (
        f" (the question's {named.group(1).lower()!r}: the field that holds it, or "
        "numbers_in(l) of a line in words)"
        if named
        else " (a record's field, or numbers_in(l) of a line in words)"
    )
    return UNADDED.format(what=what)


ASKED_NUMBER = (  # what a count or sum question asks for, by its words
    (re.compile(r"\b(average|mean)\b", re.IGNORECASE), "the average"),
    (re.compile(r"\b(how many|number of|count)\b", re.IGNORECASE), "how many there are"),
    (re.compile(r"\b(total|sum)\b", re.IGNORECASE), "the total (a sum, not how many)"),
)


def several_numbers(answer: str, query: str) -> str:
    """The push back on several numbers answering a question that asks for one
    (repairs.several_numbers), saying which kind it asks for: told only "the one it asks
    for", a 1.5B root answered "the total cost" with the count it printed first."""
    asked = next((what for words, what in ASKED_NUMBER if words.search(query)), "one number")
    return (
        f"Not accepted yet: your answer, {answer.strip()[:80]}, gives several numbers, and the "
        f"question asks for one: {asked}. Reply with the FINAL line of that one number."
    )


def dropped_quotes(quotes: list[str]) -> str:
    """The notice (not sent to the model) on quotes dropped from a computed answer."""
    shown = "; ".join(repr(q[:120]) for q in quotes[:3])
    return f"Dropped the quotes the answer cites that are not in the context: {shown}"


def schema_mismatch(problem: str) -> str:
    """Said when a final answer does not match the schema."""
    return (
        f"Not accepted: the answer does not match the required schema ({problem}). Fix the "
        "value and give FINAL(value) again."
    )


def unfound_quotes(quotes: list[str]) -> str:
    """Said once when quotes an answer cites are not in the context."""
    listed = "; ".join(repr(q[:200]) for q in quotes[:5])
    return (
        f"These quotes are not in the context: {listed}. Copy each quote exactly from the "
        "REPL output (or drop it) and give the FINAL line again."
    )


COMPACT_SYSTEM = """\
You answer questions about a document stored in the Python variable `context`. You \
cannot see it: explore it by writing Python in a ```repl block, and read what it prints. \
Each reply is one short remark line and ONE ```repl block, or, once you know the \
answer, the single line FINAL(answer, cite=["exact quote from the output", ...]).

In the REPL: `context`; any module you import (`re` is the fastest way to find things); \
`llm_query(prompt)` asks a helper model about a piece of text of up to {sub_window} and \
returns its answer; `llm_query_batched(prompts)` asks many at once and returns a list; \
with `choices=[...]` each reply is exactly one of them; each has an `_async` form to \
`await` in a cell. `parse_records(text)` reads records (CSV, JSON, \
XML, YAML, log or `key: value` lines and blocks, sections) into a list of dicts. The \
helper model sees only the prompt you give it, so put the text in the prompt. Print \
short things: long output is cut. Never answer before your code has shown you the answer.\
"""

# Two worked dialogues: a search answered by code, and a count that needs sub-calls.
COMPACT_EXAMPLES: list[tuple[str, str]] = [
    (
        "user",
        "Your context is a str with 2,401,733 total characters.\n\n"
        "The query is: What is the access code for blue-falcon?",
    ),
    (
        "assistant",
        "I search for the key and print the text around each match.\n```repl\nimport re\n"
        'for m in re.finditer("blue-falcon", context):\n'
        "    print(context[max(0, m.start() - 200):m.end() + 200])\n```",
    ),
    ("user", "REPL output:\n(no output)"),
    (
        "assistant",
        "The search printed nothing: no exact match. I search again for one word of the key, "
        "ignoring case.\n```repl\n"
        'for m in re.finditer("falcon", context, re.IGNORECASE):\n'
        "    print(context[max(0, m.start() - 200):m.end() + 200])\n```",
    ),
    (
        "user",
        "REPL output:\nthe harbor lights were low. The access code for Blue Falcon is 80417. "
        "Growth of the market slowed",
    ),
    ("assistant", 'FINAL(80417, cite=["The access code for Blue Falcon is 80417."])'),
    (
        "user",
        "Your context is a str with 48,112 total characters.\n\n"
        "The query is: How many of the reviews are negative?",
    ),
    (
        "assistant",
        "I look at how the context is laid out.\n```repl\nlines = context.splitlines()\n"
        "print(len(lines))\nprint(lines[:3])\n```",
    ),
    (
        "user",
        "REPL output:\n412\n['Review 1: Great battery life.', 'Review 2: Broke after a "
        "week.', 'Review 3: Fine for the price.']",
    ),
    (
        "assistant",
        "One review per line: the helper model labels them in batches and I add up.\n"
        "```repl\nimport re\nbatches = ['\\n'.join(lines[i:i + 40]) "
        "for i in range(0, len(lines), 40)]\n"
        "answers = llm_query_batched(['How many of these reviews are negative? Reply with "
        "one number.\\n' + b for b in batches])\n"
        "total = sum(int(re.search(r'\\d+', a).group()) for a in answers "
        "if re.search(r'\\d+', a))\nprint(answers, total)\n```",
    ),
    ("user", "REPL output:\n['7', '9', '4', '12', '6', '9', '8', '11', '5', '10', '7'] 88"),
    ("assistant", "FINAL(88)"),
]

# For a question that needs a judgement per item ("how many ... should be labelled X"):
# the helper labels every line, held to the labels by ``choices``, and code counts. The
# count-per-batch example above was not followed here: the 1.5B root searched the text
# for label words, which it does not hold, and answered 0 or 1. The query names its
# answer form and the FINAL keeps it (a scorer reads "Answer: ...").
LABEL_EXAMPLES: list[tuple[str, str]] = [
    (
        "user",
        "Your context is a str with 52,384 total characters.\n\n"
        "The query is: How many of the reviews should be labelled as 'shipping and "
        "delivery'? Give your final answer in the form 'Answer: number'.",
    ),
    (
        "assistant",
        "I look at how the context is laid out.\n```repl\nlines = context.splitlines()\n"
        "print(len(lines))\nprint(lines[:4])\n```",
    ),
    (
        "user",
        "REPL output:\n415\n['Each line is one customer review. Each can be labelled as one "
        "of: shipping and delivery, product quality, price.', '', 'Date: Mar 02, 2023 || "
        "Shop: 311 || Review: Broke after a week.', 'Date: Jan 17, 2023 || Shop: 87 || "
        "Review: Two weeks late and the box was torn.']",
    ),
    (
        "assistant",
        "One review per line after the header, three labels (the first has two words): the "
        "helper labels each review's text, held to the labels, and I count in code.\n"
        "```repl\nfrom collections import Counter\n"
        "rows = [l for l in lines if 'Review:' in l]\n"
        "texts = [l.split('Review:', 1)[1].strip() for l in rows]\n"
        "names = ['shipping and delivery', 'product quality', 'price']\n"
        "labels = llm_query_batched(['Which label fits this review? ' + t for t in texts], "
        "choices=names)\n"
        "counts = Counter(labels)\nprint(len(rows), counts)\n"
        "print(counts['shipping and delivery'])\n```",
    ),
    (
        "user",
        "REPL output:\n413 Counter({'product quality': 201, 'shipping and delivery': 149, "
        "'price': 63})\n149",
    ),
    ("assistant", "FINAL(Answer: 149)"),
]

# A third worked dialogue, for contexts whose start is one record a line or block
# (ContextMeta.layout): read them with parse_records, peek, then select and add up in
# code. A small model copies the example it is shown: the search example taught it to
# print matches and guess, and a regex for one format matched nothing in the next one.
RECORDS_EXAMPLES: list[tuple[str, str]] = [
    (
        "user",
        "Your context is a str with 61,530 total characters.\n\n"
        "The query is: What is the total amount of the shipped orders to Berlin?",
    ),
    (
        "assistant",
        "I read the records and look at how they are written.\n```repl\n"
        "rows = parse_records(context)\nprint(len(rows))\nprint(rows[:2])\n```",
    ),
    (
        "user",
        "REPL output:\n880\n[{'order': 5001, 'customer': 'Mara Lind', 'city': 'Berlin', "
        "'status': 'shipped', 'amount': 120}, {'order': 5002, 'customer': 'Ivo Tanaka', "
        "'city': 'Madrid', 'status': 'open', 'amount': 75}]",
    ),
    (
        "assistant",
        "One dict per record. The question names two conditions, each on its own field: "
        "city is 'Berlin' and status is 'shipped'. I keep the records that meet both and "
        "add up their amounts in code.\n"
        "```repl\nhits = [r for r in rows if r['city'] == 'Berlin' and r['status'] == "
        "'shipped']\ntotal = sum(r['amount'] for r in hits)\nprint(len(hits), total)\n```",
    ),
    ("user", "REPL output:\n97 21405"),
    ("assistant", "FINAL(21405)"),
]


def variant(
    dialogue: list[tuple[str, str]], query: str, instead: str, rest: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """A dialogue's first three messages (the task, a first look, its output) with another
    question asked, then ``rest``: the variant's own way on from there."""
    return [*((role, text.replace(query, instead)) for role, text in dialogue[:3]), *rest]


# The same records, asked which value of a field is the most common: counted per value.
RECORDS_GROUP_EXAMPLES = variant(
    RECORDS_EXAMPLES, "What is the total amount of the shipped orders to Berlin?",
    "Which customer placed the most orders?", [
    (
        "assistant",
        "One dict per record: I count the records per customer in code.\n```repl\n"
        "from collections import Counter\ncounts = Counter(r['customer'] for r in rows)\n"
        "print(counts.most_common(1))\n```",
    ),
    # only the winner is printed (shown three, the model answered the last one), and it is
    # not one of the two records peeked at: the answer is read off the count
    ("user", "REPL output:\n[('Lea Brandt', 14)]"),
    ("assistant", "FINAL(Lea Brandt)"),
])  # fmt: skip

# For a text of lines written in words (a log, a transcript) that holds no records: the
# lines that meet every condition the question names, kept and counted in code. Without
# it a 1.5B root counted the lines naming a user, not that user's failed logins, and the
# records dialogue had it filter a whole line by equality.
LINES_EXAMPLES: list[tuple[str, str]] = [
    (
        "user",
        "Your context is a str with 143,877 total characters.\n\n"
        "The query is: How many print jobs of Rosa Vidal failed?",
    ),
    (
        "assistant",
        "I look at how the lines are written.\n```repl\nlines = context.splitlines()\n"
        "print(len(lines))\nprint(lines[:3])\n```",
    ),
    (
        "user",
        "REPL output:\n2206\n['Mon 09:14 printer-3 job 5521 from Rosa Vidal printed 12 pages', "
        "'Mon 09:15 printer-1 job 5522 from Tom Ekberg failed: paper jam', 'Mon 09:15 "
        "printer-3 job 5523 from Rosa Vidal printed 3 pages']",
    ),
    (
        "assistant",
        "One event a line, written in words, not fields. The question names two conditions: "
        "the person, Rosa Vidal, and the outcome, failed. I keep the lines that hold both, "
        "count them in code, and print two to check.\n```repl\n"
        "hits = [l for l in lines if 'from Rosa Vidal ' in l and ' failed' in l]\n"
        "print(len(hits))\nprint(hits[:2])\n```",
    ),
    (
        "user",
        "REPL output:\n163\n['Mon 11:02 printer-2 job 5610 from Rosa Vidal failed: no toner', "
        "'Tue 08:47 printer-3 job 5977 from Rosa Vidal failed: paper jam']",
    ),
    ("assistant", "FINAL(163)"),
]

# The same lines, asked which value is the most common: taken from each line and counted.
# Read by a named group, as the profile reads a kind of line's parts: a 1.5B root given
# `re.search(...).group()` put the profile's regex of a whole line in it and counted lines.
LINES_GROUP_EXAMPLES = variant(
    LINES_EXAMPLES, "How many print jobs of Rosa Vidal failed?",
    "Which printer had the most failed jobs?", [
    (
        "assistant",
        "One event a line, written in words. I keep the failed lines, read the printer of "
        "each by a named group, and count per printer in code.\n```repl\n"
        "failed = [l for l in lines if ' failed' in l]\n"
        "counts = Counter(m['printer'] for l in failed "
        "for m in [re.search(r'(?P<printer>printer-\\d+)', l)] if m)\n"
        "print(counts.most_common(1))\n```",
    ),
    ("user", "REPL output:\n[('printer-2', 341)]"),
    ("assistant", "FINAL(printer-2)"),
])  # fmt: skip

# The same lines, asked for a total: the lines kept as for a count, and the number each
# holds added up with the REPL's numbers_in (signs, thousands, currency; no dates or
# codes). Given only the count dialogue, a 1.5B root asked for a total printed the lines'
# count and answered it, or split a line at spaces and took a name for the amount.
LINES_SUM_EXAMPLES = variant(
    LINES_EXAMPLES, "How many print jobs of Rosa Vidal failed?",
    "What is the total number of pages printed by Rosa Vidal?", [
    (
        "assistant",
        "One event a line, written in words. The question names two conditions: the person, "
        "Rosa Vidal, and the outcome, printed; the pages are the last number of such a line. "
        "I keep the lines that hold both, add up that number in code with numbers_in, and "
        "print two to check.\n```repl\n"
        "hits = [l for l in lines if 'from Rosa Vidal ' in l and ' printed ' in l]\n"
        "total = sum(numbers_in(l)[-1] for l in hits)\nprint(total)\nprint(hits[:2])\n```",
    ),
    (
        "user",
        "REPL output:\n6077\n['Mon 09:14 printer-3 job 5521 from Rosa Vidal printed 12 pages', "
        "'Mon 09:15 printer-3 job 5523 from Rosa Vidal printed 3 pages']",
    ),
    ("assistant", "FINAL(6077)"),
])  # fmt: skip

# For a folder (a dict of path -> text) of code or text, asked to count: the files the
# question names, and in them the lines that meet it, kept and counted in code. A 1.5B
# root printed a package's files and typed a number it never counted.
FILES_EXAMPLES: list[tuple[str, str]] = [
    (
        "user",
        "Your context is a dict with 402,118 total characters, made of 212 items with "
        "lengths [2210, 1874, 3305, ...].\n\n"
        "The query is: How many test functions does the folder tests/unit define?",
    ),
    (
        "assistant",
        "A dict of files. The question names a folder and a kind of line: I keep the files "
        "under tests/unit/ and, in them, the lines that define a test function, and count "
        "them in code.\n```repl\n"
        "hits = [(path, line) for path, text in context.items() if path.startswith("
        "'tests/unit/') for line in text.splitlines() if line.startswith('def test_')]\n"
        "print(len(hits))\nprint(hits[:2])\n```",
    ),
    (
        "user",
        "REPL output:\n118\n[('tests/unit/test_cache.py', 'def test_hit_after_put():'), "
        "('tests/unit/test_cache.py', 'def test_miss_is_none():')]",
    ),
    ("assistant", "FINAL(118)"),
]

# For a folder whose files hold records, asked to count or add up across two of them:
# each file read with parse_records, one turned into a lookup, and the join done in code.
JOIN_EXAMPLES: list[tuple[str, str]] = [
    (
        "user",
        "Your context is a dict with 87,305 total characters, made of 2 items with lengths "
        "[9120, 78185].\n\nThe query is: What is the total weight of the parcels sent to "
        "customers in Leeds?",
    ),
    (
        "assistant",
        "Two files of records: the customers have the town, the parcels the weight. I read "
        "both, look up each parcel's customer town, and add up in code.\n```repl\n"
        "customers = parse_records(context['customers.csv'])\n"
        "parcels = parse_records(context['parcels.jsonl'])\n"
        "town = {c['customer_id']: c['town'] for c in customers}\n"
        "hits = [p for p in parcels if town.get(p['customer_id']) == 'Leeds']\n"
        "print(len(hits), sum(p['kg'] for p in hits))\n```",
    ),
    ("user", "REPL output:\n286 1907.5"),
    ("assistant", "FINAL(1907.5)"),
]

PAPER_SYSTEM = """\
You are tasked with answering a query about a context that you cannot see directly. The \
context lives in a Python REPL environment that you can use interactively, and from which \
you can query sub-LLMs. You will be queried iteratively until you give a final answer.

The REPL environment provides:
1. A variable `context` holding the data the query is about. Look at it before answering.
2. `llm_query(prompt)`: ask a sub-LLM one question and get its answer as a string. The \
sub-LLM can read about {sub_window} of text in one prompt, so pass it large chunks.
3. `llm_query_batched(prompts)`: ask many questions at once; they run concurrently and the \
answers come back as a list in the same order. Prefer it to a loop of llm_query calls. \
Both take `choices=[...]`: each reply is then exactly one of them (a label per item).
4. `rlm_query(prompt, context=None)`: give a sub-problem to a recursive language model with \
its own REPL (when depth allows; otherwise it behaves like llm_query); \
`rlm_query_batched(prompts, contexts=None)` runs many of them concurrently.
5. Each of these has an awaitable form (`llm_query_async`, `llm_query_batched_async`, \
`rlm_query_async`, `rlm_query_batched_async`): a cell may `await` at top level, e.g. \
`await asyncio.gather(*(llm_query_async(p) for p in prompts))`.
6. `SHOW_VARS()` lists your variables; `budget()` tells what is left of the budget.
7. `print()` shows you output. Long output is truncated, so print summaries, not whole \
chunks; use sub-LLMs to read large amounts of text for you.

Variables persist between cells. To run code, write it in a fenced block tagged `repl`:
```repl
chunk = context[:10000]
answer = llm_query(f"What is the magic number in this text? {{chunk}}")
print(answer)
```
A useful strategy: inspect the context's structure, split it into chunks, ask sub-LLMs \
about each chunk (batched), keep their answers in variables, then combine them. For \
example, to find facts in a long document:
```repl
chunks = [context[i:i + 100000] for i in range(0, len(context), 100000)]
answers = llm_query_batched([f"Quote any sentence about X in: {{c}}" for c in chunks])
hits = [a for a in answers if "none" not in a.lower()]
print(len(hits), hits[:3])
```
Searching with Python (`re`, string methods) is often the fastest way to narrow things down.

When you are done, give the final answer in one of two ways:
- FINAL(your final answer) on its own line, outside of code, when you write no code block;
- or call FINAL(value) / FINAL_VAR("variable_name") inside a ```repl cell.
Cite what the answer rests on with quotes copied exactly from the context: \
FINAL(answer, cite=["quote", ...]) (FINAL_VAR takes `cite=` too).
Do not give a final answer before you have looked at the context with code. Think step by \
step, plan, execute it immediately, and do not merely say what you will do.
"""

FIRST_TURN = """\
{context_description}

You have not interacted with the REPL environment or seen your context yet. Look through \
the context first; do not give a final answer yet.

The query is: {query}

Your next action:"""

NEXT_TURN = """\
Continue using the REPL environment (which holds `context`) and sub-LLM queries to answer \
the query: {query}

Your next action:"""

NO_CODE_CORRECTION = """\
Your reply had neither a ```repl code block nor a final answer. Write one ```repl block \
to continue, or, if you know the answer, write FINAL(your answer) on its own line."""

PREMATURE_FINAL = """\
A final answer is not accepted before you have run code on the context. Inspect `context` \
with a ```repl block first."""

LAST_TURN = """\
{reason}. This is your last turn: give your best final answer now, on one FINAL line."""


def with_window(template: str, sub_window: int | None) -> str:
    """A system prompt with the sub-model's window (tokens) said in characters."""
    if sub_window:
        return template.format(sub_window=f"{sub_window * 3:,} characters")
    return template.format(sub_window="several hundred thousand characters")


def repeated_error_hint(error: str, times: int) -> str:
    """Said when the same error comes back: small models tend to loop on one mistake."""
    return (
        f"Note: the last {times} cells failed with the same error ({error}). Do not repeat "
        "that code; try a different, simpler approach, and print intermediate values."
    )


BLIND_SUB_CALL = (
    "[note: this prompt held no text from the context, so the helper answered without "
    "seeing the document; put the text in the prompt]"
)

QUESTION_ECHO = (
    "not sent: this prompt only repeats the question, and the helper cannot see `context`, "
    "so it could only guess. Find the text with code, then pass it in the prompt."
)


def profiled(profile: str) -> str:
    """What rlmx's own profile(context) showed, in the task message."""
    return f"\n\nrlmx ran profile(context) for you; it printed:\n{profile}"


def borrowed_answer(values: str) -> str:
    """Said when a FINAL's value is one of the worked examples' and no output showed it."""
    return (
        f"Not accepted: {values} is a value from the worked examples in the instructions, "
        "not from this context, and no output of your code showed it. The examples only show "
        "the method. Compute the answer from `context` with code, print it, then answer."
    )


def unseen_answer(numbers: str) -> str:
    """Said once when a FINAL's numbers appear in no output: small models guess them."""
    return (
        f"Not accepted yet: {numbers} appears in no REPL output so far, so it may be a "
        "guess. Find the answer with code and print it. If you are sure, reply with the "
        "same FINAL line again."
    )


def number_for_a_name(query: str) -> str:
    """Said once when a "which" / "who" question is answered with a bare number: the 1.5B
    model printed `Hanoi 969` and answered 969."""
    return (
        f"Not accepted yet: the question asks for a name, not a number: {query} Reply with "
        "the FINAL line that names it. If the number is the answer, reply with the same "
        "FINAL line again."
    )


EARLIER_SHOWN = 5  # questions of a session shown to the root; `history` has them all
EARLIER_CHARS = 300


def earlier_questions(earlier: tuple[tuple[str, str | None], ...]) -> str:
    """What the root reads of a session's earlier asks (empty outside sessions)."""
    if not earlier:
        return ""
    lines = [
        "\n\nThis is a session: the REPL still holds the variables of the earlier questions, "
        f"and the list `history` has all {len(earlier)} with their answers. The last ones:"
    ]
    for number, (query, answer) in enumerate(earlier, 1):
        if number > len(earlier) - EARLIER_SHOWN:
            shown = "(no answer)" if answer is None else _clip(answer, EARLIER_CHARS)
            lines.append(f"{number}. Q: {_clip(query, EARLIER_CHARS)}\n   A: {shown}")
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


NO_SUB_CALLS = """
In this run there are no sub-models: `llm_query`, `llm_query_batched`, `rlm_query` and \
their batched and async forms are disabled. Solve the task with Python code alone."""


# Small models copy the examples they are shown: a video needs its own, using the tools.
VIDEO_COMPACT_SYSTEM = """\
You answer questions about a video. You cannot see or hear it: explore it by writing \
Python in a ```repl block that calls the video functions listed with the task, and read \
what it prints. Each reply is one short remark line and ONE ```repl block, or, once you \
know the answer, the single line FINAL(answer). Times are seconds from the start. Print \
short things: long output is cut. Never answer before your code has shown you the answer.\
"""

VIDEO_EXAMPLES: list[tuple[str, str]] = [
    (
        "user",
        "The context is a video (report.mp4): 120.0 s, 25 fps, with audio. Functions: "
        "onscreen_text() -> [{'t0', 't1', 'text'}], transcript() -> [{'start', 'end', "
        "'text'}], search_transcript(query), search(query), ocr(t), scenes().\n\n"
        "The query is: What subjects does the report cover, and when is the storm first "
        "mentioned?",
    ),
    (
        "assistant",
        "I read the text on screen through the whole video.\n```repl\n"
        "for s in onscreen_text():\n    print(s['t0'], s['text'])\n```",
    ),
    (
        "user",
        "REPL output:\n0.0 00:00 | BUDGET | Council passes the budget\n"
        "40.0 00:40 | STORM | Heavy rain expected tonight\n"
        "80.0 01:20 | CONCERT | Choir sings in the park",
    ),
    (
        "assistant",
        "I check when the storm is first spoken about.\n```repl\n"
        'for h in search_transcript("storm"):\n    print(h["start"], h["text"])\n```',
    ),
    ("user", "REPL output:\n41.3 Now, the storm. Heavy rain expected tonight."),
    (
        "assistant",
        "FINAL(All subjects, in order: BUDGET (from 0 s), STORM (from 40 s), CONCERT (from "
        "80 s). The storm first appears at 40 s on screen and is first mentioned at 41.3 s.)",
    ),
]


def repeated_cell(query: str) -> str:
    """Said after a cell that repeated an earlier one; the question is restated because a
    small model otherwise answers the note ("No new output") instead of the query."""
    return (
        "That code already ran before and printed the same output. Use what the outputs "
        f"above show and answer the question now, on one FINAL line: {query}"
    )


def last_turn(reason: str) -> str:
    return LAST_TURN.format(reason=reason)
