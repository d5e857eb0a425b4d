"""``rlmx serve``, ``rlmx view`` and ``rlmx mcp``: the HTTP server, the viewer, MCP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import kept_runs
from ..errors import RlmxError
from .common import app, check_setup, fail, out
from .run_flags import run_config, run_flags


def _listen(host: str, port: int) -> Any:
    """A listening socket on ``host:port`` (0: any free port), or a clear error when taken.
    The server gets this very socket, so the port printed is the port served (no race)."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:  # SO_REUSEADDR: a port left in TIME_WAIT by the last server can be served again
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise fail(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _run_server(
    settings: Any, host: str, port: int, open_path: str | None = None, browser: bool = False
) -> None:
    import uvicorn

    from ..server.app import create_app

    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{bound}/"
    typer.echo(f"rlmx: serving on {url} (data in {settings.data_dir})", err=True)
    if open_path is not None:
        typer.echo(f"rlmx: open {url}{open_path}", err=True)
        if browser:
            import webbrowser

            webbrowser.open(url + open_path)
    config = uvicorn.Config(create_app(settings), log_level="warning")
    # uvicorn re-raises the Ctrl-C it handled once the server has stopped (as uvicorn.run)
    with sock, contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])


NETWORK, DATA, MODELS, LIMITS = "Network", "Data", "Models", "Limits"  # help panels


@app.command()
@run_flags()
def serve(
    host: Annotated[
        str, typer.Option(metavar="ADDR", rich_help_panel=NETWORK, help="Address to listen on.")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, metavar="N", rich_help_panel=NETWORK)
    ] = 8000,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            rich_help_panel=DATA,
            help="Runs database and uploads (default: user data dir).",
        ),
    ] = None,
    data_root: Annotated[
        Path,
        typer.Option(
            metavar="DIR",
            rich_help_panel=DATA,
            help="Folder that `path` in requests is resolved under.",
        ),
    ] = Path("."),
    store: Annotated[
        str | None,
        typer.Option(
            envvar="RLMX_STORE",
            metavar="URL",
            rich_help_panel=DATA,
            help="Runs database: postgresql://... (replicas share it) or sqlite:///PATH "
            "(default: SQLite in the data dir; env RLMX_STORE).",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            envvar="RLMX_TOKEN",
            metavar="TOKEN",
            rich_help_panel=NETWORK,
            help="Require this bearer token (env RLMX_TOKEN).",
        ),
    ] = None,
    max_runs: Annotated[
        int,
        typer.Option(min=1, metavar="N", rich_help_panel=LIMITS, help="Runs executing at once."),
    ] = 4,
    max_queued: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            rich_help_panel=LIMITS,
            help="Runs waiting for a slot; more get 429.",
        ),
    ] = 16,
    max_run_seconds: Annotated[
        float,
        typer.Option(
            min=1,
            metavar="S",
            rich_help_panel=LIMITS,
            help="Wall-clock limit of a run (clients may ask less).",
        ),
    ] = 3600.0,
    max_sessions: Annotated[
        int,
        typer.Option(
            min=0,
            metavar="N",
            rich_help_panel=LIMITS,
            help="Open sessions at once (each holds a worker).",
        ),
    ] = 16,
    sessions_per_client: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="N",
            rich_help_panel=LIMITS,
            help="Open sessions one client address may hold.",
        ),
    ] = 4,
    streams_per_client: Annotated[
        int,
        typer.Option(
            min=1,
            metavar="N",
            rich_help_panel=LIMITS,
            help="Event streams (SSE) one client address may hold open.",
        ),
    ] = 8,
    session_idle: Annotated[
        float,
        typer.Option(
            min=1,
            metavar="S",
            rich_help_panel=LIMITS,
            help="Seconds before an idle session is closed.",
        ),
    ] = 900.0,
    max_upload_mb: Annotated[
        float, typer.Option(min=0.001, metavar="MB", rich_help_panel=LIMITS, help="Largest upload.")
    ] = 200.0,
    max_json_mb: Annotated[
        float,
        typer.Option(min=0.001, metavar="MB", rich_help_panel=LIMITS, help="Largest JSON body."),
    ] = 32.0,
    allow_model: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SPEC",
            rich_help_panel=MODELS,
            help="A further spec clients may choose as root or sub (repeatable).",
        ),
    ] = None,
    allow_host: Annotated[
        list[str] | None,
        typer.Option(
            metavar="NAME",
            rich_help_panel=NETWORK,
            help="A Host name to answer besides the bound address (repeatable).",
        ),
    ] = None,
    cors: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ORIGIN",
            rich_help_panel=NETWORK,
            help="An origin allowed cross-origin (repeatable).",
        ),
    ] = None,
    *,
    flags: dict[str, Any],
) -> None:
    """Serve the HTTP API, live SSE trajectories, the web UI and /v1/chat/completions."""
    from ..server.app import ServerSettings

    check_setup(flags["sandbox"], *(allow_model or []))
    if not data_root.is_dir():
        raise fail(f"data root {data_root} is not a directory")
    if token is None and host not in ("127.0.0.1", "localhost", "::1"):
        typer.echo(f"rlmx: warning: serving on {host} without a token", err=True)
    settings = ServerSettings(
        data_dir=data_dir or kept_runs.default_data_dir(),
        store=store,
        data_root=data_root,
        token=token,
        run=run_config(flags),
        max_runs=max_runs,
        max_queued=max_queued,
        max_run_seconds=max_run_seconds,
        max_sessions=max_sessions,
        session_idle_seconds=session_idle,
        sessions_per_client=sessions_per_client,
        streams_per_client=streams_per_client,
        max_upload_bytes=int(max_upload_mb * 2**20),
        max_json_bytes=int(max_json_mb * 2**20),
        allow_models=list(allow_model or []),
        host=host,
        allow_hosts=list(allow_host or []),
        cors_origins=list(cors or []),
    )
    _check_store(settings)
    _run_server(settings, host, port)


