"""lmos: publish, discover and call AI agents and tools through the LMOS Protocol.

Thing Descriptions and payloads are plain ``dict``/``list`` values. Every network call is a
coroutine on the caller's running event loop; streams are ``async for`` iterators. Every error
lmos raises is an :class:`LmosError`; a value JSON cannot carry raises ``TypeError``.

Publish::

    async with lmos.Servient(http_port=0) as servient:
        agent = servient.expose(lmos.agent("Echo").action("echo", input={"type": "string"}))

        @agent.action("echo")
        async def echo(text):
            return text

        print(agent.td_url)
        await servient.serve_forever()

Call::

    echo = await lmos.consume("http://127.0.0.1:8080/echo")
    print(await echo.invoke_action("echo", "hello"))

Talk to a conversational agent (the ``chat`` action of the LMOS Kotlin SDK)::

    print(await lmos.chat("http://127.0.0.1:8080/weather", "What is the weather in London?"))
"""

from lmos._chat import (
    agent_request,
    agent_request_schema,
    agent_result,
    agent_result_schema,
    chat,
    first_text,
)
from lmos._consume import ActionHandle, ConsumedThing, Stream, consume
from lmos._native import (
    ActionCancelled,
    ActionFailed,
    ActionFinished,
    BadRequest,
    BindError,
    Closed,
    CodecError,
    ConfigurationError,
    HandlerFailed,
    InteractionContext,
    InvalidInput,
    InvalidOutput,
    InvalidPayload,
    InvalidThingDescription,
    LmosError,
    NoForm,
    NotAllowed,
    NotFound,
    RemoteError,
    ThingBuilder,
    TraceError,
    TransportError,
    __version__,
    agent,
    check_payload,
    parse_td,
    thing,
    tool,
    validate,
)
from lmos._serve import ExposedThing, Servient, current_context
from lmos._types import JSON, Output, Progress, Update

__all__ = [
    "JSON",
    "ActionCancelled",
    "ActionFailed",
    "ActionFinished",
    "ActionHandle",
    "BadRequest",
    "BindError",
    "Closed",
    "CodecError",
    "ConfigurationError",
    "ConsumedThing",
    "ExposedThing",
    "HandlerFailed",
    "InteractionContext",
    "InvalidInput",
    "InvalidOutput",
    "InvalidPayload",
    "InvalidThingDescription",
    "LmosError",
    "NoForm",
    "NotAllowed",
    "NotFound",
    "Output",
    "Progress",
    "RemoteError",
    "Servient",
    "Stream",
    "ThingBuilder",
    "TraceError",
    "TransportError",
    "Update",
    "__version__",
    "agent",
    "agent_request",
    "agent_request_schema",
    "agent_result",
    "agent_result_schema",
    "chat",
    "check_payload",
    "consume",
    "current_context",
    "first_text",
    "parse_td",
    "thing",
    "tool",
    "validate",
]
