"""OpenTelemetry export: every run tree as a tree of spans, for Phoenix, Langfuse, Jaeger or
any OTLP backend.

Telemetry is an event sink: it turns the run's typed events into spans with their real
start and end times, so the loop knows nothing of it. One span per run (the root and each
child run, nested under the cell that started it), per root turn, per cell, per sub-call
and per tool call, with the attributes of the OpenInference semantic conventions
(``openinference.span.kind``, ``llm.model_name``, ``llm.token_count.prompt`` /
``completion`` / ``total``, ``input.value``, ``output.value``, ``tool.name``) and rlmx's
own (``rlmx.run_id``, ``rlmx.depth``, ``rlmx.cost_usd``, ``rlmx.status`` ...). rlmx's
messages to the model are span events of their run.

Off by default, and then nothing is imported or built: ``RLM(telemetry=URL)`` (an OTLP/HTTP
endpoint; ``/v1/traces`` is added when missing), ``RLM(telemetry=Telemetry(...))``, or the
standard ``OTEL_EXPORTER_OTLP_ENDPOINT`` when ``telemetry`` is left at None.
``telemetry=False`` turns it off whatever the environment says. Needs ``rlmx[otel]``.
"""

from __future__ import annotations

import json
import os
from typing import Any

from .errors import ConfigError

ENDPOINT_ENV = "OTEL_EXPORTER_OTLP_ENDPOINT"
TEXT_LIMIT = 4_000  # characters of a prompt, reply or output kept on a span


class Telemetry:
    """Where spans go: an OTLP/HTTP endpoint, or a ready ``TracerProvider`` of your own."""

    def __init__(
        self, endpoint: str | None = None, provider: Any = None, service_name: str = "rlmx"
    ) -> None:
        if (endpoint is None) == (provider is None):
            raise ConfigError("Telemetry needs exactly one of an endpoint or a TracerProvider")
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor
        except ImportError as exc:
            extra = f"telemetry needs the otel extra: pip install 'rlmx[otel]' ({exc})"
            raise ConfigError(extra) from None
        self.endpoint = endpoint
        if provider is None:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
            url = (endpoint or "").rstrip("/")
            url = url if url.endswith("/v1/traces") else f"{url}/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
        self.provider = provider
        self.tracer = provider.get_tracer("rlmx")

    @classmethod
    def resolve(cls, setting: str | bool | Telemetry | None) -> Telemetry | None:
        """The telemetry an RLM's ``telemetry`` argument asks for (see the module docstring)."""
        if isinstance(setting, Telemetry):
            return setting
        if setting is None:
            setting = os.environ.get(ENDPOINT_ENV) or False
        if setting is False:
            return None
        if isinstance(setting, str) and setting.startswith(("http://", "https://")):
            return cls(endpoint=setting)
        raise ConfigError(f"telemetry must be an http(s) OTLP endpoint, not {setting!r}")

    def sink(self) -> SpanSink:
        """A sink for one completion's events."""
        return SpanSink(self)

    def flush(self) -> None:
        self.provider.force_flush()


def _ns(seconds: float) -> int:
    return int(seconds * 1e9)


def _text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return text if len(text) <= TEXT_LIMIT else text[:TEXT_LIMIT] + " ..."


def _tokens(usage: dict[str, Any] | None) -> dict[str, Any]:
    usage = usage or {}
    prompt, completion = usage.get("input_tokens", 0), usage.get("output_tokens", 0)
    attributes = {"llm.token_count.prompt": prompt, "llm.token_count.completion": completion,
                  "llm.token_count.total": prompt + completion}  # fmt: skip
    if usage.get("cost_usd") is not None:
        attributes["rlmx.cost_usd"] = usage["cost_usd"]
    return attributes


