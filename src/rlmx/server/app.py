"""The HTTP API: start runs, stream their events (SSE), browse and cancel them, the web UI.

``create_app(ServerSettings(...))`` builds the FastAPI app; ``rlmx serve`` runs it under
uvicorn. Runs execute in the background (see ``runs.py``) and persist in SQLite under the
data dir. With a token set, every route but ``/health`` and the UI's static files needs
``Authorization: Bearer <token>`` (or ``?token=`` where a browser cannot set headers:
EventSource and <video>).

Clients are untrusted (``guard.py`` checks Host, Origin, content type and body size
first): they pick models only from the operator's table, name files only under the data
root, and never see the host's absolute paths. See docs/ARCHITECTURE.md, "Trust boundary".
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import secrets
import threading
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi import Path as Path_
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles
from sse_starlette import EventSourceResponse

from .. import __version__
from ..core.config import RunConfig
from ..core.rlm import RLM
from ..kept_runs import default_data_dir
from ..lm.choice import ModelTable, model_name
from ..repl import scratch
from ..repl.confine import detect as containment
from ..video.options import VIDEO_SUFFIXES
from . import guard, inputs, quotas, samples
from .openai_api import openai_routes
from .runs import RUN_ID, RunManager, RunRequest, public_run
from .sessions import SessionManager, session_routes
from .stores import open_store

STATIC_DIR = Path(__file__).parent / "static"
FORM_SLACK = 1 << 20  # multipart fields and boundaries on top of the file itself
RunId = Annotated[str, Path_(pattern=RUN_ID.pattern, max_length=64)]  # checked before any use


@dataclass
class ServerSettings:
    """How a server runs: where it keeps data, which models and sandbox, who may call it."""

    data_dir: Path = field(default_factory=default_data_dir)
    store: str | None = None  # postgresql://... for replicas; else SQLite in data_dir
    data_root: Path = field(default_factory=Path.cwd)  # `path` requests resolve under here
    token: str | None = None
    # the settings of every run (RunConfig.build: the operator's flags, the environment);
    # a request may change only its models (from the allowlist), depth, turns and budget
    run: RunConfig = field(default_factory=RunConfig.build)
    max_runs: int = 4  # runs executing at once; more wait in a queue ...
    max_queued: int = 16  # ... of at most this many; more are refused (429, Retry-After)
    max_run_seconds: float = 3600.0  # a run's wall-clock budget; a client may ask for less
    max_upload_bytes: int = 200 * 1024 * 1024
    max_json_bytes: int = 32 * 1024 * 1024
    allow_models: list[str] = field(default_factory=list)  # --allow-model SPEC
    allow_replay: bool = False  # tests only: clients may name replay: scripts
    host: str = "127.0.0.1"  # the bound address (checked against the Host header)
    allow_hosts: list[str] = field(default_factory=list)
    cors_origins: list[str] = field(default_factory=list)
    max_sessions: int = 16  # open sessions (each holds a sandbox worker)
    session_idle_seconds: float = 900.0  # an idle session is closed after this
    sessions_per_client: int = 4  # open sessions one client address may hold
    streams_per_client: int = 8  # event streams one client address may hold open

    def model_table(self) -> ModelTable:
        """What clients may name as root or sub: defaults, aliases, --allow-model specs."""
        prefixes = ("replay:",) if self.allow_replay else ()
        return self.run.model_table(*self.allow_models, allow_prefixes=prefixes)

    def build_rlm(self, request: RunRequest) -> RLM:
        """The RLM for one request: the server's run settings with the request's models
        and limits. Raises ModelNotAllowed for a model the operator did not configure."""
        options = request.options
        seconds = min(options.max_seconds or self.max_run_seconds, self.max_run_seconds)
        config = self.run.for_client(
            self.model_table(), request.root, options.sub, options.max_depth,
            options.max_iterations, options.budget_usd, seconds,
        )  # fmt: skip
        return RLM(config=config)


def create_app(settings: ServerSettings) -> FastAPI:
    """The server's FastAPI app; state lives in ``settings.data_dir``."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await asyncio.to_thread(scratch.sweep_once)  # what crashed hosts left behind
        store = open_store(settings.store, settings.data_dir)
        await store.connect()
        app.state.manager = RunManager(
            store, settings.build_rlm, settings.data_dir / "uploads", settings.max_runs,
            max_queued=settings.max_queued,
        )  # fmt: skip
        await app.state.manager.open()
        app.state.sessions = SessionManager(
            app.state.manager, settings.max_sessions, settings.session_idle_seconds,
            quotas.ClientQuota("open sessions", settings.sessions_per_client),
        )  # fmt: skip
        app.state.streams = quotas.ClientQuota("event streams", settings.streams_per_client)
        app.state.sessions.start_sweeper()
        try:
            yield
        finally:
            await app.state.sessions.shutdown()
            await app.state.manager.shutdown()
            await store.close(app.state.manager.replica)

    # the API docs are served by _docs_routes, behind the token like every other route
    app = FastAPI(title="rlmx", version=__version__, lifespan=lifespan, docs_url=None,
                  redoc_url=None, openapi_url=None)  # fmt: skip
    app.state.settings = settings
    guard.install(app)
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["authorization", "content-type", "last-event-id"],
        )
    app.add_middleware(
        guard.FrontDoor,
        bound_host=settings.host,
        allow_hosts=settings.allow_hosts,
        cors_origins=settings.cors_origins,
        max_json_bytes=settings.max_json_bytes,
        max_form_bytes=settings.max_upload_bytes + FORM_SLACK,
    )
    app.include_router(_public_routes(settings))
    guarded = [Depends(_auth(settings.token))]
    app.include_router(_run_routes(settings), dependencies=guarded)
    app.include_router(session_routes(settings), dependencies=guarded)
    app.include_router(openai_routes(), dependencies=guarded)
    app.include_router(_docs_routes(app), dependencies=guarded)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def _auth(token: str | None) -> Any:
    async def check(request: Request) -> None:
        if token is None:
            return
        header = request.headers.get("authorization", "")
        given = header[7:] if header.lower().startswith("bearer ") else None
        given = given or request.query_params.get("token")
        if given is None or not secrets.compare_digest(given.encode(), token.encode()):
            raise HTTPException(401, "missing or wrong token", {"WWW-Authenticate": "Bearer"})

    return check


