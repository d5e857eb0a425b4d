"""A custom Python tool and an MCP server's tool in the same run.

The context is a ledger of open orders in several currencies. To answer "what are the open
orders of out-of-stock products worth in EUR?" model code must ask an MCP server (the
inventory, examples/inventory_mcp.py, which rlmx starts) which products are out of stock,
and a Python function given as a tool (`eur_rate`) for each currency's rate. Both are
plain REPL functions to the model; their arguments are checked on the host before they run.

Usage: python examples/tools_and_mcp.py [--root SPEC]   (default: the embedded model)
Prints the answer, then the tool calls the run made.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rlmx import RLM

HERE = Path(__file__).resolve().parent
LEDGER = """order,sku,quantity,unit_price,currency
1001,A-100,3,20.00,EUR
1002,B-200,2,15.00,USD
1003,C-300,1,99.00,GBP
1004,D-400,5,8.00,EUR
1005,B-200,1,15.00,USD
"""
RATES = {"EUR": 1.0, "USD": 0.9, "GBP": 1.2}  # made-up rates, EUR per unit


def eur_rate(currency: str) -> float:
    """How many EUR one unit of a currency (ISO code such as "USD") is worth."""
    return RATES[currency.upper()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="root model spec (default: embedded)")
    args = parser.parse_args()
    inventory = f"{sys.executable} {HERE / 'inventory_mcp.py'}"
    calls = []
    rlm = RLM(args.root, tools=[eur_rate], mcp=[inventory], max_iterations=8,
              on_event=lambda e: calls.append(e) if e.type == "tool_call" else None)  # fmt: skip
    question = ("What are the open orders of out-of-stock products worth in EUR? Use stock() "
                "for each SKU and eur_rate() for each currency.")  # fmt: skip
    result = rlm.completion(LEDGER, question)
    print(result.answer)
    for call in calls:
        print(f"  {call.name}({call.arguments}) -> {call.result or call.error}")


if __name__ == "__main__":
    main()
