package io.github.lmossdk

import io.github.lmossdk.ffi.ActionCallback
import io.github.lmossdk.ffi.ActionStreamCallback
import io.github.lmossdk.ffi.HandlerContext
import io.github.lmossdk.ffi.HandlerFailure
import io.github.lmossdk.ffi.InternalErrorCallback
import io.github.lmossdk.ffi.NativeExposedThing
import io.github.lmossdk.ffi.NativeServient
import io.github.lmossdk.ffi.ProgressSink
import io.github.lmossdk.ffi.PropertyReadCallback
import io.github.lmossdk.ffi.PropertyWriteCallback
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.NonCancellable
import kotlinx.coroutines.withContext
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlin.time.Duration

/** What a handler learns about the interaction that called it. */
data class InteractionContext(
    /** The W3C trace context the handler runs in: its server span, in the caller's trace. */
    val trace: LmosTrace?,
    /** The action instance id, for asynchronous actions. */
    val actionId: String?,
    /** The `uriVariables` the caller sent, already checked against the affordance's schemas. */
    val uriVariables: JsonObject = JsonObject(emptyMap()),
    /**
     * Who the caller proved to be (`scheme`, `subject`, `did`, `scopes`, `credentials`), or null
     * for an open thing.
     */
    val principal: JsonObject? = null,
)

/** The receiver of every handler: what it knows about the interaction. */
@LmosDsl
open class HandlerScope internal constructor(
    /** The interaction that called the handler. */
    val context: InteractionContext,
)

/** The receiver of a progress-reporting action handler. */
class ActionStreamScope internal constructor(context: InteractionContext, private val sink: ProgressSink) :
    HandlerScope(context) {
    /** Reports one progress value to the caller; suspends while the caller is slower. */
    suspend fun progress(value: JsonElement) {
        try {
            sink.progress(value.toText())
        } catch (error: io.github.lmossdk.ffi.NativeException) {
            throw error.toLmos()
        }
    }
}

/** Reads a property: returns its value. */
typealias PropertyReadHandler = suspend HandlerScope.() -> JsonElement

/** Accepts a written property value (already checked against the property's schema). */
typealias PropertyWriteHandler = suspend HandlerScope.(value: JsonElement) -> Unit

/** Runs an action: gets its input (`JsonNull` when none was sent), returns its output. */
typealias ActionHandler = suspend HandlerScope.(input: JsonElement) -> JsonElement

/** Runs an action that reports progress with [ActionStreamScope.progress]; returns the output. */
typealias ActionStreamHandler = suspend ActionStreamScope.(input: JsonElement) -> JsonElement

/**
 * Answers the `chat` action: gets the AgentRequest, returns an AgentResult (see [agentResult])
 * or a `JsonPrimitive` string (the text of a successful result).
 */
typealias ChatHandler = suspend HandlerScope.(request: JsonObject) -> JsonElement

private fun HandlerContext.toContext(): InteractionContext = InteractionContext(
    trace = traceparent?.let { LmosTrace(it, tracestate) },
    actionId = actionId,
    uriVariables = parseJson(uriVariables) as? JsonObject ?: JsonObject(emptyMap()),
    principal = principal?.let { parseJson(it) as? JsonObject },
)

/**
 * Runs a handler in the caller's trace context and maps what it throws: [InvalidInput] is sent
 * to the caller (400), [ActionCancelled] ends a cancelled action, anything else is a failure the
 * caller sees as an internal error. Coroutine cancellation (the caller went away) propagates.
 */
private suspend fun <T> handle(context: HandlerContext, run: suspend (InteractionContext) -> T): T {
    val interaction = context.toContext()
    try {
        return if (interaction.trace != null) withContext(interaction.trace) { run(interaction) } else run(interaction)
    } catch (error: CancellationException) {
        throw error
    } catch (error: InvalidInput) {
        throw HandlerFailure.InvalidInput(error.message ?: "invalid input")
    } catch (error: ActionCancelled) {
        throw HandlerFailure.Cancelled()
    } catch (error: Throwable) {
        throw HandlerFailure.Failed("${error::class.qualifiedName}: ${error.message}")
    }
}

/** A thing this process serves; made by [Servient.expose]. */
class ExposedThing internal constructor(internal val native: NativeExposedThing) {
    /** The URL path segment of the thing. */
    val slug: String get() = native.slug()

    /** The thing's title. */
    val title: String get() = native.title()

    /** The TD as served (absolute hrefs once the servient has started). */
    val td: JsonObject get() = parseObject(native.td(), "the TD")

    /** The URL of the TD, once the servient has started (or has a public base URL). */
    val tdUrl: String? get() = native.tdUrl()

