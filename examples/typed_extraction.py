"""Typed extraction with a pydantic model: the answer must validate against the schema
(the model is told the schema and asked again when it does not match), and
`result.value` is the validated object.

Usage: python examples/typed_extraction.py [--root SPEC]   (default: a scripted root)
"""

from __future__ import annotations

from _scripted import arguments, repl, root_spec
from pydantic import BaseModel

from rlmx import RLM

MEMO = """Board memo, 3 March 2026.
Present: Ada Lovelace (chair), Grace Hopper (treasurer), Alan Turing (secretary).
The treasurer reported a surplus of 12,500 EUR. The secretary will circulate minutes.
"""


class Officer(BaseModel):
    name: str
    role: str


SCRIPT = [
    repl("import re\nfound = re.findall(r'([A-Z][a-z]+ [A-Z][a-z]+) \\((\\w+)\\)', context)\n"
         "print(found)"),
    repl("FINAL_VAR([{'name': n, 'role': r} for n, r in found])"),
]  # fmt: skip


def main() -> None:
    args = arguments(__doc__)
    rlm = RLM(root_spec(args.root, SCRIPT), args.sub, max_iterations=6)
    result = rlm.completion(MEMO, "Who was present, and in which role?", schema=list[Officer])
    for officer in result.value or []:
        print(f"{officer.name}: {officer.role}")
    print(f"status: {result.status}, warnings: {[w.code for w in result.warnings]}")


if __name__ == "__main__":
    main()
