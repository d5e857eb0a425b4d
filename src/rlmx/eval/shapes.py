"""Questions over data of many shapes, with exact truth: the generality benchmark.

The aggregate task measures the record formats the worked dialogues were tuned on. These
shapes are what a user brings instead: a CSV export, a web server's access log, a JSON
dump, a folder of Python sources, Markdown notes, an INI config, an sshd auth log, a YAML
staff list, an XML catalog, two files to join, an HTML invoice page, an aligned payroll
report, a library's catalog and loan log joined on a key named otherwise in each, a
CRM's CSV export with quoted cells, a shipping manifest printed as a PDF, a ``git log
--stat``, a SQL dump, a bank statement in plain text, an IRC channel's log and a service's
event log in sentences, a cash book, invoice blocks, support tickets joined to agents, a
call transcript, and a sales report page with a table per office (the **tune** half,
which rlmx may be tuned on; all but the first eight were added after the held-out half's
first reports, to tune on more than six formats; the PDF is the issue's "tables inside
PDFs", which neither half had; the bank statement, IRC log, event log and call transcript
are lines of free text with no delimiter, which the others lacked), and a TSV
inventory, an application log, a chat transcript, HTML pages with tables, an invoice
ledger, and two files to join (the **held-out** half, which it must never be tuned on:
report it, do not read its failures to write prompts).

Each shape makes a context of about the item's length and asks one question of a kind it
has (locate, count with a filter, sum, min/max with its record, top-1, distinct, join);
the seed picks the kind. Truth is computed from the generated records, so it is exact;
a question whose answer ties is drawn again, and so is one whose answer is a number that
rlmx's own prompts hold (a worked example's value must never be right by accident).
Folder-like shapes (the code tree, the joins) are dict contexts of path -> text, which is
what a folder context is; the PDF's context is the file's path (printed once into rlmx's
cache by fpdf2, a development dependency).
"""

from __future__ import annotations

import functools
import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..lm.registry import cache_root
from .items import EvalItem, TokenCounter, estimate_tokens

CITIES = ("Oslo", "Lima", "Porto", "Kyoto", "Austin", "Nairobi", "Dublin", "Hanoi", "Quito")
NAMES = (
    "Ada Moreno",
    "Ben Okafor",
    "Cleo Lind",
    "Dara Tanaka",
    "Eli Silva",
    "Fay Novak",
    "Gus Haddad",
    "Hana Kowal",
    "Ivo Ferreira",
    "Jun Brandt",
    "Kai Ito",
    "Lena Quinn",
    "Milo Duarte",
    "Nia Weiss",
    "Omar Osei",
    "Pia Marin",
)
WORDS = (
    "alpha bravo cedar delta ember fjord garnet harbor indigo juniper kestrel lumen "
    "meadow nimbus orchid pylon quartz raven saffron tundra umber vessel willow "
    "zephyr"
).split()


@dataclass(frozen=True)
class Question:
    kind: str
    text: str
    gold: int | float | str | None  # None: tied in this draw (the item is drawn again)


Made = tuple[Any, list[Question]]  # a context and the questions it can answer


def _unique_top(counter: Counter[Any]) -> Any | None:
    """The most common key, or None on a tie."""
    ranked = counter.most_common(2)
    if not ranked or (len(ranked) == 2 and ranked[0][1] == ranked[1][1]):
        return None
    return ranked[0][0]


def _unique_extreme(rows: list[Any], key: Callable[[Any], Any], largest: bool) -> Any | None:
    """The row with the largest (or smallest) key, or None on a tie."""
    best = max(rows, key=key) if largest else min(rows, key=key)
    return best if sum(key(r) == key(best) for r in rows) == 1 else None


def _money(cents: int) -> float:
    return round(cents / 100, 2)


# -- the tune half ----------------------------------------------------------------------------
def csv_orders(rng: random.Random, n: int) -> Made:
    statuses = ("shipped", "pending", "cancelled", "returned")
    rows = [
        (
            70_001 + i,
            rng.choice(NAMES),
            rng.choice(CITIES),
            rng.choice(statuses),
            rng.randrange(500, 90_000),
        )
        for i in range(n)
    ]
    lines = ["order_id,customer,city,status,amount"]
    lines += [f"{o},{c},{city},{s},{_money(a):.2f}" for o, c, city, s, a in rows]
    city, status = rng.choice(CITIES), rng.choice(statuses)
    picked = [r for r in rows if r[2] == city and r[3] == status]
    top = _unique_top(Counter(r[1] for r in rows if r[3] == "cancelled"))
    questions = [
        Question("count", f"How many orders to {city} have status {status}?", len(picked)),
        Question(
            "sum",
            f"What is the total amount of the {status} orders to {city}? Answer with the number.",
            _money(sum(r[4] for r in picked)),
        ),
    ]
    questions.append(Question("top", "Which customer has the most cancelled orders?", top))
    return "\n".join(lines) + "\n", questions


def access_log(rng: random.Random, n: int) -> Made:
    paths = [
        "/api/users",
        "/api/orders",
        "/api/search",
        "/static/app.js",
        "/static/site.css",
        "/index.html",
        "/login",
        "/static/logo.png",
    ]
    codes = (200, 200, 200, 200, 301, 404, 404, 500, 502, 503)
    ips = [
        f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(40)
    ]
    rows = []
    for i in range(n):
        ip, path, code = rng.choice(ips), rng.choice(paths), rng.choice(codes)
        size = rng.randrange(200, 60_000) if code == 200 else rng.randrange(0, 800)
        minute = i * 7 // 60
        stamp = f"12/Mar/2024:{10 + minute // 60 % 12:02d}:{minute % 60:02d}:{i * 7 % 60:02d}"
        line = (
            f'{ip} - - [{stamp} +0000] "GET {path} HTTP/1.1" {code} {size} "-" '
            f'"Mozilla/5.0 (X11; Linux x86_64)"'
        )
        rows.append((ip, path, code, size, line))
    top404 = _unique_top(Counter(r[0] for r in rows if r[2] == 404))
    questions = [
        Question(
            "count",
            "How many requests under /api/ got a 5xx status?",
            sum(r[1].startswith("/api/") and r[2] >= 500 for r in rows),
        ),
        Question(
            "sum",
            "How many bytes were sent in total for requests under /static/?",
            sum(r[3] for r in rows if r[1].startswith("/static/")),
        ),
    ]
    questions.append(Question("top", "Which IP address got the most 404 responses?", top404))
    return "\n".join(r[4] for r in rows) + "\n", questions


