package io.github.lmossdk

import kotlinx.coroutines.CompletableDeferred
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.coroutines.withContext
import kotlinx.coroutines.yield
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import java.util.Collections
import kotlin.time.Duration.Companion.milliseconds

fun counterTd(): JsonObject = agent("Counter") {
    property("count", integerSchema(minimum = 0)) { observable = true }
    property("label", stringSchema())
    property("version", stringSchema()) { readOnly = true }
    property("now", schema("integer"))
    action("add") {
        input = objectSchema { property("by", integerSchema(minimum = 1), required = true) }
        output = schema("integer")
    }
    action("countTo") {
        input = schema("integer")
        output = schema("string")
    }
    action("slow") {
        input = schema("integer")
        output = schema("integer")
        synchronous = false
    }
    action("trace") { output = schema("object") }
    action("fail")
    action("refuse")
    action("badOutput") { output = schema("integer") }
    action("hang")
    action("forever")
    action("streamFail")
    event("reset") { data = objectSchema { property("by", stringSchema()) } }
}

/** The handlers of the counter thing, with hooks the tests look at. */
class Counter(val exposed: ExposedThing) {
    val writes: MutableList<String> = Collections.synchronizedList(mutableListOf())
    val hangStarted = CompletableDeferred<Unit>()
    val hangCancelled = CompletableDeferred<Unit>()
    val slowStarted = CompletableDeferred<Unit>()
    val slowCancelled = CompletableDeferred<Unit>()
    val releaseSlow = CompletableDeferred<Unit>()
    val foreverCancelled = CompletableDeferred<Unit>()

    init {
        exposed.setProperty("count", JsonPrimitive(0))
        exposed.setProperty("label", JsonPrimitive("start"))
        exposed.setProperty("version", JsonPrimitive("1.0"))
        exposed.onPropertyRead("now") { JsonPrimitive(42) }
        exposed.onPropertyWrite("label") { value -> writes += value.jsonPrimitive.content }
        exposed.onAction("add") { input ->
            val count = exposed.propertyValue("count").jsonPrimitive.int + input.jsonObject["by"]!!.jsonPrimitive.int
            exposed.setProperty("count", JsonPrimitive(count))
            JsonPrimitive(count)
        }
        exposed.onActionStream("countTo") { input ->
            val n = input.jsonPrimitive.int
            for (i in 1..n) {
                yield()
                progress(JsonPrimitive(i))
            }
            JsonPrimitive("counted to $n")
        }
        exposed.onActionStream("slow") { input ->
            slowStarted.complete(Unit)
            // A cancel can arrive while progress() is still suspended: it is inside the try too.
            try {
                progress(jsonObjectOf("step" to 1, "action" to context.actionId))
                releaseSlow.await()
            } catch (cancelled: kotlinx.coroutines.CancellationException) {
                slowCancelled.complete(Unit)
                throw cancelled
            }
            JsonPrimitive(input.jsonPrimitive.int * 2)
        }
        exposed.onAction("trace") {
            jsonObjectOf("traceparent" to context.trace?.traceparent, "actionId" to context.actionId)
        }
        exposed.onAction("fail") { throw IllegalStateException("secret internal detail") }
        exposed.onAction("refuse") { throw InvalidInput("try again tomorrow") }
        exposed.onAction("badOutput") { JsonPrimitive("not an integer") }
        exposed.onActionStream("forever") {
            try {
                progress(JsonPrimitive("started"))
                awaitCancellation()
            } finally {
                foreverCancelled.complete(Unit)
            }
        }
        exposed.onActionStream("streamFail") {
            progress(JsonPrimitive(1))
            throw IllegalStateException("secret stream detail")
        }
        exposed.onAction("hang") {
            hangStarted.complete(Unit)
            try {
                awaitCancellation()
            } finally {
                hangCancelled.complete(Unit)
            }
        }
    }
}

class ThingsTest {
    private val internalErrors: MutableList<InternalError> = Collections.synchronizedList(mutableListOf())

    private suspend fun served(): Pair<Servient, Counter> {
        val servient = Servient(httpPort = 0, onInternalError = { internalErrors += it })
        val counter = Counter(servient.expose(counterTd()))
        servient.start()
        return servient to counter
    }

