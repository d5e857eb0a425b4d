"""Live progress of a run on a terminal (rich), or plain lines when not a TTY."""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.syntax import Syntax
from rich.text import Text

from .terminal import for_stream, visible

EXCERPT_LINES = 12


class _Tally:
    """Counters shown in the status line, summed over the run tree."""

    def __init__(self) -> None:
        self.iteration = 0
        self.cells = 0
        self.sub_calls = 0
        self.sub_errors = 0
        self.children = 0
        self.tokens = 0
        self.cost = 0.0
        self.priced = False
        self.waiting: tuple[str, float] | None = None  # what the root run waits for, since
        self.batch: list[int] | None = None  # the latest batch: [size, done, concurrency]

    def take(self, event: Any) -> None:
        if event.depth == 0 and event.iteration:
            self.iteration = event.iteration
        kind = event.type
        if event.depth == 0:
            self._track_wait(kind, event)
        if kind in ("llm_call", "sub_call"):
            self.tokens += event.usage.get("total_tokens", 0)
            if event.usage.get("cost_usd") is not None:
                self.cost += event.usage["cost_usd"]
                self.priced = True
        if kind == "code_executed":
            self.cells += 1
        elif kind == "sub_batch":
            self.batch = [event.size, 0, event.concurrency]
        elif kind == "sub_call":
            self.sub_calls += 1
            self.sub_errors += event.error is not None
            if self.batch is not None and event.batch_index is not None:
                self.batch[1] += 1
                if self.batch[1] >= self.batch[0]:
                    self.batch = None
        elif kind == "run_started" and event.depth > 0:
            self.children += 1

    def _track_wait(self, kind: str, event: Any) -> None:
        """A long root turn must not look frozen: remember what the run is waiting for."""
        if kind in ("run_started", "code_executed"):
            self.waiting = ("waiting for the root model", time.monotonic())
        elif kind == "cell_started":
            self.waiting = (f"running cell {event.cell}", time.monotonic())
        elif kind in ("llm_call", "final_answer", "run_finished"):
            self.waiting = None

    def line(self, now: float | None = None) -> str:
        cost = f"${self.cost:.4f}" if self.priced else "cost n/a"
        errors = f" ({self.sub_errors} failed)" if self.sub_errors else ""
        text = (
            f"iteration {self.iteration} | cells {self.cells} | sub-calls {self.sub_calls}{errors}"
            f" | child runs {self.children} | tokens {self.tokens:,} | {cost}"
        )
        if self.batch is not None:
            size, done, limit = self.batch
            running = min(limit, size - done)
            text += (
                f" | batch {done}/{size} done, {running} running, {size - done - running} queued"
            )
        if self.waiting is not None:
            what, since = self.waiting
            text += f" | {what}, {(now or time.monotonic()) - since:.0f} s"
        return text


def _excerpt(text: str, lines: int = EXCERPT_LINES) -> str:
    parts = text.rstrip().splitlines()
    if len(parts) <= lines:
        return "\n".join(parts)
    return "\n".join([*parts[: lines - 1], f"... ({len(parts) - lines + 1} more lines)"])


class PlainProgress:
    """One line per event, for logs and pipes."""

    def __init__(self, stream: TextIO | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tally = _Tally()

    def __enter__(self) -> PlainProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __call__(self, event: Any) -> None:
        self.tally.take(event)
        indent = "  " * event.depth
        kind = event.type
        if kind == "run_started":
            text = f"run {event.run_id} started ({event.context['total_chars']:,} chars of context)"
            if event.depth == 0:
                text += "; waiting for the root model"
        elif kind == "llm_call":
            text = f"iteration {event.iteration}: root replied ({event.seconds:.1f} s)"
        elif kind == "code_executed":
            status = "error" if event.error else "ok"
            text = f"cell {event.cell}: {status} ({event.seconds:.2f} s)"
            if event.depth == 0:
                text += "; waiting for the root model"
        elif kind == "sub_batch":
            text = f"batch of {event.size} sub-calls sent (at most {event.concurrency} at once)"
        elif kind == "sub_call":
            text = f"sub-call {event.call_id}: {'failed' if event.error else 'ok'}"
        elif kind == "final_answer":
            text = "final answer found"
        elif kind == "run_finished":
            text = f"run {event.run_id} finished: {event.status} | {self.tally.line()}"
        elif kind == "error":
            text = f"error: {event.message}"
        else:
            return
        print(for_stream(f"[rlmx] {indent}{text}", self.stream), file=self.stream, flush=True)


class LiveProgress:
    """A rich panel: the latest code cell, its output, and the tree's counters."""

    def __init__(self, console: Console | None = None) -> None:
        self.console = console or Console(stderr=True)
        self.tally = _Tally()
        self.code = ""
        self.output = ""
        # rendered on every refresh, so the seconds spent waiting keep counting
        self.live = Live(
            console=self.console, get_renderable=self._render, refresh_per_second=4,
            transient=False,
        )  # fmt: skip

    def __enter__(self) -> LiveProgress:
        self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.live.__exit__(None, None, None)

    def __call__(self, event: Any) -> None:
        self.tally.take(event)
        if event.type == "cell_started" and event.depth == 0:  # shown on a terminal only
            self.code, self.output = visible(event.code), "(running...)"
        elif event.type == "code_executed" and event.depth == 0:
            self.code, self.output = visible(event.code), visible(event.output)
        self.live.refresh()

    def _render(self) -> Panel:
        parts: list[Any] = [Text(self.tally.line(), style="bold cyan")]
        if self.code:
            parts.append(Syntax(_excerpt(self.code), "python", theme="ansi_dark"))
            parts.append(Text(_excerpt(self.output) or "(no output)", style="dim"))
        return Panel(Group(*parts), title="rlmx", border_style="blue")


def progress_for(stream: TextIO) -> LiveProgress | PlainProgress:
    """Live display on a terminal, plain lines otherwise."""
    return LiveProgress() if stream.isatty() else PlainProgress(stream)
