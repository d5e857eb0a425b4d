"""rlmx as a `verifiers <https://github.com/PrimeIntellect-ai/verifiers>`_ (v1) environment.

A verifiers rollout here is a real rlmx run: the harness runs rlmx's own loop in process
(sandboxed REPL, the policy's prompts, corrections) with the trainer's model as the root,
reached through the rollout's interception endpoint, so every root call lands in the
verifiers trace with its tokens for training. Sub-calls go to the same endpoint (the policy
model answers its own sub-questions) unless the operator names a sub-model. The reward is
the eval scorer's score of the answer, shaped as ``Shaping`` says; the run's conduct
(turns, corrections, failed cells) rides on the trace.

The plugin package ``rlmx_verifiers`` exports these classes, so ``vf-eval rlmx-verifiers``
(and a verifiers trainer such as prime-rl, which loads environments the same way; not run
here) finds the taskset, its harness and its env.
Install with ``pip install 'rlmx[verifiers]'`` (verifiers pins ``openai<3``: keep it in its
own virtual environment).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import verifiers.v1 as vf
from pydantic import Field

from ..core.config import RunConfig
from ..core.rlm import RLM
from ..eval.items import EvalItem
from ..lm.openai_compat import OpenAICompatLM
from .environment import Conduct, Shaping, tasks_of


class RLMXData(vf.TaskData):
    """One task: the question is the prompt; the context stays in the run's REPL."""

    context: Any = None  # text, or a dict of path -> text (a folder)
    answer: Any = None  # the gold answer the scorer compares with
    answer_type: str = "exact"  # which eval scorer: exact, contains, numeric, qa, ...
    source: str = ""  # the eval task or JSONL file it came from


class RLMXTaskConfig(vf.TaskConfig):
    """Reward shaping (``--env.taskset.task.*``); all 0: the task score alone."""

    correction_penalty: float = 0.0
    """Subtracted per reply rlmx had to correct (a protocol error)."""
    error_cell_penalty: float = 0.0
    """Subtracted per REPL cell that raised."""
    sub_call_bonus: float = 0.0
    """Added once when the run used a sub-call or a child run."""


def item_of(data: vf.TaskData) -> EvalItem:
    """The eval item ``data`` carries (its scorer scores the answer). Read by attribute:
    a wire copy of the data holds the same fields as extras, and dumping it would copy the
    whole context."""
    return EvalItem(
        task=getattr(data, "source", "") or "tasks", item_id=str(data.id or data.idx),
        length=0, seed=0, context=getattr(data, "context", None), query=data.prompt_text,
        gold=getattr(data, "answer", None),
        answer_type=getattr(data, "answer_type", "") or "exact",
    )  # fmt: skip


def conduct_of(trace: vf.Trace) -> Conduct | None:
    """The conduct the harness recorded on ``trace`` (None: the run never finished)."""
    recorded = trace.info.get("rlmx")
    return Conduct(**recorded) if recorded else None


class RLMXTask(vf.Task[RLMXData, vf.State, RLMXTaskConfig]):
    """Scores a finished rlmx run with the eval scorers, shaped by the task config."""

    @vf.reward(weight=1.0)
    async def reward(self, trace: vf.Trace) -> float:
        """The answer's task score, shaped by how the run went (0 for no run)."""
        conduct = conduct_of(trace)
        if conduct is None:
            return 0.0
        shaping = Shaping(self.config.correction_penalty, self.config.error_cell_penalty,
                          self.config.sub_call_bonus)  # fmt: skip
        return shaping.reward(conduct.score(item_of(self.data)), conduct)

    @vf.metric
    async def task_score(self, trace: vf.Trace) -> float:
        """The answer's task score alone, unshaped."""
        conduct = conduct_of(trace)
        return conduct.score(item_of(self.data)) if conduct else 0.0


class RLMXTasksetConfig(vf.TasksetConfig):
    """Which tasks (``--env.taskset.*``)."""

    source: str = "sniah"
    """An rlmx eval task name (sniah, aggregate, shapes-tune, ...) or a JSONL file of
    ``context``, ``question``, ``answer`` rows (``answer_type`` optional)."""
    num_tasks: int = Field(8, ge=1)
    """How many items to generate from an eval task (a JSONL file gives all its rows)."""
    length: int = Field(2000, ge=100)
    """The generated contexts' length in tokens."""
    task: RLMXTaskConfig = RLMXTaskConfig()


