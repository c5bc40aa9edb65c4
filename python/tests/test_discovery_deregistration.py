"""A Python servient's things leave the directory when they stop being served: ``destroy``
deletes that thing's entries (it is a plain call, made outside the runtime the registration
runs on), ``shutdown`` every remaining one. Real directory, real sockets."""

from __future__ import annotations

import asyncio
from pathlib import Path

import lmos

WAIT = 30.0  # a guard against hangs, never a measured time


async def gone(client: lmos.DirectoryClient, id: str) -> None:
    async def poll() -> None:
        while True:
            try:
                await client.get(id)
            except lmos.DirectoryNotFound:
                return
            await asyncio.sleep(0.05)

    await asyncio.wait_for(poll(), WAIT)


async def test_destroy_and_shutdown_deregister(tmp_path: Path) -> None:
    async with await lmos.serve_directory(f"sqlite:{tmp_path / 'd.db'}", port=0) as directory:
        client = lmos.DirectoryClient(directory.base_url)
        servient = lmos.Servient(http_port=0)
        weather = servient.expose(lmos.agent("Weather").id("urn:example:weather"))
        news = servient.expose(lmos.agent("News").id("urn:example:news"))
        await servient.start()
        try:
            first = await weather.register(client, ttl=60)
            second = await news.register(client, ttl=60)
            listed = sorted(t["id"] for t in await client.list())
            assert listed == ["urn:example:news", "urn:example:weather"]

            assert servient.destroy(weather.slug)
            await gone(client, "urn:example:weather")
            assert not first.active
            assert second.active
            assert [t["id"] for t in await client.list()] == ["urn:example:news"]
        finally:
            await servient.shutdown()
        assert await client.list() == []
        assert not second.active
