package io.github.lmossdk

import io.github.lmossdk.ffi.NativeDirectoryClient
import io.github.lmossdk.ffi.NativeDirectoryRegistration
import io.github.lmossdk.ffi.NativeDirectoryServer
import io.github.lmossdk.ffi.NativeDirectoryWatch
import io.github.lmossdk.ffi.NativeMdns
import io.github.lmossdk.ffi.NativeServiceStream
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.FlowCollector
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.time.Duration

/**
 * A W3C WoT Thing Description Directory served by this process (the same server as
 * `lmos directory serve`). Start one with [DirectoryServer.start]; [close] stops it.
 */
class DirectoryServer private constructor(private val native: NativeDirectoryServer) : AutoCloseable {
    /** The URL clients reach the directory at (`http://host:port/`, or the public URL). */
    val baseUrl: String get() = native.baseUrl()

    /** The address it listens on. */
    val address: SocketAddress get() = checkNotNull(SocketAddress.parse(native.address()))

    /** A client of this directory. */
    fun client(): DirectoryClient = DirectoryClient(baseUrl)

    /** Stops listening and ends open event streams; a second call does nothing. */
    suspend fun shutdown() = call { native.stop() }

    /** Blocking [shutdown], for `use { }`. */
    override fun close() = kotlinx.coroutines.runBlocking { shutdown() }

    override fun toString(): String = "DirectoryServer($baseUrl)"

    companion object {
        /**
         * Opens the store [db] (`sqlite:PATH` or a plain path: one SQLite file, created when
         * missing; `postgres://user@host:port/db`: a PostgreSQL database several directories can
         * share) and serves the directory API on [host]:[port] (0: a free port).
         *
         * @param maxTtl the longest lifetime granted to a registration (longer ones are cut)
         * @param purgeInterval how often expired entries are deleted (default 1 s)
         */
        suspend fun start(
            db: String,
            port: Int = 0,
            host: String? = null,
            publicBaseUrl: String? = null,
            maxTtl: Duration? = null,
            defaultPage: Long? = null,
            maxPage: Long? = null,
            maxBodyBytes: Long? = null,
            purgeInterval: Duration? = null,
        ): DirectoryServer {
            val options = buildMap<String, Any?> {
                put("db", db)
                put("port", port)
                host?.let { put("host", it) }
                publicBaseUrl?.let { put("publicBaseUrl", it) }
                maxTtl?.let { put("maxTtl", it.inWholeSeconds) }
                defaultPage?.let { put("defaultPage", it) }
                maxPage?.let { put("maxPage", it) }
                maxBodyBytes?.let { put("maxBodyBytes", it) }
                purgeInterval?.let { put("purgeIntervalMs", it.inWholeMilliseconds) }
            }
            return DirectoryServer(call { io.github.lmossdk.ffi.startDirectory(toJsonElement(options).toText()) })
        }
    }
}

/** The kind of a directory change. */
enum class ChangeKind(internal val wire: String) {
    CREATED("created"), UPDATED("updated"), DELETED("deleted");

    internal companion object {
        fun of(wire: String): ChangeKind = entries.firstOrNull { it.wire == wire }
            ?: throw CodecError("unknown directory event kind $wire")
    }
}

/**
 * A change in a directory: [kind], the [thingId] it concerns, [data] (`{"id"}`; with `diff` the
 * TD for [ChangeKind.CREATED] and the JSON merge patch for [ChangeKind.UPDATED]) and [eventId]
 * (the resume point for `lastEventId`).
 */
data class DirectoryEvent(val kind: ChangeKind, val thingId: String, val data: JsonElement, val eventId: String?) {
    internal companion object {
        fun from(element: JsonElement): DirectoryEvent {
            val o = element as? JsonObject ?: throw CodecError("not a directory event: $element")
            return DirectoryEvent(
                kind = ChangeKind.of(o.string("kind") ?: ""),
                thingId = o.string("thingId") ?: "",
                data = o["data"] ?: JsonNull,
                eventId = o.string("id"),
            )
        }
    }
}

