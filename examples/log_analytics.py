"""Log analytics: counts over an access log, computed by code in the REPL, checked here
against the truth.

Writes a synthetic Common Log Format access log (seeded), asks how many requests failed
with a 5xx status and which path failed most, and prints the answer beside the true values.

Usage: python examples/log_analytics.py [--root SPEC] [--lines N]   (default: a scripted
root; try --root local:qwen2.5-coder-1.5b)
"""

from __future__ import annotations

import random
from collections import Counter

from _scripted import arguments, repl, root_spec

from rlmx import RLM

PATHS = ["/", "/login", "/api/orders", "/api/cart", "/static/app.js", "/search"]
SCRIPT = [
    repl("rows = parse_records(context)\nprint(len(rows), rows[0])"),
    repl("failed = [r for r in rows if str(r['status']).startswith('5')]\n"
         "top = collections.Counter(r['path'] for r in failed).most_common(1)[0][0]\n"
         "print(len(failed), top)"),
    repl("FINAL(f'{len(failed)} requests failed with 5xx; most often {top}')"),
]  # fmt: skip


def access_log(lines: int, seed: int = 3) -> tuple[str, int, str]:
    """The log, its number of 5xx responses, and the path with the most of them."""
    rng = random.Random(seed)
    rows, failed = [], Counter()
    for i in range(lines):
        path = rng.choice(PATHS)
        status = rng.choices([200, 301, 404, 500, 503], [80, 5, 8, 4, 3])[0]
        if status >= 500:
            failed[path] += 1
        ip = f"10.0.{rng.randrange(256)}.{rng.randrange(256)}"
        rows.append(f'{ip} - - [06/Dec/2026:10:{i // 60 % 60:02d}:{i % 60:02d} +0000] '
                    f'"GET {path} HTTP/1.1" {status} {rng.randrange(200, 9000)}')  # fmt: skip
    return "\n".join(rows) + "\n", sum(failed.values()), failed.most_common(1)[0][0]


def main() -> None:
    args = arguments(__doc__)
    log, failures, worst = access_log(5000)
    rlm = RLM(root_spec(args.root, SCRIPT), args.sub, max_iterations=8)
    result = rlm.completion(log, "How many requests failed with a 5xx status, and which "
                            "path failed most often?")  # fmt: skip
    print(f"answer: {result.answer}")
    print(f"truth: {failures} requests failed with 5xx; most often {worst}")


if __name__ == "__main__":
    main()
