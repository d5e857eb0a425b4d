"""``parse_records(text)`` in the REPL: structured records read into dicts, whatever their layout.

Model code that counts or adds up over records should not have to write a parser per
format (small models copy one from an example and it matches nothing in the next format).
This reads the common layouts: JSON lines (or a JSON list of objects, or the longest such
list inside a JSON document: an API's ``{"data": {"items": [...]}}``), the tables of an
HTML page (keyed by each table's header row; with several tables, a field holds the title
of the row's table: its caption, else the heading above it; the field is named for the
word every title begins or ends with, ``office`` for "Oslo office", else ``table``), XML
(the most repeated element whose children are plain values: its attributes and children,
a repeated child a list), a YAML list of mappings (``- key: value`` items), sections under
repeated headings (Markdown ``## title`` or INI ``[title]``: ``section`` is the title,
``key: value`` /
``key = value`` lines are fields, and list items are a list keyed by the sub-heading above
them, else ``items``), a CSV / TSV / semicolon / pipe table with a header line (a quoted
cell may hold the delimiter), a Markdown table, a report's table of columns aligned with
two or more spaces (under a header in one of its first lines, or with no header: fields
``field1``, ``field2`` ... by place), web server access logs (the
Common and Combined Log Formats: ``ip``, ``time``, ``method``, ``path``, ``status``,
``bytes`` ...), ``key: value`` blocks a blank line apart (under a ``title`` line or
not), and lines of fields split by
``|``, ``,`` or tabs, each field ``key: value``, ``key=value`` (a quoted value may hold
spaces), ``NAME number`` (``ID 1001``) or a bare value (keyed ``field1``, ``field2``, ...
by position). Numbers become ints or floats (``1,234.50``, ``$1,234.50`` and ``+1,790.72
EUR`` too, and ``1.234,56`` in a table split at ``;`` or tabs); ``numbers_in(text)`` reads
the numbers written among a line's words. A
record is a dict that forgives a guessed field name when it abbreviates exactly one real one
(``r['department']`` on a record keyed ``dept``), and whose KeyError shows the record with
its real keys: small models guess field names and then repeat the guess.
Runs inside the sandbox: stdlib only.
"""

from __future__ import annotations

import csv
import functools
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any, cast

# a key begun only where a word begins, and never given back: a line of "1.1.1..." was
# scanned to its end from each of its characters (quadratic: 90 s for 9 MB of them)
PAIR = re.compile(r"""(?<![\w.-])(\w[\w.-]*+)=("[^"]*"|'[^']*'|\S+)""")
# one way to match each part (no nested spaces), so a long line costs linear time
KEYED = re.compile(r"^(\w[\w.-]*(?: [\w.-]+)*) ?[:=] ?(.*)$")
UNLABELLED = re.compile(r"field\d+")  # what _line_record calls a field without a key
SHOWN_CHARS = 300  # of a record in a KeyError: its keys and what they hold (field2 = a name)
NAMED_NUMBER = re.compile(r"^\s*([A-Za-z]\w*)\s+(-?\d+(?:\.\d+)?)\s*$")
# Apache / nginx access logs: the Common Log Format, and the Combined one's two quoted tails
ACCESS_LOG = re.compile(
    r'^(\S+) (\S+) (\S+) \[([^\]]+)\] "(\S+) (\S+)(?: ([^"]*))?" (\d{3}) (\d+|-)'
    r'(?: "([^"]*)" "([^"]*)")?'
)
# a heading: Markdown "## title" (its level the number of #) or an INI "[title]"
HEADING = re.compile(r"^(?:(#{1,6})\s+(.*\S)|\[([^\]\n]+)\])\s*$")
LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+(.*\S)\s*$")
DECIMAL_COMMA = re.compile(r"-?(?:\d{1,3}(?:\.\d{3})+|\d+),\d{1,2}")  # 1.234,56 and 12,5
# 1,217.78: its commas are no field's ends; begun only where a number begins, its groups
# never given back (else a long run of ",000" costs quadratic time)
AMOUNT_COMMAS = re.compile(r"(?<![\d,])\d{1,3}(?:,\d{3})++\.\d")
# an amount: its sign, a currency before or after it (a symbol, or a common code), and
# digits whose commas group thousands (possessive: a long run of ",000" costs linear time),
# of a length that an int() reads (a longer run of digits is no number of an amount)
SIGN, SYMBOL = r"[-+\u2212]?", r"[$€£¥]"
CODES = r"(?:USD|EUR|GBP|JPY|CHF|CAD|AUD|NZD|CNY|INR|SEK|NOK|DKK|PLN|CZK|BRL|MXN|ZAR|SGD|HKD)"
DIGITS = r"(?:\d{1,3}(?:,\d{3}){1,7}+|\d{1,24})(?:\.\d{1,24})?"  # no id, hash or phone number
AMOUNT = re.compile(
    rf"({SIGN})(?:{CODES} ?)?{SYMBOL}? ?({SIGN})({DIGITS})(?: ?(?:{SYMBOL}|{CODES}))?"
)
PLAIN_NUMBER = re.compile(r"-?\d{1,24}(?:\.\d{1,24})?")
# a number written among words: no part of a date, a time, a version, an address or a code
# (TX-1001, #12, v2, 1.2.3.4, 07.01.2026, 12:30), a unit of up to three letters after it
IN_WORDS = re.compile(
    rf"(?<![\w.,:/#@$€£¥\u2212-])({SIGN}){SYMBOL}?({SIGN})({DIGITS})(?:[a-zA-Z]{{1,3}}|%)?"
    r"(?![\w/]|[.,:-]\w)"
)
DATA_CELL = re.compile(r"[-+]?[$€£]?\d")  # a number, a date, an amount: no header's name
HTML_HEADING = re.compile(r"h[1-6]")
MAX_COLSPAN, MAX_ROWSPAN = 64, 65_534  # HTML's own limit of rows; a data table's of columns
YAML_ITEM = re.compile(r"^( *)- (\w[\w .-]*?):(?: +(.*\S))?\s*$")
ACCESS_FIELDS = ("ip", "ident", "user", "time", "method", "path", "protocol", "status", "bytes",
                 "referer", "agent")  # fmt: skip


