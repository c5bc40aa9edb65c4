package io.github.lmossdk

import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows

private fun <T : Any> assertNotNullValue(value: T?): T = checkNotNull(value) { "the handler saw no request" }

class ChatTest {
    private suspend fun chatAgent(handler: ChatHandler): Pair<Servient, ExposedThing> {
        val servient = Servient(httpPort = 0, onInternalError = {})
        val exposed = servient.expose(agent("Echo") { chatAction() })
        exposed.onChat(handler)
        servient.start()
        return servient to exposed
    }

    @Test
    fun `chat returns the handler's answer`() = test {
        val (servient, exposed) = chatAgent { request ->
            val last = (request["messages"] as JsonArray).last().str("content")
            text("you said: $last")
        }
        servient.serve {
            assertEquals("you said: hello", chat(exposed.tdUrl!!, "hello"))
            val thing = consume(exposed.tdUrl!!)
            assertEquals("you said: again", thing.ask("again"))
            val result = thing.chat("whole")
            assertEquals("success", result.str("status"))
            assertEquals("you said: whole", firstText(result))
        }
    }

    @Test
    fun `whole requests reach the agent unchanged and results come back whole`() = test {
        var seen: JsonObject? = null
        val (servient, exposed) = chatAgent { request ->
            seen = request
            JsonObject(agentResult("ok") + ("x-extra" to JsonPrimitive(7)))
        }
        servient.serve {
            val request = JsonObject(
                agentRequest("hi") + ("userContext" to jsonObjectOf("userId" to "u1")) + ("x-mine" to JsonPrimitive(true)),
            )
            val result = consume(exposed.tdUrl!!).chat(request)
            val got = assertNotNullValue(seen)
            assertEquals(JsonPrimitive("u1"), got["userContext"]!!.jsonObject["userId"])
            assertEquals(JsonPrimitive(true), got["x-mine"])
            assertEquals(JsonPrimitive(7), result["x-extra"])
            assertEquals("ok", firstText(result))
        }
    }

    @Test
    fun `a request without messages is invalid input`() = test {
        val (servient, exposed) = chatAgent { text("never") }
        servient.serve {
            val thing = consume(exposed.tdUrl!!)
            assertThrows<InvalidInput> { thing.chat(jsonObjectOf("messages" to "not a list")) }
            val unchecked = consume(exposed.tdUrl!!, ConsumeOptions(validateInputs = false))
            val remote = assertThrows<LmosException> { unchecked.invokeAction("chat", jsonObjectOf("nothing" to 1)) }
            assertTrue(remote is InvalidInput || (remote is RemoteError && remote.status == 400), remote.toString())
        }
    }

    @Test
    fun `unusable replies are the handler's fault`() = test {
        val (servient, exposed) = chatAgent { JsonPrimitive(42) }
        servient.serve {
            assertThrows<RemoteError> { consume(exposed.tdUrl!!).ask("hi") }
        }
    }

    @Test
    fun `a result without an agent message is no answer`() = test {
        val (servient, exposed) = chatAgent { jsonObjectOf("status" to "success", "messages" to emptyList<Any>()) }
        servient.serve {
            assertThrows<InvalidOutput> { consume(exposed.tdUrl!!).ask("hi") }
        }
    }

    @Test
    fun `things without a chat action say so`() = test {
        Servient(httpPort = 0).serve {
            val exposed = expose(agent("Mute"))
            assertThrows<NotFound> { exposed.onChat { text("x") } }
            assertThrows<NotFound> { consume(exposed.tdUrl!!).ask("hi") }
        }
    }

    @Test
    fun `shapes and schemas`() {
        val request = agentRequest("Is it sunny?")
        val message = (request["messages"] as JsonArray).single()
        assertEquals("user", message.str("role"))
        assertEquals("Is it sunny?", message.str("content"))
        assertEquals("Sunny.", firstText(agentResult("Sunny.")))
        assertNull(firstText(jsonObjectOf("messages" to listOf(mapOf("role" to "user", "content" to "q")))))
        assertThrows<InvalidOutput> { firstText(jsonObjectOf("nothing" to 1)) }
        checkPayload(agentRequestSchema(), request)
        checkPayload(agentResultSchema(), agentResult("x"))
        assertEquals(JsonPrimitive(true), chatAffordance()["synchronous"])
    }
}