def json_products(rng: random.Random, n: int) -> Made:
    categories = ("kitchen", "garden", "office", "toys", "audio", "sport", "bath")
    items: list[dict[str, Any]] = [
        {
            "sku": f"SKU-{40_000 + i}",
            "name": f"{rng.choice(WORDS).title()} {rng.choice(WORDS).title()} {i}",
            "category": rng.choice(categories),
            "price": _money(rng.randrange(199, 250_000)),
            "stock": rng.randrange(0, 400),
        }
        for i in range(n)
    ]
    used = sorted({p["category"] for p in items})
    cat = rng.choice(used)
    priciest = _unique_extreme(
        [p for p in items if p["category"] == cat], lambda p: p["price"], largest=True
    )
    questions = [
        Question(
            "count",
            f"How many {cat} products have fewer than 20 in stock?",
            sum(p["category"] == cat and p["stock"] < 20 for p in items),
        ),
        Question(
            "sum",
            f"What is the total stock of the {cat} products?",
            sum(p["stock"] for p in items if p["category"] == cat),
        ),
    ]
    questions.append(
        Question(
            "max",
            f"What is the SKU of the most expensive {cat} product?",
            priciest["sku"] if priciest else None,
        )
    )
    return json.dumps(items, indent=1), questions


def code_tree(rng: random.Random, n: int) -> Made:
    packages = ("billing", "shipping", "accounts", "search", "reports")
    files: dict[str, str] = {}
    defined: dict[str, str] = {}
    classes: Counter[str] = Counter()
    for i in range(max(4, n // 12)):
        package = rng.choice(packages)
        path = f"src/{package}/{rng.choice(WORDS)}_{i}.py"
        body = [f'"""{package}: {rng.choice(WORDS)} helpers."""', "", "import os", ""]
        for j in range(rng.randrange(3, 9)):
            name = f"{rng.choice(WORDS)}_{rng.choice(WORDS)}_{i}_{j}"
            if rng.random() < 0.3:
                body += [
                    f"class {name.title().replace('_', '')}:",
                    '    """A thing."""',
                    "",
                    "    def run(self):",
                    "        return os.getcwd()",
                    "",
                ]
                classes[package] += 1
            else:
                body += [f"def {name}(value):", f"    return value * {j + 2}", ""]
                defined[name] = path
        files[path] = "\n".join(body)
    function = rng.choice(sorted(defined))
    package = rng.choice(sorted(classes))
    return files, [
        Question(
            "locate",
            f"In which file is the function {function} defined? Answer with its path.",
            defined[function],
        ),
        Question(
            "count",
            f"How many classes does the package {package} (the folder src/{package}) define?",
            classes[package],
        ),
    ]


def markdown_notes(rng: random.Random, n: int) -> Made:
    lines: list[str] = []
    owners: dict[str, str] = {}
    tasks: Counter[str] = Counter()
    for i in range(max(3, n // 8)):
        project = f"{rng.choice(WORDS).title()}-{i}"
        owner = rng.choice(NAMES)
        owners[project] = owner
        lines += [
            f"## Project {project}",
            "",
            f"Owner: {owner}",
            "",
            f"Notes on the {rng.choice(WORDS)} work, {rng.choice(WORDS)} phase.",
            "",
            "### Open tasks",
            "",
        ]
        for _ in range(rng.randrange(1, 7)):
            lines.append(f"- [ ] {rng.choice(WORDS)} the {rng.choice(WORDS)}")
            tasks[owner] += 1
        lines.append("")
    project = rng.choice(sorted(owners))
    busiest = _unique_top(tasks)
    questions = [
        Question("locate", f"Who owns project {project}?", owners[project]),
        Question("count", "How many open tasks are there in all projects?", sum(tasks.values())),
    ]
    questions.append(
        Question("top", "Which owner has the most open tasks across their projects?", busiest)
    )
    return "# Team notes\n\n" + "\n".join(lines), questions


def ini_config(rng: random.Random, n: int) -> Made:
    lines, ports, enabled = [], {}, 0
    for i in range(max(3, n // 5)):
        section = f"{rng.choice(WORDS)}-service-{i}"
        port = rng.randrange(20_000, 60_000)
        on = rng.random() < 0.6
        ports[section], enabled = port, enabled + on
        lines += [
            f"[{section}]",
            f"host = {rng.choice(WORDS)}.internal",
            f"port = {port}",
            f"enabled = {'true' if on else 'false'}",
            f"timeout_ms = {rng.randrange(100, 9000)}",
            "",
        ]
    section = rng.choice(sorted(ports))
    return "\n".join(lines), [
        Question("locate", f"Which port does the section [{section}] set?", ports[section]),
        Question("count", "How many sections have enabled = true?", enabled),
    ]


def auth_log(rng: random.Random, n: int) -> Made:
    users = [name.split()[0].lower() for name in rng.sample(NAMES, 7)]
    ips = [f"192.168.{rng.randrange(256)}.{rng.randrange(1, 255)}" for _ in range(12)]
    rows = []
    for i in range(n):
        user, ip, failed = rng.choice(users), rng.choice(ips), rng.random() < 0.4
        verb = "Failed password" if failed else "Accepted publickey"
        stamp = f"Apr {1 + i // 2000:2d} {i // 120 % 24:02d}:{i // 2 % 60:02d}:{i * 31 % 60:02d}"
        line = (
            f"{stamp} gate-{i % 3} sshd[{4000 + i * 7 % 900}]: "
            f"{verb} for {user} from {ip} port {rng.randrange(30_000, 65_000)} ssh2"
        )
        rows.append((user, ip, failed, line))
    user = rng.choice(users)
    worst = _unique_top(Counter(r[1] for r in rows if r[2]))
    return "\n".join(r[3] for r in rows) + "\n", [
        Question(
            "count",
            f"How many failed password attempts were there for the user {user}?",
            sum(r[0] == user and r[2] for r in rows),
        ),
        Question("top", "Which IP address had the most failed password attempts?", worst),
    ]


def yaml_staff(rng: random.Random, n: int) -> Made:
    teams = ("platform", "mobile", "data", "design", "support")
    people = [
        (f"E{7_100 + i}", rng.choice(NAMES), rng.choice(teams), rng.randrange(38_000, 160_000))
        for i in range(n)
    ]
    lines = ["staff:"]
    for emp, name, team, salary in people:
        lines += [
            f"  - id: {emp}",
            f"    name: {name}",
            f"    team: {team}",
            f"    salary: {salary}",
        ]
    team, floor = rng.choice(teams), rng.randrange(60, 140) * 1000 + 500
    mine = [p for p in people if p[2] == team]
    best = _unique_extreme(mine, lambda p: p[3], largest=True) if mine else None
    return "\n".join(lines) + "\n", [
        Question("sum", f"What is the total salary of the {team} team?", sum(p[3] for p in mine)),
        Question(
            "max",
            f"What is the id of the best-paid person in the {team} team?",
            best[0] if best else None,
        ),
        Question(
            "count",
            f"How many people in the {team} team earn more than {floor}?",
            sum(p[3] > floor for p in mine),
        ),
    ]


def xml_catalog(rng: random.Random, n: int) -> Made:
    authors = rng.sample(NAMES, 9)
    books = [
        (
            f"bk{900 + i}",
            rng.choice(authors),
            rng.randrange(1960, 2025),
            _money(rng.randrange(500, 900_000)),
        )
        for i in range(n)
    ]
    parts = ['<?xml version="1.0"?>', "<catalog>"]
    parts += [
        f'  <book id="{b}">\n    <author>{a}</author>\n    <title>The {rng.choice(WORDS)} '
        f"{rng.choice(WORDS)}</title>\n    <year>{y}</year>\n    <price>{p:.2f}</price>\n  </book>"
        for b, a, y, p in books
    ]
    author, year = rng.choice(authors), rng.randrange(1980, 2010)
    cheapest = _unique_extreme(books, lambda b: b[3], largest=False)
    return "\n".join([*parts, "</catalog>"]) + "\n", [
        Question(
            "count",
            f"How many books by {author} were published after {year}?",
            sum(b[1] == author and b[2] > year for b in books),
        ),
        Question("min", "What is the id of the cheapest book?", cheapest[0] if cheapest else None),
    ]


def sales_join(rng: random.Random, n: int) -> Made:
    categories = ("garden", "kitchen", "toys", "office")
    products = [(f"K-{610 + i}", rng.choice(categories)) for i in range(max(8, n // 8))]
    sales = [(rng.choice(products)[0], rng.randrange(1, 40)) for _ in range(n)]
    kind = dict(products)
    category = rng.choice(sorted({c for _, c in products}))
    files = {
        "catalog/products.json": json.dumps(
            [{"sku": s, "category": c} for s, c in products], indent=1
        ),
        "sales.csv": "sku,quantity\n" + "\n".join(f"{s},{q}" for s, q in sales),
    }
    return files, [
        Question(
            "join",
            f"How many units of {category} products were sold in total?",
            sum(q for s, q in sales if kind[s] == category),
        )
    ]


def library_loans(rng: random.Random, n: int) -> Made:
    """Two files whose join key is named differently in each (``id`` in the catalog,
    ``book`` in the loan log), so only the values tell that they join."""
    genres = ("crime", "poetry", "travel", "science", "history")
    books = [(f"B{4100 + 7 * i}", rng.choice(genres)) for i in range(max(8, n // 10))]
    loans = [(rng.choice(books)[0], rng.choice(NAMES), rng.randrange(1, 60)) for _ in range(n)]
    genre_of = dict(books)
    genre = rng.choice(sorted({g for _, g in books}))
    files = {
        "catalog.csv": "id,genre,shelf\n"
        + "\n".join(f"{b},{g},{rng.randrange(1, 90)}" for b, g in books),
        "loans.log": "\n".join(
            f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d} loan book={b} "
            f'member="{m}" days={d}'
            for b, m, d in loans
        ),
    }
    borrowed = Counter(genre_of[b] for b, _, _ in loans)
    return files, [
        Question(
            "join",
            f"How many loans were of {genre} books?",
            sum(genre_of[b] == genre for b, _, _ in loans),
        ),
        Question(
            "join",
            f"For how many days in total were {genre} books on loan?",
            sum(d for b, _, d in loans if genre_of[b] == genre),
        ),
        Question("join", "Which genre of books was borrowed most often?", _unique_top(borrowed)),
    ]


def crm_export(rng: random.Random, n: int) -> Made:
    """A CRM's CSV export: names written "Last, First" and companies holding commas, so
    every such cell is quoted (split at each comma, the columns shift)."""
    companies = ("Lind, Weiss & Co", "Harbor Freight, Ltd", "Osei Labs", "Kowal, Marin LLP",
                 "Quartz Systems", "Umber, Inc")  # fmt: skip
    stages = ("lead", "qualified", "proposal", "won", "lost")
    contacts = [
        (name.split()[1] + ", " + name.split()[0], rng.choice(companies), rng.choice(stages),
         rng.randrange(100, 50_000))
        for name in (rng.choice(NAMES) for _ in range(n))
    ]  # fmt: skip
    lines = ["contact,company,stage,deal_value"]
    lines += [f'"{c}","{co}",{s},{v}' if "," in co else f'"{c}",{co},{s},{v}'
              for c, co, s, v in contacts]  # fmt: skip
    company, stage = rng.choice(companies), rng.choice(stages)
    won = Counter(co for _, co, s, _ in contacts if s == "won")
    return "\n".join(lines) + "\n", [
        Question("count", f"How many contacts of {company} are at the {stage} stage?",
                 sum(co == company and s == stage for _, co, s, _ in contacts)),
        Question("sum", f"What is the total deal value of the {stage} contacts?",
                 sum(v for _, _, s, v in contacts if s == stage)),
        Question("top", "Which company has the most won deals?", _unique_top(won)),
    ]  # fmt: skip


def html_invoices(rng: random.Random, n: int) -> Made:
    clients = rng.sample(NAMES, 8)
    statuses = ("paid", "open", "overdue")
    invoices = [
        (f"INV-{30_000 + i}", rng.choice(clients), rng.choice(statuses),
         _money(rng.randrange(1_000, 2_000_000)))
        for i in range(n)
    ]  # fmt: skip
    rows = "\n".join(
        f'<tr><td>{number}</td><td><a href="/clients/{client.split()[0].lower()}">{client}</a>'
        f'</td><td><span class="badge {status}">{status}</span></td><td class="num">'
        f"{amount:.2f}</td></tr>"
        for number, client, status, amount in invoices
    )
    page = (
        "<!DOCTYPE html>\n<html><head><title>Invoices</title></head><body>\n<h1>Invoices"
        "</h1>\n<p>All invoices of the year, newest last.</p>\n<table>\n<thead><tr><th>Number"
        "</th><th>Client</th><th>Status</th><th>Amount</th></tr></thead>\n<tbody>\n"
        f"{rows}\n</tbody>\n</table>\n</body></html>\n"
    )
    client = rng.choice(clients)
    late = Counter(c for _, c, s, _ in invoices if s == "overdue")
    return page, [
        Question(
            "count",
            f"How many paid invoices does {client} have?",
            sum(c == client and s == "paid" for _, c, s, _ in invoices),
        ),
        Question(
            "sum",
            "What is the total amount of the overdue invoices?",
            round(sum(a for _, _, s, a in invoices if s == "overdue"), 2),
        ),
        Question("top", "Which client has the most overdue invoices?", _unique_top(late)),
    ]


def payroll_report(rng: random.Random, n: int) -> Made:
    depts = ("Sales", "Support", "Research", "Finance", "Legal")
    staff = [
        (f"E-{4_000 + i}", rng.choice(NAMES), rng.choice(depts),
         rng.randrange(600, 2_000) / 10, rng.randrange(150_000, 2_500_000))
        for i in range(n)
    ]  # fmt: skip
    lines = [
        "PAYROLL REPORT  (all staff)",
        "Prepared by the finance office",
        "",
        f"{'Employee':<10} {'Name':<14} {'Dept':<10} {'Hours':>6} {'Gross':>12}",
        f"{'-' * 10} {'-' * 14} {'-' * 10} {'-' * 6} {'-' * 12}",
    ]
    lines += [f"{e:<10} {nm:<14} {d:<10} {h:>6.1f} {c / 100:>12,.2f}" for e, nm, d, h, c in staff]
    lines += [f"{'':<36} TOTAL {sum(c for *_, c in staff) / 100:>12,.2f}"]
    dept, hours = rng.choice(depts), rng.randrange(80, 190)
    top = _unique_extreme(staff, lambda p: p[4], largest=True)
    return "\n".join(lines) + "\n", [
        Question(
            "sum",
            f"What is the total gross pay of the {dept} department?",
            _money(sum(c for _, _, d, _, c in staff if d == dept)),
        ),
        Question(
            "count",
            f"How many employees of the {dept} department worked more than {hours} hours?",
            sum(d == dept and h > hours for _, _, d, h, _ in staff),
        ),
        Question("max", "Which employee id has the highest gross pay?", top[0] if top else None),
    ]


def git_log(rng: random.Random, n: int) -> Made:
    """``git log --stat``: a record over many lines (hash, author, date, message, one line
    per changed file, a summary line), records apart by blank lines and indentation."""
    files = [f"src/{w}.py" for w in WORDS[:10]] + [f"tests/test_{w}.py" for w in WORDS[:6]]
    authors = rng.sample(NAMES, 6)
    commits, blocks = [], []
    for i in range(n):
        sha = f"{rng.getrandbits(160):040x}"
        author = rng.choice(authors)
        changed = {f: (rng.randrange(0, 80), rng.randrange(0, 40))
                   for f in rng.sample(files, rng.randrange(1, 4))}  # fmt: skip
        commits.append((sha, author, changed))
        email = author.lower().replace(" ", ".") + "@example.org"
        stat = [
            f" {f} | {a + d} {'+' * min(a, 20)}{'-' * min(d, 10)}" for f, (a, d) in changed.items()
        ]
        added, deleted = sum(a for a, _ in changed.values()), sum(d for _, d in changed.values())
        message = f"{rng.choice(('Fix', 'Add', 'Tidy', 'Speed up'))} {rng.choice(WORDS)} handling"
        head = [
            f"commit {sha}",
            f"Author: {author} <{email}>",
            f"Date:   Mon Mar {1 + i % 28} {i % 24:02d}:{i * 7 % 60:02d}:00 2026 +0100",
        ]
        summary = (f" {len(changed)} file{'s' if len(changed) > 1 else ''} changed, "
                   f"{added} insertions(+), {deleted} deletions(-)")  # fmt: skip
        blocks.append("\n".join([*head, "", f"    {message}", "", *stat, summary]))
    path, author = rng.choice(files), rng.choice(authors)
    biggest = _unique_extreme(commits, lambda c: sum(a for a, _ in c[2].values()), largest=True)
    return "\n\n".join(blocks) + "\n", [
        Question(
            "count",
            f"How many commits changed the file {path}?",
            sum(path in c[2] for c in commits),
        ),
        Question(
            "sum",
            f"How many lines did {author} insert in total, over all commits?",
            sum(a for c in commits if c[1] == author for a, _ in c[2].values()),
        ),
        Question(
            "top",
            "Which author made the most commits?",
            _unique_top(Counter(c[1] for c in commits)),
        ),
        Question(
            "max",
            "Which commit inserted the most lines? Answer with its full hash.",
            biggest[0] if biggest else None,
        ),
    ]


def sql_dump(rng: random.Random, n: int) -> Made:
    """A database dump: rows as the tuples of ``INSERT ... VALUES`` statements (a hundred
    to a statement) under the table's ``CREATE TABLE``, NULL for a missing value."""
    plans = ("free", "basic", "pro", "team")
    rows = [
        (
            90_001 + i,
            rng.choice(NAMES),
            rng.choice(CITIES),
            rng.choice(plans),
            rng.randrange(0, 50_000) if rng.random() > 0.1 else None,  # cents a month
        )
        for i in range(n)
    ]

    def tuple_of(i: int, owner: str, city: str, plan: str, fee: int | None) -> str:
        money = "NULL" if fee is None else str(_money(fee))
        return f"({i}, '{owner}', '{city}', '{plan}', {money})"

    statements = [
        "INSERT INTO `accounts` (`id`, `owner`, `city`, `plan`, `monthly_fee`) VALUES\n"
        + ",\n".join(tuple_of(*r) for r in rows[start : start + 100])
        + ";"
        for start in range(0, n, 100)
    ]
    header = (
        "-- MySQL dump 10.13\n--\n-- Table structure for table `accounts`\n--\n\n"
        "CREATE TABLE `accounts` (\n  `id` int NOT NULL,\n  `owner` varchar(80),\n"
        "  `city` varchar(40),\n  `plan` varchar(10),\n  `monthly_fee` decimal(10,2),\n"
        "  PRIMARY KEY (`id`)\n);\n\n"
    )
    city, plan = rng.choice(CITIES), rng.choice(plans)
    fees = [(r[3], r[4]) for r in rows if r[4] is not None]
    return header + "\n".join(statements) + "\n", [
        Question(
            "count",
            f"How many accounts in {city} are on the {plan} plan?",
            sum(r[2] == city and r[3] == plan for r in rows),
        ),
        Question(
            "sum",
            f"What is the total monthly fee of the accounts on the {plan} plan?",
            _money(sum(fee for p, fee in fees if p == plan)),
        ),
        Question(
            "count",
            "How many accounts have no monthly fee recorded (NULL)?",
            sum(r[4] is None for r in rows),
        ),
        Question(
            "top",
            f"Which plan has the most accounts in {city}?",
            _unique_top(Counter(r[3] for r in rows if r[2] == city)),
        ),
    ]


@dataclass(frozen=True)
class PrintedTable:
    """A table printed as a PDF report (the ``pdf-manifest`` shape): the item's context is
    the PDF file, which rlmx reads as a document. Each page repeats the title and the
    header, as printed reports do; ``widths`` in millimetres."""

    title: str
    header: tuple[str, ...]
    widths: tuple[int, ...]
    rows: list[tuple[str, ...]]
    right: frozenset[str] = frozenset()  # the columns set flush right (numbers)

    PER_PAGE = 55
    CHARS_PER_MM = 0.87  # of the page's layout text, at the 8-point font

    def text(self) -> str:
        """About the text rlmx reads from the PDF (its layout: columns kept apart), to size
        the item."""
        columns = [int(w * self.CHARS_PER_MM) for w in self.widths]
        return "\n".join(
            "".join(cell.ljust(width) for cell, width in zip(row, columns, strict=True))
            for row in [self.header, *self.rows]
        )

    def pdf(self) -> Path:
        """The PDF, printed once into rlmx's cache (named by its content)."""
        digest = hashlib.sha256(repr(self).encode()).hexdigest()[:24]
        path = cache_root() / "shapes" / f"{digest}.pdf"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_suffix(".part")
            self._print().output(str(partial))
            partial.replace(path)
        return path

    def _print(self) -> Any:
        try:
            from fpdf import FPDF
        except ImportError:  # a development dependency: the benchmark's, not rlmx's
            raise RuntimeError("the pdf-manifest shape prints its PDF with fpdf2: "
                               "pip install fpdf2") from None  # fmt: skip
        pdf = FPDF(format="A4")
        pdf.set_auto_page_break(False)
        pdf.set_font("Helvetica", size=8)
        for start in range(0, len(self.rows), self.PER_PAGE):
            pdf.add_page()
            page = start // self.PER_PAGE + 1
            pdf.cell(0, 8, f"{self.title}  (page {page})", new_x="LMARGIN", new_y="NEXT")
            for row in [self.header, *self.rows[start : start + self.PER_PAGE]]:
                for name, cell, width in zip(self.header, row, self.widths, strict=True):
                    align = "R" if name in self.right and row is not self.header else "L"
                    pdf.cell(width, 4.5, cell, border=1, align=align)
                pdf.ln()
        return pdf


def pdf_manifest(rng: random.Random, n: int) -> Made:
    """A shipping manifest printed as a PDF report: a table over many pages, its header
    repeated on each and two of its names two words long (``Weight kg``)."""
    carriers = ("Nordpost", "FastLane", "BlueBird", "Cargoline")
    rows = [
        (
            f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
            f"TRK{rng.randrange(10**6, 10**7)}",
            rng.choice(CITIES),
            rng.choice(carriers),
            rng.randrange(10, 100_000),  # hundredths of a kg
            rng.randrange(500, 240_000),  # cents
        )
        for _ in range(n)
    ]
    table = PrintedTable(
        "Shipment manifest",
        ("Date", "Tracking", "Destination", "Carrier", "Weight kg", "Cost EUR"),
        (24, 30, 30, 30, 24, 28),
        [(d, t, c, k, f"{w / 100:.2f}", f"{cost / 100:,.2f}") for d, t, c, k, w, cost in rows],
        frozenset({"Weight kg", "Cost EUR"}),
    )
    city, carrier = rng.choice(CITIES), rng.choice(carriers)
    heaviest = _unique_extreme(rows, lambda r: r[4], largest=True)
    return table, [
        Question(
            "count",
            f"How many shipments went to {city} with {carrier}?",
            sum(r[2] == city and r[3] == carrier for r in rows),
        ),
        Question(
            "sum",
            f"What is the total cost in EUR of the shipments to {city}?",
            _money(sum(r[5] for r in rows if r[2] == city)),
        ),
        Question(
            "max",
            "Which tracking number belongs to the heaviest shipment?",
            heaviest[1] if heaviest else None,
        ),
        Question(
            "top",
            f"Which carrier handled the most shipments to {city}?",
            _unique_top(Counter(r[3] for r in rows if r[2] == city)),
        ),
    ]


PAYEES = ("Nordic Bakery", "Lumen Books", "Harbor Fuel Station", "Cedar Pharmacy", "Raven Cinema",
          "Quartz Telecom", "Willow Garden Centre", "Fjord Taxi")  # fmt: skip


def bank_statement(rng: random.Random, n: int) -> Made:
    """A bank statement exported as plain text: a transaction a line, its words a single
    space apart (no delimiter to split on), payees of one to three words, signed amounts
    with a thousands separator."""
    payers = rng.sample(NAMES, 6)
    rows = []  # (reference, card payment?, party, cents, line)
    for i in range(n):
        date = f"{rng.randrange(1, 29):02d}.{1 + i * 12 // n:02d}.2026"
        reference = f"TX-{100_000 + i * 13 + rng.randrange(13)}"
        card = rng.random() < 0.7
        party = rng.choice(PAYEES) if card else rng.choice(payers)
        cents = rng.randrange(150, 40_000) if card else rng.randrange(5_000, 300_000)
        what = f"Card payment to {party}" if card else f"Transfer from {party}"
        amount = f"{'-' if card else '+'}{cents / 100:,.2f}"
        rows.append((reference, card, party, cents, f"{date} {what} ref {reference} {amount} EUR"))
    payee, payer = rng.choice(PAYEES), rng.choice(payers)
    cards = [r for r in rows if r[1]]
    largest = _unique_extreme(cards, lambda r: r[3], largest=True)
    return "\n".join(r[4] for r in rows) + "\n", [
        Question(
            "count",
            f"How many card payments went to {payee}?",
            sum(r[2] == payee for r in cards),
        ),
        Question(
            "sum",
            f"How much came in by transfer from {payer} in total? Answer with the number.",
            _money(sum(r[3] for r in rows if not r[1] and r[2] == payer)),
        ),
        Question(
            "top",
            "Which payee received the most card payments?",
            _unique_top(Counter(r[2] for r in cards)),
        ),
        Question(
            "max",
            "What is the reference of the largest card payment?",
            largest[0] if largest else None,
        ),
    ]


def _done(events: list[tuple[str, str, str | None]], who: str, what: str) -> int:
    """How many of a chat's events (who, what, topic) are ``who`` doing ``what``."""
    return sum(e[0] == who and e[1] == what for e in events)


def irc_log(rng: random.Random, n: int) -> Made:
    """An IRC channel's log: ``[HH:MM] <nick> message`` lines among ``* nick has joined``
    and ``* nick has quit`` lines; a message is free text that may name a topic word."""
    nicks = [
        name.split()[0].lower() + rng.choice(("", "_", "42")) for name in rng.sample(NAMES, 12)
    ]
    topics = rng.sample(WORDS, 10)
    says = ("anyone looked at the {} build?", "{} deploy is done", "rolling back {} now",
            "why is {} so slow today", "I pushed a fix for {}", "{} looks fine to me")  # fmt: skip
    events: list[tuple[str, str, str | None]] = []  # (nick, message / join / quit, topic)
    lines = []
    for i in range(n):
        stamp = f"[{i * 24 // n:02d}:{i * 7 % 60:02d}]"
        nick, roll = rng.choice(nicks), rng.random()
        if roll < 0.12:
            events.append((nick, "join", None))
            lines.append(f"{stamp} * {nick} has joined #ops")
        elif roll < 0.2:
            events.append((nick, "quit", None))
            lines.append(f"{stamp} * {nick} has quit (Ping timeout)")
        else:
            topic = rng.choice(topics)
            events.append((nick, "message", topic))
            lines.append(f"{stamp} <{nick}> {rng.choice(says).format(topic)}")
    nick, topic = rng.choice(nicks), rng.choice(topics)
    about = [e[0] for e in events if e[2] == topic]
    return "\n".join(lines) + "\n", [
        Question(
            "count",
            f"How many messages did {nick} send?",
            _done(events, nick, "message"),
        ),
        Question("top", f"Who wrote about {topic} most often?", _unique_top(Counter(about))),
        Question(
            "count",
            f"How many times did {nick} join the channel?",
            _done(events, nick, "join"),
        ),
        Question("distinct", f"How many different people wrote about {topic}?", len(set(about))),
    ]


def service_events(rng: random.Random, n: int) -> Made:
    """A service's event log in sentences: lines of several kinds (an order placed,
    shipped, cancelled, a payment failed), each kind with its values in its own places."""
    customers = rng.sample(NAMES, 10)
    reasons = ("out of stock", "customer request", "address invalid")
    placed: list[tuple[int, str, int]] = []  # (order, customer, cents)
    open_orders: list[int] = []
    shipped: list[str] = []  # the city of each order shipped
    cancelled: list[str] = []  # the reason of each order cancelled
    lines = []
    for i in range(n):
        stamp = f"2026-05-{1 + i * 30 // n:02d}T{i % 24:02d}:{i * 7 % 60:02d}:{i * 13 % 60:02d}Z"
        roll = rng.random()
        if roll < 0.45 or not open_orders:
            order, customer, cents = (
                5_000_000 + i,
                rng.choice(customers),
                rng.randrange(900, 60_000),
            )
            placed.append((order, customer, cents))
            open_orders.append(order)
            text = f"INFO order {order} placed by {customer} for {cents / 100:.2f} EUR"
        elif roll < 0.85:
            order = open_orders.pop(rng.randrange(len(open_orders)))
            if roll < 0.7:
                shipped.append(rng.choice(CITIES))
                text = f"INFO order {order} shipped to {shipped[-1]}"
            else:
                cancelled.append(rng.choice(reasons))
                text = f"WARN order {order} cancelled ({cancelled[-1]})"
        else:
            order = rng.choice(open_orders)
            text = f"ERROR payment for order {order} failed: card declined"
        lines.append(f"{stamp} {text}")
    customer, city, reason = rng.choice(customers), rng.choice(CITIES), rng.choice(reasons)
    return "\n".join(lines) + "\n", [
        Question(
            "sum",
            f"What is the total value of the orders placed by {customer}?",
            _money(sum(cents for _, who, cents in placed if who == customer)),
        ),
        Question("count", f"How many orders were shipped to {city}?", shipped.count(city)),
        Question(
            "count",
            f"How many orders were cancelled with the reason '{reason}'?",
            cancelled.count(reason),
        ),
        Question(
            "top",
            "Which customer placed the most orders?",
            _unique_top(Counter(who for _, who, _ in placed)),
        ),
    ]


VENDORS = ("Harbor Fuel Station", "Lumen Books", "Orchid Office Supply", "Kestrel Couriers",
           "Nimbus Cloud", "Cedar Pharmacy", "Pylon Hardware", "Umber Print Shop")  # fmt: skip
LEDGER_CATEGORIES = ("fuel", "books", "office", "shipping", "hosting", "repairs")


def cash_book(rng: random.Random, n: int) -> Made:
    """A cash book printed as plain text with no header: columns set apart by runs of
    spaces (date, voucher, vendor of one to three words, category, a dollar amount with a
    thousands separator), and a total line at the end that is no entry."""
    entries = []  # (voucher, vendor, category, cents)
    for i in range(n):
        entries.append((f"V{60_000 + 3 * i + rng.randrange(3)}", rng.choice(VENDORS),
                        rng.choice(LEDGER_CATEGORIES), rng.randrange(250, 480_000)))  # fmt: skip
    lines = [
        f"2026-{1 + i * 12 // n:02d}-{rng.randrange(1, 29):02d}  {voucher:<8}  {vendor:<22}"
        f"  {category:<9}  {f'${cents / 100:,.2f}':>13}"
        for i, (voucher, vendor, category, cents) in enumerate(entries)
    ]
    lines.append(f"{'TOTAL':>58}  ${sum(e[3] for e in entries) / 100:,.2f}")
    vendor, category = rng.choice(VENDORS), rng.choice(LEDGER_CATEGORIES)
    largest = _unique_extreme(entries, lambda e: e[3], largest=True)
    return "\n".join(lines) + "\n", [
        Question(
            "sum",
            f"How much was paid to {vendor} in total? Answer with the number.",
            _money(sum(e[3] for e in entries if e[1] == vendor)),
        ),
        Question(
            "count",
            f"How many entries are in the {category} category?",
            sum(e[2] == category for e in entries),
        ),
        Question(
            "top",
            f"Which vendor has the most entries in the {category} category?",
            _unique_top(Counter(e[1] for e in entries if e[2] == category)),
        ),
        Question(
            "max",
            "Which voucher has the largest amount?",
            largest[0] if largest else None,
        ),
    ]


def invoice_blocks(rng: random.Random, n: int) -> Made:
    """Invoices as blocks a blank line apart: a title line (``Invoice INV-30417``) over
    indented ``Key: value`` lines, totals in euros with a thousands separator."""
    clients = rng.sample(PAYEES, 6)
    statuses = ("paid", "overdue", "draft", "disputed")
    invoices = [(f"INV-{30_000 + 7 * i + rng.randrange(7)}", rng.choice(clients),
                 rng.choice(statuses), rng.randrange(2_000, 900_000))
                for i in range(n)]  # fmt: skip
    blocks = [
        f"Invoice {number}\n  Client: {client}\n  Issued: 2026-{rng.randrange(1, 13):02d}-"
        f"{rng.randrange(1, 29):02d}\n  Status: {status}\n  Total: €{cents / 100:,.2f}"
        for number, client, status, cents in invoices
    ]
    client, status = rng.choice(clients), rng.choice(statuses)
    return "\n\n".join(blocks) + "\n", [
        Question(
            "count",
            f"How many invoices of {client} are {status}?",
            sum(i[1] == client and i[2] == status for i in invoices),
        ),
        Question(
            "sum",
            f"What is the total of the {status} invoices? Answer with the number.",
            _money(sum(i[3] for i in invoices if i[2] == status)),
        ),
        Question(
            "top",
            f"Which client has the most {status} invoices?",
            _unique_top(Counter(i[1] for i in invoices if i[2] == status)),
        ),
        Question(
            "distinct",
            f"How many different clients have {status} invoices?",
            len({i[1] for i in invoices if i[2] == status}),
        ),
    ]


def support_tickets(rng: random.Random, n: int) -> Made:
    """A help desk's agents (a TSV keyed by a number ``id``) and its tickets (a JSON list
    whose ``agent_id`` names an agent): questions by team need the join."""
    teams = ("billing", "network", "accounts", "hardware")
    agents = [(11 + i, name, rng.choice(teams)) for i, name in enumerate(rng.sample(NAMES, 12))]
    team_of = {a: t for a, _, t in agents}
    tickets = [(f"T-{80_000 + i}", rng.choice(agents)[0], rng.choice(("low", "high", "urgent")),
                rng.randrange(5, 240)) for i in range(n)]  # fmt: skip
    team = rng.choice(sorted(set(team_of.values())))
    files = {
        "agents.tsv": "id\tname\tteam\n" + "\n".join(f"{a}\t{nm}\t{t}" for a, nm, t in agents),
        "tickets.json": json.dumps(
            [{"ticket": t, "agent_id": a, "priority": p, "minutes": m} for t, a, p, m in tickets],
            indent=1,
        ),
    }
    return files, [
        Question(
            "join",
            f"How many tickets were handled by agents of the {team} team?",
            sum(team_of[a] == team for _, a, _, _ in tickets),
        ),
        Question(
            "join",
            f"How many minutes in total did the {team} team spend on tickets?",
            sum(m for _, a, _, m in tickets if team_of[a] == team),
        ),
        Question(
            "join",
            "Which team handled the most urgent tickets?",
            _unique_top(Counter(team_of[a] for _, a, p, _ in tickets if p == "urgent")),
        ),
    ]


def call_transcript(rng: random.Random, n: int) -> Made:
    """A video call's transcript: ``HH:MM:SS Name Surname: words`` lines, a message often
    addressing someone by name, among ``-- Name Surname joined / left the call`` lines."""
    people = rng.sample(NAMES, 8)
    topics = rng.sample(WORDS, 8)
    says = ("the {} numbers are in", "can we move {} to next week?", "{} is blocked on review",
            "I will take {} today", "any update on {}?", "{} shipped this morning")  # fmt: skip
    events: list[tuple[str, str, str | None]] = []  # (speaker, message / joined / left, topic)
    lines = []
    for i in range(n):
        minute = i * 240 // n
        stamp = f"{minute // 60:02d}:{minute % 60:02d}:{i * 13 % 60:02d}"
        who, roll = rng.choice(people), rng.random()
        if roll < 0.16:
            done = "joined" if roll < 0.1 else "left"
            events.append((who, done, None))
            lines.append(f"-- {who} {done} the call")
            continue
        topic = rng.choice(topics)
        text = rng.choice(says).format(topic)
        if rng.random() < 0.3:  # addressed to someone: the name in a line not theirs
            text = f"{rng.choice([p for p in people if p != who])}, {text}"
        events.append((who, "message", topic))
        lines.append(f"{stamp} {who}: {text}")
    who, topic = rng.choice(people), rng.choice(topics)
    about = [e[0] for e in events if e[2] == topic]
    return "\n".join(lines) + "\n", [
        Question(
            "count",
            f"How many times did {who} speak?",
            _done(events, who, "message"),
        ),
        Question("top", f"Who mentioned {topic} most often?", _unique_top(Counter(about))),
        Question(
            "count",
            f"How many times did {who} leave the call?",
            _done(events, who, "left"),
        ),
        Question("count", f"How many messages mention {topic}?", len(about)),
    ]


def sales_pages(rng: random.Random, n: int) -> Made:
    """A sales report as an HTML page: a table per office under its heading (the office is
    named only there, never in its rows), a row per month and product, the revenue with a
    currency sign and thousands separators."""
    offices = rng.sample(CITIES, 5)
    products = [word.title() for word in rng.sample(WORDS, 6)]
    price = {product: rng.randrange(900, 9_000) for product in products}  # cents a unit
    sales = []  # (office, month, product, units, cents)
    for i in range(n):
        office, product = offices[i * 5 // n], rng.choice(products)
        units = rng.randrange(1, 400)
        sales.append((office, f"2026-{1 + i % 12:02d}", product, units, units * price[product]))
    tables = []
    for office in offices:
        rows = "".join(
            f"<tr><td>{month}</td><td>{product}</td><td>{units}</td><td>${cents / 100:,.2f}"
            "</td></tr>\n"
            for where, month, product, units, cents in sales
            if where == office
        )
        tables.append(f"<h2>{office} office</h2>\n<table>\n<tr><th>Month</th><th>Product</th>"
                      f"<th>Units</th><th>Revenue</th></tr>\n{rows}</table>\n")  # fmt: skip
    page = "<html><body>\n<h1>Sales report 2026</h1>\n" + "".join(tables) + "</body></html>\n"
    office, product = rng.choice(offices), rng.choice(products)
    sold = Counter[str]()  # units of the product asked about, per office
    for where, _, what, count, _ in sales:
        sold[where] += count if what == product else 0
    mine = [s for s in sales if s[0] == office]
    best = _unique_extreme(mine, lambda s: s[4], largest=True)
    return page, [
        Question(
            "sum",
            f"What was the total revenue of {product} at the {office} office? Answer with the "
            "number.",
            _money(sum(s[4] for s in mine if s[2] == product)),
        ),
        Question("top", f"Which office sold the most units of {product}?", _unique_top(sold)),
        Question(
            "count",
            f"How many sales of {product} did the {office} office record?",
            sum(s[2] == product for s in mine),
        ),
        Question(
            "max",
            f"Which product had the single largest sale by revenue at the {office} office?",
            best[2] if best else None,
        ),
    ]


# -- the held-out half ------------------------------------------------------------------------
def tsv_inventory(rng: random.Random, n: int) -> Made:
    warehouses = ("north", "south", "east", "west", "central")
    rows = [
        (
            f"P{300_000 + i}",
            rng.choice(WORDS),
            rng.choice(warehouses),
            rng.randrange(0, 900),
            _money(rng.randrange(100, 40_000)),
        )
        for i in range(n)
    ]
    lines = ["part\titem\twarehouse\tquantity\tunit_price"]
    lines += ["\t".join(str(v) for v in r) for r in rows]
    house = rng.choice(warehouses)
    cheapest = _unique_extreme(rows, lambda r: r[4], largest=False)
    questions = [
        Question(
            "sum",
            f"What is the total quantity in the {house} warehouse?",
            sum(r[3] for r in rows if r[2] == house),
        )
    ]
    questions.append(
        Question(
            "min", "Which part number has the lowest unit price?", cheapest[0] if cheapest else None
        )
    )
    return "\n".join(lines) + "\n", questions


def app_log(rng: random.Random, n: int) -> Made:
    components = ("auth", "db", "cache", "queue", "mailer", "scheduler")
    levels = ("INFO", "INFO", "INFO", "DEBUG", "WARN", "ERROR")
    rows = []
    for i in range(n):
        level, comp = rng.choice(levels), rng.choice(components)
        stamp = (
            f"2024-05-0{1 + i * 37 // 86400 % 9}T{i * 37 // 3600 % 24:02d}:{i * 37 // 60 % 60:02d}"
        )
        rows.append(
            (
                level,
                comp,
                f"{stamp}:{i * 37 % 60:02d}Z [{level}] {comp}: "
                f"{rng.choice(WORDS)} {rng.choice(WORDS)} id={rng.randrange(10**6)}",
            )
        )
    comp = rng.choice(components)
    noisiest = _unique_top(Counter(r[1] for r in rows if r[0] == "WARN"))
    questions = [
        Question(
            "count",
            f"How many ERROR lines come from the {comp} component?",
            sum(r[0] == "ERROR" and r[1] == comp for r in rows),
        )
    ]
    questions.append(Question("top", "Which component logged the most WARN lines?", noisiest))
    return "\n".join(r[2] for r in rows) + "\n", questions


def chat_transcript(rng: random.Random, n: int) -> Made:
    people = rng.sample(NAMES, 6)
    word = rng.choice(WORDS)
    rows = []
    for i in range(n):
        who = rng.choice(people)
        text = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(4, 14)))
        rows.append((who, text, f"[{i // 60 % 24:02d}:{i % 60:02d}] {who}: {text}"))
    chattiest = _unique_top(Counter(r[0] for r in rows))
    questions = [
        Question(
            "count",
            f'How many messages contain the word "{word}"?',
            sum(word in r[1].split() for r in rows),
        )
    ]
    questions.append(Question("top", "Who sent the most messages?", chattiest))
    return "\n".join(r[2] for r in rows) + "\n", questions


def html_tables(rng: random.Random, n: int) -> Made:
    parts, totals = ["<html><body><h1>Regional reports</h1>"], Counter[str]()
    regions = rng.sample(CITIES, 5)
    for i in range(max(2, n // 10)):
        region = rng.choice(regions)
        parts.append(
            f"<h2>Report {i}: {region}</h2><p>{rng.choice(WORDS)} figures.</p>"
            "<table><tr><th>Month</th><th>Units</th><th>Returns</th></tr>"
        )
        for month in ("Jan", "Feb", "Mar", "Apr", "May", "Jun")[: rng.randrange(2, 7)]:
            units = rng.randrange(10, 5000)
            totals[region] += units
            parts.append(
                f"<tr><td>{month}</td><td>{units}</td><td>{rng.randrange(0, 90)}</td></tr>"
            )
        parts.append("</table>")
    region = rng.choice(sorted(totals))
    best = _unique_top(totals)
    questions = [
        Question(
            "sum", f"How many units in total do the reports for {region} list?", totals[region]
        )
    ]
    questions.append(Question("top", "Which region has the most units in total?", best))
    return "".join(parts) + "</body></html>", questions


def ledger(rng: random.Random, n: int) -> Made:
    clients = rng.sample(NAMES, 8)
    statuses = ("paid", "overdue", "open")
    rows = [
        (
            f"INV-{52_000 + i}",
            rng.choice(clients),
            rng.choice(statuses),
            rng.randrange(1000, 500_000),
        )
        for i in range(n)
    ]
    lines = [
        f"{inv}  2024-{1 + i % 12:02d}-{1 + i % 28:02d}  {client:<14} {status:<8} "
        f"EUR {_money(cents):,.2f}"
        for i, (inv, client, status, cents) in enumerate(rows)
    ]
    client = rng.choice(clients)
    return "\n".join(lines) + "\n", [
        Question(
            "sum",
            f"What is the total amount of the paid invoices of {client}? Answer with the number.",
            _money(sum(r[3] for r in rows if r[1] == client and r[2] == "paid")),
        ),
        Question("count", "How many invoices are overdue?", sum(r[2] == "overdue" for r in rows)),
    ]


def joined_files(rng: random.Random, n: int) -> Made:
    users = [(i, rng.choice(NAMES), rng.choice(CITIES)) for i in range(1, max(10, n // 6))]
    events = [
        (rng.choice(users)[0], rng.choice(("login", "purchase", "refund", "view")))
        for _ in range(n)
    ]
    city = {u[0]: u[2] for u in users}
    place, action = rng.choice(CITIES[:5]), rng.choice(("purchase", "refund"))
    files = {
        "users.csv": "user_id,name,city\n" + "\n".join(f"{i},{nm},{c}" for i, nm, c in users),
        "events.jsonl": "\n".join(json.dumps({"user_id": u, "action": a}) for u, a in events),
    }
    return files, [
        Question(
            "join",
            f"How many {action} events were made by users who live in {place}?",
            sum(city[u] == place and a == action for u, a in events),
        )
    ]


Shape = Callable[[random.Random, int], Made]
TUNE: dict[str, Shape] = {
    "csv": csv_orders,
    "access-log": access_log,
    "json": json_products,
    "code-tree": code_tree,
    "markdown": markdown_notes,
    "ini": ini_config,
    "auth-log": auth_log,
    "yaml": yaml_staff,
    "xml": xml_catalog,
    "sales-join": sales_join,
    "html-invoices": html_invoices,
    "payroll": payroll_report,
    "library-join": library_loans,
    "crm-csv": crm_export,
    "pdf-manifest": pdf_manifest,
    "git-log": git_log,
    "sql-dump": sql_dump,
    "bank-statement": bank_statement,
    "irc-log": irc_log,
    "service-events": service_events,
    "cash-book": cash_book,
    "invoice-blocks": invoice_blocks,
    "support-join": support_tickets,
    "call-transcript": call_transcript,
    "sales-pages": sales_pages,
}
HELD_OUT: dict[str, Shape] = {
    "tsv": tsv_inventory,
    "app-log": app_log,
    "chat": chat_transcript,
    "html-tables": html_tables,
    "ledger": ledger,
    "join": joined_files,
}


def _text(context: Any) -> str:
    if isinstance(context, PrintedTable):
        return context.text()
    return context if isinstance(context, str) else "\n".join(context.values())


@functools.cache
def _prompt_numbers() -> frozenset[str]:
    """The numbers of 3 digits or more that rlmx's prompts hold (a gold among them is drawn
    again; shorter ones are everywhere and prove nothing)."""
    from ..core import prompts
    from ..core.repairs import telling_numbers

    texts = [v for v in vars(prompts).values() if isinstance(v, str)]
    texts += [
        t
        for v in vars(prompts).values()
        if isinstance(v, list)
        for pair in v
        if isinstance(pair, tuple)
        for t in pair
        if isinstance(t, str)
    ]
    return frozenset(telling_numbers(" ".join(texts)))


def shape_item(
    half: str, shape: str, length: int, seed: int, count: TokenCounter = estimate_tokens
) -> EvalItem:
    """Item ``seed`` of ``shape`` at about ``length`` tokens; the seed picks the question."""
    make = (TUNE if half == "tune" else HELD_OUT)[shape]
    sample, _ = make(random.Random(0), 60)
    per_record = count(_text(sample)) / 60
    size = max(8, int(length / per_record))
    taken = _prompt_numbers()
    for attempt in range(50):  # redraw until the question's answer is clean
        rng = random.Random(f"shapes-{shape}-{length}-{seed}-{attempt}")
        context, questions = make(rng, size)
        question = questions[seed % len(questions)]
        if question.gold not in (None, 0, 0.0) and str(question.gold) not in taken:
            break
    else:
        raise RuntimeError(f"no clean question for {shape} at {length} tokens")
    chars = len(_text(context))
    if isinstance(context, PrintedTable):
        context = context.pdf()
    return EvalItem(
        task=f"shapes-{half}",
        item_id=f"{shape}-{length}-{seed}",
        length=length,
        seed=seed,
        context=context,
        query=question.text,
        gold=question.gold,
        answer_type="exact",
        meta={"shape": shape, "kind": question.kind, "half": half, "chars": chars},
    )


def shape_items(half: str, lengths: list[int], n: int, count: TokenCounter) -> list[EvalItem]:
    """``n`` items of every shape of ``half`` ("tune" or "held-out") at each length."""
    shapes = TUNE if half == "tune" else HELD_OUT
    return [
        shape_item(half, shape, length, seed, count)
        for length in lengths
        for shape in shapes
        for seed in range(n)
    ]
