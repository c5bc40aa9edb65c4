"""Shared fixtures: an asyncio runner for ``async def`` tests, paths to the Rust binaries, and
helpers that start example agents as processes."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parent.parent
REPO = PYTHON_DIR.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem: pytest.Function) -> bool | None:
    """Runs ``async def`` tests on a fresh event loop (no plugin needed)."""
    if not inspect.iscoroutinefunction(pyfuncitem.obj):
        return None
    names = pyfuncitem._fixtureinfo.argnames
    kwargs = {name: pyfuncitem.funcargs[name] for name in names}
    asyncio.run(pyfuncitem.obj(**kwargs))
    return True


def cargo_binary(*cargo_args: str, path: Path) -> Path:
    """Builds a Rust binary of this tree (debug; quick when up to date) and returns its path.
    ``LMOS_SKIP_CARGO=1`` uses what is there (when the caller has just built it)."""
    if os.environ.get("LMOS_SKIP_CARGO") != "1" or not path.exists():
        subprocess.run(["cargo", "build", "--quiet", *cargo_args], cwd=REPO, check=True)
    return path


@pytest.fixture(scope="session")
def lmos_cli() -> Path:
    """The `lmos` command-line client (built from cli/)."""
    return cargo_binary("-p", "lmos-cli", path=TARGET / "debug" / "lmos")


@pytest.fixture(scope="session")
def rust_weather_agent() -> Path:
    """The Rust reference agent (core/examples/weather_agent.rs)."""
    return cargo_binary(
        "-p",
        "lmos",
        "--example",
        "weather_agent",
        path=TARGET / "debug" / "examples" / "weather_agent",
    )


class AgentProcess:
    """An agent started as a process; its first stdout line is its TD URL."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PYTHON_DIR,
        )
        assert self.process.stdout is not None
        self.td_url = self.process.stdout.readline().strip()
        if not self.td_url:
            self.process.kill()
            _, err = self.process.communicate()
            raise RuntimeError(f"{command} printed no TD URL: {err}")

    def stop(self, sig: int | None = None) -> tuple[int, str]:
        """Sends ``sig`` (default SIGTERM) and returns the exit code and stderr."""
        if self.process.poll() is None:
            if sig is None:
                self.process.terminate()
            else:
                self.process.send_signal(sig)
        try:
            _, err = self.process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return self.process.returncode, err


@pytest.fixture
def start_agent() -> Iterator[type[AgentProcess]]:
    """Starts agent processes and stops those the test left running."""
    started: list[AgentProcess] = []

    def start(command: list[str]) -> AgentProcess:
        agent = AgentProcess(command)
        started.append(agent)
        return agent

    yield start  # type: ignore[misc]
    for agent in started:
        agent.stop()


@pytest.fixture
def python_example() -> Iterator[object]:
    """The command that runs a Python example with this interpreter."""

    def command(name: str, *args: str) -> list[str]:
        return [sys.executable, str(PYTHON_DIR / "examples" / name), *args]

    yield command
