"""A real PostgreSQL server for tests: Debian's binaries, a data dir in /tmp, 127.0.0.1.

``initdb`` refuses to run as root, so as root the server runs as the ``postgres`` user
(the Debian package makes it) and its folder is handed to that user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

USER = "rlmx"


def _binaries() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (make setup installs Debian's package)")
    return Path(found[-1]).parent


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextlib.contextmanager
def postgres_server(port: int) -> Iterator[str]:
    """A running server on 127.0.0.1:``port`` with trust auth for USER; its base URL
    (add a database name). Stopped and removed on exit."""
    bin_dir = _binaries()
    folder = Path(tempfile.mkdtemp(prefix="rlmx-pg-", dir="/tmp"))
    data = folder / "data"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    run = lambda *args: subprocess.run(_as_server_user([str(a) for a in args]),  # noqa: E731
                                       check=True, capture_output=True, timeout=120)  # fmt: skip
    try:
        run(bin_dir / "initdb", "-D", data, "-U", USER, "-A", "trust", "--no-sync")
        options = (f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c max_connections=200")  # fmt: skip
        run(bin_dir / "pg_ctl", "-D", data, "-o", options, "-l", folder / "log", "-w", "start")
        try:
            yield f"postgresql://{USER}@127.0.0.1:{port}"
        finally:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def create_database(base_url: str, name: str) -> str:
    """A new empty database on the server; its URL."""
    import asyncio

    import asyncpg

    async def create() -> None:
        admin = await asyncpg.connect(f"{base_url}/postgres")
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

    asyncio.run(create())
    return f"{base_url}/{name}"