def _docs_routes(app: FastAPI) -> APIRouter:
    """The OpenAPI schema and its two viewers; the viewers fetch the schema with the
    page's own ``?token=``."""
    from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
    from fastapi.responses import HTMLResponse, JSONResponse

    router = APIRouter(include_in_schema=False)

    def schema_url(request: Request) -> str:
        token = request.query_params.get("token")
        return "/openapi.json" + (f"?{urlencode({'token': token})}" if token else "")

    @router.get("/openapi.json")
    async def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @router.get("/docs")
    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=schema_url(request), title="rlmx API")

    @router.get("/redoc")
    async def redoc(request: Request) -> HTMLResponse:
        return get_redoc_html(openapi_url=schema_url(request), title="rlmx API")

    return router


def manager_of(request: Request) -> RunManager:
    return request.app.state.manager


Manager = Annotated[RunManager, Depends(manager_of)]  # the app's runs, for each route


def _public_routes(settings: ServerSettings) -> APIRouter:
    router = APIRouter()

    @router.get("/health")
    async def health() -> dict[str, Any]:
        return {
            "status": "ok",
            "version": __version__,
            "models": {"root": model_name(settings.run.root), "sub": model_name(settings.run.sub)},
            "allowed_models": settings.model_table().names(),
            "sandbox": settings.run.sandbox,
            "containment": containment().to_dict(),
            "auth": settings.token is not None,
        }

    @router.get("/", include_in_schema=False)
    async def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html")

    return router


