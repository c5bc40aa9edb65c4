"""DID-based introduction and DNS-SD/mDNS from Python, against real servers: a did:web document
served over loopback HTTP by a Python servient points at its own TD and at a directory served
from Python; an mDNS advertiser and a browser on a private UDP port over the interface the host
routes multicast through (as core/tests/discovery_mdns.rs does)."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path

import pytest

import lmos

WAIT = 60.0  # a guard against hangs, never a measured time


def loopback_resolver() -> lmos.DidResolver:
    return lmos.DidResolver(allow_http_loopback=True, timeout=10.0)


async def started_agent(
    title: str, id: str, host: str = "127.0.0.1"
) -> tuple[lmos.Servient, lmos.ExposedThing]:
    servient = lmos.Servient(http_port=0, host=host)
    agent = servient.expose(
        lmos.agent(title)
        .id(id)
        .description(f"{title}: tells the weather")
        .action("ask", input={"type": "string"}, output={"type": "string"})
    )

    @agent.action("ask")
    async def ask(question: str) -> str:
        return f"{title} heard {question}"

    await servient.start()
    return servient, agent


async def test_a_did_web_document_leads_to_its_agent_and_its_directory(tmp_path: Path) -> None:
    async with await lmos.serve_directory(f"sqlite:{tmp_path / 'd.db'}", port=0) as directory:
        client = lmos.DirectoryClient(directory.base_url)
        other, forecaster = await started_agent("Forecaster", "urn:example:forecaster")
        servient, _ = await started_agent("Weather", "urn:example:weather")
        try:
            await forecaster.register(client, ttl=60)
            assert servient.base_url is not None
            did = lmos.did_web_for_url(servient.base_url)
            document = lmos.did_document(did, lmos.generate_key(), servient.things()[0].td_url)
            document["service"].append(
                {
                    "id": "#directory",
                    "type": "WotDirectory",
                    "serviceEndpoint": f"{directory.base_url}.well-known/wot",
                }
            )
            servient.serve_did_document(document)

            found = await lmos.discover_did(did, loopback_resolver())
            assert [f.td["id"] for f in found] == [
                "urn:example:weather",
                "urn:example:forecaster",
            ]
            mine, listed = found
            assert mine.url == servient.things()[0].td_url
            assert mine.service == f"{did}#td"
            assert mine.directory is None
            assert listed.service == f"{did}#directory"
            assert listed.directory == directory.base_url
            assert listed.url == f"{directory.base_url}things/urn%3Aexample%3Aforecaster"
            assert listed.td["registration"]["ttl"] == 60
            # What the DID led to is enough to call both agents.
            for thing in found:
                consumed = await lmos.consume(thing.td)
                answer = await consumed.invoke_action("ask", "hello")
                assert answer == f"{thing.td['title']} heard hello"
        finally:
            await servient.shutdown()
            await other.shutdown()


async def test_did_introduction_errors_are_clear() -> None:
    servient, agent = await started_agent("Plain", "urn:example:plain")
    try:
        assert servient.base_url is not None and agent.td_url is not None
        did = lmos.did_web_for_url(servient.base_url)
        key = lmos.generate_key()

        with pytest.raises(lmos.InvalidDid):
            await lmos.discover_did("weather", loopback_resolver())
        # Plain http needs the loopback option.
        servient.serve_did_document(lmos.did_document(did, key, agent.td_url))
        with pytest.raises(lmos.IdentityError):
            await lmos.discover_did(did)

        # A did:key document has no services of its own.
        with pytest.raises(lmos.DirectoryError) as caught:
            await lmos.discover_did(key.did)
        assert caught.value.code == "discovery_did_no_service"

        # Pinned with a WotThing service, it introduces its thing.
        pinned = lmos.resolve_did_key(key.did)
        pinned["service"] = [
            {"id": f"{key.did}#td", "type": "WotThing", "serviceEndpoint": agent.td_url}
        ]
        found = await lmos.discover_did(key.did, lmos.DidResolver(pinned=[pinned]))
        assert [f.td["id"] for f in found] == ["urn:example:plain"]

        # A thing is not a directory; the error names the service.
        document = lmos.did_document(did, key)
        document["service"] = [
            {"id": "#dir", "type": "WotDirectory", "serviceEndpoint": agent.td_url}
        ]
        servient.serve_did_document(document)
        with pytest.raises(lmos.DirectoryError) as caught:
            await lmos.discover_did(did, lmos.DidResolver(allow_http_loopback=True))
        assert caught.value.code == "discovery_did_not_directory"
        assert getattr(caught.value, "service", None) == f"{did}#dir"
        assert "not a Thing Description Directory" in str(caught.value)
    finally:
        await servient.shutdown()


def multicast_address() -> str:
    """The local address multicast leaves from (the interface of the route to 224.0.0.251)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(("224.0.0.251", 5353))
        address: str = probe.getsockname()[0]
    assert address not in ("0.0.0.0", "127.0.0.1"), f"no multicast-capable interface: {address}"
    return address


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("0.0.0.0", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_mdns_advertises_a_servient_and_a_directory_and_browses_them(
    tmp_path: Path,
) -> None:
    ip = multicast_address()
    port = free_udp_port()
    servient, _ = await started_agent("Weather Agent", "urn:example:mdns-weather", host=ip)
    directory = await lmos.serve_directory(f"sqlite:{tmp_path / 'm.db'}", host=ip, port=0)
    advertiser = lmos.Mdns(port=port)
    browser = lmos.Mdns(port=port)
    try:
        assert advertiser.advertise_servient(servient) == 1
        advertiser.advertise_directory("LMOS Directory", directory)

        found: dict[str, lmos.FoundService] = {}
        services = browser.browse()

        async def collect() -> None:
            async for service in services:
                found[service.kind] = service
                if len(found) == 2:
                    return

        await asyncio.wait_for(collect(), WAIT)
        await services.aclose()
        thing = found["thing"]
        assert thing.instance == "Weather Agent"
        http = servient.http_address
        assert http is not None
        assert thing.url == f"http://{ip}:{http[1]}/weather-agent"
        assert thing.error is None and thing.td is not None
        assert thing.td["id"] == "urn:example:mdns-weather"
        assert thing.td["@type"] == "lmos:Agent"
        listed = found["directory"]
        assert listed.url == directory.base_url
        assert listed.td is not None and listed.td["@type"] == "ThingDirectory"

        # Browsing the directory subtype finds only directories.
        only = await browser.browse_for(3.0, "directory")
        assert only and {s.kind for s in only} == {"directory"}
    finally:
        await advertiser.shutdown()
        await browser.shutdown()
        await servient.shutdown()
        await directory.shutdown()


async def test_mdns_bad_inputs_get_clear_errors() -> None:
    mdns = lmos.Mdns(port=free_udp_port())
    try:
        with pytest.raises(ValueError, match="service kind"):
            mdns.advertise("printer", "x", "127.0.0.1", 80, "/")  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="not an IP address"):
            mdns.advertise("thing", "x", "localhost", 80, "/")
        with pytest.raises(ValueError, match="timeout"):
            await mdns.browse_for(-1.0)
        with pytest.raises(ValueError, match="service kind"):
            mdns.browse("printer")  # type: ignore[arg-type]
        # A servient that has not started has no address to advertise.
        with pytest.raises(lmos.NotRegistrable):
            mdns.advertise_servient(lmos.Servient(http_port=0))
    finally:
        await mdns.shutdown()
