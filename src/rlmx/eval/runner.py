"""``rlmx eval run``: tasks x methods x lengths x seeds, resumable, with bounded concurrency.

Every finished item is appended to the results JSONL at once (a crash loses nothing); a
re-run skips the rows already there (same task, method, item, root and sub model). Each
row records the seed, the score, the answer and gold, usage and cost, time, whether the
context was truncated and where the trajectory is.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..core.config import RunConfig
from ..jobs import LocalRunner, Runner, run_jobs
from ..lm.base import LM
from ..lm.specs import create_lm
from .items import EvalItem, TokenCounter, estimate_tokens
from .methods import METHODS, run_method
from .tasks import TASKS

JUDGE_PROMPT = (
    "Question: {question}\nGold answer: {gold}\nPredicted answer: {answer}\n\nDoes the "
    "predicted answer mean the same as the gold answer? Reply with exactly one word: yes or no."
)
DATA_ENV = "RLMX_EVAL_DATA"  # where a task's data lives when --data is not given


def token_counter(root: str | LM) -> TokenCounter:
    """Lengths are measured with the root model's tokenizer when it has one."""
    lm = create_lm(root, "root") if isinstance(root, str) else root
    tokenizer = lm.tokenizer
    if tokenizer is None:
        return estimate_tokens
    return lambda text: tokenizer.count_tokens([{"role": "user", "content": text}])


def generate(
    task: str,
    lengths: list[int],
    n: int,
    count: TokenCounter = estimate_tokens,
    data_dir: Path | None = None,
) -> list[EvalItem]:
    """The items of a task: ``n`` seeds at each length (see ``tasks.TASKS``)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    TASKS[task].check_lengths(lengths)
    if data_dir is None and os.environ.get(DATA_ENV):
        data_dir = Path(os.environ[DATA_ENV])
    return TASKS[task].make(lengths, n, count, data_dir)


def _name(model: str | LM | None) -> str | None:
    return model if model is None or isinstance(model, str) else model.name


def _row_key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["task"], row["method"], row["item_id"], row["root"], row["sub"])


async def run_eval(
    items: list[EvalItem],
    methods: list[str],
    config: RunConfig,
    out: Path,
    *,
    parallel: int = 1,
    runner: Runner | None = None,
    progress: Callable[[dict[str, Any]], None] | None = None,
    judge: str | LM | None = None,
) -> list[dict[str, Any]]:
    """Run every (method, item) not yet in ``out``; returns the new rows (``jobs.py``:
    resumable, one row a job, a failure recorded in its row).

    Each RLM method runs with ``config`` (the baselines call its root). Rows name the
    root and the sub (None: the root). With a ``judge`` model, QA answers also get
    ``judge_score`` (1 when it says they mean the same as the gold answer). ``runner`` says
    where items run (default: ``parallel`` at once in this process;
    ``ray_runner.RayRunner`` on a Ray cluster).
    """
    for method in methods:
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    runner = runner or LocalRunner(parallel)
    root, sub = config.root, config.sub
    if runner.remote and not all(isinstance(m, str | None) for m in (root, sub, judge)):
        raise ValueError("items run elsewhere get their models as spec strings, not LM objects")
    root_name, sub_name = _name(root), (None if sub == root else _name(sub))

    def base(method: str, item: EvalItem) -> dict[str, Any]:
        return {"task": item.task, "method": method, "item_id": item.item_id,
                "length": item.length, "seed": item.seed, "root": root_name, "sub": sub_name,
                "gold": item.gold, "answer_type": item.answer_type, "meta": item.meta}  # fmt: skip

    async def work(job: tuple[str, EvalItem]) -> dict[str, Any]:
        method, item = job
        outcome = await run_method(method, item, config)
        row = {
            **base(method, item), "score": item.score(outcome.answer), "answer": outcome.answer,
            "usage": outcome.usage.to_dict(), "cost_usd": outcome.usage.cost_usd,
            "seconds": round(outcome.seconds, 3), "iterations": outcome.iterations,
            "truncated": outcome.truncated, "trajectory": outcome.trajectory,
            "error": outcome.error, "warnings": outcome.warnings, **item.details(outcome.answer),
        }  # fmt: skip
        if judge is not None and item.answer_type == "qa":
            row["judge_score"] = await judge_score(judge, item, outcome.answer)
        return row

    def failed(job: tuple[str, EvalItem], exc: BaseException) -> dict[str, Any]:
        return {**base(*job), "score": 0.0, "answer": None, "usage": {}, "cost_usd": None,
                "error": f"{type(exc).__name__}: {exc}"}  # fmt: skip

    plan = [(method, item) for method in methods for item in items]
    return await run_jobs(
        plan, lambda job: (job[1].task, job[0], job[1].item_id, root_name, sub_name), _row_key,
        work, failed, out, runner, progress,
    )  # fmt: skip


async def judge_score(judge: str | LM, item: EvalItem, answer: str | None) -> float | None:
    """1.0 / 0.0 from the judge model; None when it could not be asked."""
    if not answer:
        return 0.0
    lm = create_lm(judge, "root") if isinstance(judge, str) else judge
    prompt = JUDGE_PROMPT.format(question=item.query, gold=item.gold, answer=answer)
    try:
        reply = await lm.complete([{"role": "user", "content": prompt}], max_tokens=4)
    except Exception:  # a judge failure leaves the row unjudged, never lost
        return None
    finally:
        if isinstance(judge, str):
            await lm.aclose()
    return float(reply.text.strip().lower().startswith("yes"))
