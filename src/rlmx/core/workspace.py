"""What a run explores: its environment (video tools), its prepared context and a sandbox.

A completion makes one workspace for its root run and one for each child run, and closes
it with the run. A session (``session.py``) keeps one across its asks, so the REPL's
variables outlive each answer; it also adds contexts (``context_1`` ...) and the REPL
variable ``history`` between asks. The sandbox's host functions are served by whichever
run is asking now (``serve``).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..citations import Source, context_sources
from ..documents import read_document
from ..environment import Environment, open_environment
from ..repl import scratch
from ..repl.context import ContextError, ContextMeta, PreparedContext, prepare_context
from ..repl.sandbox import Sandbox
from ..video.options import is_video
from .config import RunConfig
from .host_calls import HostCalls


class Workspace:
    """The environment, context and sandbox that one or more runs work in."""

    def __init__(self, cfg: RunConfig) -> None:
        self.cfg = cfg  # its sandbox mode, limits and video options are the workspace's
        scratch.sweep_once()  # what crashed hosts left, before this run adds its own
        self.workdir = scratch.folder("run")
        self.environment: Environment | None = None
        self.prepared: PreparedContext | None = None
        self.sandbox = Sandbox(cfg.sandbox, cfg.limits)
        self.added: dict[str, ContextMeta] = {}  # contexts a session added, by REPL name
        self.host: HostCalls | None = None  # those of the run being served now

    async def prepare(self, context: Any, with_environment: bool) -> PreparedContext:
        """Open the context's environment (root runs only) and write the context once."""
        if with_environment:
            self.environment = await asyncio.to_thread(
                open_environment, context, self.cfg.video, self.vision_query
            )
        env = self.environment
        data = env.sandbox_context() if env else context
        # documents are parsed in confined children, and the host waits for them here:
        # off the event loop, so a server answers other requests meanwhile
        self.prepared = await asyncio.to_thread(prepare_context, data, self.workdir, read_document)
        self.prepared.kind = getattr(env, "context_kind", self.prepared.kind)
        return self.prepared

    async def serve(self, host: HostCalls) -> None:
        """Serve the sandbox's host functions with ``host`` (starting the worker once)."""
        assert self.prepared is not None
        self.host = host
        host.sandbox = self.sandbox  # where the files its tools return are shared
        source = self.prepared.meta.source
        if source is not None:
            host.context_source = Path(source)  # its images and PDF pages may be shown
        functions = host.offer(self.environment)
        if self.sandbox.context is None:
            await self.sandbox.start(self.prepared, self.host_call, functions)

    async def host_call(self, name: str, arguments: dict[str, Any]) -> Any:
        assert self.host is not None  # the sandbox starts only in serve()
        return await self.host.host_call(name, arguments)

    async def vision_query(self, messages: list[dict[str, Any]]) -> str:
        assert self.host is not None
        return await self.host.vision_query(messages)

    def describe(self) -> str:
        """What the root model reads about the context (and what was added to it)."""
        assert self.prepared is not None
        parts = [self.prepared.meta.describe()]
        if self.environment is not None:
            parts.append(self.environment.describe())
        parts += [meta.describe(f"`{name}`") for name, meta in self.added.items()]
        return "\n\n".join(parts)

    def layout(self) -> str | None:
        """The context's layout, as the policy chooses its examples by it."""
        return self.prepared.meta.layout if self.prepared is not None else None

    def sources(self) -> list[Source]:
        """The texts an answer's quotes are looked for in: ``context`` and the contexts a
        session added (``citations.py``)."""
        assert self.prepared is not None
        main = self.prepared
        found = context_sources("context", main.path, main.kind, main.meta.source)
        for name, meta in self.added.items():
            staged = self.sandbox.defined_file(name)
            if staged is not None:
                found += context_sources(name, *staged, meta.source)
        return found

    async def define(self, name: str, data: Any) -> ContextMeta:
        """Add (or replace) a reserved REPL variable holding ``data`` (plain data only)."""
        if is_video(data) or hasattr(data, "tool_specs"):
            raise ContextError("a video or an environment can only be a session's first context")
        folder = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=self.workdir))
        try:
            prepared = await asyncio.to_thread(prepare_context, data, folder, read_document)
            await self.sandbox.define(name, prepared)  # staged as a file of its own
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        return prepared.meta

    async def add_context(self, name: str, data: Any) -> ContextMeta:
        """Another context, ``context_1`` ...: a REPL variable the root model is told of."""
        self.added[name] = meta = await self.define(name, data)
        return meta

    async def close(self) -> None:
        try:
            await self.sandbox.close()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)
            if self.environment is not None:
                self.environment.close()
