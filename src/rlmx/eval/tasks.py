"""The evaluation tasks, one table: name -> what it is and how its items are made.

A factory takes the lengths (tokens), the items per length, the token counter of the root
model and the data location (``--data``, else ``$RLMX_EVAL_DATA``; never a path derived
from where the package is installed) and returns the items.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .items import EvalItem, TokenCounter

Factory = Callable[[list[int], int, TokenCounter, Path | None], list[EvalItem]]


@dataclass(frozen=True)
class EvalTask:
    """A task of the harness: a one-line description, the factory of its items, and what
    its lengths measure (tokens of context, or a video's seconds)."""

    description: str
    make: Factory
    unit: str = "tokens"
    min_length: int = 256
    default_lengths: tuple[int, ...] = (8192,)

    def check_lengths(self, lengths: list[int]) -> None:
        """ValueError unless every length is one this task can make."""
        if not lengths or min(lengths) < self.min_length:
            raise ValueError(
                f"lengths are {self.unit} for this task: give at least one, each "
                f"{self.min_length} or more"
            )


def _sniah(variant: tuple[str, str]) -> Factory:
    def make(lengths: list[int], n: int, count: TokenCounter, _data: Path | None) -> list:
        from .sniah import sniah_item

        return [sniah_item(length, seed, count, *variant) for length in lengths
                for seed in range(n)]  # fmt: skip

    return make


def _oolong_folder(data: Path | None) -> Path:
    if data is None:
        raise ValueError(
            "OOLONG needs its data folder: pass --data DIR (or set RLMX_EVAL_DATA), e.g. "
            "../shared/data/oolong"
        )
    if not (data / "trec_coarse_validated.jsonl").exists():
        raise ValueError(f"OOLONG data not found at {data / 'trec_coarse_validated.jsonl'}")
    return data


def _oolong(lengths: list[int], n: int, count: TokenCounter, data: Path | None) -> list:
    from .oolong import load_labeled, oolong_item

    labeled = load_labeled(_oolong_folder(data) / "trec_coarse_validated.jsonl")
    return [oolong_item(labeled, length, seed, count) for length in lengths for seed in range(n)]


def _pairs(lengths: list[int], n: int, count: TokenCounter, data: Path | None) -> list:
    from .oolong import load_labeled, pairs_item

    folder = _oolong_folder(data)
    labeled = load_labeled(folder / "trec_coarse_validated.jsonl")
    queries = json.loads((folder / "oolong_pairs_queries.json").read_text(encoding="utf-8"))
    return [pairs_item(labeled, queries, length, seed, count) for length in lengths
            for seed in range(n)]  # fmt: skip


def _official(lengths: list[int], n: int, _count: TokenCounter, data: Path | None) -> list:
    from .oolong import official_items

    return official_items(data, lengths, n)


def _multihop(lengths: list[int], n: int, count: TokenCounter, _data: Path | None) -> list:
    from .qa import multihop_item

    return [multihop_item(length, seed, count) for length in lengths for seed in range(n)]


def _browsecomp(_lengths: list[int], n: int, _count: TokenCounter, data: Path | None) -> list:
    from .qa import browsecomp_items

    return browsecomp_items(data or Path("browsecomp_plus_decrypted.jsonl"), n)


def _codeqa(_lengths: list[int], n: int, _count: TokenCounter, data: Path | None) -> list:
    from .qa import codeqa_items

    return codeqa_items(data or Path("data.json"), n)


def _video(lengths: list[int], n: int, _count: TokenCounter, data: Path | None) -> list:
    from .videoqa import video_qa_items

    return video_qa_items(lengths, n, data)


def _oolong_real(lengths: list[int], n: int, count: TokenCounter, data: Path | None) -> list:
    from .oolong import real_items

    return real_items(data, lengths, n, count)


def _aggregate(lengths: list[int], n: int, count: TokenCounter, _data: Path | None) -> list:
    from .aggregate import aggregate_item

    return [aggregate_item(length, seed, count) for length in lengths for seed in range(n)]


def _shapes(half: str) -> Factory:
    def make(lengths: list[int], n: int, count: TokenCounter, _data: Path | None) -> list:
        from .shapes import shape_items

        return shape_items(half, lengths, n, count)

    return make


TASKS: dict[str, EvalTask] = {
    "sniah": EvalTask("RULER single needle in Paul Graham essays", _sniah(("essay", "number"))),
    "sniah-noise-uuid": EvalTask(
        "single needle (a UUID) in noise sentences", _sniah(("noise", "uuid"))
    ),
    "aggregate": EvalTask(
        "count, sum, average, max, top and distinct over employee records in five formats",
        _aggregate,
        default_lengths=(1250, 7500, 125_000),
    ),
    "shapes-tune": EvalTask(
        "questions over CSV, an access log, JSON, a code tree, Markdown, INI, an auth log, YAML, "
        "XML and a join (may be tuned on)",
        _shapes("tune"),
        default_lengths=(7500, 250_000),
    ),
    "shapes-held-out": EvalTask(
        "questions over TSV, an app log, a chat, HTML tables, a ledger and a join (never tuned on)",
        _shapes("held-out"),
        default_lengths=(7500, 250_000),
    ),
    "oolong": EvalTask("OOLONG-synth over TREC-coarse (--data the OOLONG folder)", _oolong),
    "oolong-pairs": EvalTask("the RLM paper's 20 OOLONG-Pairs queries", _pairs),
    "oolong-official": EvalTask("the official oolong-synth windows (local copy or hub)", _official),
    "multihop": EvalTask(
        "HotpotQA distractor questions (offline BrowseComp-Plus stand-in)", _multihop
    ),
    "browsecomp-plus": EvalTask("BrowseComp-Plus from a local decrypted copy", _browsecomp),
    "longbench-codeqa": EvalTask(
        "LongBench-v2 code repository questions (local data.json)", _codeqa
    ),
    "oolong-real": EvalTask(
        "the official OOLONG-real D&D windows (local copy or hub); lengths: at most this "
        "many tokens",
        _oolong_real,
        default_lengths=(131_072,),
    ),
    "video-qa": EvalTask(
        "RVAA's video QA over synthetic news videos (lengths in seconds) or a local video "
        "with --data QUESTIONS.json",
        _video,
        unit="seconds of video",
        min_length=10,
        default_lengths=(60,),
    ),
}
