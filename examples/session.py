"""A session: several questions over one REPL, whose variables survive between them.

The second question uses the `orders` variable the first one built, without reading the
context again; `history` in the REPL lists the earlier questions and answers.

Usage: python examples/session.py [--root SPEC]   (default: a scripted root)
"""

from __future__ import annotations

from _scripted import arguments, repl, root_spec

from rlmx import RLM
from rlmx.lm.specs import create_lm

LEDGER = "order,customer,total\n1,ann,120\n2,bob,80\n3,ann,45\n4,cy,300\n"
SCRIPT = [
    repl("orders = parse_records(context)\nprint(len(orders))"),
    repl("FINAL(len(orders))"),
    repl("print(len(history), history[-1]['answer'])\n"
         "ann = sum(float(o['total']) for o in orders if o['customer'] == 'ann')\nprint(ann)"),
    repl("FINAL(f'{ann:g}')"),
]  # fmt: skip


def main() -> None:
    args = arguments(__doc__)
    # one model object for the whole session (a scripted one goes on where it stopped)
    root = create_lm(root_spec(args.root, SCRIPT) or "local:qwen2.5-coder-1.5b", "root")
    rlm = RLM(root, args.sub or root, max_iterations=6)
    with rlm.session(LEDGER) as session:
        first = session.ask("How many orders are there?")
        second = session.ask("What is the total of ann's orders?")
    print(f"orders: {first.answer}")
    print(f"ann's total: {second.answer}")


if __name__ == "__main__":
    main()
