"""Calls WeatherAgents found in a Thing Description Directory, one job per agent and protocol.

    python examples/interop_client.py '[{"url": "http://127.0.0.1:8081/things/urn:uuid:...",
                                         "protocol": "ws", "question": "Berlin"}]'

Each job's ``url`` is where the directory serves the agent's TD; the client consumes it from
there, preferring the job's ``protocol`` (``http`` or ``ws``), invokes ``getWeather`` and reads
``modelConfiguration``. One JSON line per job on stdout: ``answer`` and ``model``, or ``error``.
The interop matrix (tests/interop/matrix.py) runs this client against every language's agent.
"""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

import lmos


async def run(job: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"url": job["url"], "protocol": job["protocol"]}
    try:
        thing = await lmos.consume(job["url"], protocols=[job["protocol"]])
        answer = await thing.invoke_action(
            "getWeather", {"question": job["question"], "interactionMode": "text"}
        )
        model = await thing.read_property("modelConfiguration")
        result.update(answer=answer, model=model["modelName"])
    except lmos.LmosError as error:
        result["error"] = f"{type(error).__name__}: {error}"
    return result


async def main(jobs: list[dict[str, Any]]) -> None:
    for job in jobs:
        print(json.dumps(await run(job)), flush=True)


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
