"""The reference LMOS agent in Python: the WeatherAgent of the LMOS agent description.

    python examples/weather_agent.py --http-port 0 [--ws-port 0]

The first line on stdout is the URL of the agent's Thing Description; the agent serves until
interrupted (Ctrl-C or SIGTERM). WebSocket (lmosprotocol) is served on the HTTP port, or on its
own port with --ws-port (0 = any free). Same affordances and behaviour as
core/examples/weather_agent.rs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

import lmos


def string(description: str) -> dict[str, Any]:
    return {"type": "string", "description": description}


def key_values(description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"key": {"type": "string"}, "value": {"type": "string"}},
            "required": ["key", "value"],
        },
        "description": description,
    }


def messages(description: str) -> dict[str, Any]:
    return {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "role": string("Who wrote the message: user, assistant, agent or system."),
                "content": string("The text of the message."),
                "format": string("Format of the content, e.g. text."),
            },
            "required": ["role", "content"],
        },
        "description": description,
    }


FEEDBACK = {
    "type": "object",
    "properties": {
        "rating": {
            "type": "integer",
            "minimum": 1,
            "maximum": 5,
            "description": "User rating, where 1 is the lowest and 5 is the highest.",
        },
        "comment": string("Optional user comment providing additional feedback."),
    },
    "required": ["rating"],
}


def weather_agent() -> dict[str, Any]:
    """The WeatherAgent's Thing Description (the servient adds the forms)."""
    model_configuration = {
        "type": "object",
        "properties": {
            "modelName": string("Name of the model in use, e.g., gpt-4o."),
            "temperature": {
                "type": "number",
                "minimum": 0,
                "maximum": 1,
                "description": "Temperature setting for controlling response randomness.",
            },
            "maxTokens": {
                "type": "integer",
                "description": "Maximum number of tokens the model is allowed to generate.",
            },
        },
        "description": "Current configuration of the underlying LLM, including version, "
        "temperature, and maximum tokens.",
    }
    return (
        lmos.agent("WeatherAgent")
        .id("urn:uuid:6f1d3a7a-1f97-4e6b-b45f-f3c2e1c84c77")
        .description("An agent that answers questions about the weather.")
        .vendor("Deutsche Telekom AG", "https://telekom.de")
        .link(
            "https://weatherai.example.com/manual.pdf",
            rel="service-doc",
            media_type="application/pdf",
            hreflang="en",
        )
        .property("modelConfiguration", model_configuration, observable=True)
        .action(
            "getWeather",
            description="Fetches weather information based on user input.",
            safe=True,
            idempotent=False,
            synchronous=True,
            input={
                "type": "object",
                "properties": {
                    "question": {"type": "string"},
                    "interactionMode": {"type": "string", "enum": ["text", "voice"]},
                },
                "required": ["question", "interactionMode"],
            },
            output=string("Natural language output providing weather information."),
        )
        .action(
            "rate",
            description="Rates the service; emits userFeedbackReceived.",
            synchronous=True,
            input=FEEDBACK,
        )
        .action(
            "forecast",
            description="Forecasts the weather for the next days, reporting progress per day.",
            synchronous=False,
            input={
                "type": "object",
                "properties": {
                    "city": {"type": "string"},
                    "days": {"type": "integer", "minimum": 1, "maximum": 7},
                },
                "required": ["city", "days"],
            },
            output={
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "day": {"type": "integer"},
                        "city": {"type": "string"},
                        "summary": {"type": "string"},
                        "temperatureC": {"type": "number"},
                    },
                    "required": ["day", "city", "summary", "temperatureC"],
                },
            },
        )
        .action(
            "chat",
            description="Ask the agent a question (AgentRequest in, AgentResult out).",
            synchronous=True,
            input={
                "type": "object",
                "properties": {
                    "conversationContext": {
                        "type": "object",
                        "properties": {
                            "conversationId": {"type": "string"},
                            "turnId": {"type": "string"},
                        },
                    },
                    "systemContext": key_values("Context of the calling system."),
                    "userContext": {
                        "type": "object",
                        "properties": {
                            "userId": {"type": "string"},
                            "profile": key_values("Facts about the user."),
                        },
                    },
                    "messages": messages("The conversation so far."),
                },
                "required": ["messages"],
            },
            output={
                "type": "object",
                "properties": {
                    "status": string("success or failure"),
                    "messages": messages("The agent's answer."),
                },
                "required": ["messages"],
            },
        )
        .event(
            "userFeedbackReceived",
            description="Emitted when a user provides feedback on the service, with a rating "
            "from 1 to 5.",
            data=FEEDBACK,
        )
        .build()
    )


