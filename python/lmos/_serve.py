"""Serving things: :class:`Servient` and :class:`ExposedThing`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from lmos import _handlers, _native
from lmos._types import JSON

if TYPE_CHECKING:
    from lmos._discovery import DirectoryClient, DirectoryRegistration

F = TypeVar("F", bound=Callable[..., Any])


@contextlib.contextmanager
def _signal_wakeup(loop: asyncio.AbstractEventLoop) -> Iterator[None]:
    """Points CPython's signal wakeup fd at a socket the loop watches, unless one is set."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    receive, send = socket.socketpair()
    receive.setblocking(False)
    send.setblocking(False)
    try:
        previous = signal.set_wakeup_fd(send.fileno(), warn_on_full_buffer=False)
    except ValueError:  # not the main interpreter
        receive.close()
        send.close()
        yield
        return
    if previous != -1:  # the application (or asyncio itself) already wakes the loop
        signal.set_wakeup_fd(previous)
        receive.close()
        send.close()
        yield
        return

    def drain() -> None:
        with contextlib.suppress(OSError):
            while receive.recv(64):
                pass

    try:
        loop.add_reader(receive.fileno(), drain)
    except NotImplementedError:  # a loop without add_reader (Windows proactor)
        signal.set_wakeup_fd(-1)
        receive.close()
        send.close()
        yield
        return
    try:
        yield
    finally:
        signal.set_wakeup_fd(-1)
        loop.remove_reader(receive.fileno())
        receive.close()
        send.close()


class ExposedThing:
    """A thing served by a :class:`Servient`: its handlers and stored values.

    Handlers are ``async def`` functions (ordinary functions work too, but run on the event loop).
    Each takes the value (property write) or input (action) first and, if it wants it, the
    :class:`lmos.InteractionContext` second. Register them with the ``on_*`` methods or the
    decorators::

        @agent.action("getWeather")
        async def get_weather(input):
            return f"Sunny, as asked: {input['question']}"

    An action handler written as an async generator reports progress: every value it yields is a
    progress status, and ``yield lmos.Output(value)`` gives the output.

    A handler that raises ``lmos.InvalidInput("why")`` refuses the input (the caller gets a 400
    with that message); any other exception is logged with its traceback on the ``lmos`` logger and
    the caller gets a 500 problem document that reveals nothing of it.
    """

    __slots__ = ("_native",)

    def __init__(self, native: _native.ExposedThing) -> None:
        self._native = native

    def __repr__(self) -> str:
        return f"<ExposedThing {self.title!r} at /{self.slug}>"

    @property
    def slug(self) -> str:
        """The URL path segment of the thing (its TD is served at ``/{slug}``)."""
        return self._native.slug

    @property
    def title(self) -> str:
        """The thing's title."""
        return self._native.title

    @property
    def td(self) -> dict[str, Any]:
        """The TD as served (absolute hrefs once the servient has started)."""
        return self._native.td

    @property
    def td_url(self) -> str | None:
        """The URL of the TD, once the servient has started."""
        return self._native.td_url

    async def register(
        self, directory: DirectoryClient | str, ttl: float = 60.0
    ) -> DirectoryRegistration:
        """Registers the TD as served (absolute form URLs: start the servient first) in
        ``directory`` (a :class:`lmos.DirectoryClient` or its URL) with a time-to-live of ``ttl``
        seconds (at least 1). The entry is refreshed every ``ttl / 2``, registered again when the
        directory lost it, and deleted when the servient shuts down (or on
        :meth:`lmos.DirectoryRegistration.deregister`). Raises :class:`lmos.NotRegistrable`
        before the servient has started."""
        from lmos._discovery import DirectoryClient, DirectoryRegistration

        client = DirectoryClient(directory) if isinstance(directory, str) else directory
        native = await self._native.register(client._native, ttl)
        return DirectoryRegistration(native)

    def property_names(self) -> list[str]:
        """Names of the thing's properties."""
        return self._native.property_names()

    def set_property(self, name: str, value: JSON) -> None:
        """Stores a property value (checked against its schema) and notifies observers."""
        self._native.set_property(name, value)

    def property_value(self, name: str) -> Any:
        """The stored value of a property (no read handler runs)."""
        return self._native.property_value(name)

    def emit_event(self, name: str, data: JSON = None) -> None:
        """Emits an event (data checked against its schema) to every subscriber."""
        self._native.emit_event(name, data)

    # ----- handler registration -----------------------------------------------------------

    def on_property_read(self, name: str, handler: Callable[..., Any]) -> None:
        """Makes ``handler([ctx])`` produce the value of property ``name``."""
        self._native.on_property_read(name, _handlers.unary(handler, 1))

    def on_property_write(self, name: str, handler: Callable[..., Any]) -> None:
        """Makes ``handler(value[, ctx])`` accept writes of property ``name`` (the value is stored
        and observers notified after it returns)."""
        self._native.on_property_write(name, _handlers.unary(handler, 2))

    def on_action(self, name: str, handler: Callable[..., Any]) -> None:
        """Makes ``handler(input[, ctx])`` run action ``name``: its return value is the output, or,
        for an async generator, its yields are progress and ``Output(value)`` the output."""
        if _handlers.is_stream(handler):
            self._native.on_action_stream(name, _handlers.stream(handler))
        else:
            self._native.on_action(name, _handlers.unary(handler, 2))

    def on_chat(self, handler: F) -> F:
        """Makes ``handler(request[, ctx])`` answer the conversational ``chat`` action (declare
        it with :meth:`lmos.ThingBuilder.chat_action`). ``request`` is the ``AgentRequest`` dict
        as the caller sent it (it has ``messages``); the handler returns an ``AgentResult`` dict
        or a ``str``, the text of a successful result. Usable as a decorator: ``@agent.on_chat``.
        """
        self._native.on_chat(_handlers.unary(handler, 2))
        return handler

    def property_read(self, name: str) -> Callable[[F], F]:
        """Decorator form of :meth:`on_property_read`."""

        def register(handler: F) -> F:
            self.on_property_read(name, handler)
            return handler

        return register

    def property_write(self, name: str) -> Callable[[F], F]:
        """Decorator form of :meth:`on_property_write`."""

        def register(handler: F) -> F:
            self.on_property_write(name, handler)
            return handler

        return register

    def action(self, name: str) -> Callable[[F], F]:
        """Decorator form of :meth:`on_action`."""

        def register(handler: F) -> F:
            self.on_action(name, handler)
            return handler

        return register


