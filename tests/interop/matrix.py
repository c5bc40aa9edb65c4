#!/usr/bin/env python3
"""The interop matrix: the WeatherAgent in Rust, Python, JavaScript and Kotlin, each consumed by a
client in each of the four languages, over HTTP and over WebSocket, every agent found through one
Thing Description Directory.

    tests/interop/matrix.py          (scripts/test interop runs it after the other stages)

What it does, with real processes on 127.0.0.1 and ephemeral ports:

1. starts `lmos directory serve` on an SQLite file in a temporary folder;
2. starts the four agents (`--http-port 0 --ws-port 0`), reads each one's TD URL, fetches the TD
   and registers it with the directory anonymously (POST /things, so the four copies of the same
   agent get four directory ids);
3. hands every client the directory URL of every agent's TD (`/things/{id}`) for both protocols:
   the client consumes the TD from the directory, prefers the protocol's forms, invokes
   `getWeather` with a question naming the cell, and reads `modelConfiguration`;
4. prints a table (agent x client x protocol) and exits 1 unless every cell answered exactly what
   the agent's behaviour says.

Paths (defaults for a checkout built by scripts/test): LMOS_BIN (the `lmos` CLI),
LMOS_WEATHER_AGENT (the Rust example binary), LMOS_PYTHON (a Python with the lmos package),
NODE (node). The Kotlin agent and client are the launchers in kotlin/examples (built by the
kotlin stage).
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
if not TARGET.is_absolute():
    TARGET = ROOT / TARGET
LMOS = os.environ.get("LMOS_BIN", str(TARGET / "debug" / "lmos"))
RUST_AGENT = os.environ.get(
    "LMOS_WEATHER_AGENT", str(TARGET / "debug" / "examples" / "weather_agent")
)
PYTHON = os.environ.get("LMOS_PYTHON", str(TARGET / "python-venv" / "bin" / "python"))
NODE = os.environ.get("NODE", "node")
KOTLIN_EXAMPLES = ROOT / "kotlin" / "examples"
LANGUAGES = ["rust", "python", "javascript", "kotlin"]
PROTOCOLS = ["http", "ws"]
STARTUP_SECONDS = 120
CLIENT_SECONDS = 300


def agent_id(language: str) -> str:
    return f"urn:lmos:interop:weather-agent:{language}"


def agent_command(language: str) -> list[str]:
    ports = ["--http-port", "0", "--ws-port", "0", "--id", agent_id(language)]
    return {
        "rust": [RUST_AGENT, *ports],
        "python": [PYTHON, str(ROOT / "python" / "examples" / "weather_agent.py"), *ports],
        "javascript": [NODE, str(ROOT / "node" / "examples" / "weather_agent.mjs"), *ports],
        "kotlin": [str(KOTLIN_EXAMPLES / "weather-agent"), *ports],
    }[language]


def expected_answer(question: str) -> str:
    return f'Weather for "{question}": sunny, 21 °C, light wind (answered in text mode).'


class Process:
    """A child process whose stdout lines are read by a thread (so reads can time out)."""

    def __init__(
        self, name: str, command: list[str], log: Path, env: dict[str, str] | None = None
    ) -> None:
        self.name = name
        self.log = log.open("wb")
        self.child = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=self.log, stdin=subprocess.DEVNULL, env=env
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.child.stdout is not None
        for raw in self.child.stdout:
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def first_line(self, seconds: float) -> str:
        try:
            line = self.lines.get(timeout=seconds)
        except queue.Empty:
            raise RuntimeError(f"{self.name} printed nothing within {seconds:.0f} s") from None
        if line is None:
            raise RuntimeError(f"{self.name} exited ({self.child.wait()}) before printing its URL")
        return line

    def stop(self) -> None:
        if self.child.poll() is None:
            self.child.terminate()
            try:
                self.child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.child.kill()
                self.child.wait()
        self.log.close()


def http_json(method: str, url: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/td+json")
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return response.status, dict(response.headers), json.loads(text) if text else None


def register(directory: str, td_url: str) -> str:
    """Fetches the agent's TD, registers it under its id (PUT /things/{id}) and finds it again by
    listing the directory; the directory URL of its copy."""
    _, _, td = http_json("GET", td_url)
    thing_id = urllib.parse.quote(td["id"], safe="")
    status, _, _ = http_json("PUT", f"{directory}/things/{thing_id}", td)
    if status != 201:
        raise RuntimeError(f"registering {td_url}: {status}")
    _, _, listed = http_json("GET", f"{directory}/things")
    if td["id"] not in [entry.get("id") for entry in listed]:
        raise RuntimeError(f"the directory does not list {td['id']}: {listed}")
    return f"{directory}/things/{thing_id}"


def run_rust_client(jobs: list[dict[str, str]]) -> list[dict[str, Any]]:
    results = []
    for job in jobs:
        result: dict[str, Any] = {"url": job["url"], "protocol": job["protocol"]}
        common = ["--protocol", job["protocol"], "--output", "json"]
        call_input = json.dumps({"question": job["question"], "interactionMode": "text"})
        call = subprocess.run(
            [LMOS, "call", job["url"], "getWeather", call_input, *common],
            check=False,
            capture_output=True,
            text=True,
            timeout=CLIENT_SECONDS,
        )
        read = subprocess.run(
            [LMOS, "read", job["url"], "modelConfiguration", *common],
            check=False,
            capture_output=True,
            text=True,
            timeout=CLIENT_SECONDS,
        )
        if call.returncode != 0 or read.returncode != 0:
            result["error"] = (call.stderr + read.stderr).strip() or "exit status"
        else:
            # `lmos call --output json` prints {"output": ...}.
            result["answer"] = json.loads(call.stdout.strip().splitlines()[-1]).get("output")
            result["model"] = json.loads(read.stdout.strip().splitlines()[-1])["modelName"]
        results.append(result)
    return results


def run_client(language: str, jobs: list[dict[str, str]]) -> list[dict[str, Any]]:
    if language == "rust":
        return run_rust_client(jobs)
    argument = json.dumps(jobs)
    command = {
        "python": [PYTHON, str(ROOT / "python" / "examples" / "interop_client.py"), argument],
        "javascript": [NODE, str(ROOT / "node" / "examples" / "interop_client.mjs"), argument],
        "kotlin": [str(KOTLIN_EXAMPLES / "interop-client"), argument],
    }[language]
    done = subprocess.run(
        command, check=False, capture_output=True, text=True, timeout=CLIENT_SECONDS
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or len(lines) != len(jobs):
        error = done.stderr.strip()[-2000:] or f"exit status {done.returncode}"
        return [{"url": j["url"], "protocol": j["protocol"], "error": error} for j in jobs]
    return [json.loads(line) for line in lines]


def main() -> int:
    for tool in (LMOS, RUST_AGENT, PYTHON):
        if not Path(tool).exists():
            print(
                f"matrix: {tool} is missing; build it first (scripts/test builds it)",
                file=sys.stderr,
            )
            return 2
    if shutil.which(NODE) is None:
        print(f"matrix: {NODE} is not on PATH", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="lmos-interop-"))
    processes: list[Process] = []
    try:
        directory_process = Process(
            "directory",
            [LMOS, "directory", "serve", "--port", "0", "--db", f"sqlite:{work / 'directory.db'}"],
            work / "directory.log",
        )
        processes.append(directory_process)
        directory = directory_process.first_line(STARTUP_SECONDS).rstrip("/")

        agents: dict[str, Process] = {}
        for language in LANGUAGES:
            agents[language] = Process(
                f"{language} agent", agent_command(language), work / f"agent-{language}.log"
            )
            processes.append(agents[language])
        urls = {}
        for language, process in agents.items():
            td_url = process.first_line(STARTUP_SECONDS)
            urls[language] = register(directory, td_url)
            _, _, copy = http_json("GET", urls[language])
            hrefs = [f["href"] for a in copy.get("actions", {}).values() for f in a["forms"]]
            if not any(h.startswith("ws") for h in hrefs):
                raise RuntimeError(f"the {language} agent's TD has no WebSocket form: {hrefs}")

        results: dict[tuple[str, str, str], dict[str, Any]] = {}
        started = time.monotonic()
        for client in LANGUAGES:
            jobs = [
                {
                    "url": urls[agent],
                    "protocol": protocol,
                    "question": f"{client} client, {agent} agent, {protocol}",
                }
                for agent in LANGUAGES
                for protocol in PROTOCOLS
            ]
            for job, result in zip(jobs, run_client(client, jobs), strict=True):
                agent = next(a for a in LANGUAGES if urls[a] == job["url"])
                ok = (
                    "error" not in result
                    and result.get("answer") == expected_answer(job["question"])
                    and result.get("model") == "gpt-4o"
                )
                results[(agent, client, job["protocol"])] = {**result, "ok": ok}
        elapsed = time.monotonic() - started

        columns = [f"{client}/{protocol}" for client in LANGUAGES for protocol in PROTOCOLS]
        width = max(len(c) for c in columns) + 2
        print("\ninterop matrix: agent (rows) x client/protocol (columns), found via the directory")
        print("agent".ljust(12) + "".join(c.ljust(width) for c in columns))
        failures = []
        for agent in LANGUAGES:
            row = agent.ljust(12)
            for client in LANGUAGES:
                for protocol in PROTOCOLS:
                    cell = results[(agent, client, protocol)]
                    row += ("ok" if cell["ok"] else "FAIL").ljust(width)
                    if not cell["ok"]:
                        failures.append((agent, client, protocol, cell))
            print(row)
        passed = len(results) - len(failures)
        print(f"{passed}/{len(results)} cells passed ({elapsed:.1f} s of client calls)")
        for agent, client, protocol, cell in failures:
            print(f"FAIL {client} client -> {agent} agent over {protocol}: {cell}", file=sys.stderr)
        return 0 if not failures else 1
    except Exception as error:
        print(f"matrix: {error}", file=sys.stderr)
        for log in sorted(work.glob("*.log")):
            print(
                f"---- {log.name} ----\n{log.read_text(errors='replace')[-3000:]}", file=sys.stderr
            )
        return 1
    finally:
        for process in reversed(processes):
            process.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
