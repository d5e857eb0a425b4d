"""The server's front door: what a request must look like before any route sees it.

An HTTP client that has not authenticated is untrusted, and so is any web page the user
has open (it can make the browser send requests to 127.0.0.1). Every request passes here:

- ``Host`` must name this server (its bound address, ``localhost`` when bound to loopback,
  an IP literal when bound to all interfaces, or an ``--allow-host`` name): a page that
  rebinds its own DNS name to 127.0.0.1 is refused (421);
- a request with an ``Origin`` other than the server's own (or a ``--cors`` origin) is
  refused (403), so a page cannot drive the API from the user's browser;
- a body is parsed only as ``application/json`` or ``multipart/form-data`` (415 else: a
  ``text/plain`` or urlencoded form, which browsers send cross-site without a preflight);
- a body past its limit is refused with 413 while it streams, whether or not it declared
  its length, so nothing past the limit is read or spooled to disk.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from ..errors import CapacityError
from .statuses import http_headers, http_status

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
BODY_TYPES = ("application/json", "multipart/form-data")
LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}


class BodyTooLarge(Exception):
    """The request body went past its limit while it was read."""


class FrontDoor:
    """Pure ASGI middleware (streams pass through untouched) enforcing the rules above."""

    def __init__(
        self,
        app: Any,
        bound_host: str,
        allow_hosts: list[str],
        cors_origins: list[str],
        max_json_bytes: int,
        max_form_bytes: int,
    ) -> None:
        self.app = app
        self.bound_host = bound_host.strip("[]").lower()
        self.allow_hosts = {h.lower() for h in allow_hosts}
        self.cors_origins = set(cors_origins)
        self.max_json_bytes = max_json_bytes
        self.max_form_bytes = max_form_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        refusal = self._refusal(scope, headers)
        if refusal is not None:
            await _reply(send, *refusal)
            return
        limit = self._body_limit(headers)
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            await _reply(send, 413, f"request body larger than the limit of {limit:,} bytes")
            return
        started, received = False, 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, watched_send)
        except BodyTooLarge:
            if not started:
                await _reply(send, 413, f"request body larger than the limit of {limit:,} bytes")

    def _refusal(self, scope: Scope, headers: dict[str, str]) -> tuple[int, str] | None:
        host = headers.get("host", "")
        if not self._host_ok(host):
            return 421, "this server does not answer for that Host name (see --allow-host)"
        origin = headers.get("origin")
        own = {f"http://{host}", f"https://{host}"}
        if origin is not None and origin not in own and origin not in self.cors_origins:
            return 403, "cross-origin requests are refused (see --cors)"
        if scope["method"] in ("POST", "PUT", "PATCH") and _has_body(headers):
            content_type = headers.get("content-type", "").split(";")[0].strip().lower()
            if content_type not in BODY_TYPES:
                return 415, "send application/json or multipart/form-data"
        return None

    def _host_ok(self, host: str) -> bool:
        name = _hostname(host)
        if not name:
            return False
        if name == self.bound_host or name in self.allow_hosts:
            return True
        if _is_loopback(self.bound_host) and name in LOOPBACK_NAMES:
            return True
        if self.bound_host in ("0.0.0.0", "::", ""):
            return _is_ip(name)  # all interfaces: any address, but no names (DNS rebinding)
        return False

    def _body_limit(self, headers: dict[str, str]) -> int:
        if headers.get("content-type", "").lower().startswith("multipart/form-data"):
            return self.max_form_bytes
        return self.max_json_bytes


def _has_body(headers: dict[str, str]) -> bool:
    return headers.get("content-length", "0") != "0" or "transfer-encoding" in headers


def _hostname(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else ""
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _is_loopback(name: str) -> bool:
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


async def _reply(send: Send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def validation_errors(errors: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Pydantic errors without the ``input`` they quote: a 422 never echoes the body back."""
    return [{k: e[k] for k in ("type", "loc", "msg") if k in e} for e in errors]


def install(app: FastAPI) -> None:
    """Validation errors everywhere answer 422 with ``validation_errors`` only; a full
    capacity anywhere answers 429 with ``Retry-After``."""

    async def on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_errors(list(exc.errors()))}, 422)

    async def on_full(_request: Request, exc: CapacityError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, http_status(exc), http_headers(exc))

    app.add_exception_handler(RequestValidationError, on_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(CapacityError, on_full)  # type: ignore[arg-type]
