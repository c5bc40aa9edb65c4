package io.github.lmossdk

import io.github.lmossdk.ffi.NativeActionHandle
import io.github.lmossdk.ffi.NativeConsumedThing
import io.github.lmossdk.ffi.NativeException
import io.github.lmossdk.ffi.NativeStream
import kotlinx.coroutines.currentCoroutineContext
import kotlinx.coroutines.flow.Flow
import kotlinx.coroutines.flow.FlowCollector
import kotlinx.coroutines.flow.flow
import kotlinx.coroutines.flow.map
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import java.util.concurrent.atomic.AtomicBoolean
import kotlin.coroutines.AbstractCoroutineContextElement
import kotlin.coroutines.CoroutineContext
import kotlin.time.Duration

/**
 * A W3C trace context as a coroutine context element. Handlers run with the caller's trace in
 * their coroutine context, so calls they make continue it; add one yourself with
 * `withContext(LmosTrace(traceparent)) { ... }`.
 */
data class LmosTrace(val traceparent: String, val tracestate: String? = null) :
    AbstractCoroutineContextElement(LmosTrace) {
    /** The key of [LmosTrace] in a coroutine context. */
    companion object Key : CoroutineContext.Key<LmosTrace>
}

/** The trace of the calling coroutine, as the native layer reads it. */
private suspend fun trace(): String? = currentCoroutineContext()[LmosTrace]?.let {
    toJsonElement(mapOf("traceparent" to it.traceparent, "tracestate" to it.tracestate)).toText()
}

/** Runs a suspending native call, turning its error into an [LmosException]. */
internal suspend inline fun <T> call(crossinline block: suspend () -> T): T = try {
    block()
} catch (error: NativeException) {
    throw error.toLmos()
}

/** The `lmosprotocol` dialect spoken over WebSocket forms. */
enum class Dialect(internal val wire: String) {
    /** The LMOS protocol text (default). */
    SPEC("spec"),

    /** kotlin-wot's dialect (the LMOS Kotlin SDK). */
    KOTLIN_WOT("kotlin-wot"),
}

/** Streaming subprotocols of the HTTP binding. */
enum class Subprotocol(internal val wire: String) { SSE("sse"), LONGPOLL("longpoll") }

/** How a [ConsumedThing] picks forms and checks payloads. */
data class ConsumeOptions(
    /** URI schemes in order of preference (`http` also matches `https`, `ws` also `wss`). */
    val protocols: List<String>? = null,
    /** The dialect spoken over WebSocket forms (default [Dialect.SPEC]). */
    val dialect: Dialect? = null,
    /** Content types in order of preference (default: application/json first). */
    val contentTypes: List<String>? = null,
    /** Streaming subprotocols in order of preference (default: SSE, then long polling). */
    val subprotocols: List<Subprotocol>? = null,
    /** Check values the thing returns against the TD (default true). */
    val validateOutputs: Boolean? = null,
    /** Check inputs against the TD before sending (default true). */
    val validateInputs: Boolean? = null,
    /** Bound on each non-streaming request (default 30 s; [Duration.ZERO]: none). */
    val timeout: Duration? = null,
    /** Pause between polls of an action status (default 200 ms). */
    val pollInterval: Duration? = null,
    /** Largest accepted response body in bytes. */
    val maxResponseBytes: Long? = null,
    /** Use only forms whose scheme is in [protocols] (default: the list only ranks). */
    val onlyProtocols: Boolean? = null,
    /** What to do with the TD's signature (default [SignaturePolicy.VERIFY_IF_PRESENT]). */
    val signaturePolicy: SignaturePolicy? = null,
    /** How the DIDs of TD signers are resolved. */
    val didResolver: DidResolver? = null,
    /**
     * Credentials by thing id or by origin (`https://host:port`), applied as each form's (or
     * the thing's) security declares. None are sent without this.
     */
    val credentials: Map<String, Credentials>? = null,
    /** Extra CA certificates (PEM) trusted for `https` and `wss` besides the platform's roots. */
    val extraCaPem: String? = null,
) {
    internal fun toText(): String = toJsonElement(
        buildMap<String, Any?> {
            protocols?.let { put("protocols", it) }
            dialect?.let { put("dialect", it.wire) }
            contentTypes?.let { put("contentTypes", it) }
            subprotocols?.let { list -> put("subprotocols", list.map { it.wire }) }
            validateOutputs?.let { put("validateOutputs", it) }
            validateInputs?.let { put("validateInputs", it) }
            timeout?.let { put("timeoutMs", it.inWholeMilliseconds) }
            pollInterval?.let { put("pollIntervalMs", it.inWholeMilliseconds) }
            maxResponseBytes?.let { put("maxResponseBytes", it) }
            onlyProtocols?.let { put("onlyProtocols", it) }
            signaturePolicy?.let { put("signaturePolicy", it.wire) }
            didResolver?.let { put("didResolver", it.toJson()) }
            credentials?.let { map -> put("credentials", map.mapValues { it.value.toJson() }) }
            extraCaPem?.let { put("extraCaPem", it) }
        },
    ).toText()
}

