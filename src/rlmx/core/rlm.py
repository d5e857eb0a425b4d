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

from ..answers import AnswerSchema
from ..environment import Environment
from ..lm.base import LM, LMError
from ..repl.context import ContextError
from ..repl.sandbox import SandboxError
from ..tools import Toolbox
from .answer_warnings import AnswerWarning, computed_question, same_answer, settle_attempts
from .budget import Budget, Ledger
from .config import RunConfig
from .events import (
    CallbackSink,
    ChildRun,
    Emitter,
    ErrorEvent,
    JSONLSink,
    RunFinished,
    RunStarted,
)
from .gateway import Gateway
from .host_calls import HostCalls
from .policy import choose_policy
from .result import Result, Status, UsageReport
from .session import Session
from .turns import Turns
from .workspace import Workspace


class RLM:
    """A Recursive Language Model: ``completion(context, query)`` like an LLM.

    Args:
        root: model spec (e.g. ``"openai:gpt-5-mini"``) or an LM object for the root.
            Defaults to ``$RLMX_ROOT``, else the embedded ``local:qwen2.5-coder-1.5b``.
        sub: model for ``llm_query`` and for the roots of child RLMs; defaults to ``root``.
        config: every setting at once (``RunConfig``); or give them as keywords:
        **settings: any other field of ``RunConfig`` (``max_depth``, ``max_iterations``,
            ``sandbox``, ``limits``, ``budget``, ``policy``, ``models``, ``video``,
            ``trajectory``, ``telemetry`` ...), checked by ``RunConfig.build``.
        on_event: called with every event (plain or async function).
    """

    def __init__(
        self,
        root: str | LM | None = None,
        sub: str | LM | None = None,
        *,
        config: RunConfig | None = None,
        on_event: Any = None,
        **settings: Any,
    ) -> None:
        if config is not None and (root is not None or sub is not None or settings):
            raise TypeError("give RLM either config= or settings, not both")
        self.config = config or RunConfig.build(root=root, sub=sub, **settings)
        self.on_event = on_event
        self.models = self.config.model_table()  # the names model code may pick

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
        limited by this RLM's ``budget`` too). See ``rlmx.core.session.Session``."""
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
        if self.config.telemetry is not None:
            all_sinks.append(self.config.telemetry.sink())
        tree = _Tree(self, Emitter(all_sinks), ledger)
        try:
            async with tree.tools:  # MCP servers are reached once for the tree
                root_lm = tree.gateway.lm(self.config.root, "root")
                run = _Run(tree, root_lm, depth=0, parent_id=None, run_id=run_id,
                           earlier=earlier, schema=typed)  # fmt: skip
                result = await run.execute(context, query, workspace)
        finally:
            await tree.gateway.aclose()
            await tree.emitter.close()
        result.trajectory = trajectory
        return result

    def _trajectory_path(self, run_id: str) -> Path | None:
        trajectory = self.config.trajectory
        if trajectory is None:
            return None
        if trajectory.is_dir() or trajectory.suffix == "":
            return trajectory / f"{run_id}.jsonl"
        return trajectory