private fun JsonObject.string(name: String): String? = (this[name] as? JsonPrimitive)?.takeIf { it.isString }?.content

private fun parseList(text: String): List<JsonElement> =
    parseJson(text) as? JsonArray ?: throw CodecError("the directory did not answer a JSON array")

private fun parseObjects(text: String): List<JsonObject> = parseList(text).map {
    it as? JsonObject ?: throw CodecError("the directory answered an entry that is not a JSON object")
}

/** Seconds for the directory API, at least one. */
private fun ttlSeconds(ttl: Duration?): ULong? = ttl?.let {
    require(it.isPositive() && it.inWholeSeconds >= 1) { "the time-to-live must be at least one second, not $it" }
    it.inWholeSeconds.toULong()
}

/**
 * A client of the Thing Description Directory at [baseUrl]. Failures are [DirectoryException]s
 * ([DirectoryNotFound] for an unknown id).
 */
class DirectoryClient(baseUrl: String) {
    private val native: NativeDirectoryClient = native { NativeDirectoryClient(baseUrl) }

    /** The directory's base URL. */
    val baseUrl: String get() = native.baseUrl()

    /** The directory's own TD (`@type` `ThingDirectory`). */
    suspend fun describe(): JsonObject = parseObject(call { native.describe() }, "the directory's TD")

    /**
     * Registers [td] (validated by the directory; nothing is stored when it is invalid) with an
     * optional lifetime; returns its id (the one the directory gave an anonymous TD).
     */
    suspend fun register(td: JsonObject, ttl: Duration? = null): String =
        call { native.register(td.toText(), ttlSeconds(ttl)) }

    /** Creates or replaces the TD at [id] (its `id` must be [id] or absent); true when it was created. */
    suspend fun put(id: String, td: JsonObject, ttl: Duration? = null): Boolean =
        call { native.put(id, td.toText(), ttlSeconds(ttl)) }

    /** Replaces the registered TD with [td]'s `id`. */
    suspend fun update(td: JsonObject, ttl: Duration? = null) = call { native.update(td.toText(), ttlSeconds(ttl)) }

    /** Applies a JSON merge patch (RFC 7396) to the TD [id]. */
    suspend fun patch(id: String, patch: JsonObject) = call { native.patch(id, patch.toText()) }

    /** Deletes the TD [id]. */
    suspend fun delete(id: String) = call { native.delete(id) }

    /** The TD [id], with its `registration` member. */
    suspend fun get(id: String): JsonObject = parseObject(call { native.get(id) }, "the TD")

    /** Every registered TD (all pages). */
    suspend fun list(): List<JsonObject> = parseObjects(call { native.list() })

    /**
     * TDs matching every given criterion: each of [types] (`agent` and `tool` stand for
     * `lmos:Agent` / `lmos:Tool`), the [vendor] (case-insensitive), and the words of [text]
     * (ranked best first).
     */
    suspend fun search(
        types: List<String> = emptyList(),
        vendor: String? = null,
        text: String? = null,
        offset: Long = 0,
        limit: Long = 0,
    ): List<JsonObject> {
        val query = buildMap<String, Any?> {
            if (types.isNotEmpty()) put("type", types)
            vendor?.let { put("vendor", it) }
            text?.let { put("text", it) }
            if (offset > 0) put("offset", offset)
            if (limit > 0) put("limit", limit)
        }
        return parseObjects(call { native.search(toJsonElement(query).toText()) })
    }

    /** TDs with this `@type` (`agent`, `tool`, or any type). */
    suspend fun findType(type: String): List<JsonObject> = search(types = listOf(type))

    /** TDs of this vendor (case-insensitive). */
    suspend fun findVendor(vendor: String): List<JsonObject> = search(vendor = vendor)

    /** TDs matching the words of [text], best first. */
    suspend fun findText(text: String): List<JsonObject> = search(text = text)

    /** The values an RFC 9535 JSONPath expression selects from the array of all TDs. */
    suspend fun searchJsonPath(query: String): List<JsonElement> = parseList(call { native.searchJsonpath(query) })

