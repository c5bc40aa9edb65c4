"""Discovery from Python: a directory served from Python (SQLite, PostgreSQL when one is given)
and one served by the Rust CLI, the client (register, read, search, watch), and an exposed
agent keeping itself registered. Real sockets on 127.0.0.1, real SQLite files."""

from __future__ import annotations

import asyncio
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

import lmos

WAIT = 30.0  # a guard against hangs, never a measured time


def td(
    kind: str, id: str, title: str, description: str, vendor: str, action: str
) -> dict[str, Any]:
    return {
        "@context": [
            "https://www.w3.org/2022/wot/td/v1.1",
            {"lmos": "https://eclipse.dev/lmos/protocol/v1"},
        ],
        "@type": "lmos:Tool" if kind == "tool" else "lmos:Agent",
        "id": id,
        "title": title,
        "description": description,
        "lmos:metadata": {"lmos:vendor": {"lmos:name": vendor}},
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": "nosec_sc",
        "actions": {
            action: {
                "description": f"{title}: {action}",
                "forms": [{"href": f"http://127.0.0.1:9/{title.lower()}/actions/{action}"}],
            }
        },
    }


def weather(id: str = "urn:example:weather") -> dict[str, Any]:
    return td(
        "agent",
        id,
        "Weather",
        "Tells the current weather and the forecast for a city",
        "ACME",
        "getForecast",
    )


def geocoder(id: str = "urn:example:geo") -> dict[str, Any]:
    return td("tool", id, "Geocoder", "Turns addresses into coordinates", "Maps Inc", "geocode")


def travel() -> dict[str, Any]:
    thing = td(
        "agent", "x", "Travel Planner", "Plans trips with flights and hotels", "ACME", "plan"
    )
    del thing["id"]
    return thing


async def next_event(events: lmos.DirectoryWatch) -> lmos.DirectoryEvent:
    return await asyncio.wait_for(events.__anext__(), WAIT)


async def test_a_directory_served_from_python(tmp_path: Path) -> None:
    db = tmp_path / "things.db"
    async with await lmos.serve_directory(f"sqlite:{db}", port=0) as directory:
        host, port = directory.address
        assert host == "127.0.0.1" and port != 0
        assert directory.base_url == f"http://127.0.0.1:{port}/"
        client = lmos.DirectoryClient(directory.base_url)
        assert (await client.describe())["@type"] == "ThingDirectory"
        events = client.watch(diff=True, last_event_id="0")

        assert await client.register(weather()) == "urn:example:weather"
        assert await client.register(geocoder(), ttl=600) == "urn:example:geo"
        travel_id = await client.register(travel())
        assert travel_id.startswith("urn:uuid:")
        assert (await client.get(travel_id))["title"] == "Travel Planner"
        assert (await client.get("urn:example:geo"))["registration"]["ttl"] == 600

        assert sorted(t["id"] for t in await client.list()) == sorted(
            ["urn:example:weather", "urn:example:geo", travel_id]
        )
        assert [t["id"] for t in await client.find_type("tool")] == ["urn:example:geo"]
        assert len(await client.find_vendor("acme")) == 2
        found = await client.find_text("an agent that can tell the weather")
        assert found[0]["id"] == "urn:example:weather"
        trips = await client.search(type="agent", text="trip")
        assert [t["id"] for t in trips] == [travel_id]
        titles = await client.search_jsonpath("$[*].title")
        assert sorted(titles) == ["Geocoder", "Travel Planner", "Weather"]
        assert await client.search_jsonpath("$[?@.title=='Weather'].id") == ["urn:example:weather"]

        renamed = weather()
        renamed["title"] = "Weather Pro"
        await client.update(renamed)
        assert (await client.get("urn:example:weather"))["title"] == "Weather Pro"
        await client.patch("urn:example:weather", {"description": "Sun and rain"})
        await client.delete("urn:example:geo")

        seen = [await next_event(events) for _ in range(6)]
        assert [(e.kind, e.thing_id) for e in seen] == [
            ("created", "urn:example:weather"),
            ("created", "urn:example:geo"),
            ("created", travel_id),
            ("updated", "urn:example:weather"),
            ("updated", "urn:example:weather"),
            ("deleted", "urn:example:geo"),
        ]
        assert seen[0].data["title"] == "Weather"  # diff: the TD as registered
        assert seen[3].data == {"id": "urn:example:weather", "title": "Weather Pro"}
        ids = [int(e.event_id or "0") for e in seen]
        assert ids == sorted(ids) and len(set(ids)) == 6
        await events.aclose()

    # Every acknowledged write is in the file: a new server on it sees them.
    async with await lmos.serve_directory(str(db), port=0) as directory:
        client = lmos.DirectoryClient(directory.base_url)
        assert (await client.get("urn:example:weather"))["description"] == "Sun and rain"
        with pytest.raises(lmos.DirectoryNotFound):
            await client.get("urn:example:geo")


