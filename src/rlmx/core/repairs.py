"""Repairs for the mistakes root models make, learned from their trajectories.

One ``Repairs`` object per run watches what the root sees and does; the run's policy
(``policy.py``) decides which repairs apply. Every policy answers an error repeated cell
after cell with a hint, and spots a cell that repeats an earlier one, code and output
alike (the run then asks for FINAL; with a grammar the next reply can only be a FINAL
line). The compact policy (small local models) also:

- notes on a sub-call's reply when the prompt held no text from the context: the helper
  answered blind, and small models otherwise trust whatever it made up;
- does not send a sub-call that only repeats the question without any text: the helper
  cannot see ``context``, so its reply could only be a guess;
- pushes back once on a prose ``FINAL`` whose numbers appear in no REPL output the model
  has seen (after a search that printed nothing, a 1.5B model answers with a number from
  nowhere, or with the context's length from the task description);
- pushes back once on the answer to a count or sum that no code of the run counted (a
  1.5B root printed a folder's files and typed a number), and once on an answer of 0 (a
  filter that matched nothing: ``r['path'] == '/api/'`` for "requests under /api/", or
  ``s['sku'] in garden`` where ``garden`` holds whole product records; the push back shows
  the filter's cell fixed, comparisons widened to a part match and keys tested against
  the records' keys, which a 1.5B root ran where advice alone left it printing values and
  answering 0 again), each with what to do instead; the same checks are the answer's
  warnings if it still stands. An answer of ``None`` to any question but a yes/no one is
  pushed back as a 0 is;
- pushes back once on an answer whose run never looked for a name the question gives
  and the data holds (a 1.5B root answered "how many lines did Gus Haddad insert?" with
  the log's line count);
- pushes back once on an answer whose filter also tests a field's value that the question
  never names (a 1.5B root copied a worked dialogue's second condition), and runs the
  cell without it; and once on several numbers answering a question that asks for one
  count or sum (it printed ``len(hits), total`` and answered with both), and on a
  ranking read off a count per value that found each value once.

Every policy refuses (twice at most) an answer whose value only the instructions hold:
one of the worked dialogues' numbers or names that no output of this run showed, given in
a prose ``FINAL`` or written literally in the cell that called ``FINAL`` (a 1.5B root
answered a ledger sum and a bytes total with the group-by example's ``21405``, and "which
customer has the most cancelled orders?" with its customer, ``Lea Brandt``).
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable

from ..repl.data_profile import ALL_VALUES, JOIN_THEN, LIST_FIELD
from . import prompts
from .answer_warnings import (
    COUNT_QUESTION,
    COUNTING_CODE,
    RANKING_QUESTION,
    SUM_QUESTION,
    computed_question,
    empty_answer,
    number_shown,
)

BORROWED_DIGITS = 3  # shorter numbers (1, 2, 10 ...) are everywhere: not evidence of copying
BORROWED_NAME_CHARS = (4, 80)  # a name answer this long may be copied; shorter is everywhere
# a value the worked dialogues write: a FINAL's answer, or a quoted string ('Lea Brandt')
EXAMPLE_VALUE = re.compile(r"FINAL\(([^,()\n]+)|'([^'\n]+)'|\"([^\"\n]+)\"")
BORROWED_PUSHBACKS = 2  # then the answer stands, with a warning
BLIND_PROMPT_CHARS = 2_000  # sub-call prompts up to this long are checked for context text
_WINDOW = 40  # a prompt "holds context text" when it shares a window this long with it
_NUMBER = re.compile(r"\d+(?:,\d{3})*(?:\.\d+)?")


NUMBER_ONLY = re.compile(r"\s*-?[\d,.]+\s*")
# numbers listed apart ("748, 908487.56"): a thousands comma has no space after it
SEVERAL_NUMBERS = re.compile(r"\s*-?[\d,.]*\d(?:(?:,\s+|;\s*|\s+)-?[\d,.]*\d)+\s*")
# "Which port ...?" asks for a number: a bare number is the right form of its answer
NUMERIC_WHICH = re.compile(
    r"\s*which\s+(port|year|number|id|version|code|amount|price|count|total|size|date|day|"
    r"month|hour|minute|percentage|percent|age|score|value|status|line|page)\b",
    re.IGNORECASE,
)
# a traceback names its cell (`File "<cell 7>"`): the same failing cell must still compare equal
CELL_NAME = re.compile(r"<cell \d+>")
# "a 5xx", "4XX errors": a class of status codes, every code from 500 to 599
STATUS_CLASS = re.compile(r"\b([1-5])xx\b", re.IGNORECASE)
# code that tests a range of codes (>= 500, // 100, range(500, 600), startswith('5'))
ITEM_COUNT = "len("  # code that counts the items of a list field
RANGE_TEST = re.compile(r"[<>]=?\s*\d|//\s*100|range\(|startswith\(|\[0\]\s*==")
# a profile's line for a field holding a list per record (its name as the data writes it)
LIST_FIELD_LINE = re.compile(r"^  '([^'\n]{1,80})': " + re.escape(LIST_FIELD), re.MULTILINE)
# a profile's line for a field whose values it lists all of (data_profile._values)
VALUES_LINE = re.compile(r"^  '([^'\n]{1,80})': " + re.escape(ALL_VALUES) + r"(.+)$", re.MULTILINE)
# a profile's join hint: the map it builds, and how a record x of the other file uses it
# (its own line: the data's lines the profile quotes are indented, so none can pose as one
# and have rlmx run a cell the data wrote)
JOIN_LINE = re.compile(
    r"^the '[^\n]{1,400}? map it first: (\w+ = \{.{1,300}?\})" + re.escape(JOIN_THEN)
    + r"(\w+\.get\(.{1,80}?\)) "
    r"is the '([^'\n]{1,80})' of a record x of (parse_records\(.{1,200}?\]\))$",
    re.MULTILINE,
)  # fmt: skip
WHICH = re.compile(r"\b(?:which|what)\s+(\w+)", re.IGNORECASE)  # "which genre ...?"
# what a question names that the data may hold: a quoted text, a capitalised name
# ("Gus Haddad"), a path or an id ("src/juniper.py", "TRK4417")
QUOTED = re.compile(r"'([^'\n]{2,60})'|\"([^\"\n]{2,60})\"")
CAPITALISED = re.compile(r"\b[A-Z][\w-]*(?: [A-Z][\w-]*)*")
PATH_OR_ID = re.compile(r"[/._]|\d")  # in a word of the question: a path or an id
WORD_EDGES = "?!,;:()[]{}\"'."  # stripped from a question's word
PLAIN_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")  # a bound or an amount, no one's name
MAX_SEARCHED_CHARS = 256 * 2**20  # a longer context is not searched for the question's names
# a ranking whose first entry was counted once (``[('6e7d...', 1)]``): all are tied at 1
TOP_COUNTED_ONCE = re.compile(r"^\[\((?:'([^'\n]{1,200})'|([^,\s]{1,200})), 1\)", re.MULTILINE)
COUNT_PER_VALUE = re.compile(r"\bmost (?:often|common|frequent)", re.IGNORECASE)


def _numbers(text: str) -> set[str]:
    """The numbers written in ``text``, thousands separators removed."""
    return {m.group().replace(",", "") for m in _NUMBER.finditer(text)}


def telling_numbers(text: str) -> set[str]:
    """The numbers of ``text`` long enough (BORROWED_DIGITS) that one copied from it is
    evidence of copying (the generality benchmark keeps its golds out of these too)."""
    return {n for n in _numbers(text) if sum(c.isdigit() for c in n) >= BORROWED_DIGITS}


def _listed(values: str) -> set[str]:
    """The values of a profile's "values 'a', 'b'" list, as text, lowercased (none when
    one was cut short: "'Lorem ipsu...'" is no value; nor when the data wrote the line
    itself, among the first lines the profile quotes, with no literal values: ``{[1]: 2}``
    raised TypeError and ended the run)."""
    try:
        parsed = ast.literal_eval(f"[{values}]")
    except (SyntaxError, ValueError, TypeError, RecursionError, MemoryError):
        return set()
    return {str(value).lower() for value in parsed}


def _is_value(answer: str, values: set[str]) -> bool:
    return answer.strip().strip("\"'`.").strip().lower() in values


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+(?:-[a-z0-9]+)*", text.lower())


FIXED_CHARS = 2_000  # a fixed cell longer than this is neither shown nor run


def _lowered(node: ast.expr) -> ast.expr:
    """``str(node).lower()``."""
    field = ast.Call(ast.Name("str", ast.Load()), [node], [])
    return ast.Call(ast.Attribute(field, "lower", ast.Load()), [], [])


class _Widen(ast.NodeTransformer):
    """``field == 'Text'`` (a subscript or attribute against a string) becomes
    ``'text' in str(field).lower()``, and ``'Text' in line`` (a text looked for in a value,
    not in a literal collection) ``'text' in str(line).lower()``."""

    def __init__(self) -> None:
        self.fixed = 0
        self.casefolded = 0

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) == 1 and isinstance(node.ops[0], ast.In | ast.NotIn):
            return self._casefolded(node)
        if len(node.ops) != 1 or not isinstance(node.ops[0], ast.Eq):
            return node
        left, right = node.left, node.comparators[0]
        if isinstance(left, ast.Constant):
            left, right = right, left
        if not (isinstance(left, ast.Subscript | ast.Attribute) and isinstance(right, ast.Constant)
                and isinstance(right.value, str)):  # fmt: skip
            return node
        self.fixed += 1
        return ast.Compare(ast.Constant(right.value.lower()), [ast.In()], [_lowered(left)])

    def _casefolded(self, node: ast.Compare) -> ast.AST:
        """A 1.5B root counted ``'failed' in l`` over lines that write "Failed password"."""
        text, where = node.left, node.comparators[0]
        searched = text.value if isinstance(text, ast.Constant) else None
        if not isinstance(searched, str) or not any(c.isalpha() for c in searched):
            return node
        if _literal_or_lowered(where):
            return node
        self.casefolded += 1
        return ast.Compare(ast.Constant(searched.lower()), node.ops, [_lowered(where)])


def _literal_or_lowered(node: ast.expr) -> bool:
    """A literal collection (``x in ('a', 'b')`` is membership, not a search in a text),
    or a text already lowered (``s.lower()``)."""
    if isinstance(node, ast.List | ast.Tuple | ast.Set | ast.Dict | ast.Constant):
        return True
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
        node.func.attr == "lower")  # fmt: skip


class _Membership(ast.NodeTransformer):
    """``s['sku'] in garden``, where the cell built ``garden = [p for p in ...]`` of whole
    records, is never true: it becomes ``s['sku'] in garden_sku``, and
    ``garden_sku = {p['sku'] for p in garden}`` follows each assignment of ``garden``."""

    def __init__(self, tree: ast.Module) -> None:
        self.records = dict(_record_lists(tree))  # name -> the comprehension's variable
        self.keys: dict[str, set[str | int]] = {}  # name -> the fields tested against it
        self.fixed = 0

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        listed, key = node.comparators[0], _constant_key(node.left)
        if (len(node.ops) != 1 or not isinstance(node.ops[0], ast.In | ast.NotIn)
                or not isinstance(listed, ast.Name) or listed.id not in self.records
                or key is None):  # fmt: skip
            return node
        self.keys.setdefault(listed.id, set()).add(key)
        self.fixed += 1
        return ast.Compare(node.left, node.ops, [ast.Name(_keys_name(listed.id, key), ast.Load())])

    def add_key_sets(self, tree: ast.Module) -> None:
        """After each top-level assignment of a list tested against, the set of its keys."""
        body: list[ast.stmt] = []
        for statement in tree.body:
            body.append(statement)
            name = _assigned_name(statement) or ""
            variable = self.records.get(name, "")
            for key in sorted(self.keys.get(name, ()), key=str):
                item = ast.Subscript(ast.Name(variable, ast.Load()), ast.Constant(key), ast.Load())
                loop = ast.comprehension(ast.Name(variable, ast.Store()),
                                         ast.Name(name, ast.Load()), [], 0)  # fmt: skip
                body.append(ast.Assign([ast.Name(_keys_name(name, key), ast.Store())],
                                       ast.SetComp(item, [loop])))  # fmt: skip
        tree.body = body


def _assigned_name(statement: ast.stmt) -> str | None:
    if isinstance(statement, ast.Assign) and len(statement.targets) == 1:
        target = statement.targets[0]
        return target.id if isinstance(target, ast.Name) else None
    return None


def _record_lists(tree: ast.Module) -> list[tuple[str, str]]:
    """Top-level names bound to a list or set of whole items: ``[p for p in rows if ...]``."""
    found = []
    for statement in tree.body:
        name, value = _assigned_name(statement), getattr(statement, "value", None)
        if name and isinstance(value, ast.ListComp | ast.SetComp) and len(value.generators) == 1:
            variable = value.generators[0].target
            if isinstance(variable, ast.Name) and isinstance(value.elt, ast.Name) \
                    and value.elt.id == variable.id:  # fmt: skip
                found.append((name, variable.id))
    return found


def _constant_key(node: ast.expr) -> str | int | None:
    """``'sku'`` of ``s['sku']``."""
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        key = node.slice.value
        return key if isinstance(key, str | int) and not isinstance(key, bool) else None
    return None


def _keys_name(name: str, key: str | int) -> str:
    return name + "_" + re.sub(r"\W", "_", str(key))


class _StatusRange(ast.NodeTransformer):
    """``s == 500`` or ``s in [500, 503]`` (codes of one class) becomes
    ``500 <= s <= 599``: the whole class the question names."""

    def __init__(self, low: int) -> None:
        self.low, self.fixed = low, 0

    def visit_Compare(self, node: ast.Compare) -> ast.AST:
        self.generic_visit(node)
        if len(node.ops) != 1 or not isinstance(node.ops[0], ast.Eq | ast.In):
            return node
        right = node.comparators[0]
        values = right.elts if isinstance(right, ast.List | ast.Tuple | ast.Set) else [right]
        if not values or not all(self._in_class(v) for v in values):
            return node
        self.fixed += 1
        return ast.Compare(ast.Constant(self.low), [ast.LtE(), ast.LtE()],
                           [node.left, ast.Constant(self.low + 99)])  # fmt: skip

    def _in_class(self, node: ast.expr) -> bool:
        value = node.value if isinstance(node, ast.Constant) else None
        return isinstance(value, int) and self.low <= value <= self.low + 99


def status_range(code: str, low: int) -> str | None:
    """``code`` with its tests of some codes of a class (500 to 599 for ``low`` 500)
    testing the whole class; None when it has none (or see ``_rewritten``)."""

    def fix(tree: ast.Module) -> tuple[ast.AST, list[str]]:
        widen = _StatusRange(low)
        return widen.visit(tree), ["class"] if widen.fixed else []

    fixed = _rewritten(code, fix)
    return fixed[0] if fixed is not None else None


NAMED_PREFIX = 4  # a word named by the question shares this many first letters with one of it


def _named(text: str, query: str) -> bool:
    """The question names ``text``: as written, or each of its words by its first letters
    ("canceled" for "cancelled", "Failed" for "failed")."""
    asked = query.lower()
    if text.lower() in asked:
        return True
    words, asked_words = _words(text), _words(asked)
    return bool(words) and all(
        any(w[:NAMED_PREFIX] == a[:NAMED_PREFIX] for a in asked_words) for w in words
    )


class _Unasked(ast.NodeTransformer):
    """Drops the conditions of a filter that test a field's value the question never names
    (``values``: the values the profile lists of the record fields, lowercased): a 1.5B root
    copied a worked dialogue's second condition and summed "the shipments to Oslo" of one
    carrier only. A condition that is all of a filter stays (the cell would keep nothing)."""

    def __init__(self, query: str, values: set[str]) -> None:
        self.query, self.values = query, values
        self.dropped: list[str] = []

    def unasked(self, node: ast.expr) -> str | None:
        """The value ``node`` tests for (``r['carrier'] == 'BlueBird'``) when the question
        does not name it."""
        if not isinstance(node, ast.Compare) or len(node.ops) != 1:
            return None
        if not isinstance(node.ops[0], ast.Eq | ast.In):
            return None
        for side in (node.left, node.comparators[0]):
            value = side.value if isinstance(side, ast.Constant) else None
            if isinstance(value, str) and value.lower() in self.values:
                return None if _named(value, self.query) else value
        return None

    def _kept(self, tests: list[ast.expr]) -> list[ast.expr]:
        values = [self.unasked(test) for test in tests]
        kept = [test for test, value in zip(tests, values, strict=True) if value is None]
        if not kept:
            return tests
        self.dropped += [value for value in values if value is not None]
        return kept

    def visit_BoolOp(self, node: ast.BoolOp) -> ast.AST:
        self.generic_visit(node)
        if not isinstance(node.op, ast.And):
            return node
        kept = self._kept(node.values)
        return kept[0] if len(kept) == 1 else ast.BoolOp(node.op, kept)

    def visit_comprehension(self, node: ast.comprehension) -> ast.AST:
        self.generic_visit(node)
        node.ifs = self._kept(node.ifs) if len(node.ifs) > 1 else node.ifs
        return node


def without_unasked(code: str, query: str, values: set[str]) -> tuple[str, list[str]] | None:
    """``code`` without the filter conditions that test a value ``query`` never names
    (``_Unasked``), and the values they tested; None when it has none (or see
    ``_rewritten``)."""
    dropped: list[str] = []

    def fix(tree: ast.Module) -> tuple[ast.AST, list[str]]:
        unasked = _Unasked(query, values)
        tree = unasked.visit(tree)
        dropped.extend(unasked.dropped)
        return tree, ["unasked"] if unasked.dropped else []

    fixed = _rewritten(code, fix)
    return (fixed[0], dropped) if fixed is not None else None


class _Printed(ast.NodeTransformer):
    """``FINAL(x)`` becomes ``print(x)``: the fixed cell shows its answer, and the model,
    not the fix, decides whether it is final."""

    def visit_Call(self, node: ast.Call) -> ast.AST:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id == "FINAL" and node.args:
            return ast.Call(ast.Name("print", ast.Load()), node.args[:1], [])
        return node


def fixed_filter(code: str) -> tuple[str, list[str]] | None:
    """``code`` with the filter mistakes that match nothing fixed, and what each fix was
    (``prompts.FILTER_FIXES``'s keys): a key tested for membership in a list of whole
    records (``s['sku'] in garden``), an exact-text comparison of a field widened to a
    part match that ignores case (``r['path'] == '/api/'`` ->
    ``'/api/' in str(r['path']).lower()``), and a text looked for with ``in`` made blind to
    case (``'failed' in l`` -> ``'failed' in str(l).lower()``). None when there is nothing
    to fix (or see ``_rewritten``)."""

    def fix(tree: ast.Module) -> tuple[ast.AST, list[str]]:
        membership = _Membership(tree)
        tree = membership.visit(tree)
        membership.add_key_sets(tree)
        widen = _Widen()
        tree = widen.visit(tree)
        fixed = (("membership", membership.fixed), ("widened", widen.fixed),
                 ("casefolded", widen.casefolded))  # fmt: skip
        return tree, [name for name, count in fixed if count]

    return _rewritten(code, fix)


def _rewritten(
    code: str, fix: Callable[[ast.Module], tuple[ast.AST, list[str]]]
) -> tuple[str, list[str]] | None:
    """The model's ``code`` rewritten on the host by ``fix`` (the tree, and the names of
    the fixes it made), with a ``FINAL(x)`` printing ``x``; None when it made none, the
    code does not parse, or it comes out longer than FIXED_CHARS (a flood of ==)."""
    try:
        tree, fixes = fix(ast.parse(code))
        text = ast.unparse(ast.fix_missing_locations(_Printed().visit(tree))) if fixes else None
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return (text, fixes) if text is not None and len(text) <= FIXED_CHARS else None


class Repairs:
    """What the root has seen in one run, and the corrections that follow from it."""

    def __init__(self, query: str, context: object) -> None:
        self.query = query
        self.context = context
        self.outputs: list[str] = []  # every cell's output, lowercased
        self.seen_numbers = _numbers(query)
        self.told = [query.lower()]  # the question and the task message, lowercased
        self.pushed_back = False
        self.asked_for_name = False
        self.seen_cells: set[int] = set()  # hashes of (code, output) of every cell
        self.prompt_numbers: set[str] = set()  # the instructions' own (worked examples ...)
        self.prompt_values: set[str] = set()  # the worked dialogues' values, lowercased
        self.borrowed_pushbacks = 0
        self.last_error = ""
        self.error_streak = 0
        self.counted = False  # a cell that ran without an error counted or added up
        self.ran: list[str] = []  # the code of every cell that ran without an error, in order
        self.result_pushbacks: set[str] = set()  # the result checks that have pushed back
        self.list_fields: list[str] = []  # the profile's fields that hold a list per record
        self.field_values: dict[str, set[str]] = {}  # the profile's fields listed whole
        self.joined: dict[str, str] = {}  # field -> how to count per value of it via a join
        self.repair: str | None = None  # a fixed cell the loop runs for the model (take_repair)

    def saw(self, code: str, output: str, failed: bool = False) -> bool:
        """Remember a cell's output as the root saw it (``failed``: the cell raised); True
        when the cell repeated an earlier one, code and output alike (a loop the model
        will not leave by itself; a 1.5B root alternated two such cells until its
        iterations ran out)."""
        self.seen_numbers |= _numbers(output)
        self.outputs.append(output.lower())
        self.counted |= bool(COUNTING_CODE.search(code)) and not failed
        if not failed:
            self.ran.append(code)
        cell = hash((code.strip(), CELL_NAME.sub("<cell>", output)))
        repeated = cell in self.seen_cells
        self.seen_cells.add(cell)
        return repeated

    def error_hint(self, output: str, failed: bool) -> str | None:
        """The second failure in a row with the same last error line earns a hint."""
        lines = output.strip().splitlines()
        error = lines[-1] if failed and lines else ""
        self.error_streak = self.error_streak + 1 if error and error == self.last_error else 1
        self.last_error = error
        if error and self.error_streak >= 2:
            return prompts.repeated_error_hint(error, self.error_streak)
        return None

    def is_blind(self, prompt: str) -> bool:
        """A short sub-call prompt that shares no 40-character window with a str context."""
        text = self.context if isinstance(self.context, str) else None
        if text is None or len(prompt) > BLIND_PROMPT_CHARS:
            return False  # long prompts carry text; only short ones are checked
        if len(text) < 20 * len(prompt):
            return False  # a small context: the prompt may legitimately restate it
        starts = range(0, max(1, len(prompt) - _WINDOW + 1), _WINDOW // 2)
        windows = (prompt[i : i + _WINDOW] for i in starts)
        return not any(len(w) == _WINDOW and w in text for w in windows)

    def refusal(self, prompt: str) -> str | None:
        """Why a sub-call is not sent: it is the question itself, with no text to read."""
        words = _words(prompt)
        asked = set(_words(self.query))
        if not words or not asked or len(words) > 2 * len(asked) or not self.is_blind(prompt):
            return None
        if sum(w in asked for w in words) < 0.8 * len(words):
            return None
        return prompts.QUESTION_ECHO

    def reply_note(self, prompt: str) -> str:
        """Appended to a sub-call's reply when the helper answered without any text."""
        return "\n" + prompts.BLIND_SUB_CALL if self.is_blind(prompt) else ""

    def learn_prompt(self, texts: list[str], task: str = "") -> None:
        """The instructions and worked dialogues (``texts``), and the task message, whose
        names (a profile's values) count as seen; its numbers do not (a 1.5B root answered
        counts with the context's length)."""
        self.prompt_numbers = telling_numbers(" ".join(texts)) - self.seen_numbers
        found = EXAMPLE_VALUE.findall(" ".join(texts))
        self.prompt_values = {value.strip().lower() for match in found for value in match}
        self.told.append(task.lower())
        self.list_fields = LIST_FIELD_LINE.findall(task)
        for field, listed in VALUES_LINE.findall(task):
            values = _listed(listed)
            if values:
                self.field_values.setdefault(field.lower(), set()).update(values)
        for mapping, value, field, records in JOIN_LINE.findall(task):
            self.joined[field.lower()] = (
                f"{mapping}\ncounts = Counter({value} for x in {records})\n"
                "print(counts.most_common(3))"
            )

    def borrowed_values(self, answer: str, code: str | None = None) -> list[str]:
        """The values of ``answer`` that only the instructions hold, no output having shown
        them (and, for an answer a cell gave, its code having written them literally): its
        long numbers, or the whole answer when it is a value the worked dialogues quote or
        answer with (a common word of the instructions is no copy)."""
        written = _numbers(code) if code is not None else None
        numbers = sorted(
            n for n in _numbers(answer)
            if n in self.prompt_numbers and not number_shown(n, self.seen_numbers)
            and (written is None or n in written)
        )  # fmt: skip
        name = self._borrowed_name(answer, code)
        return [name] if name and not numbers else numbers

    def _borrowed_name(self, answer: str, code: str | None) -> str | None:
        name = answer.strip().strip("\"'`.").strip()
        low, (shortest, longest) = name.lower(), BORROWED_NAME_CHARS
        if not shortest <= len(low) <= longest or not re.search(r"[a-z]", low):
            return None
        if low not in self.prompt_values:
            return None
        seen = [*self.told, *self.outputs]
        if any(low in text for text in seen) or (code and low not in code.lower()):
            return None
        return name

    def borrowed(self, answer: str, code: str | None = None) -> str | None:
        """A push back (BORROWED_PUSHBACKS times at most) on an answer from the examples."""
        values = self.borrowed_values(answer, code)
        if not values or self.borrowed_pushbacks >= BORROWED_PUSHBACKS:
            return None
        self.borrowed_pushbacks += 1
        return prompts.borrowed_answer(", ".join(values))

    def unseen_numbers(self, answer: str) -> list[str]:
        """The numbers of ``answer`` that no output the root has seen showed."""
        return sorted(n for n in _numbers(answer) if not number_shown(n, self.seen_numbers))

    def several_numbers(self, answer: str) -> str | None:
        """A push back (once) on numbers alone, several of them, answering a question that
        asks for one count, sum or average: a 1.5B root printed ``len(hits), total`` and
        answered with both."""
        if "several" in self.result_pushbacks or not SEVERAL_NUMBERS.fullmatch(answer):
            return None
        if len(COUNT_QUESTION.findall(self.query)) != 1:
            return None  # none asked, or two ("how many ... and what total ...?")
        self.result_pushbacks.add("several")
        return prompts.several_numbers(answer, self.query)

    def number_for_a_name(self, answer: str) -> str | None:
        """A one-time push back on a bare number answering a "which" / "who" question,
        unless it asks which number-like thing ("which port", "which year")."""
        asks_name = re.match(r"\s*(which|who)\b", self.query, re.IGNORECASE)
        numeric = NUMERIC_WHICH.match(self.query)
        if self.asked_for_name or not asks_name or numeric or not NUMBER_ONLY.fullmatch(answer):
            return None
        self.asked_for_name = True
        return prompts.number_for_a_name(self.query)

    def doubted_result(self, answer: str, code: str | None = None) -> str | None:
        """A push back (once each) on an answer that says the code found nothing: 0 for a
        count or sum, ``None`` for any question but a yes/no one (a filter or a pattern that
        matched nothing); or on a count or sum that no code counted, read off printed text
        (``code``: the cell that gave the answer, which may count itself)."""
        counted = self.counted or bool(code and COUNTING_CODE.search(code))
        if empty_answer(self.query, answer):
            kind = "empty"
        elif COUNT_QUESTION.search(self.query) and re.search(r"\d", answer) and not counted:
            kind = "uncounted"
        else:
            return None
        if kind in self.result_pushbacks:
            return None
        self.result_pushbacks.add(kind)
        if kind == "uncounted":
            return (
                prompts.unadded(self.query)
                if SUM_QUESTION.search(self.query)
                else prompts.UNCOUNTED
            )
        cells = [code] if code else []  # a cell that failed matched nothing: its error did
        fixed = next(filter(None, map(fixed_filter, cells + self.ran[::-1])), None)
        self.repair = fixed[0] if fixed is not None else None
        return prompts.empty_result(answer, fixed)

    def _answer_code(self, code: str | None) -> str:
        """The cell that gave the answer, else (a prose FINAL) the last cell that ran."""
        return code if code is not None else (self.ran[-1] if self.ran else "")

    def take_repair(self) -> str | None:
        """The fixed cell of the last push back, once: the loop runs it and shows its
        output (a 1.5B root told to reply with the fixed cell answered 0 again)."""
        repair, self.repair = self.repair, None
        return repair

    def partial_class(self, code: str | None = None) -> str | None:
        """A push back (once) on an answer about a class of status codes ("a 5xx") whose
        code tested no range: a 1.5B root counted ``r['status'] == 500`` for "got a 5xx".
        The cell (``code``, the one that gave the answer, else the last that ran) with its
        tests of single codes widened to the class is run for the model (take_repair):
        told to test the range, its recheck dropped the filter's other condition."""
        found = STATUS_CLASS.search(self.query)
        if found is None or "class" in self.result_pushbacks:
            return None
        cell = self._answer_code(code)
        if RANGE_TEST.search(cell):
            return None
        self.result_pushbacks.add("class")
        low = int(found.group(1)) * 100
        self.repair = status_range(cell, low)
        return prompts.status_class(low, self.repair)

    def unresolved(self, answer: str, code: str | None = None) -> list[tuple[str, str]]:
        """The push backs of this run whose cause the accepted ``answer`` or its code
        (``code``, else the last cell that ran) still shows, as (warning code, sentence):
        the root may answer the same again, and the answer then stands, warned."""
        cell = self._answer_code(code)
        found = []
        asked = self.asked_field()
        if "value" in self.result_pushbacks and asked and not _is_value(answer, asked[1]):
            found.append(("foreign_value", f"the question asks which {asked[0]}, and the "
                          f"answer is none of the values of the field {asked[0]!r}"))  # fmt: skip
        if "class" in self.result_pushbacks and not RANGE_TEST.search(cell):
            found.append(("partial_class", "the question names a class of status codes, and "
                          "the answer's code tested only some codes of it"))  # fmt: skip
        if "unasked" in self.result_pushbacks and without_unasked(
            cell, self.query, self._listed_values()
        ):
            found.append(("unasked_condition", "the answer's filter tests a value the question "
                          "does not name"))  # fmt: skip
        missed = self._missed(code) if "missed" in self.result_pushbacks else []
        if missed:
            found.append(("missed_condition", f"the question names {', '.join(map(repr, missed))}"
                          ", and no code of the run looked for it"))  # fmt: skip
        if "tied" in self.result_pushbacks and self._tied_ranking(answer):
            found.append(("tied_ranking", "the answer's ranking counted each value once, "
                          "so it ranks nothing"))  # fmt: skip
        if "items" in self.result_pushbacks and ITEM_COUNT not in cell:
            found.append(("uncounted_items", "the question counts the items of a list field, "
                          "and the answer's code counted records, not items"))  # fmt: skip
        return found

    def uncounted_items(self, code: str | None = None) -> str | None:
        """A push back (once) on a count or ranking of what a list field holds (the
        question names the field) when the answer's code took no len(): a 1.5B root
        answered "which owner has the most open tasks?" by counting projects per owner,
        each project's tasks a list. ``code``: the cell that gave the answer, else the
        last cell that ran."""
        query = self.query.lower()
        named = [f for f in self.list_fields if f.lower() in query]
        if not named or not computed_question(self.query) or "items" in self.result_pushbacks:
            return None
        if ITEM_COUNT in self._answer_code(code):
            return None
        self.result_pushbacks.add("items")
        return prompts.list_items(named[0])

    def asked_field(self) -> tuple[str, set[str]] | None:
        """The field a "which genre ...?" question asks for a value of, and its values:
        when the profile lists all of them (the question's word is the field's name, or
        its plural)."""
        found = WHICH.search(self.query)
        word = found.group(1).lower() if found else ""
        for name in (word, word + "s", word.removesuffix("s")):
            if name in self.field_values:
                return name, self.field_values[name]
        return None

    def foreign_value(self, answer: str) -> str | None:
        """A push back (once) on the answer to "which <field> ...?" that is none of the
        values the field takes: a 1.5B root counted loans per book and answered "which
        genre was borrowed most often?" with a book's id."""
        asked = self.asked_field()
        if asked is None or "value" in self.result_pushbacks or _is_value(answer, asked[1]):
            return None
        self.result_pushbacks.add("value")
        joined = self.joined.get(asked[0])
        if joined and COUNT_PER_VALUE.search(self.query):  # the cell answers it: run it
            self.repair = joined
        return prompts.foreign_value(answer, *asked, joined)

    def _in_data(self, text: str) -> bool:
        """The context holds ``text`` as written (a str context, or a folder's texts)."""
        if isinstance(self.context, str):
            texts = [self.context]
        elif isinstance(self.context, dict):
            texts = [v for v in self.context.values() if isinstance(v, str)]
        else:
            return False
        if sum(map(len, texts)) > MAX_SEARCHED_CHARS:
            return False
        return any(text in value for value in texts)

    @functools.cached_property
    def named_in_query(self) -> list[str]:
        """The texts the question names that the data holds: quoted, capitalised names
        (not the question's first word alone, nor a word in capitals: ``NULL``, ``EUR``
        are no one's name), paths and ids (the context is searched once a run)."""
        found = [a or b for a, b in QUOTED.findall(self.query)]
        found += [m.group() for m in CAPITALISED.finditer(self.query)
                  if (m.start() > 0 or " " in m.group()) and not m.group().isupper()]  # fmt: skip
        words = (word.strip(WORD_EDGES) for word in self.query.split())  # linear: no regex
        found += [w for w in words if PATH_OR_ID.search(w) and not PLAIN_NUMBER.fullmatch(w)]
        return [text for text in dict.fromkeys(found) if len(text) >= 3 and self._in_data(text)]

    def _missed(self, code: str | None) -> list[str]:
        """The question's names that no cell that ran used or showed: not one of their
        words is in the code or the output."""
        looked = "\n".join([*self.ran, code or "", *self.outputs]).lower()
        return [name for name in self.named_in_query
                if not any(word in looked for word in _words(name) if len(word) >= 3)]  # fmt: skip

    def missed_condition(self, code: str | None = None) -> str | None:
        """A push back (once) on an answer whose run never looked for a name the question
        gives and the data holds: a 1.5B root answered "how many lines did Gus Haddad
        insert?" with the number of lines of the whole log. ``code``: the cell that gave
        the answer."""
        if "missed" in self.result_pushbacks:
            return None
        missed = self._missed(code)
        if not missed:
            return None
        self.result_pushbacks.add("missed")
        return prompts.missed_condition(missed)

    def _tied_ranking(self, answer: str) -> bool:
        """The answer is the first value of a ``most_common`` an output showed whose count
        is 1, or a part of it (a 1.5B root counted whole chat lines and answered the speaker
        of the first): each value was one record's, so the first is any."""
        wanted = answer.strip().strip("'\"").lower()
        part = re.compile(rf"(?<!\w){re.escape(wanted)}(?!\w)") if len(wanted) > 2 else None
        return any(value == wanted or (part is not None and part.search(value) is not None)
                   for output in self.outputs
                   for value in (q.lower() or b.lower()
                                 for q, b in TOP_COUNTED_ONCE.findall(output)))  # fmt: skip

    def tied_ranking(self, answer: str) -> str | None:
        """A push back (once) on the answer to "which ... the most ...?" read off a count
        per value that found each value once: a 1.5B root answered "which commit inserted
        the most lines?" with ``Counter(r['commit'] for r in rows).most_common(1)``."""
        if "tied" in self.result_pushbacks or not RANKING_QUESTION.search(self.query):
            return None
        if not self._tied_ranking(answer):
            return None
        self.result_pushbacks.add("tied")
        return prompts.tied_ranking(self.query)

    def _listed_values(self) -> set[str]:
        return set().union(*self.field_values.values())

    def unasked_condition(self, code: str | None = None) -> str | None:
        """A push back (once) on an answer whose filter tests a field's value the question
        never names; the cell without that condition is run for the model (take_repair).
        ``code``: the cell that gave the answer, else the last cell that ran."""
        if "unasked" in self.result_pushbacks or not self.field_values:
            return None
        fixed = without_unasked(self._answer_code(code), self.query, self._listed_values())
        if fixed is None:
            return None
        self.result_pushbacks.add("unasked")
        self.repair = fixed[0]
        return prompts.unasked_condition(fixed[1], fixed[0])

    def unseen_answer(self, answer: str) -> str | None:
        """A one-time push back on a prose FINAL whose numbers no output has shown."""
        if self.pushed_back:
            return None
        unseen = self.unseen_numbers(answer)
        if not unseen:
            return None
        self.pushed_back = True
        return prompts.unseen_answer(", ".join(unseen))
