"""Which sandbox mode a run gets: ``auto`` resolved to the strongest mode that works here,
the others checked (bwrap and container are probed once), and the loud warning of
``process`` mode. Above ``isolation.py`` (each mode's argv and limits) and ``container.py``.
"""

from __future__ import annotations

import logging
import os

from . import isolation
from .container import container_problem

log = logging.getLogger("rlmx.sandbox")

_warned_process_mode = False


def resolve_mode(mode: str) -> str:
    """Turn ``auto`` into the strongest mode that works here; validate the others."""
    global _warned_process_mode
    requested = mode
    if mode not in isolation.MODES:
        raise ValueError(
            f"unknown sandbox mode {mode!r}; choose one of {', '.join(isolation.MODES)}"
        )
    if mode == "bwrap" and not isolation.bwrap_works():
        raise isolation.SandboxUnavailable(
            f"sandbox 'bwrap' is not usable here ({isolation.bwrap_problem()}): install bubblewrap "
            "(apt-get install bubblewrap) or choose --sandbox process"
        )
    if mode == "container":
        why = container_problem()  # probes podman: only when the mode is asked for
        if why is not None:
            raise isolation.SandboxUnavailable(
                f"sandbox 'container' is not usable here ({why}): install podman "
                "(apt-get install podman) or choose --sandbox bwrap or process"
            )
    if mode == "auto":
        mode = "bwrap" if isolation.bwrap_works() else "process"
    if mode == "process" and not _warned_process_mode:
        _warned_process_mode = True
        log.warning(
            "%s", process_mode_warning(isolation.bwrap_problem() if requested == "auto" else None)
        )
    return mode


def process_mode_warning(fell_back: str | None = None) -> str:
    """What 'process' mode exposes; said loudly, with why, when 'auto' fell back to it."""
    why = (
        f"bubblewrap is not usable here ({fell_back}), so 'auto' FELL BACK to " if fell_back else ""
    )
    text = (
        f"sandbox: {why}mode 'process': model code runs with rlimits only and can read this "
        "machine's world-readable files and reach its network"
    )
    if os.geteuid() != 0:
        text += (
            "; the host is not root, so the worker runs as your user and model code can read "
            "this process's environment (API keys) from /proc"
        )
    return text + "; install bubblewrap (apt-get install bubblewrap) for isolation"