class Record(dict[str, Any]):
    """One record: a dict that also answers to a field's name in another case, or to an
    abbreviation of it (``r['department']`` on a record keyed ``dept``; among several, the
    one sharing the longest start, if only one does), and whose KeyError shows the record,
    so its keys can be matched to their values (an unlabelled name is ``field2``)."""

    def __missing__(self, key: Any) -> Any:
        if isinstance(key, str):
            names = [name for name in self if isinstance(name, str)]
            same = [name for name in names if name.lower() == key.lower()]
            close = sorted(((_common_prefix(key, name), name) for name in names
                            if _abbreviates(key, name)), reverse=True)  # fmt: skip
            if len(same) == 1:
                return self[same[0]]
            if close and (len(close) == 1 or close[0][0] > close[1][0]):
                return self[close[0][1]]
        shown = repr(dict(self))
        shown = shown if len(shown) <= SHOWN_CHARS else shown[: SHOWN_CHARS - 4] + " ...}"
        raise KeyError(
            f"no field {key!r}; {self._unlabelled()}this record is {shown}: use one of its "
            f"keys (each dict is one record: count records with len() or collections.Counter)"
            f"{self._elsewhere(key)}"
        )

    def _elsewhere(self, key: Any) -> str:
        """Names the other records that hold the field, and how to join them: a 1.5B root
        asked sales records for the category their products' records held, and loan
        records for the genre of the book each named (by another field's name)."""
        for read in reversed(_READ):
            if key not in read.fields or key in self:
                continue
            pair = join_fields(read.keys, [self])
            if pair is None:
                continue
            their, mine = pair
            return (f"; {key!r} is a field of other records you read (fields "
                    f"{list(read.fields)}), and their {their!r} names the record that this "
                    f"record's {mine!r} names: make a dict of those keyed by {their!r}, and "
                    f"look each of these records up in it by its {mine!r}")  # fmt: skip
        return ""

    def _unlabelled(self) -> str:
        """Names the one field the text left unlabelled: a small model asked a pipe line
        for r['name'] a dozen times and never read the name off the record shown."""
        unlabelled = [name for name in self if isinstance(name, str) and UNLABELLED.fullmatch(name)]
        if len(unlabelled) != 1:
            return ""
        return f"its only unlabelled value, {self[unlabelled[0]]!r}, is {unlabelled[0]!r}; "


def _common_prefix(a: str, b: str) -> int:
    pairs = zip(a.lower(), b.lower(), strict=False)
    return next((i for i, (x, y) in enumerate(pairs) if x != y), min(len(a), len(b)))


def _abbreviates(a: str, b: str) -> bool:
    """One name is the other shortened: same first letter, and the shorter one's letters
    (three or more) appear in order in the longer (dept / department, qty / quantity)."""
    short, long = sorted((a.lower(), b.lower()), key=len)
    if len(short) < 3 or short[0] != long[0]:
        return False
    rest = iter(long)
    return all(letter in rest for letter in short)


