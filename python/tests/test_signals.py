"""Ctrl-C reaches Python while lmos runs: the runtime's threads leave stop signals to the
interpreter's main thread (Linux: read from /proc)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import lmos

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def blocked_signals(task: Path) -> tuple[str, int]:
    """The name of one thread of this process and the bit mask of the signals it blocks."""
    name = (task / "comm").read_text().strip()
    for line in (task / "status").read_text().splitlines():
        if line.startswith("SigBlk:"):
            return name, int(line.split()[1], 16)
    raise AssertionError(f"no SigBlk line for thread {name}")


def thread_masks() -> list[tuple[str, int]]:
    """Name and blocked-signal mask of every thread of this process."""
    return [blocked_signals(t) for t in Path(f"/proc/{os.getpid()}/task").iterdir()]


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
async def test_runtime_threads_block_stop_signals() -> None:
    async with lmos.Servient(http_port=0) as servient:
        agent = servient.expose(lmos.agent("Quiet").action("ping", output={"type": "string"}))

        @agent.action("ping")
        async def ping() -> str:
            return "pong"

        client = await lmos.consume(agent.td_url)
        assert await client.invoke_action("ping") == "pong"

        threads = thread_masks()
        runtime = [(name, mask) for name, mask in threads if name.startswith("tokio")]
        assert runtime, f"no runtime thread among {[name for name, _ in threads]}"
        for name, mask in runtime:
            for sig in STOP_SIGNALS:
                assert mask & (1 << (sig - 1)), f"thread {name} does not block {sig.name}"
        main = blocked_signals(Path(f"/proc/{os.getpid()}/task/{os.getpid()}"))
        assert not main[1] & (1 << (signal.SIGINT - 1)), "the main thread must take SIGINT"


SERVE_FOREVER = """
import asyncio, signal, threading, lmos

async def main():
    async with lmos.Servient(http_port=0) as servient:
        agent = servient.expose(lmos.agent("Idle").action("ping", output={"type": "string"}))

        @agent.action("ping")
        async def ping():
            return "pong"

        client = await lmos.consume(agent.td_url)
        await client.invoke_action("ping")
        await asyncio.to_thread(lambda: None)  # leaves an idle executor thread behind
        worker = next(t for t in threading.enumerate() if t.name.startswith("asyncio_"))
        if TARGET == "executor":
            # What the kernel may do with Ctrl-C: hand it to a thread other than the main one.
            deliver = lambda: signal.pthread_kill(worker.ident, signal.SIGINT)
        else:
            deliver = lambda: signal.raise_signal(signal.SIGINT)  # to the timer thread itself
        threading.Timer(0.5, deliver).start()
        print(agent.td_url, flush=True)
        await servient.serve_forever()

try:
    asyncio.run(main())
except KeyboardInterrupt:
    print("interrupted", flush=True)
"""


@pytest.mark.parametrize("target", ["executor", "timer"])
def test_ctrl_c_stops_serve_forever_under_plain_asyncio_run(target: str) -> None:
    # No loop.add_signal_handler in the script: the idle loop must wake up however the signal
    # arrives, also when a thread other than the main one takes it.
    child = subprocess.Popen(
        [sys.executable, "-c", f"TARGET = {target!r}\n{SERVE_FOREVER}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        out, err = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        out, err = child.communicate()
        pytest.fail(f"the servient did not stop on SIGINT ({target}): {err}")
    assert out.startswith("http://"), err
    assert "interrupted" in out, err
