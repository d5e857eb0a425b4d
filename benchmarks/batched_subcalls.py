"""256 batched sub-calls against a loopback server that sleeps 200 ms per request.

Target (issue 2): with concurrency 32, <= 1.25x the ideal 256 / 32 * 0.2 s = 1.6 s.
The root is a replay model; sub-calls go through the real OpenAI-compatible client.
"""

from __future__ import annotations

import contextlib
import json
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from rlmx import RLM

from common import write_section

SERVER = Path(__file__).resolve().parents[1] / "tests" / "chat_server.py"

N, CONCURRENCY, DELAY, REPEATS = 256, 32, 0.2, 5
CELL = f"r = llm_query_batched([f'p{{i}}' for i in range({N})])\nprint(sum(x == 'ok' for x in r))"


@contextlib.contextmanager
def server_process() -> Iterator[str]:
    """The chat server in its own process, so it does not share the client's GIL."""
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), "--sleep", str(DELAY)], stdout=subprocess.PIPE, text=True
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.kill()
        proc.wait()


def once(tmp: Path, base_url: str) -> float:
    spec_file = tmp / "root.json"
    spec_file.write_text(json.dumps([f"```repl\n{CELL}\n```", "```repl\nFINAL(len(r))\n```"]))
    events: list = []
    rlm = RLM(
        f"replay:{spec_file}",
        f"bench:m@{base_url}",
        concurrency=CONCURRENCY,
        on_event=events.append,
    )
    result = rlm.completion("ctx", "q?")
    assert result.answer == str(N) and result.usage.sub.calls == N, result
    cell = next(e for e in events if e.type == "code_executed")
    assert cell.output.strip() == str(N), cell.output
    return cell.seconds


def main() -> None:
    ideal = N / CONCURRENCY * DELAY
    with tempfile.TemporaryDirectory() as tmp, server_process() as base_url:
        seconds = [once(Path(tmp), base_url) for _ in range(REPEATS)]
    med = statistics.median(seconds)
    body = (
        "| sub-calls | concurrency | server delay | ideal s | median s | min-max s | ratio |\n"
        "|---|---|---|---|---|---|---|\n"
        f"| {N} | {CONCURRENCY} | {DELAY * 1000:.0f} ms | {ideal:.2f} | {med:.2f} | "
        f"{min(seconds):.2f}-{max(seconds):.2f} | {med / ideal:.2f}x |\n\n"
        f"{REPEATS} runs; one `llm_query_batched` cell timed by the worker; the server is "
        "a threaded HTTP server on 127.0.0.1 in its own process (tests/chat_server.py). "
        "Target: <= 1.25x ideal."
    )
    write_section("Batched sub-calls", body)


if __name__ == "__main__":
    main()
