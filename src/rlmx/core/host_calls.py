"""What the host does when a cell calls a host function: sub-calls, child runs, tools.

One ``HostCalls`` per run serves its sandbox through the table of ``host_functions.py``.
Sub-calls never raise in model code: a failure is an ``[rlmx error]`` string; a tool's
failure reaches the cell as ``ToolError`` with the original type.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from ..choices import check_choices, choice_grammar, match_choice, with_choices
from ..confined import render_confined
from ..errors import ToolError
from ..lm.base import LMError, Message, Usage
from ..repl.context import ContextError
from ..repl.sandbox import Sandbox, SharedFile
from .budget import BudgetExhausted
from .events import ChildRun, SubBatch, SubCall, ToolCall, preview_value
from .host_functions import HostFunctions, ToolProvider
from .images import image_parts, in_context, with_images
from .run_view import RunView

SUBCALL_ERROR = "[rlmx error] "
MAX_TOOL_RESULT_CHARS = 1_000_000  # a tool's value as the cell gets it, JSON-encoded


def _check_choices(choices: list[str] | None) -> None:
    problem = None if choices is None else check_choices(choices)
    if problem:
        raise ToolError(problem, "ValueError")


def _sub_request(
    lm: Any, prompt: str, choices: list[str] | None, max_tokens: int | None, images: list[Any]
) -> tuple[list[Message], dict[str, Any]]:
    """The messages and options of one sub-call: its images after the prompt; with choices,
    the prompt lists them and, where the backend takes a grammar, the reply can only be one
    (a few tokens)."""
    content = with_choices(prompt, choices) if choices else prompt
    messages: list[Message] = [{"role": "user", "content": with_images(content, images)}]
    if not choices or not lm.supports_grammar:
        return messages, {"max_tokens": max_tokens}
    longest = max(len(c) for c in choices)
    return messages, {"max_tokens": longest + 8, "grammar": choice_grammar(choices)}


def _images_per_prompt(images: Any, count: int) -> list[list[str] | None]:
    """A batch's ``images`` checked: None, or one list of paths (or None) per prompt."""
    if images is None:
        return [None] * count
    if not isinstance(images, list) or len(images) != count:
        raise ToolError("images must be a list with one list of image paths per prompt",
                        "TypeError")  # fmt: skip
    for item in images:
        if item is not None and not (
            isinstance(item, list) and all(isinstance(path, str) for path in item)
        ):
            raise ToolError("each item of images must be a list of paths or None", "TypeError")
    return images


def _chosen(reply: str, choices: list[str]) -> tuple[str, str | None]:
    """(the choice, None), or ("", why not) when the reply names no single choice."""
    picked = match_choice(reply, choices)
    if picked is None:
        return "", f"the reply {reply.strip()[:80]!r} is not one of the choices"
    return picked, None


