"""The reply parser: code cells, prose finals, and fuzzing for crashes and leaks."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rlmx.core.protocol import ProseFinal, parse_reply


def test_repl_and_python_fences_are_cells() -> None:
    reply = "Look:\n```repl\nx = 1\n```\nand\n```python\nprint(x)\n```\n"
    assert parse_reply(reply).code_cells == ["x = 1", "print(x)"]


def test_other_languages_and_empty_blocks_are_not_cells() -> None:
    reply = "```bash\nls\n```\n```text\nFINAL(no)\n```\n```repl\n\n```\nFINAL(yes)"
    parsed = parse_reply(reply)
    assert parsed.code_cells == []
    assert parsed.final == ProseFinal("FINAL", "yes")


def test_unterminated_fence_at_end_counts() -> None:
    assert parse_reply("```repl\nprint(1)").code_cells == ["print(1)"]


def test_prose_final_only_without_code() -> None:
    assert parse_reply("FINAL(42)").final == ProseFinal("FINAL", "42")
    with_code = "```repl\nprint(1)\n```\nFINAL(42)"
    assert parse_reply(with_code).final is None


def test_final_inside_fence_is_never_prose() -> None:
    reply = "```\nFINAL(hidden)\n```\nno final here"
    assert parse_reply(reply).final is None


def test_final_must_start_a_line() -> None:
    assert parse_reply("I will call FINAL(3) later").final is None
    assert parse_reply("  FINAL(3)").final == ProseFinal("FINAL", "3")


def test_final_balances_parentheses_and_quotes() -> None:
    assert parse_reply("FINAL(f(x) = (a+b))").final.value == "f(x) = (a+b)"
    assert parse_reply('FINAL("a ) b")').final.value == "a ) b"
    assert parse_reply("FINAL('it''s')").final is not None
    assert parse_reply("FINAL(multi\nline answer)").final.value == "multi\nline answer"


def test_final_var_needs_identifier() -> None:
    assert parse_reply("FINAL_VAR(result)").final == ProseFinal("FINAL_VAR", "result")
    assert parse_reply('FINAL_VAR("result")').final == ProseFinal("FINAL_VAR", "result")
    assert parse_reply("FINAL_VAR(1 + 2)").final is None


def test_unbalanced_final_takes_up_to_last_paren() -> None:
    assert parse_reply("FINAL(the answer (partly) is 7").final.value == "the answer (partly"


def test_no_closing_paren_is_no_final() -> None:
    assert parse_reply("FINAL(the answer is 7").final is None


code_text = st.text(
    alphabet=st.characters(blacklist_characters="`\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"),
    min_size=1,
).filter(lambda s: s.strip() != "")


@given(st.text())
@settings(max_examples=500)
def test_parser_never_crashes(reply: str) -> None:
    parsed = parse_reply(reply)
    for cell in parsed.code_cells:
        assert cell in reply
    if parsed.final is not None:
        assert not parsed.code_cells


@given(st.lists(code_text, min_size=1, max_size=4), st.text(alphabet="abc FINAL()\n", max_size=40))
@settings(max_examples=300)
def test_cells_round_trip(cells: list[str], prose: str) -> None:
    lines = [c.replace("\n", " ") for c in cells]
    reply = prose + "\n" + "\n".join(f"```repl\n{c}\n```" for c in lines) + "\n" + prose
    parsed = parse_reply(reply)
    assert parsed.code_cells == [c for c in lines if c.strip()]
    assert parsed.final is None


@given(
    st.text(
        alphabet=st.characters(
            blacklist_characters="`()\"'\\\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"
        ),
        min_size=1,
        max_size=60,
    )
)
@settings(max_examples=300)
def test_final_inside_any_fence_is_ignored(answer: str) -> None:
    reply = f"```repl\nFINAL({answer})\n```"
    assert parse_reply(reply).final is None
    fenced_text = f"```text\nFINAL({answer})\n```"
    assert parse_reply(fenced_text).final is None
    assert parse_reply(f"FINAL({answer})").final == ProseFinal("FINAL", answer.strip())
