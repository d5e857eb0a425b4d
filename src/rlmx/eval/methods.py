"""The compared methods, all over the same LM specs (RLM paper, section 4).

- ``base`` (RVAA's "Direct Context", also named ``direct``): the model answers directly;
  a context longer than its window is truncated to fit (``truncated`` says so), as the
  paper's baseline does. A video item's context is its perception text.
- ``summary``: an iterative-compaction agent: reads the context in window-sized parts,
  keeps running notes about the query, answers from the notes. For a video item it is
  RVAA's "Summarize-then-Answer": each window-sized group of segments is summarised on its
  own, then the model answers from the summaries.
- ``topk``: RVAA's "Top-K Retrieval Only": the BM25 top-k segments (a video's) or chunks
  (a text's) for the query, in their order, then one call.
- ``codeact_bm25``: a code-acting agent whose REPL does not hold the context; it finds
  passages with a BM25 ``search`` tool and reads chunks, without sub-calls.
- ``rlm_nosub``: RLM without sub-calls (the paper's ablation).
- ``rlm``: RLM.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.config import RunConfig
from ..core.rlm import RLM
from ..lm.base import CHARS_PER_TOKEN, LM, Usage, prompt_tokens
from ..lm.cache import cached
from ..lm.specs import create_lm
from .items import EvalItem

ANSWER_TOKENS = 512
DEFAULT_WINDOW = 128_000  # tokens assumed for models that do not say (hosted APIs)


@dataclass
class Outcome:
    """What one method produced for one item."""

    answer: str | None
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    iterations: int = 1
    truncated: bool = False
    trajectory: str | None = None
    error: str | None = None
    warnings: list[dict[str, str]] = field(default_factory=list)  # an RLM answer's


@dataclass(frozen=True)
class MethodCall:
    """One method run on one item, with the run's settings (a baseline calls the root)."""

    item: EvalItem
    config: RunConfig


@dataclass(frozen=True)
class EvalMethod:
    """A compared method: a one-line description and how it answers an item."""

    description: str
    run: Callable[[MethodCall], Awaitable[Outcome]]


async def run_method(method: str, item: EvalItem, config: RunConfig) -> Outcome:
    """Run one method on one item with ``config``; failures become an Outcome with
    ``error``."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    started = time.perf_counter()
    call = MethodCall(item, config)
    outcome = await METHODS[method].run(call)
    outcome.seconds = time.perf_counter() - started
    return outcome


def _on_the_model(answer: Callable[[LM, EvalItem], Awaitable[Outcome]]) -> Any:
    """A method that calls the root model itself (no REPL)."""

    async def run(call: MethodCall) -> Outcome:
        root = call.config.root
        lm = root if not isinstance(root, str) else create_lm(root, "root")
        try:
            return await answer(cached(lm, call.config.cache), call.item)
        except Exception as exc:  # an LM failure is this item's result, not the run's end
            return Outcome(None, error=f"{type(exc).__name__}: {exc}")
        finally:
            if isinstance(root, str):
                await lm.aclose()

    return run


def truncate_to_window(lm: LM, item: EvalItem, reply_tokens: int) -> tuple[str, bool]:
    """The context cut to what fits the model's window with the query and the reply."""
    text = item.context_text
    if lm.context_window is None:
        return text, False
    room = lm.context_window - prompt_tokens(lm, [{"role": "user", "content": item.query}])
    room -= reply_tokens + 64  # the chat template and a margin
    if lm.tokenizer is not None:
        context = lm.tokenizer.truncate(text, room)
    else:
        context = text[: room * CHARS_PER_TOKEN]
    return context, context != text


async def _base(lm: LM, item: EvalItem) -> Outcome:
    context, truncated = truncate_to_window(lm, item, ANSWER_TOKENS)
    messages = [{"role": "user", "content": item.direct_prompt(context)}]
    response = await lm.complete(messages, max_tokens=ANSWER_TOKENS)
    return Outcome(response.text, response.usage, truncated=truncated)


SUMMARY_STEP = """You are reading a long document in parts to answer a question later.
Question: {query}

Your notes so far:
{notes}

Next part of the document:
{part}

Rewrite your notes so they keep every fact from the document (so far) that may help answer \
the question, with exact numbers, names, dates and IDs. At most 400 words."""

SUMMARY_ANSWER = """Your notes about a long document:
{notes}

Answer the question from your notes: {query}"""


