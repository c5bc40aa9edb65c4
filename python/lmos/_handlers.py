"""Adapters between user handlers (plain ``async def`` functions, async generators or ordinary
functions) and the uniform shapes the native module calls.

The native module calls a read adapter as ``adapter(ctx)``, a write or action adapter as
``adapter(value, ctx)`` and a streaming action adapter as ``adapter(input, ctx, sink)``. Each
adapter passes the user function as many of its arguments (value first, context last) as it
accepts positionally, and makes the context current for the asyncio task it runs in so that calls
made from the handler continue the caller's trace.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from lmos import _native
from lmos._types import Output, Progress


def positional_count(fn: Callable[..., Any], available: int) -> int:
    """How many of ``available`` positional arguments ``fn`` takes."""
    try:
        parameters = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return available
    count = 0
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            return available
        if parameter.kind in (
            inspect.Parameter.POSITIONAL_ONLY,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
        ):
            count += 1
    return min(count, available)


def is_stream(fn: Callable[..., Any]) -> bool:
    """Whether ``fn`` is an async generator function (a progress-reporting action)."""
    return inspect.isasyncgenfunction(fn)


def _set_context(ctx: Any) -> None:
    _native.current_context_var.set(ctx)


def unary(fn: Callable[..., Any], available: int) -> Callable[..., Any]:
    """An adapter for a read (``available`` = 1) or write/action (``available`` = 2) handler."""
    count = positional_count(fn, available)

    async def adapter(*args: Any) -> Any:
        _set_context(args[-1])
        result = fn(*args[:count]) if count < available else fn(*args)
        if inspect.isawaitable(result):
            result = await result
        return result

    adapter.__qualname__ = getattr(fn, "__qualname__", adapter.__qualname__)
    return adapter


def stream(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An adapter for an async generator action handler: yielded values are progress,
    ``Output(value)`` is the output."""
    count = positional_count(fn, 2)

    async def adapter(input: Any, ctx: Any, sink: Any) -> None:
        _set_context(ctx)
        updates = fn(*(input, ctx)[:count])
        try:
            async for item in updates:
                if isinstance(item, Output):
                    sink.output(item.value)
                    return
                sink.progress(item.value if isinstance(item, Progress) else item)
        finally:
            await updates.aclose()

    adapter.__qualname__ = getattr(fn, "__qualname__", adapter.__qualname__)
    return adapter