DELIMITERS = ("|", "\t", ";", ",")
ALIGNED_GAP = re.compile(r"\s{2,}|\t")  # between the columns of an aligned table
ALIGNED_HEADER_LINES = 5  # an aligned table's header is one of its first lines
RULE_LINE = re.compile(r"^[\s=+|:-]+$")  # ----, ====, +---+, |:---|---:|


class _Read:
    """What a KeyError needs of records parse_records returned: their fields, and the
    values (as text) of each field that names every record once, worked out from the
    text only when a KeyError first asks (not on every call: cells read the same text
    over and over, and keys are rarely needed)."""

    def __init__(self, fields: tuple[str, ...], text: str) -> None:
        self.fields = fields
        self._text: str | None = text  # usually the context itself, or a part of it

    @functools.cached_property
    def keys(self) -> dict[str, set[str]]:
        rows, self._text = _parse(self._text or ""), None
        return unique_keys(rows) if len(rows) <= KEYED_ROWS else {}


_READ: list[_Read] = []  # of the records parse_records returned lately
READ_KEPT = 8
JSON_DEPTH = 4  # levels of a JSON document looked through for its list of records
KEYED_ROWS = 50_000  # a longer list's keys are not looked for (memory, time)
JOIN_SHARE = 0.9  # of the records whose field's value names a record of another list: a join


def parse_records(text: str) -> list[dict[str, Any]]:
    """The records of ``text``, one dict each, in order (see the module's docstring)."""
    rows = _parse(text)
    fields = tuple(str(key) for key in rows[0]) if rows else ()
    if fields:  # the latest read of the same fields replaces an earlier (a sample's)
        _READ[:] = [read for read in _READ if read.fields != fields]
        _READ.append(_Read(fields, text))
        del _READ[:-READ_KEPT]
    return rows


def unique_keys(rows: list[dict[str, Any]]) -> dict[str, set[str]]:
    """The fields whose value (a str or an int) names each record once, each with its
    values as text: what another list of records may refer to its records by."""
    found = {}
    for key in rows[0] if rows else ():
        values = [row.get(key) for row in rows]
        if all(isinstance(v, str | int) and not isinstance(v, bool) for v in values):
            texts = {str(v) for v in values}
            if len(texts) == len(values):
                found[key] = texts
    return found


def join_fields(keys: dict[str, set[str]], rows: list[dict[str, Any]]) -> tuple[str, str] | None:
    """(key, field): a key of other records (``keys``, from unique_keys) that holds the
    value of ``field`` in nearly every one of ``rows`` (JOIN_SHARE), compared as text (a
    JSON's "17" names the CSV's 17); a field of the key's own name first. Plain numbers
    join only a field named for the key (``id``, ``user_id``, ``userId``): any two lists
    of small numbers overlap. None when no field of ``rows`` refers to them."""
    found = []
    for field in rows[0] if rows else ():
        values = [str(row[field]) for row in rows if isinstance(row.get(field), str | int)]
        if len(values) < JOIN_SHARE * len(rows):
            continue
        numbers = sum(value.lstrip("-").isdigit() for value in values) > len(values) / 2
        for key, texts in keys.items():
            if (not numbers or _names_key(field, key)) and sum(
                v in texts for v in values
            ) >= JOIN_SHARE * len(rows):
                found.append((key != field, key, field))
    return min(found)[1:] if found else None


def _names_key(field: str, key: str) -> bool:
    """``field`` is ``key``, or ends with it as a word of its name (``user_id``,
    ``userId`` and ``user-id`` end with ``id``; ``paid`` does not)."""
    if field.lower() == key.lower():
        return True
    word = re.escape(key)
    camel = re.escape(key[:1].upper() + key[1:])
    return re.fullmatch(rf"\w+?(?:[_.\- ](?i:{word})|{camel})", field) is not None


def _parse(text: str) -> list[dict[str, Any]]:
    if isinstance(text, dict):
        raise TypeError("parse_records() reads one text, and this is a dict (of files?): "
                        "read one of its values, e.g. parse_records(context[path])")  # fmt: skip
    if not isinstance(text, str):
        raise TypeError("parse_records() reads a str, e.g. parse_records(context)")
    stripped = text.strip()
    if not stripped:
        return []
    if stripped[0] in "[{":
        parsed = _json_records(stripped)
        if parsed is not None:
            return parsed
    lines = [line for line in stripped.splitlines() if line.strip()]
    for reader in (_sql_inserts, _html_tables, _xml_records, _yaml_records, _sections, _stanzas):
        found = reader(stripped, lines)
        if found is not None:
            return found
    blocks = [b for b in re.split(r"\n\s*\n", stripped) if b.strip()]
    if len(blocks) > 1 and all(_is_block(b) for b in blocks[:20]):
        return [_block_record(block) for block in blocks]
    if all(ACCESS_LOG.match(line) for line in lines[:20]):
        return [_access_record(line) for line in lines]
    table = _table(lines)
    return table if table is not None else [_line_record(line) for line in lines]