class Servient:
    """Hosts exposed things on one HTTP port.

    ``http_port=0`` picks a free port (read it from :attr:`http_address` after :meth:`start`).
    Use it as an async context manager to start and shut down::

        async with lmos.Servient(http_port=0) as servient:
            agent = servient.expose(td)
            ...
            await servient.serve_forever()

    Handlers run on the event loop the servient was started in.

    WebSocket (``lmosprotocol``) is served too unless ``websocket=False``: on the HTTP port, or
    on its own port with ``ws_port`` (0 = a free one; read it from :attr:`ws_address`). The
    ``ws_*`` options bound message size, queued messages and requests in flight per connection,
    and set the ping interval and pong timeout in seconds.

    ``sign_descriptions=key`` (an :class:`lmos.Ed25519KeyPair`) signs every TD the servient
    serves with an ``eddsa-jcs-2022`` proof as it is served (so the proof covers the absolute
    hrefs); :meth:`serve_did_document` publishes the DID document at
    ``/.well-known/did.json``, which makes a ``did:web`` agent.

    Security: the ``security`` a thing's TD declares is enforced on every interaction, over HTTP
    and WebSocket (the TD itself stays public). ``security=`` says what is accepted, one member
    per scheme; a thing declaring a scheme it has no member for is refused by :meth:`expose`
    (:class:`lmos.ConfigurationError`)::

        lmos.Servient(security={
            "basic": {"alice": password},                      # user name -> password
            "bearer": {"hmac_secret": secret, "audience": "urn:dev:weather"},
            "oauth2": {"jwks_url": "https://issuer.example/jwks.json"},
            "api_keys": [key],
        })

    A token source is exactly one of ``hmac_secret``, ``keys`` (JWKs), ``public_keys_pem``,
    ``jwks_url``, ``introspection`` (``{"url", "client_id", "client_secret"}``); ``audience``,
    ``issuer``, ``algorithms``, ``leeway_ms`` and ``extra_ca_pem`` are optional. ``tls=``
    (``{"cert_file", "key_file"}`` or ``{"cert_pem", "key_pem"}``) serves ``https``/``wss``.
    Unusable settings raise :class:`lmos.ConfigurationError` naming the member, never a secret.
    """

    __slots__ = ("_native",)

    def __init__(
        self,
        *,
        http_port: int = 8080,
        host: str = "127.0.0.1",
        public_base_url: str | None = None,
        max_body_bytes: int | None = None,
        long_poll_timeout: float | None = None,
        action_retention: float | None = None,
        cancel_grace: float | None = None,
        ws_port: int | None = None,
        websocket: bool = True,
        ws_max_message_bytes: int | None = None,
        ws_queue_capacity: int | None = None,
        ws_max_in_flight: int | None = None,
        ws_ping_interval: float | None = None,
        ws_ping_timeout: float | None = None,
        sign_descriptions: _native.Ed25519KeyPair | None = None,
        security: dict[str, Any] | None = None,
        tls: dict[str, str] | None = None,
    ) -> None:
        self._native = _native.Servient(
            http_port=http_port,
            host=host,
            public_base_url=public_base_url,
            max_body_bytes=max_body_bytes,
            long_poll_timeout=long_poll_timeout,
            action_retention=action_retention,
            cancel_grace=cancel_grace,
            ws_port=ws_port,
            websocket=websocket,
            ws_max_message_bytes=ws_max_message_bytes,
            ws_queue_capacity=ws_queue_capacity,
            ws_max_in_flight=ws_max_in_flight,
            ws_ping_interval=ws_ping_interval,
            ws_ping_timeout=ws_ping_timeout,
            sign_descriptions=sign_descriptions,
            security=security,
            tls=tls,
        )

    def __repr__(self) -> str:
        return f"<Servient {self.base_url or 'not started'}>"

    def expose(self, td: dict[str, Any] | _native.ThingBuilder) -> ExposedThing:
        """Hosts a thing described by ``td`` (a dict, or a builder from :func:`lmos.agent`); the
        servient adds the forms. Things can be exposed before or after :meth:`start`."""
        if isinstance(td, _native.ThingBuilder):
            td = td.build()
        return ExposedThing(self._native.expose(td))

    def set_description_signer(self, key: _native.Ed25519KeyPair | None) -> None:
        """Signs every TD served from now on with ``key`` (``None`` stops signing). For a
        ``did:web`` agent on an ephemeral port: start, make the DID from :attr:`base_url`, then
        set the key whose id names that DID."""
        self._native.set_description_signer(key)

    def serve_did_document(self, document: dict[str, Any]) -> None:
        """Serves ``document`` (a DID document, e.g. from :func:`lmos.did_document`) at
        ``GET /.well-known/did.json`` as ``application/did+json``; replaces an earlier one."""
        self._native.serve_did_document(document)

    def destroy(self, slug: str) -> bool:
        """Stops hosting the thing at ``slug``; whether there was one."""
        return self._native.destroy(slug)

    def things(self) -> list[ExposedThing]:
        """The exposed things."""
        return [ExposedThing(native) for native in self._native.things()]

    async def start(self) -> None:
        """Binds the port and serves (in the background) until :meth:`shutdown`."""
        await self._native.start()

    async def shutdown(self) -> None:
        """Stops serving: no new connections; open streams are closed."""
        await self._native.shutdown()

    async def serve_forever(self) -> None:
        """Waits until the calling task is cancelled (Ctrl-C under :func:`asyncio.run`).

        While it waits on the main thread, a signal wakes the event loop even when another
        thread (one of ``asyncio.to_thread``, say) took it from the kernel: without a wakeup fd,
        CPython only notes such a signal, and an idle loop would never raise
        ``KeyboardInterrupt``. An application that set its own wakeup fd keeps it.
        """
        loop = asyncio.get_running_loop()
        with _signal_wakeup(loop):
            await loop.create_future()

    @property
    def http_address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the HTTP listener, once started."""
        return self._native.http_address

    @property
    def ws_address(self) -> tuple[str, int] | None:
        """``(host, port)`` of the WebSocket listener, once started (``None`` when off)."""
        return self._native.ws_address

    @property
    def base_url(self) -> str | None:
        """The base URL form hrefs are made from, once known."""
        return self._native.base_url

    async def __aenter__(self) -> Servient:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()


def current_context() -> _native.InteractionContext | None:
    """The :class:`lmos.InteractionContext` of the handler running in this asyncio task, if any."""
    return _native.current_context_var.get(None)
