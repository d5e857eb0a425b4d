"""One llama.cpp context shared by the roles of a run, each keeping what it evaluated.

A root turn's prompt (system prompt, worked dialogues, the turns so far) is thousands of
tokens; llama-cpp-python reuses the evaluated prefix of the previous call, but the
sub-calls between two root turns overwrite it, so every root turn evaluated its whole
prompt again (tens of seconds on two cores). A second context per role would keep it, but
llama.cpp repacks the weights per context (about 1.9 GB each for the default model).

So the context is lent to one role at a time (``root``, ``sub``, ``child``): when another
role takes it, the owner's evaluated tokens and their KV cells (``llama_state_seq_*``,
sequence 0: only the cells in use, ~28 KB a token for the default model) are copied out,
and the taker's own are copied back in; llama-cpp-python then evaluates only the part of
the new prompt past what matches. A copy costs tens of milliseconds; what it saves is the
prompt's evaluation.

The root's first prompt of a run starts with what every run's does (the system prompt and
worked dialogues), so a root (or child-run root) role also keeps its evaluated first prompt
on disk (``llama_state_seq_save_file``, one file per model, window and role, written only
when the file did not serve the call); the next process loads it before its first call and
evaluates only what differs.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .registry import prune_cache

MAX_SAVED_BYTES = 1 << 30  # a role's state past this is dropped, not kept
MIN_SAVED_TOKENS = 64  # fewer evaluated tokens are cheaper to evaluate again than to keep
DISK_ROLES = ("root", "child")  # roles whose first prompt is the same in every run
MIN_DISK_TOKENS = 512  # a shorter prompt is not worth a file
DISK_MAX_BYTES, DISK_MAX_DAYS = 2 << 30, 30  # all models' kept prompts together


@dataclass
class _Saved:
    tokens: Any  # numpy array of the evaluated token ids
    data: bytes  # llama_state_seq_get_data of sequence 0


@dataclass
class ContextSlots:
    """Who holds a loaded model's context now, and the saved state of the others."""

    folder: Path | None = None  # where the roles' first prompts are kept on disk
    owner: str | None = None
    saved: dict[str, _Saved] = field(default_factory=dict)
    started: set[str] = field(default_factory=set)  # roles that have had a call here

    def lend(self, llama: Any, role: str) -> None:
        """Give the context to ``role`` (call with the model's lock held)."""
        if self.owner == role:
            return
        if self.owner is not None:
            kept = _save(llama)
            if kept is not None:
                self.saved[self.owner] = kept
        state = self.saved.pop(role, None)
        restored = state is not None and _restore(llama, state)
        if not restored and not self._load(llama, role):
            llama.reset()  # nothing of another role's tokens may look like this one's
        self.owner = role

    def discard(self) -> None:
        """What the context holds is nobody's (a decode stopped part way through it)."""
        self.owner = None

    def ended(self, llama: Any, role: str, prompt: int, reused: int) -> None:
        """After a call of ``role``: its first prompt goes to disk when the file did not
        serve it (missing, or another model's, window's or policy's)."""
        first = role not in self.started
        self.started.add(role)
        worth_a_file = prompt >= MIN_DISK_TOKENS and reused < prompt // 2
        if first and worth_a_file and self.folder is not None and role in DISK_ROLES:
            _write(llama, self.folder / f"{role}.state")
            prune_cache(self.folder.parent, "*/*.state", DISK_MAX_BYTES, DISK_MAX_DAYS)

    def _load(self, llama: Any, role: str) -> bool:
        if self.folder is None or role not in DISK_ROLES or role in self.started:
            return False
        return _read(llama, self.folder / f"{role}.state")


def _save(llama: Any) -> _Saved | None:
    import llama_cpp

    if llama.n_tokens < MIN_SAVED_TOKENS:
        return None
    ctx = llama._ctx.ctx
    size = int(llama_cpp.llama_state_seq_get_size(ctx, 0))
    if not 0 < size <= MAX_SAVED_BYTES:
        return None
    buffer = (ctypes.c_uint8 * size)()
    written = int(llama_cpp.llama_state_seq_get_data(ctx, buffer, size, 0))
    if written <= 0:
        return None
    return _Saved(llama.input_ids[: llama.n_tokens].copy(), bytes(memoryview(buffer)[:written]))


def _restore(llama: Any, state: _Saved) -> bool:
    """Put a role's tokens and cells back; False when llama.cpp refuses them."""
    import llama_cpp

    ctx = llama._ctx.ctx
    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), -1, -1, -1)
    buffer = (ctypes.c_uint8 * len(state.data)).from_buffer_copy(state.data)
    if int(llama_cpp.llama_state_seq_set_data(ctx, buffer, len(state.data), 0)) == 0:
        return False
    count = len(state.tokens)
    llama.input_ids[:count] = state.tokens
    llama.n_tokens = count
    llama._requires_eval = True  # its logits are not live: the next call decodes one again
    return True


def _write(llama: Any, path: Path) -> None:
    """The evaluated tokens and their cells to ``path`` (atomically: a reader sees the old
    file or the new one, never half of one)."""
    import llama_cpp

    count = llama.n_tokens
    tokens = (llama_cpp.llama_token * count)(*llama.input_ids[:count].tolist())
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    try:
        written = llama_cpp.llama_state_seq_save_file(llama._ctx.ctx, str(partial).encode(),
                                                      0, tokens, count)  # fmt: skip
        if written:
            os.replace(partial, path)
    finally:
        with contextlib.suppress(OSError):
            partial.unlink()


def _read(llama: Any, path: Path) -> bool:
    """Load a role's kept first prompt; False when there is none or llama.cpp refuses it
    (another model, window or llama.cpp version wrote it)."""
    import llama_cpp

    if not path.is_file():
        return False
    ctx = llama._ctx.ctx
    llama_cpp.llama_memory_seq_rm(llama_cpp.llama_get_memory(ctx), -1, -1, -1)
    capacity = llama.n_ctx()
    tokens = (llama_cpp.llama_token * capacity)()
    count = ctypes.c_size_t(0)
    read = llama_cpp.llama_state_seq_load_file(ctx, str(path).encode(), 0, tokens, capacity,
                                               ctypes.byref(count))  # fmt: skip
    if not read or not 0 < count.value <= capacity:
        return False
    llama.input_ids[: count.value] = tokens[: count.value]
    llama.n_tokens = count.value
    llama._requires_eval = True
    return True