/** An update of a streamed action: progress values, then the output. */
sealed interface ActionUpdate {
    /** The value of the update. */
    val value: JsonElement

    /** An intermediate status. */
    data class Progress(override val value: JsonElement) : ActionUpdate

    /** The action's output; nothing follows it. */
    data class Output(override val value: JsonElement) : ActionUpdate

    companion object {
        internal fun from(element: JsonElement): ActionUpdate {
            val o = element as? JsonObject ?: throw CodecError("not an action update: $element")
            val value = o["value"] ?: JsonNull
            return when ((o["type"] as? JsonPrimitive)?.content) {
                "progress" -> Progress(value)
                "output" -> Output(value)
                else -> throw CodecError("not an action update: $element")
            }
        }
    }
}

/**
 * Values from the Rust core as a [Flow]: property changes, events or action updates. It can be
 * collected once; cancelling the collecting coroutine (or [close]) ends the subscription on the
 * thing. The subscription is in place when the call that returned it has returned.
 */
class Subscription internal constructor(private val stream: NativeStream) : Flow<JsonElement>, AutoCloseable {
    private val collected = AtomicBoolean(false)
    private val closed = AtomicBoolean(false)

    override suspend fun collect(collector: FlowCollector<JsonElement>) {
        check(collected.compareAndSet(false, true)) { "a Subscription can be collected only once" }
        try {
            while (true) {
                val next = call { stream.next() } ?: break
                collector.emit(parseJson(next))
            }
        } finally {
            close()
        }
    }

    /** Ends the subscription; a running collection completes. */
    override fun close() {
        if (closed.compareAndSet(false, true)) {
            stream.end()
        }
    }
}

/** The updates of an action: [ActionUpdate.Progress] values, then one [ActionUpdate.Output]. */
class ActionUpdates internal constructor(private val values: Subscription) :
    Flow<ActionUpdate> by values.map({ ActionUpdate.from(it) }), AutoCloseable {
    /** Stops following the action (the action itself runs on unless cancelled). */
    override fun close() = values.close()
}

/** The handle of an invoked action (the status resource of an asynchronous action). */
class ActionHandle internal constructor(private val native: NativeActionHandle) {
    /** The action's name. */
    val action: String get() = native.action()

    /** Whether the action runs asynchronously (it has a status resource). */
    val isAsync: Boolean get() = native.isAsync()

    /** The URL of the status resource, for asynchronous actions. */
    val statusUrl: String? get() = native.statusUrl()

    /** `queryaction`: the status (`status`, `output`, `error`, ...). */
    suspend fun query(): JsonObject = parseObject(call { native.query(trace()) }, "the action status")

    /** `cancelaction`. */
    suspend fun cancel() = call { native.cancel(trace()) }

    /** Waits for the output. */
    suspend fun output(): JsonElement = parseJson(call { native.output(trace()) })

    /** The updates from now on. */
    suspend fun updates(): ActionUpdates = ActionUpdates(Subscription(native { native.updates(trace()) }))
}

/** A thing this process calls; made by [consume]. */
class ConsumedThing internal constructor(internal val native: NativeConsumedThing) {
    /** The TD. */
    val td: JsonObject get() = parseObject(native.td(), "the TD")

    /** The thing's title. */
    val title: String get() = (td["title"] as? JsonPrimitive)?.content ?: ""

    /**
     * The TD's Data Integrity proofs that verified (empty when it has none or the policy was
     * [SignaturePolicy.IGNORE]). A valid signature by an unknown DID proves integrity, not
     * authority: compare [VerifiedProof.signer] with the DID you expect.
     */
    val verifiedProofs: List<VerifiedProof> get() = VerifiedProof.list(native { native.verifiedProofs() })

    /** `readproperty`; [uriVariables] fill the form's URI template (checked against their schemas). */
    suspend fun readProperty(name: String, uriVariables: JsonObject? = null): JsonElement =
        parseJson(call { native.readProperty(name, uriVariables?.toText(), trace()) })

    /** `writeproperty`. */
    suspend fun writeProperty(name: String, value: JsonElement, uriVariables: JsonObject? = null) =
        call { native.writeProperty(name, value.toText(), uriVariables?.toText(), trace()) }

    /** `readallproperties`. */
    suspend fun readAllProperties(): JsonObject =
        parseObject(call { native.readAllProperties(trace()) }, "the property values")