def weather_answer(question: str, mode: str) -> str:
    return f'Weather for "{question}": sunny, 21 °C, light wind (answered in {mode} mode).'


def serve(agent: lmos.ExposedThing, step: float) -> None:
    """Registers the WeatherAgent's handlers."""
    agent.set_property(
        "modelConfiguration", {"modelName": "gpt-4o", "temperature": 0.7, "maxTokens": 1000}
    )

    @agent.action("getWeather")
    async def get_weather(input: dict[str, Any]) -> str:
        return weather_answer(input["question"], input["interactionMode"])

    @agent.action("rate")
    async def rate(input: dict[str, Any]) -> None:
        agent.emit_event("userFeedbackReceived", input)

    @agent.action("forecast")
    async def forecast(input: dict[str, Any]):  # an async generator: progress, then the output
        city, days = input["city"], input["days"]
        entries = []
        for day in range(1, days + 1):
            await asyncio.sleep(step)
            entries.append(
                {
                    "day": day,
                    "city": city,
                    "summary": ["sunny", "cloudy", "rain", "windy"][day % 4],
                    "temperatureC": 15 + day,
                }
            )
            yield {"day": day, "of": days}
        yield lmos.Output(entries)

    @agent.action("chat")
    async def chat(request: dict[str, Any]) -> dict[str, Any]:
        questions = [m["content"] for m in request["messages"] if m["role"] == "user"]
        if not questions:
            raise lmos.InvalidInput("no user message")
        answer = weather_answer(questions[-1], "text")
        return {
            "status": "success",
            "messages": [{"role": "agent", "content": answer, "format": "text"}],
        }


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="The LMOS WeatherAgent over HTTP and WebSocket")
    parser.add_argument("--http-port", type=int, default=8080, help="HTTP port (0 = any free)")
    parser.add_argument(
        "--ws-port", type=int, default=None, help="separate WebSocket port (0 = any free)"
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--public-base-url", help="URL under which clients reach this server")
    parser.add_argument(
        "--forecast-step-ms", type=int, default=200, help="time forecast spends on each day"
    )
    parser.add_argument("--id", help="another TD id (to run several WeatherAgents side by side)")
    options = parser.parse_args(argv)

    try:
        servient = lmos.Servient(
            http_port=options.http_port,
            host=options.host,
            public_base_url=options.public_base_url,
            ws_port=options.ws_port,
        )
        description = weather_agent()
        if options.id is not None:
            description["id"] = options.id
        agent = servient.expose(description)
        serve(agent, options.forecast_step_ms / 1000)
        await servient.start()
    except lmos.LmosError as error:
        print(f"weather_agent: {error}", file=sys.stderr)
        return 1
    print(agent.td_url, flush=True)
    task = asyncio.current_task()
    if task is not None:
        with contextlib.suppress(NotImplementedError):  # no signal handlers on Windows
            asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        await servient.serve_forever()
    except asyncio.CancelledError:
        pass
    finally:
        await servient.shutdown()
    return 0


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    code = 0
    with contextlib.suppress(KeyboardInterrupt):
        code = asyncio.run(main())
    # Leave without interpreter finalization: a Tokio thread that touches Python while the
    # interpreter finalizes aborts the process on CPython < 3.13 (see python/README.md).
    logging.shutdown()
    sys.stdout.flush()
    os._exit(code)
