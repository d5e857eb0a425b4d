"""Fixtures of the attack suite: a loopback HTTP recorder and a jail-aware sandbox helper."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

SECRET = "sk-rlmx-test-secret-0123456789"
KEY_VARS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OPENROUTER_API_KEY", "EVIL_API_KEY",
            "VLLM_API_KEY")  # fmt: skip


class Recorder:
    """What reached the loopback server: one (method, path, headers) per request."""

    def __init__(self, url: str, host_form: str) -> None:
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.host_form = host_form

    def urls(self) -> list[str]:
        """The same server named in the forms an attacker would vary."""
        port = self.port
        return [
            f"http://127.0.0.1:{port}/v1",
            f"http://localhost:{port}/v1",
            f"http://127.1:{port}",
            f"http://[::ffff:127.0.0.1]:{port}/v1",
            f"http://2130706433:{port}/v1",
            f"http://[::1]:{port}/v1",
        ]

    def secrets_seen(self) -> list[str]:
        return [h for _, _, headers in self.requests for h in headers.values() if SECRET in h]


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    """An OpenAI-compatible stand-in on 127.0.0.1 that records every request it gets."""
    seen: list[tuple[str, str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            seen.append(("POST", self.path, dict(self.headers.items())))
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            body = json.dumps(
                {
                    "id": "x",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "m",
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": "recorded"},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                }
            ).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorder = Recorder(f"http://127.0.0.1:{server.server_address[1]}", "127.0.0.1")
    recorder.requests = seen
    try:
        yield recorder
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def secret_keys(monkeypatch: pytest.MonkeyPatch) -> str:
    """Every provider key variable set to the same secret, which must never leave."""
    for name in KEY_VARS:
        monkeypatch.setenv(name, SECRET)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    return SECRET