async def test_bad_inputs_give_clear_errors_and_lose_nothing(tmp_path: Path) -> None:
    async with await lmos.serve_directory(f"sqlite:{tmp_path / 'd.db'}", port=0) as directory:
        client = lmos.DirectoryClient(directory.base_url)
        await client.register(weather())

        with pytest.raises(lmos.DirectoryNotFound) as missing:
            await client.get("urn:example:nothing")
        assert missing.value.id == "urn:example:nothing"
        assert missing.value.code == "directory_not_found"
        with pytest.raises(lmos.DirectoryNotFound):
            await client.delete("urn:example:nothing")

        invalid = weather()
        invalid["security"] = "nothing_sc"
        invalid["title"] = "Broken"
        with pytest.raises(lmos.DirectoryInvalidTd) as refused:
            await client.update(invalid)
        assert "nothing_sc" in str(refused.value)
        assert refused.value.code == "directory_invalid_td"
        assert (await client.get("urn:example:weather"))["title"] == "Weather", "nothing lost"

        with pytest.raises(lmos.DirectoryInvalidTd):
            await client.patch("urn:example:weather", {"security": "nothing_sc"})
        with pytest.raises(lmos.DirectoryStatusError) as bad_path:
            await client.search_jsonpath("$$")
        assert bad_path.value.status == 400
        with pytest.raises(lmos.DirectoryBadRequest):
            await client.update(travel())  # no id to update
        with pytest.raises(ValueError, match="ttl"):
            await client.register(weather(), ttl=0)
        with pytest.raises(TypeError):
            await client.register({"title": object()})
        with pytest.raises(ValueError, match="created"):
            client.watch(kind="renamed")  # type: ignore[arg-type]
        assert [t["title"] for t in await client.list()] == ["Weather"]

    with pytest.raises(lmos.DirectoryConfigError):
        lmos.DirectoryClient("ftp://127.0.0.1/")
    with pytest.raises(lmos.DirectoryConfigError):
        await lmos.serve_directory("sqlite:", port=0)
    with pytest.raises(lmos.DirectoryError) as not_a_file:
        await lmos.serve_directory(f"sqlite:{tmp_path}", port=0)  # a directory, not a file
    assert not_a_file.value.code.startswith("directory_")

    # Nothing listens there any more.
    closed = lmos.DirectoryClient(directory.base_url)
    with pytest.raises(lmos.DirectoryUnreachable):
        await closed.list()


async def test_a_postgres_url_is_passed_through() -> None:
    # Port 1 on loopback: nothing listens. The URL reaches the PostgreSQL store, which says so.
    with pytest.raises(lmos.DirectoryStoreError) as refused:
        await lmos.serve_directory("postgres://lmos@127.0.0.1:1/lmos", port=0)
    assert refused.value.code == "directory_store"
    assert "secret" not in str(refused.value)


