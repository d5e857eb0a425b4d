"""``container`` sandbox mode: each worker in a podman container.

For hosts where bubblewrap cannot create namespaces but podman runs (docker's engine is
not supported: none runs on the machines this is tested on, and its flags differ). The image
is built offline, once per worker version, by importing a tiny root file system that holds
rlmx's worker files and empty mount points (no registry is asked); the host's Python
runtime is mounted read-only at its own path, as under bwrap. Each container has no
network, a read-only root, a private size-capped ``/tmp``, every capability dropped but
the two the worker needs to switch to its own uid after loading the context, no new
privileges, an init process as pid 1 (the worker can be killed and its children reaped), and
the worker's memory and process limits as its cgroup limits. The context
file and the host-files folder are mounted read-only. Containers are named
``rlmx-<pid>-worker-...``: the first launch of a process removes those of dead processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import io
import os
import resource
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from . import isolation, scratch
from .confine import Jail
from .launchers import ProcessLauncher, ProcessWorker, Worker

IMAGE = "localhost/rlmx-worker"
RUNTIMES = (None, "runc")  # podman's default first; runc where crun cannot (cgroup v1 hybrid)
PROBE_SECONDS = 60.0
ENGINE_SECONDS = 30.0  # one engine command (kill, rm, import)
CONTAINER_RLIMIT = 4096  # open files and processes a container starts with, at most


def engine() -> str | None:
    """The podman binary, if installed."""
    return shutil.which("podman")


def _run(*argv: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        argv, input=data, capture_output=True, timeout=ENGINE_SECONDS, check=False
    )


def _worker_files() -> list[Path]:
    source_dir = Path(__file__).resolve().parent
    return [source_dir / name for name in isolation.WORKER_FILES]


def _root_tar() -> bytes:
    """The image's whole file system: mount points, links like the host's, the worker."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:

        def add(
            name: str, kind: bytes, data: bytes = b"", link: str = "", mode: int = 0o755
        ) -> None:
            info = tarfile.TarInfo(name.lstrip("/"))
            info.type, info.mode, info.linkname, info.size = kind, mode, link, len(data)
            tar.addfile(info, io.BytesIO(data) if data else None)

        for folder in ("/usr", "/etc", "/proc", "/dev", "/opt", "/opt/rlmx"):
            add(folder, tarfile.DIRTYPE)
        add("/tmp", tarfile.DIRTYPE, mode=0o1777)  # the tmpfs mounted there takes this mode
        for top in _host_tops():
            if top.is_symlink():
                add(str(top), tarfile.SYMTYPE, link=os.readlink(top))
            else:
                add(str(top), tarfile.DIRTYPE)
        for path in _worker_files():
            add(f"{isolation.WORKER_DIR_INSIDE}/{path.name}", tarfile.REGTYPE, path.read_bytes())
    return buffer.getvalue()


def _host_tops() -> list[Path]:
    tops = (Path(top) for top in ("/bin", "/sbin", "/lib", "/lib32", "/lib64"))
    return [top for top in tops if top.exists()]


@functools.cache
def image() -> tuple[str, bytes]:
    """The worker image's tag, named by the hash of its file system (so a changed worker
    or layout is a new image), and that file system as a tar."""
    tar = _root_tar()
    return f"{IMAGE}:{hashlib.sha256(tar).hexdigest()[:16]}", tar


def build_image(binary: str) -> str:
    """The worker image, imported from a tar of its root file system if not there yet.
    Earlier versions' images stay (about 73 KB each): another host may be using one."""
    tag, tar = image()
    if _run(binary, "image", "inspect", tag).returncode != 0:
        done = _run(binary, "import", "-", tag, data=tar)
        if done.returncode != 0:
            raise OSError(f"could not build the image: {_said(done)}")
    return tag


def _said(done: subprocess.CompletedProcess[bytes]) -> str:
    return done.stderr.decode("utf-8", errors="replace").strip()[:300] or "no message"


def _mounts() -> list[str]:
    """The host's runtime, read-only at its own paths (as bwrap shows it)."""
    args = ["-v", "/usr:/usr:ro"]
    for top in _host_tops():
        if not top.is_symlink():
            args += ["-v", f"{top}:{top}:ro"]
    for etc in ("/etc/ld.so.cache", "/etc/localtime", "/etc/alternatives"):
        if Path(etc).exists():
            args += ["-v", f"{etc}:{etc}:ro"]
    for prefix in sorted({sys.base_prefix, sys.prefix}):
        if not prefix.startswith("/usr"):
            args += ["-v", f"{prefix}:{prefix}:ro"]
    return args


def _ulimits() -> list[str]:
    """Open-file and process rlimits the container may start with: an engine's default (or
    even this host's own hard limit) may be above what its runtime may set here. The
    worker lowers them further itself."""
    args = []
    for name, which in (("nofile", resource.RLIMIT_NOFILE), ("nproc", resource.RLIMIT_NPROC)):
        hard = resource.getrlimit(which)[1]
        value = CONTAINER_RLIMIT if hard == resource.RLIM_INFINITY else min(hard, CONTAINER_RLIMIT)
        args += ["--ulimit", f"{name}={value}:{value}"]
    return args


