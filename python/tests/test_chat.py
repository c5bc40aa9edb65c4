"""Conversational agents from Python: ``chat_action()``, ``on_chat``, ``lmos.chat(url, question)``
and ``ConsumedThing.chat``, over real loopback sockets; the Rust and Python agents answer each
other's clients."""

from __future__ import annotations

import logging
import signal
import uuid
from typing import Any

import pytest

import lmos

# The AgentRequest example of the LMOS Kotlin SDK page.
KOTLIN_REQUEST: dict[str, Any] = {
    "conversationContext": {"conversationId": "1"},
    "systemContext": [{"key": "channelId", "value": "web"}],
    "userContext": {"userId": "1234", "profile": [{"key": "name", "value": "Max Mustermann"}]},
    "messages": [{"role": "user", "content": "What is the weather in London?", "format": "text"}],
}


def weather_answer(question: str) -> str:
    return f"Sunny in reply to {question!r}"


class WeatherChat:
    """A served chat agent that answers from the last user message and keeps every request."""

    def __init__(self, servient: lmos.Servient) -> None:
        self.requests: list[dict[str, Any]] = []
        self.exposed = servient.expose(lmos.agent("Weather Chat").chat_action())

        @self.exposed.on_chat
        async def answer(request: dict[str, Any]) -> str:
            self.requests.append(request)
            questions = [m["content"] for m in request["messages"] if m["role"] == "user"]
            if not questions:
                raise lmos.InvalidInput("no user message")
            return weather_answer(questions[-1])

    @property
    def url(self) -> str:
        url = self.exposed.td_url
        assert url is not None
        return url


async def test_chat_returns_the_handlers_answer() -> None:
    async with lmos.Servient(http_port=0) as servient:
        agent = WeatherChat(servient)
        answer = await lmos.chat(agent.url, "What is the weather in London?")
        assert answer == weather_answer("What is the weather in London?")
        [request] = agent.requests
        assert request["messages"] == [
            {"role": "user", "content": "What is the weather in London?", "format": "text"}
        ]
        conversation = uuid.UUID(request["conversationContext"]["conversationId"])
        assert conversation.version == 4


async def test_whole_requests_reach_the_agent_unchanged_and_results_come_back_whole() -> None:
    async with lmos.Servient(http_port=0) as servient:
        agent = WeatherChat(servient)
        thing = await lmos.consume(agent.url)
        request = {
            **KOTLIN_REQUEST,
            "conversationContext": {"conversationId": "1", "turnId": "7", "tenant": "de"},
            "future": {"nested": [1, 2.5, None]},
        }
        result = await thing.chat(request)
        assert agent.requests == [request]
        assert result == lmos.agent_result(weather_answer("What is the weather in London?"))
        assert result == {
            "status": "success",
            "messages": [
                {
                    "role": "agent",
                    "content": weather_answer("What is the weather in London?"),
                    "format": "text",
                }
            ],
        }
        # A str is a question in a new conversation; ask() gives just the text.
        assert (await thing.chat("Rain?"))["messages"][0]["content"] == weather_answer("Rain?")
        assert await thing.ask("Snow?") == weather_answer("Snow?")


async def test_handlers_may_return_whole_results_with_members_of_their_own() -> None:
    async with lmos.Servient(http_port=0) as servient:
        exposed = servient.expose(lmos.agent("Rich").chat_action(description="Answers richly."))
        seen_contexts: list[lmos.InteractionContext] = []

        async def answer(request: dict[str, Any], ctx: lmos.InteractionContext) -> dict[str, Any]:
            seen_contexts.append(ctx)
            return {
                "status": "success",
                "responseTime": 1.25,
                "messages": [{"role": "assistant", "content": "Done", "format": "markdown"}],
                "toolCalls": [{"name": "lookup", "arguments": "{}"}],
            }

        assert exposed.on_chat(answer) is answer
        assert exposed.td["actions"]["chat"]["description"] == "Answers richly."
        thing = await lmos.consume(exposed.td_url or "")
        result = await thing.chat(lmos.agent_request("hi"))
        assert result["toolCalls"] == [{"name": "lookup", "arguments": "{}"}]
        assert result["responseTime"] == 1.25
        assert lmos.first_text(result) == "Done"
        assert await lmos.chat(exposed.td_url or "", "hi") == "Done"
        assert seen_contexts and seen_contexts[0].trace_id


