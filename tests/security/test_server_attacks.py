"""A real ``rlmx serve`` on 127.0.0.1 under attack from clients that have not authenticated
(attacks 2, 3, 4 and 9): each is refused, and the server and its finished runs go on."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rlmx import RunConfig
from rlmx.server.app import ServerSettings, serve_in_thread

from conftest import repl

SECRET = "sk-rlmx-test-secret-0123456789"


@pytest.fixture
def served(tmp_path: Path, replay) -> Iterator[tuple[httpx.Client, ServerSettings, str]]:
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "notes.txt").write_text("the notes")
    root = replay([repl("FINAL('first answer')")])
    settings = ServerSettings(
        data_dir=tmp_path / "data",
        data_root=tmp_path / "root",
        max_upload_bytes=64 * 1024,
        max_json_bytes=32 * 1024,
        run=RunConfig.build(root=root, models={"fast": root}),
    )
    with serve_in_thread(settings) as url, httpx.Client(base_url=url, timeout=30) as client:
        run_id = client.post("/query", json={"query": "q", "context": "c"}).json()["run_id"]
        with client.stream("GET", f"/stream/{run_id}") as response:
            list(response.iter_lines())  # the finished run every attack must leave alone
        yield client, settings, run_id


def assert_goes_on(client: httpx.Client, run_id: str) -> None:
    assert client.get("/health").json()["status"] == "ok"
    run = client.get(f"/runs/{run_id}").json()
    assert run["status"] == "final" and run["answer"] == "first answer"


def test_clients_choose_only_among_the_servers_models(served, recorder, secret_keys) -> None:
    client, _, run_id = served
    hostile = [f"{p}:m@{u}" for p in ("openai", "evil", "anthropic") for u in recorder.urls()[:3]]
    hostile += ["replay:/dev/zero", "replay:/dev/stdin", "local:smollm2-135m?n_ctx=4096",
                "local:/etc/passwd"]  # fmt: skip
    for spec in hostile:
        for field in ("root", "sub"):
            response = client.post("/query", json={"query": "q", "context": "c", field: spec})
            assert response.status_code == 404 and "not allowed" in response.text, spec
            assert "/etc/passwd" not in response.text.replace(spec, "")
        chat = client.post(
            "/v1/chat/completions",
            json={"model": spec, "messages": [{"role": "user", "content": "q"}]},
        )
        assert chat.status_code == 404 and chat.json()["error"]["code"] == "model_not_found"
    assert recorder.requests == []
    names = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert names[:2] == ["rlmx", "fast"]
    assert (
        client.post("/query", json={"query": "q", "context": "c", "root": "fast"}).status_code
        == 200
    )
    assert_goes_on(client, run_id)


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"content-type": "text/plain"}, 415),
        ({"content-type": "application/x-www-form-urlencoded"}, 415),
        ({"content-type": "application/json", "origin": "http://evil.example"}, 403),
        ({"content-type": "application/json", "origin": "null"}, 403),
        ({"content-type": "application/json", "host": "evil.example"}, 421),
        ({"content-type": "application/json", "host": "rebind.example:8000"}, 421),
    ],
)
def test_cross_site_and_rebinding_requests_are_refused(served, headers, status) -> None:
    client, _, run_id = served
    body = json.dumps({"query": "q", "context": "c"})
    before = len(client.get("/runs").json()["runs"])
    response = client.post("/query", content=body, headers=headers)
    assert response.status_code == status, response.text
    assert len(client.get("/runs").json()["runs"]) == before  # nothing started
    assert_goes_on(client, run_id)


def test_the_servers_own_names_and_allowed_hosts_pass(tmp_path, replay) -> None:
    settings = ServerSettings(data_dir=tmp_path / "d", data_root=tmp_path, allow_hosts=["rlmx.lan"],
                              cors_origins=["http://app.example"])  # fmt: skip
    with serve_in_thread(settings) as url, httpx.Client(base_url=url) as client:
        port = url.rsplit(":", 1)[1]
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", "rlmx.lan"):
            assert client.get("/health", headers={"host": host}).status_code == 200, host
        same = client.get("/runs", headers={"origin": url})
        assert same.status_code == 200
        preflight = client.options(
            "/query",
            headers={"origin": "http://app.example", "access-control-request-method": "POST"},
        )
        assert preflight.headers["access-control-allow-origin"] == "http://app.example"


@pytest.mark.parametrize("raw", ["/runs/..", "/runs/%2E%2E", "/runs/.", "/runs/..%2F..",
                                 "/runs/%2E%2E%2Fdata"])  # fmt: skip
def test_deleting_a_path_like_run_id_removes_nothing(served, raw) -> None:
    client, settings, run_id = served
    (settings.data_dir / "uploads").mkdir(exist_ok=True)
    (settings.data_dir / "uploads" / "keep.txt").write_text("x")
    host, port = client.base_url.host, client.base_url.port
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("DELETE", raw)  # no client-side normalisation of the path
    status = connection.getresponse().status
    connection.close()
    assert status in (404, 405, 422)
    assert (settings.data_dir / "runs.sqlite3").exists()
    assert (settings.data_dir / "uploads" / "keep.txt").exists()
    assert_goes_on(client, run_id)


def _multipart(size: int, boundary: str = "rlmxboundary") -> Iterator[bytes]:
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"query\"\r\n\r\nq\r\n"
           f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"big.txt\""
           "\r\nContent-Type: text/plain\r\n\r\n").encode()  # fmt: skip
    for _ in range(size // 4096):
        yield b"x" * 4096
    yield f"\r\n--{boundary}--\r\n".encode()


def assert_no_upload_but(settings, run_id: str) -> None:
    """Only the fixture's run has a folder (its saved text context, for follow-ups)."""
    uploads = settings.data_dir / "uploads"
    assert sorted(path.name for path in uploads.iterdir()) == [run_id]
    assert [path.name for path in (uploads / run_id).iterdir()] == ["context.txt"]