def _access_record(line: str) -> dict[str, Any]:
    """One access log line; ``bytes`` "-" (nothing sent) is 0. A line of another shape
    among them is read as any other line."""
    match = ACCESS_LOG.match(line)
    if match is None:
        return _line_record(line)
    row = dict(zip(ACCESS_FIELDS, match.groups(), strict=True))
    row = {key: value for key, value in row.items() if value is not None}
    row["bytes"] = 0 if row["bytes"] == "-" else row["bytes"]
    return _typed(row)


class _Tables(HTMLParser):
    """The rows of a page's tables (cell texts), each table with its title: its caption,
    else the last heading before it. A cell ends at its end tag or, as HTML allows, at the
    next cell, row or table. A cell spanning columns or rows (``colspan``, ``rowspan``: a
    report's group written once for its rows) fills each place it covers, so that a row's
    cells stay under their header."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[tuple[str, list[list[str]]]] = []
        self.heading = ""
        self.text: list[str] | None = None  # the text of the cell, caption or heading read
        self.reading = ""  # the tag whose text that is
        self.span = (1, 1)  # the columns and rows the cell read covers
        self.below: dict[int, tuple[str, int]] = {}  # column -> a cell above, rows it has left

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("td", "th", "tr", "table"):
            self.end_text()
        if tag == "table":
            self.tables.append((self.heading, []))
            self.below = {}
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
            self.fill_spanned()
        elif tag in ("td", "th", "caption") or HTML_HEADING.fullmatch(tag):
            self.text, self.reading = [], tag
            found = dict(attrs)
            self.span = (_span(found.get("colspan"), MAX_COLSPAN),
                         _span(found.get("rowspan"), MAX_ROWSPAN))  # fmt: skip

    def fill_spanned(self) -> None:
        """Put into the row read, at its end, the cells that rows above span down to it."""
        row = self.tables[-1][1][-1]
        while len(row) in self.below:
            text, rows = self.below.pop(len(row))
            if rows > 1:
                self.below[len(row)] = (text, rows - 1)
            row.append(text)

    def add_cell(self, text: str) -> None:
        """Add a cell to the row read, at each place it spans (and below, for later rows)."""
        self.fill_spanned()
        row = self.tables[-1][1][-1]
        columns, rows = self.span
        for _ in range(columns):
            if rows > 1:
                self.below[len(row)] = (text, rows - 1)
            row.append(text)
        self.fill_spanned()

    def handle_endtag(self, tag: str) -> None:
        if tag == self.reading or (tag in ("tr", "table") and self.reading in ("td", "th")):
            self.end_text()

    def handle_data(self, data: str) -> None:
        if self.text is not None:
            self.text.append(data)

    def end_text(self) -> None:
        """Keep the text being read where it belongs (a cell, a caption, a heading)."""
        if self.text is None:
            return
        text, tag = " ".join("".join(self.text).split()), self.reading
        self.text, self.reading = None, ""
        if tag in ("td", "th") and self.tables and self.tables[-1][1]:
            self.add_cell(text)
        elif tag == "caption" and self.tables:
            self.tables[-1] = (text, self.tables[-1][1])
        elif HTML_HEADING.fullmatch(tag):
            self.heading = text


def _span(value: str | None, most: int) -> int:
    """A cell's ``colspan`` or ``rowspan``: 1 unless a number, at most ``most`` (a hostile
    page's colspan of a million would fill memory)."""
    number = re.fullmatch(r"\s*(\d{1,6})\s*", value or "")
    return min(max(int(number.group(1)), 1), most) if number else 1


def _html_tables(text: str, lines: list[str]) -> list[dict[str, Any]] | None:
    """The rows of an HTML page's tables, keyed by each table's first row (its header);
    with more than one table, a field holds the title of the row's own table, named for
    what the titles name (``_title_field``)."""
    if not text.startswith("<") or not re.search(r"<table\b", text, re.IGNORECASE):
        return None
    tables = _Tables()
    tables.feed(text)
    tables.close()
    tables.end_text()  # a cut page's last cell
    found = [(title, rows) for title, rows in tables.tables if len(rows) >= 2 and rows[0]]
    records: list[dict[str, Any]] = []
    named = _title_field([title for title, _rows in found])
    for title, rows in found:
        header = rows[0]
        columns = {str(key).lower() for key in header}
        field = next((f for f in (named, "table") if f not in columns), None)  # no column's
        for cells in rows[1:]:
            row = dict(zip(header, cells, strict=False))
            if len(found) > 1 and field:
                row[field] = title
            records.append(_typed(row))
    return records or None


