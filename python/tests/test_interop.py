"""Across languages and processes: the Rust agent called from Python, the Python agent called by
the Rust client (`lmos` CLI), and the examples run as their users run them."""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest

import lmos

FEEDBACK = {"rating": 5, "comment": "spot on"}


def affordances(td: dict[str, Any], base: str) -> dict[str, Any]:
    """The parts of a TD that make up its interface, with the server's base URL taken out and
    only the HTTP forms kept (other bindings may be compiled into the Rust example)."""
    text = json.dumps({k: td.get(k) for k in ("properties", "actions", "events", "title", "@type")})
    interface = json.loads(text.replace(base, "BASE/"))
    for kind in ("properties", "actions", "events"):
        for affordance in interface[kind].values():
            affordance["forms"] = [f for f in affordance["forms"] if f["href"].startswith("BASE/")]
    return interface


async def exercise_weather_agent(url: str) -> None:
    """Every affordance of the WeatherAgent, as its issue describes them."""
    agent = await lmos.consume(url, poll_interval=0.05)
    config = await agent.read_property("modelConfiguration")
    assert config == {"modelName": "gpt-4o", "temperature": 0.7, "maxTokens": 1000}

    changes = await agent.observe_property("modelConfiguration")
    new = {"modelName": "gpt-4o-mini", "temperature": 0.2, "maxTokens": 200}
    await agent.write_property("modelConfiguration", new)
    assert await changes.__anext__() == new
    await changes.aclose()
    with pytest.raises(lmos.InvalidInput):
        await agent.write_property("modelConfiguration", {"temperature": 3})

    answer = await agent.invoke_action(
        "getWeather", {"question": "Is it raining in Bonn?", "interactionMode": "text"}
    )
    assert "Is it raining in Bonn?" in answer
    with pytest.raises(lmos.InvalidInput):
        await agent.invoke_action("getWeather", {"question": "no mode"})

    feedback = await agent.subscribe_event("userFeedbackReceived")
    assert await agent.invoke_action("rate", FEEDBACK) is None
    assert await feedback.__anext__() == FEEDBACK
    await feedback.aclose()

    updates = [u async for u in agent.invoke_action_stream("forecast", {"city": "Bonn", "days": 3})]
    progress = [u.value for u in updates if isinstance(u, lmos.Progress)]
    # forecast is asynchronous: updates come from its status resource, which reports progress
    # from the moment the client subscribes (an early day can be gone by then).
    days = [p["day"] for p in progress]
    assert days == sorted(days) and set(days) <= {1, 2, 3}
    assert all(p["of"] == 3 for p in progress)
    output = updates[-1]
    assert isinstance(output, lmos.Output)
    assert [e["day"] for e in output.value] == [1, 2, 3]
    assert all(e["city"] == "Bonn" for e in output.value)

    handle = await agent.start_action("forecast", {"city": "Köln", "days": 7})
    assert handle.is_async
    await handle.cancel()
    with pytest.raises(lmos.ActionCancelled):
        await handle.output()

    result = await agent.invoke_action(
        "chat", {"messages": [{"role": "user", "content": "Sun tomorrow?"}]}
    )
    assert result["status"] == "success"
    assert "Sun tomorrow?" in result["messages"][0]["content"]


async def test_the_rust_weather_agent_called_from_python(start_agent, rust_weather_agent) -> None:
    agent = start_agent([str(rust_weather_agent), "--http-port", "0", "--forecast-step-ms", "20"])
    await exercise_weather_agent(agent.td_url)


async def test_the_python_weather_agent_behaves_like_the_rust_one(
    start_agent, python_example
) -> None:
    agent = start_agent(
        python_example("weather_agent.py", "--http-port", "0", "--forecast-step-ms", "20")
    )
    assert agent.td_url.endswith("/weatheragent")
    await exercise_weather_agent(agent.td_url)
    code, err = agent.stop(signal.SIGINT)  # Ctrl-C
    assert code == 0, err
    assert "Traceback" not in err


