"""Calling things: :class:`ConsumedThing`, :class:`ActionHandle` and the streams of values and
updates."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Sequence
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar

from lmos import _native
from lmos._identity import VerifiedProof
from lmos._types import JSON, Output, Progress, Update

SignaturePolicy = Literal["verify_if_present", "require", "ignore"]
#: Values of an affordance's ``uriVariables`` by name (``None``: none).
UriVariables = dict[str, Any] | None
"""What a consumer does with a TD's signature: ``"verify_if_present"`` (the default: refuse a
TD whose proof fails, accept one without), ``"require"`` (refuse unsigned TDs too) or
``"ignore"``."""

T = TypeVar("T")


def _update(pair: tuple[str, Any]) -> Update:
    kind, value = pair
    return Output(value) if kind == "output" else Progress(value)


def _value(value: Any) -> Any:
    return value


class Stream(Generic[T]):
    """An open stream of values: observed property values, event data or action updates.

    Iterate it with ``async for``; it opens on first use. ``await`` it to open it first (the
    observation or subscription is in place once the ``await`` returns)::

        events = await thing.subscribe_event("userFeedbackReceived")
        ...  # trigger the event
        async for data in events:
            ...

    Leaving the loop does not close it; :meth:`aclose` (or ``async with``) does, and so does
    dropping it. Cancelling the task that iterates it stops the pending read.
    """

    __slots__ = ("_convert", "_iterator", "_opener")

    def __init__(
        self,
        opener: Callable[[], Awaitable[Any]],
        convert: Callable[[Any], T],
    ) -> None:
        self._opener: Callable[[], Awaitable[Any]] | None = opener
        self._convert = convert
        self._iterator: Any = None

    async def _open(self) -> Stream[T]:
        if self._iterator is None and self._opener is not None:
            opener, self._opener = self._opener, None
            self._iterator = await opener()
        return self

    def __await__(self) -> Generator[Any, None, Stream[T]]:
        return self._open().__await__()

    def __aiter__(self) -> Stream[T]:
        return self

    async def __anext__(self) -> T:
        if self._iterator is None:
            await self._open()
            if self._iterator is None:
                raise StopAsyncIteration
        return self._convert(await self._iterator.__anext__())

    async def aclose(self) -> None:
        """Closes the stream (unobserves, unsubscribes or stops listening for updates)."""
        self._opener = None
        if self._iterator is not None:
            await self._iterator.aclose()

    async def __aenter__(self) -> Stream[T]:
        return await self._open()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class ActionHandle:
    """A started action (from :meth:`ConsumedThing.start_action`): its output, and for an
    asynchronous action its status resource (``query``, ``cancel``) and updates."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.ActionHandle) -> None:
        self._native = native

    def __repr__(self) -> str:
        return f"<ActionHandle {self.action!r} {self.status_url or 'completed'}>"

    @property
    def action(self) -> str:
        """The action's name."""
        return self._native.action

    @property
    def is_async(self) -> bool:
        """Whether the action runs asynchronously (the thing answered with a status resource)."""
        return self._native.is_async

    @property
    def status_url(self) -> str | None:
        """The URL of the action-status resource, for asynchronous actions."""
        return self._native.status_url

    async def query(self) -> dict[str, Any]:
        """``queryaction``: the status (``status``, ``progress``, ``output``, ``error``...)."""
        return await self._native.query()

    async def cancel(self) -> None:
        """``cancelaction``; raises :class:`lmos.ActionFinished` when it had already finished."""
        await self._native.cancel()

    async def output(self) -> Any:
        """Waits for the output; raises :class:`lmos.ActionFailed` or
        :class:`lmos.ActionCancelled` when the action ends without one."""
        return await self._native.output()

    def updates(self) -> Stream[Update]:
        """The updates from now on: :class:`lmos.Progress` items, then one :class:`lmos.Output`."""
        iterator = self._native.updates()

        async def opener() -> Any:
            return iterator

        return Stream(opener, _update)


