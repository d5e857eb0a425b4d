"""What the host accepts from a worker: every frame is checked before it is used.

Model code runs in the worker and can write any bytes to the host's pipe (it can reach the
worker's file descriptors), so a frame is untrusted input. A frame of an unknown type, with
a missing, extra or mistyped field, a call of a function the host did not offer or with
arguments its spec does not allow, a request id that is already in flight or a result for
a cell that is not running is a ``ProtocolViolation``: the host kills that worker, starts
a fresh one and tells the model, and the run goes on.
"""

from __future__ import annotations

from typing import Any

from ..errors import SandboxError

NONE = type(None)
MAX_ID = 2**53
MAX_QUOTES = 32  # quotes one final answer may cite (``FINAL(answer, cite=[...])``)
MAX_QUOTE_CHARS = 2000  # characters of each

CALL = {"name": (str,), "arguments": (dict,)}  # a host function call (see functions.py)
RESULT = {
    "output": (str,),
    "output_chars": (int,),
    "error": (bool,),
    "final": (dict, NONE),
    "restored": (list,),
    "seconds": (int, float),
}
READY = {"load_seconds": (int, float), "error": (str,)}


class ProtocolViolation(SandboxError):
    """A worker sent a frame the protocol does not allow; the message says what."""


def check_call(message: dict[str, Any]) -> None:
    """Validate the shape of a ``call`` frame (its arguments are checked by its spec)."""
    _check_id(message)
    _check_fields(message, CALL, required=set(CALL))


FINAL_VIAS = ("FINAL", "FINAL_VAR", "answer")  # "answer": the rlms protocol's dict


def check_result(message: dict[str, Any], expected_id: int | None) -> None:
    """Validate a cell's result frame; it must answer the cell that is running."""
    _check_id(message)
    if message["id"] != expected_id:
        raise ProtocolViolation(f"a result for cell id {message['id']}, none is pending")
    _check_fields(message, RESULT, required=set(RESULT))
    final = message["final"]
    if final is not None and (
        not {"answer", "via"} <= set(final) <= {"answer", "via", "cite"}
        or not isinstance(final["answer"], str)
        or final["via"] not in FINAL_VIAS
        or not _quotes(final.get("cite", []))
    ):
        raise ProtocolViolation("a malformed final answer")
    if not all(isinstance(name, str) for name in message["restored"]):
        raise ProtocolViolation("restored names must be strings")


def _quotes(cite: Any) -> bool:
    return (
        isinstance(cite, list)
        and len(cite) <= MAX_QUOTES
        and all(isinstance(q, str) and len(q) <= MAX_QUOTE_CHARS for q in cite)
    )


def check_ready(message: dict[str, Any]) -> None:
    """Validate the worker's one ``ready`` frame."""
    _check_fields(message, READY, required=set())


def _check_id(message: dict[str, Any]) -> None:
    value = message.get("id")
    if type(value) is not int or not 0 < value < MAX_ID:
        raise ProtocolViolation(f"a {message.get('type')!r} frame without a valid id")


def _check_fields(message: dict[str, Any], fields: dict[str, Any], required: set[str]) -> None:
    kind = message["type"]
    extra = set(message) - set(fields) - {"type", "id"}
    if extra:
        raise ProtocolViolation(f"unexpected field(s) {sorted(extra)[:5]} in a {kind!r} frame")
    missing = required - set(message)
    if missing:
        raise ProtocolViolation(f"missing field(s) {sorted(missing)} in a {kind!r} frame")
    for name, types in fields.items():
        if name in message:
            value = message[name]
            if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
                raise ProtocolViolation(f"field {name!r} of a {kind!r} frame has the wrong type")
