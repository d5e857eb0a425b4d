"""``RLM``: the public entry point, and the lifecycle of each run of a run tree.

``RLM.completion(context, query)`` materialises the context once into a sandboxed REPL,
lets the root model explore it with code until it gives a final answer, and returns a
``Result`` with exact usage over the whole run tree. A run (``_Run``) owns its identity,
events, usage, context, environment and sandbox; its root turns are ``turns.Turns``, the
host functions its cells call are ``host_calls.HostCalls``, and what its prompt style
decides is its ``policy.Policy``. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import Any

from .answers import AnswerSchema
from .budget import Budget, Ledger
from .environment import Environment
from .events import (
    CallbackSink,
    Emitter,
    ErrorEvent,
    JSONLSink,
    RunFinished,
    RunStarted,
)
from .gateway import Gateway
from .host_calls import HostCalls
from .lm.base import LM, LMError
from .lm.choice import ModelTable
from .lm.specs import default_root_spec, validate_spec
from .policy import Policy, check_policy, choose_policy
from .repl.isolation import Limits, resolve_mode
from .repl.sandbox import SandboxError
from .result import Result, Status, UsageReport
from .session import Session
from .telemetry import Telemetry
from .turns import Turns
from .video.options import VideoOptions
from .workspace import Workspace


class RLM:
    """A Recursive Language Model: ``completion(context, query)`` like an LLM.

    Args:
        root: model spec (e.g. ``"openai:gpt-5-mini"``) or an LM object for the root.
            Defaults to ``$RLMX_ROOT``, else the embedded ``local:qwen2.5-coder-1.5b``.
        sub: model for ``llm_query`` and for the roots of child RLMs; defaults to ``root``.
        max_depth: 1 = sub-calls are plain LM calls; 2 = ``rlm_query`` starts child RLMs.
        max_iterations: root turns before the model is asked for a last answer.
        sandbox: ``auto`` (bwrap when available, else process), ``bwrap``, ``process``
            or ``none`` (in-process, unsafe, for debugging).
        budget: limits on calls, tokens, USD and seconds for the whole run tree.
        cell_timeout: seconds of computation one cell may take (time spent waiting for
            sub-calls does not count) before it is interrupted.
        max_output_chars: cell output shown to the model, head and tail kept (default: the
            policy's, 20,000 for the paper's and 4,000 for the compact one).
        concurrency: most LM calls in flight at once across the run tree.
        on_event: called with every event (plain or async function).
        trajectory: JSONL file, or a directory for ``<run_id>.jsonl`` files.
        limits: resource limits of each sandbox worker.
        policy: what a prompt style decides (see ``policy.py``): ``"paper"``,
            ``"compact"`` (few-shot, for small models; replies are held to one cell or one
            FINAL line by a grammar where the backend supports it), ``"auto"`` (compact
            for a root LM that declares ``prefers_compact``, as the embedded models do;
            paper otherwise) or a ``Policy`` object.
        sub_calls: False disables llm_query / llm_query_batched / rlm_query (the paper's
            "RLM without sub-calls" ablation); the model is told so.
        video: how a video context (a Path to a video file) is explored: vision model,
            segment length, OCR step, perception cache (see ``VideoOptions``).
        schema_retries: how often an answer that does not match ``completion(...,
            schema=)`` is sent back with its validation errors before it stands as is.
        telemetry: OpenTelemetry export of every run tree as spans (see ``telemetry.py``):
            an OTLP/HTTP endpoint URL, a ``Telemetry`` object, False (off), or None (on
            only when ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set).
        models: named models that model code may pick, ``llm_query(p, model="fast")``
            with ``models={"fast": "openai:gpt-5-nano"}``. Model code may name only these,
            the sub model and the root (by their spec text); any other name is an
            ``[rlmx error]`` string in the cell and is never read as a spec.
    """

    def __init__(
        self,
        root: str | LM | None = None,
        sub: str | LM | None = None,
        *,
        max_depth: int = 1,
        max_iterations: int = 20,
        sandbox: str = "auto",
        budget: Budget | None = None,
        cell_timeout: float = 120.0,
        max_output_chars: int | None = None,
        concurrency: int = 8,
        on_event: Any = None,
        trajectory: str | Path | None = None,
        limits: Limits | None = None,
        policy: str | Policy = "auto",
        root_max_tokens: int | None = None,
        sub_max_tokens: int | None = None,
        sub_calls: bool = True,
        video: VideoOptions | None = None,
        models: dict[str, str | LM] | None = None,
        telemetry: str | bool | Telemetry | None = None,
        schema_retries: int = 3,
    ) -> None:
        root = root if root is not None else default_root_spec()
        _check_positive(
            max_depth=max_depth,
            max_iterations=max_iterations,
            concurrency=concurrency,
            cell_timeout=cell_timeout,
        )
        if max_output_chars is not None and max_output_chars < 100:
            raise ValueError("max_output_chars must be at least 100")
        self.video = video or VideoOptions()
        for model in (root, sub, self.video.vision, *(models or {}).values()):
            if isinstance(model, str):
                validate_spec(model)
        check_policy(policy)
        self.root = root
        self.sub = sub if sub is not None else root
        self.max_depth = max_depth
        self.max_iterations = max_iterations
        self.sandbox_mode = resolve_mode(sandbox)
        self.budget = budget or Budget()
        self.cell_timeout = cell_timeout
        self.policy = policy  # each run chooses its own from its root LM (choose_policy)
        self.max_output_chars = max_output_chars
        self.concurrency = concurrency
        self.on_event = on_event
        self.trajectory = Path(trajectory) if trajectory is not None else None
        self.limits = limits or Limits()
        self.root_max_tokens = root_max_tokens
        self.sub_max_tokens = sub_max_tokens
        self.sub_calls = sub_calls
        self.models = ModelTable(models, allowed=[self.sub, self.root])
        self.telemetry = Telemetry.resolve(telemetry)
        if schema_retries < 0:
            raise ValueError(f"schema_retries must be >= 0, got {schema_retries}")
        self.schema_retries = schema_retries

    def completion(self, context: Any, query: str, schema: Any = None) -> Result:
        """Answer ``query`` about ``context`` (blocking). With ``schema`` (a pydantic model,
        a type pydantic validates, or a JSON Schema dict) the answer must match it and
        ``Result.value`` holds the validated object (see ``answers.py``)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.acompletion(context, query, schema=schema))
        raise RuntimeError("completion() cannot run inside an event loop; use acompletion()")

    async def acompletion(
        self,
        context: Any,
        query: str,
        sinks: list[Any] | None = None,
        run_id: str | None = None,
        schema: Any = None,
    ) -> Result:
        """Answer ``query`` about ``context``; ``sinks`` receive events too.

        ``run_id`` names the root run (a server chooses it before the run starts).
        Cancelling the task stops the run: its sandboxes close, a ``run_finished`` event
        with status ``cancelled`` is emitted for each open run, and CancelledError is raised.
        """
        return await self.answer(context, query, sinks=sinks, run_id=run_id, schema=schema)

    def session(self, context: Any, budget: Budget | None = None) -> Session:
        """Several questions over one REPL: ``with rlm.session(ctx) as s: s.ask(q)``.

        Variables of earlier asks stay; ``budget`` limits the whole session (each ask is
        limited by this RLM's ``budget`` too). See ``rlmx.session.Session``."""
        return Session(self, context, budget)

    async def answer(
        self,
        context: Any,
        query: str,
        *,
        sinks: list[Any] | None = None,
        run_id: str | None = None,
        workspace: Workspace | None = None,
        ledger: Ledger | None = None,
        earlier: tuple[tuple[str, str | None], ...] = (),
        schema: Any = None,
    ) -> Result:
        """One root run: ``acompletion``'s body, and one ask of a session (which passes the
        workspace it keeps, a ledger charging its own, and its earlier questions)."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("query must be a non-empty string")
        typed = AnswerSchema(schema) if schema is not None else None
        run_id = run_id or uuid.uuid4().hex[:12]
        all_sinks = list(sinks or [])
        trajectory = self._trajectory_path(run_id)
        if trajectory is not None:
            all_sinks.append(JSONLSink(trajectory))
        if self.on_event is not None:
            all_sinks.append(CallbackSink(self.on_event))
        if self.telemetry is not None:
            all_sinks.append(self.telemetry.sink())
        tree = _Tree(self, Emitter(all_sinks), ledger)
        try:
            root_lm = tree.gateway.lm(self.root, "root")
            run = _Run(tree, root_lm, depth=0, parent_id=None, run_id=run_id, earlier=earlier,
                       schema=typed)  # fmt: skip
            result = await run.execute(context, query, workspace)
        finally:
            await tree.gateway.aclose()
            await tree.emitter.close()
        result.trajectory = trajectory
        return result

    def _trajectory_path(self, run_id: str) -> Path | None:
        if self.trajectory is None:
            return None
        if self.trajectory.is_dir() or self.trajectory.suffix == "":
            return self.trajectory / f"{run_id}.jsonl"
        return self.trajectory


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")


class _Tree:
    """State shared by every run of one completion: budget, LM gateway, event sinks."""

    def __init__(self, rlm: RLM, emitter: Emitter, ledger: Ledger | None = None) -> None:
        self.cfg = rlm
        self.ledger = ledger or Ledger(rlm.budget)
        self.gateway = Gateway(self.ledger, rlm.concurrency)
        self.emitter = emitter
        self._child_slots: dict[int, asyncio.Semaphore] = {}

    def child_slot(self, depth: int) -> asyncio.Semaphore:
        """Bounds the child runs (each a sandbox) alive at once at one depth. One semaphore
        per depth: a child waiting for a slot for its own child never holds that slot."""
        if depth not in self._child_slots:
            size = min(self.cfg.limits.max_child_runs, self.cfg.concurrency)
            self._child_slots[depth] = asyncio.Semaphore(size)
        return self._child_slots[depth]


class _Run:
    """One RLM run (the root, or a child made by rlm_query) with its own sandbox."""

    def __init__(
        self,
        tree: _Tree,
        root_lm: LM,
        depth: int,
        parent_id: str | None,
        run_id: str | None = None,
        parent_cell: int | None = None,
        earlier: tuple[tuple[str, str | None], ...] = (),
        schema: AnswerSchema | None = None,
    ) -> None:
        self.tree = tree
        self.cfg = tree.cfg
        self.root_lm = root_lm
        self.depth = depth
        self.parent_id = parent_id
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.usage = UsageReport()
        self.iteration = 0
        self.current_cell: int | None = None  # the cell running now (sub-calls nest under it)
        self.parent_cell = parent_cell
        self.environment: Environment | None = None  # tools of a video context
        self.query = ""
        self.earlier = earlier  # a session's earlier questions and answers
        self.schema = schema  # the type the root's answer must have
        self.policy = choose_policy(self.cfg.policy, root_lm)
        self.notes = self.policy.notes("", None)
        self.host = HostCalls(self)

    # -- events ----------------------------------------------------------------------------
    def _fields(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "parent_run_id": self.parent_id,
            "depth": self.depth,
            "iteration": self.iteration,
        }

    async def emit(self, event_type: type, **data: Any) -> None:
        await self.tree.emitter.emit(event_type(**self._fields(), **data))

    # -- a whole run --------------------------------------------------------------------------
    async def execute(self, context: Any, query: str, workspace: Workspace | None = None) -> Result:
        """Answer ``query`` in a workspace of its own (closed at the end), or in the one a
        session keeps (prepared and left open)."""
        started = time.perf_counter()
        self.query = query
        self.notes = self.policy.notes(query, context)
        space = workspace or Workspace(self.cfg)
        answer: str | None = None
        status: Status = "error"
        error: str | None = None
        warnings: list[str] = []
        turns: Turns | None = None
        cancelled: asyncio.CancelledError | None = None
        try:
            if space.prepared is None:  # child runs get plain data from rlm_query
                await space.prepare(context, with_environment=self.depth == 0)
            assert space.prepared is not None
            self.environment = space.environment
            await self.emit(
                RunStarted,
                query=query,
                context=space.prepared.meta.to_dict(),
                root_model=self.root_lm.name,
                sub_model=self.cfg.sub if isinstance(self.cfg.sub, str) else self.cfg.sub.name,
                max_depth=self.cfg.max_depth,
                max_iterations=self.cfg.max_iterations,
                sandbox=space.sandbox.mode,
                parent_cell=self.parent_cell,
            )
            await space.serve(self.host)
            turns = Turns(self, space)
            warnings = turns.warnings  # filled as the turns go, kept if they fail midway
            answer, status = await turns.play(space.describe())
        except (LMError, SandboxError) as exc:
            error = str(exc)
            await self.emit(ErrorEvent, message=error)
        except asyncio.CancelledError as exc:
            cancelled, status, error = exc, "cancelled", "the run was cancelled"
        finally:
            if workspace is None:
                await space.close()
        result = Result(
            answer=answer,
            status=status,
            iterations=self.iteration,
            usage=self.usage,
            run_id=self.run_id,
            seconds=time.perf_counter() - started,
            error=error,
            warnings=warnings,
            value=turns.value if turns is not None else None,
            citations=turns.citations if turns is not None else [],
        )
        await self.emit(
            RunFinished,
            status=status,
            answer=answer,
            iterations=self.iteration,
            usage=self.usage.to_dict(),
            cost_usd=result.cost_usd,
            seconds=result.seconds,
            error=error,
            warnings=warnings,
            citations=[c.to_dict() for c in result.citations],
        )
        if cancelled is not None:
            raise cancelled
        return result

    def child(self, root_lm: LM) -> _Run:
        """A child run for ``rlm_query``: one level deeper, nested under the current cell."""
        return _Run(
            self.tree,
            root_lm,
            depth=self.depth + 1,
            parent_id=self.run_id,
            parent_cell=self.current_cell,
        )