    @Test
    fun `servient binds an ephemeral port and serves the TD`() = test {
        val servient = Servient(httpPort = 0)
        servient.serve {
            val exposed = expose(counterTd())
            val http = addresses.http!!
            assertEquals("127.0.0.1", http.host)
            assertTrue(http.port > 0)
            assertEquals("http://127.0.0.1:${http.port}/counter", exposed.tdUrl)
            assertEquals("http://127.0.0.1:${http.port}/", baseUrl)
            val thing = consume(exposed.tdUrl!!)
            assertEquals("Counter", thing.title)
            val href = thing.td["actions"]!!.jsonObject["add"]!!.jsonObject["forms"]!!.let { it as kotlinx.serialization.json.JsonArray }[0].str("href")!!
            assertTrue(href.startsWith("http://127.0.0.1:${http.port}/counter/"), href)
            assertEquals(listOf("counter"), things.map { it.slug })
        }
        assertNull(servient.addresses.http)
    }

    @Test
    fun `public base URL is used in forms`() = test {
        Servient(httpPort = 0, publicBaseUrl = "https://agents.example/x").serve {
            val exposed = expose(counterTd())
            assertEquals("https://agents.example/x/counter", exposed.tdUrl)
            assertTrue(exposed.td.toString().contains("https://agents.example/x/counter/"))
        }
    }

    @Test
    fun `bad servient configuration throws`() = test {
        assertThrows<ConfigurationError> { Servient(publicBaseUrl = "not a url") }
        val badHost = assertThrows<InternalLmosError> { Servient(host = "localhost-ish") }
        assertEquals("type_error", badHost.code)
        Servient(httpPort = 0).serve {
            expose(counterTd())
            val duplicate = assertThrows<ConfigurationError> { expose(counterTd()) }
            assertEquals("duplicate_thing", duplicate.code)
            val taken = addresses.http!!.port
            val bind = assertThrows<BindError> { Servient(httpPort = taken).start() }
            assertTrue(bind.address!!.endsWith(":$taken"), bind.address)
        }
    }

