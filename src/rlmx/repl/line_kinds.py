"""The kinds of line of a text in words, told by how they begin, each with a regex; and, for
a question about amounts, the numbers of such a line and the code that adds them up.

A chat or a log written in words holds no records, yet its lines begin with parts a
question is asked about: a time, a level, a bracketed source, the speaker (``[09:14]
<dara42> ...``, ``10:02 Nia Weiss: ...``). A 1.5B root saw three such lines and still
counted the lines that *mention* a nick instead of the lines the nick wrote, or searched
for the nick's name spelt another way. So the profile lists the kinds of line by their
lead (the parts before the words begin), each with an example line and a regex whose
groups read its parts. For a sum, an average, the largest or the smallest, it shows what
``numbers_in`` reads in a line holding the question's words, and the code over the lines
holding those words. No count is shown: a model could take it for an answer. The work
is bounded (a sample of lines, patterns of linear time). Runs inside the sandbox: stdlib
only.
"""

from __future__ import annotations

import re
from collections import Counter

try:
    from .records import numbers_in
except ImportError:  # run as a plain script inside the sandbox
    from records import numbers_in  # type: ignore[no-redef]

SAMPLE_LINES = 5_000
MAX_PARTS = 5  # of a lead
SHOWN_KINDS = 4
SHARE = 0.03  # of the sampled lines, the least a kind shown must cover
MIN_LINES = 20  # fewer lines: the text's first lines, already shown, say as much
# one part of a lead, and the regex that reads such a part (a group for what varies)
PARTS: list[tuple[str, str, str | None]] = [
    ("[", r"\[[^\]\n]{0,60}\]", r"\[([^\]]*)\]"),
    ("<", r"<[^<>\n]{1,60}>", r"<([^>]*)>"),
    ("(", r"\([^()\n]{0,60}\)", r"\(([^)]*)\)"),
    ("stamp", r"\d[\d:./,T+-]{0,30}Z?", r"(\S+)"),  # a date, a time, a number
    ("level:", r"[A-Z]{2,12}:", r"([A-Z]+):"),  # before "level": the first that matches is kept
    ("level", r"[A-Z]{2,12}", r"([A-Z]+)"),  # INFO, ERROR, GET
    ("speaker", r"[A-Z][\w'.-]{0,30}(?: [A-Z][\w'.-]{0,30}){0,3}:", r"([^:]+?):"),  # Nia Weiss:
    ("nick", r"[\w.-]{1,30}:", r"([^:\s]+):"),  # dara42:
    ("mark", r"[^\w\s]{1,3}", None),  # *, -, |, >> (read as themselves)
]
PART = re.compile("|".join(f"(?P<p{i}>{pattern})" for i, (_, pattern, _) in enumerate(PARTS)))
GAP = re.compile(r"[ \t]+|$")
# a mark's characters that a regex reads, and quotes, which would end the r'...' shown
GROUP = re.compile(r"(?<!\\)\(")  # a part's group: its first "(" that is not a literal "\("
SPECIAL = re.compile(r"([.^$*+?{}\[\]\\|()'\"])")
KINDS_HEADER = "its lines begin in these ways"
ENCLOSING = "[]<>():"  # around a part's value
DATE = re.compile(r"\d{4}-\d\d-\d\d|\d\d?[./]\d\d?[./]\d{2,4}")
TIME = re.compile(r"\d\d?:\d\d")
PART_NAMES = {"[": "source", "<": "name", "(": "note", "speaker": "speaker", "nick": "speaker"}
STEM = 5  # of a word of the question, the letters that find its forms
ASKED_WORDS = 12  # of the question, the words looked for
QUESTION_WORDS = frozenset(
    "how many much what which who whom whose when where why the and for with from did does "
    "was were are has have had that this there their most least often times total number "
    "count sum all any each per lines line".split()
)


# a question about amounts: a sum, an average, the largest or smallest of them
AMOUNT_ASKED = re.compile(
    r"\b(how much|total|sum|altogether|combined|in all|add(?:ed|s)? up|amounts?|average|mean"
    r"|largest|smallest|highest|lowest|biggest|maximum|minimum)\b",
    re.IGNORECASE,
)
WORD = re.compile(r"[^\s.,;:!?()\[\]<>\"']+")  # a word of a line, no mark around it
RUN_CHARS = 2_000  # of the example line, read for the question's words
# "already defined": a 1.5B root shown numbers_in wrote its own, which failed
NUMBERS_HEADER = "numbers_in(l), a function the REPL already has, gives the numbers a line l writes"