async def _summary(lm: LM, item: EvalItem) -> Outcome:
    if item.video is not None:
        return await _segment_summaries(lm, item)
    window = lm.context_window or DEFAULT_WINDOW
    part_chars = max(2_000, (window // 2) * CHARS_PER_TOKEN)
    notes, usage, steps = "(none yet)", Usage(), 0
    text = item.context_text
    for start in range(0, max(len(text), 1), part_chars):
        part = text[start : start + part_chars]
        prompt = SUMMARY_STEP.format(query=item.query, notes=notes, part=part)
        response = await lm.complete([{"role": "user", "content": prompt}], max_tokens=600)
        notes, steps = response.text.strip() or notes, steps + 1
        usage.add(response.usage)
    answer_prompt = SUMMARY_ANSWER.format(notes=notes, query=item.query)
    response = await lm.complete(
        [{"role": "user", "content": answer_prompt}], max_tokens=ANSWER_TOKENS
    )
    usage.add(response.usage)
    return Outcome(response.text, usage, iterations=steps + 1)


SEGMENT_SUMMARY = """Summarise what this part of a video shows and says, keeping every \
topic, name, number and time (in seconds) that appears:
{part}"""

SEGMENT_ANSWER = """Summaries of a video's parts, in order:
{summaries}

Answer from the summaries: {query}"""


async def _segment_summaries(lm: LM, item: EvalItem) -> Outcome:
    window = lm.context_window or DEFAULT_WINDOW
    groups = _groups(item.meta["segments"], max(2_000, (window // 2) * CHARS_PER_TOKEN))
    usage, summaries = Usage(), []
    for group in groups:
        prompt = SEGMENT_SUMMARY.format(part="\n".join(group))
        response = await lm.complete([{"role": "user", "content": prompt}], max_tokens=400)
        summaries.append(response.text.strip())
        usage.add(response.usage)
    prompt = SEGMENT_ANSWER.format(summaries="\n\n".join(summaries), query=item.query)
    response = await lm.complete([{"role": "user", "content": prompt}], max_tokens=ANSWER_TOKENS)
    usage.add(response.usage)
    return Outcome(response.text, usage, iterations=len(groups) + 1)


def _groups(lines: list[str], max_chars: int) -> list[list[str]]:
    """Consecutive lines in groups of at most ``max_chars`` (a longer line stands alone)."""
    groups: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if groups[-1] and size + len(line) > max_chars:
            groups.append([])
            size = 0
        groups[-1].append(line)
        size += len(line) + 1
    return groups


TOPK = 8
TOPK_CHUNK_CHARS = 2_000
TOPK_PROMPT = """The passages of a document most related to the question, in document order:
{passages}

{query}"""


async def _topk(lm: LM, item: EvalItem) -> Outcome:
    from ..bm25 import bm25_top

    text = item.context_text
    pieces = item.meta.get("segments") or [
        text[i : i + TOPK_CHUNK_CHARS] for i in range(0, len(text), TOPK_CHUNK_CHARS)
    ]
    ranked = sorted(index for index, _score in bm25_top(pieces, item.query, TOPK))
    passages = "\n\n".join(pieces[i] for i in ranked) or "(nothing matched)"
    prompt = TOPK_PROMPT.format(passages=passages, query=item.query)
    response = await lm.complete([{"role": "user", "content": prompt}], max_tokens=ANSWER_TOKENS)
    return Outcome(response.text, response.usage)


def _as_rlm(sub_calls: bool, retrieval: bool = False) -> Any:
    """An RLM method; ``retrieval``: the REPL holds a BM25 search tool, not the context."""

    async def run(call: MethodCall) -> Outcome:
        from .retrieval import RetrievalEnvironment

        item = call.item
        context: Any = RetrievalEnvironment(item.context) if retrieval else item.context
        if item.video is not None and not retrieval:
            context = Path(item.video)  # the video itself, explored with its tools
        rlm = RLM(config=replace(call.config, sub_calls=sub_calls))
        result = await rlm.acompletion(context, item.query)
        return Outcome(
            result.answer,
            result.usage.total,
            iterations=result.iterations,
            trajectory=str(result.trajectory) if result.trajectory else None,
            error=result.error,
            warnings=[warning.to_dict() for warning in result.warnings],
        )

    return run


DIRECT = EvalMethod("the model answers directly (truncated to its window)", _on_the_model(_base))
METHODS: dict[str, EvalMethod] = {
    "base": DIRECT,
    "direct": DIRECT,  # RVAA's name for it
    "topk": EvalMethod("BM25 top-k segments or chunks, then one call", _on_the_model(_topk)),
    "summary": EvalMethod(
        "iterative compaction: running notes, answer from the notes", _on_the_model(_summary)
    ),
    "codeact_bm25": EvalMethod(
        "a code agent with BM25 search over chunks, no sub-calls", _as_rlm(False, retrieval=True)
    ),
    "rlm_nosub": EvalMethod("RLM without sub-calls (the paper's ablation)", _as_rlm(False)),
    "rlm": EvalMethod("RLM", _as_rlm(True)),
}