def _title_field(titles: list[str]) -> str:
    """The name of the field holding a row's table title: the word that every title holds
    first, or every title holds last (``Oslo office``, ``Lima office``: ``office``;
    ``Region: North``: ``region``), else ``table``. A 1.5B root asked about "the Austin
    office" looked for ``r['Office']`` in rows that called it ``table``, again and again."""
    words = [[w.strip(".,:;-()[]") for w in title.lower().split()] for title in titles]
    if len(set(titles)) < 2 or any(len(title) < 2 for title in words):
        return "table"
    for place in (0, -1):
        shared = {title[place] for title in words}
        word = shared.pop() if len(shared) == 1 else ""
        if len(word) >= 3 and word.isalpha():
            return word
    return "table"


def _xml_records(text: str, lines: list[str]) -> list[dict[str, Any]] | None:
    """The most repeated element (two or more) whose children are plain values, each its
    attributes and its children's texts (a cut or broken tail ends the reading)."""
    if not text.startswith("<"):
        return None
    parser: ET.XMLPullParser[ET.Element] = ET.XMLPullParser(events=("end",))
    rows: dict[str, list[dict[str, Any]]] = {}
    try:
        parser.feed(text)
        parser.close()
    except ET.ParseError:
        pass
    try:
        ended = cast("Iterator[tuple[str, ET.Element]]", parser.read_events())  # "end" only
        for _event, element in ended:
            row = _element_record(element)
            if row is not None:
                rows.setdefault(element.tag, []).append(row)
    except ET.ParseError:
        pass  # the elements before the error are read
    best = max(rows.values(), key=len, default=[])
    return [_typed(row) for row in best] if len(best) >= 2 else None


def _element_record(element: ET.Element) -> dict[str, Any] | None:
    """An element's attributes and plain children (None: it nests deeper, or is bare)."""
    children = list(element)
    if any(len(child) for child in children) or not (children or element.attrib):
        return None
    row: dict[str, Any] = dict(element.attrib)
    for child in children:
        text = (child.text or "").strip()
        if child.tag in row:
            held = row[child.tag]
            row[child.tag] = [*held, text] if isinstance(held, list) else [held, text]
        else:
            row[child.tag] = text
    return row


def _yaml_records(text: str, lines: list[str]) -> list[dict[str, Any]] | None:
    """A YAML list of mappings: ``- key: value`` starts an item, deeper ``key: value``
    lines continue it (nested structures are not read)."""
    if sum(YAML_ITEM.match(line) is not None for line in lines[:50]) < 2:
        return None
    rows: list[dict[str, Any]] = []
    indent: int | None = None
    for line in lines:
        item = YAML_ITEM.match(line)
        if item is not None and (indent is None or len(item.group(1)) == indent):
            indent = len(item.group(1))
            rows.append({item.group(2): _unquoted(item.group(3) or "")})
            continue
        keyed = _keyed(line)
        if rows and keyed is not None and len(line) - len(line.lstrip()) > (indent or 0):
            rows[-1][keyed[0]] = _unquoted(keyed[1])
    return [_typed(row) for row in rows] if len(rows) >= 2 else None


def _unquoted(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'" else value


def _sections(text: str, lines: list[str]) -> list[dict[str, Any]] | None:
    """Sections under the shallowest heading that repeats: each its title (``section``),
    its ``key: value`` lines, and its list items keyed by the sub-heading above them."""
    kinds = Counter(_heading(line)[0] for line in lines if HEADING.match(line))
    repeated = sorted(kind for kind, count in kinds.items() if count >= 2)
    if not repeated:
        return None
    level = repeated[0]
    rows: list[dict[str, Any]] = []
    inside, sub = False, "items"
    for line in lines:
        if HEADING.match(line):
            kind, title = _heading(line)
            if kind == level:
                rows.append({"section": title})
                inside, sub = True, "items"
            elif kind > level and inside:
                sub = title  # a sub-heading names the list items under it
            else:
                inside = False  # a shallower heading ends the sections
            continue
        if not inside:
            continue
        item = LIST_ITEM.match(line)
        keyed = None if item else _keyed(line)
        if item is not None:
            rows[-1].setdefault(sub, []).append(item.group(1))
        elif keyed is not None and keyed[1] and keyed[0] != "section":
            rows[-1][keyed[0]] = keyed[1]
    if not any(len(row) > 1 for row in rows):
        return None  # titles over prose, or "# comment" lines: no records
    return [_typed(row) for row in rows]


INSERT = re.compile(
    r"^[ \t]*INSERT\s+INTO\s+[`\"\[]?([\w.]+)[`\"\]]?\s*(?:\(([^()]*)\))?\s*VALUES\s*",
    re.IGNORECASE | re.MULTILINE,
)
SQL_VALUE = re.compile(
    r"\s*(?:'((?:[^'\\]|\\.|'')*)'|(NULL)\b|(-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)|(\w+))\s*",
    re.IGNORECASE,
)
SQL_NEXT = re.compile(r"\s*,\s*")  # between two tuples
SQL_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "0": "\0"}


