"""An RL environment over real rlmx runs: a trainer's model writes the root's replies.

``RLMEnv.reset()`` starts a real run (sandboxed REPL, the policy's prompts, sub-calls
through the gateway to the sub-model the trainer names) whose root model is a *channel*:
each time the run asks its root model for a reply, the environment hands the trainer
the messages (an observation) and waits for ``step(reply)``. When the run ends, the
reward is the task's own score of the answer (``eval/scoring.py``), shaped by
``Shaping``. Every rollout can be recorded as an rlmx trajectory.

The loop is rlmx's own, unchanged: corrections, push-backs and last-turn notices reach the
trainer's model as they would reach any root model. ``rollout()`` drives one episode with
an rlmx LM (the embedded model, or any OpenAI-compatible server a trainer serves).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from ..core.config import RunConfig
from ..core.events import PromptDelta
from ..core.result import Result
from ..core.rlm import RLM
from ..eval.items import EvalItem
from ..lm.base import LM, LMBase, LMError, LMResponse, Message, Usage
from .turns import CORRECTIONS


@dataclass(frozen=True)
class Conduct:
    """How a finished run went beside its answer: what a reward reads and shaping weighs."""

    status: str
    answer: str | None
    corrections: int  # replies rlmx had to correct (protocol errors)
    failed_cells: int  # cells that raised
    delegated: bool  # the run used a sub-call or a child run
    turns: int
    trajectory: str | None

    @classmethod
    def of(cls, result: Result, events: list[Any]) -> Conduct:
        """The conduct of ``result``, counted from the run's ``events``."""
        corrections = sum(1 for e in events if e.type == "notice" and e.kind in CORRECTIONS)
        return cls(
            status=result.status,
            answer=result.answer,
            corrections=corrections,
            failed_cells=sum(1 for e in events if e.type == "code_executed" and e.error),
            delegated=any(
                e.type == "sub_call" or (e.type == "child_run" and not e.recheck) for e in events
            ),
            turns=result.iterations,
            trajectory=str(result.trajectory) if result.trajectory else None,
        )

    def score(self, item: EvalItem) -> float:
        """The task's own score of the answer (0 unless the run ended on a FINAL)."""
        return item.score(self.answer) if self.status == "final" else 0.0


@dataclass(frozen=True)
class Shaping:
    """Reward shaping on top of the task score (all 0: the score alone)."""

    correction_penalty: float = 0.0  # per reply rlmx had to correct (a protocol error)
    error_cell_penalty: float = 0.0  # per cell that raised
    sub_call_bonus: float = 0.0  # once, when the run used a sub-call or child run

    def reward(self, score: float, conduct: Conduct) -> float:
        """``score`` shaped by how the run went."""
        return (score - self.correction_penalty * conduct.corrections
                - self.error_cell_penalty * conduct.failed_cells
                + (self.sub_call_bonus if conduct.delegated else 0.0))  # fmt: skip


@dataclass
class Observation:
    """What the trainer's model is asked to continue."""

    messages: list[Message]  # the whole prompt of this root call
    new: list[Message]  # since the last observation: the reply given and what followed
    options: dict[str, Any] = field(default_factory=dict)  # max_tokens, stop, grammar asked


@dataclass
class StepResult:
    observation: Observation | None  # the next prompt; None when the run ended
    done: bool
    reward: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


_Ask = tuple[list[Message], dict[str, Any], "asyncio.Future[str]"]


class _Channel(LMBase):
    """A root model whose replies come from ``RLMEnv.step``."""

    supports_grammar = True  # the run's grammar is passed on in the observation

    def __init__(self, name: str, context_window: int | None, compact: bool) -> None:
        self.name = name
        self.context_window = context_window
        self.prefers_compact = compact
        self.asks: asyncio.Queue[_Ask] = asyncio.Queue()

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> LMResponse:
        reply: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        options = {"max_tokens": max_tokens, "stop": stop, "grammar": grammar}
        await self.asks.put((list(messages), options, reply))
        text = await reply
        return LMResponse(text=text, usage=Usage(calls=1), model=self.name, finish_reason="stop")


def load_tasks(path: Path, answer_type: str = "exact") -> list[EvalItem]:
    """A user's tasks: JSONL rows of ``context``, ``question`` and ``answer`` (optional
    ``answer_type``: ``exact``, ``contains``, ``qa``, ... as the eval scorers name them)."""
    items = []
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            missing = [k for k in ("context", "question", "answer") if k not in row]
            if missing:
                raise ValueError(f"{path} line {number} lacks {', '.join(missing)}")
            items.append(EvalItem(
                task=path.stem, item_id=str(row.get("id", number)), length=0, seed=number,
                context=row["context"], query=row["question"], gold=row["answer"],
                answer_type=row.get("answer_type", answer_type),
            ))  # fmt: skip
    return items