class SpanSink:
    """Turns one completion's events into spans (runs, root turns, cells, calls)."""

    def __init__(self, telemetry: Telemetry) -> None:
        self.telemetry = telemetry
        self.tracer = telemetry.tracer
        self.runs: dict[str, Any] = {}
        self.cells: dict[tuple[str, int], Any] = {}

    async def emit(self, event: Any) -> None:
        handler = getattr(self, f"_on_{event.type}", None)
        if handler is not None:
            handler(event)

    async def close(self) -> None:
        for span in [*self.cells.values(), *self.runs.values()]:  # a run that never finished
            span.end()
        self.telemetry.flush()

    # -- spans ---------------------------------------------------------------------------
    def _start(self, name: str, parent: Any, start: float, attributes: dict[str, Any]) -> Any:
        from opentelemetry import trace

        context = trace.set_span_in_context(parent) if parent is not None else None
        return self.tracer.start_span(name, context=context, start_time=_ns(start),
                                      attributes=attributes)  # fmt: skip

    def _ids(self, event: Any) -> dict[str, Any]:
        return {"rlmx.run_id": event.run_id, "rlmx.depth": event.depth,
                "rlmx.iteration": event.iteration}  # fmt: skip

    def _parent(self, event: Any) -> Any:
        """The cell a call was made in, else its run."""
        cell = getattr(event, "cell", None)
        span = self.cells.get((event.run_id, cell)) if cell is not None else None
        return span or self.runs.get(event.run_id)

    def _call_span(self, name: str, event: Any, kind: str, attributes: dict[str, Any]) -> Any:
        """The span of a call that ended at the event and lasted its ``seconds``."""
        attributes = {"openinference.span.kind": kind, **self._ids(event), **attributes}
        return self._start(name, self._parent(event), event.ts - event.seconds, attributes)

    def _on_run_started(self, event: Any) -> None:
        parent = self.cells.get((event.parent_run_id, event.parent_cell)) or self.runs.get(
            event.parent_run_id
        )
        context = event.context or {}
        attributes = {"openinference.span.kind": "AGENT", **self._ids(event),
                      "input.value": _text(event.query), "llm.model_name": event.root_model,
                      "rlmx.sub_model": str(event.sub_model), "rlmx.sandbox": event.sandbox,
                      "rlmx.context.type": str(context.get("type")),
                      "rlmx.context.chars": int(context.get("total_chars") or 0)}  # fmt: skip
        name = "rlm.run" if event.depth == 0 else "rlm.child_run"
        self.runs[event.run_id] = self._start(name, parent, event.ts, attributes)

    def _on_llm_call(self, event: Any) -> None:
        span = self._call_span("root_turn", event, "LLM", {
            "llm.model_name": event.model, "output.value": _text(event.response),
            "rlmx.prompt_chars": event.prompt_chars, **_tokens(event.usage)})  # fmt: skip
        span.end(end_time=_ns(event.ts))

    def _on_cell_started(self, event: Any) -> None:
        attributes = {"openinference.span.kind": "TOOL", "tool.name": "python_repl",
                      **self._ids(event), "input.value": _text(event.code)}  # fmt: skip
        span = self._start(f"cell {event.cell}", self.runs.get(event.run_id), event.ts, attributes)
        self.cells[(event.run_id, event.cell)] = span

    def _on_code_executed(self, event: Any) -> None:
        span = self.cells.pop((event.run_id, event.cell), None)
        if span is None:
            return
        span.set_attribute("output.value", _text(event.output))
        span.set_attribute("rlmx.timed_out", event.timed_out)
        if event.error:
            self._failed(span, "the cell raised an error")
        span.end(end_time=_ns(event.ts))

    def _on_sub_call(self, event: Any) -> None:
        span = self._call_span("sub_call", event, "LLM", {
            "llm.model_name": event.model, "input.value": _text(event.prompt),
            "output.value": _text(event.response), "rlmx.call_id": event.call_id,
            "rlmx.queued_seconds": event.queued_seconds, **_tokens(event.usage)})  # fmt: skip
        if event.error:
            self._failed(span, event.error)
        span.end(end_time=_ns(event.ts))

    def _on_tool_call(self, event: Any) -> None:
        span = self._call_span(f"tool {event.name}", event, "TOOL", {
            "tool.name": event.name, "input.value": _text(event.arguments),
            "output.value": _text(event.result)})  # fmt: skip
        if event.error:
            self._failed(span, event.error)
        span.end(end_time=_ns(event.ts))

    def _on_notice(self, event: Any) -> None:
        span = self.runs.get(event.run_id)
        if span is not None:
            span.add_event("rlmx.notice", {"kind": event.kind, "text": _text(event.text)},
                           timestamp=_ns(event.ts))  # fmt: skip

    def _on_error(self, event: Any) -> None:
        span = self.runs.get(event.run_id)
        if span is not None:
            self._failed(span, event.message)

    def _on_run_finished(self, event: Any) -> None:
        span = self.runs.pop(event.run_id, None)
        if span is None:
            return
        total = (event.usage or {}).get("total")
        span.set_attributes({"rlmx.status": event.status, "rlmx.iterations": event.iterations,
                             **_tokens(total)})  # fmt: skip
        if event.answer is not None:
            span.set_attribute("output.value", _text(event.answer))
        if event.cost_usd is not None:
            span.set_attribute("rlmx.cost_usd", event.cost_usd)
        if event.status in ("error", "cancelled"):
            self._failed(span, event.error or event.status)
        span.end(end_time=_ns(event.ts))

    @staticmethod
    def _failed(span: Any, message: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        span.set_status(Status(StatusCode.ERROR, message[:500]))