def _sql_inserts(text: str, lines: list[str]) -> list[dict[str, Any]] | None:
    """The rows of a SQL dump's ``INSERT INTO t (a, b) VALUES (1, 'x'), (2, NULL);``
    statements, keyed by their column list (``field1`` ... without one); NULL is None, and
    with more than one table each row names its ``table``."""
    found = list(INSERT.finditer(text))
    if not found:
        return None
    tables = {match.group(1) for match in found}
    rows: list[dict[str, Any]] = []
    for match in found:
        names = [n.strip().strip('`"[]') for n in (match.group(2) or "").split(",") if n.strip()]
        for values in _sql_tuples(text, match.end()):
            row: dict[str, Any] = {"table": match.group(1)} if len(tables) > 1 else {}
            for position, value in enumerate(values):
                row[names[position] if position < len(names) else f"field{position + 1}"] = value
            rows.append(row)
    return [_typed(row) for row in rows] or None


def _sql_tuples(text: str, at: int) -> Iterator[list[Any]]:
    """The value tuples of one statement, from ``at`` (after VALUES) to its end."""
    while at < len(text) and text[at] == "(":
        values: list[Any] = []
        at += 1
        while True:
            token = SQL_VALUE.match(text, at)
            if token is None:
                return  # not a value: the statement is not one this reads
            quoted, null, number, word = token.groups()
            if quoted is not None:
                values.append(re.sub(r"\\(.)|''", _sql_unescaped, quoted))
            else:
                values.append(None if null else number if number is not None else word)
            at = token.end()
            if text.startswith(")", at):
                break
            if not text.startswith(",", at):
                return
            at += 1
        yield values
        rest = SQL_NEXT.match(text, at + 1)
        if rest is None:
            return  # ";" or anything else ends the statement
        at = rest.end()


def _sql_unescaped(match: re.Match[str]) -> str:
    escaped = match.group(1)
    return "'" if escaped is None else SQL_ESCAPES.get(escaped, escaped)


STANZA_START = re.compile(r"^([A-Za-z][\w-]*) (\S.*)$")  # "commit 86a1...", "From ada@x ..."
STANZA_LINES = (3, 60)  # lines of a stanza: fewer is a line record, more a document
ADDRESS = re.compile(r"^(.*\S)\s+<([^<>\s@]+@[^<>\s]+)>$")  # Kai Ito <kai@example.org>


def _stanzas(text: str, lines: list[str]) -> list[dict[str, Any]] | None:
    """Records of several lines, each begun by a line that starts with the same word as
    the text's first (``git log``'s ``commit <hash>``, an mbox's ``From ...``): the start
    line's word holds the rest of it; the unindented ``Key: value`` lines up to the first
    blank line are fields (a header of the same name wins over the start line; a
    ``Name <address>`` value is split into the name and ``<Key> address``); the rest, a
    message or a body, is the ``text`` field."""
    first = STANZA_START.match(lines[0])
    if first is None:
        return None
    word = first.group(1)
    raw = text.splitlines()
    starts = [i for i, line in enumerate(raw) if line.startswith(word + " ")]
    low, high = STANZA_LINES
    if len(starts) < 5 or not low <= len(lines) / len(starts) <= high:
        return None
    ends = [*starts[1:], len(raw)]
    rows = [_stanza(word, raw[start:end]) for start, end in zip(starts, ends, strict=True)]
    if not all(len(row) > 2 for row in rows[:20]):
        return None  # lines that begin alike, with no fields between: no stanzas
    return [_typed(row) for row in rows]


def _stanza(word: str, lines: list[str]) -> dict[str, Any]:
    """One stanza's fields (``_stanzas``): its start line, header fields and text."""
    fields: dict[str, Any] = {}
    body: list[str] = []
    blank = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    for line in lines[1:blank]:
        keyed = None if line[:1].isspace() else _keyed(line)
        if keyed is None or keyed[0] in fields:
            body.append(line)
            continue
        address = ADDRESS.match(keyed[1])
        fields[keyed[0]] = address.group(1) if address else keyed[1]
        if address:
            fields[f"{keyed[0]} address"] = address.group(2)
    start = lines[0][len(word) + 1 :].strip()
    if word in fields:
        body.insert(0, lines[0])  # the header of that name holds it better
    row = {word: start} if word not in fields else {}
    body += [line for line in lines[blank:] if line.strip()]
    return {**row, **fields, "text": "\n".join(body)}