    /**
     * The directory's change events as a [Flow] (collect it once). The subscription connects
     * when collected and reconnects after a dropped connection, resuming after the last event
     * seen; cancelling the collector ends it. [lastEventId] `"0"` replays the retained history.
     */
    fun watch(
        kind: ChangeKind? = null,
        diff: Boolean = false,
        lastEventId: String? = null,
        retry: Duration? = null,
        maxRetries: Int? = null,
    ): DirectoryWatch {
        val options = buildMap<String, Any?> {
            kind?.let { put("kind", it.wire) }
            if (diff) put("diff", true)
            lastEventId?.let { put("lastEventId", it) }
            retry?.let { put("retryMs", it.inWholeMilliseconds) }
            maxRetries?.let { put("maxRetries", it) }
        }
        return DirectoryWatch(native { native.watch(toJsonElement(options).toText()) })
    }

    override fun toString(): String = "DirectoryClient($baseUrl)"
}

/** A directory's change events; cancelling the collection (or [close]) ends the subscription. */
class DirectoryWatch internal constructor(private val native: NativeDirectoryWatch) : Flow<DirectoryEvent>, AutoCloseable {
    private val collected = AtomicBoolean(false)
    private val closed = AtomicBoolean(false)

    override suspend fun collect(collector: FlowCollector<DirectoryEvent>) {
        check(collected.compareAndSet(false, true)) { "a DirectoryWatch can be collected only once" }
        try {
            while (true) {
                val next = call { native.next() } ?: break
                collector.emit(DirectoryEvent.from(parseJson(next)))
            }
        } finally {
            close()
        }
    }

    /** Ends the subscription; a running collection completes. */
    override fun close() {
        if (closed.compareAndSet(false, true)) native.end()
    }
}

/** A directory entry an [ExposedThing] keeps alive (see [ExposedThing.register]). */
class DirectoryRegistration internal constructor(private val native: NativeDirectoryRegistration) {
    /** The id the TD is registered under. */
    val id: String get() = native.id()

    /** The directory's base URL. */
    val directoryUrl: String get() = native.directoryUrl()

    /** Whether the entry is still refreshed. */
    val active: Boolean get() = native.active()

    /** Stops refreshing and deletes the entry now; a second call does nothing. */
    suspend fun deregister() = call { native.deregister() }

    override fun toString(): String = "DirectoryRegistration($id at $directoryUrl)"
}

/**
 * Registers the thing's TD as served (the servient must have started, or have a public base
 * URL) in the directory at [directoryUrl] with lifetime [ttl], and re-registers it every
 * `ttl / 2` (also after the directory lost it) until [DirectoryRegistration.deregister] or the
 * servient shuts down.
 */
suspend fun ExposedThing.register(directoryUrl: String, ttl: Duration): DirectoryRegistration =
    DirectoryRegistration(call { native.register(directoryUrl, checkNotNull(ttlSeconds(ttl))) })

/** [register] in a directory served by this process. */
suspend fun ExposedThing.register(directory: DirectoryServer, ttl: Duration): DirectoryRegistration =
    register(directory.baseUrl, ttl)

/** What an mDNS advertisement announces. */
enum class ServiceKind(internal val wire: String) {
    /** A Thing (`_wot._tcp`, TXT `type=Thing`). */
    THING("thing"),

    /** A Thing Description Directory (`_directory._sub._wot._tcp`, TXT `type=Directory`). */
    DIRECTORY("directory"),
}

/**
 * A service found by [Mdns.browse]: its DNS-SD [instance] name, [kind], the [url] of its TD and
 * the [td] itself, or the [error] that kept it from being fetched.
 */
data class FoundService(val instance: String, val kind: ServiceKind, val url: String, val td: JsonObject?, val error: String?) {
    internal companion object {
        fun from(element: JsonElement): FoundService {
            val o = element as? JsonObject ?: throw CodecError("not a found service: $element")
            return FoundService(
                instance = o.string("instance") ?: "",
                kind = if (o.string("kind") == "directory") ServiceKind.DIRECTORY else ServiceKind.THING,
                url = o.string("url") ?: "",
                td = o["td"] as? JsonObject,
                error = o.string("error"),
            )
        }
    }
}