def line_numbers(text: str, asked: str) -> list[str]:
    """The profile's lines on the numbers of a text in words, for a question about amounts:
    what ``numbers_in`` gives for a line holding the most of ``asked``'s words. A 1.5B root
    adding up a bank statement's ``+1,790.72 EUR`` split the line at spaces and took a name
    for the amount, or wrote a pattern without the thousands separator and read 1."""
    if not AMOUNT_ASKED.search(asked):
        return []
    lines = [line for line in text.splitlines()[:SAMPLE_LINES] if line.strip()]
    if len(lines) < MIN_LINES:
        return []
    stems = _stems(asked)
    best: tuple[int, str, list[int | float]] | None = None
    for line in lines:
        score = sum(1 for stem in stems if stem.search(line))
        if best is None or score > best[0]:
            found = numbers_in(line)
            best = (score, line, found) if found else best
    if best is None:
        return []
    _score, example, found = best
    return [f"{NUMBERS_HEADER}, as ints or floats (amounts with their sign, commas and "
            "currency; no part of a date, a time or a code):", f"  e.g. {_short(example)}",
            f"    numbers_in(l) gives {_short(repr(found), 200)}",
            f"    {_over_lines(asked, example, found)}"]  # fmt: skip


def _over_lines(asked: str, example: str, found: list[int | float]) -> str:
    """The code that works the question's amount out over the lines like ``example``: its
    number (the last one written with decimals, else the last) of each line holding the
    question's words that ``example`` holds. A 1.5B root shown only what ``numbers_in``
    gives printed each line's list and answered the first, or added up the lists."""
    at = max((i for i, n in enumerate(found) if isinstance(n, float)), default=len(found) - 1)
    number = f"numbers_in(l)[{at - len(found)}]"  # from the end: lines may start otherwise
    runs = _asked_runs(asked, example)
    kept = " if " + " and ".join(f"{run!r} in l" for run in runs) if runs else ""
    kind = AMOUNT_ASKED.search(asked)
    word = kind.group(1).lower() if kind else ""
    if word in ("largest", "highest", "biggest", "maximum", "smallest", "lowest", "minimum"):
        extreme = "min" if word in ("smallest", "lowest", "minimum") else "max"
        size = f"abs({number})" if found[at] < 0 else number  # a payment written -183.19
        return (
            f"{extreme}(({size}, l) for l in lines{kept}) gives the {word} "
            "amount and its line, among the lines holding the question's words here"
        )
    if word in ("average", "mean"):
        return (
            f"amounts = [{number} for l in lines{kept}]; sum(amounts) / len(amounts) "
            "is their average, over the lines holding the question's words here"
        )
    return (
        f"sum({number} for l in lines{kept}) adds up the lines holding the "
        "question's words here (check every condition of the question is among them)"
    )


def _asked_runs(asked: str, line: str) -> list[str]:
    """The runs of ``line``'s words that the question holds (a word, or a form of it),
    each begun and ended by a word no question asks with, as the line writes them (its
    spaces and marks kept, so each is a part of the line): ``'Transfer from Ben Okafor'``."""
    asked_words = set(re.findall(r"\w+", asked.lower()))
    stems = _stems(asked)
    runs: list[list[re.Match[str]]] = [[]]
    for word in WORD.finditer(line[:RUN_CHARS]):
        if word.group().lower() in asked_words or any(s.match(word.group()) for s in stems):
            runs[-1].append(word)
        elif runs[-1]:
            runs.append([])
    found: list[str] = []
    for run in runs:
        while run and _weak(run[0].group()):
            run.pop(0)
        while run and _weak(run[-1].group()):
            run.pop()
        if run and line[run[0].start() : run[-1].end()] not in found:
            found.append(line[run[0].start() : run[-1].end()])
    return found


def _weak(word: str) -> bool:
    """A word that tells no line apart: a question's own word, or one of two letters."""
    return word.lower() in QUESTION_WORDS or len(word) <= 2


def line_kinds(text: str, asked: str = "") -> list[str]:
    """The profile's lines on the kinds of line of ``text``: for each kind whose lead holds
    more than a time or a number, an example line (one holding the most of ``asked``'s
    words) and the code that reads the parts of every line of that kind, with what it
    gives for the example, and how to keep the lines whose part is a value the question
    names; [] for prose, code, or lines that begin with their words."""
    lines = [line for line in text.splitlines()[:SAMPLE_LINES] if line.strip()]
    if len(lines) < MIN_LINES:
        return []
    stems, named = _stems(asked), spaced(asked)
    kinds: Counter[tuple[str, ...]] = Counter()
    examples: dict[tuple[str, ...], tuple[int, int, str]] = {}  # the best line's score, line
    for line in lines:
        kind, texts = _lead(line)
        kinds[kind] += 1
        score = sum(1 for stem in stems if stem.search(line))
        whole = sum(_names(named, text.strip(ENCLOSING)) for text in texts)  # a part it names
        if kind not in examples or (score, whole) > examples[kind][:2]:
            examples[kind] = (score, whole, line)
    shown = [kind for kind, n in kinds.most_common(SHOWN_KINDS)
             if n >= max(SHARE * len(lines), 3) and _telling(kind)]  # fmt: skip
    if not shown:
        return []
    out = [f"{KINDS_HEADER} (the parts of a kind's lines, each a dict of its regex's groups):"]
    best = max(examples[kind][0] for kind in shown)  # the kinds of line the question is about
    for kind in shown:
        score, _whole, example = examples[kind]
        out += _kind_lines(_regex(kind, _lead(example)[1]), example, named if score == best else "")
    return out


