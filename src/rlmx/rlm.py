"""The RLM loop: root turns, code cells in the sandbox, sub-calls and child RLMs.

``RLM.completion(context, query)`` materialises the context once into a sandboxed REPL,
lets the root model explore it with code until it gives a final answer, and returns a
``Result`` with exact usage over the whole run tree. Rules of the loop (see DESIGN.md):
a final answer is taken only from a cell that ran or from a prose FINAL in a reply with
no code, never before the first cell ran; a reply with neither gets a corrective turn; at
the iteration or budget limit the root gets one last turn.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import prompts
from .budget import Budget, BudgetExhausted, Ledger
from .environment import Environment, VideoOptions, open_environment
from .errors import ToolError
from .events import (
    CallbackSink,
    CellStarted,
    ChildRun,
    CodeExecuted,
    Emitter,
    ErrorEvent,
    FinalAnswer,
    JSONLSink,
    LLMCall,
    RunFinished,
    RunStarted,
    SubCall,
    ToolCall,
    preview,
)
from .gateway import Gateway
from .host_functions import HostFunctions
from .lm.base import LM, LMError, Message, Usage, prompt_tokens
from .lm.choice import ModelTable
from .lm.specs import default_root_spec, validate_spec
from .policy import CellOutcome, Policy, Task, check_policy, choose_policy
from .protocol import parse_reply
from .repl.context import ContextError, prepare_context
from .repl.isolation import Limits, resolve_mode
from .repl.sandbox import CellResult, Sandbox, SandboxError
from .result import Result, Status, UsageReport

SUBCALL_ERROR = "[rlmx error] "


@dataclass
class _Final:
    answer: str
    via: str


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

    def completion(self, context: Any, query: str) -> Result:
        """Answer ``query`` about ``context`` (blocking)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.acompletion(context, query))
        raise RuntimeError("completion() cannot run inside an event loop; use acompletion()")

    async def acompletion(
        self,
        context: Any,
        query: str,
        sinks: list[Any] | None = None,
        run_id: str | None = None,
    ) -> Result:
        """Answer ``query`` about ``context``; ``sinks`` receive events too.

        ``run_id`` names the root run (a server chooses it before the run starts).
        Cancelling the task stops the run: its sandboxes close, a ``run_finished`` event
        with status ``cancelled`` is emitted for each open run, and CancelledError is raised.
        """
        if not isinstance(query, str) or not query.strip():
            raise ValueError("query must be a non-empty string")
        run_id = run_id or uuid.uuid4().hex[:12]
        all_sinks = list(sinks or [])
        trajectory = self._trajectory_path(run_id)
        if trajectory is not None:
            all_sinks.append(JSONLSink(trajectory))
        if self.on_event is not None:
            all_sinks.append(CallbackSink(self.on_event))
        tree = _Tree(self, Emitter(all_sinks))
        try:
            root_lm = tree.gateway.lm(self.root, "root")
            result = await _Run(tree, root_lm, depth=0, parent_id=None, run_id=run_id).execute(
                context, query
            )
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


HISTORY_TRIMMED = "[Earlier turns were removed to fit the model's context window.]"


def fit_history(lm: LM, messages: list[Message], head: int, reply_tokens: int) -> None:
    """Drop the oldest exchanges after the first ``head`` messages (system prompt,
    examples, task) until the history fits the root's window with room for its reply.
    Small local windows fill up after a few long outputs; the last turn always stays."""
    if lm.context_window is None:
        return
    budget = lm.context_window - reply_tokens
    trimmed = False
    while prompt_tokens(lm, messages) > budget and len(messages) > head + 2:
        del messages[head : head + 2]  # one reply of the model and the output it got
        trimmed = True
    if trimmed and HISTORY_TRIMMED not in messages[head - 1]["content"]:
        messages[head - 1] = {
            **messages[head - 1],
            "content": f"{messages[head - 1]['content']}\n\n{HISTORY_TRIMMED}",
        }


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{name} must be positive, got {value}")