def _heading(line: str) -> tuple[int, str]:
    """A heading line's level (an INI section's is 0) and title."""
    match = HEADING.match(line)
    assert match is not None
    if match.group(3) is not None:
        return 0, match.group(3).strip()
    return len(match.group(1)), match.group(2).strip()


def _json_records(text: str) -> list[dict[str, Any]] | None:
    try:
        whole = json.loads(text)
    except ValueError:
        pass
    else:
        found = _record_list(whole, JSON_DEPTH)
        if found is not None:
            return [Record(item) for item in found]
    rows: list[dict[str, Any]] = []
    for line in text.splitlines():
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError:
                return None
            if not isinstance(row, dict):
                return None
            rows.append(Record(row))
    return rows


def _record_list(value: Any, depth: int) -> list[dict[str, Any]] | None:
    """The records of a JSON document: the document itself when it is a list of objects,
    else the longest such list inside it (an API's ``{"data": {"items": [...]}}``), looked
    for ``depth`` levels down."""
    if isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        return value
    if depth == 0 or not isinstance(value, dict | list):
        return None
    inner = value.values() if isinstance(value, dict) else value
    found = (_record_list(item, depth - 1) for item in inner)
    return max(filter(None, found), key=len, default=None)


def _is_block(block: str) -> bool:
    """``key: value`` lines, under a title line or not (``Invoice 17`` over its fields)."""
    lines = [line for line in block.splitlines() if line.strip()]
    return (
        len(lines) > 1
        and all(_keyed(line) for line in lines[1:])
        and (len(lines) > 2 or _keyed(lines[0]) is not None)
    )


def _block_record(block: str) -> dict[str, Any]:
    lines = [line for line in block.splitlines() if line.strip()]
    title = [] if _keyed(lines[0]) else [("title", lines.pop(0).strip())]
    return _typed(dict(title + [pair for line in lines if (pair := _keyed(line))]))


def _table(lines: list[str]) -> list[dict[str, Any]] | None:
    """A delimited table whose first line is a header of names (no digits-only cell; a
    quoted cell may hold the delimiter), a Markdown table (``| a | b |`` under a rule
    line), else a table of aligned columns; the header repeated (each page of a printed
    table) makes no record."""
    if all(line.lstrip().startswith("|") for line in lines[:50]):
        lines = [line.strip().strip("|") for line in lines if not RULE_LINE.match(line)]
    for delimiter in DELIMITERS:
        names = [name.strip() for name in _cells(lines[0], delimiter)]
        if len(names) < 2 or not _header(names):
            continue
        if all(len(_cells(line, delimiter)) == len(names) for line in lines[1:50]):
            rows = (_cells(line, delimiter) for line in lines[1:])
            decimal_comma = delimiter != ","  # a ; or tab export: 12,50 is twelve and a half
            return [_typed(dict(zip(names, (c.strip() for c in cells), strict=False)),
                           decimal_comma)
                    for cells in rows if not _repeats(cells, names)]  # fmt: skip
    return _aligned_table(lines) or _columns(lines)


def _cells(line: str, delimiter: str) -> list[str]:
    """One line's cells, a quoted one holding the delimiter; a quote left open ends with
    the line (read across lines, it swallowed the rest of a text and raised csv's
    "field larger than field limit"). A cell longer than csv's limit is split plainly."""
    try:
        return next(csv.reader([line], delimiter=delimiter), [])
    except csv.Error:
        return line.split(delimiter)


def _repeats(cells: list[str], names: list[str]) -> bool:
    """A row that is the header again: a table printed over pages, or exports joined."""
    return [cell.strip() for cell in cells] == names


def _header(names: list[str]) -> bool:
    return all(n and not DATA_CELL.match(n) and ":" not in n and "=" not in n for n in names)


def _aligned_table(lines: list[str]) -> list[dict[str, Any]] | None:
    """A report's table of columns set apart by two or more spaces, under a header of three
    or more names (no digits) in one of its first lines (a title may come first). Rule
    lines are skipped, and so are lines that do not split into as many cells as the header
    (a total, a note): they are no records of the table."""
    for start, head in enumerate(lines[:ALIGNED_HEADER_LINES]):
        names = ALIGNED_GAP.split(head.strip())
        if len(names) < 3 or not _header(names) or any(c.isdigit() for c in head):
            continue  # a header is names: a line with digits is a record or a title
        body = [ALIGNED_GAP.split(line.strip()) for line in lines[start + 1 :]
                if not RULE_LINE.match(line)]  # fmt: skip
        fitting = [cells for cells in body
                   if len(cells) == len(names) and not _repeats(cells, names)]  # fmt: skip
        if len(fitting) >= max(2, 0.6 * min(len(body), 50)):
            return [_typed(dict(zip(names, cells, strict=True))) for cells in fitting]
    return None