class ConsumedThing:
    """A thing this process calls, following the forms of its Thing Description.

    Make one from a TD dict (``ConsumedThing(td)``) or fetch it (``await lmos.consume(url)``).
    Options: ``protocols`` and ``content_types`` (preferences, in order), ``subprotocols``
    (``"sse"``, ``"longpoll"``), ``dialect`` spoken over WebSocket forms (``"spec"``, the
    default, or ``"kotlin-wot"``; pick WebSocket with ``protocols=["ws"]``),
    ``validate_outputs`` / ``validate_inputs`` (default on), ``timeout`` in seconds per request
    (``None`` = unbounded) and ``poll_interval`` for asynchronous actions.

    Signatures: ``signature_policy`` (``"verify_if_present"``, the default; ``"require"``;
    ``"ignore"``) and ``did_resolver`` (an :class:`lmos.DidResolver`, e.g. with
    ``allow_http_loopback=True`` for local did:web agents). A refused TD raises
    :class:`lmos.InvalidThingDescription` whose message names the identity code
    (``identity_proof_missing``, ``identity_signature_invalid``, ...). Made from a dict, the TD
    is verified at once for ``did:key`` signers; one signed by a ``did:web`` DID needs
    :func:`lmos.consume` (which resolves it). :attr:`verified_proofs` tells who signed.

    Security: ``credentials`` maps a thing id or an origin (``"https://host:port"``; it covers
    ``wss://`` on the same host and port too) to what to present, sent only where the chosen
    form's security asks for it::

        credentials={"urn:dev:weather": {"bearer": token},
                     "http://127.0.0.1:8080": {"basic": {"username": "alice", "password": pw}},
                     "https://billing.example": {"api_key": key},
                     "https://other.example": {"oauth2": {"client_id": "agent",
                                                          "client_secret": secret,
                                                          "scopes": ["read"]}}}

    A refusal raises :class:`lmos.Unauthorized` (401) or :class:`lmos.Forbidden` (403), over
    HTTP and over WebSocket alike; the message never contains a credential. ``extra_ca_pem``
    (PEM certificates) is trusted besides the platform's roots for ``https``/``wss``; certificates
    are always verified. ``only_protocols=True`` refuses forms whose scheme is not in
    ``protocols`` instead of falling back to them.
    """

    __slots__ = ("_native",)

    def __init__(
        self,
        td: dict[str, Any] | str | bytes,
        *,
        protocols: Sequence[str] | None = None,
        content_types: Sequence[str] | None = None,
        subprotocols: Sequence[str] | None = None,
        dialect: str | None = None,
        validate_outputs: bool = True,
        validate_inputs: bool = True,
        timeout: float | None = 30.0,
        poll_interval: float = 0.2,
        signature_policy: SignaturePolicy = "verify_if_present",
        did_resolver: _native.DidResolver | None = None,
        credentials: dict[str, Any] | None = None,
        extra_ca_pem: str | None = None,
        only_protocols: bool = False,
    ) -> None:
        self._native = _native.ConsumedThing(
            td,
            protocols=list(protocols) if protocols is not None else None,
            content_types=list(content_types) if content_types is not None else None,
            subprotocols=list(subprotocols) if subprotocols is not None else None,
            dialect=dialect,
            validate_outputs=validate_outputs,
            validate_inputs=validate_inputs,
            timeout=timeout,
            poll_interval=poll_interval,
            signature_policy=signature_policy,
            did_resolver=did_resolver,
            credentials=credentials,
            extra_ca_pem=extra_ca_pem,
            only_protocols=only_protocols,
        )

    @classmethod
    async def from_url(
        cls,
        url: str,
        *,
        protocols: Sequence[str] | None = None,
        content_types: Sequence[str] | None = None,
        subprotocols: Sequence[str] | None = None,
        dialect: str | None = None,
        validate_outputs: bool = True,
        validate_inputs: bool = True,
        timeout: float | None = 30.0,
        poll_interval: float = 0.2,
        signature_policy: SignaturePolicy = "verify_if_present",
        did_resolver: _native.DidResolver | None = None,
        credentials: dict[str, Any] | None = None,
        extra_ca_pem: str | None = None,
        only_protocols: bool = False,
    ) -> ConsumedThing:
        """Fetches the TD at ``url`` (validated) and returns the thing."""
        native = await _native.ConsumedThing.from_url(
            url,
            protocols=list(protocols) if protocols is not None else None,
            content_types=list(content_types) if content_types is not None else None,
            subprotocols=list(subprotocols) if subprotocols is not None else None,
            dialect=dialect,
            validate_outputs=validate_outputs,
            validate_inputs=validate_inputs,
            timeout=timeout,
            poll_interval=poll_interval,
            signature_policy=signature_policy,
            did_resolver=did_resolver,
            credentials=credentials,
            extra_ca_pem=extra_ca_pem,
            only_protocols=only_protocols,
        )
        thing = cls.__new__(cls)
        thing._native = native
        return thing

    def __repr__(self) -> str:
        return f"<ConsumedThing {self.title!r}>"

    @property
    def td(self) -> dict[str, Any]:
        """The Thing Description."""
        return self._native.td

    @property
    def title(self) -> str:
        """The thing's title."""
        return str(self._native.td.get("title", ""))

    @property
    def verified_proofs(self) -> list[VerifiedProof]:
        """The proofs on the TD that verified: who signed it (``signer`` is a DID). A valid
        signature by a DID you do not know proves integrity, not authority."""
        return [VerifiedProof._from(p) for p in self._native.verified_proofs]

    async def read_property(self, name: str, *, uri_variables: UriVariables = None) -> Any:
        """``readproperty``. ``uri_variables`` fill the form's URI template (checked against
        the affordance's ``uriVariables`` schemas); so for every call below."""
        return await self._native.read_property(name, uri_variables=uri_variables)

    async def write_property(
        self, name: str, value: JSON, *, uri_variables: UriVariables = None
    ) -> None:
        """``writeproperty``."""
        await self._native.write_property(name, value, uri_variables=uri_variables)

    async def read_all_properties(self) -> dict[str, Any]:
        """``readallproperties``."""
        return await self._native.read_all_properties()

    async def write_multiple_properties(self, values: dict[str, Any]) -> None:
        """``writemultipleproperties``."""
        await self._native.write_multiple_properties(values)

    async def invoke_action(
        self, name: str, input: JSON = None, *, uri_variables: UriVariables = None
    ) -> Any:
        """``invokeaction``: the output (for an asynchronous action, once it has finished)."""
        return await self._native.invoke_action(name, input, uri_variables=uri_variables)

    async def start_action(
        self, name: str, input: JSON = None, *, uri_variables: UriVariables = None
    ) -> ActionHandle:
        """``invokeaction`` without waiting: a handle to query, cancel or await the action."""
        native = await self._native.start_action(name, input, uri_variables=uri_variables)
        return ActionHandle(native)

    def invoke_action_stream(
        self, name: str, input: JSON = None, *, uri_variables: UriVariables = None
    ) -> Stream[Update]:
        """``invokeaction`` as a stream: :class:`lmos.Progress` items as the thing reports them,
        then one :class:`lmos.Output`."""
        return Stream(
            lambda: self._native.invoke_action_stream(name, input, uri_variables=uri_variables),
            _update,
        )

    def observe_property(self, name: str, *, uri_variables: UriVariables = None) -> Stream[Any]:
        """``observeproperty``: the property's values as they change."""
        return Stream(
            lambda: self._native.observe_property(name, uri_variables=uri_variables), _value
        )

    def subscribe_event(self, name: str, *, uri_variables: UriVariables = None) -> Stream[Any]:
        """``subscribeevent``: the data of each event emitted from now on."""
        return Stream(
            lambda: self._native.subscribe_event(name, uri_variables=uri_variables), _value
        )

    async def chat(self, request: dict[str, Any] | str) -> dict[str, Any]:
        """Invokes the conversational ``chat`` action with an ``AgentRequest`` dict (a ``str`` is
        a question in a new conversation) and returns the ``AgentResult`` dict."""
        result: dict[str, Any] = await _native.chat_request(self._native, request)
        return result

    async def ask(self, question: str) -> str:
        """Asks ``question`` in a new conversation; the text of the agent's first message
        (:class:`lmos.InvalidOutput` when it wrote none)."""
        answer: str = await _native.ask(self._native, question)
        return answer


