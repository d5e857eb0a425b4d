"""Property-based fuzzing (hypothesis) of what the host checks before it uses untrusted
values: client schemas, the GBNF escaper, the citation matcher and the frame validator.
Each property holds for every generated input, and each run is bounded in examples."""

from __future__ import annotations

import contextlib
import math
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rlmx.answers import client_schema
from rlmx.citations import Source, fold, locate, loose_pieces
from rlmx.errors import ConfigError
from rlmx.gbnf import control_problem, literal
from rlmx.repl.frames import ProtocolViolation, check_call, check_result

from conftest import parse_gbnf

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
KEYWORDS = "type enum const $ref $dynamicRef $defs items anyOf properties minLength maxLength"
KEYWORDS_LIST = [*KEYWORDS.split(), "maxItems", "pattern", "$id", "if", "then"]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(KEYWORDS_LIST) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=30,
)


@FUZZ
@given(json_values)
@example({"minLength": math.inf})  # found by this test: int(inf) raised OverflowError
@example({"maxItems": math.nan})
def test_a_client_schema_is_accepted_or_refused_with_a_config_error(schema: Any) -> None:
    with contextlib.suppress(ConfigError):  # refused with a message: anything else is a bug
        client_schema(schema)


@FUZZ
@given(st.text(max_size=60))
def test_the_escaper_refuses_controls_or_gives_a_literal_llama_reads_back(text: str) -> None:
    if control_problem(text):
        try:
            literal(text)
        except ValueError:
            return
        raise AssertionError("a control character reached a literal")
    rule = literal(text)
    body = rule[1:-1]
    assert body.count('"') == body.count('\\"')  # every quote inside is escaped
    if text:
        parse_gbnf(f"root ::= {rule}")


words = st.text(alphabet="abcXYZ’'“-— \n\t.,", min_size=1, max_size=12)


@FUZZ
@given(st.lists(words, min_size=1, max_size=40), st.data())
def test_a_loosely_quoted_piece_of_the_context_is_found_where_it_is(parts, data) -> None:
    text = " ".join(parts)
    start = data.draw(st.integers(0, len(text) - 1))
    end = data.draw(st.integers(start + 1, len(text)))
    quote = text[start:end]
    changed = quote.upper() if data.draw(st.booleans()) else quote.replace(" ", "  ")
    [found] = locate([changed], [Source("context", None, text)])
    pieces = loose_pieces(changed)
    if len(pieces) == 1:  # no "..." in it: found, and its span folds to the quote's piece
        assert found.found, (changed, text)
        span = text[found.start : found.end]
        assert span == changed.strip() if found.exact else fold(span) == pieces[0]


@FUZZ
@given(json_values, st.integers(-5, 5) | st.none())
def test_the_frame_validator_only_raises_protocol_violations(frame: Any, expected) -> None:
    for check in (check_call, lambda m: check_result(m, expected)):
        with contextlib.suppress(ProtocolViolation):
            check(frame if isinstance(frame, dict) else {"type": "call", "id": 1, "x": frame})