def _columns(lines: list[str]) -> list[dict[str, Any]] | None:
    """Columns set apart by two or more spaces with no header (a ledger, a bank
    statement): ``field1``, ``field2`` ... by place, when all but one in ten (at least
    one) of the first lines split into the same number (three or more) of cells; lines
    that do not (a total, a note) are no records of it. Lines split by ``|`` or tabs
    are left to _line_record."""
    head = lines[:50]
    if any(all(d in line for line in head) for d in DELIMITERS[:2]):
        return None
    counts = Counter(len(ALIGNED_GAP.split(line.strip())) for line in head)
    width, fitting = counts.most_common(1)[0]
    if width < 3 or fitting < max(2, len(head) - max(1, len(head) // 10)):
        return None
    rows = (ALIGNED_GAP.split(line.strip()) for line in lines)
    return [_typed({f"field{place}": cell for place, cell in enumerate(cells, 1)})
            for cells in rows if len(cells) == width]  # fmt: skip


def _line_record(line: str) -> dict[str, Any]:
    """One line of fields: ``key=value`` pairs (log lines), else ``|``/tab/``,`` fields."""
    pairs = PAIR.findall(line)
    if len(pairs) >= 2:
        return _typed({key: value.strip("\"'") for key, value in pairs})
    between = AMOUNT_COMMAS.sub("", line) if "," in line else line  # 1,217.78 ends no field
    delimiter = next((d for d in DELIMITERS if d in between), None)
    fields = line.split(delimiter) if delimiter else [line]
    row: dict[str, Any] = {}
    for position, field in enumerate(fields, 1):
        keyed = _keyed(field) or _pair(NAMED_NUMBER.match(field))
        if keyed and keyed[1]:
            row[keyed[0]] = keyed[1]
        else:
            row[f"field{position}"] = field.strip()
    return _typed(row)


def _keyed(text: str) -> tuple[str, str] | None:
    """``key: value`` or ``key=value`` (spaces around them ignored), else None."""
    return _pair(KEYED.match(text.strip()))


def _pair(match: re.Match[str] | None) -> tuple[str, str] | None:
    return (match.group(1).strip(), match.group(2).strip()) if match else None


def _typed(row: dict[str, Any], decimal_comma: bool = False) -> Record:
    return Record((key, _number(value, decimal_comma)) for key, value in row.items())


def _number(value: Any, decimal_comma: bool = False) -> Any:
    """``value`` as an int or a float when it is a number; ``decimal_comma``: a table not
    split at commas, where ``1.234,56`` and ``12,5`` are numbers (one or two decimals:
    ``1,234`` is read as a thousands separator, as anywhere)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if decimal_comma and DECIMAL_COMMA.fullmatch(text):
        return float(text.replace(".", "").replace(",", "."))
    if PLAIN_NUMBER.fullmatch(text):  # the common case first: a table's every cell
        return float(text) if "." in text else int(text)
    amount = AMOUNT.fullmatch(text)  # 1,234.50, $1,217.78, -$12, +1,790.72 EUR
    return _signed(amount) if amount and not re.match(r"\+0\d", text) else text


def numbers_in(text: str) -> list[int | float]:
    """The numbers written in ``text`` (a line, a sentence), in order, as ints or floats:
    amounts with their sign, thousands separators and currency (``+1,790.72 EUR`` is
    1790.72) and quantities with a unit (``45ms``), but no part of a date, a time, a
    version, an address or a code (``07.01.2026``, ``12:30``, ``TX-100166``, ``#12``).
    A 1.5B root adding up the amounts of lines in words split them at spaces, or wrote a
    pattern without the thousands separator (``+1,790.72`` read as 1)."""
    if not isinstance(text, str):
        raise TypeError(
            f"numbers_in reads one str (a line), not a {type(text).__name__}: for a list of "
            "lines, call it on each (numbers_in(l) for l in lines)"
        )
    return [_signed(found) for found in IN_WORDS.finditer(text)]


def _signed(found: re.Match[str]) -> int | float:
    """The number an AMOUNT or IN_WORDS match reads: its digits, negative for a minus sign
    before or after a currency symbol."""
    digits = found.group(3).replace(",", "")
    value = float(digits) if "." in digits else int(digits)
    return -value if {found.group(1), found.group(2)} & {"-", "\u2212"} else value
