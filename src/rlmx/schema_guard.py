"""The limits a JSON Schema keeps before rlmx uses it: what a client may send, and what
any schema (the operator's too) may hold.

A schema from an HTTP client is hostile input, and the work it causes happens on the host:
checking a model's answer against it (jsonschema) and building the grammar of the root's
FINAL line (llama.cpp). So, before either runs:

- references are local (``#...``) and resolved in the schema itself; nothing is ever
  fetched (``refusing_registry`` answers every other one with an error, for operator
  schemas too);
- a client's schema has no identifiers (``$id``, anchors) and no cycles, and its size with
  every reference expanded is capped: a ``$defs`` chain of ``anyOf`` pairs is small as
  text but exponential to check;
- nesting, enum sizes and length / item / property bounds are capped, so neither the check
  nor the grammar can be made large by a small text;
- no string in the schema (a key, an enum value, a const) holds a control character that
  would abort llama.cpp when it reaches a grammar (``gbnf.control_problem``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import ConfigError
from .gbnf import control_problem

MAX_EXPANDED_NODES = 2_000  # schema objects with every $ref expanded (client schemas)
MAX_DEPTH = 64  # nesting of schema objects and lists, references expanded
MAX_ENUM = 1_000  # values of one enum
MAX_BOUND = 10_000  # minLength, maxItems ... in a client's schema
BOUND_KEYWORDS = ("minLength", "maxLength", "minItems", "maxItems", "minProperties",
                  "maxProperties", "minContains", "maxContains")  # fmt: skip
REFERENCE_KEYWORDS = ("$ref", "$dynamicRef", "$recursiveRef")
IDENTIFIER_KEYWORDS = ("$id", "$anchor", "$dynamicAnchor", "$recursiveAnchor", "$schema")
REGEX_KEYWORDS = ("pattern", "patternProperties")


def refusing_registry() -> Any:
    """A ``referencing`` registry that resolves nothing outside the schema itself: a remote
    ``$ref`` is an error, never a fetch (jsonschema would otherwise GET it)."""
    from referencing import Registry
    from referencing.exceptions import NoSuchResource

    def refuse(uri: str) -> Any:
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class: ref is its field

    return Registry(retrieve=refuse)  # type: ignore[call-arg]


def check_any_schema(schema: Any) -> None:
    """Refuse what no schema may hold (the operator's too): control characters and
    non-local references. Raises ConfigError."""
    for node in _strings(schema):
        problem = control_problem(node)
        if problem:
            raise ConfigError(f"the schema holds a {problem} in {node[:40]!r}")
    for key, value in _items(schema):
        if key in REFERENCE_KEYWORDS and not (isinstance(value, str) and value.startswith("#")):
            raise ConfigError(f"only local references (#...) are accepted, not {key} {value!r}")


def check_client_schema(schema: Any) -> None:
    """Refuse what a client's schema may not hold, before anything else reads it: the
    above, identifiers, regular expressions, and caps on size, depth, enums and bounds."""
    if not isinstance(schema, dict):
        raise ConfigError("the schema must be a JSON object")
    check_any_schema(schema)
    for key, value in _items(schema):
        if key in IDENTIFIER_KEYWORDS:
            raise ConfigError(f"{key} is not accepted in a client's schema")
        if key in REGEX_KEYWORDS:
            raise ConfigError("regular expressions (pattern) are not accepted in a client's schema")
        if key in BOUND_KEYWORDS and not _small_int(value):
            raise ConfigError(f"{key} must be an integer from 0 to {MAX_BOUND}")
        if key == "enum" and isinstance(value, list) and len(value) > MAX_ENUM:
            raise ConfigError(f"an enum of {len(value)} values (at most {MAX_ENUM})")
    _Expansion(schema).walk(schema, 0, ())


def _small_int(value: Any) -> bool:
    """An integral number in range (the range first: ``int()`` of inf or nan raises)."""
    return isinstance(value, int | float) and 0 <= value <= MAX_BOUND and value == int(value)


class _Expansion:
    """Walks a schema with every local reference expanded, counting schema objects."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root
        self.nodes = 0

    def walk(self, node: Any, depth: int, refs: tuple[str, ...]) -> None:
        if isinstance(node, list):
            for item in node:
                self.walk(item, depth + 1, refs)
            return
        if not isinstance(node, dict):
            return
        self.nodes += 1
        if self.nodes > MAX_EXPANDED_NODES:
            raise ConfigError(
                f"the schema is too large with its references expanded "
                f"(over {MAX_EXPANDED_NODES} schema objects)"
            )
        if depth > MAX_DEPTH:
            raise ConfigError(f"the schema nests deeper than {MAX_DEPTH} levels")
        for key, value in node.items():
            if key in REFERENCE_KEYWORDS:
                if value in refs:
                    raise ConfigError(f"the schema refers to itself ({value}): no cycles")
                self.walk(self.resolve(value), depth + 1, (*refs, value))
            elif key not in ("enum", "const", "default", "examples"):
                self.walk(value, depth + 1, refs)

    def resolve(self, ref: str) -> Any:
        """The part of the schema a ``#/a/b`` pointer names (JSON Pointer escapes)."""
        node: Any = self.root
        for part in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else []:
            part = part.replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise ConfigError(f"the reference {ref} names nothing in the schema")
        return node


def _items(node: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) of every object in a JSON value, depth first (iteratively: a
    deeply nested schema must not exhaust the stack)."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, dict):
            for key, value in current.items():
                yield key, value
                stack.append(value)
        elif isinstance(current, list):
            stack.extend(current)


def _strings(node: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            yield current
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