async def test_both_weather_agents_describe_the_same_affordances(
    start_agent, rust_weather_agent, python_example
) -> None:
    rust = start_agent([str(rust_weather_agent), "--http-port", "0"])
    python = start_agent(python_example("weather_agent.py", "--http-port", "0"))
    rust_td = (await lmos.consume(rust.td_url)).td
    python_td = (await lmos.consume(python.td_url)).td
    rust_base = rust.td_url.rsplit("/", 1)[0] + "/"
    python_base = python.td_url.rsplit("/", 1)[0] + "/"
    assert affordances(python_td, python_base) == affordances(rust_td, rust_base)
    assert python_td["links"] == rust_td["links"]
    assert python_td.get("lmos:metadata") == rust_td.get("lmos:metadata")


def run_cli(cli: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cli), *args, "--output", "json"], capture_output=True, text=True, timeout=60
    )


def test_the_python_weather_agent_called_by_the_rust_client(
    start_agent, python_example, lmos_cli
) -> None:
    agent = start_agent(
        python_example("weather_agent.py", "--http-port", "0", "--forecast-step-ms", "20")
    )
    url = agent.td_url

    read = run_cli(lmos_cli, "read", url, "modelConfiguration")
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["modelName"] == "gpt-4o"

    question = {"question": "Wind in Hamburg?", "interactionMode": "voice"}
    call = run_cli(lmos_cli, "call", url, "getWeather", json.dumps(question))
    assert call.returncode == 0, call.stderr
    lines = [json.loads(line) for line in call.stdout.splitlines()]
    assert "Wind in Hamburg?" in lines[-1]["output"]

    forecast = run_cli(lmos_cli, "call", url, "forecast", '{"city": "Kiel", "days": 2}')
    assert forecast.returncode == 0, forecast.stderr
    lines = [json.loads(line) for line in forecast.stdout.splitlines()]
    assert [line["progress"] for line in lines[:-1]] == [{"day": 1, "of": 2}, {"day": 2, "of": 2}]
    assert len(lines[-1]["output"]) == 2

    write = run_cli(
        lmos_cli,
        "write",
        url,
        "modelConfiguration",
        '{"modelName": "tiny", "temperature": 0, "maxTokens": 10}',
    )
    assert write.returncode == 0, write.stderr
    assert json.loads(run_cli(lmos_cli, "read", url, "modelConfiguration").stdout)["modelName"] == (
        "tiny"
    )

    # A handler that refuses its input: the Rust client reports the failure, the agent lives on.
    refused = run_cli(lmos_cli, "call", url, "chat", '{"messages": []}')
    assert refused.returncode == 1
    assert "invalid input" in refused.stderr
    invalid = run_cli(lmos_cli, "call", url, "getWeather", '{"question": "no mode"}')
    assert invalid.returncode == 2
    again = run_cli(lmos_cli, "call", url, "getWeather", json.dumps(question))
    assert again.returncode == 0, again.stderr


async def test_the_chat_example_wraps_a_plain_function(start_agent, python_example) -> None:
    agent = start_agent(python_example("chat_agent.py", "--http-port", "0"))
    chat = await lmos.consume(agent.td_url)
    assert "lmos:Agent" in str(chat.td["@type"])
    result = await chat.invoke_action(
        "chat",
        {
            "conversationContext": {"conversationId": "c1"},
            "messages": [
                {"role": "user", "content": "first question"},
                {"role": "assistant", "content": "an answer"},
                {"role": "user", "content": "how warm is it"},
            ],
        },
    )
    assert result["status"] == "success"
    assert result["messages"][0]["content"] == "You asked 4 word(s); the last one was 'it'."
    with pytest.raises(lmos.RemoteError) as refused:
        await chat.invoke_action("chat", {"messages": [{"role": "system", "content": "hi"}]})
    assert refused.value.status == 400
    code, err = agent.stop(signal.SIGINT)
    assert code == 0, err
