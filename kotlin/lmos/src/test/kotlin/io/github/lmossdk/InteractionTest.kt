package io.github.lmossdk

import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.cancelAndJoin
import kotlinx.coroutines.channels.Channel
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.toList
import kotlinx.coroutines.launch
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.int
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import kotlinx.serialization.json.jsonPrimitive
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import kotlin.time.Duration.Companion.milliseconds

private fun stationTd() = agent("Station") {
    property("temperature", numberSchema()) { uriVariable("unit", schema("string") { enum("celsius", "fahrenheit") }) }
    property("note", stringSchema()) { uriVariable("lang", stringSchema()) }
    property("level", integerSchema()) { observable = true }
    action("forecast") {
        uriVariable("days", integerSchema(minimum = 1, maximum = 14))
        output = schema("object")
    }
    action("report") {
        uriVariable("days", integerSchema(minimum = 1))
        output = schema("integer")
    }
    event("alarm") { data = stringSchema() }
}

/** Sets [name] to 1, 2, 3, ... until [done]; returns the last value set (a changing property keeps the server writing). */
private suspend fun ExposedThing.poke(name: String, start: Int, done: () -> Boolean): Int {
    var value = start
    while (!done()) {
        setProperty(name, JsonPrimitive(++value))
        delay(20.milliseconds)
    }
    return value
}

private suspend fun ExposedThing.alarmUntil(done: () -> Boolean) {
    while (!done()) {
        emitEvent("alarm", JsonPrimitive("fire"))
        delay(20.milliseconds)
    }
}

class InteractionTest {
    private suspend fun served(block: suspend CoroutineScope.(Servient, ExposedThing) -> Unit) {
        val servient = Servient(httpPort = 0)
        val exposed = servient.expose(stationTd())
        exposed.setProperty("level", JsonPrimitive(0))
        exposed.onPropertyRead("temperature") {
            val unit = context.uriVariables["unit"]?.jsonPrimitive?.content
            JsonPrimitive(if (unit == "fahrenheit") 68 else 20)
        }
        val notes = mutableListOf<String>()
        exposed.onPropertyRead("note") { JsonPrimitive(notes.joinToString()) }
        exposed.onPropertyWrite("note") { value ->
            notes += "${context.uriVariables["lang"]?.jsonPrimitive?.content}:${value.jsonPrimitive.content}"
        }
        exposed.onAction("forecast") { jsonObjectOf("variables" to context.uriVariables) }
        exposed.onActionStream("report") {
            val days = context.uriVariables["days"]!!.jsonPrimitive.int
            for (day in 1..days) progress(JsonPrimitive(day))
            JsonPrimitive(days)
        }
        servient.serve { kotlinx.coroutines.coroutineScope { block(this, servient, exposed) } }
    }

    @Test
    fun `uriVariables reach handlers over HTTP and are checked against their schemas`() = test {
        served { _, exposed ->
            val thing = consume(exposed.tdUrl!!)
            // The served form carries the URI template of the declared variable.
            val forms = thing.td["properties"]!!.jsonObject["temperature"]!!.jsonObject["forms"]!!.jsonArray
            assertTrue(forms.any { it.str("href")!!.contains("{?unit}") }, forms.toString())
            assertEquals(JsonPrimitive(20), thing.readProperty("temperature"))
            assertEquals(JsonPrimitive(68), thing.readProperty("temperature", jsonObjectOf("unit" to "fahrenheit")))
            thing.writeProperty("note", JsonPrimitive("hallo"), jsonObjectOf("lang" to "de"))
            assertEquals(JsonPrimitive("de:hallo"), thing.readProperty("note"))
            assertEquals(jsonObjectOf("variables" to mapOf("days" to 3)), thing.invokeAction("forecast", JsonNull, jsonObjectOf("days" to 3)))
            assertEquals(jsonObjectOf("variables" to emptyMap<String, Any>()), thing.invokeAction("forecast"))
            val updates = thing.invokeActionStream("report", JsonNull, jsonObjectOf("days" to 2)).toList()
            assertEquals(
                listOf(ActionUpdate.Progress(JsonPrimitive(1)), ActionUpdate.Progress(JsonPrimitive(2)), ActionUpdate.Output(JsonPrimitive(2))),
                updates,
            )
            assertEquals(JsonPrimitive(4), thing.startAction("report", JsonNull, jsonObjectOf("days" to 4)).output())

            // Refused before anything is sent: a value breaking its schema, an undeclared name.
            val tooMany = assertThrows<InvalidInput> { thing.invokeAction("forecast", JsonNull, jsonObjectOf("days" to 30)) }
            assertEquals("/days", tooMany.violations.single().path)
            val unknown = assertThrows<InvalidInput> { thing.readProperty("temperature", jsonObjectOf("scale" to "kelvin")) }
            assertEquals("uriVariables", unknown.violations.single().rule)
            assertThrows<InvalidInput> { thing.readProperty("temperature", jsonObjectOf("unit" to "kelvin")) }
            assertEquals(JsonPrimitive("de:hallo"), thing.readProperty("note"), "nothing was written by refused calls")
        }
    }

