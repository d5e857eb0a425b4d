"""A needle in 1M tokens: the embedded model finds one fact in a ~1M-token document.

The document is written by make_haystack.py (one hidden "special magic number"); the root
model never reads it whole: it searches the `context` variable with code.

Usage: python examples/needle_1m.py [--root SPEC] [--tokens N]   (default: the embedded
model, about 30 s on 2 CPU cores once it is pulled). Prints the answer and whether it is
the planted number.
"""

from __future__ import annotations

import argparse

from make_haystack import NEEDLE, make_haystack

from rlmx import RLM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=None, help="root model spec (default: embedded)")
    parser.add_argument("--tokens", type=int, default=1_000_000)
    args = parser.parse_args()
    haystack = make_haystack(args.tokens, seed=7, depth=0.43)
    planted = NEEDLE.split()[-1].rstrip(".")
    result = RLM(args.root, max_iterations=8).completion(
        haystack, "What is the special magic number for lively-harbor?"
    )
    print(f"{len(haystack):,} characters, {result.iterations} turns, {result.seconds:.1f} s")
    print(f"answer: {result.answer}")
    print(f"planted: {planted} ({'found' if planted in (result.answer or '') else 'missed'})")


if __name__ == "__main__":
    main()