class RLMEnv:
    """Reset/step over rlmx runs of ``tasks`` (eval items or ``load_tasks`` rows).

    ``config`` sets everything but the root model (sub-model, sandbox, turns, depth); its
    ``trajectory`` (a folder) records each rollout. ``policy_name`` names the trained model
    in the trajectories; ``compact`` gives it the compact prompts of small models.
    """

    def __init__(
        self,
        tasks: list[EvalItem],
        config: RunConfig,
        *,
        shaping: Shaping | None = None,
        policy_name: str = "trainee",
        context_window: int | None = 32_768,
        compact: bool = False,
        seed: int = 0,
    ) -> None:
        if not tasks:
            raise ValueError("an environment needs at least one task")
        self.tasks = tasks
        self.config = config
        self.shaping = shaping or Shaping()
        self.policy_name = policy_name
        self.context_window = context_window
        self.compact = compact
        self.random = random.Random(seed)
        self.item: EvalItem | None = None
        self._channel: _Channel | None = None
        self._run: asyncio.Task[Result] | None = None
        self._events: list[Any] = []
        self._pending: asyncio.Future[str] | None = None
        self._sent: list[Message] = []

    async def reset(self, index: int | None = None) -> Observation:
        """Start a run of task ``index`` (a random one when None); its first prompt."""
        await self.close()
        self.item = self.tasks[self.random.randrange(len(self.tasks)) if index is None else index]
        self._channel = _Channel(self.policy_name, self.context_window, self.compact)
        self._events, self._sent = [], []
        # no recheck: its second run would ask the trainer for replies of another run
        config = replace(self.config, root=self._channel, recheck=False)
        rlm = RLM(config=config, on_event=self._events.append)
        self._run = asyncio.create_task(rlm.acompletion(self.item.context, self.item.query))
        observation = await self._next()
        if observation is None:  # the run ended before asking anything (a bad context)
            raise RuntimeError(f"the run ended before its first turn: {self._run.result().error}")
        return observation

    async def step(self, reply: str) -> StepResult:
        """Give the pending root call ``reply``; the next prompt, or the reward at the end."""
        if self._pending is None or self._run is None:
            raise RuntimeError("call reset() first (or again: this episode has ended)")
        self._pending.set_result(reply)
        self._pending = None
        observation = await self._next()
        if observation is not None:
            return StepResult(observation, done=False)
        result = self._run.result()
        reward, info = self.reward(result)
        return StepResult(None, done=True, reward=reward, info=info)

    def reward(self, result: Result) -> tuple[float, dict[str, Any]]:
        """The task score of the answer, shaped; with its parts."""
        assert self.item is not None
        conduct = Conduct.of(result, self._events)
        score = conduct.score(self.item)
        return self.shaping.reward(score, conduct), {"score": score, **asdict(conduct)}

    async def _next(self) -> Observation | None:
        """Wait for the run's next root call (an observation) or its end (None)."""
        assert self._channel is not None and self._run is not None
        ask = asyncio.ensure_future(self._channel.asks.get())
        await asyncio.wait({ask, self._run}, return_when=asyncio.FIRST_COMPLETED)
        if not ask.done():
            ask.cancel()
            return None
        messages, options, self._pending = ask.result()
        new = PromptDelta.between(self._sent, messages).add  # the trajectory's own rule
        self._sent = messages
        return Observation(messages, new, options)

    async def close(self) -> None:
        """End a running episode (its sandbox closes; the trajectory says cancelled)."""
        if self._pending is not None and not self._pending.done():
            self._pending.set_exception(LMError("the episode was closed"))
        self._pending = None
        if self._run is not None and not self._run.done():
            self._run.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._run
        self._run = None


@dataclass
class Rollout:
    """One episode: the replies the policy gave, the reward and its parts."""

    task: str
    item_id: str
    replies: list[str]
    reward: float
    info: dict[str, Any]


async def rollout(env: RLMEnv, policy: LM, index: int | None = None,
                  max_tokens: int | None = 1024) -> Rollout:  # fmt: skip
    """Play one episode with ``policy`` writing every root reply (under the run's grammar
    and stop strings when the policy model takes them)."""
    observation: Observation | None = await env.reset(index)
    replies: list[str] = []
    result = StepResult(observation, done=False)
    while not result.done:
        assert result.observation is not None
        asked = result.observation.options
        response = await policy.complete(
            result.observation.messages,
            max_tokens=asked.get("max_tokens") or max_tokens,
            stop=asked.get("stop"),
            grammar=asked.get("grammar") if policy.supports_grammar else None,
        )
        replies.append(response.text)
        result = await env.step(response.text)
    assert env.item is not None
    return Rollout(env.item.task, env.item.item_id, replies, result.reward, result.info)


def tasks_of(source: str, n: int, length: int) -> list[EvalItem]:
    """A JSONL file of tasks (``load_tasks``) or ``n`` items of an eval task."""
    if Path(source).is_file():
        return load_tasks(Path(source))
    if source.endswith(".jsonl") or "/" in source:  # meant as a file, not a task name
        raise ValueError(f"no such tasks file: {source}")
    from ..eval.runner import generate

    return generate(source, [length], n)


async def episodes(
    tasks: str,
    policy: str,
    sub: str | None = None,
    *,
    n: int = 1,
    length: int = 2000,
    max_iterations: int = 6,
    trajectory: Path | None = None,
    correction_penalty: float = 0.0,
    sub_call_bonus: float = 0.0,
    sandbox: str = "auto",
) -> list[dict[str, Any]]:
    """``n`` episodes of ``tasks`` with the model ``policy`` as the root (``rlmx train
    rollouts``); one row each: reward, score and how the run went."""
    from ..lm.specs import create_lm

    items = tasks_of(tasks, n, length)
    model = create_lm(policy, "root")
    config = RunConfig.build(root=policy, sub=sub or policy, max_iterations=max_iterations,
                             trajectory=trajectory, sandbox=sandbox)  # fmt: skip
    env = RLMEnv(items, config, policy_name=model.name, context_window=model.context_window,
                 compact=model.prefers_compact,
                 shaping=Shaping(correction_penalty=correction_penalty,
                                 sub_call_bonus=sub_call_bonus))  # fmt: skip
    rows = []
    try:
        for episode in range(n):
            played = await rollout(env, model, index=episode % len(items))
            rows.append({"task": played.task, "item_id": played.item_id,
                         "reward": played.reward, "replies": len(played.replies),
                         **played.info})  # fmt: skip
    finally:
        await env.close()
        await model.aclose()
    return rows
