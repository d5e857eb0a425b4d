"""A small MCP server for the tests of MCP tools in the REPL (stdio, or Streamable HTTP
with ``--http PORT``): arithmetic, a lookup table, an image, a failing tool, a slow one
and a dashed name."""

from __future__ import annotations

import asyncio
import sys

from mcp.server.mcpserver import Image, MCPServer

server = MCPServer("test-tools")
PRICES = {"apple": 3, "pear": 5}
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
)


@server.tool()
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool()
def price(fruit: str, quantity: int = 1) -> dict[str, int]:
    """The price of some fruit."""
    return {"fruit_cents": PRICES[fruit] * quantity}


@server.tool()
def dot() -> Image:
    """A 1x1 PNG."""
    return Image(data=PNG, format="png")


@server.tool()
def broken() -> str:
    """Always fails."""
    raise RuntimeError("the warehouse is closed")


@server.tool()
async def slow(seconds: float) -> str:
    """Sleeps."""
    await asyncio.sleep(seconds)
    return "woke"


@server.tool(name="word-count")
def word_count(text: str) -> int:
    """Words in a text."""
    return len(text.split())


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--http":
        server.run("streamable-http", host="127.0.0.1", port=int(sys.argv[2]))
    else:
        server.run()