    @Test
    fun `onlyProtocols restricts forms to the preferred schemes`() = test {
        Servient(httpPort = 0, websocket = false).serve {
            val exposed = expose(stationTd())
            exposed.onAction("forecast") { jsonObjectOf("variables" to context.uriVariables) }
            // Ranking only: no ws form, so HTTP is used.
            val ranked = consume(exposed.tdUrl!!, ConsumeOptions(protocols = listOf("ws")))
            assertEquals(jsonObjectOf("variables" to emptyMap<String, Any>()), ranked.invokeAction("forecast"))
            val only = consume(exposed.tdUrl!!, ConsumeOptions(protocols = listOf("ws"), onlyProtocols = true))
            val none = assertThrows<NoForm> { only.invokeAction("forecast") }
            assertEquals("forecast", none.affordance)
        }
        Servient(httpPort = 0).serve {
            val exposed = expose(stationTd())
            exposed.setProperty("level", JsonPrimitive(7))
            val ws = consume(exposed.tdUrl!!, ConsumeOptions(protocols = listOf("ws"), onlyProtocols = true))
            assertEquals(JsonPrimitive(7), ws.readProperty("level"))
        }
    }

    /**
     * Two observers; one is cancelled. The server ends exactly that subscription (its count of
     * subscribers falls to one while values keep being sent) and the other keeps receiving.
     */
    private suspend fun CoroutineScope.cancelledObservationEnds(exposed: ExposedThing, thing: ConsumedThing, other: ConsumedThing) {
        val cancelledValues = Channel<JsonElement>(Channel.UNLIMITED)
        val keptValues = Channel<JsonElement>(Channel.UNLIMITED)
        val cancelled = thing.observeProperty("level")
        val kept = other.observeProperty("level")
        assertEquals(2, exposed.observerCount("level"), "both subscriptions are in place when observeProperty returns")
        val cancelledJob = launch { cancelled.collect { cancelledValues.send(it) } }
        val keptJob = launch { kept.collect { keptValues.send(it) } }
        exposed.setProperty("level", JsonPrimitive(1))
        assertEquals(JsonPrimitive(1), cancelledValues.receive())
        assertEquals(JsonPrimitive(1), keptValues.receive())

        cancelledJob.cancelAndJoin()
        // The server notices the end of the subscription (WebSocket: an unobserve message; SSE:
        // the closed connection, at the latest when it next writes to it).
        var last = exposed.poke("level", 1) { exposed.observerCount("level") == 1 }
        assertEquals(1, exposed.observerCount("level"))
        // The kept observer still receives every value, up to a new one.
        exposed.setProperty("level", JsonPrimitive(++last))
        var value: JsonElement
        do {
            value = keptValues.receive()
        } while (value != JsonPrimitive(last))
        assertEquals(1, exposed.observerCount("level"))

        keptJob.cancelAndJoin()
        exposed.poke("level", last) { exposed.observerCount("level") == 0 }
        assertEquals(0, exposed.observerCount("level"))
    }

    private suspend fun CoroutineScope.cancelledEventSubscriptionEnds(exposed: ExposedThing, thing: ConsumedThing) {
        val events = Channel<JsonElement>(Channel.UNLIMITED)
        val subscription = thing.subscribeEvent("alarm")
        assertEquals(1, exposed.subscriberCount("alarm"))
        val job = launch { subscription.collect { events.send(it) } }
        exposed.emitEvent("alarm", JsonPrimitive("fire"))
        assertEquals(JsonPrimitive("fire"), events.receive())
        job.cancelAndJoin()
        exposed.alarmUntil { exposed.subscriberCount("alarm") == 0 }
        assertEquals(0, exposed.subscriberCount("alarm"))
    }

    @Test
    fun `a cancelled observation or event subscription ends on the server - SSE`() = test {
        served { _, exposed ->
            val http = ConsumeOptions(protocols = listOf("http"), onlyProtocols = true, subprotocols = listOf(Subprotocol.SSE))
            cancelledObservationEnds(exposed, consume(exposed.tdUrl!!, http), consume(exposed.tdUrl!!, http))
            cancelledEventSubscriptionEnds(exposed, consume(exposed.tdUrl!!, http))
        }
    }

    @Test
    fun `a cancelled observation or event subscription ends on the server - WebSocket`() = test {
        served { _, exposed ->
            val ws = ConsumeOptions(protocols = listOf("ws"), onlyProtocols = true)
            // The two observers use separate consumed things (separate connections).
            cancelledObservationEnds(exposed, consume(exposed.tdUrl!!, ws), consume(exposed.tdUrl!!, ws))
            cancelledEventSubscriptionEnds(exposed, consume(exposed.tdUrl!!, ws))
        }
    }

    @Test
    fun `closing a Subscription ends it on the server`() = test {
        served { _, exposed ->
            for (options in listOf(ConsumeOptions(protocols = listOf("ws"), onlyProtocols = true), ConsumeOptions(protocols = listOf("http"), onlyProtocols = true))) {
                val subscription = consume(exposed.tdUrl!!, options).observeProperty("level")
                assertEquals(1, exposed.observerCount("level"))
                subscription.close()
                assertEquals(emptyList<JsonElement>(), subscription.toList())
                exposed.poke("level", 100) { exposed.observerCount("level") == 0 }
                assertEquals(0, exposed.observerCount("level"))
            }
        }
    }
}
