"""BM25 ranking (bm25s) shared by video search and the CodeAct + BM25 baseline.

The baseline's index ranks exactly; the one-off video searches retry a query that matches
nothing with its words respelled to the corpus's own words.
"""

from __future__ import annotations

import difflib
import re

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


class BM25Index:
    """A BM25 index over fixed texts, built once and queried many times."""

    def __init__(self, texts: list[str]) -> None:
        import bm25s

        self._bm25s = bm25s
        self.size = len(texts)
        self.retriever = bm25s.BM25()
        if texts:
            tokens = bm25s.tokenize(texts, stopwords="en", show_progress=False)
            self.retriever.index(tokens, show_progress=False)

    def top(self, query: str, k: int) -> list[tuple[int, float]]:
        """(index, score) of the best ``k`` texts for ``query``, zero scores dropped."""
        if not self.size or not query.strip():
            return []
        query_tokens = self._bm25s.tokenize([query], stopwords="en", show_progress=False)
        if not any(len(ids) for ids in query_tokens.ids):
            return []
        results, scores = self.retriever.retrieve(
            query_tokens, k=min(k, self.size), show_progress=False
        )
        return [
            (int(i), round(float(s), 3))
            for i, s in zip(results[0], scores[0], strict=True)
            if s > 0
        ]


def respell(query: str, texts: list[str]) -> str:
    """``query`` in lower case, each word the texts lack replaced by their closest word.

    Small models misspell what they search for ("sattelite"), and speech recognizers
    misspell names; a close word (difflib ratio >= 0.75) is taken as meant.
    """
    vocabulary = {w for text in texts for w in _WORD.findall(text.lower())}
    words = []
    for word in _WORD.findall(query.lower()):
        close = [] if word in vocabulary else difflib.get_close_matches(word, vocabulary, 1, 0.75)
        words.append(close[0] if close else word)
    return " ".join(words)


def bm25_top(texts: list[str], query: str, k: int) -> list[tuple[int, float]]:
    """One-off ranking of ``texts`` (for corpora that change between queries); a query
    that matches nothing is tried once more, respelled to the texts' own words."""
    index = BM25Index(texts)
    return index.top(query, k) or index.top(respell(query, texts), k)
