"""Sequential invokeaction calls of getWeather: lmos ConsumedThing vs httpx.AsyncClient, against
the same agent. Prints calls per second of each."""

from __future__ import annotations

import asyncio
import sys
import time

import httpx
import lmos

INPUT = {"question": "Is it raining in Bonn?", "interactionMode": "text"}


async def lmos_loop(td_url: str, calls: int) -> float:
    agent = await lmos.consume(td_url)
    for _ in range(100):
        await agent.invoke_action("getWeather", INPUT)
    start = time.perf_counter()
    for _ in range(calls):
        await agent.invoke_action("getWeather", INPUT)
    return calls / (time.perf_counter() - start)


async def httpx_loop(href: str, calls: int) -> float:
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            (await client.post(href, json=INPUT)).raise_for_status()
        start = time.perf_counter()
        for _ in range(calls):
            response = await client.post(href, json=INPUT)
            response.raise_for_status()
            response.json()
        return calls / (time.perf_counter() - start)


async def main(td_url: str, calls: int) -> None:
    agent = await lmos.consume(td_url)
    href = agent.td["actions"]["getWeather"]["forms"][0]["href"]
    print(f"{await lmos_loop(td_url, calls):.0f} {await httpx_loop(href, calls):.0f}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 5000))