async def test_a_postgres_directory() -> None:
    url = os.environ.get("LMOS_TEST_POSTGRES_URL")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail("LMOS_TEST_POSTGRES_URL is not set (run under scripts/with-postgres)")
        pytest.skip("SKIPPED: no PostgreSQL (run under scripts/with-postgres)")
    async with await lmos.serve_directory(url, port=0) as directory:
        client = lmos.DirectoryClient(directory.base_url)
        thing_id = f"urn:example:pg-{os.getpid()}"
        await client.register(weather(thing_id))
        assert any(t["id"] == thing_id for t in await client.find_text("weather forecast"))
        await client.delete(thing_id)


class CliDirectory:
    """`lmos directory serve` as a process; its first stdout line is the base URL."""

    def __init__(self, cli: Path, db: Path) -> None:
        self.process = subprocess.Popen(
            [str(cli), "directory", "serve", "--port", "0", "--db", f"sqlite:{db}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout is not None
        self.base_url = self.process.stdout.readline().strip()
        if not self.base_url:
            self.process.kill()
            _, err = self.process.communicate()
            raise RuntimeError(f"lmos directory serve printed no URL: {err}")

    def stop(self) -> None:
        self.process.terminate()
        self.process.communicate(timeout=WAIT)


async def test_a_python_agent_registers_in_the_rust_directory(
    lmos_cli: Path, tmp_path: Path
) -> None:
    directory = CliDirectory(lmos_cli, tmp_path / "cli.db")
    try:
        client = lmos.DirectoryClient(directory.base_url)
        events = client.watch(last_event_id="0")
        servient = lmos.Servient(http_port=0)
        agent = servient.expose(
            lmos.agent("Forecaster")
            .id("urn:example:forecaster")
            .description("Tells the weather forecast for any city")
            .action("forecast", input={"type": "string"}, output={"type": "string"})
        )

        @agent.action("forecast")
        async def forecast(city: str) -> str:
            return f"Sunny in {city}"

        with pytest.raises(lmos.NotRegistrable):
            await agent.register(client, ttl=5)
        await servient.start()
        try:
            registration = await agent.register(directory.base_url, ttl=5)
            assert registration.id == "urn:example:forecaster"
            assert registration.active
            assert registration.directory_url == directory.base_url

            found = await client.find_text("which agent knows the weather forecast?")
            assert [t["id"] for t in found] == ["urn:example:forecaster"]
            stored = found[0]
            assert stored["registration"]["ttl"] == 5
            href = stored["actions"]["forecast"]["forms"][0]["href"]
            assert href.startswith(servient.base_url or "?"), href
            # What the directory returned is enough to call the agent.
            thing = await lmos.consume(stored)
            assert await thing.invoke_action("forecast", "Oslo") == "Sunny in Oslo"
            created = await next_event(events)
            assert (created.kind, created.thing_id) == ("created", "urn:example:forecaster")
            with pytest.raises(ValueError, match="ttl"):
                await agent.register(client, ttl=0.5)
        finally:
            await servient.shutdown()
        # Shutting down deleted the entry.
        assert not registration.active
        with pytest.raises(lmos.DirectoryNotFound):
            await client.get("urn:example:forecaster")
        kinds = []
        while "deleted" not in kinds:
            kinds.append((await next_event(events)).kind)
        assert kinds[-1] == "deleted"
        await registration.deregister()  # already gone: not an error
        await events.aclose()
    finally:
        directory.stop()


async def test_deregister_deletes_the_entry_now(tmp_path: Path) -> None:
    async with await lmos.serve_directory(f"sqlite:{tmp_path / 'r.db'}", port=0) as directory:
        client = lmos.DirectoryClient(directory.base_url)
        async with lmos.Servient(http_port=0) as servient:
            agent = servient.expose(lmos.agent("Anonymous Helper").description("Helps"))
            registration = await agent.register(client, ttl=30)
            assert registration.id.startswith("urn:uuid:")
            assert (await client.get(registration.id))["title"] == "Anonymous Helper"
            await registration.deregister()
            assert not registration.active
            with pytest.raises(lmos.DirectoryNotFound):
                await client.get(registration.id)
