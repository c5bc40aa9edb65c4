"""A conversational LMOS agent that wraps a plain Python function.

    python examples/chat_agent.py --http-port 0

`answer` below is an ordinary function from question to answer (put your model call there). The
agent publishes it as the `chat` action with the AgentRequest / AgentResult shapes of the LMOS
Kotlin SDK, so any LMOS client can talk to it, e.g. `await lmos.chat(url, "How warm is it?")`.
The first line on stdout is the URL of the TD.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from typing import Any

import lmos


def answer(question: str) -> str:
    """The wrapped function: any plain Python callable from question to answer."""
    words = question.split()
    return f"You asked {len(words)} word(s); the last one was {words[-1]!r}." if words else "?"


def chat_agent(title: str, function: Any) -> lmos.ThingBuilder:
    """An agent description with one `chat` action (AgentRequest in, AgentResult out)."""
    return (
        lmos.agent(title).description(function.__doc__ or "A conversational agent.").chat_action()
    )


def publish_chat(agent: lmos.ExposedThing, function: Any) -> None:
    """Serves `function(question) -> str` as the agent's `chat` action."""

    @agent.on_chat
    async def chat(request: dict[str, Any]) -> str:
        questions = [m["content"] for m in request["messages"] if m["role"] == "user"]
        if not questions:
            raise lmos.InvalidInput("the request has no user message")
        # A plain function may block: keep the event loop free while it runs. The answer
        # becomes an AgentResult with status "success" and one text message from the agent.
        return await asyncio.to_thread(function, questions[-1])


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A chat agent around a Python function")
    parser.add_argument("--http-port", type=int, default=8080, help="HTTP port (0 = any free)")
    options = parser.parse_args(argv)
    async with lmos.Servient(http_port=options.http_port) as servient:
        agent = servient.expose(chat_agent("EchoChat", answer))
        publish_chat(agent, answer)
        print(agent.td_url, flush=True)
        with contextlib.suppress(asyncio.CancelledError):
            await servient.serve_forever()
    return 0


if __name__ == "__main__":
    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        code = asyncio.run(main())
    # Leave without interpreter finalization: a Tokio thread that touches Python while the
    # interpreter finalizes aborts the process on CPython < 3.13 (see python/README.md).
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)
