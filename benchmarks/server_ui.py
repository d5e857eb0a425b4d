"""Server and web UI under load: SSE fan-out, and the viewer with thousands of sub-calls.

1. 20 runs (replay root, 64 batched sub-calls each) started at once with 10 SSE
   subscribers each: seconds until every subscriber has every event; on the SQLite store,
   then on PostgreSQL (a server started as the tests start it, tests/postgres_server.py).
2. The web UI in headless Chromium opening a finished run with N sub-calls (N = 1,000 and
   5,000): seconds until every sub-call row is in the page, then until a click on the
   last row shows its prompt (the page must stay responsive).
Medians of REPEATS runs; the server is a real uvicorn on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from rlmx.server.app import ServerSettings, serve_in_thread

from common import write_section

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from postgres_server import create_database, postgres_server  # the tests' server

REPEATS = 3
RUNS, SUBSCRIBERS, CALLS_PER_RUN = 20, 10, 64
UI_SIZES = (1_000, 5_000)


def replay_spec(folder: Path, calls: int) -> str:
    script = {
        "root": [
            f"```repl\nr = llm_query_batched([f'item {{i}}' for i in range({calls})])\n```",
            "```repl\nFINAL(len(r))\n```",
        ],
        "sub": {"item": "ok"},
    }
    path = folder / f"replay-{calls}.json"
    path.write_text(json.dumps(script))
    return f"replay:{path}"


async def fan_out(url: str, spec: str) -> tuple[float, int]:
    limits = httpx.Limits(max_connections=RUNS * SUBSCRIBERS + 10)
    async with httpx.AsyncClient(base_url=url, timeout=300, limits=limits) as client:
        started = time.perf_counter()
        body = {"query": "q", "context": "c", "root": spec}
        run_ids = [(await client.post("/query", json=body)).json()["run_id"] for _ in range(RUNS)]

        async def subscribe(run_id: str) -> int:
            async with client.stream("GET", f"/stream/{run_id}") as response:
                return sum([1 async for line in response.aiter_lines() if line.startswith("id:")])

        counts = await asyncio.gather(*(subscribe(r) for r in run_ids for _ in range(SUBSCRIBERS)))
        seconds = time.perf_counter() - started
        stored = [len((await client.get(f"/runs/{r}")).json()["events"]) for r in run_ids]
        assert all(c == stored[i // SUBSCRIBERS] for i, c in enumerate(counts)), "lost events"
        return seconds, sum(counts)


@contextlib.contextmanager
def postgres_database() -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with postgres_server(port) as base:
        yield create_database(base, "bench")


def fan_out_on_postgres(folder: Path) -> list[tuple[float, int]]:
    with postgres_database() as url:
        settings = ServerSettings(data_dir=folder / "pg-data", data_root=folder, max_runs=8,
                                  allow_replay=True, store=url)  # fmt: skip
        with serve_in_thread(settings) as server:
            spec = replay_spec(folder, CALLS_PER_RUN)
            return [asyncio.run(fan_out(server, spec)) for _ in range(REPEATS)]


def ui_timing(browser, url: str, run_id: str, calls: int) -> tuple[float, float]:
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    started = time.perf_counter()
    page.goto(f"{url}/#/run/{run_id}")
    page.wait_for_function(
        f"document.querySelectorAll('.subcall').length === {calls}", timeout=300_000
    )
    loaded = time.perf_counter() - started
    started = time.perf_counter()
    last = page.locator(".subcall").last
    last.locator("summary").click()
    last.locator(".prompt").wait_for()
    clicked = time.perf_counter() - started
    page.close()
    return loaded, clicked


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        settings = ServerSettings(
            data_dir=folder / "data", data_root=folder, max_runs=8, allow_replay=True
        )
        with serve_in_thread(settings) as url:
            spec = replay_spec(folder, CALLS_PER_RUN)
            fan = [asyncio.run(fan_out(url, spec)) for _ in range(REPEATS)]
            run_ids = {}
            with httpx.Client(base_url=url, timeout=600) as client:
                for calls in UI_SIZES:
                    body = {"query": "q", "context": "c", "root": replay_spec(folder, calls)}
                    run_ids[calls] = client.post("/query", json=body).json()["run_id"]
                    with client.stream("GET", f"/stream/{run_ids[calls]}") as response:
                        for _ in response.iter_lines():
                            pass
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path="/usr/bin/chromium",
                    args=["--headless", "--no-sandbox", "--disable-background-networking"],
                )
                ui = {n: [ui_timing(browser, url, run_ids[n], n) for _ in range(REPEATS)]
                      for n in UI_SIZES}  # fmt: skip
                browser.close()
        fan_pg = fan_out_on_postgres(folder)
    rows = [
        f"| {RUNS} runs x {SUBSCRIBERS} SSE subscribers ({runs[0][1]:,} events delivered, none "
        f"lost), {store} | {statistics.median(s for s, _ in runs):.2f} s |"
        for store, runs in (("SQLite", fan), ("PostgreSQL", fan_pg))
    ]
    for n in UI_SIZES:
        rows.append(f"| web UI: open a run with {n:,} sub-calls, all rows rendered | "
                    f"{statistics.median(t for t, _ in ui[n]):.2f} s |")  # fmt: skip
        rows.append(f"| web UI: then open the last sub-call ({n:,} rows on the page) | "
                    f"{statistics.median(c for _, c in ui[n]) * 1000:.0f} ms |")  # fmt: skip
    write_section(
        "Server and web UI",
        f"Median of {REPEATS}; replay models, real uvicorn on loopback, Debian Chromium "
        "headless via Playwright.\n\n| what | time |\n|---|---|\n" + "\n".join(rows),
    )


if __name__ == "__main__":
    main()
