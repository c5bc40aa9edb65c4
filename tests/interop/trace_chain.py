#!/usr/bin/env python3
"""One trace across three languages: a Python client calls the Rust relay agent
(core/examples/relay_agent.rs), whose handler calls the JavaScript WeatherAgent
(node/examples/weather_agent.mjs). Each process exports its spans over OTLP/HTTP (configured only
by the standard OTEL_* variables) to a receiver this script runs on a loopback port, as a
collector would. The test passes when the spans of all three services carry one trace id and
link up: Python client -> Rust server -> Rust client -> JavaScript server.

    tests/interop/trace_chain.py          (scripts/test interop runs it)

Paths as in matrix.py: LMOS_PYTHON, NODE, and the relay binary LMOS_RELAY_AGENT (default
$CARGO_TARGET_DIR/debug/examples/relay_agent).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from matrix import NODE, PYTHON, ROOT, TARGET, Process

RELAY = os.environ.get("LMOS_RELAY_AGENT", str(TARGET / "debug" / "examples" / "relay_agent"))
SPANS: list[dict[str, Any]] = []
LOCK = threading.Lock()

CLIENT = """
import asyncio, sys
import lmos

async def main():
    relay = await lmos.consume(sys.argv[1], protocols=["ws"])
    print(await relay.invoke_action("askWeather", {"question": "Lisbon"}))

asyncio.run(main())
assert lmos.flush_traces(10.0), "spans not exported"
"""


class Receiver(BaseHTTPRequestHandler):
    """POST /v1/traces with an OTLP/JSON ExportTraceServiceRequest."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        request = json.loads(body)
        for resource in request.get("resourceSpans", []):
            attributes = resource.get("resource", {}).get("attributes", [])
            service = next(
                (a["value"]["stringValue"] for a in attributes if a["key"] == "service.name"), "?"
            )
            for scope in resource.get("scopeSpans", []):
                for span in scope.get("spans", []):
                    with LOCK:
                        SPANS.append({**span, "service": service})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: Any) -> None:
        pass


def otel_env(service: str, endpoint: str) -> dict[str, str]:
    return {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint, "OTEL_SERVICE_NAME": service}


def find(service: str, kind: int, name: str) -> dict[str, Any] | None:
    with LOCK:
        for span in SPANS:
            if (
                span["service"] == service
                and span["kind"] == kind
                and span["name"].startswith(name)
            ):
                return span
    return None


def main() -> int:
    for tool in (RELAY, PYTHON):
        if not Path(tool).exists():
            print(f"trace_chain: {tool} is missing; build it first", file=sys.stderr)
            return 2
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    work = Path(tempfile.mkdtemp(prefix="lmos-trace-"))
    processes: list[Process] = []
    try:
        weather = Process(
            "javascript weather agent",
            [NODE, str(ROOT / "node" / "examples" / "weather_agent.mjs"), "--http-port", "0"],
            work / "weather.log",
            env=otel_env("js-weather", endpoint),
        )
        processes.append(weather)
        weather_url = weather.first_line(120)
        relay = Process(
            "rust relay agent",
            [RELAY, "--weather", weather_url, "--http-port", "0"],
            work / "relay.log",
            env=otel_env("rust-relay", endpoint),
        )
        processes.append(relay)
        relay_url = relay.first_line(120)
        client = subprocess.run(
            [PYTHON, "-c", CLIENT, relay_url],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            env=otel_env("python-client", endpoint),
        )
        if client.returncode != 0:
            raise RuntimeError(f"the Python client failed: {client.stderr.strip()[-2000:]}")
        answer = client.stdout.strip()
        expected = 'Weather for "Lisbon": sunny, 21 °C, light wind (answered in text mode).'
        if answer != expected:
            raise RuntimeError(f"unexpected answer {answer!r}")

        wanted = {
            "python client": ("python-client", 3, "invokeAction urn:lmos:example:relay-agent"),
            "rust server": ("rust-relay", 2, "invokeaction askWeather"),
            "rust client": ("rust-relay", 3, "POST "),
            "javascript server": ("js-weather", 2, "invokeaction getWeather"),
        }
        deadline = time.monotonic() + 15
        found: dict[str, dict[str, Any] | None] = {}
        while time.monotonic() < deadline:
            found = {label: find(*spec) for label, spec in wanted.items()}
            if all(found.values()):
                break
            time.sleep(0.2)
        missing = [label for label, span in found.items() if span is None]
        if missing:
            raise RuntimeError(f"no span for {missing}; received {json.dumps(SPANS, indent=1)}")
        spans = {label: span for label, span in found.items() if span is not None}
        trace_ids = {span["traceId"] for span in spans.values()}
        links = [
            ("rust server", "python client"),
            ("rust client", "rust server"),
            ("javascript server", "rust client"),
        ]
        broken = [
            (child, parent)
            for child, parent in links
            if spans[child].get("parentSpanId") != spans[parent]["spanId"]
        ]
        print("\ntrace chain: Python client -> Rust relay -> JavaScript WeatherAgent")
        for label, span in spans.items():
            print(
                f"  {label:18} {span['service']:14} trace {span['traceId']} "
                f"span {span['spanId']} parent {span.get('parentSpanId', '-')}  {span['name']}"
            )
        if len(trace_ids) != 1 or broken:
            print(f"FAIL: trace ids {trace_ids}, broken links {broken}", file=sys.stderr)
            return 1
        print(f"one trace ({trace_ids.pop()}) across 3 services, every link in place")
        return 0
    except Exception as error:
        print(f"trace_chain: {error}", file=sys.stderr)
        for log in sorted(work.glob("*.log")):
            print(
                f"---- {log.name} ----\n{log.read_text(errors='replace')[-3000:]}", file=sys.stderr
            )
        return 1
    finally:
        for process in reversed(processes):
            process.stop()
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
