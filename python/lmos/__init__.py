"""lmos: publish, discover and call AI agents and tools through the LMOS Protocol.

Thing Descriptions and payloads are plain ``dict``/``list`` values. Every error lmos raises is an
``LmosError``.
"""

from lmos._native import (
    InvalidPayload,
    InvalidThingDescription,
    LmosError,
    ThingBuilder,
    __version__,
    agent,
    check_payload,
    parse_td,
    thing,
    tool,
    validate,
)

__all__ = [
    "InvalidPayload",
    "InvalidThingDescription",
    "LmosError",
    "ThingBuilder",
    "__version__",
    "agent",
    "check_payload",
    "parse_td",
    "thing",
    "tool",
    "validate",
]
