"""The WeatherAgent's getWeather handler as a FastAPI app under uvicorn, for comparison with the
lmos Python agent. Prints its URL first, then serves until stopped."""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from fastapi import FastAPI

app = FastAPI()


def weather_answer(question: str, mode: str) -> str:
    return f'Weather for "{question}": sunny, 21 °C, light wind (answered in {mode} mode).'


@app.post("/weatheragent/actions/getWeather")
async def get_weather(body: dict[str, Any]) -> str:
    return weather_answer(body["question"], body["interactionMode"])


if __name__ == "__main__":
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)  # accept connections (queued) before uvicorn runs, once the URL is out
    host, port = sock.getsockname()
    print(f"http://{host}:{port}/weatheragent/actions/getWeather", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