def run_options(runtime: str | None, memory_bytes: int, processes: int, tmp_mb: int) -> list[str]:
    """``run`` options of every worker container (the probe's too)."""
    options = [
        "run", "--rm", "-i", "--init", "--pull", "never", "--network", "none",
        "--read-only", "--read-only-tmpfs=false",
        "--cap-drop", "all", "--cap-add", "SETUID", "--cap-add", "SETGID",
        "--security-opt", "no-new-privileges",
        "--memory", f"{memory_bytes}b", "--pids-limit", str(processes),
        "--tmpfs", f"/tmp:rw,nosuid,nodev,size={tmp_mb}m,mode=1777", "--workdir", "/tmp",
        *_ulimits(), *_mounts(),
    ]  # fmt: skip
    return (["--runtime", runtime] if runtime else []) + options


@functools.cache
def _probe() -> tuple[str | None, str | None]:
    """Once: (the runtime that runs a worker container here, None) or (None, why not)."""
    binary = engine()
    if binary is None:
        return None, "podman is not installed"
    try:
        image = build_image(binary)
    except (OSError, subprocess.SubprocessError) as exc:
        return None, str(exc)
    why = ""
    for runtime in RUNTIMES:
        if runtime is not None and not shutil.which(runtime):
            continue
        argv = [binary, *run_options(runtime, 256 * 2**20, 64, 16), image, *isolation.python()]
        argv += ["-c", "pass"]
        try:
            done = subprocess.run(argv, capture_output=True, timeout=PROBE_SECONDS)
        except (OSError, subprocess.SubprocessError) as exc:
            why = str(exc)
            continue
        if done.returncode == 0:
            return runtime or "", None
        why = _said(done)
    return None, f"a test container did not run: {why}"


def runtime() -> str | None:
    """The OCI runtime worker containers run with ("": podman's default; None: none works)."""
    return _probe()[0]


def container_problem() -> str | None:
    """Why the ``container`` mode cannot run here (None: it can)."""
    return _probe()[1]


def container_works() -> bool:
    return container_problem() is None


class ContainerWorker(ProcessWorker):
    """A worker in a container: the engine's client is the process; stopping it kills and
    removes the container, which the engine keeps running apart from its client."""

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        context_path: Path | None,
        jail: Jail,
        workdir: Path,
        binary: str,
    ) -> None:
        super().__init__(process, context_path, jail, workdir)
        self.binary = binary
        self.name = workdir.name  # the container's name

    def kill_now(self) -> None:
        super().kill_now()
        with contextlib.suppress(OSError):  # not waited for: the event loop must go on
            subprocess.Popen([self.binary, "kill", self.name], stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)  # fmt: skip

    async def stop(self) -> None:
        await asyncio.to_thread(_remove, self.binary, self.name)
        await super().stop()


def _remove(binary: str, name: str) -> None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        _run(binary, "kill", name)
        _run(binary, "rm", "-f", name)


@functools.cache
def sweep_once(binary: str) -> list[str]:
    """Remove the worker containers of rlmx processes that are gone (once per process)."""
    listed = _run(binary, "ps", "-a", "--filter", "name=rlmx-", "--format", "{{.Names}}")
    dead = [name for name in listed.stdout.decode().split() if scratch.dead_owner(name)]
    for name in dead:
        _remove(binary, name)
    return dead


class ContainerLauncher(ProcessLauncher):
    """``container``: a worker process in a podman or docker container."""

    def __init__(self) -> None:
        super().__init__("container")
        self.host_files_inside = isolation.HOST_FILES_INSIDE

    def command(
        self,
        context_path: Path | None,
        limits: dict[str, int],
        tmp_mb: int,
        host_files: Path,
        name: str,
    ) -> tuple[list[str], Path | None]:
        runtime, why = _probe()
        binary = engine()
        if runtime is None or binary is None:
            raise isolation.SandboxUnavailable(f"sandbox 'container' is not usable here: {why}")
        sweep_once(binary)
        options = run_options(runtime, limits["memory_bytes"], limits["processes"], tmp_mb)
        inside = None
        if context_path is not None:
            inside = Path(isolation.CONTEXT_DIR_INSIDE) / context_path.name
            options += ["-v", f"{context_path}:{inside}:ro"]
        options += ["-v", f"{host_files}:{isolation.HOST_FILES_INSIDE}:ro", "--name", name]
        for key, value in isolation.worker_env("/tmp").items():
            options += ["--env", f"{key}={value}"]
        worker = f"{isolation.WORKER_DIR_INSIDE}/worker.py"
        return [binary, *options, image()[0], *isolation.python(), worker], inside

    def worker(
        self, process: asyncio.subprocess.Process, inside: Path | None, jail: Jail, workdir: Path
    ) -> Worker:
        return ContainerWorker(process, inside, jail, workdir, engine() or "")