def _kind_lines(regex: str, example: str, named: str) -> list[str]:
    """A kind's example line, the code that reads its lines' parts and what it gives for
    the example, and the code that keeps its lines whose part the question (``named``: its
    words from ``spaced``, "" for a kind it is less about) names."""
    found = re.match(regex, example)
    parts = found.groupdict() if found else {}
    # no assignment expression: a 1.5B root nested the comprehension in another one's
    # iterable, where Python refuses `:=`
    each = f"for l in lines for m in [re.match(r'{regex}', l)] if m"
    read = f"[m.groupdict() {each}]"
    shown = [f"  e.g. {_short(example)}", f"    {read}",
             f"    gives dicts like {_short(repr(parts), 200)}"]  # fmt: skip
    for name, value in list(parts.items())[:-1]:  # the last part: the rest, words
        if _names(named, value):
            shown.append(
                f"    the question names its {name!r}, {value!r}: [l {each} and "
                f"m[{name!r}] == {value!r}]"
            )
    return shown


def _names(named: str, value: str) -> bool:
    """The question (its words, from ``spaced``) names ``value``, a part holding a letter."""
    return bool(re.search(r"[^\W\d]", value)) and spaced(value) in named


def _stems(asked: str) -> list[re.Pattern[str]]:
    """A pattern per word of the question that may tell a line (its first letters at the
    start of a word of the line: ``join`` finds ``joined``; a word holding a digit whole)."""
    words = dict.fromkeys(word for word in re.findall(r"\w+", asked.lower())
                          if len(word) > 2 and word not in QUESTION_WORDS)  # fmt: skip
    return [
        re.compile(r"(?<!\w)" + re.escape(word if re.search(r"\d", word) else word[:STEM]), re.I)
        for word in list(words)[:ASKED_WORDS]  # each is searched in every sampled line
    ]


def spaced(text: str) -> str:
    """The words of ``text`` in lower case, one space apart and one at each end."""
    return " " + " ".join(re.findall(r"\w+", text.lower())) + " "


def _lead(line: str) -> tuple[tuple[str, ...], list[str]]:
    """The kinds of the parts the line begins with (a mark as itself), up to its words, and
    the parts' texts."""
    kind: list[str] = []
    texts: list[str] = []
    position = 0
    while len(kind) < MAX_PARTS:
        found = PART.match(line, position)
        gap = GAP.match(line, found.end()) if found else None
        if found is None or gap is None:
            break
        name = PARTS[int(str(found.lastgroup)[1:])][0]
        kind.append(found.group() if name == "mark" else name)
        texts.append(found.group())
        position = gap.end()
        if position >= len(line):
            break
    return tuple(kind), texts


def _telling(kind: tuple[str, ...]) -> bool:
    """The lead holds a part that a question may be about, not only times or numbers."""
    return any(part != "stamp" for part in kind)


def _regex(kind: tuple[str, ...], texts: list[str]) -> str:
    """The regex of a kind of line, a named group for each part that varies (named for
    what the example's part holds) and one for the rest."""
    reading = {name: reads for name, _, reads in PARTS}
    taken: Counter[str] = Counter()
    parts = []
    for part, text in zip(kind, texts, strict=True):
        reads = reading.get(part)
        if reads is None:
            parts.append(SPECIAL.sub(r"\\\1", part))
            continue
        name = _part_name(part, text.strip(ENCLOSING))
        taken[name] += 1
        named = f"(?P<{name}{taken[name] if taken[name] > 1 else ''}>"
        parts.append(GROUP.sub(named, reads, count=1))  # named holds no backslash
    return r"\s+".join(parts) + r"\s+(?P<text>.*)"


def _part_name(part: str, value: str) -> str:
    """What a part holds, by its kind and its value in the example."""
    if DATE.search(value):
        return "time" if TIME.search(value) else "date"
    if TIME.search(value):
        return "time"
    if value.replace(".", "").replace(",", "").isdigit():
        return "number"
    if part.startswith("level") or (part == "[" and value.isupper()):
        return "level"
    return PART_NAMES.get(part, "part")


def _short(line: str, chars: int = 120) -> str:
    return line if len(line) <= chars else line[: chars - 3] + "..."