    /** Names of the properties. */
    val propertyNames: List<String> get() = native.propertyNames()

    /** How many open observations property [name] has, over any binding. */
    fun observerCount(name: String): Int = native { native.observerCount(name).toInt() }

    /** How many open subscriptions event [name] has, over any binding. */
    fun subscriberCount(name: String): Int = native { native.subscriberCount(name).toInt() }

    /** Stores a property value (checked against its schema) and notifies observers. */
    fun setProperty(name: String, value: JsonElement) = native { native.setProperty(name, value.toText()) }

    /** The stored value of a property. */
    fun propertyValue(name: String): JsonElement = parseJson(native { native.propertyValue(name) })

    /** Emits an event (data checked against its schema) to every subscriber. */
    fun emitEvent(name: String, data: JsonElement = kotlinx.serialization.json.JsonNull) =
        native { native.emitEvent(name, data.toText()) }

    /** Answers reads of property [name] with [handler] (instead of the stored value). */
    fun onPropertyRead(name: String, handler: PropertyReadHandler) {
        val callback = object : PropertyReadCallback {
            override suspend fun read(context: HandlerContext): String =
                handle(context) { HandlerScope(it).handler().toText() }
        }
        native { native.onPropertyRead(name, callback) }
    }

    /** Accepts writes of property [name] with [handler] (instead of storing the value). */
    fun onPropertyWrite(name: String, handler: PropertyWriteHandler) {
        val callback = object : PropertyWriteCallback {
            override suspend fun write(value: String, context: HandlerContext) =
                handle(context) { HandlerScope(it).handler(parseJson(value)) }
        }
        native { native.onPropertyWrite(name, callback) }
    }

    /** Answers action [name] with [handler], which returns the output. */
    fun onAction(name: String, handler: ActionHandler) {
        native { native.onAction(name, actionCallback(handler)) }
    }

    /**
     * Answers action [name] with [handler], which reports progress with `progress(value)` and
     * returns the output. When the caller cancels, the handler's coroutine is cancelled.
     */
    fun onActionStream(name: String, handler: ActionStreamHandler) {
        val callback = object : ActionStreamCallback {
            override suspend fun invoke(input: String, context: HandlerContext, sink: ProgressSink): String =
                handle(context) { ActionStreamScope(it, sink).handler(parseJson(input)).toText() }
        }
        native { native.onActionStream(name, callback) }
    }

    /** Answers the `chat` action (see [ThingBuilder.chatAction]) with [handler]. */
    fun onChat(handler: ChatHandler) {
        native {
            native.onChat(actionCallback { input ->
                handler(input as? JsonObject ?: throw InvalidInput("the request is not an AgentRequest"))
            })
        }
    }

    private fun actionCallback(handler: ActionHandler) = object : ActionCallback {
        override suspend fun invoke(input: String, context: HandlerContext): String =
            handle(context) { HandlerScope(it).handler(parseJson(input)).toText() }
    }

    override fun toString(): String = "ExposedThing($title)"
}

/** A host and port a servient listens on. */
data class SocketAddress(val host: String, val port: Int) {
    override fun toString(): String = if (':' in host) "[$host]:$port" else "$host:$port"

    internal companion object {
        fun parse(text: String?): SocketAddress? {
            text ?: return null
            val colon = text.lastIndexOf(':')
            return SocketAddress(text.substring(0, colon).removePrefix("[").removeSuffix("]"), text.substring(colon + 1).toInt())
        }
    }
}

/** The addresses a started servient listens on. */
data class BoundAddresses(
    val http: SocketAddress?,
    /** Where WebSocket is served (the HTTP address unless `wsPort`); null when off. */
    val ws: SocketAddress?,
)

/** An error callers only see as "internal error" (a failed handler, a bad output). */
data class InternalError(val thing: String, val affordance: String, val code: String, val message: String)

/**
 * Hosts exposed things on HTTP and WebSocket.
 *
 * @param httpPort HTTP port (default 8080; 0 picks a free one)
 * @param host address to listen on (default 127.0.0.1)
 * @param publicBaseUrl the URL under which clients reach the server root, if not the bound address
 * @param wsPort serve WebSocket on its own port (0 picks a free one); default: on the HTTP port
 * @param websocket serve the `lmosprotocol` WebSocket endpoint and add its forms (default true)
 * @param onInternalError receives failed handlers' errors (default: printed on standard error)
 */
