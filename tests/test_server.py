"""The HTTP API on a real uvicorn server (loopback): runs, SSE, cancel, persistence, auth."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from rlmx.server.app import ServerSettings, serve_in_thread
from rlmx.server.store import NewRun, SQLiteStore, import_trajectory
from rlmx.server.stores import open_store

from conftest import repl

SLOW_CELL = repl("import time\nprint('started', flush=True)\ntime.sleep(60)")


def parse_sse(lines: list[str]) -> list[dict[str, Any]]:
    """Events of an SSE body: {"id", "event", "data"} (comments and pings skipped)."""
    events, current = [], {}
    for line in lines:
        if not line:
            if "data" in current:
                events.append(current)
            current = {}
            continue
        field, _, value = line.partition(":")
        if field in ("id", "event", "data"):
            current[field] = value[1:] if value.startswith(" ") else value
    if "data" in current:
        events.append(current)
    return events


def stream(client: httpx.Client, run_id: str, **params: Any) -> list[dict[str, Any]]:
    with client.stream("GET", f"/stream/{run_id}", params=params, timeout=60) as response:
        assert response.status_code == 200
        return parse_sse(list(response.iter_lines()))


def start(client: httpx.Client, **body: Any) -> str:
    response = client.post("/query", json=body)
    assert response.status_code == 200, response.text
    return response.json()["run_id"]


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> ServerSettings:
    """A server on the embedded SQLite store, and one on a fresh PostgreSQL database."""
    (tmp_path / "root").mkdir()
    store = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    return ServerSettings(data_dir=tmp_path / "data", data_root=tmp_path / "root",
                          allow_replay=True, store=store)  # fmt: skip


@pytest.fixture
def chatty(replay) -> str:
    return replay(
        {
            "root": [repl("x = llm_query('say hi')\nprint(x)"), repl("FINAL(x + '!')")],
            "sub": {"say hi": "hello"},
        }
    )


def test_health_and_a_run_streamed_in_order(settings, chatty) -> None:
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        health = client.get("/health").json()
        assert health["status"] == "ok" and health["sandbox"] in ("bwrap", "process")
        run_id = start(client, query="greet", context="some text", root=chatty)
        events = stream(client, run_id)
        types = [e["event"] for e in events]
        assert types[0] == "run_started" and types[-1] == "run_finished"
        assert {"llm_call", "cell_started", "code_executed", "sub_call"} <= set(types)
        assert [int(e["id"]) for e in events] == list(range(len(events)))
        assert json.loads(events[-1]["data"])["answer"] == "hello!"
        run = client.get(f"/runs/{run_id}").json()
        assert (run["status"], run["answer"], run["source"]) == ("final", "hello!", "api")
        assert [e["type"] for e in run["events"]] == types
        assert run["usage"]["total"]["calls"] == 3
        listed = client.get("/runs").json()["runs"]
        assert [r["id"] for r in listed] == [run_id]
        jsonl = client.get(f"/runs/{run_id}/trajectory.jsonl").text.splitlines()
        assert [json.loads(line)["type"] for line in jsonl] == types


def test_late_and_resuming_subscribers_miss_nothing(settings, replay) -> None:
    spec = replay([repl("import time\ntime.sleep(1.5)\nprint('a')"), repl("FINAL('ok')")])
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        run_id = start(client, query="q", context="c", root=spec)
        live = stream(client, run_id)  # joined while the first cell sleeps
        late = stream(client, run_id)  # joined after the end: replayed from the store
        assert [e["data"] for e in live] == [e["data"] for e in late]
        resumed = stream(client, run_id, after=2)
        assert [e["id"] for e in resumed] == [e["id"] for e in live[3:]]
        headers = {"Last-Event-ID": "4"}
        with client.stream("GET", f"/stream/{run_id}", headers=headers) as response:
            by_header = parse_sse(list(response.iter_lines()))
        assert by_header[0]["id"] == "5"


def test_cancel_stops_the_run_and_ends_its_stream(settings, replay) -> None:
    spec = replay([SLOW_CELL])
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        run_id = start(client, query="q", context="c", root=spec)
        seen = []
        with client.stream("GET", f"/stream/{run_id}") as response:
            lines = response.iter_lines()
            for line in lines:
                seen.append(line)
                if line == "event: cell_started":
                    assert client.post(f"/runs/{run_id}/cancel").json()["status"] == "cancelled"
            events = parse_sse(seen)
        final = json.loads(events[-1]["data"])
        assert (final["type"], final["status"]) == ("run_finished", "cancelled")
        assert client.post(f"/runs/{run_id}/cancel").status_code == 409
        assert client.delete(f"/runs/{run_id}").status_code == 200
        assert client.get(f"/runs/{run_id}").status_code == 404
        assert client.delete(f"/runs/{run_id}").status_code == 404


def test_runs_survive_a_restart_and_in_flight_runs_are_interrupted(settings, chatty, replay):
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        done = start(client, query="greet", context="text", root=chatty)
        stream(client, done)
        slow = start(client, query="q", context="c", root=replay([SLOW_CELL]))
        with client.stream("GET", f"/stream/{slow}") as response:
            for line in response.iter_lines():
                if line == "event: cell_started":
                    break

    # a crashed server leaves a run marked running: the next start closes it too
    async def crash() -> None:
        store = open_store(settings.store, settings.data_dir)
        await store.connect()
        await store.create_run(NewRun("crashed00000", "q", "api", None, None, {},
                                      status="running", replica="gone"))  # fmt: skip
        await store.close()

    asyncio.run(crash())
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=60) as client:
        kept = client.get(f"/runs/{done}").json()
        assert (kept["status"], kept["answer"]) == ("final", "hello!")
        assert kept["events"][-1]["type"] == "run_finished"
        for run_id in (slow, "crashed00000"):
            run = client.get(f"/runs/{run_id}").json()
            assert run["status"] == "interrupted", run_id
            final = stream(client, run_id)[-1]
            assert json.loads(final["data"])["status"] == "interrupted"


def test_token_guards_every_route_but_health(settings, chatty) -> None:
    settings.token = "s3cret"
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        assert client.get("/health").status_code == 200
        for method, path in [("GET", "/runs"), ("POST", "/query"), ("GET", "/stream/x"),
                             ("GET", "/v1/models"), ("POST", "/v1/chat/completions"),
                             ("GET", "/video/x"), ("DELETE", "/runs/x")]:  # fmt: skip
            response = client.request(method, path)
            assert response.status_code == 401, path
            wrong = client.request(method, path, headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401, path
        good = {"Authorization": "Bearer s3cret"}
        assert client.get("/runs", headers=good).status_code == 200
        assert client.get("/runs", params={"token": "s3cret"}).status_code == 200


def test_paths_resolve_only_under_the_data_root(settings, chatty, tmp_path) -> None:
    (settings.data_root / "notes.txt").write_text("inside")
    (tmp_path / "secret.txt").write_text("outside")
    os.symlink(tmp_path / "secret.txt", settings.data_root / "link.txt")
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        for bad in ["../secret.txt", str(tmp_path / "secret.txt"), "link.txt", "sub/../../x"]:
            response = client.post("/query", json={"query": "q", "path": bad, "root": chatty})
            assert response.status_code == 400, bad
            assert "outside" in response.json()["detail"] or "no such" in response.json()["detail"]
        run_id = start(client, query="greet", path="notes.txt", root=chatty)
        assert json.loads(stream(client, run_id)[0]["data"])["context"]["total_chars"] == 6


def test_uploads_and_their_size_limit(settings, chatty) -> None:
    settings.max_upload_bytes = 1000
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        fields = {"query": "greet", "root": chatty, "max_iterations": "5"}
        ok = client.post("/query", data=fields, files={"file": ("../../a b.txt", b"x" * 500)})
        assert ok.status_code == 200, ok.text
        run_id = ok.json()["run_id"]
        assert json.loads(stream(client, run_id)[-1]["data"])["answer"] == "hello!"
        run = client.get(f"/runs/{run_id}", params={"events": False}).json()
        assert run["context_file"] == "a_b.txt"  # its name only, never a host path
        assert run["settings"]["max_iterations"] == 5 and "events" not in run
        big = client.post("/query", data=fields, files={"file": ("big.txt", b"x" * 5000)})
        assert big.status_code == 413 and "limit" in big.json()["detail"]
        assert os.listdir(settings.data_dir / "uploads") == [run_id]
        assert client.get(f"/video/{run_id}").status_code == 404  # a text file is no video


def test_video_is_served_with_range_requests(settings, replay) -> None:
    spec = replay([repl("FINAL(len(context))")])
    data = os.urandom(4096)
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        response = client.post(
            "/query", data={"query": "q", "root": spec}, files={"file": ("clip.mp4", data)}
        )
        run_id = response.json()["run_id"]
        part = client.get(f"/video/{run_id}", headers={"Range": "bytes=100-199"})
        assert part.status_code == 206 and part.content == data[100:200]
        assert part.headers["content-type"] == "video/mp4"
        assert client.get(f"/video/{run_id}").content == data


def test_bad_requests_get_clear_errors(settings, chatty) -> None:
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        cases = [
            ({"query": "q", "root": chatty}, 400, "exactly one of"),
            ({"query": "q", "context": "c", "path": "x", "root": chatty}, 400, "exactly one"),
            ({"query": "q", "context": "c", "root": "nosuch:model"}, 404, "not allowed"),
            ({"query": "q", "sample": "nosuch", "root": chatty}, 400, "unknown sample"),
            ({"query": "", "context": "c"}, 422, "at least 1"),
            ({"query": "q", "context": "c", "max_depth": 0}, 422, "greater than"),
        ]
        for body, status, words in cases:
            response = client.post("/query", json=body)
            assert response.status_code == status, body
            assert words in json.dumps(response.json()["detail"]), response.text
        json_type = {"content-type": "application/json"}
        garbage = client.post("/query", content=b"{not json", headers=json_type)
        assert garbage.status_code == 422
        other = client.post("/query", content=b"{}", headers={"content-type": "x"})
        assert other.status_code == 415  # only JSON and multipart bodies are parsed
        assert client.get("/runs/nosuch").status_code == 404
        assert client.get("/stream/nosuch").status_code == 404
        assert client.post("/runs/nosuch/cancel").status_code == 404
        samples = client.get("/samples").json()
        assert {s["name"] for s in samples} == {"haystack", "server-log"}


def test_twenty_runs_with_ten_subscribers_each_lose_no_events(settings, chatty) -> None:
    settings.max_runs = 8
    settings.streams_per_client = 200  # one test client holds them all

    async def main(url: str) -> None:
        limits = httpx.Limits(max_connections=300)
        async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
            run_ids = [
                (await client.post("/query", json={"query": "q", "context": f"c{i}",
                                                   "root": chatty})).json()["run_id"]
                for i in range(20)
            ]  # fmt: skip

            async def subscribe(run_id: str) -> list[dict[str, Any]]:
                async with client.stream("GET", f"/stream/{run_id}") as response:
                    return parse_sse([line async for line in response.aiter_lines()])

            streams = await asyncio.gather(*(subscribe(r) for r in run_ids for _ in range(10)))
            for index, events in enumerate(streams):
                run_id = run_ids[index // 10]
                stored = (await client.get(f"/runs/{run_id}")).json()["events"]
                assert [json.loads(e["data"]) for e in events] == stored
                assert stored[-1]["type"] == "run_finished" and stored[-1]["answer"] == "hello!"

    with serve_in_thread(settings) as url:
        asyncio.run(main(url))


def test_the_openapi_schema_has_every_request_body(settings: ServerSettings) -> None:
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        schema = client.get("/openapi.json").json()
    query = schema["paths"]["/query"]["post"]["requestBody"]["content"]
    json_fields = query["application/json"]["schema"]["properties"]
    form_fields = query["multipart/form-data"]["schema"]["properties"]
    assert {"query", "context", "path", "sample", "root", "sub", "max_depth"} <= set(json_fields)
    assert set(form_fields) == set(json_fields) | {"file"}
    chat = schema["paths"]["/v1/chat/completions"]["post"]["requestBody"]["content"]
    assert {"model", "messages", "stream"} <= set(chat["application/json"]["schema"]["properties"])
    run_id = schema["paths"]["/runs/{run_id}"]["get"]["parameters"][0]
    assert run_id["name"] == "run_id" and run_id["schema"]["pattern"].startswith("^[A-Za-z0-9")


def test_an_imported_trajectory_keeps_when_its_run_started(tmp_path: Path, replay) -> None:
    """`rlmx view` imports a saved trajectory: created is the run's start, not now."""
    import time

    from rlmx import RLM

    spec = replay([repl("FINAL('x')")])
    result = RLM(spec, trajectory=tmp_path / "t.jsonl").completion("c", "q")
    time.sleep(0.05)

    async def imported() -> dict[str, Any] | None:
        store = SQLiteStore(tmp_path / "runs.sqlite3")
        await store.connect()
        try:
            return await store.get_run(await import_trajectory(store, tmp_path / "t.jsonl"))
        finally:
            await store.close()

    run = asyncio.run(imported())
    assert run is not None and run["id"] == result.run_id
    assert run["created"] <= run["finished"] < time.time() - 0.04
