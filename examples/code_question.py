"""A question about a code base: the folder is the context (a dict of path -> text in the
REPL), and the answer names the file.

Asks where rlmx writes GBNF literals, over rlmx's own source folder.

Usage: python examples/code_question.py [--root SPEC] [--path DIR]   (default: a scripted
root over src/rlmx)
"""

from __future__ import annotations

from pathlib import Path

from _scripted import arguments, repl, root_spec

from rlmx import RLM

SCRIPT = [
    repl("hits = sorted(p for p, text in context.items() if 'def literal(' in text)\n"
         "print(hits)"),
    repl("FINAL(hits[0])"),
]  # fmt: skip


def main() -> None:
    args = arguments(__doc__)
    source = Path(__file__).resolve().parent.parent / "src" / "rlmx"
    rlm = RLM(root_spec(args.root, SCRIPT), args.sub, max_iterations=6)
    result = rlm.completion(source, "Which file defines `literal`, the function that builds "
                            "GBNF literals from untrusted text? Give its path.")  # fmt: skip
    print(f"answer: {result.answer}")


if __name__ == "__main__":
    main()
