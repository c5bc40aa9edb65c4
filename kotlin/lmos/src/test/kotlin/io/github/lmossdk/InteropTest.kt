package io.github.lmossdk

import io.github.lmossdk.examples.serveWeatherAgent
import io.github.lmossdk.examples.weatherAgent
import kotlinx.coroutines.async
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.flow.toList
import kotlinx.serialization.json.Json
import kotlinx.serialization.json.JsonArray
import kotlinx.serialization.json.JsonElement
import kotlinx.serialization.json.JsonNull
import kotlinx.serialization.json.JsonObject
import kotlinx.serialization.json.JsonPrimitive
import kotlinx.serialization.json.jsonArray
import kotlinx.serialization.json.jsonObject
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Assumptions.assumeTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.params.ParameterizedTest
import org.junit.jupiter.params.provider.ValueSource
import org.junit.jupiter.api.assertThrows
import java.io.File
import kotlin.time.Duration.Companion.milliseconds

private val FEEDBACK = jsonObjectOf("rating" to 5, "comment" to "spot on")

/** The parts of a TD that make up its interface, with the base URL taken out and only HTTP forms kept. */
fun interfaceOf(td: JsonObject, base: String): JsonElement {
    val text = JsonObject(listOf("properties", "actions", "events", "title", "@type").associateWith { td[it] ?: JsonNull }).toString()
    val replaced = Json.parseToJsonElement(text.replace(base, "BASE/")).jsonObject
    return JsonObject(
        replaced.mapValues { (kind, part) ->
            if (kind !in listOf("properties", "actions", "events")) return@mapValues part
            JsonObject(
                part.jsonObject.mapValues { (_, a) ->
                    val forms = (a.jsonObject["forms"] as JsonArray).filter { it.str("href")!!.startsWith("BASE/") }
                    JsonObject(a.jsonObject + ("forms" to JsonArray(forms)))
                },
            )
        },
    )
}

/** Every affordance of the WeatherAgent, as its issue describes them. */
suspend fun exerciseWeatherAgent(url: String) {
    val agent = consume(url, ConsumeOptions(pollInterval = 50.milliseconds))
    assertEquals(jsonObjectOf("modelName" to "gpt-4o", "temperature" to 0.7, "maxTokens" to 1000), agent.readProperty("modelConfiguration"))

    val changes = agent.observeProperty("modelConfiguration")
    val new = jsonObjectOf("modelName" to "gpt-4o-mini", "temperature" to 0.2, "maxTokens" to 200)
    agent.writeProperty("modelConfiguration", new)
    assertEquals(new, changes.first())
    assertThrows<InvalidInput> { agent.writeProperty("modelConfiguration", jsonObjectOf("temperature" to 3)) }

    val answer = agent.invokeAction("getWeather", jsonObjectOf("question" to "Is it raining in Bonn?", "interactionMode" to "text"))
    assertTrue((answer as JsonPrimitive).content.contains("Is it raining in Bonn?"), answer.toString())
    assertThrows<InvalidInput> { agent.invokeAction("getWeather", jsonObjectOf("question" to "no mode")) }

    val feedback = agent.subscribeEvent("userFeedbackReceived")
    coroutineScopeOf {
        val received = async { feedback.first() }
        assertEquals(JsonNull, agent.invokeAction("rate", FEEDBACK))
        assertEquals(FEEDBACK, received.await())
    }

    val updates = agent.invokeActionStream("forecast", jsonObjectOf("city" to "Bonn", "days" to 3)).toList()
    val progress = updates.filterIsInstance<ActionUpdate.Progress>().map { it.value.jsonObject }
    // forecast is asynchronous: updates come from its status resource, which reports progress as it is polled.
    val days = progress.map { it["day"].toString().toInt() }
    assertEquals(days.sorted(), days)
    assertTrue(days.toSet().all { it in 1..3 }, days.toString())
    assertTrue(progress.all { it["of"] == JsonPrimitive(3) })
    val output = updates.last() as ActionUpdate.Output
    assertEquals(listOf("1", "2", "3"), output.value.jsonArray.map { it.str("day") })
    assertTrue(output.value.jsonArray.all { it.str("city") == "Bonn" })

    val handle = agent.startAction("forecast", jsonObjectOf("city" to "Köln", "days" to 7))
    assertTrue(handle.isAsync)
    handle.cancel()
    assertThrows<ActionCancelled> { handle.output() }

    val result = agent.invokeAction("chat", jsonObjectOf("messages" to listOf(mapOf("role" to "user", "content" to "Sun tomorrow?"))))
    assertEquals("success", result.str("status"))
    assertTrue(result.jsonObject["messages"]!!.jsonArray[0].str("content")!!.contains("Sun tomorrow?"))
}