class _Tree:
    """State shared by every run of one completion: budget, LM gateway, event sinks."""

    def __init__(self, rlm: RLM, emitter: Emitter, ledger: Ledger | None = None) -> None:
        self.cfg = rlm.config
        self.models = rlm.models
        self.ledger = ledger or Ledger(self.cfg.budget)
        self.gateway = Gateway(self.ledger, self.cfg.concurrency, self.cfg.cache)
        self.emitter = emitter
        self.tools = Toolbox(self.cfg.tools, self.cfg.mcp)
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
        attempt: int = 0,
    ) -> None:
        self.tree = tree
        self.cfg = tree.cfg
        self.root_lm = root_lm
        self.depth = depth
        self.parent_id = parent_id
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.usage = UsageReport()
        self.turns: Turns | None = None  # its root turns, once they start
        self.parent_cell = parent_cell
        self.environment: Environment | None = None  # tools of a video context
        self.query = ""
        self.earlier = earlier  # a session's earlier questions and answers
        self.schema = schema  # the type the root's answer must have
        self.attempt = attempt  # 1, 2: a second or third attempt at another run's answer
        self.policy = choose_policy(self.cfg.policy, root_lm)
        self.notes = self.policy.notes("", None)
        self.host = HostCalls(self)

    @property
    def iteration(self) -> int:
        """Root turns taken so far (the turns own the count)."""
        return self.turns.iteration if self.turns is not None else 0

    @property
    def current_cell(self) -> int | None:
        """The cell running now (its sub-calls and children nest under it)."""
        return self.turns.current_cell if self.turns is not None else None

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
        warnings: list[AnswerWarning] = []
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
                policy=self.policy.name,
            )
            await space.serve(self.host)
            self.turns = turns = Turns(self, space)
            warnings = turns.warnings  # filled as the turns go, kept if they fail midway
            described = (space.describe(), self.tree.tools.describe())
            answer, status = await turns.play("\n\n".join(filter(None, described)))
        except (LMError, SandboxError) as exc:
            error = str(exc)
            await self.emit(ErrorEvent, message=error)
        except asyncio.CancelledError as exc:
            cancelled, status, error = exc, "cancelled", "the run was cancelled"
        finally:
            if workspace is None:
                await space.close()
        citations = turns.citations if turns is not None else []
        if cancelled is None and answer is not None and self.worth_recheck(workspace):
            try:
                checks = await self.rechecks(context, query, answer)
            except asyncio.CancelledError as exc:
                cancelled, status, error = exc, "cancelled", "the run was cancelled"
            else:
                attempts = [(answer, warnings)] + [(c.answer or "", c.warnings) for c in checks]
                winner, warnings = settle_attempts(attempts)
                if winner:  # its status too: the first may have hit a limit
                    chosen = checks[winner - 1]
                    answer, citations, status = chosen.answer, chosen.citations, chosen.status
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
            citations=citations,
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
            warnings=[warning.to_dict() for warning in warnings],
            citations=[c.to_dict() for c in result.citations],
        )
        if cancelled is not None:
            raise cancelled
        return result

    def worth_recheck(self, workspace: Workspace | None) -> bool:
        """A one-shot root run's plain answer to a computed question, with budget left (a
        session's, a typed or a video answer is not checked)."""
        plain = workspace is None and self.schema is None and self.environment is None
        return (self.cfg.recheck and self.depth == 0 and plain and computed_question(self.query)
                and self.tree.ledger.exhausted_reason() is None)  # fmt: skip

    async def rechecks(self, context: Any, query: str, answer: str) -> list[Result]:
        """Independent attempts at ``query`` after the run's own ``answer``: a second, and a
        third when the second differs, so that a majority decides (settle_attempts). Each
        that gave no answer ends them."""
        checks: list[Result] = []
        for attempt in (1, 2):
            if attempt == 2 and self.tree.ledger.exhausted_reason() is not None:
                break
            check = await self.recheck(context, query, attempt)
            if check is None or check.answer is None:
                break
            checks.append(check)
            if same_answer(answer, check.answer):
                break
        return checks

    async def recheck(self, context: Any, query: str, attempt: int) -> Result | None:
        """Independent attempt number ``attempt`` (1, 2) at ``query``: a fresh sandbox and
        history, told to go over all the data the question covers; None when the context
        cannot be given to it."""
        started = time.perf_counter()
        check = _Run(self.tree, self.root_lm, depth=self.depth + 1, parent_id=self.run_id,
                     attempt=attempt)  # fmt: skip
        try:
            result = await check.execute(context, query)
        except ContextError:
            return None
        self.usage.absorb_child(result.usage)
        await self.emit(ChildRun, child_run_id=check.run_id, prompt=query, answer=result.answer,
                        status=result.status, usage=result.usage.to_dict(),
                        seconds=time.perf_counter() - started, recheck=True)  # fmt: skip
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
