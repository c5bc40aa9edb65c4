"""Tracing: every interaction is a span on each side (a client request, a handler run), and the
W3C trace context crosses HTTP headers and WebSocket messages, so a chain of agents in any
languages is one trace.

Spans are exported over OTLP/HTTP when the usual OpenTelemetry variables are set
(``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_SERVICE_NAME``)
or after :func:`export_traces`. :func:`flush_traces` waits until they are sent; it also runs
when the interpreter exits.
"""

from __future__ import annotations

from lmos import _native


def export_traces(url: str, service_name: str) -> None:
    """Exports spans to the OTLP/HTTP traces URL ``url`` (e.g.
    ``http://127.0.0.1:4318/v1/traces``) as ``service_name``."""
    _native.export_traces(url, service_name)


def flush_traces(timeout: float = 5.0) -> bool:
    """Waits up to ``timeout`` seconds until the spans that ended so far are exported."""
    return _native.flush_traces(timeout)