class HostCalls:
    """The host functions of one run, and the state they keep (a call counter)."""

    def __init__(self, run: RunView) -> None:
        self.run = run
        self.cfg = run.cfg
        self.calls = 0
        self.failed_sub_calls = 0  # sub-calls that returned an error string
        self.functions = HostFunctions.for_run()
        self.sandbox: Sandbox | None = None  # the run's, set when its workspace serves this run
        self.context_source: Path | None = None  # a context's file or folder (its images)

    def offer(self, environment: ToolProvider | None) -> list[Any]:
        """The specs the sandbox gets: the built-ins, the environment's tools and the
        operator's (the tree's toolbox)."""
        providers = [environment] if environment is not None else []
        self.functions = HostFunctions.for_run([*providers, self.run.tree.tools])
        return self.functions.specs()

    async def host_call(self, name: str, arguments: dict[str, Any]) -> Any:
        """The sandbox's handler: one checked call of a host function."""
        return await self.functions.call(self, name, arguments)

    async def budget_left(self) -> dict[str, Any]:
        return self.run.tree.ledger.remaining()

    async def sub_batch(
        self,
        prompts: list[str],
        model: str | None,
        choices: list[str] | None = None,
        images: Any = None,
    ) -> list[str]:
        """Concurrent sub-calls, replies in input order (a failure is a string in its slot);
        ``images``: one list of image paths (or None) per prompt."""
        run = self.run
        _check_choices(choices)
        each = _images_per_prompt(images, len(prompts))
        await run.emit(SubBatch, size=len(prompts), concurrency=self.cfg.concurrency,
                       cell=run.current_cell)  # fmt: skip
        return await asyncio.gather(
            *(self.sub_query(p, model, i, choices, each[i]) for i, p in enumerate(prompts))
        )

    async def sub_query(
        self,
        prompt: str,
        model: str | None = None,
        batch_index: int | None = None,
        choices: list[str] | None = None,
        images: list[str] | None = None,
    ) -> str:
        """One plain sub-call; never raises: a failure is an error string the model reads.
        With ``choices`` the reply is one of them (see ``choices.py``); ``images`` are shown
        to the sub-model (``images.py``: a path the host will not open is the cell's
        ToolError)."""
        run = self.run
        _check_choices(choices)
        parts = image_parts(images, self.sandbox, self.context_source) if images else []
        self.calls += 1
        call_id = f"{run.run_id}.{self.calls}"  # taken now: a batch awaits below
        started = time.perf_counter()
        text, usage, name, queued, cached = "", Usage(), (model or "")[:100], 0.0, False
        error = run.policy.refuse_sub_call(run.notes, prompt)
        try:
            chosen = run.tree.models.pick(model) if model is not None else self.cfg.sub
            lm = run.tree.gateway.lm(chosen, "sub")
            name = lm.name
            if parts and not lm.supports_images and error is None:
                error = f"{lm.name} takes no images; choose a vision model (RLM(models=...))"
            if error is None:
                max_tokens = self.cfg.sub_max_tokens
                messages, options = _sub_request(lm, prompt, choices, max_tokens, parts)
                response = await run.tree.gateway.call(lm, messages, **options)
                text, usage, queued = response.text, response.usage, response.queued_seconds
                cached = response.cached
                run.usage.count("sub", lm.name, usage)
                if choices:
                    text, error = _chosen(text, choices)
        except (LMError, BudgetExhausted) as exc:
            error = str(exc)
        await run.emit(
            SubCall,
            call_id=call_id,
            model=name,
            prompt=prompt,
            prompt_chars=len(prompt),
            response=text,
            error=error,
            usage=usage.to_dict(),
            seconds=time.perf_counter() - started,
            queued_seconds=queued,
            batch_index=batch_index,
            cell=run.current_cell,
            cached=cached,
            images=list(images or []),
        )
        if error is not None:
            self.failed_sub_calls += 1
            return SUBCALL_ERROR + error
        if choices:  # the reply must stay exactly a choice
            return text
        return text + run.policy.sub_call_note(run.notes, prompt)

    async def tool_call(
        self, provider: ToolProvider, name: str, args: list[Any], kwargs: dict[str, Any]
    ) -> Any:
        """Run a tool of ``provider`` for a cell; its errors reach the cell as exceptions,
        and so does a value of more than MAX_TOOL_RESULT_CHARS once encoded."""
        run = self.run
        started = time.perf_counter()
        value, span, error, encoded = None, None, None, ""
        try:
            value, span = await provider.call(name, args, kwargs)
            value = self.shared(value)
            encoded = json.dumps(value, ensure_ascii=False)
            if len(encoded) > MAX_TOOL_RESULT_CHARS:
                raise ToolError(f"{name}() returned {len(encoded):,} characters (at most "
                                f"{MAX_TOOL_RESULT_CHARS:,}); return less or a file",
                                "ValueError")  # fmt: skip
        except Exception as exc:  # crosses to the cell as a ToolError with the original type
            kind = exc.type_name if isinstance(exc, ToolError) else type(exc).__name__
            error, encoded = f"{kind}: {exc}", ""
            raise ToolError(str(exc), kind) from exc
        finally:
            await run.emit(
                ToolCall,
                name=name,
                arguments=preview_value({"args": args, "kwargs": kwargs}),
                result=encoded,
                error=error,
                seconds=time.perf_counter() - started,
                span=span,
                cell=run.current_cell,
            )
        return value

    def shared(self, value: Any) -> Any:
        """A tool's files (one or a list) written where the worker reads them, as paths."""
        if isinstance(value, list):
            return [self.shared(item) for item in value]
        if isinstance(value, SharedFile):
            assert self.sandbox is not None  # tools run only in cells of a served sandbox
            return {"path": self.sandbox.share(value.data, value.suffix), **value.info}
        return value

    async def pdf_page(self, document: str | None, page: Any) -> Any:
        """A page of a PDF of the context as a PNG file the worker can read (for
        ``llm_query(..., images=[...])``), rendered in a confined child: the PDF is hostile
        bytes."""
        if not isinstance(page, int) or isinstance(page, bool) or page < 1:
            raise ToolError("page must be a page number (1 for the first)", "TypeError")
        file = in_context(document, self.context_source)
        if file is None or file.suffix.lower() != ".pdf":
            where = "the context" if document is None else repr(document)
            why = f"{where} is not a PDF of the context (name a .pdf of the context folder)"
            raise ToolError(why, "ValueError")
        try:
            data = await asyncio.to_thread(render_confined, file, page)
        except ContextError as exc:
            raise ToolError(str(exc), "ValueError") from None
        info = {"document": document or file.name, "page": page}
        return self.shared(SharedFile(data, ".png", info))

    async def vision_query(self, messages: list[dict[str, Any]]) -> str:
        """One call of the vision model (frames as image parts), counted as a sub-call."""
        run = self.run
        lm = run.tree.gateway.lm(self.cfg.video.vision or "", "sub")
        response = await run.tree.gateway.call(lm, messages, max_tokens=self.cfg.sub_max_tokens)
        run.usage.count("sub", lm.name, response.usage)
        return response.text

    async def child_batch(self, prompts: list[str], contexts: list[Any] | None) -> list[str]:
        """Child RLMs concurrently (bounded by the tree's child slots), answers in input order."""
        if contexts is None:
            contexts = [None] * len(prompts)
        elif not isinstance(contexts, list) or len(contexts) != len(prompts):
            raise ToolError("contexts must be a list with one context per prompt", "TypeError")
        pairs = zip(prompts, contexts, strict=True)
        return await asyncio.gather(*(self.child_query(p, c) for p, c in pairs))

    async def child_query(self, prompt: str, context: Any) -> str:
        """A child RLM when depth allows, otherwise a plain sub-call."""
        run = self.run
        if run.depth + 1 >= self.cfg.max_depth:
            return await self.sub_query(prompt)
        reason = run.tree.ledger.exhausted_reason()
        if reason is not None:
            return SUBCALL_ERROR + reason
        started = time.perf_counter()
        try:
            child_lm = run.tree.gateway.lm(self.cfg.sub, "child")
        except LMError as exc:
            return SUBCALL_ERROR + str(exc)
        child = run.child(child_lm)
        try:
            async with run.tree.child_slot(child.depth):
                result = await child.execute(prompt if context is None else context, prompt)
        except ContextError as exc:
            return SUBCALL_ERROR + str(exc)
        run.usage.absorb_child(result.usage)
        await run.emit(
            ChildRun,
            child_run_id=child.run_id,
            prompt=prompt,
            answer=result.answer,
            status=result.status,
            usage=result.usage.to_dict(),
            seconds=time.perf_counter() - started,
            cell=run.current_cell,
        )
        if result.answer is None:
            why = result.error or f"the child run ended with status {result.status}"
            return SUBCALL_ERROR + why
        return result.answer
