"""Model code and the operator's table: no spec from a cell is ever resolved (attacks 1, 4)."""

from __future__ import annotations

import json

import pytest

from rlmx import RLM
from rlmx.lm.choice import ModelNotAllowed, ModelTable
from rlmx.lm.specs import create_lm, key_destination

from conftest import ISOLATED_MODES, repl

HOSTILE_LOCAL = [
    "replay:/dev/zero",
    "replay:/dev/stdin",
    "replay:/etc/passwd",
    "local:smollm2-135m?n_ctx=999",
    "local:/etc/passwd",
    "local:qwen2.5-coder-0.5b",
]


def hostile_specs(recorder) -> list[str]:
    providers = ["openai", "anthropic", "openrouter", "evil", "vllm"]
    urls = recorder.urls()
    remote = [f"{p}:x@{urls[i % len(urls)]}" for i, p in enumerate(providers)]
    return remote + HOSTILE_LOCAL


@pytest.mark.parametrize("mode", ISOLATED_MODES)
def test_cells_cannot_name_a_spec(mode, replay, recorder, secret_keys) -> None:
    specs = hostile_specs(recorder)
    attack = (
        f"specs = {json.dumps(specs)}\n"
        "single = [llm_query('hi', model=s) for s in specs]\n"
        "batched = llm_query_batched(['a', 'b'], model=specs[0])\n"
        "print(json.dumps([single, batched]))"
    )
    spec = replay(
        {
            "root": [repl("import json\n" + attack), repl("FINAL(str(6 * 7))")],
            "sub": {"": "ok"},
        }
    )
    events: list = []
    result = RLM(spec, sandbox=mode, on_event=events.append).completion("ctx", "q")
    assert result.status == "final" and result.answer == "42"  # the run went on
    calls = [e for e in events if e.type == "sub_call"]
    assert len(calls) == len(specs) + 2
    assert all(e.error and "not allowed" in e.error for e in calls)
    assert recorder.requests == []  # nothing reached the loopback server, let alone a key


def test_every_refusal_reaches_the_cell_as_an_error_string(replay, recorder) -> None:
    specs = hostile_specs(recorder)
    code = (
        f"r = [llm_query('hi', model=s) for s in {specs!r}]\n"
        "print(all(x.startswith('[rlmx error]') and 'not allowed' in x for x in r))"
    )
    spec = replay({"root": [repl(code), repl("FINAL('done')")], "sub": {"": "ok"}})
    events: list = []
    result = RLM(spec, sandbox="process", on_event=events.append).completion("c", "q")
    cells = [e for e in events if e.type == "code_executed"]
    assert cells[0].output.strip() == "True"
    assert result.answer == "done"


def test_aliases_and_the_configured_specs_are_the_choices(replay) -> None:
    sub = replay({"sub": {"": "from the sub"}})
    fast = replay({"sub": {"": "from fast"}})
    code = (
        "print(llm_query('a', model='fast'), '|', llm_query('b'), '|', "
        f"llm_query('c', model={sub!r}))\n"
        "print(llm_query_batched(['x'], model='fast'))\n"
        "print(llm_query('d', model='slow'))"
    )
    root = replay([repl(code), repl("FINAL('ok')")])
    events: list = []
    RLM(root, sub=sub, models={"fast": fast}, sandbox="process", on_event=events.append
        ).completion("c", "q")  # fmt: skip
    output = next(e for e in events if e.type == "code_executed").output
    lines = output.splitlines()
    assert lines[0] == "from fast | from the sub | from the sub"
    assert lines[1] == "['from fast']"
    assert lines[2].startswith("[rlmx error] model 'slow' is not allowed here; use one of 'fast'")


def test_table_lists_names_and_refuses_the_rest() -> None:
    table = ModelTable({"fast": "openai:gpt-5-nano"}, allowed=["openai:gpt-5", None])
    assert table.names() == ["fast", "openai:gpt-5", "openai:gpt-5-nano"]
    assert table.pick("fast") == "openai:gpt-5-nano"
    assert table.pick("openai:gpt-5") == "openai:gpt-5"
    for name in ("openai:gpt-5@http://127.0.0.1:9/v1", "replay:/dev/zero", "FAST", ""):
        with pytest.raises(ModelNotAllowed, match="not allowed"):
            table.pick(name)
    assert ModelTable(allow_prefixes=("replay:",)).pick("replay:x.json") == "replay:x.json"
    with pytest.raises(ValueError, match="alias"):
        ModelTable({"two words": "openai:x"})


# -- where keys go (operator-given specs) ---------------------------------------------------
@pytest.mark.parametrize("provider", ["openai", "anthropic", "openrouter"])
def test_a_hosted_key_never_goes_to_another_url(provider, recorder, secret_keys) -> None:
    for url in recorder.urls()[:2]:
        assert not key_destination(provider, url)
    lm = create_lm(f"{provider}:m@{recorder.url}/v1")
    _complete(lm)
    assert recorder.requests and recorder.secrets_seen() == []


def test_a_hosted_key_goes_to_its_own_base_url_setting(recorder, secret_keys, monkeypatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{recorder.url}/v1/")
    assert key_destination("openai", f"{recorder.url}/v1")
    _complete(create_lm(f"openai:m@{recorder.url}/v1"))
    assert recorder.secrets_seen()  # the operator paired them


def test_a_named_provider_key_goes_to_the_url_in_its_spec(recorder, secret_keys) -> None:
    _complete(create_lm(f"vllm:m@{recorder.url}/v1"))
    assert recorder.secrets_seen()  # VLLM_API_KEY with the operator's own vllm: spec


def _complete(lm) -> None:
    import asyncio

    async def go() -> None:
        try:
            await lm.complete([{"role": "user", "content": "hi"}], max_tokens=4)
        finally:
            await lm.aclose()

    asyncio.run(go())
