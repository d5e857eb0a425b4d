"""``POST /v1/chat/completions`` and ``GET /v1/models``: an RLM behind the OpenAI API.

Any OpenAI client can use an RLM by changing its base URL. ``model`` is ``rlmx`` (the
server's default root model) or one of the server's allowed models (``GET /v1/models``);
any other is a 404 ``model_not_found``. The last user message is the query; the
context is ``extra_body["context"]`` when given, else the message at
``extra_body["context_message"]``, else the earlier messages (one message: its text;
several: the chat as a list of messages). Other ``extra_body`` fields: ``sub``,
``max_depth``, ``max_iterations``, ``budget_usd`` and ``progress`` (stream the run's
steps as ``reasoning_content`` deltas). Each request is a stored run like any other.

With ``extra_body={"session": id}`` (an id from ``POST /sessions``) the conversation is a
session: the last user message is asked in that session's REPL, over its context and with
its models, and the earlier messages are ignored (the session keeps its own history).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncGenerator
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse
from pydantic import ConfigDict, Field, ValidationError

from ..answers import client_schema
from . import quotas
from .runs import RunManager, RunOptions, RunRequest
from .statuses import CLIENT_ERRORS, http_headers, http_status

DEFAULT_MODEL = "rlmx"


class ChatRequest(RunOptions):
    """The fields of a chat completion request that an RLM uses (others are ignored)."""

    model_config = ConfigDict(extra="allow")

    model: str = DEFAULT_MODEL
    messages: list[dict[str, Any]] = Field(min_length=1)
    stream: bool = False
    stream_options: dict[str, Any] | None = None
    context: str | None = None
    context_message: int | None = None
    progress: bool = False
    session: str | None = None
    response_format: dict[str, Any] | None = None


def openai_routes() -> APIRouter:
    router = APIRouter(prefix="/v1")

    @router.get("/models")
    async def models(request: Request) -> dict[str, Any]:
        settings = request.app.state.settings
        names = [DEFAULT_MODEL, *settings.model_table().names()]
        return {
            "object": "list",
            "data": [{"id": n, "object": "model", "created": 0, "owned_by": "rlmx"} for n in names],
        }

    @router.post(
        "/chat/completions",
        response_model=None,
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": ChatRequest.model_json_schema()}}}},
    )  # fmt: skip
    async def chat(request: Request) -> Any:
        """A chat completion answered by an RLM (the body is read by hand: OpenAI errors)."""
        try:
            body = ChatRequest.model_validate_json(await request.body())
            run_request = to_run_request(body)
        except ValidationError as exc:
            return openai_error(422, exc.errors(include_url=False)[0]["msg"])
        except ValueError as exc:
            return openai_error(400, str(exc))
        manager: RunManager = request.app.state.manager
        run_id = uuid.uuid4().hex[:12]
        hold = None
        try:
            if body.stream:  # taken before the run starts: a refused stream starts nothing
                hold = quotas.streams_of(request).take(quotas.client_of(request))
            if body.session is not None:
                run_id = await request.app.state.sessions.ask(
                    body.session, run_request.query, "openai", run_request.schema
                )
            else:
                await manager.start(run_id, run_request)
        except (HTTPException, *CLIENT_ERRORS) as exc:
            if hold is not None:
                hold.release()
            return _refusal(exc)
        if hold is not None:
            return hold.stream(_stream(manager, run_id, body))
        try:
            run = await manager.wait(run_id)
        except asyncio.CancelledError:  # the client went away: stop spending on it
            await manager.cancel(run_id)
            raise
        if run is None or run["answer"] is None:
            error = run["error"] if run else "the run was deleted"
            return openai_error(500, f"the RLM run {run_id} ended without an answer: {error}")
        return _completion(run, body.model)

    return router


def _refusal(exc: BaseException) -> JSONResponse:
    """A request refused before its run started, as an OpenAI error."""
    if isinstance(exc, HTTPException):  # an unknown session, or another replica's
        known = "session_not_found" if exc.status_code == 404 else "session_elsewhere"
        return openai_error(exc.status_code, str(exc.detail), known)
    status = http_status(exc)
    code = "model_not_found" if status == 404 else None
    return openai_error(status, str(exc), code, http_headers(exc))


def to_run_request(body: ChatRequest) -> RunRequest:
    """Query, context and settings of a run from a chat request."""
    messages = body.messages
    if messages[-1].get("role") != "user":
        raise ValueError("the last message must be the user's question")
    query = message_text(messages[-1])
    earlier = messages[:-1]
    schema = answer_schema(body.response_format)
    if body.session is not None:  # the session's context
        return RunRequest(query, None, body.options(), source="openai", schema=schema)
    if body.context is not None:
        context: Any = body.context
    elif body.context_message is not None:
        if not 0 <= body.context_message < len(earlier):
            raise ValueError(f"context_message {body.context_message} is not an earlier message")
        context = message_text(earlier[body.context_message])
    elif len(earlier) == 1:
        context = message_text(earlier[0])
    else:
        context = [{"role": m.get("role", "user"), "content": message_text(m)} for m in earlier]
    root = None if body.model == DEFAULT_MODEL else body.model
    return RunRequest(query, context, body.options(), root=root, source="openai", schema=schema)


def answer_schema(response_format: dict[str, Any] | None) -> dict[str, Any] | None:
    """The JSON Schema of an OpenAI ``response_format`` (``json_schema``, ``json_object``)."""
    kind = (response_format or {}).get("type", "text")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        schema = (response_format.get("json_schema") or {}).get("schema")  # type: ignore[union-attr]
        return client_schema(schema)
    raise ValueError(f"unknown response_format type {kind!r}; use text, json_object or json_schema")


def message_text(message: dict[str, Any]) -> str:
    """The text of a message whose content is a string or a list of content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict))
    raise ValueError("every message needs text content")


