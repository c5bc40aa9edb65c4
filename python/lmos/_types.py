"""Value types shared by the serving and the consuming side."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

JSON = dict[str, Any] | list[Any] | str | int | float | bool | None
"""A JSON value as Python holds it: ``dict``, ``list``, ``str``, ``int``, ``float``, ``bool``,
``None``."""


@dataclass(frozen=True)
class Progress:
    """An intermediate status of a running action.

    A streaming action handler may ``yield Progress(value)`` (or just ``yield value``); callers of
    :meth:`lmos.ConsumedThing.invoke_action_stream` receive ``Progress`` items before the output.
    """

    value: Any


@dataclass(frozen=True)
class Output:
    """The output of an action; nothing follows it.

    A streaming action handler ends with ``yield Output(value)``; callers of
    :meth:`lmos.ConsumedThing.invoke_action_stream` receive it as the last item.
    """

    value: Any


Update = Progress | Output
"""One item of an action's update stream."""