def _check_store(settings: Any) -> None:
    """Fail now, with a clear message, on a store that cannot be opened."""
    from ..server.stores import open_store

    async def probe() -> None:
        store = open_store(settings.store, settings.data_dir)
        await store.connect()
        await store.close()

    try:
        asyncio.run(probe())
    except RlmxError as exc:
        raise fail(str(exc)) from None


@app.command()
def view(
    target: KeptRun = None,
    last: LastRun = False,
    port: Annotated[int, typer.Option(min=0, max=65535, help="0: any free port.")] = 0,
    browser: Annotated[bool, typer.Option(help="Open it in the web browser.")] = True,
) -> None:
    """Open a saved trajectory or a kept run in the web viewer (a server on 127.0.0.1)."""
    from ..repl import scratch
    from ..server.app import ServerSettings
    from ..server.store import SQLiteStore, import_trajectory

    trajectory = trajectory_of(target, last)

    data_dir = scratch.folder("view")  # the viewer's own, removed after

    async def imported() -> str:
        store = SQLiteStore(data_dir / "runs.sqlite3")
        await store.connect()
        try:
            return await import_trajectory(store, trajectory)
        finally:
            await store.close()

    try:
        run_id = asyncio.run(imported())
    except (OSError, ValueError) as exc:
        shutil.rmtree(data_dir, ignore_errors=True)
        raise fail(f"cannot read trajectory {trajectory}: {exc}") from None
    settings = ServerSettings(data_dir=data_dir, data_root=data_dir)
    try:
        _run_server(settings, "127.0.0.1", port, f"#/run/{run_id}", browser)
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


# the run a command opens: a trajectory file or a kept run's id, or --last (view, replay)
KeptRun = Annotated[
    str | None,
    typer.Argument(
        metavar="TRAJECTORY|RUN_ID",
        help="A JSONL trajectory written by rlmx, or the id of a kept run.",
    ),
]
LastRun = Annotated[bool, typer.Option("--last", help="The last kept run.")]


def trajectory_of(target: str | None, last: bool) -> Path:
    """A trajectory file given as a path, a kept run's id, or --last."""
    if (target is None) == (not last):
        raise fail("give a trajectory file or a run id, or --last")
    if target is not None and not kept_runs.RUN_ID.match(target):  # a path, not a run id
        if not Path(target).is_file():
            raise fail(f"cannot read trajectory {target}: no such file")
        return Path(target)
    try:
        return kept_runs.find(target)
    except ValueError as exc:
        raise fail(str(exc)) from None


@app.command()
def runs(
    limit: Annotated[int, typer.Option(min=1, metavar="N", help="How many, newest first.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object a line.")] = False,
) -> None:
    """List the runs rlmx ask and chat kept (open one with rlmx view RUN_ID)."""
    kept = kept_runs.listing(limit)
    if as_json:
        for run in kept:
            typer.echo(json.dumps(run.to_dict()))
        return
    if not kept:
        typer.echo(f"no kept runs in {kept_runs.runs_dir()}", err=True)
        return
    for run in kept:
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(run.started))
        seconds = f"{run.seconds:.0f} s" if run.seconds is not None else "-"
        out(f"{run.run_id}  {when}  {run.status:<16} {seconds:>6}  {_head(run.query, 50)}"
            f"  -> {_head(run.answer or '', 40)}")  # fmt: skip


def _head(text: str, chars: int) -> str:
    line = " ".join(text.split())
    return line if len(line) <= chars else line[: chars - 1] + "…"


@app.command()
@run_flags()
def mcp(*, flags: dict[str, Any]) -> None:
    """Run an MCP server on stdio (tools: load_context, ask, list_contexts)."""
    from ..server.mcp_server import serve_stdio

    serve_stdio(run_config(flags))