async def test_a_request_without_messages_is_invalid_input() -> None:
    async with lmos.Servient(http_port=0) as servient:
        agent = WeatherChat(servient)
        no_messages = {"conversationContext": {"conversationId": "1"}}
        thing = await lmos.consume(agent.url)
        # Read before sending: not an AgentRequest.
        with pytest.raises(lmos.InvalidInput, match="messages") as caught:
            await thing.chat(no_messages)
        assert caught.value.code == "invalid_input"
        # Checked against the TD's input schema before sending.
        with pytest.raises(lmos.InvalidInput, match="messages"):
            await thing.invoke_action("chat", no_messages)
        # Sent anyway: the server refuses it.
        unchecked = await lmos.consume(agent.url, validate_inputs=False)
        with pytest.raises(lmos.RemoteError) as refused:
            await unchecked.invoke_action("chat", no_messages)
        assert refused.value.status == 400
        assert agent.requests == [], "the handler never ran"
        # The handler's own refusal reaches the caller too.
        with pytest.raises(lmos.RemoteError, match="no user message") as refused:
            await thing.chat({"messages": [{"role": "system", "content": "be brief"}]})
        assert refused.value.status == 400


async def test_unusable_replies_are_the_handlers_fault(caplog: pytest.LogCaptureFixture) -> None:
    async with lmos.Servient(http_port=0) as servient:
        exposed = servient.expose(lmos.agent("Broken").chat_action())

        @exposed.on_chat
        async def answer(request: dict[str, Any]) -> int:
            return 42

        with caplog.at_level(logging.ERROR, logger="lmos"):
            with pytest.raises(lmos.RemoteError) as caught:
                await lmos.chat(exposed.td_url or "", "hi")
        assert caught.value.status == 500
        assert "reply is unusable" in caplog.text


async def test_a_result_without_an_agent_message_is_no_answer() -> None:
    async with lmos.Servient(http_port=0) as servient:
        exposed = servient.expose(lmos.agent("Echo only").chat_action())

        @exposed.on_chat
        async def answer(request: dict[str, Any]) -> dict[str, Any]:
            return {"status": "success", "messages": request["messages"]}

        with pytest.raises(lmos.InvalidOutput, match="no answer") as caught:
            await lmos.chat(exposed.td_url or "", "anyone?")
        assert caught.value.code == "invalid_output"


async def test_things_without_a_chat_action_say_so() -> None:
    async with lmos.Servient(http_port=0) as servient:
        exposed = servient.expose(lmos.tool("Mute").action("ping"))
        with pytest.raises(lmos.NotFound):
            exposed.on_chat(lambda request: "x")
        with pytest.raises(lmos.NotFound):
            await lmos.chat(exposed.td_url or "", "hello?")
    with pytest.raises(lmos.TransportError):
        await lmos.chat("http://127.0.0.1:1/nothing", "hello?", timeout=5)


def test_shapes_and_schemas() -> None:
    request = lmos.agent_request("Hi?")
    assert request["messages"] == [{"role": "user", "content": "Hi?", "format": "text"}]
    assert uuid.UUID(request["conversationContext"]["conversationId"]).version == 4
    assert lmos.agent_request("Hi?") != request  # a new conversation each time
    assert lmos.agent_result("Yes.") == {
        "status": "success",
        "messages": [{"role": "agent", "content": "Yes.", "format": "text"}],
    }
    assert lmos.first_text({"messages": [{"role": "user", "content": "q"}]}) is None
    with pytest.raises(lmos.InvalidOutput):
        lmos.first_text({"status": "success"})

    lmos.check_payload(lmos.agent_request_schema(), KOTLIN_REQUEST)
    lmos.check_payload(lmos.agent_result_schema(), lmos.agent_result("ok"))
    with pytest.raises(lmos.InvalidPayload):
        lmos.check_payload(lmos.agent_request_schema(), {"userContext": {}})
    td = lmos.agent("A").chat_action().build()
    assert td["actions"]["chat"]["input"] == lmos.agent_request_schema()
    assert td["actions"]["chat"]["output"] == lmos.agent_result_schema()
    assert td["actions"]["chat"]["synchronous"] is True


async def test_the_rust_weather_agent_answers_lmos_chat(start_agent, rust_weather_agent) -> None:
    agent = start_agent([str(rust_weather_agent), "--http-port", "0"])
    answer = await lmos.chat(agent.td_url, "What is the weather in London?")
    assert "What is the weather in London?" in answer
    thing = await lmos.consume(agent.td_url)
    assert thing.td["actions"]["chat"]["input"] == lmos.agent_request_schema()
    assert thing.td["actions"]["chat"]["output"] == lmos.agent_result_schema()


async def test_the_chat_example_answers_lmos_chat(start_agent, python_example) -> None:
    agent = start_agent(python_example("chat_agent.py", "--http-port", "0"))
    answer = await lmos.chat(agent.td_url, "how warm is it")
    assert answer == "You asked 4 word(s); the last one was 'it'."
    code, err = agent.stop(signal.SIGINT)
    assert code == 0, err
