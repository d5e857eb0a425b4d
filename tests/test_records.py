"""``parse_records``: every common layout read into dicts, in the REPL of every sandbox."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from test_aggregate import parse

from rlmx.eval.aggregate import FORMATS, aggregate_item
from rlmx.repl.context import prepare_context
from rlmx.repl.records import numbers_in, parse_records
from rlmx.repl.sandbox import Sandbox

from conftest import ISOLATED_MODES


async def no_calls(name: str, arguments: dict[str, Any]) -> Any:
    raise AssertionError(f"no host call expected, got {name}")


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_aggregate_format_reads_back_to_its_records(fmt: str) -> None:
    item = next(aggregate_item(1250, s) for s in range(5) if s % 5 == FORMATS.index(fmt))
    rows = parse_records(item.context)
    truth = parse(item.context, fmt)
    assert len(rows) == len(truth) == item.meta["records"]
    for row, record in zip(rows, truth, strict=True):
        assert row["salary"] == record.salary and row["dept"] == record.dept
        assert row["city"] == record.city
        assert record.name in row.values()  # keyed "name", or by position in pipe lines
        assert (row.get("id") or row.get("ID")) == record.id


@pytest.mark.parametrize(
    ("text", "rows"),
    [
        ("a,b\n1,x y\n2.5,z\n", [{"a": 1, "b": "x y"}, {"a": 2.5, "b": "z"}]),
        ("a\tb\n1\t2\n", [{"a": 1, "b": 2}]),
        ("1001,Ada,7\n1002,Ben,8\n", [{"field1": 1001, "field2": "Ada", "field3": 7},
                                     {"field1": 1002, "field2": "Ben", "field3": 8}]),
        ('id,name,n\n1,"Lind, Ada",3\n2,"Ito, Ben",4\n',  # a quoted cell holds a comma
         [{"id": 1, "name": "Lind, Ada", "n": 3}, {"id": 2, "name": "Ito, Ben", "n": 4}]),
        ("| id | city |\n|---:|:---|\n| 1 | Oslo |\n| 2 | Lima |\n",  # Markdown
         [{"id": 1, "city": "Oslo"}, {"id": 2, "city": "Lima"}]),
        ('[{"a": 1}, {"a": "x"}]', [{"a": 1}, {"a": "x"}]),
        ('{"meta": {"n": 2}, "data": {"items": [{"a": 1}, {"a": 2}], "tags": [{"t": 0}]}}',
         [{"a": 1}, {"a": 2}]),  # an API's wrapper: the longest list of objects in it
        ('{"a": 1}\n{"a": 2}\n', [{"a": 1}, {"a": 2}]),
        ('t=1 msg="two words" ok=yes\nt=2 msg=x\n', [{"t": 1, "msg": "two words", "ok": "yes"},
                                                     {"t": 2, "msg": "x"}]),
        ("name: A\nage: 3\n\nname: B\nage: 4\n", [{"name": "A", "age": 3},
                                                 {"name": "B", "age": 4}]),
        ("x | k: v | n: -2\n", [{"field1": "x", "k": "v", "n": -2}]),
        ("ID 7 | Ada Lind | dept: X\n", [{"ID": 7, "field2": "Ada Lind", "dept": "X"}]),
        ("", []),
        ("Just prose.\n", [{"field1": "Just prose."}]),
    ],
)  # fmt: skip
def test_layouts(text: str, rows: list[dict]) -> None:
    assert parse_records(text) == rows


ORDERS = [{"id": 1000 + i, "date": f"2024-0{1 + i % 9}-{10 + i % 19}",
           "customer": f"{('Ada', 'Ben', 'Cleo')[i % 3]} {('Moreno', 'Lind')[i % 2]}",
           "city": ("Oslo", "Lima", "Kyoto")[i % 3], "amount": round(5 + i * 37.31, 2),
           "status": ("paid", "refunded", "pending")[i % 3]} for i in range(60)]  # fmt: skip
KEYS = list(ORDERS[0])


def _joined(sep: str, header: bool = True, amount: str = "{:.2f}") -> str:
    lines = [sep.join(KEYS)] if header else []
    return "\n".join(lines + [sep.join(amount.format(o[k]) if k == "amount" else str(o[k])
                                        for k in KEYS) for o in ORDERS])  # fmt: skip


def _aligned(header: bool) -> str:
    width = {k: 2 + max(len(k), *(len(str(o[k])) for o in ORDERS)) for k in KEYS}
    lines = ["".join(k.upper().ljust(width[k]) for k in KEYS)] if header else []
    return "\n".join(lines + ["".join(str(o[k]).ljust(width[k]) for k in KEYS) for o in ORDERS])


ORDER_LAYOUTS = {  # the same orders as an export, a report, a page or a log would write them
    "csv": _joined(","),
    "tsv": _joined("\t"),
    "semicolon, decimal comma": _joined(";", amount="{:.2f}").replace(".", ","),
    "csv, no header": _joined(",", header=False),
    "pipes, no header, $ amounts": _joined(" | ", header=False, amount="${:,.2f}"),
    "tsv, signed amounts in EUR": _joined("\t", amount="+{:,.2f} EUR"),
    "tsv, amounts after their code": _joined("\t", amount="USD {:,.2f}"),
    "json lines": "\n".join(json.dumps(o) for o in ORDERS),
    "json list": json.dumps(ORDERS, indent=2),
    "logfmt": "\n".join(f'ts={o["date"]} level=info id={o["id"]} customer="{o["customer"]}" '
                        f'amount={o["amount"]} status={o["status"]}' for o in ORDERS),
    "key: value blocks": "\n\n".join("\n".join(f"{k}: {o[k]}" for k in KEYS) for o in ORDERS),
    "titled blocks": "\n\n".join(f"Order #{o['id']}\n" + "\n".join(
        f"  {k.title()}: {o[k]}" for k in KEYS[1:]) for o in ORDERS),
    "aligned, header": _aligned(header=True),
    "aligned, no header": _aligned(header=False),
    "markdown": "\n".join(["| " + " | ".join(KEYS) + " |", "|---" * len(KEYS) + "|"]
                          + ["| " + " | ".join(str(o[k]) for k in KEYS) + " |" for o in ORDERS]),
    "html": "<h2>Orders</h2><table><thead><tr>" + "".join(f"<th>{k}</th>" for k in KEYS)
            + "</tr></thead>" + "".join("<tr>" + "".join(f"<td>{o[k]}</td>" for k in KEYS)
                                        + "</tr>" for o in ORDERS) + "</table>",
    "yaml": "\n".join("\n".join(f"{'- ' if k == 'id' else '  '}{k}: {o[k]}" for k in KEYS)
                      for o in ORDERS),
    "xml": "<orders>" + "".join("<order>" + "".join(f"<{k}>{o[k]}</{k}>" for k in KEYS)
                                + "</order>" for o in ORDERS) + "</orders>",
}  # fmt: skip  # lines written in words (sentences, syslog, a chat) are not read as fields


@pytest.mark.parametrize("layout", ORDER_LAYOUTS)
def test_one_set_of_orders_reads_back_from_every_layout(layout: str) -> None:
    """Each record holds its customer's name and its amount as a number, whatever the
    field is called (a header's name, or ``field3`` by place)."""
    rows = parse_records(ORDER_LAYOUTS[layout])
    assert len(rows) == len(ORDERS), layout
    for row, order in zip(rows, ORDERS, strict=True):
        assert order["customer"] in row.values()
        assert any(isinstance(v, float) and abs(v - order["amount"]) < 0.005
                   for v in row.values())  # fmt: skip


XML = """<?xml version="1.0"?>
<catalog>
  <book id="bk1"><author>Ada Lind</author><year>1999</year><tag>a</tag><tag>b</tag></book>
  <book id="bk2"><author>Ben Ito</author><year>2004</year></book>
  <shelf name="top"/>
</catalog>"""


def test_xml_yaml_and_sectioned_texts_read_as_records() -> None:
    books = parse_records(XML)
    assert books == [{"id": "bk1", "author": "Ada Lind", "year": 1999, "tag": ["a", "b"]},
                     {"id": "bk2", "author": "Ben Ito", "year": 2004}]  # fmt: skip
    cut = XML.replace("</catalog>", "").replace('  <shelf name="top"/>\n', "") + "<book id="
    assert [b["id"] for b in parse_records(cut)] == ["bk1", "bk2"]  # a cut tail: the rest read
    yaml = "staff:\n  - id: E1\n    name: 'Ada Lind'\n    team: data\n  - id: E2\n    team: web\n"
    assert parse_records(yaml) == [{"id": "E1", "name": "Ada Lind", "team": "data"},
                                   {"id": "E2", "team": "web"}]  # fmt: skip
    notes = (
        "# Notes\n\n## Project A\n\nOwner: Ada\nSome prose.\n\n### Open tasks\n- [ ] one\n"
        "- [ ] two\n\n## Project B\nOwner: Ben\n* loose item\n"
    )
    assert parse_records(notes) == [
        {"section": "Project A", "Owner": "Ada", "Open tasks": ["[ ] one", "[ ] two"]},
        {"section": "Project B", "Owner": "Ben", "items": ["loose item"]},
    ]  # the one "# Notes" heading is the document's title, not a section
    commented = "# exported\n# by hand\nid,name\n1,Ada\n2,Ben\n"
    assert parse_records(commented)[0] == {"field1": "# exported"}  # comments, no sections
    ini = "[web]\nport = 8080\nenabled = true\n\n[db]\nport=5432\n"
    assert parse_records(ini) == [{"section": "web", "port": 8080, "enabled": "true"},
                                  {"section": "db", "port": 5432}]  # fmt: skip


def test_an_html_pages_tables_read_as_records_keyed_by_their_header_rows() -> None:
    page = (
        "<!DOCTYPE html><html><body><h2>Staff &amp; teams</h2><table><thead><tr><th>Name</th>"
        "<th>Age</th></tr></thead><tbody><tr><td><a href='/a'>Ada <b>Lind</b></a></td>"
        "<td>41</td></tr><tr><td>Ben</td><td>7.5</td></tr></tbody></table><h2>Ignored</h2>"
        "<table><caption>Rooms</caption><tr><th>Room</th><th>Seats</th></tr>"
        "<tr><td>A1</td><td>12</td></tr></table><p>a <br> b</p></body></html>"
    )
    assert parse_records(page) == [
        {"Name": "Ada Lind", "Age": 41, "table": "Staff & teams"},
        {"Name": "Ben", "Age": 7.5, "table": "Staff & teams"},
        {"Room": "A1", "Seats": 12, "table": "Rooms"},  # a caption names its table
    ]
    loose = "<table><tr><th>a<th>b<tr><td>x <b>y</b><td>5<tr><td>cut"  # end tags left out
    assert parse_records(loose) == [{"a": "x y", "b": 5}, {"a": "cut"}]
    spans = (
        "<table><tr><th>Region</th><th>City</th><th colspan='2'>Sales</th></tr>"
        "<tr><td rowspan=3>North</td><td>Oslo</td><td>3</td><td>4</td></tr>"
        "<tr><td>Bergen</td><td colspan=2>5</td></tr><tr><td rowspan='2'>Tromsø</td>"
        "<td>6</td><td>1</td></tr><tr><td>South</td><td>7</td><td>2</td></tr></table>"
    )
    assert [list(r.values()) for r in parse_records(spans)] == [
        ["North", "Oslo", 4],
        ["North", "Bergen", 5],
        ["North", "Tromsø", 1],
        ["South", "Tromsø", 2],
    ]  # each cell under its header (Sales twice: the last kept)
    hostile = (
        "<table><tr><th colspan=999999>a</th><th>b</th></tr><tr><td colspan=64>x</td>"
        "<td rowspan=x>2</td></tr><tr><td colspan=99999999999999>y</td></tr></table>"
    )
    assert parse_records(hostile) == [{"a": "x", "b": 2}, {"a": "y"}]  # spans capped at 64
    offices = "".join(f"<h2>{city} office</h2><table><tr><th>Units</th></tr><tr><td>{n}</td>"
                      "</tr></table>" for city, n in (("Oslo", 3), ("Lima", 4)))  # fmt: skip
    assert parse_records(offices) == [{"Units": 3, "office": "Oslo office"},
                                      {"Units": 4, "office": "Lima office"}]  # fmt: skip
    regions = offices.replace("<h2>", "<h2>Region: ").replace(" office</h2>", "</h2>")
    assert [r["region"] for r in parse_records(regions)] == ["Region: Oslo", "Region: Lima"]
    columned = offices.replace("<th>Units</th>", "<th>Office</th><th>Units</th>")
    assert [r["table"] for r in parse_records(columned)] == ["Oslo office", "Lima office"]
    quarters = offices.replace("Oslo office", "Q1 2026").replace("Lima office", "Q2 2026")
    assert [r["table"] for r in parse_records(quarters)] == ["Q1 2026", "Q2 2026"]  # no word
    one = "<table><tr><th>k</th><th>v</th></tr><tr><td>a</td><td>1</td></tr></table>"
    assert parse_records(one) == [{"k": "a", "v": 1}]  # one table: no title field
    assert parse_records("<table><tr><td>only a header</td></tr></table>") == [
        {"field1": "<table><tr><td>only a header</td></tr></table>"}
    ]  # no row under the header: not records, read as a line


def test_a_reports_aligned_columns_read_as_records_under_their_header() -> None:
    report = (
        "PAYROLL REPORT  March\nPrepared by finance\n\n"
        "Employee   Name          Dept       Hours      Gross\n"
        "---------  ------------  ---------  -----  ---------\n"
        "E-1001     Ada Lind      Sales      160.5   4,210.00\n"
        "E-1002     Ben Ito       Support      152  -1,980.50\n"
        "                                    TOTAL   2,229.50\n"
    )
    assert parse_records(report) == [
        {"Employee": "E-1001", "Name": "Ada Lind", "Dept": "Sales", "Hours": 160.5,
         "Gross": 4210.0},
        {"Employee": "E-1002", "Name": "Ben Ito", "Dept": "Support", "Hours": 152,
         "Gross": -1980.5},
    ]  # fmt: skip  # the title, the rule and the total are no records
    headerless = "INV-1  2024-01-01  Ada Lind  paid\nINV-2  2024-01-02  Ben Ito  open\n"
    assert "INV-1" not in parse_records(headerless)[0]  # a line of values is no header
    prose = "One.  Two words here.  Three.\nMore prose.  And more.\n"
    assert parse_records(prose) == [{"field1": "One.  Two words here.  Three."},
                                     {"field1": "More prose.  And more."}]  # fmt: skip


def test_columns_with_no_header_read_as_fields_by_place() -> None:
    """A cash book or bank statement printed without a header: its first line is values
    (a date, an amount), never names; its total line is no record; a dollar amount with
    thousands commas is a number, and those commas split no fields."""
    book = (
        "2026-01-04  V60000  Pylon Hardware     office    $2,831.95\n"
        "2026-01-08  V60004  Lumen Books        books       -$24.40\n"
        "2026-01-09  V60007  Harbor Fuel        fuel        $913.00\n"
        "                                       TOTAL     $3,720.55\n"
    )
    assert parse_records(book) == [
        {"field1": "2026-01-04", "field2": "V60000", "field3": "Pylon Hardware",
         "field4": "office", "field5": 2831.95},
        {"field1": "2026-01-08", "field2": "V60004", "field3": "Lumen Books",
         "field4": "books", "field5": -24.4},
        {"field1": "2026-01-09", "field2": "V60007", "field3": "Harbor Fuel",
         "field4": "fuel", "field5": 913.0},
    ]  # fmt: skip
    piped = "2024-07-23 | Ada Lind | 1,217.78\n2024-07-24 | Ben Ito | 80.00\n"
    assert parse_records(piped)[0] == {"field1": "2024-07-23", "field2": "Ada Lind",
                                       "field3": 1217.78}  # fmt: skip
    words = "01.02 Card payment to Nordic Bakery -2,040.27 EUR\n"
    assert parse_records(words * 3)[0] == {"field1": words.strip()}  # no comma field
    assert parse_records("a,b,c\n100,200,300\n")[0] == {"a": 100, "b": 200, "c": 300}


def test_a_semicolon_or_tab_exports_decimal_commas_are_numbers() -> None:
    """A European spreadsheet's export: ; between cells, a comma before the decimals."""
    rows = parse_records("name;amount;rate\nAda;1.234,56;12,5\nBen;-3,00;7\n")
    assert rows == [{"name": "Ada", "amount": 1234.56, "rate": 12.5},
                    {"name": "Ben", "amount": -3.0, "rate": 7}]  # fmt: skip
    assert parse_records("a\tb\n12,50\t1.5\n") == [{"a": 12.5, "b": 1.5}]
    assert parse_records('a,b\n"12,5",3\n') == [{"a": "12,5", "b": 3}]  # a CSV: text


def test_key_value_blocks_under_a_title_line_read_as_records() -> None:
    text = "\n\n".join(
        f"Invoice INV-{i}\n  Client: Lumen Books\n  Total: €{i},204.50" for i in range(1, 4)
    )
    assert parse_records(text)[1] == {"title": "Invoice INV-2", "Client": "Lumen Books",
                                      "Total": 2204.5}  # fmt: skip
    prose = "A heading\nNote: one line under it\n\nAnother\nSee: this"
    assert "title" not in parse_records(prose)[0]  # one keyed line under a title: no block


def test_a_sql_dumps_insert_statements_read_as_rows() -> None:
    dump = (
        "-- MySQL dump\nCREATE TABLE `accounts` (\n  `id` int,\n  `owner` varchar(80)\n);\n"
        "INSERT INTO `accounts` (`id`, `owner`, `fee`) VALUES\n(1, 'O''Brien', 12.50),\n"
        "(2, 'Lind, Ada', NULL);\nINSERT INTO `accounts` (`id`, `owner`, `fee`) VALUES "
        "(3, 'it\\'s', -4);\n"
    )
    assert parse_records(dump) == [
        {"id": 1, "owner": "O'Brien", "fee": 12.5},
        {"id": 2, "owner": "Lind, Ada", "fee": None},  # a comma inside quotes, NULL
        {"id": 3, "owner": "it's", "fee": -4},
    ]
    two = "INSERT INTO a VALUES (1, 'x');\nINSERT INTO b VALUES (2);"  # no column lists
    assert parse_records(two) == [{"table": "a", "field1": 1, "field2": "x"},
                                  {"table": "b", "field1": 2}]  # fmt: skip
    assert parse_records("INSERT INTO a VALUES (1, 'open") == []  # cut short: no row


def test_records_of_several_lines_begun_alike_read_as_stanzas() -> None:
    """``git log``: a ``commit <hash>`` line begins each record; its ``Key: value`` lines
    are fields (a ``Name <address>`` split in two), the rest its text."""
    log = "\n\n".join(
        f"commit {0xABC0 + i:040x}\nAuthor: {name} <{name.split()[0].lower()}@example.org>\n"
        f"Date:   Mon Mar {i + 1} 10:00:00 2026 +0100\n\n    Fix parser {i}\n\n"
        f" src/parser.py | {i + 3} +++\n 1 file changed, {i + 3} insertions(+)"
        for i, name in enumerate(["Ada Moreno", "Kai Ito"] * 3)
    )
    rows = parse_records(log)
    assert len(rows) == 6 and rows[1]["commit"] == f"{0xABC1:040x}"
    assert rows[1]["Author"] == "Kai Ito" and rows[1]["Author address"] == "kai@example.org"
    assert rows[1]["Date"] == "Mon Mar 2 10:00:00 2026 +0100"
    assert rows[1]["text"].splitlines()[0] == "Fix parser 1" and "4 insertions" in rows[1]["text"]
    mbox = "\n\n".join(
        f"From ada@example.org Mon Mar {i} 10:00:00 2026\nFrom: Ada Lind <ada@example.org>\n"
        f"Subject: Disk {i} full\n\nThe disk is full.\nNote: a body line, not a field."
        for i in range(1, 7)
    )
    mail = parse_records(mbox)[2]
    assert mail["From"] == "Ada Lind" and mail["Subject"] == "Disk 3 full"  # the header wins
    assert mail["text"].splitlines() == [
        "From ada@example.org Mon Mar 3 10:00:00 2026",
        "The disk is full.",
        "Note: a body line, not a field.",
    ]
    alike = "\n".join(f"Apr {i} sshd: Failed for ada" for i in range(1, 30))
    assert "Apr" not in parse_records(alike)[0]  # every line begun alike: line records
    prose = "\n".join(f"Note {i}\nplain words here\nand more" for i in range(9))
    assert all("text" not in row for row in parse_records(prose))  # no fields: no stanzas


def test_a_field_of_other_records_read_is_named_with_the_field_to_join_on() -> None:
    parse_records("sku,category\nK-1,toys\nK-2,garden\n")
    sales = parse_records("sku,quantity\nK-1,3\nK-2,5\n")
    with pytest.raises(KeyError) as missing:
        sales[0]["category"]
    assert "'category' is a field of other records you read" in str(missing.value)
    assert "keyed by 'sku', and look each of these records up in it by its 'sku'" in str(
        missing.value
    )
    with pytest.raises(KeyError) as nowhere:
        sales[0]["colour"]
    assert "other records" not in str(nowhere.value)


def test_a_quote_left_open_ends_with_its_line() -> None:
    """Read across lines, it swallowed the rest of the text and csv raised "field larger
    than field limit" from parse_records and the profile."""
    text = 'name,note\n"Ada, said hi\n' + "Ben,ok\n" * 30_000
    rows = parse_records(text)
    assert len(rows) == 30_002 and rows[-1] == {"field1": "Ben", "field2": "ok"}


def test_records_that_name_others_by_a_field_of_another_name_are_told_how_to_join() -> None:
    """Only the values tell: the loans' ``book`` holds the catalog's ``id`` (a 1.5B root
    asked each loan for its genre); plain numbers of different names never join."""
    parse_records('[{"id": "B1", "genre": "crime"}, {"id": "B2", "genre": "poetry"}]')
    loans = parse_records("book=B2 days=4\nbook=B1 days=9\n")
    with pytest.raises(KeyError) as missing:
        loans[0]["genre"]
    assert "their 'id' names the record that this record's 'book' names" in str(missing.value)
    parse_records("shelf,genre\n4,crime\n9,poetry\n")
    with pytest.raises(KeyError) as numbers:
        parse_records("days,member\n4,Ada\n9,Ben\n")[0]["genre"]
    assert "other records" not in str(numbers.value)


def test_a_guessed_field_name_is_forgiven_only_when_it_is_unambiguous() -> None:
    row = parse_records("ID 7 | Ada Lind | dept: X | salary: 5 | qty: 2 | date: d | day: 3\n")[0]
    assert (row["department"], row["sal"], row["quantity"], row["id"]) == ("X", 5, 2, 7)
    with pytest.raises(KeyError) as missing:
        row["name"]
    assert str(missing.value) == (  # the record itself: field2 is seen to hold the name
        "\"no field 'name'; its only unlabelled value, 'Ada Lind', is 'field2'; this record "
        "is {'ID': 7, 'field2': 'Ada Lind', 'dept': 'X', 'salary': 5, 'qty': 2, 'date': 'd', "
        "'day': 3}: use one of its keys (each dict is one record: count records with len() or "
        'collections.Counter)"'
    )
    wide = parse_records(",".join(f"k{i}={'v' * 20}" for i in range(40)) + "\n")[0]
    with pytest.raises(KeyError, match=r"this record is \{'k0': 'v{20}', .{200,} \.\.\.\}: use"):
        wide["absent"]
    with pytest.raises(KeyError, match="no field 'title'; this record is"):  # all labelled
        parse_records("name: Ada | city: Oslo\n")[0]["title"]
    with pytest.raises(KeyError, match="no field 'dy'"):  # too short to be an abbreviation
        row["dy"]
    with pytest.raises(KeyError, match="no field 'dte'"):  # date and dote alike: a tie
        parse_records("date: 1 | dote: 2 | x: 3\n")[0]["dte"]
    assert row.get("department") is None and json.loads(json.dumps(row)) == row


def test_a_non_string_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match="reads a str"):
        parse_records(["a"])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"a dict \(of files\?\).*parse_records\(context\[path\]\)"):
        parse_records({"a.py": "x = 1"})  # type: ignore[arg-type]


