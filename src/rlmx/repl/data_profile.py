"""``profile(context)`` in the REPL: what the data looks like, in a few lines.

A small root model spends its first turns finding out what it was given (a dict of files
taken for a string, a CSV read as prose), then filters on fields it guessed. So before the
first turn, rlmx runs ``print(profile(context))`` and shows the model its output: the
type and size; for a folder (a dict of path -> text) its files; for text, its lines and,
when ``parse_records`` reads them as records, each field with its type and a few of its
values, else, for lines written in words, their kinds of line and, for a question about
amounts, what ``numbers_in`` reads in one (``line_kinds.py``). The
work is bounded: records are profiled from a sample of the text. rlmx's own call also
reads a text's records into ``rows`` (one up to PRELOAD_CHARS long): a 1.5B root used
``rows`` in its first cell without defining it, as the profile named it, and spent a
turn on the NameError. Runs inside the sandbox: stdlib only.
"""

from __future__ import annotations

import json
import keyword
import re
from collections import Counter
from typing import Any

try:
    from .line_kinds import line_kinds, line_numbers, spaced
    from .records import join_fields, parse_records, unique_keys
except ImportError:  # run as a plain script inside the sandbox
    from line_kinds import line_kinds, line_numbers, spaced  # type: ignore[no-redef]
    from records import join_fields, parse_records, unique_keys  # type: ignore[no-redef]

SAMPLE_CHARS = 400_000  # of a text, read to find its records
SAMPLE_ROWS = 5_000
SHOWN_VALUES = 12  # distinct values listed for a field (more: a count and examples)
SHOWN_FILES = 12
RECORD_FILES = 6  # of a folder, the files looked at for records (each from its sample)
VALUE_CHARS = 40
# the words the policy reads a layout by (core/turns.py task_layout)
HOLDS_RECORDS, TEXT_PROFILE = "it holds records", "a str of "
FOLDER_PROFILE, FILE_RECORDS = "a dict of ", "holds records: parse_records(context["
JOIN_THEN = "; then "  # in a join hint, between the map and its use (repairs read them)
ALL_VALUES = "values "  # a field's line lists every value it took (repairs read them)
LIST_FIELD = "a list of items per record (len() of it counts them)"  # repairs read it too
LIST_OF_OBJECTS = re.compile(r"\[\s*\{")
LINES_BOUND = "it is read line by line"
PRELOAD_CHARS = 5_000_000  # a longer text's records are left to the model's own call (memory)


def profile(value: Any, into: dict[str, Any] | None = None, asked: str = "") -> str:
    """A short description of ``value`` (a context): type, size and structure. ``into``: a
    namespace where a text's records are bound as ``rows`` when it holds records;
    ``asked``: the question, whose words pick the field a join's example maps."""
    if isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
        return _files(value, asked)
    if isinstance(value, str):
        return _text(value, into, asked)
    if isinstance(value, list):
        return f"a list of {len(value):,} items; the first: {_short(repr(value[:1]), 200)}"
    return f"a {type(value).__name__}: {_short(repr(value), 200)}"


def _files(files: dict[str, str], asked: str) -> str:
    paths = list(files)
    kinds = Counter(path.rsplit(".", 1)[-1] if "." in path else "(none)" for path in paths)
    lines = [
        f"{FOLDER_PROFILE}{len(paths):,} files (path -> text), {sum(map(len, files.values())):,} "
        f"characters; by extension: {', '.join(f'.{k} {n}' for k, n in kinds.most_common(6))}",
        "context[path] is a file's text; search them all with: for path, text in "
        "context.items(): ...",
        "files: " + ", ".join(paths[:SHOWN_FILES]) + (" ..." if len(paths) > SHOWN_FILES else ""),
    ]
    return "\n".join(lines + _record_files(files, asked))


def _record_files(files: dict[str, str], asked: str) -> list[str]:
    """The fields of the first RECORD_FILES files that hold records (a folder of tables
    to join: a small model otherwise parses the folder as one text), and how to join two
    of them on a field they share."""
    shown: list[str] = []
    tables: dict[str, list[dict[str, Any]]] = {}
    for path, text in list(files.items())[:RECORD_FILES]:
        rows, _whole = _records(text)
        if rows:
            tables[path] = rows
            shown += [f"{path!r} {FILE_RECORDS}{path!r}]) reads them; their fields:",
                      *_field_lines(rows)]  # fmt: skip
    return shown + _join_hint(tables, asked)


