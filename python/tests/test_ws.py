"""The WebSocket (``lmosprotocol``) binding from Python: serving and consuming over real loopback
sockets, in both dialects, and the Rust client calling a Python agent with ``--protocol ws``."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import subprocess
from pathlib import Path
from typing import Any

import pytest
from test_things import WAIT, served

import lmos

DIALECTS = ["spec", "kotlin-wot"]


def websocket_only(td: dict[str, Any], td_url: str) -> dict[str, Any]:
    """The TD with every HTTP form removed, so that a call can only go over WebSocket. A TD
    without ``id`` is named by the URL it came from in WebSocket messages; a dict has no URL,
    so it is given as the ``id``."""
    td = copy.deepcopy(td)
    td.setdefault("id", td_url)
    td["forms"] = [f for f in td.get("forms", []) if f["href"].startswith("ws")]
    for kind in ("properties", "actions", "events"):
        for affordance in td.get(kind, {}).values():
            affordance["forms"] = [f for f in affordance["forms"] if f["href"].startswith("ws")]
    return td


async def ws_thing(url: str, dialect: str) -> lmos.ConsumedThing:
    td = (await lmos.consume(url)).td
    return lmos.ConsumedThing(websocket_only(td, url), protocols=["ws"], dialect=dialect)


async def test_ws_port_is_bound_and_the_forms_point_at_it() -> None:
    servient, counter = await served(ws_port=0)
    async with servient:
        assert servient.ws_address is not None
        assert servient.http_address is not None
        host, port = servient.ws_address
        assert port not in (0, servient.http_address[1])
        hrefs = [f["href"] for f in counter.exposed.td["properties"]["count"]["forms"]]
        assert any(h.startswith(f"ws://{host}:{port}/") for h in hrefs), hrefs


async def test_websocket_off_leaves_no_ws_forms() -> None:
    servient, counter = await served(websocket=False)
    async with servient:
        assert servient.ws_address is None
        td = counter.exposed.td
        hrefs = [
            f["href"]
            for kind in ("properties", "actions", "events")
            for a in td[kind].values()
            for f in a["forms"]
        ]
        hrefs += [f["href"] for f in td.get("forms", [])]
        assert hrefs and not any(h.startswith("ws") for h in hrefs)
        # A preference for WebSocket is only a preference: the HTTP forms still serve.
        thing = await lmos.consume(counter.exposed.td_url or "", protocols=["ws"])
        assert await thing.read_property("version") == "1.0"


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_properties_and_actions_over_websocket(dialect: str) -> None:
    servient, counter = await served(ws_port=0)
    async with servient:
        thing = await ws_thing(counter.exposed.td_url, dialect)
        assert await thing.read_property("version") == "1.0"
        assert await thing.read_property("now") == 42
        await thing.write_property("label", "over ws")
        assert counter.writes == ["over ws"]
        assert await thing.invoke_action("add", {"by": 2}) == 2
        assert await thing.invoke_action("add", {"by": 3}) == 5
        assert await thing.read_property("count") == 5
        updates = [u async for u in thing.invoke_action_stream("count_to", 3)]
        assert updates == [
            lmos.Progress(1),
            lmos.Progress(2),
            lmos.Progress(3),
            lmos.Output("counted to 3"),
        ]


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_observe_property_and_subscribe_event_over_websocket(dialect: str) -> None:
    servient, counter = await served()  # WebSocket on the HTTP port
    async with servient:
        assert servient.ws_address == servient.http_address
        thing = await ws_thing(counter.exposed.td_url, dialect)
        async with await thing.observe_property("count") as values:
            await thing.invoke_action("add", {"by": 4})
            counter.exposed.set_property("count", 9)
            seen = []
            async for value in values:
                seen.append(value)
                if value == 9:
                    break
            assert seen == [4, 9]
        events = await thing.subscribe_event("reset")
        counter.exposed.emit_event("reset", {"by": dialect})
        assert await asyncio.wait_for(events.__anext__(), WAIT) == {"by": dialect}
        await events.aclose()


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_a_handler_that_raises_gives_a_clean_error_over_websocket(
    dialect: str, caplog: pytest.LogCaptureFixture
) -> None:
    servient, counter = await served(ws_port=0)
    async with servient:
        thing = await ws_thing(counter.exposed.td_url, dialect)
        with caplog.at_level(logging.ERROR, logger="lmos"):
            with pytest.raises(lmos.ActionFailed) as caught:
                await thing.invoke_action("fail")
        # Over WebSocket the failure arrives as an error message carrying a problem document.
        assert caught.value.problem is not None
        assert caught.value.problem["title"] == "internal error"
        assert "secret" not in str(caught.value)
        assert "secret" not in str(caught.value.problem)
        assert "secret internal detail" in caplog.text  # logged on the serving side
        assert "RuntimeError" in caplog.text
        with pytest.raises(lmos.ActionFailed) as refused:
            await thing.invoke_action("refuse")
        assert refused.value.problem is not None
        assert refused.value.problem["title"] == "invalid input"
        assert refused.value.problem["detail"] == "try again tomorrow"
        # The connection and the server keep serving.
        assert await thing.invoke_action("add", {"by": 1}) == 1


async def test_an_unknown_dialect_is_a_clear_error() -> None:
    td = lmos.agent("Empty").property("x", {"type": "integer"}).build()
    with pytest.raises(lmos.ConfigurationError, match='unknown dialect "klingon"'):
        lmos.ConsumedThing(td, dialect="klingon")
    with pytest.raises(lmos.ConfigurationError, match="spec"):
        await lmos.consume("http://127.0.0.1:9/td", dialect="")


def run_cli(cli: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(cli), *args, "--output", "json"], capture_output=True, text=True, timeout=60
    )


@pytest.mark.parametrize("dialect", DIALECTS)
def test_the_python_weather_agent_called_by_the_rust_client_over_websocket(
    start_agent, python_example, lmos_cli, dialect: str
) -> None:
    agent = start_agent(
        python_example(
            "weather_agent.py", "--http-port", "0", "--ws-port", "0", "--forecast-step-ms", "20"
        )
    )
    url = agent.td_url
    ws = ["--protocol", "ws", "--dialect", dialect]

    read = run_cli(lmos_cli, "read", url, "modelConfiguration", *ws)
    assert read.returncode == 0, read.stderr
    assert json.loads(read.stdout)["modelName"] == "gpt-4o"

    write = run_cli(
        lmos_cli,
        "write",
        url,
        "modelConfiguration",
        '{"modelName": "tiny", "temperature": 0, "maxTokens": 10}',
        *ws,
    )
    assert write.returncode == 0, write.stderr
    read = run_cli(lmos_cli, "read", url, "modelConfiguration", *ws)
    assert json.loads(read.stdout)["modelName"] == "tiny"

    forecast = run_cli(lmos_cli, "call", url, "forecast", '{"city": "Kiel", "days": 2}', *ws)
    assert forecast.returncode == 0, forecast.stderr
    lines = [json.loads(line) for line in forecast.stdout.splitlines()]
    assert [line["progress"] for line in lines[:-1]] == [{"day": 1, "of": 2}, {"day": 2, "of": 2}]
    assert len(lines[-1]["output"]) == 2

    refused = run_cli(lmos_cli, "call", url, "chat", '{"messages": []}', *ws)
    assert refused.returncode == 1
    assert "invalid input" in refused.stderr