    @Test
    fun `properties read write all and multiple`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            assertEquals(JsonPrimitive(0), thing.readProperty("count"))
            assertEquals(JsonPrimitive(42), thing.readProperty("now"))
            thing.writeProperty("label", JsonPrimitive("hello"))
            assertEquals(listOf("hello"), counter.writes)
            assertEquals(
                jsonObjectOf("count" to 0, "label" to "hello", "version" to "1.0", "now" to 42),
                thing.readAllProperties(),
            )
            thing.writeMultipleProperties(jsonObjectOf("count" to 5, "label" to "five"))
            assertEquals(JsonPrimitive(5), counter.exposed.propertyValue("count"))
            assertEquals(listOf("hello", "five"), counter.writes)
            val readOnly = assertThrows<LmosException> { thing.writeProperty("version", JsonPrimitive("2.0")) }
            assertTrue(readOnly is NoForm || readOnly is NotAllowed, readOnly.toString())
        }
    }

    @Test
    fun `actions single output and streamed progress`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            assertEquals(JsonPrimitive(2), thing.invokeAction("add", jsonObjectOf("by" to 2)))
            assertEquals(JsonPrimitive(5), thing.invokeAction("add", jsonObjectOf("by" to 3)))
            val updates = thing.invokeActionStream("countTo", JsonPrimitive(3)).toList()
            assertEquals(
                listOf(
                    ActionUpdate.Progress(JsonPrimitive(1)),
                    ActionUpdate.Progress(JsonPrimitive(2)),
                    ActionUpdate.Progress(JsonPrimitive(3)),
                    ActionUpdate.Output(JsonPrimitive("counted to 3")),
                ),
                updates,
            )
            // Without streaming, the progress is dropped and the output returned.
            assertEquals(JsonPrimitive("counted to 2"), thing.invokeAction("countTo", JsonPrimitive(2)))
        }
    }

    @Test
    fun `async action query output and updates`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!, ConsumeOptions(pollInterval = 50.milliseconds))
            val handle = thing.startAction("slow", JsonPrimitive(21))
            assertTrue(handle.isAsync)
            assertEquals("slow", handle.action)
            assertTrue(handle.statusUrl!!.startsWith(baseUrl!!))
            counter.slowStarted.await()
            assertEquals("running", handle.query().str("status"))
            counter.releaseSlow.complete(Unit)
            assertEquals(JsonPrimitive(42), handle.output())
            assertEquals("completed", handle.query().str("status"))

            val updates = thing.invokeActionStream("slow", JsonPrimitive(5)).toList()
            updates.dropLast(1).forEach {
                assertTrue(it is ActionUpdate.Progress && it.value.str("step") == "1", it.toString())
            }
            assertEquals(ActionUpdate.Output(JsonPrimitive(10)), updates.last())
        }
    }

    @Test
    fun `cancelling an async action cancels the Kotlin handler`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val handle = thing.startAction("slow", JsonPrimitive(1))
            counter.slowStarted.await()
            handle.cancel()
            counter.slowCancelled.await()
            assertThrows<ActionCancelled> { handle.output() }
            assertThrows<ActionFinished> { handle.cancel() }
        }
    }

    @Test
    fun `cancelling the calling coroutine cancels the remote Kotlin handler`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val call = async { thing.invokeAction("hang") }
            counter.hangStarted.await()
            call.cancelAndJoin()
            assertTrue(call.isCancelled)
            // The dropped request drops the handler's future, which cancels its coroutine.
            counter.hangCancelled.await()
        }
    }

    @Test
    fun `observe property and subscribe event over SSE`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!, ConsumeOptions(subprotocols = listOf(Subprotocol.SSE)))
            // Once observeProperty has returned, the observation is in place: nothing after it is missed.
            val changes = thing.observeProperty("count")
            thing.invokeAction("add", jsonObjectOf("by" to 4))
            counter.exposed.setProperty("count", JsonPrimitive(9))
            assertEquals(listOf(JsonPrimitive(4), JsonPrimitive(9)), changes.take(2).toList())

            val events = thing.subscribeEvent("reset")
            counter.exposed.emitEvent("reset", jsonObjectOf("by" to "test"))
            assertEquals(jsonObjectOf("by" to "test"), events.first())
        }
    }

    /** Long polling only sees what happens while a poll is waiting: trigger until one arrives. */
    private suspend fun untilReceived(values: Subscription, trigger: () -> Unit): kotlinx.serialization.json.JsonElement =
        kotlinx.coroutines.coroutineScope {
            val reader = async { values.first() }
            while (!reader.isCompleted) {
                trigger()
                kotlinx.coroutines.delay(50)
            }
            reader.await()
        }

    @Test
    fun `observe property and subscribe event over long polling`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!, ConsumeOptions(subprotocols = listOf(Subprotocol.LONGPOLL)))
            val values = thing.observeProperty("count")
            assertEquals(JsonPrimitive(3), untilReceived(values) { counter.exposed.setProperty("count", JsonPrimitive(3)) })
            val events = thing.subscribeEvent("reset")
            val data = untilReceived(events) { counter.exposed.emitEvent("reset", jsonObjectOf("by" to "lp")) }
            assertEquals(jsonObjectOf("by" to "lp"), data)
        }
    }

    @Test
    fun `closing a subscription ends its collection`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val events = thing.subscribeEvent("reset")
            val collected = async { events.toList() }
            counter.exposed.emitEvent("reset", jsonObjectOf("by" to "one"))
            yield()
            events.close()
            assertTrue(collected.await().size <= 1)
            assertThrows<IllegalStateException> { events.toList() }
        }
    }

    @Test
    fun `a handler that throws gives a clean internal error and the servient serves on`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val error = assertThrows<RemoteError> { thing.invokeAction("fail") }
            assertEquals(500, error.status)
            assertFalse(error.toString().contains("secret internal detail"), error.toString())
            val report = internalErrors.single { it.affordance.endsWith("fail") }
            assertEquals("handler_failed", report.code)
            assertTrue(report.message.contains("secret internal detail"), report.message)
            assertEquals(JsonPrimitive(1), thing.invokeAction("add", jsonObjectOf("by" to 1)))
        }
    }

    @Test
    fun `a handler can refuse its input with a message`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val error = assertThrows<LmosException> { thing.invokeAction("refuse") }
            assertTrue(error.message!!.contains("try again tomorrow"), error.message)
            assertTrue(error is InvalidInput || (error is RemoteError && error.status == 400), error.toString())
        }
    }

    @Test
    fun `schema violations are caught before sending and by the server`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val local = assertThrows<InvalidInput> { thing.invokeAction("add", jsonObjectOf("by" to 0)) }
            assertEquals("/by", local.violations.single().path)
            val unchecked = consume(counter.exposed.tdUrl!!, ConsumeOptions(validateInputs = false))
            val remote = assertThrows<LmosException> { unchecked.invokeAction("add", jsonObjectOf("by" to "x")) }
            assertTrue(remote is InvalidInput || (remote is RemoteError && remote.status == 400), remote.toString())
            assertEquals(JsonPrimitive(0), counter.exposed.propertyValue("count"))
        }
    }

    @Test
    fun `outputs that break the schema`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            assertThrows<RemoteError> { thing.invokeAction("badOutput") }
            assertTrue(internalErrors.any { it.affordance.endsWith("badOutput") && it.code == "invalid_output" }, internalErrors.toString())
        }
    }

    @Test
    fun `bad inputs give clear exceptions`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val missing = assertThrows<NotFound> { thing.invokeAction("nope") }
            assertEquals("nope", missing.target)
            assertThrows<NotFound> { thing.readProperty("nope") }
            assertThrows<NotFound> { counter.exposed.setProperty("nope", JsonNull) }
            assertThrows<InvalidPayload> { counter.exposed.setProperty("count", JsonPrimitive(-1)) }
            assertThrows<NotFound> { counter.exposed.onAction("nope") { JsonNull } }
        }
    }

    @Test
    fun `unreachable things and bad TDs`() = test {
        assertThrows<TransportError> { consume("http://127.0.0.1:9/nothing", ConsumeOptions(timeout = 5000.milliseconds)) }
        val invalid = assertThrows<InvalidThingDescription> { consume(jsonObjectOf("title" to "no context")) }
        assertTrue(invalid.report!!.problems.isNotEmpty())
    }

    @Test
    fun `handlers see the trace and continue it in their own calls`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            val seen = withContext(LmosTrace(parent)) { thing.invokeAction("trace") }
            val traceparent = seen.str("traceparent")!!
            assertTrue(traceparent.startsWith("00-4bf92f3577b34da6a3ce929d0e0e4736-"), traceparent)
            // Without a trace the handler runs in a new one.
            val fresh = thing.invokeAction("trace").str("traceparent")!!
            assertFalse(fresh.contains("4bf92f3577b34da6a3ce929d0e0e4736"), fresh)
            assertThrows<TraceError> { withContext(LmosTrace("not a traceparent")) { thing.invokeAction("trace") } }
        }
    }

    @Test
    fun `a consumed thing from a TD with form preferences`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.td, ConsumeOptions(protocols = listOf("http"), contentTypes = listOf("application/json")))
            assertEquals(JsonPrimitive(3), thing.invokeAction("add", jsonObjectOf("by" to 3)))
            // A protocol preference is only a preference: a thing without such forms is still reached.
            val fallback = consume(counter.exposed.td, ConsumeOptions(protocols = listOf("coap")))
            assertEquals(JsonPrimitive(3), fallback.readProperty("count"))
        }
    }

    @Test
    fun `cancelling the collecting coroutine of a stream cancels the remote handler`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val updates = thing.invokeActionStream("forever")
            val first = CompletableDeferred<ActionUpdate>()
            val collector = launch { updates.collect { first.complete(it) } }
            assertEquals(ActionUpdate.Progress(JsonPrimitive("started")), first.await())
            collector.cancelAndJoin()
            // The closed stream drops the request, the core drops the handler, UniFFI cancels it.
            counter.foreverCancelled.await()
        }
    }

    @Test
    fun `servient limits and destroying a thing`() = test {
        val servient = Servient(httpPort = 0, maxBodyBytes = 64, onInternalError = { internalErrors += it })
        val counter = Counter(servient.expose(counterTd()))
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val big = jsonObjectOf("by" to 1, "padding" to "x".repeat(200))
            val tooLarge = assertThrows<RemoteError> { thing.invokeAction("add", big) }
            assertEquals(413, tooLarge.status)
            assertEquals(JsonPrimitive(0), counter.exposed.propertyValue("count"))
            assertEquals(JsonPrimitive(1), thing.invokeAction("add", jsonObjectOf("by" to 1)))

            assertTrue(destroy("counter"))
            assertFalse(destroy("counter"))
            assertTrue(things.isEmpty())
            val gone = assertThrows<LmosException> { consume(counter.exposed.tdUrl!!) }
            assertTrue(gone is RemoteError && gone.status == 404, gone.toString())
        }
    }

    @Test
    fun `a streaming handler that throws ends the stream with an error`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(counter.exposed.tdUrl!!)
            val seen = mutableListOf<ActionUpdate>()
            val error = assertThrows<LmosException> { thing.invokeActionStream("streamFail").collect { seen += it } }
            assertFalse(error.toString().contains("secret stream detail"), error.toString())
            assertTrue(seen.none { it is ActionUpdate.Output }, seen.toString())
            assertTrue(internalErrors.any { it.affordance.endsWith("streamFail") && it.message.contains("secret stream detail") }, internalErrors.toString())
            assertEquals(JsonPrimitive(1), thing.invokeAction("add", jsonObjectOf("by" to 1)))
        }
    }
}