def openai_error(
    status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse(
        {"error": {"message": message, "type": kind, "param": None, "code": code}},
        status,
        headers,
    )


def _usage(run: dict[str, Any]) -> dict[str, int]:
    total = (run.get("usage") or {}).get("total") or {}
    prompt, completion = total.get("input_tokens", 0), total.get("output_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _finish_reason(run: dict[str, Any]) -> str:
    return "stop" if run["status"] == "final" else "length"


def _rlmx_fields(run: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": run["id"],
        "status": run["status"],
        "iterations": run["iterations"],
        "cost_usd": run["cost_usd"],
        "warnings": run.get("warnings") or [],
        "citations": run.get("citations") or [],
    }


def _completion(run: dict[str, Any], model: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{run['id']}",
        "object": "chat.completion",
        "created": int(run["created"]),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": run["answer"]},
                "finish_reason": _finish_reason(run),
            }
        ],
        "usage": _usage(run),
        "rlmx": _rlmx_fields(run),
    }


def _chunk(run_id: str, model: str, delta: dict[str, Any], finish: str | None = None) -> str:
    return json.dumps(
        {
            "id": f"chatcmpl-{run_id}",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
    )


def progress_line(event: dict[str, Any]) -> str | None:
    """One line of progress for a reasoning delta, or None for events not worth a line."""
    indent = "  " * event.get("depth", 0)
    kind = event["type"]
    if kind == "llm_call":
        return f"{indent}iteration {event['iteration']}: the root model replied\n"
    if kind == "code_executed":
        outcome = "error" if event["error"] else "ok"
        return f"{indent}cell {event['cell']} ran ({outcome}, {event['seconds']:.2f} s)\n"
    if kind == "sub_call":
        return f"{indent}sub-call {event['call_id']} ({event['model']})\n"
    if kind == "child_run":
        return f"{indent}child run {event['child_run_id']} ended: {event['status']}\n"
    return None


async def _stream(
    manager: RunManager, run_id: str, body: ChatRequest
) -> AsyncGenerator[dict[str, Any], None]:
    """Chunks of a streamed completion; a client that leaves cancels the run."""
    finished = False
    try:
        yield {"data": _chunk(run_id, body.model, {"role": "assistant", "content": ""})}
        async for _seq, event_type, data in manager.follow(run_id):
            event = json.loads(data)
            if body.progress and (line := progress_line(event)):
                yield {"data": _chunk(run_id, body.model, {"reasoning_content": line})}
            if event_type == "run_finished" and event["run_id"] == run_id:
                finished = True
        run = await manager.store.get_run(run_id)
        if run is None or run["answer"] is None:
            error = run["error"] if run else "the run was deleted"
            message = f"the RLM run {run_id} ended without an answer: {error}"
            yield {"data": json.dumps({"error": {"message": message, "type": "server_error"}})}
            return
        yield {"data": _chunk(run_id, body.model, {"content": run["answer"]})}
        yield {"data": _chunk(run_id, body.model, {}, _finish_reason(run))}
        if (body.stream_options or {}).get("include_usage"):
            usage_chunk = json.loads(_chunk(run_id, body.model, {}))
            usage_chunk.update(choices=[], usage=_usage(run), rlmx=_rlmx_fields(run))
            yield {"data": json.dumps(usage_chunk)}
        yield {"data": "[DONE]"}
    finally:
        if not finished:
            await manager.cancel(run_id)