class Servient(
    httpPort: Int? = null,
    host: String? = null,
    publicBaseUrl: String? = null,
    wsPort: Int? = null,
    websocket: Boolean? = null,
    /** Largest accepted request body in bytes (default 1 MiB). */
    maxBodyBytes: Long? = null,
    longPollTimeout: Duration? = null,
    /** How long a finished asynchronous action stays queryable. */
    actionRetention: Duration? = null,
    /** How long a cancelled handler may run on to clean up. */
    cancelGrace: Duration? = null,
    /** Largest WebSocket message in bytes (default 1 MiB). */
    wsMaxMessageBytes: Long? = null,
    wsQueueCapacity: Int? = null,
    wsMaxInFlight: Int? = null,
    wsPingInterval: Duration? = null,
    wsPingTimeout: Duration? = null,
    onInternalError: ((InternalError) -> Unit)? = null,
    /** Signs every TD as served with this key (see [setDescriptionSigner]). */
    signDescriptions: Ed25519KeyPair? = null,
    /** What is accepted for the security schemes the exposed things declare. */
    security: ServerSecurity? = null,
    /** Serve `https` and `wss` with this certificate. */
    tls: TlsConfig? = null,
) {
    internal val native: NativeServient

    init {
        val options = buildMap<String, Any?> {
            httpPort?.let { put("httpPort", it) }
            host?.let { put("host", it) }
            publicBaseUrl?.let { put("publicBaseUrl", it) }
            wsPort?.let { put("wsPort", it) }
            websocket?.let { put("websocket", it) }
            maxBodyBytes?.let { put("maxBodyBytes", it) }
            longPollTimeout?.let { put("longPollTimeoutMs", it.inWholeMilliseconds) }
            actionRetention?.let { put("actionRetentionMs", it.inWholeMilliseconds) }
            cancelGrace?.let { put("cancelGraceMs", it.inWholeMilliseconds) }
            wsMaxMessageBytes?.let { put("wsMaxMessageBytes", it) }
            wsQueueCapacity?.let { put("wsQueueCapacity", it) }
            wsMaxInFlight?.let { put("wsMaxInFlight", it) }
            wsPingInterval?.let { put("wsPingIntervalMs", it.inWholeMilliseconds) }
            wsPingTimeout?.let { put("wsPingTimeoutMs", it.inWholeMilliseconds) }
            security?.let { put("security", it.toJson()) }
            tls?.let { put("tls", it.toJson()) }
        }
        val hook = onInternalError?.let { report ->
            object : InternalErrorCallback {
                override fun report(thing: String, affordance: String, code: String, message: String) {
                    runCatching { report(InternalError(thing, affordance, code, message)) }
                }
            }
        }
        native = native { NativeServient(toJsonElement(options).toText(), hook) }
        signDescriptions?.let { setDescriptionSigner(it) }
    }

    /**
     * Signs every TD served from now on with [key] (`eddsa-jcs-2022`, as served, so the proof
     * covers the absolute hrefs); null stops signing. A did:web agent whose DID names its own
     * port sets its key after [start].
     */
    fun setDescriptionSigner(key: Ed25519KeyPair?) = native.setDescriptionSigner(key?.native)

    /** Serves [document] (a DID document, checked) at `/.well-known/did.json`. */
    fun serveDidDocument(document: JsonObject) = native { native.serveDidDocument(document.toText()) }

    /** Hosts a thing; its forms are replaced by this servient's. */
    fun expose(td: JsonObject): ExposedThing = ExposedThing(native { native.expose(td.toText()) })

    /** Stops hosting the thing at [slug]; whether there was one. */
    fun destroy(slug: String): Boolean = native.destroy(slug)

    /** The exposed things. */
    val things: List<ExposedThing> get() = native.things().map { ExposedThing(it) }

    /** Binds the ports and serves. */
    suspend fun start(): BoundAddresses {
        try {
            native.start()
        } catch (error: io.github.lmossdk.ffi.NativeException) {
            throw error.toLmos()
        }
        return addresses
    }

    /** The addresses it listens on, once started. */
    val addresses: BoundAddresses
        get() = BoundAddresses(SocketAddress.parse(native.httpAddress()), SocketAddress.parse(native.wsAddress()))

    /** The base URL form hrefs are made from, once known. */
    val baseUrl: String? get() = native.baseUrl()

    /** Stops serving; open streams are closed. */
    suspend fun shutdown() {
        try {
            native.shutdown()
        } catch (error: io.github.lmossdk.ffi.NativeException) {
            throw error.toLmos()
        }
    }

    /** Starts, runs [block], and shuts down (also when [block] fails or is cancelled). */
    suspend fun <R> serve(block: suspend Servient.() -> R): R {
        start()
        try {
            return block()
        } finally {
            withContext(NonCancellable) { shutdown() }
        }
    }

    override fun toString(): String = "Servient(${addresses.http ?: "not started"})"
}

/** `JsonPrimitive(text)`: a string answer of a chat handler. */
fun text(value: String): JsonElement = JsonPrimitive(value)
