"""Conversational agents: the ``chat`` action of the LMOS Kotlin SDK, which takes an
``AgentRequest`` and returns an ``AgentResult`` (plain dicts here).

Serve one::

    agent = servient.expose(lmos.agent("Weather").chat_action())

    @agent.on_chat
    async def answer(request):
        return f"Sunny, as asked: {request['messages'][-1]['content']}"

Ask one::

    print(await lmos.chat("http://127.0.0.1:8080/weather", "What is the weather in London?"))
"""

from __future__ import annotations

from typing import Any

from lmos import _native


async def chat(
    url: str,
    question: str,
    *,
    timeout: float | None = 30.0,
    credentials: dict[str, Any] | None = None,
    extra_ca_pem: str | None = None,
) -> str:
    """Consumes the agent whose TD is at ``url``, asks ``question`` in a new conversation and
    returns the text of the agent's first message. ``credentials`` and ``extra_ca_pem`` are
    those of :func:`lmos.consume`.

    Raises :class:`lmos.InvalidOutput` when the agent's result holds no message from the agent,
    and the usual :class:`lmos.LmosError` subclasses when the agent cannot be consumed or called.
    """
    answer: str = await _native.chat(
        url, question, timeout=timeout, credentials=credentials, extra_ca_pem=extra_ca_pem
    )
    return answer


def agent_request(question: str) -> dict[str, Any]:
    """An ``AgentRequest`` that opens a new conversation (a fresh ``conversationId``) with one
    user message."""
    return _native.agent_request(question)


def agent_result(answer: str) -> dict[str, Any]:
    """An ``AgentResult`` with status ``success`` and one text message from the agent."""
    return _native.agent_result(answer)


def first_text(result: dict[str, Any]) -> str | None:
    """The text of the first message the agent wrote in an ``AgentResult`` (role neither
    ``user`` nor ``system``), or ``None``; raises :class:`lmos.InvalidOutput` for a dict that is
    not an ``AgentResult``."""
    return _native.first_text(result)


def agent_request_schema() -> dict[str, Any]:
    """The JSON Schema of an ``AgentRequest`` (the input of a ``chat`` action)."""
    return _native.agent_request_schema()


def agent_result_schema() -> dict[str, Any]:
    """The JSON Schema of an ``AgentResult`` (the output of a ``chat`` action)."""
    return _native.agent_result_schema()
