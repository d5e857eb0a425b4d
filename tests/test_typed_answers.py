"""Schema-typed answers: FINAL(value) validated against a pydantic model or a JSON Schema,
errors sent back until the value matches, ``Result.value`` the validated object."""

from __future__ import annotations

import json

import pytest
from pydantic import BaseModel

from rlmx import RLM
from rlmx.answers import AnswerSchema
from rlmx.core.prompts import REPLY_GRAMMAR, typed_grammar
from rlmx.errors import ConfigError
from rlmx.lm.replay import ReplayLM

from conftest import parse_gbnf, repl


class Person(BaseModel):
    name: str
    age: int


def test_a_mismatch_is_sent_back_until_the_value_matches() -> None:
    root = ReplayLM(
        [
            repl("FINAL({'name': 'Ada'})"),  # age missing
            "FINAL({'name': 'Ada', 'age': 'old'})",  # prose, age not an int
            repl("FINAL({'name': 'Ada', 'age': 36})"),
        ],
        "root",
    )
    events: list = []
    result = RLM(root, sandbox="process", on_event=events.append).completion(
        "Ada Lovelace was 36.", "Who is it?", schema=Person
    )
    assert result.status == "final" and result.value == Person(name="Ada", age=36)
    assert json.loads(result.answer) == {"name": "Ada", "age": 36}
    assert [w.code for w in result.warnings] == ["context_unread"]  # "Ada" is in the context
    assert result.to_dict()["value"] == {"name": "Ada", "age": 36}
    notices = [e for e in events if e.type == "notice"]
    assert [n.kind for n in notices] == ["schema_mismatch", "schema_mismatch"]
    assert "at age: Field required" in notices[0].text
    assert "at age: Input should be a valid integer" in notices[1].text
    opening = root.prompts[0][-1]["content"]
    assert '"required":["name","age"]' in opening and "FINAL(value)" in opening


def test_json_schema_dicts_and_giving_up_after_the_retries() -> None:
    schema = {"type": "array", "items": {"type": "integer"}, "minItems": 2}
    root = ReplayLM([repl("FINAL([1])"), repl("FINAL(['x', 2])")], "root")
    result = RLM(root, sandbox="process", schema_retries=1).completion("c", "q", schema=schema)
    assert result.value is None and result.answer == "['x', 2]"  # it stands, flagged
    assert [w.message for w in result.warnings if w.code == "schema_mismatch"] == [
        "the answer does not match the schema: at 0: 'x' is not of type 'integer'"
    ]
    good = RLM(ReplayLM([repl("FINAL([3, 4])")], "r"), sandbox="process").completion(
        "c", "q", schema=schema
    )
    assert good.value == [3, 4] and good.answer == "[3, 4]"


def test_schemas_are_checked_and_sessions_take_them(replay) -> None:
    with pytest.raises(ConfigError, match="not a valid JSON Schema"):
        AnswerSchema({"type": "no-such-type"})
    assert AnswerSchema(list[int]).check("[1, 2]") == ([1, 2], None)
    assert AnswerSchema({"type": "string"}).check("plain text") == ("plain text", None)
    assert AnswerSchema(Person).check("not a value")[1].startswith("the answer is not a value")
    spec = replay([repl("FINAL({'name': 'Bo', 'age': 2})")])
    with RLM(spec, sandbox="process").session("c") as session:
        assert session.ask("who?", schema=Person).value == Person(name="Bo", age=2)


def test_the_grammar_holds_the_final_line_to_the_schema() -> None:
    rules = AnswerSchema(Person).grammar()
    assert rules is not None and rules.startswith("age-kv") and "answer ::=" in rules
    grammar = typed_grammar(rules, final_only=False)
    assert grammar.startswith(REPLY_GRAMMAR.split("final ::=")[0].rstrip())
    assert 'final ::= "FINAL(" answer final-cite? ")"' in grammar
    parse_gbnf(grammar)
    parse_gbnf(typed_grammar(rules, final_only=True))