def _join_hint(tables: dict[str, list[dict[str, Any]]], asked: str) -> list[str]:
    """How to join two record files: a field of one names a record of the other (by the
    same name or not), so the other maps by that key. A 1.5B root filtered a sales file
    by a category that only the products file held, tested a sku for membership in a list
    of whole product records, and asked loan records for the genre of the book named by
    their ``book`` field, which the catalog calls ``id``. The example maps the field
    whose value (else whose name) the question names: it copied a map of agents' names
    and compared them with the team asked about."""
    for lookup, rows in tables.items():
        keys = unique_keys(rows)
        for other, others in tables.items():
            pair = join_fields(keys, others) if other != lookup else None
            if pair is None:
                continue
            key, ref = pair
            fields = [k for k in _common_keys(rows) if k != key]
            if not fields:
                continue
            words = spaced(asked)  # a field whose value the question names, else its name
            fields.sort(key=lambda f: (not _names_a_value(words, rows, f), spaced(f) not in words))
            name = re.sub(r"\W", "_", str(fields[0])) + (
                "_" if keyword.iskeyword(str(fields[0])) else ""
            )
            same = {type(r[key]) for r in rows} == {type(x.get(ref)) for x in others}
            mapped, looked_up = (f"r[{key!r}]", f"x[{ref!r}]") if same else (
                f"str(r[{key!r}])", f"str(x[{ref!r}])")  # fmt: skip
            return [
                f"the {ref!r} of a record of {other!r} names one record of {lookup!r} by its "
                f"{key!r}: to filter or group the records of {other!r} by a field of "
                f"{lookup!r} ({', '.join(map(repr, fields))}), map it first: {name} = "
                f"{{{mapped}: r[{fields[0]!r}] for r in parse_records(context[{lookup!r}])}}"
                f"{JOIN_THEN}{name}.get({looked_up}) is the {fields[0]!r} of a record x of "
                f"parse_records(context[{other!r}])"
            ]
    return []


def _names_a_value(words: str, rows: list[dict[str, Any]], field: str) -> bool:
    """The question (its words, from ``spaced``) names a value of ``field``, in any case."""
    values = {str(row.get(field)) for row in rows[:SAMPLE_ROWS]}
    return any(spaced(value) in words for value in values)


def _common_keys(rows: list[dict[str, Any]]) -> list[str]:
    """The fields most records have, most common first."""
    keys = Counter(key for row in rows for key in row)
    return [key for key, count in keys.most_common(16) if count >= 0.8 * len(rows)]


def _text(text: str, into: dict[str, Any] | None, asked: str) -> str:
    lines = text.count("\n") + (not text.endswith("\n"))
    head = [line for line in text[:2000].splitlines() if line.strip()][:3]
    parts = [f"{TEXT_PROFILE}{len(text):,} characters in {lines:,} lines; it begins:"]
    parts += [f"  {_short(line, 160)}" for line in head]
    rows, whole = _records(text)
    if rows:
        sampled = "" if whole else " (these from a sample of its first records)"
        parts += [f"{_bound(text, rows if whole else None, into)}; their fields{sampled}:",
                  *_field_lines(rows)]  # fmt: skip
    else:
        sample = text[:SAMPLE_CHARS]
        words = line_kinds(sample, asked) + line_numbers(sample, asked)
        parts += [_lines_bound(text, into), *words] if words else []
    return "\n".join(parts)


def _lines_bound(text: str, into: dict[str, Any] | None) -> str:
    """How to get a text's lines: already in ``lines`` when bound into ``into``, as
    ``rows`` is for records (a 1.5B root used the worked dialogue's ``lines`` in its first
    cell without defining it)."""
    if into is not None and len(text) <= PRELOAD_CHARS:
        into["lines"] = text.splitlines()
        return f"{LINES_BOUND}: the variable lines already holds context.splitlines()"
    return f"{LINES_BOUND}: lines = context.splitlines() gives them (call it in your code)"