@pytest.mark.parametrize("mode", ISOLATED_MODES)
def test_parse_records_is_in_the_repl(mode: str, tmp_path: Path) -> None:
    item = aggregate_item(1250, 2)  # JSON lines

    async def main() -> str:
        box = Sandbox(mode)
        try:
            await box.start(prepare_context(item.context, tmp_path), no_calls, [])
            code = (
                "rows = parse_records(context)\nprint(len(rows), rows[0]['salary'], "
                "numbers_in('-$1,250.50 on 2026-03-01'))"
            )
            return (await box.execute(code, 30, 5000)).output.strip()
        finally:
            await box.close()

    first = json.loads(item.context.splitlines()[0])
    assert asyncio.run(main()) == f"{item.meta['records']} {first['salary']} [-1250.5]"


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("07.01.2026 Transfer from Ben Okafor ref TX-100166 +1,790.72 EUR", [1790.72]),
        ("21.01.2026 Card payment to Fjord Taxi ref TX-100002 -344.93 EUR", [-344.93]),
        ("2026-03-01T12:30:01Z took 45ms, sent 1,234 bytes to 10.0.0.1 (v2.1) #12", [45, 1234]),
        ("paid $1,234.56, then -$12 and €5 (3.5% of 12).", [1234.56, -12, 5, 3.5, 12]),
        ("USD 1,200.00 on 1/7/2026 at 09:15; commit 8602dd6b05", [1200.0]),
        (" 12 files changed, 993 insertions(+), 40 deletions(-)", [12, 993, 40]),
        ("a list 3,4,5, a range 12-15, a phone 0049 30 and 1234567890123456789012345", [49, 30]),
        ("−7.25 with a minus sign", [-7.25]),
        ("no number here", []),
    ],
)  # fmt: skip
def test_numbers_in_reads_amounts_among_words_but_no_dates_times_or_codes(
    text: str, found: list[int | float]
) -> None:
    assert numbers_in(text) == found
    assert [type(n) for n in numbers_in(text)] == [type(n) for n in found]  # 1200.0: a float


