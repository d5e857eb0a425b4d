"""A small chat-completions server on 127.0.0.1 for client tests and benchmarks.

It speaks enough of the OpenAI API for the ``openai`` SDK and follows a script of
actions, one per request (then a default): ``{"reply": text}``, ``{"status": 429,
"retry_after": s}``, ``{"status": 500}``, ``{"sleep": s, "reply": text}``,
``{"truncated": True}``, ``{"empty": True}``, ``{"cost": usd, "reply": text}``; on
``/v1/messages`` it answers in the Anthropic format (``{"thinking": ...}`` adds a block).
The default action may also be ``{"echo": True}`` (reply with the prompt's first line).
With ``script_model`` set, only requests for that model follow the script; the others
get the default (so a root model can be scripted while sub-calls echo).
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    # The default listen backlog of 5 drops bursts of new connections (SYN retried after
    # 1 s); real inference servers listen with a backlog in the thousands.
    request_queue_size = 512


class ChatServer:
    """Start with ``with ChatServer(script) as server: server.base_url``."""

    def __init__(
        self,
        script: list[dict[str, Any]] | None = None,
        default: dict[str, Any] | None = None,
        script_model: str | None = None,
    ) -> None:
        self.script: deque[dict[str, Any]] = deque(script or [])
        self.default = default or {"reply": "ok"}
        self.script_model = script_model
        self.requests: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.peak_in_flight = 0
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def next_action(self, body: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.requests.append(body)
            scripted = self.script_model in (None, body.get("model"))
            return self.script.popleft() if scripted and self.script else self.default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return None

            def setup(self) -> None:
                super().setup()
                # Headers and body go out as two writes: without this, Nagle's algorithm and
                # delayed ACKs add ~40 ms to every response.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                action = server.next_action(body)
                with server.lock:
                    server.in_flight += 1
                    server.peak_in_flight = max(server.peak_in_flight, server.in_flight)
                try:
                    self._act(action, body)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _act(self, action: dict[str, Any], body: dict[str, Any]) -> None:
                if "sleep" in action:
                    time.sleep(action["sleep"])
                if "status" in action:
                    headers = {}
                    if "retry_after" in action:
                        headers["Retry-After"] = str(action["retry_after"])
                    error = {"error": {"message": f"scripted {action['status']}", "type": "x"}}
                    self._send(action["status"], json.dumps(error).encode(), headers)
                    return
                if action.get("truncated"):
                    self._send(200, b'{"id": "x", "choices": [{"mess')
                    return
                text = action.get("reply", "")
                if action.get("echo"):
                    text = body["messages"][-1]["content"].splitlines()[0]
                if self.path.endswith("/messages"):  # the Anthropic Messages API
                    payload = anthropic_message(body.get("model", "m"), text, action)
                else:
                    payload = completion(body.get("model", "m"), text, action)
                self._send(200, json.dumps(payload).encode())

            def _send(
                self, status: int, data: bytes, headers: dict[str, str] | None = None
            ) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(data)

        return Handler


def completion(model: str, text: str, action: dict[str, Any]) -> dict[str, Any]:
    """A chat.completion object as the OpenAI API returns it."""
    usage: dict[str, Any] = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
    if "cost" in action:
        usage["cost"] = action["cost"]
    content = None if action.get("empty") else text
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "finish_reason": "stop",
                "message": {"role": "assistant", "content": content},
            }
        ],
        "usage": usage,
    }


def anthropic_message(model: str, text: str, action: dict[str, Any]) -> dict[str, Any]:
    """A Messages API response: an optional thinking block, then the text."""
    content: list[dict[str, Any]] = []
    if "thinking" in action:
        content.append({"type": "thinking", "thinking": action["thinking"], "signature": "s"})
    content.append({"type": "text", "text": text})
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 100,
            "output_tokens": 20,
            "cache_creation_input_tokens": 1000,
            "cache_read_input_tokens": 10000,
        },
    }


def main() -> None:
    """Serve from a separate process (benchmarks): prints the base URL, runs until killed."""
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--reply", default="ok")
    args = parser.parse_args()
    with ChatServer(default={"sleep": args.sleep, "reply": args.reply}) as server:
        print(server.base_url, flush=True)
        threading.Event().wait()


if __name__ == "__main__":
    main()
