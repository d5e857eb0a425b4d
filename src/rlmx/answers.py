"""Typed answers: the schema a run's final answer must match, and checking it.

``RLM.completion(context, query, schema=...)`` takes a pydantic model (or any type pydantic
validates, such as ``list[int]``) or a JSON Schema dict. The root model is told the schema
and answers with ``FINAL(value)`` where the value is a dict or a list (or JSON text). A
value that does not match is sent back with the validation errors, up to
``RLM(schema_retries=...)`` times, like dspy's SUBMIT; ``Result.value`` holds the
validated object and ``Result.answer`` its JSON text. With an embedded model the grammar holds the
FINAL line to the schema (llama.cpp's JSON-schema grammars).
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

from pydantic import TypeAdapter, ValidationError

from .errors import ConfigError
from .schema_guard import check_any_schema, check_client_schema, refusing_registry

MAX_ERRORS = 8  # validation errors shown to the model at once


class AnswerSchema:
    """The type a final answer must have, and how to check and write one."""

    def __init__(self, schema: Any) -> None:
        self.adapter: TypeAdapter[Any] | None = None
        self.validator: Any = None
        if isinstance(schema, dict):
            from jsonschema import Draft202012Validator
            from jsonschema.exceptions import SchemaError

            check_any_schema(schema)
            try:
                Draft202012Validator.check_schema(schema)
            except SchemaError as exc:
                raise ConfigError(f"not a valid JSON Schema: {exc.message}") from None
            self.json_schema = schema
            self.validator = Draft202012Validator(schema, registry=refusing_registry())
        else:
            try:
                self.adapter = TypeAdapter(schema)
                self.json_schema = self.adapter.json_schema()
            except Exception as exc:  # pydantic cannot make a schema of it
                raise ConfigError(f"cannot use {schema!r} as an answer schema: {exc}") from None

    def text(self) -> str:
        """The schema as compact JSON, for the prompt."""
        return json.dumps(self.json_schema, separators=(",", ":"))

    def check(self, answer: str) -> tuple[Any, str | None]:
        """The validated value of an answer, or None and what is wrong. The answer is JSON
        text, or the text of a Python literal (``FINAL({'a': 1})`` in a cell sends the
        dict's repr), or for a string schema the text itself."""
        data = _literal(answer)
        if data is _NOT_A_VALUE:
            if self.json_schema.get("type") != "string":
                return None, "the answer is not a value: give FINAL(a dict or a list) or JSON"
            data = answer
        if self.adapter is not None:
            try:
                return self.adapter.validate_python(data), None
            except ValidationError as exc:
                return None, _pydantic_errors(exc)
        from referencing.exceptions import Unresolvable

        try:
            errors = sorted(self.validator.iter_errors(data), key=lambda e: list(e.path))
        except Unresolvable as exc:  # a reference to something not in the schema
            return None, f"the schema cannot be used: {exc}"
        except RecursionError:
            return None, "the answer nests too deeply to be checked"
        if errors:
            return None, "; ".join(_where(list(e.path)) + e.message for e in errors[:MAX_ERRORS])
        return data, None

    def dump(self, value: Any) -> str:
        """The JSON text of a validated value."""
        if self.adapter is not None:
            return self.adapter.dump_json(value).decode()
        return json.dumps(value, ensure_ascii=False)

    def grammar(self) -> str | None:
        """GBNF rules whose ``answer`` rule is JSON matching the schema (llama.cpp), or None
        where llama-cpp-python is not installed, or where the grammar could not be kept
        small (a minimum above the grammar's bounds, rules over ``GRAMMAR_MAX_RULE_CHARS``).
        Lists and strings get at most ``GRAMMAR_MAX_ITEMS`` / ``GRAMMAR_MAX_CHARS`` in the
        grammar only (a small model otherwise repeats items until its token limit, and
        llama.cpp expands a bound of 10^8 into 10^8 rules); the value is still checked
        against the schema itself."""
        try:
            from llama_cpp.llama_grammar import json_schema_to_gbnf
        except ImportError:
            return None
        try:
            rules = json_schema_to_gbnf(json.dumps(bounded(self.json_schema)))
        except Exception:  # a minimum above the caps (_Unbounded), or llama-cpp-python's
            return None  # converter does not take this schema
        if len(rules) > GRAMMAR_MAX_RULE_CHARS:
            return None
        return re.sub(r"^root ::=", "answer ::=", rules, flags=re.M)


GRAMMAR_MAX_ITEMS = 50
GRAMMAR_MAX_CHARS = 300
GRAMMAR_MAX_RULE_CHARS = 200_000  # a larger grammar is not built (the answer is still checked)
# the grammar's bound on a list and on a string: (minimum keyword, maximum keyword, cap)
_GRAMMAR_CAPS = {
    "array": ("minItems", "maxItems", GRAMMAR_MAX_ITEMS),
    "string": ("minLength", "maxLength", GRAMMAR_MAX_CHARS),
}


class _Unbounded(ConfigError):
    """A schema's minimum is above what the grammar allows: no grammar for it (caught
    in grammar(); terminal for nothing)."""


def bounded(node: Any) -> Any:
    """A copy of a JSON Schema where every array has ``maxItems`` and every string
    ``maxLength``, at most the grammar's caps (their own when smaller). Raises _Unbounded
    where a minimum exceeds a cap."""
    if isinstance(node, list):
        return [bounded(item) for item in node]
    if not isinstance(node, dict):
        return node
    copy = {key: bounded(value) for key, value in node.items()}
    kind = copy.get("type")
    caps = _GRAMMAR_CAPS.get(kind) if isinstance(kind, str) else None
    if caps is None or "enum" in copy or "const" in copy:
        return copy
    low, high, cap = caps
    minimum, own = copy.get(low, 0), copy.get(high, cap)
    if not isinstance(minimum, int | float) or minimum > cap:
        raise _Unbounded
    copy[high] = min(own, cap) if isinstance(own, int | float) else cap
    return copy


def client_schema(schema: Any) -> dict[str, Any]:
    """A JSON Schema from an untrusted client (an HTTP request), checked now: no regular
    expressions (matching could stall the server), no remote references, and caps on size,
    nesting, enums and bounds (``schema_guard``)."""
    check_client_schema(schema)
    AnswerSchema(schema)
    return schema


_NOT_A_VALUE = object()
MAX_LITERAL_CHARS = 2_000_000  # a longer answer is not parsed as a Python literal


def _literal(text: str) -> Any:
    """JSON, else a Python literal (the repr of a dict, list, number ...), else nothing."""
    try:
        return json.loads(text)
    except ValueError:
        pass
    if len(text) > MAX_LITERAL_CHARS:
        return _NOT_A_VALUE
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return _NOT_A_VALUE


def _where(path: list[Any]) -> str:
    return f"at {'.'.join(str(p) for p in path)}: " if path else ""


def _pydantic_errors(exc: ValidationError) -> str:
    parts = [_where(list(e["loc"])) + e["msg"] for e in exc.errors()[:MAX_ERRORS]]
    return "; ".join(parts)