def test_the_grammar_bounds_lists_and_strings_the_schema_leaves_open() -> None:
    from rlmx.answers import GRAMMAR_MAX_CHARS, GRAMMAR_MAX_ITEMS, bounded

    schema = {"type": "object", "properties": {
        "tags": {"type": "array", "items": {"type": "string"}},
        "top": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}, "maxItems": 2},
    }}  # fmt: skip
    tags, top = bounded(schema)["properties"]["tags"], bounded(schema)["properties"]["top"]
    assert tags == {"type": "array", "maxItems": GRAMMAR_MAX_ITEMS,
                    "items": {"type": "string", "maxLength": GRAMMAR_MAX_CHARS}}  # fmt: skip
    assert top["maxItems"] == 2 and "maxLength" not in top["items"]
    assert "maxItems" not in schema["properties"]["tags"]  # the schema itself is untouched
    many = json.dumps(["x"] * (GRAMMAR_MAX_ITEMS + 10))
    assert AnswerSchema(list[str]).check(many)[1] is None  # only the grammar is bounded


def test_openai_response_format_and_mcp_schema(tmp_path, replay) -> None:
    import openai

    from rlmx import RunConfig
    from rlmx.server.app import ServerSettings, serve_in_thread

    spec = replay([repl("FINAL({'name': 'Ada', 'age': 36})")])
    settings = ServerSettings(data_dir=tmp_path / "data", run=RunConfig.build(root=spec))
    schema = Person.model_json_schema()
    with serve_in_thread(settings) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        messages = [{"role": "user", "content": "Ada was 36."}, {"role": "user", "content": "Who?"}]
        reply = client.chat.completions.create(
            model="rlmx", messages=messages,
            response_format={"type": "json_schema", "json_schema": {"name": "p", "schema": schema}},
        )  # fmt: skip
        assert json.loads(reply.choices[0].message.content) == {"name": "Ada", "age": 36}
        obj = client.chat.completions.create(
            model="rlmx", messages=messages, response_format={"type": "json_object"}
        )
        assert json.loads(obj.choices[0].message.content)["age"] == 36
        for bad in ({"type": "json_schema", "json_schema": {"schema": {"type": "nope"}}},
                    {"type": "json_schema", "json_schema": {"schema": {"type": "string",
                                                                       "pattern": "(a+)+$"}}},
                    {"type": "yaml"}):  # fmt: skip
            with pytest.raises(openai.BadRequestError):
                client.chat.completions.create(model="rlmx", messages=messages,
                                               response_format=bad)  # fmt: skip


def test_mcp_ask_takes_a_schema(replay, tmp_path) -> None:
    import asyncio

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters
    from test_mcp import RLMX, tool_json

    spec = replay([repl("FINAL([1, 2, 3])")])

    async def main() -> dict:
        params = StdioServerParameters(command=RLMX, args=["mcp", "--root", spec], cwd=tmp_path)
        async with Client(params) as client:
            schema = {"type": "array", "items": {"type": "integer"}}
            arguments = {"question": "numbers?", "text": "1 2 3", "schema": schema}
            return tool_json(await client.call_tool("ask", arguments))

    payload = asyncio.run(main())
    assert payload["value"] == [1, 2, 3] and payload["answer"] == "[1, 2, 3]"


def test_rlmx_ask_schema_file(replay, tmp_path) -> None:
    import subprocess
    import sys

    spec = replay([repl("FINAL({'name': 'Ada', 'age': 36})")])
    doc = tmp_path / "doc.txt"
    doc.write_text("Ada was 36.")
    schema = tmp_path / "person.json"
    schema.write_text(json.dumps(Person.model_json_schema()))
    base = [sys.executable, "-m", "rlmx.cli", "ask", str(doc), "-q", "who?", "--root", spec]
    done = subprocess.run([*base, "--schema", str(schema), "--json"], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["value"] == {"name": "Ada", "age": 36}
    schema.write_text('{"type": "nope"}')
    bad = subprocess.run([*base, "--schema", str(schema)], capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "not a usable JSON Schema" in bad.stderr