def test_a_chunked_upload_is_cut_at_the_limit_and_leaves_nothing(served) -> None:
    client, settings, run_id = served
    response = client.post(
        "/query",
        content=_multipart(4 * 2**20),  # chunked: no content-length to refuse it early
        headers={"content-type": "multipart/form-data; boundary=rlmxboundary"},
    )
    assert response.status_code == 413
    assert_no_upload_but(settings, run_id)
    assert_goes_on(client, run_id)


def test_json_bodies_are_capped_and_errors_never_echo_them(served) -> None:
    client, _, run_id = served
    big = client.post("/query", json={"query": "q", "context": "x" * 100_000})
    assert big.status_code == 413
    body = {"query": "q", "context": "c", "max_iterations": SECRET}
    invalid = client.post("/query", json=body)
    assert invalid.status_code == 422 and SECRET not in invalid.text
    chat = client.post("/v1/chat/completions", json={"model": "rlmx", "messages": SECRET})
    assert chat.status_code == 422 and SECRET not in chat.text
    assert_goes_on(client, run_id)


def test_a_refused_upload_leaves_no_file(served) -> None:
    client, settings, run_id = served
    response = client.post(
        "/query", data={"query": "q", "root": "openai:x@http://127.0.0.1:9/v1"},
        files={"file": ("a.txt", b"hello")},
    )  # fmt: skip
    assert response.status_code == 404
    assert_no_upload_but(settings, run_id)
    assert_goes_on(client, run_id)


def test_responses_carry_no_host_paths(served) -> None:
    """Uploads and data-root files are named, never located (model specs are shown as the
    operator wrote them)."""
    client, settings, run_id = served
    places = [str(settings.data_dir), str(settings.data_root)]
    ids = [
        client.post("/query", data={"query": "q"}, files={"file": ("a.txt", b"hi")}).json()[
            "run_id"
        ],
        client.post("/query", json={"query": "q", "path": "notes.txt"}).json()["run_id"],
    ]
    for new in ids:
        with client.stream("GET", f"/stream/{new}") as response:
            list(response.iter_lines())
        shown = client.get(f"/runs/{new}").text + client.get(f"/runs/{new}/trajectory.jsonl").text
        assert not [place for place in places if place in shown]
        assert "upload:a.txt" in shown or '"source":"notes.txt"' in shown
    listing = client.get("/runs").text
    assert not [place for place in places if place in listing]
    assert_goes_on(client, run_id)
