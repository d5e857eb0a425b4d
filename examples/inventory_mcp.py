"""An MCP server for examples/tools_and_mcp.py: the stock level of each product.

Usage: python examples/inventory_mcp.py (it speaks MCP over stdin/stdout); rlmx starts
it itself when given `--mcp "python examples/inventory_mcp.py"`.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("inventory")
STOCK = {"A-100": 12, "B-200": 0, "C-300": 4, "D-400": 0}


@server.tool()
def stock(sku: str) -> int:
    """Units of a product (by SKU) on the shelf now; 0 when it is out of stock."""
    if sku not in STOCK:
        raise ValueError(f"unknown SKU {sku!r}")
    return STOCK[sku]


if __name__ == "__main__":
    server.run()
