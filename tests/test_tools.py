"""The operator's own tools in the REPL: Python functions and MCP servers' tools, called by
model code in a real worker, with hostile arguments validated before anything runs."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from rlmx import RLM, RunConfig
from rlmx.errors import ConfigError
from rlmx.lm.replay import ReplayLM
from rlmx.tools import Tool, Toolbox

from conftest import repl

HERE = Path(__file__).parent
MCP_SERVER = f"{sys.executable} {HERE / 'mcp_tool_server.py'}"
CALLS: list[Any] = []  # what the functions below were really called with


def add(a: int, b: int = 1) -> int:
    """Add two integers."""
    CALLS.append(("add", a, b))
    return a + b


async def fetch(key: str) -> dict[str, Any]:
    """Look a key up."""
    await asyncio.sleep(0)
    return {"key": key, "found": key == "k1"}


def explode() -> None:
    raise KeyError("no such row")


def huge() -> str:
    return "x" * 2_000_000


def picture() -> bytes:
    return b"\x89PNG\r\n" + bytes(range(10))


def sleepy() -> str:
    time.sleep(3)
    return "late"


def cells_output(trajectory: Path) -> list[str]:
    events = [json.loads(line) for line in trajectory.read_text().splitlines()]
    return [e["output"] for e in events if e["type"] == "code_executed"]


def run_cell(replay, tmp_path: Path, code: str, **settings: Any) -> tuple[Any, list[str]]:
    trajectory = tmp_path / "run.jsonl"
    spec = replay([repl(code)])
    result = RLM(spec, trajectory=trajectory, **settings).completion("the context", "q")
    return result, cells_output(trajectory)


def test_functions_are_helpers_with_their_signature_and_validated_arguments(
    replay, tmp_path: Path
) -> None:
    CALLS.clear()
    code = (
        "import inspect\n"
        "print(add(2, 3), add('4'), fetch('k1'))\n"
        'for bad in ("add(\'x\')", "add(1, 2, 3)", "add(b=1)", "explode()"):\n'
        "    try:\n        eval(bad)\n    except ToolError as e:\n"
        "        print(e.type_name, '|', e.message)\n"
        "print(add.__doc__.splitlines()[0])\n"
        "FINAL(add(40, 2))"
    )
    result, outputs = run_cell(replay, tmp_path, code, tools=[add, fetch, explode])
    assert result.answer == "42"
    lines = outputs[0].splitlines()
    assert lines[0] == "5 5 {'key': 'k1', 'found': True}"
    assert lines[1].startswith("ValueError | add(): a: Input should be a valid integer")
    assert lines[2] == "ValueError | add(): argument 3: Unexpected positional argument"
    assert lines[3].startswith("ValueError | add(): a: Missing required argument")
    assert lines[4] == "KeyError | 'no such row'"
    assert lines[5] == "add(a: int, b: int = 1) -> int"
    # hostile arguments never reached the function
    assert CALLS == [("add", 2, 3), ("add", 4, 1), ("add", 40, 2)]


def test_a_tool_call_is_recorded_and_the_prompt_lists_the_tools(tmp_path: Path) -> None:
    trajectory = tmp_path / "run.jsonl"
    root = ReplayLM([repl("FINAL(plus(1))")], "replay")
    RLM(root, trajectory=trajectory, tools={"plus": add}).completion("c", "q")
    events = [json.loads(line) for line in trajectory.read_text().splitlines()]
    call = next(e for e in events if e["type"] == "tool_call")
    assert (call["name"], call["result"], call["error"]) == ("plus", "2", None)
    first_prompt = "\n".join(m["content"] for m in root.prompts[0])
    assert "- plus(a: int, b: int = 1) -> int: Add two integers." in first_prompt
    assert Toolbox().describe() == ""


def test_timeouts_large_results_and_files(replay, tmp_path: Path) -> None:
    code = (
        "for call in ('sleepy()', 'huge()'):\n"
        "    try:\n        eval(call)\n    except ToolError as e:\n"
        "        print(e.type_name, '|', e.message)\n"
        "shown = picture()\n"
        "print(open(shown['path'], 'rb').read()[:6], shown['path'].endswith('.png'))\n"
        "FINAL('done')"
    )
    tools = [Tool(sleepy, timeout=0.5), huge, picture]
    result, outputs = run_cell(replay, tmp_path, code, tools=tools)
    assert result.answer == "done"
    lines = outputs[0].splitlines()
    assert lines[0] == "TimeoutError | sleepy() took longer than 0.5 s"
    assert lines[1].startswith("ValueError | huge() returned 2,000,002 characters")
    assert lines[2] == "b'\\x89PNG\\r\\n' True"


def test_child_runs_have_the_tools_too(replay, tmp_path: Path) -> None:
    child = repl("FINAL(add(20, 1))")
    root = repl("FINAL(rlm_query('sum it', context='x'))")
    spec = replay({"root": [root], "child": [child]})
    result = RLM(spec, max_depth=2, tools=[add]).completion("c", "q")
    assert result.answer == "21"


@pytest.mark.parametrize(
    ("tools", "message"),
    [([print], "'print' is taken"), ({"llm_query": add}, "'llm_query' is taken"),
     ({"context": add}, "'context' is taken"), ({"re": add}, "'re' is taken"),
     ({"a b": add}, "not a Python identifier"), ([add, add], "two tools are named 'add'"),
     (["os:nosuchfunction"], "cannot load tool"), (["json"], "module:function"),
     ([42], "must be callable")],
)  # fmt: skip
def test_bad_tools_are_refused_before_a_run(tools: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunConfig.build(tools=tools)


def test_a_module_function_is_loaded_by_name() -> None:
    config = RunConfig.build(tools=["os.path:basename"])
    assert [tool.name for tool in config.tools] == ["basename"]


def test_the_cli_takes_tools_and_mcp_servers(replay, tmp_path: Path) -> None:
    (tmp_path / "shop.py").write_text("def stock(item: str) -> int:\n    return len(item)\n")
    spec = replay([repl("FINAL(f'{stock(\"apple\")} {add(a=2, b=3)}')")])
    doc = tmp_path / "doc.txt"
    doc.write_text("text")
    proc = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "ask", str(doc), "-q", "q", "--root", spec,
         "--tool", "shop:stock", "--mcp", MCP_SERVER],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**__import__("os").environ, "PYTHONPATH": str(tmp_path)},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "5 5"
    bad = subprocess.run(
        [sys.executable, "-m", "rlmx.cli", "ask", str(doc), "-q", "q", "--root", spec,
         "--tool", "shop:nothing"],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
    )  # fmt: skip
    assert bad.returncode == 2 and "cannot load tool 'shop:nothing'" in bad.stderr


MCP_CELL = (
    "print(add(2, 3), add(a=1, b=2), price('apple', 2), word_count('a b c'))\n"
    "dotted = dot()\n"
    "print(open(dotted['path'], 'rb').read()[:4], dotted['mime_type'])\n"
    "for call in ('broken()', \"add('x', 1)\", 'add(1, 2, 3)', 'slow(30)'):\n"
    "    try:\n        eval(call)\n    except ToolError as e:\n"
    "        print(e.type_name, '|', e.message)\n"
    "FINAL('ok')"
)
MCP_LINES = [
    "5 3 {'fruit_cents': 6} 3",
    "b'\\x89PNG' image/png",
    "RuntimeError | broken(): Error executing tool broken",
    "ValueError | add(): a: 'x' is not of type 'integer'",
    "TypeError | add() takes at most 2 positional arguments (3 given)",
    "TimeoutError | slow() took longer than 2 s",
]


def _mcp_run(replay, tmp_path: Path, server: str, monkeypatch) -> list[str]:
    import rlmx.tools.toolbox as toolbox

    monkeypatch.setattr(toolbox, "MCP_TIMEOUT", 2.0)  # slow(30) times out quickly
    result, outputs = run_cell(replay, tmp_path, MCP_CELL, mcp=[server])
    assert result.answer == "ok", result.error
    return outputs[0].splitlines()


def test_an_mcp_server_over_stdio(replay, tmp_path: Path, monkeypatch) -> None:
    assert _mcp_run(replay, tmp_path, MCP_SERVER, monkeypatch) == MCP_LINES


def test_an_mcp_server_over_http(replay, tmp_path: Path, monkeypatch) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, str(HERE / "mcp_tool_server.py"), "--http", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as attempt:
                if attempt.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        url = f"http://127.0.0.1:{port}/mcp"
        assert _mcp_run(replay, tmp_path, url, monkeypatch) == MCP_LINES
    finally:
        server.kill()
        server.wait()


def test_rlmx_own_mcp_server_is_a_tool_too(replay, tmp_path: Path) -> None:
    """A run whose model code asks a nested rlmx (over MCP) a question."""
    inner = replay([repl("FINAL(context.upper())")])
    rlmx_mcp = f"{sys.executable} -m rlmx.cli mcp --root {inner}"
    outer = replay([repl("reply = ask(question='shout it', text='quiet words')\n"
                         "FINAL(reply['answer'])")])  # fmt: skip
    assert RLM(outer, mcp=[rlmx_mcp]).completion("c", "q").answer == "QUIET WORDS"


@pytest.mark.parametrize(
    ("server", "message"),
    [("ftp://127.0.0.1/x", "must be http:// or https://"), ("", "command line or an http"),
     ("'unclosed", "No closing quotation")],
)  # fmt: skip
def test_bad_mcp_servers_are_refused(server: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RunConfig.build(mcp=[server])


def test_a_server_that_fails_to_start_says_why(replay) -> None:
    dying = f"{sys.executable} -c \"import sys; sys.exit('no licence file')\""
    with pytest.raises(ConfigError, match=r"could not be used.*no licence file"):
        RLM(replay([repl("FINAL(1)")]), mcp=[dying]).completion("c", "q")


def test_the_tools_example_runs(replay) -> None:
    """examples/tools_and_mcp.py with a scripted root that uses both of its tools."""
    code = (
        "total = 0\n"
        "for row in parse_records(context):\n"
        "    if stock(row['sku']) == 0:\n"
        "        total += row['quantity'] * row['unit_price'] * eur_rate(row['currency'])\n"
        "FINAL(round(total, 2))"
    )
    proc = subprocess.run(
        [sys.executable, str(HERE.parent / "examples" / "tools_and_mcp.py"), "--root",
         replay([repl(code)])],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "80.5"
    assert sum("stock(" in line for line in lines) == 5
    assert sum("eur_rate(" in line for line in lines) == 3