class _Tree:
    """State shared by every run of one completion: budget, LM gateway, event sinks."""

    def __init__(self, rlm: RLM, emitter: Emitter) -> None:
        self.cfg = rlm
        self.ledger = Ledger(rlm.budget)
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
    ) -> None:
        self.tree = tree
        self.cfg = tree.cfg
        self.root_lm = root_lm
        self.depth = depth
        self.parent_id = parent_id
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.usage = UsageReport()
        self.iteration = 0
        self.cells_run = 0
        self.current_cell: int | None = None  # the cell running now (sub-calls nest under it)
        self.parent_cell = parent_cell
        self.environment: Environment | None = None  # tools of a video context
        self.functions = HostFunctions.for_run()
        self.calls = 0
        self.query = ""
        self.opening = 0  # messages before the first reply; never trimmed
        self.policy = choose_policy(self.cfg.policy, root_lm)
        self.notes = self.policy.notes("", None)
        self.final_only = False  # the last turn repeated the one before: ask for FINAL

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
    async def execute(self, context: Any, query: str) -> Result:
        started = time.perf_counter()
        self.query = query
        self.notes = self.policy.notes(query, context)
        workdir = Path(tempfile.mkdtemp(prefix="rlmx-run-"))
        answer: str | None = None
        status: Status = "error"
        error: str | None = None
        cancelled: asyncio.CancelledError | None = None
        try:
            if self.depth == 0:  # child runs get plain data from rlm_query
                self.environment = await asyncio.to_thread(
                    open_environment, context, self.cfg.video, self.vision_query
                )
            env = self.environment
            prepared = prepare_context(env.sandbox_context() if env else context, workdir)
            sandbox = Sandbox(self.cfg.sandbox_mode, self.cfg.limits)
            await self.emit(
                RunStarted,
                query=query,
                context=prepared.meta.to_dict(),
                root_model=self.root_lm.name,
                sub_model=self.cfg.sub if isinstance(self.cfg.sub, str) else self.cfg.sub.name,
                max_depth=self.cfg.max_depth,
                max_iterations=self.cfg.max_iterations,
                sandbox=sandbox.mode,
                parent_cell=self.parent_cell,
            )
            try:
                functions = HostFunctions.for_run(env.tool_specs() if env else None)
                self.functions = functions
                await sandbox.start(prepared, self.host_call, functions.specs())
                description = prepared.meta.describe()
                if env is not None:
                    description = f"{description}\n\n{env.describe()}"
                answer, status = await self.loop(description, sandbox)
            finally:
                await sandbox.close()
        except (LMError, SandboxError) as exc:
            error = str(exc)
            await self.emit(ErrorEvent, message=error)
        except asyncio.CancelledError as exc:
            cancelled, status, error = exc, "cancelled", "the run was cancelled"
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
            if self.environment is not None:
                self.environment.close()
        result = Result(
            answer=answer,
            status=status,
            iterations=self.iteration,
            usage=self.usage,
            run_id=self.run_id,
            seconds=time.perf_counter() - started,
            error=error,
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
        )
        if cancelled is not None:
            raise cancelled
        return result

    async def loop(self, context_description: str, sandbox: Sandbox) -> tuple[str | None, Status]:
        task = Task(
            query=self.query,
            context_description=context_description,
            sub_window=self.tree.gateway.lm(self.cfg.sub, "sub").context_window,
            sub_calls=self.cfg.sub_calls,
            environment=self.environment.kind if self.environment is not None else None,
        )
        messages = self.policy.opening(task)
        self.opening = len(messages)
        while self.iteration < self.cfg.max_iterations:
            reason = self.tree.ledger.exhausted_reason()
            if reason is not None:
                return await self.last_turn(messages, sandbox, reason, "budget_exhausted")
            self.iteration += 1
            try:
                reply = await self.root_call(messages, final_only=self.final_only)
            except BudgetExhausted as exc:
                return await self.last_turn(messages, sandbox, str(exc), "budget_exhausted")
            messages.append({"role": "assistant", "content": reply})
            final = await self.act(reply, messages, sandbox)
            if final is not None:
                await self.emit(FinalAnswer, answer=final.answer, via=final.via)
                return final.answer, "final"
        reason = f"You have used all {self.cfg.max_iterations} iterations"
        return await self.last_turn(messages, sandbox, reason, "max_iterations")

    async def act(self, reply: str, messages: list[Message], sandbox: Sandbox) -> _Final | None:
        """Carry out one root reply; a final answer ends the run."""
        parsed = parse_reply(reply)
        self.final_only = False
        if parsed.code_cells:
            ran = []
            for code in parsed.code_cells:
                result = await self.run_cell(sandbox, code)
                if result.final:
                    return _Final(result.final["answer"], result.final["via"])
                ran.append(CellOutcome(code, result.output, result.error))
            report = self.policy.report(self.notes, self.query, ran)
            self.final_only = report.final_only
            messages.append({"role": "user", "content": report.text})
            return None
        if parsed.final is None:
            messages.append({"role": "user", "content": prompts.NO_CODE_CORRECTION})
            return None
        if self.cells_run == 0:
            messages.append({"role": "user", "content": prompts.PREMATURE_FINAL})
            return None
        doubt = parsed.final.via == "FINAL" and self.policy.doubt_final(
            self.notes, parsed.final.value
        )
        if doubt:
            messages.append({"role": "user", "content": doubt})
            return None
        return await self.resolve_prose_final(
            parsed.final.via, parsed.final.value, messages, sandbox
        )

    async def resolve_prose_final(
        self, via: str, value: str, messages: list[Message], sandbox: Sandbox
    ) -> _Final | None:
        """FINAL(text) is the answer; FINAL_VAR(name) is looked up in the REPL."""
        if via == "FINAL":
            return _Final(value, "FINAL")
        code = f"FINAL_VAR({value!r})"
        result = await self.run_cell(sandbox, code)
        if result.final:
            return _Final(result.final["answer"], "FINAL_VAR")
        report = self.policy.cell_report(code, result.output)
        turn = self.policy.next_turn(self.query)
        messages.append({"role": "user", "content": f"{report}\n\n{turn}".strip()})
        return None

    async def last_turn(
        self, messages: list[Message], sandbox: Sandbox, reason: str, status: Status
    ) -> tuple[str | None, Status]:
        """One more root turn to answer; the run keeps the status that ended it."""
        if self.depth > 0 and status == "budget_exhausted":
            return None, status  # only the root gets a turn past the budget
        messages.append({"role": "user", "content": prompts.last_turn(reason)})
        self.iteration += 1
        reply = await self.root_call(messages, force=True, final_only=True)
        parsed = parse_reply(reply)
        for code in parsed.code_cells:
            result = await self.run_cell(sandbox, code)
            if result.final:
                return result.final["answer"], status
        if parsed.final is not None:
            final = await self.resolve_prose_final(
                parsed.final.via, parsed.final.value, messages, sandbox
            )
            if final is not None:
                return final.answer, status
        return (parsed.prose.strip() or None), status  # no FINAL: the best text we have

    # -- steps ----------------------------------------------------------------------------------
    async def root_call(
        self, messages: list[Message], force: bool = False, final_only: bool = False
    ) -> str:
        """One root turn; with a grammar, ``final_only`` allows nothing but a FINAL line."""
        fit_history(self.root_lm, messages, self.opening, self.cfg.root_max_tokens or 1024)
        started = time.perf_counter()
        grammar = self.policy.grammar(self.root_lm, final_only)
        response = await self.tree.gateway.call(
            self.root_lm,
            messages,
            max_tokens=self.cfg.root_max_tokens,
            grammar=grammar,
            force=force,
        )
        self.usage.count("root", self.root_lm.name, response.usage)
        await self.emit(
            LLMCall,
            model=self.root_lm.name,
            response=preview(response.text),
            usage=response.usage.to_dict(),
            seconds=time.perf_counter() - started,
            prompt_chars=sum(len(m["content"]) for m in messages),
        )
        return response.text

    async def run_cell(self, sandbox: Sandbox, code: str) -> CellResult:
        self.current_cell = self.cells_run + 1
        await self.emit(CellStarted, cell=self.current_cell, code=preview(code))
        try:
            output_cap = self.cfg.max_output_chars or self.policy.max_output_chars
            result = await sandbox.execute(code, self.cfg.cell_timeout, output_cap)
        finally:
            self.current_cell = None
        self.cells_run += 1
        await self.emit(
            CodeExecuted,
            cell=self.cells_run,
            code=preview(code),
            output=result.output,
            error=result.error,
            seconds=result.seconds,
            timed_out=result.timed_out,
            worker_restarted=result.worker_restarted,
        )
        return result

    # -- host functions called from the sandbox (host_functions.py) ---------------------------
    async def host_call(self, name: str, arguments: dict[str, Any]) -> Any:
        return await self.functions.call(self, name, arguments)

    async def budget_left(self) -> dict[str, Any]:
        return self.tree.ledger.remaining()

    async def sub_batch(self, prompts: list[str], model: str | None) -> list[str]:
        """Concurrent sub-calls, replies in input order (a failure is a string in its slot)."""
        return await asyncio.gather(*(self.sub_query(p, model, i) for i, p in enumerate(prompts)))

    async def sub_query(
        self, prompt: str, model: str | None = None, batch_index: int | None = None
    ) -> str:
        """One plain sub-call; never raises: a failure is an error string the model reads."""
        self.calls += 1
        started = time.perf_counter()
        text, usage, name = "", Usage(), (model or "")[:100]
        error = self.policy.refuse_sub_call(self.notes, prompt)
        try:
            chosen = self.cfg.models.pick(model) if model is not None else self.cfg.sub
            lm = self.tree.gateway.lm(chosen, "sub")
            name = lm.name
            if error is None:
                response = await self.tree.gateway.call(
                    lm, [{"role": "user", "content": prompt}], max_tokens=self.cfg.sub_max_tokens
                )
                text, usage = response.text, response.usage
                self.usage.count("sub", lm.name, usage)
        except (LMError, BudgetExhausted) as exc:
            error = str(exc)
        await self.emit(
            SubCall,
            call_id=f"{self.run_id}.{self.calls}",
            model=name,
            prompt=preview(prompt),
            prompt_chars=len(prompt),
            response=preview(text),
            error=error,
            usage=usage.to_dict(),
            seconds=time.perf_counter() - started,
            batch_index=batch_index,
            cell=self.current_cell,
        )
        if error is not None:
            return SUBCALL_ERROR + error
        return text + self.policy.sub_call_note(self.notes, prompt)

    async def tool_call(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> Any:
        """Run an environment tool for a cell; its errors reach the cell as exceptions."""
        if self.environment is None:
            raise RuntimeError(f"no tool {name!r}: this context has no environment")
        started = time.perf_counter()
        value, span, error, encoded = None, None, None, ""
        try:
            value, span = await self.environment.call(name, args, kwargs)
            encoded = json.dumps(value, ensure_ascii=False)
        except Exception as exc:  # crosses to the cell as a ToolError with the original type
            error = f"{type(exc).__name__}: {exc}"
            raise ToolError(str(exc), type(exc).__name__) from exc
        finally:
            await self.emit(
                ToolCall,
                name=name,
                arguments={"args": args, "kwargs": kwargs},
                result=preview(encoded),
                error=error,
                seconds=time.perf_counter() - started,
                span=span,
                cell=self.current_cell,
            )
        return value

    async def vision_query(self, messages: list[dict[str, Any]]) -> str:
        """One call of the vision model (frames as image parts), counted as a sub-call."""
        lm = self.tree.gateway.lm(self.cfg.video.vision or "", "sub")
        response = await self.tree.gateway.call(lm, messages, max_tokens=self.cfg.sub_max_tokens)
        self.usage.count("sub", lm.name, response.usage)
        return response.text

    async def child_query(self, prompt: str, context: Any) -> str:
        """A child RLM when depth allows, otherwise a plain sub-call."""
        if self.depth + 1 >= self.cfg.max_depth:
            return await self.sub_query(prompt)
        reason = self.tree.ledger.exhausted_reason()
        if reason is not None:
            return SUBCALL_ERROR + reason
        started = time.perf_counter()
        try:
            child_lm = self.tree.gateway.lm(self.cfg.sub, "child")
        except LMError as exc:
            return SUBCALL_ERROR + str(exc)
        child = _Run(
            self.tree,
            child_lm,
            depth=self.depth + 1,
            parent_id=self.run_id,
            parent_cell=self.current_cell,
        )
        try:
            async with self.tree.child_slot(child.depth):
                result = await child.execute(prompt if context is None else context, prompt)
        except ContextError as exc:
            return SUBCALL_ERROR + str(exc)
        self.usage.absorb_child(result.usage)
        await self.emit(
            ChildRun,
            child_run_id=child.run_id,
            prompt=preview(prompt),
            answer=result.answer,
            status=result.status,
            usage=result.usage.to_dict(),
            seconds=time.perf_counter() - started,
            cell=self.current_cell,
        )
        if result.answer is None:
            why = result.error or f"the child run ended with status {result.status}"
            return SUBCALL_ERROR + why
        return result.answer
