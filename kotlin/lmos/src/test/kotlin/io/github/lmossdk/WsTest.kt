package io.github.lmossdk

import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.take
import kotlinx.coroutines.flow.toList
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.EnumSource
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

/** Every href of a TD's affordances and thing-level forms. */
fun hrefs(td: JsonObject): List<String> =
    listOf("properties", "actions", "events").flatMap { kind ->
        (td[kind] as? JsonObject)?.values?.flatMap { a -> (a.jsonObject["forms"] as JsonArray).mapNotNull { it.str("href") } } ?: emptyList()
    } + ((td["forms"] as? JsonArray)?.mapNotNull { it.str("href") } ?: emptyList())

/** The TD with only its WebSocket forms, so that nothing can fall back to HTTP. */
fun websocketOnly(td: JsonObject): JsonObject {
    fun forms(affordance: JsonObject) = JsonObject(
        affordance + ("forms" to JsonArray((affordance["forms"] as JsonArray).filter { it.str("href")!!.startsWith("ws") })),
    )
    val kinds = listOf("properties", "actions", "events").associateWith { kind ->
        JsonObject((td[kind] as? JsonObject ?: JsonObject(emptyMap())).mapValues { forms(it.value.jsonObject) })
    }
    return JsonObject(td + kinds + ("forms" to JsonArray((td["forms"] as? JsonArray ?: JsonArray(emptyList())).filter { it.str("href")!!.startsWith("ws") })))
}

class WsTest {
    private suspend fun served(wsPort: Int? = null, websocket: Boolean? = null): Pair<Servient, Counter> {
        val servient = Servient(httpPort = 0, wsPort = wsPort, websocket = websocket, onInternalError = {})
        val counter = Counter(servient.expose(counterTd()))
        servient.start()
        return servient to counter
    }

    @Test
    fun `ws port is bound and the forms point at it`() = test {
        val (servient, counter) = served(wsPort = 0)
        servient.serve {
            val ws = addresses.ws!!
            assertNotEquals(0, ws.port)
            assertNotEquals(addresses.http!!.port, ws.port)
            val forms = hrefs(counter.exposed.td)
            assertTrue(forms.any { it.startsWith("ws://${ws.host}:${ws.port}/") }, forms.toString())
        }
    }

    @Test
    fun `websocket off leaves no ws forms`() = test {
        val (servient, counter) = served(websocket = false)
        servient.serve {
            assertNull(addresses.ws)
            val forms = hrefs(counter.exposed.td)
            assertTrue(forms.isNotEmpty() && forms.none { it.startsWith("ws") }, forms.toString())
            // A preference for WebSocket is only a preference: the HTTP forms still serve.
            val thing = consume(counter.exposed.tdUrl!!, ConsumeOptions(protocols = listOf("ws")))
            assertEquals(JsonPrimitive("1.0"), thing.readProperty("version"))
        }
    }

    @ParameterizedTest
    @EnumSource(Dialect::class)
    fun `properties and actions over WebSocket`(dialect: Dialect) = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(websocketOnly(counter.exposed.td), ConsumeOptions(protocols = listOf("ws"), dialect = dialect))
            assertEquals(JsonPrimitive(0), thing.readProperty("count"))
            assertEquals(JsonPrimitive(42), thing.readProperty("now"))
            thing.writeProperty("label", JsonPrimitive("over ws"))
            assertEquals(listOf("over ws"), counter.writes)
            assertEquals(JsonPrimitive(4), thing.invokeAction("add", jsonObjectOf("by" to 4)))
            val updates = thing.invokeActionStream("countTo", JsonPrimitive(2)).toList()
            assertEquals(ActionUpdate.Output(JsonPrimitive("counted to 2")), updates.last())
            assertEquals(
                listOf(JsonPrimitive(1), JsonPrimitive(2)),
                updates.filterIsInstance<ActionUpdate.Progress>().map { it.value },
            )
        }
    }

    @ParameterizedTest
    @EnumSource(Dialect::class)
    fun `observe property and subscribe event over WebSocket`(dialect: Dialect) = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(websocketOnly(counter.exposed.td), ConsumeOptions(protocols = listOf("ws"), dialect = dialect))
            val changes = thing.observeProperty("count")
            val seen = async { changes.take(1).toList() }
            thing.invokeAction("add", jsonObjectOf("by" to 2))
            assertEquals(listOf(JsonPrimitive(2)), seen.await())
            val events = thing.subscribeEvent("reset")
            val first = async { events.first() }
            counter.exposed.emitEvent("reset", jsonObjectOf("by" to "ws"))
            assertEquals(jsonObjectOf("by" to "ws"), first.await())
        }
    }

    @Test
    fun `a handler that throws gives a clean error over WebSocket`() = test {
        val (servient, counter) = served()
        servient.serve {
            val thing = consume(websocketOnly(counter.exposed.td), ConsumeOptions(protocols = listOf("ws")))
            val error = assertThrows<LmosException> { thing.invokeAction("fail") }
            assertFalse(error.toString().contains("secret internal detail"), error.toString())
            assertEquals(JsonPrimitive(1), thing.invokeAction("add", jsonObjectOf("by" to 1)))
        }
    }
}