class RLMXTaskset(vf.Taskset[RLMXTask, RLMXTasksetConfig]):
    """rlmx's eval tasks, or a user's own JSONL, as verifiers tasks."""

    def load(self) -> list[RLMXTask]:
        """One task per eval item, its context and gold answer in the task data."""
        items = tasks_of(self.config.source, self.config.num_tasks, self.config.length)
        return [
            RLMXTask(RLMXData(id=f"{item.task}/{item.item_id}", prompt=item.query,
                              context=item.context, answer=item.gold,
                              answer_type=item.answer_type, source=item.task),
                     self.config.task)
            for item in items
        ]  # fmt: skip


class RLMXHarnessConfig(vf.HarnessConfig):
    """The run's settings (``--env.agent.harness.*``); the root is always the policy."""

    sub: str | None = None
    """An rlmx model spec for sub-calls (e.g. ``local:smollm2-135m``); unset: the policy
    model answers them too, through the same interception endpoint."""
    max_iterations: int = Field(8, ge=1, le=100)
    """Root turns before the run ends without an answer."""
    max_depth: int = Field(1, ge=1, le=4)
    """How deep ``rlm_query`` child runs may go."""
    policy: str = "auto"
    """The prompt policy: auto, paper or compact (compact: the small-model prompts)."""
    sandbox: str = "auto"
    """Where model code runs: auto, bwrap, process, ..."""
    context_window: int | None = 32_768
    """The policy model's window in tokens (rlmx trims history to fit it)."""
    trajectory: str | None = None
    """A folder: each rollout is also written there as an rlmx trajectory."""


class RLMXHarness(vf.Harness[RLMXHarnessConfig]):
    """Runs rlmx's loop in process; every root call goes through the interception
    endpoint (the verifiers contract: the trace is the record of what ran)."""

    NEEDS_CONTAINER = False  # model code runs in rlmx's own sandbox, not in the runtime

    async def launch(
        self,
        ctx: vf.ModelContext,
        trace: vf.Trace,
        runtime: vf.Runtime,
        endpoint: str,
        secret: str,
        mcp_urls: dict[str, str],
        data: vf.TaskData,
    ) -> vf.ProgramResult:
        """One rlmx run of the task with ``ctx.model`` at ``endpoint`` as its root."""
        policy = OpenAICompatLM(ctx.model, base_url=endpoint, api_key=secret,
                                context_window=self.config.context_window)  # fmt: skip
        config = RunConfig.build(
            root=policy, sub=self.config.sub or policy, policy=self.config.policy,
            max_iterations=self.config.max_iterations, max_depth=self.config.max_depth,
            sandbox=self.config.sandbox, trajectory=self.config.trajectory,
            recheck=False,  # a second run's calls would land in this rollout's trace
        )  # fmt: skip
        events: list[Any] = []
        item = item_of(data)
        try:
            result = await RLM(config=config, on_event=events.append).acompletion(
                item.context, item.query
            )
        finally:
            await policy.aclose()
        conduct = Conduct.of(result, events)
        trace.info["rlmx"] = asdict(conduct)
        trace.root_reply = conduct.answer or ""
        trace.record_metrics({"turns": conduct.turns, "corrections": conduct.corrections,
                              "failed_cells": conduct.failed_cells,
                              "delegated": float(conduct.delegated)})  # fmt: skip
        # a run that ends without an answer is a finished rollout with reward 0, not a
        # harness failure; only a run that could not run at all is one
        failed = result.status == "error"
        return vf.ProgramResult(exit_code=1 if failed else 0, stdout=conduct.answer or "",
                                stderr=result.error or "")  # fmt: skip


class RLMXEnvConfig(vf.SingleAgentEnvConfig):
    """The single-agent env with the subprocess runtime by default: the harness runs in
    process and confines model code itself, so a cloud sandbox per rollout buys nothing."""

    agent: vf.AgentConfig = vf.AgentConfig(runtime=vf.SubprocessConfig())


class RLMXEnv(vf.SingleAgentEnv, vf.Env[RLMXEnvConfig]):
    """``SingleAgentEnv`` bound to ``RLMXEnvConfig`` (verifiers reads the config type
    from the ``Env[...]`` base)."""
