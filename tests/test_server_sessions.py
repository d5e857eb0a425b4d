"""Sessions over HTTP on a real uvicorn server (loopback): open, ask, stream, follow-ups on
a finished run's context, the OpenAI endpoint's ``session``, caps and the idle timeout."""

from __future__ import annotations

import json
import time
from pathlib import Path

import httpx
import pytest
from openai import NotFoundError, OpenAI
from test_server import start, stream

from rlmx.server.app import ServerSettings, serve_in_thread

from conftest import repl

COUNTER = repl("n = globals().get('n', 0) + 1\nFINAL(f'{n}:{len(context)}:{len(history)}')")


@pytest.fixture
def settings(tmp_path: Path) -> ServerSettings:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "doc.txt").write_text("twelve chars")
    return ServerSettings(
        data_dir=tmp_path / "data", data_root=tmp_path / "root", allow_replay=True,
        max_sessions=2,
    )  # fmt: skip


def ask(client: httpx.Client, session_id: str, query: str) -> dict:
    response = client.post(f"/sessions/{session_id}/ask", json={"query": query})
    assert response.status_code == 200, response.text
    run_id = response.json()["run_id"]
    final = json.loads(stream(client, run_id)[-1]["data"])
    assert final["type"] == "run_finished"
    return client.get(f"/runs/{run_id}?events=false").json()


def test_a_session_keeps_its_repl_across_asks(settings, replay) -> None:
    spec = replay([COUNTER])
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        opened = client.post("/sessions", json={"path": "doc.txt", "root": spec})
        assert opened.status_code == 200, opened.text
        session_id = opened.json()["session_id"]
        first, second = ask(client, session_id, "one?"), ask(client, session_id, "two?")
        assert (first["answer"], second["answer"]) == ("1:12:0", "2:12:1")
        assert second["settings"]["session_id"] == session_id
        shown = client.get(f"/sessions/{session_id}").json()
        assert shown["runs"] == [first["id"], second["id"]]
        assert [h["answer"] for h in shown["history"]] == ["1:12:0", "2:12:1"]
        assert client.delete(f"/sessions/{session_id}").status_code == 200
        assert client.post(f"/sessions/{session_id}/ask", json={"query": "x"}).status_code == 404
        assert client.get(f"/runs/{first['id']}").status_code == 200  # its runs stay


def test_follow_up_questions_on_a_finished_runs_context(settings, replay) -> None:
    spec = replay([COUNTER])
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        run_id = start(client, query="q", context="pasted text", root=spec)
        stream(client, run_id)
        opened = client.post("/sessions", json={"run_id": run_id})  # its context and models
        assert opened.status_code == 200, opened.text
        answer = ask(client, opened.json()["session_id"], "follow-up?")
        assert answer["answer"] == "1:11:0" and answer["root"] == spec
        refused = client.post("/sessions", json={"run_id": run_id, "context": "x"})
        assert refused.status_code == 400
        assert client.post("/sessions", json={"run_id": "nope"}).status_code == 404
        assert client.post("/sessions", json={"run_id": "../etc"}).status_code == 422


def test_caps_bad_contexts_and_the_idle_timeout(settings, replay) -> None:
    spec = replay([COUNTER])
    settings.session_idle_seconds = 0.3
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        bad = client.post("/sessions", json={"path": "../../etc/passwd", "root": spec})
        assert bad.status_code == 400 and "outside the server's data root" in bad.text
        assert client.post("/sessions", json={"root": spec}).status_code == 400
        not_allowed = client.post("/sessions", json={"context": "x", "root": "openai:gpt-5"})
        assert not_allowed.status_code == 404
        ids = [client.post("/sessions", json={"context": "x", "root": spec}).json()["session_id"]
               for _ in range(2)]  # fmt: skip
        full = client.post("/sessions", json={"context": "x", "root": spec})
        assert full.status_code == 429 and "2 sessions are open" in full.text
        deadline = time.monotonic() + 30
        while client.get("/sessions").json()["sessions"] and time.monotonic() < deadline:
            time.sleep(0.1)
        assert all(client.get(f"/sessions/{i}").status_code == 404 for i in ids)
        assert client.post("/sessions", json={"context": "x", "root": spec}).status_code == 200


def test_the_openai_endpoint_maps_a_conversation_to_a_session(settings, replay) -> None:
    spec = replay([COUNTER])
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        session_id = client.post("/sessions", json={"context": "abc", "root": spec}).json()[
            "session_id"
        ]
        openai = OpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
        messages = [{"role": "user", "content": "first"}]
        for expected in ("1:3:0", "2:3:1"):
            reply = openai.chat.completions.create(
                model="rlmx", messages=messages, extra_body={"session": session_id}
            )
            assert reply.choices[0].message.content == expected
            messages += [{"role": "assistant", "content": expected},
                         {"role": "user", "content": "again"}]  # fmt: skip
        with pytest.raises(NotFoundError, match="no open session"):
            openai.chat.completions.create(
                model="rlmx", messages=messages, extra_body={"session": "gone"}
            )


def test_sessions_need_the_token_and_ids_are_checked(settings, replay) -> None:
    settings.token = "s3cret"
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        assert client.post("/sessions", json={"context": "x"}).status_code == 401
        assert client.get("/sessions").status_code == 401
        auth = {"Authorization": "Bearer s3cret"}
        assert client.get("/sessions/..%2Fx", headers=auth).status_code in (404, 422)
        assert client.delete("/sessions/a.b", headers=auth).status_code == 422
        assert client.get("/sessions", headers=auth).json() == {"sessions": []}