private suspend fun coroutineScopeOf(block: suspend kotlinx.coroutines.CoroutineScope.() -> Unit) =
    kotlinx.coroutines.coroutineScope(block)

/** The Kotlin WeatherAgent, served in this process. */
private suspend fun <R> kotlinWeatherAgent(wsPort: Int? = null, block: suspend (String) -> R): R {
    val servient = Servient(httpPort = 0, wsPort = wsPort)
    val agent = servient.expose(weatherAgent())
    serveWeatherAgent(agent, 20.milliseconds)
    return servient.serve { block(agent.tdUrl!!) }
}

class InteropTest {
    @Test
    fun `the Rust weather agent called from Kotlin`() = test {
        AgentProcess(Paths.rustWeatherAgent.path, "--http-port", "0", "--forecast-step-ms", "20").use {
            exerciseWeatherAgent(it.tdUrl)
            // The conversational convenience against the Rust agent's chat action.
            assertTrue(chat(it.tdUrl, "Rain in Bonn?").contains("Rain in Bonn?"))
        }
    }

    @Test
    fun `the Kotlin weather agent behaves like the Rust one`() = test {
        kotlinWeatherAgent { url ->
            assertTrue(url.endsWith("/weatheragent"), url)
            exerciseWeatherAgent(url)
            assertTrue(consume(url).ask("Snow in Ulm?").contains("Snow in Ulm?"))
        }
    }

    @Test
    fun `both weather agents describe the same affordances`() = test {
        AgentProcess(Paths.rustWeatherAgent.path, "--http-port", "0").use { rust ->
            kotlinWeatherAgent { url ->
                val rustTd = consume(rust.tdUrl).td
                val kotlinTd = consume(url).td
                val rustBase = rust.tdUrl.substringBeforeLast('/') + "/"
                val kotlinBase = url.substringBeforeLast('/') + "/"
                assertEquals(interfaceOf(rustTd, rustBase), interfaceOf(kotlinTd, kotlinBase))
                assertEquals(rustTd["links"], kotlinTd["links"])
                assertEquals(rustTd["lmos:metadata"], kotlinTd["lmos:metadata"])
                assertEquals(rustTd["id"], kotlinTd["id"])
            }
        }
    }

    private fun json(ran: Ran): JsonElement = Json.parseToJsonElement(ran.stdout)

    private fun lines(ran: Ran): List<JsonObject> = ran.stdout.lines().filter { it.isNotBlank() }.map { Json.parseToJsonElement(it).jsonObject }

