"""``local:<name>``: an embedded llama.cpp model, in-process, no server and no network.

``<name>`` is a registry name (pulled and verified on first use) or a path to a GGUF
file. Options follow a ``?``: ``threads``, ``threads_batch``, ``n_ctx``, ``max_tokens``,
``temperature``, e.g. ``local:qwen2.5-coder-1.5b?threads=2&n_ctx=16384``. Without
``threads``, each call uses as many threads as other processes left cores idle since the
previous call (one at least): on an idle 2-core machine two threads evaluate a prompt
twice as fast as one, while on a busy one more threads than idle cores collapsed speed
10-20x. A loaded model
is kept for the life of the process and serves one request at a time, however many
``LocalLM`` objects (root, sub-model, several RLMs of a server) share it: llama.cpp's
context is not thread-safe. Its context is lent to one role at a time, and the others'
evaluated prompts are kept aside (``context_slots.py``).
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from . import registry
from .base import (
    ContextOverflowError,
    LMBase,
    LMConfigError,
    LMError,
    LMResponse,
    Message,
    Usage,
)
from .context_slots import ContextSlots

OPTION_TYPES = {
    "threads": int,
    "threads_batch": int,
    "n_ctx": int,
    "max_tokens": int,
    "temperature": float,
}
DEFAULT_MAX_TOKENS = 1024
GRAMMARS_KEPT = 32  # checked grammars kept per model (each distinct schema makes one)


@dataclass
class _Loaded:
    """One loaded model, the lock its decodes take (one at a time per model) and who of
    the roles holds its context (the others' evaluated prompts saved aside)."""

    llama: Any
    lock: threading.Lock = field(default_factory=threading.Lock)
    slots: ContextSlots = field(default_factory=ContextSlots)
    cancelled: threading.Event | None = None  # the running call's: set, llama.cpp stops
    abort_hook: Any = None  # the ctypes callback llama.cpp polls (kept alive here)

    def watch_for_cancel(self) -> None:
        """Let llama.cpp stop a decode between graph nodes once the running call is
        cancelled: Ctrl-C or a cancelled run ends a long prompt evaluation at once."""
        import llama_cpp

        def aborted(_data: Any) -> bool:
            return self.cancelled is not None and self.cancelled.is_set()

        self.abort_hook = llama_cpp.ggml_abort_callback(aborted)
        llama_cpp.llama_set_abort_callback(self.llama._ctx.ctx, self.abort_hook, None)


_loaded: dict[tuple[Any, ...], _Loaded] = {}
_load_lock = threading.Lock()


@atexit.register
def _unload_all() -> None:
    """Free models before interpreter teardown (llama-cpp-python errors if freed after)."""
    with _load_lock:
        for model in _loaded.values():
            with contextlib.suppress(Exception):
                model.llama.close()
        _loaded.clear()


def parse_local_model(text: str) -> tuple[str, dict[str, Any]]:
    """Split ``name?key=value&...`` and type-check the options."""
    name, _, query = text.partition("?")
    options: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in OPTION_TYPES:
            raise LMConfigError(
                f"unknown option {key!r} for local:{name}; known: {', '.join(OPTION_TYPES)}"
            )
        try:
            options[key] = OPTION_TYPES[key](value)
        except ValueError:
            raise LMConfigError(
                f"option {key}={value!r} for local:{name} is not a number"
            ) from None
    return name, options


def check_local_spec(text: str) -> None:
    """Fail early, without loading or pulling anything, for a local spec that cannot work."""
    name, _options = parse_local_model(text)
    if name.endswith(".gguf") or os.sep in name:
        if not Path(name).expanduser().is_file():
            raise LMConfigError(f"GGUF file not found: {name}")
    else:
        registry.get_entry(name)
    _import_llama()


def _import_llama() -> Any:
    """llama-cpp-python's ``Llama`` class, or a clear error when the extra is not installed."""
    try:
        from llama_cpp import Llama
    except ImportError:
        raise LMConfigError(
            "the embedded backend needs llama-cpp-python: pip install 'rlmx[local]'"
        ) from None
    return Llama


def resolve_model_file(name: str, progress: registry.Progress | None = None) -> tuple[Path, int]:
    """The GGUF path and its training context length for a registry name or a file path."""
    if name.endswith(".gguf") or os.sep in name:
        path = Path(name).expanduser()
        if not path.is_file():
            raise LMConfigError(f"GGUF file not found: {path}")
        return path, 0
    entry = registry.get_entry(name)
    return registry.ensure(name, progress), entry.context_length


def _stderr_progress(stage: str, done: int, total: int) -> None:
    if done == total or done % (64 * registry.CHUNK) == 0:
        print(
            f"\r[rlmx] {stage} {done / 2**20:,.0f}/{total / 2**20:,.0f} MiB",
            end="",
            file=sys.stderr,
            flush=True,
        )
        if done == total:
            print(file=sys.stderr)


_stderr_lock = threading.Lock()


@contextlib.contextmanager
def _quiet_stderr() -> Any:
    """llama.cpp prints model-loading chatter on fd 2 even when asked not to.

    One thread at a time: two overlapping redirections could restore each other's
    ``/dev/null`` and silence the process for good.
    """
    with _stderr_lock:
        try:
            saved = os.dup(2)
        except OSError:
            yield
            return
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        try:
            yield
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            os.close(devnull)


IDLE_WINDOW = 0.05  # seconds: the shortest span idle cores are counted over


@dataclass(frozen=True)
class _CpuSample:
    at: float  # time.monotonic()
    jiffies: tuple[int, ...]  # /proc/stat's first line: user nice system idle iowait ...
    own: float  # this process's CPU seconds (all its threads)


_last_sample: _CpuSample | None = None


def usable_cores() -> int:
    """Cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def idle_cores(window: float = IDLE_WINDOW) -> int:
    """How many usable cores other processes left idle since the last call (at least
    ``window`` seconds: the first call waits that long), at least one; all of them where
    /proc/stat cannot be read. This process's own compute (the model's last call) is not
    counted as busy, so no call waits for a fresh measurement."""
    global _last_sample
    usable = usable_cores()
    try:
        before = _last_sample
        if before is None or time.monotonic() - before.at < window:
            before = _cpu_sample()
            time.sleep(window)
        after = _last_sample = _cpu_sample()
    except (OSError, ValueError):
        return usable
    total = sum(after.jiffies) - sum(before.jiffies)
    idle = sum(after.jiffies[3:5]) - sum(before.jiffies[3:5])  # idle and iowait
    own = (after.own - before.own) * os.sysconf("SC_CLK_TCK")
    if total <= 0:
        return usable
    others = max(0.0, total - idle - own) / total  # the share of all cores others kept busy
    return max(1, min(usable, round(usable - (os.cpu_count() or usable) * others)))


def _cpu_sample() -> _CpuSample:
    with open("/proc/stat") as stat:
        jiffies = tuple(int(v) for v in stat.readline().split()[1:9])
    times = os.times()
    return _CpuSample(time.monotonic(), jiffies, times.user + times.system)


def _states_folder(path: Path, n_ctx: int) -> Path:
    """Where a model's kept prompt states live: one folder per model file, window and
    llama.cpp version (a state of any other would not load)."""
    import llama_cpp

    stat = path.stat()
    name = f"{path.stem}-{stat.st_size}-{int(stat.st_mtime)}-ctx{n_ctx}-{llama_cpp.__version__}"
    return registry.cache_root() / "prompt-states" / name


def load_llama(path: Path, n_ctx: int, threads: int, threads_batch: int) -> _Loaded:
    """Load (once per process) a GGUF model with llama-cpp-python."""
    llama_class = _import_llama()
    key = (str(path), n_ctx)  # its threads are set per call
    with _load_lock:
        if key not in _loaded:
            try:
                with _quiet_stderr():
                    llama = llama_class(
                        model_path=str(path),
                        n_ctx=n_ctx,
                        n_threads=threads,
                        n_threads_batch=threads_batch,
                        seed=0,
                        verbose=False,
                    )
                _loaded[key] = _Loaded(llama, slots=ContextSlots(_states_folder(path, n_ctx)))
                _loaded[key].watch_for_cancel()
            except (ValueError, RuntimeError, OSError) as exc:
                raise LMConfigError(f"cannot load GGUF model {path}: {exc}") from None
        return _loaded[key]


def _common_prefix(a: Any, b: Any) -> int:
    """How many leading token ids two arrays share."""
    count = min(len(a), len(b))
    differ = (a[:count] != b[:count]).nonzero()[0]
    return int(differ[0]) if len(differ) else count


class LocalLM(LMBase):
    """A llama.cpp model running in this process; it is its own tokenizer."""

    supports_grammar = True
    prefers_compact = True  # small models with small windows (see policy.py)

    @property
    def tokenizer(self) -> LocalLM:  # type: ignore[override]
        return self

    def __init__(
        self, model: str, *, name: str | None = None, role: str = "root", **options: Any
    ) -> None:
        self.model = model
        self.name = name or f"local:{model}"
        self.role = role  # its slot of the shared context (root, sub, child)
        self.options = options
        self.path, trained = resolve_model_file(model, _stderr_progress)
        self.context_window = int(options.get("n_ctx") or trained or 8192)
        self.threads: int | None = options.get("threads")  # None: the idle cores, per call
        self.threads_batch: int | None = options.get("threads_batch", self.threads)
        self.max_tokens = int(options.get("max_tokens", DEFAULT_MAX_TOKENS))
        self.temperature = float(options.get("temperature", 0.0))
        self._grammars: dict[str, Any] = {}

    def _model(self) -> _Loaded:
        threads = self.threads or usable_cores()
        window = self.context_window
        assert window is not None  # set from n_ctx or the model's training length
        return load_llama(self.path, window, threads, self.threads_batch or threads)

    def _llama(self) -> Any:
        return self._model().llama

    def count_tokens(self, messages: list[Message]) -> int:
        """Exact prompt tokens of the message contents (template tokens not included)."""
        llama = self._llama()
        text = "\n".join(m.get("content", "") for m in messages)
        return len(llama.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def truncate(self, text: str, max_tokens: int) -> str:
        """The first ``max_tokens`` tokens of ``text`` (for baselines that must fit a window)."""
        llama = self._llama()
        tokens = llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)
        if len(tokens) <= max_tokens:
            return text
        return llama.detokenize(tokens[: max(0, max_tokens)]).decode("utf-8", errors="ignore")

    async def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int | None = None,
        stop: list[str] | None = None,
        grammar: str | None = None,
    ) -> LMResponse:
        cancelled = threading.Event()
        try:
            return await asyncio.to_thread(
                self._complete, messages, max_tokens, stop, grammar, cancelled
            )
        except asyncio.CancelledError:
            cancelled.set()  # the thread cannot be killed: llama.cpp polls this and stops
            raise

    def _complete(
        self,
        messages: list[Message],
        max_tokens: int | None,
        stop: list[str] | None,
        grammar: str | None,
        cancelled: threading.Event,
    ) -> LMResponse:
        model = self._model()
        kwargs: dict[str, Any] = {
            "messages": messages,
            "max_tokens": max_tokens or self.max_tokens,
            "temperature": self.temperature,
            "stop": stop or [],
        }
        if grammar:
            kwargs["grammar"] = self._grammar(model, grammar)
        with model.lock:  # tokenizing needs no lock: the vocabulary is read-only
            self._set_threads(model.llama)
            model.slots.lend(model.llama, self.role)
            held = model.llama.input_ids[: model.llama.n_tokens].copy()
            model.cancelled = cancelled
            try:
                response = model.llama.create_chat_completion(**kwargs)
            except ValueError as exc:
                if "exceed context window" in str(exc):
                    raise ContextOverflowError(f"{self.name}: {exc}") from None
                raise LMError(f"{self.name}: {exc}") from None
            except RuntimeError as exc:  # llama_decode stopped: cancelled, or it failed
                model.slots.discard()
                why = "cancelled" if cancelled.is_set() else str(exc)
                raise LMError(f"{self.name}: {why}") from None
            finally:
                model.cancelled = None
            usage = response.get("usage") or {}
            prompt = int(usage.get("prompt_tokens", 0))
            reused = _common_prefix(held, model.llama.input_ids[:prompt])
            model.slots.ended(model.llama, self.role, prompt, reused)
        choice = response["choices"][0]
        return LMResponse(
            text=choice["message"].get("content") or "",
            usage=Usage(
                input_tokens=prompt,
                output_tokens=usage.get("completion_tokens", 0),
                calls=1,
                cost_usd=0.0,  # runs on this machine
                cached_input_tokens=max(0, min(reused, prompt - 1)),  # the last is decoded again
            ),
            model=self.name,
            finish_reason=choice.get("finish_reason"),
        )

    def _set_threads(self, llama: Any) -> None:
        """The operator's thread counts, else the cores idle now."""
        import llama_cpp

        threads = self.threads or idle_cores()
        llama_cpp.llama_set_n_threads(llama._ctx.ctx, threads, self.threads_batch or threads)

    def _grammar(self, model: Any, text: str) -> Any:
        """``text`` as a llama.cpp grammar, parsed once first: an unparsable grammar would
        crash the process inside sampling (llama-cpp-python passes the NULL sampler on),
        so it is this call's LMError instead. The last GRAMMARS_KEPT checked are kept."""
        import llama_cpp

        if text not in self._grammars:
            vocab = llama_cpp.llama_model_get_vocab(model.llama.model)
            with model.lock, _quiet_stderr():
                sampler = llama_cpp.llama_sampler_init_grammar(vocab, text.encode(), b"root")
                if sampler:
                    llama_cpp.llama_sampler_free(sampler)
            if not sampler:
                raise LMError(f"{self.name}: the answer grammar does not parse")
            if len(self._grammars) >= GRAMMARS_KEPT:
                self._grammars.pop(next(iter(self._grammars)))
            self._grammars[text] = llama_cpp.LlamaGrammar.from_string(text, verbose=False)
        return self._grammars[text]

    async def aclose(self) -> None:
        return None  # the model stays loaded for the next run in this process