def _run_routes(settings: ServerSettings) -> APIRouter:
    router = APIRouter()

    @router.post("/query", openapi_extra=inputs.body_schemas(inputs.QueryBody))
    async def query(request: Request, manager: Manager) -> dict[str, str]:
        """Start a run; the body is read by hand to take JSON or multipart (see the schema)."""
        run_id = uuid.uuid4().hex[:12]
        body, upload = await inputs.read_body(request, inputs.QueryBody)

        async def start(run_request: RunRequest) -> dict[str, str]:
            await manager.start(run_id, run_request)
            return {"run_id": run_id}

        folder = manager.uploads / run_id
        return await inputs.accept(body, upload, folder, settings, start, body.query)

    @router.get("/samples")
    async def list_samples() -> list[dict[str, str]]:
        return samples.listing()

    @router.get("/runs")
    async def list_runs(manager: Manager, limit: int = 100, offset: int = 0) -> dict[str, Any]:
        limit = max(1, min(limit, 1000))
        runs = await manager.store.list_runs(limit, max(0, offset))
        return {"runs": [public_run(run) for run in runs]}

    @router.get("/runs/{run_id}")
    async def get_run(manager: Manager, run_id: RunId, events: bool = True) -> dict[str, Any]:
        store = manager.store
        run = public_run(_existing(await store.get_run(run_id), run_id))
        if events:
            run["events"] = [json.loads(data) for _, _, data in await store.events(run_id)]
        return run

    @router.get("/runs/{run_id}/trajectory.jsonl")
    async def trajectory(manager: Manager, run_id: RunId) -> Response:
        store = manager.store
        _existing(await store.get_run(run_id), run_id)
        lines = "".join(data + "\n" for _, _, data in await store.events(run_id))
        headers = {"content-disposition": f'attachment; filename="{run_id}.jsonl"'}
        return Response(lines, media_type="application/x-ndjson", headers=headers)

    @router.delete("/runs/{run_id}")
    async def delete_run(manager: Manager, run_id: RunId) -> dict[str, Any]:
        if not await manager.delete(run_id):
            raise HTTPException(404, f"no run {run_id!r}")
        return {"deleted": run_id}

    @router.post("/runs/{run_id}/cancel")
    async def cancel_run(manager: Manager, run_id: RunId) -> dict[str, Any]:
        run = _existing(await manager.store.get_run(run_id), run_id)
        if not await manager.cancel(run_id):
            raise HTTPException(409, f"run {run_id} is not running (status {run['status']})")
        after = _existing(await manager.store.get_run(run_id), run_id)
        return {"run_id": run_id, "status": after["status"]}

    @router.get("/stream/{run_id}")
    async def stream(
        request: Request, manager: Manager, run_id: RunId, after: int = -1
    ) -> EventSourceResponse:
        _existing(await manager.store.get_run(run_id), run_id)
        last_id = request.headers.get("last-event-id")
        if last_id is not None and last_id.isdigit():
            after = int(last_id)  # a reconnecting EventSource resumes where it stopped

        async def events() -> AsyncGenerator[dict[str, Any], None]:
            async for seq, event_type, data in manager.follow(run_id, after):
                yield {"id": str(seq), "event": event_type, "data": data}

        hold = quotas.streams_of(request).take(quotas.client_of(request))
        return hold.stream(events(), ping=15)

    @router.get("/video/{run_id}")
    async def video(manager: Manager, run_id: RunId) -> FileResponse:
        run = _existing(await manager.store.get_run(run_id), run_id)
        path = Path(run["context_file"]) if run["context_file"] else None
        if path is None or path.suffix.lower() not in VIDEO_SUFFIXES or not path.is_file():
            raise HTTPException(404, f"run {run_id} has no video")
        media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        return FileResponse(path, media_type=media_type)  # answers Range requests

    return router


def _existing(run: dict[str, Any] | None, run_id: str) -> dict[str, Any]:
    if run is None:
        raise HTTPException(404, f"no run {run_id!r}")
    return run


@contextmanager
def serve_in_thread(
    settings: ServerSettings, host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Run the server under uvicorn in a background thread (tests, notebooks, benchmarks).

    Yields the base URL (``port=0`` picks a free port); the server stops on exit.
    """
    import uvicorn

    settings.host = host
    config = uvicorn.Config(create_app(settings), host=host, port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the rlmx server did not start on {host}:{port}")
        time.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