    @ParameterizedTest
    @ValueSource(strings = ["http", "ws-spec", "ws-kotlin-wot"])
    fun `the Kotlin weather agent called by the Rust client`(transport: String) = test {
        val extra = when (transport) {
            "http" -> emptyArray()
            "ws-spec" -> arrayOf("--protocol", "ws", "--dialect", "spec")
            else -> arrayOf("--protocol", "ws", "--dialect", "kotlin-wot")
        }
        kotlinWeatherAgent(wsPort = if (transport == "http") null else 0) { url ->
            val read = cli("read", url, "modelConfiguration", *extra)
            assertEquals(0, read.code, read.stderr)
            assertEquals("gpt-4o", json(read).str("modelName"))

            val question = jsonObjectOf("question" to "Wind in Hamburg?", "interactionMode" to "voice").toString()
            val call = cli("call", url, "getWeather", question, *extra)
            assertEquals(0, call.code, call.stderr)
            assertTrue(lines(call).last()["output"].toString().contains("Wind in Hamburg?"), call.stdout)

            val forecast = cli("call", url, "forecast", "{\"city\": \"Kiel\", \"days\": 2}", *extra)
            assertEquals(0, forecast.code, forecast.stderr)
            val updates = lines(forecast)
            assertEquals(
                listOf(jsonObjectOf("day" to 1, "of" to 2), jsonObjectOf("day" to 2, "of" to 2)),
                updates.dropLast(1).map { it["progress"] },
            )
            assertEquals(2, updates.last()["output"]!!.jsonArray.size)

            val write = cli("write", url, "modelConfiguration", "{\"modelName\": \"tiny\", \"temperature\": 0, \"maxTokens\": 10}", *extra)
            assertEquals(0, write.code, write.stderr)
            assertEquals("tiny", json(cli("read", url, "modelConfiguration", *extra)).str("modelName"))

            // A handler that refuses its input: the Rust client reports it, the agent lives on.
            val refused = cli("call", url, "chat", "{\"messages\": []}", *extra)
            assertEquals(1, refused.code, refused.stderr)
            assertTrue(refused.stderr.contains("invalid input"), refused.stderr)
            val invalid = cli("call", url, "getWeather", "{\"question\": \"no mode\"}", *extra)
            assertEquals(2, invalid.code, invalid.stderr)
            val again = cli("call", url, "getWeather", question, *extra)
            assertEquals(0, again.code, again.stderr)
        }
    }

    @Test
    fun `the Kotlin weather agent called by the Python client`() = test {
        val python = Paths.python
        if (System.getenv("CI") == "true") {
            check(python != null) { "under CI the Python client is required: set LMOS_PYTHON to a virtualenv's python with lmos" }
        }
        assumeTrue(python != null, "LMOS_PYTHON is not set: no Python client to run")
        val script = """
            import asyncio, json, os, sys, lmos
            async def main(url):
                agent = await lmos.consume(url)
                out = {}
                out["config"] = await agent.read_property("modelConfiguration")
                out["answer"] = await agent.invoke_action("getWeather", {"question": "Fog in Kiel?", "interactionMode": "text"})
                updates = [u async for u in agent.invoke_action_stream("forecast", {"city": "Kiel", "days": 2})]
                out["days"] = len(updates[-1].value)
                out["ask"] = await agent.ask("Snow in Ulm?")
                try:
                    await agent.invoke_action("chat", {"messages": []})
                    out["refused"] = False
                except lmos.LmosError as error:
                    out["refused"] = type(error).__name__
                print(json.dumps(out))
            code = 0
            try:
                asyncio.run(main(sys.argv[1]))
            except BaseException:
                import traceback
                traceback.print_exc()
                code = 1
            # Leave without interpreter finalization (see python/README.md: CPython < 3.13 can
            # abort when a Tokio thread touches the interpreter while it finalizes).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(code)
        """.trimIndent()
        val file = File.createTempFile("lmos-client", ".py").apply { writeText(script); deleteOnExit() }
        kotlinWeatherAgent { url ->
            val ran = run(python!!.path, file.path, url)
            assertEquals(0, ran.code, ran.stderr)
            val out = Json.parseToJsonElement(ran.stdout.lines().last { it.isNotBlank() }).jsonObject
            assertEquals("gpt-4o", out["config"]!!.str("modelName"))
            assertTrue(out.str("answer")!!.contains("Fog in Kiel?"))
            assertEquals("2", out.str("days"))
            assertTrue(out.str("ask")!!.contains("Snow in Ulm?"))
            assertTrue(out.str("refused") != "false", out.toString())
        }
    }

    @Test
    fun `the weather-agent launcher prints its TD URL first and serves`() = test {
        val launcher = File(Paths.repo, "kotlin/examples/weather-agent")
        AgentProcess(launcher.path, "--http-port", "0", "--forecast-step-ms", "20").use { agent ->
            assertTrue(agent.tdUrl.startsWith("http://127.0.0.1:") && agent.tdUrl.endsWith("/weatheragent"), agent.tdUrl)
            val call = cli("call", agent.tdUrl, "getWeather", "{\"question\": \"Hail?\", \"interactionMode\": \"text\"}")
            assertEquals(0, call.code, call.stderr)
            assertTrue(call.stdout.contains("Hail?"))
            val (code, err) = agent.stop()
            assertEquals(0, code, err)
        }
    }
}
