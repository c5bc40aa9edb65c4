"""Discovery: a Thing Description Directory served from Python (:class:`DirectoryServer`), its
client (:class:`DirectoryClient`), the entry an exposed thing keeps alive
(:class:`DirectoryRegistration`), DNS-SD/mDNS (:class:`Mdns`) and DID-based introduction
(:func:`discover_did`)."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, cast
from urllib.parse import urlsplit

from lmos import _native

if TYPE_CHECKING:
    from lmos._serve import Servient

EventKind = Literal["created", "updated", "deleted"]
"""The kind of a directory change."""


@dataclass(frozen=True)
class DirectoryEvent:
    """A change in a directory: ``kind`` (``"created"``, ``"updated"``, ``"deleted"``), the
    ``thing_id`` it concerns, ``data`` (``{"id"}``; with ``diff=True`` the TD for ``created``
    and the JSON merge patch for ``updated``) and ``event_id`` (the resume point)."""

    kind: EventKind
    thing_id: str
    data: dict[str, Any]
    event_id: str | None


class DirectoryServer:
    """A W3C WoT Thing Description Directory served by this process (the same server as
    ``lmos directory serve``). Start one with :func:`lmos.serve_directory` (or
    :meth:`start`)::

        async with await lmos.serve_directory("sqlite:things.db", port=0) as directory:
            client = lmos.DirectoryClient(directory.base_url)
    """

    __slots__ = ("_native",)

    def __init__(self, native: _native.DirectoryServer) -> None:
        self._native = native

    @classmethod
    async def start(
        cls,
        db: str,
        *,
        host: str = "127.0.0.1",
        port: int = 8081,
        public_url: str | None = None,
        max_ttl: int | None = None,
        default_page: int | None = None,
        max_page: int | None = None,
        purge_interval: float | None = None,
    ) -> DirectoryServer:
        """Opens the store ``db`` (``sqlite:PATH`` or a plain path: one SQLite file, created when
        missing; ``postgres://user@host:port/db``: a shared PostgreSQL database) and serves the
        directory API on ``host:port`` (0: a free port). ``max_ttl`` (seconds) bounds every
        registration's lifetime."""
        native = await _native.DirectoryServer.start(
            db,
            host=host,
            port=port,
            public_url=public_url,
            max_ttl=max_ttl,
            default_page=default_page,
            max_page=max_page,
            purge_interval=purge_interval,
        )
        return cls(native)

    def __repr__(self) -> str:
        return f"<DirectoryServer {self.base_url}>"

    @property
    def base_url(self) -> str:
        """The URL clients reach the directory at (``http://host:port/``)."""
        return self._native.base_url

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` the directory listens on."""
        return self._native.address

    async def shutdown(self) -> None:
        """Stops serving; open event streams end."""
        await self._native.shutdown()

    async def __aenter__(self) -> DirectoryServer:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()


async def serve_directory(
    db: str,
    *,
    host: str = "127.0.0.1",
    port: int = 8081,
    public_url: str | None = None,
    max_ttl: int | None = None,
) -> DirectoryServer:
    """Starts a :class:`DirectoryServer` on the store ``db`` (``sqlite:PATH``, a path, or a
    ``postgres://`` URL)."""
    return await DirectoryServer.start(
        db, host=host, port=port, public_url=public_url, max_ttl=max_ttl
    )


class DirectoryWatch:
    """The change events of a directory as an ``async for`` stream. It connects on first use,
    reconnects after a dropped connection and resumes after the last event it saw, so nothing is
    lost or repeated while the directory keeps its history. It ends with an exception when the
    directory refuses the subscription or after ``max_retries`` failed reconnections.
    :meth:`aclose` (or ``async with``) closes it."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.DirectoryEventIterator) -> None:
        self._native = native

    def __aiter__(self) -> DirectoryWatch:
        return self

    async def __anext__(self) -> DirectoryEvent:
        event = await self._native.__anext__()
        return DirectoryEvent(
            kind=cast(EventKind, event["kind"]),
            thing_id=event["thing_id"],
            data=event["data"],
            event_id=event["event_id"],
        )

    async def aclose(self) -> None:
        """Closes the event stream."""
        await self._native.aclose()

    async def __aenter__(self) -> DirectoryWatch:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()


class DirectoryClient:
    """A client of one Thing Description Directory (ours, or any WoT Discovery one).

    Errors are :class:`lmos.DirectoryError` subclasses: :class:`lmos.DirectoryNotFound` (no such
    id), :class:`lmos.DirectoryInvalidTd` (the directory refused the TD; nothing stored),
    :class:`lmos.DirectoryStatusError` (another error status; ``status``, ``detail``),
    :class:`lmos.DirectoryUnreachable`.
    """

    __slots__ = ("_native",)

    def __init__(self, base_url: str) -> None:
        self._native = _native.DirectoryClient(base_url)

    def __repr__(self) -> str:
        return f"<DirectoryClient {self.base_url}>"

    @property
    def base_url(self) -> str:
        """The directory's base URL."""
        return self._native.base_url

    async def describe(self) -> dict[str, Any]:
        """The directory's own Thing Description (``@type`` ``ThingDirectory``)."""
        return await self._native.describe()

    async def register(self, td: dict[str, Any], ttl: float | None = None) -> str:
        """Registers ``td`` (PUT under its ``id``; POST when it has none, and the directory
        assigns a ``urn:uuid:`` id) with an optional time-to-live in seconds; returns the id."""
        return await self._native.register(td, ttl)

    async def put(self, id: str, td: dict[str, Any], ttl: float | None = None) -> bool:
        """Creates or replaces the TD under ``id``; whether it was created."""
        return await self._native.put(id, td, ttl)

    async def update(self, td: dict[str, Any], ttl: float | None = None) -> None:
        """Replaces a registered TD (it must have an ``id``)."""
        await self._native.update(td, ttl)

    async def patch(self, id: str, patch: dict[str, Any]) -> None:
        """Applies a JSON merge patch (RFC 7396) to the TD ``id`` (validated on the result)."""
        await self._native.patch(id, patch)

    async def delete(self, id: str) -> None:
        """Deletes the TD ``id``."""
        await self._native.delete(id)

    async def get(self, id: str) -> dict[str, Any]:
        """The TD ``id``, with its ``registration`` member (``created``, ``modified``,
        ``expires``, ``ttl``)."""
        return await self._native.get(id)

    async def list(self) -> builtins.list[dict[str, Any]]:
        """Every registered TD, ordered by id (all pages)."""
        return await self._native.list()

    async def search(
        self,
        *,
        type: str | Sequence[str] | None = None,
        vendor: str | None = None,
        text: str | None = None,
        offset: int = 0,
        limit: int = 0,
    ) -> builtins.list[dict[str, Any]]:
        """TDs matching every given criterion: ``type`` (one or several ``@type`` values;
        ``"agent"`` and ``"tool"`` stand for ``lmos:Agent`` and ``lmos:Tool``), ``vendor``
        (case-insensitive), ``text`` (any of its words in titles, descriptions and affordances;
        best match first). ``limit=0``: the directory's default page."""
        types = [type] if isinstance(type, str) else list(type) if type is not None else None
        return await self._native.search(
            types=types, vendor=vendor, text=text, offset=offset, limit=limit
        )

    async def find_type(self, type: str) -> builtins.list[dict[str, Any]]:
        """TDs with the ``@type`` ``type`` (``"agent"``, ``"tool"``, or any other)."""
        return await self.search(type=type)

    async def find_vendor(self, vendor: str) -> builtins.list[dict[str, Any]]:
        """TDs whose vendor is ``vendor`` (case-insensitive)."""
        return await self.search(vendor=vendor)

    async def find_text(self, text: str) -> builtins.list[dict[str, Any]]:
        """TDs matching the words of ``text``, best first ("an agent that can tell the
        weather")."""
        return await self.search(text=text)

    async def search_jsonpath(self, query: str) -> builtins.list[Any]:
        """The values an RFC 9535 JSONPath expression selects from the array of all TDs
        (``$[?@.title=='Weather']``); a malformed one raises :class:`lmos.DirectoryStatusError`
        (400) with the parser's message."""
        return await self._native.search_jsonpath(query)

    def watch(
        self,
        *,
        kind: EventKind | None = None,
        diff: bool = False,
        last_event_id: str | None = None,
        retry: float = 0.5,
        max_retries: int | None = None,
    ) -> DirectoryWatch:
        """The directory's change events (of one ``kind``, or all) as an ``async for`` stream of
        :class:`DirectoryEvent`. It connects when first iterated; to see events from a known
        point pass ``last_event_id`` (``"0"``: the whole retained history). ``diff=True`` puts
        the TD / merge patch in the event data. Reconnects every ``retry`` seconds, giving up
        after ``max_retries`` failures in a row (``None``: never)."""
        return DirectoryWatch(
            self._native.watch(
                kind=kind,
                diff=diff,
                last_event_id=last_event_id,
                retry=retry,
                max_retries=max_retries,
            )
        )


class DirectoryRegistration:
    """A directory entry an exposed thing keeps alive (from
    :meth:`lmos.ExposedThing.register`)."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.DirectoryRegistration) -> None:
        self._native = native

    def __repr__(self) -> str:
        state = "active" if self.active else "ended"
        return f"<DirectoryRegistration {self.id!r} at {self.directory_url} ({state})>"

    @property
    def id(self) -> str:
        """The id the TD is registered under."""
        return self._native.id

    @property
    def directory_url(self) -> str:
        """The directory's base URL."""
        return self._native.directory_url

    @property
    def active(self) -> bool:
        """Whether the entry is still kept alive."""
        return self._native.active

    async def deregister(self) -> None:
        """Stops refreshing and deletes the entry (one already gone is not an error)."""
        await self._native.deregister()


# ----- DID-based introduction -------------------------------------------------------------------


@dataclass(frozen=True)
class DiscoveredThing:
    """A thing a DID led to: its ``td``, the ``url`` it was read from (the ``WotThing`` endpoint,
    or the directory's ``things/{id}``), the ``service`` id of the DID document that led there,
    and the base URL of the ``directory`` that listed it (``None`` for a ``WotThing``)."""

    td: dict[str, Any]
    url: str
    service: str
    directory: str | None


async def discover_did(
    did: str, resolver: _native.DidResolver | None = None
) -> builtins.list[DiscoveredThing]:
    """Every thing ``did`` leads to: the TDs its ``WotThing`` services point at, then every thing
    the directories of its ``WotDirectory`` services list (a TD whose ``id`` was already found is
    left out). ``did:web`` is fetched over HTTPS (plain http for loopback hosts only with
    ``DidResolver(allow_http_loopback=True)``); a ``did:key`` has services only when pinned in
    the resolver. A DID that cannot be resolved raises the resolver's :class:`lmos.IdentityError`;
    a document without such services, a bad or unreachable endpoint, or an endpoint that is not
    a directory raise :class:`lmos.DirectoryError` (``code`` ``discovery_did_*``, ``service``
    naming the service)."""
    found = await _native.discover_did(did, resolver)
    return [
        DiscoveredThing(
            td=item["td"], url=item["url"], service=item["service"], directory=item["directory"]
        )
        for item in found
    ]


# ----- mDNS -------------------------------------------------------------------------------------

ServiceKind = Literal["thing", "directory"]
"""What an mDNS advertisement announces."""


@dataclass(frozen=True)
class FoundService:
    """A service found on the network: its DNS-SD ``instance`` name, ``kind``, the ``url`` of its
    TD and the ``td`` fetched from there (``None`` with the reason in ``error`` when that
    failed)."""

    instance: str
    kind: ServiceKind
    url: str
    td: dict[str, Any] | None
    error: str | None


def _found(item: dict[str, Any]) -> FoundService:
    return FoundService(
        instance=item["instance"],
        kind=item["kind"],
        url=item["url"],
        td=item["td"],
        error=item["error"],
    )


class MdnsBrowse:
    """The services an :class:`Mdns` browse finds, as an ``async for`` stream (it does not end by
    itself: break out, or :meth:`aclose`)."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.MdnsBrowser) -> None:
        self._native = native

    def __aiter__(self) -> MdnsBrowse:
        return self

    async def __anext__(self) -> FoundService:
        return _found(await self._native.__anext__())

    async def aclose(self) -> None:
        """Stops browsing; the stream then ends."""
        await self._native.aclose()


class Mdns:
    """DNS-SD over multicast DNS (WoT Discovery): advertises things as ``_wot._tcp`` services and
    directories as ``_directory._sub._wot._tcp`` (TXT ``td``, ``type``, ``scheme``), and browses
    for them, fetching each TD::

        mdns = lmos.Mdns()
        mdns.advertise_servient(servient)
        found = await mdns.browse_for(3.0)

    ``port`` is the UDP port (5353 is mDNS; another port makes a private group, e.g. for tests).
    A service bound to 127.0.0.1 is only visible where the loopback interface does multicast:
    bind to an interface address (or ``0.0.0.0``) to be found on the network. Errors are
    :class:`lmos.DirectoryError` with ``code`` ``discovery_mdns``."""

    __slots__ = ("_native",)

    def __init__(self, *, port: int = 5353) -> None:
        self._native = _native.Mdns(port=port)

    def advertise(
        self, kind: ServiceKind, instance: str, host: str, port: int, td_path: str
    ) -> None:
        """Advertises ``instance`` at ``host:port`` with its TD at ``td_path``."""
        self._native.advertise(kind, instance, host, port, td_path)

    def advertise_servient(self, servient: Servient) -> int:
        """Advertises every thing a started servient hosts (instance name: its title; TD path:
        ``/{slug}``); returns how many. Raises :class:`lmos.NotRegistrable` before
        :meth:`lmos.Servient.start`."""
        address = servient.http_address
        things = servient.things()
        if address is None:
            error = _native.NotRegistrable("cannot register: the servient has not started")
            error.code = "discovery_not_registrable"
            raise error
        for thing in things:
            url = thing.td_url
            path = urlsplit(url).path if url else f"/{thing.slug}"
            self._native.advertise("thing", thing.title, address[0], address[1], path)
        return len(things)

    def advertise_directory(self, instance: str, directory: DirectoryServer) -> None:
        """Advertises a running directory (its TD is at ``/``)."""
        host, port = directory.address
        self._native.advertise("directory", instance, host, port, "/")

    async def browse_for(
        self, timeout: float, kind: ServiceKind | None = None
    ) -> builtins.list[FoundService]:
        """What is found within ``timeout`` seconds (``kind``: only things or directories)."""
        return [_found(item) for item in await self._native.browse_for(timeout, kind)]

    def browse(self, kind: ServiceKind | None = None) -> MdnsBrowse:
        """The services as they are found, an ``async for`` stream."""
        return MdnsBrowse(self._native.browse(kind))

    async def shutdown(self) -> None:
        """Withdraws every advertisement (goodbye packets) and stops the daemon."""
        await self._native.shutdown()

    async def __aenter__(self) -> Mdns:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.shutdown()