def _bound(text: str, rows: list[Any] | None, into: dict[str, Any] | None) -> str:
    """How to get the records: already in ``rows`` when they were read into ``into``
    (``rows``: all of them, when the sample was the whole text)."""
    if into is not None and len(text) <= PRELOAD_CHARS:
        into["rows"] = rows if rows is not None else parse_records(text)
        return (
            f"{HOLDS_RECORDS}: the variable rows already holds them (rows = "
            "parse_records(context) ran), a list of dicts, one a record"
        )
    return (
        f"{HOLDS_RECORDS}: rows = parse_records(context) gives a list of dicts, one a "
        "record (call it in your code)"
    )


def _records(text: str) -> tuple[list[dict[str, Any]], bool]:
    """The records of the text's first SAMPLE_CHARS, when it holds records (at least two
    fields in most of them), and whether that sample was the whole text."""
    sample = text if len(text) <= SAMPLE_CHARS else text[: text.rfind("\n", 0, SAMPLE_CHARS)]
    try:
        rows = _json_prefix(text) if sample is not text and _one_json(text) else []
        rows = rows or parse_records(sample)
    except (ValueError, TypeError, RecursionError):
        return [], False
    if len(rows) < 5 or not all(isinstance(row, dict) for row in rows):
        return [], False
    if len(_common_keys(rows)) < 2:
        return [], False  # not two fields in most records: lines of prose, headings, notes
    return rows, sample is text


def _field_lines(rows: list[dict[str, Any]]) -> list[str]:
    """A line per field of the records: its type and a few of its values."""
    keys = Counter(key for row in rows for key in row)
    return [f"  {key!r}: " + _values([row[key] for row in rows if key in row])
            for key, _count in keys.most_common(16)]  # fmt: skip


def _one_json(text: str) -> bool:
    """The text starts one JSON document (a list, or an object that its first line does
    not close: not JSON lines, whose records may hold lists of their own)."""
    start, end = text.lstrip()[:1], text.find("\n", 0, SAMPLE_CHARS)
    if start != "{" or end < 0:  # a first line past the sample: one document (minified)
        return start in ("[", "{")
    try:
        json.loads(text[:end])
    except ValueError:
        return True
    return False


def _json_prefix(text: str) -> list[Any]:
    """The objects at the start of the first list of objects of a JSON document too long
    to sample whole (a cut document is no JSON, so the sample is read object by object):
    the document itself, or the list an API's ``{"data": [...]}`` holds."""
    decoder = json.JSONDecoder()
    rows: list[Any] = []
    found = LIST_OF_OBJECTS.search(text, 0, SAMPLE_CHARS)
    if found is None:
        return rows
    position = found.start() + 1
    while position < SAMPLE_CHARS and len(rows) < SAMPLE_ROWS:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] != "{":
            break
        row, position = decoder.raw_decode(text, position)
        rows.append(row)
    return rows


def _values(values: list[Any]) -> str:
    """A field's type and a few of its values: no range or count, which a model could take
    for an answer (and a sample's would be wrong)."""
    listed = next((v for v in values if isinstance(v, list | dict)), None)
    if isinstance(listed, list):  # a section's list items: a 1.5B root counted sections
        return f"{LIST_FIELD}, e.g. {_short(repr(listed), 3 * VALUE_CHARS)}"
    if listed is not None:
        return f"dicts, e.g. {_short(repr(listed), 3 * VALUE_CHARS)}"
    numbers = [v for v in values if isinstance(v, int | float) and not isinstance(v, bool)]
    distinct = Counter(values)
    if len(numbers) == len(values) and len(distinct) > SHOWN_VALUES:
        kind = "int" if all(isinstance(v, int) for v in numbers) else "float"
        return f"{kind}, e.g. {_listed(distinct.most_common(2))}"
    if len(distinct) <= SHOWN_VALUES:
        return ALL_VALUES + _listed(distinct.most_common())
    return f"many values, e.g. {_listed(distinct.most_common(3))}"


def _listed(counted: list[tuple[Any, int]]) -> str:
    return ", ".join(_short(repr(value), VALUE_CHARS) for value, _count in counted)


def _short(text: str, chars: int) -> str:
    return text if len(text) <= chars else text[: chars - 3] + "..."
