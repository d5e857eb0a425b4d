"""Write a long synthetic document with one hidden fact, for the demo and benchmarks.

Usage: python examples/make_haystack.py OUT.txt [--tokens N] [--seed S] [--depth D]
The fact is "The special magic number for lively-harbor is 7341592." placed at relative
depth D (0..1). Tokens are estimated as characters / 4.
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

WORDS = [
    "the",
    "a",
    "of",
    "and",
    "to",
    "in",
    "is",
    "that",
    "for",
    "it",
    "as",
    "was",
    "with",
    "be",
    "by",
    "on",
    "not",
    "he",
    "this",
    "are",
    "or",
    "his",
    "from",
    "at",
    "which",
    "but",
    "have",
    "an",
    "they",
    "you",
    "were",
    "her",
    "she",
    "there",
    "been",
    "one",
    "all",
    "we",
    "their",
    "has",
    "would",
    "when",
    "if",
    "so",
    "no",
    "will",
    "can",
    "more",
    "other",
    "about",
    "many",
    "then",
    "them",
    "these",
    "some",
    "time",
    "could",
    "people",
    "into",
    "only",
    "company",
    "market",
    "founder",
    "startup",
    "idea",
    "essay",
    "work",
    "problem",
    "users",
    "product",
    "money",
    "growth",
    "city",
    "river",
    "morning",
    "question",
    "answer",
    "school",
    "program",
    "language",
    "computer",
    "early",
    "later",
    "small",
    "large",
]
NEEDLE = "The special magic number for lively-harbor is 7341592."


def sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(8, 20))]
    return " ".join(words).capitalize() + "."


def make_haystack(tokens: int, seed: int = 0, depth: float = 0.6) -> str:
    """A document of about ``tokens`` tokens with NEEDLE at relative ``depth``."""
    rng = random.Random(seed)
    target_chars = tokens * 4
    parts: list[str] = []
    size = 0
    needle_at = int(target_chars * depth)
    placed = False
    while size < target_chars:
        if not placed and size >= needle_at:
            parts.append(NEEDLE)
            placed = True
        paragraph = " ".join(sentence(rng) for _ in range(rng.randint(3, 7))) + "\n\n"
        parts.append(paragraph)
        size += len(paragraph)
    if not placed:
        parts.append(NEEDLE)
    return " ".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--depth", type=float, default=0.6)
    args = parser.parse_args()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    text = make_haystack(args.tokens, args.seed, args.depth)
    args.out.write_text(text, encoding="utf-8")
    print(f"wrote {args.out}: {len(text):,} characters (~{len(text) // 4:,} tokens)")


if __name__ == "__main__":
    main()
