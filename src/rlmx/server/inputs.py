"""What a request gives as a context, for ``POST /query`` and ``POST /sessions``: text, a
sample, a path under the data root, or an uploaded file, with the run options.

The body is JSON, or a multipart form whose fields validate with the same model beside its
``file``. Uploads are saved in the run's (or session's) folder under the data dir; a text or
sample context is saved there too, so that a finished run's context can be asked again
(a follow-up session). A refused request leaves no folder behind.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import HTTPException, Request
from pydantic import Field, ValidationError
from starlette.datastructures import UploadFile

from ..repl.context import holds_text
from . import guard, samples
from .runs import RUN_ID, Query, RunOptions, RunRequest
from .statuses import CLIENT_ERRORS, http_headers, http_status

UPLOAD_CHUNK = 1 << 20
SAVED_CONTEXT = "context.txt"  # a text or sample context, kept for follow-ups


class ContextBody(RunOptions):
    """Where the context comes from (exactly one of these or a file upload) and the root."""

    context: str | None = None
    path: str | None = None
    sample: str | None = None
    root: str | None = None


class QueryBody(ContextBody):
    """The body of ``POST /query``."""

    query: Query


class SessionBody(ContextBody):
    """The body of ``POST /sessions``; ``run_id`` instead of a context: that run's context
    (and its models, unless given), for follow-up questions."""

    run_id: str | None = Field(default=None, pattern=RUN_ID.pattern)


Body = TypeVar("Body", bound=ContextBody)
T = TypeVar("T")


def body_schemas(model: type[ContextBody]) -> dict[str, Any]:
    """A route's request body in OpenAPI: ``model`` as JSON, or as form fields with a file."""
    fields = model.model_json_schema()
    form = {**fields, "properties": {**fields["properties"],
                                     "file": {"type": "string", "format": "binary"}}}  # fmt: skip
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": fields},
                "multipart/form-data": {"schema": form},
            },
        }
    }


async def read_body(request: Request, model: type[Body]) -> tuple[Body, UploadFile | None]:
    """The JSON body, or a multipart form's fields and its ``file``."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith("multipart/form-data"):  # its size: guard.FrontDoor
            form = await request.form(max_files=1, max_fields=20)
            upload = form.get("file")
            fields = {k: v for k, v in form.items() if not isinstance(v, UploadFile)}
            body = model.model_validate({k: v for k, v in fields.items() if v != ""})
            return body, upload if isinstance(upload, UploadFile) else None
        return model.model_validate_json(await request.body()), None
    except ValidationError as exc:
        raise HTTPException(422, guard.validation_errors(exc.errors())) from None


async def accept(
    body: ContextBody,
    upload: UploadFile | None,
    folder: Path,
    settings: Any,
    start: Callable[[RunRequest], Awaitable[T]],
    query: str = "",
) -> T:
    """Build the request's RunRequest and ``start`` it; any refusal removes ``folder`` and
    becomes its HTTP status."""
    try:
        request = RunRequest(query, None, body.options(), root=body.root)
        if upload is not None:
            path = await save_upload(upload, folder, settings.max_upload_bytes)
            request.context, request.context_file = path, str(path)
            request.source_label = f"upload:{path.name}"
        else:
            set_context(request, body, settings.data_root, folder)
        return await start(request)
    except BaseException as exc:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(exc, CLIENT_ERRORS):
            raise HTTPException(http_status(exc), str(exc), http_headers(exc)) from None
        raise


async def accept_run_context(
    body: SessionBody, store: Any, start: Callable[[RunRequest], Awaitable[T]]
) -> T:
    """A follow-up: the saved context of a stored run, its models and settings unless the
    body gives others."""
    run = await store.get_run(body.run_id)
    if run is None:
        raise HTTPException(404, f"no run {body.run_id!r}")
    if any(getattr(body, name) is not None for name in ("context", "path", "sample")):
        raise HTTPException(400, "give run_id or a context, not both")
    file = Path(run["context_file"]) if run.get("context_file") else None
    if file is None or not file.exists():
        raise HTTPException(409, f"run {body.run_id} has no saved context to ask about")
    stored = {k: v for k, v in (run.get("settings") or {}).items() if k in RunOptions.model_fields}
    given = body.options().model_dump(include=body.model_fields_set)
    options = RunOptions(**{"sub": run["sub"], **stored, **given})
    request = RunRequest("", file, options, root=body.root or run["root"],
                         context_file=str(file), source_label=file.name,
                         follows=body.run_id)  # fmt: skip
    try:
        return await start(request)
    except CLIENT_ERRORS as exc:
        raise HTTPException(http_status(exc), str(exc), http_headers(exc)) from None


def set_context(request: RunRequest, body: ContextBody, data_root: Path, folder: Path) -> None:
    """The context of a body without an upload (text and samples are saved in ``folder``)."""
    given = [name for name in ("context", "path", "sample") if getattr(body, name) is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of context, path, sample or a file upload")
    if body.path is not None:
        path = resolve_data_path(data_root, body.path)
        request.context, request.context_file = path, str(path)
        request.source_label = body.path
        return
    request.context = body.context if body.context is not None else samples.text(body.sample or "")
    if not holds_text(request.context):
        raise ValueError("the context is empty: there is nothing to ask about")
    folder.mkdir(parents=True, exist_ok=True)
    saved = folder / SAVED_CONTEXT
    saved.write_text(request.context, encoding="utf-8", errors="surrogatepass")
    request.context_file = str(saved)


def resolve_data_path(data_root: Path, relative: str) -> Path:
    """A path under the data root; anything that resolves outside it is refused."""
    root = data_root.resolve()
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise ValueError(f"path {relative!r} is outside the server's data root")
    if not path.exists():
        raise ValueError(f"no such file or directory under the data root: {relative!r}")
    return path


async def save_upload(upload: UploadFile, folder: Path, max_bytes: int) -> Path:
    """Copy an upload to the folder, refusing it past the size limit."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", Path(upload.filename or "upload").name).lstrip(".")
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (name or "upload")
    size = 0
    with open(path, "wb") as out:
        while chunk := await upload.read(UPLOAD_CHUNK):
            size += len(chunk)
            if size > max_bytes:
                out.close()
                shutil.rmtree(folder, ignore_errors=True)
                raise HTTPException(413, too_large(max_bytes))
            out.write(chunk)
    return path


def too_large(max_bytes: int) -> str:
    return f"upload larger than the limit of {max_bytes:,} bytes"