    /** `writemultipleproperties`. */
    suspend fun writeMultipleProperties(values: JsonObject) =
        call { native.writeMultipleProperties(values.toText(), trace()) }

    /** `invokeaction`, waiting for the output (an asynchronous action is followed to its end). */
    suspend fun invokeAction(name: String, input: JsonElement = JsonNull, uriVariables: JsonObject? = null): JsonElement =
        parseJson(call { native.invokeAction(name, input.toText(), uriVariables?.toText(), trace()) })

    /** `invokeaction` as a stream of progress updates ending with the output. */
    suspend fun invokeActionStream(name: String, input: JsonElement = JsonNull, uriVariables: JsonObject? = null): ActionUpdates =
        ActionUpdates(Subscription(call { native.invokeActionStream(name, input.toText(), uriVariables?.toText(), trace()) }))

    /** Invokes an action and returns its handle (query, cancel, output, updates). */
    suspend fun startAction(name: String, input: JsonElement = JsonNull, uriVariables: JsonObject? = null): ActionHandle =
        ActionHandle(call { native.startAction(name, input.toText(), uriVariables?.toText(), trace()) })

    /** `observeproperty`: the values as they change. */
    suspend fun observeProperty(name: String, uriVariables: JsonObject? = null): Subscription =
        Subscription(call { native.observeProperty(name, uriVariables?.toText(), trace()) })

    /** `subscribeevent`: the data of each event from now on. */
    suspend fun subscribeEvent(name: String, uriVariables: JsonObject? = null): Subscription =
        Subscription(call { native.subscribeEvent(name, uriVariables?.toText(), trace()) })

    /** Invokes the `chat` action with an AgentRequest; returns the AgentResult. */
    suspend fun chat(request: JsonObject): JsonObject =
        parseObject(call { native.chat(request.toText(), trace()) }, "the AgentResult")

    /** Invokes the `chat` action with a question in a new conversation; returns the AgentResult. */
    suspend fun chat(question: String): JsonObject =
        parseObject(call { native.chat(JsonPrimitive(question).toText(), trace()) }, "the AgentResult")

    /** Asks a question in a new conversation; returns the text of the agent's first message. */
    suspend fun ask(question: String): String = call { native.ask(question, trace()) }

    override fun toString(): String = "ConsumedThing($title)"
}

/** Consumes the thing whose TD is at [url] (fetched and validated). */
suspend fun consume(url: String, options: ConsumeOptions = ConsumeOptions()): ConsumedThing =
    ConsumedThing(call { io.github.lmossdk.ffi.consumeUrl(url, options.toText(), trace()) })

/**
 * Consumes the thing described by [td] (validated) without the network: a TD signed by a
 * `did:web` DID is refused under a verifying policy; use [consumeVerified] for it.
 */
fun consume(td: JsonObject, options: ConsumeOptions = ConsumeOptions()): ConsumedThing =
    ConsumedThing(native { io.github.lmossdk.ffi.consumeTd(td.toText(), options.toText()) })

/** Consumes the thing described by [td] (validated), resolving its signer's DID over the network. */
suspend fun consumeVerified(td: JsonObject, options: ConsumeOptions = ConsumeOptions()): ConsumedThing =
    ConsumedThing(call { io.github.lmossdk.ffi.consumeTdVerified(td.toText(), options.toText()) })

/** Asks the agent whose TD is at [url] a question in a new conversation; the text of its answer. */
suspend fun chat(url: String, question: String, options: ConsumeOptions = ConsumeOptions()): String =
    call { io.github.lmossdk.ffi.chat(url, question, options.toText(), trace()) }

/** An AgentRequest that opens a new conversation with one user message. */
fun agentRequest(question: String): JsonObject =
    parseObject(io.github.lmossdk.ffi.agentRequest(question), "the AgentRequest")

/** An AgentResult with status `success` and one text message from the agent. */
fun agentResult(answer: String): JsonObject = parseObject(io.github.lmossdk.ffi.agentResult(answer), "the AgentResult")

/** The text of the first message the agent wrote, or null. */
fun firstText(result: JsonObject): String? = native { io.github.lmossdk.ffi.firstText(result.toText()) }

/** The JSON Schema of an AgentRequest. */
fun agentRequestSchema(): JsonObject = parseObject(io.github.lmossdk.ffi.agentRequestSchema(), "the schema")

/** The JSON Schema of an AgentResult. */
fun agentResultSchema(): JsonObject = parseObject(io.github.lmossdk.ffi.agentResultSchema(), "the schema")

/** The `chat` action affordance: synchronous, an AgentRequest in, an AgentResult out. */
fun chatAffordance(): JsonObject = parseObject(native { io.github.lmossdk.ffi.chatAffordance() }, "the affordance")

/** Version of the native library. */
val nativeVersion: String get() = io.github.lmossdk.ffi.version()
