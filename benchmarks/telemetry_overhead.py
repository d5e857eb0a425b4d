"""What OpenTelemetry export costs per iteration: off (the default: no sink, nothing
imported) against on, exporting to a loopback OTLP/HTTP receiver that discards the spans.

30 iterations of a replay root (each a cell with one sub-call), median of 5 runs each.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from rlmx import RLM

from common import write_section

ITERATIONS = 30
REPEATS = 5


class Discard(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        return None


def script(path: Path) -> str:
    cell = "```repl\nx = llm_query('sub {i}')\nprint(x)\n```"
    replies = [cell.format(i=i) for i in range(ITERATIONS - 1)] + ["```repl\nFINAL(x)\n```"]
    path.write_text(json.dumps({"root": replies, "sub": {"sub": "ok"}}))
    return f"replay:{path}"


def seconds_per_iteration(spec: str, telemetry: object) -> float:
    rlm = RLM(spec, max_iterations=ITERATIONS, telemetry=telemetry)
    started = time.perf_counter()
    result = rlm.completion("the context", "q?")
    assert result.status == "final" and result.iterations == ITERATIONS, result
    return (time.perf_counter() - started) / ITERATIONS


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    with tempfile.TemporaryDirectory() as tmp:
        spec = script(Path(tmp) / "s.json")
        seconds_per_iteration(spec, False)  # warm up: imports, bwrap probe
        off = [seconds_per_iteration(spec, False) for _ in range(REPEATS)]
        on = [seconds_per_iteration(spec, url) for _ in range(REPEATS)]
    server.shutdown()
    off_ms, on_ms = statistics.median(off) * 1000, statistics.median(on) * 1000
    write_section(
        "Telemetry cost",
        f"{ITERATIONS} iterations of a replay root, each a cell with one sub-call; median "
        f"of {REPEATS} runs each; whole run time per iteration (sandbox start included).\n\n"
        "| telemetry | ms per iteration |\n|---|---|\n"
        f"| off (default) | {off_ms:.1f} |\n| on, OTLP/HTTP to 127.0.0.1 | {on_ms:.1f} |\n\n"
        f"Exporting costs {on_ms - off_ms:+.1f} ms per iteration ({on_ms / off_ms - 1:+.0%}); "
        "off, no sink exists and opentelemetry is not imported.",
    )


if __name__ == "__main__":
    main()