async def consume(
    td_or_url: str | dict[str, Any],
    *,
    protocols: Sequence[str] | None = None,
    content_types: Sequence[str] | None = None,
    subprotocols: Sequence[str] | None = None,
    dialect: str | None = None,
    validate_outputs: bool = True,
    validate_inputs: bool = True,
    timeout: float | None = 30.0,
    poll_interval: float = 0.2,
    signature_policy: SignaturePolicy = "verify_if_present",
    did_resolver: _native.DidResolver | None = None,
    credentials: dict[str, Any] | None = None,
    extra_ca_pem: str | None = None,
    only_protocols: bool = False,
) -> ConsumedThing:
    """A :class:`ConsumedThing` from a TD dict, or from the URL of one (fetched and validated);
    its signature is checked as ``signature_policy`` says (``did:web`` signers are resolved)."""
    options: dict[str, Any] = {
        "protocols": protocols,
        "content_types": content_types,
        "subprotocols": subprotocols,
        "dialect": dialect,
        "validate_outputs": validate_outputs,
        "validate_inputs": validate_inputs,
        "timeout": timeout,
        "poll_interval": poll_interval,
        "signature_policy": signature_policy,
        "did_resolver": did_resolver,
        "credentials": credentials,
        "extra_ca_pem": extra_ca_pem,
        "only_protocols": only_protocols,
    }
    if isinstance(td_or_url, str):
        return await ConsumedThing.from_url(td_or_url, **options)
    native = await _native.ConsumedThing.new_verified(
        td_or_url,
        protocols=list(protocols) if protocols is not None else None,
        content_types=list(content_types) if content_types is not None else None,
        subprotocols=list(subprotocols) if subprotocols is not None else None,
        dialect=dialect,
        validate_outputs=validate_outputs,
        validate_inputs=validate_inputs,
        timeout=timeout,
        poll_interval=poll_interval,
        signature_policy=signature_policy,
        did_resolver=did_resolver,
        credentials=credentials,
        extra_ca_pem=extra_ca_pem,
        only_protocols=only_protocols,
    )
    thing = ConsumedThing.__new__(ConsumedThing)
    thing._native = native
    return thing
