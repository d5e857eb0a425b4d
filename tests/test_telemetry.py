"""OpenTelemetry export to a real OTLP/HTTP receiver on 127.0.0.1: the test serves
``/v1/traces`` and decodes what the SDK's exporter sends with the OTLP protobuf messages of
``opentelemetry-proto``, then checks the tree of spans."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from rlmx import RLM
from rlmx.errors import ConfigError
from rlmx.telemetry import Telemetry

from conftest import repl


class Receiver:
    """An OTLP/HTTP trace receiver: every span it was sent, as plain dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.requests = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                receiver.requests += 1
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        receiver.spans += [_plain(span) for span in scope.spans]
                data = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def _plain(span: Any) -> dict[str, Any]:
    attributes = {}
    for item in span.attributes:
        value = item.value
        attributes[item.key] = getattr(value, value.WhichOneof("value"))
    return {"name": span.name, "id": span.span_id, "parent": span.parent_span_id,
            "trace": span.trace_id, "start": span.start_time_unix_nano,
            "end": span.end_time_unix_nano, "attributes": attributes,
            "events": [event.name for event in span.events],
            "error": span.status.code == 2}  # fmt: skip


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    thread = threading.Thread(target=made.server.serve_forever, daemon=True)
    thread.start()
    yield made
    made.server.shutdown()
    made.server.server_close()


def test_a_run_tree_becomes_a_tree_of_spans(receiver: Receiver, replay) -> None:
    spec = replay(
        {
            "root": [
                "Let me look first: FINAL(too soon)",
                repl("r = llm_query_batched(['label a', 'label b'])\nc = rlm_query('inner', "
                     "context='xyz')\nprint(r, c)"),
                repl("FINAL(r[0] + c)"),
            ],
            "child": [repl("FINAL(context.upper())")],
            "sub": {"label a": "A", "label b": "B"},
        }
    )  # fmt: skip
    result = RLM(spec, max_depth=2, telemetry=receiver.url).completion("the context", "q?")
    assert result.answer == "AXYZ"
    spans = receiver.spans
    by_id = {span["id"]: span for span in spans}
    names = sorted(span["name"] for span in spans)
    assert names == sorted(["rlm.run", "rlm.child_run", "root_turn", "root_turn", "root_turn",
                            "root_turn", "cell 1", "cell 2", "cell 1", "sub_call",
                            "sub_call"])  # fmt: skip
    root = next(s for s in spans if s["name"] == "rlm.run")
    assert root["parent"] == b"" and len({s["trace"] for s in spans}) == 1
    assert root["attributes"]["openinference.span.kind"] == "AGENT"
    assert root["attributes"]["output.value"] == "AXYZ"
    assert root["attributes"]["rlmx.status"] == "final"
    assert root["attributes"]["llm.token_count.total"] == result.usage.total.total_tokens
    assert root["events"] == ["rlmx.notice"]  # the premature FINAL was pushed back
    child = next(s for s in spans if s["name"] == "rlm.child_run")
    cell_of_child = by_id[child["parent"]]
    assert cell_of_child["name"] == "cell 1" and by_id[cell_of_child["parent"]] is root
    subs = [s for s in spans if s["name"] == "sub_call"]
    assert {by_id[s["parent"]]["name"] for s in subs} == {"cell 1"}
    assert sorted(s["attributes"]["input.value"] for s in subs) == ["label a", "label b"]
    assert all(s["attributes"]["openinference.span.kind"] == "LLM" for s in subs)
    assert all(s["attributes"]["llm.token_count.prompt"] > 0 for s in subs)
    for span in spans:  # children lie inside their parents in time
        parent = by_id.get(span["parent"])
        assert span["start"] <= span["end"]
        if parent is not None:
            assert parent["start"] <= span["start"] + 1_000_000 and span["end"] <= parent["end"]


def test_off_by_default_and_from_the_standard_variable(monkeypatch, receiver, replay) -> None:
    spec = replay([repl("FINAL(1)")])
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    assert RLM(spec).config.telemetry is None
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.url)
    assert RLM(spec).config.telemetry.endpoint == receiver.url
    assert RLM(spec, telemetry=False).config.telemetry is None
    assert RLM(spec).completion("c", "q").answer == "1" and receiver.requests == 1
    with pytest.raises(ConfigError, match="http"):
        Telemetry.resolve("localhost:4318")


def test_rlmx_ask_exports_with_the_flag_and_refuses_a_bad_endpoint(receiver, replay, tmp_path):
    import subprocess
    import sys

    spec = replay([repl("FINAL(len(context))")])
    doc = tmp_path / "doc.txt"
    doc.write_text("four")
    base = [sys.executable, "-m", "rlmx.cli", "ask", str(doc), "-q", "len?", "--root", spec]
    done = subprocess.run([*base, "--otlp-endpoint", receiver.url], capture_output=True,
                          text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0 and done.stdout.strip() == "4", done.stderr
    assert [s["name"] for s in receiver.spans].count("rlm.run") == 1
    bad = subprocess.run([*base, "--otlp-endpoint", "localhost:4318"], capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert bad.returncode == 2 and "OTLP endpoint" in bad.stderr