/**
 * DNS-SD over multicast DNS (WoT Discovery): advertises things and directories and browses for
 * them. [port] 5353 is mDNS; another UDP port makes a private group (tests). Records carry the
 * addresses of the interface they are sent on, so bind what you advertise to an interface
 * address (or 0.0.0.0), not 127.0.0.1. [shutdown] withdraws every advertisement.
 */
class Mdns(port: Int = 5353) : AutoCloseable {
    private val native: NativeMdns = native {
        require(port in 1..65535) { "the mDNS port must be 1 to 65535, not $port" }
        NativeMdns(port.toUShort())
    }

    /** Advertises a service: [instance] at [address] with its TD at [tdPath]. */
    fun advertise(kind: ServiceKind, instance: String, address: SocketAddress, tdPath: String) =
        native { native.advertise(kind.wire, instance, address.toString(), tdPath) }

    /** Advertises every thing a started [servient] hosts (instance: its title); returns how many. */
    fun advertise(servient: Servient): Int = native { native.advertiseServient(servient.native).toInt() }

    /** Advertises a directory served by this process as [instance] (its TD is at `/`). */
    fun advertise(directory: DirectoryServer, instance: String) =
        advertise(ServiceKind.DIRECTORY, instance, directory.address, "/")

    /**
     * Services of [kind] (null: things and directories) as they are resolved, each with its TD
     * fetched. The flow does not end by itself: take what you need or cancel it.
     */
    fun browse(kind: ServiceKind? = null): Flow<FoundService> {
        val stream: NativeServiceStream = native { native.browse(kind?.wire) }
        return object : Flow<FoundService> {
            private val collected = AtomicBoolean(false)

            override suspend fun collect(collector: FlowCollector<FoundService>) {
                check(collected.compareAndSet(false, true)) { "a browse flow can be collected only once" }
                try {
                    while (true) {
                        val next = call { stream.next() } ?: break
                        collector.emit(FoundService.from(parseJson(next)))
                    }
                } finally {
                    stream.end()
                }
            }
        }
    }

    /** Withdraws every advertisement (goodbye packets) and stops the daemon. */
    suspend fun shutdown() = call { native.shutdown() }

    /** Blocking [shutdown], for `use { }`. */
    override fun close() = kotlinx.coroutines.runBlocking { shutdown() }
}

/** A thing a DID led to: its TD, where it was read, the DID service, and the directory if any. */
data class DidDiscovered(
    /** The Thing Description (from a directory: with its `registration` member). */
    val td: JsonObject,
    /** Where the TD was read: the `WotThing` endpoint, or the directory's `things/{id}`. */
    val url: String,
    /** The id of the DID service that led here. */
    val service: String,
    /** The base URL of the directory that listed it (null for a `WotThing` service). */
    val directory: String?,
)

/**
 * DID-based introduction: resolves [did] with [resolver] and follows its `WotThing` services to
 * TDs and its `WotDirectory` services to directories, whose things are listed too (each thing
 * once). Fails as a whole ([DiscoveryException], [IdentityException], [DirectoryException]) when
 * any service does.
 */
suspend fun discoverDid(did: String, resolver: DidResolver = DidResolver()): List<DidDiscovered> {
    val text = call { io.github.lmossdk.ffi.discoverDid(did, resolver.toJson().toText()) }
    return (parseJson(text) as JsonArray).map { element ->
        val entry = element as JsonObject
        DidDiscovered(
            td = entry.getValue("td") as JsonObject,
            url = (entry.getValue("url") as JsonPrimitive).content,
            service = (entry.getValue("service") as JsonPrimitive).content,
            directory = (entry["directory"] as? JsonPrimitive)?.takeUnless { it is JsonNull }?.content,
        )
    }
}
