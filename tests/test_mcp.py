"""`rlmx mcp` driven by the official MCP SDK's client over stdio."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from mcp import Client
from mcp.client.stdio import StdioServerParameters

from conftest import repl

RLMX = str(Path(sys.executable).parent / "rlmx")


def tool_json(result: Any) -> Any:
    assert not result.is_error, result
    if result.structured_content is not None:
        content = result.structured_content
        return content.get("result", content)  # lists come wrapped as {"result": [...]}
    return json.loads(result.content[0].text)


def test_load_a_context_and_ask_about_it(replay, tmp_path: Path) -> None:
    spec = replay([repl("FINAL(context.count('needle'))")] * 3)
    doc = tmp_path / "doc.txt"
    doc.write_text("hay needle hay needle hay")
    (tmp_path / "folder").mkdir()
    (tmp_path / "folder" / "note.txt").write_text("note")
    (tmp_path / "folder" / "page.html").write_text(
        "<html><body><h1>Title</h1><p>words here</p></body></html>"
    )
    (tmp_path / "folder" / "logo.bin").write_bytes(b"\x00\x01\x02")

    async def main() -> None:
        params = StdioServerParameters(command=RLMX, args=["mcp", "--root", spec], cwd=tmp_path)
        async with Client(params) as client:
            from rlmx import __version__

            assert client.server_info.version == __version__
            tools = {tool.name for tool in (await client.list_tools()).tools}
            assert tools == {"load_context", "ask", "list_contexts"}
            loaded = tool_json(await client.call_tool("load_context", {"path": "doc.txt"}))
            assert loaded["chars"] == 25 and loaded["type"] == "str"
            folder = tool_json(await client.call_tool("load_context", {"path": "folder"}))
            assert folder["items"] == 2 and folder["chars"] > len("note")  # the page counted
            assert folder["skipped"] == ["logo.bin"]  # and what was left out
            listed = tool_json(await client.call_tool("list_contexts", {}))
            assert [c["context_id"] for c in listed] == [loaded["context_id"], folder["context_id"]]
            answer = tool_json(
                await client.call_tool(
                    "ask", {"question": "how many needles?", "context_id": loaded["context_id"]}
                )
            )
            assert (answer["answer"], answer["status"]) == ("2", "final")
            # a count is worked out twice (the recheck), and the two answers agreed
            assert answer["usage"]["total"]["calls"] == 2 and answer["run_id"]
            assert answer["warnings"] == []
            inline = tool_json(
                await client.call_tool("ask", {"question": "q", "text": "needle needle needle"})
            )
            assert inline["answer"] == "3"
            for bad, words in [
                ({"question": "q", "context_id": "nope"}, "unknown context_id"),
                ({"question": "q"}, "exactly one of context_id, path or text"),
                (
                    {"question": "q", "text": "x", "context_id": loaded["context_id"]},
                    "exactly one of context_id, path or text",
                ),
                ({"question": "  ", "text": "x"}, "the question is empty"),
                ({"question": "q", "path": "missing.txt"}, "no such file"),
                ({"question": "q", "text": "x", "root_model": "nosuch:m"}, "not allowed"),
            ]:
                failed = await client.call_tool("ask", bad)
                assert failed.is_error and words in failed.content[0].text, failed

    asyncio.run(asyncio.wait_for(main(), 120))