def test_numbers_in_of_no_str_is_a_clear_error() -> None:
    with pytest.raises(TypeError, match=r"reads one str.*not a list.*numbers_in\(l\) for l"):
        numbers_in(["paid 12 EUR"])  # type: ignore[arg-type]


def test_a_field_holding_an_amount_with_its_sign_or_currency_is_a_number() -> None:
    rows = parse_records("id\tamount\tzone\n1\t+1,790.72 EUR\t+0100\n2\t-$12\t+0200\n"
                         "3\tGBP 7.50\t+0100\n4\t12 items\t+0100\n")  # fmt: skip
    assert [r["amount"] for r in rows] == [1790.72, -12, 7.5, "12 items"]
    assert [r["zone"] for r in rows] == ["+0100", "+0200", "+0100", "+0100"]  # no offset's sum


def test_reading_numbers_is_linear_on_hostile_runs() -> None:
    """Runs of digits, commas and signs as long as a line may be: each is read in one pass
    (no regex backtracking that grows with the run), and a run past an int's length is no
    number (int() refuses more than 4,300 digits)."""
    for run in ("1," * 200_000, "1" * 200_000, "-" * 200_000 + "1", "1." * 200_000,
                "1,000" * 50_000 + ".5", "$" * 100_000 + "1"):  # fmt: skip
        assert numbers_in(run) == [] or run.startswith(("-", "$"))
        assert parse_records(f"id\tamount\n1\t{run[:5000]}\n2\t3\n")[1]["amount"] == 3


def test_access_logs_read_as_fields() -> None:
    combined = ('203.0.113.9 - alice [12/Mar/2024:10:00:01 +0000] "GET /api/users?id=3 HTTP/1.1" '
                '503 1042 "https://example.org/" "Mozilla/5.0 (X11; Linux x86_64)"')  # fmt: skip
    common = '10.0.0.7 - - [12/Mar/2024:10:00:02 +0000] "POST /login HTTP/1.0" 302 -'
    rows = parse_records("\n".join([combined, common] * 3))
    assert len(rows) == 6
    first, second = rows[0], rows[1]
    assert (first["ip"], first["method"], first["path"], first["status"], first["bytes"]) == (
        "203.0.113.9", "GET", "/api/users?id=3", 503, 1042)  # fmt: skip
    assert first["agent"].startswith("Mozilla") and first["user"] == "alice"
    assert (second["status"], second["bytes"], second["protocol"]) == (302, 0, "HTTP/1.0")
    assert "agent" not in second  # the Common Log Format has no referer or agent
    with_noise = parse_records("\n".join([combined] * 20 + ["-- log rotated --"]))
    assert with_noise[-1] == {"field1": "-- log rotated --"}
